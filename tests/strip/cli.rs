//! strip-store-refs as a user runs it: one test per promised behaviour.

use crate::support::common;

use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::time::{Duration, Instant};

use common::*;

#[test]
fn neutralises_only_the_hash_bytes_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let py = store_path(1, "python3-3.11.7");
    let before = format!("#!{py}/bin/python\0binary\x7fELF {py}/lib\n");
    let f = write(dir.path(), "venv/bin/tool", &before);
    let inode = fs::metadata(&f).unwrap().ino();

    let out = StripRun::new().path(dir.path()).run().ok();

    let after = fs::read(&f).unwrap();
    assert_eq!(after, before.replace(&py, &neutral(&py)).into_bytes());
    assert_eq!(fs::metadata(&f).unwrap().ino(), inode, "rewritten in place");
    assert!(
        stderr(&out).contains(&format!("neutralised {py}")),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("2 occurrences in 1 file"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn second_run_is_a_byte_identical_no_op() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a",
        format!("{} {}", store_path(1, "a"), hash(1)),
    );
    symlink(store_path(2, "b"), dir.path().join("l")).unwrap();
    StripRun::new().path(dir.path()).run().ok();
    let once = snapshot(dir.path());
    let out = StripRun::new().path(dir.path()).run().ok();
    assert_eq!(snapshot(dir.path()), once);
    assert!(
        stderr(&out).contains("changed 0 files and 0 symlinks"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn rewrites_symlink_targets_under_the_same_name() {
    let dir = tempfile::tempdir().unwrap();
    let py = store_path(3, "python3-3.11.7");
    symlink(format!("{py}/bin/python3.11"), dir.path().join("python")).unwrap();
    symlink("python", dir.path().join("python3")).unwrap();

    let out = StripRun::new().path(dir.path()).run().ok();
    assert_eq!(
        fs::read_link(dir.path().join("python"))
            .unwrap()
            .to_str()
            .unwrap(),
        format!("{}/bin/python3.11", neutral(&py))
    );
    assert_eq!(
        fs::read_link(dir.path().join("python3"))
            .unwrap()
            .to_str()
            .unwrap(),
        "python"
    );
    assert!(
        stderr(&out).contains("changed 0 files and 1 symlink;"),
        "{}",
        stderr(&out)
    );
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "no temporary link left behind: {names:?}");
}

#[test]
fn names_holding_a_reference_are_errors_and_not_renamed() {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("{}-source", hash(4));
    write(dir.path(), &format!("{name}/file"), "clean");
    write(dir.path(), "other", store_path(5, "zlib"));

    let out = StripRun::new().path(dir.path()).run();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{name}: its name holds a store reference")),
        "{err}"
    );
    assert!(
        dir.path().join(&name).join("file").exists(),
        "never renamed"
    );
    // The rest of the tree was still processed.
    assert_eq!(
        fs::read_to_string(dir.path().join("other")).unwrap(),
        neutral(&store_path(5, "zlib"))
    );
}

#[test]
fn bare_hashes_of_neutralised_paths_are_neutralised_too() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a", store_path(6, "libxml2"));
    // Only in another file, without the prefix: Nix still counts it.
    let b = write(dir.path(), "b", format!("zz{}zz {}", hash(6), hash(7)));
    StripRun::new().path(dir.path()).run().ok();
    assert_eq!(
        fs::read_to_string(b).unwrap(),
        format!("zz{}zz {}", "e".repeat(32), hash(7))
    );
}

#[test]
fn target_restricts_the_run_to_those_paths() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (store_path(8, "a"), store_path(9, "b"));
    let f = write(dir.path(), "f", format!("{a} {b} {}", hash(8)));
    StripRun::new().args(["-t", &a]).path(dir.path()).run().ok();
    assert_eq!(
        fs::read_to_string(f).unwrap(),
        format!("{} {b} {}", neutral(&a), "e".repeat(32))
    );
}

#[test]
fn keep_spares_globs_store_paths_and_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let (py, libc, z, q) = (
        store_path(10, "python3-3.11.7"),
        store_path(11, "glibc-2.40"),
        store_path(12, "zlib"),
        store_path(13, "q"),
    );
    let text = format!("{py} {libc} {z} {q}");
    let f = write(dir.path(), "f", &text);
    StripRun::new()
        .args([
            "--keep",
            "*-python3-*",
            "--keep",
            "glibc-*",
            "--keep",
            &z,
            "--keep",
            &hash(13),
        ])
        .path(dir.path())
        .run()
        .ok();
    assert_eq!(fs::read_to_string(&f).unwrap(), text);
    let check = StripRun::new()
        .args(["--check", "--keep", "*"])
        .path(dir.path())
        .run();
    assert!(
        check.status.success(),
        "kept references do not count as remaining"
    );
    assert!(
        stderr(&check).contains(&format!("kept {py}")),
        "a check that passes says what it spared: {}",
        stderr(&check)
    );
}

#[test]
fn also_hash_neutralises_a_hash_seen_only_bare() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "f", format!("self={}", hash(14)));
    StripRun::new()
        .args(["--also-hash", &hash(14)])
        .path(dir.path())
        .run()
        .ok();
    assert_eq!(
        fs::read_to_string(f).unwrap(),
        format!("self={}", "e".repeat(32))
    );
}

#[test]
fn check_lists_each_remaining_reference_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let py = store_path(15, "python3");
    write(dir.path(), "x/cfg", format!("home = {py}/bin\n"));
    symlink(format!("{py}/bin/python"), dir.path().join("x/python")).unwrap();
    let before = snapshot(dir.path());

    let out = StripRun::new().arg("--check").path(dir.path()).run();
    assert_eq!(out.status.code(), Some(1));
    let d = dir.path().display();
    assert_eq!(
        stdout(&out),
        format!("{d}/x/cfg:18 {py}\n{d}/x/python:11 {py} (symlink target)\n")
    );
    assert_eq!(snapshot(dir.path()), before, "--check changes nothing");

    StripRun::new().path(dir.path()).run().ok();
    let clean = StripRun::new().arg("--check").path(dir.path()).run();
    assert_eq!(clean.status.code(), Some(0), "{}", stdout(&clean));
    assert_eq!(stdout(&clean), "");
}

#[test]
fn dry_run_changes_nothing_and_lists_what_it_would_do() {
    let dir = tempfile::tempdir().unwrap();
    let p = store_path(16, "krb5");
    write(dir.path(), "f", &p);
    let before = snapshot(dir.path());
    let out = StripRun::new().arg("--dry-run").path(dir.path()).run().ok();
    assert_eq!(snapshot(dir.path()), before);
    assert!(
        stdout(&out).contains(&format!("/f:11 {p}")),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("would change 1 file"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn read_only_file_is_written_and_its_mode_restored() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "ro", store_path(17, "x"));
    fs::set_permissions(&f, fs::Permissions::from_mode(0o444)).unwrap();
    let ro_dir = dir.path().join("rodir");
    fs::create_dir(&ro_dir).unwrap();
    symlink(store_path(18, "y"), ro_dir.join("l")).unwrap();
    fs::set_permissions(&ro_dir, fs::Permissions::from_mode(0o555)).unwrap();

    StripRun::new().path(dir.path()).run().ok();
    assert_eq!(
        fs::read_to_string(&f).unwrap(),
        neutral(&store_path(17, "x"))
    );
    assert_eq!(fs::metadata(&f).unwrap().mode() & 0o7777, 0o444);
    assert_eq!(
        fs::read_link(ro_dir.join("l")).unwrap().to_str().unwrap(),
        neutral(&store_path(18, "y"))
    );
    assert_eq!(fs::metadata(&ro_dir).unwrap().mode() & 0o7777, 0o555);
    fs::set_permissions(&ro_dir, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn hard_links_survive_and_are_written_once() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a", store_path(19, "x"));
    fs::hard_link(&a, dir.path().join("b")).unwrap();
    let out = StripRun::new().path(dir.path()).run().ok();
    assert_eq!(fs::metadata(&a).unwrap().nlink(), 2);
    assert_eq!(
        fs::read_to_string(dir.path().join("b")).unwrap(),
        neutral(&store_path(19, "x"))
    );
    assert!(stderr(&out).contains("changed 1 file "), "{}", stderr(&out));
}

#[test]
fn files_without_references_are_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let clean = write(dir.path(), "clean", "nothing here");
    write(dir.path(), "dirty", store_path(20, "x"));
    let old = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    fs::File::options()
        .write(true)
        .open(&clean)
        .unwrap()
        .set_modified(old)
        .unwrap();
    StripRun::new().path(dir.path()).run().ok();
    assert_eq!(fs::metadata(&clean).unwrap().modified().unwrap(), old);
}

#[test]
fn fifos_are_skipped_without_being_opened() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    write(dir.path(), "f", store_path(21, "x"));
    let start = Instant::now();
    let out = StripRun::new().path(dir.path()).run();
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "opening a FIFO would block"
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("fifo: skipped"), "{}", stderr(&out));
}

#[test]
fn unreadable_file_is_an_error_naming_it_and_the_rest_is_done() {
    let dir = tempfile::tempdir().unwrap();
    let secret = write(dir.path(), "secret", store_path(22, "x"));
    let other = write(dir.path(), "other", store_path(23, "y"));
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o000)).unwrap();
    let mut cmd = tool("strip-store-refs");
    if is_root() {
        // Root reads anything: run as an ordinary user who owns the tree instead.
        for p in [dir.path(), &secret, &other] {
            std::os::unix::fs::chown(p, Some(65534), Some(65534)).unwrap();
        }
        let exe = cmd.get_program().to_owned();
        cmd = std::process::Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(exe);
    }
    let out = run(cmd.arg(dir.path()));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "{}: cannot read: Permission denied",
            secret.display()
        )),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        fs::read_to_string(&other).unwrap(),
        neutral(&store_path(23, "y"))
    );
}

#[test]
fn json_report_is_complete_and_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..40u64 {
        write(
            dir.path(),
            &format!("d{}/f{i}", i % 3),
            format!("{} {}", store_path(i % 4, "p"), store_path(100, "q")),
        );
    }
    let report = |jobs: &str| {
        let out = StripRun::new()
            .args(["--dry-run", "--report", "json", "-j", jobs])
            .path(dir.path())
            .run()
            .ok();
        stdout(&out)
    };
    let one = report("1");
    assert_eq!(one, report("4"), "same bytes whatever the parallelism");
    let json: serde_json::Value = serde_json::from_str(&one).unwrap();
    assert_eq!(json["files_scanned"], 40);
    assert_eq!(json["store_paths"].as_array().unwrap().len(), 5);
    assert_eq!(json["references"].as_array().unwrap().len(), 80);
    let q = json["store_paths"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "q")
        .unwrap();
    assert_eq!(
        (q["occurrences"].as_u64(), q["files"].as_u64()),
        (Some(40), Some(40))
    );
}

#[test]
fn usage_errors_exit_2_and_touch_nothing() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "f", store_path(24, "x"));
    let before = snapshot(dir.path());
    for args in [
        vec![],
        vec![
            "-t".to_string(),
            "/usr/lib".to_string(),
            dir.path().display().to_string(),
        ],
        vec![
            "--check".into(),
            "--dry-run".into(),
            dir.path().display().to_string(),
        ],
        vec![dir.path().join("missing").display().to_string()],
    ] {
        let out = StripRun::new().args(&args).run();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn store_dir_comes_from_the_environment_or_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("/gnu/store/{}-guile", hash(25));
    let f = write(dir.path(), "f", &text);
    StripRun::new().path(dir.path()).run().ok();
    assert_eq!(
        fs::read_to_string(&f).unwrap(),
        text,
        "not under /nix/store"
    );
    StripRun::new()
        .env("NIX_STORE", "/gnu/store")
        .path(dir.path())
        .run()
        .ok();
    assert_eq!(
        fs::read_to_string(&f).unwrap(),
        format!("/gnu/store/{}-guile", "e".repeat(32))
    );
    let g = write(dir.path(), "g", &text);
    StripRun::new()
        .args(["--store-dir", "/gnu/store/"])
        .path(dir.path())
        .run()
        .ok();
    assert_ne!(fs::read_to_string(&g).unwrap(), text);
}

#[test]
fn empty_files_and_references_across_read_chunks() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "empty", "");
    let p = store_path(26, "libpq-15");
    let mut big = vec![0u8; 5 << 20];
    let mut expected = big.clone();
    // Around every 1 MiB seam, and at the very end.
    let mut at = vec![(1 << 20) - 20, (2 << 20) - 1, (3 << 20) - 60];
    at.push(big.len() - p.len());
    for &i in &at {
        big[i..i + p.len()].copy_from_slice(p.as_bytes());
        expected[i..i + p.len()].copy_from_slice(neutral(&p).as_bytes());
    }
    let f = write(dir.path(), "big", &big);
    let out = StripRun::new().path(dir.path()).run().ok();
    assert!(fs::read(&f).unwrap() == expected);
    assert!(
        stderr(&out).contains("4 occurrences in 1 file"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn env_candidates_neutralises_bare_hashes_of_store_paths_in_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("dep={} other={}", hash(27), hash(28));
    let f = write(dir.path(), "f", &text);
    StripRun::new()
        .env("buildInputs", format!("{} /usr", store_path(27, "libxml2")))
        .path(dir.path())
        .run()
        .ok();
    assert_eq!(
        fs::read_to_string(&f).unwrap(),
        text,
        "without the flag the bare hash is unknown"
    );
    StripRun::new()
        .env("buildInputs", format!("{} /usr", store_path(27, "libxml2")))
        .arg("--env-candidates")
        .path(dir.path())
        .run()
        .ok();
    assert_eq!(
        fs::read_to_string(&f).unwrap(),
        format!("dep={} other={}", "e".repeat(32), hash(28))
    );
}

#[test]
fn a_killed_runs_temporary_symlink_is_removed_and_look_alikes_are_kept() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("out");
    let python = store_path(7, "python3-3.11.2");
    write(&root, "lib/data.txt", format!("prefix {python}/lib tail"));
    // What a kill between making the new link and renaming it over the old one leaves: a
    // link to the neutralised target, under a name pid 0 (no process) would have used.
    let stale = root.join("lib/.strip-store-refs.0.3");
    std::os::unix::fs::symlink(neutral(&python), &stale).unwrap();
    let look_alike = write(&root, "lib/.strip-store-refs.0.4", "a user's file");
    let dry = StripRun::new().arg("--dry-run").path(&root).run().ok();
    assert!(
        stale.symlink_metadata().is_ok(),
        "a dry run removes nothing"
    );
    assert!(
        stderr(&dry).contains(&format!(
            "would remove {}: left by a killed run",
            stale.display()
        )),
        "{}",
        stderr(&dry)
    );
    let out = StripRun::new().path(&root).run().ok();
    assert!(stale.symlink_metadata().is_err(), "removed");
    assert!(
        stderr(&out).contains(&format!(
            "removed {}: left by a killed run",
            stale.display()
        )),
        "{}",
        stderr(&out)
    );
    assert_eq!(fs::read_to_string(&look_alike).unwrap(), "a user's file");
}

#[test]
fn overlapping_roots_are_walked_and_written_once() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("out");
    let sp = store_path(3, "zlib-1.3.1");
    let file = write(&root, "lib/sub/a.txt", format!("x {sp} y"));
    let sub = root.join("lib/sub");
    let out = StripRun::new()
        .path(&sub)
        .path(&root)
        .path(&root)
        .json()
        .run()
        .ok();
    let report = out.report();
    assert_eq!(report["files_scanned"], 1, "{report}");
    assert_eq!(report["references"].as_array().unwrap().len(), 1);
    assert_eq!(
        fs::read_to_string(&file).unwrap(),
        format!("x {} y", neutral(&sp))
    );
}

/// `strace` on `PATH`, if it is installed.
fn strace() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("strace"))
        .find(|p| p.is_file())
}

/// When the hashes to neutralise are known before the walk (`--env-candidates`, in a Nix
/// build its inputs and outputs), each file is opened once to be read, relative to its
/// directory, and stat'ed once, through that descriptor; a file whose contents change is
/// opened once more, for the write, relative to its directory while still open from its scan:
/// never looked up by its path again, nor stat'ed again.
#[test]
fn with_hashes_known_up_front_each_file_is_opened_and_stat_ed_once() {
    let Some(strace) = strace() else {
        eprintln!("strace is not installed: skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("out");
    let (a, b) = (store_path(40, "python3"), store_path(41, "zlib"));
    let hash_b = &b["/nix/store/".len().."/nix/store/".len() + 32];
    let changed = ["f-prefixed.txt", "f-bare.json", "f-both.txt"];
    write(&root, "lib/f-prefixed.txt", format!("x {a}/bin/python y"));
    write(
        &root,
        "lib/f-bare.json",
        format!("{{\"hash\": \"{hash_b}\"}}"),
    );
    write(&root, "lib/sub/f-both.txt", format!("{b}/lib and {hash_b}"));
    let clean: Vec<String> = (0..5).map(|i| format!("f-clean-{i}.txt")).collect();
    for name in &clean {
        write(&root, &format!("lib/sub/{name}"), "nothing here");
    }
    let (files, dirs) = (changed.len() + clean.len(), 3);
    let log = dir.path().join("strace.log");
    let out = run(std::process::Command::new(strace)
        .args(["-f", "-qq", "-o"])
        .arg(&log)
        .args(["-e", "trace=open,openat,stat,lstat,fstat,newfstatat,statx"])
        .arg(env!("CARGO_BIN_EXE_strip-store-refs"))
        .args(["--env-candidates", "-j", "1"])
        .arg(&root)
        .env_remove("NIX_STORE_DIR")
        .env_remove("NIX_STORE")
        .env("buildInputs", format!("{a} {b}")));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("changed 3 files"), "{}", stderr(&out));
    assert_eq!(
        fs::read_to_string(root.join("lib/sub/f-both.txt")).unwrap(),
        format!("{}/lib and {}", neutral(&b), "e".repeat(32))
    );

    let log = fs::read_to_string(&log).unwrap();
    let main_pid = log.split_whitespace().next().unwrap();
    let calls: Vec<&str> = (log.lines())
        .filter(|l| l.split_whitespace().next() != Some(main_pid))
        .collect();
    let opens = |name: &str, mode: &str| {
        (calls.iter())
            .filter(|l| l.contains("openat(") && l.contains(&format!("\"{name}\"")))
            .filter(|l| l.contains(mode))
            .collect::<Vec<_>>()
    };
    for name in changed
        .iter()
        .copied()
        .chain(clean.iter().map(String::as_str))
    {
        let reads = opens(name, "O_RDONLY");
        let writes = opens(name, "O_RDWR");
        assert_eq!(
            reads.len(),
            1,
            "{name} is opened once to be read: {reads:?}"
        );
        let want_writes = usize::from(changed.contains(&name));
        assert_eq!(writes.len(), want_writes, "{name}: {writes:?}");
        for open in reads.iter().chain(&writes) {
            assert!(
                !open.contains("AT_FDCWD"),
                "{name} is opened relative to its directory: {open}"
            );
        }
        let by_path: Vec<_> = (calls.iter())
            .filter(|l| l.contains(name) && !l.contains("openat("))
            .collect();
        assert!(
            by_path.is_empty(),
            "{name} is never stat'ed by name: {by_path:?}"
        );
    }
    let stats = (calls.iter())
        .filter(|l| {
            ["stat(", "statx(", "fstat(", "newfstatat("]
                .iter()
                .any(|s| l.contains(s))
        })
        .count();
    assert!(
        stats <= files + dirs + 1,
        "at most one stat per entry (and the root's kind): {stats} for {files} files and {dirs} directories\n{}",
        calls.join("\n")
    );
}
