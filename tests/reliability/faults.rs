//! Faults and odd input for strip-store-refs and patch-rpaths: permissions, read-only files
//! and directories, files that vanish or grow during the run, symlink loops, FIFOs and
//! sockets, non-UTF-8 names, a 100,000-file tree, 1,000-deep nesting, a sparse file over
//! 4 GiB and a full disk. Each test checks the exit status, that stderr names the path and
//! the cause, that the rest of the tree was processed, and that nothing was lost.
//!
//! Permission tests run the tools as uid 65534 (setpriv) when the tests run as root, since
//! root ignores permission bits. The full-disk tests mount a 1 MiB tmpfs (they say so and
//! pass vacuously where mounting is not allowed).

use crate::support::common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::reliability::{self as rc, Rng, NOBODY};

/// Longer than any of these runs should take: past it the tool is taken to hang.
const HANG: Duration = Duration::from_secs(120);

fn strip() -> Command {
    common::tool("strip-store-refs")
}

/// A file holding one reference to store path `seed`; returns it and what it must become.
fn ref_file(root: &Path, rel: &str, seed: u64) -> (PathBuf, String) {
    let sp = common::store_path(seed, &format!("pkg{seed}-1.0"));
    let path = common::write(root, rel, format!("before {sp}/lib after\n"));
    (path, format!("before {}/lib after\n", common::neutral(&sp)))
}

fn stderr_of(out: &Output) -> String {
    rc::text(&out.stderr)
}

/// Asserts stderr has a line naming `path` (as the tools print it) with `cause`.
fn assert_names(out: &Output, path: &Path, cause: &str) {
    let err = stderr_of(out);
    let shown = path.display().to_string();
    assert!(
        err.lines().any(|l| l.contains(&shown) && l.contains(cause)),
        "stderr has no line naming {shown} with {cause:?}:\n{err}"
    );
}

fn assert_no_panic(out: &Output) {
    assert!(!rc::panicked(out), "the tool crashed: {}", stderr_of(out));
}

/// Makes `dir` (a test's tempdir) and the tree under `root` usable by uid 65534.
fn hand_to_nobody(dir: &Path, root: &Path) {
    if rc::is_root() {
        rc::set_mode(dir, 0o755);
        rc::chown_tree(root, NOBODY, NOBODY);
    }
}

fn rel<'a>(root: &Path, path: &'a Path) -> &'a Path {
    path.strip_prefix(root).unwrap()
}

/// Asserts the tool neither crashed nor failed.
#[track_caller]
fn assert_ok(out: &Output) {
    assert_no_panic(out);
    assert!(out.status.success(), "{}", stderr_of(out));
}

/// strip-store-refs over `root`, within [`HANG`].
fn run_strip(root: &Path) -> (Output, Duration) {
    rc::run_within(strip().arg(root), HANG)
}

/// The fixture's `patch-rpaths --libs … --libc …` over `root`, within [`HANG`].
fn run_patch(fx: &rc::ElfFixture, root: &Path) -> (Output, Duration) {
    rc::run_within(fx.patch_rpaths().arg(root), HANG)
}

/// `cmd ROOT` run as uid 65534 (see [`rc::as_nobody`]), within [`HANG`].
fn run_as_nobody(mut cmd: Command, root: &Path) -> (Output, Duration) {
    cmd.arg(root);
    rc::run_within(&mut rc::as_nobody(cmd), HANG)
}

/// A patch-rpaths test's start: a tempdir, the ELF fixture in it, and its `out` for the tree.
fn patch_scene() -> (tempfile::TempDir, rc::ElfFixture, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let fx = rc::ElfFixture::build(t.path(), None);
    let root = t.path().join("out");
    (t, fx, root)
}

/// A copy of the fixture's module (one needing the patch) at `path`.
fn module_copy(fx: &rc::ElfFixture, path: PathBuf) -> PathBuf {
    fs::copy(&fx.module, &path).unwrap();
    path
}

/// Asserts `m` was patched as the fixture says and nothing else under `root` changed.
#[track_caller]
fn assert_only_patched(fx: &rc::ElfFixture, root: &Path, before: &rc::Tree, m: &Path) {
    assert_eq!(fs::read(m).unwrap(), fx.patched);
    assert_only_changed(root, before, &[m]);
}

/// Asserts that of the tree under `root`, only `changed` differ from `before`.
#[track_caller]
fn assert_only_changed(root: &Path, before: &rc::Tree, changed: &[&Path]) {
    let changed: Vec<&Path> = changed.iter().map(|p| rel(root, p)).collect();
    rc::assert_only_changed(before, &rc::tree(root), &changed);
}

/// Appends `text` to the file at `path`.
fn append(path: &Path, text: &str) {
    use std::io::Write;
    fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Permissions.
// ---------------------------------------------------------------------------------------------

#[test]
fn strip_unreadable_file_and_directory_are_errors_naming_them_and_the_rest_is_done() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("out");
    let (ok, ok_after) = ref_file(&root, "ok.txt", 1);
    let (ok2, ok2_after) = ref_file(&root, "sub/ok2.txt", 2);
    let (secret, _) = ref_file(&root, "secret.txt", 3);
    let (_inner, _) = ref_file(&root, "locked/inner.txt", 4);
    let locked = root.join("locked");
    let _restore = rc::Writable(root.clone());
    hand_to_nobody(t.path(), &root);
    rc::set_mode(&secret, 0o000);
    rc::set_mode(&locked, 0o000);
    let before = rc::tree(&root);

    let (out, _) = run_as_nobody(strip(), &root);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_names(&out, &secret, "cannot read: Permission denied");
    assert_names(&out, &locked, "cannot list: Permission denied");
    assert_eq!(fs::read_to_string(&ok).unwrap(), ok_after);
    assert_eq!(fs::read_to_string(&ok2).unwrap(), ok2_after);
    let after = rc::tree(&root);
    rc::assert_only_changed(&before, &after, &[rel(&root, &ok), rel(&root, &ok2)]);
}

#[test]
fn patch_unreadable_file_and_directory_are_errors_naming_them_and_the_rest_is_done() {
    let (t, fx, root) = patch_scene();
    fs::create_dir_all(root.join("locked")).unwrap();
    let ok = root.join("ok.so");
    let secret = root.join("secret.so");
    let locked = root.join("locked");
    for p in [&ok, &secret, &locked.join("inner.so")] {
        fs::copy(&fx.module, p).unwrap();
    }
    let _restore = rc::Writable(root.clone());
    hand_to_nobody(t.path(), &t.path().join("elf-fixture"));
    hand_to_nobody(t.path(), &root);
    rc::set_mode(&secret, 0o000);
    rc::set_mode(&locked, 0o000);
    let before = rc::tree(&root);

    let (out, _) = run_as_nobody(fx.patch_rpaths(), &root);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_names(&out, &secret, "Permission denied");
    assert_names(&out, &locked, "Permission denied");
    assert_eq!(
        fs::read(&ok).unwrap(),
        fx.patched,
        "the readable sibling is patched"
    );
    assert_only_changed(&root, &before, &[&ok]);
}

/// Read-only file and directory, as root (who needs no write bit) and as their owner; with
/// the hashes found in the tree only, and known before the walk (`--env-candidates`, so the
/// files are written while open from their scan).
#[test]
fn strip_read_only_file_and_directory_are_written_and_their_modes_restored() {
    for (as_owner, known) in [(false, false), (true, false), (false, true), (true, true)] {
        if as_owner && !rc::is_root() {
            continue; // the first round already ran as an ordinary user
        }
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("out");
        let (ro, ro_after) = ref_file(&root, "ro.txt", 10);
        let (rw, rw_after) = ref_file(&root, "rw.txt", 11);
        let (inner, inner_after) = ref_file(&root, "rodir/inner.txt", 12);
        let link_target = format!("{}/lib/libz.so.1", common::store_path(13, "zlib-1.3.1"));
        let link = root.join("rodir/libz.so.1");
        std::os::unix::fs::symlink(&link_target, &link).unwrap();
        let rodir = root.join("rodir");
        let _restore = rc::Writable(root.clone());
        if as_owner {
            hand_to_nobody(t.path(), &root);
        }
        rc::set_mode(&ro, 0o444);
        rc::set_mode(&inner, 0o444);
        rc::set_mode(&rodir, 0o555);
        let ino = fs::metadata(&ro).unwrap().ino();
        let before = rc::tree(&root);

        let mut cmd = strip();
        if known {
            let inputs: Vec<String> = (10..14)
                .map(|seed| common::store_path(seed, "input"))
                .collect();
            cmd.env("buildInputs", inputs.join(" "))
                .arg("--env-candidates");
        }
        cmd.arg(&root);
        let cmd = if as_owner { rc::as_nobody(cmd) } else { cmd };
        let (out, _) = rc::run_within(&mut { cmd }, HANG);
        let who = match (as_owner, known) {
            (false, false) => "as root",
            (true, false) => "as the owner",
            (false, true) => "as root, hashes known up front",
            (true, true) => "as the owner, hashes known up front",
        };
        assert_no_panic(&out);
        assert!(out.status.success(), "{who}: {}", stderr_of(&out));
        assert_eq!(fs::read_to_string(&ro).unwrap(), ro_after, "{who}");
        assert_eq!(fs::read_to_string(&rw).unwrap(), rw_after, "{who}");
        assert_eq!(fs::read_to_string(&inner).unwrap(), inner_after, "{who}");
        assert_eq!(
            fs::read_link(&link).unwrap().to_str().unwrap(),
            common::neutral(&link_target),
            "{who}"
        );
        assert_eq!(rc::mode_of(&ro), 0o444, "{who}: file mode restored");
        assert_eq!(rc::mode_of(&inner), 0o444, "{who}: file mode restored");
        assert_eq!(rc::mode_of(&rodir), 0o555, "{who}: directory mode restored");
        assert_eq!(
            fs::metadata(&ro).unwrap().ino(),
            ino,
            "{who}: written in place"
        );
        assert_only_changed(&root, &before, &[&ro, &rw, &inner, &link]);
    }
}

/// patch-rpaths writes a same-length RUNPATH (this fixture's) in place: a read-only file is
/// made writable for the write (only when its owner could not write it) and its mode put back,
/// and a file in a read-only directory needs no temporary file beside it. Were it refused,
/// that must be a clear error that leaves the original as it was.
#[test]
fn patch_read_only_file_and_directory() {
    for as_owner in [false, true] {
        if as_owner && !rc::is_root() {
            continue;
        }
        let who = if as_owner { "as the owner" } else { "as root" };
        let (t, fx, root) = patch_scene();
        let rodir = root.join("rodir");
        fs::create_dir_all(&rodir).unwrap();
        let ro = root.join("ro.so");
        let rw = root.join("rw.so");
        let inner = rodir.join("inner.so");
        for p in [&ro, &rw, &inner] {
            fs::copy(&fx.module, p).unwrap();
        }
        let _restore = rc::Writable(root.clone());
        if as_owner {
            hand_to_nobody(t.path(), &t.path().join("elf-fixture"));
            hand_to_nobody(t.path(), &root);
        }
        rc::set_mode(&ro, 0o555);
        rc::set_mode(&inner, 0o555);
        rc::set_mode(&rodir, 0o555);
        let before = rc::tree(&root);

        let mut cmd = fx.patch_rpaths();
        cmd.arg(&root);
        let cmd = if as_owner { rc::as_nobody(cmd) } else { cmd };
        let (out, _) = rc::run_within(&mut { cmd }, HANG);
        assert_no_panic(&out);
        assert_eq!(
            fs::read(&ro).unwrap(),
            fx.patched,
            "{who}: read-only file patched"
        );
        assert_eq!(fs::read(&rw).unwrap(), fx.patched, "{who}");
        assert_eq!(rc::mode_of(&ro), 0o555, "{who}: mode kept");
        assert_eq!(rc::mode_of(&rodir), 0o555, "{who}: directory mode kept");
        let inner_now = fs::read(&inner).unwrap();
        if inner_now == fx.patched {
            assert!(out.status.success(), "{who}: {}", stderr_of(&out));
            assert_eq!(rc::mode_of(&inner), 0o555, "{who}");
            eprintln!("{who}: the file in the read-only directory was patched");
        } else {
            assert_eq!(out.status.code(), Some(1), "{who}: {}", stderr_of(&out));
            assert_names(&out, &inner, "Permission denied");
            assert_eq!(inner_now, fs::read(&fx.module).unwrap(), "{who}: untouched");
            eprintln!(
                "{who}: the file in the read-only directory was refused: {}",
                stderr_of(&out)
                    .lines()
                    .find(|l| l.contains("inner.so"))
                    .unwrap_or_default()
            );
        }
        let after = rc::tree(&root);
        let (added, removed) = rc::added_and_removed(&before, &after);
        assert!(
            added.is_empty() && removed.is_empty(),
            "{who}: {added:?} {removed:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Files that vanish or grow during the run.
// ---------------------------------------------------------------------------------------------

/// A tree of `n` small files with a reference each, and `zz-victim` (sorted last): `size`
/// bytes, sparse, with references at its start and end. Returns the small files with what
/// they must become, the victim, and the victim's reference offsets.
fn victim_tree(
    root: &Path,
    n: usize,
    size: u64,
) -> (Vec<(PathBuf, String)>, PathBuf, Vec<u64>, String) {
    use std::os::unix::fs::FileExt;
    let files: Vec<(PathBuf, String)> = (0..n)
        .map(|i| ref_file(root, &format!("f{i:04}.txt"), 100 + i as u64))
        .collect();
    let victim = root.join("zz-victim");
    let sp = format!("{}/lib", common::store_path(999, "victim-1.0"));
    let f = fs::File::create(&victim).unwrap();
    f.set_len(size).unwrap();
    let offsets = vec![0, size - sp.len() as u64];
    for &o in &offsets {
        f.write_all_at(sp.as_bytes(), o).unwrap();
    }
    (files, victim, offsets, sp)
}

/// The victim's hash windows hold either the hash or `e`s, never a mix; returns how many are
/// neutralised.
fn whole_references(bytes: &[u8], offsets: &[u64], sp: &str) -> usize {
    let hash = &sp.as_bytes()[11..43];
    offsets
        .iter()
        .filter(|&&o| {
            let w = &bytes[o as usize + 11..o as usize + 43];
            assert!(
                w == hash || w == [b'e'; 32],
                "half-written reference at {o}: {:?}",
                String::from_utf8_lossy(w)
            );
            w != hash
        })
        .count()
}

/// Starts strip-store-refs with `-j 1` over `root`, stderr and stdout piped.
fn spawn_strip(root: &Path) -> std::process::Child {
    strip()
        .args(["-j", "1"])
        .arg(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: std::process::Child) -> Output {
    child.wait_with_output().unwrap()
}

#[test]
fn strip_file_vanishing_between_its_scan_and_its_write_is_an_error_naming_it() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("out");
    let size = 48 << 20;
    let (files, victim, _, _) = victim_tree(&root, 20, size);
    let child = spawn_strip(&root);
    // Once half the victim is read its scan is under way (the other files are tiny): delete
    // it, so that the scan (through its open descriptor) finds the references and the write
    // finds no file.
    assert!(
        rc::wait_for_reads(child.id(), size / 2, HANG),
        "the tool never read half the victim"
    );
    fs::remove_file(&victim).unwrap();
    let out = finish(child);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_names(&out, &victim, "vanished during the run");
    let errors = stderr_of(&out)
        .lines()
        .filter(|l| l.contains("vanished") || l.contains("cannot"))
        .count();
    assert_eq!(
        errors,
        1,
        "only the victim is an error: {}",
        stderr_of(&out)
    );
    for (f, want) in &files {
        assert_eq!(&fs::read_to_string(f).unwrap(), want, "{}", f.display());
    }
    assert!(!victim.exists(), "not re-created");
    assert_eq!(fs::read_dir(&root).unwrap().count(), files.len());
}

#[test]
fn strip_file_growing_during_its_scan_is_neutralised_whole() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("out");
    let size = 48 << 20;
    let (files, victim, mut offsets, sp) = victim_tree(&root, 20, size);
    let child = spawn_strip(&root);
    assert!(rc::wait_for_reads(child.id(), size / 2, HANG));
    // The scan is half-way: what is appended now is read before it reaches the end.
    let tail = format!("\nappended {sp} end\n");
    append(&victim, &tail);
    offsets.push(size + "\nappended ".len() as u64);
    let out = finish(child);
    assert_ok(&out);
    let bytes = fs::read(&victim).unwrap();
    assert_eq!(bytes.len() as u64, size + tail.len() as u64, "nothing lost");
    assert_eq!(
        whole_references(&bytes, &offsets, &sp),
        3,
        "every reference, the appended one too"
    );
    for (f, want) in &files {
        assert_eq!(&fs::read_to_string(f).unwrap(), want);
    }
}

#[test]
fn strip_file_growing_after_its_scan_keeps_the_new_bytes_whole_and_check_names_them() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("out");
    let size = 1 << 20;
    let (files, victim, offsets, sp) = victim_tree(&root, 20, size);
    let child = spawn_strip(&root);
    // The first write means every file was scanned.
    assert!(rc::wait_for_first_write(child.id(), HANG));
    let tail = format!("\nappended {sp} end\n");
    append(&victim, &tail);
    let out = finish(child);
    assert_ok(&out);
    let bytes = fs::read(&victim).unwrap();
    assert_eq!(
        &bytes[size as usize..],
        tail.as_bytes(),
        "appended bytes kept"
    );
    assert_eq!(whole_references(&bytes, &offsets, &sp), 2);
    for (f, want) in &files {
        assert_eq!(&fs::read_to_string(f).unwrap(), want);
    }
    // It came too late to be seen; --check names it, with its file and offset.
    let check = strip().arg("--check").arg(&root).output().unwrap();
    assert_eq!(check.status.code(), Some(1));
    let listing = rc::text(&check.stdout);
    let line = format!(
        "{}:{} {}",
        victim.display(),
        size + "\nappended ".len() as u64 + 11,
        &sp[..sp.len() - 4]
    );
    assert_eq!(listing.trim(), line, "{listing}");
}

/// Statistical: the victim is deleted, or appended to, at a random moment of the run. Either
/// the run is fully correct or it fails with an error naming the victim; the other files are
/// always done; never a crash, never half a reference.
#[test]
fn strip_file_vanishing_or_growing_at_random_moments() {
    let t = tempfile::tempdir().unwrap();
    let size = 24 << 20;
    let calib = t.path().join("calibrate");
    victim_tree(&calib, 20, size);
    let start = Instant::now();
    assert!(finish(spawn_strip(&calib)).status.success());
    let runtime = start.elapsed();
    let mut rng = Rng::from_env("vanish/grow moments");
    let mut outcomes = Vec::new();
    for i in 0..8 {
        let root = t.path().join(format!("try{i}"));
        let (files, victim, offsets, sp) = victim_tree(&root, 20, size);
        let grow = i % 2 == 1;
        let child = spawn_strip(&root);
        let delay = rng.duration(runtime);
        std::thread::sleep(delay);
        let tail = format!("\nappended {sp} end\n");
        if grow {
            append(&victim, &tail);
        } else {
            fs::remove_file(&victim).unwrap();
        }
        let out = finish(child);
        assert_no_panic(&out);
        for (f, want) in &files {
            assert_eq!(&fs::read_to_string(f).unwrap(), want, "try {i}");
        }
        let err = stderr_of(&out);
        // Errors are `strip-store-refs: PATH: cause`.
        let prefix = format!("strip-store-refs: {}", root.display());
        let error_lines: Vec<&str> = err.lines().filter(|l| l.starts_with(&prefix)).collect();
        let outcome = match out.status.code() {
            Some(0) => {
                if grow {
                    let bytes = fs::read(&victim).unwrap();
                    let mut all = offsets.clone();
                    all.push(size + "\nappended ".len() as u64);
                    let done = whole_references(&bytes, &all, &sp);
                    assert!(done >= 2, "try {i}: the scanned references are neutralised");
                    format!("grow after {delay:?}: ok, {done}/3 references neutralised")
                } else {
                    format!("vanish after {delay:?}: ok (gone before the walk or after the write)")
                }
            }
            Some(1) => {
                assert!(
                    !error_lines.is_empty()
                        && error_lines
                            .iter()
                            .all(|l| l.contains(&victim.display().to_string())),
                    "try {i}: every error names the victim: {err}"
                );
                if grow {
                    whole_references(&fs::read(&victim).unwrap(), &offsets, &sp);
                }
                format!(
                    "{} after {delay:?}: {}",
                    if grow { "grow" } else { "vanish" },
                    error_lines[0]
                )
            }
            other => panic!("try {i}: exit {other:?}: {err}"),
        };
        outcomes.push(outcome);
    }
    for o in &outcomes {
        eprintln!("{o}");
    }
}

#[test]
fn patch_file_vanishing_before_its_write_is_an_error_naming_it() {
    let t = tempfile::tempdir().unwrap();
    let fx = rc::ElfFixture::build(t.path(), None);
    let mut hits = 0;
    let mut misses = 0;
    for attempt in 0..5 {
        let root = t.path().join(format!("out{attempt}"));
        fs::create_dir_all(&root).unwrap();
        let others: Vec<PathBuf> = (0..40).map(|i| root.join(format!("m{i:03}.so"))).collect();
        for p in &others {
            fs::copy(&fx.module, p).unwrap();
        }
        let victim = module_copy(&fx, root.join("zz-victim.so"));
        let child = fx
            .patch_rpaths()
            .args(["-j", "1"])
            .arg(&root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Writes go in path order with one worker: the victim's comes after 40 others, each
        // re-mapped, planned, checked and written.
        assert!(rc::wait_for_first_write(child.id(), HANG));
        fs::remove_file(&victim).unwrap();
        let out = finish(child);
        assert_no_panic(&out);
        for p in &others {
            assert_eq!(fs::read(p).unwrap(), fx.patched, "{}", p.display());
        }
        let names: Vec<_> = fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        match out.status.code() {
            Some(1) => {
                assert_names(&out, &victim, "No such file or directory");
                assert_eq!(
                    names.len(),
                    others.len(),
                    "no temporary file left: {names:?}"
                );
                hits += 1;
                break;
            }
            Some(0) => {
                // Patched before the watcher deleted it (a loaded machine): try again.
                assert_eq!(names.len(), others.len(), "{names:?}");
                misses += 1;
            }
            other => panic!("exit {other:?}: {}", stderr_of(&out)),
        }
    }
    eprintln!("patch-rpaths vanish: {hits} hit, {misses} missed");
    assert_eq!(
        hits, 1,
        "the deletion never landed before the victim's write"
    );
}

// ---------------------------------------------------------------------------------------------
// Symlink loops, FIFOs, sockets.
// ---------------------------------------------------------------------------------------------

fn loops(root: &Path) -> Vec<PathBuf> {
    use std::os::unix::fs::symlink;
    fs::create_dir_all(root.join("d/e")).unwrap();
    symlink("b", root.join("a")).unwrap();
    symlink("a", root.join("b")).unwrap();
    symlink("self", root.join("self")).unwrap();
    symlink("..", root.join("d/up")).unwrap();
    symlink("../../d", root.join("d/e/back")).unwrap();
    vec![
        root.join("a"),
        root.join("b"),
        root.join("self"),
        root.join("d/up"),
        root.join("d/e/back"),
    ]
}

#[test]
fn strip_symlink_loops_are_not_followed() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("out");
    let links = loops(&root);
    let (f, f_after) = ref_file(&root, "d/e/f.txt", 20);
    let target = format!("{}/share/x", common::store_path(21, "tzdata-2025b"));
    let store_link = root.join("d/zoneinfo");
    std::os::unix::fs::symlink(&target, &store_link).unwrap();
    let before = rc::tree(&root);
    let (out, took) = run_strip(&root);
    assert_ok(&out);
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert_eq!(fs::read_to_string(&f).unwrap(), f_after);
    assert_eq!(
        fs::read_link(&store_link).unwrap().to_str().unwrap(),
        common::neutral(&target)
    );
    let after = rc::tree(&root);
    for l in &links {
        assert_eq!(before[rel(&root, l)], after[rel(&root, l)]);
    }
    rc::assert_only_changed(&before, &after, &[rel(&root, &f), rel(&root, &store_link)]);
    assert!(
        stderr_of(&out).contains("6 symlinks"),
        "each loop counted once: {}",
        stderr_of(&out)
    );
}

#[test]
fn patch_symlink_loops_are_not_followed() {
    let (_dir, fx, root) = patch_scene();
    loops(&root);
    let m = module_copy(&fx, root.join("d/e/m.so"));
    let before = rc::tree(&root);
    let (out, took) = run_patch(&fx, &root);
    assert_ok(&out);
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert_only_patched(&fx, &root, &before, &m);
}

fn specials(root: &Path) -> (PathBuf, PathBuf, std::os::unix::net::UnixListener) {
    fs::create_dir_all(root).unwrap();
    let fifo = root.join("fifo");
    rc::mkfifo(&fifo);
    let sock = root.join("sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    (fifo, sock, listener)
}

#[test]
fn strip_fifos_and_sockets_are_skipped_and_named() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("out");
    let (fifo, sock, _listener) = specials(&root);
    let (f, f_after) = ref_file(&root, "f.txt", 30);
    let before = rc::tree(&root);
    let (out, took) = run_strip(&root);
    assert_ok(&out);
    assert!(
        took < Duration::from_secs(30),
        "a FIFO was opened: {took:?}"
    );
    assert_names(&out, &fifo, "skipped: not a regular file");
    assert_names(&out, &sock, "skipped: not a regular file");
    assert_eq!(fs::read_to_string(&f).unwrap(), f_after);
    assert_only_changed(&root, &before, &[&f]);
}

#[test]
fn patch_fifos_and_sockets_are_not_opened() {
    let (_dir, fx, root) = patch_scene();
    let (_fifo, _sock, _listener) = specials(&root);
    let m = module_copy(&fx, root.join("m.so"));
    let before = rc::tree(&root);
    let (out, took) = run_patch(&fx, &root);
    assert_ok(&out);
    assert!(
        took < Duration::from_secs(30),
        "a FIFO was opened: {took:?}"
    );
    assert_only_patched(&fx, &root, &before, &m);
    eprintln!(
        "patch-rpaths on a FIFO and a socket: {}",
        stderr_of(&out).lines().next().unwrap_or_default()
    );
}

// ---------------------------------------------------------------------------------------------
// Names that are not UTF-8.
// ---------------------------------------------------------------------------------------------

#[test]
fn strip_non_utf8_names_are_processed_and_printed_lossily() {
    use std::os::unix::ffi::OsStrExt;
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("out");
    fs::create_dir_all(&root).unwrap();
    let sp = common::store_path(40, "libxml2-2.13.8");
    let hash = &sp[11..43];
    // A file and a directory with raw names, a file inside, and a symlink whose name and
    // target both hold raw bytes.
    let file = rc::raw_name(&root, b"caf\xe9-\xff.txt");
    fs::write(&file, format!("x {sp}/lib y")).unwrap();
    let dir = rc::raw_name(&root, b"d\xfe\xfd");
    fs::create_dir(&dir).unwrap();
    let inner = dir.join("inner.txt");
    fs::write(&inner, format!("{sp}/include")).unwrap();
    let link = rc::raw_name(&root, b"link\xff");
    let mut target = format!("{sp}/lib/").into_bytes();
    target.extend_from_slice(b"lib\xff\xfe.so");
    std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&target), &link).unwrap();
    // A raw name that itself holds the hash: an error, which must name it recognisably.
    let named = rc::raw_name(&root, &[b"\xff-".as_slice(), hash.as_bytes()].concat());
    fs::write(&named, "no reference inside").unwrap();
    let before = rc::tree(&root);

    let dry = strip().arg("--dry-run").arg(&root).output().unwrap();
    let listing = rc::text(&dry.stdout);
    assert!(
        listing.contains("caf\u{FFFD}-\u{FFFD}.txt:13 ")
            && listing.contains("d\u{FFFD}\u{FFFD}/inner.txt:11 ")
            && listing.contains("link\u{FFFD}:11 "),
        "each raw name listed lossily:\n{listing}"
    );

    let (out, _) = run_strip(&root);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains(&format!(
            "\u{FFFD}-{hash}: its name holds a store reference"
        )),
        "{}",
        stderr_of(&out)
    );
    let n = common::neutral(&sp);
    assert_eq!(fs::read_to_string(&file).unwrap(), format!("x {n}/lib y"));
    assert_eq!(fs::read_to_string(&inner).unwrap(), format!("{n}/include"));
    let mut want = format!("{n}/lib/").into_bytes();
    want.extend_from_slice(b"lib\xff\xfe.so");
    assert_eq!(fs::read_link(&link).unwrap().as_os_str().as_bytes(), want);
    assert_only_changed(&root, &before, &[&file, &inner, &link]);
}

#[test]
fn patch_non_utf8_name_is_patched_and_printed_lossily() {
    let (_dir, fx, root) = patch_scene();
    let dir = rc::raw_name(&root, b"lib\xfe");
    fs::create_dir_all(&dir).unwrap();
    let m = module_copy(&fx, rc::raw_name(&dir, b"m\xff.so"));
    let before = rc::tree(&root);
    let dry = fx
        .patch_rpaths()
        .arg("--dry-run")
        .arg(&root)
        .output()
        .unwrap();
    assert!(
        rc::text(&dry.stdout).contains("lib\u{FFFD}/m\u{FFFD}.so"),
        "{}",
        rc::text(&dry.stdout)
    );
    let (out, _) = run_patch(&fx, &root);
    assert_ok(&out);
    assert_only_patched(&fx, &root, &before, &m);
}

// ---------------------------------------------------------------------------------------------
// Size and shape.
// ---------------------------------------------------------------------------------------------

#[test]
fn strip_a_hundred_thousand_files() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("out");
    let start = Instant::now();
    let mut refs = 0;
    for d in 0..100 {
        let dir = root.join(format!("d{d:02}"));
        fs::create_dir_all(&dir).unwrap();
        for f in 0..1000 {
            let i = d * 1000 + f;
            let contents = if i % 97 == 0 {
                refs += 1;
                format!("file {i} {}/lib\n", common::store_path(i as u64 % 7, "dep"))
            } else {
                format!("file {i}\n")
            };
            fs::write(dir.join(format!("f{f:03}")), contents).unwrap();
        }
    }
    let made = start.elapsed();
    let (out, took) = rc::run_within(strip().arg(&root), Duration::from_secs(3600));
    eprintln!("100,000 files: made in {made:?}, strip-store-refs took {took:?}");
    assert_ok(&out);
    assert!(
        stderr_of(&out).contains(&format!("changed {refs} files")),
        "{}",
        stderr_of(&out)
    );
    let check = strip().arg("--check").arg(&root).output().unwrap();
    assert_eq!(check.status.code(), Some(0), "{}", rc::text(&check.stdout));
    let count: usize = (0..100)
        .map(|d| fs::read_dir(root.join(format!("d{d:02}"))).unwrap().count())
        .sum();
    assert_eq!(count, 100_000);
}

#[test]
fn strip_a_thousand_deep_nesting() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("out");
    let mut deep = root.clone();
    let mut planted = Vec::new();
    for level in 1..=1000 {
        deep.push("d");
        if level % 250 == 0 {
            fs::create_dir_all(&deep).unwrap();
            let sp = common::store_path(level, "deep");
            let f = deep.join("f.txt");
            fs::write(&f, format!("{sp}/lib")).unwrap();
            planted.push((f, format!("{}/lib", common::neutral(&sp))));
        }
    }
    let target = format!("{}/bin/x", common::store_path(5000, "bottom"));
    let link = deep.join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    assert!(link.as_os_str().len() > 2000);
    let (out, took) = run_strip(&root);
    eprintln!("1,000-deep tree: strip-store-refs took {took:?}");
    assert_ok(&out);
    for (f, want) in &planted {
        assert_eq!(&fs::read_to_string(f).unwrap(), want);
    }
    assert_eq!(
        fs::read_link(&link).unwrap().to_str().unwrap(),
        common::neutral(&target)
    );
    assert!(
        stderr_of(&out).contains("1001 directories"),
        "{}",
        stderr_of(&out)
    );
    let check = strip().arg("--check").arg(&root).output().unwrap();
    assert_eq!(check.status.code(), Some(0));
}

#[test]
fn strip_sparse_file_over_4_gib() {
    use std::os::unix::fs::FileExt;
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("out");
    fs::create_dir_all(&root).unwrap();
    let path = root.join("sparse.img");
    let size: u64 = 9 << 29; // 4.5 GiB
    let sp = format!("{}/lib", common::store_path(50, "big-1.0"));
    let f = fs::File::create(&path).unwrap();
    f.set_len(size).unwrap();
    // Straddling 4 GiB, just past it, and at the very end.
    let offsets = [(1u64 << 32) - 20, (1 << 32) + 100, size - sp.len() as u64];
    for o in offsets {
        f.write_all_at(sp.as_bytes(), o).unwrap();
    }
    f.sync_all().unwrap();
    drop(f);
    let blocks = fs::metadata(&path).unwrap().blocks();
    let (f2, f2_after) = ref_file(&root, "small.txt", 51);

    let (out, took) = rc::run_within(strip().arg(&root), Duration::from_secs(1800));
    eprintln!("4.5 GiB sparse file: strip-store-refs took {took:?}");
    assert_ok(&out);
    assert!(
        stderr_of(&out).contains("3 occurrences in 1 file"),
        "{}",
        stderr_of(&out)
    );
    let f = fs::File::open(&path).unwrap();
    let n = common::neutral(&sp);
    for o in offsets {
        let mut buf = vec![0u8; sp.len()];
        f.read_exact_at(&mut buf, o).unwrap();
        assert_eq!(String::from_utf8_lossy(&buf), n, "at {o}");
    }
    let meta = fs::metadata(&path).unwrap();
    assert_eq!(meta.len(), size);
    assert!(
        meta.blocks() <= blocks + 64,
        "stays sparse: {} blocks before, {} after",
        blocks,
        meta.blocks()
    );
    assert_eq!(fs::read_to_string(&f2).unwrap(), f2_after);
}

// ---------------------------------------------------------------------------------------------
// A full disk.
// ---------------------------------------------------------------------------------------------

/// A 1 MiB tmpfs mounted under `t`, and its directory; None where mounting is not allowed.
fn tmpfs(t: &Path) -> Option<(rc::Tmpfs, PathBuf)> {
    match rc::Tmpfs::mount(&t.join("disk"), "1m") {
        Ok(fs) => {
            let root = fs.dir.clone();
            Some((fs, root))
        }
        Err(e) if e.contains("permission denied") || e.contains("must be superuser") => {
            eprintln!("SKIPPED: cannot mount a tmpfs here ({})", e.trim());
            None
        }
        Err(e) => panic!("mount tmpfs: {e}"),
    }
}

#[test]
fn strip_full_disk_in_place_writes_still_succeed() {
    let t = tempfile::tempdir().unwrap();
    let Some((disk, root)) = tmpfs(t.path()) else {
        return;
    };
    let (f, f_after) = ref_file(&root, "f.txt", 60);
    let (ro, ro_after) = ref_file(&root, "ro.txt", 61);
    rc::set_mode(&ro, 0o444);
    let target = format!("{}/lib/libz.so.1", common::store_path(62, "zlib-1.3.1"));
    let link = root.join("libz.so.1");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    disk.fill("filler");
    assert!(
        disk.free() < 4096,
        "the disk is full: {} bytes free",
        disk.free()
    );
    let before = rc::tree(&root);

    let (out, _) = run_strip(&root);
    assert_ok(&out);
    assert_eq!(fs::read_to_string(&f).unwrap(), f_after);
    assert_eq!(fs::read_to_string(&ro).unwrap(), ro_after);
    assert_eq!(rc::mode_of(&ro), 0o444);
    assert_eq!(
        fs::read_link(&link).unwrap().to_str().unwrap(),
        common::neutral(&target),
        "a short symlink fits in its inode"
    );
    assert_only_changed(&root, &before, &[&f, &ro, &link]);
}

#[test]
fn strip_full_disk_symlink_that_cannot_be_recreated_is_an_error_naming_it() {
    let t = tempfile::tempdir().unwrap();
    let Some((disk, root)) = tmpfs(t.path()) else {
        return;
    };
    let (f, f_after) = ref_file(&root, "f.txt", 70);
    // A target too long to live in the inode: re-creating it needs a page.
    let target = format!(
        "{}/share/{}",
        common::store_path(71, "tzdata-2025b"),
        "z".repeat(3000)
    );
    let link = root.join("zoneinfo");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    disk.fill("filler");
    let before = rc::tree(&root);

    let (out, _) = rc::run_within(strip().args(["--report", "json"]).arg(&root), HANG);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_eq!(fs::read_to_string(&f).unwrap(), f_after, "the rest is done");
    assert_eq!(
        fs::read_link(&link).unwrap().to_str().unwrap(),
        target,
        "untouched"
    );
    assert_only_changed(&root, &before, &[&f]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["symlinks_changed"], 0, "{report:#}");
    assert_names(&out, &link, "No space left on device");
    let tzdata = common::store_path(71, "tzdata-2025b");
    assert!(
        !stderr_of(&out).contains(&format!("neutralised {tzdata}")),
        "the summary does not claim the failed reference: {}",
        stderr_of(&out)
    );
}

/// The patch-rpaths full-disk tests' start: on the 1 MiB tmpfs (see [`tmpfs`]), `a-big.so`
/// (about 600 kB) and `b-small.so`, copies of the fixture's modules that need its patch.
/// Returns the disk, the fixture, the disk's directory, the big and the small module; None
/// where no tmpfs can be mounted.
fn big_and_small_on_a_tmpfs(
    dir: &Path,
) -> Option<(rc::Tmpfs, rc::ElfFixture, PathBuf, PathBuf, PathBuf)> {
    let (disk, root) = tmpfs(dir)?;
    let fx = rc::ElfFixture::build(dir, Some(600_000));
    let big = root.join("a-big.so");
    let small = root.join("b-small.so");
    fs::copy(fx.big_module.as_ref().unwrap(), &big).unwrap();
    fs::copy(&fx.module, &small).unwrap();
    Some((disk, fx, root, big, small))
}

#[test]
fn patch_full_disk_temp_file_that_does_not_fit_is_an_error_naming_it() {
    let t = tempfile::tempdir().unwrap();
    // a-big.so is sorted first, so with one worker it is written first: its copy cannot fit
    // in what is left, the small one's can.
    let Some((disk, fx, root, big, small)) = big_and_small_on_a_tmpfs(t.path()) else {
        return;
    };
    let big_len = fs::metadata(&big).unwrap().len();
    assert!(
        disk.free() < big_len && disk.free() > 64 * 1024,
        "{} free for a {big_len}-byte copy",
        disk.free()
    );
    let before = rc::tree(&root);

    // A longer RUNPATH than the stripped one: appended, so written through a temporary copy.
    let appended = "/run/opengl-driver/lib/and/a/longer/entry";
    let (out, _) = rc::run_within(
        fx.patch_rpaths()
            .args(["-j", "1", "--append-rpath", appended])
            .arg(&root),
        HANG,
    );
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_names(&out, &big, "No space left on device");
    assert_eq!(
        before[rel(&root, &big)],
        rc::tree(&root)[rel(&root, &big)],
        "the original is untouched"
    );
    assert_eq!(
        rc::runpath(&small),
        Some(format!("{}:{appended}", fx.lib_dir.display())),
        "the rest is done"
    );
    assert_only_changed(&root, &before, &[&small]);
}

/// A same-length RUNPATH is written in place: it needs no free space, so a full disk takes it
/// as strip-store-refs' in-place writes.
#[test]
fn patch_full_disk_in_place_writes_still_succeed() {
    let t = tempfile::tempdir().unwrap();
    let Some((disk, fx, root, big, small)) = big_and_small_on_a_tmpfs(t.path()) else {
        return;
    };
    // Fill what is left.
    let filler = root.join("c-filler");
    let _ = fs::write(&filler, vec![1u8; disk.free() as usize + 4096]);
    assert!(disk.free() < 4096, "{} bytes still free", disk.free());
    let (out, _) = rc::run_within(fx.patch_rpaths().args(["-j", "1"]).arg(&root), HANG);
    assert_ok(&out);
    assert_eq!(fs::read(&small).unwrap(), fx.patched);
    assert_eq!(
        rc::runpath(&big),
        Some(fx.lib_dir.display().to_string()),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn patch_fifos_and_sockets_are_named_as_skipped() {
    let (_dir, fx, root) = patch_scene();
    let (fifo, sock, _listener) = specials(&root);
    fs::copy(&fx.module, root.join("m.so")).unwrap();
    let (out, _) = run_patch(&fx, &root);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_names(&out, &fifo, "skipped");
    assert_names(&out, &sock, "skipped");
}

#[test]
fn patch_file_replaced_by_a_fifo_after_the_walk_does_not_hang() {
    let strace =
        rc::strace().expect("strace holds open() open: install it (scripts/install-deps does)");
    let (t, fx, root) = patch_scene();
    fs::create_dir_all(&root).unwrap();
    let m = root.join("m.so");
    let victim = root.join("victim.so");
    fs::copy(&fx.module, &m).unwrap();
    fs::copy(&fx.module, &victim).unwrap();
    // Every open of the victim waits 5 s before it runs; meanwhile it becomes a FIFO.
    let mut tool = fx.patch_rpaths();
    tool.arg(&root);
    let log = t.path().join("strace.log");
    let mut cmd = rc::under_strace(
        &strace,
        &tool,
        "openat",
        Duration::from_secs(5),
        Some(&victim),
        &log,
    );
    let mut tracer = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    fs::remove_file(&victim).unwrap();
    rc::mkfifo(&victim);
    let finished = rc::wait_within(&mut tracer, Duration::from_secs(30));
    if finished.is_none() {
        for pid in rc::children_of(tracer.id()) {
            rc::sigkill(pid);
        }
        let _ = tracer.kill();
        let _ = tracer.wait();
    }
    assert!(
        finished.is_some(),
        "patch-rpaths blocked opening {} (a FIFO since the walk)",
        victim.display()
    );
    let out = tracer.wait_with_output().unwrap();
    assert_eq!(fs::read(&m).unwrap(), fx.patched, "{}", stderr_of(&out));
}
