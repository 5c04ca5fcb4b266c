"""CRC-32 through libcrcutil, a C library in its own store path."""

from fastcrc._fastcrc import crc32, library_version

__all__ = ["crc32", "library_version", "library_path"]


def library_path():
    """The file libcrcutil was loaded from (read from /proc/self/maps), or None."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and "/libcrcutil.so" in fields[5]:
                return fields[5].strip()
    return None
