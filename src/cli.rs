//! What the three binaries share: exit codes and the size of the worker pool.

/// Exit statuses, one meaning each, the same for every tool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Done; nothing left to report.
    Ok = 0,
    /// Done with errors, or (`--check`) something remains to fix.
    Failed = 1,
    /// The command line was wrong; nothing was looked at.
    Usage = 2,
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
