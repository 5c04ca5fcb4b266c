# mkUvVenv for machines without nixpkgs: the offline mirror of ../mk-uv-venv.nix, built from
# plain derivations (./default.nix's mkDrv) whose builders source ./setup.sh, the stand-in for
# stdenv's hook protocol, so the real hooks of ../../hooks run unchanged. Same two steps:
#
#   1. "<pname>-<version>-venv-deps", a recursive sha256 fixed-output derivation
#      (./uv-venv-fod.sh): `uv sync --frozen` of the locked third-party dependencies into
#      $out, then fixupPhase with fixVenvPrepareHook and stripStoreRefsHook, after which
#      the tree holds no store reference;
#   2. "<pname>-<version>" (./uv-venv-main.sh): copies that tree, then fixupPhase with
#      patchRpathsHook (RUNPATHs into buildInputs, the interpreter and libc from
#      offline.bintools) and fixVenvRestoreHook (bin/python -> python, scripts, workspace
#      members from source, bytecode, the checkImports smoke test).
#
# Outer set:
#   offline  import ./default.nix { toolsDir = ...; nonce = ...; }: mkDrv, hooks, bintools
#   uv       a package with bin/uv (nixpkgs' `uv`; offline, a stand-in such as demo.nix's)
#
# Plain derivations have no passthru: the result is the main derivation `// { fod; python; }`.
# To change step 1 (the tests switch its strip hook off), re-derive it:
# `derivation (result.fod.drvAttrs // { ... })`.
{ offline, uv }:
{
  pname,
  version,
  # A directory (a store path) with pyproject.toml and uv.lock at its top and the workspace
  # members below it. Only the lock (and what uv builds from src, e.g. path dependencies)
  # decides the FOD's content: update `hash` when they change, or Nix reuses the old output.
  src,
  # The interpreter package: bin/python3 (or `.interpreter`). uv builds the venv with it and
  # the final venv runs on it, so the main output references it.
  python,
  # The FOD's outputHash (SRI "sha256-..."); the build's "hash mismatch ... got:" tells it.
  hash,
  # Libraries the venv's ELF files need: patchRpathsHook gathers their lib/ directories.
  buildInputs ? [ ],
  nativeBuildInputs ? [ ],
  # Workspace members to install from source in step 2, as paths relative to src.
  workspaceMembers ? [ ],
  # Modules that must import once the venv is restored, e.g. [ "yaml" "fastcrc" ].
  checkImports ? [ ],
  # Environment of `uv sync` in step 1, e.g. what a path dependency's build reads
  # ({ CRCUTIL_PREFIX = crcutil; }). Store paths named here are inputs of the FOD and end
  # up stripped wherever the build wrote them (an extension's RUNPATH).
  uvEnv ? { },
  # Extra arguments to `uv sync`, e.g. [ "--extra" "postgres" ].
  uvFlags ? [ ],
}:
let
  inherit (offline) hooks mkDrv;
  pythonExe = python.interpreter or "${python}/bin/python3";

  fod = mkDrv "${pname}-${version}-venv-deps" ./uv-venv-fod.sh (
    {
      inherit src uvFlags;
      nativeBuildInputs = [
        uv
        hooks.fixVenvPrepareHook
        hooks.stripStoreRefsHook
      ] ++ nativeBuildInputs;
      inherit buildInputs;

      # The given Python, never one uv downloads: the venv must be restorable onto
      # `python` in step 2, and a download would tie the hash to whatever
      # python-build-standalone release is current.
      UV_PYTHON = pythonExe;
      UV_PYTHON_DOWNLOADS = "never";
      # Bytecode embeds the output path; step 2 compiles it (fixVenvCompileBytecode).
      UV_COMPILE_BYTECODE = "0";
      # Copies, never hard links into uv's cache: strip-store-refs rewrites files in place
      # and Nix then makes them read-only with mtime 1, which would change the cache's files.
      UV_LINK_MODE = "copy";
      # nixpkgs passes cacert's bundle; offline, the host's (the sandbox is off).
      SSL_CERT_FILE = "/etc/ssl/certs/ca-certificates.crt";

      # From the caller's environment, as nixpkgs' fetchers take the proxies. UV_CACHE_DIR
      # lets repeated builds reuse downloads (scripts/demo and the tests point it at a host
      # directory); without it the builder runs uv with UV_NO_CACHE=1. A cache changes
      # nothing in the output: the hash is the same with an empty one.
      impureEnvVars = [
        "UV_CACHE_DIR"
        "http_proxy"
        "https_proxy"
        "no_proxy"
        "HTTP_PROXY"
        "HTTPS_PROXY"
        "NO_PROXY"
      ];

      outputHashMode = "recursive";
      outputHashAlgo = "sha256";
      outputHash = hash;
    }
    // uvEnv
  );

  main = mkDrv "${pname}-${version}" ./uv-venv-main.sh {
    inherit fod;
    nativeBuildInputs = [
      hooks.patchRpathsHook
      hooks.fixVenvRestoreHook
    ] ++ nativeBuildInputs;
    # python: its lib/ (libpython), if it has one, is searched by patchRpathsHook too.
    buildInputs = buildInputs ++ [ python ];
    # What stdenv's cc/bintools wrapper exports; patchRpathsHook reads its nix-support
    # files (dynamic-linker -> --interpreter, orig-libc -> --libc).
    NIX_BINTOOLS = offline.bintools;

    fixVenvPython = pythonExe;
    fixVenvInstallSources = map (m: "${src}/${m}") workspaceMembers;
    fixVenvCheckImports = checkImports;
    fixVenvCompileBytecode = "1";
  };
in
main
// {
  inherit fod python;
}
