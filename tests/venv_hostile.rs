//! Hostile input: entry points that try to leave bin/ or inject code, symlinks planted in
//! bin/, and a venv for another Python. Each is refused by name and nothing lands outside.

mod venv_common;

use std::os::unix::fs::symlink;
use std::path::Path;

use venv_common::*;

const HOSTILE: &[u8] = b"[console_scripts]\n\
good = good_mod:main\n\
../../escape = good_mod:main\n\
/abs/evil = good_mod:main\n\
dots..name = good_mod:main\n\
sys-call = os:system('touch /tmp/pwned')\n\
semicolon = a; import os\n\
semi-attr = a:b; import os\n\
esc\x1bname = good_mod:main\n\
cr\rname = good_mod:main\n\
python3 = good_mod:main\n\
no-colon = good_mod\n\
\n\
[gui_scripts]\n\
gui-ok = good_mod:gui [extra]\n\
gui-bad = good_mod:gui()\n";

fn hostile_venv(tmp: &Path) -> std::path::PathBuf {
    let venv = tmp.join("venv");
    let site = skeleton(&venv, "python3.11", "3.11.7");
    write(
        &site,
        "good_mod.py",
        "def main():\n    print('good')\n\ndef gui():\n    print('gui')\n",
    );
    write(&site, "evil-1.0.dist-info/entry_points.txt", HOSTILE);
    write(&site, "evil-1.0.dist-info/RECORD", "good_mod.py,,\n");
    venv
}

#[test]
fn refuses_hostile_entry_points_and_writes_only_the_good_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let venv = hostile_venv(tmp.path());
    let out = run(fix_venv().args(["restore", "--python", PYTHON]).arg(&venv));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    let ep = "lib/python3.11/site-packages/evil-1.0.dist-info/entry_points.txt";
    for line in [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 16] {
        assert!(
            err.contains(&format!("warning: {ep}: line {line}: ")),
            "line {line} not refused:\n{err}"
        );
    }
    let mut bin: Vec<String> = std::fs::read_dir(venv.join("bin"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    bin.sort();
    assert_eq!(bin, ["good", "gui-ok", "python", "python3", "python3.11"]);
    // Nothing outside the venv: the temp dir holds only it.
    let outside: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(outside, ["venv"]);
    assert!(!Path::new("/abs/evil").exists());
    let good = std::process::Command::new(venv.join("bin/good"))
        .output()
        .unwrap();
    assert_eq!(stdout(&good), "good\n");
}

#[test]
fn replaces_a_symlink_in_bin_instead_of_writing_through_it() {
    let tmp = tempfile::tempdir().unwrap();
    let venv = hostile_venv(tmp.path());
    let victim = write(tmp.path(), "victim.txt", "untouched\n");
    std::fs::create_dir(venv.join("bin")).unwrap();
    symlink(&victim, venv.join("bin/good")).unwrap();
    let out = run(fix_venv().args(["restore", "--python", PYTHON]).arg(&venv));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched\n");
    let meta = std::fs::symlink_metadata(venv.join("bin/good")).unwrap();
    assert!(meta.file_type().is_file());
}

#[test]
fn refuses_a_bin_directory_that_is_a_symlink() {
    let tmp = tempfile::tempdir().unwrap();
    let venv = hostile_venv(tmp.path());
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    symlink(&elsewhere, venv.join("bin")).unwrap();
    let out = run(fix_venv().args(["restore", "--python", PYTHON]).arg(&venv));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("bin"), "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
}

#[test]
fn venv_for_another_python_is_a_clear_error_and_nothing_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let venv = tmp.path().join("venv");
    let site = skeleton(&venv, "python3.12", "3.12.4");
    write(
        &site,
        "x-1.0.dist-info/entry_points.txt",
        "[console_scripts]\nx = x:main\n",
    );
    let before = snapshot(&venv);
    let out = run(fix_venv().args(["restore", "--python", PYTHON]).arg(&venv));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("lib/python3.12/site-packages"), "{err}");
    assert!(err.contains("lib/python3.11/site-packages"), "{err}");
    assert!(err.contains(PYTHON), "{err}");
    assert_eq!(snapshot(&venv), before);
}

#[test]
fn usage_errors_exit_2() {
    let out = run(fix_venv().args(["restore", "/nonexistent-venv"]));
    assert_eq!(out.status.code(), Some(2));
    let out = run(fix_venv().args(["restore", "--python", PYTHON, "--check-import", "os;x", "."]));
    assert_eq!(out.status.code(), Some(2));
    let out = run(fix_venv().args(["prepare", "/nonexistent-venv"]));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn missing_python_or_install_source_is_a_usage_error_naming_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let venv = tmp.path().join("venv");
    skeleton(&venv, "python3.11", "3.11.7");
    let before = snapshot(&venv);
    let out = run(fix_venv()
        .args(["restore", "--python", "/nonexistent/bin/python3.11"])
        .arg(&venv));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("/nonexistent/bin/python3.11"),
        "{}",
        stderr(&out)
    );
    let missing = tmp.path().join("no-such-member");
    let out = run(fix_venv()
        .args(["restore", "--python", PYTHON, "--install-source"])
        .arg(&missing)
        .arg(&venv));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&missing.display().to_string()),
        "{}",
        stderr(&out)
    );
    assert_eq!(snapshot(&venv), before);
}

#[test]
fn json_report_lists_refusals() {
    let tmp = tempfile::tempdir().unwrap();
    let venv = hostile_venv(tmp.path());
    let out = run(fix_venv()
        .args([
            "restore",
            "--dry-run",
            "--report",
            "json",
            "--python",
            PYTHON,
        ])
        .arg(&venv));
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["command"], "restore");
    assert_eq!(json["warnings"].as_array().unwrap().len(), 11);
    assert!(!venv.join("bin").exists(), "dry run created bin/");
}
