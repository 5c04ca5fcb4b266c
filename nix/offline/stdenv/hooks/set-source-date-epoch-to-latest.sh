# Stand-in for stdenv's default hook set-source-date-epoch-to-latest.sh: after unpacking,
# SOURCE_DATE_EPOCH becomes the mtime of the newest file of the sources, when that is later
# than the default (1980-01-01).

postUnpackHooks+=(_updateSourceDateEpochFromSourceRoot)

_updateSourceDateEpochFromSourceRoot() {
    [ -n "${sourceRoot-}" ] || return 0
    local newest time
    newest=$(find "$sourceRoot" -type f -printf '%T@ %p\n' 2>/dev/null | sort -n | tail -n 1)
    [ -n "$newest" ] || return 0
    time=${newest%%.*}
    if [ "$time" -gt "$SOURCE_DATE_EPOCH" ]; then
        echo "setting SOURCE_DATE_EPOCH to timestamp $time of file ${newest#* }"
        export SOURCE_DATE_EPOCH="$time"
    fi
}
