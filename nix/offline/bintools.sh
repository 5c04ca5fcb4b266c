# Builder of the offline bintools stand-in: the two nix-support files a bintools wrapper
# records and autoPatchelf-style hooks read.
mkdir -p "$out/nix-support"
echo "$glibc/lib/ld-linux-x86-64.so.2" > "$out/nix-support/dynamic-linker"
echo "$glibc" > "$out/nix-support/orig-libc"
