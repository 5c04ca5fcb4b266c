# The large real application of scripts/e2e-large: examples/paperless (paperless-ngx's
# dependency set) built with nix/mk-uv-venv.nix on the offline stand-ins, its C libraries made
# of Debian packages (./debian.nix).
#
#   toolsDir  directory holding the built tools (a path, or an absolute path as a string)
#   uvBin     absolute path of the uv binary (the hash holds for uv 0.13.9)
#   debsDir   absolute path of a directory holding the .deb files ./debian.nix names
#   nonce     goes into every derivation but the FOD's name (see ./demo.nix)
#   hash      the FOD's outputHash, if not the one committed in examples/paperless/package.nix
#
# Attributes: app, fod, libs (the C libraries), python, and the offline glibc and bintools.
{
  toolsDir,
  uvBin,
  debsDir,
  nonce ? "",
  hash ? null,
}:
let
  pkgs = import ./default.nix {
    toolsDir = if builtins.isString toolsDir then /. + toolsDir else toolsDir;
    inherit nonce uvBin;
  };
  libs = import ./debian.nix {
    inherit (pkgs) mkDrv;
    debs = builtins.path {
      path = /. + debsDir;
      name = "debian-debs";
    };
  };
  # nixpkgs' stdenv.cc.cc.lib: GCC's runtime libraries (libstdc++, libgcc_s).
  stdenv = pkgs.stdenv // {
    cc = pkgs.stdenv.cc // {
      cc.lib = libs.gcc-lib;
    };
  };
  app = pkgs.callPackage ../../examples/paperless/package.nix (
    removeAttrs libs [
      "packages"
      "gcc-lib"
    ]
    // {
      inherit stdenv;
    }
    // (if hash == null then { } else { inherit hash; })
  );
in
{
  inherit app libs;
  inherit (pkgs) glibc bintools;
  python = pkgs.python3;
  inherit (app) fod;
}
