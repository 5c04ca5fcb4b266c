# Stand-in for stdenv's default hook make-symlinks-relative.sh: an absolute symlink that
# points inside its own output becomes relative (so the output survives being copied).
# Links into other outputs or other store paths stay as they are.
# Knob: dontRewriteSymlinks — read when this file is sourced, as stdenv's current one does.

if [[ -z "${dontRewriteSymlinks-}" ]]; then
    postFixupHooks+=(_makeSymlinksRelative)
fi

_makeSymlinksRelative() {
    local output link target
    for output in $(getAllOutputNames); do
        [ -e "${!output}" ] || continue
        while IFS= read -r -d $'\0' link; do
            target=$(readlink -- "$link")
            if [[ $target == "${!output}"/* ]]; then
                if [ ! -e "$target" ]; then
                    echo "the symlink $link is broken, it points to $target (which is missing)"
                fi
                echo "making symlink relative: $link"
                ln -snrf -- "$target" "$link"
            fi
        done < <(find "${!output}" -type l -print0)
    done
}
