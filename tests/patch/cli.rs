//! patch-rpaths as a user runs it, over fixtures gcc builds at test time.

use crate::support::common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::reliability::libc_dir;
use common::*;

const STRIPPED: &str = "/nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";

fn gcc(args: &[&str]) {
    let out = Command::new("gcc").args(args).output().expect("gcc runs");
    assert!(
        out.status.success(),
        "gcc {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// C declarations of each needed library's `<name>_value()`, and the sum ` + a_value() + …`
/// of their calls.
fn value_calls(needs: &[(&str, &Path)]) -> (String, String) {
    let decls = needs
        .iter()
        .map(|(n, _)| format!("int {n}_value(void);\n"))
        .collect();
    let calls = needs
        .iter()
        .map(|(n, _)| format!(" + {n}_value()"))
        .collect();
    (decls, calls)
}

/// `-L<dir> -l:lib<name>.so.1` for each needed library.
fn link_args(needs: &[(&str, &Path)]) -> Vec<String> {
    needs
        .iter()
        .flat_map(|(n, d)| [format!("-L{}", d.display()), format!("-l:lib{n}.so.1")])
        .collect()
}

/// `dir/lib<name>.so.1` exporting `<name>_value()`, optionally needing other libraries.
fn lib(dir: &Path, name: &str, needs: &[(&str, &Path)]) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let src = dir.join(format!("{name}.c"));
    let (decls, calls) = value_calls(needs);
    fs::write(
        &src,
        format!("{decls}int {name}_value(void) {{ return 1{calls}; }}\n"),
    )
    .unwrap();
    let so = dir.join(format!("lib{name}.so.1"));
    let mut args = vec![
        "-shared".to_string(),
        "-fPIC".into(),
        "-o".into(),
        so.display().to_string(),
    ];
    args.push(format!("-Wl,-soname,lib{name}.so.1"));
    args.push(src.display().to_string());
    for (n, d) in needs {
        args.push(d.join(format!("lib{n}.so.1")).display().to_string());
    }
    gcc(&args.iter().map(String::as_str).collect::<Vec<_>>());
    fs::remove_file(src).unwrap();
    so
}

/// An extension-module-like `.so` needing the given libraries, with `runpath` (RUNPATH, or
/// RPATH when `rpath`), built against copies so no real path leaks into it.
fn module(path: &Path, needs: &[(&str, &Path)], runpath: Option<&str>, rpath: bool) -> PathBuf {
    module_with(path, needs, runpath, rpath, "")
}

/// [`module`] with `extra` appended to its C source.
fn module_with(
    path: &Path,
    needs: &[(&str, &Path)],
    runpath: Option<&str>,
    rpath: bool,
    extra: &str,
) -> PathBuf {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let src = path.with_extension("c");
    let (decls, calls) = value_calls(needs);
    fs::write(
        &src,
        format!("{decls}int getpid(void);\nint module_value(void) {{ return 0{calls} + 0 * getpid(); }}\n{extra}"),
    )
    .unwrap();
    let mut args = vec![
        "-shared".to_string(),
        "-fPIC".into(),
        "-o".into(),
        path.display().to_string(),
    ];
    args.push(src.display().to_string());
    args.extend(link_args(needs));
    if let Some(r) = runpath {
        args.push(format!("-Wl,-rpath,{r}"));
        args.push(
            if rpath {
                "-Wl,--disable-new-dtags"
            } else {
                "-Wl,--enable-new-dtags"
            }
            .into(),
        );
    }
    gcc(&args.iter().map(String::as_str).collect::<Vec<_>>());
    fs::remove_file(src).unwrap();
    path.to_path_buf()
}

/// An executable whose `main` exits 0 when every needed library's `_value()` is 1. `pie`
/// makes it position-independent (ELF type DYN, like a library, but with PT_INTERP).
fn exe(path: &Path, needs: &[(&str, &Path)], runpath: Option<&str>, pie: bool) -> PathBuf {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let src = path.with_extension("c");
    let (decls, sum) = value_calls(needs);
    fs::write(
        &src,
        format!(
            "{decls}int main(void) {{ return 0{sum} == {} ? 0 : 3; }}\n",
            needs.len()
        ),
    )
    .unwrap();
    let mut args = vec![
        if pie { "-pie" } else { "-no-pie" }.to_string(),
        if pie { "-fPIE" } else { "-fno-PIE" }.into(),
        "-o".into(),
        path.display().to_string(),
        src.display().to_string(),
    ];
    args.extend(link_args(needs));
    if let Some(r) = runpath {
        args.push(format!("-Wl,-rpath,{r}"));
        args.push("-Wl,--enable-new-dtags".into());
    }
    gcc(&args.iter().map(String::as_str).collect::<Vec<_>>());
    fs::remove_file(src).unwrap();
    path.to_path_buf()
}

/// The note type of systemd's ELF dlopen metadata.
const NT_DLOPEN: u32 = 0x407c_0c0a;

/// One ELF note as a little-endian section holds it: namesz, descsz, type, then the owner
/// (NUL-terminated) and the descriptor, each padded to 4 bytes. `descsz` overrides the
/// descriptor's real length in the header.
fn note(owner: &str, n_type: u32, desc: &[u8], descsz: Option<u32>) -> Vec<u8> {
    let pad = |v: &mut Vec<u8>| v.resize(v.len().next_multiple_of(4), 0);
    let mut n = Vec::new();
    n.extend((owner.len() as u32 + 1).to_le_bytes());
    n.extend(descsz.unwrap_or(desc.len() as u32).to_le_bytes());
    n.extend(n_type.to_le_bytes());
    n.extend(owner.as_bytes());
    n.push(0);
    pad(&mut n);
    n.extend(desc);
    pad(&mut n);
    n
}

/// C source putting `bytes` in a `.note.dlopen` section, as systemd's macros do.
fn dlopen_section(bytes: &[u8]) -> String {
    let list: Vec<String> = bytes.iter().map(|b| format!("{b:#04x}")).collect();
    format!(
        "__attribute__((section(\".note.dlopen\"), used, aligned(4)))\nstatic const unsigned char dlopen_notes[{}] = {{{}}};\n",
        bytes.len(),
        list.join(",")
    )
}

/// A module (see [`module`]) with one `.note.dlopen` note, owner FDO, holding `json`.
fn dlopen_module(
    path: &Path,
    needs: &[(&str, &Path)],
    runpath: Option<&str>,
    json: &str,
) -> PathBuf {
    let notes = note("FDO", NT_DLOPEN, json.as_bytes(), None);
    module_with(path, needs, runpath, false, &dlopen_section(&notes))
}

fn readelf_d(path: &Path) -> String {
    let out = Command::new("readelf")
        .args(["-dW"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.stderr.is_empty(),
        "readelf warns: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The value of the file's RUNPATH (or RPATH) as readelf prints it, with the tag.
fn runpath(path: &Path) -> Option<(String, String)> {
    readelf_d(path).lines().find_map(|l| {
        let tag = if l.contains("(RUNPATH)") {
            "RUNPATH"
        } else if l.contains("(RPATH)") {
            "RPATH"
        } else {
            return None;
        };
        let value = l.split('[').nth(1)?.trim_end_matches(']').to_string();
        Some((tag.to_string(), value))
    })
}

/// What `patchelf FLAG PATH` prints (`--print-interpreter`, `--print-rpath`), trimmed.
fn patchelf_print(flag: &str, path: &Path) -> String {
    let out = Command::new("patchelf")
        .arg(flag)
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Asserts the run's stderr contains `text`, showing the stderr if not.
#[track_caller]
fn assert_stderr_has(out: &Output, text: &str) {
    assert!(stderr(out).contains(text), "{}", stderr(out));
}

/// Asserts the run's stdout contains `text`, showing the stdout if not.
#[track_caller]
fn assert_stdout_has(out: &Output, text: &str) {
    assert!(stdout(out).contains(text), "{}", stdout(out));
}

/// Loads the module with the machine's Python and calls `module_value`.
fn load(path: &Path) -> Result<i64, String> {
    let out = Command::new("python3.11")
        .args([
            "-c",
            "import ctypes,os,sys; print(ctypes.CDLL(sys.argv[1], os.RTLD_NOW).module_value())",
        ])
        .arg(path)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().parse().unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn patch(args: &[&Path], flags: &[&str]) -> Ran {
    PatchRun::new().args(flags).args(args).run()
}

/// `patch-rpaths --libs LIBS --libc LIBC ROOT`, with `--dry-run` when `dry`.
fn patch_one_dir(libs: &Path, libc: &Path, root: &Path, dry: bool) -> Ran {
    let run = PatchRun::new().libs(libs).libc(libc).path(root);
    if dry { run.dry_run() } else { run }.run()
}

/// What strip-store-refs leaves in a FOD for a [`store_like`] directory: the same length,
/// `STORE_DIR/eeee…-NAME/lib`.
fn stripped_twin(real: &Path) -> String {
    let s = real.display().to_string();
    format!("{STRIPPED}{}", &s[STRIPPED.len()..])
}

/// `ROOT/sss…-NAME/lib`, padded so that `-NAME/lib` stands exactly where it does in a store
/// path: restoring it over its stripped twin is a same-length rewrite, as in real use.
fn store_like(root: &Path, name: &str) -> PathBuf {
    let root_len = root.as_os_str().len() + 1;
    assert!(
        root_len < STRIPPED.len(),
        "temporary directory path too long"
    );
    root.join(format!(
        "{}-{name}/lib",
        "s".repeat(STRIPPED.len() - root_len)
    ))
}

// ---------------------------------------------------------------------------------------------
// Scenario builders: a test's tree as its setup reads ("a library here, a module there needing
// it, patch-rpaths over out"), built with `lib`, `module` and `libc_dir`.
// ---------------------------------------------------------------------------------------------

/// A test's scratch tree (a tempdir): libraries and modules built into it by relative path
/// (an absolute one stays as it is), and patch-rpaths runs over its `out`.
struct Tree(tempfile::TempDir);

impl Tree {
    fn new() -> Tree {
        Tree(tempfile::tempdir().unwrap())
    }

    /// The common case after strip-store-refs: a [`store_like`] directory for `pkg` holding
    /// `lib<name>.so.1`, and a module at `module` needing it whose RUNPATH is that
    /// directory's [`stripped_twin`]. Returns the tree, the directory and the module.
    fn stripped(pkg: &str, name: &str, module: &str) -> (Tree, PathBuf, PathBuf) {
        let t = Tree::new();
        let d = t.store_lib(pkg, name);
        let m = t.module(module).needs(name, &d).stripped(&d).build();
        (t, d, m)
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.path().join(rel)
    }

    /// `out`: where the modules go, what patch-rpaths runs over.
    fn out(&self) -> PathBuf {
        self.join("out")
    }

    /// The tree's glibc directory ([`libc_dir`]).
    fn libc(&self) -> PathBuf {
        libc_dir(self.path())
    }

    /// `lib<name>.so.1` (see [`lib`]) in `dir`; returns the directory.
    fn lib_in(&self, dir: impl AsRef<Path>, name: &str) -> PathBuf {
        let dir = self.join(dir);
        lib(&dir, name, &[]);
        dir
    }

    /// A [`store_like`] directory for `pkg` holding `lib<name>.so.1`; returns the directory.
    fn store_lib(&self, pkg: &str, name: &str) -> PathBuf {
        let dir = store_like(self.path(), pkg);
        lib(&dir, name, &[]);
        dir
    }

    /// A module at `rel`, as [`Module`] describes it.
    fn module(&self, rel: impl AsRef<Path>) -> Module {
        Module {
            path: self.join(rel),
            needs: Vec::new(),
            runpath: None,
            rpath: false,
        }
    }

    /// The new (empty) directory `rel`.
    fn dir(&self, rel: &str) -> PathBuf {
        let dir = self.join(rel);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// `libdep.so.1` in `out/lib`, inside the tree, and another in `outside`; a module at
    /// `module` needs it, linked against the one inside. Returns both directories and the
    /// module.
    fn dep_inside_and_outside(&self, outside: &str, module: &str) -> (PathBuf, PathBuf, PathBuf) {
        let inside = self.lib_in("out/lib", "dep");
        let outside = self.lib_in(outside, "dep");
        let m = self.module(module).needs("dep", &inside).build();
        (inside, outside, m)
    }

    fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        write(self.path(), rel, contents)
    }

    /// `rel`, a symlink to the machine's dynamic loader (whose path is longer than that).
    fn loader(&self, rel: &str) -> PathBuf {
        let ld = self.join(rel);
        std::os::unix::fs::symlink("/lib64/ld-linux-x86-64.so.2", &ld).unwrap();
        ld
    }

    /// The executable `rel`, built by gcc from the C file `src`.
    fn program(&self, rel: impl AsRef<Path>, src: &Path) -> PathBuf {
        let exe = self.join(rel);
        fs::create_dir_all(exe.parent().unwrap()).unwrap();
        gcc(&["-o", exe.to_str().unwrap(), src.to_str().unwrap()]);
        exe
    }

    /// `patch-rpaths --libs LIB… --libc GLIBC`, other options and the paths still to add.
    fn patch_run(&self, libs: &[&Path]) -> PatchRun {
        libs.iter()
            .fold(PatchRun::new(), |run, l| run.libs(l))
            .libc(self.libc())
    }

    /// [`Tree::patch_run`] over `out`.
    fn patch_out(&self, libs: &[&Path]) -> Ran {
        self.patch_out_with(libs, &[])
    }

    /// [`Tree::patch_out`] with other options.
    fn patch_out_with(&self, libs: &[&Path], options: &[&str]) -> Ran {
        self.patch_run(libs).args(options).path(self.out()).run()
    }
}

/// A [`module`] to build: the libraries it needs, its RUNPATH (or RPATH).
struct Module {
    path: PathBuf,
    needs: Vec<(String, PathBuf)>,
    runpath: Option<String>,
    rpath: bool,
}

impl Module {
    /// Needs `lib<name>.so.1`, linked from `dir`.
    fn needs(mut self, name: &str, dir: &Path) -> Module {
        self.needs.push((name.to_string(), dir.to_path_buf()));
        self
    }

    fn runpath(mut self, runpath: &str) -> Module {
        self.runpath = Some(runpath.to_string());
        self
    }

    /// RUNPATH the [`stripped_twin`] of `dir`, as strip-store-refs leaves it in a FOD.
    fn stripped(self, dir: &Path) -> Module {
        self.runpath(&stripped_twin(dir))
    }

    /// RPATH instead of RUNPATH.
    fn rpath(mut self) -> Module {
        self.rpath = true;
        self
    }

    fn build(self) -> PathBuf {
        let needs: Vec<(&str, &Path)> = self
            .needs
            .iter()
            .map(|(n, d)| (n.as_str(), d.as_path()))
            .collect();
        module(&self.path, &needs, self.runpath.as_deref(), self.rpath)
    }
}

#[test]
fn relinks_a_stripped_runpath_to_the_libs_directory_in_place() {
    let (t, pq, m) = Tree::stripped("postgresql-15.18-lib", "pq", "venv/_psycopg.so");
    let size = fs::metadata(&m).unwrap().len();
    assert!(load(&m).is_err(), "cannot load before patching");

    let out = t.patch_run(&[&pq]).path(t.join("venv")).run().ok();
    assert_eq!(
        runpath(&m),
        Some(("RUNPATH".into(), pq.display().to_string()))
    );
    assert_eq!(
        fs::metadata(&m).unwrap().len(),
        size,
        "same-length rewrite stays in place"
    );
    assert_eq!(load(&m), Ok(1));
    assert_stderr_has(&out, "patched 1,");
}

#[test]
fn keeps_origin_entries_and_adds_nothing_they_satisfy() {
    let t = Tree::new();
    let libs = t.lib_in("site/pkg.libs", "bundled");
    let m = t
        .module("site/pkg/_ext.so")
        .needs("bundled", &libs)
        .runpath("$ORIGIN/../pkg.libs")
        .build();
    let before = fs::read(&m).unwrap();
    let out = patch(
        &[&t.path().join("site")],
        &["--libc", libc_dir(t.path()).to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        fs::read(&m).unwrap(),
        before,
        "a wheel's $ORIGIN RUNPATH is already right"
    );
    assert_eq!(load(&m), Ok(1));
}

#[test]
fn libraries_under_the_tree_are_found_before_libs_dirs() {
    let t = Tree::new();
    let (inside, outside, m) = t.dep_inside_and_outside("elsewhere", "out/bin/mod.so");
    t.patch_out(&[&outside]).ok();
    assert_eq!(runpath(&m).unwrap().1, inside.display().to_string());
}

#[test]
fn libs_directories_are_searched_in_the_order_given() {
    let t = Tree::new();
    let (a, b) = (t.lib_in("a", "dep"), t.lib_in("b", "dep"));
    let m = t.module("out/mod.so").needs("dep", &a).build();
    for (first, second) in [(&a, &b), (&b, &a)] {
        t.patch_out(&[first, second]).ok();
        assert_eq!(runpath(&m).unwrap().1, first.display().to_string());
    }
}

#[test]
fn runpaths_of_found_libraries_are_searched_too() {
    let t = Tree::new();
    let (base, top) = (t.lib_in("base/lib", "base"), t.join("top/lib"));
    let top_so = lib(&top, "top", &[("base", &base)]);
    // top's own RUNPATH names base; the module needs both but is only given --libs top.
    let ok = Command::new("patchelf")
        .args(["--set-rpath"])
        .arg(&base)
        .arg(&top_so)
        .status()
        .unwrap();
    assert!(ok.success());
    let m = t
        .module("out/mod.so")
        .needs("top", &top)
        .needs("base", &base)
        .build();
    t.patch_out(&[&top]).ok();
    assert_eq!(
        runpath(&m).unwrap().1,
        format!("{}:{}", top.display(), base.display())
    );
    assert_eq!(load(&m), Ok(3));
}

#[test]
fn a_library_of_another_machine_is_not_a_candidate() {
    let t = Tree::new();
    let (foreign, native) = (t.join("arm"), t.lib_in("x86", "dep"));
    let f = lib(&foreign, "dep", &[]);
    // Same name, but claims to be aarch64 (e_machine 183): must be skipped.
    let mut bytes = fs::read(&f).unwrap();
    bytes[18..20].copy_from_slice(&183u16.to_le_bytes());
    fs::write(&f, bytes).unwrap();
    let m = t.module("out/mod.so").needs("dep", &native).build();
    t.patch_out(&[&foreign, &native]).ok();
    assert_eq!(runpath(&m).unwrap().1, native.display().to_string());
}

#[test]
fn libc_satisfies_without_an_entry_unless_keep_libc() {
    let t = Tree::new();
    let libc = t.libc();
    let gone = stripped_twin(&store_like(t.path(), "gone"));
    let m = t.module("out/mod.so").runpath(&gone).build();
    t.patch_out(&[]).ok();
    assert_eq!(
        runpath(&m).unwrap().1,
        gone,
        "nothing to add: the old RUNPATH stays, as autoPatchelf leaves it"
    );
    t.patch_run(&[]).keep_libc().path(t.out()).run().ok();
    assert_eq!(runpath(&m).unwrap().1, libc.display().to_string());
}

#[test]
fn rpath_stays_rpath() {
    let t = Tree::new();
    let d = t.store_lib("zlib-1.3.1", "z");
    let m = t
        .module("out/mod.so")
        .needs("z", &d)
        .stripped(&d)
        .rpath()
        .build();
    t.patch_out(&[&d]).ok();
    assert_eq!(runpath(&m), Some(("RPATH".into(), d.display().to_string())));
}

#[test]
fn a_longer_runpath_grows_the_file_and_it_still_loads() {
    let t = Tree::new();
    let long = t.lib_in(format!("{}/lib", "d".repeat(150)), "dep");
    let m = t
        .module("out/mod.so")
        .needs("dep", &long)
        .runpath("/x")
        .build();
    t.patch_out(&[&long]).ok();
    assert_eq!(runpath(&m).unwrap().1, long.display().to_string());
    assert_eq!(load(&m), Ok(1));
    assert_eq!(
        patchelf_print("--print-rpath", &m),
        long.display().to_string()
    );
}

#[test]
fn a_missing_common_library_without_a_trace_names_its_nixpkgs_attribute() {
    // A wheel built elsewhere: its RUNPATH names no store path to trace the library back to.
    let t = Tree::new();
    let elsewhere = t.lib_in("elsewhere", "z");
    let m = t
        .module("out/_zlib.so")
        .needs("z", &elsewhere)
        .runpath("$ORIGIN")
        .build();
    let out = t.patch_run(&[]).json().path(t.out()).run();
    assert_eq!(out.status.code(), Some(1));
    assert_stderr_has(&out, &format!(
            "error: missing libz.so.1 wanted by {} — add the package that provides it to buildInputs (in nixpkgs: zlib)",
            m.display()
        ));
    let report = out.report();
    assert_eq!(report["missing"][0]["nixpkgs"], "zlib", "{report}");
}

#[test]
fn missing_library_names_the_package_it_came_from_and_fails() {
    let (t, _, m) = Tree::stripped("postgresql-15.18-lib", "pq", "out/_psycopg.so");
    let before = fs::read(&m).unwrap();
    let out = t.patch_out(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert_stderr_has(&out, &format!(
            "error: missing libpq.so.1 wanted by {} — it came from postgresql-15.18-lib: add that package to buildInputs",
            m.display()
        ));
    assert_eq!(
        fs::read(&m).unwrap(),
        before,
        "a file with a missing library is left as it was"
    );
    let ignored = t
        .patch_run(&[])
        .ignore_missing("libpq*")
        .path(t.out())
        .run();
    assert_eq!(ignored.status.code(), Some(0), "{}", stderr(&ignored));
    assert_stderr_has(&ignored, "warning: ignoring missing libpq.so.1");
}

#[test]
fn absolute_needed_that_exists_is_satisfied() {
    let t = Tree::new();
    let d = t.join("abs");
    let so = lib(&d, "dep", &[]);
    let src = t.join("m.c");
    fs::write(
        &src,
        "int dep_value(void); int module_value(void) { return dep_value(); }\n",
    )
    .unwrap();
    let m = t.path().join("out/mod.so");
    fs::create_dir_all(m.parent().unwrap()).unwrap();
    // Linking the library by path without a soname records the absolute path in DT_NEEDED.
    let nosoname = d.join("libabs.so");
    gcc(&[
        "-shared",
        "-fPIC",
        "-o",
        nosoname.to_str().unwrap(),
        "-x",
        "c",
        "/dev/null",
    ]);
    gcc(&[
        "-shared",
        "-fPIC",
        "-o",
        m.to_str().unwrap(),
        src.to_str().unwrap(),
        "-Wl,--no-as-needed",
        nosoname.to_str().unwrap(),
        so.to_str().unwrap(),
        "-Wl,-rpath,/x",
        "-Wl,--enable-new-dtags",
    ]);
    assert!(readelf_d(&m).contains(&format!("[{}]", nosoname.display())));
    let out = t.patch_out(&[&d]).ok();
    assert!(!stderr(&out).contains("error: missing"), "{}", stderr(&out));
    // Only the soname-linked library needs a directory; the absolute one needs none.
    assert_eq!(
        runpath(&m),
        Some(("RUNPATH".into(), d.display().to_string()))
    );
    assert_eq!(load(&m), Ok(1));
}

#[test]
fn interpreter_of_executables_is_set() {
    let t = Tree::new();
    let src = t.write(
        "hello.c",
        "#include <stdio.h>\nint main(void) { puts(\"hello\"); return 0; }\n",
    );
    let exe = t.program("out/bin/hello", &src);
    // A path no longer than the one gcc wrote, so the rewrite stays in place.
    let ld = t.loader("ld.so");
    t.patch_run(&[]).interpreter(&ld).path(t.out()).run().ok();
    assert_eq!(
        patchelf_print("--print-interpreter", &exe),
        ld.display().to_string()
    );
    let ran = Command::new(&exe).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&ran.stdout), "hello\n");
}

#[test]
fn second_run_is_byte_identical_and_dry_run_changes_nothing() {
    let (t, d, m) = Tree::stripped("libxml2-2.13.8", "xml2", "out/x.so");
    let args = |dry: bool| patch_one_dir(&d, &t.libc(), &t.out(), dry);
    let before = fs::read(&m).unwrap();
    let dry = args(true);
    assert!(dry.status.success());
    assert_eq!(fs::read(&m).unwrap(), before);
    assert_stdout_has(
        &dry,
        &format!("RUNPATH     {} -> {}", stripped_twin(&d), d.display()),
    );
    assert!(args(false).status.success());
    let once = fs::read(&m).unwrap();
    let again = args(false);
    assert_eq!(fs::read(&m).unwrap(), once);
    assert_stderr_has(&again, "patched 0, 1 already right");
}

#[test]
fn non_elf_is_skipped_and_a_broken_elf_is_an_error_naming_it() {
    let (t, d, m) = Tree::stripped("zlib", "z", "out/ok.so");
    write(t.path(), "out/readme.txt", "hello");
    let broken = write(t.path(), "out/broken.so", b"\x7fELF\x02\x01\x01garbage");
    let out = t.patch_out(&[&d]);
    assert_eq!(out.status.code(), Some(1));
    assert_stderr_has(&out, &format!("{}: not a valid ELF file", broken.display()));
    assert_eq!(
        runpath(&m).unwrap().1,
        d.display().to_string(),
        "the rest was patched"
    );
}

#[test]
fn usage_errors_exit_2() {
    let t = tempfile::tempdir().unwrap();
    for args in [
        vec![],
        vec![
            "--libs".to_string(),
            "/nonexistent".into(),
            t.path().display().to_string(),
        ],
    ] {
        let out = PatchRun::new().args(&args).run();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn bintools_gives_the_default_interpreter_and_libc() {
    let t = Tree::new();
    let libc = t.libc();
    let bintools = t.join("bintools");
    let ld = t.loader("ld.so");
    t.write(
        "bintools/nix-support/dynamic-linker",
        format!("{}\n", ld.display()),
    );
    t.write(
        "bintools/nix-support/orig-libc",
        libc.parent().unwrap().display().to_string(),
    );
    let src = t.write("hello.c", "int main(void) { return 0; }\n");
    let exe = t.program("out/bin/hello", &src);
    PatchRun::new().bintools(&bintools).path(t.out()).run().ok();
    assert_eq!(
        patchelf_print("--print-interpreter", &exe),
        ld.display().to_string()
    );
    assert!(Command::new(&exe).status().unwrap().success());
}

#[test]
fn libs_tree_adds_every_directory_holding_a_library() {
    let t = Tree::new();
    let deep = t.lib_in("deps/pkg/lib/nested", "deep");
    let m = t.module("out/mod.so").needs("deep", &deep).build();
    t.patch_run(&[])
        .libs_tree(t.join("deps"))
        .path(t.out())
        .run()
        .ok();
    assert_eq!(runpath(&m).unwrap().1, deep.display().to_string());
}

#[test]
fn no_recurse_patches_only_direct_entries() {
    let t = Tree::new();
    let d = t.lib_in("libdir", "dep");
    let top = t.module("out/top.so").needs("dep", &d).build();
    let below = t.module("out/sub/below.so").needs("dep", &d).build();
    t.patch_out_with(&[&d], &["--no-recurse"]).ok();
    assert_eq!(runpath(&top).unwrap().1, d.display().to_string());
    assert_eq!(runpath(&below), None);
}

#[test]
fn the_nearest_copy_of_a_library_in_the_tree_wins() {
    let t = Tree::new();
    // The same venv twice in one output: each module must use its own copy's library.
    let mut modules = Vec::new();
    for copy in ["a", "b"] {
        let libs = t.lib_in(format!("out/{copy}/pkg.libs"), "bundled");
        let m = t.module(format!("out/{copy}/pkg/mod.so"));
        modules.push((libs.clone(), m.needs("bundled", &libs).build()));
    }
    t.patch_out(&[]).ok();
    for (libs, m) in &modules {
        assert_eq!(runpath(m).unwrap().1, libs.display().to_string());
    }
}

#[test]
fn soname_links_in_the_tree_are_found_and_a_second_run_changes_nothing() {
    let t = Tree::new();
    let tree = t.out();
    // D holds libdep.so.1.0 (soname libdep.so.1) and its soname link, and libreg.so; E's
    // library needs libreg.so, F's needs libdep.so.1: only the link has that name.
    let d = tree.join("D");
    let real = lib(&d, "dep", &[]);
    let versioned = d.join("libdep.so.1.0");
    fs::rename(&real, &versioned).unwrap();
    std::os::unix::fs::symlink("libdep.so.1.0", d.join("libdep.so.1")).unwrap();
    lib(&d, "reg", &[]);
    let e = t.module("out/E/liby.so").needs("reg", &d).build();
    let f = t.module("out/F/libx.so").needs("dep", &d).build();
    let libc = libc_dir(t.path());
    PatchRun::new().libc(&libc).path(&tree).run().ok();
    assert_eq!(runpath(&e).unwrap().1, d.display().to_string());
    assert_eq!(
        runpath(&f).unwrap().1,
        d.display().to_string(),
        "found through the soname link"
    );
    let snapshot_once = snapshot(&tree);
    let twice = PatchRun::new().libc(&libc).path(&tree).run().ok();
    assert_eq!(snapshot(&tree), snapshot_once);
    assert_stderr_has(&twice, "patched 0,");
}

#[test]
fn ignore_existing_keeps_resolution_out_of_the_tree() {
    let t = Tree::new();
    let (_, outside, m) = t.dep_inside_and_outside("libs", "out/mod.so");
    t.patch_out_with(&[&outside], &["--ignore-existing"]).ok();
    assert_eq!(runpath(&m).unwrap().1, outside.display().to_string());
}

#[test]
fn a_separate_debug_file_is_skipped_not_an_error() {
    let t = Tree::new();
    let so = lib(&t.out(), "dep", &[]);
    let debug = t.path().join("out/libdep.so.1.debug");
    let ok = Command::new("objcopy")
        .arg("--only-keep-debug")
        .arg(&so)
        .arg(&debug)
        .status()
        .unwrap();
    assert!(ok.success());
    let out = t.patch_out(&[]).ok();
    assert_stderr_has(&out, "1 not dynamic");
}

/// A library with no RUNPATH and no spare dynamic slot (as LLD links Rust wheels): it takes an
/// --append-rpath entry all the same, in a copy of `.dynamic` (patchelf's way).
#[test]
fn a_library_without_a_spare_dynamic_slot_takes_a_new_runpath() {
    let t = Tree::new();
    let m = t.module("out/_rust.abi3.so").build();
    // Test-only surgery: fill the spare DT_NULL slots with DT_DEBUG (21) entries.
    let info = {
        let bytes = fs::read(&m).unwrap();
        fixup_hooks::elf::ElfInfo::parse(&bytes).unwrap().unwrap()
    };
    let d = info.dynamic.unwrap();
    let mut bytes = fs::read(&m).unwrap();
    for k in 0..d.spare_null_slots {
        let at = d.entry_offset(d.entries.len() + k) as usize;
        bytes[at..at + 8].copy_from_slice(&21u64.to_le_bytes());
    }
    fs::write(&m, &bytes).unwrap();
    let rt = t.dir("runtime");
    let out = t
        .patch_run(&[])
        .append_rpath(&rt)
        .json()
        .path(t.out())
        .run();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = out.report();
    assert_eq!(report["patched"][0]["dynamic_moved"], true, "{report}");
    assert_eq!(
        runpath(&m),
        Some(("RUNPATH".to_string(), rt.to_str().unwrap().to_string()))
    );
}

#[test]
fn hard_links_to_one_library_are_each_patched() {
    let (t, d, m) = Tree::stripped("libxml2-2.13.8", "xml2", "out/a/x.so");
    let twin = t.join("out/b/x.so");
    fs::create_dir_all(twin.parent().unwrap()).unwrap();
    fs::hard_link(&m, &twin).unwrap();
    // One worker, so the second link is read for writing after the first was replaced: that
    // changed its link count (and ctime), not its bytes.
    let out = t.patch_run(&[&d]).jobs(1).path(t.out()).run().ok();
    for path in [&m, &twin] {
        assert_eq!(load(path), Ok(1), "{}", path.display());
    }
    assert_stderr_has(&out, "patched 2,");
}

#[test]
fn a_killed_runs_temporary_copy_is_removed_and_reported() {
    let (t, d, m) = Tree::stripped("libxml2-2.13.8", "xml2", "out/x.so");
    // A torn copy, as a kill in the middle of writing it leaves; pid 0 is no process.
    let torn = write(
        t.path(),
        "out/.x.so.patch-rpaths.0",
        &fs::read(&m).unwrap()[..100],
    );
    // Names that only look alike are the user's.
    let look_alike = write(t.path(), "out/x.so.patch-rpaths.0", "user data");
    let look_alike_dir = t.join("out/.y.so.patch-rpaths.0");
    fs::create_dir_all(&look_alike_dir).unwrap();
    let args = |dry: bool| patch_one_dir(&d, &t.libc(), &t.out(), dry);
    let dry = args(true);
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert!(torn.exists(), "a dry run removes nothing");
    assert_stderr_has(
        &dry,
        &format!("would remove {}: left by a killed run", torn.display()),
    );
    let out = args(false);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!torn.exists());
    assert_stderr_has(
        &out,
        &format!("removed {}: left by a killed run", torn.display()),
    );
    assert_eq!(fs::read_to_string(&look_alike).unwrap(), "user data");
    assert!(look_alike_dir.is_dir());
    assert_eq!(load(&m), Ok(1));
}

#[test]
fn overlapping_roots_patch_each_file_once() {
    let (t, d, m) = Tree::stripped("libxml2-2.13.8", "xml2", "out/sub/x.so");
    let out = t
        .patch_run(&[&d])
        .path(t.join("out/sub"))
        .path(t.out())
        .run()
        .ok();
    assert_stderr_has(&out, "scanned 1 file");
    assert_eq!(load(&m), Ok(1));
}

/// auto-patchelf's layout: --runtime-dependency first, on executables only; then (our
/// difference) the kept $ORIGIN entries; the directories found; --append-rpath last, on
/// every file, as given even when it does not exist.
#[test]
fn runtime_dependencies_lead_executables_only_and_append_rpaths_end_every_runpath() {
    let t = Tree::new();
    let out_dir = t.out();
    let bundled = t.lib_in("out/lib", "bundled");
    let d = t.lib_in("deps", "dep");
    let rt = t.dir("runtime/lib");
    let appended = "/run/opengl-driver/lib";
    let x = exe(
        &out_dir.join("bin/app"),
        &[("bundled", &bundled), ("dep", &d)],
        Some("$ORIGIN/../lib"),
        false,
    );
    let m = t.module("out/site/mod.so").needs("dep", &d).build();
    let args = || {
        t.patch_run(&[&d])
            .runtime_dependency(&rt)
            .append_rpath(appended)
            .path(&out_dir)
            .run()
    };
    let out = args();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        runpath(&x).unwrap().1,
        format!("{}:$ORIGIN/../lib:{}:{appended}", rt.display(), d.display()),
        "executable: runtime dependency first, appended last"
    );
    assert_eq!(
        runpath(&m).unwrap().1,
        format!("{}:{appended}", d.display()),
        "library: no runtime dependency, appended last"
    );
    assert_eq!(
        runpath(&bundled.join("libbundled.so.1")).unwrap().1,
        appended,
        "a library that needs nothing still gets the appended entry"
    );
    assert!(
        Command::new(&x).status().unwrap().success(),
        "the executable runs"
    );
    assert_eq!(load(&m), Ok(1));
    let snapshot_once = snapshot(&out_dir);
    let again = args();
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(
        snapshot(&out_dir),
        snapshot_once,
        "a second run changes nothing"
    );
}

/// Executable means "has PT_INTERP", as auto-patchelf's `.interp` test: a PIE executable is
/// ELF type DYN like a library, and still takes runtime dependencies.
#[test]
fn a_pie_executable_takes_runtime_dependencies() {
    let t = Tree::new();
    let d = t.lib_in("deps", "dep");
    let rt = t.dir("runtime");
    let x = exe(&t.join("out/app"), &[("dep", &d)], None, true);
    let info = fixup_hooks::elf::ElfInfo::parse(&fs::read(&x).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(info.e_type, 3, "ET_DYN: a PIE executable");
    assert!(info.interpreter.is_some());
    t.patch_run(&[&d])
        .runtime_dependency(&rt)
        .path(t.out())
        .run()
        .ok();
    assert_eq!(
        runpath(&x).unwrap().1,
        format!("{}:{}", rt.display(), d.display())
    );
    assert!(Command::new(&x).status().unwrap().success());
}

/// The sonames of one `.note.dlopen` entry are alternatives: the first that resolves puts its
/// directory on the RUNPATH, after the DT_NEEDED ones. Notes of another owner or type, and
/// the entry's other keys, are ignored.
#[test]
fn a_dlopen_note_resolves_to_the_first_alternative_found() {
    let t = Tree::new();
    let d = t.lib_in("deps", "dep");
    let plugins = t.join("plugins");
    let foo = lib(&plugins, "foo", &[]);
    fs::rename(&foo, plugins.join("libfoo.so")).unwrap();
    let json = r#"[{"feature":"foo","description":"Foo support","priority":"recommended","soname":["libmissing.so.9","libfoo.so"]}]"#;
    // 26 bytes, padded to 28: a walk that padded to 8 would miss the notes after it.
    let mut notes = note("GNU", NT_DLOPEN, br#"[{"soname":["libdcy.so"]}]"#, None);
    assert_eq!(notes.len() % 8, 4);
    notes.extend(note("FDO", 1, br#"[{"soname":["libdecoy.so.2"]}]"#, None));
    notes.extend(note("FDO", NT_DLOPEN, json.as_bytes(), None));
    let m = module_with(
        &t.join("out/libplug.so"),
        &[("dep", &d)],
        None,
        false,
        &dlopen_section(&notes),
    );
    let patch_with =
        |libs: &[&Path], extra: &[&str]| t.patch_run(libs).args(extra).path(t.out()).run();
    let dry = patch_with(&[&d, &plugins], &["--dry-run"]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    let described = format!(
        "tried libmissing.so.9, libfoo.so: found libfoo.so in {}",
        plugins.display()
    );
    assert_stdout_has(&dry, &format!("  dlopen      {described}"));
    assert_stderr_has(&dry, &format!("{}: .note.dlopen: {described}", m.display()));
    let out = patch_with(&[&d, &plugins], &["--report", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        runpath(&m).unwrap().1,
        format!("{}:{}", d.display(), plugins.display())
    );
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        report["dlopen"],
        serde_json::json!([{
            "path": m.display().to_string(),
            "alternatives": ["libmissing.so.9", "libfoo.so"],
            "tried": ["libmissing.so.9", "libfoo.so"],
            "found": "libfoo.so",
            "directory": plugins.display().to_string(),
            "on_runpath": true,
        }])
    );
    // When the first alternative exists too, it wins and the second is not looked for.
    let first = t.path().join("first");
    let missing = lib(&first, "missing", &[]);
    fs::rename(&missing, first.join("libmissing.so.9")).unwrap();
    let out = patch_with(&[&d, &first, &plugins], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        runpath(&m).unwrap().1,
        format!("{}:{}", d.display(), first.display())
    );
    assert_stderr_has(
        &out,
        &format!(
            "tried libmissing.so.9: found libmissing.so.9 in {}",
            first.display()
        ),
    );
}

/// A `.note.dlopen` entry none of whose alternatives exists is missing like a DT_NEEDED,
/// named as auto-patchelf names it; --ignore-missing takes auto-patchelf's globs on that name
/// and globs on any one alternative.
#[test]
fn a_dlopen_note_with_every_alternative_missing_fails_unless_ignored() {
    let t = Tree::new();
    let d = t.store_lib("libxml2-2.13.8", "xml2");
    let m = dlopen_module(
        &t.join("out/libplug.so"),
        &[("xml2", &d)],
        Some(&stripped_twin(&d)),
        r#"[{"soname":["libmissing.so.9","libgone.so.2"]}]"#,
    );
    let before = fs::read(&m).unwrap();
    let patch_ignoring = |ignore: &[&str]| {
        let run = ignore
            .iter()
            .fold(t.patch_run(&[&d]), |run, g| run.ignore_missing(g));
        run.path(t.out()).run()
    };
    let out = patch_ignoring(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_stderr_has(
        &out,
        &format!(
            "error: missing any(libmissing.so.9, libgone.so.2) wanted by {} (.note.dlopen)",
            m.display()
        ),
    );
    assert_stderr_has(&out, "tried libmissing.so.9, libgone.so.2: none found");
    assert_eq!(fs::read(&m).unwrap(), before, "left untouched");
    // A glob that matches neither the name nor an alternative leaves it an error.
    assert_eq!(patch_ignoring(&["libxml2*"]).status.code(), Some(1));
    for glob in ["libgone*", "any(libmissing*"] {
        let out = patch_ignoring(&[glob]);
        assert_eq!(out.status.code(), Some(0), "{glob}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("warning: ignoring missing any(libmissing.so.9, libgone.so.2)"),
            "{glob}: {}",
            stderr(&out)
        );
        assert_eq!(runpath(&m).unwrap().1, d.display().to_string());
    }
}

/// Notes a hostile or broken build wrote: not JSON, not UTF-8, entries of the wrong shape, a
/// header whose descriptor runs past the section. Each is a warning naming the file; the
/// file's other dependencies are still resolved and it is patched.
#[test]
fn malformed_dlopen_notes_are_warnings_naming_the_file() {
    let t = Tree::new();
    let d = t.store_lib("zzlib-1.0", "zz");
    let good = r#"[{"soname":["libzz.so.1"]}]"#;
    let cases: [(&str, Vec<u8>, &str); 5] = [
        (
            "truncated",
            note("FDO", NT_DLOPEN, br#"[{"soname":["libzz.so.1"#, None),
            "not valid JSON",
        ),
        (
            "latin1",
            note("FDO", NT_DLOPEN, b"[{\"soname\":[\"lib\xe9.so\"]}]", None),
            "not UTF-8",
        ),
        (
            "object",
            note("FDO", NT_DLOPEN, br#"{"soname":["libzz.so.1"]}"#, None),
            "not a JSON list",
        ),
        (
            "shape",
            note(
                "FDO",
                NT_DLOPEN,
                br#"[{"soname":"libq.so"},{"soname":[]},{"soname":["libzz.so.1"]}]"#,
                None,
            ),
            "entry 0 has no \"soname\" list",
        ),
        (
            "overrun",
            [
                note("FDO", NT_DLOPEN, good.as_bytes(), None),
                note("FDO", NT_DLOPEN, good.as_bytes(), Some(0xffff_fff0)),
            ]
            .concat(),
            "runs past the end of the section",
        ),
    ];
    let mut modules = Vec::new();
    for (name, notes, _) in &cases {
        modules.push(module_with(
            &t.join(format!("out/{name}.so")),
            &[("zz", &d)],
            Some(&stripped_twin(&d)),
            false,
            &dlopen_section(notes),
        ));
    }
    let out = t.patch_run(&[&d]).json().path(t.out()).run();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for ((_, _, problem), m) in cases.iter().zip(&modules) {
        let prefix = format!("patch-rpaths: warning: {}: .note.dlopen: ", m.display());
        assert!(
            stderr(&out)
                .lines()
                .any(|l| l.starts_with(&prefix) && l.contains(problem)),
            "{problem}: {}",
            stderr(&out)
        );
        assert_eq!(runpath(m).unwrap().1, d.display().to_string());
        assert_eq!(load(m), Ok(1));
    }
    // What could be read was used: the good entry after the bad ones, the note before the
    // overrun.
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let found: Vec<&str> = report["dlopen"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        found,
        [
            modules[4].display().to_string(),
            modules[3].display().to_string()
        ],
        "overrun.so, then shape.so"
    );
}

// ---------------------------------------------------------------------------------------------
// In-place writes, absolute paths, honest counts, interpreters and OSABI.
// ---------------------------------------------------------------------------------------------

fn inode(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).unwrap().ino()
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// strace on PATH, for the tests that count system calls.
fn strace() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("strace"))
        .find(|p| p.is_file())
        .expect("strace counts the system calls: install it (scripts/install-deps does)")
}

/// The system calls `cmd` makes (all threads), as `strace -f -e trace=CALLS` logs them.
fn traced(cmd: &Command, calls: &str, log: &Path) -> (std::process::Output, String) {
    let out = Command::new(strace())
        .args(["-f", "-qq", "-o"])
        .arg(log)
        .arg("-e")
        .arg(format!("trace={calls}"))
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .output()
        .unwrap();
    (out, fs::read_to_string(log).unwrap())
}

/// A same-length RUNPATH (the common case after strip-store-refs) is one write into the file
/// itself: no temporary copy, the inode, mode and size kept, a read-only file's mode restored.
#[test]
fn a_same_length_runpath_is_written_in_place_keeping_inode_and_mode() {
    use std::os::unix::fs::PermissionsExt;
    let (t, d, m) = Tree::stripped("libxml2-2.13.8", "xml2", "out/x.so");
    fs::set_permissions(&m, fs::Permissions::from_mode(0o444)).unwrap();
    let (ino, len) = (inode(&m), fs::metadata(&m).unwrap().len());
    let cmd = t.patch_run(&[&d]).path(t.out()).command();
    let (out, log) = traced(
        &cmd,
        "openat,pwrite64,write,writev,rename,renameat,renameat2,fsync,fdatasync",
        &t.join("strace.log"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(runpath(&m).unwrap().1, d.display().to_string());
    assert_eq!(load(&m), Ok(1));
    assert_eq!(inode(&m), ino, "the same file, not a renamed copy");
    assert_eq!(fs::metadata(&m).unwrap().len(), len);
    assert_eq!(mode(&m), 0o444, "mode kept");
    assert!(!log.contains("rename"), "no rename: {log}");
    assert!(!log.contains("patch-rpaths."), "no temporary file: {log}");
    assert_eq!(
        log.lines().filter(|l| l.contains("pwrite64(")).count(),
        1,
        "one write: {log}"
    );
    assert!(
        !log.contains("fsync") && !log.contains("fdatasync"),
        "{log}"
    );
}

/// A file with another hard link is never written through (the other name, here outside the
/// tree, would change too): it is replaced by a patched copy.
#[test]
fn a_hard_linked_file_is_replaced_not_written_through() {
    let (t, d, m) = Tree::stripped("libxml2-2.13.8", "xml2", "out/x.so");
    let outside = t.join("elsewhere.so");
    fs::hard_link(&m, &outside).unwrap();
    let before = fs::read(&outside).unwrap();
    let out = patch_one_dir(&d, &t.libc(), &t.out(), false);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(runpath(&m).unwrap().1, d.display().to_string());
    assert_eq!(
        fs::read(&outside).unwrap(),
        before,
        "the other link is untouched"
    );
}

/// `--fsync` syncs what it wrote, in place (the file) and through a copy (the file and the
/// directory after the rename); without it nothing is synced.
#[test]
fn fsync_only_when_asked() {
    let (t, d, _) = Tree::stripped("libxml2-2.13.8", "xml2", "out/a.so");
    // Needs a longer RUNPATH: appended, through a temporary copy.
    t.module("out/b.so").needs("xml2", &d).build();
    for fsync in [false, true] {
        let root = t.join(format!("run-{fsync}"));
        fs::create_dir_all(&root).unwrap();
        for n in ["a.so", "b.so"] {
            fs::copy(t.out().join(n), root.join(n)).unwrap();
        }
        let run = t.patch_run(&[&d]);
        let cmd = if fsync { run.arg("--fsync") } else { run }
            .path(&root)
            .command();
        let (out, log) = traced(&cmd, "fsync,fdatasync", &t.join("strace.log"));
        assert!(out.status.success(), "{}", stderr(&out));
        assert_stderr_has(&out, "patched 2,");
        let syncs = log
            .lines()
            .filter(|l| l.contains("fsync(") || l.contains("fdatasync("))
            .count();
        if fsync {
            assert_eq!(syncs, 3, "a.so, b.so and its directory: {log}");
        } else {
            assert_eq!(syncs, 0, "{log}");
        }
    }
}

/// Each `--libs` library is opened once while the index is built (its RUNPATH and header
/// come from one read), not again when a file is resolved against it.
#[test]
fn each_libs_library_is_opened_once() {
    let (t, d, _) = Tree::stripped("libxml2-2.13.8", "xml2", "out/m0.so");
    lib(&d, "other", &[]);
    for i in 1..4 {
        let m = t.module(format!("out/m{i}.so"));
        m.needs("xml2", &d).stripped(&d).build();
    }
    let cmd = t.patch_run(&[&d]).path(t.out()).command();
    let (out, log) = traced(&cmd, "openat,open", &t.join("strace.log"));
    assert!(out.status.success(), "{}", stderr(&out));
    for name in ["libxml2.so.1", "libother.so.1"] {
        let opens = log
            .lines()
            .filter(|l| l.contains(&format!("{}/{name}\"", d.display())))
            .count();
        assert_eq!(opens, 1, "{name}: {log}");
    }
}

/// Every PATH and directory argument is made absolute against the working directory: run
/// from the directory above with relative arguments, every RUNPATH entry and the interpreter
/// are absolute (a library found in the tree included).
#[test]
fn relative_arguments_become_absolute_entries() {
    let t = Tree::new();
    let d = t.lib_in("deps/lib", "dep");
    let rt = t.dir("runtime/lib");
    let bundled = t.lib_in("out/lib", "bundled");
    let x = exe(
        &t.join("out/bin/app"),
        &[("bundled", &bundled), ("dep", &d)],
        None,
        false,
    );
    let m = t.module("out/site/m.so").needs("bundled", &bundled).build();
    t.libc();
    // No longer than the one gcc wrote, so it fits in place.
    let ld = t.loader("ld");
    PatchRun::new()
        .current_dir(t.path())
        .libs("deps/lib")
        .libc("glibc/lib")
        .runtime_dependency("runtime/lib")
        .interpreter("./ld")
        .append_rpath("$ORIGIN/../share")
        .append_rpath("/opt/x/lib")
        .path("out")
        .run()
        .ok();
    let abs = |p: &Path| p.display().to_string();
    assert_eq!(
        runpath(&x).unwrap().1,
        format!(
            "{}:{}:{}:$ORIGIN/../share:/opt/x/lib",
            abs(&rt),
            abs(&bundled),
            abs(&d)
        )
    );
    assert_eq!(
        runpath(&m).unwrap().1,
        format!("{}:$ORIGIN/../share:/opt/x/lib", abs(&bundled))
    );
    assert_eq!(patchelf_print("--print-interpreter", &x), abs(&ld));
    assert!(Command::new(&x).status().unwrap().success(), "it runs");
}

/// A relative `--append-rpath` would be looked up from whatever directory the loading process
/// runs in: refused as a usage error, nothing touched. `$ORIGIN`-relative ones are fine.
#[test]
fn a_relative_append_rpath_is_a_usage_error() {
    let t = Tree::new();
    let m = t.module("out/m.so").build();
    let before = fs::read(&m).unwrap();
    for bad in ["lib", "./lib", "../x/lib", "$LIB/x"] {
        let out = t.patch_run(&[]).append_rpath(bad).path(t.out()).run();
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", stderr(&out));
        assert_stderr_has(&out, &format!("--append-rpath {bad}: a relative entry"));
        assert_eq!(fs::read(&m).unwrap(), before);
    }
    for good in ["$ORIGIN/../lib", "${ORIGIN}/lib", "/run/opengl-driver/lib"] {
        let out = t
            .patch_run(&[])
            .append_rpath(good)
            .dry_run()
            .path(t.out())
            .run();
        assert_eq!(out.status.code(), Some(0), "{good}: {}", stderr(&out));
    }
}

/// A library whose RUNPATH the writer cannot add (no DT_STRTAB, by test surgery) and that
/// needed only an --append-rpath entry: refused, counted as refused (never "already right"),
/// and a failure unless --allow-optional-refusal makes it a warning.
#[test]
fn an_optional_refusal_fails_unless_allowed_and_is_counted() {
    let t = Tree::new();
    let dir = t.out();
    fs::create_dir_all(&dir).unwrap();
    let src = t.write("plain.c", "int plain_value(void) { return 1; }\n");
    let m = dir.join("libplain.so");
    gcc(&[
        "-shared",
        "-fPIC",
        "-nostdlib",
        "-o",
        m.to_str().unwrap(),
        src.to_str().unwrap(),
    ]);
    let info = {
        let bytes = fs::read(&m).unwrap();
        fixup_hooks::elf::ElfInfo::parse(&bytes).unwrap().unwrap()
    };
    let d = info.dynamic.unwrap();
    assert!(d.needed.is_empty() && d.soname.is_none() && d.runpath.is_none());
    let index = d.entries.iter().position(|e| e.0 == 5).expect("DT_STRTAB");
    let mut bytes = fs::read(&m).unwrap();
    let at = d.entry_offset(index) as usize;
    bytes[at..at + 8].copy_from_slice(&21u64.to_le_bytes()); // DT_STRTAB -> DT_DEBUG
    fs::write(&m, &bytes).unwrap();
    let args = |allow: bool| {
        let run = t.patch_run(&[]).append_rpath("/run/opengl-driver/lib");
        if allow {
            run.arg("--allow-optional-refusal")
        } else {
            run
        }
        .path(&dir)
        .run()
    };
    let out = args(false);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_stderr_has(&out, "patched 0, 0 already right, 1 refused");
    assert_stderr_has(&out, "--allow-optional-refusal makes this a warning");
    assert_eq!(fs::read(&m).unwrap(), bytes, "left untouched");
    let out = args(true);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_stderr_has(&out, "patched 0, 0 already right, 1 refused");
    assert_stderr_has(&out, "warning: ");
    assert_eq!(fs::read(&m).unwrap(), bytes, "left untouched");
}

/// A gcc executable surgically given an empty or no PT_DYNAMIC (PT_INTERP kept): it still
/// takes --interpreter instead of being skipped as "not dynamic".
#[test]
fn an_executable_without_dynamic_entries_still_gets_the_interpreter() {
    let t = Tree::new();
    let src = t.write("hello.c", "int main(void) { return 0; }\n");
    let ld = t.loader("ld");
    for (case, surgery) in [("empty", 0u8), ("missing", 1)] {
        let dir = t.join(case);
        let x = t.program(dir.join("hello"), &src);
        let mut bytes = fs::read(&x).unwrap();
        let (phoff, phnum) = (
            u64::from_le_bytes(bytes[0x20..0x28].try_into().unwrap()) as usize,
            u16::from_le_bytes(bytes[0x38..0x3a].try_into().unwrap()) as usize,
        );
        let dynamic = (0..phnum)
            .map(|i| phoff + i * 56)
            .find(|&at| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) == 2)
            .expect("PT_DYNAMIC");
        if surgery == 0 {
            bytes[dynamic + 32..dynamic + 40].fill(0); // p_filesz = 0
        } else {
            bytes[dynamic..dynamic + 4].copy_from_slice(&0u32.to_le_bytes()); // PT_NULL
        }
        fs::write(&x, &bytes).unwrap();
        let out = t.patch_run(&[]).interpreter(&ld).path(&dir).run();
        assert!(out.status.success(), "{case}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("patched 1,") && stderr(&out).contains("0 not dynamic"),
            "{case}: {}",
            stderr(&out)
        );
        assert_eq!(
            patchelf_print("--print-interpreter", &x),
            ld.display().to_string(),
            "{case}"
        );
    }
}

/// The interpreter's OSABI must go with the file's: a Linux loader (SYSV here) takes SYSV and
/// GNU files, never a FreeBSD-branded one, which is skipped as foreign and counted.
#[test]
fn a_freebsd_branded_file_does_not_get_a_linux_loader() {
    let t = Tree::new();
    let src = t.write("hello.c", "int main(void) { return 0; }\n");
    let ld = t.loader("ld");
    let dir = t.out();
    let mut files = Vec::new();
    for (name, osabi) in [("sysv", 0u8), ("gnu", 3), ("freebsd", 9)] {
        let x = t.program(dir.join(name), &src);
        let mut bytes = fs::read(&x).unwrap();
        bytes[7] = osabi;
        fs::write(&x, &bytes).unwrap();
        files.push((x, bytes));
    }
    let out = t
        .patch_run(&[])
        .interpreter(&ld)
        .json()
        .path(&dir)
        .run()
        .ok();
    assert!(
        stderr(&out).contains("patched 2,") && stderr(&out).contains("1 foreign"),
        "{}",
        stderr(&out)
    );
    let report = out.report();
    assert_eq!(
        report["foreign"],
        serde_json::json!([files[2].0.display().to_string()])
    );
    assert_eq!(fs::read(&files[2].0).unwrap(), files[2].1, "untouched");
    for (x, _) in &files[..2] {
        assert_eq!(
            patchelf_print("--print-interpreter", x),
            ld.display().to_string()
        );
    }
}
