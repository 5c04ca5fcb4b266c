"""demo-cli: one line per dependency, showing that each works from the Nix-built venv."""

import os
import sys
import zlib
from importlib.metadata import version

import fastcrc
import markupsafe
import pygments
import yaml
from pygments.lexers import get_all_lexers


def _extension(module_name):
    """Where an extension module was loaded from, relative to the venv, or None."""
    path = getattr(sys.modules.get(module_name), "__file__", None) or ""
    if not path.endswith(".so"):
        return None
    return os.path.relpath(path, sys.prefix)


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    data = (" ".join(args) if args else "fixup-hooks").encode()

    crc = fastcrc.crc32(data)
    if crc != zlib.crc32(data):
        print(f"demo-cli: fastcrc gave {crc:#010x}, zlib {zlib.crc32(data):#010x}", file=sys.stderr)
        return 1
    lib = fastcrc.library_path()
    if not lib or not lib.startswith("/nix/store/"):
        print(f"demo-cli: libcrcutil was loaded from {lib!r}, not from the store", file=sys.stderr)
        return 1

    escaped = markupsafe.escape("<b>fixup & hooks</b>")
    doc = yaml.safe_load("tools: [strip-store-refs, patch-rpaths, fix-venv]")
    print(f"demo-cli: python {sys.version.split()[0]}, venv {sys.prefix}")
    print(f"demo-cli: fastcrc.crc32({data.decode()!r}) = {crc:#010x} (zlib agrees), "
          f"{fastcrc.library_version()} from {lib}")
    print(f"demo-cli: markupsafe {version('markupsafe')}: {escaped} "
          f"({_extension('markupsafe._speedups') or 'pure Python'})")
    print(f"demo-cli: pyyaml {version('pyyaml')}: {doc} "
          f"({_extension('yaml._yaml') if yaml.__with_libyaml__ else 'pure Python'})")
    print(f"demo-cli: pygments {pygments.__version__}: {len(list(get_all_lexers()))} lexers")
    return 0
