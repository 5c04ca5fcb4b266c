# A reference held only by a symlink target: Nix scans link targets (they are
# in the NAR), so bin/target alone makes $linkonly a reference. bin/same is a
# relative link with no store path; it must be left alone. Needs $linkonly.
mkdir -p "$out/bin"
ln -s "$linkonly/etc/target.txt" "$out/bin/target"
ln -s target "$out/bin/same"
