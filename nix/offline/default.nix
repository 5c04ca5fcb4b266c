# Offline stand-ins for the nixpkgs pieces that fixup-hooks' own expressions (../hooks.nix,
# ../package.nix) get from nixpkgs: plain `derivation`s built with /bin/bash, for machines
# without nixpkgs (the tests and scripts/demo). Builders source ./setup.sh, a documented
# stand-in for stdenv's hook protocol, so the real hook files in ../../hooks run unchanged.
#
#   toolsDir  a directory holding the built strip-store-refs, patch-rpaths and fix-venv
#             (e.g. target/release); copied into the store, so a new build is a new input
#   nonce     goes into every derivation, so a test run never reuses an older one's outputs
{ toolsDir, nonce ? "", system ? builtins.currentSystem }:
rec {
  # A plain derivation whose builder is a bash script; `-e` so a failing step fails the build.
  mkDrv = name: script: attrs: derivation ({
    inherit name system nonce;
    builder = "/bin/bash";
    args = [ "-e" script ];
    PATH = "/usr/bin:/bin";
    # The stand-in stdenv, for builders that run setup hooks.
    stdenvSetup = ./setup.sh;
  } // attrs);

  # The three tools, as the package nix/package.nix builds with rustPlatform.
  fixup-hooks = mkDrv "fixup-hooks" ./tools.sh {
    bins = builtins.path {
      path = toolsDir;
      name = "fixup-hooks-bins";
      filter = path: type:
        dirOf path == toString toolsDir
        && builtins.elem (baseNameOf path) [ "strip-store-refs" "patch-rpaths" "fix-venv" ];
    };
  };

  # glibc, as far as the loader and patch-rpaths' --libc need it: copies of the host's
  # libraries, so the package is self-contained like a real glibc output.
  glibc = mkDrv "glibc-host" ./glibc.sh { };

  # A bintools wrapper's nix-support files, which patch-rpaths' hook reads through
  # $NIX_BINTOOLS for the interpreter and the libc directory.
  bintools = mkDrv "bintools-host" ./bintools.sh { inherit glibc; };

  # makeSetupHook's documented effect: the script as nix-support/setup-hook with @name@
  # substituted for each substitution, and propagatedBuildInputs recorded.
  makeSetupHook = { name, propagatedBuildInputs ? [ ], substitutions ? { }, ... }: script:
    mkDrv name ./make-setup-hook.sh (substitutions // {
      inherit script propagatedBuildInputs;
      substitutionNames = builtins.attrNames substitutions;
    });

  # The same hooks.nix users get, fed with the stand-ins above.
  hooks = import ../hooks.nix { inherit makeSetupHook fixup-hooks bintools; };
}
