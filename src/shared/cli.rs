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

/// `--report FORMAT`, the same for every tool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Json,
}

/// What every tool's report can do, so the binaries print and exit the same way.
pub trait Report: serde::Serialize {
    /// The short, sorted summary for stderr.
    fn write_summary(&self, out: &mut dyn std::io::Write) -> std::io::Result<()>;
    /// The per-item listing printed on stdout by `--dry-run` (and `--check`).
    fn write_listing(&self, out: &mut dyn std::io::Write) -> std::io::Result<()>;
    /// True when the run must end with [`Exit::Failed`].
    fn failed(&self) -> bool;
}

/// Prints `report` — JSON or, when `listing`, the listing on stdout; the summary on stderr —
/// and gives the exit status.
pub fn finish(report: &impl Report, format: Option<ReportFormat>, listing: bool) -> Exit {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let printed = match format {
        Some(ReportFormat::Json) => serde_json::to_writer_pretty(&mut stdout, report)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(stdout)),
        None if listing => report.write_listing(&mut stdout),
        None => Ok(()),
    };
    let flushed = stdout.flush();
    let _ = report.write_summary(&mut std::io::stderr().lock());
    if printed.is_err() || flushed.is_err() || report.failed() {
        Exit::Failed
    } else {
        Exit::Ok
    }
}

/// A usage error: printed as `TOOL: MESSAGE`, nothing looked at.
pub fn usage(tool: &str, message: impl std::fmt::Display) -> Exit {
    eprintln!("{tool}: {message}");
    Exit::Usage
}

/// Every named path must exist (a typo is a usage error, before anything is touched).
pub fn require_paths<'a>(
    tool: &str,
    paths: impl IntoIterator<Item = &'a std::path::PathBuf>,
) -> Result<(), Exit> {
    for path in paths {
        if let Err(e) = std::fs::symlink_metadata(path) {
            return Err(usage(tool, format_args!("{}: {e}", path.display())));
        }
    }
    Ok(())
}
