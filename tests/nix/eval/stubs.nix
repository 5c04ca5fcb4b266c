# A stand-in for the parts of nixpkgs that nix/*.nix and flake.nix call, so
# tests/hooks/eval.rs can evaluate them on a machine without nixpkgs.
#
# Builders do not build: each returns its arguments plus `stubBuilder` (which
# builder was called), `name` and a fake `outPath`, so a test can read back
# exactly what our expressions passed. `lib` holds only the functions our
# files use, written with builtins to behave like nixpkgs' for these inputs.
{ root }:
let
  fakeStorePath = name: "/nix/store/00000000000000000000000000000000-${name}";

  # A plain package (uv, cacert, bintools, ...).
  package = name: extra: { inherit name; type = "derivation"; outPath = fakeStorePath name; } // extra;

  # nix/offline's lib (as nixpkgs' for these inputs), but fileset records the files instead
  # of copying them, so tests can list them.
  lib = import (root + "/nix/offline/lib.nix") // {
    fileset = {
      unions = paths: { stubFileset = paths; };
      toSource =
        { root, fileset }:
        {
          stubBuilder = "fileset.toSource";
          inherit root;
          files = fileset.stubFileset;
          outPath = fakeStorePath "source";
        };
    };
  };

  # A package set for `system`; `static` marks pkgsStatic. Overlays are
  # applied as nixpkgs does: final = fix (base // overlay final prev).
  mkPkgs =
    {
      system,
      static ? false,
      overlays ? [ ],
    }:
    let
      base = self: {
        inherit lib;
        stubSystem = system;
        stubStatic = static;

        callPackage =
          fn: args:
          let
            f = if builtins.isFunction fn then fn else import fn;
          in
          let
            r = f (builtins.intersectAttrs (builtins.functionArgs f) self // args);
          in
          # As nixpkgs' makeOverridable: an attribute set gains these, derivation or not.
          if builtins.isAttrs r then r // { override = _: r; overrideDerivation = _: r; } else r;

        pkgsStatic = mkPkgs {
          inherit system overlays;
          static = true;
        };
        extend = overlay: mkPkgs {
          inherit system static;
          overlays = overlays ++ [ overlay ];
        };

        rustPlatform.buildRustPackage =
          args:
          args
          // {
            stubBuilder = "buildRustPackage";
            type = "derivation";
            stubStatic = static;
            stubSystem = system;
            name = "${args.pname}-${args.version}";
            outPath = fakeStorePath "${args.pname}-${args.version}${if static then "-static" else ""}";
          };

        stdenv.mkDerivation =
          args:
          let
            name = args.name or "${args.pname}-${args.version}";
          in
          args
          // {
            stubBuilder = "mkDerivation";
            type = "derivation";
            inherit name;
            outPath = fakeStorePath name;
          };

        makeSetupHook =
          args: script:
          args
          // {
            stubBuilder = "makeSetupHook";
            type = "derivation";
            inherit script;
            outPath = fakeStorePath args.name;
          };

        runCommand =
          name: env: buildCommand:
          env
          // {
            stubBuilder = "runCommand";
            type = "derivation";
            inherit name buildCommand;
            outPath = fakeStorePath name;
          };

        mkShell =
          args:
          args
          // {
            stubBuilder = "mkShell";
            type = "derivation";
            name = "nix-shell";
            outPath = fakeStorePath "nix-shell";
          };

        bintools = package "bintools-wrapper" { };
        uv = package "uv" { };
        cacert = package "cacert" { };
        python3 = package "python3-3.12.8" {
          interpreter = "${fakeStorePath "python3-3.12.8"}/bin/python3.12";
        };
        libpq = package "libpq" { };
        cargo = package "cargo" { };
        rustc = package "rustc" { };
        clippy = package "clippy" { };
        rustfmt = package "rustfmt" { };
        patchelf = package "patchelf" { };
        nix = package "nix" { };
      };
      fix = f: let x = f x; in x;
    in
    fix (
      self: builtins.foldl' (prev: overlay: prev // overlay self prev) (base self) overlays
    );

  pkgs = mkPkgs { system = "x86_64-linux"; };

  # The static tools and the hooks, wired as flake.nix does.
  tools = pkgs.pkgsStatic.callPackage (root + "/nix/package.nix") { };
  # The hooks alone, without callPackage's override functions.
  hooks = lib.filterAttrs (_: lib.isDerivation) (
    pkgs.callPackage (root + "/nix/hooks.nix") { fixup-hooks = tools; }
  );
  mkVenv = pkgs.callPackage (root + "/nix/mk-uv-venv.nix") { fixupHooks = hooks; };

  # The flake input `nixpkgs`.
  nixpkgs = {
    inherit lib;
    legacyPackages = lib.genAttrs [
      "x86_64-linux"
      "aarch64-linux"
      "riscv64-linux"
    ] (system: mkPkgs { inherit system; });
  };

  flake =
    let
      f = import (root + "/flake.nix");
      outputs = f.outputs {
        self = outputs // {
          outPath = root;
        };
        inherit nixpkgs;
      };
    in
    f // { inherit outputs; };
in
{
  inherit
    lib
    mkPkgs
    pkgs
    tools
    hooks
    mkVenv
    nixpkgs
    flake
    fakeStorePath
    ;
}
