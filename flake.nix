# Wiring only: the packages are in nix/package.nix, nix/hooks.nix and
# nix/mk-uv-venv.nix.
#
# No flake.lock is committed: it was written without network access to lock
# nixpkgs. The first `nix flake lock` (or any `nix build`) creates it.
{
  description = "Static setup-hook tools for Nix builds of Python virtualenvs";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});

      # Everything this flake offers, for one nixpkgs package set.
      piecesFor =
        pkgs:
        let
          # Static (musl) so the hooks carry no libc and work in any builder.
          fixup-hooks = pkgs.pkgsStatic.callPackage ./nix/package.nix { };
          fixupHooks = pkgs.callPackage ./nix/hooks.nix { inherit fixup-hooks; };
          mkUvVenv = pkgs.callPackage ./nix/mk-uv-venv.nix { inherit fixupHooks; };
          # Just one tool of the package: a link to its binary.
          tool =
            name:
            pkgs.runCommand name
              {
                meta = fixup-hooks.meta // {
                  mainProgram = name;
                };
                passthru.unwrapped = fixup-hooks;
              }
              ''
                mkdir -p $out/bin
                ln -s ${fixup-hooks}/bin/${name} $out/bin/${name}
              '';
        in
        {
          inherit
            fixup-hooks
            fixupHooks
            mkUvVenv
            tool
            ;
          # The four hooks alone: callPackage adds override and overrideDerivation to the
          # set, which are not packages.
          hookPackages = nixpkgs.lib.filterAttrs (_: nixpkgs.lib.isDerivation) fixupHooks;
        };
    in
    {
      packages = forAllSystems (
        pkgs:
        let
          p = piecesFor pkgs;
        in
        {
          inherit (p) fixup-hooks;
          default = p.fixup-hooks;
          strip-store-refs = p.tool "strip-store-refs";
          patch-rpaths = p.tool "patch-rpaths";
          fix-venv = p.tool "fix-venv";
        }
        // p.hookPackages
      );

      # fixup-hooks (static), fixupHooks (the four hooks), mkUvVenv.
      overlays.default = final: prev: {
        fixup-hooks = final.pkgsStatic.callPackage ./nix/package.nix { };
        fixupHooks = final.callPackage ./nix/hooks.nix { };
        mkUvVenv = final.callPackage ./nix/mk-uv-venv.nix { };
      };

      # Flake `lib` is not per system, so mkUvVenv takes the package set:
      #   venv = fixup-hooks.lib.mkUvVenv pkgs { pname = ...; python = pkgs.python3; ... };
      lib.mkUvVenv = pkgs: (piecesFor pkgs).mkUvVenv;

      checks = forAllSystems (
        pkgs:
        let
          p = piecesFor pkgs;
        in
        {
          package = p.fixup-hooks;
        }
        // p.hookPackages
      );

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          packages = with pkgs; [
            cargo
            rustc
            clippy
            rustfmt
            patchelf
            nix
            uv
            python3
          ];
        };
      });
    };
}
