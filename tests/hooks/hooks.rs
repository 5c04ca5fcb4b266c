//! The setup hooks (hooks/*.sh, packaged by nix/hooks.nix) against the real
//! Nix: each knob changes what its hook does, and the hooks run in one
//! order whatever the order of nativeBuildInputs.
//!
//! The hooks run unchanged in plain derivations through nix/offline, the
//! documented stand-in for stdenv's hook protocol (setup.sh sources each
//! hook of nativeBuildInputs, calls addEnvHooks' functions per buildInputs
//! package and runs fixupPhase). The derivations are in tests/nix/hooks/
//! (default.nix): every knob comes as a pair that differs in that knob
//! alone, `on` and its control `off`, and each test checks both. Outcomes
//! are read with Nix's own scanner (`nix-store -q --references`), file
//! contents, `readelf` (RUNPATH, interpreter), by running what the hooks
//! produced, or from the failed build's stderr.
//!
//! Needs `nix-build`/`nix-store` on PATH and a store it may build in as root
//! without a daemon (`.ci/run` runs scripts/install-deps, which installs
//! Debian's nix-bin; see ../shared/research/nix-2.8-here.md). A missing Nix
//! is a test failure, not a skip. NIX_CONFIG is set for the child processes
//! when it is not set already (no sandbox, no build users, no substituters).
//! The builders use the host's gcc and /usr/bin/python3.11.
//!
//! The tools under test are cargo's builds of this crate, the directory of
//! `CARGO_BIN_EXE_strip-store-refs` (nix/offline copies the three binaries
//! from it). They and the hook packages are built once per run (the run's
//! nonce); every test's own derivations get the test's nonce, so tests run
//! in parallel and no output of an earlier run is reused.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use crate::support::nix::{
    dynamic_values, hash_of, nix, nix_build, nonce, references, run, stamp, stripped, text, Built,
    NixArg, ERASED_HASH,
};

const NIX_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/nix/hooks");
const PYTHON: &str = "/usr/bin/python3.11";
const LOADER: &str = "lib/ld-linux-x86-64.so.2";

// ---------------------------------------------------------------- helpers

/// Unique per run; goes into the tools and hook packages, shared by the tests.
fn run_nonce() -> &'static str {
    static RUN: OnceLock<String> = OnceLock::new();
    RUN.get_or_init(|| format!("run-{}", stamp()))
}

/// The directory cargo built the three tools into.
fn tools_dir() -> &'static Path {
    let dir = Path::new(env!("CARGO_BIN_EXE_strip-store-refs"))
        .parent()
        .unwrap();
    for other in [
        env!("CARGO_BIN_EXE_patch-rpaths"),
        env!("CARGO_BIN_EXE_fix-venv"),
    ] {
        assert_eq!(
            Path::new(other).parent(),
            Some(dir),
            "{other} is not next to strip-store-refs: nix/offline takes one toolsDir"
        );
    }
    dir
}

/// `paths` as `references` returns them.
fn refs<P: AsRef<Path>>(paths: &[P]) -> Vec<String> {
    let mut v: Vec<String> = paths
        .iter()
        .map(|p| p.as_ref().to_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

/// The NAR hash Nix registered for `path` (`nix-store -q --hash`).
fn nar_hash(path: &Path) -> String {
    let out = run(nix("nix-store").args(["-q", "--hash"]).arg(path));
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path:?}: {e}"))
}

fn sha256(path: &Path) -> String {
    let out = run(Command::new("sha256sum").arg(path));
    assert!(out.status.success(), "sha256sum {path:?}");
    text(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// `file`'s DT_RUNPATH, if any (at most one), and no DT_RPATH.
fn runpath(file: &Path) -> Option<String> {
    let v = crate::support::nix::runpath(file);
    assert_eq!(dynamic_values(file, "(RPATH)"), Vec::<String>::new());
    v
}

/// The program interpreter of `file` (`readelf -l`).
fn interpreter(file: &Path) -> Option<String> {
    let out = run(Command::new("readelf").arg("-l").arg(file));
    assert!(out.status.success(), "readelf -l {file:?}");
    text(&out.stdout).lines().find_map(|l| {
        let v = l.split_once("[Requesting program interpreter: ")?.1;
        Some(v.strip_suffix(']').unwrap_or(v).to_string())
    })
}

/// Every file under `dir` whose name satisfies `pred`, relative to `dir`.
fn find(dir: &Path, pred: &dyn Fn(&str) -> bool) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, pred: &dyn Fn(&str) -> bool, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if pred(&name) {
                found.push(path.strip_prefix(root).unwrap().display().to_string());
            }
            if entry.file_type().unwrap().is_dir() {
                walk(root, &path, pred, found);
            }
        }
    }
    let mut found = Vec::new();
    walk(dir, dir, pred, &mut found);
    found.sort();
    found
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A venv's console script, run. Without writing bytecode: this process
/// may be root, whom the store's read-only modes do not stop.
fn run_script(script: &Path) -> Output {
    run(Command::new(script).env("PYTHONDONTWRITEBYTECODE", "1"))
}

// ------------------------------------------------------------ the builds

/// How tests/nix/hooks/default.nix hands the hooks their knobs (see there): every test runs
/// under each.
const VARIANTS: [&str; 3] = ["current", "globs", "structured"];

/// One test's builds of tests/nix/hooks/default.nix under one variant, with its nonce.
struct Case {
    nonce: String,
    variant: &'static str,
}

impl Case {
    /// The test's builds under each variant.
    fn each(test: &str) -> impl Iterator<Item = Case> + '_ {
        VARIANTS.into_iter().map(move |variant| Case {
            nonce: nonce(&format!("{test}-{variant}")),
            variant,
        })
    }

    /// `nix-build -A ATTR…`: `Ok` with the printed paths, `Err` with the
    /// stderr (which holds the build log).
    fn try_build(&self, attrs: &[&str]) -> Result<Built, String> {
        let args = [
            NixArg::Str("toolsDir", s(tools_dir())),
            NixArg::Str("runNonce", run_nonce()),
            NixArg::Str("nonce", &self.nonce),
            NixArg::Str("variant", self.variant),
        ];
        let built = nix_build(Path::new(NIX_DIR), attrs, &args)?;
        assert_eq!(
            built.paths.len(),
            attrs.len(),
            "nix-build -A {attrs:?} printed {:?}\n{}",
            built.paths,
            built.log
        );
        Ok(built)
    }

    fn build(&self, attrs: &[&str]) -> Built {
        self.try_build(attrs).unwrap_or_else(|log| {
            panic!("nix-build -A {attrs:?} ({}) failed:\n{log}", self.variant)
        })
    }

    /// One attribute, which must build.
    fn one(&self, attr: &str) -> Built {
        self.build(&[attr])
    }

    /// One attribute's path.
    fn path(&self, attr: &str) -> PathBuf {
        self.one(attr).paths.remove(0)
    }

    /// One attribute, which must fail to build: its stderr.
    fn fails(&self, attr: &str) -> String {
        match self.try_build(&[attr]) {
            Ok(b) => panic!(
                "{attr} ({}) built ({:?}) but must fail:\n{}",
                self.variant, b.paths, b.log
            ),
            Err(log) => log,
        }
    }
}

// ------------------------------------------------------------------ tests

// ---- strip-store-refs hook

#[test]
fn strip_hook_strips_every_output_and_its_check_passes() {
    for case in Case::each("strip_hook_strips_every_output_and_its_check_passes") {
        let dep = case.path("strip.deps.dep");
        let built = case.build(&["strip.outputs.stripped.out", "strip.outputs.stripped.lib"]);
        let (out, lib) = (&built.paths[0], &built.paths[1]);
        for o in [out, lib] {
            assert_eq!(references(o), refs::<&Path>(&[]), "{o:?} keeps references");
            assert_eq!(
                read(&o.join("share/ref.txt")),
                format!("dep={}\n", stripped(&format!("{}/lib/x", s(&dep))))
            );
            assert_eq!(
                std::fs::read_link(o.join("share/link")).unwrap(),
                PathBuf::from(stripped(&format!("{}/lib/x", s(&dep))))
            );
        }
        assert_eq!(
            read(&out.join("share/outputs.txt")),
            format!(
                "self={}\nlib={}\n",
                stripped(&format!("{}/share/ref.txt", s(out))),
                stripped(&format!("{}/share/ref.txt", s(lib)))
            )
        );
        // stdenv's multiple-outputs hook wrote $lib into $out's nix-support in postFixup;
        // the strip, which runs after it, erased it there too.
        assert_eq!(
            read(&out.join("nix-support/propagated-build-inputs")),
            format!(" {}", stripped(s(lib)))
        );
        // The stripped share/links dangle now: stdenv's broken-symlink check ran before
        // the strip (it would fail the build after it), and the log says so.
        assert!(
            built.log.contains(
                "strip-store-refs: note: 2 symlinks now point into the store at a neutralised path"
            ),
            "{}",
            built.log
        );
        // Both outputs in one run, then the --check run, which found nothing.
        // (In the order stdenv lists the outputs: under structured attrs, bash's.)
        assert!(
            [(out, lib), (lib, out)]
                .iter()
                .any(|(a, b)| built.log.contains(&format!(
                    "stripping store references from {} {}",
                    s(a),
                    s(b)
                ))),
            "{}",
            built.log
        );
        assert!(
            built
                .log
                .contains("strip-store-refs: 0 references to 0 store paths remain"),
            "the hook's --check did not report a clean tree:\n{}",
            built.log
        );
        // Control (dontStripStoreRefs): the same outputs hold references.
        let un = case.build(&[
            "strip.outputs.unstripped.out",
            "strip.outputs.unstripped.lib",
        ]);
        assert!(references(&un.paths[0]).contains(&s(&dep).to_string()));
        assert!(references(&un.paths[1]).contains(&s(&dep).to_string()));
    }
}

#[test]
fn dont_strip_store_refs_leaves_every_reference() {
    for case in Case::each("dont_strip_store_refs_leaves_every_reference") {
        let dep = case.path("strip.deps.dep");
        let built = case.build(&[
            "strip.outputs.unstripped.out",
            "strip.outputs.unstripped.lib",
        ]);
        let (out, lib) = (&built.paths[0], &built.paths[1]);
        assert_eq!(references(out), refs(&[&dep, out, lib]));
        assert_eq!(references(lib), refs(&[&dep, lib]));
        assert_eq!(
            read(&out.join("share/ref.txt")),
            format!("dep={}/lib/x\n", s(&dep))
        );
        assert!(
            !built.log.contains("stripping store references"),
            "{}",
            built.log
        );
        // Control: without the knob, nothing is left (see the test above).
        let on = case.path("strip.outputs.stripped");
        assert_eq!(references(&on), refs::<&Path>(&[]));
    }
}

#[test]
fn strip_store_refs_keep_keeps_exactly_the_matching_references() {
    for case in Case::each("strip_store_refs_keep_keeps_exactly_the_matching_references") {
        let keepme = case.path("strip.deps.keepme");
        let alsokept = case.path("strip.deps.alsokept");
        let other = case.path("strip.deps.other");
        // stripStoreRefsKeep = "*-keepme* *-alsokept*": two globs in one string.
        let on = case.path("strip.keep.on");
        assert_eq!(references(&on), refs(&[&keepme, &alsokept]));
        assert_eq!(
            read(&on.join("share/ref.txt")),
            format!(
                "keepme={}/lib/x alsokept={}/lib/x other={}\n",
                s(&keepme),
                s(&alsokept),
                stripped(&format!("{}/lib/x", s(&other)))
            )
        );
        // Control: without it, all three go.
        let off = case.path("strip.keep.off");
        assert_eq!(references(&off), refs::<&Path>(&[]));
    }
}

#[test]
fn strip_store_refs_flags_restrict_stripping_to_the_target() {
    for case in Case::each("strip_store_refs_flags_restrict_stripping_to_the_target") {
        let dep = case.path("strip.deps.dep");
        let other = case.path("strip.deps.other");
        // stripStoreRefsFlags = "--target $dep".
        let on = case.path("strip.flags.on");
        assert_eq!(
            read(&on.join("share/ref.txt")),
            format!(
                "dep={} other={}/lib/x\n",
                stripped(&format!("{}/lib/x", s(&dep))),
                s(&other)
            )
        );
        assert_eq!(references(&on), refs(&[&other]));
        // Control: without it, both go.
        let off = case.path("strip.flags.off");
        assert_eq!(references(&off), refs::<&Path>(&[]));
    }
}

#[test]
fn bare_hash_of_an_input_is_neutralised() {
    for case in Case::each("bare_hash_of_an_input_is_neutralised") {
        let bareonly = case.path("strip.deps.bareonly");
        // The tree names $bareonly only by its bare hash, which Nix counts …
        let un = case.path("strip.bare.unstripped");
        assert_eq!(
            read(&un.join("share/bare.txt")),
            format!("id={}\n", hash_of(&bareonly))
        );
        assert_eq!(references(&un), refs(&[&bareonly]));
        // … and the hook's --env-candidates neutralises.
        let on = case.path("strip.bare.stripped");
        assert_eq!(
            read(&on.join("share/bare.txt")),
            format!("id={ERASED_HASH}\n")
        );
        assert_eq!(references(&on), refs::<&Path>(&[]));
    }
}

#[test]
fn own_hash_of_the_output_is_neutralised() {
    for case in Case::each("own_hash_of_the_output_is_neutralised") {
        // The output's own hash, bare, is a self-reference to Nix …
        let un = case.path("strip.self.unstripped");
        assert_eq!(
            read(&un.join("share/self.txt")),
            format!("self={}\n", hash_of(&un))
        );
        assert_eq!(references(&un), refs(&[&un]));
        // … and the hook's --env-candidates (the output is in its environment) neutralises it.
        let on = case.path("strip.self.stripped");
        assert_eq!(
            read(&on.join("share/self.txt")),
            format!("self={ERASED_HASH}\n")
        );
        assert_eq!(references(&on), refs::<&Path>(&[]));
    }
}

// ---- patch-rpaths hook ($out/lib/mod.so needs libfoo.so and libc.so.6)

const MODULE: &str = "lib/mod.so";

#[test]
fn patch_hook_finds_the_libraries_of_build_inputs() {
    for case in Case::each("patch_hook_finds_the_libraries_of_build_inputs") {
        let foo = case.path("patch.foo");
        let on = case.path("patch.gather.on");
        let module = on.join(MODULE);
        assert_eq!(runpath(&module), Some(format!("{}/lib", s(&foo))));
        assert_eq!(references(&on), refs(&[&foo]));
        // Control: foo not in buildInputs, so nothing offers libfoo.so.
        let err = case.fails("patch.gather.off");
        assert!(
            err.contains("error: missing libfoo.so wanted by /nix/store/")
                && err.contains("-patch-gather/lib/mod.so"),
            "{err}"
        );
    }
}

#[test]
fn dont_auto_patchelf_leaves_elf_files_untouched() {
    for case in Case::each("dont_auto_patchelf_leaves_elf_files_untouched") {
        let on = case.one("patch.dont.on");
        let module = on.path().join(MODULE);
        assert_eq!(runpath(&module), None);
        assert_eq!(
            sha256(&module),
            read(&on.path().join("share/mod.sha256")).trim(),
            "mod.so changed"
        );
        assert!(!on.log.contains("patch-rpaths:"), "{}", on.log);
        assert_eq!(references(on.path()), refs::<&Path>(&[]));
        // Control: without it the module is patched.
        let off = case.path("patch.dont.off");
        assert!(runpath(&off.join(MODULE)).is_some());
        assert_ne!(
            sha256(&off.join(MODULE)),
            read(&off.join("share/mod.sha256")).trim()
        );
    }
}

#[test]
fn ignore_missing_deps_star_lets_the_build_succeed() {
    for case in Case::each("ignore_missing_deps_star_lets_the_build_succeed") {
        let foo = case.path("patch.foo");
        // mod.so also needs libmissing.so, which no input offers.
        let on = case.one("patch.ignoreMissing.on");
        assert_eq!(
            runpath(&on.path().join(MODULE)),
            Some(format!("{}/lib", s(&foo)))
        );
        assert!(
            on.log
                .contains("warning: ignoring missing libmissing.so wanted by"),
            "{}",
            on.log
        );
        // Control: without it, the build fails naming the soname.
        let err = case.fails("patch.ignoreMissing.off");
        assert!(
            err.contains("error: missing libmissing.so wanted by /nix/store/"),
            "{err}"
        );
    }
}

#[test]
fn ignore_missing_deps_1_is_deprecated_but_ignores_all() {
    for case in Case::each("ignore_missing_deps_1_is_deprecated_but_ignores_all") {
        let foo = case.path("patch.foo");
        let on = case.one("patch.ignoreMissingDeprecated.on");
        assert!(
            on.log
                .contains("autoPatchelfIgnoreMissingDeps = 1 is deprecated; use [ \"*\" ]"),
            "{}",
            on.log
        );
        assert!(
            on.log
                .contains("warning: ignoring missing libmissing.so wanted by"),
            "{}",
            on.log
        );
        assert_eq!(
            runpath(&on.path().join(MODULE)),
            Some(format!("{}/lib", s(&foo)))
        );
        let err = case.fails("patch.ignoreMissingDeprecated.off");
        assert!(
            err.contains("error: missing libmissing.so wanted by"),
            "{err}"
        );
    }
}

#[test]
fn ignore_missing_deps_glob_ignores_only_matching_sonames() {
    for case in Case::each("ignore_missing_deps_glob_ignores_only_matching_sonames") {
        // libfoo.so and libmissing.so both missing; "libmiss*" covers one.
        let err = case.fails("patch.ignoreMissingGlob.on");
        assert!(
            err.contains("warning: ignoring missing libmissing.so wanted by")
                && err.contains("error: missing libfoo.so wanted by")
                && !err.contains("error: missing libmissing.so"),
            "{err}"
        );
        let err = case.fails("patch.ignoreMissingGlob.off");
        assert!(
            err.contains("error: missing libmissing.so wanted by")
                && err.contains("error: missing libfoo.so wanted by"),
            "{err}"
        );
    }
}

const EXE: &str = "bin/hello";

#[test]
fn runtime_dependencies_go_first_on_executables_only() {
    for case in Case::each("runtime_dependencies_go_first_on_executables_only") {
        let (foo, rt) = (case.path("patch.foo"), case.path("patch.rt"));
        let on = case.path("patch.runtimeDependencies.on");
        // As autoPatchelfHook: each package's lib/, before the found directories, on the
        // executable; the library gets nothing of it.
        assert_eq!(
            runpath(&on.join(EXE)),
            Some(format!("{}/lib:{}/lib", s(&rt), s(&foo)))
        );
        assert_eq!(runpath(&on.join(MODULE)), Some(format!("{}/lib", s(&foo))));
        assert_eq!(references(&on), refs(&[&foo, &rt, &case.path("glibc")]));
        let off = case.path("patch.runtimeDependencies.off");
        assert_eq!(runpath(&off.join(EXE)), Some(format!("{}/lib", s(&foo))));
        assert_eq!(runpath(&off.join(MODULE)), Some(format!("{}/lib", s(&foo))));
    }
}

#[test]
fn append_runpaths_dirs_are_appended_in_order_to_every_file() {
    for case in Case::each("append_runpaths_dirs_are_appended_in_order_to_every_file") {
        let (foo, rt, extra) = (
            case.path("patch.foo"),
            case.path("patch.rt"),
            case.path("patch.extra"),
        );
        let on = case.path("patch.appendRunpaths.on");
        for file in [MODULE, EXE] {
            assert_eq!(
                runpath(&on.join(file)),
                Some(format!(
                    "{}/lib:{}/opt/plugins:{}/lib",
                    s(&foo),
                    s(&extra),
                    s(&rt)
                )),
                "{file}"
            );
        }
        let off = case.path("patch.appendRunpaths.off");
        for file in [MODULE, EXE] {
            assert_eq!(
                runpath(&off.join(file)),
                Some(format!("{}/lib", s(&foo))),
                "{file}"
            );
        }
    }
}

#[test]
fn patchelf_flags_fail_the_build_naming_the_knob() {
    for case in Case::each("patchelf_flags_fail_the_build_naming_the_knob") {
        // autoPatchelfHook hands patchelfFlags to patchelf, which patch-rpaths never runs:
        // refused, never ignored.
        let err = case.fails("patch.patchelfFlags.on");
        assert!(
            err.contains("autoPatchelf: ERROR: patchelfFlags is set (--add-needed libextra.so)"),
            "{err}"
        );
        assert!(!err.contains("patch-rpaths: scanned"), "{err}");
        let off = case.path("patch.patchelfFlags.off");
        assert!(runpath(&off.join(MODULE)).is_some());
    }
}

#[test]
fn auto_patchelf_refuses_an_option_it_does_not_know() {
    for case in Case::each("auto_patchelf_refuses_an_option_it_does_not_know") {
        let err = case.fails("patch.unknownOption.on");
        assert!(
            err.contains("autoPatchelf: ERROR: Invalid command line argument: --frobnicate"),
            "{err}"
        );
        // Control: the same call without it patches.
        let foo = case.path("patch.foo");
        let off = case.path("patch.unknownOption.off");
        assert_eq!(runpath(&off.join(MODULE)), Some(format!("{}/lib", s(&foo))));
    }
}

#[test]
fn keep_libc_flag_puts_the_bintools_libc_dir_on_the_runpath() {
    for case in Case::each("keep_libc_flag_puts_the_bintools_libc_dir_on_the_runpath") {
        let (foo, glibc) = (case.path("patch.foo"), case.path("glibc"));
        // autoPatchelfFlags = "--keep-libc"; libc.so.6 is in NIX_BINTOOLS' orig-libc/lib.
        let on = case.path("patch.keepLibc.on");
        assert_eq!(
            runpath(&on.join(MODULE)),
            Some(format!("{}/lib:{}/lib", s(&foo), s(&glibc)))
        );
        assert_eq!(references(&on), refs(&[&foo, &glibc]));
        // Control: the C library satisfies libc.so.6 with no RUNPATH entry.
        let off = case.path("patch.keepLibc.off");
        assert_eq!(runpath(&off.join(MODULE)), Some(format!("{}/lib", s(&foo))));
        assert_eq!(references(&off), refs(&[&foo]));
    }
}

#[test]
fn search_path_added_in_pre_fixup_is_searched_recursively() {
    for case in Case::each("search_path_added_in_pre_fixup_is_searched_recursively") {
        let (foo, deep) = (case.path("patch.foo"), case.path("patch.deep"));
        // preFixup = "addAutoPatchelfSearchPath $somedep/deep"; libdeep.so is in deep/a/b.
        let on = case.path("patch.searchPath.on");
        assert_eq!(
            runpath(&on.join(MODULE)),
            Some(format!("{}/lib:{}/deep/a/b", s(&foo), s(&deep)))
        );
        assert_eq!(references(&on), refs(&[&deep, &foo]));
        let err = case.fails("patch.searchPath.off");
        assert!(err.contains("error: missing libdeep.so wanted by"), "{err}");
    }
}

#[test]
fn nix_bintools_gives_executables_its_interpreter() {
    for case in Case::each("nix_bintools_gives_executables_its_interpreter") {
        let (foo, glibc) = (case.path("patch.foo"), case.path("glibc"));
        let placeholder = stripped(&format!("{}/{LOADER}", s(&glibc)));
        let on = case.path("patch.interpreter.on");
        let hello = on.join("bin/hello");
        assert_eq!(interpreter(&hello), Some(format!("{}/{LOADER}", s(&glibc))));
        assert_eq!(runpath(&hello), Some(format!("{}/lib", s(&foo))));
        let ran = run(&mut Command::new(&hello));
        assert!(ran.status.success(), "{hello:?}: {}", text(&ran.stderr));
        assert_eq!(text(&ran.stdout), "foo=42\n");
        // Control: no NIX_BINTOOLS (the C library given by flag instead): the
        // RUNPATH is patched, the placeholder interpreter stays, nothing runs.
        let off = case.path("patch.interpreter.off");
        let hello = off.join("bin/hello");
        assert_eq!(interpreter(&hello), Some(placeholder));
        assert_eq!(runpath(&hello), Some(format!("{}/lib", s(&foo))));
        let ran = Command::new(&hello).output();
        assert!(
            ran.as_ref().map_or(true, |o| !o.status.success()),
            "{hello:?} ran with the placeholder interpreter: {ran:?}"
        );
    }
}

// ---- fix-venv hooks (tests/nix/hooks/tree-venv.sh: package `pkg`, script `pkg-hello`)

const SITE: &str = "lib/python3.11/site-packages";

fn bytecode(dir: &Path) -> Vec<String> {
    find(dir, &|n| n == "__pycache__" || n.ends_with(".pyc"))
}

/// What `dir/bin` holds named like an interpreter.
fn interpreter_links(dir: &Path) -> Vec<String> {
    find(dir, &|n| n.starts_with("python"))
        .into_iter()
        .filter(|p| p.starts_with("bin/"))
        .collect()
}

#[test]
fn fix_venv_prepare_removes_bytecode_and_interpreter_links() {
    for case in Case::each("fix_venv_prepare_removes_bytecode_and_interpreter_links") {
        let on = case.path("venv.prepare.on");
        assert_eq!(bytecode(&on), Vec::<String>::new());
        // The interpreter links would dangle once stripped (restore makes them).
        assert_eq!(interpreter_links(&on), Vec::<String>::new());
        assert!(on.join(SITE).join("pkg/__init__.py").is_file());
        let record = read(&on.join(SITE).join("pkg-1.0.dist-info/RECORD"));
        assert!(!record.contains(".pyc"), "{record}");
        assert!(record.contains("pkg/__init__.py,sha256="), "{record}");
        // Control (dontFixVenv): the bytecode stays.
        let off = case.path("venv.prepare.off");
        assert_eq!(
            interpreter_links(&off),
            ["bin/python", "bin/python3", "bin/python3.11"]
        );
        assert_eq!(
            bytecode(&off),
            [
                format!("{SITE}/pkg/__pycache__"),
                format!("{SITE}/pkg/__pycache__/__init__.cpython-311.pyc"),
                format!("{SITE}/pkg/stale.pyc"),
            ]
        );
    }
}

#[test]
fn fix_venv_prepare_blanks_the_digests_of_exactly_the_files_the_strip_changes() {
    for case in
        Case::each("fix_venv_prepare_blanks_the_digests_of_exactly_the_files_the_strip_changes")
    {
        let dep = case.path("strip.deps.dep");
        // stripStoreRefsTargets = $dep reaches both hooks: a.py is stripped and its digest
        // blanked (restore recomputes it); b.py, naming $other, is left and so is its line.
        let on = case.path("venv.selection.on").join(SITE);
        let record = read(&on.join("pkg-1.0.dist-info/RECORD"));
        assert_eq!(
            read(&on.join("pkg/a.py")),
            format!("A = '{}'\n", stripped(&format!("{}/lib/x", s(&dep))))
        );
        assert!(record.contains("pkg/a.py,,\n"), "{record}");
        let b = std::fs::read(on.join("pkg/b.py")).unwrap();
        let line = format!(
            "pkg/b.py,{},{}\n",
            fixup_hooks::venv::record::hash(&b),
            b.len()
        );
        assert!(record.contains(&line), "{record}");
        // Control: without the knob the strip changes both, and prepare blanks both.
        let off = case.path("venv.selection.off").join(SITE);
        let record = read(&off.join("pkg-1.0.dist-info/RECORD"));
        assert!(
            record.contains("pkg/a.py,,\n") && record.contains("pkg/b.py,,\n"),
            "{record}"
        );
    }
}

#[test]
fn also_hash_in_strip_flags_fails_a_build_that_prepares_a_venv() {
    for case in Case::each("also_hash_in_strip_flags_fails_a_build_that_prepares_a_venv") {
        let err = case.fails("venv.alsoHashInFlags");
        assert!(
            err.contains(
                "put the --also-hash values of stripStoreRefsFlags in stripStoreRefsAlsoHash"
            ),
            "{err}"
        );
    }
}

#[test]
fn fix_venv_restore_links_python_and_writes_runnable_console_scripts() {
    for case in Case::each("fix_venv_restore_links_python_and_writes_runnable_console_scripts") {
        let on = case.path("venv.restore.on");
        assert_eq!(
            std::fs::read_link(on.join("bin/python")).unwrap(),
            PathBuf::from(PYTHON)
        );
        assert!(
            read(&on.join("pyvenv.cfg")).contains("home = /usr/bin\n"),
            "{}",
            read(&on.join("pyvenv.cfg"))
        );
        let script = on.join("bin/pkg-hello");
        assert!(
            read(&script).starts_with(&format!("#!{}/bin/python\n", s(&on))),
            "{}",
            read(&script)
        );
        let ran = run_script(&script);
        assert!(ran.status.success(), "{script:?}: {}", text(&ran.stderr));
        assert_eq!(text(&ran.stdout), "hello from pkg\n");
        assert_eq!(bytecode(&on), Vec::<String>::new());
    }
}

#[test]
fn dont_fix_venv_restores_nothing() {
    for case in Case::each("dont_fix_venv_restores_nothing") {
        let off = case.one("venv.restore.off");
        assert!(!off.path().join("bin").exists());
        assert!(
            read(&off.path().join("pyvenv.cfg"))
                .contains(&format!("home = /nix/store/{ERASED_HASH}-")),
            "pyvenv.cfg changed"
        );
        assert!(!off.log.contains("fix-venv:"), "{}", off.log);
        // Control: without it, bin/ is made (see the test above).
        assert!(case.path("venv.restore.on").join("bin/pkg-hello").is_file());
    }
}

#[test]
fn fix_venv_check_imports_passes_for_an_importable_module() {
    for case in Case::each("fix_venv_check_imports_passes_for_an_importable_module") {
        let pass = case.one("venv.checkImports.pass");
        assert!(pass.log.contains("  import pkg: ok"), "{}", pass.log);
        // Control: restore without it checks nothing.
        let plain = case.one("venv.restore.on");
        assert!(!plain.log.contains("import pkg"), "{}", plain.log);
    }
}

#[test]
fn fix_venv_check_imports_leave_no_bytecode_behind() {
    for case in Case::each("fix_venv_check_imports_leave_no_bytecode_behind") {
        let pass = case.path("venv.checkImports.pass");
        assert_eq!(bytecode(&pass), Vec::<String>::new());
    }
}

#[test]
fn fix_venv_check_imports_fail_the_build_for_a_missing_module() {
    for case in Case::each("fix_venv_check_imports_fail_the_build_for_a_missing_module") {
        // fixVenvCheckImports = "pkg nonexistent_module".
        let err = case.fails("venv.checkImports.fail");
        assert!(
            err.contains("import pkg: ok")
                && err.contains("`import nonexistent_module` failed")
                && err.contains("ModuleNotFoundError: No module named 'nonexistent_module'"),
            "{err}"
        );
    }
}

#[test]
fn fix_venv_compile_bytecode_writes_unchecked_hash_pyc() {
    for case in Case::each("fix_venv_compile_bytecode_writes_unchecked_hash_pyc") {
        let on = case.path("venv.compile.on");
        let pyc = on
            .join(SITE)
            .join("pkg/__pycache__/__init__.cpython-311.pyc");
        let bytes = std::fs::read(&pyc).unwrap_or_else(|e| panic!("{pyc:?}: {e}"));
        // PEP 552 flags: 0b01 = hash-based, not checked against the source.
        assert_eq!(
            u32::from_le_bytes(bytes[4..8].try_into().unwrap()),
            1,
            "{pyc:?} is not an unchecked-hash pyc"
        );
        let off = case.path("venv.compile.off");
        assert_eq!(bytecode(&off), Vec::<String>::new());
    }
}

#[test]
fn fix_venv_root_restores_the_venv_where_it_says() {
    for case in Case::each("fix_venv_root_restores_the_venv_where_it_says") {
        // The venv is $out/venv; fixVenvRoot = "$out/venv".
        let on = case.path("venv.root.on");
        assert_eq!(
            std::fs::read_link(on.join("venv/bin/python")).unwrap(),
            PathBuf::from(PYTHON)
        );
        let ran = run_script(&on.join("venv/bin/pkg-hello"));
        assert_eq!(
            text(&ran.stdout),
            "hello from pkg\n",
            "{}",
            text(&ran.stderr)
        );
        assert!(!on.join("bin").exists());
        // Control: without it the hook restores $out, which is no venv.
        let err = case.fails("venv.root.off");
        assert!(
            err.contains("not a virtualenv: no lib/python3.11/site-packages"),
            "{err}"
        );
    }
}

#[test]
fn fix_venv_restore_without_python_fails_with_the_hooks_message() {
    for case in Case::each("fix_venv_restore_without_python_fails_with_the_hooks_message") {
        let err = case.fails("venv.noPython");
        assert!(
            err.contains(
                "fix-venv hook: set fixVenvPython to the python executable the venv runs on"
            ),
            "{err}"
        );
    }
}

// ---- order

#[test]
fn hook_order_does_not_depend_on_native_build_inputs_order() {
    for case in Case::each("hook_order_does_not_depend_on_native_build_inputs_order") {
        let foo = case.path("patch.foo");
        let patch_first = case.one("order.patchFirst");
        let strip_first = case.one("order.stripFirst");
        for b in [&patch_first, &strip_first] {
            // patch-rpaths put foo's lib dir on the RUNPATH, then strip-store-refs
            // erased it: stripping first would have left foo referenced.
            assert_eq!(references(b.path()), refs::<&Path>(&[]), "{}", b.log);
            assert_eq!(
                runpath(&b.path().join(MODULE)),
                Some(stripped(&format!("{}/lib", s(&foo))))
            );
            let patched = b
                .log
                .find("patch-rpaths: scanned")
                .expect("patch-rpaths ran");
            let stripping = b.log.find("stripping store references").expect("strip ran");
            assert!(patched < stripping, "{}", b.log);
        }
        assert_ne!(patch_first.path(), strip_first.path());
        assert_eq!(nar_hash(patch_first.path()), nar_hash(strip_first.path()));
    }
}
