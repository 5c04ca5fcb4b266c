# Builder of the "glibc" package (common.nix explains why these are copies):
# the host's C library, libm and loader, where gcc links them from (the same
# files the host's loader uses).
mkdir -p "$out/lib"
for so in libc.so.6 libm.so.6 ld-linux-x86-64.so.2; do
  path=$(gcc -print-file-name="$so")
  [ -f "$path" ] || { echo "glibc.sh: gcc does not know $so" >&2; exit 1; }
  cp -L "$path" "$out/lib/$so"
done
