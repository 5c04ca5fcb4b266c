# Shared pieces of the patch-rpaths integration tests (tests/patch/nix.rs):
# extension modules linked against libraries in store paths, stripped by
# strip-store-refs inside a fixed-output derivation, re-linked by
# patch-rpaths in the derivation that uses them.
#
# nonce      a fresh string per test run; it goes into every derivation's
#            environment (and the FOD's name, fod.nix) so each run builds new
#            store paths and no output of an earlier run stands in for this
#            one. It is NOT in the library packages' names: those names end up
#            in the stripped RUNPATHs (/nix/store/eeee…-libxml2-2.13.8/lib),
#            so the FOD's content, and its hash, are the same in every run.
# stripPath  absolute path of the strip-store-refs binary, and
# patchPath  of the patch-rpaths binary. Each is copied into the store with
#            builtins.path, so a different binary is a different input and
#            rebuilds whatever runs it.
{ nonce, stripPath ? "", patchPath ? "" }:
let lib = import ../lib.nix { inherit nonce; };
in
rec {
  # system, and mkDrv: a plain derivation of a builder script (../lib.nix),
  # which has the host's gcc, readelf, ldd and python3.11 in /usr/bin.
  inherit (lib) system mkDrv;

  # Small shared libraries named like the packages real wheels link against
  # (lib.sh). libxml2 needs liblzma and has xz's lib dir on its RUNPATH; no
  # library needs libxml2, so nothing but `--libs $libxml2/lib` can supply
  # libxml2.so.2 (the negative test relies on that).
  libs = {
    xz = mkDrv "xz-5.6.4" ./lib.sh {
      soname = "liblzma.so.5"; file = "liblzma.so.5.6.4"; link = "liblzma.so";
      src = ./c/lzma.c; needs = "";
    };
    libxml2 = mkDrv "libxml2-2.13.8" ./lib.sh {
      soname = "libxml2.so.2"; file = "libxml2.so.2.13.8"; link = "libxml2.so";
      src = ./c/xml2.c; needs = "${libs.xz}/lib:lzma";
    };
    postgresql = mkDrv "postgresql-15.18-lib" ./lib.sh {
      soname = "libpq.so.5"; file = "libpq.so.5.15"; link = "libpq.so";
      src = ./c/pq.c; needs = "";
    };
  };

  # The C library handed to `patch-rpaths --libc`: COPIES of the host's
  # libc.so.6, libm.so.6 and ld-linux-x86-64.so.2 (glibc.sh). Symlinks into
  # /lib would satisfy the loader and patch-rpaths alike (both follow them),
  # but then the store path would hold nothing of its own and mean something
  # else on every machine; copies make it a self-contained package, like a
  # real glibc, whose ELF headers patch-rpaths reads from the store.
  glibc = mkDrv "glibc-2.36" ./glibc.sh { };

  strip = lib.tool "strip-store-refs" stripPath;
  patch = lib.tool "patch-rpaths" patchPath;
}
