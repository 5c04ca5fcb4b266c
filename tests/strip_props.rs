//! Properties of stripping random binary content with planted references: only hash bytes
//! change, sizes are kept, a second run is a no-op, `--keep` and `-t` are honoured, bare
//! hashes are found.

mod common;

use std::collections::HashSet;
use std::io::Read;

use fixup_hooks::shared::scan::Scanner;
use fixup_hooks::shared::store::StoreDir;
use fixup_hooks::strip::select::Selection;
use fixup_hooks::strip::{self, StripMode, StripOptions};
use proptest::prelude::*;

/// Bytes that are never Nix32 and never `/`, so filler cannot extend or fake a reference.
fn filler() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        any::<u8>().prop_filter("not Nix32 or '/'", |b| {
            !common::ALPHABET.contains(b) && *b != b'/'
        }),
        0..300,
    )
}

#[derive(Clone, Debug)]
enum Piece {
    Filler(Vec<u8>),
    /// `/nix/store/HASH-pNAME` for store path number N.
    Prefixed(usize),
    /// The hash of store path number N, standing bare.
    Bare(usize),
    /// Something that looks close but is no reference: a neutralised path.
    Decoy,
}

const PATHS: usize = 5;

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        3 => filler().prop_map(Piece::Filler),
        2 => (0..PATHS).prop_map(Piece::Prefixed),
        1 => (0..PATHS).prop_map(Piece::Bare),
        1 => Just(Piece::Decoy),
    ]
}

fn hashes() -> Vec<String> {
    (0..PATHS as u64).map(|i| common::hash(1000 + i)).collect()
}

/// The content, and the expected content once the hashes in `wanted` are neutralised.
fn render(pieces: &[Piece], wanted: &HashSet<usize>) -> (Vec<u8>, Vec<u8>) {
    let hashes = hashes();
    let (mut content, mut expected) = (Vec::new(), Vec::new());
    let e32 = "e".repeat(32);
    for p in pieces {
        let (a, b) = match p {
            Piece::Filler(bytes) => (bytes.clone(), bytes.clone()),
            Piece::Prefixed(i) => {
                let h = if wanted.contains(i) {
                    &e32
                } else {
                    &hashes[*i]
                };
                (
                    format!("/nix/store/{}-p{i}\0", hashes[*i]).into_bytes(),
                    format!("/nix/store/{h}-p{i}\0").into_bytes(),
                )
            }
            Piece::Bare(i) => {
                let h = if wanted.contains(i) {
                    &e32
                } else {
                    &hashes[*i]
                };
                (
                    format!("\0{}\0", hashes[*i]).into_bytes(),
                    format!("\0{h}\0").into_bytes(),
                )
            }
            Piece::Decoy => {
                let d = format!("/nix/store/{e32}-x\0/NIX/STORE/").into_bytes();
                (d.clone(), d)
            }
        };
        content.extend(a);
        expected.extend(b);
    }
    (content, expected)
}

fn strip_file(content: &[u8], targets: &[String], keep: &[String]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    std::fs::write(&file, content).unwrap();
    let store = StoreDir::new("/nix/store").unwrap();
    let selection = Selection::new(&store, targets, &[], keep).unwrap();
    let report = strip::run(
        &[dir.path().to_path_buf()],
        &StripOptions {
            store,
            selection,
            mode: StripMode::Strip,
        },
    );
    assert!(
        report.footer.errors.is_empty(),
        "{:?}",
        report.footer.errors
    );
    std::fs::read(&file).unwrap()
}

/// Reads in pieces of the given sizes, to put chunk seams anywhere.
struct Jagged<'a> {
    data: &'a [u8],
    sizes: Vec<usize>,
    at: usize,
}

impl Read for Jagged<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let size = self.sizes[self.at % self.sizes.len()]
            .min(out.len())
            .min(self.data.len());
        self.at += 1;
        out[..size].copy_from_slice(&self.data[..size]);
        self.data = &self.data[size..];
        Ok(size)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn only_hash_bytes_change_and_second_run_is_a_no_op(pieces in prop::collection::vec(piece(), 0..40)) {
        // Every path seen with its prefix anywhere is wanted; bare hashes only then.
        let wanted: HashSet<usize> = pieces.iter().filter_map(|p| match p {
            Piece::Prefixed(i) => Some(*i),
            _ => None,
        }).collect();
        let (content, expected) = render(&pieces, &wanted);
        let once = strip_file(&content, &[], &[]);
        prop_assert_eq!(once.len(), content.len());
        prop_assert!(once == expected);
        prop_assert!(strip_file(&once, &[], &[]) == once);
    }

    #[test]
    fn targets_and_keep_are_honoured(
        pieces in prop::collection::vec(piece(), 0..40),
        targets in prop::collection::hash_set(0..PATHS, 0..PATHS),
        kept in prop::collection::hash_set(0..PATHS, 0..PATHS),
    ) {
        let hashes = hashes();
        let target_args: Vec<String> = targets.iter().map(|i| format!("/nix/store/{}-p{i}", hashes[*i])).collect();
        // Keep some by glob on the name and some by bare hash.
        let keep_args: Vec<String> = kept.iter().map(|i| if i % 2 == 0 { format!("p{i}") } else { hashes[*i].clone() }).collect();
        let seen: HashSet<usize> = pieces.iter().filter_map(|p| match p {
            Piece::Prefixed(i) => Some(*i),
            _ => None,
        }).collect();
        let candidates = if targets.is_empty() { seen } else { targets.clone() };
        // A glob keeps a path by its name, so it can only spare a path seen with its name.
        let spared = |i: &usize| kept.contains(i) && (i % 2 == 1 || pieces.iter().any(|p| matches!(p, Piece::Prefixed(j) if j == i)));
        let wanted: HashSet<usize> = candidates.into_iter().filter(|i| !spared(i)).collect();
        let (content, expected) = render(&pieces, &wanted);
        let out = strip_file(&content, &target_args, &keep_args);
        prop_assert!(out == expected);
    }

    #[test]
    fn streaming_finds_what_one_buffer_finds(
        pieces in prop::collection::vec(piece(), 0..30),
        sizes in prop::collection::vec(1usize..600, 1..8),
        chunk in 1usize..700,
    ) {
        let (content, _) = render(&pieces, &HashSet::new());
        let store = StoreDir::new("/nix/store").unwrap();
        let scanner = Scanner::new(&store, None);
        let whole = scanner.scan_bytes(&content);
        let streamed = scanner.scan_reader_chunked(Jagged { data: &content, sizes, at: 0 }, chunk).unwrap();
        prop_assert_eq!(whole, streamed);
    }
}
