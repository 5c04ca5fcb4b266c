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

use std::ffi::{CStr, CString};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::nix::{
    bin_under_test, dynamic_values, expect_got_hash, nix_build, nonce, references, run, runpath,
    set, stripped, text, valid, NixArg, FAKE_HASH,
};

const NIX_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/nix/patch");

const PSYCOPG: &str =
    "lib/python3.11/site-packages/psycopg_c/_psycopg.cpython-311-x86_64-linux-gnu.so";
const ETREE: &str = "lib/python3.11/site-packages/lxml/etree.cpython-311-x86_64-linux-gnu.so";
/// What the modules' functions return (see the comments in c/*.c).
const PSYCOPG_CHECK: i32 = 150_021;
const LXML_CHECK: i32 = 121_436;
/// Sonames the C library provides: the loader finds them, not the RUNPATH.
const LIBC_SONAMES: &[&str] = &["libc.so.6", "libm.so.6"];

// ------------------------------------------------------------ the builds

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
            strip: bin_under_test(
                "STRIP_STORE_REFS_BIN",
                env!("CARGO_BIN_EXE_strip-store-refs"),
            ),
            patch: bin_under_test("PATCH_RPATHS_BIN", env!("CARGO_BIN_EXE_patch-rpaths")),
        }
    }

    /// `nix-build` an expression of tests/nix/patch with this case's nonce
    /// and tools plus `args`; `Ok` is the printed path (for the FOD not
    /// necessarily valid), `Err` the stderr, which holds the build log.
    fn build(&self, expr: &str, attr: Option<&str>, args: &[NixArg]) -> Result<PathBuf, String> {
        let mut all = vec![
            NixArg::Str("nonce", &self.nonce),
            NixArg::Str("stripPath", &self.strip),
        ];
        if expr != "fod.nix" {
            all.push(NixArg::Str("patchPath", &self.patch));
        }
        all.extend_from_slice(args);
        nix_build(&Path::new(NIX_DIR).join(expr), attr.as_slice(), &all)
            .map(|mut built| built.paths.pop().unwrap())
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
        match self.build("fod.nix", None, &[NixArg::Str("outputHash", FAKE_HASH)]) {
            Ok(p) => panic!("fod.nix built with a fake hash: {p:?}"),
            Err(e) => expect_got_hash(&e),
        }
    }

    /// main.nix with the learned FOD hash and its switches (main.nix).
    fn main(&self, with_libxml2: bool, patched: bool) -> Result<PathBuf, String> {
        let hash = self.learn_fod_hash();
        let args = [
            NixArg::Str("fodHash", &hash),
            NixArg::Bool("withLibxml2", with_libxml2),
            NixArg::Bool("patched", patched),
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
fn stripped_fod_of_linked_modules_is_valid_and_references_nothing() {
    let case = Case::new("stripped_fod_of_linked_modules_is_valid_and_references_nothing");
    let hash = case.learn_fod_hash();
    let fod = case
        .build("fod.nix", None, &[NixArg::Str("outputHash", &hash)])
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
