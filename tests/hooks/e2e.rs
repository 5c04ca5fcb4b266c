//! The offline end to end (issue 5): examples/demo-app built by the real Nix with
//! nix/mk-uv-venv.nix — the function nixpkgs users call — on the offline stand-ins of
//! nix/offline (a stdenv that behaves as nixpkgs' where the hooks meet it, default fixup hooks
//! included), through the real setup hooks (hooks/*.sh). This is what scripts/demo shows;
//! nix/offline/demo.nix holds the derivations, examples/demo-app/package.nix the committed FOD
//! hash.
//!
//! What is checked:
//! - the fixed-output derivation (`uv sync --frozen` of real wheels, plus a path dependency
//!   whose C extension uv builds against libcrcutil from another store path) is accepted: its
//!   output is valid and references nothing; fresh builds give the committed hash, also two at
//!   once with different nonces (different store paths for every input, different build
//!   directories), and `nix-build --check` rebuilds it to the same bytes;
//! - the same FOD is NOT accepted without the strip hook, nor with the hook keeping the
//!   references (tests/nix/e2e/unstripped.nix explains the two controls);
//! - the app (the main derivation) imports every package, runs its console scripts, loads
//!   libcrcutil from the store, and references exactly the Python stand-in, crcutil and
//!   itself: not the glibc stand-in (patch-rpaths gets --libc from the bintools stand-in,
//!   so the C library adds no RUNPATH entry), not the FOD, not the sources.
//!
//! Needs `nix-build`/`nix-store` on PATH (scripts/test puts Nix 2.26 there, from
//! scripts/install-nix) and a store it may build in as root without a daemon, uv 0.13.9 (the hash holds for it), python3.11 with its
//! headers in /usr (the FOD compiles fastcrc), gcc, and PyPI. A missing Nix is a test
//! failure, not a skip. NIX_CONFIG is set for the child processes when it is not set already.
//!
//! Inputs: the tools are the ones cargo built for this test (the directory of
//! `CARGO_BIN_EXE_fix-venv`), or `$FIXUP_HOOKS_TOOLS_DIR`; uv is `$FIXUP_HOOKS_UV_BIN`, else
//! found (not through a pyenv shim: the builder needs the binary). uv's cache is
//! `$FIXUP_HOOKS_UV_CACHE_DIR`, else `${FIXUP_HOOKS_CACHE:-~/.cache/fixup-hooks}/uv-nix`; the
//! FOD's builder gets it through impureEnvVars, and its output does not depend on it.
//!
//! Every derivation but the FOD gets this run's nonce, so nothing of an earlier run is reused;
//! the FOD keeps its name and hence its output path (its content does not depend on the
//! nonce; that is what is tested), and the fake-hash and `--check` builds run it afresh.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::support::nix::{
    dynamic_values, got_hash, nix_build_with, references, refused_for_references, run, set, stamp,
    stripped, text, valid, NixArg, FAKE_HASH, UV_VERSION,
};
use base64::Engine;
use sha2::{Digest, Sha256};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/nix/offline/demo.nix");
const UNSTRIPPED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/nix/e2e/unstripped.nix");
const MISSING_LIB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/nix/e2e/missing-lib.nix");
/// Another fake hash: a FOD's output path is made of its name and hash, and Nix builds one
/// output path at a time, so two fresh builds at once need two.
const FAKE_HASH_2: &str = "sha256-BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB=";

const SITE: &str = "lib/python3.11/site-packages";
const FASTCRC_SO: &str =
    "lib/python3.11/site-packages/fastcrc/_fastcrc.cpython-311-x86_64-linux-gnu.so";
/// Every top-level and compiled module the demo's venv must import.
const IMPORTS: &[&str] = &[
    "markupsafe",
    "markupsafe._speedups",
    "yaml",
    "yaml._yaml",
    "pygments",
    "pygments.lexers",
    "fastcrc",
    "fastcrc._fastcrc",
    "demo_cli",
];

// ---------------------------------------------------------------- helpers

/// A `nix-*` command as support::nix's, plus uv's cache for the FOD's builder
/// (impureEnvVars).
fn nix(program: &str) -> Command {
    let mut cmd = crate::support::nix::nix(program);
    cmd.env("FIXUP_HOOKS_UV_CACHE_DIR", &run_inputs().uv_cache);
    cmd
}

/// `readelf -d`'s RUNPATH of `file`, if any.
fn runpath(file: &Path) -> Option<String> {
    let mut v = dynamic_values(file, "(RUNPATH)");
    v.extend(dynamic_values(file, "(RPATH)"));
    assert!(
        v.len() <= 1,
        "{file:?} has {} RUNPATH/RPATH entries",
        v.len()
    );
    v.pop()
}

// ------------------------------------------------------------ the inputs

/// What every build of this run shares.
struct RunInputs {
    nonce: String,
    tools_dir: String,
    uv_bin: String,
    uv_cache: PathBuf,
}

fn run_inputs() -> &'static RunInputs {
    static INPUTS: OnceLock<RunInputs> = OnceLock::new();
    INPUTS.get_or_init(|| {
        let tools_dir = std::env::var("FIXUP_HOOKS_TOOLS_DIR").unwrap_or_else(|_| {
            let exe = Path::new(env!("CARGO_BIN_EXE_fix-venv"));
            exe.parent().unwrap().to_str().unwrap().to_string()
        });
        for tool in ["strip-store-refs", "patch-rpaths", "fix-venv"] {
            assert!(
                Path::new(&tools_dir).join(tool).is_file(),
                "{tool} is not in {tools_dir} (set FIXUP_HOOKS_TOOLS_DIR)"
            );
        }
        let uv_cache = std::env::var_os("FIXUP_HOOKS_UV_CACHE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                let base = std::env::var_os("FIXUP_HOOKS_CACHE")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| {
                        let home = std::env::var_os("XDG_CACHE_HOME")
                            .map(PathBuf::from)
                            .unwrap_or_else(|| {
                                PathBuf::from(std::env::var_os("HOME").unwrap_or("/tmp".into()))
                                    .join(".cache")
                            });
                        home.join("fixup-hooks")
                    });
                base.join("uv-nix")
            });
        std::fs::create_dir_all(&uv_cache)
            .unwrap_or_else(|e| panic!("cannot create uv's cache {uv_cache:?}: {e}"));
        RunInputs {
            nonce: format!("e2e-{}", stamp()),
            tools_dir,
            uv_bin: crate::support::nix::find_uv().unwrap_or_else(|e| panic!("{e}")),
            uv_cache,
        }
    })
}

fn uv_version() -> String {
    let out = run(Command::new(&run_inputs().uv_bin).arg("--version"));
    text(&out.stdout).trim().to_string()
}

// ------------------------------------------------------------ the builds

/// `nix-build` of `file` with the run's tools, uv and `nonce`, plus `args`; `Ok` is the
/// printed paths (for a FOD not necessarily valid), `Err` the stderr (which holds the log).
fn nix_build(
    file: &str,
    attrs: &[&str],
    nonce: &str,
    args: &[(&str, &str)],
    check: bool,
) -> Result<Vec<PathBuf>, String> {
    let inputs = run_inputs();
    let mut cmd = nix("nix-build");
    if check {
        cmd.arg("--check");
    }
    let mut all = vec![
        NixArg::Str("toolsDir", &inputs.tools_dir),
        NixArg::Str("uvBin", &inputs.uv_bin),
        NixArg::Str("nonce", nonce),
    ];
    all.extend(args.iter().map(|&(k, v)| NixArg::Str(k, v)));
    nix_build_with(cmd, Path::new(file), attrs, &all).map(|built| built.paths)
}

/// The FOD's outputHash as committed (examples/demo-app/package.nix, through demo.nix).
fn committed_hash() -> String {
    let out = run(nix("nix-instantiate")
        .args(["--eval", "--json", DEMO, "-A", "fod.outputHash"])
        .args(["--argstr", "toolsDir", ROOT]));
    assert!(
        out.status.success(),
        "evaluating demo.nix: {}",
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A fresh build of the demo's FOD with a fake hash (its output path is never valid, so
/// the builder always runs) and `nonce`: the hash it gives, and where uv built fastcrc.
fn learn_fod_hash(nonce: &str, fake: &str) -> Result<(String, String), String> {
    match nix_build(DEMO, &["fod"], nonce, &[("hash", fake)], false) {
        Ok(p) => Err(format!("demo.nix's FOD built with a fake hash: {p:?}")),
        Err(e) => {
            let hash = got_hash(&e).ok_or_else(|| e.clone())?;
            let built = e
                .lines()
                .find_map(|l| l.trim().strip_prefix("Built fastcrc @ "))
                .unwrap_or("?")
                .to_string();
            Ok((hash, built))
        }
    }
}

/// What a wrong committed hash means, for the failure messages.
fn hash_help(got: &str) -> String {
    format!(
        "if uv.lock, uv ({}, the hash holds for {UV_VERSION}), the host Python or gcc changed, \
         put hash ? \"{got}\" into examples/demo-app/package.nix (scripts/demo prints the same)",
        uv_version()
    )
}

/// The demo's FOD, built with the committed hash and this run's nonce (shared by the tests).
fn fod() -> &'static PathBuf {
    static FOD: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let r = FOD.get_or_init(|| {
        nix_build(DEMO, &["fod"], &run_inputs().nonce, &[], false).map(|mut p| p.remove(0))
    });
    match r {
        Ok(p) => p,
        Err(e) => {
            let help = got_hash(e).map(|g| hash_help(&g)).unwrap_or_default();
            panic!("demo.nix's FOD failed to build: {help}\n{e}")
        }
    }
}

/// The built demo: the app and the packages it should (and should not) reference.
struct Demo {
    app: PathBuf,
    crcutil: String,
    python: String,
    glibc: String,
    bintools: String,
    fod: String,
}

fn demo() -> &'static Demo {
    static DEMO_BUILT: OnceLock<Result<Demo, String>> = OnceLock::new();
    let r = DEMO_BUILT.get_or_init(|| {
        let attrs = ["app", "crcutil", "python", "glibc", "bintools", "fod"];
        let paths = nix_build(DEMO, &attrs, &run_inputs().nonce, &[], false)?;
        let [app, crcutil, python, glibc, bintools, fod] = <[PathBuf; 6]>::try_from(paths)
            .map_err(|p| format!("nix-build printed {} paths for 6 attributes", p.len()))?;
        let s = |p: PathBuf| p.to_str().unwrap().to_string();
        Ok(Demo {
            app,
            crcutil: s(crcutil),
            python: s(python),
            glibc: s(glibc),
            bintools: s(bintools),
            fod: s(fod),
        })
    });
    r.as_ref()
        .unwrap_or_else(|e| panic!("demo.nix's app failed to build:\n{e}"))
}

/// `path` run with `args`; its stdout, after asserting it succeeded.
fn run_ok(path: &Path, args: &[&str]) -> String {
    let out = run(Command::new(path)
        .args(args)
        .env_remove("PYTHONPATH")
        .env_remove("PYTHONHOME")
        .env_remove("VIRTUAL_ENV"));
    assert!(
        out.status.success(),
        "{path:?} {args:?} failed: {}\n{}",
        out.status,
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Each `RECORD` line with a blank digest, but RECORD's own and bytecode's.
fn blank_record_lines(venv: &Path) -> Vec<String> {
    let site = venv.join(SITE);
    let mut blank = Vec::new();
    for entry in std::fs::read_dir(&site).unwrap() {
        let dist_info = entry.unwrap().path();
        let name = dist_info.file_name().unwrap().to_str().unwrap().to_string();
        if !name.ends_with(".dist-info") {
            continue;
        }
        let record = std::fs::read_to_string(dist_info.join("RECORD")).unwrap();
        for line in record.lines() {
            let fields: Vec<&str> = line.rsplitn(3, ',').collect();
            let [_, digest, path] = fields[..] else {
                blank.push(format!("{name}: {line}"));
                continue;
            };
            if digest.is_empty() && path != format!("{name}/RECORD") && !path.ends_with(".pyc") {
                blank.push(format!("{name}: {line}"));
            }
        }
    }
    blank
}

/// Each `RECORD` line with a digest whose file no longer has it.
fn stale_record_lines(venv: &Path) -> Vec<String> {
    let site = venv.join(SITE);
    let mut stale = Vec::new();
    for entry in std::fs::read_dir(&site).unwrap() {
        let dist_info = entry.unwrap().path();
        if !dist_info.to_str().unwrap().ends_with(".dist-info") {
            continue;
        }
        let record = std::fs::read_to_string(dist_info.join("RECORD")).unwrap();
        for line in record.lines() {
            let fields: Vec<&str> = line.rsplitn(3, ',').collect();
            let [_size, digest, name] = fields[..] else {
                continue;
            };
            let Some(digest) = digest.strip_prefix("sha256=") else {
                continue;
            };
            let file = site.join(name);
            let bytes = std::fs::read(&file)
                .unwrap_or_else(|e| panic!("{file:?} (in {dist_info:?}/RECORD): {e}"));
            let got =
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(&bytes));
            if got != digest {
                stale.push(format!("{}: {line}", dist_info.display()));
            }
        }
    }
    stale
}

// ------------------------------------------------------------------ tests

#[test]
fn fresh_fod_builds_give_the_committed_hash_even_two_at_once() {
    // Two fresh builds at the same time, with different nonces: every input (tools, hooks,
    // Python stand-in, crcutil) has another store path, and the second build gets another
    // build directory (nix-build-…drv-1 beside …drv-0), which uv writes into fastcrc's
    // direct_url.json.
    let committed = committed_hash();
    let nonce = &run_inputs().nonce;
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| learn_fod_hash(&format!("{nonce}-fresh-a"), FAKE_HASH));
        let b = s.spawn(|| learn_fod_hash(&format!("{nonce}-fresh-b"), FAKE_HASH_2));
        (a.join().unwrap(), b.join().unwrap())
    });
    let (a, a_dir) = a.unwrap_or_else(|e| panic!("the FOD's builder failed:\n{e}"));
    let (b, b_dir) = b.unwrap_or_else(|e| panic!("the FOD's builder failed:\n{e}"));
    assert_eq!(
        a, b,
        "two fresh builds of the FOD differ (fastcrc built in {a_dir} and {b_dir})"
    );
    assert_eq!(a, committed, "{}", hash_help(&a));
}

#[test]
fn fod_is_valid_and_references_nothing() {
    let fod = fod();
    // Nix 2.8 exits 0 for a FOD with references but leaves the printed path invalid
    // (shared/research/nix-2.8-here.md): check validity too.
    assert!(
        valid(fod),
        "nix-build printed {fod:?}, but it is not a valid path"
    );
    assert_eq!(
        references(fod),
        Vec::<String>::new(),
        "the FOD keeps references"
    );
}

#[test]
fn fod_holds_the_stripped_venv_without_build_leftovers() {
    let fod = fod();
    let d = demo();
    // The store paths are neutralised, their names kept: what patch-rpaths and fix-venv
    // read in the app.
    assert_eq!(
        runpath(&fod.join(FASTCRC_SO)),
        Some(stripped(&format!("{}/lib", d.crcutil))),
        "fastcrc's RUNPATH in the FOD"
    );
    // No interpreter links: stripped, they would dangle, which stdenv's fixup refuses in
    // whatever copies the FOD (fix-venv restore makes them in the app).
    for link in ["bin/python", "bin/python3", "bin/python3.11"] {
        assert!(
            std::fs::symlink_metadata(fod.join(link)).is_err(),
            "{link} is in the FOD"
        );
    }
    assert!(
        fod.join("bin/pygmentize").is_file(),
        "the rest of bin/ stays"
    );
    let cfg = std::fs::read_to_string(fod.join("pyvenv.cfg")).unwrap();
    assert!(
        cfg.contains(&format!(
            "home = {}\n",
            stripped(&format!("{}/bin", d.python))
        )),
        "pyvenv.cfg:\n{cfg}"
    );
    // fix-venv prepare's and the builder's work: nothing that differs between builds.
    let site = fod.join(SITE);
    let mut leftovers = Vec::new();
    for entry in walkdir::WalkDir::new(fod) {
        let entry = entry.unwrap();
        let name = entry.file_name().to_str().unwrap();
        if name == "__pycache__"
            || name.ends_with(".pyc")
            || name == "uv_cache.json"
            || name == "direct_url.json"
            || name == ".lock"
        {
            leftovers.push(entry.path().display().to_string());
        }
    }
    assert_eq!(
        leftovers,
        Vec::<String>::new(),
        "build leftovers in the FOD"
    );
    assert!(site.join("fastcrc/__init__.py").is_file());
    assert!(
        !site.join("demo_cli").exists(),
        "the workspace member is installed in the FOD; uv sync --no-install-workspace should leave it out"
    );
    // RECORD digests hold for the stripped files (fix-venv prepare blanks those of files
    // naming store paths), or they would carry the store paths' hashes into the FOD's hash.
    assert_eq!(
        stale_record_lines(fod),
        Vec::<String>::new(),
        "stale RECORD digests"
    );
}

#[test]
fn fod_rebuilt_with_check_is_the_same() {
    let fod = fod();
    // --check runs the builder again (with this run's inputs) and compares the output with
    // the valid one: the same bytes, so the same hash.
    let checked = nix_build(DEMO, &["fod"], &run_inputs().nonce, &[], true)
        .unwrap_or_else(|e| panic!("nix-build --check of the FOD failed:\n{e}"));
    assert_eq!(&checked[0], fod);
}

#[test]
fn fod_without_the_strip_hook_is_not_accepted() {
    let nonce = format!("{}-nohook", run_inputs().nonce);
    let hash = match nix_build(
        UNSTRIPPED,
        &[],
        &nonce,
        &[("variant", "nohook"), ("outputHash", FAKE_HASH)],
        false,
    ) {
        Ok(p) => panic!("the unstripped FOD built with a fake hash: {p:?}"),
        // Nix 2.26 and later check references before the hash: refused already.
        Err(e) if refused_for_references(&e) => return,
        Err(e) => got_hash(&e).unwrap_or_else(|| panic!("no hash mismatch:\n{e}")),
    };
    match nix_build(
        UNSTRIPPED,
        &[],
        &nonce,
        &[("variant", "nohook"), ("outputHash", &hash)],
        false,
    ) {
        // Its hash does not even hold from one build to the next (unstripped.nix: $out is in
        // a RECORD digest), or (newer Nix) the references are refused.
        Err(e) => assert!(
            e.contains("hash mismatch") || refused_for_references(&e),
            "the unstripped FOD failed for another reason:\n{e}"
        ),
        Ok(p) => {
            let p = &p[0];
            assert!(
                !valid(p) || !references(p).is_empty(),
                "the FOD without the strip hook was accepted: {p:?}"
            );
        }
    }
}

#[test]
fn fod_keeping_references_is_not_accepted() {
    let nonce = format!("{}-keep", run_inputs().nonce);
    let hash = match nix_build(
        UNSTRIPPED,
        &[],
        &nonce,
        &[("variant", "keep"), ("outputHash", FAKE_HASH)],
        false,
    ) {
        Ok(p) => panic!("the FOD keeping references built with a fake hash: {p:?}"),
        Err(e) if refused_for_references(&e) => return,
        Err(e) => got_hash(&e).unwrap_or_else(|| panic!("no hash mismatch:\n{e}")),
    };
    match nix_build(
        UNSTRIPPED,
        &[],
        &nonce,
        &[("variant", "keep"), ("outputHash", &hash)],
        false,
    ) {
        // Newer Nix refuses it outright.
        Err(e) => assert!(
            refused_for_references(&e),
            "the FOD keeping references failed for another reason:\n{e}"
        ),
        // Nix 2.8: exit 0 with the right hash, but the printed path is not valid.
        Ok(p) => {
            let p = &p[0];
            assert!(
                !valid(p),
                "Nix 2.8 accepted a FOD with references: {p:?} is valid (references: {:?})",
                references(p)
            );
        }
    }
}

#[test]
fn app_missing_a_library_names_the_package_it_came_from() {
    fod();
    let nonce = format!("{}-missing-lib", run_inputs().nonce);
    let err = match nix_build(MISSING_LIB, &[], &nonce, &[], false) {
        Ok(p) => panic!("the app without crcutil built: {p:?}"),
        Err(e) => e,
    };
    assert!(
        err.contains("missing libcrcutil.so.1 wanted by")
            && err.contains(FASTCRC_SO)
            && err.contains("it came from crcutil-1.0: add that package to buildInputs"),
        "{err}"
    );
}

#[test]
fn app_imports_every_package_and_runs_its_scripts() {
    let d = demo();
    let app = &d.app;
    let app_s = app.to_str().unwrap();

    // The interpreter is the Python stand-in, the venv is the app.
    let code = format!(
        "import sys, os, yaml, markupsafe._speedups as s; import {}; \
         print(sys.prefix); print(os.readlink(sys.prefix + '/bin/python')); \
         print(yaml.__with_libyaml__, s.__file__.endswith('.so'))",
        IMPORTS.join(", ")
    );
    let out = run_ok(&app.join("bin/python"), &["-c", &code]);
    assert_eq!(
        out,
        format!("{app_s}\n{}/bin/python3.11\nTrue True\n", d.python),
        "imports from {app_s}/bin/python"
    );

    // The console scripts: a wheel's (pygmentize) and the workspace member's (demo-cli),
    // regenerated by fix-venv restore with shebangs naming the venv's python.
    for script in ["pygmentize", "demo-cli"] {
        let body = std::fs::read_to_string(app.join("bin").join(script)).unwrap();
        assert!(
            body.starts_with(&format!("#!{app_s}/bin/python\n")),
            "bin/{script}:\n{body}"
        );
    }
    let version = run_ok(&app.join("bin/pygmentize"), &["-V"]);
    assert!(version.starts_with("Pygments version 2.21.0"), "{version}");

    let out = run_ok(&app.join("bin/demo-cli"), &["fixup", "hooks"]);
    let lib = format!("{}/lib/libcrcutil.so.1.0.0", d.crcutil);
    assert!(
        out.contains("fastcrc.crc32('fixup hooks') = 0x")
            && out.contains("(zlib agrees), crcutil 1.0 from ")
            && out.contains(&lib),
        "demo-cli did not compute through {lib}:\n{out}"
    );
    assert!(out.contains("markupsafe 3.0.4: &lt;b&gt;"), "{out}");
    assert!(
        out.contains("_yaml.cpython-311-x86_64-linux-gnu.so)"),
        "{out}"
    );
}

#[test]
fn app_record_digests_match_the_files() {
    // fix-venv prepare blanks the digests of files naming store paths (their bytes change
    // when stripped); fix-venv restore refills them from the final files, after patch-rpaths
    // rewrote fastcrc's RUNPATH and restore rewrote the scripts.
    let app = &demo().app;
    assert_eq!(
        stale_record_lines(app),
        Vec::<String>::new(),
        "stale RECORD digests in the app"
    );
    assert_eq!(
        blank_record_lines(app),
        Vec::<String>::new(),
        "blank RECORD digests in the app"
    );
}

#[test]
fn app_references_exactly_python_crcutil_and_itself() {
    let d = demo();
    let app = d.app.to_str().unwrap();
    // python: bin/python and pyvenv.cfg's home; crcutil: fastcrc's RUNPATH; the app itself:
    // shebangs, activators, bytecode. Not the glibc stand-in (patch-rpaths gets --libc from
    // the bintools stand-in: the C library adds no RUNPATH entry), not the bintools, not the
    // FOD the tree was copied from, not the sources demo-cli was installed from.
    assert_eq!(
        references(&d.app),
        set([app, &d.python, &d.crcutil]),
        "glibc {}, bintools {}, fod {}",
        d.glibc,
        d.bintools,
        d.fod
    );
}

#[test]
fn app_links_fastcrc_to_the_crcutil_store_path_only() {
    let d = demo();
    assert_eq!(
        runpath(&d.app.join(FASTCRC_SO)),
        Some(format!("{}/lib", d.crcutil)),
        "fastcrc's RUNPATH in the app"
    );
    // The wheels' modules need only the C library: nothing to add.
    for so in [
        "markupsafe/_speedups.cpython-311-x86_64-linux-gnu.so",
        "yaml/_yaml.cpython-311-x86_64-linux-gnu.so",
    ] {
        let rp = runpath(&d.app.join(SITE).join(so));
        assert!(
            rp.as_deref().map_or(true, |r| !r.contains("/nix/store/")),
            "{so}: RUNPATH {rp:?}"
        );
    }
}
