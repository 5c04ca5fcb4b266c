//! strip-store-refs: walk → scan → plan → write → report.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs::File;
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::report::{ReferenceEntry, StorePathStat, StripReport};
use crate::shared::leftover::{self, Owner};
use crate::shared::report::ErrorEntry;
use crate::shared::scan::{self, ScanFindings, Scanner};
use crate::shared::store::{StoreDir, StoreHash};
use crate::shared::walk::{self, EntryKind};
use crate::strip::plan::{self, EntryPlan, EntryScan, Place, StripPlan};
use crate::strip::rewrite;
use crate::strip::select::Selection;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StripMode {
    /// Neutralise in place.
    Strip,
    /// Change nothing; report what would change.
    DryRun,
    /// Change nothing; report what remains.
    Check,
}

impl StripMode {
    fn as_str(self) -> &'static str {
        match self {
            StripMode::Strip => "strip",
            StripMode::DryRun => "dry-run",
            StripMode::Check => "check",
        }
    }
}

pub struct StripOptions {
    pub store: StoreDir,
    pub selection: Selection,
    pub mode: StripMode,
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("{}: vanished during the run", path.display())]
    Vanished { path: PathBuf },
    #[error("{}: cannot read: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Walk(#[from] walk::WalkError),
}

impl ScanError {
    fn path(&self) -> &Path {
        match self {
            ScanError::Vanished { path } | ScanError::Read { path, .. } => path,
            ScanError::Walk(e) => &e.path,
        }
    }
}

fn read_error(path: &Path) -> impl FnOnce(io::Error) -> ScanError + '_ {
    move |source| match source.kind() {
        io::ErrorKind::NotFound => ScanError::Vanished {
            path: path.to_path_buf(),
        },
        _ => ScanError::Read {
            path: path.to_path_buf(),
            source,
        },
    }
}

/// What the parallel scan gathers; merged pairwise, so no lock is held while reading.
#[derive(Default)]
struct ScanTally {
    files: u64,
    bytes: u64,
    symlinks: u64,
    dirs: u64,
    scans: Vec<EntryScan>,
    special: Vec<PathBuf>,
    /// Temporary symlinks a killed earlier run left; removed, never scanned.
    leftovers: Vec<PathBuf>,
    errors: Vec<(PathBuf, String)>,
}

impl ScanTally {
    fn merge(mut self, mut other: ScanTally) -> ScanTally {
        self.files += other.files;
        self.bytes += other.bytes;
        self.symlinks += other.symlinks;
        self.dirs += other.dirs;
        self.scans.append(&mut other.scans);
        self.special.append(&mut other.special);
        self.leftovers.append(&mut other.leftovers);
        self.errors.append(&mut other.errors);
        self
    }

    fn error(&mut self, path: &Path, message: String) {
        self.errors.push((path.to_path_buf(), message));
    }

    fn push(
        &mut self,
        path: &Path,
        place: Place,
        found: ScanFindings,
        extra: (Option<(u64, u64)>, Option<Vec<u8>>),
    ) {
        if !found.is_empty() {
            self.scans.push(EntryScan {
                path: path.to_path_buf(),
                place,
                found,
                shared_inode: extra.0,
                link_target: extra.1,
            });
        }
    }
}

/// [`walk::open_regular`], and whether the file has other hard links (its device and inode).
fn open_regular(path: &Path) -> Result<(File, Option<(u64, u64)>), ScanError> {
    let (file, meta) = walk::open_regular(path).map_err(read_error(path))?;
    let inode = (meta.nlink() > 1).then(|| (meta.dev(), meta.ino()));
    Ok((file, inode))
}

fn scan_entry(scanner: &Scanner, tally: &mut ScanTally, entry: walk::Entry) {
    let path = &entry.path;
    if !entry.is_root && leftover::is_leftover(Owner::StripStoreRefs, path, entry.kind) {
        tally.leftovers.push(entry.path);
        return;
    }
    if !entry.is_root {
        if let Some(name) = path.file_name() {
            tally.push(
                path,
                Place::Name,
                scanner.scan_name(name.as_bytes()),
                (None, None),
            );
        }
    }
    match entry.kind {
        EntryKind::Dir => tally.dirs += 1,
        EntryKind::Special => tally.special.push(path.clone()),
        EntryKind::Symlink => match std::fs::read_link(path).map_err(read_error(path)) {
            Ok(target) => {
                tally.symlinks += 1;
                let target = target.into_os_string().into_vec();
                let found = scanner.scan_bytes(&target);
                tally.push(path, Place::SymlinkTarget, found, (None, Some(target)));
            }
            Err(e) => tally.error(path, e.to_string()),
        },
        EntryKind::File => {
            let result = open_regular(path).and_then(|(file, inode)| {
                // A buffer sized to the file: zero-filling a whole chunk for every small file
                // costs more than reading it.
                let len = file.metadata().map(|m| m.len()).unwrap_or(0);
                let found = scanner
                    .scan_reader_chunked(file, scan::chunk_for(len))
                    .map_err(read_error(path))?;
                Ok((found, inode))
            });
            match result {
                Ok((found, inode)) => {
                    tally.files += 1;
                    tally.bytes += found.len;
                    tally.push(path, Place::Contents, found, (inode, None));
                }
                Err(e) => tally.error(path, e.to_string()),
            }
        }
    }
}

/// Runs strip-store-refs over `roots` on the current rayon pool.
pub fn run(roots: &[PathBuf], opts: &StripOptions) -> StripReport {
    let known_up_front = opts.selection.known_up_front();
    let scanner = Scanner::new(&opts.store, known_up_front.as_ref());

    // Walk and scan: one read of every file, in parallel.
    let entries = walk::distinct_roots(roots)
        .into_iter()
        .flat_map(|root| walk::walk(&root));
    let tally = walk::batched(entries, walk::BATCH)
        .par_bridge()
        .flat_map_iter(|batch| batch)
        .fold(ScanTally::default, |mut tally, item| {
            match item {
                Ok(entry) => scan_entry(&scanner, &mut tally, entry),
                Err(e) => {
                    let path = e.path.clone();
                    tally.error(&path, ScanError::from(e).to_string());
                }
            }
            tally
        })
        .reduce(ScanTally::default, ScanTally::merge);
    let ScanTally {
        files,
        bytes,
        symlinks,
        dirs,
        mut scans,
        mut special,
        mut leftovers,
        errors: scan_errors,
    } = tally;
    scans.sort_by(|a, b| (&a.path, a.place).cmp(&(&b.path, b.place)));

    // Decide what is wanted, now that every prefixed hash in the tree is known.
    let seen = plan::seen_hashes(&scans);
    let wanted = opts.selection.wanted(&seen);
    let mut errors = scan_errors;
    rescan_overflowed(&opts.store, &wanted, &mut scans, &mut errors);

    let kept = kept_store_paths(&opts.store, &scans, &seen, &wanted);
    let plan = plan::plan(scans, &seen, &wanted);

    let mut report = StripReport {
        mode: opts.mode.as_str(),
        store_dir: opts.store.as_str().to_string(),
        files_scanned: files,
        bytes_scanned: bytes,
        symlinks_scanned: symlinks,
        directories_scanned: dirs,
        ..StripReport::default()
    };

    // A killed run's temporary symlinks go first, so nothing of that run outlives this one.
    leftovers.sort();
    if opts.mode == StripMode::Strip {
        errors.extend(leftover::remove(&leftovers, Owner::StripStoreRefs));
    }
    report.footer.leftovers = leftovers.iter().map(|p| p.display().to_string()).collect();

    // Write (only in strip mode); names are never renamed behind the user's back.
    let outcomes: Vec<Outcome> = match opts.mode {
        StripMode::Strip => {
            // Bare hashes first, everywhere: a bare hash is only recognised through a prefixed
            // occurrence, so if the run is killed, a re-run must still find a prefixed one.
            let bare: Vec<Outcome> = plan
                .entries
                .par_iter()
                .map(|e| apply(e, &opts.store, &plan, Pass::Bare))
                .collect();
            let rest: Vec<Outcome> = plan
                .entries
                .par_iter()
                .map(|e| apply(e, &opts.store, &plan, Pass::Rest))
                .collect();
            bare.into_iter()
                .zip(rest)
                .map(|((c1, mut e1, mut f1), (c2, e2, f2))| {
                    e1.extend(e2);
                    f1.extend(f2);
                    (c1 || c2, e1, f1)
                })
                .collect()
        }
        StripMode::DryRun => plan
            .entries
            .iter()
            .map(|e| match e.place {
                Place::Name => (
                    false,
                    vec![name_error(e, &opts.store, &plan)],
                    e.hits.iter().map(|h| h.offset).collect(),
                ),
                _ => (true, Vec::new(), Vec::new()),
            })
            .collect(),
        StripMode::Check => plan
            .entries
            .iter()
            .map(|_| (false, Vec::new(), Vec::new()))
            .collect(),
    };
    for (entry, (changed, entry_errors, _)) in plan.entries.iter().zip(&outcomes) {
        match entry.place {
            Place::Contents if *changed => report.files_changed += 1,
            Place::SymlinkTarget if *changed => report.symlinks_changed += 1,
            _ => {}
        }
        errors.extend(entry_errors.iter().map(|m| (entry.path.clone(), m.clone())));
    }

    let failed: Vec<&[u64]> = outcomes.iter().map(|o| o.2.as_slice()).collect();
    fill_references(&mut report, &opts.store, &plan, &failed);
    report.kept = kept;
    special.sort();
    report.footer.skipped_special = special.iter().map(|p| p.display().to_string()).collect();
    let mut errors: Vec<ErrorEntry> = errors
        .into_iter()
        .map(|(path, message)| ErrorEntry {
            path: path.display().to_string(),
            message,
        })
        .collect();
    errors.sort();
    errors.dedup();
    report.footer.errors = errors;
    report
}

/// Files whose runs of Nix32 bytes were too large to keep are read once more, now that the
/// wanted hashes are known, and matched directly.
fn rescan_overflowed(
    store: &StoreDir,
    wanted: &HashSet<StoreHash>,
    scans: &mut [EntryScan],
    errors: &mut Vec<(PathBuf, String)>,
) {
    let scanner = Scanner::new(store, Some(wanted));
    let results: Vec<(usize, Result<ScanFindings, ScanError>)> = scans
        .par_iter()
        .enumerate()
        .filter(|(_, s)| s.found.runs_overflowed)
        .map(|(i, s)| {
            let found = match s.place {
                Place::Contents => open_regular(&s.path)
                    .and_then(|(file, _)| scanner.scan_reader(file).map_err(read_error(&s.path))),
                Place::SymlinkTarget => {
                    Ok(scanner.scan_bytes(s.link_target.as_deref().unwrap_or_default()))
                }
                Place::Name => {
                    Ok(scanner
                        .scan_name(s.path.file_name().map(|n| n.as_bytes()).unwrap_or_default()))
                }
            };
            (i, found)
        })
        .collect();
    for (i, result) in results {
        match result {
            Ok(found) => scans[i].found = found,
            Err(e) => {
                errors.push((e.path().to_path_buf(), e.to_string()));
                scans[i].found = ScanFindings::default();
            }
        }
    }
}

/// Applies one entry's plan; returns whether anything was written and the errors.
/// The two write passes: bare hashes in file contents, then everything else.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    Bare,
    Rest,
}

/// What applying one entry did: whether it wrote, its errors, and the offsets it did not
/// neutralise (so the report never counts a reference whose write failed).
type Outcome = (bool, Vec<String>, Vec<u64>);

fn apply(entry: &EntryPlan, store: &StoreDir, plan: &StripPlan, pass: Pass) -> Outcome {
    let all = || entry.hits.iter().map(|h| h.offset).collect::<Vec<_>>();
    match (entry.place, pass) {
        (Place::Contents, _) => {
            let hits: Vec<_> = entry
                .hits
                .iter()
                .filter(|h| h.bare == (pass == Pass::Bare))
                .copied()
                .collect();
            if hits.is_empty() {
                return (false, Vec::new(), Vec::new());
            }
            let (written, errors) = rewrite::neutralise_file(&entry.path, &hits);
            let written: HashSet<u64> = written.into_iter().collect();
            let failed = hits
                .iter()
                .map(|h| h.offset)
                .filter(|o| !written.contains(o))
                .collect();
            (
                !written.is_empty(),
                errors.iter().map(ToString::to_string).collect(),
                failed,
            )
        }
        (_, Pass::Bare) => (false, Vec::new(), Vec::new()),
        (Place::SymlinkTarget, Pass::Rest) => {
            let (old, new) = entry.relink.as_ref().expect("symlink plans carry targets");
            match rewrite::relink(&entry.path, old, new) {
                Ok(()) => (true, Vec::new(), Vec::new()),
                Err(e) => (false, vec![e.to_string()], all()),
            }
        }
        (Place::Name, Pass::Rest) => (false, vec![name_error(entry, store, plan)], all()),
    }
}

fn name_error(entry: &EntryPlan, store: &StoreDir, plan: &StripPlan) -> String {
    let refs: BTreeSet<String> = entry
        .hits
        .iter()
        .map(|h| store_path_of(store, plan, &h.hash))
        .collect();
    let refs: Vec<String> = refs.into_iter().collect();
    format!(
        "{}: its name holds a store reference ({}); rename it, strip-store-refs does not rename",
        entry.path.display(),
        refs.join(", ")
    )
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

/// Per-reference lines and per-store-path totals, both sorted.
/// `failed[i]` holds the offsets of entry `i` that were not neutralised; they are not counted.
fn fill_references(
    report: &mut StripReport,
    store: &StoreDir,
    plan: &StripPlan,
    failed: &[&[u64]],
) {
    let mut stats: BTreeMap<String, StorePathStat> = BTreeMap::new();
    for (entry, failed) in plan.entries.iter().zip(failed) {
        let path = entry.path.display().to_string();
        let mut counted_here = HashSet::new();
        let failed: HashSet<u64> = failed.iter().copied().collect();
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
                place: entry.place.as_str(),
                offset: hit.offset,
                store_path,
                bare: hit.bare,
            });
        }
    }
    report.store_paths = stats.into_values().collect();
}
