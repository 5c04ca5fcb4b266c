# A dependency that is only a store path to refer to: lib/x.
mkdir -p "$out/lib"
echo "$name" > "$out/lib/x"
