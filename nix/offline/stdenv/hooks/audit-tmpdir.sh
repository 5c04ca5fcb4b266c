# Stand-in for stdenv's default hook audit-tmpdir.sh: an ELF file whose RUNPATH names the
# build directory ($TMPDIR) fails the build. Knob: noAuditTmpdir.

fixupOutputHooks+=('if [[ -z "${noAuditTmpdir-}" && -e "$prefix" ]]; then auditTmpdir "$prefix"; fi')

auditTmpdir() {
    local dir="$1" i bad=0
    [ -e "$dir" ] || return 0
    echo "checking for references to $TMPDIR/ in $dir..."
    while IFS= read -r -d $'\0' i; do
        isELF "$i" || continue
        if { printf :; patchelf --print-rpath "$i" 2>/dev/null; } | grep -q -F ":$TMPDIR/"; then
            echo "RPATH of binary $i contains a forbidden reference to $TMPDIR/"
            bad=1
        fi
    done < <(find "$dir" -type f -not -path '*/.build-id/*' -print0)
    if [ "$bad" = 1 ]; then
        echo "Some binaries contain forbidden references to $TMPDIR/. Check the error above!"
        exit 1
    fi
}
