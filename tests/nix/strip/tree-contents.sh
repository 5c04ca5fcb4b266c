# References in file contents: a text file, and a binary blob where the
# references sit between NUL bytes, one straddles the 64 KiB mark (a likely
# read-buffer seam) and one ends the file. Needs $lib and $python.
mkdir -p "$out/share"
cat > "$out/share/env.sh" <<EOT
export LD_LIBRARY_PATH=$lib/lib
export PYTHON=$python/bin/python
EOT
blob="$out/share/blob.bin"
printf '\000\000\001%s\000' "$lib/lib/libfoo.so" > "$blob"
# Pad so that $python starts at 65520: its hash spans bytes 65531..65562.
head -c $((65520 - $(wc -c < "$blob"))) /dev/zero >> "$blob"
printf '%s' "$python/lib/python3.11/os.py" >> "$blob"
head -c 100 /dev/zero >> "$blob"
printf '%s' "$lib" >> "$blob"
