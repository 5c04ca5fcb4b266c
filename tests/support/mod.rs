//! Helpers the integration-test binaries share, one file per concern. Every binary
//! (`tests/*/main.rs`) declares `mod support;` once; its test modules reach a helper as
//! `crate::support::common::tool` and so on. Helpers are plain functions and small
//! builders: fixtures are built here, not copied in.
//!
//! - `common`: store paths and hashes, running the three tools, snapshots, the shared
//!   realistic fixture (`FIXUP_HOOKS_FIXTURE`, built by scripts/make-fixture);
//! - `elf`: gcc-built ELF fixtures and the oracles (readelf, patchelf, ctypes) for the
//!   writer;
//! - `peer`: the peer-scenario fixtures built from `tests/peer/` and their checks;
//! - `venv`: real venvs built by uv, synthetic ones for hostile input, running fix-venv;
//! - `nix`: running the real Nix (2.26) on the derivations in `tests/nix/`;
//! - `reliability`: seeded randomness, tree snapshots with modes, processes watched through
//!   /proc, strace, ordinary-user runs.
#![allow(dead_code)]

pub mod common;
pub mod elf;
pub mod nix;
pub mod peer;
pub mod reliability;
pub mod venv;
