# Stand-in for stdenv's default hook patch-shebangs.sh: in each output, an executable
# script's `#!` line is pointed at the interpreter of that name found on HOST_PATH (the
# build's inputs; PATH for the dev output), `/usr/bin/env NAME` included. Interpreters
# already in the store are kept. Knob: dontPatchShebangs.

fixupOutputHooks+=(patchShebangsAuto)

patchShebangs() {
    local pathName=HOST_PATH
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --host) pathName=HOST_PATH; shift ;;
            --build) pathName=PATH; shift ;;
            --) shift; break ;;
            -*) echo "Unknown option $1 supplied to patchShebangs" >&2; return 1 ;;
            *) break ;;
        esac
    done
    local f firstLine oldPath args newPath
    while IFS= read -r -d $'\0' f; do
        isScript "$f" || continue
        read -r firstLine <"$f" || true
        firstLine=${firstLine#\#!}
        read -r oldPath args <<<"$firstLine" || true
        [ -n "$oldPath" ] || oldPath=/bin/sh
        if [[ $oldPath == "$NIX_STORE"/* ]]; then continue; fi
        if [[ $oldPath == */bin/env ]]; then
            local name=${args%% *}
            [[ $args == "$name "* ]] && args=${args#"$name "} || args=
            newPath="$(PATH="${!pathName}" type -P "$name" || true)"
        else
            newPath="$(PATH="${!pathName}" type -P "$(basename "$oldPath")" || true)"
        fi
        [ -n "$newPath" ] || continue
        local newLine="#!$newPath${args:+ $args}"
        if [ "#!$firstLine" != "$newLine" ]; then
            echo "$f: interpreter directive changed from \"#!$firstLine\" to \"$newLine\""
            local mtime tmp
            mtime=$(stat -c %y "$f")
            tmp=$(mktemp)
            { echo "$newLine"; tail -n +2 "$f"; } >"$tmp"
            chmod u+w "$f"
            cat "$tmp" >"$f"
            rm -f "$tmp"
            touch --date "$mtime" "$f"
        fi
    done < <(find "$@" -type f -perm -0100 -print0)
}

patchShebangsAuto() {
    if [[ -z "${dontPatchShebangs-}" && -e "$prefix" ]]; then
        if [[ "$output" != out && "$output" = "$outputDev" ]]; then
            patchShebangs --build "$prefix"
        else
            patchShebangs --host "$prefix"
        fi
    fi
}
