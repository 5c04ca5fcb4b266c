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
#   hash      the FOD's outputHash; the committed one is what the build gives on this
#             project's machines (see below)
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
  hash ? "sha256-CHtBCze5j0hz7NGYvkXWAy8qLqYNXILPmh/nrl3kQ7Q=",
  hostPython ? "/usr/bin/python3.11",
  concatToGlobs ? false,
}:
let
  pkgs = import ./default.nix {
    toolsDir = if builtins.isString toolsDir then /. + toolsDir else toolsDir;
    inherit nonce uvBin concatToGlobs;
  };
  inherit (pkgs) stdenv mkDrv;

  # The demo app's sources: what uv reads (pyproject.toml, uv.lock, packages/), without
  # what a local `uv sync` or setuptools leaves behind.
  appDir = ../../examples/demo-app;
  src = builtins.path {
    path = appDir;
    name = "demo-app-src";
    filter =
      path: type:
      let
        rel = builtins.substring (builtins.stringLength (toString appDir)) (-1) path;
        base = baseNameOf path;
      in
      !(builtins.elem base [
        ".venv"
        "build"
        "__pycache__"
        ".pytest_cache"
      ])
      && builtins.match ".*\\.egg-info" base == null
      && (
        builtins.elem rel [
          "/pyproject.toml"
          "/uv.lock"
          "/packages"
        ]
        || builtins.substring 0 10 rel == "/packages/"
      );
  };

  # libcrcutil.so.1 + crcutil.h: the C library fastcrc's extension links against. Its store
  # path ends up on the extension's RUNPATH: stripped in the FOD, patched back in the app.
  crcutil = stdenv.mkDerivation {
    name = "crcutil-1.0";
    src = builtins.path {
      path = ../../examples/demo-app/crcutil;
      name = "crcutil-src";
      filter =
        path: type:
        builtins.elem (baseNameOf path) [
          "crcutil.c"
          "crcutil.h"
        ];
    };
    buildPhase = ''
      gcc -shared -fPIC -O2 -Wl,-soname,libcrcutil.so.1 -o libcrcutil.so.1.0.0 crcutil.c
    '';
    installPhase = ''
      mkdir -p "$out/lib" "$out/include"
      cp libcrcutil.so.1.0.0 "$out/lib/"
      ln -s libcrcutil.so.1.0.0 "$out/lib/libcrcutil.so.1"
      ln -s libcrcutil.so.1 "$out/lib/libcrcutil.so"
      cp crcutil.h "$out/include/"
    '';
  };

  # The Python stand-in for nixpkgs' python3: bin/python3.11 (+ python3, python) as links to
  # the host's interpreter. Links are enough: CPython finds its standard library from its
  # compiled-in prefix (/usr) when the directory of the executable has none, so it runs the
  # same through the link; and what matters for the test is the store path. uv puts it into
  # the FOD (bin/python, pyvenv.cfg's home), where it is stripped; fix-venv restore writes it
  # into the app, which therefore references it as it would reference nixpkgs' python3.
  python =
    mkDrv "python3-3.11-host" ./python-host.sh {
      inherit hostPython;
      pythonVersion = "3.11";
    }
    // {
      interpreter = "${python}/bin/python3.11";
    };

  app = pkgs.mkUvVenv {
    pname = "demo-app";
    version = "0.1.0";
    inherit src python hash;
    buildInputs = [ crcutil ];
    workspaceMembers = [ "packages/demo-cli" ];
    checkImports = [
      "markupsafe._speedups"
      "yaml._yaml"
      "pygments.lexers"
      "fastcrc._fastcrc"
      "demo_cli"
    ];
    # fastcrc's setup.py finds libcrcutil here (include/, lib/, and lib/ on the RUNPATH).
    uvEnv.CRCUTIL_PREFIX = crcutil;
  };
in
{
  inherit app crcutil python;
  inherit (pkgs) uv glibc bintools;
  inherit (app) fod;
}
