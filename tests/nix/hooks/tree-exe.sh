# $out/bin/hello, an executable that prints "foo=N" from libfoo ($foo/lib), linked the way a
# stripped FOD's executable comes: its program interpreter $placeholderInterpreter
# (/nix/store/eeee…-glibc-host/lib/ld-linux-x86-64.so.2) and its RUNPATH $placeholderRunpath
# (/nix/store/eeee…-hooks-foo/lib) name store paths whose hashes were erased. The real ones
# are as long, so patch-rpaths can rewrite both in place: a gcc PIE has no spare (PT_NULL)
# program header for a segment to grow into. It cannot run before it is patched.
mkdir -p "$out/bin"
cd "$TMPDIR"
cat > hello.c <<'C'
#include <stdio.h>
int foo(void);
int main(void) { printf("foo=%d\n", foo()); return 0; }
C
gcc -O2 -Wl,--build-id=none -o "$out/bin/hello" hello.c \
    -Wl,--dynamic-linker="$placeholderInterpreter" \
    -L"$foo/lib" -lfoo -Wl,--enable-new-dtags -Wl,-rpath,"$placeholderRunpath"
