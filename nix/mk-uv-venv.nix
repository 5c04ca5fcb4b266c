# mkUvVenv: a Python virtualenv from a uv project (pyproject.toml + uv.lock),
# in two steps:
#
#   1. "<pname>-<version>-venv-deps", a fixed-output derivation (network
#      allowed, hence the hash): `uv sync` of the locked third-party
#      dependencies into $out; in fixup, fixVenvPrepareHook and
#      stripStoreRefsHook remove every store reference (the build Python,
#      $out itself), which a FOD must not have.
#   2. "<pname>-<version>": copies that tree, then in fixup patchRpathsHook
#      gives the wheels' ELF files RUNPATHs into buildInputs and
#      fixVenvRestoreHook points the venv at `python` again, installs the
#      workspace members from source, compiles bytecode and imports
#      `checkImports` as a smoke test.
#
# Outer set: nixpkgs (callPackage-able); fixupHooks is the set from
# ./hooks.nix. The result's passthru has `fod` (step 1) and `python`.
# To change step 1, override the result's src with `passthru.fod.overrideAttrs`.
{
  lib,
  stdenv,
  uv,
  cacert,
  fixupHooks,
}:
{
  pname,
  version,
  # A directory with pyproject.toml and uv.lock at its top (and the workspace
  # members below it). Only the lock decides the FOD's content; remember to
  # update `hash` when uv.lock changes, or Nix reuses the old output.
  src,
  # A nixpkgs Python (python3, python312, ...): uv builds the venv with it,
  # and the final venv runs on it.
  python,
  # The FOD's outputHash (SRI, "sha256-..."); "" or lib.fakeHash at first,
  # the build's "hash mismatch" error tells the right one.
  hash,
  # Libraries the wheels' ELF files need (e.g. libpq, libxml2): patchRpathsHook
  # gathers their lib/ directories.
  buildInputs ? [ ],
  nativeBuildInputs ? [ ],
  # Workspace members to install from source, as paths relative to src.
  workspaceMembers ? [ ],
  # Modules to import after the restore (smoke test), e.g. [ "lxml.etree" ].
  checkImports ? [ ],
  # Extra arguments to `uv sync`, e.g. [ "--extra" "postgres" ].
  uvFlags ? [ ],
}:
let
  pythonExe = python.interpreter or "${python}/bin/python3";

  fod = stdenv.mkDerivation {
    name = "${pname}-${version}-venv-deps";
    inherit version src;

    nativeBuildInputs = [
      uv
      fixupHooks.fixVenvPrepareHook
      fixupHooks.stripStoreRefsHook
    ] ++ nativeBuildInputs;
    inherit buildInputs;

    env = {
      # The nixpkgs Python, never one uv downloads: the venv must be
      # restorable onto `python` in step 2, and downloads would also make the
      # hash depend on whatever python-build-standalone release is current.
      UV_PYTHON = pythonExe;
      UV_PYTHON_DOWNLOADS = "never";
      # No cache to keep: the build directory is thrown away.
      UV_NO_CACHE = "1";
      # Bytecode embeds the output path and is compiled in step 2
      # (fixVenvCompileBytecode) instead.
      UV_COMPILE_BYTECODE = "0";
      SSL_CERT_FILE = "${cacert}/etc/ssl/certs/ca-bundle.crt";
    };

    # Proxies of the builder's environment reach uv, as in nixpkgs' fetchers.
    impureEnvVars = lib.fetchers.proxyImpureEnvVars;

    dontConfigure = true;

    # --frozen: install exactly uv.lock, never re-resolve.
    # --no-install-project/--no-install-workspace: only third-party packages;
    #   the project's own code is installed in step 2, so editing it does not
    #   invalidate the hash.
    # --no-dev: runtime dependencies only.
    # --no-editable: editable installs leave .pth files pointing into the
    #   build directory, which is gone after the build.
    # --system-certs: use SSL_CERT_FILE (cacert) rather than bundled roots.
    buildPhase = ''
      runHook preBuild
      export HOME="$TMPDIR"
      export UV_PROJECT_ENVIRONMENT="$out"
      fixVenvRoot="$out"
      uv sync --frozen --no-install-project --no-install-workspace --no-dev --no-editable --system-certs ${lib.escapeShellArgs uvFlags}
      runHook postBuild
    '';

    # uv wrote $out directly.
    dontInstall = true;

    # Fixup must run (the prepare and strip hooks live there), but nothing
    # else in it may touch the tree: patchShebangs would put store paths
    # (references) into scripts, and strip/patchelf --shrink-rpath would make
    # the hash depend on the binutils/patchelf of the nixpkgs in use and
    # could damage wheels' shared objects. No dontFixup here.
    dontPatchShebangs = true;
    dontStrip = true;
    dontPatchELF = true;

    outputHashMode = "recursive";
    outputHashAlgo = "sha256";
    outputHash = hash;
  };
in
stdenv.mkDerivation {
  inherit pname version;
  src = fod;

  nativeBuildInputs = [
    fixupHooks.patchRpathsHook
    fixupHooks.fixVenvRestoreHook
  ] ++ nativeBuildInputs;
  # python: its lib/ (libpython) is searched by patchRpathsHook too.
  buildInputs = buildInputs ++ [ python ];

  dontUnpack = true;
  dontConfigure = true;
  dontBuild = true;
  installPhase = ''
    runHook preInstall
    cp -r "$src" "$out"
    chmod -R u+w "$out"
    runHook postInstall
  '';

  # fix-venv writes the shebangs (entry points -> the venv's python);
  # patchShebangs would point them at the bare interpreter instead.
  dontPatchShebangs = true;

  fixVenvPython = pythonExe;
  fixVenvInstallSources = map (m: "${src}/${m}") workspaceMembers;
  fixVenvCheckImports = checkImports;
  fixVenvCompileBytecode = true;

  passthru = {
    inherit fod python;
  };
}
