//! strip-store-refs.

pub mod cli;
pub mod plan;
pub mod report;
pub mod rewrite;
pub mod run;
pub mod select;

pub use run::{run, run_with, StripError, StripMode, StripOptions, StripWarning, WriteTiming};
