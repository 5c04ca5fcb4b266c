//! strip-store-refs' pipeline: walk and scan every entry once, in parallel → decide which
//! hashes to neutralise, now that every prefixed hash in the tree is known → plan the bytes
//! → write (in strip mode) → report.
//!
//! When hashes are known to be wanted before the walk (`-t`, `--also-hash`, and in a Nix
//! build `--env-candidates`: its inputs and outputs), a file's contents are written for them
//! while the file is still open from its scan ([`WriteTiming::DuringScan`]): no second read,
//! no second `stat`, one more `openat` on its directory for the write. What the tree adds (a
//! prefixed hash outside those) still goes through the plan after the walk, bare occurrences
//! first, so that a run killed half-way leaves every such hash recognisable to the next.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use super::plan::{self, EntryPlan, EntryScan, Hit, Place, StripPlan};
use super::report::{ReferenceEntry, StorePathStat, StripReport};
use super::rewrite::{self, Relinked, RewriteError};
use super::select::{Selection, UpFront};
use crate::shared::leftover::{self, Owner, RemoveError};
use crate::shared::report::{self, Footer, Reportable};
use crate::shared::scan::{self, ScanFindings, Scanner};
use crate::shared::store::{StoreDir, StoreHash};
use crate::shared::walk::{self, EntryKind, Gathered, Merge, Visit, WalkError};

/// What a run does with the references it finds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StripMode {
    /// Neutralise in place.
    #[default]
    Strip,
    /// Change nothing; report what would change.
    DryRun,
    /// Change nothing; report what remains.
    Check,
}

/// When file contents are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WriteTiming {
    /// For the hashes wanted whatever the tree holds (see [`UpFront`]), while each file is
    /// open from its scan; for the hashes the tree adds, after the walk, as
    /// [`WriteTiming::AfterScan`] does.
    #[default]
    DuringScan,
    /// Everything after the walk, in two passes over the plan: bare hashes everywhere first.
    AfterScan,
}

/// What strip-store-refs is asked to do.
pub struct StripOptions {
    /// The store directory references are searched under.
    pub store: StoreDir,
    /// Which hashes to neutralise (`-t`, `--keep`, `--also-hash`, `--env-candidates`).
    pub selection: Selection,
    /// Strip, dry run or check.
    pub mode: StripMode,
}

/// What can go wrong with one entry; none stops the run, each names its path.
#[derive(Debug, thiserror::Error)]
pub enum StripError {
    /// A directory could not be listed.
    #[error(transparent)]
    List(#[from] WalkError),
    /// The entry is gone since the walk listed it.
    #[error("{}: vanished during the run", path.display())]
    Vanished {
        /// The entry.
        path: PathBuf,
    },
    /// The entry could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        /// The entry.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A planned write did not happen.
    #[error(transparent)]
    Rewrite(#[from] RewriteError),
    /// A killed run's temporary symlink could not be removed.
    #[error(transparent)]
    LeftoverNotRemoved(#[from] RemoveError),
    /// A name holds a reference: strip-store-refs never renames.
    #[error(
        "{}: its name holds a store reference ({}); rename it, strip-store-refs does not rename",
        path.display(),
        store_paths.join(", ")
    )]
    NameHoldsReference {
        /// The entry.
        path: PathBuf,
        /// The store paths its name refers to, sorted.
        store_paths: Vec<String>,
    },
}

impl Reportable for StripError {
    fn path(&self) -> &Path {
        match self {
            StripError::List(e) => &e.path,
            StripError::Vanished { path }
            | StripError::Read { path, .. }
            | StripError::NameHoldsReference { path, .. } => path,
            StripError::Rewrite(e) => e.path(),
            StripError::LeftoverNotRemoved(e) => &e.path,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            StripError::List(_) => "list",
            StripError::Vanished { .. } => "vanished",
            StripError::Read { .. } => "read",
            StripError::Rewrite(e) => e.kind(),
            StripError::LeftoverNotRemoved(_) => "leftover_not_removed",
            StripError::NameHoldsReference { .. } => "name_holds_reference",
        }
    }
}

/// What strip-store-refs did not finish tidily, without failing the run.
#[derive(Debug, thiserror::Error)]
pub enum StripWarning {
    /// A symlink was re-created, but its directory, made writable for it, kept that mode.
    #[error("{source} (after re-creating {})", link.display())]
    DirectoryModeNotRestored {
        /// The symlink, which points at its neutralised target.
        link: PathBuf,
        /// Why the mode was not put back; it names the directory.
        source: RewriteError,
    },
}

impl Reportable for StripWarning {
    fn path(&self) -> &Path {
        match self {
            StripWarning::DirectoryModeNotRestored { source, .. } => source.path(),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            StripWarning::DirectoryModeNotRestored { .. } => "directory_mode_not_restored",
        }
    }
}

/// An I/O error on a walked entry: `Vanished` when it is gone, else `Read`.
fn read_error(path: &Path) -> impl FnOnce(io::Error) -> StripError + '_ {
    move |source| match source.kind() {
        io::ErrorKind::NotFound => StripError::Vanished {
            path: path.to_path_buf(),
        },
        _ => StripError::Read {
            path: path.to_path_buf(),
            source,
        },
    }
}

/// What the parallel scan gathers besides special files, leftovers and errors.
#[derive(Default)]
struct Scanned {
    files: u64,
    bytes: u64,
    symlinks: u64,
    dirs: u64,
    /// Every entry and place where the scan found something.
    scans: Vec<EntryScan>,
    /// The files written while open from their scan.
    written: Vec<WrittenDuringScan>,
    /// The mode of every file the scan found something in, from its one `stat`.
    modes: HashMap<PathBuf, u32>,
}

impl Merge for Scanned {
    fn merge(&mut self, mut other: Scanned) {
        self.files += other.files;
        self.bytes += other.bytes;
        self.symlinks += other.symlinks;
        self.dirs += other.dirs;
        self.scans.append(&mut other.scans);
        self.written.append(&mut other.written);
        self.modes.extend(other.modes);
    }
}

impl Scanned {
    fn push(&mut self, entry: &Visit, place: Place, found: ScanFindings) -> Option<&mut EntryScan> {
        if found.is_empty() {
            return None;
        }
        self.scans.push(EntryScan {
            path: entry.path(),
            place,
            found,
            shared_inode: None,
            link_target: None,
        });
        self.scans.last_mut()
    }
}

/// A file whose contents were written while it was open from its scan.
struct WrittenDuringScan {
    path: PathBuf,
    /// The hits written, or tried.
    hits: Vec<Hit>,
    outcome: EntryOutcome,
}

/// How the walk scans each entry.
struct ScanCx<'a> {
    scanner: Scanner<'a>,
    /// The hashes to write while a file is open from its scan, if any.
    write_now: Option<&'a HashSet<StoreHash>>,
}

/// A file's device and inode number.
type Inode = (u64, u64);

/// [`walk::open_regular`], with the file's length and, when it has other hard links, its
/// device and inode.
fn open_with_inode(path: &Path) -> Result<(File, u64, Option<Inode>), StripError> {
    let (file, meta) = walk::open_regular(path).map_err(read_error(path))?;
    let inode = (meta.nlink() > 1).then(|| (meta.dev(), meta.ino()));
    Ok((file, meta.len(), inode))
}

/// Scans one walked entry: its name (below a root), and a symlink's target or a file's
/// contents.
fn scan_entry(cx: &ScanCx, entry: &Visit, found: &mut Scanned, errors: &mut Vec<StripError>) {
    if !entry.is_root {
        let name = cx.scanner.scan_name(entry.name().as_bytes());
        found.push(entry, Place::Name, name);
    }
    match entry.kind {
        EntryKind::Dir => found.dirs += 1,
        EntryKind::Special => {}
        EntryKind::Symlink => {
            let path = entry.path();
            match std::fs::read_link(&path).map_err(read_error(&path)) {
                Ok(target) => {
                    found.symlinks += 1;
                    let target = target.into_os_string().into_vec();
                    let hits = cx.scanner.scan_bytes(&target);
                    if let Some(scan) = found.push(entry, Place::SymlinkTarget, hits) {
                        scan.link_target = Some(target);
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        EntryKind::File => match scan_file(cx, entry) {
            Ok((file, meta, hits)) => {
                found.files += 1;
                found.bytes += hits.len;
                if hits.is_empty() {
                    return;
                }
                let path = entry.path();
                // A hard-linked file is written once, under its first path: after the walk.
                let now = cx.write_now.filter(|_| meta.nlink() == 1);
                let written =
                    now.and_then(|now| write_during_scan(entry, &path, &meta, &hits, now));
                drop(file);
                found.written.extend(written);
                found.modes.insert(path.clone(), meta.mode());
                found.scans.push(EntryScan {
                    path,
                    place: Place::Contents,
                    found: hits,
                    shared_inode: (meta.nlink() > 1).then(|| (meta.dev(), meta.ino())),
                    link_target: None,
                });
            }
            Err(e) => errors.push(read_error(&entry.path())(e)),
        },
    }
}

/// Opens a file relative to its directory, takes its one `stat` and scans its contents; the
/// file stays open for a write.
fn scan_file(cx: &ScanCx, entry: &Visit) -> io::Result<(File, std::fs::Metadata, ScanFindings)> {
    let file = entry.open()?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other("no longer a regular file"));
    }
    // A small file is read in one chunk.
    let found = (cx.scanner).scan_reader_chunked(&file, scan::chunk_for(meta.len()))?;
    Ok((file, meta, found))
}

/// Neutralises, in a file just scanned and still open, the hashes in `now`.
fn write_during_scan(
    entry: &Visit,
    path: &Path,
    meta: &std::fs::Metadata,
    found: &ScanFindings,
    now: &HashSet<StoreHash>,
) -> Option<WrittenDuringScan> {
    let hits = plan::hits_of(found, now);
    if hits.is_empty() {
        return None;
    }
    let open = || entry.open_for_write();
    let (written, errors) = rewrite::neutralise_file_of_mode(path, meta.mode(), open, &hits);
    Some(WrittenDuringScan {
        path: path.to_path_buf(),
        outcome: contents_outcome(&hits, written, errors),
        hits,
    })
}

/// Runs strip-store-refs over `roots` on the current rayon pool.
pub fn run(roots: &[PathBuf], opts: &StripOptions) -> StripReport {
    run_with(roots, opts, WriteTiming::default())
}

/// [`run`], writing contents when `timing` says. Both timings leave the same tree and the same
/// report (but where two wanted hashes overlap in one run of Nix32 bytes: then the one written
/// first wins, which during the scan is a hash known up front).
pub fn run_with(roots: &[PathBuf], opts: &StripOptions, timing: WriteTiming) -> StripReport {
    let up_front = opts.selection.up_front();
    let write_now = (opts.mode == StripMode::Strip
        && timing == WriteTiming::DuringScan
        && up_front.certain
        && !up_front.hashes.is_empty())
    .then_some(&up_front.hashes);
    let cx = ScanCx {
        scanner: scanner_for(&opts.store, &up_front, write_now.is_some()),
        write_now,
    };

    // Walk and scan: one read of every file, in parallel, and the writes that need no more.
    let Gathered {
        found,
        special,
        leftovers,
        mut errors,
    } = walk::gather(
        roots,
        usize::MAX,
        Owner::StripStoreRefs,
        |entry, found, errors| scan_entry(&cx, entry, found, errors),
    );
    let Scanned {
        files,
        bytes,
        symlinks,
        dirs,
        mut scans,
        written,
        modes,
    } = found;
    scans.sort_by(|a, b| (&a.path, a.place).cmp(&(&b.path, b.place)));

    // Decide what is wanted, now that every prefixed hash in the tree is known.
    let seen = plan::seen_hashes(&scans);
    let wanted = opts.selection.wanted(&seen);
    let matched_bare = (up_front.complete || write_now.is_some()).then_some(&up_front.hashes);
    if !matched_bare.is_some_and(|known| wanted.is_subset(known)) {
        rescan_overflowed(&opts.store, &wanted, &mut scans, &mut errors);
    }
    let kept = kept_store_paths(&opts.store, &scans, &seen, &wanted);
    let (plan, done, rest) = fold_written(plan::plan(scans, &seen, &wanted), written);

    // A killed run's temporary symlinks go before any symlink is made, so nothing of that run
    // outlives this one.
    if opts.mode == StripMode::Strip {
        let not_removed = leftover::remove(&leftovers, Owner::StripStoreRefs);
        errors.extend(not_removed.into_iter().map(StripError::from));
    }
    // Write the rest (only in strip mode); names are never renamed behind the user's back.
    let outcomes: Vec<EntryOutcome> = match opts.mode {
        StripMode::Strip => (done.into_iter())
            .zip(write(rest.as_ref().unwrap_or(&plan), &opts.store, &modes))
            .map(|(done, rest)| done.and(rest))
            .collect(),
        StripMode::DryRun => plan
            .entries
            .iter()
            .map(|e| match e.place {
                Place::Name => {
                    let offsets = e.hits.iter().map(|h| h.offset);
                    EntryOutcome::refused(offsets, name_error(e, &opts.store, &plan))
                }
                _ => EntryOutcome::changed(),
            })
            .collect(),
        StripMode::Check => plan
            .entries
            .iter()
            .map(|_| EntryOutcome::default())
            .collect(),
    };

    let mut report = StripReport {
        mode: opts.mode,
        store_dir: opts.store.as_str().to_string(),
        files_scanned: files,
        bytes_scanned: bytes,
        symlinks_scanned: symlinks,
        directories_scanned: dirs,
        kept,
        ..StripReport::default()
    };
    for (entry, outcome) in plan.entries.iter().zip(&outcomes) {
        match entry.place {
            Place::Contents if outcome.changed => report.files_changed += 1,
            Place::SymlinkTarget if outcome.changed => report.symlinks_changed += 1,
            _ => {}
        }
    }
    fill_references(&mut report, &opts.store, &plan, &outcomes);
    let mut warnings = Vec::new();
    for outcome in outcomes {
        errors.extend(outcome.errors);
        warnings.extend(outcome.warnings);
    }
    // Both write passes may meet the same failure of one file (it cannot be opened).
    let mut errors = report::entries(errors);
    errors.dedup();
    report.footer = Footer {
        skipped_special: special.iter().map(|p| p.display().to_string()).collect(),
        leftovers: leftovers.iter().map(|p| p.display().to_string()).collect(),
        warnings: report::entries(warnings),
        errors,
    };
    report
}

/// The scanner for a run: bare hashes known up front are matched during the pass; runs are
/// kept for those the tree may add (every run, when nothing is known up front).
fn scanner_for<'h>(store: &StoreDir, up_front: &'h UpFront, writes_now: bool) -> Scanner<'h> {
    match (up_front.complete, writes_now) {
        (true, _) => Scanner::new(store, Some(&up_front.hashes)),
        (false, true) => Scanner::new(store, Some(&up_front.hashes)).keeping_runs(),
        (false, false) => Scanner::new(store, None),
    }
}

/// Folds what was written during the scan into the plan. Returns the plan of the whole change
/// (each entry's hits: those written during the scan and those left), what writing each entry
/// has done so far, and the plan of what is left to write (`None`: all of it), in one order.
fn fold_written(
    plan: StripPlan,
    written: Vec<WrittenDuringScan>,
) -> (StripPlan, Vec<EntryOutcome>, Option<StripPlan>) {
    if written.is_empty() {
        let done = plan
            .entries
            .iter()
            .map(|_| EntryOutcome::default())
            .collect();
        return (plan, done, None);
    }
    let mut written: BTreeMap<PathBuf, WrittenDuringScan> =
        (written.into_iter()).map(|w| (w.path.clone(), w)).collect();
    let mut folded: Vec<(EntryPlan, EntryOutcome, EntryPlan)> = Vec::new();
    for entry in plan.entries {
        let done = match entry.place {
            Place::Contents => written.remove(&entry.path),
            _ => None,
        };
        folded.push(match done {
            None => (entry.clone(), EntryOutcome::default(), entry),
            Some(done) => {
                let left = plan::remaining(&entry.hits, &done.hits);
                let mut hits = done.hits;
                hits.extend(&left);
                hits.sort_by_key(|h| h.offset);
                let rest = EntryPlan {
                    hits: left,
                    ..entry.clone()
                };
                (EntryPlan { hits, ..entry }, done.outcome, rest)
            }
        });
    }
    // A file written during the scan whose rescan (its runs overflowed) found nothing left.
    for (path, done) in written {
        let entry = |hits| EntryPlan {
            path: path.clone(),
            place: Place::Contents,
            hits,
            relink: None,
        };
        folded.push((entry(done.hits), done.outcome, entry(Vec::new())));
    }
    folded.sort_by(|a, b| (&a.0.path, a.0.place).cmp(&(&b.0.path, b.0.place)));
    let mut whole = StripPlan {
        entries: Vec::with_capacity(folded.len()),
        names: plan.names,
    };
    let mut rest = StripPlan {
        entries: Vec::with_capacity(folded.len()),
        names: whole.names.clone(),
    };
    let mut done = Vec::with_capacity(folded.len());
    for (entry, outcome, left) in folded {
        whole.entries.push(entry);
        done.push(outcome);
        rest.entries.push(left);
    }
    (whole, done, Some(rest))
}

/// Files whose runs of Nix32 bytes were too large to keep are read once more, now that the
/// wanted hashes are known, and matched directly.
fn rescan_overflowed(
    store: &StoreDir,
    wanted: &HashSet<StoreHash>,
    scans: &mut [EntryScan],
    errors: &mut Vec<StripError>,
) {
    let scanner = Scanner::new(store, Some(wanted));
    let results: Vec<(usize, Result<ScanFindings, StripError>)> = scans
        .par_iter()
        .enumerate()
        .filter(|(_, s)| s.found.runs_overflowed)
        .map(|(i, s)| {
            let found =
                match s.place {
                    Place::Contents => open_with_inode(&s.path).and_then(|(file, _, _)| {
                        scanner.scan_reader(file).map_err(read_error(&s.path))
                    }),
                    Place::SymlinkTarget => {
                        Ok(scanner.scan_bytes(s.link_target.as_deref().unwrap_or_default()))
                    }
                    Place::Name => Ok(scanner
                        .scan_name(s.path.file_name().map(|n| n.as_bytes()).unwrap_or_default())),
                };
            (i, found)
        })
        .collect();
    for (i, result) in results {
        match result {
            Ok(found) => scans[i].found = found,
            Err(e) => {
                errors.push(e);
                scans[i].found = ScanFindings::default();
            }
        }
    }
}

/// What writing one entry did.
#[derive(Default)]
struct EntryOutcome {
    /// Something was written (or, in a dry run, would be).
    changed: bool,
    errors: Vec<StripError>,
    warnings: Vec<StripWarning>,
    /// The offsets not neutralised, so the report never counts a reference whose write failed.
    failed: Vec<u64>,
}

impl EntryOutcome {
    fn changed() -> EntryOutcome {
        EntryOutcome {
            changed: true,
            ..EntryOutcome::default()
        }
    }

    /// Nothing written for these offsets, for this reason.
    fn refused(offsets: impl IntoIterator<Item = u64>, error: StripError) -> EntryOutcome {
        EntryOutcome {
            errors: vec![error],
            failed: offsets.into_iter().collect(),
            ..EntryOutcome::default()
        }
    }

    fn and(mut self, mut then: EntryOutcome) -> EntryOutcome {
        self.changed |= then.changed;
        self.errors.append(&mut then.errors);
        self.warnings.append(&mut then.warnings);
        self.failed.append(&mut then.failed);
        self
    }
}

/// Writes the plan in two passes over every entry, each in parallel. Bare hashes go first,
/// everywhere (file contents and symlink targets): a bare hash is only recognised through a
/// prefixed occurrence, so if the run is killed, a re-run must still find a prefixed one.
/// `modes` holds each file's mode from its scan, so no file is `stat`ed again.
fn write(plan: &StripPlan, store: &StoreDir, modes: &HashMap<PathBuf, u32>) -> Vec<EntryOutcome> {
    let bare: Vec<EntryOutcome> = (plan.entries.par_iter())
        .map(|entry| write_bare_hashes(entry, modes))
        .collect();
    (plan.entries.par_iter())
        .zip(bare)
        .map(|(entry, first)| {
            let rest = write_the_rest(entry, &first, store, plan, modes);
            first.and(rest)
        })
        .collect()
}

/// The offsets of an entry's hits that are (`bare`) or are not bare.
fn offsets(entry: &EntryPlan, bare: bool) -> impl Iterator<Item = u64> + '_ {
    (entry.hits.iter())
        .filter(move |h| h.bare == bare)
        .map(|h| h.offset)
}

/// A symlink's target before the first pass, after it (its bare hashes neutralised), and
/// after the second (every hash neutralised).
fn link_targets(entry: &EntryPlan) -> (&[u8], Vec<u8>, &[u8]) {
    let (old, new) = entry.relink.as_ref().expect("symlink plans carry targets");
    let bare: Vec<Hit> = entry.hits.iter().filter(|h| h.bare).copied().collect();
    let mut after_bare = old.clone();
    plan::neutralise(&mut after_bare, &bare);
    (old, after_bare, new)
}

/// The first pass: an entry's bare hashes, in a file's contents or a symlink's target.
fn write_bare_hashes(entry: &EntryPlan, modes: &HashMap<PathBuf, u32>) -> EntryOutcome {
    match entry.place {
        Place::Contents => neutralise_contents(entry, true, modes),
        Place::SymlinkTarget if offsets(entry, true).next().is_some() => {
            let (old, after_bare, _) = link_targets(entry);
            relink(entry, old, &after_bare, offsets(entry, true))
        }
        Place::SymlinkTarget | Place::Name => EntryOutcome::default(),
    }
}

/// The second pass: the prefixed references; and a name's error, since names are never
/// renamed. A symlink whose first relink failed is not tried again.
fn write_the_rest(
    entry: &EntryPlan,
    first: &EntryOutcome,
    store: &StoreDir,
    plan: &StripPlan,
    modes: &HashMap<PathBuf, u32>,
) -> EntryOutcome {
    match entry.place {
        Place::Contents => neutralise_contents(entry, false, modes),
        Place::SymlinkTarget if offsets(entry, false).next().is_none() => EntryOutcome::default(),
        Place::SymlinkTarget if !first.errors.is_empty() => EntryOutcome {
            failed: offsets(entry, false).collect(),
            ..EntryOutcome::default()
        },
        Place::SymlinkTarget => {
            let (old, after_bare, new) = link_targets(entry);
            let from = if first.changed { &after_bare[..] } else { old };
            relink(entry, from, new, offsets(entry, false))
        }
        Place::Name => {
            let every = entry.hits.iter().map(|h| h.offset);
            EntryOutcome::refused(every, name_error(entry, store, plan))
        }
    }
}

/// Neutralises an entry's bare (or prefixed) hashes in its file.
fn neutralise_contents(
    entry: &EntryPlan,
    bare: bool,
    modes: &HashMap<PathBuf, u32>,
) -> EntryOutcome {
    let hits: Vec<Hit> = (entry.hits.iter())
        .filter(|h| h.bare == bare)
        .copied()
        .collect();
    if hits.is_empty() {
        return EntryOutcome::default();
    }
    let path = &entry.path;
    let (written, errors) = match modes.get(path) {
        Some(&mode) => {
            let open = || rewrite::open_in_place(path);
            rewrite::neutralise_file_of_mode(path, mode, open, &hits)
        }
        None => rewrite::neutralise_file(path, &hits),
    };
    contents_outcome(&hits, written, errors)
}

/// What writing `hits` into a file did: the offsets `written`, the `errors` of the others.
fn contents_outcome(hits: &[Hit], written: Vec<u64>, errors: Vec<RewriteError>) -> EntryOutcome {
    let written: HashSet<u64> = written.into_iter().collect();
    EntryOutcome {
        changed: !written.is_empty(),
        errors: errors.into_iter().map(StripError::from).collect(),
        warnings: Vec::new(),
        failed: hits
            .iter()
            .map(|h| h.offset)
            .filter(|o| !written.contains(o))
            .collect(),
    }
}

/// Re-points the symlink from `from` to `to`, which neutralises the hashes at `offsets`.
fn relink(
    entry: &EntryPlan,
    from: &[u8],
    to: &[u8],
    offsets: impl IntoIterator<Item = u64>,
) -> EntryOutcome {
    relink_outcome(&entry.path, rewrite::relink(&entry.path, from, to), offsets)
}

/// What a relink did: once the link is renamed into place it is changed, and a directory
/// whose mode could not be put back after is a warning, not a failure of the link.
fn relink_outcome(
    link: &Path,
    result: Result<Relinked, RewriteError>,
    offsets: impl IntoIterator<Item = u64>,
) -> EntryOutcome {
    match result {
        Ok(Relinked { mode_not_restored }) => EntryOutcome {
            changed: true,
            warnings: (mode_not_restored.into_iter())
                .map(|source| StripWarning::DirectoryModeNotRestored {
                    link: link.to_path_buf(),
                    source,
                })
                .collect(),
            ..EntryOutcome::default()
        },
        Err(e) => EntryOutcome::refused(offsets, e.into()),
    }
}

/// The error of a name that holds a reference.
fn name_error(entry: &EntryPlan, store: &StoreDir, plan: &StripPlan) -> StripError {
    let store_paths: BTreeSet<String> = entry
        .hits
        .iter()
        .map(|h| store_path_of(store, plan, &h.hash))
        .collect();
    StripError::NameHoldsReference {
        path: entry.path.clone(),
        store_paths: store_paths.into_iter().collect(),
    }
}

fn store_path_of(store: &StoreDir, plan: &StripPlan, hash: &StoreHash) -> String {
    let name = plan.names.get(hash).map(String::as_str).unwrap_or("");
    store.path_of(hash, name).display().to_string()
}

/// Store paths seen with their prefix but left alone (`--keep`, or outside `-t`), so that a
/// "nothing remains" is never silent about what was spared.
fn kept_store_paths(
    store: &StoreDir,
    scans: &[EntryScan],
    seen: &BTreeMap<StoreHash, Vec<String>>,
    wanted: &HashSet<StoreHash>,
) -> Vec<StorePathStat> {
    let mut stats: BTreeMap<StoreHash, StorePathStat> = BTreeMap::new();
    for scan in scans {
        let mut counted_here = HashSet::new();
        for r in scan
            .found
            .prefixed
            .iter()
            .filter(|r| !wanted.contains(&r.hash))
        {
            let name = seen
                .get(&r.hash)
                .and_then(|n| n.iter().min())
                .cloned()
                .unwrap_or_default();
            let stat = stats.entry(r.hash).or_insert_with(|| StorePathStat {
                store_path: store.path_of(&r.hash, &name).display().to_string(),
                hash: r.hash.to_string(),
                name,
                occurrences: 0,
                files: 0,
            });
            stat.occurrences += 1;
            if counted_here.insert(r.hash) {
                stat.files += 1;
            }
        }
    }
    let mut kept: Vec<StorePathStat> = stats.into_values().collect();
    kept.sort_by(|a, b| a.store_path.cmp(&b.store_path));
    kept
}

/// Per-reference lines and per-store-path totals, both sorted. The offsets an entry's
/// outcome lists as failed were not neutralised and are not counted.
fn fill_references(
    report: &mut StripReport,
    store: &StoreDir,
    plan: &StripPlan,
    outcomes: &[EntryOutcome],
) {
    let mut stats: BTreeMap<String, StorePathStat> = BTreeMap::new();
    for (entry, outcome) in plan.entries.iter().zip(outcomes) {
        let path = entry.path.display().to_string();
        let mut counted_here = HashSet::new();
        let failed: HashSet<u64> = outcome.failed.iter().copied().collect();
        for hit in entry.hits.iter().filter(|h| !failed.contains(&h.offset)) {
            let store_path = store_path_of(store, plan, &hit.hash);
            let stat = stats
                .entry(store_path.clone())
                .or_insert_with(|| StorePathStat {
                    store_path: store_path.clone(),
                    hash: hit.hash.to_string(),
                    name: plan.names.get(&hit.hash).cloned().unwrap_or_default(),
                    occurrences: 0,
                    files: 0,
                });
            stat.occurrences += 1;
            if counted_here.insert(hit.hash) {
                stat.files += 1;
            }
            report.references.push(ReferenceEntry {
                path: path.clone(),
                place: entry.place,
                offset: hit.offset,
                store_path,
                bare: hit.bare,
            });
        }
    }
    report.store_paths = stats.into_values().collect();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    const H: &str = "0c0s8w0wxyg2yyrb8iv5k1m6kv3bvhfz";

    /// Scans and plans `root` as a run without `-t` does.
    fn plan_of(root: &Path, store: &StoreDir) -> StripPlan {
        let cx = ScanCx {
            scanner: Scanner::new(store, None),
            write_now: None,
        };
        let gathered: Gathered<Scanned, StripError> = walk::gather(
            &[root.to_path_buf()],
            usize::MAX,
            Owner::StripStoreRefs,
            |entry, found, errors| scan_entry(&cx, entry, found, errors),
        );
        assert!(gathered.errors.is_empty(), "{:?}", gathered.errors);
        let mut scans = gathered.found.scans;
        scans.sort_by(|a, b| (&a.path, a.place).cmp(&(&b.path, b.place)));
        let seen = plan::seen_hashes(&scans);
        let wanted = Selection::new(store, &[], &[], &[]).unwrap().wanted(&seen);
        plan::plan(scans, &seen, &wanted)
    }

    fn target(link: &Path) -> String {
        std::fs::read_link(link).unwrap().display().to_string()
    }

    #[test]
    fn bare_hashes_in_symlink_targets_are_neutralised_in_the_first_pass() {
        let dir = tempfile::tempdir().unwrap();
        let store = StoreDir::new("/nix/store").unwrap();
        let (file, bare, both) = (
            dir.path().join("f"),
            dir.path().join("bare"),
            dir.path().join("both"),
        );
        std::fs::write(&file, format!("/nix/store/{H}-foo\n")).unwrap();
        symlink(format!("../{H}-bar"), &bare).unwrap();
        symlink(format!("/nix/store/{H}-foo/.{H}"), &both).unwrap();
        let plan = plan_of(dir.path(), &store);
        let e = "e".repeat(32);

        // A run killed between the passes: every bare hash is gone, and each still has a
        // prefixed occurrence by which the next run recognises it.
        let modes = HashMap::new();
        let first: Vec<EntryOutcome> = (plan.entries.iter())
            .map(|entry| write_bare_hashes(entry, &modes))
            .collect();
        assert_eq!(target(&bare), format!("../{e}-bar"));
        assert_eq!(target(&both), format!("/nix/store/{H}-foo/.{e}"));
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            format!("/nix/store/{H}-foo\n")
        );

        let done: Vec<EntryOutcome> = (plan.entries.iter().zip(first))
            .map(|(entry, first)| {
                let rest = write_the_rest(entry, &first, &store, &plan, &modes);
                first.and(rest)
            })
            .collect();
        assert_eq!(target(&both), format!("/nix/store/{e}-foo/.{e}"));
        assert_eq!(target(&bare), format!("../{e}-bar"));
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            format!("/nix/store/{e}-foo\n")
        );
        for outcome in &done {
            assert!(outcome.changed && outcome.errors.is_empty() && outcome.failed.is_empty());
        }
    }

    #[test]
    fn a_relinked_symlink_whose_directory_mode_was_not_restored_is_changed_with_a_warning() {
        let dir = PathBuf::from("/out/bin");
        let link = dir.join("python");
        let not_restored = RewriteError::Io {
            path: dir.clone(),
            action: "restore mode",
            source: io::Error::from_raw_os_error(libc::EPERM),
        };
        let relinked = Relinked {
            mode_not_restored: Some(not_restored),
        };
        let outcome = relink_outcome(&link, Ok(relinked), [11]);
        assert!(outcome.changed);
        assert!(outcome.errors.is_empty() && outcome.failed.is_empty());
        let warnings = report::entries(outcome.warnings);
        assert_eq!(warnings.len(), 1);
        assert_eq!(
            warnings[0].path, "/out/bin",
            "the warning names the directory"
        );
        assert_eq!(warnings[0].kind, "directory_mode_not_restored");
        assert!(
            warnings[0]
                .message
                .starts_with("/out/bin: cannot restore mode: ")
                && warnings[0]
                    .message
                    .ends_with("(after re-creating /out/bin/python)"),
            "{}",
            warnings[0].message
        );

        let failed = relink_outcome(
            &link,
            Err(RewriteError::LinkChanged { path: link.clone() }),
            [11],
        );
        assert!(!failed.changed && failed.failed == [11] && failed.errors.len() == 1);
    }
}
