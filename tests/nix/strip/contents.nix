# References in file contents only (tree-contents.sh).
{ nonce, toolPath ? "", strip ? true }:
let c = import ./common.nix { inherit nonce toolPath strip; };
in c.mkTest "strip-contents" {
  treeScripts = [ ./tree-contents.sh ];
  inherit (c.deps) lib python;
}
