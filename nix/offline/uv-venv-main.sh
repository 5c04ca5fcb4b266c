# Builder of mk-uv-venv.nix's main derivation: the FOD's tree, copied to $out, then
# fixupPhase (patchRpathsHook, then fixVenvRestoreHook: the hooks' fixed step order).
. "$stdenvSetup"

cp -r "$fod" "$out"
chmod -R u+w "$out"

fixupPhase
