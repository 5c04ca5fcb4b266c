//! The RUNPATH / interpreter planner and writer on (mutated) real ELF files.
//!
//! Input: `ELF bytes ‖ value ‖ len(value): u8 ‖ flags: u8`. `flags & 3` picks the change:
//! 0 or 3 → RUNPATH = value, 1 → interpreter = value, 2 → both.
//!
//! parse → plan → apply to a temp file. When apply succeeds, the written file must be exactly
//! the original with the planned patches over it and the planned tail after it; it must
//! re-parse, read back the planned RUNPATH / interpreter, keep DT_NEEDED, DT_SONAME, whatever
//! was not asked to change, and every original PT_LOAD header (but one that mapped only the
//! replaced `.dynstr`); and planning the same change
//! again must be a no-op.
//!
//! `FUZZ_ELF_STRICT=1` also fails on a plan that apply's own self-check rejects.
#![no_main]

use std::path::{Path, PathBuf};

use fixup_hooks::elf::{write_edit, plan_edit, ElfChange, ElfInfo, WriteError};
use libfuzzer_sys::fuzz_target;

/// The RUNPATH and RPATH strings as read.
fn paths(info: &ElfInfo) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    match &info.dynamic {
        Some(d) => (
            d.runpath.as_ref().map(|s| s.bytes.clone()),
            d.rpath.as_ref().map(|s| s.bytes.clone()),
        ),
        None => (None, None),
    }
}

fn tmp_base() -> PathBuf {
    match std::env::var_os("FUZZ_TMPDIR") {
        Some(d) => PathBuf::from(d),
        None if Path::new("/dev/shm").is_dir() => PathBuf::from("/dev/shm"),
        None => std::env::temp_dir(),
    }
}

thread_local! {
    static DIR: tempfile::TempDir = tempfile::Builder::new()
        .prefix("fzelf")
        .tempdir_in(tmp_base())
        .expect("temp dir");
}

fn split(input: &[u8]) -> Option<(&[u8], ElfChange)> {
    let (&flags, rest) = input.split_last()?;
    let (&len, rest) = rest.split_last()?;
    let len = usize::from(len).min(rest.len());
    let (elf, value) = rest.split_at(rest.len() - len);
    let value = value.to_vec();
    let change = match flags & 3 {
        1 => ElfChange {
            runpath: None,
            interpreter: Some(value),
        },
        2 => ElfChange {
            runpath: Some(value.clone()),
            interpreter: Some(value),
        },
        _ => ElfChange {
            runpath: Some(value),
            interpreter: None,
        },
    };
    Some((elf, change))
}

fuzz_target!(|input: &[u8]| {
    let Some((bytes, change)) = split(input) else {
        return;
    };
    let Ok(Some(before)) = ElfInfo::parse(bytes) else {
        return;
    };
    let Ok(Some(edit)) = plan_edit(&before, bytes, &change) else {
        return;
    };
    assert_eq!(
        edit.change, change,
        "edit carries another change than asked"
    );

    DIR.with(|dir| {
        let path = dir.path().join("lib.so");
        let _ = std::fs::remove_file(&path);
        std::fs::write(&path, bytes).unwrap();
        match write_edit(&path, bytes, &edit) {
            Ok(()) => {}
            Err(WriteError::Verify { reason, .. }) => {
                // The writer's own safety net caught a bad plan: the original must be intact.
                assert!(
                    std::fs::read(&path).unwrap() == bytes,
                    "failed apply changed the file"
                );
                if std::env::var_os("FUZZ_ELF_STRICT").is_some() {
                    panic!("plan produced an edit that apply rejects: {reason}\n{edit:?}");
                }
                return;
            }
            Err(e) => panic!("apply I/O error: {e}"),
        }
        let new = std::fs::read(&path).unwrap();

        // Exactly original + patches + tail.
        assert_eq!(new.len(), bytes.len() + edit.tail.len(), "written length");
        assert!(
            new[bytes.len()..] == edit.tail[..],
            "appended tail differs from the plan"
        );
        let mut covered = vec![false; bytes.len()];
        for p in &edit.patches {
            let (s, e) = (p.offset as usize, p.offset as usize + p.bytes.len());
            assert!(e <= bytes.len(), "patch past the end survived apply");
            assert!(
                new[s..e] == p.bytes[..],
                "patch at {s:#x} not written as planned"
            );
            covered[s..e].fill(true);
        }
        if let Some(i) = (0..bytes.len()).find(|&i| !covered[i] && bytes[i] != new[i]) {
            panic!("byte {i:#x} changed outside the planned patches");
        }

        // Re-parses, reads back as planned, and the rest is as it was.
        let after = ElfInfo::parse(&new)
            .expect("written file parses")
            .expect("written file is ELF");
        let (bd, ad) = (before.dynamic.as_ref(), after.dynamic.as_ref());
        assert_eq!(
            bd.map(|d| (&d.needed, &d.soname)),
            ad.map(|d| (&d.needed, &d.soname)),
            "DT_NEEDED / DT_SONAME changed"
        );
        match &change.runpath {
            Some(want) => {
                let (rp, r) = paths(&after);
                assert!(
                    rp.is_some() || r.is_some(),
                    "no RUNPATH/RPATH after setting one"
                );
                for got in [rp, r].into_iter().flatten() {
                    assert_eq!(&got, want, "RUNPATH reads back differently");
                }
            }
            None => assert_eq!(paths(&before), paths(&after), "RUNPATH changed unasked"),
        }
        let interp = |i: &ElfInfo| i.interpreter.as_ref().map(|i| i.path.clone());
        match &change.interpreter {
            Some(want) => assert_eq!(
                interp(&after).as_ref(),
                Some(want),
                "interpreter reads back differently"
            ),
            None => assert_eq!(
                interp(&before),
                interp(&after),
                "interpreter changed unasked"
            ),
        }
        // Only the one PT_LOAD the plan retired (it mapped only the replaced .dynstr, or
        // nothing; or it is the last, grown) may change.
        for load in before.loads().filter(|l| Some(*l) != edit.retired_load.as_ref()) {
            assert!(
                after.program_headers.iter().any(|p| p == load),
                "original PT_LOAD {load:?} is gone"
            );
        }
        assert_eq!(
            (before.class, before.endian, before.machine, before.e_type),
            (after.class, after.endian, after.machine, after.e_type)
        );

        // Idempotent.
        match plan_edit(&after, &new, &change) {
            Ok(None) => {}
            other => panic!("second plan is not a no-op: {other:?}"),
        }
    });
});
