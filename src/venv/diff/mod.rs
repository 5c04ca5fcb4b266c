//! `fix-venv diff OLD NEW`: why two builds of one tree differ.
//!
//! When a fixed-output derivation gives another hash on a rebuild, Nix only says that it did.
//! This pairs the two trees' entries by path and lists what a NAR (what Nix hashes) would see
//! differ: names, types, permission bits (Nix keeps only a file's executable bit, so each mode
//! difference says whether it counts), symlink targets and contents; never owners or times,
//! which a NAR does not hold. Each file whose contents differ gets its likely causes (see
//! [`Cause`]), found from where its differing bytes lie: in bytecode, in an ELF file's debug
//! sections or build-id, in a string naming a temporary build directory or a time, in a
//! RECORD, or in a file two wheels both install.

use std::collections::BTreeMap;
use std::io::{self, Read, Seek, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use crate::shared::cli::Exit;
use crate::shared::report::{count, write_errors, ErrorEntry, Report, Reportable};
use crate::shared::walk::{open_regular, walk, EntryKind, WalkError};

mod cause;

use cause::{classify, RecordIndex};
pub use cause::{looks_like_build_dir, Cause, RecordLineDiff, StringPair, MAX_EVIDENCE};

/// What stops part of a comparison; the rest of both trees is still compared, but the answer
/// is then incomplete ([`Exit::Incomplete`]).
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// A directory could not be listed.
    #[error("{}: cannot list: {source}", path.display())]
    List {
        /// The directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// An entry could not be read (or stat'ed).
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        /// The entry.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

impl From<WalkError> for DiffError {
    fn from(e: WalkError) -> Self {
        DiffError::List {
            path: e.path,
            source: e.source,
        }
    }
}

impl DiffError {
    fn read(path: &Path, source: io::Error) -> Self {
        DiffError::Read {
            path: path.to_path_buf(),
            source,
        }
    }
}

impl Reportable for DiffError {
    fn path(&self) -> &Path {
        match self {
            DiffError::List { path, .. } | DiffError::Read { path, .. } => path,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            DiffError::List { .. } => "list",
            DiffError::Read { .. } => "read",
        }
    }
}

/// What an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A symbolic link.
    Symlink,
    /// A FIFO, socket or device (never opened; Nix cannot hold one either).
    Special,
}

impl NodeKind {
    fn noun(self) -> &'static str {
        match self {
            NodeKind::File => "file",
            NodeKind::Directory => "directory",
            NodeKind::Symlink => "symlink",
            NodeKind::Special => "special file",
        }
    }
}

impl From<EntryKind> for NodeKind {
    fn from(kind: EntryKind) -> Self {
        match kind {
            EntryKind::File => NodeKind::File,
            EntryKind::Dir => NodeKind::Directory,
            EntryKind::Symlink => NodeKind::Symlink,
            EntryKind::Special => NodeKind::Special,
        }
    }
}

/// One difference between the trees at one path (a path can have two: mode and contents).
#[derive(Clone, Debug, Serialize)]
pub struct DiffEntry {
    /// Relative to both roots (`.` for the roots themselves).
    pub path: String,
    /// What differs.
    #[serde(flatten)]
    pub difference: Difference,
}

/// What differs at one path. `entries_below` counts what lies under a directory that only one
/// tree has there: those entries are not listed one by one.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "difference", rename_all = "snake_case")]
pub enum Difference {
    /// Only OLD has this path.
    OnlyInOld {
        /// What it is.
        kind: NodeKind,
        /// Entries under it (a directory), not listed.
        entries_below: u64,
    },
    /// Only NEW has this path.
    OnlyInNew {
        /// What it is.
        kind: NodeKind,
        /// Entries under it (a directory), not listed.
        entries_below: u64,
    },
    /// Both have it, as different kinds of entry.
    Type {
        /// OLD's.
        old: NodeKind,
        /// NEW's.
        new: NodeKind,
        /// Entries under the one that is a directory, not listed.
        entries_below: u64,
    },
    /// The permission bits differ (octal, `0755`).
    Mode {
        /// OLD's.
        old: String,
        /// NEW's.
        new: String,
        /// Whether a NAR sees it: only a regular file's executable bit is recorded.
        changes_hash: bool,
    },
    /// Both are symlinks, to different targets.
    SymlinkTarget {
        /// OLD's target.
        old: String,
        /// NEW's target.
        new: String,
    },
    /// Both are files, with different bytes.
    Contents {
        /// OLD's length.
        old_size: u64,
        /// NEW's length.
        new_size: u64,
        /// The likely causes, most telling first; never empty.
        causes: Vec<Finding>,
    },
}

impl Difference {
    /// Whether Nix would hash the two trees differently because of this.
    pub fn changes_hash(&self) -> bool {
        !matches!(
            self,
            Difference::Mode {
                changes_hash: false,
                ..
            }
        )
    }

    fn noun(&self) -> &'static str {
        match self {
            Difference::OnlyInOld { .. } => "only in OLD",
            Difference::OnlyInNew { .. } => "only in NEW",
            Difference::Type { .. } => "type",
            Difference::Mode { .. } => "mode",
            Difference::SymlinkTarget { .. } => "symlink target",
            Difference::Contents { .. } => "contents",
        }
    }
}

/// One likely cause of a contents difference, with its explanation in plain words.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// The cause and its evidence.
    #[serde(flatten)]
    pub cause: Cause,
    /// What it means and what to do about it.
    pub explanation: String,
}

impl From<Cause> for Finding {
    fn from(cause: Cause) -> Self {
        Finding {
            explanation: cause.explain(),
            cause,
        }
    }
}

/// What `fix-venv diff` found: every difference, sorted by path, and what could not be read.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DiffReport {
    /// OLD, as given.
    pub old: String,
    /// NEW, as given.
    pub new: String,
    /// Nothing differs and everything was read.
    pub identical: bool,
    /// Entries in OLD (its root included).
    pub old_entries: u64,
    /// Entries in NEW (its root included).
    pub new_entries: u64,
    /// Sorted by path, then kind of difference.
    pub differences: Vec<DiffEntry>,
    /// What could not be listed or read, sorted; any makes the answer incomplete.
    pub errors: Vec<ErrorEntry>,
}

impl Report for DiffReport {
    /// True when the trees differ.
    fn failed(&self) -> bool {
        !self.differences.is_empty()
    }

    /// 0 the same, 1 they differ, 3 the answer is incomplete (an error, or stdout failed).
    fn exit(&self, printed: bool) -> Exit {
        if !printed || !self.errors.is_empty() {
            Exit::Incomplete
        } else if self.failed() {
            Exit::Failed
        } else {
            Exit::Ok
        }
    }

    /// Every difference with its causes, in plain words.
    fn write_listing(&self, out: &mut dyn Write) -> io::Result<()> {
        for d in &self.differences {
            write_difference(out, d)?;
        }
        Ok(())
    }

    /// One line for the trees, one for the causes, then the errors.
    fn write_summary(&self, out: &mut dyn Write) -> io::Result<()> {
        let tool = "fix-venv";
        let trees = format!("diff {} {}", self.old, self.new);
        if self.differences.is_empty() {
            if self.errors.is_empty() {
                writeln!(
                    out,
                    "{tool}: {trees}: identical ({} each)",
                    count(self.old_entries, "entry")
                )?;
            } else {
                writeln!(out, "{tool}: {trees}: no difference in what could be read")?;
            }
        } else {
            let mut by_kind: BTreeMap<&str, u64> = BTreeMap::new();
            let mut causes: BTreeMap<&str, u64> = BTreeMap::new();
            for d in &self.differences {
                *by_kind.entry(d.difference.noun()).or_default() += 1;
                if let Difference::Contents { causes: c, .. } = &d.difference {
                    for f in c {
                        *causes.entry(f.cause.name()).or_default() += 1;
                    }
                }
            }
            let kinds: Vec<String> = by_kind.iter().map(|(k, n)| format!("{n} {k}")).collect();
            let hashed = self
                .differences
                .iter()
                .filter(|d| d.difference.changes_hash())
                .count();
            writeln!(
                out,
                "{tool}: {trees}: {} ({}); {hashed} of them change the NAR hash",
                count(self.differences.len() as u64, "difference"),
                kinds.join(", "),
            )?;
            if !causes.is_empty() {
                let causes: Vec<String> = causes.iter().map(|(c, n)| format!("{n} {c}")).collect();
                writeln!(out, "  likely causes: {}", causes.join(", "))?;
            }
        }
        write_errors(out, tool, &self.errors)?;
        if !self.errors.is_empty() {
            writeln!(
                out,
                "{tool}: {trees}: incomplete: {} could not be compared",
                count(self.errors.len() as u64, "entry")
            )?;
        }
        Ok(())
    }
}

fn write_difference(out: &mut dyn Write, d: &DiffEntry) -> io::Result<()> {
    let path = &d.path;
    let below = |n: u64| {
        if n == 0 {
            String::new()
        } else {
            format!(", {} below", count(n, "entry"))
        }
    };
    match &d.difference {
        Difference::OnlyInOld {
            kind,
            entries_below,
        } => writeln!(
            out,
            "{path}: only in OLD ({}{})",
            kind.noun(),
            below(*entries_below)
        ),
        Difference::OnlyInNew {
            kind,
            entries_below,
        } => writeln!(
            out,
            "{path}: only in NEW ({}{})",
            kind.noun(),
            below(*entries_below)
        ),
        Difference::Type {
            old,
            new,
            entries_below,
        } => writeln!(
            out,
            "{path}: type differs: {} in OLD, {} in NEW{}",
            old.noun(),
            new.noun(),
            below(*entries_below)
        ),
        Difference::Mode {
            old,
            new,
            changes_hash,
        } => {
            let note = if *changes_hash {
                "the executable bit, which Nix records"
            } else {
                "Nix records only a file's executable bit, so this does not change the hash"
            };
            writeln!(
                out,
                "{path}: mode differs: {old} in OLD, {new} in NEW ({note})"
            )
        }
        Difference::SymlinkTarget { old, new } => writeln!(
            out,
            "{path}: symlink target differs: {old:?} in OLD, {new:?} in NEW"
        ),
        Difference::Contents {
            old_size,
            new_size,
            causes,
        } => {
            if old_size == new_size {
                writeln!(out, "{path}: contents differ ({old_size} bytes each)")?;
            } else {
                writeln!(
                    out,
                    "{path}: contents differ ({old_size} bytes in OLD, {new_size} in NEW)"
                )?;
            }
            for f in causes {
                writeln!(out, "  {}: {}", f.cause.name(), f.explanation)?;
                write_evidence(out, &f.cause)?;
            }
            Ok(())
        }
    }
}

fn write_evidence(out: &mut dyn Write, cause: &Cause) -> io::Result<()> {
    match cause {
        Cause::BuildDirectory { strings } | Cause::Timestamp { strings } => {
            for s in strings {
                writeln!(out, "    OLD {:?}", s.old)?;
                writeln!(out, "    NEW {:?}  ({})", s.new, s.place)?;
            }
        }
        Cause::Record { lines, more } => {
            for l in lines {
                match &l.old {
                    Some(line) => writeln!(out, "    - {line}")?,
                    None => writeln!(out, "    - (no line for {})", l.path)?,
                }
                match &l.new {
                    Some(line) => writeln!(out, "    + {line}")?,
                    None => writeln!(out, "    + (no line for {})", l.path)?,
                }
            }
            if *more > 0 {
                writeln!(out, "    … and {more} more")?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// What one tree holds at one path: what a NAR records, plus the permission bits.
#[derive(Clone, Debug)]
struct Node {
    kind: NodeKind,
    mode: u32,
    target: Option<PathBuf>,
}

/// Compares the trees at `old` and `new` (directories, or two single files) and explains
/// each difference. What cannot be read is an error in the report; the rest is compared.
pub fn run(old: &Path, new: &Path) -> DiffReport {
    let mut errors = Vec::new();
    let old_nodes = list(old, &mut errors);
    let new_nodes = list(new, &mut errors);
    let records = RecordIndex::build(&[(old, &old_nodes), (new, &new_nodes)], &mut errors);
    let (mut differences, files) = pair(&old_nodes, &new_nodes);

    // Reading is most of the work; each pair is independent.
    let compared: Vec<Result<Option<DiffEntry>, DiffError>> = files
        .par_iter()
        .map(|rel| compare_file(old, new, rel, &records))
        .collect();
    for result in compared {
        match result {
            Ok(Some(entry)) => differences.push(entry),
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    differences.sort_by(|a, b| {
        path_key(&a.path)
            .cmp(&path_key(&b.path))
            .then(order(&a.difference).cmp(&order(&b.difference)))
    });
    let mut errors: Vec<ErrorEntry> = errors.iter().map(ErrorEntry::new).collect();
    errors.sort();
    DiffReport {
        old: old.display().to_string(),
        new: new.display().to_string(),
        identical: differences.is_empty() && errors.is_empty(),
        old_entries: old_nodes.len() as u64,
        new_entries: new_nodes.len() as u64,
        differences,
        errors,
    }
}

/// Sorts as the trees are walked: by path component, so a directory's entries follow it.
fn path_key(path: &str) -> Vec<&str> {
    path.split('/').collect()
}

fn order(d: &Difference) -> u8 {
    match d {
        Difference::OnlyInOld { .. } => 0,
        Difference::OnlyInNew { .. } => 1,
        Difference::Type { .. } => 2,
        Difference::Mode { .. } => 3,
        Difference::SymlinkTarget { .. } => 4,
        Difference::Contents { .. } => 5,
    }
}

/// Every entry under `root` by relative path (the root is `""`).
fn list(root: &Path, errors: &mut Vec<DiffError>) -> BTreeMap<PathBuf, Node> {
    let mut nodes = BTreeMap::new();
    for entry in walk(root) {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                errors.push(e.into());
                continue;
            }
        };
        let meta = match std::fs::symlink_metadata(&entry.path) {
            Ok(meta) => meta,
            Err(e) => {
                errors.push(DiffError::read(&entry.path, e));
                continue;
            }
        };
        let target = if entry.kind == EntryKind::Symlink {
            match std::fs::read_link(&entry.path) {
                Ok(target) => Some(target),
                Err(e) => {
                    errors.push(DiffError::read(&entry.path, e));
                    continue;
                }
            }
        } else {
            None
        };
        let rel = entry
            .path
            .strip_prefix(root)
            .unwrap_or(&entry.path)
            .to_path_buf();
        nodes.insert(
            rel,
            Node {
                kind: entry.kind.into(),
                mode: meta.mode() & 0o7777,
                target,
            },
        );
    }
    nodes
}

fn shown(rel: &Path) -> String {
    if rel.as_os_str().is_empty() {
        ".".to_string()
    } else {
        rel.display().to_string()
    }
}

/// Pairs the entries by path: the differences that need no reading, and the files both trees
/// have whose bytes must be compared. Under a directory only one tree has there, entries are
/// counted, not listed.
fn pair(
    old: &BTreeMap<PathBuf, Node>,
    new: &BTreeMap<PathBuf, Node>,
) -> (Vec<DiffEntry>, Vec<PathBuf>) {
    let mut all: BTreeMap<&PathBuf, (Option<&Node>, Option<&Node>)> = BTreeMap::new();
    for (rel, node) in old {
        all.entry(rel).or_default().0 = Some(node);
    }
    for (rel, node) in new {
        all.entry(rel).or_default().1 = Some(node);
    }
    let mut differences: Vec<DiffEntry> = Vec::new();
    let mut files = Vec::new();
    // The directory whose entries are being counted, and its difference's index.
    let mut counting: Option<(&Path, usize)> = None;
    for (rel, sides) in all {
        if let Some((dir, at)) = counting {
            if rel.starts_with(dir) && rel.as_path() != dir {
                match &mut differences[at].difference {
                    Difference::OnlyInOld { entries_below, .. }
                    | Difference::OnlyInNew { entries_below, .. }
                    | Difference::Type { entries_below, .. } => *entries_below += 1,
                    _ => {}
                }
                continue;
            }
            counting = None;
        }
        let path = shown(rel);
        let mut push = |difference: Difference| {
            differences.push(DiffEntry {
                path: path.clone(),
                difference,
            })
        };
        match sides {
            (Some(o), None) => push(Difference::OnlyInOld {
                kind: o.kind,
                entries_below: 0,
            }),
            (None, Some(n)) => push(Difference::OnlyInNew {
                kind: n.kind,
                entries_below: 0,
            }),
            (Some(o), Some(n)) if o.kind != n.kind => push(Difference::Type {
                old: o.kind,
                new: n.kind,
                entries_below: 0,
            }),
            (Some(o), Some(n)) => {
                if o.mode != n.mode && matches!(o.kind, NodeKind::File | NodeKind::Directory) {
                    push(Difference::Mode {
                        old: format!("{:04o}", o.mode),
                        new: format!("{:04o}", n.mode),
                        changes_hash: o.kind == NodeKind::File && (o.mode ^ n.mode) & 0o100 != 0,
                    });
                }
                if o.target != n.target {
                    push(Difference::SymlinkTarget {
                        old: lossy(o.target.as_deref()),
                        new: lossy(n.target.as_deref()),
                    });
                }
                if o.kind == NodeKind::File {
                    files.push(rel.clone());
                }
                continue;
            }
            (None, None) => continue,
        }
        let (o, n) = sides;
        let one_sided_dir = o.map(|o| o.kind) == Some(NodeKind::Directory)
            || n.map(|n| n.kind) == Some(NodeKind::Directory);
        if one_sided_dir {
            counting = Some((rel.as_path(), differences.len() - 1));
        }
    }
    (differences, files)
}

fn lossy(path: Option<&Path>) -> String {
    path.map(|p| String::from_utf8_lossy(p.as_os_str().as_bytes()).into_owned())
        .unwrap_or_default()
}

/// How much of each file is read at a time while the two are still equal.
const CHUNK: usize = 256 * 1024;

/// Compares the file at `rel` in both trees; when they differ, reads both whole and explains.
fn compare_file(
    old_root: &Path,
    new_root: &Path,
    rel: &Path,
    records: &RecordIndex,
) -> Result<Option<DiffEntry>, DiffError> {
    // Joining "" would add a slash, and a single file given as OLD is no directory.
    let under = |root: &Path| {
        if rel.as_os_str().is_empty() {
            root.to_path_buf()
        } else {
            root.join(rel)
        }
    };
    let (old_path, new_path) = (under(old_root), under(new_root));
    let (mut a, a_meta) = open_regular(&old_path).map_err(|e| DiffError::read(&old_path, e))?;
    let (mut b, b_meta) = open_regular(&new_path).map_err(|e| DiffError::read(&new_path, e))?;
    if a_meta.len() == b_meta.len() && same_stream(&mut a, &mut b, &old_path, &new_path)? {
        return Ok(None);
    }
    let a = read_whole(&mut a, &old_path)?;
    let b = read_whole(&mut b, &new_path)?;
    if a == b {
        // Changed while we read; what we hold now is the same.
        return Ok(None);
    }
    let causes = classify(rel, &a, &b, records)
        .into_iter()
        .map(Finding::from)
        .collect();
    Ok(Some(DiffEntry {
        path: shown(rel),
        difference: Difference::Contents {
            old_size: a.len() as u64,
            new_size: b.len() as u64,
            causes,
        },
    }))
}

/// Whether two open files of one length hold the same bytes, read a chunk at a time so equal
/// files (nearly all of them) are never held whole.
fn same_stream(
    a: &mut std::fs::File,
    b: &mut std::fs::File,
    a_path: &Path,
    b_path: &Path,
) -> Result<bool, DiffError> {
    let mut x = vec![0u8; CHUNK];
    let mut y = vec![0u8; CHUNK];
    loop {
        let n = fill(a, &mut x).map_err(|e| DiffError::read(a_path, e))?;
        let m = fill(b, &mut y).map_err(|e| DiffError::read(b_path, e))?;
        if n != m || x[..n] != y[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

/// Reads until `buf` is full or the file ends.
fn fill(file: &mut std::fs::File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn read_whole(file: &mut std::fs::File, path: &Path) -> Result<Vec<u8>, DiffError> {
    let mut bytes = Vec::new();
    file.rewind()
        .and_then(|()| file.read_to_end(&mut bytes))
        .map_err(|e| DiffError::read(path, e))?;
    Ok(bytes)
}
