# Every output refers to $dep (in a file and as a symlink target) and to itself; the first
# output ($out) also refers to each of the others (a reference back would be a cycle, which
# Nix refuses when they are kept). All spelled out in full.
for output in $(getAllOutputNames); do
    dir="${!output}"
    mkdir -p "$dir/share"
    echo "dep=$dep/lib/x" > "$dir/share/ref.txt"
    ln -s "$dep/lib/x" "$dir/share/link"
    echo "self=$dir/share/ref.txt" > "$dir/share/outputs.txt"
done
for output in $(getAllOutputNames); do
    if [ "$output" != out ]; then echo "$output=${!output}/share/ref.txt" >> "$out/share/outputs.txt"; fi
done
