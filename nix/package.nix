# The three tools of this crate: strip-store-refs, patch-rpaths, fix-venv.
#
# callPackage-able: `pkgs.callPackage ./nix/package.nix { }` gives a dynamic
# (glibc) build; `pkgs.pkgsStatic.callPackage ./nix/package.nix { }` gives the
# static musl build that the setup hooks want (no runtime closure beyond the
# binaries, usable inside fixed-output derivations and on any Linux). flake.nix
# does the latter.
{
  lib,
  rustPlatform,
}:
let
  # Name, version and description live in Cargo.toml only.
  cargoToml = builtins.fromTOML (builtins.readFile ../Cargo.toml);
in
rustPlatform.buildRustPackage {
  pname = cargoToml.package.name;
  version = cargoToml.package.version;

  # Only what cargo needs to build: editing hooks/, nix/, tests/ or scripts/
  # does not rebuild the tools.
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../Cargo.toml
      ../Cargo.lock
      ../src
    ];
  };

  # The committed lock file; no git dependencies, so no outputHashes.
  cargoLock.lockFile = ../Cargo.lock;

  # Unit tests only. The integration tests in tests/ need a real Nix store,
  # uv, network access and fixtures outside src/, none of which exist in the
  # build sandbox (and tests/ is not in src anyway); the unit tests are pure.
  doCheck = true;
  cargoTestFlags = [ "--lib" ];

  meta = {
    description = cargoToml.package.description;
    license = lib.licenses.mit;
    platforms = lib.platforms.linux;
    # One package, three binaries; `nix run` picks this one. flake.nix also
    # exposes each tool on its own (packages.<system>.{strip-store-refs,
    # patch-rpaths,fix-venv}).
    mainProgram = "strip-store-refs";
  };
}
