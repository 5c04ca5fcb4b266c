//! Kills inside a precise window: each test holds one system call open with
//! `strace -e inject=…:delay_enter` to kill the tool inside it (between a temporary file and
//! its rename, while a read-only file is writable, between a hash's prefixed and bare
//! occurrences); they fail without strace (scripts/install-deps installs it) rather than pass
//! without checking anything. Small trees built here, no fixture (crash_kill has the random
//! kills over the fixture).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::common::{self, StripRun};
use crate::support::reliability::{self as rc, is_patch_temp, is_strip_temp};

/// Runs `tool` under strace with `syscalls` delayed by 3 s (only those touching `only_path`,
/// when given); once `ready()` holds, kills the tool (not strace) and waits for both.
/// Fails when strace is missing.
fn kill_inside_window(
    tool: Command,
    syscalls: &str,
    only_path: Option<&Path>,
    log: &Path,
    mut ready: impl FnMut() -> bool,
) {
    let strace = rc::strace()
        .expect("strace holds the system call open: install it (scripts/install-deps does)");
    let mut cmd = rc::under_strace(
        &strace,
        &tool,
        syscalls,
        Duration::from_secs(3),
        only_path,
        log,
    );
    let mut tracer = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("strace starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        if let Some(status) = tracer.try_wait().unwrap() {
            panic!(
                "the tool finished ({status}) before the window opened; strace log:\n{}",
                fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "the window never opened");
        std::thread::sleep(Duration::from_millis(5));
    }
    let kids = rc::children_of(tracer.id());
    assert_eq!(kids.len(), 1, "strace runs exactly the tool: {kids:?}");
    rc::sigkill(kids[0]);
    let status = rc::wait_within(&mut tracer, Duration::from_secs(30)).unwrap_or_else(|| {
        let _ = tracer.kill();
        panic!("strace did not end after its tracee was killed");
    });
    let _ = status;
}

fn entries_named(dir: &Path, pred: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| pred(p))
        .collect()
}

#[test]
fn strip_store_refs_killed_between_temp_symlink_and_rename_is_cleaned_up_by_the_rerun() {
    let t = tempfile::tempdir().unwrap();
    let python = common::store_path(7, "python3-3.11.2");
    let make = |root: &Path| {
        common::write(root, "lib/data.txt", format!("prefix {python}/lib tail"));
        fs::create_dir_all(root.join("bin")).unwrap();
        std::os::unix::fs::symlink(format!("{python}/bin/python3.11"), root.join("bin/python"))
            .unwrap();
    };
    let (root, control) = (t.path().join("out"), t.path().join("control"));
    make(&root);
    make(&control);
    let before = rc::tree(&root);
    StripRun::new().path(&control).run().ok();
    let tool = StripRun::new().path(&root).command();
    let bin = root.join("bin");
    kill_inside_window(
        tool,
        "rename,renameat,renameat2",
        None,
        &t.path().join("strace.log"),
        || !entries_named(&bin, is_strip_temp).is_empty(),
    );
    let now = rc::tree(&root);
    let (added, removed) = rc::added_and_removed(&before, &now);
    assert!(removed.is_empty(), "lost {removed:?}");
    assert_eq!(
        now[Path::new("bin/python")],
        before[Path::new("bin/python")],
        "the symlink itself is untouched until the rename"
    );
    // SIGKILL cannot be caught: the temporary link stays until a run removes it.
    assert_eq!(added.len(), 1, "{added:?}");
    assert!(is_strip_temp(&added[0]), "{added:?}");

    let rerun = StripRun::new().path(&root).run().ok();
    assert!(
        rc::text(&rerun.stderr).contains("left by a killed run"),
        "the re-run says what it removed: {}",
        rc::text(&rerun.stderr)
    );
    assert!(
        rc::tree(&root) == rc::tree(&control),
        "the re-run reaches the uninterrupted result"
    );
}

#[test]
fn patch_rpaths_killed_between_temp_file_and_rename_is_cleaned_up_by_the_rerun() {
    let t = tempfile::tempdir().unwrap();
    let fx = rc::ElfFixture::build(t.path(), None);
    let (root, control) = (t.path().join("out"), t.path().join("control"));
    for dir in [&root, &control] {
        fs::create_dir_all(dir).unwrap();
        fs::copy(&fx.module, dir.join("module.so")).unwrap();
    }
    // A RUNPATH longer than the stripped one: appended, so written through a temporary copy
    // (a same-length one is one write in place, with no temporary file to leave).
    let patch_rpaths = || {
        let mut cmd = fx.patch_rpaths();
        cmd.args([
            "--append-rpath",
            "/run/opengl-driver/lib/and/a/longer/entry",
        ]);
        cmd
    };
    let uninterrupted = patch_rpaths().arg(&control).output().unwrap();
    assert!(uninterrupted.status.success());
    let before = rc::tree(&root);
    let mut tool = patch_rpaths();
    tool.arg(&root);
    kill_inside_window(
        tool,
        "rename,renameat,renameat2",
        None,
        &t.path().join("strace.log"),
        || !entries_named(&root, is_patch_temp).is_empty(),
    );
    let now = rc::tree(&root);
    assert_eq!(
        now[Path::new("module.so")],
        before[Path::new("module.so")],
        "the original is wholly before until the rename"
    );
    let (added, _) = rc::added_and_removed(&before, &now);
    assert_eq!(added.len(), 1, "{added:?}");
    assert!(is_patch_temp(&added[0]), "{added:?}");

    let rerun = patch_rpaths().arg(&root).output().unwrap();
    assert!(rerun.status.success(), "{}", rc::text(&rerun.stderr));
    assert!(
        rc::text(&rerun.stderr).contains("left by a killed run"),
        "the re-run says what it removed: {}",
        rc::text(&rerun.stderr)
    );
    assert!(
        rc::tree(&root) == rc::tree(&control),
        "the re-run reaches the uninterrupted result"
    );
}

#[test]
fn strip_store_refs_killed_while_writing_a_read_only_file_keeps_its_mode() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("out");
    let file = common::write(
        &root,
        "share/ro.txt",
        format!("x {} y", common::store_path(9, "zlib-1.3.1")),
    );
    rc::set_mode(&file, 0o444);
    let tool = StripRun::new().path(&root).command();
    // Hold the write of the reference open and kill the tool inside it. The mode may only be
    // lifted when the owner could not write otherwise (never as root), so a kill leaves it.
    let log = t.path().join("strace.log");
    kill_inside_window(tool, "pwrite64", Some(&file), &log, || {
        fs::read_to_string(&log).is_ok_and(|l| l.contains("pwrite64"))
    });
    assert_eq!(
        fs::read_to_string(&file).unwrap(),
        format!("x {} y", common::store_path(9, "zlib-1.3.1")),
        "the reference was not written yet"
    );
    let killed_mode = rc::mode_of(&file);
    StripRun::new().path(&root).run().ok();
    assert_eq!(
        fs::read_to_string(&file).unwrap(),
        format!(
            "x {} y",
            common::neutral(&common::store_path(9, "zlib-1.3.1"))
        )
    );
    assert_eq!(
        (killed_mode, rc::mode_of(&file)),
        (0o444, 0o444),
        "(mode after the kill, mode after the re-run)"
    );
}

#[test]
fn strip_store_refs_rerun_after_a_kill_still_neutralises_bare_hashes() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("out");
    let pq = common::store_path(11, "postgresql-15.18-lib");
    let hash = &pq["/nix/store/".len().."/nix/store/".len() + 32];
    // Sorted first, so with -j1 it is written first: the prefixed occurrence.
    let prefixed = common::write(&root, "a-libpq.pc", format!("libdir={pq}/lib\n"));
    // The bare occurrence (as in the fixture's build-inputs.json).
    let bare = common::write(
        &root,
        "b-inputs.json",
        format!("{{\"hash\": \"{hash}\"}}\n"),
    );
    let tool = StripRun::new().jobs(1).path(&root).command();
    let neutralised = format!("libdir={}/lib\n", common::neutral(&pq));
    // Bare hashes are written first: hold the prefixed write open once the bare one is done.
    kill_inside_window(
        tool,
        "pwrite64",
        Some(&prefixed),
        &t.path().join("strace.log"),
        || fs::read_to_string(&bare).unwrap() == format!("{{\"hash\": \"{}\"}}\n", "e".repeat(32)),
    );
    assert_eq!(
        fs::read_to_string(&prefixed).unwrap(),
        format!("libdir={pq}/lib\n"),
        "killed before the prefixed occurrence was written: the hash stays recognisable"
    );
    StripRun::new().path(&root).run().ok();
    assert_eq!(fs::read_to_string(&prefixed).unwrap(), neutralised);
    assert_eq!(
        fs::read_to_string(&bare).unwrap(),
        format!("{{\"hash\": \"{}\"}}\n", "e".repeat(32)),
        "the re-run reaches what an uninterrupted run makes"
    );
}
