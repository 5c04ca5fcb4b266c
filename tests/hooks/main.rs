//! The real-Nix tests of what ties the tools together: the setup hooks, the stand-in stdenv
//! they run on, the Nix expressions, the flake and the demo app end to end
//! (`cargo test --features nix-tests --test hooks`). The derivations and stubs they build
//! live in `tests/nix/`. The whole binary needs `--features nix-tests` (Cargo.toml's
//! `required-features`): Nix 2.26 on PATH (scripts/install-nix), run as root without a
//! daemon. `e2e` and one `flake` test also run uv against PyPI: `--features net-tests`.
//! (tests/strip/nix.rs and tests/patch/nix.rs, each tool's own real-Nix tests, are in that
//! tool's binary.)

#[path = "../support/mod.rs"]
mod support;

/// The Nix expressions evaluated against stubs (no build).
mod eval;
/// `nix flake check`, the unit tests in Nix's build sandbox.
mod flake;
/// The setup hooks and their knobs, each under three ways of passing them.
mod hooks;
/// The stand-in stdenv behaves as nixpkgs' where the hooks meet it.
mod stdenv;

/// examples/demo-app through mkUvVenv: the FOD's hash, the app runs (uv, PyPI).
#[cfg(feature = "net-tests")]
mod e2e;

/// A missing Nix is a failure that says how to get one, not a skip.
#[test]
fn missing_nix_fails_with_a_pointer_to_ci_run() {
    for program in ["nix-build", "nix-instantiate"] {
        let err = support::nix::missing_nix_message(program);
        assert!(
            err.contains(program)
                && err.contains(".ci/run")
                && err.contains("scripts/install-deps")
                && err.contains("nix-bin"),
            "unhelpful message for {program}: {err}"
        );
    }
}
