//! The offline stand-in stdenv (nix/offline/stdenv) behaves as nixpkgs' stdenv at each point
//! where fixup-hooks' hooks meet it — the tests of the hooks and the demo are only worth what
//! this stand-in is. One test per behaviour, each the fact from nixpkgs'
//! pkgs/stdenv/generic/setup.sh or pkgs/build-support/setup-hooks/ it pins; the derivations
//! are in tests/nix/stdenv/default.nix.
//!
//! Needs `nix-build` on PATH (scripts/test puts Nix 2.26 there) and the host's gcc, strip,
//! patchelf and readelf (the stand-in stdenv's initial PATH is the host's /usr).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::support::nix::{dynamic_values, nix_build, stamp, text, NixArg};

const NIX_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/nix/stdenv");

fn run_nonce() -> &'static str {
    static RUN: OnceLock<String> = OnceLock::new();
    RUN.get_or_init(|| format!("stdenv-{}", stamp()))
}

fn tools_dir() -> String {
    Path::new(env!("CARGO_BIN_EXE_fix-venv"))
        .parent()
        .unwrap()
        .display()
        .to_string()
}

fn try_build(attr: &str) -> Result<(PathBuf, String), String> {
    let dir = tools_dir();
    nix_build(
        Path::new(NIX_DIR),
        &[attr],
        &[
            NixArg::Str("toolsDir", &dir),
            NixArg::Str("nonce", run_nonce()),
        ],
    )
    .map(|mut b| (b.paths.remove(0), b.log))
}

fn build(attr: &str) -> (PathBuf, String) {
    try_build(attr).unwrap_or_else(|log| panic!("{attr} failed:\n{log}"))
}

fn path(attr: &str) -> PathBuf {
    build(attr).0
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path:?}: {e}"))
}

fn lines(path: &Path) -> Vec<String> {
    read(path).lines().map(str::to_string).collect()
}

#[test]
fn a_dangling_symlink_into_the_store_fails_the_build() {
    // no-broken-symlinks.sh: postFixup, every output; dontCheckForBrokenSymlinks skips.
    let err = try_build("brokenSymlink.dangling").expect_err("built with a dangling link");
    assert!(
        err.contains("-stdenv-test-dangling/link points to a missing target: /nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-gone/x")
            && err.contains("found 1 dangling symlinks"),
        "{err}"
    );
    path("brokenSymlink.allowed");
    // A target outside the store is none of its business.
    path("brokenSymlink.outside");
}

#[test]
fn absolute_symlinks_within_an_output_become_relative() {
    // make-symlinks-relative.sh: only links into their own output.
    let out = path("relativeSymlinks");
    assert_eq!(
        std::fs::read_link(out.join("bin/own")).unwrap(),
        PathBuf::from("../share/data")
    );
    let leaf_b = path("leafB");
    assert_eq!(
        std::fs::read_link(out.join("bin/other")).unwrap(),
        leaf_b.join("nix-support")
    );
}

#[test]
fn the_dev_output_propagates_the_other_outputs_in_post_fixup() {
    // multiple-outputs.sh: outputDev falls back to out; _multioutPropagateDev writes the
    // other outputs' paths into its nix-support/propagated-build-inputs.
    let (out, log) = build("multipleOutputs");
    let propagated = read(&out.join("nix-support/propagated-build-inputs"));
    assert!(
        propagated.starts_with(" /nix/store/") && propagated.ends_with("-stdenv-test-outputs-lib"),
        "{propagated:?}\n{log}"
    );
}

#[test]
fn shebangs_of_executables_point_at_the_inputs_interpreters() {
    // patch-shebangs.sh: executable files only, `env NAME` resolved too, on HOST_PATH.
    let interp = path("interp");
    let out = path("shebangs.patched");
    let first = |f: &str| {
        read(&out.join("bin").join(f))
            .lines()
            .next()
            .unwrap()
            .to_string()
    };
    let want = format!("#!{}/bin/stdenv-test-interp", interp.display());
    assert_eq!(first("via-env"), want);
    assert_eq!(first("direct"), format!("{want} -x"));
    assert_eq!(first("not-executable"), "#!/usr/bin/env stdenv-test-interp");
    let kept = path("shebangs.kept");
    assert_eq!(
        read(&kept.join("bin/via-env")).lines().next().unwrap(),
        "#!/usr/bin/env stdenv-test-interp"
    );
}

#[test]
fn elf_files_are_stripped_and_their_runpaths_shrunk_unless_told_not_to() {
    // strip.sh (-S on lib/, bin/, ...) and patchelf's hook (--shrink-rpath), both in
    // fixupOutput, before any postFixup hook.
    let sections = |p: &Path| {
        let out = std::process::Command::new("readelf")
            .args(["-S", "-W"])
            .arg(p)
            .output()
            .unwrap();
        text(&out.stdout)
    };
    let fixed = path("elf.fixed").join("lib/libdbg.so");
    assert!(!sections(&fixed).contains(".debug_info"), "not stripped");
    // (Debian's patchelf leaves an empty RUNPATH where it removed every entry.)
    let shrunk = dynamic_values(&fixed, "(RUNPATH)");
    assert!(shrunk.iter().all(String::is_empty), "{shrunk:?}");
    let kept = path("elf.kept").join("lib/libdbg.so");
    assert!(sections(&kept).contains(".debug_info"));
    assert_eq!(
        dynamic_values(&kept, "(RUNPATH)"),
        vec!["/nonexistent/lib".to_string()]
    );
}

#[test]
fn env_hooks_run_on_every_input_unless_strict_deps() {
    // setup.sh's _addToEnv: without strictDeps every env hook runs on every input of every
    // offset (native ones too); with it, only on those of its offsets. Propagated inputs
    // (leafA propagates leafB) count either way.
    let (a, b, native) = (path("leafA"), path("leafB"), path("nativeOnly"));
    let loose = lines(&path("envHooks.loose").join("calls"));
    for p in [&a, &b, &native] {
        assert!(
            loose.contains(&p.display().to_string()),
            "{p:?} in {loose:?}"
        );
    }
    let mut strict = lines(&path("envHooks.strict").join("calls"));
    let mut want = [a.display().to_string(), b.display().to_string()];
    strict.sort();
    want.sort();
    assert_eq!(strict, want);
}

#[test]
fn post_fixup_hooks_of_native_inputs_come_before_stdenvs_and_of_host_inputs_after() {
    // findInputs: "Default inputs must be processed last" — a native input's hooks are
    // registered before stdenv's default ones, a buildInputs one's after.
    let native = lines(&path("envHooks.loose").join("post-fixup-hooks"));
    assert_eq!(
        native,
        [
            "recorderPostFixup",
            "noBrokenSymlinksInAllOutputs",
            "_makeSymlinksRelative",
            "_multioutPropagateDev"
        ]
    );
    let host = lines(&path("hookOrderHost").join("post-fixup-hooks"));
    assert_eq!(
        host,
        [
            "noBrokenSymlinksInAllOutputs",
            "_makeSymlinksRelative",
            "_multioutPropagateDev",
            "recorderPostFixup"
        ]
    );
}

#[test]
fn concat_to_splits_strings_with_globbing_off_or_on_as_asked() {
    // Current nixpkgs: `local -; set -o noglob`. Before that, items were globbed against the
    // build directory (which holds `abc`), and nullglob dropped `z*`.
    assert_eq!(
        lines(&path("concatTo.current").join("items")),
        ["a*", "b", "z*"]
    );
    assert_eq!(lines(&path("concatTo.globs").join("items")), ["abc", "b"]);
    // An array (structured attrs) keeps its items as they are.
    assert_eq!(lines(&path("concatTo.array").join("items")), ["a*", "b c"]);
}

#[test]
fn structured_attrs_give_arrays_exported_env_and_an_outputs_map() {
    let out = path("structured");
    assert_eq!(
        read(&out.join("list")).trim(),
        r#"declare -a listAttr=([0]="one two" [1]="three")"#
    );
    assert_eq!(read(&out.join("env")).trim(), "from env");
    let outputs = read(&out.join("outputs"));
    assert!(
        outputs.starts_with("declare -A outputs=([out]=\"/nix/store/"),
        "{outputs}"
    );
}

#[test]
fn run_hook_runs_the_implicit_hook_before_the_array() {
    assert_eq!(
        read(&path("implicitHookFirst").join("order")).trim(),
        "implicit array"
    );
}
