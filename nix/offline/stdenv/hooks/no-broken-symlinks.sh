# Stand-in for stdenv's default hook no-broken-symlinks.sh: after fixup, every symlink in an
# output that points into the store must point at something that exists, and none may point
# into the build directory or at itself; otherwise the build fails, naming each link.
# Knob: dontCheckForBrokenSymlinks (read when the hook runs).

if ((${noBrokenSymlinksHookInstalled:-0} > 0)); then
    return 0
fi
declare -ig noBrokenSymlinksHookInstalled=1

# Links are often made in postFixup; this runs there too.
postFixupHooks+=(noBrokenSymlinksInAllOutputs)

noBrokenSymlinks() {
    local -r output="${1:?}"
    local path target
    local -i dangling=0 reflexive=0 unreadable=0
    [[ -e $output ]] || return 0
    while IFS= read -r -d $'\0' path; do
        if ! target=$(readlink -- "$path"); then
            nixErrorLog "the symlink $path is unreadable"
            unreadable+=1
            continue
        fi
        if [[ $target != /* ]]; then
            target=$(realpath --no-symlinks --canonicalize-missing -- "$(dirname -- "$path")/$target")
        fi
        if [[ $target == "$TMPDIR"/* ]]; then
            nixErrorLog "the symlink $path points to the \$TMPDIR directory: $target"
            dangling+=1
        elif [[ $target != "$NIX_STORE"/* ]]; then
            continue
        elif [[ $path == "$target" ]]; then
            nixErrorLog "the symlink $path is reflexive $target"
            reflexive+=1
        elif [[ ! -e $target ]]; then
            nixErrorLog "the symlink $path points to a missing target: $target"
            dangling+=1
        fi
    done < <(find "$output" -type l -print0)
    if ((dangling > 0 || reflexive > 0 || unreadable > 0)); then
        nixErrorLog "found $dangling dangling symlinks, $reflexive reflexive symlinks and $unreadable unreadable symlinks"
        exit 1
    fi
}

noBrokenSymlinksInAllOutputs() {
    if [[ -z ${dontCheckForBrokenSymlinks-} ]]; then
        local output
        for output in $(getAllOutputNames); do
            noBrokenSymlinks "${!output}"
        done
    fi
}
