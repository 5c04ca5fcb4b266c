//! fixup-hooks: the library behind `strip-store-refs`, `patch-rpaths` and `fix-venv`.
//!
//! Each module is one concept; the binaries in `src/bin` only parse arguments, call in here
//! and print. Data flows one way: walk → scan → plan → write → report.

pub mod cli;
pub mod elf;
pub mod leftover;
pub mod patch;
pub mod plan;
pub mod report;
pub mod resolve;
pub mod rewrite;
pub mod scan;
pub mod select;
pub mod store;
pub mod strip;
pub mod venv;
pub mod walk;
