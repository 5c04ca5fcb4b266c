# Builder of main.nix: copy the stripped tree, re-link it, check it.
cp -r "$fod/." "$out"
chmod -R u+w "$out"
if [ -n "$patch" ]; then
  # $libsArgs is split on purpose: "--libs DIR --libs DIR".
  "$patch" $libsArgs --libc "$glibc/lib" "$out"
fi

# Each module's DT_NEEDED must resolve into the store, except the C
# library's sonames, which the loader finds on its own. Then python3.11
# loads each module with RTLD_NOW and calls its function (load.py).
site="$out/lib/python3.11/site-packages"
status=0
check() {
  so=$1
  needed=$(readelf -d "$so" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p')
  resolved=$(ldd "$so")
  echo "ldd $so:"
  echo "$resolved"
  [ -n "$needed" ] || { echo "check: no DT_NEEDED in $so" >&2; status=1; }
  for lib in $needed; do
    case "$lib" in
      libc.so.6 | libm.so.6) want="	$lib => /" ;;
      *) want="	$lib => /nix/store/" ;;
    esac
    if ! printf '%s\n' "$resolved" | grep -qF "$want"; then
      echo "check: $lib (needed by $so) does not resolve into ${want#*=> }" >&2
      status=1
    fi
  done
  if printf '%s\n' "$resolved" | grep -q 'not found'; then
    echo "check: ldd finds a library missing for $so" >&2
    status=1
  fi
}
check "$site/psycopg_c/_psycopg.cpython-311-x86_64-linux-gnu.so"
check "$site/lxml/etree.cpython-311-x86_64-linux-gnu.so"
[ "$status" -eq 0 ] || exit 1
python3.11 "$loadCheck" "$site/psycopg_c/_psycopg.cpython-311-x86_64-linux-gnu.so" psycopg_check 150021
python3.11 "$loadCheck" "$site/lxml/etree.cpython-311-x86_64-linux-gnu.so" lxml_check 121436
