#!/usr/bin/env python3
"""Writes the tiny hand-made ELF64 shared objects used as regression inputs.

    python3 fuzz/regressions/tiny_elf.py   (from the repository root)

Each is one PT_LOAD covering the whole file plus PT_DYNAMIC, a .dynamic with
STRTAB/STRSZ/RUNPATH/SYMTAB/SYMENT/HASH, a string table and a 2-entry .dynsym; one field
is then set to a hostile value. elf_plan inputs get the RUNPATH trailer appended
(value, its length byte, flags byte: 0 = set RUNPATH, 1 = set the interpreter).
"""
import struct, pathlib

def tiny_elf(syment=24, nchain=2, interp=None, verneednum=None):
    """interp: (file offset, size) of an extra PT_INTERP, which may point anywhere.
    verneednum: add DT_VERNEED (one all-zero Elf64_Verneed: vn_next = 0) with this count."""
    phnum = 3 if interp else 2
    dyn_off = 64 + phnum * 56
    strtab = b"\0/old/path\0"
    n_dyn = 8 if verneednum is None else 10
    str_off = dyn_off + n_dyn * 16
    hash_off = str_off + len(strtab)
    hash_off += (-hash_off) % 8
    hashtab = struct.pack("<IIII", 1, nchain, 0, 0)
    sym_off = hash_off + len(hashtab)
    symtab = bytes(2 * 24)
    verneed = bytes(16) if verneednum is not None else b""
    vn_off = sym_off + len(symtab)
    size = vn_off + len(verneed)
    dyn = [(5, str_off), (10, len(strtab)), (29, 1), (6, sym_off), (11, syment),
           (4, hash_off)]
    if verneednum is not None:
        dyn += [(0x6FFFFFFE, vn_off), (0x6FFFFFFF, verneednum)]
    dyn += [(0, 0), (0, 0)]
    ehdr = b"\x7fELF\x02\x01\x01" + bytes(9) + struct.pack(
        "<HHIQQQIHHHHHH", 3, 62, 1, 0, 64, 0, 0, 64, 56, phnum, 64, 0, 0)
    load = struct.pack("<IIQQQQQQ", 1, 4, 0, 0, 0, size, size, 0x1000)
    dynph = struct.pack("<IIQQQQQQ", 2, 4, dyn_off, dyn_off, dyn_off, n_dyn * 16, n_dyn * 16, 8)
    out = bytearray(ehdr + load + dynph)
    if interp:
        off, n = interp
        out += struct.pack("<IIQQQQQQ", 3, 4, off, off, off, n, n, 1)
    out += b"".join(struct.pack("<QQ", t, v) for t, v in dyn)
    out += strtab
    out += bytes(hash_off - len(out)) + hashtab + symtab + verneed
    assert len(out) == size
    return bytes(out)

def with_change(elf, value=b"/a", flags=0):
    return elf + value + bytes([len(value), flags])

here = pathlib.Path(__file__).parent
# DT_SYMENT = 2^63: `count * entsize` in elf/refs.rs dynsym_names overflows.
huge = tiny_elf(syment=1 << 63)
(here / "elf_parse" / "dynsym-count-times-syment-overflow").write_bytes(huge)
(here / "elf_plan" / "dynsym-count-times-syment-overflow").write_bytes(with_change(huge))
# DT_SYMENT = 0 and DT_HASH nchain = 0xffffffff: dynsym_names pushes 2^32 string offsets
# (32 GiB) without reading past anything; an out-of-memory abort in release builds too.
zero = tiny_elf(syment=0, nchain=0xFFFFFFFF)
(here / "elf_parse" / "dynsym-zero-syment-huge-count").write_bytes(zero)
(here / "elf_plan" / "dynsym-zero-syment-huge-count").write_bytes(with_change(zero))
# PT_INTERP's bytes are the PT_LOAD header's p_flags (R = 04 00 00 00: interpreter "\x04").
# Setting a shorter interpreter in place rewrites p_flags to "/a\0\0" = 0x612f: the only
# segment becomes RWX (plus junk bits), and apply's self-check accepts the file.
clobber = tiny_elf(interp=(64 + 4, 4))
(here / "elf_plan" / "interp-overlaps-phdr-table").write_bytes(with_change(clobber, b"/a", 1))
# DT_VERNEEDNUM = 2^63 and vn_next = 0: verneed_names re-reads the same entry forever, pushing
# one string offset each time (out of memory; the same with DT_VERDEFNUM / vd_next = 0).
vn = tiny_elf(verneednum=1 << 63)
(here / "elf_parse" / "verneed-next-zero-huge-count").write_bytes(vn)
(here / "elf_plan" / "verneed-next-zero-huge-count").write_bytes(with_change(vn))
