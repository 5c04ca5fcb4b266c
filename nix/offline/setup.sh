# A STAND-IN for nixpkgs' stdenv setup (pkgs/stdenv/generic/setup.sh), for builds on machines
# without nixpkgs. It is not stdenv: it implements only the documented parts of stdenv's hook
# protocol that fixup-hooks' setup hooks use, so those hook files run here unchanged:
#
#   - nativeBuildInputs: each package's bin/ goes on PATH and its nix-support/setup-hook is
#     sourced (hostOffset=-1, targetOffset=0), as are the packages it lists in
#     nix-support/propagated-build-inputs, recursively;
#   - addEnvHooks OFFSET FN...: FN is called once per buildInputs package, with its path;
#   - runHook NAME: the function or string named NAME, then each entry of the NAMEs array
#     (preFixup -> preFixupHooks), functions called and strings eval'ed;
#   - fixupPhase: chmod u+w the outputs, runHook preFixup, runHook fixupOutput for each output
#     with $prefix set, runHook postFixup;
#   - getAllOutputNames, and concatTo (a list variable that may be an array or a
#     space-separated string, appended to an array).
#
# Builders source it, do their work, then call fixupPhase. It runs with `set -eu -o pipefail`,
# stricter than stdenv, so a hook that relies on an unset variable fails here first.

set -eu -o pipefail

declare -a preFixupHooks=() fixupOutputHooks=() postFixupHooks=() fixupHooksEnvHooks=()
export PATH="${PATH:-/usr/bin:/bin}"

getAllOutputNames() {
    echo "${outputs:-out}"
}

concatTo() {
    local -; set -o noglob # as stdenv's: a list item such as '*' is a pattern, not a glob
    local -n concatToTarget="$1"
    shift
    local name
    for name in "$@"; do
        if ! declare -p "$name" >/dev/null 2>&1; then continue; fi
        local -n concatToSource="$name"
        if [[ "$(declare -p "$name")" == "declare -a"* ]]; then
            concatToTarget+=(${concatToSource[@]+"${concatToSource[@]}"})
        else
            # A plain variable is a space-separated list, as derivation attributes arrive.
            # shellcheck disable=SC2206
            concatToTarget+=(${concatToSource})
        fi
        unset -n concatToSource
    done
}

addEnvHooks() {
    shift
    fixupHooksEnvHooks+=("$@")
}

runHook() {
    local name="$1" hook
    shift
    if declare -F "$name" >/dev/null; then
        "$name" "$@"
    elif [ -n "${!name-}" ]; then
        eval "${!name}"
    fi
    local -n hooks="${name%Hook}Hooks"
    for hook in ${hooks[@]+"${hooks[@]}"}; do
        if declare -F "$hook" >/dev/null; then "$hook" "$@"; else eval "$hook"; fi
    done
}

fixupPhase() {
    local output
    for output in $(getAllOutputNames); do
        if [ -e "${!output}" ]; then chmod -R u+w,u-s,g-s "${!output}"; fi
    done
    runHook preFixup
    for output in $(getAllOutputNames); do
        prefix="${!output}" runHook fixupOutput
    done
    runHook postFixup
}

declare -A fixupHooksSourced=()
fixupHooksUseNative() {
    local pkg="$1" dep
    if [ -n "${fixupHooksSourced[$pkg]-}" ]; then return 0; fi
    fixupHooksSourced[$pkg]=1
    if [ -d "$pkg/bin" ]; then PATH="$pkg/bin:$PATH"; fi
    if [ -f "$pkg/nix-support/propagated-build-inputs" ]; then
        for dep in $(cat "$pkg/nix-support/propagated-build-inputs"); do fixupHooksUseNative "$dep"; done
    fi
    if [ -f "$pkg/nix-support/setup-hook" ]; then
        local hostOffset=-1 targetOffset=0
        # shellcheck disable=SC1091
        . "$pkg/nix-support/setup-hook"
    fi
}

for fixupHooksPkg in ${nativeBuildInputs-}; do fixupHooksUseNative "$fixupHooksPkg"; done
for fixupHooksPkg in ${buildInputs-}; do
    for fixupHooksFn in ${fixupHooksEnvHooks[@]+"${fixupHooksEnvHooks[@]}"}; do
        "$fixupHooksFn" "$fixupHooksPkg"
    done
done
unset fixupHooksPkg fixupHooksFn
