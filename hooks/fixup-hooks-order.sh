# fixup-hooks' shared step order, sourced by each fixup-hooks setup hook.
#
# The steps must run in one order whatever the order of nativeBuildInputs: a venv is prepared
# before anything else looks at it, RUNPATHs are patched before the venv is restored (restore
# may import the packages), and references are stripped last, after everything that could
# write one. Each hook defines its step as a function named fixupHooksStep_<step>; this file
# registers one postFixup hook that calls the steps present, in that order. postFixup is where
# autoPatchelfHook runs too: after patchShebangs and the other fixupOutput hooks.

fixupHooksPostFixup() {
    local step
    for step in fixVenvPrepare patchRpaths fixVenvRestore stripStoreRefs; do
        if declare -F "fixupHooksStep_$step" >/dev/null; then
            "fixupHooksStep_$step"
        fi
    done
}

if [ -z "${fixupHooksOrderRegistered-}" ]; then
    postFixupHooks+=(fixupHooksPostFixup)
    fixupHooksOrderRegistered=1
fi
