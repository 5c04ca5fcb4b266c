# References to three dependencies: $keepme, $alsokept and $other.
mkdir -p "$out/share"
echo "keepme=$keepme/lib/x alsokept=$alsokept/lib/x other=$other/lib/x" > "$out/share/ref.txt"
