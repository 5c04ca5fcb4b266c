# Builder of the offline uv stand-in: bin/uv, a link to the host's uv binary (imported into
# the store by default.nix, so the link stays valid and a different uv is a different input).
mkdir -p "$out/bin"
ln -s "$uvFile" "$out/bin/uv"
"$out/bin/uv" --version
