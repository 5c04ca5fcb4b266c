# Stand-in for stdenv's default hook strip.sh: debug symbols are stripped (`strip -S -p`)
# from every file under the output's lib, lib32, lib64, libexec, bin and sbin, everything
# (`-s -p`) under stripAllList. Knobs: dontStrip, stripDebugList, stripAllList,
# stripDebugFlags, stripAllFlags.

fixupOutputHooks+=(_doStrip)

_doStrip() {
    [ -z "${dontStrip-}" ] || return 0
    local debugList="${stripDebugList[*]-lib lib32 lib64 libexec bin sbin}"
    local allList="${stripAllList[*]-}"
    local debugFlags="${stripDebugFlags[*]:--S -p}" allFlags="${stripAllFlags[*]:--s -p}"
    local cmd="${STRIP:-strip}"
    type -f "$cmd" >/dev/null 2>&1 || return 0
    _standinStripDirs "$cmd" "$debugList" "$debugFlags"
    _standinStripDirs "$cmd" "$allList" "$allFlags"
}

_standinStripDirs() {
    local cmd="$1" dirs="$2" flags="$3" d
    local -a paths=()
    for d in $dirs; do
        if [ -e "$prefix/$d" ]; then paths+=("$prefix/$d"); fi
    done
    [ ${#paths[@]} -gt 0 ] || return 0
    echo "stripping (with command $cmd and flags $flags) in ${paths[*]}"
    # shellcheck disable=SC2086
    find "${paths[@]}" -type f -not -path "$prefix/lib/debug/*" -print0 |
        xargs -r -0 -P "$NIX_BUILD_CORES" -n 10 "$cmd" $flags 2>/dev/null || true
}
