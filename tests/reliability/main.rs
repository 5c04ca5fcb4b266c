//! The tests that try to break strip-store-refs and patch-rpaths (RELIABILITY.md), one binary
//! (`cargo test --test reliability`): kills, faults, fuzz regressions. Its own binary because
//! these tests cut across the tools and share their machinery (strace, ordinary-user runs,
//! /proc), not a tool's fixtures.
//!
//! Plain `cargo test` needs Rust, gcc and strace (and root for the ordinary-user cases);
//! `--features net-tests` adds the random kills over trees cut from the shared fixture.

#[path = "../support/mod.rs"]
mod support;

/// Faults and odd input: permissions, vanishing files, loops, FIFOs, huge and deep trees.
mod faults;
/// Every input a fuzz target once crashed on, as an ordinary test.
mod fuzz_regressions;
/// SIGKILL inside a precise window held open with strace.
mod kill_windows;

/// SIGKILL at random moments over trees cut from the shared fixture (uv, PyPI).
#[cfg(feature = "net-tests")]
mod crash_kill;
