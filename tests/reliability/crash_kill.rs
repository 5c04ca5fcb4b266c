//! Crash safety: strip-store-refs and patch-rpaths are killed with SIGKILL at random moments,
//! many times, over trees cut from the shared venv fixture (scripts/make-fixture).
//!
//! - strip-store-refs: after every kill each file is the pristine one except for whole
//!   references (each 32-byte hash is either untouched or all `e`, no other byte differs),
//!   each symlink points at its old or its new target, nothing is lost, and a re-run reaches
//!   exactly the tree an uninterrupted run makes.
//! - patch-rpaths: after every kill each file is wholly before (the stripped bytes) or wholly
//!   after (the bytes of an uninterrupted run), and a re-run reaches the uninterrupted result.
//!
//! Half of the kills land at a uniform moment in [0, uninterrupted runtime], which mostly hits
//! the (read-only) scan. The other half land in the write phase, which lasts milliseconds: the
//! tool runs with `-j 1` under `strace -e inject=SYSCALL:signal=SIGKILL:when=N` and dies on
//! entering one system call picked at random among every write-phase call an uninterrupted
//! run makes (each reference's pwrite, each chmod, symlink, lchown and rename; each in-place
//! ELF edit's pwrite, each temporary file's copy_file_range and write, fchmod and rename;
//! nothing is fsynced by default). Without strace every kill is a uniform one.
//! `FIXUP_HOOKS_KILLS` sets the number of kills per tool (default 40), `FIXUP_HOOKS_SEED` replays
//! a run (the seed is printed).
//!
//! A kill between a temporary entry and its rename leaves that entry (nothing can undo it);
//! such kills are counted, and the re-run must remove it: its result is compared with the
//! uninterrupted run's, temporary entries included. Modes a re-run cannot restore and bare
//! hashes a re-run no longer recognises are tallied and printed as `BUG:` lines instead of
//! failing these two tests; `FIXUP_HOOKS_STRICT=1` makes them failures. Anything else fails.

use crate::support::common::{self, PatchRun, StripRun};

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::support::reliability::{self as rc, is_patch_temp, is_strip_temp, Node, Rng, Tree};

const DEFAULT_KILLS: usize = 40;

// ---------------------------------------------------------------------------------------------
// Running and killing.
// ---------------------------------------------------------------------------------------------

/// An uninterrupted run: its status and how long it took.
struct Timed {
    status: ExitStatus,
    runtime: Duration,
}

fn timed_run(cmd: &mut Command, stderr: &Path) -> Timed {
    let start = Instant::now();
    let status = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(stderr).unwrap())
        .status()
        .expect("tool starts");
    Timed {
        status,
        runtime: start.elapsed(),
    }
}

/// The median runtime of uninterrupted runs.
fn typical_runtime(runs: &[Timed]) -> Duration {
    let mut rt: Vec<Duration> = runs.iter().map(|r| r.runtime).collect();
    rt.sort();
    rt[rt.len() / 2]
}

/// Where one tool is killed over and over: the pristine subset, the tree the tool runs on
/// (always the same path: a RUNPATH may name a directory of the tree itself), on its own
/// tmpfs, and the files its stderr and strace's log go to.
struct Scene {
    subset: PathBuf,
    venv: PathBuf,
    stderr: PathBuf,
    strace_log: PathBuf,
    _scratch: Option<rc::Tmpfs>,
}

impl Scene {
    /// `t/subset` (filled by the caller) run as `t/run/venv` on a tmpfs of `size`.
    fn new(t: &Path, size: &str) -> Scene {
        let run_dir = t.join("run");
        let scratch = rc::scratch(&run_dir, size);
        Scene {
            subset: t.join("subset"),
            venv: run_dir.join("venv"),
            stderr: t.join("stderr"),
            strace_log: t.join("strace.log"),
            _scratch: scratch,
        }
    }

    /// Puts the pristine subset back where the tool runs.
    fn reset(&self) {
        rc::remove_tree(&self.venv);
        rc::copy_tree(&self.subset, &self.venv);
    }

    /// Three uninterrupted runs of `tool`, each on a fresh copy: they must succeed and agree.
    /// Returns their result and their median runtime.
    fn uninterrupted(&self, tool: impl Fn() -> Command) -> (Tree, Duration) {
        let mut runs = Vec::new();
        let mut result: Option<Tree> = None;
        for _ in 0..3 {
            self.reset();
            let run = timed_run(&mut tool(), &self.stderr);
            assert!(
                run.status.success(),
                "{}",
                fs::read_to_string(&self.stderr).unwrap()
            );
            let tree = rc::tree(&self.venv);
            if let Some(first) = &result {
                assert_eq!(first, &tree, "uninterrupted runs agree");
            }
            result = Some(tree);
            runs.push(run);
        }
        (result.unwrap(), typical_runtime(&runs))
    }

    /// The write phase's `syscalls` (the writer being the first thread to call `writer`) in an
    /// uninterrupted run of `tool` on a fresh copy; none without strace.
    fn write_phase(
        &self,
        strace: &Option<PathBuf>,
        tool: &Command,
        syscalls: &[&str],
        writer: &str,
    ) -> Vec<Event> {
        match strace {
            Some(strace) => {
                self.reset();
                write_phase_events(strace, tool, syscalls, writer, &self.strace_log)
            }
            None => {
                eprintln!("strace is not installed: every kill lands at a random moment");
                Vec::new()
            }
        }
    }
}

/// A system call of the write phase to die on: SIGKILL on entry to the n-th `syscall` of the
/// thread that writes (`strace -e inject=SYSCALL:signal=SIGKILL:when=N`; the call itself never
/// runs). With `-j 1` one worker thread does every write, so n means the same in every run.
#[derive(Clone, Debug)]
struct Event {
    syscall: String,
    n: u64,
}

/// Every call of `syscalls` the writing thread (the first to call `writer`) makes in an
/// uninterrupted `-j 1` run of `tool`, traced with strace into `log`.
fn write_phase_events(
    strace: &Path,
    tool: &Command,
    syscalls: &[&str],
    writer: &str,
    log: &Path,
) -> Vec<Event> {
    let set = syscalls.join(",");
    let status = Command::new(strace)
        .args(["-f", "-qq", "-o"])
        .arg(log)
        .arg("-e")
        .arg(format!("trace={set}"))
        .arg(tool.get_program())
        .args(tool.get_args())
        .args(["-j", "1"])
        .envs(tool.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("strace runs");
    assert!(status.success(), "the traced calibration run failed");
    let text = fs::read_to_string(log).unwrap();
    // Entry lines are `TID name(…`; resumed ones are `TID <... name resumed>`.
    let calls: Vec<(&str, &str)> = text
        .lines()
        .filter_map(|l| {
            // strace pads the thread id to a fixed width: `8069  write(…`.
            let (tid, rest) = l.split_once(' ')?;
            let name = rest.trim_start().split('(').next()?;
            syscalls.contains(&name).then_some((tid, name))
        })
        .collect();
    let Some(&(writer_tid, _)) = calls.iter().find(|(_, name)| *name == writer) else {
        panic!("the calibration run never called {writer}:\n{text}");
    };
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    calls
        .iter()
        .filter(|(tid, _)| *tid == writer_tid)
        .map(|(_, name)| {
            let n = counts.entry(name).or_default();
            *n += 1;
            Event {
                syscall: name.to_string(),
                n: *n,
            }
        })
        .collect()
}

/// Where a kill is aimed.
#[derive(Clone, Debug)]
enum Aim {
    /// After a delay uniform in [0, uninterrupted runtime].
    Uniform,
    /// On entry to one write-phase system call (see [`Event`]): a uniform delay mostly lands
    /// in the (read-only) scan, and the write phase lasts only milliseconds.
    AtSyscall(PathBuf, Event),
}

/// One kill: where it landed and whether the tool was still running.
struct Kill {
    aim: String,
    targeted: bool,
    /// Died of SIGKILL (rather than finishing before the signal came).
    killed: bool,
}

/// Runs `tool` and kills it with SIGKILL as `aim` says, then reaps it.
fn kill_at(tool: &Command, rng: &mut Rng, runtime: Duration, aim: &Aim, stderr: &Path) -> Kill {
    let err = || File::create(stderr).unwrap();
    let (status, described, targeted) = match aim {
        Aim::Uniform => {
            let mut child = Command::new(tool.get_program())
                .args(tool.get_args())
                .envs(tool.get_envs().filter_map(|(k, v)| Some((k, v?))))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(err())
                .spawn()
                .expect("tool starts");
            let delay = rng.duration(runtime);
            std::thread::sleep(delay);
            let _ = child.kill();
            let status = child.wait().unwrap();
            (status, format!("at random, after {delay:?}"), false)
        }
        Aim::AtSyscall(strace, Event { syscall, n }) => {
            // strace kills itself with the signal that killed its tracee.
            let status = Command::new(strace)
                .args(["-f", "-qq", "-o", "/dev/null", "-e"])
                .arg(format!("trace={syscall}"))
                .arg("-e")
                .arg(format!("inject={syscall}:signal=SIGKILL:when={n}"))
                .arg(tool.get_program())
                .args(tool.get_args())
                .args(["-j", "1"])
                .envs(tool.get_envs().filter_map(|(k, v)| Some((k, v?))))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(err())
                .status()
                .expect("strace runs");
            (status, format!("on entering {syscall} #{n}"), true)
        }
    };
    let stderr = fs::read_to_string(stderr).unwrap_or_default();
    let killed = status.signal() == Some(libc::SIGKILL) || status.code() == Some(128 + 9);
    assert!(
        killed || status.success(),
        "the tool failed on its own ({status}): {stderr}"
    );
    assert!(!stderr.contains("panicked"), "the tool panicked: {stderr}");
    Kill {
        aim: described,
        targeted,
        killed,
    }
}

/// Half the kills at random, half (when strace is there) on a random write-phase call.
fn aim(i: usize, rng: &mut Rng, strace: &Option<PathBuf>, events: &[Event]) -> Aim {
    match strace {
        Some(strace) if i % 2 == 1 && !events.is_empty() => {
            let e = &events[rng.upto(events.len() as u64 - 1) as usize];
            Aim::AtSyscall(strace.clone(), e.clone())
        }
        _ => Aim::Uniform,
    }
}

/// Tallies over all kills, printed at the end.
#[derive(Default, Debug)]
struct Tally {
    kills: usize,
    targeted: usize,
    finished_before_kill: usize,
    killed_before_first_write: usize,
    killed_mid_write: usize,
    killed_after_last_write: usize,
    entries_checked: usize,
    max_done_fraction_mid_write: f64,
    /// Kills that left temporary files in the tree (for the re-run to remove), and their names.
    leftovers: BTreeMap<usize, Vec<String>>,
    /// Kills after which an entry's mode differed from both before and after.
    mode_changes: BTreeMap<usize, Vec<String>>,
    /// Re-runs whose result had other modes than the uninterrupted run.
    rerun_mode_differences: BTreeMap<usize, Vec<String>>,
    /// Re-runs that left a bare hash the uninterrupted run neutralised.
    orphaned_bare_hashes: BTreeMap<usize, Vec<String>>,
}

impl Tally {
    fn record(&mut self, kill: &Kill, done: usize, total: usize) {
        self.kills += 1;
        self.targeted += usize::from(kill.targeted);
        if !kill.killed {
            self.finished_before_kill += 1;
        } else if done == 0 {
            self.killed_before_first_write += 1;
        } else if done == total {
            self.killed_after_last_write += 1;
        } else {
            self.killed_mid_write += 1;
            self.max_done_fraction_mid_write = self
                .max_done_fraction_mid_write
                .max(done as f64 / total as f64);
        }
    }

    fn print(&self, tool: &str, runtime: Duration, unit: &str) {
        eprintln!(
            "{tool}: {} kills ({} on entering a random write-phase system call): {} finished \
             before the signal, {} killed before the first write, {} killed mid-write (tree \
             partly {unit}), {} killed after the last write; {} entries checked; uninterrupted \
             run {:?}",
            self.kills,
            self.targeted,
            self.finished_before_kill,
            self.killed_before_first_write,
            self.killed_mid_write,
            self.killed_after_last_write,
            self.entries_checked,
            runtime,
        );
        for (i, names) in &self.leftovers {
            eprintln!(
                "{tool}: kill #{i} left temporary files, which the re-run removed: {names:?}"
            );
        }
        for (i, names) in &self.mode_changes {
            eprintln!("{tool}: kill #{i} left modes changed: {names:?}");
        }
        for (i, places) in &self.orphaned_bare_hashes {
            eprintln!(
                "{tool}: BUG: after kill #{i} the re-run left bare hashes the uninterrupted run \
                 neutralises (every prefixed occurrence was already gone): {places:?}"
            );
        }
        for (i, names) in &self.rerun_mode_differences {
            eprintln!(
                "{tool}: BUG: after kill #{i} the re-run's modes differ from an uninterrupted run: {names:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// strip-store-refs.
// ---------------------------------------------------------------------------------------------

/// The hashes of the fixture's store paths, to pick the files that reference them.
fn fixture_hashes() -> Vec<Vec<u8>> {
    rc::fixture_store_paths(common::fixture())
        .iter()
        .map(|p| p.as_bytes()["/nix/store/".len().."/nix/store/".len() + 32].to_vec())
        .collect()
}

/// Copies `rel` (a file or symlink under `src`) to the same place under `dst`, mode kept.
fn copy_entry(src: &Path, dst: &Path, rel: &Path) {
    let from = src.join(rel);
    let to = dst.join(rel);
    fs::create_dir_all(to.parent().unwrap()).unwrap();
    let meta = from.symlink_metadata().unwrap();
    if meta.file_type().is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(&from).unwrap(), &to).unwrap();
    } else {
        fs::copy(&from, &to).unwrap();
    }
}

/// A subset of the fixture's venv that keeps the runs short (the debug build spends about
/// 4 ms of CPU on every file, however small): every file and symlink that references a store
/// path (prefixed or bare), every 10th other file of at most 8 KiB (up to 40), and
/// `COPIES` copies of the referencing files of at most 16 KiB under `venv-copies/N/` (as the
/// large fixture copies site-packages), for more references to land between. A third of the
/// referencing files are made read-only, and so is `bin/` (whose `python` symlink is
/// re-created), so kills also land while a mode is lifted.
fn strip_subset(dst: &Path) -> (usize, usize) {
    const COPIES: usize = 2;
    let venv = common::fixture().join("venv");
    let hashes = fixture_hashes();
    let finders: Vec<memchr::memmem::Finder> =
        hashes.iter().map(memchr::memmem::Finder::new).collect();
    let (mut with_refs, mut others, mut seen_others) = (0, 0, 0);
    let mut read_only = Vec::new();
    for entry in walkdir::WalkDir::new(&venv).sort_by_file_name() {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(&venv).unwrap().to_path_buf();
        let ft = entry.file_type();
        if ft.is_symlink() {
            copy_entry(&venv, dst, &rel);
            with_refs += 1;
        } else if ft.is_file() {
            let bytes = fs::read(entry.path()).unwrap();
            if finders.iter().any(|f| f.find(&bytes).is_some()) {
                copy_entry(&venv, dst, &rel);
                if with_refs % 3 == 0 {
                    read_only.push(dst.join(&rel));
                }
                with_refs += 1;
                if bytes.len() <= 16 * 1024 {
                    for n in 1..=COPIES {
                        let copy = Path::new("venv-copies").join(n.to_string()).join(&rel);
                        fs::create_dir_all(dst.join(&copy).parent().unwrap()).unwrap();
                        fs::copy(entry.path(), dst.join(&copy)).unwrap();
                        with_refs += 1;
                    }
                }
            } else if bytes.len() <= 8 * 1024 && others < 40 {
                seen_others += 1;
                if seen_others % 10 == 0 {
                    copy_entry(&venv, dst, &rel);
                    others += 1;
                }
            }
        }
    }
    for p in read_only {
        let mode = rc::mode_of(&p);
        rc::set_mode(&p, mode & !0o222);
    }
    rc::set_mode(&dst.join("bin"), 0o555);
    (with_refs, others)
}

/// What strip-store-refs may leave: for each file, the offsets of its 32-byte hash windows
/// (where the pristine and the stripped bytes differ).
struct StripOracle {
    pristine: Tree,
    stripped: Tree,
    windows: BTreeMap<PathBuf, Vec<usize>>,
    total_windows: usize,
    total_links: usize,
}

impl StripOracle {
    fn new(pristine: Tree, stripped: Tree) -> StripOracle {
        assert_eq!(
            pristine.keys().collect::<Vec<_>>(),
            stripped.keys().collect::<Vec<_>>(),
            "an uninterrupted run neither adds nor removes entries"
        );
        let mut windows = BTreeMap::new();
        let (mut total_windows, mut total_links) = (0, 0);
        for (path, p) in &pristine {
            match (p, &stripped[path]) {
                (Node::File { bytes: a, .. }, Node::File { bytes: b, .. }) => {
                    assert_eq!(a.len(), b.len(), "{}: length changed", path.display());
                    let mut starts = Vec::new();
                    let mut i = 0;
                    while i < a.len() {
                        if a[i] == b[i] {
                            i += 1;
                            continue;
                        }
                        let start = i;
                        while i < a.len() && a[i] != b[i] {
                            i += 1;
                        }
                        assert!(
                            (i - start) % 32 == 0 && b[start..i].iter().all(|&c| c == b'e'),
                            "{}: the uninterrupted run changed bytes {start}..{i} other than whole hashes",
                            path.display()
                        );
                        starts.extend((start..i).step_by(32));
                    }
                    total_windows += starts.len();
                    if !starts.is_empty() {
                        windows.insert(path.clone(), starts);
                    }
                }
                (Node::Link(a), Node::Link(b)) => total_links += usize::from(a != b),
                _ => {}
            }
        }
        StripOracle {
            pristine,
            stripped,
            windows,
            total_windows,
            total_links,
        }
    }

    /// Checks a killed run's tree; returns (references and links done, entries checked, temp
    /// leftovers, entries whose mode is neither before nor after).
    fn check(&self, now: &Tree, ctx: &str) -> (usize, usize, Vec<PathBuf>, Vec<PathBuf>) {
        let (added, removed) = rc::added_and_removed(&self.pristine, now);
        assert!(removed.is_empty(), "{ctx}: entries lost: {removed:?}");
        let leftovers: Vec<PathBuf> = added.iter().filter(|p| is_strip_temp(p)).cloned().collect();
        assert_eq!(
            leftovers.len(),
            added.len(),
            "{ctx}: unexpected new entries {added:?}"
        );
        let (mut done, mut checked) = (0, 0);
        let mut modes = Vec::new();
        for (path, before) in &self.pristine {
            let after = &self.stripped[path];
            let cur = &now[path];
            checked += 1;
            if cur.mode().is_some() && cur.mode() != before.mode() && cur.mode() != after.mode() {
                modes.push(path.clone());
            }
            match (before, cur) {
                (Node::File { bytes: p, .. }, Node::File { bytes: c, .. }) => {
                    assert_eq!(
                        p.len(),
                        c.len(),
                        "{ctx}: {}: length changed",
                        path.display()
                    );
                    let windows = self.windows.get(path).map(Vec::as_slice).unwrap_or(&[]);
                    let s = after.bytes().unwrap();
                    let mut restored = c.clone();
                    for &w in windows {
                        let cw = &c[w..w + 32];
                        if cw == &s[w..w + 32] {
                            done += 1;
                        } else {
                            assert_eq!(
                                cw,
                                &p[w..w + 32],
                                "{ctx}: {}: hash at offset {w} is partly neutralised: {:?}",
                                path.display(),
                                String::from_utf8_lossy(cw)
                            );
                        }
                        restored[w..w + 32].copy_from_slice(&p[w..w + 32]);
                    }
                    if restored != *p {
                        let at = restored.iter().zip(p).position(|(a, b)| a != b).unwrap();
                        panic!(
                            "{ctx}: {}: byte {at} changed outside every reference",
                            path.display()
                        );
                    }
                }
                (Node::Link(p), Node::Link(c)) => {
                    let s = after.bytes().unwrap();
                    assert!(
                        c == p || c == s,
                        "{ctx}: {}: symlink points at {:?}, neither its old nor its new target",
                        path.display(),
                        String::from_utf8_lossy(c)
                    );
                    done += usize::from(c != p);
                }
                (a, b) => assert!(
                    a.same_content(b),
                    "{ctx}: {}: became another kind of entry",
                    path.display()
                ),
            }
        }
        (done, checked, leftovers, modes)
    }

    /// When `got` differs from the uninterrupted result only in hash windows that still hold
    /// their pristine, bare hash (no `/nix/store/` before it): those offsets. The known way a
    /// re-run falls short — it learns which bare hashes are references from the prefixed ones,
    /// and the killed run may have neutralised all of those already.
    fn orphaned_bare_hashes(&self, path: &Path, got: &Node) -> Option<Vec<usize>> {
        let p = self.pristine[path].bytes()?;
        let s = self.stripped[path].bytes()?;
        let g = got.bytes()?;
        if g.len() != s.len() {
            return None;
        }
        let mut mended = g.to_vec();
        let mut offsets = Vec::new();
        for &w in self.windows.get(path)? {
            if g[w..w + 32] != s[w..w + 32] {
                let bare = w < 11 || &p[w - 11..w] != b"/nix/store/";
                if !bare || g[w..w + 32] != p[w..w + 32] {
                    return None;
                }
                offsets.push(w);
                mended[w..w + 32].copy_from_slice(&s[w..w + 32]);
            }
        }
        (mended == s && !offsets.is_empty()).then_some(offsets)
    }
}

#[test]
fn strip_store_refs_killed_at_random_moments_leaves_whole_references_and_a_rerun_converges() {
    let t = tempfile::tempdir().unwrap();
    let scene = Scene::new(t.path(), "256m");
    let (with_refs, others) = strip_subset(&scene.subset);
    let (venv, stderr) = (&scene.venv, &scene.stderr);
    let pristine = rc::tree(&scene.subset);
    let strip = || StripRun::new().path(venv).command();

    // The reference result, and the timing of uninterrupted runs.
    let (stripped, runtime) = scene.uninterrupted(strip);
    let oracle = StripOracle::new(pristine, stripped);
    let total = oracle.total_windows + oracle.total_links;
    eprintln!(
        "strip-store-refs: subset of {with_refs} entries with references and {others} others; \
         {} hashes in files and {} symlinks to neutralise",
        oracle.total_windows, oracle.total_links
    );
    assert!(oracle.total_windows >= 30 && oracle.total_links >= 2);

    // Every system call of the write phase: each reference's pwrite, each mode lifted and put
    // back, each symlink made, chowned and renamed over its original.
    let strace = rc::strace();
    let events = scene.write_phase(
        &strace,
        &strip(),
        &["pwrite64", "chmod", "symlink", "lchown", "rename"],
        "pwrite64",
    );

    let mut rng = Rng::from_env("strip-store-refs kills");
    let mut tally = Tally::default();
    for i in 0..rc::kills(DEFAULT_KILLS) {
        scene.reset();
        let aim = aim(i, &mut rng, &strace, &events);
        let kill = kill_at(&strip(), &mut rng, runtime, &aim, stderr);
        let ctx = format!("kill #{i} ({})", kill.aim);
        let now = rc::tree(venv);
        let (done, checked, leftovers, modes) = oracle.check(&now, &ctx);
        tally.record(&kill, done, total);
        tally.entries_checked += checked;
        if !modes.is_empty() {
            tally
                .mode_changes
                .insert(i, modes.iter().map(|p| p.display().to_string()).collect());
        }
        if !leftovers.is_empty() {
            tally.leftovers.insert(
                i,
                leftovers.iter().map(|p| p.display().to_string()).collect(),
            );
        }

        // A re-run finishes the job and removes what the killed run left: exactly the
        // uninterrupted result.
        let rerun = strip().output().unwrap();
        assert!(
            rerun.status.success(),
            "{ctx}: re-run failed: {}",
            rc::text(&rerun.stderr)
        );
        let after = rc::tree(venv);
        let (added, removed) = rc::added_and_removed(&oracle.stripped, &after);
        assert!(
            added.is_empty() && removed.is_empty(),
            "{ctx}: re-run: added {added:?}, removed {removed:?}"
        );
        let mut mode_diffs = Vec::new();
        let mut orphans = Vec::new();
        for (path, want) in &oracle.stripped {
            let got = &after[path];
            if !want.same_content(got) {
                match oracle.orphaned_bare_hashes(path, got) {
                    Some(offsets) if !rc::strict() => {
                        orphans.push(format!("{} at {offsets:?}", path.display()))
                    }
                    _ => panic!(
                        "{ctx}: after the re-run {} differs from an uninterrupted run",
                        path.display()
                    ),
                }
            } else if want != got {
                mode_diffs.push(format!(
                    "{} {:o} (uninterrupted {:o})",
                    path.display(),
                    got.mode().unwrap_or(0),
                    want.mode().unwrap_or(0)
                ));
            }
        }
        assert!(
            !rc::strict() || mode_diffs.is_empty(),
            "{ctx}: modes after the re-run: {mode_diffs:?}"
        );
        if !mode_diffs.is_empty() {
            tally.rerun_mode_differences.insert(i, mode_diffs);
        }
        if !orphans.is_empty() {
            tally.orphaned_bare_hashes.insert(i, orphans);
        }
    }
    tally.print("strip-store-refs", runtime, "neutralised");
    assert!(tally.kills > 0);
}

// ---------------------------------------------------------------------------------------------
// patch-rpaths.
// ---------------------------------------------------------------------------------------------

/// The fixture's ELF files that patch-rpaths has work on, as a FOD leaves them: every ELF file
/// of at most 1.5 MiB (the debug build's self-check of a written file is slow) that names the
/// store, lives in a wheel's `*.libs` directory or links into one, copied to `dst` and run
/// through strip-store-refs.
fn patch_subset(dst: &Path) -> usize {
    let venv = common::fixture().join("venv");
    let mut n = 0;
    for entry in walkdir::WalkDir::new(&venv).sort_by_file_name() {
        let entry = entry.unwrap();
        if !entry.file_type().is_file() || entry.metadata().unwrap().len() > 3 << 19 {
            continue;
        }
        let bytes = fs::read(entry.path()).unwrap();
        let in_libs = entry
            .path()
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|d| d.as_bytes().ends_with(b".libs"));
        let finder = |s: &[u8]| memchr::memmem::find(&bytes, s).is_some();
        if rc::is_elf(&bytes) && (in_libs || finder(b"/nix/store/") || finder(b".libs")) {
            copy_entry(&venv, dst, entry.path().strip_prefix(&venv).unwrap());
            n += 1;
        }
    }
    let out = common::tool("strip-store-refs").arg(dst).output().unwrap();
    assert!(out.status.success(), "{}", rc::text(&out.stderr));
    n
}

#[test]
fn patch_rpaths_killed_at_random_moments_leaves_whole_files_and_a_rerun_converges() {
    let t = tempfile::tempdir().unwrap();
    let scene = Scene::new(t.path(), "512m");
    let elf_files = patch_subset(&scene.subset);
    let libc = rc::libc_dir(t.path());
    let libs: Vec<PathBuf> = rc::fixture_store_paths(common::fixture())
        .iter()
        .map(|p| Path::new(p).join("lib"))
        .filter(|d| d.is_dir())
        .collect();
    assert!(libs.len() >= 5, "the fixture's store paths exist: {libs:?}");
    let (venv, stderr) = (&scene.venv, &scene.stderr);
    let patch = || {
        let run = libs.iter().fold(PatchRun::new(), |run, d| run.libs(d));
        run.libc(&libc).ignore_missing("*").path(venv).command()
    };
    let before = rc::tree(&scene.subset);

    let (after, runtime) = scene.uninterrupted(patch);
    let changing: Vec<&PathBuf> = before
        .iter()
        .filter(|(p, n)| !n.same_content(&after[*p]))
        .map(|(p, _)| p)
        .collect();
    eprintln!(
        "patch-rpaths: subset of {elf_files} ELF files, {} of them patched by an uninterrupted run",
        changing.len()
    );
    assert!(changing.len() >= 8, "{changing:?}");
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );

    // Every system call of the write phase: each in-place edit's one pwrite (a same-length
    // RUNPATH, most of these files), each temporary file's copies, writes, mode and rename.
    let strace = rc::strace();
    let events = scene.write_phase(
        &strace,
        &patch(),
        &[
            "pwrite64",
            "copy_file_range",
            "writev",
            "write",
            "fchmod",
            "rename",
        ],
        "pwrite64",
    );

    let mut rng = Rng::from_env("patch-rpaths kills");
    let mut tally = Tally::default();
    for i in 0..rc::kills(DEFAULT_KILLS) {
        scene.reset();
        let aim = aim(i, &mut rng, &strace, &events);
        let kill = kill_at(&patch(), &mut rng, runtime, &aim, stderr);
        let ctx = format!("kill #{i} ({})", kill.aim);
        let now = rc::tree(venv);
        let (added, removed) = rc::added_and_removed(&before, &now);
        assert!(removed.is_empty(), "{ctx}: entries lost: {removed:?}");
        let leftovers: Vec<PathBuf> = added.iter().filter(|p| is_patch_temp(p)).cloned().collect();
        assert_eq!(leftovers.len(), added.len(), "{ctx}: new entries {added:?}");
        let mut done = 0;
        for (path, b) in &before {
            let a = &after[path];
            let c = &now[path];
            if c.same_content(a) && !b.same_content(a) {
                done += 1;
            } else {
                assert!(
                    c.same_content(b),
                    "{ctx}: {} is neither wholly before nor wholly after ({} bytes; before {}, after {})",
                    path.display(),
                    c.bytes().map_or(0, <[u8]>::len),
                    b.bytes().map_or(0, <[u8]>::len),
                    a.bytes().map_or(0, <[u8]>::len),
                );
            }
            assert_eq!(
                c.mode(),
                b.mode(),
                "{ctx}: {}: mode changed",
                path.display()
            );
        }
        tally.record(&kill, done, changing.len());
        tally.entries_checked += before.len();
        if !leftovers.is_empty() {
            let described: Vec<String> = leftovers
                .iter()
                .map(|l| {
                    let bytes = now[l].bytes().unwrap_or_default();
                    let whole = after.values().any(|n| n.bytes() == Some(bytes));
                    format!(
                        "{} ({} bytes{})",
                        l.display(),
                        bytes.len(),
                        if whole {
                            ", a whole patched file"
                        } else if bytes.is_empty() {
                            ", empty"
                        } else {
                            ", partly written"
                        }
                    )
                })
                .collect();
            tally.leftovers.insert(i, described);
        }

        let rerun = patch().output().unwrap();
        assert!(
            rerun.status.success(),
            "{ctx}: re-run failed: {}",
            rc::text(&rerun.stderr)
        );
        let result = rc::tree(venv);
        assert!(
            result == after,
            "{ctx}: the re-run did not reach the uninterrupted result: {:?}",
            after
                .iter()
                .filter(|(p, n)| result.get(*p) != Some(n))
                .map(|(p, _)| p)
                .collect::<Vec<_>>()
        );
    }
    tally.print("patch-rpaths", runtime, "patched");
    assert!(tally.kills > 0);
}
