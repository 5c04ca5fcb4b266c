# patch-rpaths setup hook: a drop-in for autoPatchelfHook. Every ELF file in the outputs gets a
# RUNPATH that finds its libraries in the build's inputs, and executables get the toolchain's
# interpreter. It honours autoPatchelfHook's own knobs, so switching is one word in
# nativeBuildInputs:
#
#   dontAutoPatchelf               set: skip the automatic run (autoPatchelf still works by hand)
#   autoPatchelfIgnoreMissingDeps  sonames (globs) that may stay missing; 1 or true means all
#   runtimeDependencies            packages whose lib/ goes on every RUNPATH (dlopen)
#   appendRunpaths                 directories appended to every RUNPATH
#   autoPatchelfFlags              extra flags (e.g. --keep-libc, --ignore-existing)
#   addAutoPatchelfSearchPath [--no-recurse] DIR...   more library directories
#   autoPatchelf [--no-recurse] -- PATH...            patch by hand
# Lists may be bash arrays or space-separated strings.

. @fixupHooksOrder@

# -g: stdenv sources setup hooks from inside a function.
declare -ga autoPatchelfLibs=()
declare -ga extraAutoPatchelfLibs=()

# Each host dependency (buildInputs) offers its lib/, as with autoPatchelfHook.
gatherLibraries() {
    autoPatchelfLibs+=("$1/lib")
}
addEnvHooks "$targetOffset" gatherLibraries

addAutoPatchelfSearchPath() {
    local flag=--libs-tree
    if [ "${1-}" = --no-recurse ]; then
        flag=--libs
        shift
    fi
    local dir
    for dir in "$@"; do extraAutoPatchelfLibs+=("$flag" "$dir"); done
}

autoPatchelf() {
    local -a flags=() ignore=() deps=() appended=()
    local item
    if [ "${1-}" = --no-recurse ]; then
        flags+=(--no-recurse)
        shift
    fi
    if [ "${1-}" = -- ]; then shift; fi
    for item in ${autoPatchelfLibs[@]+"${autoPatchelfLibs[@]}"}; do
        if [ -d "$item" ]; then flags+=(--libs "$item"); fi
    done
    flags+=(${extraAutoPatchelfLibs[@]+"${extraAutoPatchelfLibs[@]}"})
    concatTo ignore autoPatchelfIgnoreMissingDeps
    for item in ${ignore[@]+"${ignore[@]}"}; do
        if [ "$item" = 1 ] || [ "$item" = true ]; then
            echo "autoPatchelfIgnoreMissingDeps=$item is deprecated; use '*'" >&2
            item='*'
        fi
        flags+=(--ignore-missing "$item")
    done
    concatTo deps runtimeDependencies
    for item in ${deps[@]+"${deps[@]}"}; do flags+=(--runtime-dependency "$item/lib"); done
    concatTo appended appendRunpaths
    for item in ${appended[@]+"${appended[@]}"}; do flags+=(--runtime-dependency "$item"); done
    if [ -n "${NIX_BINTOOLS-}" ]; then flags+=(--bintools "$NIX_BINTOOLS"); fi
    concatTo flags autoPatchelfFlags
    patch-rpaths "${flags[@]}" "$@"
}

fixupHooksStep_patchRpaths() {
    if [ -n "${dontAutoPatchelf-}" ]; then return 0; fi
    local -a outs=()
    local output
    for output in $(getAllOutputNames); do
        # The debug output holds separate debug symbols, not files to run.
        if [ "$output" != debug ] && [ -e "${!output}" ]; then outs+=("${!output}"); fi
    done
    if [ ${#outs[@]} -eq 0 ]; then return 0; fi
    autoPatchelf -- "${outs[@]}"
}
