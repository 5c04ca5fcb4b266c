//! Properties of stripping random binary content with planted references: only hash bytes
//! change, sizes are kept, a second run is a no-op, `--keep` and `-t` are honoured, bare
//! hashes are found, and writing during the scan leaves what writing after it leaves.

use crate::support::common;

use std::collections::HashSet;
use std::io::Read;
use std::path::Path;

use fixup_hooks::shared::scan::Scanner;
use fixup_hooks::shared::store::{StoreDir, StoreHash};
use fixup_hooks::strip::select::Selection;
use fixup_hooks::strip::{self, StripMode, StripOptions, WriteTiming};
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

/// A tree of a few files made of pieces, a symlink into the store and a hard link.
#[derive(Clone, Debug)]
struct TreeSpec {
    files: Vec<Vec<Piece>>,
    /// The target of `link`: store path N, with its prefix or as a bare hash.
    link: Option<(usize, bool)>,
    /// `z-hard` is a hard link to `f0`.
    hard_link: bool,
}

fn tree_spec() -> impl Strategy<Value = TreeSpec> {
    (
        prop::collection::vec(prop::collection::vec(piece(), 0..16), 1..5),
        prop::option::of((0..PATHS, any::<bool>())),
        any::<bool>(),
    )
        .prop_map(|(files, link, hard_link)| TreeSpec {
            files,
            link,
            hard_link,
        })
}

fn make_tree(root: &Path, spec: &TreeSpec) {
    let hashes = hashes();
    let _ = std::fs::remove_dir_all(root);
    std::fs::create_dir_all(root.join("sub")).unwrap();
    for (i, pieces) in spec.files.iter().enumerate() {
        let (content, _) = render(pieces, &HashSet::new());
        std::fs::write(root.join("sub").join(format!("f{i}")), content).unwrap();
    }
    if let Some((i, prefixed)) = spec.link {
        let target = match prefixed {
            true => format!("/nix/store/{}-p{i}/lib", hashes[i]),
            false => format!("../{}-p{i}", hashes[i]),
        };
        std::os::unix::fs::symlink(target, root.join("link")).unwrap();
    }
    if spec.hard_link {
        std::fs::hard_link(root.join("sub/f0"), root.join("z-hard")).unwrap();
    }
}

/// Every entry under `root`: its path, and a file's bytes or a symlink's target.
fn tree_state(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut state = Vec::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.unwrap();
        let bytes = if entry.file_type().is_symlink() {
            let target = std::fs::read_link(entry.path()).unwrap();
            target.into_os_string().into_encoded_bytes()
        } else if entry.file_type().is_file() {
            std::fs::read(entry.path()).unwrap()
        } else {
            Vec::new()
        };
        state.push((entry.path().display().to_string(), bytes));
    }
    state
}

/// Runs strip-store-refs over `root` with the given selection and timing: the tree after,
/// and the JSON report.
fn strip_tree(
    root: &Path,
    selection: Selection,
    timing: WriteTiming,
) -> (Vec<(String, Vec<u8>)>, String) {
    let store = StoreDir::new("/nix/store").unwrap();
    let report = strip::run_with(
        &[root.to_path_buf()],
        &StripOptions {
            store,
            selection,
            mode: StripMode::Strip,
        },
        timing,
    );
    assert!(
        report.footer.errors.is_empty(),
        "{:?}",
        report.footer.errors
    );
    (tree_state(root), serde_json::to_string(&report).unwrap())
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
    // The saved failures live beside this file (props.proptest-regressions): proptest's default
    // would look for them beside the binary's main.rs, in tests/proptest-regressions/.
    #![proptest_config(ProptestConfig {
        cases: 96,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]

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

    /// The one-visit path (contents written while open from their scan, for the hashes known
    /// before the walk) and the two-phase path (scan everything, then write bare hashes
    /// everywhere, then the rest) leave the same bytes and the same report, whichever of the
    /// tree's hashes are known up front, and whatever the tree adds to them.
    #[test]
    fn writing_during_the_scan_leaves_what_writing_after_it_leaves(
        spec in tree_spec(),
        candidates in prop::collection::hash_set(0..PATHS, 0..=PATHS),
        also in prop::collection::hash_set(0..PATHS, 0..2),
        kept in prop::collection::hash_set(0..PATHS, 0..2),
        keep_glob in any::<bool>(),
        targeted in any::<bool>(),
    ) {
        let hashes = hashes();
        let selection = || {
            let store = StoreDir::new("/nix/store").unwrap();
            let targets: Vec<String> = match targeted {
                true => candidates.iter().map(|i| format!("/nix/store/{}-p{i}", hashes[*i])).collect(),
                false => Vec::new(),
            };
            let also: Vec<String> = also.iter().map(|i| hashes[*i].clone()).collect();
            // A glob could spare a known hash by a name the tree shows: that run writes after.
            let mut keep: Vec<String> = kept.iter().map(|i| hashes[*i].clone()).collect();
            if keep_glob {
                keep.push("p1".into());
            }
            let mut selection = Selection::new(&store, &targets, &also, &keep).unwrap();
            selection.add_candidates(
                candidates.iter().map(|i| StoreHash::from_bytes(hashes[*i].as_bytes()).unwrap()),
            );
            selection
        };
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("out");
        make_tree(&root, &spec);
        let during = strip_tree(&root, selection(), WriteTiming::DuringScan);
        make_tree(&root, &spec);
        let after = strip_tree(&root, selection(), WriteTiming::AfterScan);
        prop_assert_eq!(&during.0, &after.0);
        prop_assert_eq!(&during.1, &after.1);
        // And it is done: a second run of either kind changes nothing.
        let again = strip_tree(&root, selection(), WriteTiming::DuringScan);
        prop_assert_eq!(&again.0, &after.0);
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
