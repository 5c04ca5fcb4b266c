# Builder of demo.nix's crcutil package: libcrcutil.so.1 (soname) in $out/lib with the usual
# links, and its header in $out/include, as a nixpkgs C library would be.
mkdir -p "$out/lib" "$out/include"
cd "$TMPDIR"
# Compiled from a copy here: gcc records the source's name in the symbol table.
cp "$src/crcutil.c" "$src/crcutil.h" .
gcc -shared -fPIC -O2 -Wl,-soname,libcrcutil.so.1 -o "$out/lib/libcrcutil.so.1.0.0" crcutil.c
ln -s libcrcutil.so.1.0.0 "$out/lib/libcrcutil.so.1"
ln -s libcrcutil.so.1 "$out/lib/libcrcutil.so"
cp crcutil.h "$out/include/"
