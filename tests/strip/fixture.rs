//! strip-store-refs on the shared realistic fixture (scripts/make-fixture): a uv venv of real
//! wheels with ELF files, bytecode, text and symlinks naming real store paths.
//!
//! `scripts/test` builds the fixture first and passes it in `FIXUP_HOOKS_FIXTURE`; run alone,
//! this test builds it into target/fixture-small (it needs what scripts/install-deps installs).

use crate::support::common;

use std::path::PathBuf;
use std::process::Command;

use common::*;

/// A private copy of the fixture, since the tool rewrites in place.
fn copy_of_fixture() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("cp")
        .arg("-a")
        .arg(fixture().join("venv"))
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    let venv = dir.path().join("venv");
    (dir, venv)
}

fn store_paths() -> Vec<String> {
    let list = std::fs::read_to_string(fixture().join("STORE_PATHS"))
        .expect("fixture lists its store paths");
    let paths: Vec<String> = list
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    assert!(
        paths.len() >= 5,
        "the fixture references several store paths: {paths:?}"
    );
    paths
}

fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x7fELF")
}

#[test]
fn every_reference_in_the_fixture_is_neutralised_and_nothing_else_changes() {
    let (_keep, venv) = copy_of_fixture();
    let before = snapshot(&venv);
    let out = run(tool("strip-store-refs").arg(&venv));
    assert!(out.status.success(), "{}", stderr(&out));
    let after = snapshot(&venv);

    // Same entries, same sizes; every changed byte is a Nix32 byte turned into `e`.
    assert_eq!(before.len(), after.len());
    let mut changed_files = 0;
    for ((path, old), (path2, new)) in before.iter().zip(&after) {
        assert_eq!(path, path2);
        assert_eq!(old.len(), new.len(), "{}", path.display());
        if old == new {
            continue;
        }
        let diffs: Vec<usize> = (0..old.len()).filter(|&i| old[i] != new[i]).collect();
        for &i in &diffs {
            assert!(
                new[i] == b'e' && ALPHABET.contains(&old[i]),
                "{}: byte {i}",
                path.display()
            );
        }
        changed_files += usize::from(!diffs.is_empty());
    }
    assert!(
        changed_files >= 5,
        "the fixture holds references in several files"
    );

    // No hash of any store path the fixture references is left, prefixed or bare.
    for store_path in store_paths() {
        let hash = &store_path["/nix/store/".len().."/nix/store/".len() + 32];
        let finder = memchr::memmem::Finder::new(hash.as_bytes());
        for (path, bytes) in &after {
            assert!(
                finder.find(bytes).is_none(),
                "{} still holds {store_path}",
                path.display()
            );
        }
    }
    let check = run(tool("strip-store-refs").arg("--check").arg(&venv));
    assert_eq!(check.status.code(), Some(0), "{}", stdout(&check));
}

/// Imports the compiled wheels, and loads every shared object psycopg-binary bundles (its
/// Python package refuses a direct import without the pure-Python psycopg).
const LOAD_WHEELS: &str = r#"
import ctypes, glob, os, sys
import lxml.etree, markupsafe._speedups, cryptography.hazmat.bindings._rust, _cffi_backend
site = os.environ["PYTHONPATH"]
objects = sorted(glob.glob(os.path.join(site, "psycopg_binary*", "*.so*")))
assert len(objects) >= 3, objects
for so in objects:
    ctypes.CDLL(so, mode=os.RTLD_NOW)
print(len(objects))
"#;

#[test]
fn stripped_elf_files_still_parse_and_wheels_still_import() {
    let (_keep, venv) = copy_of_fixture();
    assert!(run(tool("strip-store-refs").arg(&venv)).status.success());
    let mut elves = 0;
    for (path, bytes) in snapshot(&venv) {
        if !is_elf(&bytes) {
            continue;
        }
        elves += 1;
        let out = Command::new("readelf")
            .args(["-ldW"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", path.display());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !err.contains("Warning") && !err.contains("Error"),
            "{}: {err}",
            path.display()
        );
    }
    assert!(
        elves >= 5,
        "the fixture has real extension modules and libraries ({elves})"
    );

    // The wheels' own RUNPATHs are $ORIGIN-relative and must keep working: import them with
    // the machine's interpreter (the venv's bin/python now points nowhere, as intended).
    let site = std::fs::read_dir(venv.join("lib"))
        .unwrap()
        .map(|e| e.unwrap().path().join("site-packages"))
        .find(|p| p.is_dir())
        .expect("lib/pythonX.Y/site-packages");
    let out = Command::new("python3.11")
        .env("PYTHONPATH", &site)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .args(["-c", LOAD_WHEELS])
        .output()
        .expect("python3.11 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
