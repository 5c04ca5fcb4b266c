# Builder of fod.nix: a site-packages tree with two extension modules linked
# the way wheels built in Nix are, with the libraries' store lib dirs on a
# DT_RUNPATH (--enable-new-dtags); --no-as-needed keeps every library asked
# for a DT_NEEDED. Then strip-store-refs turns every store hash in $out into
# `eeee…` (the RUNPATHs become /nix/store/eeee…-postgresql-15.18-lib/lib …).
#
# --build-id=none: ld's build id is a hash over the output, RUNPATH strings
# included, so it would differ with the libraries' store paths (i.e. every
# run) even after stripping, and so would the FOD's hash.
site="$out/lib/python3.11/site-packages"
mkdir -p "$site/psycopg_c" "$site/lxml"
echo '# psycopg_c' > "$site/psycopg_c/__init__.py"
echo '# lxml' > "$site/lxml/__init__.py"
cd "$TMPDIR"
# Compiled from copies here: gcc puts the source's name into the symbol table.
cp "$psycopgSrc" psycopg.c
cp "$etreeSrc" etree.c
gcc -shared -fPIC -O2 -Wl,--build-id=none \
  -o "$site/psycopg_c/_psycopg.cpython-311-x86_64-linux-gnu.so" psycopg.c \
  -Wl,--no-as-needed -L"$postgresql/lib" -lpq -lm \
  -Wl,--enable-new-dtags -Wl,-rpath,"$postgresql/lib"
gcc -shared -fPIC -O2 -Wl,--build-id=none \
  -o "$site/lxml/etree.cpython-311-x86_64-linux-gnu.so" etree.c \
  -Wl,--no-as-needed -L"$libxml2/lib" -L"$xz/lib" -lxml2 -llzma \
  -Wl,--enable-new-dtags -Wl,-rpath,"$libxml2/lib:$xz/lib"
"$strip" "$out"
