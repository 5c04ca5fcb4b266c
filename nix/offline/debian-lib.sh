# Builder of a C library made of Debian packages (nix/offline/debian.nix): the runtime and
# -dev packages in $packages, unpacked from the .deb files in $debs into one store path laid
# out as a nixpkgs library is (lib/ rather than lib/x86_64-linux-gnu/, the .pc files'
# prefix this path). The -dev package's .so links are relative to the runtime package's
# files, so the two go into one directory.
shopt -s nullglob
mkdir -p "$out" "$TMPDIR/x"
for p in $packages; do
    deb=$(ls "$debs/${p}_"*.deb 2>/dev/null | head -n 1)
    [ -n "$deb" ] || { echo "debian-lib: no .deb of $p in $debs" >&2; exit 1; }
    dpkg-deb -x "$deb" "$TMPDIR/x"
done
# Some packages (zlib1g, libgcc-s1) still ship /lib rather than /usr/lib.
if [ -d "$TMPDIR/x/usr" ]; then cp -a "$TMPDIR/x/usr/." "$out/"; fi
if [ -d "$TMPDIR/x/lib" ]; then mkdir -p "$out/lib" && cp -a "$TMPDIR/x/lib/." "$out/lib/"; fi
rm -rf "$out/share/doc" "$out/share/man" "$out/share/lintian" "$out/share/bug"
if [ -d "$out/lib/x86_64-linux-gnu" ]; then
    cp -a "$out/lib/x86_64-linux-gnu/." "$out/lib/"
    rm -rf "$out/lib/x86_64-linux-gnu"
fi
for pc in "$out"/lib/pkgconfig/*.pc; do
    [ -L "$pc" ] && continue
    sed -i -e "s|^prefix=/usr|prefix=$out|" -e 's|/lib/x86_64-linux-gnu|/lib|g' "$pc"
done
if [ -n "${onlyInclude-}" ]; then
    # Headers only (ICU's, which Debian's libxml2 headers include).
    find "$out" -mindepth 1 -maxdepth 1 ! -name include -exec rm -rf {} +
    find "$out/include" -mindepth 1 -maxdepth 1 ! -name "$onlyInclude" -exec rm -rf {} +
fi
if [ -n "${pgConfig-}" ]; then
    # Debian's pg_config is a Perl script with /usr compiled in; what a build asks of it.
    rm -f "$out/bin/pg_config"
    mkdir -p "$out/bin"
    cat > "$out/bin/pg_config" <<PG
#!/bin/sh
for a in "\$@"; do
    case "\$a" in
        --includedir | --pkgincludedir) echo "$out/include/postgresql" ;;
        --libdir | --pkglibdir) echo "$out/lib" ;;
        --bindir) echo "$out/bin" ;;
        --version) echo "PostgreSQL $pgConfig" ;;
        *) echo "pg_config: unsupported option \$a" >&2; exit 1 ;;
    esac
done
PG
    chmod +x "$out/bin/pg_config"
fi
