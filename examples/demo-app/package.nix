# The demo app as a package: a virtualenv of this uv project made by fixup-hooks' mkUvVenv.
# ./flake.nix calls it with nixpkgs (mkUvVenv = fixup-hooks.lib.mkUvVenv pkgs), as the
# README shows; nix/offline/demo.nix with the offline stand-ins (scripts/demo, the tests).
#
#   hash  the FOD's outputHash; the committed one is what this repository's machines build
#         (uv 0.13.9, Debian 12's Python 3.11.2 and gcc): with another Python or uv, the
#         build's "hash mismatch ... got:" error tells yours.
{
  mkUvVenv,
  python3,
  crcutil,
  hash ? "sha256-CHtBCze5j0hz7NGYvkXWAy8qLqYNXILPmh/nrl3kQ7Q=",
}:
let
  # What uv reads (pyproject.toml, uv.lock, packages/), without what a local `uv sync` or
  # setuptools leaves behind.
  src = builtins.path {
    path = ./.;
    name = "demo-app-src";
    filter =
      path: type:
      let
        rel = builtins.substring (builtins.stringLength (toString ./.)) (-1) path;
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
in
mkUvVenv {
  pname = "demo-app";
  version = "0.1.0";
  inherit src hash;
  python = python3;
  # libcrcutil.so.1, which fastcrc's extension (built from source in the FOD) links against.
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
}
