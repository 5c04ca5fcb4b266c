//! `fix-venv prepare`: in the fixed-output derivation, after `uv sync`. Removes what differs
//! between two builds of the same lock file: bytecode (it embeds build paths and
//! timestamps), uv's `.lock` and its `uv_cache.json` files (timestamps), and their RECORD
//! lines. `bin/` and everything else stay.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use super::error::{Error, Result};
use super::plan::{Op, Plan, What};
use super::record;
use crate::walk::{walk, Kind};

pub const WHY_PYCACHE: &str = "bytecode cache: embeds build paths and differs between builds";
pub const WHY_PYC: &str = "bytecode: embeds build paths and differs between builds";
pub const WHY_LOCK: &str = "uv's lock file for the venv, not part of the environment";
pub const WHY_UV_CACHE: &str = "uv's cache info: timestamps that differ between builds";
pub const WHY_RECORD: &str = "drop lines of removed files, whose hashes differ between builds";

/// `base/rel` with `.` and `..` resolved lexically.
fn normalize(base: &Path, rel: &str) -> PathBuf {
    let mut out = PathBuf::new();
    for c in base.join(rel).components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

pub fn plan(root: &Path) -> Result<Plan> {
    if !root.is_dir() {
        return Err(Error::NotAVenv {
            path: root.to_path_buf(),
            reason: "not a directory".into(),
        });
    }
    let mut plan = Plan::new(root);
    let mut removed_dirs: Vec<PathBuf> = Vec::new();
    let mut removed: BTreeSet<PathBuf> = BTreeSet::new();
    let mut records = Vec::new();
    for entry in walk(root) {
        let entry = entry.map_err(|e| Error::io(e.path, e.source))?;
        let path = entry.path;
        if removed_dirs.iter().any(|d| path.starts_with(d)) {
            continue;
        }
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let parent_is_dist_info = path
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|p| p.to_string_lossy().ends_with(".dist-info"));
        match entry.kind {
            Kind::Dir if name == "__pycache__" => {
                removed_dirs.push(path.clone());
                plan.push(path, Op::RemoveDir, What::Bytecode, WHY_PYCACHE);
            }
            Kind::File | Kind::Symlink if name.ends_with(".pyc") || name.ends_with(".pyo") => {
                removed.insert(path.clone());
                plan.push(path, Op::Remove, What::Bytecode, WHY_PYC);
            }
            Kind::File if path == root.join(".lock") => {
                plan.push(path, Op::Remove, What::UvLeftover, WHY_LOCK);
            }
            Kind::File if name == "uv_cache.json" && parent_is_dist_info => {
                removed.insert(path.clone());
                plan.push(path, Op::Remove, What::UvLeftover, WHY_UV_CACHE);
            }
            Kind::File if name == "RECORD" && parent_is_dist_info => records.push(path),
            _ => {}
        }
    }
    for record_path in records {
        let site = record_path
            .parent()
            .and_then(Path::parent)
            .unwrap_or(root)
            .to_path_buf();
        let text = std::fs::read_to_string(&record_path).map_err(|e| Error::io(&record_path, e))?;
        let mut edit = record::Edit::default();
        for line in text.lines() {
            let rel = record::line_path(line);
            let abs = normalize(&site, &rel);
            if removed.contains(&abs) || removed_dirs.iter().any(|d| abs.starts_with(d)) {
                edit.drop.insert(rel);
            }
        }
        if !edit.drop.is_empty() {
            let contents = record::apply(&text, &edit).into_bytes();
            let mode = file_mode(&record_path)?;
            plan.push(
                record_path,
                Op::Write { contents, mode },
                What::Record,
                WHY_RECORD,
            );
        }
    }
    Ok(plan)
}

pub fn file_mode(path: &Path) -> Result<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .map_err(|e| Error::io(path, e))
}

/// Plans and (unless a dry run) applies; everything that happened is in the report.
pub fn run(root: &Path, dry_run: bool) -> super::report::VenvReport {
    let mut report = super::report::VenvReport {
        command: "prepare",
        dry_run,
        venv: root.display().to_string(),
        ..Default::default()
    };
    let entry = |e: &Error| crate::report::ErrorEntry {
        path: e.path().display().to_string(),
        message: e.to_string(),
    };
    match plan(root) {
        Ok(plan) => {
            report.changes = plan.sorted();
            if !dry_run {
                if let Err(e) = plan.apply() {
                    report.errors.push(entry(&e));
                }
            }
        }
        Err(e) => report.errors.push(entry(&e)),
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_record_paths() {
        assert_eq!(
            normalize(
                Path::new("/v/lib/python3.11/site-packages"),
                "../../../bin/x"
            ),
            PathBuf::from("/v/bin/x")
        );
    }
}
