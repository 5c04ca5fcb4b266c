//! Virtualenv layout: preparing a uv venv for a fixed-output derivation and restoring it in
//! the main derivation.
//!
//! `prepare` runs in the FOD, after `uv sync`: it removes what differs between builds
//! (bytecode, uv's `.lock` and `uv_cache.json`). `restore` runs in the main derivation once
//! the tree is in its final place: it re-links `bin/python`, rewrites `pyvenv.cfg`, and
//! regenerates every entry-point script with uv's template so that the venv names itself
//! and the interpreter it is given. Both compute a [`plan::VenvPlan`] first; a dry run prints it,
//! a real run applies it. `diff` changes nothing: it compares two builds of one tree and says
//! why they differ.

pub mod cfg;
pub mod claims;
pub mod diff;
pub mod entry_points;
pub mod error;
pub mod fsx;
pub mod layout;
pub mod normalise;
pub mod plan;
pub mod prepare;
pub mod record;
pub mod report;
pub mod restore;
pub mod script;
pub mod source;

pub use error::{VenvError, VenvWarning};
