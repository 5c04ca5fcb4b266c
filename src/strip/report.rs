//! strip-store-refs' report: what was scanned, every reference neutralised (or remaining),
//! per store path and per place, sorted.

use std::fmt::Write as _;
use std::io::{self, Write};

use serde::Serialize;

use super::plan::Place;
use super::run::StripMode;
use crate::shared::report::{count, human_bytes, Footer, Report};

/// strip-store-refs' report.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StripReport {
    /// `strip`, `dry-run` or `check`.
    pub mode: StripMode,
    /// The store directory searched under, without a trailing slash.
    pub store_dir: String,
    /// Regular files whose contents were read.
    pub files_scanned: u64,
    /// The bytes of those contents, in total (targets and names not counted).
    pub bytes_scanned: u64,
    /// Symlinks whose target was read.
    pub symlinks_scanned: u64,
    /// Directories walked, roots included.
    pub directories_scanned: u64,
    /// Files whose contents were (or, in a dry run, would be) rewritten.
    pub files_changed: u64,
    /// Symlinks whose target was (or, in a dry run, would be) rewritten.
    pub symlinks_changed: u64,
    /// One entry per store path neutralised (or, under `--check`, remaining).
    pub store_paths: Vec<StorePathStat>,
    /// Every reference, in path and offset order.
    pub references: Vec<ReferenceEntry>,
    /// Store paths found but left alone (`--keep`, or not a `-t` target).
    pub kept: Vec<StorePathStat>,
    /// Special files, the temporary symlinks (`.strip-store-refs.PID.N`) a killed earlier
    /// run left (removed in strip mode, only listed otherwise), warnings and errors.
    #[serde(flatten)]
    pub footer: Footer,
}

/// One store path's tally: how often, and in how many entries, it was found.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct StorePathStat {
    /// `STORE_DIR/HASH-NAME`, or `STORE_DIR/HASH` when it was only seen bare.
    pub store_path: String,
    /// The 32 hash characters.
    pub hash: String,
    /// The smallest name seen after `STORE_DIR/HASH-`; empty when it was never seen with one.
    pub name: String,
    /// References counted. Those whose write failed are left out; in [`StripReport::kept`],
    /// only prefixed ones are counted.
    pub occurrences: u64,
    /// Entries (files, symlinks, names) that hold it.
    pub files: u64,
}

/// One reference, as the listing prints it ([`ReferenceEntry::line`]).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ReferenceEntry {
    /// The entry that holds it: the root as given, joined with the names below it.
    pub path: String,
    /// `contents`, `symlink target` or `file name`.
    pub place: Place,
    /// Byte offset of the hash within the contents, target or name.
    pub offset: u64,
    /// `STORE_DIR/HASH-NAME`, or `STORE_DIR/HASH` when no name was seen for the hash.
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
        if self.place != Place::Contents {
            notes.push(self.place.as_str());
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
        !self.footer.errors.is_empty()
            || (self.mode == StripMode::Check && !self.references.is_empty())
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
            StripMode::Check => "remaining",
            StripMode::DryRun => "would neutralise",
            StripMode::Strip => "neutralised",
        };
        let total: u64 = self.store_paths.iter().map(|s| s.occurrences).sum();
        if self.mode == StripMode::Check {
            writeln!(
                out,
                "{tool}: {} to {} remain",
                count(total, "reference"),
                count(self.store_paths.len() as u64, "store path")
            )?;
        } else {
            let would = if self.mode == StripMode::DryRun {
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
        if self.mode != StripMode::Check && self.symlinks_changed > 0 {
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
        self.footer.write(out, tool, self.mode == StripMode::Strip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_line_names_place_and_bareness() {
        let r = ReferenceEntry {
            path: "venv/bin/python".into(),
            place: Place::SymlinkTarget,
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
