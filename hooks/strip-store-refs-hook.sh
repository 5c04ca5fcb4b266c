# strip-store-refs setup hook: neutralise every store reference in every output, then check
# that none is left. For fixed-output derivations, which Nix refuses when they reference a
# store path: this fails the build with each file and store path named, not with Nix's bare
# error. The outputs' own hashes and those of the store paths in the build's environment are
# neutralised wherever they stand bare, as Nix counts them there too. It runs after every
# other postFixup step (../hooks/fixup-hooks-order.sh), so it sees the final tree — and
# stdenv's broken-symlink check sees the symlinks before they are neutralised.
#
#   dontStripStoreRefs    set: skip
#   stripStoreRefsKeep      references to leave (store paths, hashes or name globs)
#   stripStoreRefsTargets   only these store paths (--target), as remove-references-to -t
#   stripStoreRefsAlsoHash  hashes to neutralise wherever they stand, bare too (--also-hash)
#   stripStoreRefsFlags     extra flags for strip-store-refs
# The first three reach fix-venv prepare too (../hooks/fixup-hooks-order.sh).
# Lists may be bash arrays or space-separated strings.

. @fixupHooksOrder@

fixupHooksStep_stripStoreRefs() {
    if [ -n "${dontStripStoreRefs-}" ]; then return 0; fi
    local -a flags=() outs=()
    local output
    fixupHooksStripSelection flags
    fixupHooksList flags stripStoreRefsFlags
    for output in $(getAllOutputNames); do
        if [ -e "${!output}" ]; then outs+=("${!output}"); fi
    done
    if [ ${#outs[@]} -eq 0 ]; then return 0; fi
    echo "stripping store references from ${outs[*]}"
    strip-store-refs "${flags[@]}" "${outs[@]}"
    strip-store-refs --check "${flags[@]}" "${outs[@]}"
}
