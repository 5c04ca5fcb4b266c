# Builder of mk-uv-venv.nix's fixed-output derivation: `uv sync` of the locked third-party
# dependencies into $out, then fixupPhase (fixVenvPrepareHook, stripStoreRefsHook).
. "$stdenvSetup"

export HOME="$TMPDIR"
# Plain log lines, no progress bars.
export UV_NO_PROGRESS=1
if [ -n "${UV_CACHE_DIR-}" ]; then
    echo "uv-venv: using the uv cache in $UV_CACHE_DIR (impureEnvVars)"
else
    export UV_NO_CACHE=1
fi
# Nix sets every impureEnvVars name, empty when the caller had none; uv rejects an empty
# UV_CACHE_DIR, and an empty proxy is no proxy.
for var in UV_CACHE_DIR http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
    if [ -z "${!var-}" ]; then unset "$var"; fi
done

# uv builds path dependencies in their source tree (setuptools writes build/ and *.egg-info
# there), so it works on a writable copy. cp gives the copy fresh mtimes, so uv never takes a
# path dependency's wheel from its cache (see also fastcrc's cache-keys).
cp -r "$src" "$TMPDIR/src"
chmod -R u+w "$TMPDIR/src"
cd "$TMPDIR/src"

export UV_PROJECT_ENVIRONMENT="$out"
fixVenvRoot="$out"

# --frozen: install exactly uv.lock, never re-resolve.
# --no-install-project/--no-install-workspace: third-party packages only (and path
#   dependencies); step 2 installs the workspace members from source.
# --no-dev: runtime dependencies only.
# --no-editable: editable installs leave .pth files pointing into this build directory.
# --system-certs: trust SSL_CERT_FILE rather than uv's bundled roots.
# shellcheck disable=SC2086  # uvFlags is a space-separated list, as derivation attrs arrive
uv sync --frozen --no-install-project --no-install-workspace --no-dev --no-editable \
    --system-certs ${uvFlags-}

fixupPhase
