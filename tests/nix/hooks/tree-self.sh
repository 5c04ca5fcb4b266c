# The output's own hash, bare (as build ids and caches hold it): a self-reference.
mkdir -p "$out/share"
echo "self=$(basename "$out" | cut -c1-32)" > "$out/share/self.txt"
