//! What every tool shares.

pub mod cli;
pub mod leftover;
pub mod report;
pub mod scan;
pub mod store;
pub mod walk;
