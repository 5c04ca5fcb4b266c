# The app of nix/offline/demo.nix with crcutil left out of its buildInputs (through the
# result's overrideAttrs, as a user would change it): fastcrc's extension then misses
# libcrcutil.so.1, and patch-rpaths must name the package it came from — which it reads
# from the extension's stripped RUNPATH entry (/nix/store/eeee…-crcutil-1.0/lib), so only
# if nothing in stdenv's fixup (patchelf --shrink-rpath, strip) touched the file before it.
{ toolsDir, uvBin, nonce }:
let
  demo = import ../../../nix/offline/demo.nix { inherit toolsDir uvBin nonce; };
in
demo.app.overrideAttrs (prev: {
  buildInputs = [ demo.python ];
})
