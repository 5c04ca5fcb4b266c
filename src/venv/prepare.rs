//! `fix-venv prepare`: in the fixed-output derivation, after `uv sync`. Removes what differs
//! between two builds of the same lock file: bytecode (it embeds build paths and
//! timestamps), uv's `.lock` and its `uv_cache.json` files (timestamps), and their RECORD
//! lines. It also removes the interpreter links in `bin/` (`python`, `python3`,
//! `python3.X`): they point into the build Python's store path, so once strip-store-refs
//! neutralises it they dangle, which stdenv's fixup refuses; `restore` makes them anew.
//! The rest of `bin/` and everything else stay.
//!
//! Two more things would make the FOD's hash depend on the build rather than the lock file:
//! - a path dependency's `direct_url.json` names it by a `file://` URL into the build's
//!   temporary source directory (`/tmp/nix-build-…drv-0/…`, `-1` beside it): removed, with
//!   its RECORD line (other URL kinds are kept: they name the same thing on every build);
//! - RECORD digests of files naming a store path: strip-store-refs changes those bytes after
//!   this, so the digest uv wrote would be stale and would carry the store paths' hashes
//!   (the FOD's own `$out` among them) into the FOD. Their hash and size are blanked
//!   (`path,,`); `fix-venv restore` recomputes them in the main derivation;
//! - ELF files uv compiled from an sdist carry its random build directory in their debug
//!   info and build-id: [`super::normalise`] zeroes the one and recomputes the other, and
//!   their RECORD digests are blanked too;
//! - a file two distributions install with different contents holds whichever uv wrote
//!   last: [`super::claims`] refuses, before anything changes, until `--drop` settles it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::error::{Result, VenvError};
use super::fsx::{absolute, normalize};
use super::layout::is_installed_dist_info;
use super::plan::{Op, VenvPlan, What};
use super::record::{self, DistRecord};
use super::report::{VenvCommand, VenvReport};
use super::{claims, normalise};
use crate::shared::report::ErrorEntry;
use crate::shared::store::StoreDir;
use crate::shared::walk::{walk, EntryKind};
use crate::strip::{self, cli::SelectionArgs, plan::Place, StripMode, StripOptions};

/// Why a `__pycache__` directory is removed.
pub const WHY_PYCACHE: &str = "bytecode cache: embeds build paths and differs between builds";
/// Why a `.pyc` or `.pyo` file outside `__pycache__` is removed.
pub const WHY_PYC: &str = "bytecode: embeds build paths and differs between builds";
/// Why uv's `.lock` at the venv's root is removed.
pub const WHY_LOCK: &str = "uv's lock file for the venv, not part of the environment";
/// Why a dist-info's `uv_cache.json` is removed.
pub const WHY_UV_CACHE: &str = "uv's cache info: timestamps that differ between builds";
/// Why a RECORD is rewritten when it only loses lines.
pub const WHY_RECORD: &str = "drop lines of removed files, whose hashes differ between builds";
/// Why a `direct_url.json` naming a `file://` path is removed.
pub const WHY_DIRECT_URL: &str = "names the build's source directory: a file:// URL to a local \
                                  path that only existed at build time";
/// Why `bin/python`, `python3` and `python3.X` are removed.
pub const WHY_INTERPRETER_LINK: &str = "interpreter link: points into the build Python's store \
                                        path, which would dangle once stripped; restore makes it";
/// Why a file strip-store-refs will change has its RECORD digest blanked.
pub const WHY_DIGEST: &str = "digest blanked: the file names a store path, so its bytes change \
                              when references are stripped";
/// Why a RECORD is rewritten when it only has digests blanked.
pub const WHY_RECORD_DIGESTS: &str = "blank the digests of files naming store paths or \
                                      normalised here (restore recomputes them)";
/// Why a RECORD is rewritten when it both loses lines and has digests blanked.
pub const WHY_RECORD_BOTH: &str = "drop lines of removed files, blank the digests of files \
                                   naming store paths or normalised here (restore recomputes \
                                   them)";

/// What `prepare` is asked besides the venv.
#[derive(Clone, Debug, Default)]
pub struct PrepareOptions {
    /// Files (relative to site-packages) to remove with their lines in every RECORD.
    pub drop: Vec<PathBuf>,
    /// Change nothing.
    pub dry_run: bool,
    /// What the strip after this will be asked to neutralise (the same `-t`, `--keep`,
    /// `--also-hash`, `--env-candidates`): the files it will change are asked of its planner.
    pub select: SelectionArgs,
}

/// Whether a `direct_url.json` names a local path (`file://`), which only existed where the
/// build ran. Unreadable or odd JSON is left alone.
fn is_local_direct_url(bytes: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| v.get("url")?.as_str().map(|u| u.starts_with("file://")))
        .unwrap_or(false)
}

/// Whether `name` is one of the interpreter links uv makes in `bin/`: `python`, `python3`,
/// `python3.11`.
fn is_interpreter_link_name(name: &str) -> bool {
    let Some(version) = name.strip_prefix("python") else {
        return false;
    };
    let parts: Vec<&str> = version.split('.').collect();
    version.is_empty()
        || parts.len() <= 2
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The files strip-store-refs will change, asked of its own planner: a dry run over the venv
/// with the selection the strip will be given. It runs before this plan's removals, so a hash
/// seen with its store prefix only in a file about to be removed can make it blank a digest
/// more than needed (restore recomputes it) — never one less.
fn changed_by_strip(
    root: &Path,
    store: &StoreDir,
    select: &SelectionArgs,
) -> Result<BTreeSet<PathBuf>> {
    let selection =
        (select.selection(store)).map_err(|e| VenvError::invalid(root, e.to_string()))?;
    let options = StripOptions {
        store: store.clone(),
        selection,
        mode: StripMode::DryRun,
    };
    let report = strip::run(&[root.to_path_buf()], &options);
    if let Some(error) = report.footer.errors.first() {
        return Err(VenvError::invalid(&error.path, error.message.clone()));
    }
    Ok((report.references.iter())
        .filter(|r| r.place == Place::Contents)
        .map(|r| PathBuf::from(&r.path))
        .collect())
}

/// The plan, for the store directory of `NIX_STORE_DIR`, `NIX_STORE` or `/nix/store`.
pub fn plan(root: &Path, options: &PrepareOptions) -> Result<VenvPlan> {
    let store = StoreDir::resolve(None).map_err(|e| VenvError::invalid(root, e))?;
    plan_for_store(root, &store, options)
}

/// The plan, for the store directory `store` rather than the environment's; changes nothing.
/// A file two distributions install with different contents, not `--drop`ped, is an error.
pub fn plan_for_store(root: &Path, store: &StoreDir, options: &PrepareOptions) -> Result<VenvPlan> {
    // One form for every path compared below (`./v`, `v/..` would match nothing).
    let root = &absolute(root)?;
    if !root.is_dir() {
        return Err(VenvError::NotAVenv {
            path: root.to_path_buf(),
            reason: "not a directory".into(),
        });
    }
    let mut plan = VenvPlan::new(root);
    let mut removed_dirs: Vec<PathBuf> = Vec::new();
    let mut removed: BTreeSet<PathBuf> = BTreeSet::new();
    let mut records = Vec::new();
    let mut entries: Vec<(PathBuf, EntryKind)> = Vec::new();
    for entry in walk(root) {
        let entry = entry.map_err(|e| VenvError::io(e.path, e.source))?;
        let path = entry.path;
        if removed_dirs.iter().any(|d| path.starts_with(d)) {
            continue;
        }
        if !entry.is_root {
            entries.push((path.clone(), entry.kind));
        }
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let parent_is_dist_info = path
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|p| p.to_string_lossy().ends_with(".dist-info"));
        match entry.kind {
            EntryKind::Dir if name == "__pycache__" => {
                removed_dirs.push(path.clone());
                plan.push(path, Op::RemoveDir, What::Bytecode, WHY_PYCACHE);
            }
            EntryKind::File | EntryKind::Symlink
                if name.ends_with(".pyc") || name.ends_with(".pyo") =>
            {
                removed.insert(path.clone());
                plan.push(path, Op::Remove, What::Bytecode, WHY_PYC);
            }
            // stdenv's fixup refuses a symlink into the store whose target is missing, and
            // a stripped link is one; `restore` links the interpreter it is given anyway.
            EntryKind::Symlink
                if path.parent() == Some(&root.join("bin")) && is_interpreter_link_name(&name) =>
            {
                removed.insert(path.clone());
                plan.push(
                    path,
                    Op::Remove,
                    What::InterpreterLink,
                    WHY_INTERPRETER_LINK,
                );
            }
            EntryKind::File if path == root.join(".lock") => {
                removed.insert(path.clone());
                plan.push(path, Op::Remove, What::UvLeftover, WHY_LOCK);
            }
            EntryKind::File if name == "uv_cache.json" && parent_is_dist_info => {
                removed.insert(path.clone());
                plan.push(path, Op::Remove, What::UvLeftover, WHY_UV_CACHE);
            }
            EntryKind::File if name == "direct_url.json" && parent_is_dist_info => {
                let bytes = std::fs::read(&path).map_err(|e| VenvError::io(&path, e))?;
                if is_local_direct_url(&bytes) {
                    removed.insert(path.clone());
                    plan.push(path, Op::Remove, What::DirectUrl, WHY_DIRECT_URL);
                }
            }
            EntryKind::File
                if name == "RECORD" && path.parent().is_some_and(is_installed_dist_info) =>
            {
                records.push(path)
            }
            _ => {}
        }
    }
    let dists = records
        .iter()
        .map(|r| DistRecord::read(r))
        .collect::<Result<Vec<_>>>()?;
    let gone = |p: &Path| removed.contains(p) || removed_dirs.iter().any(|d| p.starts_with(d));
    for dropped in claims::resolve(root, &dists, &options.drop, gone)? {
        if dropped.exists {
            plan.push(dropped.path.clone(), Op::Remove, What::Dropped, dropped.why);
        }
        removed.insert(dropped.path);
    }
    let gone = |p: &Path| removed.contains(p) || removed_dirs.iter().any(|d| p.starts_with(d));
    let mut normalised = BTreeSet::new();
    for file in normalise::plan(root, store, &dists, gone)? {
        let why = file.why();
        let op = Op::Write {
            contents: file.contents,
            mode: file.mode,
        };
        normalised.insert(file.path.clone());
        plan.push(file.path, op, What::NormalisedElf, why);
    }
    entries.retain(|(path, _)| {
        !removed.contains(path) && !removed_dirs.iter().any(|d| path.starts_with(d))
    });
    let changed_by_strip = changed_by_strip(root, store, &options.select)?;
    for record_path in records {
        let site = record_path
            .parent()
            .and_then(Path::parent)
            .unwrap_or(root)
            .to_path_buf();
        let text =
            std::fs::read_to_string(&record_path).map_err(|e| VenvError::io(&record_path, e))?;
        let mut edit = record::RecordEdit::default();
        for (_, entry) in record::entries(&text) {
            let abs = normalize(&site.join(&entry.path));
            if removed.contains(&abs) || removed_dirs.iter().any(|d| abs.starts_with(d)) {
                edit.drop.insert(entry.path);
            } else if !entry.is_blank() && normalised.contains(&abs) {
                edit.blank.insert(entry.path);
            } else if !entry.is_blank()
                && changed_by_strip.contains(&abs)
                && edit.blank.insert(entry.path)
            {
                plan.push(abs, Op::BlankDigest, What::RecordDigest, WHY_DIGEST);
            }
        }
        if !edit.is_empty() {
            let contents = record::apply(&text, &edit).into_bytes();
            let mode = file_mode(&record_path)?;
            let why = match (edit.drop.is_empty(), edit.blank.is_empty()) {
                (false, true) => WHY_RECORD,
                (true, false) => WHY_RECORD_DIGESTS,
                _ => WHY_RECORD_BOTH,
            };
            plan.push(record_path, Op::Write { contents, mode }, What::Record, why);
        }
    }
    Ok(plan)
}

/// The permission bits (`0o7777` at most) of `path` itself, a symlink not followed.
pub fn file_mode(path: &Path) -> Result<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .map_err(|e| VenvError::io(path, e))
}

/// Plans and (unless a dry run) applies; everything that happened is in the report.
pub fn run(root: &Path, options: &PrepareOptions) -> VenvReport {
    let dry_run = options.dry_run;
    let mut report = VenvReport {
        command: VenvCommand::Prepare,
        dry_run,
        venv: root.display().to_string(),
        ..Default::default()
    };
    let entry = |e: &VenvError| ErrorEntry::new(e);
    match plan(root, options) {
        Ok(plan) => {
            report.changes = plan.sorted();
            if !dry_run {
                if let Err(e) = plan.apply() {
                    report.errors.push(entry(&e));
                }
            }
        }
        // One error a file, each naming it.
        Err(VenvError::PathClash { clashes }) => {
            report.errors.extend(clashes.iter().map(ErrorEntry::new));
        }
        Err(e) => report.errors.push(entry(&e)),
    }
    report
}

#[cfg(test)]
mod tests {
    use super::is_interpreter_link_name;

    #[test]
    fn interpreter_links_are_python_and_its_versioned_names() {
        for name in ["python", "python3", "python3.11", "python3.9"] {
            assert!(is_interpreter_link_name(name), "{name}");
        }
        for name in [
            "python-config",
            "python3.11-config",
            "pythonx",
            "python3.",
            "python3.1.2",
            "pip",
            "ipython",
        ] {
            assert!(!is_interpreter_link_name(name), "{name}");
        }
    }
}
