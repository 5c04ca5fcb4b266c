# Bare hashes: Nix matches the 32 hash characters alone, with no store dir
# before them and no `-` after. bare/a-bare.txt holds $python's hash bare;
# $python also appears with its prefix, but only in a later file
# (z-prefixed.txt), so the tool must collect hashes from the whole tree
# before neutralising bare ones. $bareonly's hash appears only bare; the
# test passes it with --also-hash. Needs $python and $bareonly.
mkdir -p "$out/bare"
hash_of() { basename "$1" | cut -c1-32; }
echo "zz$(hash_of "$python")zz" > "$out/bare/a-bare.txt"
echo "python=$python/bin/python" > "$out/bare/z-prefixed.txt"
echo "id=$(hash_of "$bareonly")" > "$out/bare/bareonly.txt"
