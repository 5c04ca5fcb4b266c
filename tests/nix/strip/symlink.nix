# A tree whose only reference is a symlink into a dependency (tree-symlink.sh).
{ nonce, toolPath ? "", strip ? true }:
let c = import ./common.nix { inherit nonce toolPath strip; };
in c.mkTest "strip-symlink" {
  treeScripts = [ ./tree-symlink.sh ];
  inherit (c.deps) linkonly;
}
