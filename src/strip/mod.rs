//! strip-store-refs: finds every store reference in a tree (contents, symlink targets, names)
//! and neutralises it in place, so that Nix accepts a fixed-output derivation's output.
//! [`select`] decides which hashes, [`plan`] where their bytes stand, [`rewrite`] writes them,
//! [`run`](mod@run) drives a run and [`report`] says what it did; [`cli`] holds the arguments
//! that select.

pub mod cli;
pub mod plan;
pub mod report;
pub mod rewrite;
pub mod run;
pub mod select;

pub use run::{run, run_with, StripError, StripMode, StripOptions, StripWarning, WriteTiming};
