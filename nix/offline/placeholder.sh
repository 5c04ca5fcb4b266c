# Builder of a package the offline set only names (flake.nix's devShell lists it; uv when
# no uvBin was given): building one is a mistake, so it fails.
echo "$name is a placeholder of nix/offline: it exists to be evaluated, not built" >&2
exit 1
