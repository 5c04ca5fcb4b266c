//! Store-reference scanner and in-memory rewriter on arbitrary bytes.
//!
//! Input: `[selector, chunk, read_size, ...content]`. The selector picks the store directory,
//! `chunk` / `read_size` put the streaming seams anywhere.
//!
//! Checked:
//! - whole-buffer scan == chunked scan (small chunk, jagged reads), with and without a
//!   known-hash set;
//! - the scan agrees exactly with a naive oracle (every `PREFIX HASH -`, every maximal Nix32
//!   run, every known hash standing anywhere);
//! - neutralising every prefixed hit (`e` × 32) leaves none of those hashes prefixed;
//! - the strip pipeline in memory (seen → wanted → plan → neutralise): size unchanged, only
//!   Nix32 bytes inside planned hits change and become `e`, no wanted hash remains anywhere,
//!   and planning again on the result is a no-op.
#![no_main]

use std::collections::{BTreeSet, HashSet};
use std::io::Read;
use std::path::PathBuf;

use fixup_hooks::strip::plan::{self, EntryScan, Place};
use fixup_hooks::shared::scan::{BareRef, ScanFindings, PrefixedRef, Run, Scanner};
use fixup_hooks::shared::store::{is_nix32, name_after, StoreDir, StoreHash, HASH_LEN, NEUTRAL_BYTE};
use libfuzzer_sys::fuzz_target;

const STORES: &[&str] = &[
    "/nix/store",
    "/a",
    "/gnu/store/",
    "/x0/ab",
    "/nix/store/nix/store",
];

/// Hands out the data in reads of 1..=`max` bytes, varying.
struct Jagged<'a> {
    data: &'a [u8],
    max: usize,
    n: usize,
}

impl Read for Jagged<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        self.n = self.n.wrapping_mul(31).wrapping_add(7);
        let size = (1 + self.n % self.max).min(out.len()).min(self.data.len());
        out[..size].copy_from_slice(&self.data[..size]);
        self.data = &self.data[size..];
        Ok(size)
    }
}

fn oracle_prefixed(store: &StoreDir, data: &[u8]) -> Vec<PrefixedRef> {
    let prefix = store.prefix();
    let mut out = Vec::new();
    for at in 0..data.len() {
        if !data[at..].starts_with(prefix) {
            continue;
        }
        let start = at + prefix.len();
        let Some(hash) = data
            .get(start..start + HASH_LEN)
            .and_then(StoreHash::from_bytes)
        else {
            continue;
        };
        if data.get(start + HASH_LEN) != Some(&b'-') {
            continue;
        }
        out.push(PrefixedRef {
            offset: start as u64,
            hash,
            name: name_after(&data[start + HASH_LEN + 1..]),
        });
    }
    out
}

fn oracle_runs(data: &[u8]) -> Vec<Run> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        if !is_nix32(data[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < data.len() && is_nix32(data[i]) {
            i += 1;
        }
        if i - start >= HASH_LEN {
            out.push(Run {
                offset: start as u64,
                bytes: data[start..i].to_vec(),
            });
        }
    }
    out
}

fn oracle_bare(data: &[u8], known: &HashSet<StoreHash>) -> Vec<BareRef> {
    if data.len() < HASH_LEN {
        return Vec::new();
    }
    (0..=data.len() - HASH_LEN)
        .filter_map(|i| {
            let hash = StoreHash::from_bytes(&data[i..i + HASH_LEN])?;
            known.contains(&hash).then_some(BareRef {
                offset: i as u64,
                hash,
            })
        })
        .collect()
}

fn sorted_prefixed(mut v: Vec<PrefixedRef>) -> Vec<PrefixedRef> {
    v.sort_by_key(|r| r.offset);
    v
}

fn sorted_bare(mut v: Vec<BareRef>) -> Vec<BareRef> {
    v.sort_by_key(|r| r.offset);
    v
}

fn check_streams_agree(scanner: &Scanner, data: &[u8], chunk: usize, read_max: usize) -> ScanFindings {
    let whole = scanner.scan_bytes(data);
    let chunked = scanner
        .scan_reader_chunked(data, chunk)
        .expect("reading a slice cannot fail");
    assert_eq!(
        whole, chunked,
        "scan_bytes != scan_reader_chunked(chunk={chunk})"
    );
    let jagged = scanner
        .scan_reader_chunked(
            Jagged {
                data,
                max: read_max,
                n: 0,
            },
            chunk,
        )
        .expect("reading a slice cannot fail");
    assert_eq!(
        whole, jagged,
        "scan_bytes != jagged reads (chunk={chunk}, reads<={read_max})"
    );
    let big = scanner
        .scan_reader(data)
        .expect("reading a slice cannot fail");
    assert_eq!(whole, big, "scan_bytes != scan_reader");
    assert_eq!(whole.len, data.len() as u64);
    whole
}

fn entry(found: ScanFindings) -> EntryScan {
    EntryScan {
        path: PathBuf::from("f"),
        place: Place::Contents,
        found,
        shared_inode: None,
        link_target: None,
    }
}

/// True when the store prefix occurs twice, overlapping (`/nix/store/nix/store/`). The scanner
/// misses the second occurrence (memmem's matches do not overlap; reported bug); with
/// `FUZZ_SKIP_OVERLAPPING_PREFIX=1` such inputs are skipped to look for other bugs.
fn skip_overlapping_prefix(prefix: &[u8], data: &[u8]) -> bool {
    if std::env::var_os("FUZZ_SKIP_OVERLAPPING_PREFIX").is_none() {
        return false;
    }
    let at: Vec<usize> = (0..data.len())
        .filter(|&i| data[i..].starts_with(prefix))
        .collect();
    at.windows(2).any(|w| w[1] < w[0] + prefix.len())
}

fuzz_target!(|input: &[u8]| {
    if input.len() < 3 {
        return;
    }
    let store = StoreDir::new(STORES[input[0] as usize % STORES.len()]).unwrap();
    let chunk = 1 + (input[1] as usize % 97);
    let read_max = 1 + (input[2] as usize % 61);
    let data = &input[3..];
    if skip_overlapping_prefix(store.prefix(), data) {
        return;
    }

    // 1. Streaming == one buffer == naive oracle, no known hashes (runs kept).
    let scanner = Scanner::new(&store, None);
    let found = check_streams_agree(&scanner, data, chunk, read_max);
    assert_eq!(
        sorted_prefixed(found.prefixed.clone()),
        oracle_prefixed(&store, data),
        "prefixed refs differ from the naive oracle"
    );
    assert!(
        found.bare.is_empty(),
        "bare refs reported without known hashes"
    );
    if !found.runs_overflowed {
        assert_eq!(
            found.runs,
            oracle_runs(data),
            "runs differ from the naive oracle"
        );
    }

    // 2. With known hashes: every prefixed hash plus every other run window.
    let mut known: HashSet<StoreHash> = found.prefixed.iter().map(|r| r.hash).collect();
    for run in found.runs.iter() {
        for (i, (_, h)) in run.windows().enumerate() {
            if i % 2 == 0 {
                known.insert(h);
            }
        }
    }
    let scanner_known = Scanner::new(&store, Some(&known));
    let found_known = check_streams_agree(&scanner_known, data, chunk, read_max);
    assert_eq!(
        found_known.prefixed, found.prefixed,
        "known set changed prefixed refs"
    );
    assert!(found_known.runs.is_empty() && !found_known.runs_overflowed);
    assert_eq!(
        sorted_bare(found_known.bare.clone()),
        oracle_bare(data, &known),
        "bare refs differ from the naive oracle"
    );

    // 3. Neutralising every prefixed hit leaves none of those hashes prefixed.
    let mut neutral = data.to_vec();
    for r in &found.prefixed {
        let at = r.offset as usize;
        neutral[at..at + HASH_LEN].fill(NEUTRAL_BYTE);
    }
    let prefixed_hashes: BTreeSet<StoreHash> = found.prefixed.iter().map(|r| r.hash).collect();
    let again = scanner.scan_bytes(&neutral);
    for r in &again.prefixed {
        assert!(
            !prefixed_hashes.contains(&r.hash),
            "hash {} still prefixed at {} after neutralising",
            r.hash,
            r.offset
        );
    }
    assert!(
        again.prefixed.is_empty(),
        "neutralising created new prefixed refs"
    );

    // 4. The strip pipeline in memory, default selection: every prefixed hash is wanted,
    //    wherever it stands.
    let scans = vec![entry(found.clone())];
    let seen = plan::seen_hashes(&scans);
    let wanted: HashSet<StoreHash> = seen.keys().copied().collect();
    let planned = plan::plan(scans, &seen, &wanted);
    let mut out = data.to_vec();
    let hits: Vec<plan::Hit> = planned
        .entries
        .iter()
        .flat_map(|e| e.hits.clone())
        .collect();
    let mut covered = vec![false; data.len()];
    let mut end = 0u64;
    for h in &hits {
        assert!(h.offset >= end, "hits overlap or are unsorted: {hits:?}");
        end = h.offset + HASH_LEN as u64;
        let at = h.offset as usize;
        assert!(wanted.contains(&h.hash));
        assert_eq!(
            &data[at..at + HASH_LEN],
            h.hash.as_bytes(),
            "hit does not hold its hash"
        );
        covered[at..at + HASH_LEN].fill(true);
    }
    plan::neutralise(&mut out, &hits);
    assert_eq!(out.len(), data.len(), "size changed");
    for i in 0..data.len() {
        if out[i] != data[i] {
            assert!(covered[i], "byte {i} changed outside every hit");
            assert!(
                is_nix32(data[i]) && out[i] == NEUTRAL_BYTE,
                "byte {i}: not Nix32 -> e"
            );
        }
    }
    // No wanted hash remains, prefixed or bare.
    let after = Scanner::new(&store, Some(&wanted)).scan_bytes(&out);
    assert!(
        after.prefixed.iter().all(|r| !wanted.contains(&r.hash)) && after.bare.is_empty(),
        "wanted hashes remain after neutralising: {after:?}"
    );
    // Second run: nothing prefixed remains, so nothing is wanted and the plan is empty.
    let second = scanner.scan_bytes(&out);
    let scans2 = vec![entry(second)];
    let seen2 = plan::seen_hashes(&scans2);
    let wanted2: HashSet<StoreHash> = seen2.keys().copied().collect();
    assert!(
        wanted2.is_empty(),
        "second run still sees prefixed hashes: {wanted2:?}"
    );
    assert!(plan::plan(scans2, &seen2, &wanted2).entries.is_empty());
});
