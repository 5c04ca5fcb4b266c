# An offline stand-in for the nixpkgs flake, for `nix flake check` of this repository's
# flake.nix on machines without nixpkgs (tests/hooks/flake.rs): `lib` and `legacyPackages` are
# nix/offline's stand-ins (a stdenv that behaves as nixpkgs' where fixup-hooks meets it; a
# callPackage that overrides results as nixpkgs' does).
#
# Input `tools`: the directory cargo built the tools into (and, optionally, a prebuilt
# unit-test binary `unit-tests`), which the stand-in rustPlatform installs instead of
# compiling; the tests give it with --override-input nixpkgs/tools path:DIR.
{
  description = "Offline stand-in for nixpkgs (fixup-hooks' tests only)";

  inputs.tools = {
    url = "path:./no-tools";
    flake = false;
  };
  # A directory holding the uv binary as `uv` (--override-input nixpkgs/uv path:DIR), for
  # `uv` and so mkUvVenv; without it, uv is a package that refuses to build.
  inputs.uv = {
    url = "path:./no-tools";
    flake = false;
  };

  outputs =
    { self, tools, uv }:
    let
      lib = import ../../../nix/offline/lib.nix;
    in
    {
      inherit lib;
      legacyPackages =
        lib.genAttrs
          [
            "x86_64-linux"
            "aarch64-linux"
          ]
          (
            system:
            import ../../../nix/offline {
              toolsDir = tools;
              uvBin = if builtins.pathExists "${uv}/uv" then uv else null;
              inherit system;
            }
          );
    };
}
