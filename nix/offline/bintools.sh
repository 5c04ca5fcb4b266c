# Builder of the offline bintools stand-in: what a nixpkgs bintools wrapper gives the hooks —
# nix-support/dynamic-linker and orig-libc, which autoPatchelf-style hooks read through
# $NIX_BINTOOLS, and a setup hook that exports NIX_BINTOOLS and STRIP (the wrapper's does;
# in stdenv it comes with the C compiler, one of the default inputs).
mkdir -p "$out/nix-support"
echo "$glibc/lib/ld-linux-x86-64.so.2" > "$out/nix-support/dynamic-linker"
echo "$glibc" > "$out/nix-support/orig-libc"
{
    echo "export NIX_BINTOOLS=$out"
    echo 'export STRIP=${STRIP-strip}'
} > "$out/nix-support/setup-hook"
