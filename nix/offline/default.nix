# Offline stand-ins for the nixpkgs package set that fixup-hooks' own expressions
# (../package.nix, ../hooks.nix, ../mk-uv-venv.nix, ../../flake.nix) are written against,
# for machines without nixpkgs (the tests, scripts/demo, `nix flake check` through
# tests/nix/nixpkgs). The expressions are the ones users get; only the set they are called
# with is ours:
#
#   lib                 ./lib.nix (callPackage overrides results as nixpkgs' does)
#   stdenv              ./stdenv: mkDerivation with a setup that behaves as nixpkgs' stdenv
#                       where the hooks meet it, default fixup hooks included
#   makeSetupHook, runCommand, mkShell, callPackage, pkgsStatic (this set again)
#   rustPlatform        buildRustPackage installs the binaries cargo built in `toolsDir`
#                       (and runs the prebuilt unit-test binary `unit-tests` there, if any,
#                       as its checkPhase) instead of compiling the crate in the build
#   glibc, bintools     the host's C library in a store path, and a bintools wrapper's
#                       nix-support files and setup hook (NIX_BINTOOLS, STRIP)
#   cacert, uv, python3 the host's CA bundle; uv, when `uvBin` names the host's binary;
#                       the host's Python 3.11
#   fixup-hooks, fixupHooks (= hooks), mkUvVenv: ours, built with the above
#
#   toolsDir       directory holding the built strip-store-refs, patch-rpaths and fix-venv
#                  (e.g. target/debug), a path, copied into the store (so a new build is a
#                  new input); or a flake input holding just those
#   nonce          goes into every derivation (through the stdenv), so a test run never
#                  reuses an earlier run's outputs
#   concatToGlobs  setup's concatTo as in nixpkgs before it switched globbing off
#   uvBin          absolute path of the uv binary, for `uv` (and so mkUvVenv); or a flake
#                  input holding it as `uv`
{
  toolsDir,
  nonce ? "",
  system ? builtins.currentSystem,
  concatToGlobs ? false,
  uvBin ? null,
}:
let
  lib = import ./lib.nix;

  # A derivation built without the stdenv (for the stdenv's own inputs and the host
  # stand-ins): a bash builder script with the host's /usr/bin on PATH.
  mkDrv =
    name: script: attrs:
    derivation (
      {
        inherit name system nonce;
        builder = "/bin/bash";
        args = [
          "-e"
          script
        ];
        PATH = "/usr/bin:/bin";
      }
      // attrs
    );

  glibc = mkDrv "glibc-host" ./glibc.sh { };
  bintools = mkDrv "bintools-host" ./bintools.sh { inherit glibc; };
  stdenv = import ./stdenv {
    inherit
      lib
      system
      bintools
      nonce
      concatToGlobs
      ;
  };

  # The directory cargo built into, reduced to what the stand-in buildRustPackage uses; a
  # store path already (a flake input) as it is.
  prebuilt =
    if builtins.isAttrs toolsDir then
      toolsDir
    else
      builtins.path {
        path = toolsDir;
        name = "fixup-hooks-prebuilt";
        filter =
          path: type:
          dirOf path == toString toolsDir
          && builtins.elem (baseNameOf path) [
            "strip-store-refs"
            "patch-rpaths"
            "fix-venv"
            "unit-tests"
          ];
      };

  # Evaluates, never builds: what flake.nix's devShell lists.
  placeholderPackage = name: mkDrv name ./placeholder.sh { };

  pkgs = {
    inherit
      lib
      stdenv
      system
      glibc
      bintools
      mkDrv
      ;
    inherit (stdenv) mkDerivation runCommand mkShell makeSetupHook;
    callPackage = lib.callPackageWith pkgs;
    pkgsStatic = pkgs;

    rustPlatform.buildRustPackage =
      args:
      stdenv.mkDerivation (
        removeAttrs args [
          "cargoLock"
          "cargoTestFlags"
        ]
        // {
          inherit prebuilt;
          cargoLockFile = args.cargoLock.lockFile;
          cargoTestFlags = args.cargoTestFlags or [ ];
          doCheck = args.doCheck or true;
          dontConfigure = true;
          # What cargo would build from: the source holds the crate, and the lock file the
          # expression names is the source's own.
          buildPhase = ''
            runHook preBuild
            test -f Cargo.toml && test -f src/lib.rs
            cmp "$cargoLockFile" Cargo.lock
            runHook postBuild
          '';
          checkPhase = ''
            runHook preCheck
            if [ -x "$prebuilt/unit-tests" ]; then
              echo "running the prebuilt unit tests ($cargoTestFlags)"
              "$prebuilt/unit-tests" --test-threads="$NIX_BUILD_CORES" --color=never
            else
              echo "no prebuilt unit-test binary in $prebuilt: nothing to check here"
            fi
            runHook postCheck
          '';
          installPhase = ''
            runHook preInstall
            mkdir -p "$out/bin"
            cp "$prebuilt/strip-store-refs" "$prebuilt/patch-rpaths" "$prebuilt/fix-venv" "$out/bin/"
            runHook postInstall
          '';
        }
      );

    cacert = mkDrv "cacert-host" ./cacert.sh { };
    # Without uvBin, a package that evaluates but refuses to build.
    uv =
      if uvBin == null then
        placeholderPackage "uv"
      else
        mkDrv "uv-host" ./uv-host.sh {
          uvFile =
            if builtins.isAttrs uvBin then
              "${uvBin}/uv"
            else
              builtins.path {
                path = /. + uvBin;
                name = "uv";
              };
        };

    # nixpkgs' python3, as far as a venv needs it: bin/python3.11 (+ python3, python) as
    # links to the host's interpreter, and `interpreter`. Links are enough: CPython finds its
    # standard library from its compiled-in prefix (/usr) when the executable's directory
    # has none, so it runs the same through the link; what matters to the tests is the store
    # path, which uv writes into the FOD (bin/python, pyvenv.cfg's home), the strip
    # neutralises, and fix-venv restore writes into the venv again.
    python3 =
      mkDrv "python3-3.11-host" ./python-host.sh {
        hostPython = "/usr/bin/python3.11";
        pythonVersion = "3.11";
      }
      // {
        interpreter = "${pkgs.python3}/bin/python3.11";
      };

    fixup-hooks = pkgs.callPackage ../package.nix { };
    fixupHooks = pkgs.callPackage ../hooks.nix { };
    hooks = pkgs.fixupHooks;
    mkUvVenv = pkgs.callPackage ../mk-uv-venv.nix { };

    cargo = placeholderPackage "cargo";
    rustc = placeholderPackage "rustc";
    clippy = placeholderPackage "clippy";
    rustfmt = placeholderPackage "rustfmt";
    patchelf = placeholderPackage "patchelf";
    nix = placeholderPackage "nix";
  };
in
pkgs
