#!/usr/bin/env python3
"""The checking half of scripts/elf-corpus (run it through that script).

Given a pristine corpus (OUT/pristine/<source>/...), it
  1. takes a baseline of every ELF file: readelf -W -d -l -S (warnings, dynamic
     entries, R(UN)PATH), patchelf --print-rpath, nm -D --defined-only, and for
     shared objects a load in a forked child (dlopen RTLD_NOW, then dlsym/dlvsym
     of every defined exported symbol), plus strip -g on a copy and a load of it;
  2. case A: a copy of the corpus patched by patch-rpaths with a long
     --append-rpath directory (longer RUNPATH);
  3. case B: a copy patched with a real store directory, stripped with
     strip-store-refs (the entry becomes /nix/store/eeee...-NAME/lib), and patched
     again, which restores the same string in place (equal length);
  4. checks every file of both cases against its baseline and writes the tables.

Must run under the Python that the wheels are for (3.11): the extension modules
are loaded into forked children of this process.
"""

import argparse
import collections
import ctypes
import hashlib
import json
import multiprocessing
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import time

# ---------------------------------------------------------------------------
# ELF header sniffing (no dependency on pyelftools)

PT_INTERP = 3
PT_DYNAMIC = 2


def elf_kind(path):
    """None if not ELF, else dict(cls, machine, etype, interp, dynamic)."""
    try:
        with open(path, "rb") as f:
            h = f.read(64)
            if len(h) < 52 or h[:4] != b"\x7fELF":
                return None
            cls, data = h[4], h[5]
            end = "<" if data == 1 else ">"
            etype, machine = struct.unpack(end + "HH", h[16:20])
            if cls == 2:
                phoff, = struct.unpack(end + "Q", h[32:40])
                phentsize, phnum = struct.unpack(end + "HH", h[54:58])
            else:
                phoff, = struct.unpack(end + "I", h[28:32])
                phentsize, phnum = struct.unpack(end + "HH", h[42:46])
            interp = dynamic = False
            if phnum and phentsize:
                f.seek(phoff)
                ph = f.read(phentsize * phnum)
                for i in range(phnum):
                    if len(ph) < (i + 1) * phentsize:
                        break
                    e = ph[i * phentsize:(i + 1) * phentsize]
                    t, = struct.unpack(end + "I", e[:4])
                    filesz, = (struct.unpack(end + "Q", e[32:40]) if cls == 2 else struct.unpack(end + "I", e[16:20]))
                    interp |= t == PT_INTERP
                    # A separate debug file (lib/debug/.build-id/*.debug) keeps a PT_DYNAMIC
                    # whose bytes are NOBITS: not a library.
                    dynamic |= t == PT_DYNAMIC and filesz > 0
            return dict(cls=cls, machine=machine, etype=etype, interp=interp, dynamic=dynamic)
    except OSError:
        return None


def is_shared_object(name, kind):
    """What dlopen can take: ET_DYN, dynamic (PT_DYNAMIC with bytes in the file),
    and a library (named *.so* or no PT_INTERP)."""
    return (kind["etype"] == 3 and kind["dynamic"]
            and (".so" in name or not kind["interp"]))


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------------
# Copying the machine's /usr/lib shared objects


def copy_usr_lib(src, dest, max_bytes):
    """Copy every ELF shared object under src (<= max_bytes) into dest, same
    relative paths, and the symlinks that lead to one of them (so sonames
    resolve inside the copy too). Originals are only read."""
    copied = skipped_big = links = debug_files = 0
    big = []
    targets = set()
    for root, dirs, files in os.walk(src):
        dirs.sort()
        for name in sorted(files):
            p = os.path.join(root, name)
            if os.path.islink(p) or not os.path.isfile(p):
                continue
            k = elf_kind(p)
            if k and k["machine"] == 62 and k["etype"] == 3 and not k["dynamic"]:
                debug_files += 1  # e.g. lib/debug/.build-id/*.debug: no dynamic bytes
            if not k or k["machine"] != 62 or not is_shared_object(name, k):
                continue
            size = os.path.getsize(p)
            rel = os.path.relpath(p, src)
            if size > max_bytes:
                skipped_big += 1
                big.append((rel, size))
                continue
            d = os.path.join(dest, rel)
            os.makedirs(os.path.dirname(d), exist_ok=True)
            shutil.copy2(p, d)
            targets.add(os.path.realpath(p))
            copied += 1
    for root, dirs, files in os.walk(src):
        for name in files:
            p = os.path.join(root, name)
            if not os.path.islink(p):
                continue
            real = os.path.realpath(p)
            if real not in targets:
                continue
            rel = os.path.relpath(p, src)
            d = os.path.join(dest, rel)
            os.makedirs(os.path.dirname(d), exist_ok=True)
            target = os.readlink(p)
            if os.path.isabs(target):
                target = os.path.relpath(os.path.join(dest, os.path.relpath(real, src)), os.path.dirname(d))
            if not os.path.lexists(d):
                os.symlink(target, d)
                links += 1
    return dict(copied=copied, skipped_big=big, links=links, debug_files_skipped=debug_files)


# ---------------------------------------------------------------------------
# Per-file probes (run in pool workers)

LIBC = None


def _worker_init():
    global LIBC
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    LIBC = ctypes.CDLL(None)
    LIBC.dlsym.restype = ctypes.c_void_p
    LIBC.dlsym.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    LIBC.dlvsym.restype = ctypes.c_void_p
    LIBC.dlvsym.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]


def run(cmd, timeout=600):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


CHECKED_TYPES = set("TDBRVWGSiu")


def nm_symbols(path):
    """Defined exported dynamic symbols: [(name, version or '', hidden)], and
    the raw 'type name' lines (to compare the table before and after)."""
    rc, out, err = run(["nm", "-D", "--defined-only", path])
    syms, raw = [], []
    for line in out.splitlines():
        parts = line.split(None, 2)
        if len(parts) < 3:
            continue
        _, typ, name = parts
        raw.append(typ + " " + name)
        if typ not in CHECKED_TYPES:
            continue
        if "@@" in name:
            base, ver = name.split("@@", 1)
            syms.append((base, ver, False))
        elif "@" in name and not name.startswith("@"):
            base, ver = name.split("@", 1)
            syms.append((base, ver, True))
        else:
            syms.append((name, "", False))
    return syms, sorted(raw), (err.strip() if rc else "")


def _load_in_child(path, syms, wfd):
    try:
        lib = ctypes.CDLL(path, mode=os.RTLD_NOW | os.RTLD_LOCAL)
    except OSError as e:
        return {"ok": False, "error": str(e)}
    h = lib._handle
    missing = []
    for name, ver, hidden in syms:
        if hidden:
            a = LIBC.dlvsym(h, name.encode(), ver.encode())
        else:
            a = LIBC.dlsym(h, name.encode())
        if not a:
            missing.append(name + ("@" + ver if hidden else ""))
    return {"ok": True, "nsyms": len(syms), "missing": missing}


def load_check(path, syms, timeout=120):
    """dlopen(path, RTLD_NOW) and dlsym every symbol, in a forked child so that a
    crash, an exit() in a constructor or a hang touches nothing else."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.close(r)
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
            signal.alarm(timeout)
            res = _load_in_child(path, syms, w)
            data = json.dumps(res).encode()
        except BaseException as e:  # noqa: BLE001
            data = json.dumps({"ok": False, "error": "checker: %r" % (e,)}).encode()
        try:
            view = memoryview(data)
            while view:
                n = os.write(w, view)
                view = view[n:]
        finally:
            os._exit(0)
    os.close(w)
    chunks = []
    deadline = time.monotonic() + timeout + 30
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            os.kill(pid, signal.SIGKILL)
            break
        rl, _, _ = select.select([r], [], [], left)
        if not rl:
            continue
        b = os.read(r, 1 << 16)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    data = b"".join(chunks)
    if data:
        try:
            return json.loads(data)
        except ValueError:
            pass
    if os.WIFSIGNALED(status):
        return {"ok": False, "error": "child killed by signal %d (%s)" % (
            os.WTERMSIG(status), signal.Signals(os.WTERMSIG(status)).name)}
    return {"ok": False, "error": "child exited with status %d before reporting" % os.WEXITSTATUS(status)}


DYN_RE = re.compile(r"^\s*0x[0-9a-fA-F]+\s+\((\w+)\)\s+(.*)$")
VOLATILE_TAGS = {"RUNPATH", "RPATH", "STRTAB", "STRSZ", "NULL"}
# Tables a grown program header table may move into the new segment: their addresses may
# change, their contents (the section that starts there) may not.
MOVABLE_TAGS = {"GNU_HASH", "HASH", "SYMTAB", "VERSYM", "VERNEED", "VERDEF", "RELA", "REL",
                "JMPREL", "RELR"}


def section_digests(path):
    """{address: sha256 of the bytes} of every allocated section with file bytes (ELF64 LE)."""
    with open(path, "rb") as f:
        b = f.read()
    if b[:4] != b"\x7fELF" or b[4] != 2 or b[5] != 1:
        return {}
    shoff, = struct.unpack_from("<Q", b, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", b, 0x3a)
    out = {}
    for i in range(shnum):
        _, typ, flags, addr, off, size = struct.unpack_from("<IIQQQQ", b, shoff + i * shentsize)
        if flags & 2 and typ != 8 and size:
            out[addr] = hashlib.sha256(b[off:off + size]).hexdigest()[:16]
    return out


def readelf_probe(path):
    rc, out, err = run(["readelf", "-W", "-d", "-l", "-S", path])
    warnings = []
    for line in err.splitlines():
        line = line.strip()
        if not line:
            continue
        warnings.append(line.replace(path, "FILE"))
    runpath = rpath = None
    dyn = []
    digests = None
    for line in out.splitlines():
        m = DYN_RE.match(line)
        if not m:
            continue
        tag, val = m.group(1), m.group(2).strip()
        if tag == "RUNPATH":
            runpath = re.sub(r"^Library runpath: \[(.*)\]$", r"\1", val)
        elif tag == "RPATH":
            rpath = re.sub(r"^Library rpath: \[(.*)\]$", r"\1", val)
        if tag in MOVABLE_TAGS:
            digests = digests if digests is not None else section_digests(path)
            try:
                val = "table " + digests.get(int(val, 16), "at " + val)
            except ValueError:
                pass
        if tag not in VOLATILE_TAGS:
            dyn.append(tag + " " + val)
    value = runpath if runpath is not None else rpath
    return {"rc": rc, "warnings": warnings, "runpath": runpath, "rpath": rpath,
            "value": value, "dyn": dyn}


def patchelf_probe(path):
    rc, out, err = run(["patchelf", "--print-rpath", path])
    return {"rc": rc, "value": out.rstrip("\n"), "warnings": [l.replace(path, "FILE") for l in err.splitlines() if l.strip()]}


def strip_probe(path, loadable, syms):
    """strip -g on a copy beside the file ($ORIGIN must keep meaning the same
    directory), then load the stripped copy. The copy is removed."""
    d, name = os.path.split(path)
    tmp = os.path.join(d, ".elf-corpus-strip-" + name)
    shutil.copy2(path, tmp)
    try:
        before = sha256(tmp)
        rc, out, err = run(["strip", "-g", tmp])
        # strip writes through a temporary stXXXXXX beside the file; its name varies
        res = {"rc": rc, "stderr": [re.sub(r"\S*/st[A-Za-z0-9]{6}\b", "TMP", l.replace(tmp, "FILE"))
                                    for l in err.splitlines() if l.strip()]}
        if rc != 0:
            res["outcome"] = "failed, file unchanged" if sha256(tmp) == before else "failed, FILE MODIFIED"
            return res
        res["outcome"] = "ok"
        re_ = readelf_probe(tmp)
        res["readelf_warnings"] = re_["warnings"]
        res["value"] = re_["value"]
        if loadable:
            res["load"] = load_check(tmp, syms)
        return res
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def task_baseline(args):
    path, loadable = args
    syms, raw, nm_err = nm_symbols(path)
    res = {"sha": sha256(path), "syms": syms, "nm": raw, "nm_err": nm_err,
           "readelf": readelf_probe(path), "patchelf": patchelf_probe(path)}
    if loadable:
        res["load"] = load_check(path, syms)
    res["strip"] = strip_probe(path, loadable and res["load"]["ok"], syms)
    return path, res


def task_verify(args):
    path, loadable, syms, do_strip = args
    res = {"sha": sha256(path), "readelf": readelf_probe(path), "patchelf": patchelf_probe(path)}
    _, raw, _ = nm_symbols(path)
    res["nm"] = raw
    if loadable:
        res["load"] = load_check(path, syms)
    if do_strip:
        res["strip"] = strip_probe(path, loadable, syms)
    return path, res


def task_control(args):
    """Same RUNPATH written by patchelf on a pristine copy beside the patched
    file: does that load? Tells a bad RUNPATH value from a bad write."""
    pristine, case_path, value, is_rpath, syms = args
    d, name = os.path.split(case_path)
    tmp = os.path.join(d, ".elf-corpus-control-" + name)
    shutil.copy2(pristine, tmp)
    try:
        cmd = ["patchelf", "--set-rpath", value, tmp]
        if is_rpath:
            cmd.insert(1, "--force-rpath")
        rc, out, err = run(cmd)
        if rc != 0:
            return case_path, {"ok": None, "error": "patchelf failed: " + err.strip()}
        return case_path, load_check(tmp, syms)
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def task_control_strip(args):
    """strip -g on patchelf's write of the same RUNPATH (a pristine copy): is a
    strip failure ours, or does any RUNPATH growth do it?"""
    pristine, case_path, value, is_rpath = args
    d, name = os.path.split(case_path)
    tmp = os.path.join(d, ".elf-corpus-control-strip-" + name)
    shutil.copy2(pristine, tmp)
    try:
        cmd = ["patchelf", "--set-rpath", value, tmp]
        if is_rpath:
            cmd.insert(1, "--force-rpath")
        rc, out, err = run(cmd)
        if rc != 0:
            return case_path, "patchelf failed"
        rc, out, err = run(["strip", "-g", tmp])
        return case_path, "ok" if rc == 0 else "failed"
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass


# ---------------------------------------------------------------------------
# Driving the tools


def tool_run(cmd, log_path, accept=(0,)):
    t0 = time.monotonic()
    with open(log_path + ".err", "w") as errf:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=errf)
    dt = time.monotonic() - t0
    with open(log_path + ".out", "wb") as f:
        f.write(p.stdout)
    if p.returncode not in accept:
        sys.exit("elf-corpus: %s exited %d (see %s.err)" % (" ".join(cmd), p.returncode, log_path))
    return p.returncode, p.stdout, dt


def patch_report(stdout):
    r = json.loads(stdout)
    patched = {os.path.realpath(e["path"]): e for e in r["patched"]}
    refused, errors = {}, {}
    for e in r["errors"]:
        m = re.search(r": cannot patch: (.*); left untouched$", e["message"])
        if m:
            refused[os.path.realpath(e["path"])] = m.group(1)
        else:
            errors[os.path.realpath(e["path"])] = e["message"]
    return r, patched, refused, errors


def how_class(how):
    """'RUNPATH set in a copy of .dynstr (...); appended PT_LOAD at offset 0x.. (...; PT_NULL slot reused)'
    -> a short class without numbers."""
    parts = []
    for piece in how.split("; appended PT_LOAD"):
        parts.append(piece)
    first = parts[0]
    first = re.sub(r"\(old string not editable in place: .*\)", "(old string shared)", first)
    if len(parts) > 1:
        if "table moved" in parts[1]:
            tail = "program header table moved"
        elif "grown in place" in parts[1]:
            tail = "program header table grown in place"
        else:
            tail = "PT_NULL slot reused"
        return first + " + appended PT_LOAD (" + tail + ")"
    return first


def hash_tree_elves(paths):
    return {p: sha256(p) for p in paths}


# ---------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("copy-usr-lib")
    c.add_argument("src")
    c.add_argument("dest")
    c.add_argument("--max-bytes", type=int, default=200 * 10**6)
    r = sub.add_parser("run")
    r.add_argument("--out", required=True)
    r.add_argument("--sources", required=True, help="comma-separated names under OUT/pristine")
    r.add_argument("--patch-rpaths", required=True)
    r.add_argument("--strip-store-refs", required=True)
    r.add_argument("--libc", required=True)
    r.add_argument("--long-dir", required=True)
    r.add_argument("--store-dir", required=True, help="a real store path's directory for case B")
    r.add_argument("--store-path", required=True, help="that store path (strip-store-refs -t)")
    r.add_argument("--jobs", type=int, default=os.cpu_count())
    r.add_argument("--meta", default="", help="a JSON file with notes for the report (wheels, usr-lib copy)")
    a = ap.parse_args()
    if a.cmd == "copy-usr-lib":
        res = copy_usr_lib(a.src, a.dest, a.max_bytes)
        print(json.dumps(res))
        return 0
    return run_all(a)


def log(msg):
    print("elf-corpus: " + msg, file=sys.stderr, flush=True)


def run_all(a):
    out = os.path.realpath(a.out)
    sources = a.sources.split(",")
    pristine = os.path.join(out, "pristine")
    logs = os.path.join(out, "logs")
    os.makedirs(logs, exist_ok=True)
    meta = json.load(open(a.meta)) if a.meta else {}

    # --- inventory -------------------------------------------------------------------
    inv = {}  # rel -> dict(source, loadable, size)
    for s in sources:
        base = os.path.join(pristine, s)
        for root, dirs, files in os.walk(base):
            dirs.sort()
            for name in sorted(files):
                p = os.path.join(root, name)
                if os.path.islink(p) or not os.path.isfile(p):
                    continue
                k = elf_kind(p)
                if not k:
                    continue
                rel = os.path.relpath(p, pristine)
                inv[rel] = {"source": s, "loadable": k["machine"] == 62 and is_shared_object(name, k),
                            "size": os.path.getsize(p), "x86_64": k["machine"] == 62}
    log("inventory: %d ELF files (%s)" % (len(inv), ", ".join(
        "%s %d" % (s, sum(1 for v in inv.values() if v["source"] == s)) for s in sources)))

    ctx = multiprocessing.get_context("fork")
    pool = ctx.Pool(a.jobs, initializer=_worker_init)

    def pmap(fn, items, what):
        res = {}
        t0 = time.monotonic()
        n = len(items)
        # big files first: they dominate and would otherwise finish last alone
        for i, (k, v) in enumerate(pool.imap_unordered(fn, items, chunksize=1), 1):
            res[k] = v
            if i % 200 == 0 or i == n:
                log("  %s: %d/%d (%.0f s)" % (what, i, n, time.monotonic() - t0))
        return res

    order = sorted(inv, key=lambda r: -inv[r]["size"])

    # --- baseline ----------------------------------------------------------------------
    log("baseline: readelf, patchelf, nm, load, strip -g of every pristine file")
    base = {}
    for path, res in pmap(task_baseline, [(os.path.join(pristine, r), inv[r]["loadable"]) for r in order],
                          "baseline").items():
        base[os.path.relpath(path, pristine)] = res

    # --- case A: longer RUNPATH ----------------------------------------------------------
    cases = {}
    common = ["--report", "json", "--ignore-missing", "*", "--libc", a.libc]
    if a.jobs:
        common += ["-j", str(a.jobs)]

    def fresh(case):
        d = os.path.join(out, case)
        if os.path.exists(d):
            shutil.rmtree(d)
        t0 = time.monotonic()
        subprocess.run(["cp", "-a", "--reflink=auto", pristine, d], check=True)
        log("case %s: copied the corpus in %.0f s" % (case, time.monotonic() - t0))
        return d

    timings = collections.defaultdict(dict)
    dA = fresh("A")
    A = {"patched": {}, "refused": {}, "errors": {}, "reports": {}}
    for s in sources:
        rc, so, dt = tool_run([a.patch_rpaths] + common + ["--append-rpath", a.long_dir, os.path.join(dA, s)],
                              os.path.join(logs, "A-%s-patch" % s), accept=(0, 1))
        r, patched, refused, errors = patch_report(so)
        A["patched"].update(patched)
        A["refused"].update(refused)
        A["errors"].update(errors)
        A["reports"][s] = {k: (len(v) if isinstance(v, list) else v) for k, v in r.items()}
        timings["A"][s] = dt
        log("case A %s: patch-rpaths %.1f s: %d patched, %d refused, %d other errors" % (
            s, dt, len(patched), len(refused), len(errors)))
    cases["A"] = (dA, A)

    # --- case B: equal length, through strip-store-refs ---------------------------------------
    dB = fresh("B")
    B = {"patched": {}, "refused": {}, "errors": {}, "step1": {}, "step1_refused": {}, "reports": {},
         "strip": {}}
    for s in sources:
        rc, so, dt = tool_run([a.patch_rpaths] + common + ["--append-rpath", a.store_dir, os.path.join(dB, s)],
                              os.path.join(logs, "B1-%s-patch" % s), accept=(0, 1))
        r, patched, refused, errors = patch_report(so)
        B["step1"].update(patched)
        B["step1_refused"].update(refused)
        B["errors"].update({k: "step 1: " + v for k, v in errors.items()})
        timings["B1"][s] = dt
        log("case B step 1 %s: patch-rpaths %.1f s: %d patched (%s), %d refused" % (s, dt, len(patched), a.store_dir, len(refused)))
    step1_sha = hash_tree_elves([os.path.join(dB, r) for r in inv])
    for s in sources:
        rc, so, dt = tool_run([a.strip_store_refs, "--report", "json", "-t", a.store_path, os.path.join(dB, s)],
                              os.path.join(logs, "B2-%s-strip" % s))
        sr = json.loads(so)
        B["strip"][s] = {"files_changed": sr["files_changed"], "refs": len(sr["references"]), "seconds": dt}
        timings["B2"][s] = dt
        rc, so, dt = tool_run([a.strip_store_refs, "--check", "-t", a.store_path, os.path.join(dB, s)],
                              os.path.join(logs, "B2-%s-check" % s))
        log("case B step 2 %s: strip-store-refs %.1f s: %d files changed, %d references; --check clean" % (
            s, B["strip"][s]["seconds"], sr["files_changed"], len(sr["references"])))
    stripped_sha = hash_tree_elves([os.path.join(dB, r) for r in inv])
    for s in sources:
        rc, so, dt = tool_run([a.patch_rpaths] + common + ["--append-rpath", a.store_dir, os.path.join(dB, s)],
                              os.path.join(logs, "B3-%s-patch" % s), accept=(0, 1))
        r, patched, refused, errors = patch_report(so)
        B["patched"].update(patched)
        B["refused"].update(refused)
        B["errors"].update({k: "step 3: " + v for k, v in errors.items()})
        B["reports"][s] = {k: (len(v) if isinstance(v, list) else v) for k, v in r.items()}
        timings["B3"][s] = dt
        log("case B step 3 %s: patch-rpaths %.1f s: %d patched, %d refused" % (s, dt, len(patched), len(refused)))
    cases["B"] = (dB, B)

    # --- verify ----------------------------------------------------------------------------
    after = {}
    for case, (d, info) in cases.items():
        log("case %s: checking every file" % case)
        items = []
        for r in order:
            p = os.path.join(d, r)
            loadable = inv[r]["loadable"] and base[r].get("load", {}).get("ok", False)
            items.append((p, loadable, base[r]["syms"], True))
        res = pmap(task_verify, items, "verify " + case)
        after[case] = {os.path.relpath(p, d): v for p, v in res.items()}

    # --- judge -----------------------------------------------------------------------------
    failures = []  # (case, source, rel, category, detail)
    notes = []
    stats = {}
    controls_needed = []
    strip_controls = []

    def fail(case, rel, cat, detail):
        failures.append((case, inv[rel]["source"], rel, cat, detail))

    for case, (d, info) in cases.items():
        for rel in order:
            src = inv[rel]["source"]
            st = stats.setdefault((case, src), collections.Counter())
            b, x = base[rel], after[case][rel]
            p = os.path.realpath(os.path.join(d, rel))
            st["elf"] += 1
            st["shared objects"] += inv[rel]["loadable"]
            loaded_before = inv[rel]["loadable"] and b.get("load", {}).get("ok", False)
            st["loaded before"] += loaded_before
            if p in info["patched"]:
                st["patched"] += 1
                entry = info["patched"][p]
                expected = entry["new_runpath"]
                st["how: " + entry.get("placement", how_class(entry["how"]))
                   + (" + .dynamic moved" if entry.get("dynamic_moved") else "")] += 1
                if case == "A":
                    old = entry.get("old_runpath") or ""
                    if len(expected or "") <= len(old):
                        notes.append((case, src, rel, "new RUNPATH not longer than the old (%d <= %d)" % (len(expected or ""), len(old))))
                if case == "B":
                    s1 = info["step1"].get(p)
                    if entry.get("placement", "in-place") != "in-place":
                        st["B: not in place"] += 1
                        notes.append((case, src, rel, "step 3 was not an in-place write: " + entry["how"]))
                    if s1 is None or s1["new_runpath"] != expected:
                        notes.append((case, src, rel, "step 3 RUNPATH %r differs from step 1's %r" % (expected, s1 and s1["new_runpath"])))
                    same_value = s1 is not None and s1["new_runpath"] == expected
                    if step1_sha[os.path.join(d, rel)] == x["sha"]:
                        st["B: bytes identical to step 1"] += 1
                    elif same_value:
                        fail(case, rel, "equal-length restore not byte-identical to step 1",
                             "sha after step 1 %s, after step 3 %s" % (step1_sha[os.path.join(d, rel)][:12], x["sha"][:12]))
                    else:
                        st["B: step 3 computed another RUNPATH than step 1"] += 1
            else:
                # Not patched (by the last step). What the file must still be: the pristine
                # bytes, or in case B, when step 1 did write it, the stripped bytes.
                written_before = case == "B" and p in info["step1"]
                want_sha = stripped_sha[os.path.join(d, rel)] if written_before else b["sha"]
                expected = (info["step1"][p]["new_runpath"].replace(
                    a.store_path, "/nix/store/" + "e" * 32 + a.store_path[len("/nix/store/") + 32:])
                    if written_before else b["readelf"]["value"])
                if p in info["refused"]:
                    st["refused"] += 1
                    st["refused: " + info["refused"][p]] += 1
                    if written_before:
                        fail(case, rel, "step 3 refused to restore what step 1 wrote", info["refused"][p])
                    if x["sha"] != want_sha:
                        fail(case, rel, "refused but modified", "sha %s -> %s" % (want_sha[:12], x["sha"][:12]))
                elif p in info["errors"]:
                    st["tool errors"] += 1
                    fail(case, rel, "patch-rpaths error", info["errors"][p])
                    if x["sha"] != want_sha:
                        fail(case, rel, "error but modified", "sha changed")
                else:
                    st["unchanged by the tool"] += 1
                    if x["sha"] != want_sha:
                        fail(case, rel, "not reported as patched but modified", "sha changed")
                    if written_before:
                        notes.append((case, src, rel, "patched in step 1 but not restored in step 3"))

            # readelf / patchelf
            re_a, pe_a = x["readelf"], x["patchelf"]
            new_w = list((collections.Counter(re_a["warnings"]) - collections.Counter(b["readelf"]["warnings"])).elements())
            if new_w:
                st["readelf new warnings"] += 1
                fail(case, rel, "readelf warning", "; ".join(new_w[:5]))
            if re_a["value"] != expected:
                st["RUNPATH not as reported"] += 1
                fail(case, rel, "RUNPATH reads back wrong", "readelf %r, patch-rpaths said %r" % (re_a["value"], expected))
            if (pe_a["value"] or "") != (re_a["value"] or ""):
                st["patchelf disagrees"] += 1
                fail(case, rel, "patchelf disagrees with readelf", "patchelf %r (rc %d %s), readelf %r" % (
                    pe_a["value"], pe_a["rc"], "; ".join(pe_a["warnings"][:3]), re_a["value"]))
            new_pw = list((collections.Counter(pe_a["warnings"]) - collections.Counter(b["patchelf"]["warnings"])).elements())
            if new_pw:
                st["patchelf new warnings"] += 1
                fail(case, rel, "patchelf warning", "; ".join(new_pw[:5]))
            if re_a["dyn"] != b["readelf"]["dyn"]:
                st["dynamic entries changed"] += 1
                bb, aa = collections.Counter(b["readelf"]["dyn"]), collections.Counter(re_a["dyn"])
                fail(case, rel, "other dynamic entries changed", "lost %s; gained %s" % (
                    list((bb - aa).elements())[:3], list((aa - bb).elements())[:3]))
            if x["nm"] != b["nm"]:
                st["dynsym changed"] += 1
                fail(case, rel, "nm -D output changed", "%d symbols before, %d after" % (len(b["nm"]), len(x["nm"])))

            # loading
            if loaded_before:
                la = x.get("load", {"ok": False, "error": "not checked"})
                if la["ok"]:
                    st["still loading"] += 1
                    lost = sorted(set(la["missing"]) - set(b["load"]["missing"]))
                    if lost:
                        st["symbols lost"] += 1
                        fail(case, rel, "exported symbols no longer resolve", "%d, e.g. %s" % (len(lost), lost[:5]))
                    else:
                        st["all symbols resolve"] += 1
                else:
                    st["load FAILED"] += 1
                    controls_needed.append((case, rel, la["error"], re_a["value"], re_a["rpath"] is not None and re_a["runpath"] is None))

            # strip -g
            sa = x.get("strip")
            if sa:
                st["strip -g: " + sa["outcome"]] += 1
                sb = b["strip"]
                if sa["outcome"] != "ok":
                    if sa["outcome"] != "failed, file unchanged":
                        fail(case, rel, "strip -g modified the file and failed", "; ".join(sa["stderr"][:3]))
                    elif sb["outcome"] == "ok":
                        st["strip -g fails where the pristine file strips"] += 1
                        notes.append((case, src, rel, "strip -g failed cleanly (the pristine file strips): " + "; ".join(sa["stderr"][:2])))
                        strip_controls.append((case, rel, re_a["value"] or "", re_a["rpath"] is not None and re_a["runpath"] is None))
                else:
                    new_sw = list((collections.Counter(sa["stderr"]) - collections.Counter(sb.get("stderr", []))).elements())
                    if new_sw:
                        st["strip -g new warnings"] += 1
                        notes.append((case, src, rel, "strip -g warned: " + "; ".join(new_sw[:3])))
                    if sa["value"] != re_a["value"]:
                        st["strip -g lost RUNPATH"] += 1
                        fail(case, rel, "RUNPATH changed by strip -g", "%r -> %r" % (re_a["value"], sa["value"]))
                    new_srw = list((collections.Counter(sa["readelf_warnings"]) - collections.Counter(sb.get("readelf_warnings", []))).elements())
                    if new_srw:
                        st["readelf warns on stripped"] += 1
                        fail(case, rel, "readelf warning after strip -g", "; ".join(new_srw[:3]))
                    if loaded_before:
                        stripped_pristine_loads = sb.get("load", {}).get("ok", False)
                        sl = sa.get("load", {"ok": False, "error": "not checked"})
                        if sl["ok"]:
                            st["stripped loads"] += 1
                        elif stripped_pristine_loads:
                            st["stripped does NOT load"] += 1
                            fail(case, rel, "does not load after strip -g", sl["error"])
                        else:
                            st["stripped does not load (nor does stripped pristine)"] += 1

    # controls for load failures: the same value written by patchelf
    if controls_needed:
        log("%d load failures: trying the same RUNPATH written by patchelf on a pristine copy" % len(controls_needed))
        items = [(os.path.join(pristine, rel), os.path.join(cases[case][0], rel), value or "", is_rpath, base[rel]["syms"])
                 for case, rel, err, value, is_rpath in controls_needed]
        ctl = pool.map(task_control, items, chunksize=1)
        ctl = dict(ctl)
        for case, rel, err, value, is_rpath in controls_needed:
            c = ctl[os.path.join(cases[case][0], rel)]
            if c.get("ok"):
                fail(case, rel, "no longer loads (patchelf's write of the same RUNPATH loads)", err)
            else:
                stats[(case, inv[rel]["source"])]["load fails for the RUNPATH value too"] += 1
                fail(case, rel, "no longer loads (so does patchelf's write of the same RUNPATH: the value, not the write)",
                     err + " | control: " + str(c.get("error")))
    if strip_controls:
        log("%d strip -g failures: trying strip -g on patchelf's write of the same RUNPATH" % len(strip_controls))
        items = [(os.path.join(pristine, rel), os.path.join(cases[case][0], rel), value, is_rpath)
                 for case, rel, value, is_rpath in strip_controls]
        ctl = dict(pool.map(task_control_strip, items, chunksize=1))
        for case, rel, value, is_rpath in strip_controls:
            stats[(case, inv[rel]["source"])]["strip -g fails; on patchelf's write: " + ctl[os.path.join(cases[case][0], rel)]] += 1
    pool.close()
    pool.join()

    keep_failures(out, pristine, cases, failures)
    write_report(a, out, sources, inv, base, stats, failures, notes, cases, timings, meta)
    corrupt = [f for f in failures]
    return 1 if corrupt else 0


def keep_failures(out, pristine, cases, failures):
    """Copy each failing file (pristine and as the case left it) to OUT/failures/,
    so it survives the case trees and can become a regression test."""
    dest = os.path.join(out, "failures")
    if os.path.exists(dest):
        shutil.rmtree(dest)
    for case, src, rel, cat, detail in failures:
        for label, root in (("pristine", pristine), (case, cases[case][0])):
            d = os.path.join(dest, label, rel)
            if os.path.exists(d):
                continue
            os.makedirs(os.path.dirname(d), exist_ok=True)
            shutil.copy2(os.path.join(root, rel), d)


def write_report(a, out, sources, inv, base, stats, failures, notes, cases, timings, meta):
    L = []
    w = L.append
    w("### ELF corpus: patch-rpaths' writer on real wheels and /usr/lib")
    w("")
    if meta.get("wheels"):
        w("Wheels (%d with compiled code, cp311 manylinux x86_64, pinned): %s." % (
            len(meta["wheels"]), ", ".join(meta["wheels"])))
    if meta.get("usr_lib"):
        u = meta["usr_lib"]
        w("/usr/lib: %d shared objects copied (ET_DYN with a PT_DYNAMIC that has bytes, named *.so* or without "
          "PT_INTERP), %d symlinks to them; skipped: %d separate debug files (lib/debug/.build-id/*.debug), "
          "and as > 200 MB: %s." % (u["copied"], u["links"], u.get("debug_files_skipped", 0),
                                    ", ".join("%s (%d MB)" % (r, s // 10**6) for r, s in u["skipped_big"]) or "none"))
    w("Machine: %s, %s, binutils %s, patchelf %s." % (
        meta.get("os", "?"), meta.get("kernel", "?"), meta.get("binutils", "?"), meta.get("patchelf", "?")))
    w("")
    w("- **A (longer)**: `patch-rpaths --ignore-missing '*' --libc LIBC "
      "--append-rpath LONG` with LONG a %d-character directory: the RUNPATH becomes the file's "
      "`$ORIGIN` entries + the tree directories that resolve its DT_NEEDED + LONG, longer than any old "
      "one; files without one get a DT_RUNPATH. "
      "Exercises the appended PT_LOAD (a copy of .dynstr) and the spare DT_NULL slot." % len(a.long_dir))
    w("- **B (equal length)**: the same with `--append-rpath %s` (a real store path), then "
      "`strip-store-refs -t` (the entry becomes `/nix/store/eeee…`, same length, written by "
      "strip-store-refs), then patch-rpaths again, which restores the same string in the same span: "
      "the in-place write, on the layout the first write made. The file must come back byte-identical "
      "to step 1." % a.store_dir)
    w("- DT_NEEDED resolve to libraries of the case's own tree (no `--ignore-existing`, which would drop "
      "the directories libraries such as Nix's or systemd's own find each other in), so RUNPATHs name "
      "corpus directories and a load pulls patched copies of its dependencies too (a stronger test). "
      "DT_GNU_HASH, DT_SYMTAB and the other table pointers may change when the tables move out of the "
      "way of a grown program header table; they are compared by the bytes of the section they point "
      "at. A load failure is re-tried "
      "with patchelf writing the same RUNPATH on a pristine copy, to tell a bad value from a bad write; "
      "a strip -g failure likewise with strip -g on patchelf's write.")
    w("- In B, step 3 must give back step 1's bytes wherever it computes the same RUNPATH.")
    w("- Loading: `ctypes.CDLL(path, RTLD_NOW|RTLD_LOCAL)` in a forked child of Python 3.11 per file, then "
      "dlsym (dlvsym for non-default versions) of every defined dynamic symbol `nm -D --defined-only` lists "
      "(types %s); only symbols that resolved before must resolve after. strip -g runs on a copy beside "
      "the file and the copy is loaded too." % "".join(sorted(CHECKED_TYPES)))
    w("")
    keys_main = ["elf", "shared objects", "loaded before", "patched", "refused", "unchanged by the tool", "tool errors",
                 "still loading", "all symbols resolve", "load FAILED", "readelf new warnings", "RUNPATH not as reported",
                 "patchelf disagrees", "patchelf new warnings", "dynamic entries changed", "dynsym changed"]
    for case in cases:
        w("#### case %s" % case)
        w("")
        cols = sources + ["total"]
        tot = collections.Counter()
        for s in sources:
            tot.update(stats.get((case, s), {}))
        allst = {s: stats.get((case, s), collections.Counter()) for s in sources}
        allst["total"] = tot
        w("| | " + " | ".join(cols) + " |")
        w("|---|" + "---:|" * len(cols))
        keys = keys_main + sorted(k for k in tot if k.startswith("strip -g") or k.startswith("stripped") or k.startswith("B:")
                                  or k.startswith("readelf warns") or k.startswith("load fails"))
        for k in keys:
            w("| %s | %s |" % (k, " | ".join(str(allst[c].get(k, 0)) for c in cols)))
        w("")
        hows = sorted(k for k in tot if k.startswith("how: "))
        refs = sorted(k for k in tot if k.startswith("refused: "))
        if hows:
            w("How the files were written (from `--report json`):")
            w("")
            for k in hows:
                w("- %s: %s" % (k[5:], ", ".join("%s %d" % (c, allst[c].get(k, 0)) for c in cols)))
            w("")
        if refs:
            w("Refused (left byte-identical, checked):")
            w("")
            for k in refs:
                w("- %s: %s" % (k[9:], ", ".join("%s %d" % (c, allst[c].get(k, 0)) for c in cols)))
            w("")
    w("Tool times (s): " + "; ".join("%s %s" % (step, ", ".join("%s %.1f" % (s, t) for s, t in v.items()))
                                     for step, v in timings.items()) + " (A = case A patch-rpaths; B1/B3 = case B's patch-rpaths runs; B2 = strip-store-refs).")
    w("")
    # baseline facts
    bl = collections.Counter()
    for rel, b in base.items():
        src = inv[rel]["source"]
        if inv[rel]["loadable"]:
            bl[(src, "loads")] += b["load"]["ok"]
            bl[(src, "does not load")] += not b["load"]["ok"]
        bl[(src, "strip -g: " + b["strip"]["outcome"])] += 1
        if b["readelf"]["warnings"]:
            bl[(src, "readelf warns already")] += 1
        if (b["patchelf"]["value"] or "") != (b["readelf"]["value"] or ""):
            bl[(src, "patchelf/readelf disagree already")] += 1
    w("Baseline (pristine copies): " + "; ".join("%s %s: %d" % (s, k, v) for (s, k), v in sorted(bl.items())) + ".")
    reasons = collections.Counter()
    for rel, b in base.items():
        if inv[rel]["loadable"] and not b["load"]["ok"]:
            e = b["load"]["error"]
            e = re.sub(r"^.*?: ", "", e.replace(os.path.join(out, "pristine") + "/", ""), count=1)
            reasons[e[:110]] += 1
    if reasons:
        w("")
        w("Why pristine files do not load (top): " + "; ".join("%s ×%d" % (k, v) for k, v in reasons.most_common(8)) + ".")
    w("")
    for case in cases:
        tot = collections.Counter()
        for s_ in sources:
            tot.update(stats.get((case, s_), {}))
        n_fail = tot.get("strip -g fails where the pristine file strips", 0)
        if n_fail:
            w("strip -g, case %s: fails (cleanly: the file is left byte-identical, strip exits 1) on %d of the %d "
              "patched files whose pristine copy strips; on patchelf's write of the same RUNPATH it succeeds on %d "
              "of them. The failures are not counted as corruption (the file stays loadable) but a build step that "
              "strips after patch-rpaths keeps its debug info." % (
                  case, n_fail, tot.get("patched", 0), tot.get("strip -g fails; on patchelf's write: ok", 0)))
    w("")
    if failures:
        w("#### failures (%d)" % len(failures))
        w("")
        for case, src, rel, cat, detail in failures:
            w("- [%s] `%s`: **%s** — %s" % (case, rel, cat, detail))
    else:
        w("No failures: every file that loaded before still loads with all its symbols after A and after B, "
          "readelf and patchelf agree and warn of nothing new, refused files are byte-identical, and strip -g "
          "either fails cleanly (above) or leaves a file that loads wherever the stripped pristine file does.")
    w("")
    if notes:
        w("#### notes (%d, grouped; every one in notes.txt)" % len(notes))
        w("")
        groups = collections.OrderedDict()
        for case, src, rel, msg in notes:
            key = (case, re.sub(r"0x[0-9a-f]+|\d+", "N", msg))
            groups.setdefault(key, []).append(rel)
        for (case, msg), rels in groups.items():
            w("- [%s] ×%d %s — e.g. %s" % (case, len(rels), msg, ", ".join("`%s`" % r for r in rels[:3])))
    text = "\n".join(L) + "\n"
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(text)
    with open(os.path.join(out, "notes.txt"), "w") as f:
        for n in notes:
            f.write("\t".join(n) + "\n")
    with open(os.path.join(out, "failures.json"), "w") as f:
        json.dump(failures, f, indent=1)
    sys.stdout.write(text)


if __name__ == "__main__":
    sys.exit(main())
