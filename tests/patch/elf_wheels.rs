//! The writer over every ELF file of real manylinux wheels (lxml, cryptography, psycopg-binary,
//! cffi, markupsafe, xmlsec): a longer RUNPATH and an equal-length one, then every file must
//! load as well as it did before. The wheels come from the shared fixture (tests/support/common.rs).

use crate::support::common;
use crate::support::elf::*;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use fixup_hooks::elf::{plan_edit, write_edit, ElfChange, ElfInfo, Placement};

fn elf_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() && std::fs::read(e.path()).unwrap().starts_with(b"\x7fELF") {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

fn copy_tree(from: &Path, to: &Path) {
    let st = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
}

/// Files of `files` that fail to dlopen with RTLD_NOW.
fn load_failures(files: &[PathBuf]) -> BTreeSet<String> {
    let code = "import ctypes,os,sys\nfor p in sys.argv[1:]:\n  try: ctypes.CDLL(p, os.RTLD_NOW)\n  except OSError as e: print(os.path.basename(p), e)";
    let mut cmd = Command::new("python3.11");
    cmd.args(["-c", code]).args(files);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// The file names in `load_failures`' lines.
fn names(lines: BTreeSet<String>) -> BTreeSet<String> {
    lines
        .iter()
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect()
}

/// `rel` paths under `tree`.
fn in_tree(tree: &Path, rel: &[PathBuf]) -> Vec<PathBuf> {
    rel.iter().map(|r| tree.join(r)).collect()
}

/// Patch every ELF file under `root` with `new_runpath(old)`; returns (patched, refusals).
fn patch_tree(
    root: &Path,
    new_runpath: impl Fn(Option<&[u8]>) -> Option<Vec<u8>>,
) -> (Vec<(PathBuf, Placement)>, Vec<String>) {
    let (mut done, mut refused) = (Vec::new(), Vec::new());
    for f in elf_files(root) {
        let bytes = std::fs::read(&f).unwrap();
        let info = ElfInfo::parse(&bytes).unwrap().unwrap();
        let Some(d) = &info.dynamic else { continue };
        let old = d
            .runpath
            .as_ref()
            .or(d.rpath.as_ref())
            .map(|s| s.bytes.as_slice());
        let Some(new) = new_runpath(old) else {
            continue;
        };
        let change = ElfChange {
            runpath: Some(new),
            interpreter: None,
        };
        match plan_edit(&info, &bytes, &change) {
            Ok(Some(edit)) => {
                write_edit(&f, &bytes, &edit).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(
                    plan_file(&f, &change),
                    Ok(None),
                    "{}: second plan",
                    f.display()
                );
                let before = readelf_complaints_of_bytes(&bytes);
                assert_eq!(
                    readelf_complaints(&f, &["-W", "-d", "-l", "-S"]),
                    before,
                    "{}",
                    f.display()
                );
                done.push((f, edit.placement));
            }
            Ok(None) => {}
            Err(r) => refused.push(format!("{}: {r}", f.file_name().unwrap().to_string_lossy())),
        }
    }
    (done, refused)
}

fn readelf_complaints_of_bytes(bytes: &[u8]) -> String {
    let t = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(t.path(), bytes).unwrap();
    readelf_complaints(t.path(), &["-W", "-d", "-l", "-S"])
}

fn venv() -> Option<PathBuf> {
    Some(common::fixture().join("venv/lib/python3.11/site-packages"))
}

#[test]
fn wheel_libraries_still_load_after_longer_runpath() {
    let Some(site) = venv() else { return };
    let d = tmp();
    let root = d.path().join("site");
    copy_tree(&site, &root);
    let baseline = load_failures(&elf_files(&root));
    let (done, refused) = patch_tree(&root, |old| {
        // A library without an entry relied on its loader's DT_RPATH (scipy's libgfortran
        // finds libquadmath through the module's `$ORIGIN/../scipy.libs`); a new DT_RUNPATH
        // switches that inheritance off, as the ELF spec says, so give it `$ORIGIN` as well.
        let mut v = old
            .map(|o| [o, b":"].concat())
            .unwrap_or_else(|| b"$ORIGIN:".to_vec());
        v.extend_from_slice(STORE_LONG.as_bytes());
        Some(v)
    });
    eprintln!("longer: {} patched, refused: {refused:?}", done.len());
    // Only Rust wheels linked by LLD, with no spare dynamic slot, may be refused.
    assert!(
        refused.iter().all(|r| r.contains("no spare DT_NULL slot")) && refused.len() <= 3,
        "{refused:?}"
    );
    for (f, s) in &done {
        eprintln!("  {s:?} {}", f.strip_prefix(&root).unwrap().display());
    }
    assert!(!done.is_empty());
    assert_eq!(load_failures(&elf_files(&root)), baseline);

    // binutils must still take every grown file: `strip -g` succeeds, and the result loads
    // unless stripping the pristine file breaks it too (files auditwheel's patchelf already
    // re-laid, whose empty segments strip misplaces).
    let grown: Vec<PathBuf> = done
        .iter()
        .filter(|(_, s)| s.appends_segment())
        .map(|(f, _)| f.strip_prefix(&root).unwrap().to_path_buf())
        .collect();
    assert!(!grown.is_empty(), "the longer RUNPATH grows some files");
    let patched_failing = names(load_failures(&in_tree(&root, &grown)));
    let pristine = d.path().join("pristine");
    copy_tree(&site, &pristine);
    for tree in [&root, &pristine] {
        for f in in_tree(tree, &grown) {
            let out = Command::new("strip").arg("-g").arg(&f).output().unwrap();
            assert!(
                out.status.success(),
                "strip -g {}: {}",
                f.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let broken_by_strip_anyway = names(load_failures(&in_tree(&pristine, &grown)));
    let failing = names(load_failures(&in_tree(&root, &grown)));
    let new: Vec<&String> = failing
        .iter()
        .filter(|f| !broken_by_strip_anyway.contains(*f) && !patched_failing.contains(*f))
        .collect();
    assert!(
        new.is_empty(),
        "{} grown files stripped; newly broken: {new:?}",
        grown.len()
    );
    eprintln!(
        "strip -g: {} grown files; {} break under strip -g even unpatched",
        grown.len(),
        broken_by_strip_anyway.len()
    );
}

/// The real flow: strip-store-refs turned each store hash into `eeee…`; patch-rpaths puts an
/// equal-length real path back. Both steps must be in place, and the round trip byte-exact.
#[test]
fn wheel_libraries_round_trip_equal_length_runpath_in_place() {
    let Some(site) = venv() else { return };
    let d = tmp();
    let root = d.path().join("site");
    copy_tree(&site, &root);
    let originals: Vec<(PathBuf, Vec<u8>)> = elf_files(&root)
        .into_iter()
        .map(|f| {
            let b = std::fs::read(&f).unwrap();
            (f, b)
        })
        .collect();
    let baseline = load_failures(&elf_files(&root));
    let olds: std::collections::BTreeMap<PathBuf, Vec<u8>> = originals
        .iter()
        .filter_map(|(f, b)| {
            let d = ElfInfo::parse(b).unwrap().unwrap().dynamic?;
            Some((f.clone(), d.runpath.or(d.rpath)?.bytes))
        })
        .collect();
    let (stripped, refused) = patch_tree(&root, |old| {
        let old = old?;
        let mut v = b"/nix/store/".to_vec();
        v.resize(old.len().max(v.len()), b'e');
        v.truncate(old.len());
        Some(v)
    });
    assert!(refused.is_empty(), "{refused:?}");
    assert!(
        stripped.iter().all(|(_, s)| *s == Placement::InPlace),
        "{stripped:?}"
    );
    for (f, _) in &stripped {
        let bytes = std::fs::read(f).unwrap();
        let edit = plan_edit(
            &ElfInfo::parse(&bytes).unwrap().unwrap(),
            &bytes,
            &ElfChange {
                runpath: Some(olds[f].clone()),
                interpreter: None,
            },
        )
        .unwrap()
        .unwrap();
        assert_eq!(edit.placement, Placement::InPlace);
        write_edit(f, &bytes, &edit).unwrap();
    }
    eprintln!(
        "equal length: {} files round-tripped in place",
        stripped.len()
    );
    for (f, b) in &originals {
        assert!(
            std::fs::read(f).unwrap() == *b,
            "{} differs after the round trip",
            f.display()
        );
    }
    assert_eq!(load_failures(&elf_files(&root)), baseline);
}
