//! Helpers for the crash-safety and fault tests (`crash_kill`, `faults`): a seeded PRNG,
//! tree snapshots with modes, processes watched through /proc, a tmpfs guard, running as an
//! ordinary user, and small ELF fixtures built with gcc.
//!
//! A test module uses it as `crate::support::reliability` (beside `crate::support::common`).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The uid and gid tests switch to when they need an ordinary user (root reads anything).
pub const NOBODY: u32 = 65534;

// ---------------------------------------------------------------------------------------------
// The temporary entries a killed run leaves (src/shared/leftover.rs names them).
// ---------------------------------------------------------------------------------------------

/// Name prefix of strip-store-refs' temporary symlinks (src/strip/rewrite.rs `relink`).
const STRIP_TEMP: &[u8] = b".strip-store-refs.";
/// Infix of patch-rpaths' temporary files (`.NAME.patch-rpaths.PID`).
const PATCH_TEMP: &[u8] = b".patch-rpaths.";

/// A temporary symlink strip-store-refs made beside the one it re-creates.
pub fn is_strip_temp(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.as_bytes().starts_with(STRIP_TEMP))
}

/// A temporary copy patch-rpaths made beside the file it rewrites.
pub fn is_patch_temp(path: &Path) -> bool {
    path.file_name().is_some_and(|n| {
        n.as_bytes().starts_with(b".") && memchr::memmem::find(n.as_bytes(), PATCH_TEMP).is_some()
    })
}

// ---------------------------------------------------------------------------------------------
// Randomness that reproduces.
// ---------------------------------------------------------------------------------------------

/// xorshift64*: tiny, seeded, and the seed is printed so a failure can be replayed with
/// `FIXUP_HOOKS_SEED=<seed>`.
pub struct Rng(u64);

impl Rng {
    /// Seeded from `FIXUP_HOOKS_SEED`, else from the clock; prints the seed for `what`.
    pub fn from_env(what: &str) -> Rng {
        let seed = std::env::var("FIXUP_HOOKS_SEED")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        eprintln!("{what}: seed {seed} (FIXUP_HOOKS_SEED={seed} replays this run)");
        Rng::new(seed)
    }

    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..=max`.
    pub fn upto(&mut self, max: u64) -> u64 {
        if max == u64::MAX {
            self.next_u64()
        } else {
            self.next_u64() % (max + 1)
        }
    }

    /// A duration uniform in `[0, max]`, at microsecond resolution.
    pub fn duration(&mut self, max: Duration) -> Duration {
        Duration::from_micros(self.upto(max.as_micros() as u64))
    }
}

/// `FIXUP_HOOKS_STRICT=1`: the random-kill tests fail on the known bugs they otherwise only
/// report (each known bug also has an ignored test of its own that pins it).
pub fn strict() -> bool {
    std::env::var("FIXUP_HOOKS_STRICT").is_ok_and(|v| v == "1")
}

/// `FIXUP_HOOKS_KILLS`, else `default`.
pub fn kills(default: usize) -> usize {
    std::env::var("FIXUP_HOOKS_KILLS")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(default)
}

// ---------------------------------------------------------------------------------------------
// Trees.
// ---------------------------------------------------------------------------------------------

/// One entry of a tree, as a NAR sees it plus the permission bits (which a NAR reduces to the
/// executable bit, but which the tools promise to keep).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    File {
        bytes: Vec<u8>,
        mode: u32,
    },
    Link(Vec<u8>),
    Dir {
        mode: u32,
    },
    /// FIFOs, sockets, devices.
    Special {
        mode: u32,
    },
}

impl Node {
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Node::File { bytes, .. } => Some(bytes),
            Node::Link(target) => Some(target),
            _ => None,
        }
    }

    pub fn mode(&self) -> Option<u32> {
        match self {
            Node::File { mode, .. } | Node::Dir { mode } | Node::Special { mode } => Some(*mode),
            Node::Link(_) => None,
        }
    }

    /// The same node with permission bits ignored.
    pub fn same_content(&self, other: &Node) -> bool {
        match (self, other) {
            (Node::File { bytes: a, .. }, Node::File { bytes: b, .. }) => a == b,
            (Node::Link(a), Node::Link(b)) => a == b,
            (Node::Dir { .. }, Node::Dir { .. }) => true,
            (Node::Special { .. }, Node::Special { .. }) => true,
            _ => false,
        }
    }
}

/// Every entry under `root` by path relative to it (the root itself is ""), symlinks not
/// followed, contents read.
pub type Tree = BTreeMap<PathBuf, Node>;

pub fn tree(root: &Path) -> Tree {
    let mut all = Tree::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.unwrap_or_else(|e| panic!("walking {}: {e}", root.display()));
        let rel = entry.path().strip_prefix(root).unwrap().to_path_buf();
        let meta = entry.path().symlink_metadata().unwrap();
        let mode = meta.mode() & 0o7777;
        let ft = meta.file_type();
        let node = if ft.is_symlink() {
            Node::Link(
                fs::read_link(entry.path())
                    .unwrap()
                    .as_os_str()
                    .as_bytes()
                    .to_vec(),
            )
        } else if ft.is_file() {
            Node::File {
                bytes: fs::read(entry.path())
                    .unwrap_or_else(|e| panic!("reading {}: {e}", entry.path().display())),
                mode,
            }
        } else if ft.is_dir() {
            Node::Dir { mode }
        } else {
            Node::Special { mode }
        };
        all.insert(rel, node);
    }
    all
}

/// Paths present in `after` but not in `before`, and the other way round.
pub fn added_and_removed(before: &Tree, after: &Tree) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let added = after
        .keys()
        .filter(|p| !before.contains_key(*p))
        .cloned()
        .collect();
    let removed = before
        .keys()
        .filter(|p| !after.contains_key(*p))
        .cloned()
        .collect();
    (added, removed)
}

/// Asserts that `after` holds exactly `before`'s entries and that every entry not in `changed`
/// is identical, bytes and mode: nothing lost, nothing else touched.
pub fn assert_only_changed(before: &Tree, after: &Tree, changed: &[&Path]) {
    let (added, removed) = added_and_removed(before, after);
    assert!(
        added.is_empty() && removed.is_empty(),
        "entries added {added:?}, removed {removed:?}"
    );
    for (path, node) in before {
        if changed.contains(&path.as_path()) {
            continue;
        }
        assert_eq!(
            Some(node),
            after.get(path),
            "{} changed but should not have",
            path.display()
        );
    }
}

/// `cp -a --reflink=auto SRC DST` (DST must not exist): modes, links and sparseness kept.
pub fn copy_tree(src: &Path, dst: &Path) {
    let out = Command::new("cp")
        .args(["-a", "--reflink=auto"])
        .arg(src)
        .arg(dst)
        .output()
        .expect("cp runs");
    assert!(
        out.status.success(),
        "cp -a {} {}: {}",
        src.display(),
        dst.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Gives the owner rwx on every directory under `root`, so that the tree can be removed by
/// anyone who owns it (a test's read-only directories must not outlive it).
pub fn make_dirs_writable(root: &Path) {
    for entry in walkdir::WalkDir::new(root).into_iter().flatten() {
        if entry.file_type().is_dir() {
            let mode = entry.metadata().map(|m| m.mode()).unwrap_or(0o700);
            let _ = fs::set_permissions(entry.path(), fs::Permissions::from_mode(mode | 0o700));
        }
    }
}

/// Gives directories back their write bits when dropped, so that a test's tempdir can be
/// removed by a non-root user too.
pub struct Writable(pub PathBuf);

impl Drop for Writable {
    fn drop(&mut self) {
        make_dirs_writable(&self.0);
    }
}

/// Removes a tree completely, read-only directories included.
pub fn remove_tree(root: &Path) {
    if root.symlink_metadata().is_ok() {
        make_dirs_writable(root);
        fs::remove_dir_all(root).unwrap_or_else(|e| panic!("removing {}: {e}", root.display()));
    }
}

/// `lchown -R uid:gid root`.
pub fn chown_tree(root: &Path, uid: u32, gid: u32) {
    for entry in walkdir::WalkDir::new(root) {
        let entry = entry.unwrap();
        std::os::unix::fs::lchown(entry.path(), Some(uid), Some(gid)).unwrap();
    }
}

pub fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

pub fn mode_of(path: &Path) -> u32 {
    path.symlink_metadata().unwrap().mode() & 0o7777
}

pub fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
}

/// A path with a name made of raw bytes (not UTF-8).
pub fn raw_name(dir: &Path, name: &[u8]) -> PathBuf {
    dir.join(OsStr::from_bytes(name))
}

// ---------------------------------------------------------------------------------------------
// Processes.
// ---------------------------------------------------------------------------------------------

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The same command run as uid/gid 65534 through `setpriv` when we are root (root ignores
/// permission bits, so permission tests would prove nothing); unchanged otherwise.
pub fn as_nobody(cmd: Command) -> Command {
    if !is_root() {
        return cmd;
    }
    let mut wrapped = Command::new("setpriv");
    wrapped
        .arg(format!("--reuid={NOBODY}"))
        .arg(format!("--regid={NOBODY}"))
        .arg("--clear-groups")
        .arg(cmd.get_program());
    wrapped.args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => wrapped.env(k, v),
            None => wrapped.env_remove(k),
        };
    }
    wrapped
}

/// Runs `cmd` to completion, but fails the test (after killing it) if it takes longer than
/// `limit`: a tool that hangs on a FIFO or a symlink loop must not hang the suite.
pub fn run_within(cmd: &mut Command, limit: Duration) -> (Output, Duration) {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tool starts");
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out_pipe.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err_pipe.read_to_end(&mut buf);
        buf
    });
    let status = match wait_within(&mut child, limit) {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{:?} still running after {limit:?}: it hangs", cmd);
        }
    };
    let elapsed = start.elapsed();
    let output = Output {
        status,
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    };
    (output, elapsed)
}

/// Waits for `child` at most `limit`.
pub fn wait_within(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// How many write-family system calls (`write`, `pwrite64`, …) process `pid` has made, from
/// `/proc/PID/io`. None once it is gone.
pub fn write_syscalls(pid: u32) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("syscw:"))
        .and_then(|v| v.trim().parse().ok())
}

/// How many bytes process `pid` has read with read-family system calls (`rchar` in
/// `/proc/PID/io`). None once it is gone.
pub fn read_chars(pid: u32) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("rchar:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Waits until `pid` has read at least `n` bytes (true), or has exited or `limit` passed.
pub fn wait_for_reads(pid: u32, n: u64, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        match read_chars(pid) {
            Some(r) if r >= n => return true,
            Some(_) => std::thread::sleep(Duration::from_micros(200)),
            None => return false,
        }
    }
    false
}

/// Waits until `pid` has made its first write system call (true), or has exited or `limit`
/// passed (false). The tools write nothing before their write phase (their summary comes
/// last), so this marks the moment the tree starts to change.
pub fn wait_for_first_write(pid: u32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        match write_syscalls(pid) {
            Some(n) if n > 0 => return true,
            Some(_) => std::thread::sleep(Duration::from_micros(20)),
            None => return false,
        }
    }
    false
}

/// The children of `pid` (all its threads'), from `/proc/PID/task/*/children`.
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut kids = Vec::new();
    if let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            if let Ok(text) = fs::read_to_string(task.path().join("children")) {
                kids.extend(
                    text.split_whitespace()
                        .filter_map(|s| s.parse::<u32>().ok()),
                );
            }
        }
    }
    kids
}

pub fn sigkill(pid: u32) {
    // SAFETY: sending a signal to a process id we started.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGKILL);
    }
}

/// `strace` on PATH, for the tests that hold a system call open to kill a tool inside a
/// precise window. Those tests say so and pass vacuously when it is missing.
/// strace, which the targeted kills and the window tests need. Missing is a failure (naming
/// what installs it), never a silently skipped test.
pub fn strace() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .map(|d| d.join("strace"))
        .find(|p| p.is_file());
    assert!(
        found.is_some(),
        "strace is not on PATH: scripts/install-deps installs it (apt-get install strace)"
    );
    found
}

/// `strace -f -qq -o LOG -e trace=SYSCALLS -e inject=SYSCALLS:delay_enter=DELAY_US [-P PATH]
/// TOOL ARGS…`: every matching system call of the tool sleeps before it runs.
pub fn under_strace(
    strace: &Path,
    tool: &Command,
    syscalls: &str,
    delay: Duration,
    only_path: Option<&Path>,
    log: &Path,
) -> Command {
    let mut cmd = Command::new(strace);
    cmd.args(["-f", "-qq", "-o"])
        .arg(log)
        .arg("-e")
        .arg(format!("trace={syscalls}"))
        .arg("-e")
        .arg(format!(
            "inject={syscalls}:delay_enter={}",
            delay.as_micros()
        ));
    if let Some(p) = only_path {
        cmd.arg("-P").arg(p);
    }
    cmd.arg(tool.get_program()).args(tool.get_args());
    for (k, v) in tool.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd
}

// ---------------------------------------------------------------------------------------------
// A small filesystem of our own.
// ---------------------------------------------------------------------------------------------

/// A tmpfs of a given size mounted on a directory; unmounted when dropped.
pub struct Tmpfs {
    pub dir: PathBuf,
}

impl Tmpfs {
    /// Mounts `size` (`mount -o size=…`) on `dir`. Err(reason) when mounting is not allowed.
    pub fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size},mode=0755"))
            .arg("tmpfs")
            .arg(dir)
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(Tmpfs {
            dir: dir.to_path_buf(),
        })
    }

    /// Fills the filesystem: writes a file until ENOSPC. Returns its path.
    pub fn fill(&self, name: &str) -> PathBuf {
        use std::io::Write;
        let path = self.dir.join(name);
        let mut f = fs::File::create(&path).unwrap();
        let chunk = vec![0x5au8; 4096];
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => panic!("filling {}: {e}", path.display()),
            }
        }
        let _ = f.sync_all();
        // Whatever partial page is left: top it up byte by byte.
        while let Ok(1) = f.write(&[0x5a]) {}
        path
    }

    /// Bytes still free (statvfs).
    pub fn free(&self) -> u64 {
        let c = std::ffi::CString::new(self.dir.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid path and an out-parameter of the right type.
        unsafe {
            let mut st: libc::statvfs = std::mem::zeroed();
            assert_eq!(libc::statvfs(c.as_ptr(), &mut st), 0);
            st.f_bavail as u64 * st.f_frsize as u64
        }
    }
}

/// A scratch directory `dir` for many short runs: a tmpfs of `size` when mounting is allowed
/// (fast copies, no fsync cost; rename and write semantics are the same), else plain disk.
pub fn scratch(dir: &Path, size: &str) -> Option<Tmpfs> {
    match Tmpfs::mount(dir, size) {
        Ok(t) => Some(t),
        Err(e) => {
            eprintln!(
                "scratch {}: no tmpfs ({}); using the disk",
                dir.display(),
                e.trim()
            );
            fs::create_dir_all(dir).unwrap();
            None
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ELF fixtures (gcc) and oracles (readelf).
// ---------------------------------------------------------------------------------------------

/// The stripped form of a 44-character `/nix/store/<hash>` prefix.
pub const STRIPPED_STORE: &str = "/nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";

pub fn gcc(args: &[&OsStr]) {
    let out = Command::new("gcc").args(args).output().expect("gcc runs");
    assert!(
        out.status.success(),
        "gcc {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A library directory outside the tree and a module needing it, as a FOD leaves it after
/// strip-store-refs: `DT_NEEDED libdep.so.1`, RUNPATH `/nix/store/eeee…-dep-1.0/lib`.
/// patch-rpaths with `--libs <lib_dir> --libc <libc>` points the RUNPATH at `lib_dir`.
pub struct ElfFixture {
    pub lib_dir: PathBuf,
    pub libc: PathBuf,
    /// A module needing patching; copy it where a test wants one.
    pub module: PathBuf,
    /// What patch-rpaths makes of `module` (the new RUNPATH does not depend on where the
    /// module lives, so every copy patches to these bytes).
    pub patched: Vec<u8>,
    /// A module of `big` bytes (a large .rodata), needing the same patch.
    pub big_module: Option<PathBuf>,
}

impl ElfFixture {
    /// Builds everything under `root/elf-fixture`; `big` adds a module of about that size.
    pub fn build(root: &Path, big: Option<usize>) -> ElfFixture {
        let base = root.join("elf-fixture");
        let lib_dir = base.join("dep-1.0/lib");
        fs::create_dir_all(&lib_dir).unwrap();
        let src = base.join("dep.c");
        fs::write(&src, "int dep_value(void) { return 41; }\n").unwrap();
        let lib = lib_dir.join("libdep.so.1");
        gcc(&[
            OsStr::new("-shared"),
            OsStr::new("-fPIC"),
            OsStr::new("-Wl,-soname,libdep.so.1"),
            OsStr::new("-o"),
            lib.as_os_str(),
            src.as_os_str(),
        ]);
        let stripped_rpath = format!("-Wl,-rpath,{STRIPPED_STORE}-dep-1.0/lib");
        let build_module = |name: &str, pad: usize| -> PathBuf {
            let src = base.join(format!("{name}.c"));
            let pad_decl = if pad > 0 {
                format!("const unsigned char padding[{pad}] = {{ 1 }};\nconst unsigned char *pad_ptr(void) {{ return padding; }}\n")
            } else {
                String::new()
            };
            fs::write(
                &src,
                format!(
                    "int dep_value(void);\n{pad_decl}int module_value(void) {{ return dep_value() + 1; }}\n"
                ),
            )
            .unwrap();
            let out = base.join(name);
            let libdir_flag = OsString::from(format!("-L{}", lib_dir.display()));
            gcc(&[
                OsStr::new("-shared"),
                OsStr::new("-fPIC"),
                OsStr::new("-Wl,--enable-new-dtags"),
                OsStr::new(&stripped_rpath),
                OsStr::new("-o"),
                out.as_os_str(),
                src.as_os_str(),
                &libdir_flag,
                OsStr::new("-l:libdep.so.1"),
            ]);
            out
        };
        let module = build_module("module.so", 0);
        let big_module = big.map(|size| build_module("big-module.so", size));
        let libc = libc_dir(&base);

        // The expected result, from a clean run on a copy.
        let reference = base.join("reference");
        fs::create_dir_all(&reference).unwrap();
        let copy = reference.join("module.so");
        fs::copy(&module, &copy).unwrap();
        let out = patch_rpaths_cmd(&lib_dir, &libc)
            .arg(&reference)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "reference patch: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let patched = fs::read(&copy).unwrap();
        assert_ne!(
            patched,
            fs::read(&module).unwrap(),
            "the module needs patching"
        );
        assert_eq!(
            runpath(&copy).as_deref(),
            Some(lib_dir.to_str().unwrap()),
            "patch-rpaths points the module at its library"
        );
        ElfFixture {
            lib_dir,
            libc,
            module,
            patched,
            big_module,
        }
    }

    /// `patch-rpaths --libs LIB_DIR --libc LIBC` (paths still to add).
    pub fn patch_rpaths(&self) -> Command {
        patch_rpaths_cmd(&self.lib_dir, &self.libc)
    }
}

fn patch_rpaths_cmd(lib_dir: &Path, libc: &Path) -> Command {
    let mut cmd = super::common::tool("patch-rpaths");
    cmd.arg("--libs").arg(lib_dir).arg("--libc").arg(libc);
    cmd
}

/// A libc directory holding only glibc's libraries (symlinks to the machine's), as a Nix
/// glibc output has.
pub fn libc_dir(root: &Path) -> PathBuf {
    let dir = root.join("glibc/lib");
    if dir.is_dir() {
        return dir;
    }
    fs::create_dir_all(&dir).unwrap();
    for l in [
        "libc.so.6",
        "libm.so.6",
        "libdl.so.2",
        "libpthread.so.0",
        "libresolv.so.2",
        "librt.so.1",
        "ld-linux-x86-64.so.2",
    ] {
        let real = Path::new("/lib/x86_64-linux-gnu").join(l);
        if real.exists() {
            std::os::unix::fs::symlink(real, dir.join(l)).unwrap();
        }
    }
    dir
}

/// The RUNPATH (or RPATH) of an ELF file, as readelf prints it.
pub fn runpath(path: &Path) -> Option<String> {
    let out = Command::new("readelf")
        .arg("-dW")
        .arg(path)
        .output()
        .expect("readelf runs");
    String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
        if !(l.contains("(RUNPATH)") || l.contains("(RPATH)")) {
            return None;
        }
        Some(l.split('[').nth(1)?.trim_end_matches(']').to_string())
    })
}

pub fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x7fELF")
}

/// The store paths the shared fixture references (its STORE_PATHS manifest).
pub fn fixture_store_paths(fixture: &Path) -> Vec<String> {
    fs::read_to_string(fixture.join("STORE_PATHS"))
        .expect("the fixture lists its store paths")
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// Stderr as text, for messages.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// True when stderr shows a Rust panic (or the tool died of a signal).
pub fn panicked(out: &Output) -> bool {
    use std::os::unix::process::ExitStatusExt;
    out.status.code() == Some(101)
        || out.status.signal().is_some()
        || text(&out.stderr).contains("panicked at")
}
