# $out/lib/mod.so, linked against the libraries in $linkArgs (-L DIR -lNAME …) with no
# RUNPATH at all, so only the hook can make it find them; --no-as-needed keeps each one (and
# libc.so.6) a DT_NEEDED. Its checksum as linked goes to $out/share/mod.sha256 (outside lib/).
mkdir -p "$out/lib" "$out/share"
cd "$TMPDIR"
echo "int mod(void) { return 7; }" > mod.c
# $linkArgs is split on purpose.
# shellcheck disable=SC2086
gcc -shared -fPIC -O2 -Wl,--build-id=none -o "$out/lib/mod.so" mod.c -Wl,--no-as-needed $linkArgs -lc
sha256sum < "$out/lib/mod.so" | cut -d' ' -f1 > "$out/share/mod.sha256"
