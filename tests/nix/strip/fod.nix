# A recursive sha256 fixed-output derivation holding every kind of reference
# (contents, symlink, bare). Nix only accepts such an output without
# references, i.e. after strip-store-refs ran.
#
# The nonce is in the NAME: a FOD's output path depends only on its name and
# hash, so without it a valid output of an earlier run (made by another
# binary) would be reused and the builder would not run at all. The CONTENT
# does not depend on the nonce (dependency names are fixed and their hashes
# become `eeee…`), so the same outputHash holds in every run.
#
# outputHash: an SRI sha256; the test first builds with a fake one and reads
# the real one from "got:" in the error, as users do.
{ nonce, toolPath ? "", strip ? true, outputHash }:
let c = import ./common.nix { inherit nonce toolPath strip; };
in c.mkTest "strip-fod-${nonce}" {
  treeScripts = [ ./tree-contents.sh ./tree-symlink.sh ./tree-bare.sh ];
  inherit (c.deps) lib python linkonly bareonly;
  toolArgs = "--also-hash ${c.deps.bareonly}";
  outputHashMode = "recursive";
  outputHashAlgo = "sha256";
  inherit outputHash;
}
