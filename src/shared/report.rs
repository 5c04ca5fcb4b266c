//! What every tool's report is made of and how it is printed: a short, sorted summary on
//! stderr for people, JSON (`--report json`) or a listing on stdout for tools, the same bytes
//! whatever the number of threads.

use std::io::{self, Write};
use std::path::Path;

use serde::Serialize;

use super::cli::Exit;

/// Formats a byte count for people (`523.4 MiB`).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `1 file`, `2 files`; `1 directory`, `2 directories`.
pub fn count(n: u64, noun: &str) -> String {
    match (n, noun.strip_suffix('y')) {
        (1, _) => format!("1 {noun}"),
        (_, Some(stem)) => format!("{n} {stem}ies"),
        _ => format!("{n} {noun}s"),
    }
}

/// A typed error or warning as a report lists it. Errors stay typed (each tool's own enum)
/// until the report is made; this is the one place they become strings.
pub trait Reportable: std::fmt::Display {
    /// The path it concerns.
    fn path(&self) -> &Path;
    /// What went wrong, for tools: the snake_case name of the error's variant
    /// (`vanished`, `malformed`, `entry_point_refused`, …).
    fn kind(&self) -> &'static str;
}

/// An error (or warning) that did not stop the run: the path it concerns, its kind and its
/// message (which names the path too, as the summary prints it).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ErrorEntry {
    /// The path it concerns.
    pub path: String,
    /// See [`Reportable::kind`].
    pub kind: &'static str,
    /// What the summary prints.
    pub message: String,
}

impl ErrorEntry {
    /// The entry for `e`, its path as `e` names it.
    pub fn new(e: &(impl Reportable + ?Sized)) -> ErrorEntry {
        ErrorEntry {
            path: e.path().display().to_string(),
            kind: e.kind(),
            message: e.to_string(),
        }
    }

    /// The entry for `e`, its path relative to `root` when it lies below it.
    pub fn relative_to(e: &(impl Reportable + ?Sized), root: &Path) -> ErrorEntry {
        let path = e.path();
        ErrorEntry {
            path: path
                .strip_prefix(root)
                .unwrap_or(path)
                .display()
                .to_string(),
            ..ErrorEntry::new(e)
        }
    }
}

/// Sorted as people read them: by path, then message.
impl Ord for ErrorEntry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (&self.path, &self.message, self.kind).cmp(&(&other.path, &other.message, other.kind))
    }
}

impl PartialOrd for ErrorEntry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The report's entries for `items`, sorted.
pub fn entries<E: Reportable>(items: impl IntoIterator<Item = E>) -> Vec<ErrorEntry> {
    let mut entries: Vec<ErrorEntry> = items.into_iter().map(|e| ErrorEntry::new(&e)).collect();
    entries.sort();
    entries
}

/// What the report of a tool that walks trees ends with, in its JSON and its summary alike:
/// the entries it never opens, what a killed earlier run left, warnings and errors.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Footer {
    /// FIFOs, sockets and devices, which are never opened.
    pub skipped_special: Vec<String>,
    /// Temporary entries a killed earlier run of the same tool left (see
    /// [`leftover`](super::leftover)): removed, or only listed when the run writes nothing.
    pub leftovers: Vec<String>,
    /// What was left alone or not quite as asked, without failing the run.
    pub warnings: Vec<ErrorEntry>,
    /// What failed; any makes the run exit with [`Exit::Failed`].
    pub errors: Vec<ErrorEntry>,
}

impl Footer {
    /// The footer's lines of `tool`'s summary; `removed` when the leftovers were removed.
    pub fn write(&self, out: &mut dyn Write, tool: &str, removed: bool) -> io::Result<()> {
        for path in &self.skipped_special {
            writeln!(
                out,
                "{tool}: {path}: skipped: not a regular file, directory or symlink"
            )?;
        }
        let verb = if removed { "removed" } else { "would remove" };
        for path in &self.leftovers {
            writeln!(out, "{tool}: {verb} {path}: left by a killed run")?;
        }
        for w in &self.warnings {
            writeln!(out, "{tool}: warning: {}", w.message)?;
        }
        write_errors(out, tool, &self.errors)
    }
}

/// One `TOOL: MESSAGE` line per error (each message names its path).
pub fn write_errors(out: &mut dyn Write, tool: &str, errors: &[ErrorEntry]) -> io::Result<()> {
    for e in errors {
        writeln!(out, "{tool}: {}", e.message)?;
    }
    Ok(())
}

/// `--report FORMAT`, the same for every tool: `json`, the whole report as pretty-printed
/// JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    // Not a doc comment: clap would print it in every tool's --help.
    #[allow(missing_docs)]
    Json,
}

/// What every tool's report can do, so the binaries print and exit the same way.
pub trait Report: Serialize {
    /// The short, sorted summary for stderr.
    fn write_summary(&self, out: &mut dyn Write) -> io::Result<()>;
    /// The per-item listing printed on stdout by `--dry-run` (and `--check`).
    fn write_listing(&self, out: &mut dyn Write) -> io::Result<()>;
    /// True when the run must end with [`Exit::Failed`].
    fn failed(&self) -> bool;
    /// The exit status; `printed` is false when stdout did not take the whole report. A
    /// report whose status says more than "failed or not" (`fix-venv diff`) overrides it.
    fn exit(&self, printed: bool) -> Exit {
        if !printed || self.failed() {
            Exit::Failed
        } else {
            Exit::Ok
        }
    }
}

/// Prints `report` — JSON or, when `listing`, the listing on stdout; the summary on stderr —
/// and gives the exit status.
pub fn finish(report: &impl Report, format: Option<ReportFormat>, listing: bool) -> Exit {
    let mut stdout = io::stdout().lock();
    let printed = match format {
        Some(ReportFormat::Json) => serde_json::to_writer_pretty(&mut stdout, report)
            .map_err(io::Error::from)
            .and_then(|()| writeln!(stdout)),
        None if listing => report.write_listing(&mut stdout),
        None => Ok(()),
    };
    let flushed = stdout.flush();
    let _ = report.write_summary(&mut io::stderr().lock());
    report.exit(printed.is_ok() && flushed.is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_picks_unit() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3 * 1024 * 1024 / 2), "1.5 MiB");
    }
}
