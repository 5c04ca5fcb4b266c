# Builder of an offline setup-hook package (see makeSetupHook in default.nix).
mkdir -p "$out/nix-support"
hook="$out/nix-support/setup-hook"
cp "$script" "$hook"
chmod u+w "$hook"
for name in $substitutionNames; do
    value="${!name}"
    sed -i "s|@$name@|$value|g" "$hook"
done
if grep -q '@[a-zA-Z]*@' "$hook"; then
    echo "make-setup-hook: unsubstituted placeholder in $script: $(grep -o '@[a-zA-Z]*@' "$hook" | sort -u)" >&2
    exit 1
fi
echo "$propagatedBuildInputs" > "$out/nix-support/propagated-build-inputs"
