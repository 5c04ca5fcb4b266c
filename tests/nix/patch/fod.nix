# The "deps" fixed-output derivation (recursive sha256), the way a venv of
# binary wheels is fetched: it compiles two extension modules against the
# library packages (fod.sh) — their RUNPATHs name those store paths — and
# runs strip-store-refs on $out, after which Nix accepts it: the output is
# valid and has no references.
#
# The nonce is in the NAME: a FOD's output path depends only on its name and
# hash, so without it a valid output of an earlier run (made by other
# binaries) would be reused and the builder would not run. The content does
# not depend on the nonce, so one outputHash holds in every run.
#
# outputHash: an SRI sha256; the test first builds with a fake one and reads
# the real one from "got:" in the error, as users do.
{ nonce, stripPath, outputHash }:
let c = import ./common.nix { inherit nonce stripPath; };
in c.mkDrv "python-deps-${nonce}" ./fod.sh {
  inherit (c.libs) postgresql libxml2 xz;
  inherit (c) strip;
  psycopgSrc = ./c/psycopg.c;
  etreeSrc = ./c/etree.c;
  outputHashMode = "recursive";
  outputHashAlgo = "sha256";
  inherit outputHash;
}
