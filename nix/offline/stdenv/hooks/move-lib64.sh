# Stand-in for stdenv's default hook move-lib64.sh: a real lib64 directory (not uv's
# `lib64 -> lib` link) is merged into lib and replaced by that link. Knob: dontMoveLib64=1.

fixupOutputHooks+=(_moveLib64)

_moveLib64() {
    if [ "${dontMoveLib64-}" = 1 ]; then return; fi
    if [ ! -e "$prefix/lib64" ] || [ -L "$prefix/lib64" ]; then return; fi
    echo "moving $prefix/lib64/* to $prefix/lib"
    mkdir -p "$prefix/lib"
    shopt -s dotglob
    local i
    for i in "$prefix"/lib64/*; do
        mv --no-clobber "$i" "$prefix/lib"
    done
    shopt -u dotglob
    rmdir "$prefix/lib64"
    ln -s lib "$prefix/lib64"
}
