# fix-venv setup hook. In a fixed-output derivation (the prepare variant) it makes a uv venv
# safe to leave it, before references are stripped; in the main derivation (the restore
# variant) it makes the copied tree a working venv again, after RUNPATHs are patched.
#
#   dontFixVenv              set: skip
#   fixVenvMode              prepare or restore (default: @fixVenvMode@, from the hook variant)
#   fixVenvRoot              the venv (default: $out)
#   fixVenvDrop              prepare: files (relative to site-packages) to remove with their
#                            RECORD lines, e.g. one two distributions install (--drop)
#   fixVenvPython            restore: the python executable the venv runs on (required)
#   fixVenvInstallSources    restore: workspace members to install from source
#   fixVenvCompileBytecode   restore, set: compile bytecode (unchecked-hash, reproducible)
#   fixVenvCheckImports      restore: modules that must import afterwards
#   fixVenvFlags             extra flags for fix-venv
# prepare also gets what the strip will neutralise (--env-candidates, stripStoreRefsKeep,
# stripStoreRefsTargets, stripStoreRefsAlsoHash), to blank the RECORD digests of exactly the
# files the strip changes.
# Lists may be bash arrays or space-separated strings.

. @fixupHooksOrder@

fixupHooksStep_fixVenvPrepare() {
    if [ -n "${dontFixVenv-}" ] || [ "${fixVenvMode:-@fixVenvMode@}" != prepare ]; then return 0; fi
    local -a flags=() drops=() stripFlags=()
    local item
    # What the strip will neutralise decides which RECORD digests to blank; a hash only
    # stripStoreRefsFlags names would change files whose digests stay.
    fixupHooksList stripFlags stripStoreRefsFlags
    for item in ${stripFlags[@]+"${stripFlags[@]}"}; do
        case "$item" in
            --also-hash | --also-hash=*)
                echo "fix-venv hook: fix-venv prepare must know every hash the strip neutralises: put the --also-hash values of stripStoreRefsFlags in stripStoreRefsAlsoHash" >&2
                return 1
                ;;
        esac
    done
    fixupHooksStripSelection flags
    fixupHooksList drops fixVenvDrop
    for item in ${drops[@]+"${drops[@]}"}; do flags+=(--drop "$item"); done
    fixupHooksList flags fixVenvFlags
    fix-venv prepare "${flags[@]}" "${fixVenvRoot:-$out}"
}

fixupHooksStep_fixVenvRestore() {
    if [ -n "${dontFixVenv-}" ] || [ "${fixVenvMode:-@fixVenvMode@}" != restore ]; then return 0; fi
    if [ -z "${fixVenvPython-}" ]; then
        echo "fix-venv hook: set fixVenvPython to the python executable the venv runs on" >&2
        return 1
    fi
    local -a flags=(--python "$fixVenvPython") sources=() imports=()
    local item
    fixupHooksList sources fixVenvInstallSources
    for item in ${sources[@]+"${sources[@]}"}; do flags+=(--install-source "$item"); done
    fixupHooksList imports fixVenvCheckImports
    for item in ${imports[@]+"${imports[@]}"}; do flags+=(--check-import "$item"); done
    if [ -n "${fixVenvCompileBytecode-}" ]; then flags+=(--compile-bytecode); fi
    fixupHooksList flags fixVenvFlags
    fix-venv restore "${flags[@]}" "${fixVenvRoot:-$out}"
}
