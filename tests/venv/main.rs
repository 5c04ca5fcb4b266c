//! fix-venv's integration tests, one binary (`cargo test --test venv`).
//!
//! Plain `cargo test` needs Rust, gcc and python3.11 (synthetic venvs built here);
//! `--features net-tests` adds the venvs real uv builds from PyPI.

#[path = "../support/mod.rs"]
mod support;

/// `fix-venv diff`: why two builds of one tree differ.
mod diff;
/// What keeps the FOD's hash a function of the lock, and RECORD true in the app.
mod digests;
/// Hostile input: refused by name, nothing lands outside.
mod hostile;

/// uv's scripts, byte for byte, on venvs real uv made.
#[cfg(feature = "net-tests")]
mod golden;
/// prepare → strip-store-refs → move → restore on venvs real uv made; the venv then works.
#[cfg(feature = "net-tests")]
mod restore;
