# Stand-in for the setup hook of nixpkgs' patchelf, which the Linux stdenv puts first among
# its default inputs: every ELF file of each output gets `patchelf --shrink-rpath`, which
# drops each RUNPATH directory that provides none of the file's DT_NEEDED libraries (a
# directory that does not exist among them). It is the first fixupOutput hook.
# Knob: dontPatchELF.

fixupOutputHooks+=('if [ -z "${dontPatchELF-}" ]; then patchELF "$prefix"; fi')

patchELF() {
    local dir="$1" i
    [ -e "$dir" ] || return 0
    echo "shrinking RPATHs of ELF executables and libraries in $dir"
    while IFS= read -r -d $'\0' i; do
        if [[ "$i" =~ .build-id ]]; then continue; fi
        if ! isELF "$i"; then continue; fi
        echo "shrinking $i"
        patchelf --shrink-rpath "$i" || true
    done < <(find "$dir" -type f -print0)
}
