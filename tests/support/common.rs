//! Helpers shared by the integration tests: fixture trees are built here, not copied in.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub const ALPHABET: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";

/// A deterministic, valid Nix32 hash for a seed.
pub fn hash(seed: u64) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..32)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ALPHABET[(x % 32) as usize] as char
        })
        .collect()
}

pub fn store_path(seed: u64, name: &str) -> String {
    format!("/nix/store/{}-{name}", hash(seed))
}

pub fn neutral(path: &str) -> String {
    let h = &path["/nix/store/".len().."/nix/store/".len() + 32];
    path.replacen(h, &"e".repeat(32), 1)
}

pub fn tool(name: &str) -> Command {
    let exe = match name {
        "strip-store-refs" => env!("CARGO_BIN_EXE_strip-store-refs"),
        "patch-rpaths" => env!("CARGO_BIN_EXE_patch-rpaths"),
        "fix-venv" => env!("CARGO_BIN_EXE_fix-venv"),
        other => panic!("unknown tool {other}"),
    };
    let mut cmd = Command::new(exe);
    // The tests pick the store directory themselves; a developer's Nix settings must not leak in.
    cmd.env_remove("NIX_STORE_DIR")
        .env_remove("NIX_STORE")
        .env_remove("NIX_BUILD_CORES");
    cmd
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("tool runs")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn write(root: &Path, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, contents).unwrap();
    path
}

/// Every file's path and bytes (symlinks as their targets), for before/after comparisons.
pub fn snapshot(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    use std::os::unix::ffi::OsStrExt;
    let mut all = Vec::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.unwrap();
        let ft = entry.file_type();
        let bytes = if ft.is_symlink() {
            std::fs::read_link(entry.path())
                .unwrap()
                .as_os_str()
                .as_bytes()
                .to_vec()
        } else if ft.is_file() {
            std::fs::read(entry.path()).unwrap()
        } else {
            continue;
        };
        all.push((entry.path().to_path_buf(), bytes));
    }
    all
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The shared realistic fixture (scripts/make-fixture --size small): `FIXUP_HOOKS_FIXTURE`
/// when scripts/test built it, else built here into target/fixture-small. Never skipped: a
/// missing fixture is a failure.
pub fn fixture() -> &'static Path {
    static FIXTURE: OnceLock<PathBuf> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        if let Some(dir) = std::env::var_os("FIXUP_HOOKS_FIXTURE") {
            return PathBuf::from(dir);
        }
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fixture-small");
        let status =
            Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/make-fixture"))
                .args(["--size", "small"])
                .arg(&dir)
                .status()
                .expect("scripts/make-fixture runs");
        assert!(status.success(), "scripts/make-fixture failed");
        dir
    })
}

// ---------------------------------------------------------------------------------------------
// Scenario builders: one tool run, spelled as its command line reads.
// ---------------------------------------------------------------------------------------------

/// What a tool run gave: the process's [`Output`] (through `Deref`: `ran.status`,
/// `ran.stdout`, and `stderr(&ran)` work as on an `Output`), plus readers for what tests ask
/// of it.
#[derive(Debug)]
pub struct Ran(pub Output);

impl std::ops::Deref for Ran {
    type Target = Output;
    fn deref(&self) -> &Output {
        &self.0
    }
}

impl Ran {
    /// The exit status's code (`None` when a signal ended the run).
    pub fn code(&self) -> Option<i32> {
        self.0.status.code()
    }

    /// stderr as text (lossy).
    pub fn err(&self) -> String {
        stderr(&self.0)
    }

    /// stdout as text (lossy).
    pub fn out(&self) -> String {
        stdout(&self.0)
    }

    /// stdout parsed as the `--report json` report.
    pub fn report(&self) -> serde_json::Value {
        serde_json::from_slice(&self.0.stdout)
            .unwrap_or_else(|e| panic!("the report is not JSON ({e}):\n{}", self.out()))
    }

    /// Panics, with stderr, unless the run exited 0; returns the run for further checks.
    #[track_caller]
    pub fn ok(self) -> Ran {
        assert!(self.0.status.success(), "{}", self.err());
        self
    }
}

/// One run of a tool, each method one option of its command line, in the order called:
/// `PatchRun::new().libs(&d).libc(&libc).path(&out).run()` is
/// `patch-rpaths --libs D --libc LIBC OUT`. The options both tools take are here; each
/// tool's own are on [`PatchRun`] and [`StripRun`].
pub struct ToolRun<T>(Command, std::marker::PhantomData<T>);

/// patch-rpaths, for [`ToolRun`].
pub enum Patch {}
/// strip-store-refs, for [`ToolRun`].
pub enum Strip {}

/// One `patch-rpaths` run.
pub type PatchRun = ToolRun<Patch>;
/// One `strip-store-refs` run: `StripRun::new().check().path(&root).run()`.
pub type StripRun = ToolRun<Strip>;

impl<T> ToolRun<T> {
    fn of(name: &str) -> ToolRun<T> {
        ToolRun(tool(name), std::marker::PhantomData)
    }

    fn opt(mut self, name: &str, value: impl AsRef<std::ffi::OsStr>) -> ToolRun<T> {
        self.0.arg(name).arg(value);
        self
    }

    /// `--jobs N`.
    pub fn jobs(self, n: usize) -> ToolRun<T> {
        self.opt("--jobs", n.to_string())
    }

    /// `--report json`.
    pub fn json(self) -> ToolRun<T> {
        self.opt("--report", "json")
    }

    /// Any other argument, as it is (a switch such as `--no-recurse`).
    pub fn arg(mut self, arg: impl AsRef<std::ffi::OsStr>) -> ToolRun<T> {
        self.0.arg(arg);
        self
    }

    /// Any other arguments, as they are.
    pub fn args<I: IntoIterator<Item = S>, S: AsRef<std::ffi::OsStr>>(
        mut self,
        args: I,
    ) -> ToolRun<T> {
        self.0.args(args);
        self
    }

    /// A PATH operand: a tree (or file) to work on.
    pub fn path(self, path: impl AsRef<Path>) -> ToolRun<T> {
        self.arg(path.as_ref())
    }

    /// The working directory of the run (for relative arguments).
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> ToolRun<T> {
        self.0.current_dir(dir);
        self
    }

    /// An environment variable for the run (`NIX_STORE`, `buildInputs`, …).
    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> ToolRun<T> {
        self.0.env(key, value);
        self
    }

    /// Runs it to the end.
    pub fn run(mut self) -> Ran {
        Ran(run(&mut self.0))
    }

    /// The command, for a test that runs it another way (under strace, killed, …).
    pub fn command(self) -> Command {
        self.0
    }
}

impl PatchRun {
    pub fn new() -> PatchRun {
        ToolRun::of("patch-rpaths")
    }

    /// `--libs DIR`.
    pub fn libs(self, dir: impl AsRef<Path>) -> PatchRun {
        self.opt("--libs", dir.as_ref())
    }

    /// `--libs-tree DIR`.
    pub fn libs_tree(self, dir: impl AsRef<Path>) -> PatchRun {
        self.opt("--libs-tree", dir.as_ref())
    }

    /// `--libc DIR`.
    pub fn libc(self, dir: impl AsRef<Path>) -> PatchRun {
        self.opt("--libc", dir.as_ref())
    }

    /// `--interpreter FILE`.
    pub fn interpreter(self, file: impl AsRef<Path>) -> PatchRun {
        self.opt("--interpreter", file.as_ref())
    }

    /// `--bintools DIR`.
    pub fn bintools(self, dir: impl AsRef<Path>) -> PatchRun {
        self.opt("--bintools", dir.as_ref())
    }

    /// `--runtime-dependency DIR`.
    pub fn runtime_dependency(self, dir: impl AsRef<Path>) -> PatchRun {
        self.opt("--runtime-dependency", dir.as_ref())
    }

    /// `--append-rpath ENTRY` (a path, `$ORIGIN/…`, or anything the test wants refused).
    pub fn append_rpath(self, entry: impl AsRef<std::ffi::OsStr>) -> PatchRun {
        self.opt("--append-rpath", entry)
    }

    /// `--ignore-missing GLOB`.
    pub fn ignore_missing(self, glob: &str) -> PatchRun {
        self.opt("--ignore-missing", glob)
    }

    /// `--dry-run`.
    pub fn dry_run(self) -> PatchRun {
        self.arg("--dry-run")
    }

    /// `--keep-libc`.
    pub fn keep_libc(self) -> PatchRun {
        self.arg("--keep-libc")
    }
}

impl StripRun {
    pub fn new() -> StripRun {
        ToolRun::of("strip-store-refs")
    }

    /// `--check`.
    pub fn check(self) -> StripRun {
        self.arg("--check")
    }
}
