# mkUvVenv: a Python virtualenv from a uv project (pyproject.toml + uv.lock), in two steps:
#
#   1. "<pname>-<version>-venv-deps", a fixed-output derivation (network allowed, hence the
#      hash): `uv sync` of the locked third-party dependencies into $out; in fixup,
#      fixVenvPrepareHook and stripStoreRefsHook remove every store reference (the build
#      Python, the libraries an sdist was compiled against, $out itself), which a FOD must
#      not have;
#   2. "<pname>-<version>": copies that tree, then in fixup patchRpathsHook gives the ELF
#      files RUNPATHs into buildInputs (and executables the toolchain's interpreter), and
#      fixVenvRestoreHook points the venv at `python` again, installs the workspace members
#      from source, compiles bytecode and imports `checkImports` as a smoke test.
#
# One definition for nixpkgs users (flake.nix, the overlay) and for this repository's
# offline tests (nix/offline passes its stand-in stdenv, uv and cacert).
#
# The FOD's hash holds only if two builds of the same lock give the same bytes. What would
# differ is removed where it arises: sdists compile with Python's own C flags minus `-g`
# (`CFLAGS`, unless you set it): debug info records uv's random build directory, and the GNU
# build-id computed over it stays different even after stripping; PYTHONHASHSEED is 0;
# SOURCE_DATE_EPOCH is stdenv's. What an sdist forces anyway (its own `-g`), fix-venv prepare
# normalises and says so.
#
# Outer set: callPackage-able; fixupHooks is the set from ./hooks.nix. The result is the
# main derivation; passthru.fod is step 1 and passthru.python the interpreter. `fodAttrs` and
# `mainAttrs` are merged over each step's attributes (e.g. `fodAttrs.postBuild` runs after
# `uv sync`); to change a step further, override it and hand it back:
#   venv.overrideAttrs { src = venv.fod.overrideAttrs { ... }; }
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
  # A directory with pyproject.toml and uv.lock at its top (and the workspace members below
  # it). Only the lock (and what uv builds from src, e.g. path dependencies) decides the FOD's
  # content: update `hash` when they change, or Nix reuses the old output.
  src,
  # A nixpkgs Python (python3, python312, ...): uv builds the venv with it, and the final
  # venv runs on it.
  python,
  # The FOD's outputHash (SRI, "sha256-..."); lib.fakeHash at first: the build's "hash
  # mismatch ... got:" error tells the right one.
  hash,
  # Libraries the venv's ELF files need (e.g. libpq, libxml2): patchRpathsHook gathers their
  # lib/ directories in step 2.
  buildInputs ? [ ],
  nativeBuildInputs ? [ ],
  # Workspace members to install from source in step 2, as paths relative to src.
  workspaceMembers ? [ ],
  # Modules that must import once the venv is restored, e.g. [ "lxml.etree" ].
  checkImports ? [ ],
  # Environment of `uv sync` in step 1, e.g. what an sdist's build reads
  # ({ CRCUTIL_PREFIX = crcutil; }). Store paths named here are inputs of the FOD; the
  # strip hook neutralises them wherever the build wrote them (an extension's RUNPATH), and
  # patchRpathsHook finds the libraries again in step 2 if they are in buildInputs.
  uvEnv ? { },
  # Extra arguments to `uv sync`, e.g. [ "--extra" "postgres" ].
  uvFlags ? [ ],
  # Attributes merged over the FOD's and the main derivation's own (phases, hooks, knobs).
  fodAttrs ? { },
  mainAttrs ? { },
}:
let
  pythonExe = python.interpreter or "${python}/bin/python3";

  fod = stdenv.mkDerivation ({
    name = "${pname}-${version}-venv-deps";
    inherit version src;

    nativeBuildInputs = [
      uv
      fixupHooks.fixVenvPrepareHook
      fixupHooks.stripStoreRefsHook
    ]
    ++ nativeBuildInputs;
    inherit buildInputs;

    env = {
      # The given Python, never one uv downloads: the venv must be restorable onto `python`
      # in step 2, and a download would tie the hash to whatever python-build-standalone
      # release is current.
      UV_PYTHON = pythonExe;
      UV_PYTHON_DOWNLOADS = "never";
      # Bytecode embeds the output path; step 2 compiles it (fixVenvCompileBytecode).
      UV_COMPILE_BYTECODE = "0";
      # Copies, never links into a cache: the strip hook rewrites files in place.
      UV_LINK_MODE = "copy";
      # Plain log lines, no progress bars.
      UV_NO_PROGRESS = "1";
      # Python code run at build time (setup.py, code generators) iterates sets and dicts
      # in one order.
      PYTHONHASHSEED = "0";
      SSL_CERT_FILE = "${cacert}/etc/ssl/certs/ca-bundle.crt";
    }
    // uvEnv;

    # The caller's proxies reach uv, as with nixpkgs' fetchers. FIXUP_HOOKS_UV_CACHE_DIR: a
    # writable uv cache to reuse downloads in (without one, uv runs with UV_NO_CACHE=1).
    impureEnvVars = lib.fetchers.proxyImpureEnvVars ++ [ "FIXUP_HOOKS_UV_CACHE_DIR" ];

    dontConfigure = true;

    # --frozen: install exactly uv.lock, never re-resolve.
    # --no-install-project/--no-install-workspace: third-party packages only (and path
    #   dependencies); the project's own code is installed in step 2, so editing it does
    #   not invalidate the hash.
    # --no-dev: runtime dependencies only.
    # --no-editable: editable installs leave .pth files pointing into the build
    #   directory, which is gone after the build.
    # --system-certs: trust SSL_CERT_FILE (cacert) rather than uv's bundled roots.
    # uv builds path dependencies in the unpacked source, which the stdenv made writable.
    buildPhase = ''
      runHook preBuild
      export HOME="$TMPDIR"
      if [ -n "''${FIXUP_HOOKS_UV_CACHE_DIR-}" ] && [ -w "$FIXUP_HOOKS_UV_CACHE_DIR" ]; then
        echo "mkUvVenv: using the uv cache in $FIXUP_HOOKS_UV_CACHE_DIR"
        export UV_CACHE_DIR="$FIXUP_HOOKS_UV_CACHE_DIR"
      else
        export UV_NO_CACHE=1
      fi
      export UV_PROJECT_ENVIRONMENT="$out"
      if [ -z "''${CFLAGS+set}" ]; then
        # Python's own C flags without debug info (see the top of this file).
        CFLAGS="$("$UV_PYTHON" -c 'import re, sysconfig; print(re.sub(r"(^|\s)-g\S*", " ", sysconfig.get_config_var("CFLAGS") or "").strip())') -g0"
        export CFLAGS
        echo "mkUvVenv: sdists compile with CFLAGS=$CFLAGS"
      fi
      uv sync --frozen --no-install-project --no-install-workspace --no-dev --no-editable \
        --system-certs ${lib.escapeShellArgs uvFlags}
      runHook postBuild
    '';

    # uv wrote $out directly.
    dontInstall = true;

    # Fixup must run (the prepare and strip hooks live there), but nothing else in it may
    # touch the tree: patchShebangs would put store paths (references) into scripts, and
    # strip and patchelf --shrink-rpath would tie the hash to the binutils and patchelf of
    # the nixpkgs in use and drop the stripped RUNPATH entries step 2's diagnostics read.
    dontPatchShebangs = true;
    dontStrip = true;
    dontPatchELF = true;

    outputHashMode = "recursive";
    outputHashAlgo = "sha256";
    outputHash = hash;
  } // fodAttrs);
in
stdenv.mkDerivation ({
  inherit pname version;
  src = fod;

  nativeBuildInputs = [
    fixupHooks.patchRpathsHook
    fixupHooks.fixVenvRestoreHook
  ]
  ++ nativeBuildInputs;
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

  # The wheels' ELF files are patch-rpaths' alone: strip would rewrite them, and patchelf
  # --shrink-rpath (before it, in fixupOutput) would drop the stripped RUNPATH entries
  # from which patch-rpaths names the package a missing library came from. fix-venv writes
  # the scripts' shebangs (the venv's python); patchShebangs would point them at the bare
  # interpreter instead.
  dontStrip = true;
  dontPatchELF = true;
  dontPatchShebangs = true;

  fixVenvPython = pythonExe;
  fixVenvInstallSources = map (m: "${src}/${m}") workspaceMembers;
  fixVenvCheckImports = checkImports;
  fixVenvCompileBytecode = true;

  passthru = {
    inherit fod python;
  };
} // mainAttrs)
