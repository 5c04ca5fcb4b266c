# The setup hooks, one package each. Put them in nativeBuildInputs; each
# propagates the tools (the static build from ./package.nix) so the binaries
# are on PATH, and each sources the shared dispatcher hooks/fixup-hooks-order.sh
# (substituted for @fixupHooksOrder@) that orders them within fixup.
#
# Knobs read by the hooks (set them as derivation attributes):
#   stripStoreRefsHook  dontStripStoreRefs, stripStoreRefsKeep (array),
#                       stripStoreRefsTargets, stripStoreRefsAlsoHash (the
#                       three also reach fix-venv prepare), stripStoreRefsFlags
#   patchRpathsHook     dontAutoPatchelf, autoPatchelfIgnoreMissingDeps,
#                       runtimeDependencies, appendRunpaths, autoPatchelfFlags,
#                       autoPatchelfLibs (gathered from buildInputs),
#                       addAutoPatchelfSearchPath (shell function); same
#                       names and meaning as nixpkgs' autoPatchelfHook
#   fixVenv*Hook        dontFixVenv, fixVenvRoot (default $out), fixVenvDrop
#                       (prepare: files to --drop), fixVenvPython
#                       (python executable; required for restore),
#                       fixVenvInstallSources (array of dirs),
#                       fixVenvCompileBytecode, fixVenvCheckImports (array),
#                       fixVenvFlags; fixVenvMode is fixed per hook below
{
  makeSetupHook,
  bintools,
  fixup-hooks,
}:
let
  hook =
    {
      name,
      script,
      propagatedBuildInputs ? [ ],
      substitutions ? { },
    }:
    makeSetupHook {
      inherit name;
      propagatedBuildInputs = [ fixup-hooks ] ++ propagatedBuildInputs;
      substitutions = {
        fixupHooksOrder = ../hooks/fixup-hooks-order.sh;
      } // substitutions;
      passthru.tools = fixup-hooks;
    } script;
in
{
  stripStoreRefsHook = hook {
    name = "strip-store-refs-hook";
    script = ../hooks/strip-store-refs-hook.sh;
  };

  # Like autoPatchelfHook: the hook reads $NIX_BINTOOLS (dynamic linker,
  # orig-libc), so the bintools come along.
  patchRpathsHook = hook {
    name = "patch-rpaths-hook";
    script = ../hooks/patch-rpaths-hook.sh;
    propagatedBuildInputs = [ bintools ];
  };

  # For the fixed-output derivation: make the venv free of store references.
  fixVenvPrepareHook = hook {
    name = "fix-venv-prepare-hook";
    script = ../hooks/fix-venv-hook.sh;
    substitutions.fixVenvMode = "prepare";
  };

  # For the derivation that consumes it: point the venv at its Python again.
  fixVenvRestoreHook = hook {
    name = "fix-venv-restore-hook";
    script = ../hooks/fix-venv-hook.sh;
    substitutions.fixVenvMode = "restore";
  };
}
