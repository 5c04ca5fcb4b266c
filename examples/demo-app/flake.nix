# The demo app with nixpkgs, as the README's "With the flake" shows: `nix build` in this
# directory. Its `fixup-hooks` input is this repository; yours names it on GitHub.
{
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
  inputs.fixup-hooks.url = "path:../..";
  inputs.fixup-hooks.inputs.nixpkgs.follows = "nixpkgs";

  outputs =
    { nixpkgs, fixup-hooks, ... }:
    let
      pkgs = nixpkgs.legacyPackages.x86_64-linux;
    in
    {
      packages.x86_64-linux.default = pkgs.callPackage ./package.nix {
        mkUvVenv = fixup-hooks.lib.mkUvVenv pkgs;
        crcutil = pkgs.callPackage ./crcutil/package.nix { };
      };
    };
}
