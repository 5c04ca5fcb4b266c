# The derivation that uses the stripped FOD (fod.nix): it copies the tree to
# $out and re-links its modules with patch-rpaths against the library
# packages it was given (main.sh), then proves in the builder that every
# DT_NEEDED loads from the store and that python3.11 can load the modules.
#
# fodHash    the FOD's outputHash (the test learns it first).
# withLibxml2  false leaves libxml2 out, as if it were missing from
#            buildInputs: patch-rpaths must fail and name it.
# patched    false skips patch-rpaths: the control that shows the builder's
#            checks fail on modules whose RUNPATH is still stripped.
#
# xz is NOT passed: patch-rpaths must find liblzma.so.5 through libxml2's
# RUNPATH. The C library is passed with --libc and adds no RUNPATH entry.
{ nonce, stripPath, patchPath, fodHash, withLibxml2 ? true, patched ? true }:
let
  c = import ./common.nix { inherit nonce stripPath patchPath; };
  fod = import ./fod.nix { inherit nonce stripPath; outputHash = fodHash; };
  libs = [ c.libs.postgresql ] ++ (if withLibxml2 then [ c.libs.libxml2 ] else [ ]);
in c.mkDrv "python-env" ./main.sh {
  inherit fod;
  inherit (c) glibc;
  patch = if patched then c.patch else "";
  libsArgs = map (l: "--libs ${l}/lib") libs;
  loadCheck = ./load.py;
}
