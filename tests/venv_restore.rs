//! fix-venv on real venvs made by real uv: prepare in the "FOD", strip-store-refs, a move
//! to the final place, restore; then the venv works from there. And `diff`, which explains
//! why two builds of such a tree differ, on small trees built here.

mod venv_common;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use venv_common::*;

/// What the FOD would hold: the fixture venv at its store path, but linked to a store Python
/// (as a Nix-built uv venv is), then prepared and stripped. Returns (tmp, final VENV).
fn fod_then_moved(prepare_old_way: bool) -> (tempfile::TempDir, PathBuf) {
    let fx = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    std::fs::create_dir(&store).unwrap();
    let fod = store.join(fx.venv.file_name().unwrap());
    copy_tree(&fx.venv, &fod);
    // The FOD's Python would be a store path; the shebangs name the FOD's own $out.
    let py_home = format!("{}/{PYTHON_HASH}-python3-3.11.2/bin", store.display());
    std::fs::remove_file(fod.join("bin/python")).unwrap();
    symlink(format!("{py_home}/python3.11"), fod.join("bin/python")).unwrap();
    let cfg = std::fs::read_to_string(fod.join("pyvenv.cfg")).unwrap();
    let cfg = cfg.replace("home = /usr/bin", &format!("home = {py_home}"));
    std::fs::write(fod.join("pyvenv.cfg"), cfg).unwrap();
    // The shebangs name the fixture's store; re-point them at this one, like a real FOD.
    let old = fx.venv.to_str().unwrap().to_string();
    for entry in std::fs::read_dir(fod.join("bin")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_symlink() {
            continue;
        }
        let text = std::fs::read(&path).unwrap();
        let new = String::from_utf8_lossy(&text).replace(&old, fod.to_str().unwrap());
        if new.as_bytes() != text {
            // Replace (uv hard-links data scripts into its cache), keeping the mode.
            let perms = std::fs::metadata(&path).unwrap().permissions();
            std::fs::remove_file(&path).unwrap();
            std::fs::write(&path, new).unwrap();
            std::fs::set_permissions(&path, perms).unwrap();
        }
    }

    let out = run(fix_venv()
        .env("NIX_STORE_DIR", &store)
        .arg("prepare")
        .arg(&fod));
    assert!(out.status.success());
    if prepare_old_way {
        std::fs::remove_dir_all(fod.join("bin")).unwrap();
    }
    let out = run(strip_store_refs().arg("--store-dir").arg(&store).arg(&fod));
    assert!(out.status.success());
    for (path, _, _, bytes) in snapshot(&fod) {
        let hay = String::from_utf8_lossy(&bytes);
        assert!(
            !hay.contains(VENV_HASH) && !hay.contains(PYTHON_HASH),
            "{}",
            path.display()
        );
    }
    let venv = tmp.path().join("out");
    std::fs::rename(&fod, &venv).unwrap();
    (tmp, venv)
}

fn restore(venv: &Path) -> std::process::Output {
    run(fix_venv().args(["restore", "--python", PYTHON]).arg(venv))
}

/// Every script of every dist-info, from entry_points.txt.
fn entry_point_names(venv: &Path) -> Vec<String> {
    let site = venv.join("lib/python3.11/site-packages");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(site).unwrap() {
        let ep = entry.unwrap().path().join("entry_points.txt");
        if let Ok(bytes) = std::fs::read(ep) {
            let parsed = fixup_hooks::venv::entry_points::parse(&bytes, 11);
            names.extend(parsed.scripts.into_iter().map(|s| s.name));
        }
    }
    names.sort();
    names
}

fn assert_scripts_run(venv: &Path) {
    let names = entry_point_names(venv);
    assert_eq!(
        names,
        ["fixture-cli", "fixture-gui", "markdown-it", "pygmentize"]
    );
    for name in names {
        let script = venv.join("bin").join(&name);
        let ok = ["--version", "--help"].iter().any(|flag| {
            Command::new(&script)
                .arg(flag)
                .output()
                .unwrap()
                .status
                .success()
        });
        assert!(ok, "{name} does not run");
    }
}

fn assert_venv_is_at(venv: &Path) {
    let python = venv.join("bin/python");
    assert_eq!(
        python_says(&python, "import sys; print(sys.prefix)"),
        venv.to_str().unwrap()
    );
    let base = python_says(Path::new(PYTHON), "import sys; print(sys.prefix)");
    assert_eq!(
        python_says(&python, "import sys; print(sys.base_prefix)"),
        base
    );
}

#[test]
fn restored_venv_runs_from_its_final_place() {
    let (_tmp, venv) = fod_then_moved(false);
    let out = restore(&venv);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_venv_is_at(&venv);
    assert_scripts_run(&venv);
    assert_eq!(
        std::fs::read_link(venv.join("bin/python")).unwrap(),
        Path::new(PYTHON)
    );
    for link in ["python3", "python3.11"] {
        assert_eq!(
            std::fs::read_link(venv.join("bin").join(link)).unwrap(),
            Path::new("python")
        );
    }
    assert_eq!(
        std::fs::read_link(venv.join("lib64")).unwrap(),
        Path::new("lib")
    );
    let cfg = std::fs::read_to_string(venv.join("pyvenv.cfg")).unwrap();
    assert_eq!(
        cfg,
        "home = /usr/bin\nimplementation = CPython\nuv = 0.13.9\nversion_info = 3.11.2\n\
         include-system-site-packages = false\n"
    );
}

#[test]
fn keeps_data_scripts_and_repoints_python_ones() {
    let (_tmp, venv) = fod_then_moved(false);
    assert!(restore(&venv).status.success());
    // The non-entry-point shell script is untouched; the Python one names the venv.
    assert_eq!(
        std::fs::read_to_string(venv.join("bin/fixture-sh")).unwrap(),
        "#!/bin/sh\necho fixture-shell-script\n"
    );
    let out = Command::new(venv.join("bin/fixture-py")).output().unwrap();
    assert_eq!(stdout(&out), "fixture-py-script\n");
    let activate = std::fs::read_to_string(venv.join("bin/activate")).unwrap();
    assert!(activate.contains(&format!("VIRTUAL_ENV='{}'\n", venv.display())));
}

#[test]
fn record_matches_rewritten_scripts() {
    let (_tmp, venv) = fod_then_moved(false);
    assert!(restore(&venv).status.success());
    let site = venv.join("lib/python3.11/site-packages");
    let mut checked = 0;
    for entry in std::fs::read_dir(&site).unwrap() {
        let Ok(record) = std::fs::read_to_string(entry.unwrap().path().join("RECORD")) else {
            continue;
        };
        for line in record.lines().filter(|l| l.starts_with("../../../bin/")) {
            let fields: Vec<&str> = line.split(',').collect();
            let bytes = std::fs::read(site.join(fields[0])).unwrap();
            assert_eq!(fields[1], fixup_hooks::venv::record::hash(&bytes), "{line}");
            assert_eq!(fields[2], bytes.len().to_string(), "{line}");
            checked += 1;
        }
    }
    // 4 entry points and 2 data scripts.
    assert_eq!(checked, 6);
}

/// Checks every RECORD line of `venv` against its file (RECORD's own line stays blank);
/// returns how many lines were checked.
fn assert_every_record_line_true(venv: &Path) -> usize {
    let site = venv.join("lib/python3.11/site-packages");
    let mut checked = 0;
    for entry in std::fs::read_dir(&site).unwrap() {
        let dist_info = entry.unwrap().path();
        let Ok(record) = std::fs::read_to_string(dist_info.join("RECORD")) else {
            continue;
        };
        let own = format!(
            "{}/RECORD",
            dist_info.file_name().unwrap().to_string_lossy()
        );
        for line in record.lines() {
            let fields: Vec<&str> = line.rsplitn(3, ',').collect();
            let [size, digest, path] = fields[..] else {
                panic!("{line}")
            };
            if path == own {
                assert_eq!((digest, size), ("", ""), "{line}");
                continue;
            }
            let bytes = std::fs::read(site.join(path)).unwrap();
            assert_eq!(digest, fixup_hooks::venv::record::hash(&bytes), "{line}");
            assert_eq!(size, bytes.len().to_string(), "{line}");
            checked += 1;
        }
    }
    checked
}

#[test]
fn every_record_digest_matches_its_file_after_restore() {
    // prepare blanked the digests of the files naming the store (the scripts' shebangs),
    // strip-store-refs changed them, restore rewrote them: every line but RECORD's own holds.
    let (_tmp, venv) = fod_then_moved(false);
    assert!(restore(&venv).status.success());
    let checked = assert_every_record_line_true(&venv);
    assert!(checked > 100, "{checked} lines");
}

#[test]
fn a_file_changed_after_prepare_without_a_store_path_gets_its_record_line_back() {
    // patch-rpaths grows a library whose RUNPATH named no store path: prepare left its
    // digest, the bytes changed after. Restore finds it by its digest.
    let (_tmp, venv) = fod_then_moved(false);
    let site = venv.join("lib/python3.11/site-packages");
    // (A module stands in for the library: the fixture's wheels are pure Python.)
    let changed = site.join("pygments/lexers/python.py");
    let mut bytes = std::fs::read(&changed).unwrap();
    let before = fixup_hooks::venv::record::hash(&bytes);
    bytes.extend_from_slice(b"\n# grown after prepare\n");
    std::fs::write(&changed, &bytes).unwrap();
    let record = std::fs::read_dir(&site)
        .unwrap()
        .map(|e| e.unwrap().path().join("RECORD"))
        .find(|r| r.to_string_lossy().contains("/pygments-"))
        .unwrap();
    assert!(std::fs::read_to_string(&record).unwrap().contains(&before));
    let out = restore(&venv);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_every_record_line_true(&venv);
}

#[test]
fn prepare_removes_bytecode_and_uv_leftovers_and_keeps_bin() {
    let fx = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let venv = tmp.path().join("venv");
    copy_tree(&fx.venv, &venv);
    let before = snapshot(&venv);
    assert!(before.iter().any(|(p, ..)| p.ends_with("__pycache__")));
    let out = run(fix_venv().arg("prepare").arg(&venv));
    assert!(out.status.success());
    let err = stderr(&out);
    assert!(err.contains("remove .lock"), "{err}");
    assert!(err.contains("uv_cache.json"), "{err}");
    assert!(
        err.contains("__pycache__") || err.contains("bytecode"),
        "{err}"
    );
    for (path, ..) in snapshot(&venv) {
        let name = path.file_name().unwrap().to_string_lossy();
        assert!(name != "__pycache__" && !name.ends_with(".pyc") && name != "uv_cache.json");
        assert!(path != venv.join(".lock"));
    }
    for entry in std::fs::read_dir(venv.join("lib/python3.11/site-packages")).unwrap() {
        if let Ok(record) = std::fs::read_to_string(entry.unwrap().path().join("RECORD")) {
            assert!(!record.contains("uv_cache.json"));
        }
    }
    assert!(venv.join("bin/fixture-sh").exists() && venv.join("bin/pygmentize").exists());
    // A second run finds nothing.
    let again = run(fix_venv().arg("prepare").arg(&venv));
    assert!(
        stderr(&again).contains("nothing to change"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn restores_a_tree_whose_bin_was_deleted() {
    let (_tmp, venv) = fod_then_moved(true);
    assert!(!venv.join("bin").exists());
    let out = restore(&venv);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_venv_is_at(&venv);
    assert_scripts_run(&venv);
}

#[test]
fn second_restore_changes_nothing() {
    let (_tmp, venv) = fod_then_moved(false);
    assert!(restore(&venv).status.success());
    let before = snapshot(&venv);
    let out = run(fix_venv()
        .args(["restore", "--report", "json", "--python", PYTHON])
        .arg(&venv));
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("nothing to change"),
        "{}",
        stderr(&out)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["changes"], serde_json::json!([]));
    assert_eq!(snapshot(&venv), before);
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let (_tmp, venv) = fod_then_moved(false);
    let before = snapshot(&venv);
    let out = run(fix_venv()
        .args(["restore", "--dry-run", "--python", PYTHON])
        .arg(&venv));
    assert!(out.status.success());
    let plan = stdout(&out);
    assert!(
        plan.contains(&format!("symlink bin/python -> {PYTHON}")),
        "{plan}"
    );
    assert!(plan.contains("write bin/pygmentize"), "{plan}");
    assert!(plan.contains("write pyvenv.cfg"), "{plan}");
    let paths: Vec<&str> = plan.lines().map(|l| l.split(' ').nth(1).unwrap()).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted, "plan is sorted by path");
    assert_eq!(snapshot(&venv), before);
}

#[test]
fn compiles_unchecked_hash_bytecode_reproducibly() {
    let (_tmp, venv) = fod_then_moved(false);
    let out = run(fix_venv()
        .args([
            "restore",
            "--compile-bytecode",
            "--check-import",
            "pygments.lexers",
            "--python",
            PYTHON,
        ])
        .arg(&venv));
    assert!(out.status.success(), "{}", stderr(&out));
    let pyc =
        venv.join("lib/python3.11/site-packages/fixture_tool/__pycache__/main.cpython-311.pyc");
    let bytes = std::fs::read(&pyc).unwrap();
    // Flags word: 0b01 = hash-based, unchecked.
    assert_eq!(&bytes[4..8], &[1, 0, 0, 0]);
    let before = snapshot(&venv);
    let again = run(fix_venv()
        .args(["restore", "--compile-bytecode", "--python", PYTHON])
        .arg(&venv));
    assert!(again.status.success());
    assert!(
        stderr(&again).contains("0 files written or changed"),
        "{}",
        stderr(&again)
    );
    assert_eq!(snapshot(&venv), before);
}

#[test]
fn compileall_gets_nix_build_cores_workers() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let venv = tmp.path().join("venv");
    let site = skeleton(&venv, "python3.11", "3.11.2");
    write(&site, "m.py", "X = 1\n");
    // PYTHON, logging its arguments.
    let log = tmp.path().join("args.log");
    let python = write(
        tmp.path(),
        "python3.11",
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexec {PYTHON} \"$@\"\n",
            log.display()
        ),
    );
    std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = run(fix_venv()
        .env("NIX_BUILD_CORES", "3")
        .args(["restore", "--compile-bytecode", "--python"])
        .arg(&python)
        .arg(&venv));
    assert!(out.status.success(), "{}", stderr(&out));
    let log = std::fs::read_to_string(&log).unwrap();
    let compile = log
        .lines()
        .find(|l| l.contains("compileall"))
        .unwrap_or_else(|| panic!("compileall not run: {log}"));
    assert!(compile.contains(" -j 3 "), "{compile}");
    assert!(site.join("__pycache__/m.cpython-311.pyc").exists());
}

#[test]
fn failed_import_check_exits_1_with_pythons_error() {
    let (_tmp, venv) = fod_then_moved(false);
    let out = run(fix_venv()
        .args([
            "restore",
            "--check-import",
            "no_such_module",
            "--python",
            PYTHON,
        ])
        .arg(&venv));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("ModuleNotFoundError: No module named 'no_such_module'"));
}

#[test]
fn install_source_adds_a_workspace_member_with_its_scripts() {
    let (tmp, venv) = fod_then_moved(false);
    let member = tmp.path().join("member");
    write(
        &member,
        "pyproject.toml",
        "[project]\nname = \"ws-member\"\nversion = \"0.4.0\"\n\
         [project.scripts]\nws-member = \"ws_member.cli:main\"\n\
         [project.gui-scripts]\nws-member-gui = \"ws_member.cli:main\"\n",
    );
    write(&member, "src/ws_member/__init__.py", "VALUE = 42\n");
    write(
        &member,
        "src/ws_member/cli.py",
        "def main():\n    print('ws-member 0.4.0')\n",
    );
    let out = run(fix_venv()
        .args([
            "restore",
            "--check-import",
            "ws_member",
            "--python",
            PYTHON,
            "--install-source",
        ])
        .arg(&member)
        .arg(&venv));
    assert!(out.status.success(), "{}", stderr(&out));
    for name in ["ws-member", "ws-member-gui"] {
        let out = Command::new(venv.join("bin").join(name)).output().unwrap();
        assert_eq!(stdout(&out), "ws-member 0.4.0\n");
    }
    let dist = venv.join("lib/python3.11/site-packages/ws_member-0.4.0.dist-info");
    let record = std::fs::read_to_string(dist.join("RECORD")).unwrap();
    assert!(
        record.contains("../../../bin/ws-member,sha256="),
        "{record}"
    );
    assert!(record.contains("ws_member/cli.py,sha256="), "{record}");
    assert!(
        record.contains("ws_member-0.4.0.dist-info/RECORD,,"),
        "{record}"
    );
    assert!(dist.join("METADATA").exists() && dist.join("INSTALLER").exists());
    // And it is idempotent too.
    let before = snapshot(&venv);
    let again = run(fix_venv()
        .args(["restore", "--python", PYTHON, "--install-source"])
        .arg(&member)
        .arg(&venv));
    assert!(
        stderr(&again).contains("nothing to change"),
        "{}",
        stderr(&again)
    );
    assert_eq!(snapshot(&venv), before);
}

// `fix-venv diff OLD NEW`: two builds of one tree, each difference named with its likely cause.

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
