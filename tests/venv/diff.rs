//! `fix-venv diff OLD NEW`: two builds of one tree, each difference named with its likely
//! cause. Small trees built here (gcc for the extension modules), no uv.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use crate::support::venv::*;

const EXT_SO: &str = "lib/python3.11/site-packages/pkg/_ext.so";
const EXT_RECORD: &str = "lib/python3.11/site-packages/pkg-1.0.dist-info/RECORD";
const EXT_C: &str = "int answer(void) { return 42; }\n";

/// One build of a tree holding `pkg/_ext.so`, compiled in `build_dir` and listed in pkg's
/// RECORD.
fn build_with_ext(root: &Path, build_dir: &Path) {
    let so = gcc_shared_in(build_dir, EXT_C);
    let files: [(&str, &[u8]); 2] = [("pkg/__init__.py", b""), ("pkg/_ext.so", &so)];
    let lines = files.iter().map(|(p, c)| record_line(p, c)).collect();
    venv_tree(root, &files, &[("pkg-1.0", lines)]);
}

fn causes_of(json: &serde_json::Value, path: &str) -> Vec<String> {
    let at = differences_at(json, path);
    assert_eq!(at.len(), 1, "{path}: {json:#}");
    assert_eq!(at[0].0, "contents", "{path}: {json:#}");
    at[0].1.clone()
}

#[test]
fn diff_names_debug_info_build_id_and_build_directories_of_an_extension_built_twice() {
    let tmp = tempfile::tempdir().unwrap();
    // Two temporary build directories, their names of one length, as a builder's are.
    let (b1, b2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (dir1, dir2) = (b1.path().join("build"), b2.path().join("build"));
    let (old, new) = (tmp.path().join("old"), tmp.path().join("new"));
    build_with_ext(&old, &dir1);
    build_with_ext(&new, &dir2);

    let (code, json, err) = diff_json(&old, &new);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(json["identical"], false);
    let causes = causes_of(&json, EXT_SO);
    for cause in ["build_id", "debug_info", "build_directory"] {
        assert!(causes.contains(&cause.to_string()), "{causes:?}");
    }
    assert!(!causes.contains(&"unknown".to_string()), "{causes:?}");
    let debug = cause_at(&json, EXT_SO, "debug_info");
    let sections = debug["sections"].as_array().unwrap();
    assert!(!sections.is_empty());
    assert!(
        sections
            .iter()
            .all(|s| s.as_str().unwrap().starts_with(".debug_")),
        "{debug:#}"
    );
    assert_eq!(
        debug["moved"], false,
        "same-length directories move nothing"
    );
    let id = cause_at(&json, EXT_SO, "build_id");
    assert_ne!(id["old"], id["new"]);
    assert_eq!(
        id["old"].as_str().unwrap().len(),
        40,
        "a SHA-1 build-id: {id:#}"
    );
    assert_eq!(id["alone"], false);
    let dirs = cause_at(&json, EXT_SO, "build_directory");
    let pair = (
        dir1.to_str().unwrap().to_string(),
        dir2.to_str().unwrap().to_string(),
    );
    assert!(
        dirs["strings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| (s["old"].as_str().unwrap(), s["new"].as_str().unwrap())
                == (pair.0.as_str(), pair.1.as_str())),
        "{dirs:#}"
    );
    // RECORD changed with the library, and says which line.
    assert_eq!(causes_of(&json, EXT_RECORD), ["record"]);
    let record = cause_at(&json, EXT_RECORD, "record");
    assert_eq!(record["lines"][0]["path"], "pkg/_ext.so", "{record:#}");
    assert_eq!(json["differences"].as_array().unwrap().len(), 2, "{json:#}");

    // The plain listing says the same in words.
    let out = run(fix_venv().arg("diff").arg(&old).arg(&new));
    assert_eq!(out.status.code(), Some(1));
    let listing = stdout(&out);
    assert!(
        listing.starts_with(&format!("{EXT_SO}: contents differ")),
        "{listing}"
    );
    for needle in [
        "  debug_info: ",
        "  build_id: ",
        "  build_directory: ",
        &pair.1,
    ] {
        assert!(listing.contains(needle), "{needle:?} in {listing}");
    }
}

#[test]
fn diff_sees_through_debug_sections_that_changed_size() {
    let tmp = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let (old, new) = (tmp.path().join("old"), tmp.path().join("new"));
    build_with_ext(&old, &b.path().join("build"));
    build_with_ext(&new, &b.path().join("build-of-another-length"));

    let (code, json, err) = diff_json(&old, &new);
    assert_eq!(code, Some(1), "{err}");
    let mut causes = causes_of(&json, EXT_SO);
    causes.sort();
    assert_eq!(causes, ["build_directory", "build_id", "debug_info"]);
    assert_eq!(cause_at(&json, EXT_SO, "debug_info")["moved"], true);
}

#[test]
fn diff_names_both_distributions_of_a_file_two_wheels_install() {
    let tmp = tempfile::tempdir().unwrap();
    let (old, new) = (tmp.path().join("old"), tmp.path().join("new"));
    let (alpha, beta): (&[u8], &[u8]) = (b"# alpha's Makefile\n", b"# beta's Makefile\n");
    let dists = [
        ("alpha-1.0", vec![record_line("docs/Makefile", alpha)]),
        ("beta-2.0", vec![record_line("docs/Makefile", beta)]),
    ];
    venv_tree(&old, &[("docs/Makefile", alpha)], &dists);
    venv_tree(&new, &[("docs/Makefile", beta)], &dists);

    let (code, json, err) = diff_json(&old, &new);
    assert_eq!(code, Some(1), "{err}");
    let path = "lib/python3.11/site-packages/docs/Makefile";
    assert_eq!(causes_of(&json, path), ["install_order_clash"]);
    assert_eq!(json["differences"].as_array().unwrap().len(), 1, "{json:#}");
    let clash = cause_at(&json, path, "install_order_clash");
    assert_eq!(
        clash["distributions"],
        serde_json::json!(["alpha 1.0", "beta 2.0"])
    );
    assert_eq!(clash["old_matches"], serde_json::json!(["alpha 1.0"]));
    assert_eq!(clash["new_matches"], serde_json::json!(["beta 2.0"]));
    let words = clash["explanation"].as_str().unwrap();
    assert!(
        words.contains("alpha 1.0 and beta 2.0") && words.contains("installs last wins"),
        "{words}"
    );
}

#[test]
fn diff_of_identical_trees_exits_0_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let (old, new) = (tmp.path().join("old"), tmp.path().join("new"));
    let lines = vec![record_line("m.py", b"x = 1\n")];
    venv_tree(&old, &[("m.py", b"x = 1\n")], &[("m-1.0", lines)]);
    symlink("../lib/python3.11/site-packages/m.py", old.join("bin-link")).unwrap();
    copy_tree(&old, &new);

    let (code, json, err) = diff_json(&old, &new);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(json["identical"], true);
    assert_eq!(json["differences"], serde_json::json!([]));
    assert!(err.contains(": identical ("), "{err}");
    let out = run(fix_venv().arg("diff").arg(&old).arg(&new));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "");
}

#[test]
fn diff_calls_a_pyc_difference_bytecode() {
    let tmp = tempfile::tempdir().unwrap();
    let pyc = "lib/python3.11/site-packages/__pycache__/m.cpython-311.pyc";
    let mut trees = Vec::new();
    // The same source compiled at two source times, as two builds would.
    for (name, mtime) in [("old", 1_700_000_000), ("new", 1_700_086_400)] {
        let root = tmp.path().join(name);
        let site = venv_tree(&root, &[("m.py", b"x = 1\n")], &[]);
        let source = std::fs::File::options()
            .write(true)
            .open(site.join("m.py"))
            .unwrap();
        let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime);
        source.set_modified(when).unwrap();
        python_says(
            Path::new(PYTHON),
            &format!(
                "import py_compile; py_compile.compile({:?})",
                site.join("m.py")
            ),
        );
        assert!(root.join(pyc).is_file());
        trees.push(root);
    }

    let (code, json, err) = diff_json(&trees[0], &trees[1]);
    assert_eq!(code, Some(1), "{err}");
    // The trees lie in temporary directories, and the bytecode names its source by path.
    assert_eq!(causes_of(&json, pyc), ["bytecode", "build_directory"]);
    let header = cause_at(&json, pyc, "bytecode")["header"].as_str().unwrap();
    assert!(header.contains("2023-11-14 22:13:20 UTC"), "{header}");
    assert_eq!(json["differences"].as_array().unwrap().len(), 1, "{json:#}");
}

#[test]
fn diff_lists_names_types_modes_and_symlink_targets_sorted_by_path() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let (old, new) = (tmp.path().join("old"), tmp.path().join("new"));
    for root in [&old, &new] {
        write(root, "a-same", "same");
        write(root, "mode-x", "#!/bin/sh\n");
        write(root, "mode-w", "data");
    }
    write(&old, "gone/one", "1");
    write(&old, "gone/two/three", "3");
    write(&new, "added", "new");
    write(&old, "kind", "a file in OLD");
    std::fs::create_dir(new.join("kind")).unwrap();
    symlink("a-same", old.join("link")).unwrap();
    symlink("mode-x", new.join("link")).unwrap();
    let chmod = |p: PathBuf, mode| std::fs::set_permissions(p, PermissionsExt::from_mode(mode));
    chmod(old.join("mode-x"), 0o644).unwrap();
    chmod(new.join("mode-x"), 0o755).unwrap();
    chmod(old.join("mode-w"), 0o644).unwrap();
    chmod(new.join("mode-w"), 0o600).unwrap();

    let (code, json, err) = diff_json(&old, &new);
    assert_eq!(code, Some(1), "{err}");
    let got: Vec<(String, String)> = json["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let what = d["difference"].as_str().unwrap().to_string();
            (d["path"].as_str().unwrap().to_string(), what)
        })
        .collect();
    let want = [
        ("added", "only_in_new"),
        ("gone", "only_in_old"),
        ("kind", "type"),
        ("link", "symlink_target"),
        ("mode-w", "mode"),
        ("mode-x", "mode"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(p, w)| (p.to_string(), w.to_string()))
        .collect();
    assert_eq!(got, want, "{json:#}");
    let all = json["differences"].as_array().unwrap();
    assert_eq!(all[1]["entries_below"], 3, "one, two, two/three: {json:#}");
    assert_eq!(
        (&all[2]["old"], &all[2]["new"]),
        (&"file".into(), &"directory".into())
    );
    assert_eq!(
        (&all[3]["old"], &all[3]["new"]),
        (&"a-same".into(), &"mode-x".into())
    );
    assert_eq!(
        all[4]["changes_hash"], false,
        "Nix keeps only the executable bit"
    );
    assert_eq!(all[5]["changes_hash"], true);
    assert_eq!(
        (&all[5]["old"], &all[5]["new"]),
        (&"0644".into(), &"0755".into())
    );
}

#[test]
fn diff_that_cannot_read_a_file_exits_3_naming_it_and_a_wrong_command_line_2() {
    // Reading /proc/self/mem at offset 0 fails with EIO, even for root.
    let mem = Path::new("/proc/self/mem");
    let out = run(fix_venv().arg("diff").arg(mem).arg(mem));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("/proc/self/mem: cannot read: "),
        "{}",
        stderr(&out)
    );
    let tmp = tempfile::tempdir().unwrap();
    let out = run(fix_venv()
        .arg("diff")
        .arg(tmp.path())
        .arg(tmp.path().join("missing")));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("missing"), "{}", stderr(&out));
    let out = run(fix_venv().arg("diff").arg(tmp.path()));
    assert_eq!(out.status.code(), Some(2));
}
