# Bare hashes (tree-bare.sh); $bareonly is named with --also-hash because
# nothing in the tree spells it out with the store dir in front.
{ nonce, toolPath ? "", strip ? true }:
let c = import ./common.nix { inherit nonce toolPath strip; };
in c.mkTest "strip-bare" {
  treeScripts = [ ./tree-bare.sh ];
  inherit (c.deps) python bareonly;
  toolArgs = "--also-hash ${c.deps.bareonly}";
}
