# load.py MODULE FUNCTION EXPECTED: dlopen MODULE with RTLD_NOW (every symbol
# bound now, so a library loaded from the wrong place fails here), call
# FUNCTION() and compare with EXPECTED (see c/*.c).
import ctypes
import os
import sys

path, function, expected = sys.argv[1], sys.argv[2], int(sys.argv[3])
module = ctypes.CDLL(path, mode=os.RTLD_NOW | os.RTLD_LOCAL)
got = getattr(module, function)()
if got != expected:
    sys.exit(f"load.py: {function}() in {path} returned {got}, not {expected}")
print(f"load.py: {function}() = {got}")
