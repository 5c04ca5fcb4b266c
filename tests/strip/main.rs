//! strip-store-refs' integration tests, one binary (`cargo test --test strip`).
//!
//! Plain `cargo test` needs Rust and gcc; `--features net-tests` adds the shared fixture
//! (a uv venv of real wheels, FIXUP_HOOKS_FIXTURE), `--features nix-tests` the real Nix.

#[path = "../support/mod.rs"]
mod support;

/// The command line as a user runs it: one test per promised behaviour.
mod cli;
/// Properties over random content (proptest; its saved cases in props.proptest-regressions).
mod props;

/// The shared realistic fixture (scripts/make-fixture: uv, PyPI).
#[cfg(feature = "net-tests")]
mod fixture;
/// Nix's own reference scanner as the oracle, a FOD as users build it.
#[cfg(feature = "nix-tests")]
mod nix;
