# The derivations of tests/hooks/stdenv.rs: what nix/offline's stand-in stdenv does at each
# point where fixup-hooks' hooks meet nixpkgs' stdenv, one small build per behaviour. The
# facts each one pins are nixpkgs' (pkgs/stdenv/generic/setup.sh and
# pkgs/build-support/setup-hooks/*.sh); tests/hooks/stdenv.rs names them.
#
# toolsDir  absolute path of the directory holding the built tools (nix/offline needs them
#           for its package set, though these builds use none)
# nonce     fresh per run: every derivation is built anew
{ toolsDir, nonce }:
let
  o = import ../../../nix/offline {
    toolsDir = /. + toolsDir;
    inherit nonce;
  };
  globs = import ../../../nix/offline {
    toolsDir = /. + toolsDir;
    inherit nonce;
    concatToGlobs = true;
  };
  inherit (o) stdenv mkDrv;

  # A build whose install phase is `script`.
  build =
    name: script: attrs:
    stdenv.mkDerivation (
      {
        inherit name nonce;
        dontUnpack = true;
        installPhase = ''
          runHook preInstall
          mkdir -p "$out"
          ${script}
          runHook postInstall
        '';
      }
      // attrs
    );

  # A package with nothing in it but a setup hook: `hook` (sourced by every build that has
  # it as an input).
  hookPackage =
    name: hook:
    mkDrv name ./hook-package.sh {
      inherit hook nonce;
    };

  # A package that lists `propagated` in nix-support/propagated-build-inputs.
  propagating =
    name: propagated:
    mkDrv name ./propagating.sh {
      inherit propagated nonce;
    };

  # An interpreter for patchShebangs to find on the build's inputs: bin/stdenv-test-interp.
  interp = mkDrv "stdenv-test-interp" ./interp.sh { inherit nonce; };

  # Records every package its env hook is called with, and where in postFixupHooks the
  # hooks registered before and after it stand.
  recorder = hookPackage "stdenv-test-recorder" ''
    recordEnv() { echo "$1" >> "$NIX_BUILD_TOP/env-hook-calls"; }
    addEnvHooks "$targetOffset" recordEnv
    recorderPostFixup() { :; }
    postFixupHooks+=(recorderPostFixup)
  '';
  leafA = propagating "stdenv-test-a" "${leafB}";
  leafB = propagating "stdenv-test-b" "";
  nativeOnly = propagating "stdenv-test-native" "";

  # The inputs the env-hook cases share, and the build that writes what the hook saw.
  envCase =
    name: attrs:
    build name
      ''
        sort -u "$NIX_BUILD_TOP/env-hook-calls" > "$out/calls"
        printf '%s\n' "''${postFixupHooks[@]}" > "$out/post-fixup-hooks"
      ''
      (
        {
          nativeBuildInputs = [
            recorder
            nativeOnly
          ];
          buildInputs = [ leafA ];
        }
        // attrs
      );

  # A list knob as concatTo sees it: the items, one a line.
  listCase =
    set: name: knob:
    set.stdenv.mkDerivation {
      inherit name nonce knob;
      __structuredAttrs = builtins.isList knob;
      dontUnpack = true;
      installPhase = ''
        touch abc
        mkdir -p "$out"
        local -a items=()
        concatTo items knob
        printf '%s\n' "''${items[@]}" > "$out/items"
      '';
    };
in
{
  inherit leafA leafB nativeOnly interp;

  brokenSymlink = {
    dangling = build "stdenv-test-dangling" ''ln -s ${builtins.storeDir}/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-gone/x "$out/link"'' { };
    allowed = build "stdenv-test-dangling" ''ln -s ${builtins.storeDir}/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-gone/x "$out/link"'' {
      dontCheckForBrokenSymlinks = true;
    };
    # Outside the store: not checked.
    outside = build "stdenv-test-outside" ''ln -s /nonexistent/x "$out/link"'' { };
  };

  relativeSymlinks = build "stdenv-test-relative" ''
    mkdir -p "$out/share" "$out/bin"
    echo hi > "$out/share/data"
    ln -s "$out/share/data" "$out/bin/own"
    ln -s ${leafB}/nix-support "$out/bin/other"
  '' { };

  multipleOutputs = build "stdenv-test-outputs" ''
    mkdir -p "$lib/lib"
    echo lib > "$lib/lib/x"
  '' { outputs = [ "out" "lib" ]; };

  shebangs = rec {
    script = ''
      mkdir -p "$out/bin"
      printf '#!/usr/bin/env stdenv-test-interp\necho hi\n' > "$out/bin/via-env"
      printf '#!/bin/stdenv-test-interp -x\necho hi\n' > "$out/bin/direct"
      printf '#!/usr/bin/env stdenv-test-interp\n' > "$out/bin/not-executable"
      chmod +x "$out/bin/via-env" "$out/bin/direct"
    '';
    patched = build "stdenv-test-shebangs" script { buildInputs = [ interp ]; };
    kept = build "stdenv-test-shebangs" script {
      buildInputs = [ interp ];
      dontPatchShebangs = true;
    };
  };

  elf = rec {
    # lib/libdbg.so with debug info and a RUNPATH entry that provides nothing it needs.
    script = ''
      mkdir -p "$out/lib"
      echo 'int dbg(void) { return 1; }' > dbg.c
      gcc -shared -fPIC -g -o "$out/lib/libdbg.so" dbg.c -Wl,--enable-new-dtags -Wl,-rpath,/nonexistent/lib
    '';
    fixed = build "stdenv-test-elf" script { };
    kept = build "stdenv-test-elf" script {
      dontStrip = true;
      dontPatchELF = true;
    };
  };

  envHooks = {
    loose = envCase "stdenv-test-env-loose" { };
    strict = envCase "stdenv-test-env-strict" { strictDeps = true; };
  };

  # recorder in buildInputs: its postFixup hook comes after stdenv's.
  hookOrderHost = build "stdenv-test-order-host" ''
    printf '%s\n' "''${postFixupHooks[@]}" > "$out/post-fixup-hooks"
  '' { buildInputs = [ recorder ]; };

  concatTo = {
    current = listCase o "stdenv-test-list" "a* b z*";
    globs = listCase globs "stdenv-test-list" "a* b z*";
    array = listCase o "stdenv-test-list-array" [ "a*" "b c" ];
  };

  structured = build "stdenv-test-structured" ''
    declare -p listAttr > "$out/list"
    printf '%s\n' "$EXPORTED" > "$out/env"
    declare -p outputs > "$out/outputs"
  '' {
    __structuredAttrs = true;
    listAttr = [ "one two" "three" ];
    env.EXPORTED = "from env";
  };

  implicitHookFirst = build "stdenv-test-implicit" ''
    echo "$order" > "$out/order"
  '' {
    preInstall = ''order="''${order-}implicit "'';
    nativeBuildInputs = [
      (hookPackage "stdenv-test-preinstall" ''preInstallHooks+=('order="''${order-}array "')'')
    ];
  };
}
