# References to two dependencies, $dep and $other.
mkdir -p "$out/share"
echo "dep=$dep/lib/x other=$other/lib/x" > "$out/share/ref.txt"
