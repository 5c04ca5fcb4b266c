//! flake.nix and nix/package.nix as nixpkgs users meet them, with the real Nix:
//!
//! - `nix flake check` of this repository's flake, its `nixpkgs` input replaced by the
//!   offline stand-in flake tests/nix/nixpkgs (nix/offline's package set: a callPackage that
//!   adds `override`/`overrideDerivation` to what it returns, as nixpkgs' does, and a
//!   rustPlatform that installs the binaries cargo built instead of compiling the crate). It
//!   evaluates every output, refuses a non-derivation in `packages` or `checks`, and builds
//!   the checks: the package (whose checkPhase runs the prebuilt unit tests, as
//!   `cargoTestFlags = --lib` asks) and the four hooks;
//! - the README's flake example, as examples/demo-app/flake.nix has it: a flake with inputs
//!   `nixpkgs` and `fixup-hooks` that builds the demo app with `fixup-hooks.lib.mkUvVenv pkgs`
//!   (the stand-in nixpkgs again, given the host's uv), and the app runs;
//! - the unit tests, built static, run inside Nix's build sandbox — no /usr, no /bin but
//!   /bin/sh, no network, HOME=/homeless-shelter — as nixpkgs' build of package.nix runs them.
//!
//! Needs Nix 2.26 on PATH (scripts/test puts scripts/install-nix's there), a kernel that lets
//! root make the sandbox's namespaces, and bash-static (the sandbox's /bin/sh;
//! scripts/install-deps installs it). The flake is read as `git+file:` of this checkout, so
//! files not yet added to git are not part of it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::support::nix::{nix, run, stamp, text};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const SANDBOX: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/nix/sandbox/unit-tests.nix"
);
/// The sandbox's /bin/sh: a shell that needs nothing from the host's /usr.
const BASH_STATIC: &str = "/usr/bin/bash-static";

/// The crate's unit tests as one static binary (cargo test --lib, crt-static), built once
/// per run into target/static-unit-tests.
fn static_unit_tests() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = run(Command::new(cargo)
            .current_dir(ROOT)
            .args(["test", "--lib", "--no-run", "--message-format=json"])
            .args(["--target", "x86_64-unknown-linux-gnu"])
            .env(
                "CARGO_TARGET_DIR",
                Path::new(ROOT).join("target/static-unit-tests"),
            )
            .env("RUSTFLAGS", "-C target-feature=+crt-static"));
        assert!(
            out.status.success(),
            "building the static unit tests failed:\n{}",
            text(&out.stderr)
        );
        text(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| {
                v["reason"] == "compiler-artifact"
                    && v["profile"]["test"] == true
                    && v["target"]["kind"][0] == "lib"
            })
            .and_then(|v| v["executable"].as_str().map(PathBuf::from))
            .expect("cargo named no unit-test executable")
    })
}

/// A directory holding the tools cargo built for this test and the static unit tests as
/// `unit-tests`: what the stand-in nixpkgs' rustPlatform installs and runs. A `nonce` file
/// makes it a new input every run, so the checks are built, not found built.
fn prebuilt() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("nonce"), stamp()).unwrap();
    for tool in ["strip-store-refs", "patch-rpaths", "fix-venv"] {
        let built = Path::new(env!("CARGO_BIN_EXE_fix-venv")).with_file_name(tool);
        std::fs::copy(&built, dir.path().join(tool))
            .unwrap_or_else(|e| panic!("copy {built:?}: {e}"));
    }
    std::fs::copy(static_unit_tests(), dir.path().join("unit-tests")).unwrap();
    dir
}

/// `nix SUBCOMMAND… FLAKE` with the `nixpkgs` input replaced by the stand-in flake, its
/// `tools` by `tools` and, if given, its `uv` by `uv`; lock files left alone.
fn nix_with_stand_in(subcommand: &[&str], flake: &str, tools: &Path, uv: Option<&Path>) -> Command {
    let mut cmd = nix("nix");
    cmd.args(subcommand)
        .args(["--no-write-lock-file", flake])
        .args(["--override-input", "nixpkgs"])
        .arg(format!("git+file://{ROOT}?dir=tests/nix/nixpkgs"))
        .args(["--override-input", "nixpkgs/tools"])
        .arg(format!("path:{}", tools.display()));
    if let Some(uv) = uv {
        cmd.args(["--override-input", "nixpkgs/uv"])
            .arg(format!("path:{}", uv.display()));
    }
    cmd
}

#[test]
fn flake_check_passes_against_the_offline_nixpkgs() {
    let tools = prebuilt();
    let out = run(&mut nix_with_stand_in(
        &["flake", "check", "--print-build-logs"],
        &format!("git+file://{ROOT}"),
        tools.path(),
        None,
    ));
    let log = text(&out.stderr);
    assert!(out.status.success(), "nix flake check failed:\n{log}");
    for output in [
        "packages.x86_64-linux.fixup-hooks",
        "packages.x86_64-linux.strip-store-refs",
        "packages.x86_64-linux.stripStoreRefsHook",
        "checks.x86_64-linux.package",
        "checks.x86_64-linux.fixVenvRestoreHook",
        "devShells.x86_64-linux.default",
    ] {
        assert!(
            log.contains(&format!("checking derivation {output}...")),
            "{output} not checked:\n{log}"
        );
    }
    // package.nix's checkPhase ran the unit tests (cargoTestFlags = --lib), and they passed.
    assert!(
        log.contains("running the prebuilt unit tests (--lib)") && log.contains("test result: ok."),
        "{log}"
    );
    for not_a_package in ["override", "overrideDerivation"] {
        assert!(
            !log.contains(&format!(".{not_a_package}")),
            "{not_a_package} in the outputs:\n{log}"
        );
    }
}

/// Needs uv and PyPI (or uv's cache) as well: the demo app's FOD runs `uv sync`.
#[cfg(feature = "net-tests")]
#[test]
fn the_readme_flake_example_builds_the_demo_app() {
    let tools = prebuilt();
    let uv = tempfile::tempdir().unwrap();
    let uv_bin = crate::support::nix::find_uv().unwrap_or_else(|e| panic!("{e}"));
    std::fs::copy(&uv_bin, uv.path().join("uv")).unwrap();
    let cache = Path::new(ROOT).join("target/uv-cache-flake");
    std::fs::create_dir_all(&cache).unwrap();
    let out = run(nix_with_stand_in(
        &["build", "--no-link", "--print-out-paths"],
        &format!("git+file://{ROOT}?dir=examples/demo-app"),
        tools.path(),
        Some(uv.path()),
    )
    .args(["--override-input", "fixup-hooks"])
    .arg(format!("git+file://{ROOT}"))
    .env("FIXUP_HOOKS_UV_CACHE_DIR", &cache));
    assert!(
        out.status.success(),
        "nix build of examples/demo-app failed:\n{}",
        text(&out.stderr)
    );
    let app = PathBuf::from(text(&out.stdout).trim());
    let ran = run(&mut Command::new(app.join("bin/demo-cli")));
    assert!(ran.status.success(), "{}", text(&ran.stderr));
    let ran = run(Command::new(app.join("bin/python"))
        .args(["-c", "import fastcrc._fastcrc, yaml._yaml"])
        .env("PYTHONDONTWRITEBYTECODE", "1"));
    assert!(ran.status.success(), "{}", text(&ran.stderr));
}

#[test]
fn unit_tests_pass_in_the_nix_build_sandbox() {
    assert!(
        Path::new(BASH_STATIC).is_file(),
        "{BASH_STATIC} is missing (scripts/install-deps installs bash-static)"
    );
    let out = run(nix("nix-build")
        .args(["--no-out-link", SANDBOX])
        .arg("--argstr")
        .arg("unitTests")
        .arg(static_unit_tests())
        .args(["--argstr", "nonce", &stamp()])
        .args(["--option", "sandbox", "true"])
        .args([
            "--option",
            "sandbox-paths",
            &format!("/bin/sh={BASH_STATIC}"),
        ]));
    let log = text(&out.stderr);
    assert!(
        out.status.success(),
        "the unit tests failed in the sandbox:\n{log}"
    );
    // The builder itself checks it saw no /usr and no /bin/sleep; the test binary ran.
    assert!(
        log.contains("in the build sandbox: no /usr, no /bin/sleep"),
        "{log}"
    );
    assert!(log.contains("test result: ok."), "{log}");
}
