//! Which references a run neutralises: all of them, or only `-t` targets, less what `--keep`
//! spares, plus `--also-hash` hashes.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::shared::store::{StoreDir, StoreHash};

/// An argument `-t`, `--also-hash` or `--keep` refuses; each names the argument as given.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    /// A `-t` argument that is not `STORE_DIR/HASH-NAME[/...]`; with the store directory.
    #[error("-t/--target {0:?}: not a store path under {1} (STORE_DIR/HASH-NAME)")]
    BadTarget(String, String),
    /// An `--also-hash` argument that is neither a bare hash nor such a store path; with the
    /// store directory.
    #[error("--also-hash {0:?}: neither a 32-character Nix32 hash nor a store path under {1}")]
    BadHash(String, String),
    /// A `--keep` glob that does not compile (all of them joined when only the set fails),
    /// with globset's reason.
    #[error("--keep {0:?}: {1}")]
    BadKeep(String, String),
}

/// What `--keep` spares: store paths and bare hashes by hash, anything else as a glob on the
/// store path's base name (`HASH-NAME`) or its name alone.
#[derive(Debug, Default)]
pub struct Keep {
    hashes: HashSet<StoreHash>,
    globs: Option<GlobSet>,
}

impl Keep {
    /// Reads each pattern as a store path, else a bare hash, else a glob.
    pub fn new(store: &StoreDir, patterns: &[String]) -> Result<Keep, SelectError> {
        let mut keep = Keep::default();
        let mut globs = GlobSetBuilder::new();
        let mut any_glob = false;
        for pattern in patterns {
            if let Some((hash, _)) = store.parse_path(pattern) {
                keep.hashes.insert(hash);
            } else if let Some(hash) = StoreHash::from_bytes(pattern.as_bytes()) {
                keep.hashes.insert(hash);
            } else {
                let glob = Glob::new(pattern)
                    .map_err(|e| SelectError::BadKeep(pattern.clone(), e.kind().to_string()))?;
                globs.add(glob);
                any_glob = true;
            }
        }
        if any_glob {
            keep.globs = Some(
                globs
                    .build()
                    .map_err(|e| SelectError::BadKeep(patterns.join(" "), e.kind().to_string()))?,
            );
        }
        Ok(keep)
    }

    /// Whether `--keep` spares `hash`. Globs are tried only with `name` (one the hash was seen
    /// with); without it, only hashes given to `--keep` count.
    pub fn keeps(&self, hash: &StoreHash, name: Option<&str>) -> bool {
        if self.hashes.contains(hash) {
            return true;
        }
        match (&self.globs, name) {
            (Some(globs), Some(name)) => {
                globs.is_match(name) || globs.is_match(format!("{hash}-{name}"))
            }
            _ => false,
        }
    }
}

/// The hashes a run knows before it reads the tree: `-t` targets (or, without `-t`, the
/// `--env-candidates`) and `--also-hash` hashes, less those `--keep` spares by hash.
#[derive(Debug, Default)]
pub struct UpFront {
    /// The hashes.
    pub hashes: HashSet<StoreHash>,
    /// No hash outside `hashes` is wanted (`-t` was given): the tree cannot add any, so runs
    /// need not be kept for bare hashes it would add.
    pub complete: bool,
    /// Every hash in `hashes` is wanted whatever the tree holds (no `--keep` glob, which could
    /// spare one by a name seen in the tree): they may be written before the walk ends.
    pub certain: bool,
}

/// The selection rules of one run.
#[derive(Debug, Default)]
pub struct Selection {
    /// `-t`: when given, only these hashes are neutralised.
    targets: Option<HashSet<StoreHash>>,
    /// `--also-hash`: neutralised wherever they stand, prefixed or bare.
    also: HashSet<StoreHash>,
    /// `--env-candidates`: like `also`, but only when no `-t` restricts the run.
    candidates: HashSet<StoreHash>,
    keep: Keep,
}

impl Selection {
    /// Parses `-t` (store paths, subpaths allowed), `--also-hash` (hashes or store paths) and
    /// `--keep`; candidates come later ([`Selection::add_candidates`]).
    pub fn new(
        store: &StoreDir,
        targets: &[String],
        also: &[String],
        keep: &[String],
    ) -> Result<Selection, SelectError> {
        let parse_target = |t: &String| {
            store
                .parse_path(t)
                .map(|(hash, _)| hash)
                .ok_or_else(|| SelectError::BadTarget(t.clone(), store.as_str().into()))
        };
        let targets = if targets.is_empty() {
            None
        } else {
            Some(targets.iter().map(parse_target).collect::<Result<_, _>>()?)
        };
        let also = also
            .iter()
            .map(|h| {
                StoreHash::from_bytes(h.as_bytes())
                    .or_else(|| store.parse_path(h).map(|(hash, _)| hash))
                    .ok_or_else(|| SelectError::BadHash(h.clone(), store.as_str().into()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Selection {
            targets,
            also,
            candidates: HashSet::new(),
            keep: Keep::new(store, keep)?,
        })
    }

    /// Adds hashes that Nix would count (the build's inputs and outputs): neutralised
    /// wherever they stand, unless `-t` restricts the run to other paths.
    pub fn add_candidates(&mut self, hashes: impl IntoIterator<Item = StoreHash>) {
        self.candidates.extend(hashes);
    }

    /// The hashes known before anything is scanned, when the run is restricted to them: then
    /// bare occurrences can be matched during the one pass.
    pub fn known_up_front(&self) -> Option<HashSet<StoreHash>> {
        let up_front = self.up_front();
        up_front.complete.then_some(up_front.hashes)
    }

    /// What is known of the wanted hashes before the tree is read.
    pub fn up_front(&self) -> UpFront {
        let given = match &self.targets {
            Some(targets) => targets,
            None => &self.candidates,
        };
        UpFront {
            hashes: (given.iter().chain(&self.also))
                .filter(|h| !self.keep.keeps(h, None))
                .copied()
                .collect(),
            complete: self.targets.is_some(),
            certain: self.keep.globs.is_none(),
        }
    }

    /// The hashes to neutralise, given every prefixed hash the scan saw with its names.
    pub fn wanted(&self, seen: &BTreeMap<StoreHash, Vec<String>>) -> HashSet<StoreHash> {
        let kept = |hash: &StoreHash| match seen.get(hash) {
            Some(names) if !names.is_empty() => {
                names.iter().any(|n| self.keep.keeps(hash, Some(n)))
            }
            _ => self.keep.keeps(hash, None),
        };
        let discovered: Box<dyn Iterator<Item = &StoreHash>> = match &self.targets {
            Some(targets) => Box::new(targets.iter()),
            None => Box::new(seen.keys().chain(&self.candidates)),
        };
        discovered
            .chain(&self.also)
            .filter(|h| !kept(h))
            .copied()
            .collect()
    }
}

/// The hashes of every store path named in the environment's values, and in the structured
/// attributes a build was given (`$NIX_ATTRS_JSON_FILE`: with `__structuredAttrs`, the inputs
/// are there, not in the environment). In a Nix build these are the inputs and outputs, which
/// is what Nix's scanner looks for, bare or not.
pub fn environment_hashes(store: &StoreDir) -> BTreeSet<StoreHash> {
    use std::os::unix::ffi::OsStrExt;
    let scanner = crate::shared::scan::Scanner::new(store, None);
    let attrs = std::env::var_os("NIX_ATTRS_JSON_FILE")
        .and_then(|file| std::fs::read(file).ok())
        .unwrap_or_default();
    std::env::vars_os()
        .map(|(_, value)| value.as_bytes().to_vec())
        .chain(std::iter::once(attrs))
        .flat_map(|bytes| {
            scanner
                .scan_bytes(&bytes)
                .prefixed
                .into_iter()
                .map(|r| r.hash)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::store::testing::{hash as h, store, H1, H2};
    fn seen() -> BTreeMap<StoreHash, Vec<String>> {
        [
            (h(H1), vec!["python3-3.11.7".into()]),
            (h(H2), vec!["libpq-15".into()]),
        ]
        .into()
    }

    #[test]
    fn keep_glob_matches_base_name_or_name() {
        let keep = Keep::new(&store(), &["*-python3-*".into(), "libpq-*".into()]).unwrap();
        assert!(keep.keeps(&h(H1), Some("python3-3.11.7")));
        assert!(keep.keeps(&h(H2), Some("libpq-15")));
        assert!(!keep.keeps(&h(H2), Some("zlib")));
    }

    #[test]
    fn keep_by_store_path_or_bare_hash() {
        let sel = Selection::new(
            &store(),
            &[],
            &[],
            &[format!("/nix/store/{H1}-x"), H2.into()],
        )
        .unwrap();
        assert!(sel.wanted(&seen()).is_empty());
    }

    #[test]
    fn targets_restrict_and_also_adds() {
        let sel = Selection::new(
            &store(),
            &[format!("/nix/store/{H2}-libpq-15")],
            &["1".repeat(32)],
            &[],
        )
        .unwrap();
        let wanted = sel.wanted(&seen());
        assert_eq!(wanted, [h(H2), h(&"1".repeat(32))].into());
        assert_eq!(sel.known_up_front().unwrap(), wanted);
    }

    #[test]
    fn candidates_do_not_widen_a_targeted_run() {
        let mut sel =
            Selection::new(&store(), &[format!("/nix/store/{H2}-libpq-15")], &[], &[]).unwrap();
        sel.add_candidates([h(H1)]);
        assert_eq!(sel.wanted(&seen()), [h(H2)].into());
        let mut open = Selection::new(&store(), &[], &[], &[]).unwrap();
        open.add_candidates([h(&"1".repeat(32))]);
        assert!(open.wanted(&seen()).contains(&h(&"1".repeat(32))));
    }

    #[test]
    fn hashes_known_up_front_are_certain_unless_a_keep_glob_could_spare_one() {
        let mut open = Selection::new(&store(), &[], &["1".repeat(32)], &[H2.into()]).unwrap();
        open.add_candidates([h(H1), h(H2)]);
        let up_front = open.up_front();
        assert_eq!(up_front.hashes, [h(H1), h(&"1".repeat(32))].into());
        assert!(up_front.certain && !up_front.complete);
        assert!(up_front.hashes.is_subset(&open.wanted(&seen())));

        let glob = Selection::new(&store(), &[], &[], &["python3-*".into()]).unwrap();
        assert!(
            !glob.up_front().certain,
            "python3-* spares H1 only once its name is seen"
        );
        let targeted =
            Selection::new(&store(), &[format!("/nix/store/{H2}-libpq-15")], &[], &[]).unwrap();
        assert!(targeted.up_front().complete && targeted.up_front().certain);
    }

    #[test]
    fn refuses_target_outside_store() {
        let err = Selection::new(&store(), &["/usr/lib".into()], &[], &[]).unwrap_err();
        assert!(err.to_string().contains("not a store path"));
    }
}
