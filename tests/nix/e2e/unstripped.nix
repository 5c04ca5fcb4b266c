# The controls of tests/hooks/e2e.rs: the demo's fixed-output derivation exactly as
# nix/offline/demo.nix builds it, but with store references left in its output. Nix must not
# accept either.
#
#   variant = "nohook"  the strip hook switched off (dontStripStoreRefs, its own knob): the
#                       output keeps every reference, to the Python stand-in, crcutil and
#                       itself. The self-reference also sits in a RECORD digest (of
#                       bin/pygmentize, whose shebang names $out), which Nix's hash-modulo-self
#                       cannot see through, so the hash differs with $out: with a hash learned
#                       from one build, the next fails with a hash mismatch.
#   variant = "keep"    the hook runs but is told to keep the references to crcutil and the
#                       Python stand-in (stripStoreRefsKeep); $out's own are neutralised, so the
#                       hash is stable and Nix's reaction to the references alone is seen: on
#                       Nix 2.8 the printed path is not valid (the output was registered
#                       under another path, with the references), newer Nix fails the build.
#
# Own names, so they never share an output path with the real FOD; the test learns their
# hashes first (they depend on the nonce: references are not stripped).
{ toolsDir, uvBin, nonce, variant, outputHash }:
let
  demo = import ../../../nix/offline/demo.nix { inherit toolsDir uvBin nonce; };
  change = {
    nohook = { dontStripStoreRefs = "1"; };
    keep = { stripStoreRefsKeep = "crcutil-* python3-*"; };
  }.${variant};
in
derivation (demo.fod.drvAttrs // change // {
  name = "demo-app-0.1.0-venv-deps-${variant}";
  inherit outputHash;
})
