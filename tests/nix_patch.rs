//! patch-rpaths against the real Nix, the way it is used: extension modules
//! linked against libraries in store paths are fetched by a recursive sha256
//! fixed-output derivation that strips them with strip-store-refs; the
//! derivation using them re-links them with patch-rpaths to the store paths
//! it was given, and they load through those (`ldd` resolves each DT_NEEDED
//! into the store; python3.11 and this process dlopen them with RTLD_NOW).
//!
//! Needs `nix-build`/`nix-store` on PATH and a store it may build in as root
//! without a daemon (`.ci/run` runs scripts/install-deps, which installs
//! Debian's nix-bin; see ../shared/research/nix-2.8-here.md). A missing Nix
//! is a test failure, not a skip. NIX_CONFIG is set for the child processes
//! when it is not set already (no sandbox, no build users, no substituters).
//!
//! The derivations are in tests/nix/patch/ (common.nix explains the `nonce`
//! and tool arguments, main.nix the switches). Each test builds with its own
//! nonce, so tests can run in parallel and no output of an earlier run is
//! reused. The binaries under test are `CARGO_BIN_EXE_patch-rpaths` and
//! `CARGO_BIN_EXE_strip-store-refs`, or `$PATCH_RPATHS_BIN` /
//! `$STRIP_STORE_REFS_BIN` when set (e.g. to try release builds).
//!
//! What the packages hold (tests/nix/patch/c/): `postgresql-15.18-lib`
//! (libpq.so.5), `libxml2-2.13.8` (libxml2.so.2, which needs liblzma.so.5
//! through its own RUNPATH), `xz-5.6.4` (liblzma.so.5) and `glibc-2.36`
//! (copies of the host's libc.so.6, libm.so.6 and loader). The modules:
//! psycopg_c/_psycopg…so needs libpq.so.5, libm.so.6, libc.so.6;
//! lxml/etree…so needs libxml2.so.2, liblzma.so.5, libc.so.6. patch-rpaths
//! gets `--libs` for postgresql and libxml2 only and `--libc` for glibc, so
//! liblzma.so.5 must be found through libxml2's RUNPATH and the C library
//! adds nothing to any RUNPATH.

use std::collections::BTreeSet;
use std::ffi::{CStr, CString, OsStr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

const NIX_CONFIG: &str =
    "sandbox = false\nbuild-users-group =\nsubstituters =\nexperimental-features = nix-command";
const NIX_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/nix/patch");
const FAKE_HASH: &str = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
const ERASED: &str = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";

const PSYCOPG: &str =
    "lib/python3.11/site-packages/psycopg_c/_psycopg.cpython-311-x86_64-linux-gnu.so";
const ETREE: &str = "lib/python3.11/site-packages/lxml/etree.cpython-311-x86_64-linux-gnu.so";
/// What the modules' functions return (see the comments in c/*.c).
const PSYCOPG_CHECK: i32 = 150_021;
const LXML_CHECK: i32 = 121_436;
/// Sonames the C library provides: the loader finds them, not the RUNPATH.
const LIBC_SONAMES: &[&str] = &["libc.so.6", "libm.so.6"];

// ---------------------------------------------------------------- helpers
// (require_nix_in … got_hash follow tests/nix_strip.rs)

/// `Err` names `.ci/run` when `nix-build` is not in `path_var`.
fn require_nix_in(path_var: &OsStr) -> Result<PathBuf, String> {
    std::env::split_paths(path_var)
        .map(|dir| dir.join("nix-build"))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .ok_or_else(|| {
            "nix-build is not on PATH: these tests need a real Nix. `.ci/run` installs it \
             (scripts/install-deps: apt-get install -y nix-bin); a missing Nix must not pass \
             as a skipped test"
                .to_string()
        })
}

fn require_nix() {
    let path = std::env::var_os("PATH").unwrap_or_default();
    if let Err(msg) = require_nix_in(&path) {
        panic!("{msg}");
    }
}

/// A `nix-*` command with our NIX_CONFIG unless the caller set one.
fn nix(program: &str) -> Command {
    require_nix();
    let mut cmd = Command::new(program);
    if std::env::var_os("NIX_CONFIG").is_none() {
        cmd.env("NIX_CONFIG", NIX_CONFIG);
    }
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn bin(var: &str, built: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| built.to_string())
}

/// Unique per test and run; goes into every derivation (see common.nix).
fn nonce(test: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{}-{}-{nanos}-{n}",
        test.replace('_', "-"),
        std::process::id()
    )
}

/// What Nix's scanner found in `path` (`nix-store -q --references`), sorted.
fn references(path: &Path) -> Vec<String> {
    let out = run(nix("nix-store").args(["-q", "--references"]).arg(path));
    assert!(
        out.status.success(),
        "nix-store -q --references {path:?}: {}",
        text(&out.stderr)
    );
    let mut refs: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    refs.sort();
    refs
}

fn valid(path: &Path) -> bool {
    run(nix("nix-store").arg("--check-validity").arg(path))
        .status
        .success()
}

fn set<I: IntoIterator<Item = S>, S: Into<String>>(items: I) -> Vec<String> {
    items
        .into_iter()
        .map(Into::into)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The "got: sha256-…" of a hash-mismatch error.
fn got_hash(stderr: &str) -> String {
    let after = stderr
        .split("got:")
        .nth(1)
        .unwrap_or_else(|| panic!("no \"got:\" hash in nix-build's error:\n{stderr}"));
    after.split_whitespace().next().unwrap().to_string()
}

/// `/nix/store/HASH-NAME…` with the hash turned into `e`s, as stripping leaves it.
fn stripped(store_path_and_more: &str) -> String {
    let (dir, rest) =
        store_path_and_more.split_at(store_path_and_more.find("/nix/store/").unwrap() + 11);
    format!("{dir}{ERASED}{}", &rest[32..])
}

// ------------------------------------------------------------ the builds

enum Arg<'a> {
    Str(&'a str),
    Bool(bool),
}

/// One test's builds: its nonce and the binaries under test.
struct Case {
    nonce: String,
    strip: String,
    patch: String,
}

impl Case {
    fn new(test: &str) -> Case {
        Case {
            nonce: nonce(test),
            strip: bin(
                "STRIP_STORE_REFS_BIN",
                env!("CARGO_BIN_EXE_strip-store-refs"),
            ),
            patch: bin("PATCH_RPATHS_BIN", env!("CARGO_BIN_EXE_patch-rpaths")),
        }
    }

    /// `nix-build` an expression of tests/nix/patch with this case's nonce
    /// and tools plus `args`; `Ok` is the printed path (for the FOD not
    /// necessarily valid), `Err` the stderr, which holds the build log.
    fn build(
        &self,
        expr: &str,
        attr: Option<&str>,
        args: &[(&str, Arg)],
    ) -> Result<PathBuf, String> {
        let mut cmd = nix("nix-build");
        cmd.arg("--no-out-link").arg(Path::new(NIX_DIR).join(expr));
        if let Some(a) = attr {
            cmd.args(["-A", a]);
        }
        cmd.args(["--argstr", "nonce", &self.nonce]);
        cmd.args(["--argstr", "stripPath", &self.strip]);
        if expr != "fod.nix" {
            cmd.args(["--argstr", "patchPath", &self.patch]);
        }
        for (k, v) in args {
            match v {
                Arg::Str(v) => cmd.args(["--argstr", k, v]),
                Arg::Bool(b) => cmd.args(["--arg", k, if *b { "true" } else { "false" }]),
            };
        }
        let out = run(&mut cmd);
        if !out.status.success() {
            return Err(text(&out.stderr));
        }
        let stdout = text(&out.stdout);
        match stdout.lines().last() {
            Some(p) if p.starts_with('/') => Ok(PathBuf::from(p)),
            _ => Err(format!(
                "no path in nix-build's output: {stdout:?}\n{}",
                text(&out.stderr)
            )),
        }
    }

    /// A package of common.nix (`libs.postgresql`, `libs.libxml2`, `libs.xz`, `glibc`).
    fn package(&self, attr: &str) -> String {
        let path = self
            .build("common.nix", Some(attr), &[])
            .unwrap_or_else(|e| panic!("building {attr} failed:\n{e}"));
        path.to_str().unwrap().to_string()
    }

    /// The FOD's hash, learned the way users do: build with a fake one and
    /// read "got:" from the error.
    fn learn_fod_hash(&self) -> String {
        match self.build("fod.nix", None, &[("outputHash", Arg::Str(FAKE_HASH))]) {
            Ok(p) => panic!("fod.nix built with a fake hash: {p:?}"),
            Err(e) => got_hash(&e),
        }
    }

    /// main.nix with the learned FOD hash and its switches (main.nix).
    fn main(&self, with_libxml2: bool, patched: bool) -> Result<PathBuf, String> {
        let hash = self.learn_fod_hash();
        let args = [
            ("fodHash", Arg::Str(&hash)),
            ("withLibxml2", Arg::Bool(with_libxml2)),
            ("patched", Arg::Bool(patched)),
        ];
        self.build("main.nix", None, &args)
    }
}

/// The packages of one case and the patched environment built from them.
struct Env {
    out: PathBuf,
    postgresql: String,
    libxml2: String,
    xz: String,
    glibc: String,
}

/// Builds main.nix as users would (every library given, patch-rpaths run).
/// Its builder already failed unless `ldd` resolved every module's
/// DT_NEEDED into the store and python3.11 loaded and called each module.
fn patched_env(test: &str) -> Env {
    let case = Case::new(test);
    let out = case
        .main(true, true)
        .unwrap_or_else(|e| panic!("main.nix failed to build:\n{e}"));
    Env {
        out,
        postgresql: case.package("libs.postgresql"),
        libxml2: case.package("libs.libxml2"),
        xz: case.package("libs.xz"),
        glibc: case.package("glibc"),
    }
}

/// `readelf -d` of `file`.
fn dynamic_section(file: &Path) -> String {
    let out = run(Command::new("readelf").arg("-d").arg(file));
    assert!(
        out.status.success(),
        "readelf -d {file:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// The `[…]` of each `readelf -d` line with `tag` in it.
fn dynamic_values(file: &Path, tag: &str) -> Vec<String> {
    dynamic_section(file)
        .lines()
        .filter(|l| l.contains(tag))
        .filter_map(|l| {
            let v = l.split_once('[')?.1;
            Some(v.strip_suffix(']').unwrap_or(v).to_string())
        })
        .collect()
}

fn runpath(file: &Path) -> Option<String> {
    let mut v = dynamic_values(file, "(RUNPATH)");
    assert!(v.len() <= 1, "{file:?} has {} RUNPATHs", v.len());
    v.pop()
}

/// `ldd FILE` as `(soname, where it resolves)` pairs ("not found" included).
fn ldd(file: &Path) -> Vec<(String, String)> {
    let out = run(Command::new("ldd").arg(file));
    assert!(out.status.success(), "ldd {file:?}: {}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (name, rest) = l.trim().split_once(" => ")?;
            let target = rest.split(" (0x").next().unwrap_or(rest).trim();
            Some((name.to_string(), target.to_string()))
        })
        .collect()
}

/// dlopen(RTLD_NOW) in this process, call `function` and say which file
/// each of `symbols` was bound from (dladdr), so a library loaded from
/// anywhere but its store path is seen.
fn load_and_call(module: &Path, function: &str, symbols: &[&str]) -> (i32, Vec<String>) {
    let cpath = CString::new(module.to_str().unwrap()).unwrap();
    // SAFETY: dlopen/dlsym/dladdr with valid C strings; the functions called
    // are our modules' `int f(void)` (c/psycopg.c, c/etree.c).
    unsafe {
        let handle = libc::dlopen(cpath.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
        if handle.is_null() {
            let err = CStr::from_ptr(libc::dlerror())
                .to_string_lossy()
                .into_owned();
            panic!("dlopen {module:?} failed: {err}");
        }
        let sym = |name: &str| {
            let cname = CString::new(name).unwrap();
            let p = libc::dlsym(handle, cname.as_ptr());
            assert!(!p.is_null(), "{name} not found from {module:?}");
            p
        };
        let f: extern "C" fn() -> libc::c_int = std::mem::transmute(sym(function));
        let from = symbols
            .iter()
            .map(|s| {
                let mut info: libc::Dl_info = std::mem::zeroed();
                assert!(libc::dladdr(sym(s), &mut info) != 0, "dladdr {s}");
                CStr::from_ptr(info.dli_fname)
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        (f(), from)
    }
}

// ------------------------------------------------------------------ tests

#[test]
fn missing_nix_build_fails_with_a_pointer_to_ci_run() {
    let empty = tempfile::tempdir().unwrap();
    let err =
        require_nix_in(empty.path().as_os_str()).expect_err("found nix-build in an empty dir");
    assert!(
        err.contains(".ci/run") && err.contains("scripts/install-deps") && err.contains("nix-bin"),
        "unhelpful message: {err}"
    );
}

#[test]
fn stripped_fod_of_linked_modules_is_valid_and_references_nothing() {
    let case = Case::new("stripped_fod_of_linked_modules_is_valid_and_references_nothing");
    let hash = case.learn_fod_hash();
    let fod = case
        .build("fod.nix", None, &[("outputHash", Arg::Str(&hash))])
        .unwrap_or_else(|e| panic!("fod.nix with outputHash {hash} failed:\n{e}"));
    // Nix 2.8 exits 0 for a FOD with references but leaves the printed path
    // invalid (shared/research/nix-2.8-here.md): check validity too.
    assert!(
        valid(&fod),
        "nix-build printed {fod:?}, but it is not a valid path"
    );
    assert_eq!(
        references(&fod),
        Vec::<String>::new(),
        "the FOD keeps references"
    );
    // What the rest relies on: the modules were linked to the packages' store
    // lib dirs, whose hashes are now `e`s but whose names are kept.
    let (pg, xml, xz) = (
        case.package("libs.postgresql"),
        case.package("libs.libxml2"),
        case.package("libs.xz"),
    );
    assert_eq!(
        runpath(&fod.join(PSYCOPG)),
        Some(stripped(&format!("{pg}/lib")))
    );
    assert_eq!(
        runpath(&fod.join(ETREE)),
        Some(format!(
            "{}:{}",
            stripped(&format!("{xml}/lib")),
            stripped(&format!("{xz}/lib"))
        ))
    );
}

#[test]
fn patched_env_references_exactly_the_linked_library_packages() {
    let env = patched_env("patched_env_references_exactly_the_linked_library_packages");
    // postgresql and libxml2 were given with --libs; xz was found through
    // libxml2's RUNPATH. glibc was --libc: on no RUNPATH, so no reference;
    // nor is the FOD the tree was copied from.
    assert_eq!(
        references(&env.out),
        set([&env.postgresql, &env.libxml2, &env.xz]),
        "glibc is {}",
        env.glibc
    );
}

#[test]
fn patched_modules_runpath_is_exactly_their_store_lib_dirs() {
    let env = patched_env("patched_modules_runpath_is_exactly_their_store_lib_dirs");
    // Each module gets the directories of what it needs, in DT_NEEDED order,
    // no stripped entries, nothing for libc.so.6/libm.so.6.
    assert_eq!(
        runpath(&env.out.join(PSYCOPG)),
        Some(format!("{}/lib", env.postgresql))
    );
    assert_eq!(
        runpath(&env.out.join(ETREE)),
        Some(format!("{}/lib:{}/lib", env.libxml2, env.xz))
    );
    // DT_RUNPATH it stays: an RPATH would also apply to the libraries' deps.
    for m in [PSYCOPG, ETREE] {
        assert_eq!(
            dynamic_values(&env.out.join(m), "(RPATH)"),
            Vec::<String>::new(),
            "{m}"
        );
    }
}

#[test]
fn patched_modules_needed_libraries_resolve_into_the_store() {
    let env = patched_env("patched_modules_needed_libraries_resolve_into_the_store");
    let want = [
        (
            PSYCOPG,
            vec![("libpq.so.5", format!("{}/lib/libpq.so.5", env.postgresql))],
        ),
        (
            ETREE,
            vec![
                ("libxml2.so.2", format!("{}/lib/libxml2.so.2", env.libxml2)),
                ("liblzma.so.5", format!("{}/lib/liblzma.so.5", env.xz)),
            ],
        ),
    ];
    for (module, store_libs) in want {
        let file = env.out.join(module);
        let needed = dynamic_values(&file, "(NEEDED)");
        let resolved = ldd(&file);
        let mut expected: Vec<String> = store_libs.iter().map(|(s, _)| s.to_string()).collect();
        expected.extend(
            needed
                .iter()
                .filter(|n| LIBC_SONAMES.contains(&n.as_str()))
                .cloned(),
        );
        assert_eq!(set(needed.clone()), set(expected), "{module}: DT_NEEDED");
        for (soname, path) in &store_libs {
            let got = resolved
                .iter()
                .find(|(n, _)| n == soname)
                .map(|(_, p)| p.as_str());
            assert_eq!(
                got,
                Some(path.as_str()),
                "{module}: ldd resolves {soname} to {got:?}\n{resolved:?}"
            );
        }
        for n in needed.iter().filter(|n| LIBC_SONAMES.contains(&n.as_str())) {
            let got = resolved
                .iter()
                .find(|(s, _)| s == n)
                .map(|(_, p)| p.as_str());
            assert!(
                got.is_some_and(|p| p.starts_with('/')),
                "{module}: {n} => {got:?}"
            );
        }
    }
}

#[test]
fn patched_modules_load_and_run_in_the_test_process() {
    let env = patched_env("patched_modules_load_and_run_in_the_test_process");
    let (got, from) = load_and_call(&env.out.join(PSYCOPG), "psycopg_check", &["PQlibVersion"]);
    assert_eq!(got, PSYCOPG_CHECK);
    assert_eq!(from, [format!("{}/lib/libpq.so.5", env.postgresql)]);

    let (got, from) = load_and_call(
        &env.out.join(ETREE),
        "lxml_check",
        &["xmlCheckVersionNum", "lzma_test_version"],
    );
    assert_eq!(got, LXML_CHECK);
    assert_eq!(
        from,
        [
            format!("{}/lib/libxml2.so.2", env.libxml2),
            format!("{}/lib/liblzma.so.5", env.xz)
        ]
    );
}

#[test]
fn missing_library_fails_the_build_naming_its_package() {
    let case = Case::new("missing_library_fails_the_build_naming_its_package");
    let err = match case.main(false, true) {
        Ok(out) => panic!("built {out:?} without libxml2"),
        Err(e) => e,
    };
    assert!(
        err.contains("libxml2.so.2 wanted by") && err.contains("it came from libxml2-2.13.8"),
        "patch-rpaths does not name libxml2 and where it came from:\n{err}"
    );
    assert!(
        err.contains(&format!("{ETREE} —")),
        "the error does not name the module that wants libxml2.so.2:\n{err}"
    );
}

#[test]
fn unpatched_modules_fail_the_builders_load_check() {
    // The control: the builder's ldd check (main.sh) must reject modules
    // whose RUNPATH is still stripped, or its passing would prove nothing.
    // The host has its own libxml2.so.2 and liblzma.so.5, so this also shows
    // the check tells the store from /lib.
    let case = Case::new("unpatched_modules_fail_the_builders_load_check");
    let err = match case.main(true, false) {
        Ok(out) => panic!("unpatched modules passed the builder's checks: {out:?}"),
        Err(e) => e,
    };
    assert!(
        err.contains("check: libpq.so.5 (needed by")
            && err.contains("does not resolve into /nix/store/"),
        "the builder's check did not reject an unpatched module:\n{err}"
    );
}
