//! fixup-hooks: the library behind `strip-store-refs`, `patch-rpaths` and `fix-venv`, three
//! tools that run as Nix setup hooks around a uv virtualenv built in a fixed-output
//! derivation. Each binary in `src/bin/` only parses its arguments, calls one `run` here and
//! prints the report; every run goes walk → scan → plan → write → report.
//!
//! - [`shared`]: what every tool uses — the store-path grammar, the tree walk, the reference
//!   scanner, the leftovers of killed runs, reports, command-line conventions.
//! - [`strip`]: strip-store-refs — which references to neutralise, where, and the in-place
//!   rewrite.
//! - [`elf`]: the ELF reader and writer patch-rpaths changes files with.
//! - [`patch`]: patch-rpaths — library resolution and the RUNPATH/interpreter plan per file.
//! - [`venv`]: fix-venv — `prepare` in the FOD, `restore` in the main derivation, and `diff`
//!   for when a FOD's hash changes.

#![deny(missing_docs)]

pub mod elf;
pub mod patch;
pub mod shared;
pub mod strip;
pub mod venv;
