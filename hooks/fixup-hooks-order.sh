# fixup-hooks' shared step order and list reading, sourced by each fixup-hooks setup hook.
#
# The steps run in one order whatever the order of nativeBuildInputs: a venv is prepared
# before anything else looks at it, RUNPATHs are patched before the venv is restored
# (restore may import the packages), and references are stripped last.
#
# Each hook defines its step as a function named fixupHooksStep_<step>.
# - fixVenvPrepare, patchRpaths, fixVenvRestore run from one postFixup hook registered when
#   the first of our hooks is sourced — where autoPatchelfHook runs too: after the
#   fixupOutput hooks (patchelf --shrink-rpath, strip, patchShebangs).
# - stripStoreRefs must see the final tree, so it runs after every other postFixup step:
#   stdenv's own (the broken-symlink check, relative symlinks, the multiple-outputs
#   propagation that writes store paths into nix-support/) are registered after the hooks
#   of nativeBuildInputs but before those of buildInputs, so no place fixed when this file
#   is sourced is last. It is appended from preFixup, when every setup hook has registered
#   its own, and says so if a postFixup hook was added after it even then.

fixupHooksPostFixup() {
    local step
    for step in fixVenvPrepare patchRpaths fixVenvRestore; do
        if declare -F "fixupHooksStep_$step" >/dev/null; then
            "fixupHooksStep_$step"
        fi
    done
}

fixupHooksRegisterLast() {
    if declare -F fixupHooksStep_stripStoreRefs >/dev/null; then
        postFixupHooks+=(fixupHooksPostFixupLast)
    fi
}

fixupHooksPostFixupLast() {
    local hook seen= later=()
    for hook in "${postFixupHooks[@]}"; do
        if [ -n "$seen" ]; then later+=("$hook"); fi
        if [ "$hook" = fixupHooksPostFixupLast ]; then seen=1; fi
    done
    if [ ${#later[@]} -gt 0 ]; then
        echo "fixup-hooks: warning: postFixup hooks added after fixup began run after strip-store-refs and its check: ${later[*]}" >&2
    fi
    fixupHooksStep_stripStoreRefs
}

# fixupHooksList TARGET NAME...: appends to the array TARGET the items of each list
# variable NAME — a bash array (__structuredAttrs), or a string of items separated by
# white space, as a derivation attribute arrives — word for word. Unlike stdenv's concatTo
# in the nixpkgs versions before it switched globbing off, an item is never a glob: `*` or
# `libfoo*` stays itself (there, it expanded against the build directory, or vanished under
# nullglob when nothing matched).
fixupHooksList() {
    local -
    set -o noglob
    local IFS=$' \t\n'
    local -n fixupHooksListTarget="$1"
    shift
    local name decl
    for name in "$@"; do
        decl=$(declare -p "$name" 2>/dev/null) || continue
        decl=${decl#declare }
        local -n fixupHooksListSource="$name"
        case "${decl%% *}" in
            *A*)
                echo "fixup-hooks: $name is an associative array; a list must be an array or a string" >&2
                return 1
                ;;
            *a*) fixupHooksListTarget+=(${fixupHooksListSource[@]+"${fixupHooksListSource[@]}"}) ;;
            # shellcheck disable=SC2206  # split on white space, globbing is off
            *) fixupHooksListTarget+=(${fixupHooksListSource-}) ;;
        esac
        unset -n fixupHooksListSource
    done
}

# fixupHooksStripSelection TARGET: appends to the array TARGET what strip-store-refs is to
# neutralise in this build: --env-candidates (the build's inputs and outputs, bare too) and the
# items of stripStoreRefsKeep, stripStoreRefsTargets and stripStoreRefsAlsoHash. fix-venv
# prepare gets the same, so the files whose RECORD digests it blanks are the ones the strip
# changes.
fixupHooksStripSelection() {
    local -n fixupHooksSelection="$1"
    local -a items
    local item variable flag
    fixupHooksSelection+=(--env-candidates)
    for variable in stripStoreRefsKeep:--keep stripStoreRefsTargets:--target \
                    stripStoreRefsAlsoHash:--also-hash; do
        flag=${variable#*:}
        items=()
        fixupHooksList items "${variable%%:*}"
        for item in ${items[@]+"${items[@]}"}; do fixupHooksSelection+=("$flag" "$item"); done
    done
}

if [ -z "${fixupHooksOrderRegistered-}" ]; then
    postFixupHooks+=(fixupHooksPostFixup)
    preFixupHooks+=(fixupHooksRegisterLast)
    fixupHooksOrderRegistered=1
fi
