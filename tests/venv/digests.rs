//! What keeps the FOD's hash a function of the lock file alone, and RECORD true in the app:
//! `prepare` drops a path dependency's `file://` direct_url.json and blanks the RECORD
//! digests of files naming store paths; `restore` refills blank digests from the final files,
//! and a second restore changes nothing.

use std::path::{Path, PathBuf};

use crate::support::venv::*;
use fixup_hooks::venv::record::{hash, RecordEntry};

/// The RECORD line of a file at `path` holding `contents`.
fn line_for(path: &str, contents: &[u8]) -> String {
    RecordEntry::of_contents(path, contents).to_string()
}

/// A valid hash no file names with its store prefix.
const UNSEEN_HASH: &str = "abcdfghijklmnpqrsvwxyz0123456789";
const LOCAL_URL: &str =
    r#"{"url":"file:///tmp/nix-build-deps.drv-0/src/packages/pkg","dir_info":{}}"#;
const HTTPS_URL: &str =
    r#"{"url":"https://example.org/other-2.0.tar.gz","archive_info":{"hash":"sha256=00"}}"#;

struct Venv {
    _tmp: tempfile::TempDir,
    store: PathBuf,
    root: PathBuf,
    site: PathBuf,
}

/// A venv as `uv sync` leaves it in the FOD: RECORD digests of the files as written, some
/// files naming store paths (the FOD's own `$out` in a script's shebang, a library's path in
/// a module), two direct_url.json (a path dependency's, an archive's).
fn venv() -> Venv {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    std::fs::create_dir(&store).unwrap();
    let root = tmp.path().join("venv");
    let site = skeleton(&root, "python3.11", "3.11.2");
    let out = format!("{}/{VENV_HASH}-venv", store.display());
    let lib = format!("{}/{PYTHON_HASH}-libfoo-1.0/lib", store.display());

    let files: Vec<(&str, String, &str)> = vec![
        ("pkg/__init__.py", "print('hi')\n".into(), "pkg"),
        ("pkg/paths.py", format!("LIB = {lib:?}\n"), "pkg"),
        // A hash named with its prefix elsewhere is stripped bare too: blanked.
        ("pkg/bare.py", format!("H = '{PYTHON_HASH}'\n"), "pkg"),
        // One never named with its prefix is left alone by strip-store-refs: kept.
        ("pkg/unseen.py", format!("H = '{UNSEEN_HASH}'\n"), "pkg"),
        (
            "../../../bin/tool",
            format!("#!{out}/bin/python\nprint('tool')\n"),
            "pkg",
        ),
        ("pkg-1.0.dist-info/direct_url.json", LOCAL_URL.into(), "pkg"),
        ("pkg-1.0.dist-info/METADATA", "Name: pkg\n".into(), "pkg"),
        ("other/__init__.py", "X = 1\n".into(), "other"),
        (
            "other-2.0.dist-info/direct_url.json",
            HTTPS_URL.into(),
            "other",
        ),
    ];
    let mut records: std::collections::BTreeMap<&str, String> = Default::default();
    for (rel, contents, dist) in &files {
        let path = normalize(&site, rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, contents).unwrap();
        let record = records.entry(*dist).or_default();
        record.push_str(&line_for(rel, contents.as_bytes()));
        record.push('\n');
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        root.join("bin/tool"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    for (dist, mut record) in records {
        let dist_info = if dist == "pkg" {
            "pkg-1.0"
        } else {
            "other-2.0"
        };
        record.push_str(&format!("{dist_info}.dist-info/RECORD,,\n"));
        write(&site, &format!("{dist_info}.dist-info/RECORD"), record);
    }
    Venv {
        _tmp: tmp,
        store,
        root,
        site,
    }
}

fn normalize(base: &Path, rel: &str) -> PathBuf {
    fixup_hooks::venv::fsx::normalize(&base.join(rel))
}

fn prepare(v: &Venv) -> std::process::Output {
    let out = run(fix_venv()
        .env("NIX_STORE_DIR", &v.store)
        .arg("prepare")
        .arg(&v.root));
    assert!(out.status.success(), "{}", stderr(&out));
    out
}

fn strip(v: &Venv) {
    let out = run(strip_store_refs()
        .arg("--store-dir")
        .arg(&v.store)
        .arg(&v.root));
    assert!(out.status.success(), "{}", stderr(&out));
}

fn restore(v: &Venv) -> std::process::Output {
    let out = run(fix_venv()
        .args(["restore", "--python", PYTHON])
        .arg(&v.root));
    assert!(out.status.success(), "{}", stderr(&out));
    out
}

fn record(v: &Venv, dist_info: &str) -> String {
    std::fs::read_to_string(v.site.join(dist_info).join("RECORD")).unwrap()
}

/// (path, hash, size) of each RECORD line.
fn lines(v: &Venv, dist_info: &str) -> Vec<(String, String, String)> {
    record(v, dist_info)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.rsplitn(3, ',').collect();
            (f[2].to_string(), f[1].to_string(), f[0].to_string())
        })
        .collect()
}

#[test]
fn prepare_drops_a_file_url_direct_url_json_and_keeps_an_https_one() {
    let v = venv();
    let out = prepare(&v);
    assert!(!v.site.join("pkg-1.0.dist-info/direct_url.json").exists());
    assert!(
        !record(&v, "pkg-1.0.dist-info").contains("direct_url.json"),
        "{}",
        record(&v, "pkg-1.0.dist-info")
    );
    assert!(stderr(&out).contains(
        "remove lib/python3.11/site-packages/pkg-1.0.dist-info/direct_url.json  \
         (names the build's source directory"
    ));
    // An archive URL names the same thing on every build: kept, with its line.
    assert_eq!(
        std::fs::read_to_string(v.site.join("other-2.0.dist-info/direct_url.json")).unwrap(),
        HTTPS_URL
    );
    assert!(record(&v, "other-2.0.dist-info").contains(&line_for(
        "other-2.0.dist-info/direct_url.json",
        HTTPS_URL.as_bytes()
    )));
}

#[test]
fn prepare_blanks_the_digests_of_files_naming_a_store_path_and_only_those() {
    let v = venv();
    let before = lines(&v, "pkg-1.0.dist-info");
    let out = prepare(&v);
    let blanked = ["pkg/paths.py", "pkg/bare.py", "../../../bin/tool"];
    for (path, hash, size) in lines(&v, "pkg-1.0.dist-info") {
        if blanked.contains(&path.as_str()) || path == "pkg-1.0.dist-info/RECORD" {
            assert_eq!((hash.as_str(), size.as_str()), ("", ""), "{path}");
        } else {
            let old = before.iter().find(|l| l.0 == path).unwrap();
            assert_eq!((&hash, &size), (&old.1, &old.2), "{path}");
            assert!(!hash.is_empty(), "{path}");
        }
    }
    let err = stderr(&out);
    for path in [
        "bin/tool",
        "lib/python3.11/site-packages/pkg/bare.py",
        "lib/python3.11/site-packages/pkg/paths.py",
    ] {
        assert!(
            err.contains(&format!(
                "blank-digest {path}  (digest blanked: the file names a store path, \
                 so its bytes change when references are stripped)"
            )),
            "{err}"
        );
    }
    // Nothing else is touched, and a second run has nothing to do.
    assert!(std::fs::read_to_string(v.root.join("bin/tool"))
        .unwrap()
        .contains(VENV_HASH));
    let snap = snapshot(&v.root);
    let again = prepare(&v);
    assert!(
        stderr(&again).contains("nothing to change"),
        "{}",
        stderr(&again)
    );
    assert_eq!(snapshot(&v.root), snap);
}

#[test]
fn restore_refills_blank_digests() {
    let v = venv();
    prepare(&v);
    strip(&v);
    // What patch-rpaths would do to a blanked file in the main derivation: new bytes.
    std::fs::write(v.site.join("pkg/paths.py"), "LIB = '/patched/lib'\n").unwrap();
    restore(&v);
    for dist_info in ["pkg-1.0.dist-info", "other-2.0.dist-info"] {
        for (path, digest, size) in lines(&v, dist_info) {
            if path == format!("{dist_info}/RECORD") {
                assert_eq!((digest.as_str(), size.as_str()), ("", ""));
                continue;
            }
            let bytes = std::fs::read(normalize(&v.site, &path)).unwrap();
            assert_eq!(digest, hash(&bytes), "{dist_info}: {path}");
            assert_eq!(size, bytes.len().to_string(), "{dist_info}: {path}");
        }
    }
    // The script restore re-pointed: its line has the new bytes.
    let tool = std::fs::read(v.root.join("bin/tool")).unwrap();
    assert!(tool.starts_with(format!("#!{}/bin/python\n", v.root.display()).as_bytes()));
    assert!(record(&v, "pkg-1.0.dist-info").contains(&line_for("../../../bin/tool", &tool)));
    assert!(record(&v, "pkg-1.0.dist-info")
        .contains(&line_for("pkg/paths.py", b"LIB = '/patched/lib'\n")));
}

#[test]
fn restore_twice_is_byte_identical() {
    let v = venv();
    prepare(&v);
    strip(&v);
    restore(&v);
    let first = snapshot(&v.root);
    let again = restore(&v);
    assert_eq!(snapshot(&v.root), first);
    assert!(
        stderr(&again).contains("nothing to change"),
        "{}",
        stderr(&again)
    );
}

/// The tree below `root`: relative paths, kinds, modes and bytes.
fn relative_snapshot(root: &Path) -> Vec<(PathBuf, String, u32, Vec<u8>)> {
    snapshot(root)
        .into_iter()
        .map(|(p, k, m, b)| (p.strip_prefix(root).unwrap().to_path_buf(), k, m, b))
        .collect()
}

#[test]
fn prepare_given_a_relative_venv_does_what_it_does_given_the_absolute_one() {
    let v = venv();
    let pristine = v.root.with_file_name("pristine");
    copy_tree(&v.root, &pristine);
    let expected_out = prepare(&v);
    let expected = relative_snapshot(&v.root);
    // It did blank and drop something: the comparison below means something.
    assert!(record(&v, "pkg-1.0.dist-info").contains("pkg/paths.py,,"));
    let parent = v.root.parent().unwrap();
    for (cwd, arg) in [
        (parent.to_path_buf(), "./venv"),
        (parent.to_path_buf(), "venv/../venv"),
        (parent.join("venv"), "."),
        (parent.join("venv/bin"), ".."),
    ] {
        std::fs::remove_dir_all(&v.root).unwrap();
        copy_tree(&pristine, &v.root);
        let out = run(fix_venv()
            .env("NIX_STORE_DIR", &v.store)
            .current_dir(&cwd)
            .args(["prepare", arg]));
        assert!(out.status.success(), "{arg}: {}", stderr(&out));
        assert_eq!(relative_snapshot(&v.root), expected, "{arg}");
        // The same changes listed (the summary's first line names the venv as given).
        let listed = |o: &std::process::Output| -> Vec<String> {
            stderr(o).lines().skip(1).map(str::to_string).collect()
        };
        assert_eq!(listed(&out), listed(&expected_out), "{arg}");
    }
}

#[test]
fn a_bare_input_hash_alone_is_blanked_so_the_fod_does_not_depend_on_the_input() {
    // A file holds an input's hash bare, and nothing in the tree names that input with its
    // store prefix: only the build's environment does. The strip (with --env-candidates, as
    // the hook runs it) neutralises it; prepare, given the same selection, blanks its digest.
    // Two builds whose input lives at different store paths give one tree, and restore makes
    // the line true again.
    let build = |input_hash: &str| {
        let tmp = tempfile::tempdir().unwrap();
        let store = tmp.path().join("store");
        std::fs::create_dir(&store).unwrap();
        let root = tmp.path().join("venv");
        let site = skeleton(&root, "python3.11", "3.11.2");
        let module = format!("INPUT_HASH = '{input_hash}'\n");
        write(&site, "pkg/input.py", &module);
        let record = format!(
            "{}\npkg-1.0.dist-info/RECORD,,\n",
            line_for("pkg/input.py", module.as_bytes())
        );
        write(&site, "pkg-1.0.dist-info/RECORD", record);
        let input = format!("{}/{input_hash}-libinput-1.0", store.display());
        let out = run(fix_venv()
            .env("NIX_STORE_DIR", &store)
            .env("INPUT", &input)
            .args(["prepare", "--env-candidates"])
            .arg(&root));
        assert!(out.status.success(), "{}", stderr(&out));
        let out = run(strip_store_refs()
            .env("INPUT", &input)
            .arg("--env-candidates")
            .arg("--store-dir")
            .arg(&store)
            .arg(&root));
        assert!(out.status.success(), "{}", stderr(&out));
        (tmp, root, site)
    };
    let (_a, first, _) = build(VENV_HASH);
    let (_b, second, site) = build(PYTHON_HASH);
    let diff = run(fix_venv().arg("diff").arg(&first).arg(&second));
    assert_eq!(
        diff.status.code(),
        Some(0),
        "the FOD depends on the input's store path:\n{}",
        String::from_utf8_lossy(&diff.stdout)
    );
    let record = std::fs::read_to_string(site.join("pkg-1.0.dist-info/RECORD")).unwrap();
    assert!(record.starts_with("pkg/input.py,,\n"), "{record}");

    let out = run(fix_venv()
        .args(["restore", "--python", PYTHON])
        .arg(&second));
    assert!(out.status.success(), "{}", stderr(&out));
    let now = std::fs::read(site.join("pkg/input.py")).unwrap();
    let record = std::fs::read_to_string(site.join("pkg-1.0.dist-info/RECORD")).unwrap();
    assert!(record.contains(&line_for("pkg/input.py", &now)), "{record}");
}
