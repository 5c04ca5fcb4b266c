# Stand-in for stdenv's default hook multiple-outputs.sh, the parts a fixup hook meets:
#   - outputDev, outputBin, outputLib, outputInclude, outputDoc, outputMan, outputInfo: the
#     output each kind of file goes to (the first of its candidates that exists, else out);
#   - _multioutPropagateDev (postFixup): with several outputs, the dev output's
#     nix-support/propagated-build-inputs gains the other outputs' store paths — written
#     into the tree during postFixup, after the hooks of the derivation's own inputs.
# Left out: moving docs, headers and pkg-config files between outputs (_multioutDocs,
# _multioutDevs) and the configure flags for them.

# The first name among the candidates that is an output of this build.
_standinFirstOutput() {
    local var="$1" candidate
    shift
    [ -n "${!var-}" ] && return 0
    for candidate in "$@"; do
        if [ -n "${!candidate-}" ] || [ "$candidate" = REMOVE ]; then
            printf -v "$var" '%s' "$candidate"
            return 0
        fi
    done
    echo "error: could not find an output for $var among: $*" >&2
    return 1
}

_standinFirstOutput outputDev dev out
_standinFirstOutput outputBin bin out
_standinFirstOutput outputInclude "$outputDev"
_standinFirstOutput outputLib lib out
_standinFirstOutput outputDoc doc out
_standinFirstOutput outputMan man "$outputBin"
_standinFirstOutput outputInfo info "$outputBin"

postFixupHooks+=(_multioutPropagateDev)

_multioutPropagateDev() {
    if [ "$(getAllOutputNames)" = out ]; then return; fi
    local outputFirst propagater="${outputDev-}" output
    for outputFirst in $(getAllOutputNames); do break; done
    [ -n "$propagater" ] || propagater=$outputFirst
    if [ -z "${propagatedBuildOutputs+1}" ]; then
        local po_dirty="$outputBin $outputInclude $outputLib"
        set +o pipefail
        propagatedBuildOutputs=$(echo "$po_dirty" | tr -s ' ' '\n' | grep -v -x -F "$propagater" |
            sort -u | tr '\n' ' ')
        set -o pipefail
    fi
    [ -n "${propagatedBuildOutputs// /}" ] || return 0
    mkdir -p "${!propagater}/nix-support"
    for output in $propagatedBuildOutputs; do
        echo -n " ${!output}" >>"${!propagater}/nix-support/propagated-build-inputs"
    done
}
