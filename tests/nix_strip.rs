//! strip-store-refs against the real Nix: Nix's own reference scanner is the
//! oracle (`nix-store -q --references`), and a recursive sha256 fixed-output
//! derivation is the case users care about.
//!
//! Needs `nix-build`/`nix-store` on PATH and a store it may build in as root
//! without a daemon (`.ci/run` installs Debian's nix-bin; see
//! ../shared/research/nix-2.8-here.md). A missing Nix is a test failure, not
//! a skip. NIX_CONFIG is set for the child processes when it is not set
//! already (no sandbox, no build users, no substituters).
//!
//! The derivations are in tests/nix/strip/ (common.nix explains the `nonce`
//! and `toolPath` arguments). Each test builds with its own nonce, so tests
//! can run in parallel and no output of an earlier run is reused. The binary
//! under test is `CARGO_BIN_EXE_strip-store-refs`, or `$STRIP_STORE_REFS_BIN`
//! when set (e.g. to try a release build).

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

const NIX_CONFIG: &str =
    "sandbox = false\nbuild-users-group =\nsubstituters =\nexperimental-features = nix-command";
const NIX_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/nix/strip");
const FAKE_HASH: &str = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
const ERASED: &[u8; 32] = b"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";

// ---------------------------------------------------------------- helpers

/// `Err` names `.ci/run` when `nix-build` is not in `path_var`.
fn require_nix_in(path_var: &OsStr) -> Result<PathBuf, String> {
    std::env::split_paths(path_var)
        .map(|dir| dir.join("nix-build"))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .ok_or_else(|| {
            "nix-build is not on PATH: these tests need a real Nix. `.ci/run` installs it \
             (apt-get install -y nix-bin); a missing Nix must not pass as a skipped test"
                .to_string()
        })
}

fn require_nix() {
    let path = std::env::var_os("PATH").unwrap_or_default();
    if let Err(msg) = require_nix_in(&path) {
        panic!("{msg}");
    }
}

/// A `nix-*` command with our NIX_CONFIG unless the caller set one.
fn nix(program: &str) -> Command {
    require_nix();
    let mut cmd = Command::new(program);
    if std::env::var_os("NIX_CONFIG").is_none() {
        cmd.env("NIX_CONFIG", NIX_CONFIG);
    }
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The binary under test.
fn tool() -> PathBuf {
    std::env::var_os("STRIP_STORE_REFS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_strip-store-refs")))
}

/// Unique per test and run; goes into every derivation (see common.nix).
fn nonce(test: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{}-{}-{nanos}-{n}",
        test.replace('_', "-"),
        std::process::id()
    )
}

enum Arg<'a> {
    Str(&'a str, &'a str),
    Bool(&'a str, bool),
}

/// The usual arguments of the expressions: the nonce, and the tool when it
/// should run in the builder (`strip = false` otherwise).
fn case<'a>(nonce: &'a str, tool: Option<&'a Path>) -> Vec<Arg<'a>> {
    match tool {
        Some(t) => vec![
            Arg::Str("nonce", nonce),
            Arg::Str("toolPath", t.to_str().expect("UTF-8 tool path")),
            Arg::Bool("strip", true),
        ],
        None => vec![Arg::Str("nonce", nonce), Arg::Bool("strip", false)],
    }
}

/// `nix-build` an expression of tests/nix/strip; `Ok` is the printed path
/// (not necessarily valid: see the FOD tests), `Err` the stderr.
fn build(expr: &str, args: &[Arg]) -> Result<PathBuf, String> {
    build_attr(expr, None, args)
}

fn build_attr(expr: &str, attr: Option<&str>, args: &[Arg]) -> Result<PathBuf, String> {
    let mut cmd = nix("nix-build");
    cmd.arg("--no-out-link").arg(Path::new(NIX_DIR).join(expr));
    if let Some(a) = attr {
        cmd.args(["-A", a]);
    }
    for arg in args {
        match arg {
            Arg::Str(k, v) => cmd.args(["--argstr", k, v]),
            Arg::Bool(k, v) => cmd.args(["--arg", k, if *v { "true" } else { "false" }]),
        };
    }
    let out = run(&mut cmd);
    if !out.status.success() {
        return Err(text(&out.stderr));
    }
    let stdout = text(&out.stdout);
    match stdout.lines().last() {
        Some(p) if p.starts_with('/') => Ok(PathBuf::from(p)),
        _ => Err(format!(
            "no path in nix-build's output: {stdout:?}\n{}",
            text(&out.stderr)
        )),
    }
}

fn must_build(expr: &str, args: &[Arg]) -> PathBuf {
    build(expr, args).unwrap_or_else(|e| panic!("nix-build {expr} failed:\n{e}"))
}

/// The store path of a dependency from common.nix (lib, python, linkonly, bareonly).
fn dep(nonce: &str, name: &str) -> String {
    let path = build_attr(
        "common.nix",
        Some(&format!("deps.{name}")),
        &[Arg::Str("nonce", nonce)],
    )
    .unwrap_or_else(|e| panic!("building dependency {name} failed:\n{e}"));
    path.to_str().unwrap().to_string()
}

/// What Nix's scanner found in `path` (`nix-store -q --references`), sorted.
fn references(path: &Path) -> Vec<String> {
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

fn valid(path: &Path) -> bool {
    run(nix("nix-store").arg("--check-validity").arg(path))
        .status
        .success()
}

fn set<I: IntoIterator<Item = S>, S: Into<String>>(items: I) -> Vec<String> {
    items
        .into_iter()
        .map(Into::into)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The 32 hash characters of a store path.
fn hash_of(store_path: &str) -> &str {
    let base = store_path.rsplit('/').next().unwrap();
    &base[..32]
}

/// `bytes` with every occurrence of the given hashes turned into `e`s:
/// exactly what stripping must leave (same length, nothing else touched).
fn erased(bytes: &[u8], hashes: &[&str]) -> Vec<u8> {
    let mut v = bytes.to_vec();
    for h in hashes {
        let h = h.as_bytes();
        let mut i = 0;
        while i + h.len() <= v.len() {
            if &v[i..i + h.len()] == h {
                v[i..i + h.len()].copy_from_slice(ERASED);
                i += h.len();
            } else {
                i += 1;
            }
        }
    }
    v
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

fn readlink(path: &Path) -> String {
    let t = std::fs::read_link(path).unwrap_or_else(|e| panic!("{path:?} is not a symlink: {e}"));
    t.to_str().unwrap().to_string()
}

/// The "got: sha256-…" of a hash-mismatch error.
fn got_hash(stderr: &str) -> String {
    let after = stderr
        .split("got:")
        .nth(1)
        .unwrap_or_else(|| panic!("no \"got:\" hash in nix-build's error:\n{stderr}"));
    after.split_whitespace().next().unwrap().to_string()
}

/// Builds fod.nix with a fake hash and returns the hash Nix reports, the
/// way users learn a FOD's hash.
fn learn_fod_hash(nonce: &str, tool: Option<&Path>) -> String {
    let mut args = case(nonce, tool);
    args.push(Arg::Str("outputHash", FAKE_HASH));
    match build("fod.nix", &args) {
        Ok(p) => panic!("fod.nix built with a fake hash: {p:?}"),
        Err(e) => got_hash(&e),
    }
}

/// Whether Nix accepts fod.nix with `hash`: the build succeeds AND the
/// printed path is valid AND has no references. Nix 2.8 exits 0 for a FOD
/// with references but leaves the printed path invalid (the content is
/// registered elsewhere); newer Nix fails the build. `Err` says which.
fn fod_accepted(nonce: &str, tool: Option<&Path>, hash: &str) -> Result<PathBuf, String> {
    let mut args = case(nonce, tool);
    args.push(Arg::Str("outputHash", hash));
    let out = build("fod.nix", &args).map_err(|e| format!("build failed:\n{e}"))?;
    if !valid(&out) {
        return Err(format!(
            "nix-build printed {out:?}, but it is not a valid path"
        ));
    }
    match references(&out) {
        refs if refs.is_empty() => Ok(out),
        refs => Err(format!("{out:?} is valid but references {refs:?}")),
    }
}

/// `strip-store-refs --check` on `path`, outside any builder.
fn check(path: &Path) -> Output {
    let store_dir = path.parent().unwrap();
    run(Command::new(tool())
        .env("NIX_STORE", store_dir)
        .arg("--check")
        .arg(path))
}

// ------------------------------------------------------------------ tests

#[test]
fn missing_nix_build_fails_with_a_pointer_to_ci_run() {
    let empty = tempfile::tempdir().unwrap();
    let err =
        require_nix_in(empty.path().as_os_str()).expect_err("found nix-build in an empty dir");
    assert!(
        err.contains(".ci/run") && err.contains("nix-bin"),
        "unhelpful message: {err}"
    );
}

#[test]
fn references_in_file_contents_are_stripped() {
    let n = nonce("references_in_file_contents_are_stripped");
    let (lib, python) = (dep(&n, "lib"), dep(&n, "python"));
    let tool = tool();

    let plain = must_build("contents.nix", &case(&n, None));
    assert_eq!(
        references(&plain),
        set([&lib, &python]),
        "Nix must see both deps in the text and the blob"
    );

    let stripped = must_build("contents.nix", &case(&n, Some(&tool)));
    assert_eq!(
        references(&stripped),
        Vec::<String>::new(),
        "references left after strip-store-refs"
    );

    // Only the 32 hash characters changed: sizes, NULs, store dir and names kept.
    for file in ["share/env.sh", "share/blob.bin"] {
        let want = erased(&read(&plain.join(file)), &[hash_of(&lib), hash_of(&python)]);
        let got = read(&stripped.join(file));
        assert_eq!(got.len(), want.len(), "{file}: size changed");
        assert!(
            got == want,
            "{file}: differs from the input with its hashes turned into e"
        );
    }
}

#[test]
fn symlink_target_references_are_stripped() {
    let n = nonce("symlink_target_references_are_stripped");
    let linkonly = dep(&n, "linkonly");
    let tool = tool();

    // The tree's only reference is a symlink target, and Nix sees it.
    let plain = must_build("symlink.nix", &case(&n, None));
    assert_eq!(references(&plain), set([&linkonly]));

    let stripped = must_build("symlink.nix", &case(&n, Some(&tool)));
    assert_eq!(
        references(&stripped),
        Vec::<String>::new(),
        "the symlink still references {linkonly}"
    );

    let before = readlink(&plain.join("bin/target"));
    let after = readlink(&stripped.join("bin/target"));
    assert_eq!(
        after,
        text(&erased(before.as_bytes(), &[hash_of(&linkonly)]))
    );
    assert_eq!(
        readlink(&stripped.join("bin/same")),
        "target",
        "a link without store path changed"
    );
}

#[test]
fn bare_hashes_are_neutralised() {
    let n = nonce("bare_hashes_are_neutralised");
    let (python, bareonly) = (dep(&n, "python"), dep(&n, "bareonly"));
    let tool = tool();

    // Nix counts hashes with no store dir before them and no `-` after.
    let plain = must_build("bare.nix", &case(&n, None));
    assert_eq!(references(&plain), set([&python, &bareonly]));

    // python's hash stands bare in a file before the one with its prefix;
    // bareonly's is only bare and given with --also-hash (bare.nix).
    let stripped = must_build("bare.nix", &case(&n, Some(&tool)));
    assert_eq!(
        references(&stripped),
        Vec::<String>::new(),
        "bare hashes left"
    );
    let e = text(ERASED);
    assert_eq!(
        text(&read(&stripped.join("bare/a-bare.txt"))),
        format!("zz{e}zz\n")
    );
    assert_eq!(
        text(&read(&stripped.join("bare/bareonly.txt"))),
        format!("id={e}\n")
    );
}

#[test]
fn fod_with_references_is_accepted_after_strip() {
    let n = nonce("fod_with_references_is_accepted_after_strip");
    let tool = tool();
    let hash = learn_fod_hash(&n, Some(&tool));
    if let Err(why) = fod_accepted(&n, Some(&tool), &hash) {
        panic!("stripped FOD with outputHash {hash} not accepted: {why}");
    }
}

#[test]
fn fod_with_references_is_not_accepted_without_strip() {
    let n = nonce("fod_with_references_is_not_accepted_without_strip");
    let hash = learn_fod_hash(&n, None);
    if let Ok(out) = fod_accepted(&n, None, &hash) {
        panic!("unstripped FOD accepted as {out:?}: the test can no longer tell a stripped FOD from one with references");
    }
}

#[test]
fn fod_hash_does_not_depend_on_dependency_paths() {
    // Two nonces give the deps different store paths; after stripping, the
    // FOD's content (and so its pinned hash) must be the same.
    let tool = tool();
    let a = learn_fod_hash(&nonce("fod_hash_a"), Some(&tool));
    let b = learn_fod_hash(&nonce("fod_hash_b"), Some(&tool));
    assert_eq!(
        a, b,
        "the stripped FOD's hash changed with its dependencies' store paths"
    );
}

#[test]
fn changing_the_tool_binary_rebuilds_the_output() {
    let n = nonce("changing_the_tool_binary_rebuilds_the_output");
    let real = tool();
    let dir = tempfile::tempdir().unwrap();

    // The same binary with one more byte: a different input.
    let changed = dir.path().join("strip-store-refs-changed");
    let mut bytes = read(&real);
    bytes.push(0);
    std::fs::write(&changed, bytes).unwrap();
    std::fs::set_permissions(&changed, std::fs::Permissions::from_mode(0o755)).unwrap();
    // A tool that does nothing: its output must keep the references, so it
    // cannot be a cached output of the real tool.
    let noop = dir.path().join("strip-store-refs-noop");
    std::fs::write(&noop, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&noop, std::fs::Permissions::from_mode(0o755)).unwrap();

    let by_real = must_build("contents.nix", &case(&n, Some(&real)));
    let by_changed = must_build("contents.nix", &case(&n, Some(&changed)));
    let by_noop = must_build("contents.nix", &case(&n, Some(&noop)));
    assert_ne!(
        by_real, by_changed,
        "a changed binary reused the old output"
    );
    assert_ne!(by_real, by_noop, "a different tool reused the old output");
    assert_eq!(references(&by_changed), Vec::<String>::new());
    assert_eq!(
        references(&by_noop),
        set([dep(&n, "lib"), dep(&n, "python")])
    );
}

#[test]
fn check_lists_every_reference_nix_finds() {
    let n = nonce("check_lists_every_reference_nix_finds");
    let plain = must_build("mixed.nix", &case(&n, None));
    let refs = references(&plain);
    assert_eq!(refs.len(), 3, "lib, python and linkonly expected: {refs:?}");

    let out = check(&plain);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "--check must exit 1:\n{stdout}{}",
        text(&out.stderr)
    );
    for r in &refs {
        assert!(
            stdout.contains(hash_of(r)),
            "--check does not list {r}:\n{stdout}"
        );
    }
    let verify = run(nix("nix-store").arg("--verify-path").arg(&plain));
    assert!(
        verify.status.success(),
        "--check modified {plain:?}: {}",
        text(&verify.stderr)
    );
}

#[test]
fn check_passes_on_a_stripped_output() {
    let n = nonce("check_passes_on_a_stripped_output");
    let tool = tool();
    let stripped = must_build("mixed.nix", &case(&n, Some(&tool)));
    assert_eq!(references(&stripped), Vec::<String>::new());
    let out = check(&stripped);
    assert_eq!(
        out.status.code(),
        Some(0),
        "--check on a stripped tree:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}
