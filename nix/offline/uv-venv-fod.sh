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

# STOPGAP (belongs in `fix-venv prepare`, reported): a path dependency's direct_url.json
# records where uv found it, `file://$TMPDIR/src/...`. $TMPDIR differs between builds
# (nix-build-<name>.drv-0, -1 when two builds run at once, /build in a sandbox), so the hash
# would too. The URL would dangle anyway (the build directory is gone) and nothing at runtime
# reads it: drop the file and its RECORD line, so the package looks like an index install
# (which strays from PEP 610, which wants the file for direct-URL installs; fix-venv could
# instead write a fixed URL).
for direct_url in "$out"/lib/python*/site-packages/*.dist-info/direct_url.json; do
    [ -e "$direct_url" ] || continue
    if grep -q "file://$TMPDIR/" "$direct_url"; then
        dist_info=${direct_url%/direct_url.json}
        echo "uv-venv: dropping ${direct_url#"$out"/} (it names this build's directory: $(cat "$direct_url"))"
        rm "$direct_url"
        sed -i "\|^${dist_info##*/}/direct_url.json,|d" "$dist_info/RECORD"
    fi
done

fixupPhase

# STOPGAP (belongs in fix-venv or after strip-store-refs, reported): uv's RECORD holds the
# sha256 of each file as uv wrote it, i.e. before strip-store-refs neutralised the store paths
# in it: bin/ scripts name $out, whose hash depends on outputHash (a build with a fake hash has
# another $out), an extension's RUNPATH names its library's store path. The stale digests would
# make the FOD's hash depend on those store paths although the files no longer do. Recompute
# every digest that no longer matches (sizes are kept by stripping).
/usr/bin/python3 - "$out" <<'EOF'
import base64, csv, hashlib, io, os, sys

root = sys.argv[1]
for records in sorted(
    os.path.join(d, "RECORD")
    for d, _, files in os.walk(root)
    if d.endswith(".dist-info") and "RECORD" in files
):
    site = os.path.dirname(os.path.dirname(records))
    with open(records, newline="") as f:
        rows = list(csv.reader(f))
    changed = []
    for row in rows:
        if len(row) != 3 or not row[1].startswith("sha256="):
            continue
        path = os.path.normpath(os.path.join(site, row[0]))
        if os.path.islink(path) or not os.path.isfile(path):
            continue
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).digest()
        new = "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        if new != row[1]:
            row[1] = new
            changed.append(row[0])
    if changed:
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(rows)
        with open(records, "w", newline="") as f:
            f.write(out.getvalue())
        for name in changed:
            print(f"uv-venv: {os.path.relpath(records, root)}: new digest for {name} "
                  "(changed by strip-store-refs)")
EOF
