# Builder of the library packages in common.nix: one shared library
# $out/lib/$file with DT_SONAME $soname, the usual $soname and $link symlinks,
# and, when $needs is "DIR:NAME", linked against libNAME from DIR with DIR on
# its RUNPATH (as Nix builds link their dependencies).
mkdir -p "$out/lib"
cd "$TMPDIR"
cp "$src" lib.c
set --
if [ -n "$needs" ]; then
  dir=${needs%:*}
  set -- -L"$dir" -l"${needs##*:}" -Wl,--enable-new-dtags -Wl,-rpath,"$dir"
fi
gcc -shared -fPIC -O2 -Wl,-soname,"$soname" -o "$out/lib/$file" lib.c "$@"
ln -s "$file" "$out/lib/$soname"
ln -s "$soname" "$out/lib/$link"
