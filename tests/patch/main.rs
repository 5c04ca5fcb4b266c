//! patch-rpaths' and its ELF reader/writer's integration tests, one binary
//! (`cargo test --test patch`).
//!
//! Plain `cargo test` needs Rust, gcc, binutils, patchelf (an oracle), python3.11 (ctypes
//! loads the results), clang and lld (peer_scenarios' cross-built and lld-linked fixtures);
//! `--features net-tests` adds the real wheels of the shared fixture, `--features nix-tests`
//! the real Nix.

#[path = "../support/mod.rs"]
mod support;

/// The command line as a user runs it, over gcc-built fixtures.
mod cli;
/// The reader over gcc-built files, non-ELF files and junk.
mod elf_read;
/// The writer, judged by readelf, patchelf and ld.so.
mod elf_write;
/// The layouts patchelf's own test suite is built around (fixtures from tests/peer/).
mod peer_scenarios;

/// Every ELF file of real manylinux wheels, from the shared fixture (uv, PyPI).
#[cfg(feature = "net-tests")]
mod elf_wheels;
/// Extension modules fetched by a FOD, stripped, then re-linked in the main derivation.
#[cfg(feature = "nix-tests")]
mod nix;
