# A package holding only a setup hook: $hook as nix-support/setup-hook.
mkdir -p "$out/nix-support"
printf '%s\n' "$hook" > "$out/nix-support/setup-hook"
