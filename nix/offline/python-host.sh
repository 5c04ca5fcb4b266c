# Builder of the offline python3 stand-in (see default.nix): links to the host's
# interpreter, laid out like nixpkgs' python3 (bin/python3.X, python3, python).
mkdir -p "$out/bin"
[ -x "$hostPython" ] || { echo "python stand-in: $hostPython is not an executable" >&2; exit 1; }
ln -s "$hostPython" "$out/bin/python$pythonVersion"
ln -s "python$pythonVersion" "$out/bin/python3"
ln -s "python$pythonVersion" "$out/bin/python"
got=$("$out/bin/python$pythonVersion" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
[ "$got" = "$pythonVersion" ] || { echo "python stand-in: $hostPython is Python $got, not $pythonVersion" >&2; exit 1; }
