# A package that propagates $propagated (store paths) to whatever has it in buildInputs.
mkdir -p "$out/nix-support"
printf '%s' "$propagated" > "$out/nix-support/propagated-build-inputs"
