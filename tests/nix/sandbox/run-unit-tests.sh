# Builder of unit-tests.nix: bash builtins only, then the test binary from the store.
if [ -e /usr ] || [ -e /bin/sleep ] || [ -e "$HOME" ]; then
    echo "not in the build sandbox: /usr, /bin/sleep or \$HOME ($HOME) is there" >&2
    exit 1
fi
echo "in the build sandbox: no /usr, no /bin/sleep, no \$HOME"
"$tests" --test-threads="$NIX_BUILD_CORES" --color=never
echo ok > "$out"
