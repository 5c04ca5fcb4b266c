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

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::nix::{
    bin_under_test, expect_got_hash, hash_of, nix, nix_build, nonce, references,
    refused_for_references, run, set, text, valid, NixArg, ERASED_HASH, FAKE_HASH,
};

const NIX_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/nix/strip");
const ERASED: &[u8] = ERASED_HASH.as_bytes();

// ---------------------------------------------------------------- helpers

/// The binary under test.
fn tool() -> PathBuf {
    PathBuf::from(bin_under_test(
        "STRIP_STORE_REFS_BIN",
        env!("CARGO_BIN_EXE_strip-store-refs"),
    ))
}

/// The usual arguments of the expressions: the nonce, and the tool when it
/// should run in the builder (`strip = false` otherwise).
fn case<'a>(nonce: &'a str, tool: Option<&'a Path>) -> Vec<NixArg<'a>> {
    match tool {
        Some(t) => vec![
            NixArg::Str("nonce", nonce),
            NixArg::Str("toolPath", t.to_str().expect("UTF-8 tool path")),
            NixArg::Bool("strip", true),
        ],
        None => vec![NixArg::Str("nonce", nonce), NixArg::Bool("strip", false)],
    }
}

/// `nix-build` an expression of tests/nix/strip; `Ok` is the printed path
/// (not necessarily valid: see the FOD tests), `Err` the stderr.
fn build(expr: &str, args: &[NixArg]) -> Result<PathBuf, String> {
    build_attr(expr, None, args)
}

fn build_attr(expr: &str, attr: Option<&str>, args: &[NixArg]) -> Result<PathBuf, String> {
    nix_build(&Path::new(NIX_DIR).join(expr), attr.as_slice(), args)
        .map(|mut built| built.paths.pop().unwrap())
}

fn must_build(expr: &str, args: &[NixArg]) -> PathBuf {
    build(expr, args).unwrap_or_else(|e| panic!("nix-build {expr} failed:\n{e}"))
}

/// The store path of a dependency from common.nix (lib, python, linkonly, bareonly).
fn dep(nonce: &str, name: &str) -> String {
    let path = build_attr(
        "common.nix",
        Some(&format!("deps.{name}")),
        &[NixArg::Str("nonce", nonce)],
    )
    .unwrap_or_else(|e| panic!("building dependency {name} failed:\n{e}"));
    path.to_str().unwrap().to_string()
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

/// Builds fod.nix with a fake hash and returns the hash Nix reports, the
/// way users learn a FOD's hash.
fn learn_fod_hash(nonce: &str, tool: Option<&Path>) -> String {
    let mut args = case(nonce, tool);
    args.push(NixArg::Str("outputHash", FAKE_HASH));
    match build("fod.nix", &args) {
        Ok(p) => panic!("fod.nix built with a fake hash: {p:?}"),
        Err(e) => expect_got_hash(&e),
    }
}

/// Whether Nix accepts fod.nix with `hash`: the build succeeds AND the
/// printed path is valid AND has no references. Nix 2.8 exits 0 for a FOD
/// with references but leaves the printed path invalid (the content is
/// registered elsewhere); newer Nix fails the build. `Err` says which.
fn fod_accepted(nonce: &str, tool: Option<&Path>, hash: &str) -> Result<PathBuf, String> {
    let mut args = case(nonce, tool);
    args.push(NixArg::Str("outputHash", hash));
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
        let want = erased(
            &read(&plain.join(file)),
            &[&hash_of(&lib), &hash_of(&python)],
        );
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
        text(&erased(before.as_bytes(), &[&hash_of(&linkonly)]))
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
    let mut args = case(&n, None);
    args.push(NixArg::Str("outputHash", FAKE_HASH));
    let hash = match build("fod.nix", &args) {
        Ok(p) => panic!("fod.nix built with a fake hash: {p:?}"),
        // Nix 2.26 and later check references before the hash: refused already.
        Err(e) if refused_for_references(&e) => return,
        Err(e) => expect_got_hash(&e),
    };
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
            stdout.contains(&hash_of(r)),
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
