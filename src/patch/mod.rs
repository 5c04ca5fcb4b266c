//! patch-rpaths.

pub mod advice;
pub mod plan;
pub mod report;
pub mod resolve;
pub mod run;

pub use run::{run, OptionsError, PatchError, PatchOptions, PatchWarning};
