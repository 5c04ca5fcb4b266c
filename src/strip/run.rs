//! strip-store-refs' pipeline: walk and scan every entry once, in parallel → decide which
//! hashes to neutralise, now that every prefixed hash in the tree is known → plan the bytes
//! → write (in strip mode) → report.

use std::collections::{BTreeMap, BTreeSet, HashSet};
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
use super::select::Selection;
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
}

impl Merge for Scanned {
    fn merge(&mut self, mut other: Scanned) {
        self.files += other.files;
        self.bytes += other.bytes;
        self.symlinks += other.symlinks;
        self.dirs += other.dirs;
        self.scans.append(&mut other.scans);
    }
}

impl Scanned {
    fn push(&mut self, path: &Path, place: Place, found: ScanFindings) -> Option<&mut EntryScan> {
        if found.is_empty() {
            return None;
        }
        self.scans.push(EntryScan {
            path: path.to_path_buf(),
            place,
            found,
            shared_inode: None,
            link_target: None,
        });
        self.scans.last_mut()
    }
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
fn scan_entry(scanner: &Scanner, entry: &Visit, found: &mut Scanned, errors: &mut Vec<StripError>) {
    let path = entry.path();
    if !entry.is_root {
        found.push(
            &path,
            Place::Name,
            scanner.scan_name(entry.name().as_bytes()),
        );
    }
    match entry.kind {
        EntryKind::Dir => found.dirs += 1,
        EntryKind::Special => {}
        EntryKind::Symlink => match std::fs::read_link(&path).map_err(read_error(&path)) {
            Ok(target) => {
                found.symlinks += 1;
                let target = target.into_os_string().into_vec();
                let hits = scanner.scan_bytes(&target);
                if let Some(scan) = found.push(&path, Place::SymlinkTarget, hits) {
                    scan.link_target = Some(target);
                }
            }
            Err(e) => errors.push(e),
        },
        EntryKind::File => {
            let result = open_with_inode(&path).and_then(|(file, len, inode)| {
                // A buffer sized to the file: zero-filling a whole chunk for every small file
                // costs more than reading it.
                let hits = scanner
                    .scan_reader_chunked(file, scan::chunk_for(len))
                    .map_err(read_error(&path))?;
                Ok((hits, inode))
            });
            match result {
                Ok((hits, inode)) => {
                    found.files += 1;
                    found.bytes += hits.len;
                    if let Some(scan) = found.push(&path, Place::Contents, hits) {
                        scan.shared_inode = inode;
                    }
                }
                Err(e) => errors.push(e),
            }
        }
    }
}

/// Runs strip-store-refs over `roots` on the current rayon pool.
pub fn run(roots: &[PathBuf], opts: &StripOptions) -> StripReport {
    let known_up_front = opts.selection.known_up_front();
    let scanner = Scanner::new(&opts.store, known_up_front.as_ref());

    // Walk and scan: one read of every file, in parallel.
    let Gathered {
        found,
        special,
        leftovers,
        mut errors,
    } = walk::gather(
        roots,
        usize::MAX,
        Owner::StripStoreRefs,
        |entry, found, errors| scan_entry(&scanner, entry, found, errors),
    );
    let Scanned {
        files,
        bytes,
        symlinks,
        dirs,
        mut scans,
    } = found;
    scans.sort_by(|a, b| (&a.path, a.place).cmp(&(&b.path, b.place)));

    // Decide what is wanted, now that every prefixed hash in the tree is known.
    let seen = plan::seen_hashes(&scans);
    let wanted = opts.selection.wanted(&seen);
    rescan_overflowed(&opts.store, &wanted, &mut scans, &mut errors);
    let kept = kept_store_paths(&opts.store, &scans, &seen, &wanted);
    let plan = plan::plan(scans, &seen, &wanted);

    // A killed run's temporary symlinks go first, so nothing of that run outlives this one.
    if opts.mode == StripMode::Strip {
        let not_removed = leftover::remove(&leftovers, Owner::StripStoreRefs);
        errors.extend(not_removed.into_iter().map(StripError::from));
    }
    // Write (only in strip mode); names are never renamed behind the user's back.
    let outcomes = match opts.mode {
        StripMode::Strip => write(&plan, &opts.store),
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
fn write(plan: &StripPlan, store: &StoreDir) -> Vec<EntryOutcome> {
    let bare: Vec<EntryOutcome> = (plan.entries.par_iter()).map(write_bare_hashes).collect();
    (plan.entries.par_iter())
        .zip(bare)
        .map(|(entry, first)| {
            let rest = write_the_rest(entry, &first, store, plan);
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
fn write_bare_hashes(entry: &EntryPlan) -> EntryOutcome {
    match entry.place {
        Place::Contents => neutralise_contents(entry, true),
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
) -> EntryOutcome {
    match entry.place {
        Place::Contents => neutralise_contents(entry, false),
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
fn neutralise_contents(entry: &EntryPlan, bare: bool) -> EntryOutcome {
    let hits: Vec<Hit> = (entry.hits.iter())
        .filter(|h| h.bare == bare)
        .copied()
        .collect();
    if hits.is_empty() {
        return EntryOutcome::default();
    }
    let (written, errors) = rewrite::neutralise_file(&entry.path, &hits);
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
        let scanner = Scanner::new(store, None);
        let gathered: Gathered<Scanned, StripError> = walk::gather(
            &[root.to_path_buf()],
            usize::MAX,
            Owner::StripStoreRefs,
            |entry, found, errors| scan_entry(&scanner, entry, found, errors),
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
        let first: Vec<EntryOutcome> = plan.entries.iter().map(write_bare_hashes).collect();
        assert_eq!(target(&bare), format!("../{e}-bar"));
        assert_eq!(target(&both), format!("/nix/store/{H}-foo/.{e}"));
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            format!("/nix/store/{H}-foo\n")
        );

        let done: Vec<EntryOutcome> = (plan.entries.iter().zip(first))
            .map(|(entry, first)| {
                let rest = write_the_rest(entry, &first, &store, &plan);
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
