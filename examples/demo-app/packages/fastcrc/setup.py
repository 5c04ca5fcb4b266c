"""fastcrc's C extension links against libcrcutil, found through CRCUTIL_PREFIX (a directory
with include/crcutil.h and lib/libcrcutil.so, e.g. the crcutil store path). The prefix's lib/
goes on the module's RUNPATH, so it loads from there without LD_LIBRARY_PATH."""

import os

from setuptools import Extension, setup

prefix = os.environ.get("CRCUTIL_PREFIX")
if not prefix:
    raise SystemExit(
        "fastcrc: set CRCUTIL_PREFIX to the directory holding include/crcutil.h and "
        "lib/libcrcutil.so"
    )

setup(
    ext_modules=[
        Extension(
            "fastcrc._fastcrc",
            sources=["src/fastcrc/_fastcrc.c"],
            include_dirs=[os.path.join(prefix, "include")],
            library_dirs=[os.path.join(prefix, "lib")],
            runtime_library_dirs=[os.path.join(prefix, "lib")],
            libraries=["crcutil"],
            # Reproducible bytes, so the fixed-output derivation has one hash:
            #   -g0: Python's CFLAGS have -g, and DWARF records the build directory, which
            #        differs between builds;
            #   --build-id=none: ld's build id hashes the whole output, the RUNPATH (the
            #        crcutil store path, before it is stripped) included.
            extra_compile_args=["-g0"],
            extra_link_args=["-Wl,--build-id=none", "-Wl,--enable-new-dtags"],
        )
    ],
)
