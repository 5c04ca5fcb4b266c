# Builder of the small dependency derivations in common.nix; $kind picks
# the layout. Their only job is to be real store paths with files in them.
mkdir -p "$out"
case "$kind" in
  lib)
    # A library-like package: something under lib/ and a data file.
    mkdir -p "$out/lib" "$out/share"
    printf '\177ELF fake shared object\n' > "$out/lib/libfoo.so"
    echo data > "$out/share/data.txt"
    ;;
  python)
    # A "python": an executable in bin/ plus a stdlib-looking file.
    mkdir -p "$out/bin" "$out/lib/python3.11"
    printf '#!/bin/sh\necho python\n' > "$out/bin/python"
    chmod +x "$out/bin/python"
    echo '# os' > "$out/lib/python3.11/os.py"
    ;;
  linkonly | bareonly)
    mkdir -p "$out/etc"
    echo "$kind" > "$out/etc/target.txt"
    ;;
  *)
    echo "dep.sh: unknown kind '$kind'" >&2
    exit 1
    ;;
esac
