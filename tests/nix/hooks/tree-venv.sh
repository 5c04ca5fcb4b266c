# A tiny venv-shaped tree, as uv leaves one for python3.11 and a fixed-output derivation
# stores it (the interpreter's hash erased), at $venvAt (default $out): pyvenv.cfg, lib64,
# and in site-packages the package `pkg` (pkg.main prints "hello from pkg") with its
# pkg-1.0.dist-info: METADATA, RECORD and a [console_scripts] entry point `pkg-hello`.
# With $withBytecode set it also holds bytecode: pkg/__pycache__/__init__.cpython-311.pyc
# (listed in RECORD) and a stray pkg/stale.pyc; with $withInterpreterLinks, uv's bin/python
# (to the host's python3.11), bin/python3 and bin/python3.11 (to python).
root="${venvAt:-$out}"
site="$root/lib/python3.11/site-packages"
mkdir -p "$site/pkg" "$site/pkg-1.0.dist-info"
ln -s lib "$root/lib64"
if [ -n "${withInterpreterLinks-}" ]; then
    mkdir -p "$root/bin"
    ln -s /usr/bin/python3.11 "$root/bin/python"
    ln -s python "$root/bin/python3"
    ln -s python "$root/bin/python3.11"
fi
cat > "$root/pyvenv.cfg" <<'CFG'
home = /nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-python3-3.11.2/bin
implementation = CPython
uv = 0.13.9
version_info = 3.11.2
include-system-site-packages = false
prompt = proj
CFG
printf 'def main():\n    print("hello from pkg")\n' > "$site/pkg/__init__.py"
printf 'Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\n' > "$site/pkg-1.0.dist-info/METADATA"
printf '[console_scripts]\npkg-hello = pkg:main\n' > "$site/pkg-1.0.dist-info/entry_points.txt"
echo uv > "$site/pkg-1.0.dist-info/INSTALLER"
record() { # FILE (relative to site-packages): its RECORD line
    python3.11 -c 'import base64, hashlib, sys
data = open(sys.argv[1] + "/" + sys.argv[2], "rb").read()
digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
print("%s,sha256=%s,%d" % (sys.argv[2], digest, len(data)))' "$site" "$1"
}
{
    record pkg/__init__.py
    if [ -n "${withBytecode-}" ]; then
        mkdir -p "$site/pkg/__pycache__"
        printf 'not really bytecode\n' > "$site/pkg/__pycache__/__init__.cpython-311.pyc"
        printf 'stale\n' > "$site/pkg/stale.pyc"
        record pkg/__pycache__/__init__.cpython-311.pyc
    fi
    record pkg-1.0.dist-info/METADATA
    record pkg-1.0.dist-info/entry_points.txt
    record pkg-1.0.dist-info/INSTALLER
    echo "pkg-1.0.dist-info/RECORD,,"
} > "$site/pkg-1.0.dist-info/RECORD"
