# A STAND-IN for nixpkgs' stdenv setup (pkgs/stdenv/generic/setup.sh), for machines without
# nixpkgs: the tests and the demo build fixup-hooks' real hooks and nix/mk-uv-venv.nix with
# it. Our own code, written to behave like stdenv at every point a setup hook meets:
#
#   - shell: set -eu -o pipefail, inherit_errexit, nullglob;
#   - structured attrs: `.attrs.sh` (sourced by the builder before this file) turns
#     __structuredAttrs on; outputs are then an associative array, lists are arrays, and the
#     `env` attributes are exported;
#   - inputs: findInputs over every dependency list with host/target offsets, recursively
#     through nix-support/propagated-* files; the default inputs (the default hooks below
#     and the C toolchain's bintools) are processed last; each input's setup hook is sourced
#     (a plain file in the list is sourced itself), and without strictDeps every env hook
#     registered with addEnvHooks runs on every input of every offset;
#   - runHook: the implicit hook first (a function, a sourced file or an eval'd string), then
#     the NAMEHooks array in registration order; runOneHook;
#   - concatTo: the current one, which splits strings with globbing off; with
#     `standinConcatToGlobs` set, the one older nixpkgs still pinned by users have, which
#     lets a `*` in a list knob expand against the build directory (and nullglob drop it);
#   - phases: genericBuild with stdenv's phase list and dont*/do* switches, unpacking a
#     directory or a tarball, the make-based defaults, fixupPhase in stdenv's order
#     (chmod, preFixup, fixupOutput per output with $prefix, propagated inputs recorded into
#     the dev output, postFixup);
#   - the default fixup hooks, from ./hooks (see there): broken-symlink check, relative
#     symlinks, multiple-output propagation, shebang patching, strip, patchelf's
#     --shrink-rpath, the $TMPDIR audit, lib64 moving, SOURCE_DATE_EPOCH from the sources.
#
# What it leaves out, because no hook of ours meets it: cross compilation (one platform),
# the nix*Log levels beyond plain stderr, substituteStream's full option set, the
# updateAutotoolsGnuConfigScripts phase, man-page compression, doc and sbin moving.
#
# The stdenv derivation (./default.nix) writes this file as $stdenv/setup after the lines
# that set initialPath and defaultNativeBuildInputs, as nixpkgs' stdenv builder does.

set -eu
set -o pipefail
shopt -s inherit_errexit

if [ -f .attrs.sh ] || [[ -n "${NIX_ATTRS_JSON_FILE:-}" ]]; then
    __structuredAttrs=1
    echo "structuredAttrs is enabled"
    for outputName in "${!outputs[@]}"; do
        export "$outputName=${outputs[$outputName]}"
    done
else
    __structuredAttrs=
    : "${outputs:=out}"
fi

getAllOutputNames() {
    if [ -n "$__structuredAttrs" ]; then
        echo "${!outputs[*]}"
    else
        echo "$outputs"
    fi
}

# stdenv sends these to NIX_LOG_FD at levels gated by NIX_DEBUG; here errors and warnings go
# to stderr, which is what a user of a failing build reads.
nixErrorLog() { echo "$*" >&2; }
nixWarnLog() { echo "$*" >&2; }
nixInfoLog() { :; }
nixDebugLog() { :; }
nixLog() { echo "$*" >&2; }

######################################################################
# Hooks.

runHook() {
    local hookName="$1"
    shift
    local hooksSlice="${hookName%Hook}Hooks[@]"
    local hook
    for hook in "_callImplicitHook 0 $hookName" ${!hooksSlice+"${!hooksSlice}"}; do
        _eval "$hook" "$@"
    done
    return 0
}

runOneHook() {
    local hookName="$1"
    shift
    local hooksSlice="${hookName%Hook}Hooks[@]"
    local hook ret=1
    for hook in "_callImplicitHook 1 $hookName" ${!hooksSlice+"${!hooksSlice}"}; do
        if _eval "$hook" "$@"; then
            ret=0
            break
        fi
    done
    return "$ret"
}

_callImplicitHook() {
    local def="$1" hookName="$2"
    if declare -F "$hookName" >/dev/null; then
        "$hookName"
    elif type -p "$hookName" >/dev/null; then
        # shellcheck disable=SC1090
        source "$hookName"
    elif [ -n "${!hookName:-}" ]; then
        eval "${!hookName}"
    else
        return "$def"
    fi
}

# A function hook gets the arguments; a string hook is eval'd, so `return` leaves the hook.
_eval() {
    if declare -F "$1" >/dev/null 2>&1; then
        "$@"
    else
        eval "$1"
    fi
}

######################################################################
# Lists.

if [ -z "${standinConcatToGlobs-}" ]; then
    concatTo() {
        local -
        set -o noglob
        _standinConcatTo "$@"
    }
else
    # nixpkgs before concatTo turned globbing off: an item with a glob character expands
    # against the current directory, and (nullglob) vanishes when nothing matches.
    concatTo() {
        _standinConcatTo "$@"
    }
fi

_standinConcatTo() {
    local -n targetref="$1"
    shift
    local arg default name type
    for arg in "$@"; do
        IFS="=" read -r name default <<<"$arg"
        local -n nameref="$name"
        if [[ -z "${nameref[*]-}" && -n "$default" ]]; then
            targetref+=("$default")
        elif type=$(declare -p "$name" 2>/dev/null); then
            case "${type#* }" in
                -A*)
                    echo "concatTo(): ERROR: trying to use concatTo on an associative array." >&2
                    return 1
                    ;;
                -a*) targetref+=("${nameref[@]}") ;;
                *)
                    # shellcheck disable=SC2206
                    targetref+=(${nameref-})
                    ;;
            esac
        fi
        unset -n nameref
    done
}

# Append or prepend to a list that may be an array or a space-separated string: an existing
# variable keeps its kind, a new one is an array under structured attrs.
_standinListIsArray() {
    local type
    if type=$(declare -p "$1" 2>/dev/null); then
        [[ "${type#* }" == -a* ]]
    else
        [ -n "$__structuredAttrs" ]
    fi
}

appendToVar() {
    local -n nameref="$1"
    if _standinListIsArray "$1"; then
        shift
        nameref=(${nameref+"${nameref[@]}"} "$@")
    else
        shift
        nameref="${nameref-} $*"
    fi
}

prependToVar() {
    local -n nameref="$1"
    if _standinListIsArray "$1"; then
        shift
        nameref=("$@" ${nameref+"${nameref[@]}"})
    else
        shift
        nameref="$* ${nameref-}"
    fi
}

printWords() {
    (("$#" > 0)) || return 0
    printf '%s ' "$@"
}

######################################################################
# Helpers the default hooks use.

addToSearchPath() {
    local varName="$1" dir="$2"
    if [[ -d "$dir" && ":${!varName-}:" != *":$dir:"* ]]; then
        export "$varName=${!varName:+${!varName}:}$dir"
    fi
}

isELF() {
    local fn="$1" fd magic
    exec {fd}<"$fn"
    read -r -n 4 -u "$fd" magic || true
    exec {fd}<&-
    [ "$magic" = $'\177ELF' ]
}

isScript() {
    local fn="$1" fd magic
    exec {fd}<"$fn"
    read -r -n 2 -u "$fd" magic || true
    exec {fd}<&-
    [[ "$magic" =~ \#! ]]
}

stripHash() {
    local strippedName
    strippedName="$(basename -- "$1")"
    if [[ "$strippedName" =~ ^[a-z0-9]{32}- ]]; then
        echo "${strippedName:33}"
    else
        echo "$strippedName"
    fi
}

substitute() {
    local input="$1" output="$2"
    shift 2
    local content pattern replacement
    content=$(<"$input")
    while [ $# -gt 0 ]; do
        case "$1" in
            --subst-var)
                pattern="@$2@"
                replacement="${!2}"
                shift 2
                ;;
            --subst-var-by)
                pattern="@$2@"
                replacement="$3"
                shift 3
                ;;
            --replace-fail | --replace-warn | --replace-quiet | --replace)
                pattern="$2"
                replacement="$3"
                shift 3
                ;;
            *)
                echo "substitute(): ERROR: unknown argument $1" >&2
                return 1
                ;;
        esac
        content="${content//"$pattern"/$replacement}"
    done
    if [ -e "$output" ]; then chmod +w "$output"; fi
    printf '%s\n' "$content" >"$output"
}

substituteInPlace() {
    local file="$1"
    shift
    substitute "$file" "$file" "$@"
}

# Every environment variable whose name starts with a lower-case letter.
substituteAll() {
    local input="$1" output="$2" name
    local -a args=()
    while IFS= read -r name; do
        args+=(--subst-var "$name")
    done < <(awk 'BEGIN { for (v in ENVIRON) if (v ~ /^[a-z][a-zA-Z0-9_]*$/) print v }')
    substitute "$input" "$output" "${args[@]}"
}

######################################################################
# Initialisation.

if [[ -n $__structuredAttrs ]]; then
    for envVar in "${!env[@]}"; do
        declare -x "${envVar}=${env[${envVar}]}"
    done
fi

export SOURCE_DATE_EPOCH
: "${SOURCE_DATE_EPOCH:=315532800}"

shopt -s nullglob

PATH=
HOST_PATH=
for i in ${initialPath-}; do
    addToSearchPath PATH "$i/bin"
    if [ -z "${strictDeps-}" ]; then addToSearchPath HOST_PATH "$i/bin"; fi
done
unset i

export SHELL="${SHELL:-/bin/bash}"
export CONFIG_SHELL="$SHELL"
runHook preHook
runHook addInputsHook

######################################################################
# Inputs: which packages, at which offsets, and their setup hooks.

declare -a pkgsBuildBuild=() pkgsBuildHost=() pkgsBuildTarget=()
declare -a pkgsHostHost=() pkgsHostTarget=() pkgsTargetTarget=()
declare -a envBuildBuildHooks=() envBuildHostHooks=() envBuildTargetHooks=()
declare -a envHostHostHooks=() envHostTargetHooks=() envTargetTargetHooks=()
declare -a preFixupHooks=() fixupOutputHooks=() postFixupHooks=()
declare -a preConfigureHooks=() postUnpackHooks=() unpackCmdHooks=()

# The accumulator of (host offset, target offset), offsets in -1..1.
_standinAccum() {
    case "$1,$2" in
        -1,-1) echo pkgsBuildBuild ;;
        -1,0) echo pkgsBuildHost ;;
        -1,1) echo pkgsBuildTarget ;;
        0,0) echo pkgsHostHost ;;
        0,1) echo pkgsHostTarget ;;
        1,1) echo pkgsTargetTarget ;;
    esac
}

addEnvHooks() {
    local depHostOffset="$1"
    shift
    case "$depHostOffset" in
        -1) envBuildBuildHooks+=("$@") envBuildHostHooks+=("$@") envBuildTargetHooks+=("$@") ;;
        0) envHostHostHooks+=("$@") envHostTargetHooks+=("$@") ;;
        1) envTargetTargetHooks+=("$@") ;;
    esac
}

# propagated-* files by the offsets (relative to the package that lists them) they give.
_standinPropagatedFile() {
    case "$1,$2" in
        -1,-1) echo propagated-build-build-deps ;;
        -1,0) echo propagated-native-build-inputs ;;
        -1,1) echo propagated-build-target-deps ;;
        0,0) echo propagated-host-host-deps ;;
        0,1) echo propagated-build-inputs ;;
        1,1) echo propagated-target-target-deps ;;
    esac
}

findInputs() {
    local -r pkg="$1"
    local -r hostOffset="$2"
    local -r targetOffset="$3"
    local var
    var=$(_standinAccum "$hostOffset" "$targetOffset")
    local -n accum="$var"
    case " ${accum[*]-} " in
        *" $pkg "*) return 0 ;;
    esac
    accum+=("$pkg")
    if ! [ -e "$pkg" ]; then
        echo "build input $pkg does not exist" >&2
        exit 1
    fi
    # A relative offset maps onto this build's offsets through the package's own.
    _standinMapOffset() {
        if (($1 <= 0)); then echo $(($1 + hostOffset)); else echo $(($1 - 1 + targetOffset)); fi
    }
    local relHost relTarget hostNext targetNext file next
    for relHost in -1 0 1; do
        hostNext=$(_standinMapOffset "$relHost")
        ((-1 <= hostNext && hostNext <= 1)) || continue
        for relTarget in -1 0 1; do
            ((relHost <= relTarget)) || continue
            targetNext=$(_standinMapOffset "$relTarget")
            ((-1 <= targetNext && targetNext <= 1)) || continue
            file=$(_standinPropagatedFile "$relHost" "$relTarget")
            [[ -f "$pkg/nix-support/$file" ]] || continue
            for next in $(<"$pkg/nix-support/$file"); do
                findInputs "$next" "$hostNext" "$targetNext"
            done
        done
    done
}

: "${depsBuildBuild=}" "${depsBuildBuildPropagated=}"
: "${nativeBuildInputs=}" "${propagatedNativeBuildInputs=}" "${defaultNativeBuildInputs=}"
: "${depsBuildTarget=}" "${depsBuildTargetPropagated=}"
: "${depsHostHost=}" "${depsHostHostPropagated=}"
: "${buildInputs=}" "${propagatedBuildInputs=}" "${defaultBuildInputs=}"
: "${depsTargetTarget=}" "${depsTargetTargetPropagated=}"

# shellcheck disable=SC2068  # store paths have no spaces; arrays and strings alike
for pkg in ${depsBuildBuild[@]} ${depsBuildBuildPropagated[@]}; do findInputs "$pkg" -1 -1; done
for pkg in ${nativeBuildInputs[@]} ${propagatedNativeBuildInputs[@]}; do findInputs "$pkg" -1 0; done
for pkg in ${depsBuildTarget[@]} ${depsBuildTargetPropagated[@]}; do findInputs "$pkg" -1 1; done
for pkg in ${depsHostHost[@]} ${depsHostHostPropagated[@]}; do findInputs "$pkg" 0 0; done
for pkg in ${buildInputs[@]} ${propagatedBuildInputs[@]}; do findInputs "$pkg" 0 1; done
for pkg in ${depsTargetTarget[@]} ${depsTargetTargetPropagated[@]}; do findInputs "$pkg" 1 1; done
# As in stdenv: the default inputs come last, so the hooks they register come after the
# ones of the derivation's own inputs.
for pkg in ${defaultNativeBuildInputs[@]}; do findInputs "$pkg" -1 0; done
for pkg in ${defaultBuildInputs[@]}; do findInputs "$pkg" 0 1; done
unset pkg

activatePackage() {
    local pkg="$1"
    local -r hostOffset="$2" targetOffset="$3"
    if [ -f "$pkg" ]; then
        # shellcheck disable=SC1090
        source "$pkg"
    fi
    if [[ -z "${strictDeps-}" || "$hostOffset" -le -1 ]]; then
        addToSearchPath _PATH "$pkg/bin"
    fi
    if [[ "$hostOffset" -eq 0 && -d "$pkg/bin" ]]; then
        addToSearchPath _HOST_PATH "$pkg/bin"
    fi
    if [[ -f "$pkg/nix-support/setup-hook" ]]; then
        # shellcheck disable=SC1091
        source "$pkg/nix-support/setup-hook"
    fi
}

for hostOffset in -1 0 1; do
    for targetOffset in -1 0 1; do
        ((hostOffset <= targetOffset)) || continue
        declare -n _standinPkgs="$(_standinAccum "$hostOffset" "$targetOffset")"
        for pkg in ${_standinPkgs[@]+"${_standinPkgs[@]}"}; do
            activatePackage "$pkg" "$hostOffset" "$targetOffset"
        done
        unset -n _standinPkgs
    done
done
unset hostOffset targetOffset pkg

# The env hooks: without strictDeps every hook runs on every input (once per hook array),
# as stdenv does for native builds; with strictDeps only on the inputs of its offsets.
_standinEnvHooksOf() {
    case "$1,$2" in
        -1,-1) echo envBuildBuildHook ;;
        -1,0) echo envBuildHostHook ;;
        -1,1) echo envBuildTargetHook ;;
        0,0) echo envHostHostHook ;;
        0,1) echo envHostTargetHook ;;
        1,1) echo envTargetTargetHook ;;
    esac
}
for depHostOffset in -1 0 1; do
    for depTargetOffset in -1 0 1; do
        ((depHostOffset <= depTargetOffset)) || continue
        hookName=$(_standinEnvHooksOf "$depHostOffset" "$depTargetOffset")
        if [[ -z "${strictDeps-}" ]]; then
            visited=" "
            for pkg in ${pkgsBuildBuild[@]+"${pkgsBuildBuild[@]}"} \
                ${pkgsBuildHost[@]+"${pkgsBuildHost[@]}"} \
                ${pkgsBuildTarget[@]+"${pkgsBuildTarget[@]}"} \
                ${pkgsHostHost[@]+"${pkgsHostHost[@]}"} \
                ${pkgsHostTarget[@]+"${pkgsHostTarget[@]}"} \
                ${pkgsTargetTarget[@]+"${pkgsTargetTarget[@]}"}; do
                [[ "$visited" == *" $pkg "* ]] && continue
                runHook "$hookName" "$pkg"
                visited+="$pkg "
            done
        else
            declare -n _standinPkgs="$(_standinAccum "$depHostOffset" "$depTargetOffset")"
            for pkg in ${_standinPkgs[@]+"${_standinPkgs[@]}"}; do
                runHook "$hookName" "$pkg"
            done
            unset -n _standinPkgs
        fi
    done
done
unset depHostOffset depTargetOffset hookName visited pkg

export TZ=UTC
if [ -z "${prefix:-}" ]; then prefix="$out"; fi

PATH="${_PATH-}${_PATH:+${PATH:+:}}$PATH"
HOST_PATH="${_HOST_PATH-}${_HOST_PATH:+${HOST_PATH:+:}}$HOST_PATH"
export PATH HOST_PATH
unset _PATH _HOST_PATH

NIX_BUILD_CORES="${NIX_BUILD_CORES:-1}"
if ((NIX_BUILD_CORES <= 0)); then NIX_BUILD_CORES=$(nproc 2>/dev/null || echo 1); fi
export NIX_BUILD_CORES

# Builds trust no certificate unless told which.
if [[ -z "${NIX_SSL_CERT_FILE:-}" ]]; then export NIX_SSL_CERT_FILE=/no-cert-file.crt; fi
if [[ -z "${SSL_CERT_FILE:-}" ]]; then export SSL_CERT_FILE=/no-cert-file.crt; fi

######################################################################
# Phases.

recordPropagatedDependencies() {
    local -a vars=(depsBuildBuildPropagated propagatedNativeBuildInputs depsBuildTargetPropagated
        depsHostHostPropagated propagatedBuildInputs depsTargetTargetPropagated)
    local -a files=(propagated-build-build-deps propagated-native-build-inputs
        propagated-build-target-deps propagated-host-host-deps propagated-build-inputs
        propagated-target-target-deps)
    local i slice
    for i in "${!vars[@]}"; do
        slice="${vars[$i]}[@]"
        [[ "${!slice-}" ]] || continue
        mkdir -p "${!outputDev}/nix-support"
        # shellcheck disable=SC2086
        printWords ${!slice} >"${!outputDev}/nix-support/${files[$i]}"
    done
}

unpackCmdHooks+=(_defaultUnpack)
_defaultUnpack() {
    local fn="$1" destination
    if [ -d "$fn" ]; then
        destination="$(stripHash "$fn")"
        if [ -e "$destination" ]; then
            echo "Cannot copy $fn to $destination: destination already exists!"
            return 1
        fi
        cp -pr --reflink=auto -- "$fn" "$destination"
    else
        case "$fn" in
            *.tar | *.tar.* | *.tgz | *.tbz2 | *.tbz) tar xf "$fn" --mode=+w --warning=no-timestamp ;;
            *) return 1 ;;
        esac
    fi
}

unpackFile() {
    curSrc="$1"
    echo "unpacking source archive $curSrc"
    if ! runOneHook unpackCmd "$curSrc"; then
        echo "do not know how to unpack source archive $curSrc"
        exit 1
    fi
}

unpackPhase() {
    runHook preUnpack
    if [ -z "${srcs:-}" ]; then
        if [ -z "${src:-}" ]; then
            # shellcheck disable=SC2016
            echo 'variable $src or $srcs should point to the source'
            exit 1
        fi
        srcs="$src"
    fi
    local -a srcsArray=()
    concatTo srcsArray srcs
    local dirsBefore="" i
    for i in *; do
        if [ -d "$i" ]; then dirsBefore="$dirsBefore $i "; fi
    done
    for i in "${srcsArray[@]}"; do unpackFile "$i"; done
    : "${sourceRoot=}"
    if [ -n "${setSourceRoot:-}" ]; then
        runOneHook setSourceRoot
    elif [ -z "$sourceRoot" ]; then
        for i in *; do
            if [ -d "$i" ]; then
                case $dirsBefore in
                    *\ $i\ *) ;;
                    *)
                        if [ -n "$sourceRoot" ]; then
                            echo "unpacker produced multiple directories"
                            exit 1
                        fi
                        sourceRoot="$i"
                        ;;
                esac
            fi
        done
    fi
    if [ -z "$sourceRoot" ]; then
        echo "unpacker appears to have produced no directories"
        exit 1
    fi
    echo "source root is $sourceRoot"
    if [ "${dontMakeSourcesWritable:-0}" != 1 ]; then chmod -R u+w -- "$sourceRoot"; fi
    runHook postUnpack
}

patchPhase() {
    runHook prePatch
    local -a patchesArray=()
    concatTo patchesArray patches
    local i
    for i in ${patchesArray[@]+"${patchesArray[@]}"}; do
        echo "applying patch $i"
        patch -p1 <"$i"
    done
    runHook postPatch
}

_standinHasMakefile() {
    [[ -n "${makeFlags-}" || -n "${makefile:-}" || -e Makefile || -e makefile || -e GNUmakefile ]]
}

configurePhase() {
    runHook preConfigure
    : "${configureScript=}"
    if [[ -z "$configureScript" && -x ./configure ]]; then configureScript=./configure; fi
    if [ -n "$configureScript" ]; then
        local -a flagsArray=()
        if [[ -z "${dontAddPrefix:-}" && -n "$prefix" ]]; then flagsArray+=("${prefixKey:---prefix=}$prefix"); fi
        concatTo flagsArray configureFlags configureFlagsArray
        $configureScript "${flagsArray[@]}"
    else
        echo "no configure script, doing nothing"
    fi
    runHook postConfigure
}

buildPhase() {
    runHook preBuild
    if ! _standinHasMakefile; then
        echo "no Makefile or custom buildPhase, doing nothing"
    else
        local -a flagsArray=(${enableParallelBuilding:+-j${NIX_BUILD_CORES}} SHELL="$SHELL")
        concatTo flagsArray makeFlags makeFlagsArray buildFlags buildFlagsArray
        make ${makefile:+-f $makefile} "${flagsArray[@]}"
    fi
    runHook postBuild
}

checkPhase() {
    runHook preCheck
    if ! _standinHasMakefile; then
        echo "no Makefile or custom checkPhase, doing nothing"
    else
        local -a flagsArray=(SHELL="$SHELL")
        concatTo flagsArray makeFlags makeFlagsArray checkFlags checkFlagsArray checkTarget=check
        make ${makefile:+-f $makefile} "${flagsArray[@]}"
    fi
    runHook postCheck
}

installPhase() {
    runHook preInstall
    if ! _standinHasMakefile; then
        echo "no Makefile or custom installPhase, doing nothing"
        runHook postInstall
        return
    fi
    if [ -n "$prefix" ]; then mkdir -p "$prefix"; fi
    local -a flagsArray=(SHELL="$SHELL")
    concatTo flagsArray makeFlags makeFlagsArray installFlags installFlagsArray installTargets=install
    make ${makefile:+-f $makefile} "${flagsArray[@]}"
    runHook postInstall
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
    recordPropagatedDependencies
    if [ -n "${setupHook:-}" ]; then
        mkdir -p "${!outputDev}/nix-support"
        substituteAll "$setupHook" "${!outputDev}/nix-support/setup-hook"
    fi
    if [ -n "${propagatedUserEnvPkgs:-}" ]; then
        mkdir -p "${!outputBin}/nix-support"
        # shellcheck disable=SC2086
        printWords $propagatedUserEnvPkgs >"${!outputBin}/nix-support/propagated-user-env-packages"
    fi
    runHook postFixup
}

installCheckPhase() {
    runHook preInstallCheck
    echo "no installcheck target, doing nothing"
    runHook postInstallCheck
}

distPhase() {
    runHook preDist
    runHook postDist
}

runPhase() {
    local curPhase="$*"
    if [[ "$curPhase" = unpackPhase && -n "${dontUnpack:-}" ]]; then return; fi
    if [[ "$curPhase" = patchPhase && -n "${dontPatch:-}" ]]; then return; fi
    if [[ "$curPhase" = configurePhase && -n "${dontConfigure:-}" ]]; then return; fi
    if [[ "$curPhase" = buildPhase && -n "${dontBuild:-}" ]]; then return; fi
    if [[ "$curPhase" = checkPhase && -z "${doCheck:-}" ]]; then return; fi
    if [[ "$curPhase" = installPhase && -n "${dontInstall:-}" ]]; then return; fi
    if [[ "$curPhase" = fixupPhase && -n "${dontFixup:-}" ]]; then return; fi
    if [[ "$curPhase" = installCheckPhase && -z "${doInstallCheck:-}" ]]; then return; fi
    if [[ "$curPhase" = distPhase && -z "${doDist:-}" ]]; then return; fi
    echo "Running phase: $curPhase"
    eval "${!curPhase:-$curPhase}"
    if [ "$curPhase" = unpackPhase ]; then
        [ -n "${sourceRoot:-}" ] && chmod +x -- "${sourceRoot}"
        cd -- "${sourceRoot:-.}"
    fi
}

genericBuild() {
    if [ -f "${buildCommandPath:-}" ]; then
        # shellcheck disable=SC1090
        source "$buildCommandPath"
        return
    fi
    if [ -n "${buildCommand:-}" ]; then
        eval "$buildCommand"
        return
    fi
    if [ -z "${phases[*]:-}" ]; then
        phases="${prePhases[*]:-} unpackPhase patchPhase ${preConfigurePhases[*]:-} \
            configurePhase ${preBuildPhases[*]:-} buildPhase checkPhase \
            ${preInstallPhases[*]:-} installPhase ${preFixupPhases[*]:-} fixupPhase installCheckPhase \
            ${preDistPhases[*]:-} distPhase ${postPhases[*]:-}"
    fi
    # shellcheck disable=SC2068
    for curPhase in ${phases[*]}; do
        runPhase "$curPhase"
    done
}

runHook postHook
runHook userHook
