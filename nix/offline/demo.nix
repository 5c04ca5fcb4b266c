# The demo of scripts/demo and tests/nix_e2e.rs: examples/demo-app built with nix/mk-uv-venv.nix
# — the function nixpkgs users call — on the offline stand-ins of ./default.nix (its stdenv,
# uv and cacert), with the real Nix and no nixpkgs.
#
#   toolsDir  directory holding the built strip-store-refs, patch-rpaths and fix-venv (a path,
#             or an absolute path as a string)
#   uvBin     absolute path of the uv binary (not a wrapper such as pyenv's shim); the FOD's
#             hash holds for uv 0.13.9, which writes its version into the venv
#   nonce     goes into every derivation but the FOD's name: the tests' builds get fresh store
#             paths, while the FOD keeps one output path and one hash
#   hash      the FOD's outputHash, if not the one committed in examples/demo-app/package.nix
#             (what the build gives on this project's machines; see below)
#   concatToGlobs  the stand-in stdenv's concatTo as in older nixpkgs (./stdenv)
#
# Attributes: app (the venv), fod (its fixed-output derivation), crcutil, python, uv, and the
# offline glibc and bintools (the tests check the app does not reference them).
#
# What the FOD's hash depends on, besides uv.lock: uv's version (pyvenv.cfg, INSTALLER), the
# host Python's version (pyvenv.cfg's version_info; 3.11.2 here), and the gcc/binutils that
# build fastcrc's extension module in the FOD. Not on store paths: every one is stripped, and
# the names left (crcutil-1.0, python3-3.11-host, the FOD's own name) carry no nonce.
{
  toolsDir,
  uvBin ? throw "demo.nix: pass --argstr uvBin /absolute/path/of/uv (the binary, not a shim; scripts/demo finds it)",
  nonce ? "",
  hash ? null,
  concatToGlobs ? false,
}:
let
  pkgs = import ./default.nix {
    toolsDir = if builtins.isString toolsDir then /. + toolsDir else toolsDir;
    inherit nonce uvBin concatToGlobs;
  };

  # libcrcutil.so.1 + crcutil.h: the C library fastcrc's extension links against. Its store
  # path ends up on the extension's RUNPATH: stripped in the FOD, patched back in the app.
  crcutil = pkgs.callPackage ../../examples/demo-app/crcutil/package.nix { };

  # The app as its package.nix makes it, with the stand-ins' mkUvVenv and python3.
  app = pkgs.callPackage ../../examples/demo-app/package.nix (
    { inherit crcutil; } // (if hash == null then { } else { inherit hash; })
  );
in
{
  inherit app crcutil;
  inherit (pkgs) uv glibc bintools;
  python = pkgs.python3;
  inherit (app) fod;
}
