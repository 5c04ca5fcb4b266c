//! Command-line conventions every tool follows: exit codes, the worker pool, usage errors,
//! and the arguments strip-store-refs and patch-rpaths both take.

use std::path::PathBuf;

use super::report::ReportFormat;
use super::store::StoreDir;

/// Exit statuses, one meaning each, the same for every tool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Done; nothing left to report.
    Ok = 0,
    /// Done with errors, or (`--check`) something remains to fix, or (`fix-venv diff`) the
    /// trees differ.
    Failed = 1,
    /// The command line was wrong; nothing was looked at.
    Usage = 2,
    /// The answer is not known (`fix-venv diff`): part of a tree could not be read, or the
    /// report could not be written, so what was found may not be all there is. Kept apart from
    /// [`Exit::Failed`] because there "failed" is an answer ("they differ").
    Incomplete = 3,
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit as u8)
    }
}

/// Threads to use: `--jobs` when given, else `NIX_BUILD_CORES` (what the build was granted;
/// 0 means all), else every core.
pub fn jobs(explicit: Option<usize>) -> usize {
    let from_env = std::env::var("NIX_BUILD_CORES")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok());
    match explicit.or(from_env) {
        Some(n) if n > 0 => n,
        _ => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
    }
}

/// Sets up the global rayon pool once, before any parallel work.
pub fn init_pool(jobs: usize) {
    // Only fails if a pool already exists, which then serves just as well.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build_global();
}

/// A usage error: printed as `TOOL: MESSAGE`, nothing looked at.
pub fn usage(tool: &str, message: impl std::fmt::Display) -> Exit {
    eprintln!("{tool}: {message}");
    Exit::Usage
}

/// Every named path must exist (a typo is a usage error, before anything is touched).
pub fn require_paths<'a>(
    tool: &str,
    paths: impl IntoIterator<Item = &'a PathBuf>,
) -> Result<(), Exit> {
    for path in paths {
        if let Err(e) = std::fs::symlink_metadata(path) {
            return Err(usage(tool, format_args!("{}: {e}", path.display())));
        }
    }
    Ok(())
}

/// The arguments strip-store-refs and patch-rpaths both take, with one meaning
/// (`#[command(flatten)]` them into a tool's arguments).
#[derive(clap::Args, Debug)]
pub struct CommonArgs {
    /// Store directory [default: $NIX_STORE_DIR, else $NIX_STORE, else /nix/store].
    #[arg(long, value_name = "DIR")]
    pub store_dir: Option<String>,

    /// Also print the report on stdout in this format.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub report: Option<ReportFormat>,

    /// Worker threads [default: $NIX_BUILD_CORES, else all cores].
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<usize>,
}

impl CommonArgs {
    /// `--store-dir`, else the environment's store directory (see [`StoreDir::resolve`]).
    pub fn store(&self) -> Result<StoreDir, String> {
        StoreDir::resolve(self.store_dir.as_deref())
    }

    /// Sets up the worker pool for `--jobs` (see [`jobs`]).
    pub fn init_pool(&self) {
        init_pool(jobs(self.jobs));
    }
}
