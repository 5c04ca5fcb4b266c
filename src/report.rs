//! What a run did, as data: rendered as a short summary for people and as JSON for tools.
//! Everything in it is sorted, so two runs over the same tree print the same bytes.

use std::fmt::Write as _;
use std::io::{self, Write};

use serde::Serialize;

use crate::cli::Report;

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

/// An error that did not stop the run, with the path it concerns.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct ErrorEntry {
    pub path: String,
    pub message: String,
}

/// strip-store-refs' report.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StripReport {
    /// `strip`, `dry-run` or `check`.
    pub mode: &'static str,
    pub store_dir: String,
    pub files_scanned: u64,
    pub bytes_scanned: u64,
    pub symlinks_scanned: u64,
    pub directories_scanned: u64,
    /// Files whose contents were (or, in a dry run, would be) rewritten.
    pub files_changed: u64,
    pub symlinks_changed: u64,
    /// One entry per store path neutralised (or, under `--check`, remaining).
    pub store_paths: Vec<StorePathStat>,
    /// Every reference, in path and offset order.
    pub references: Vec<ReferenceEntry>,
    /// Store paths found but left alone (`--keep`, or not a `-t` target).
    pub kept: Vec<StorePathStat>,
    /// FIFOs, sockets and devices, which are never opened.
    pub skipped_special: Vec<String>,
    /// Temporary symlinks (`.strip-store-refs.PID.N`) a killed earlier run left: removed in
    /// strip mode, only listed otherwise.
    pub leftovers: Vec<String>,
    pub errors: Vec<ErrorEntry>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct StorePathStat {
    /// `STORE_DIR/HASH-NAME`, or `STORE_DIR/HASH` when it was only seen bare.
    pub store_path: String,
    pub hash: String,
    pub name: String,
    pub occurrences: u64,
    /// Entries (files, symlinks, names) that hold it.
    pub files: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ReferenceEntry {
    pub path: String,
    /// `contents`, `symlink target` or `file name`.
    pub place: &'static str,
    /// Byte offset of the hash within the contents, target or name.
    pub offset: u64,
    pub store_path: String,
    /// True when the hash stood without the store directory before it.
    pub bare: bool,
}

impl ReferenceEntry {
    /// `FILE:OFFSET STORE_PATH`, with where and how it was found when that is not plain
    /// file contents.
    pub fn line(&self) -> String {
        let mut line = format!("{}:{} {}", self.path, self.offset, self.store_path);
        let mut notes = Vec::new();
        if self.place != "contents" {
            notes.push(self.place);
        }
        if self.bare {
            notes.push("bare hash");
        }
        if !notes.is_empty() {
            let _ = write!(line, " ({})", notes.join(", "));
        }
        line
    }
}

impl Report for StripReport {
    /// One line per reference, for `--check` and `--dry-run`.
    fn write_listing(&self, out: &mut dyn Write) -> io::Result<()> {
        for r in &self.references {
            writeln!(out, "{}", r.line())?;
        }
        Ok(())
    }

    /// Errors, or (`--check`) references that remain.
    fn failed(&self) -> bool {
        !self.errors.is_empty() || (self.mode == "check" && !self.references.is_empty())
    }

    /// The short summary printed on stderr.
    fn write_summary(&self, out: &mut dyn Write) -> io::Result<()> {
        let tool = "strip-store-refs";
        writeln!(
            out,
            "{tool}: scanned {} ({}), {}, {} under {}",
            count(self.files_scanned, "file"),
            human_bytes(self.bytes_scanned),
            count(self.symlinks_scanned, "symlink"),
            count(self.directories_scanned, "directory"),
            self.store_dir,
        )?;
        let verb = match self.mode {
            "check" => "remaining",
            "dry-run" => "would neutralise",
            _ => "neutralised",
        };
        let total: u64 = self.store_paths.iter().map(|s| s.occurrences).sum();
        if self.mode == "check" {
            writeln!(
                out,
                "{tool}: {} to {} remain",
                count(total, "reference"),
                count(self.store_paths.len() as u64, "store path")
            )?;
        } else {
            let would = if self.mode == "dry-run" {
                "would change"
            } else {
                "changed"
            };
            writeln!(
                out,
                "{tool}: {would} {} and {}; {} to {}",
                count(self.files_changed, "file"),
                count(self.symlinks_changed, "symlink"),
                count(total, "reference"),
                count(self.store_paths.len() as u64, "store path")
            )?;
        }
        let width = self
            .store_paths
            .iter()
            .map(|s| s.store_path.len())
            .max()
            .unwrap_or(0);
        for s in &self.store_paths {
            writeln!(
                out,
                "  {verb} {:<width$}  {} in {}",
                s.store_path,
                count(s.occurrences, "occurrence"),
                count(s.files, "file")
            )?;
        }
        for s in &self.kept {
            writeln!(
                out,
                "  kept {:<width$}  {} in {} (--keep, or not a -t target)",
                s.store_path,
                count(s.occurrences, "occurrence"),
                count(s.files, "file")
            )?;
        }
        if self.mode != "check" && self.symlinks_changed > 0 {
            // stdenv's broken-symlink check would refuse such a link in whatever copies
            // this output; say so where the user reads the log of the build that made it.
            writeln!(
                out,
                "{tool}: note: {} now {} into the store at a neutralised path (eeee…), which \
                 does not exist: a build that copies this tree must point {} at a real path again \
                 (or set dontCheckForBrokenSymlinks)",
                count(self.symlinks_changed, "symlink"),
                if self.symlinks_changed == 1 {
                    "points"
                } else {
                    "point"
                },
                if self.symlinks_changed == 1 {
                    "it"
                } else {
                    "them"
                },
            )?;
        }
        for path in &self.skipped_special {
            writeln!(
                out,
                "{tool}: {path}: skipped: not a regular file, directory or symlink"
            )?;
        }
        write_leftovers(out, tool, self.mode == "strip", &self.leftovers)?;
        for e in &self.errors {
            writeln!(out, "{tool}: {}", e.message)?;
        }
        Ok(())
    }
}

/// One line per temporary entry a killed run left.
fn write_leftovers(
    out: &mut dyn Write,
    tool: &str,
    removed: bool,
    leftovers: &[String],
) -> io::Result<()> {
    let verb = if removed { "removed" } else { "would remove" };
    for path in leftovers {
        writeln!(out, "{tool}: {verb} {path}: left by a killed run")?;
    }
    Ok(())
}

/// patch-rpaths' report.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PatchReport {
    /// `patch` or `dry-run`.
    pub mode: &'static str,
    pub files_scanned: u64,
    pub elf_files: u64,
    pub non_elf: u64,
    /// ELF files of another class or machine than the target, left alone.
    pub foreign: Vec<String>,
    /// Static executables, objects and other ELF files without a dynamic section.
    pub not_dynamic: u64,
    /// Dynamic files that already had the right RUNPATH and interpreter.
    pub unchanged: u64,
    /// Files left as they were because a library they need is missing.
    pub blocked: u64,
    /// Files the writer could not change as asked (each also in `errors`, or in `warnings`
    /// when `--allow-optional-refusal` allowed it); left untouched.
    pub refused: u64,
    /// Files whose reading or writing failed (each also in `errors`); left untouched.
    pub failed: u64,
    pub patched: Vec<PatchedEntry>,
    pub missing: Vec<MissingEntry>,
    /// Every `.note.dlopen` dependency, found or not, per file in note order.
    pub dlopen: Vec<DlopenEntry>,
    /// The `--libs` directories and the RUNPATH directories found from them, in search order.
    pub search_dirs: Vec<String>,
    /// FIFOs, sockets and devices, which are never opened.
    pub skipped_special: Vec<String>,
    /// Temporary copies (`.NAME.patch-rpaths.PID`) a killed earlier run left: removed, or
    /// only listed in a dry run.
    pub leftovers: Vec<String>,
    /// Files left as they were that needed only `--runtime-dependency` / `--append-rpath`
    /// entries, and `.note.dlopen` notes that could not be read.
    pub warnings: Vec<ErrorEntry>,
    pub errors: Vec<ErrorEntry>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PatchedEntry {
    pub path: String,
    pub old_runpath: Option<String>,
    /// Absent when only the interpreter changed.
    pub new_runpath: Option<String>,
    pub old_interpreter: Option<String>,
    pub new_interpreter: Option<String>,
    /// How the file was changed (in place, spare dynamic slot, appended segment), in words.
    pub how: String,
    /// The layout strategy the writer used (`in-place`, `extend-last-segment`,
    /// `null-header-entry`, `dynstr-load-replaced`, `header-table-grown`,
    /// `header-table-moved`).
    pub placement: crate::elf::Placement,
    /// `.dynamic` moved into the new segment to take a new entry.
    pub dynamic_moved: bool,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct MissingEntry {
    pub path: String,
    /// The dependency as nixpkgs' auto-patchelf names it: the soname, or for a `.note.dlopen`
    /// entry with several alternatives `any(a, b, …)`.
    pub soname: String,
    /// `DT_NEEDED` or `.note.dlopen`.
    pub source: &'static str,
    /// The sonames looked for, in order (one for a `DT_NEEDED`).
    pub alternatives: Vec<String>,
    /// Packages named by the stripped RUNPATH entries the file had (`eeee…-NAME`).
    pub came_from: Vec<String>,
    /// Matched `--ignore-missing`: a warning, not an error.
    pub ignored: bool,
}

impl MissingEntry {
    pub fn line(&self) -> String {
        let hint = match self.came_from.as_slice() {
            [] => "add the package that provides it to buildInputs".to_string(),
            [one] => format!("it came from {one}: add that package to buildInputs"),
            many => format!(
                "it came from one of {}: add that package to buildInputs",
                many.join(", ")
            ),
        };
        let what = if self.ignored {
            "warning: ignoring missing"
        } else {
            "error: missing"
        };
        let source = if self.source == DLOPEN {
            " (.note.dlopen)"
        } else {
            ""
        };
        format!(
            "{what} {} wanted by {}{source} — {hint}",
            self.soname, self.path
        )
    }
}

/// The `source` of a `DT_NEEDED` dependency.
pub const NEEDED: &str = "DT_NEEDED";

/// The `source` of a dependency a `.note.dlopen` note declares.
pub const DLOPEN: &str = ".note.dlopen";

/// One `.note.dlopen` dependency of one file: its alternatives, and which one was found.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct DlopenEntry {
    pub path: String,
    /// The note's sonames, in order; any one satisfies the dependency.
    pub alternatives: Vec<String>,
    /// Those looked for, in order: up to the one found, else all of them.
    pub tried: Vec<String>,
    /// The first alternative found; None when none was (it is then in `missing` too).
    pub found: Option<String>,
    /// Where it was found: a directory on the new RUNPATH, or the libc directory. None when
    /// the file reaches it already (an absolute path that exists, its own `$ORIGIN` entry).
    pub directory: Option<String>,
    /// Whether `directory` goes on the RUNPATH (not for libc, unless `--keep-libc`).
    pub on_runpath: bool,
}

impl DlopenEntry {
    /// `tried a, b: found b in DIR`, for the listing and the summary.
    pub fn describe(&self) -> String {
        let tried = self.tried.join(", ");
        match (&self.found, &self.directory) {
            (None, _) => format!("tried {tried}: none found"),
            (Some(f), Some(d)) if self.on_runpath => format!("tried {tried}: found {f} in {d}"),
            (Some(f), Some(d)) => {
                format!("tried {tried}: found {f} in {d} (libc: the loader finds it)")
            }
            (Some(f), None) => format!(
                "tried {tried}: found {f} (already reachable: an absolute path or an $ORIGIN entry)"
            ),
        }
    }
}

impl PatchReport {
    pub fn failed_missing(&self) -> usize {
        self.missing.iter().filter(|m| !m.ignored).count()
    }
}

impl Report for PatchReport {
    /// A missing library (not ignored), a refused file, or another error.
    fn failed(&self) -> bool {
        self.failed_missing() > 0 || !self.errors.is_empty()
    }

    /// For `--dry-run`: each file that would change, old → new, with its `.note.dlopen`
    /// dependencies.
    fn write_listing(&self, out: &mut dyn Write) -> io::Result<()> {
        let none = "(none)".to_string();
        let mut dlopen: std::collections::HashMap<&str, Vec<&DlopenEntry>> = Default::default();
        for d in &self.dlopen {
            dlopen.entry(d.path.as_str()).or_default().push(d);
        }
        for p in &self.patched {
            writeln!(out, "{} ({})", p.path, p.how)?;
            if let Some(new) = &p.new_runpath {
                writeln!(
                    out,
                    "  RUNPATH     {} -> {}",
                    p.old_runpath.as_ref().unwrap_or(&none),
                    new
                )?;
            }
            if let Some(new) = &p.new_interpreter {
                writeln!(
                    out,
                    "  interpreter {} -> {}",
                    p.old_interpreter.as_ref().unwrap_or(&none),
                    new
                )?;
            }
            for d in dlopen.get(p.path.as_str()).into_iter().flatten() {
                writeln!(out, "  dlopen      {}", d.describe())?;
            }
        }
        Ok(())
    }

    fn write_summary(&self, out: &mut dyn Write) -> io::Result<()> {
        let tool = "patch-rpaths";
        let verb = if self.mode == "dry-run" {
            "would patch"
        } else {
            "patched"
        };
        writeln!(
            out,
            "{tool}: scanned {} ({} ELF, {} not ELF); {verb} {}, {} already right, {} refused, {} failed, {} left for missing libraries, {} not dynamic, {} foreign",
            count(self.files_scanned, "file"),
            self.elf_files,
            self.non_elf,
            self.patched.len(),
            self.unchanged,
            self.refused,
            self.failed,
            self.blocked,
            self.not_dynamic,
            self.foreign.len(),
        )?;
        for d in &self.dlopen {
            writeln!(out, "{tool}: {}: .note.dlopen: {}", d.path, d.describe())?;
        }
        for m in &self.missing {
            writeln!(out, "{tool}: {}", m.line())?;
        }
        if self.failed_missing() > 0 {
            writeln!(
                out,
                "{tool}: {} could not be satisfied (--ignore-missing GLOB turns them into warnings)",
                count(self.failed_missing() as u64, "dependency")
            )?;
        }
        for path in &self.skipped_special {
            writeln!(
                out,
                "{tool}: {path}: skipped: not a regular file, directory or symlink"
            )?;
        }
        write_leftovers(out, tool, self.mode == "patch", &self.leftovers)?;
        for w in &self.warnings {
            writeln!(out, "{tool}: warning: {}", w.message)?;
        }
        for e in &self.errors {
            writeln!(out, "{tool}: {}", e.message)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_picks_unit() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3 * 1024 * 1024 / 2), "1.5 MiB");
    }

    #[test]
    fn reference_line_names_place_and_bareness() {
        let r = ReferenceEntry {
            path: "venv/bin/python".into(),
            place: "symlink target",
            offset: 11,
            store_path: "/nix/store/x-python3".into(),
            bare: false,
        };
        assert_eq!(
            r.line(),
            "venv/bin/python:11 /nix/store/x-python3 (symlink target)"
        );
    }
}
