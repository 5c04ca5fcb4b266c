# patch-rpaths setup hook: a drop-in for autoPatchelfHook. Every ELF file in the outputs gets a
# RUNPATH that finds its libraries in the build's inputs, and executables get the toolchain's
# interpreter. autoPatchelfHook's knobs mean what they mean there; the one it has that makes
# no sense here (patchelfFlags: there is no patchelf to pass them to) fails the build rather
# than being ignored.
#
#   dontAutoPatchelf               set: skip the automatic run (autoPatchelf still works by hand)
#   autoPatchelfIgnoreMissingDeps  sonames (globs) that may stay missing; 1 or true means all
#   runtimeDependencies            packages whose lib/ goes first on the RUNPATH of every
#                                  executable (dlopen)
#   appendRunpaths                 directories appended to every RUNPATH
#   autoPatchelfFlags              extra flags (--keep-libc, --ignore-existing, --preserve-origin)
#   addAutoPatchelfSearchPath [--no-recurse] [--] DIR...   more library directories
#   autoPatchelf [--no-recurse] [--] PATH...              patch by hand
# Lists may be bash arrays or space-separated strings.

. @fixupHooksOrder@

# -g: stdenv sources setup hooks from inside a function.
declare -ga autoPatchelfLibs=()
declare -ga extraAutoPatchelfLibs=()

# Each dependency offers its lib/, as with autoPatchelfHook.
gatherLibraries() {
    autoPatchelfLibs+=("$1/lib")
}
addEnvHooks "$targetOffset" gatherLibraries

addAutoPatchelfSearchPath() {
    local flag=--libs-tree
    while [ $# -gt 0 ]; do
        case "$1" in
            --no-recurse) flag=--libs; shift ;;
            --) shift; break ;;
            --*)
                echo "addAutoPatchelfSearchPath: ERROR: Invalid command line argument: $1" >&2
                return 1
                ;;
            *) break ;;
        esac
    done
    local dir
    for dir in "$@"; do extraAutoPatchelfLibs+=("$flag" "$dir"); done
}

autoPatchelf() {
    local -a flags=() ignore=() deps=() appended=() patchelfFlagsArray=()
    local item
    while [ $# -gt 0 ]; do
        case "$1" in
            --no-recurse) flags+=(--no-recurse); shift ;;
            --) shift; break ;;
            --*)
                echo "autoPatchelf: ERROR: Invalid command line argument: $1" >&2
                return 1
                ;;
            *) break ;;
        esac
    done
    fixupHooksList patchelfFlagsArray patchelfFlags
    if [ ${#patchelfFlagsArray[@]} -gt 0 ]; then
        echo "autoPatchelf: ERROR: patchelfFlags is set (${patchelfFlagsArray[*]}), but patch-rpaths writes ELF files itself and runs no patchelf to pass them to; remove patchelfFlags" >&2
        return 1
    fi
    for item in ${autoPatchelfLibs[@]+"${autoPatchelfLibs[@]}"}; do
        if [ -d "$item" ]; then flags+=(--libs "$item"); fi
    done
    flags+=(${extraAutoPatchelfLibs[@]+"${extraAutoPatchelfLibs[@]}"})
    fixupHooksList ignore autoPatchelfIgnoreMissingDeps
    for item in ${ignore[@]+"${ignore[@]}"}; do
        if [ "$item" = 1 ] || [ "$item" = true ]; then
            echo "autoPatchelf: WARNING: autoPatchelfIgnoreMissingDeps = $item is deprecated; use [ \"*\" ]" >&2
            item='*'
        fi
        flags+=(--ignore-missing "$item")
    done
    fixupHooksList deps runtimeDependencies
    for item in ${deps[@]+"${deps[@]}"}; do flags+=(--runtime-dependency "$item/lib"); done
    fixupHooksList appended appendRunpaths
    for item in ${appended[@]+"${appended[@]}"}; do flags+=(--append-rpath "$item"); done
    if [ -n "${NIX_BINTOOLS-}" ]; then flags+=(--bintools "$NIX_BINTOOLS"); fi
    fixupHooksList flags autoPatchelfFlags
    patch-rpaths "${flags[@]}" -- "$@"
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
