# A shared library lib$lib.so (DT_SONAME lib$lib.so) in $out/$libDir whose function
# $lib() returns $value; $libDir also gets a file `x`, so the directory exists either way.
mkdir -p "$out/$libDir"
cd "$TMPDIR"
echo "int $lib(void) { return $value; }" > "$lib.c"
gcc -shared -fPIC -O2 -Wl,--build-id=none -Wl,-soname,"lib$lib.so" -o "$out/$libDir/lib$lib.so" "$lib.c"
echo "$name" > "$out/$libDir/x"
