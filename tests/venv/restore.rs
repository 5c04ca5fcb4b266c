//! fix-venv on real venvs made by real uv: prepare in the "FOD", strip-store-refs, a move
//! to the final place, restore; then the venv works from there (`diff`, which explains why
//! two builds of a tree differ, is in diff.rs).

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::venv::*;

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
