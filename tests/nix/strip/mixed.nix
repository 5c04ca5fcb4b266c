# File contents and a symlink, all spelled with the store dir in front (no
# bare hashes): what `strip-store-refs --check` must find on its own.
{ nonce, toolPath ? "", strip ? true }:
let c = import ./common.nix { inherit nonce toolPath strip; };
in c.mkTest "strip-mixed" {
  treeScripts = [ ./tree-contents.sh ./tree-symlink.sh ];
  inherit (c.deps) lib python linkonly;
}
