//! Every input a fuzz target once crashed on (fuzz/regressions/, see its README) as an
//! ordinary test, so `cargo test` keeps them fixed without cargo-fuzz.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use fixup_hooks::elf::{plan_edit, write_edit, ElfChange, ElfInfo};
use fixup_hooks::shared::scan::Scanner;
use fixup_hooks::shared::store::StoreDir;

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: no regression inputs", dir.display());
    files
        .into_iter()
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect()
}

#[test]
fn a_reference_after_a_repeated_store_prefix_is_found() {
    let store = StoreDir::new("/nix/store").unwrap();
    for (path, bytes) in inputs("scan") {
        let whole = Scanner::new(&store, None).scan_bytes(&bytes);
        let streamed = Scanner::new(&store, None)
            .scan_reader_chunked(&bytes[..], 7)
            .unwrap();
        assert_eq!(whole, streamed, "{}", path.display());
        let at = bytes
            .windows(11)
            .rposition(|w| w == b"/nix/store/")
            .unwrap()
            + 11;
        assert!(
            whole.prefixed.iter().any(|r| r.offset == at as u64),
            "{}: the reference at {at} was missed",
            path.display()
        );
    }
}

/// `ELF ‖ value ‖ len: u8 ‖ flags: u8`, the elf_plan target's input; elf_parse takes bare ELF.
fn split_plan_input(bytes: &[u8]) -> (&[u8], ElfChange) {
    let (flags, rest) = bytes.split_last().unwrap();
    let (len, rest) = rest.split_last().unwrap();
    let (elf, value) = rest.split_at(rest.len() - usize::from(*len));
    let value = Some(value.to_vec());
    let change = match flags & 3 {
        1 => ElfChange {
            runpath: None,
            interpreter: value,
        },
        2 => ElfChange {
            runpath: value.clone(),
            interpreter: value,
        },
        _ => ElfChange {
            runpath: value,
            interpreter: None,
        },
    };
    (elf, change)
}

#[test]
fn hostile_elf_files_are_refused_without_panic_or_runaway_memory() {
    let cases = inputs("elf_parse")
        .into_iter()
        .map(|(p, b)| {
            (
                p,
                b,
                ElfChange {
                    runpath: Some(b"/a".to_vec()),
                    interpreter: None,
                },
            )
        })
        .chain(inputs("elf_plan").into_iter().map(|(p, b)| {
            let (elf, change) = split_plan_input(&b);
            (p, elf.to_vec(), change)
        }));
    for (path, elf, change) in cases {
        let Ok(Some(info)) = ElfInfo::parse(&elf) else {
            continue;
        };
        let Ok(Some(edit)) = plan_edit(&info, &elf, &change) else {
            continue;
        };
        // Whatever was planned must not touch the headers: apply's check refuses otherwise.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.so");
        std::fs::write(&file, &elf).unwrap();
        if write_edit(&file, &elf, &edit).is_ok() {
            let after = std::fs::read(&file).unwrap();
            let info_after = ElfInfo::parse(&after).unwrap().unwrap();
            let before: HashSet<_> = info
                .loads()
                .map(|p| (p.p_vaddr, p.p_flags, p.p_offset))
                .collect();
            let kept: HashSet<_> = info_after
                .loads()
                .map(|p| (p.p_vaddr, p.p_flags, p.p_offset))
                .collect();
            assert!(
                before.is_subset(&kept),
                "{}: a PT_LOAD changed",
                path.display()
            );
            // What was not asked for stays as it was (the fuzz target's own checks).
            let interp = |i: &ElfInfo| i.interpreter.as_ref().map(|i| i.path.clone());
            let want = change.interpreter.clone().or_else(|| interp(&info));
            assert_eq!(interp(&info_after), want, "{}: interpreter", path.display());
            let runpath = |i: &ElfInfo| {
                i.dynamic.as_ref().map(|d| {
                    (
                        d.runpath.as_ref().map(|s| s.bytes.clone()),
                        d.rpath.is_some(),
                    )
                })
            };
            if change.runpath.is_none() {
                assert_eq!(runpath(&info_after), runpath(&info), "{}", path.display());
            }
            let patched: Vec<(usize, usize)> = edit
                .patches
                .iter()
                .map(|p| (p.offset as usize, p.offset as usize + p.bytes.len()))
                .collect();
            let outside = (0..elf.len())
                .find(|&i| !patched.iter().any(|&(s, e)| s <= i && i < e) && elf[i] != after[i]);
            assert_eq!(
                outside,
                None,
                "{}: a byte outside the plan changed",
                path.display()
            );
        }
    }
}

#[test]
fn pyproject_scripts_that_entry_points_txt_cannot_carry_are_refused() {
    for (path, bytes) in inputs("venv_readers") {
        let text = String::from_utf8_lossy(&bytes);
        // The inputs are pyproject.toml texts after the target's one-byte selector.
        let toml = text.get(1..).unwrap_or_default();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pyproject.toml"), toml).unwrap();
        std::fs::create_dir_all(dir.path().join("my_pkg")).unwrap();
        std::fs::write(dir.path().join("my_pkg/__init__.py"), "").unwrap();
        let site = tempfile::tempdir().unwrap();
        let read = fixup_hooks::venv::source::read(dir.path(), site.path());
        assert!(read.is_err(), "{}: accepted {toml:?}", path.display());
    }
}
