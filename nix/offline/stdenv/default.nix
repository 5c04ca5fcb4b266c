# A stand-in for nixpkgs' stdenv (pkgs/stdenv/generic): `mkDerivation` and the stdenv
# derivation whose `setup` (./setup.sh) every build sources. What it keeps of nixpkgs' is
# what fixup-hooks' expressions and hooks depend on:
#
#   - mkDerivation takes an attribute set or `finalAttrs: { ... }`; name or pname+version;
#     `env` (exported variables; nested under __structuredAttrs), `passthru` and `meta` off
#     the derivation and on the result; `overrideAttrs` (`prev: ...` or `final: prev: ...`);
#     builder `bash -e default-builder.sh` unless `builder`/`realBuilder`/`args` say otherwise;
#   - the default inputs, last, in the Linux stdenv's order: patchelf's hook
#     (--shrink-rpath), the default fixup hooks of ./hooks, then the toolchain's bintools
#     (whose setup hook exports NIX_BINTOOLS, as the cc wrapper's does);
#   - runCommand, mkShell, and makeSetupHook (see there).
#
#   nonce           goes into the stdenv derivation, and so into every derivation built
#                   with it: a test run never reuses an earlier run's outputs
#   concatToGlobs   every build gets standinConcatToGlobs = "1": setup.sh's concatTo then
#                   behaves as the one in nixpkgs before it switched globbing off
{
  lib,
  system,
  bintools,
  nonce ? "",
  concatToGlobs ? false,
}:
let
  defaultHooks = [
    ./hooks/patchelf.sh
    ./hooks/no-broken-symlinks.sh
    ./hooks/audit-tmpdir.sh
    ./hooks/make-symlinks-relative.sh
    ./hooks/move-lib64.sh
    ./hooks/multiple-outputs.sh
    ./hooks/patch-shebangs.sh
    ./hooks/reproducible-builds.sh
    ./hooks/set-source-date-epoch-to-latest.sh
    ./hooks/strip.sh
  ];

  stdenvDrv = derivation {
    name = "stdenv-linux-standin";
    inherit system nonce;
    builder = "/bin/bash";
    args = [
      "-e"
      ./builder.sh
    ];
    PATH = "/usr/bin:/bin";
    setup = ./setup.sh;
    # The host's /usr: coreutils, findutils, sed, grep, gawk, tar, gzip, make, patch,
    # binutils, patchelf (nixpkgs' initialPath holds its own builds of these).
    initialPath = "/usr";
    defaultNativeBuildInputs = defaultHooks ++ [ bintools ];
  };

  # nixpkgs' rule: `final: prev: { ... }` or `prev: { ... }`.
  applyOverride =
    f: final: prev:
    let
      r = f prev;
    in
    if builtins.isFunction r then f final prev else r;

  mkWith =
    attrsFn:
    let
      attrs = attrsFn attrs;
      structured = attrs.__structuredAttrs or false;
      env = attrs.env or { };
      clash = builtins.filter (n: attrs ? ${n}) (builtins.attrNames env);
      drvAttrs =
        assert
          structured || clash == [ ]
          || throw "mkDerivation: attributes set both at the top level and in env: ${toString clash}";
        removeAttrs attrs [
          "meta"
          "passthru"
          "env"
          "realBuilder"
        ]
        // (if structured then { inherit env; } else env)
        // {
          name = attrs.name or "${attrs.pname}-${attrs.version}";
          inherit system;
          builder = attrs.realBuilder or "/bin/bash";
          args =
            attrs.args or [
              "-e"
              (attrs.builder or ./default-builder.sh)
            ];
          stdenv = stdenvDrv;
          __ignoreNulls = true;
        }
        // lib.optionalAttrs concatToGlobs { standinConcatToGlobs = "1"; };
      drv = derivation drvAttrs;
      passthru = attrs.passthru or { };
    in
    drv
    // passthru
    // {
      meta = attrs.meta or { };
      inherit passthru;
      overrideAttrs =
        f:
        mkWith (
          final:
          let
            prev = attrsFn final;
          in
          prev // applyOverride f final prev
        );
    };

  mkDerivation = arg: mkWith (if builtins.isFunction arg then arg else (_: arg));

  runCommand =
    name: env: buildCommand:
    mkDerivation (
      {
        inherit name buildCommand;
        passAsFile = [ "buildCommand" ];
      }
      // env
    );
in
{
  inherit mkDerivation runCommand system;
  cc = bintools;
  shell = "/bin/bash";
  setup = "${stdenvDrv}/setup";
  drv = stdenvDrv;

  mkShell =
    args:
    mkDerivation (
      {
        name = args.name or "nix-shell";
        nativeBuildInputs = args.packages or [ ];
        phases = [ "nobuildPhase" ];
        nobuildPhase = "echo 'This derivation is not meant to be built, aborting'; exit 1";
      }
      // removeAttrs args [
        "name"
        "packages"
      ]
    );

  # nixpkgs' makeSetupHook (the late-2024 form users pin; the 2026 one substitutes the
  # same @names@ explicitly): the script as nix-support/setup-hook, each @name@ replaced by
  # its substitution, the propagated inputs recorded, strictDeps on. One addition: a
  # placeholder left unsubstituted fails the build, where nixpkgs' would leave it.
  makeSetupHook =
    {
      name,
      propagatedBuildInputs ? [ ],
      substitutions ? { },
      passthru ? { },
      meta ? { },
    }:
    script:
    runCommand name
      (
        substitutions
        // {
          inherit propagatedBuildInputs passthru meta;
          strictDeps = true;
          __structuredAttrs = false;
        }
      )
      ''
        mkdir -p "$out/nix-support"
        substituteAll ${script} "$out/nix-support/setup-hook"
        if grep -q '@[a-zA-Z][a-zA-Z0-9_]*@' "$out/nix-support/setup-hook"; then
          echo "makeSetupHook: unsubstituted placeholder in ${script}: $(grep -o '@[a-zA-Z][a-zA-Z0-9_]*@' "$out/nix-support/setup-hook" | sort -u)" >&2
          exit 1
        fi
        recordPropagatedDependencies
      '';
}
