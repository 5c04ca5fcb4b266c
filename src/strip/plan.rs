//! Turning what the scan found into the exact bytes to change, before anything is written.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use crate::shared::scan::ScanFindings;
use crate::shared::store::{StoreHash, HASH_LEN, NEUTRAL_BYTE};

/// Where in the tree a reference stands; Nix scans all three. Serialised as the listing
/// names it: `contents`, `symlink target`, `file name`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Place {
    /// A regular file's bytes.
    Contents,
    /// What a symlink points at.
    #[serde(rename = "symlink target")]
    SymlinkTarget,
    /// The name of any entry below a root.
    #[serde(rename = "file name")]
    Name,
}

impl Place {
    /// How the listing and the report name the place.
    pub fn as_str(self) -> &'static str {
        match self {
            Place::Contents => "contents",
            Place::SymlinkTarget => "symlink target",
            Place::Name => "file name",
        }
    }
}

/// What the scan of one entry found in one place.
#[derive(Clone, Debug)]
pub struct EntryScan {
    /// The root as given, joined with the names below it.
    pub path: PathBuf,
    /// Where in the entry the scan looked.
    pub place: Place,
    /// What it found there; offsets are relative to the contents, target or name.
    pub found: ScanFindings,
    /// `(dev, ino)` of a regular file with more than one link, so each inode is written once.
    pub shared_inode: Option<(u64, u64)>,
    /// The symlink's target, for [`Place::SymlinkTarget`].
    pub link_target: Option<Vec<u8>>,
}

/// One reference to neutralise: the hash bytes at `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit {
    /// Bytes from the start of the contents, symlink target or name to the hash's first
    /// character.
    pub offset: u64,
    /// The wanted hash that stands there.
    pub hash: StoreHash,
    /// Found without a `STORE_DIR/` prefix before it.
    pub bare: bool,
}

/// Every hit of one entry in one place.
#[derive(Clone, Debug)]
pub struct EntryPlan {
    /// The root as given, joined with the names below it.
    pub path: PathBuf,
    /// Where in the entry the hits stand.
    pub place: Place,
    /// Never empty; in offset order, none overlapping ([`hits_of`]).
    pub hits: Vec<Hit>,
    /// For symlinks: the old and the new target.
    pub relink: Option<(Vec<u8>, Vec<u8>)>,
}

/// The whole change, sorted by path, then place.
#[derive(Debug, Default)]
pub struct StripPlan {
    /// Only entries with hits; a hard-linked file once, under its first path.
    pub entries: Vec<EntryPlan>,
    /// A name for each hash, from its prefixed occurrences (the smallest when several).
    pub names: BTreeMap<StoreHash, String>,
}

/// Every hash seen with a `STORE_DIR/` prefix, with the names it was seen with.
pub fn seen_hashes(scans: &[EntryScan]) -> BTreeMap<StoreHash, Vec<String>> {
    let mut seen: BTreeMap<StoreHash, Vec<String>> = BTreeMap::new();
    for scan in scans {
        for r in &scan.found.prefixed {
            let names = seen.entry(r.hash).or_default();
            if !r.name.is_empty() && !names.contains(&r.name) {
                names.push(r.name.clone());
            }
        }
    }
    seen
}

/// Plans the change. `scans` must already be sorted by path and place, and any scan whose
/// runs overflowed must have been redone against `wanted`.
pub fn plan(
    scans: Vec<EntryScan>,
    seen: &BTreeMap<StoreHash, Vec<String>>,
    wanted: &HashSet<StoreHash>,
) -> StripPlan {
    let names = seen
        .iter()
        .filter(|(h, _)| wanted.contains(h))
        .map(|(h, n)| (*h, n.iter().min().cloned().unwrap_or_default()))
        .collect();
    let mut written_inodes = HashSet::new();
    let mut entries = Vec::new();
    for scan in scans {
        let hits = hits_of(&scan.found, wanted);
        if hits.is_empty() {
            continue;
        }
        // A hard-linked file is one file to Nix: plan its bytes once, under its first path.
        if let Some(inode) = scan.shared_inode {
            if !written_inodes.insert(inode) {
                continue;
            }
        }
        let relink = scan.link_target.map(|old| {
            let mut new = old.clone();
            neutralise(&mut new, &hits);
            (old, new)
        });
        entries.push(EntryPlan {
            path: scan.path,
            place: scan.place,
            hits,
            relink,
        });
    }
    StripPlan { entries, names }
}

/// The wanted hashes in what one pass found, each once, in offset order, none overlapping.
pub fn hits_of(found: &ScanFindings, wanted: &HashSet<StoreHash>) -> Vec<Hit> {
    let mut hits: Vec<Hit> = found
        .prefixed
        .iter()
        .filter(|r| wanted.contains(&r.hash))
        .map(|r| Hit {
            offset: r.offset,
            hash: r.hash,
            bare: false,
        })
        .collect();
    let prefixed: HashSet<u64> = hits.iter().map(|h| h.offset).collect();
    let bare = found
        .bare
        .iter()
        .map(|b| (b.offset, b.hash))
        .chain(found.runs.iter().flat_map(|r| r.windows()))
        .filter(|(offset, hash)| wanted.contains(hash) && !prefixed.contains(offset))
        .map(|(offset, hash)| Hit {
            offset,
            hash,
            bare: true,
        });
    hits.extend(bare);
    hits.sort_by_key(|h| h.offset);
    hits.dedup_by_key(|h| h.offset);
    // Two wanted hashes cannot both be whole where they overlap; neutralising the first
    // breaks the second as well.
    let mut end = 0u64;
    hits.retain(|h| {
        let keep = h.offset >= end;
        if keep {
            end = h.offset + HASH_LEN as u64;
        }
        keep
    });
    hits
}

/// The hits of `planned` that `done` (hits already written or tried, in offset order) leaves
/// to do: those at other offsets that overlap none of them (where two overlap, the bytes
/// written first already broke the other hash).
pub fn remaining(planned: &[Hit], done: &[Hit]) -> Vec<Hit> {
    let overlaps = |h: &Hit| {
        let start = h.offset.saturating_sub(HASH_LEN as u64 - 1);
        let first = done.partition_point(|d| d.offset < start);
        (done[first..].iter())
            .take_while(|d| d.offset < h.offset + HASH_LEN as u64)
            .next()
            .is_some()
    };
    planned.iter().filter(|h| !overlaps(h)).copied().collect()
}

/// Overwrites each hit's hash bytes in an in-memory copy.
pub fn neutralise(bytes: &mut [u8], hits: &[Hit]) {
    for hit in hits {
        let at = hit.offset as usize;
        bytes[at..at + HASH_LEN].fill(NEUTRAL_BYTE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::scan::Scanner;
    use crate::shared::store::StoreDir;

    const H1: &str = "0c0s8w0wxyg2yyrb8iv5k1m6kv3bvhfz";

    fn scan_of(text: &str) -> EntryScan {
        let store = StoreDir::new("/nix/store").unwrap();
        EntryScan {
            path: "f".into(),
            place: Place::Contents,
            found: Scanner::new(&store, None).scan_bytes(text.as_bytes()),
            shared_inode: None,
            link_target: None,
        }
    }

    #[test]
    fn bare_occurrence_of_a_prefixed_hash_is_planned_once_each() {
        let scans = vec![scan_of(&format!("/nix/store/{H1}-py {H1}"))];
        let seen = seen_hashes(&scans);
        let wanted: HashSet<_> = seen.keys().copied().collect();
        let plan = plan(scans, &seen, &wanted);
        let hits = &plan.entries[0].hits;
        assert_eq!(hits.len(), 2);
        assert_eq!((hits[0].offset, hits[0].bare), (11, false));
        assert!(hits[1].bare);
        assert_eq!(plan.names.values().next().unwrap(), "py");
    }

    #[test]
    fn remaining_hits_skip_those_done_and_those_they_overlap() {
        let hash = StoreHash::from_bytes(H1.as_bytes()).unwrap();
        let hit = |offset| Hit {
            offset,
            hash,
            bare: true,
        };
        let planned = [hit(0), hit(40), hit(100), hit(200)];
        let done = [hit(40), hit(131)];
        // 0 ends before 40; 100..132 overlaps 131; 200 is clear of both.
        assert_eq!(remaining(&planned, &done), [hit(0), hit(200)]);
        assert_eq!(remaining(&planned, &[]), planned);
    }

    #[test]
    fn places_serialise_as_the_listing_names_them() {
        for place in [Place::Contents, Place::SymlinkTarget, Place::Name] {
            let json = serde_json::to_string(&place).unwrap();
            assert_eq!(json, format!("\"{}\"", place.as_str()));
        }
    }

    #[test]
    fn shared_inode_is_planned_once() {
        let mut a = scan_of(&format!("/nix/store/{H1}-py"));
        a.shared_inode = Some((1, 2));
        let mut b = a.clone();
        b.path = "g".into();
        let scans = vec![a, b];
        let seen = seen_hashes(&scans);
        let wanted: HashSet<_> = seen.keys().copied().collect();
        assert_eq!(plan(scans, &seen, &wanted).entries.len(), 1);
    }
}
