# Builder of every derivation under test (common.nix mkTest): write the trees
# named in $treeScripts into $out, then run the tool under test on $out the
# way a fixup hook would. With strip = false $tool is empty and the output
# keeps its references: the control that shows Nix's scanner sees them.
mkdir -p "$out"
for script in $treeScripts; do
  . "$script"
done
if [ -n "$tool" ]; then
  # $toolArgs is split on purpose: it holds options such as --also-hash P.
  "$tool" $toolArgs "$out"
fi
