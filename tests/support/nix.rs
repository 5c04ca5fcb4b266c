//! Helpers shared by the tests that run the real Nix (tests/strip/nix.rs,
//! tests/patch/nix.rs and the `hooks` binary): finding Nix,
//! running `nix-build`/`nix-store` with our NIX_CONFIG, per-test nonces, and
//! reading what Nix made of a build (references, validity, a FOD's hash).
//! What a single test file needs alone stays in that file.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// What the child `nix-*` processes get as NIX_CONFIG when the caller set
/// none: the tests build as root without a daemon, a sandbox, build users or
/// substituters (see ../shared/research/nix-2.8-here.md).
pub const NIX_CONFIG: &str =
    "sandbox = false\nbuild-users-group =\nsubstituters =\nexperimental-features = nix-command flakes";

/// An outputHash no build gives: a FOD built with it fails with "got: …",
/// which is how users (and the tests) learn a FOD's real hash.
pub const FAKE_HASH: &str = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

/// What strip-store-refs leaves of a store path's 32 hash characters.
pub const ERASED_HASH: &str = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";

// ------------------------------------------------------------ finding Nix

/// The executable `program` (`nix-build`, `nix-instantiate`) in `path_var`,
/// or `Err` with the one message for a missing Nix: it names `.ci/run`,
/// scripts/install-deps and nix-bin, because a missing Nix must fail the
/// tests with a pointer to the fix, never pass as a skip.
pub fn require_nix_program_in(program: &str, path_var: &OsStr) -> Result<PathBuf, String> {
    std::env::split_paths(path_var)
        .map(|dir| dir.join(program))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .ok_or_else(|| {
            format!(
                "{program} is not on PATH: these tests need a real Nix. `.ci/run` installs it \
                 (scripts/install-deps: Debian's nix-bin, and Nix 2.26 in a private prefix \
                 by scripts/install-nix, which scripts/test puts first on PATH); a missing \
                 Nix must not pass as a skipped test"
            )
        })
}

/// `nix-build` in `path_var`, or `Err` with the missing-Nix message.
pub fn require_nix_in(path_var: &OsStr) -> Result<PathBuf, String> {
    require_nix_program_in("nix-build", path_var)
}

/// The message a missing `program` gives: what [`require_nix_program_in`]
/// says for a PATH of one empty directory (each test file checks it).
pub fn missing_nix_message(program: &str) -> String {
    let empty = tempfile::tempdir().unwrap();
    require_nix_program_in(program, empty.path().as_os_str())
        .expect_err(&format!("found {program} in an empty dir"))
}

/// Panics with the missing-Nix message when `nix-build` is not on PATH, so
/// every test that needs Nix fails the same helpful way.
pub fn require_nix() {
    let path = std::env::var_os("PATH").unwrap_or_default();
    if let Err(msg) = require_nix_in(&path) {
        panic!("{msg}");
    }
}

/// Gives `cmd` `config` as NIX_CONFIG unless the caller set one: a developer
/// with a working Nix setup of their own keeps it.
pub fn with_nix_config(mut cmd: Command, config: &str) -> Command {
    if std::env::var_os("NIX_CONFIG").is_none() {
        cmd.env("NIX_CONFIG", config);
    }
    cmd
}

/// A `nix-*` command with our NIX_CONFIG unless the caller set one; panics
/// with the missing-Nix message first.
pub fn nix(program: &str) -> Command {
    require_nix();
    with_nix_config(Command::new(program), NIX_CONFIG)
}

// ------------------------------------------------------------ processes

/// `cmd`'s output; panics (naming the command) only if it cannot start.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Output bytes as text for assertions and messages.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A binary under test: `$var` when set (e.g. to try a release build), else
/// cargo's build of it, `built` (an `env!("CARGO_BIN_EXE_…")`).
pub fn bin_under_test(var: &str, built: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| built.to_string())
}

// ------------------------------------------------------------ nonces

/// `PID-NANOS`: different in every run of the tests.
pub fn stamp() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{}-{nanos}", std::process::id())
}

/// Unique per test and run; goes into the test's derivations, so tests can
/// build in parallel and no output of an earlier run is reused.
pub fn nonce(test: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{}-{}-{n}", test.replace('_', "-"), stamp())
}

// ------------------------------------------------------------ nix-build

/// A `nix-build` argument of the expression: `--argstr NAME VALUE` or
/// `--arg NAME true|false`.
#[derive(Clone, Copy, Debug)]
pub enum NixArg<'a> {
    Str(&'a str, &'a str),
    Bool(&'a str, bool),
}

/// A successful `nix-build`: the printed paths (one per attribute) and its
/// stderr, which holds the build log.
pub struct Built {
    pub paths: Vec<PathBuf>,
    pub log: String,
}

impl Built {
    /// The first printed path.
    pub fn path(&self) -> &Path {
        &self.paths[0]
    }
}

/// `nix-build --no-out-link FILE -A ATTR… ARGS…` with our NIX_CONFIG: `Ok`
/// with the printed paths (for a FOD not necessarily valid: see
/// [`valid`]), `Err` with the stderr, which holds the build log.
pub fn nix_build(file: &Path, attrs: &[&str], args: &[NixArg]) -> Result<Built, String> {
    nix_build_with(nix("nix-build"), file, attrs, args)
}

/// [`nix_build`] with the caller's `nix-build` command (extra flags or
/// environment).
pub fn nix_build_with(
    mut cmd: Command,
    file: &Path,
    attrs: &[&str],
    args: &[NixArg],
) -> Result<Built, String> {
    cmd.arg("--no-out-link").arg(file);
    for a in attrs {
        cmd.args(["-A", a]);
    }
    for arg in args {
        match *arg {
            NixArg::Str(k, v) => cmd.args(["--argstr", k, v]),
            NixArg::Bool(k, v) => cmd.args(["--arg", k, if v { "true" } else { "false" }]),
        };
    }
    let out = run(&mut cmd);
    let log = text(&out.stderr);
    if !out.status.success() {
        return Err(log);
    }
    let stdout = text(&out.stdout);
    let paths: Vec<PathBuf> = stdout
        .lines()
        .filter(|l| l.starts_with('/'))
        .map(PathBuf::from)
        .collect();
    if paths.is_empty() {
        return Err(format!("no path in nix-build's output: {stdout:?}\n{log}"));
    }
    Ok(Built { paths, log })
}

/// The "got: sha256-…" of a FOD's hash-mismatch error, if there is one.
pub fn got_hash(stderr: &str) -> Option<String> {
    let after = stderr.split("got:").nth(1)?;
    Some(after.split_whitespace().next()?.to_string())
}

/// Nix's refusal of a FOD that references store paths: "fixed-output derivations must not
/// reference store paths" (2.26 and later, before even comparing the hash) or "illegal path
/// references" (2.9 to 2.25; 2.8 accepts the build and leaves the path invalid).
pub fn refused_for_references(log: &str) -> bool {
    log.contains("must not reference store paths") || log.contains("illegal path references")
}

/// [`got_hash`], which must be there.
pub fn expect_got_hash(stderr: &str) -> String {
    got_hash(stderr).unwrap_or_else(|| panic!("no \"got:\" hash in nix-build's error:\n{stderr}"))
}

// ------------------------------------------------------------ the store

/// What Nix's scanner found in `path` (`nix-store -q --references`), sorted:
/// the oracle for what stripping and patching leave.
pub fn references(path: &Path) -> Vec<String> {
    let out = run(nix("nix-store").args(["-q", "--references"]).arg(path));
    assert!(
        out.status.success(),
        "nix-store -q --references {path:?}: {}",
        text(&out.stderr)
    );
    let mut refs: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    refs.sort();
    refs
}

/// Whether `path` is valid (`nix-store --check-validity`): Nix 2.8 exits 0
/// for a FOD with references but leaves the printed path invalid.
pub fn valid(path: &Path) -> bool {
    run(nix("nix-store").arg("--check-validity").arg(path))
        .status
        .success()
}

/// `items` sorted and deduplicated, to compare with [`references`].
pub fn set<I: IntoIterator<Item = S>, S: Into<String>>(items: I) -> Vec<String> {
    items
        .into_iter()
        .map(Into::into)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The 32 hash characters of a store path.
pub fn hash_of(store_path: impl AsRef<Path>) -> String {
    let base = store_path.as_ref().file_name().unwrap().to_str().unwrap();
    base[..32].to_string()
}

/// `…/nix/store/HASH-NAME…` with the hash turned into `e`s, as stripping
/// leaves it.
pub fn stripped(store_path_and_more: &str) -> String {
    let at = store_path_and_more
        .find("/nix/store/")
        .unwrap_or_else(|| panic!("{store_path_and_more} is not in /nix/store"))
        + "/nix/store/".len();
    let (dir, rest) = store_path_and_more.split_at(at);
    format!("{dir}{ERASED_HASH}{}", &rest[32..])
}

// ------------------------------------------------------------ ELF files

/// The `[…]` of each `readelf -d FILE` line with `tag` in it, e.g.
/// `(RUNPATH)` or `(NEEDED)`.
pub fn dynamic_values(file: &Path, tag: &str) -> Vec<String> {
    let out = run(Command::new("readelf").arg("-d").arg(file));
    assert!(
        out.status.success(),
        "readelf -d {file:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
        .lines()
        .filter(|l| l.contains(tag))
        .filter_map(|l| {
            let v = l.split_once('[')?.1;
            Some(v.strip_suffix(']').unwrap_or(v).to_string())
        })
        .collect()
}

/// `file`'s DT_RUNPATH, if any; more than one is a failure.
pub fn runpath(file: &Path) -> Option<String> {
    let mut v = dynamic_values(file, "(RUNPATH)");
    assert!(v.len() <= 1, "{file:?} has {} RUNPATHs", v.len());
    v.pop()
}

// ------------------------------------------------------------ uv

/// The uv the demo's committed FOD hash holds for (it writes its version into the venv).
pub const UV_VERSION: &str = "uv 0.13.9";

fn is_elf(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && &magic == b"\x7fELF"
}

/// The uv binary itself (the FOD's builder runs it with a clean environment, where a
/// wrapper such as pyenv's shim does not work): `$FIXUP_HOOKS_UV_BIN`, the uv 0.13.9 that
/// scripts/demo installs when the host's is another version, the binary of the `uv` Python
/// package, `pyenv which uv`, or an ELF `uv` on PATH; the first that is uv 0.13.9 (the
/// committed hash holds for it), else the first found.
pub fn find_uv() -> Result<String, String> {
    let mut candidates: Vec<String> = Vec::new();
    if let Ok(b) = std::env::var("FIXUP_HOOKS_UV_BIN") {
        candidates.push(b);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| format!("{}/target", env!("CARGO_MANIFEST_DIR")));
    candidates.push(format!("{target}/demo/uv-0.13.9/bin/uv"));
    let probe = |cmd: &mut Command| -> Option<String> {
        let out = cmd.output().ok()?;
        let s = text(&out.stdout).trim().to_string();
        (out.status.success() && !s.is_empty()).then_some(s)
    };
    candidates.extend(probe(
        Command::new("python3").args(["-c", "import uv; print(uv.find_uv_bin())"]),
    ));
    candidates.extend(probe(Command::new("pyenv").args(["which", "uv"])));
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(
            std::env::split_paths(&path)
                .map(|d| d.join("uv"))
                .filter(|p| p.is_file())
                .map(|p| p.to_str().unwrap().to_string()),
        );
    }
    let found: Vec<String> = candidates
        .into_iter()
        .filter(|c| Path::new(c).is_absolute() && is_elf(Path::new(c)))
        .collect();
    let version = |c: &String| probe(Command::new(c).arg("--version")).unwrap_or_default();
    found
        .iter()
        .find(|c| version(c).starts_with(&format!("{UV_VERSION} ")))
        .or(found.first())
        .cloned()
        .ok_or_else(|| {
            "no uv binary found (scripts/install-deps installs uv; or set FIXUP_HOOKS_UV_BIN \
             to the uv executable, not a wrapper)"
                .to_string()
        })
}
