//! Files two distributions both install. uv writes them in whatever order it installs the
//! wheels, so the venv holds whichever came last and the loser's RECORD line no longer
//! matches: the FOD's hash then depends on install order, and Nix only says "hash
//! mismatch" (django-tenants 3.10.1 and pyrad 2.5.4 both ship `site-packages/docs/Makefile`).
//!
//! `prepare` reads every RECORD and, for each path two or more distributions list:
//! - their digests agree (or are blank), or the file matches every digest given: nothing
//!   to do, whichever was written is the same;
//! - otherwise it refuses, naming the path and the distributions, before anything changes,
//!   and tells the user about `--drop PATH` (relative to site-packages): the file goes, and
//!   its line from every RECORD listing it. The result is the same on every build, whatever
//!   the order uv installed in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::error::{Result, VenvError};
use super::fsx::normalize;
use super::layout::site_packages_dirs;
use super::record::{digest_matches, DistRecord, RecordEntry};
use crate::shared::report::Reportable;

/// A file distributions disagree about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathClash {
    /// The file.
    pub path: PathBuf,
    /// As the RECORDs name it: relative to site-packages, what `--drop` takes.
    pub record_path: String,
    /// The distributions listing it (`name-version`), sorted.
    pub dists: Vec<String>,
}

impl std::fmt::Display for PathClash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: installed by {} with different contents (their RECORD digests differ): the \
             venv holds whichever uv wrote last, so the FOD's hash would depend on install \
             order; pass --drop {} (fixVenvDrop in the hook) to remove the file and its \
             RECORD lines on every build",
            self.path.display(),
            and_list(&self.dists),
            self.record_path
        )
    }
}

impl Reportable for PathClash {
    fn path(&self) -> &Path {
        &self.path
    }

    fn kind(&self) -> &'static str {
        "path_clash"
    }
}

/// A file `--drop` removes (with its lines in every RECORD).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dropped {
    /// The file, absolute and inside the venv.
    pub path: PathBuf,
    /// Whether a file (or symlink) stands there; when not, only RECORD lines go.
    pub exists: bool,
    /// Why it goes (which distributions list it, whether they agree): the plan's reason.
    pub why: String,
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// Every path inside `root` RECORDs list, with who lists it (each distribution once, sorted
/// by name).
fn claims<'r>(
    root: &Path,
    records: &'r [DistRecord],
) -> BTreeMap<PathBuf, Vec<(&'r str, &'r RecordEntry)>> {
    let mut all: BTreeMap<PathBuf, Vec<(&str, &RecordEntry)>> = BTreeMap::new();
    for record in records {
        for entry in &record.entries {
            let path = record.path_of(entry);
            if !path.starts_with(root) {
                continue;
            }
            let claimants = all.entry(path).or_default();
            if !claimants.iter().any(|(d, _)| *d == record.dist) {
                claimants.push((&record.dist, entry));
            }
        }
    }
    for claimants in all.values_mut() {
        claimants.sort_by(|a, b| a.0.cmp(b.0));
    }
    all
}

/// Whether what the claimants say about `path` can be true of one file: their digests are
/// equal or blank, or the file matches each one given.
fn agree(path: &Path, claimants: &[(&str, &RecordEntry)]) -> Result<bool> {
    let mut digests: Vec<&str> = claimants
        .iter()
        .filter_map(|(_, e)| e.hash.as_deref())
        .collect();
    digests.sort_unstable();
    digests.dedup();
    if digests.len() <= 1 {
        return Ok(true);
    }
    let contents = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_file() => {
            std::fs::read(path).map_err(|e| VenvError::io(path, e))?
        }
        _ => return Ok(false),
    };
    Ok(digests.iter().all(|d| digest_matches(d, &contents)))
}

/// The files `--drop` removes, then every other path listed by two distributions that
/// disagree about it: an error naming each. `gone` says which paths prepare removes anyway
/// (bytecode, …): they clash with nothing.
pub fn resolve(
    root: &Path,
    records: &[DistRecord],
    drops: &[PathBuf],
    gone: impl Fn(&Path) -> bool,
) -> Result<Vec<Dropped>> {
    let claims = claims(root, records);
    let sites = site_packages_dirs(root);
    let mut dropped: Vec<Dropped> = Vec::new();
    for given in drops {
        let mut found = false;
        for site in &sites {
            let path = normalize(&root.join(site).join(given));
            if !path.starts_with(root) || path == root {
                return Err(VenvError::Outside { path });
            }
            let exists = match std::fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => {
                    return Err(VenvError::invalid(
                        &path,
                        format!(
                            "--drop {}: a directory; --drop takes files",
                            given.display()
                        ),
                    ));
                }
                Ok(_) => true,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
                Err(e) => return Err(VenvError::io(&path, e)),
            };
            let claimants = claims.get(&path).map(Vec::as_slice).unwrap_or_default();
            if !exists && claimants.is_empty() {
                continue;
            }
            found = true;
            if gone(&path) || dropped.iter().any(|d| d.path == path) {
                continue;
            }
            let dists: Vec<String> = claimants.iter().map(|(d, _)| d.to_string()).collect();
            let why = match dists.len() {
                0 => "--drop: removed as asked (no RECORD lists it)".to_string(),
                1 => format!(
                    "--drop: removed as asked, with its line in {}'s RECORD",
                    dists[0]
                ),
                _ if agree(&path, claimants)? => format!(
                    "--drop: installed by {}; removed as asked, with its RECORD lines",
                    and_list(&dists)
                ),
                _ => format!(
                    "--drop: installed by {} with different contents; removed with its RECORD \
                     lines, so the venv does not depend on which one uv wrote last",
                    and_list(&dists)
                ),
            };
            dropped.push(Dropped { path, exists, why });
        }
        if !found {
            let site = sites.first().map(|s| root.join(s)).unwrap_or(root.into());
            return Err(VenvError::DropNothing {
                path: normalize(&site.join(given)),
                given: given.display().to_string(),
            });
        }
    }
    let mut clashes = Vec::new();
    for (path, claimants) in &claims {
        if claimants.len() < 2 || gone(path) || dropped.iter().any(|d| &d.path == path) {
            continue;
        }
        if !agree(path, claimants)? {
            clashes.push(PathClash {
                path: path.clone(),
                record_path: claimants[0].1.path.clone(),
                dists: claimants.iter().map(|(d, _)| d.to_string()).collect(),
            });
        }
    }
    if clashes.is_empty() {
        Ok(dropped)
    } else {
        Err(VenvError::PathClash { clashes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_names_with_and() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(and_list(&s(&["a"])), "a");
        assert_eq!(and_list(&s(&["a", "b"])), "a and b");
        assert_eq!(and_list(&s(&["a", "b", "c"])), "a, b and c");
    }

    #[test]
    fn digests_agree_when_equal_or_blank_or_all_matching_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("Makefile");
        std::fs::write(&file, b"all:\n").unwrap();
        let with = |hash: Option<String>| RecordEntry {
            path: "docs/Makefile".into(),
            hash,
            size: None,
        };
        let (a, b, blank) = (
            with(Some("sha256=A".into())),
            with(Some("sha256=B".into())),
            with(None),
        );
        assert!(agree(&file, &[("x-1", &a), ("y-2", &a)]).unwrap());
        assert!(agree(&file, &[("x-1", &a), ("y-2", &blank)]).unwrap());
        assert!(!agree(&file, &[("x-1", &a), ("y-2", &b)]).unwrap());
        let sha256 = with(Some(crate::venv::record::hash(b"all:\n")));
        let sha512 = with(Some(format!(
            "sha512={}",
            base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                <sha2::Sha512 as sha2::Digest>::digest(b"all:\n")
            )
        )));
        assert!(agree(&file, &[("x-1", &sha256), ("y-2", &sha512)]).unwrap());
        assert!(!agree(&dir.path().join("missing"), &[("x-1", &a), ("y-2", &b)]).unwrap());
    }
}
