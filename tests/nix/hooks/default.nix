# The derivations of the setup-hook tests (tests/hooks/hooks.rs): the real hook files
# (hooks/*.sh, packaged by nix/hooks.nix) in derivations of the offline stand-in stdenv
# (nix/offline: its setup behaves as nixpkgs' where the hooks meet it, default fixup hooks
# included). Each knob comes as a pair of derivations that differ in that knob alone: `on`
# sets it, `off` is the control without it.
#
# toolsDir  absolute path (a string) of the directory holding the built strip-store-refs,
#           patch-rpaths and fix-venv (cargo's target/debug); nix/offline copies just those
#           three into the store, so new binaries are new inputs.
# runNonce  fresh per test run: the tools and hook packages get it, so one run builds them
#           once for all its tests and never reuses an earlier run's.
# nonce     fresh per test: every derivation below gets it, so tests running in parallel
#           build their own store paths.
# variant   how stdenv hands the hooks their knobs, each test runs under every one:
#           "current"     nixpkgs' current stdenv: attributes as environment strings;
#           "globs"       as "current", with the concatTo of nixpkgs before it switched
#                         globbing off (a `*` in a list knob expands in the build dir);
#           "structured"  __structuredAttrs = true: lists arrive as bash arrays, nothing
#                         but `env` is exported.
{ toolsDir, runNonce, nonce, variant ? "current" }:
let
  o = import ../../../nix/offline {
    toolsDir = /. + toolsDir;
    nonce = runNonce;
    concatToGlobs = variant == "globs";
  };
  inherit (o) hooks stdenv;

  # A derivation under test: its build phase writes the `trees` (scripts sourced in order)
  # into the outputs; stdenv's fixupPhase then runs the hooks.
  case = name: trees: attrs: stdenv.mkDerivation ({
    inherit name nonce trees;
    dontUnpack = true;
    # A file in the build directory: under "globs", a `*` in a list knob expands to it.
    preBuild = "touch glob-bait";
    buildPhase = ''
      runHook preBuild
      for tree in ''${trees[@]}; do source "$tree"; done
      runHook postBuild
    '';
    dontInstall = true;
    __structuredAttrs = variant == "structured";
  } // attrs);

  # The same derivation with and without `knob`.
  pair = name: trees: attrs: knob: {
    on = case name trees (attrs // knob);
    off = case name trees attrs;
  };

  # The same derivation with the strip hook running and with dontStripStoreRefs set.
  stripPair = name: trees: attrs: {
    stripped = case name trees attrs;
    unstripped = case name trees (attrs // { dontStripStoreRefs = "1"; });
  };

  # A store path to refer to (lib/x).
  dep = name: o.mkDrv name ./dep.sh { inherit nonce; };

  # A package with a shared library lib${lib}.so in ${libDir}.
  lib = name: { lib, libDir ? "lib", value ? 42 }:
    o.mkDrv name ./lib.sh { inherit lib libDir value nonce; };
in
rec {
  inherit (o) glibc bintools;

  strip = rec {
    deps = {
      dep = dep "hooks-dep";
      keepme = dep "hooks-keepme";
      alsokept = dep "hooks-alsokept";
      other = dep "hooks-other";
      bareonly = dep "hooks-bareonly";
    };
    hook = { nativeBuildInputs = [ hooks.stripStoreRefsHook ]; };

    # Two outputs, each referring to $dep (file and symlink) and itself, out also to lib.
    outputs = stripPair "strip-outputs" [ ./tree-refs.sh ]
      (hook // { inherit (deps) dep; outputs = [ "out" "lib" ]; });

    # Two name globs in one string, as a derivation attribute arrives (concatTo splits it).
    keep = pair "strip-keep" [ ./tree-keep.sh ]
      (hook // { inherit (deps) keepme alsokept other; })
      { stripStoreRefsKeep = "*-keepme* *-alsokept*"; };

    # Only $dep is a target; $other must stay.
    flags = pair "strip-flags" [ ./tree-two.sh ]
      (hook // { inherit (deps) dep other; })
      { stripStoreRefsFlags = "--target ${deps.dep}"; };

    # $bareonly's hash appears only bare: the hook's --env-candidates must catch it.
    bare = stripPair "strip-bare" [ ./tree-bare.sh ] (hook // { inherit (deps) bareonly; });

    # The output's own hash, bare: the hook's --also-hash $out must catch it.
    self = stripPair "strip-self" [ ./tree-self.sh ] hook;
  };

  patch = rec {
    foo = lib "hooks-foo" { lib = "foo"; value = 42; };
    missing = lib "hooks-missing" { lib = "missing"; };
    deep = lib "hooks-deep" { lib = "deep"; libDir = "deep/a/b"; };
    rt = dep "hooks-rt";
    extra = lib "hooks-extra" { lib = "extra"; libDir = "opt/plugins"; };

    # $out/lib/mod.so needs libfoo.so (foo is in buildInputs) and libc.so.6. As in stdenv,
    # the toolchain's bintools (a default input) exports NIX_BINTOOLS, which gives the hook
    # the C library (o.glibc/lib): it satisfies libc.so.6 with no RUNPATH entry.
    module = {
      nativeBuildInputs = [ hooks.patchRpathsHook ];
      buildInputs = [ foo ];
      linkArgs = "-L${foo}/lib -lfoo";
    };
    # … and libmissing.so, which no input offers.
    withMissing = module // { linkArgs = "${module.linkArgs} -L${missing}/lib -lmissing"; };
    # … and libdeep.so, in $somedep/deep/a/b, which only a search path finds.
    withDeep = module // { somedep = deep; linkArgs = "${module.linkArgs} -L${deep}/deep/a/b -ldeep"; };

    # off: foo not in buildInputs, so libfoo.so is missing.
    gather = pair "patch-gather" [ ./tree-module.sh ] (module // { buildInputs = [ ]; })
      { buildInputs = [ foo ]; };
    # strip would rewrite mod.so in fixupOutput: off so that "untouched" means untouched.
    dont = pair "patch-dont" [ ./tree-module.sh ] (module // { dontStrip = "1"; })
      { dontAutoPatchelf = "1"; };
    ignoreMissing = pair "patch-ignore" [ ./tree-module.sh ] withMissing
      { autoPatchelfIgnoreMissingDeps = "*"; };
    ignoreMissingDeprecated = pair "patch-ignore" [ ./tree-module.sh ] withMissing
      { autoPatchelfIgnoreMissingDeps = "1"; };
    # A glob on the soname: matches libmissing.so, not libfoo.so's absence.
    ignoreMissingGlob = pair "patch-ignore-glob" [ ./tree-module.sh ]
      (withMissing // { buildInputs = [ ]; })
      { autoPatchelfIgnoreMissingDeps = "libmiss*"; };
    # A library (mod.so) and an executable (bin/hello, see `interpreter` below) side by side.
    both = exe // { linkArgs = module.linkArgs; };
    runtimeDependencies = pair "patch-runtime" [ ./tree-module.sh ./tree-exe.sh ] both
      { runtimeDependencies = [ rt ]; };
    appendRunpaths = pair "patch-append" [ ./tree-module.sh ./tree-exe.sh ] both
      { appendRunpaths = [ "${extra}/opt/plugins" "${rt}/lib" ]; };
    # autoPatchelfHook passes patchelfFlags to patchelf; there is none here.
    patchelfFlags = pair "patch-patchelf-flags" [ ./tree-module.sh ] module
      { patchelfFlags = "--add-needed libextra.so"; };
    # The hook's own run off, then autoPatchelf by hand, with an option it does not know.
    unknownOption = let
      byHand = flags: module // {
        dontAutoPatchelf = "1";
        postFixup = "autoPatchelf ${flags} -- $out";
      };
    in {
      on = case "patch-unknown-option" [ ./tree-module.sh ] (byHand "--frobnicate");
      off = case "patch-unknown-option" [ ./tree-module.sh ] (byHand "");
    };
    keepLibc = pair "patch-keep-libc" [ ./tree-module.sh ] module
      { autoPatchelfFlags = "--keep-libc"; };
    searchPath = pair "patch-search-path" [ ./tree-module.sh ] withDeep
      { preFixup = "addAutoPatchelfSearchPath $somedep/deep"; };

    # $out/bin/hello with a placeholder interpreter as long as o.glibc's loader and a stripped
    # RUNPATH as long as foo's lib dir (tree-exe.sh says why). on: the interpreter comes from
    # NIX_BINTOOLS; off: no NIX_BINTOOLS, the same C library given by flag, so only the
    # interpreter's source differs. patchelf --shrink-rpath off: it would drop the
    # placeholder entry and rewrite the layout before the hook ran.
    realInterpreter = "${o.glibc}/lib/ld-linux-x86-64.so.2";
    placeholderInterpreter = "${builtins.storeDir}/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-glibc-host/lib/ld-linux-x86-64.so.2";
    exe = assert builtins.stringLength placeholderInterpreter == builtins.stringLength realInterpreter; {
      nativeBuildInputs = [ hooks.patchRpathsHook ];
      buildInputs = [ foo ];
      inherit foo placeholderInterpreter;
      placeholderRunpath = "${builtins.storeDir}/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-hooks-foo/lib";
      dontPatchELF = "1";
    };
    interpreter = {
      on = case "patch-interpreter" [ ./tree-exe.sh ] exe;
      off = case "patch-interpreter" [ ./tree-exe.sh ]
        (exe // { preFixup = "unset NIX_BINTOOLS"; autoPatchelfFlags = "--libc ${o.glibc}/lib"; });
    };
  };

  venv = rec {
    restoreHook = {
      nativeBuildInputs = [ hooks.fixVenvRestoreHook ];
      fixVenvPython = "/usr/bin/python3.11";
    };
    # The hook at work (on) and with dontFixVenv (off).
    dontPair = name: attrs: {
      on = case name [ ./tree-venv.sh ] attrs;
      off = case name [ ./tree-venv.sh ] (attrs // { dontFixVenv = "1"; });
    };
    prepare = dontPair "venv-prepare"
      { nativeBuildInputs = [ hooks.fixVenvPrepareHook ]; withBytecode = "1"; withInterpreterLinks = "1"; };
    restore = dontPair "venv-restore" restoreHook;
    checkImports = {
      pass = case "venv-imports" [ ./tree-venv.sh ] (restoreHook // { fixVenvCheckImports = "pkg"; });
      fail = case "venv-imports" [ ./tree-venv.sh ]
        (restoreHook // { fixVenvCheckImports = "pkg nonexistent_module"; });
    };
    compile = pair "venv-compile" [ ./tree-venv.sh ] restoreHook { fixVenvCompileBytecode = "1"; };
    # The venv is $out/venv; off restores $out, which is no venv.
    root = pair "venv-root" [ ./tree-venv.sh ]
      (restoreHook // { venvAt = "${builtins.placeholder "out"}/venv"; })
      { fixVenvRoot = "${builtins.placeholder "out"}/venv"; };
    noPython = case "venv-no-python" [ ./tree-venv.sh ] (removeAttrs restoreHook [ "fixVenvPython" ]);
    # The FOD's pair of hooks: prepare must blank the RECORD digests of exactly the files
    # the strip changes. on: only $dep is a target, so b.py (naming $other) keeps its digest.
    fodHooks = {
      nativeBuildInputs = [ hooks.fixVenvPrepareHook hooks.stripStoreRefsHook ];
      inherit (strip.deps) dep other;
    };
    selection = pair "venv-selection" [ ./tree-venv.sh ./tree-venv-refs.sh ] fodHooks
      { stripStoreRefsTargets = "${strip.deps.dep}"; };
    # A hash only stripStoreRefsFlags names would change files prepare does not know of.
    alsoHashInFlags = case "venv-also-hash" [ ./tree-venv.sh ./tree-venv-refs.sh ]
      (fodHooks // { stripStoreRefsFlags = "--also-hash ${strip.deps.other}"; });
  };

  # The same derivation with the hooks in either order in nativeBuildInputs.
  order = let
    base = nativeBuildInputs: case "order" [ ./tree-module.sh ]
      (patch.module // { inherit nativeBuildInputs; });
  in {
    patchFirst = base [ hooks.patchRpathsHook hooks.stripStoreRefsHook ];
    stripFirst = base [ hooks.stripStoreRefsHook hooks.patchRpathsHook ];
  };
}
