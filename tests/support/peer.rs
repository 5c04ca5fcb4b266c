//! Fixtures and oracles for the peer-scenario suite (`tests/patch/peer_scenarios.rs`): the layouts
//! patchelf's own test suite is built around, built here from this project's sources in
//! `tests/peer/` with gcc and each of bfd, gold and lld (clang for other machines), judged by
//! running the result, readelf, strip and objcopy.
#![allow(dead_code)]

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// What a Nix store loader path is as long as:
/// `/nix/store/<32 chars>-glibc-2.40-66/lib/ld-linux-x86-64.so.2`.
pub const NIX_LOADER_LEN: usize = "/nix/store/".len() + 32 + "-glibc-2.40-66".len() + 25;
/// The loader gcc's x86_64 executables name.
pub const HOST_LOADER: &str = "/lib64/ld-linux-x86-64.so.2";
/// Where the host's glibc lives.
pub const HOST_LIBDIR: &str = "/lib/x86_64-linux-gnu";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Linker {
    Bfd,
    Gold,
    Lld,
}

impl Linker {
    pub fn flag(self) -> &'static str {
        match self {
            Linker::Bfd => "-fuse-ld=bfd",
            Linker::Gold => "-fuse-ld=gold",
            Linker::Lld => "-fuse-ld=lld",
        }
    }
}

/// How a scenario's x86_64 program is linked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variant {
    pub linker: Linker,
    pub pie: bool,
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} {}",
            self.linker,
            if self.pie { "PIE" } else { "non-PIE" }
        )
    }
}

impl Variant {
    pub fn bfd_pie() -> Variant {
        Variant {
            linker: Linker::Bfd,
            pie: true,
        }
    }
    pub fn bfd_exec() -> Variant {
        Variant {
            linker: Linker::Bfd,
            pie: false,
        }
    }
    pub fn gold_pie() -> Variant {
        Variant {
            linker: Linker::Gold,
            pie: true,
        }
    }
    pub fn gold_exec() -> Variant {
        Variant {
            linker: Linker::Gold,
            pie: false,
        }
    }
    pub fn lld_pie() -> Variant {
        Variant {
            linker: Linker::Lld,
            pie: true,
        }
    }
    pub fn lld_exec() -> Variant {
        Variant {
            linker: Linker::Lld,
            pie: false,
        }
    }

    /// The gcc flags for a program of this variant.
    pub fn program_flags(self) -> Vec<String> {
        let mut f = vec![self.linker.flag().to_string()];
        if self.pie {
            f.extend(["-pie".into(), "-fPIE".into()]);
        } else {
            f.extend(["-no-pie".into(), "-fno-PIE".into()]);
        }
        f
    }
}

/// `tests/peer/NAME`.
pub fn source(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peer")
        .join(name)
}

fn run_tool(program: &str, args: &[OsString]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} runs: {e} (scripts/install-deps installs it)"))
}

fn os_args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(args: I) -> Vec<OsString> {
    args.into_iter()
        .map(|a| a.as_ref().to_os_string())
        .collect()
}

fn assert_built(program: &str, args: &[OsString], out: &Output) {
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn gcc<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(args: I) {
    let args = os_args(args);
    let out = run_tool("gcc", &args);
    assert_built("gcc", &args, &out);
}

pub fn clang<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(args: I) {
    let args = os_args(args);
    let out = run_tool("clang", &args);
    assert_built("clang", &args, &out);
}

/// A per-test directory under /tmp (short, so paths of exact lengths can be made in it).
pub struct Scratch {
    dir: tempfile::TempDir,
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch {
            dir: tempfile::Builder::new()
                .prefix("peer")
                .tempdir_in("/tmp")
                .unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `REL` under the scratch directory, its parent created.
    pub fn file(&self, rel: &str) -> PathBuf {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        p
    }

    /// The directory `REL`, created.
    pub fn dir(&self, rel: &str) -> PathBuf {
        let p = self.path().join(rel);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    /// A glibc directory whose loader path is exactly as long as a Nix store one
    /// ([`NIX_LOADER_LEN`]): a copy of the host's loader, and libc beside it. It serves as
    /// `--libc` and its loader as `--interpreter`.
    pub fn nix_glibc(&self) -> Glibc {
        let tail = "-glibc-2.40-66/lib/ld-linux-x86-64.so.2";
        let base = self.path().as_os_str().len() + 1;
        assert!(base + tail.len() < NIX_LOADER_LEN, "scratch path too long");
        let pad: String = "0123456789abcdfghijklmnpqrsvwxyz"
            .chars()
            .cycle()
            .take(NIX_LOADER_LEN - base - tail.len())
            .collect();
        let lib = self.dir(&format!("{pad}-glibc-2.40-66/lib"));
        let loader = lib.join("ld-linux-x86-64.so.2");
        std::fs::copy(Path::new(HOST_LIBDIR).join("ld-linux-x86-64.so.2"), &loader).unwrap();
        for l in ["libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0"] {
            std::os::unix::fs::symlink(Path::new(HOST_LIBDIR).join(l), lib.join(l)).unwrap();
        }
        assert_eq!(loader.as_os_str().len(), NIX_LOADER_LEN);
        Glibc { lib, loader }
    }

    /// A path of exactly `len` bytes naming the host loader (a symlink to it).
    pub fn loader_of_length(&self, len: usize) -> PathBuf {
        let base = self.path().as_os_str().len() + 1;
        assert!(len > base + 2, "scratch path too long for {len}");
        let name: String = "ld"
            .chars()
            .chain(std::iter::repeat('x'))
            .take(len - base)
            .collect();
        let p = self.path().join(name);
        std::os::unix::fs::symlink(Path::new(HOST_LIBDIR).join("ld-linux-x86-64.so.2"), &p)
            .unwrap();
        assert_eq!(p.as_os_str().len(), len);
        p
    }

    /// `dlopen-run`, built here with the host's default toolchain.
    pub fn dlopen_runner(&self) -> PathBuf {
        let out = self.file("tools/dlopen-run");
        gcc([
            OsStr::new("-o"),
            out.as_os_str(),
            source("dlopen-run.c").as_os_str(),
        ]);
        out
    }
}

pub struct Glibc {
    pub lib: PathBuf,
    pub loader: PathBuf,
}

/// `out`: a shared library from `srcs` (names under tests/peer/ or absolute paths), soname =
/// its file name, linked with `linker` and `extra` flags.
pub fn shared_lib(out: &Path, srcs: &[&str], linker: Linker, extra: &[&str]) -> PathBuf {
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let mut args: Vec<OsString> = vec![
        linker.flag().into(),
        "-shared".into(),
        "-fPIC".into(),
        format!("-Wl,-soname,{}", out.file_name().unwrap().to_string_lossy()).into(),
        "-o".into(),
        out.into(),
    ];
    args.extend(srcs.iter().map(|s| src_arg(s)));
    args.extend(extra.iter().map(OsString::from));
    gcc(args);
    out.to_path_buf()
}

/// `out`: a program of `variant` from `srcs`, linked with `extra` flags.
pub fn program(out: &Path, srcs: &[&str], variant: Variant, extra: &[&str]) -> PathBuf {
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let mut args: Vec<OsString> = variant
        .program_flags()
        .into_iter()
        .map(OsString::from)
        .collect();
    args.extend(["-o".into(), out.as_os_str().to_os_string()]);
    args.extend(srcs.iter().map(|s| src_arg(s)));
    args.extend(extra.iter().map(OsString::from));
    gcc(args);
    out.to_path_buf()
}

fn src_arg(s: &str) -> OsString {
    if s.starts_with('/') {
        s.into()
    } else {
        source(s).into_os_string()
    }
}

pub fn s(p: &Path) -> String {
    p.display().to_string()
}

// ---------------------------------------------------------------------------------------------
// patch-rpaths

/// One patch-rpaths invocation, kept so it can be run again (a second run must change nothing).
#[derive(Clone, Default)]
pub struct Patch {
    args: Vec<OsString>,
    /// The files it is meant to look at (for before/after comparisons).
    pub files: Vec<PathBuf>,
}

impl Patch {
    pub fn new() -> Patch {
        Patch::default()
    }
    pub fn flag(mut self, name: &str, value: impl AsRef<OsStr>) -> Patch {
        self.args.push(name.into());
        self.args.push(value.as_ref().to_os_string());
        self
    }
    pub fn libs(self, dir: &Path) -> Patch {
        self.flag("--libs", dir)
    }
    pub fn libc(self, dir: &Path) -> Patch {
        self.flag("--libc", dir)
    }
    pub fn interpreter(self, p: &Path) -> Patch {
        self.flag("--interpreter", p)
    }
    pub fn append(self, entry: &str) -> Patch {
        self.flag("--append-rpath", entry)
    }
    /// A PATH to patch (a tree or a file); `files` lists what it holds that the test watches.
    pub fn root(mut self, root: &Path, files: &[&Path]) -> Patch {
        self.args.push(root.into());
        self.files.extend(files.iter().map(|f| f.to_path_buf()));
        self
    }

    pub fn run(&self) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_patch-rpaths"));
        cmd.env_remove("NIX_STORE_DIR")
            .env_remove("NIX_STORE")
            .env_remove("NIX_BUILD_CORES")
            .args(&self.args);
        cmd.output().expect("patch-rpaths runs")
    }

    /// Runs it and requires exit 0; returns stderr.
    pub fn ok(&self) -> String {
        let out = self.run();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "patch-rpaths {:?} failed ({:?}):\n{err}",
            self.args,
            out.status
        );
        assert!(!err.contains("panicked"), "{err}");
        err
    }

    /// Runs it once more: exit 0, "patched 0", and every watched file byte for byte the same.
    pub fn assert_second_run_changes_nothing(&self) {
        let before: Vec<Vec<u8>> = self.files.iter().map(|f| read(f)).collect();
        let err = self.ok();
        assert!(
            err.contains("patched 0,"),
            "a second run patched something:\n{err}"
        );
        for (f, b) in self.files.iter().zip(before) {
            assert!(read(f) == b, "a second run changed {}", f.display());
        }
    }

    /// For a layout to refuse: exit 1, an error naming `file` and saying why, `file` byte for
    /// byte as it was, no temporary copy left beside it. Returns the error line.
    pub fn assert_refused(&self, file: &Path, before: &[u8]) -> String {
        let out = self.run();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.code(),
            Some(1),
            "patch-rpaths must refuse {} (exit 1), got {:?}:\n{err}",
            file.display(),
            out.status
        );
        assert!(!err.contains("panicked"), "{err}");
        let name = file.display().to_string();
        let line = err
            .lines()
            .find(|l| l.contains(&name))
            .unwrap_or_else(|| panic!("no error names {name}:\n{err}"))
            .to_string();
        let cause = line[line.find(&name).unwrap() + name.len()..]
            .trim_start_matches(':')
            .trim();
        assert!(cause.len() > 3, "the error gives no cause: {line}");
        assert!(read(file) == before, "{name} changed although refused");
        assert_no_temporaries(file.parent().unwrap());
        line
    }
}

pub fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

pub fn assert_no_temporaries(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let n = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            !n.contains(".patch-rpaths."),
            "temporary {n} left in {}",
            dir.display()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Oracles: readelf, running, strip/objcopy.

pub fn readelf(args: &[&str], file: &Path) -> (String, String) {
    let out = Command::new("readelf")
        .args(args)
        .arg(file)
        .output()
        .expect("readelf runs");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// What `readelf -a -W` complains about: its warnings and errors, which it prints on stderr.
pub fn readelf_complaints(file: &Path) -> Vec<String> {
    let (_, err) = readelf(&["-a", "-W"], file);
    err.lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

pub fn assert_readelf_clean(file: &Path) {
    let c = readelf_complaints(file);
    assert!(
        c.is_empty(),
        "readelf -a -W complains about {}:\n{}",
        file.display(),
        c.join("\n")
    );
}

/// The dynamic entries as readelf prints them: (tag name, value text).
pub fn dynamic_entries(file: &Path) -> Vec<(String, String)> {
    let (out, _) = readelf(&["-d", "-W"], file);
    out.lines()
        .filter_map(|l| {
            let l = l.trim_start();
            if !l.starts_with("0x") {
                return None;
            }
            let open = l.find('(')?;
            let close = l[open..].find(')')? + open;
            Some((
                l[open + 1..close].to_string(),
                l[close + 1..].trim().to_string(),
            ))
        })
        .collect()
}

/// The bracketed value of a string entry (`Library runpath: [X]` → X).
fn bracketed(v: &str) -> String {
    v.split_once('[')
        .map(|(_, r)| r.trim_end_matches(']').to_string())
        .unwrap_or_default()
}

/// Every RPATH and RUNPATH entry, as (tag, value).
pub fn search_paths(file: &Path) -> Vec<(String, String)> {
    dynamic_entries(file)
        .into_iter()
        .filter(|(t, _)| t == "RPATH" || t == "RUNPATH")
        .map(|(t, v)| (t, bracketed(&v)))
        .collect()
}

pub fn needed(file: &Path) -> Vec<String> {
    dynamic_entries(file)
        .into_iter()
        .filter(|(t, _)| t == "NEEDED")
        .map(|(_, v)| bracketed(&v))
        .collect()
}

/// Exactly one RPATH/RUNPATH, of this tag and value.
pub fn assert_search_path(file: &Path, tag: &str, value: &str) {
    assert_eq!(
        search_paths(file),
        vec![(tag.to_string(), value.to_string())],
        "{}",
        file.display()
    );
}

pub fn interpreter(file: &Path) -> Option<String> {
    let (out, _) = readelf(&["-l", "-W"], file);
    out.lines().find_map(|l| {
        l.split_once("[Requesting program interpreter: ")
            .map(|(_, r)| r.trim_end_matches(']').to_string())
    })
}

/// A program header as readelf prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub kind: String,
    pub offset: u64,
    pub vaddr: u64,
    pub filesz: u64,
    pub memsz: u64,
    pub align: u64,
}

pub fn segments(file: &Path) -> Vec<Segment> {
    let (out, _) = readelf(&["-l", "-W"], file);
    let hex = |t: &str| u64::from_str_radix(t.trim_start_matches("0x"), 16).unwrap();
    out.lines()
        .skip_while(|l| !l.trim_start().starts_with("Type"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| !l.contains("[Requesting"))
        .map(|l| {
            let t: Vec<&str> = l.split_whitespace().collect();
            Segment {
                kind: t[0].to_string(),
                offset: hex(t[1]),
                vaddr: hex(t[2]),
                filesz: hex(t[4]),
                memsz: hex(t[5]),
                align: hex(t[t.len() - 1]),
            }
        })
        .collect()
}

pub fn loads(file: &Path) -> Vec<Segment> {
    segments(file)
        .into_iter()
        .filter(|s| s.kind == "LOAD")
        .collect()
}

/// No two PT_LOADs claim the same page of memory once rounded to pages (the loader maps whole
/// pages: an overlap silently replaces one segment's bytes with another's).
pub fn assert_loads_disjoint_after_rounding(file: &Path) {
    let l = loads(file);
    let page = l.iter().map(|s| s.align).max().unwrap_or(4096).max(4096);
    let ranges: Vec<(u64, u64)> = l
        .iter()
        .filter(|s| s.memsz > 0)
        .map(|s| {
            (
                s.vaddr / page * page,
                (s.vaddr + s.memsz).div_ceil(page) * page,
            )
        })
        .collect();
    for (i, a) in ranges.iter().enumerate() {
        for b in &ranges[i + 1..] {
            assert!(
                a.1 <= b.0 || b.1 <= a.0,
                "{}: PT_LOADs {a:x?} and {b:x?} overlap once rounded to {page:#x} pages",
                file.display()
            );
        }
    }
}

/// How a file under test is exercised.
#[derive(Clone)]
pub enum Role {
    /// Run it: exit 0 and exactly this stdout.
    Program { stdout: String },
    /// `dlopen-run FILE SYMBOL` prints this.
    Library {
        runner: PathBuf,
        symbol: String,
        prints: String,
    },
}

impl Role {
    pub fn program(stdout: &str) -> Role {
        Role::Program {
            stdout: stdout.to_string(),
        }
    }
    pub fn library(runner: &Path, symbol: &str, prints: &str) -> Role {
        Role::Library {
            runner: runner.to_path_buf(),
            symbol: symbol.to_string(),
            prints: prints.to_string(),
        }
    }

    pub fn exercise(&self, file: &Path) -> Result<(), String> {
        let (mut cmd, want) = match self {
            Role::Program { stdout } => (Command::new(file), stdout),
            Role::Library {
                runner,
                symbol,
                prints,
            } => {
                let mut c = Command::new(runner);
                c.arg(file).arg(symbol);
                (c, prints)
            }
        };
        let out = cmd
            .output()
            .map_err(|e| format!("{}: {e}", file.display()))?;
        let got = String::from_utf8_lossy(&out.stdout);
        if out.status.success() && got.trim_end() == want.trim_end() {
            Ok(())
        } else {
            Err(format!(
                "{}: {:?}, stdout {got:?} (want {want:?}), stderr {}",
                file.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }
}

/// What every result for this machine must give: it works as `role` says; `readelf -a -W` has
/// nothing to complain about; its PT_LOADs stay disjoint after page rounding; and `strip`,
/// `strip -g` and `objcopy` each still take it and give a copy that works too.
pub fn assert_sound(file: &Path, role: &Role) {
    role.exercise(file)
        .unwrap_or_else(|e| panic!("the patched file does not work: {e}"));
    assert_readelf_clean(file);
    assert_loads_disjoint_after_rounding(file);
    assert_binutils_take_it(file, role);
}

/// The copies `strip`, `strip -g` and `objcopy` make of `file`, in `dir`: (tool and flags,
/// the copy, its exit status, what it said on stderr with the file names taken out).
fn binutils_copies(file: &Path, dir: &Path) -> Vec<(String, PathBuf, bool, Vec<String>)> {
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    [
        ("strip", &[][..], "strip"),
        ("strip", &["-g"][..], "strip-g"),
        ("objcopy", &[][..], "objcopy"),
    ]
    .into_iter()
    .map(|(tool, args, tag)| {
        let copy = dir.join(format!("{tag}-{name}"));
        // strip [-g] FILE -o COPY; objcopy FILE COPY.
        let mut cmd = Command::new(tool);
        cmd.args(args).arg(file);
        if tool == "strip" {
            cmd.arg("-o");
        }
        let out = cmd.arg(&copy).output().unwrap();
        let said = String::from_utf8_lossy(&out.stderr)
            .replace(&file.display().to_string(), "FILE")
            .replace(&copy.display().to_string(), "COPY")
            .lines()
            .map(|l| format!("{tool} {args:?}: {l}"))
            .collect();
        (format!("{tool} {args:?}"), copy, out.status.success(), said)
    })
    .collect()
}

fn copies_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("peer-copies")
        .tempdir_in("/tmp")
        .unwrap()
}

/// Whatever `strip`, `strip -g` and `objcopy` say about `file` (a failure included).
pub fn binutils_complaints(file: &Path) -> Vec<String> {
    let dir = copies_dir();
    binutils_copies(file, dir.path())
        .into_iter()
        .flat_map(|(tool, _, ok, mut said)| {
            if !ok {
                said.push(format!("{tool}: failed"));
            }
            said
        })
        .collect()
}

/// The copies `strip`, `strip -g` and `objcopy` make of `file` work as `role` says.
pub fn assert_copies_run(file: &Path, role: &Role) {
    let dir = copies_dir();
    for (tool, copy, ok, _) in binutils_copies(file, dir.path()) {
        assert!(ok, "{tool} fails on {}", file.display());
        role.exercise(&copy)
            .unwrap_or_else(|e| panic!("the {tool} copy does not work: {e}"));
    }
}

/// `strip`, `strip -g` and `objcopy` succeed on `file` without a warning, and each copy (made
/// in a directory of its own, outside any patched tree) works as `role` says.
pub fn assert_binutils_take_it(file: &Path, role: &Role) {
    let dir = copies_dir();
    for (tool, copy, ok, said) in binutils_copies(file, dir.path()) {
        assert!(
            ok && said.is_empty(),
            "{tool} fails or warns on {}:\n{}",
            file.display(),
            said.join("\n")
        );
        role.exercise(&copy)
            .unwrap_or_else(|e| panic!("the {tool} copy does not work: {e}"));
    }
}

// ---------------------------------------------------------------------------------------------
// A small ELF64 little-endian reader, for byte-level surgery on x86_64 fixtures.

pub fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
}
pub fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
pub fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}
pub fn put_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}
pub fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
pub fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

pub const PT_LOAD: u32 = 1;
pub const PT_DYNAMIC: u32 = 2;
pub const PT_PHDR: u32 = 6;

#[derive(Clone, Debug)]
pub struct Phdr {
    /// Where this header stands in the file.
    pub at: usize,
    pub p_type: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub filesz: u64,
    pub memsz: u64,
}

#[derive(Clone, Debug)]
pub struct Shdr {
    pub index: usize,
    /// Where this header stands in the file.
    pub at: usize,
    pub name: String,
    pub sh_type: u32,
    pub addr: u64,
    pub offset: u64,
    pub size: u64,
}

/// A parsed view of an ELF64 LE file's headers (panics on anything else: fixtures only).
pub struct Elf64<'a> {
    pub b: &'a [u8],
}

impl<'a> Elf64<'a> {
    pub fn new(b: &'a [u8]) -> Elf64<'a> {
        assert_eq!(&b[..4], b"\x7fELF");
        assert_eq!((b[4], b[5]), (2, 1), "ELF64 little-endian only");
        Elf64 { b }
    }
    pub fn phoff(&self) -> usize {
        u64_at(self.b, 0x20) as usize
    }
    pub fn shoff(&self) -> usize {
        u64_at(self.b, 0x28) as usize
    }
    pub fn phnum(&self) -> usize {
        u16_at(self.b, 0x38) as usize
    }
    pub fn shnum(&self) -> usize {
        u16_at(self.b, 0x3c) as usize
    }
    pub fn shstrndx(&self) -> usize {
        u16_at(self.b, 0x3e) as usize
    }
    pub fn phdrs(&self) -> Vec<Phdr> {
        (0..self.phnum())
            .map(|i| {
                let at = self.phoff() + i * 56;
                Phdr {
                    at,
                    p_type: u32_at(self.b, at),
                    offset: u64_at(self.b, at + 8),
                    vaddr: u64_at(self.b, at + 16),
                    filesz: u64_at(self.b, at + 32),
                    memsz: u64_at(self.b, at + 40),
                }
            })
            .collect()
    }
    pub fn sections(&self) -> Vec<Shdr> {
        let raw: Vec<(usize, u32, u32, u64, u64, u64)> = (0..self.shnum())
            .map(|i| {
                let at = self.shoff() + i * 64;
                (
                    at,
                    u32_at(self.b, at),
                    u32_at(self.b, at + 4),
                    u64_at(self.b, at + 16),
                    u64_at(self.b, at + 24),
                    u64_at(self.b, at + 32),
                )
            })
            .collect();
        let strtab = raw[self.shstrndx()].4 as usize;
        raw.iter()
            .enumerate()
            .map(|(index, &(at, name, sh_type, addr, offset, size))| Shdr {
                index,
                at,
                name: cstr(self.b, strtab + name as usize),
                sh_type,
                addr,
                offset,
                size,
            })
            .collect()
    }
    pub fn section(&self, name: &str) -> Shdr {
        self.sections()
            .into_iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no section {name}"))
    }
    /// The `.dynamic` entries: (file offset of the entry, tag, value).
    pub fn dynamic(&self) -> Vec<(usize, i64, u64)> {
        let d = self
            .phdrs()
            .into_iter()
            .find(|p| p.p_type == PT_DYNAMIC)
            .expect("PT_DYNAMIC");
        (0..d.filesz as usize / 16)
            .map(|i| {
                let at = d.offset as usize + i * 16;
                (at, u64_at(self.b, at) as i64, u64_at(self.b, at + 8))
            })
            .collect()
    }
    pub fn dynamic_value(&self, tag: i64) -> Option<u64> {
        self.dynamic()
            .into_iter()
            .find(|&(_, t, _)| t == tag)
            .map(|(_, _, v)| v)
    }
    pub fn vaddr_to_offset(&self, v: u64) -> Option<u64> {
        self.phdrs()
            .into_iter()
            .find(|p| p.p_type == PT_LOAD && p.vaddr <= v && v < p.vaddr + p.filesz)
            .map(|p| v - p.vaddr + p.offset)
    }
}

pub fn cstr(b: &[u8], at: usize) -> String {
    let end = b[at..].iter().position(|&c| c == 0).unwrap() + at;
    String::from_utf8_lossy(&b[at..end]).into_owned()
}
