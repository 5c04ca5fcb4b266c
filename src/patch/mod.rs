//! patch-rpaths: give every dynamic ELF file of a tree the RUNPATH (and interpreter) that
//! finds the libraries it needs, as nixpkgs' autoPatchelf does, and report what is missing.
//! [`run`](mod@run) is the pipeline; [`resolve`] searches, [`plan`] decides per file,
//! [`advice`] names the package a missing library likely comes from.

pub mod advice;
pub mod plan;
pub mod report;
pub mod resolve;
pub mod run;

pub use run::{run, OptionsError, PatchError, PatchOptions, PatchWarning};
