//! patch-rpaths as a user runs it, over fixtures gcc builds at test time.

use crate::support::common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

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

/// `dir/lib<name>.so.1` exporting `<name>_value()`, optionally needing other libraries.
fn lib(dir: &Path, name: &str, needs: &[(&str, &Path)]) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let src = dir.join(format!("{name}.c"));
    let calls: String = needs
        .iter()
        .map(|(n, _)| format!(" + {n}_value()"))
        .collect();
    let decls: String = needs
        .iter()
        .map(|(n, _)| format!("int {n}_value(void);\n"))
        .collect();
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
    let calls: String = needs
        .iter()
        .map(|(n, _)| format!(" + {n}_value()"))
        .collect();
    let decls: String = needs
        .iter()
        .map(|(n, _)| format!("int {n}_value(void);\n"))
        .collect();
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
    for (n, d) in needs {
        args.push(format!("-L{}", d.display()));
        args.push(format!("-l:lib{n}.so.1"));
    }
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
    let decls: String = needs
        .iter()
        .map(|(n, _)| format!("int {n}_value(void);\n"))
        .collect();
    let sum: String = needs
        .iter()
        .map(|(n, _)| format!(" + {n}_value()"))
        .collect();
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
    for (n, d) in needs {
        args.push(format!("-L{}", d.display()));
        args.push(format!("-l:lib{n}.so.1"));
    }
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

/// A libc directory with only glibc in it, as a Nix glibc output has.
fn libc_dir(root: &Path) -> PathBuf {
    let dir = root.join("glibc/lib");
    if dir.exists() {
        return dir;
    }
    fs::create_dir_all(&dir).unwrap();
    for l in [
        "libc.so.6",
        "libm.so.6",
        "libdl.so.2",
        "libpthread.so.0",
        "ld-linux-x86-64.so.2",
    ] {
        std::os::unix::fs::symlink(Path::new("/lib/x86_64-linux-gnu").join(l), dir.join(l))
            .unwrap();
    }
    dir
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

#[test]
fn relinks_a_stripped_runpath_to_the_libs_directory_in_place() {
    let t = tempfile::tempdir().unwrap();
    let pq = store_like(t.path(), "postgresql-15.18-lib");
    lib(&pq, "pq", &[]);
    let m = module(
        &t.path().join("venv/_psycopg.so"),
        &[("pq", &pq)],
        Some(&stripped_twin(&pq)),
        false,
    );
    let size = fs::metadata(&m).unwrap().len();
    assert!(load(&m).is_err(), "cannot load before patching");

    let libc = libc_dir(t.path());
    let out = PatchRun::new()
        .libs(&pq)
        .libc(&libc)
        .path(t.path().join("venv"))
        .run()
        .ok();
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
    assert!(stderr(&out).contains("patched 1,"), "{}", stderr(&out));
}

#[test]
fn keeps_origin_entries_and_adds_nothing_they_satisfy() {
    let t = tempfile::tempdir().unwrap();
    let libs = t.path().join("site/pkg.libs");
    lib(&libs, "bundled", &[]);
    let m = module(
        &t.path().join("site/pkg/_ext.so"),
        &[("bundled", &libs)],
        Some("$ORIGIN/../pkg.libs"),
        false,
    );
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
    let t = tempfile::tempdir().unwrap();
    let inside = t.path().join("out/lib");
    let outside = t.path().join("elsewhere");
    lib(&inside, "dep", &[]);
    lib(&outside, "dep", &[]);
    let m = module(
        &t.path().join("out/bin/mod.so"),
        &[("dep", &inside)],
        None,
        false,
    );
    PatchRun::new()
        .libs(&outside)
        .libc(libc_dir(t.path()))
        .path(t.path().join("out"))
        .run()
        .ok();
    assert_eq!(runpath(&m).unwrap().1, inside.display().to_string());
}

#[test]
fn libs_directories_are_searched_in_the_order_given() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    lib(&a, "dep", &[]);
    lib(&b, "dep", &[]);
    let m = module(&t.path().join("out/mod.so"), &[("dep", &a)], None, false);
    let libc = libc_dir(t.path());
    for (first, second) in [(&a, &b), (&b, &a)] {
        PatchRun::new()
            .libs(first)
            .libs(second)
            .libc(&libc)
            .path(t.path().join("out"))
            .run()
            .ok();
        assert_eq!(runpath(&m).unwrap().1, first.display().to_string());
    }
}

#[test]
fn runpaths_of_found_libraries_are_searched_too() {
    let t = tempfile::tempdir().unwrap();
    let (base, top) = (t.path().join("base/lib"), t.path().join("top/lib"));
    lib(&base, "base", &[]);
    let top_so = lib(&top, "top", &[("base", &base)]);
    // top's own RUNPATH names base; the module needs both but is only given --libs top.
    let ok = Command::new("patchelf")
        .args(["--set-rpath"])
        .arg(&base)
        .arg(&top_so)
        .status()
        .unwrap();
    assert!(ok.success());
    let m = module(
        &t.path().join("out/mod.so"),
        &[("top", &top), ("base", &base)],
        None,
        false,
    );
    PatchRun::new()
        .libs(&top)
        .libc(libc_dir(t.path()))
        .path(t.path().join("out"))
        .run()
        .ok();
    assert_eq!(
        runpath(&m).unwrap().1,
        format!("{}:{}", top.display(), base.display())
    );
    assert_eq!(load(&m), Ok(3));
}

#[test]
fn a_library_of_another_machine_is_not_a_candidate() {
    let t = tempfile::tempdir().unwrap();
    let (foreign, native) = (t.path().join("arm"), t.path().join("x86"));
    let f = lib(&foreign, "dep", &[]);
    lib(&native, "dep", &[]);
    // Same name, but claims to be aarch64 (e_machine 183): must be skipped.
    let mut bytes = fs::read(&f).unwrap();
    bytes[18..20].copy_from_slice(&183u16.to_le_bytes());
    fs::write(&f, bytes).unwrap();
    let m = module(
        &t.path().join("out/mod.so"),
        &[("dep", &native)],
        None,
        false,
    );
    PatchRun::new()
        .libs(&foreign)
        .libs(&native)
        .libc(libc_dir(t.path()))
        .path(t.path().join("out"))
        .run()
        .ok();
    assert_eq!(runpath(&m).unwrap().1, native.display().to_string());
}

#[test]
fn libc_satisfies_without_an_entry_unless_keep_libc() {
    let t = tempfile::tempdir().unwrap();
    let libc = libc_dir(t.path());
    let gone = stripped_twin(&store_like(t.path(), "gone"));
    let m = module(&t.path().join("out/mod.so"), &[], Some(&gone), false);
    PatchRun::new()
        .libc(&libc)
        .path(t.path().join("out"))
        .run()
        .ok();
    assert_eq!(
        runpath(&m).unwrap().1,
        gone,
        "nothing to add: the old RUNPATH stays, as autoPatchelf leaves it"
    );
    PatchRun::new()
        .libc(&libc)
        .keep_libc()
        .path(t.path().join("out"))
        .run()
        .ok();
    assert_eq!(runpath(&m).unwrap().1, libc.display().to_string());
}

#[test]
fn rpath_stays_rpath() {
    let t = tempfile::tempdir().unwrap();
    let d = store_like(t.path(), "zlib-1.3.1");
    lib(&d, "z", &[]);
    let m = module(
        &t.path().join("out/mod.so"),
        &[("z", &d)],
        Some(&stripped_twin(&d)),
        true,
    );
    PatchRun::new()
        .libs(&d)
        .libc(libc_dir(t.path()))
        .path(t.path().join("out"))
        .run()
        .ok();
    assert_eq!(runpath(&m), Some(("RPATH".into(), d.display().to_string())));
}

#[test]
fn a_longer_runpath_grows_the_file_and_it_still_loads() {
    let t = tempfile::tempdir().unwrap();
    let long = t.path().join(format!("{}/lib", "d".repeat(150)));
    lib(&long, "dep", &[]);
    let m = module(
        &t.path().join("out/mod.so"),
        &[("dep", &long)],
        Some("/x"),
        false,
    );
    PatchRun::new()
        .libs(&long)
        .libc(libc_dir(t.path()))
        .path(t.path().join("out"))
        .run()
        .ok();
    assert_eq!(runpath(&m).unwrap().1, long.display().to_string());
    assert_eq!(load(&m), Ok(1));
    let patchelf = Command::new("patchelf")
        .arg("--print-rpath")
        .arg(&m)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&patchelf.stdout).trim(),
        long.display().to_string()
    );
}

#[test]
fn a_missing_common_library_without_a_trace_names_its_nixpkgs_attribute() {
    // A wheel built elsewhere: its RUNPATH names no store path to trace the library back to.
    let t = tempfile::tempdir().unwrap();
    let elsewhere = t.path().join("elsewhere");
    lib(&elsewhere, "z", &[]);
    let m = module(
        &t.path().join("out/_zlib.so"),
        &[("z", &elsewhere)],
        Some("$ORIGIN"),
        false,
    );
    let out = PatchRun::new()
        .libc(libc_dir(t.path()))
        .json()
        .path(t.path().join("out"))
        .run();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!(
            "error: missing libz.so.1 wanted by {} — add the package that provides it to buildInputs (in nixpkgs: zlib)",
            m.display()
        )),
        "{}",
        stderr(&out)
    );
    let report = out.report();
    assert_eq!(report["missing"][0]["nixpkgs"], "zlib", "{report}");
}

#[test]
fn missing_library_names_the_package_it_came_from_and_fails() {
    let t = tempfile::tempdir().unwrap();
    let pq = store_like(t.path(), "postgresql-15.18-lib");
    lib(&pq, "pq", &[]);
    let m = module(
        &t.path().join("out/_psycopg.so"),
        &[("pq", &pq)],
        Some(&stripped_twin(&pq)),
        false,
    );
    let before = fs::read(&m).unwrap();
    let out = PatchRun::new()
        .libc(libc_dir(t.path()))
        .path(t.path().join("out"))
        .run();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!(
            "error: missing libpq.so.1 wanted by {} — it came from postgresql-15.18-lib: add that package to buildInputs",
            m.display()
        )),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        fs::read(&m).unwrap(),
        before,
        "a file with a missing library is left as it was"
    );
    let ignored = PatchRun::new()
        .ignore_missing("libpq*")
        .libc(libc_dir(t.path()))
        .path(t.path().join("out"))
        .run();
    assert_eq!(ignored.status.code(), Some(0), "{}", stderr(&ignored));
    assert!(
        stderr(&ignored).contains("warning: ignoring missing libpq.so.1"),
        "{}",
        stderr(&ignored)
    );
}

#[test]
fn absolute_needed_that_exists_is_satisfied() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("abs");
    let so = lib(&d, "dep", &[]);
    let src = t.path().join("m.c");
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
    let out = PatchRun::new()
        .libs(&d)
        .libc(libc_dir(t.path()))
        .path(t.path().join("out"))
        .run()
        .ok();
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
    let t = tempfile::tempdir().unwrap();
    let exe = t.path().join("out/bin/hello");
    fs::create_dir_all(exe.parent().unwrap()).unwrap();
    let src = t.path().join("hello.c");
    fs::write(
        &src,
        "#include <stdio.h>\nint main(void) { puts(\"hello\"); return 0; }\n",
    )
    .unwrap();
    gcc(&["-o", exe.to_str().unwrap(), src.to_str().unwrap()]);
    // A path no longer than the one gcc wrote, so the rewrite stays in place.
    let ld = t.path().join("ld.so");
    std::os::unix::fs::symlink("/lib64/ld-linux-x86-64.so.2", &ld).unwrap();
    PatchRun::new()
        .interpreter(&ld)
        .libc(libc_dir(t.path()))
        .path(t.path().join("out"))
        .run()
        .ok();
    let interp = Command::new("patchelf")
        .arg("--print-interpreter")
        .arg(&exe)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&interp.stdout).trim(),
        ld.display().to_string()
    );
    let ran = Command::new(&exe).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&ran.stdout), "hello\n");
}

#[test]
fn second_run_is_byte_identical_and_dry_run_changes_nothing() {
    let t = tempfile::tempdir().unwrap();
    let d = store_like(t.path(), "libxml2-2.13.8");
    lib(&d, "xml2", &[]);
    let m = module(
        &t.path().join("out/x.so"),
        &[("xml2", &d)],
        Some(&stripped_twin(&d)),
        false,
    );
    let libc = libc_dir(t.path());
    let args = |dry: bool| patch_one_dir(&d, &libc, &t.path().join("out"), dry);
    let before = fs::read(&m).unwrap();
    let dry = args(true);
    assert!(dry.status.success());
    assert_eq!(fs::read(&m).unwrap(), before);
    assert!(
        stdout(&dry).contains(&format!(
            "RUNPATH     {} -> {}",
            stripped_twin(&d),
            d.display()
        )),
        "{}",
        stdout(&dry)
    );
    assert!(args(false).status.success());
    let once = fs::read(&m).unwrap();
    let again = args(false);
    assert_eq!(fs::read(&m).unwrap(), once);
    assert!(
        stderr(&again).contains("patched 0, 1 already right"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn non_elf_is_skipped_and_a_broken_elf_is_an_error_naming_it() {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), "out/readme.txt", "hello");
    let broken = write(t.path(), "out/broken.so", b"\x7fELF\x02\x01\x01garbage");
    let d = store_like(t.path(), "zlib");
    lib(&d, "z", &[]);
    let m = module(
        &t.path().join("out/ok.so"),
        &[("z", &d)],
        Some(&stripped_twin(&d)),
        false,
    );
    let out = PatchRun::new()
        .libs(&d)
        .libc(libc_dir(t.path()))
        .path(t.path().join("out"))
        .run();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("{}: not a valid ELF file", broken.display())),
        "{}",
        stderr(&out)
    );
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
    let t = tempfile::tempdir().unwrap();
    let libc = libc_dir(t.path());
    let bintools = t.path().join("bintools");
    fs::create_dir_all(bintools.join("nix-support")).unwrap();
    let ld = t.path().join("ld.so");
    std::os::unix::fs::symlink("/lib64/ld-linux-x86-64.so.2", &ld).unwrap();
    fs::write(
        bintools.join("nix-support/dynamic-linker"),
        format!("{}\n", ld.display()),
    )
    .unwrap();
    fs::write(
        bintools.join("nix-support/orig-libc"),
        libc.parent().unwrap().display().to_string(),
    )
    .unwrap();
    let exe = t.path().join("out/bin/hello");
    fs::create_dir_all(exe.parent().unwrap()).unwrap();
    let src = t.path().join("hello.c");
    fs::write(&src, "int main(void) { return 0; }\n").unwrap();
    gcc(&["-o", exe.to_str().unwrap(), src.to_str().unwrap()]);
    PatchRun::new()
        .bintools(&bintools)
        .path(t.path().join("out"))
        .run()
        .ok();
    let interp = Command::new("patchelf")
        .arg("--print-interpreter")
        .arg(&exe)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&interp.stdout).trim(),
        ld.display().to_string()
    );
    assert!(Command::new(&exe).status().unwrap().success());
}

#[test]
fn libs_tree_adds_every_directory_holding_a_library() {
    let t = tempfile::tempdir().unwrap();
    let deep = t.path().join("deps/pkg/lib/nested");
    lib(&deep, "deep", &[]);
    let m = module(
        &t.path().join("out/mod.so"),
        &[("deep", &deep)],
        None,
        false,
    );
    PatchRun::new()
        .libs_tree(t.path().join("deps"))
        .libc(libc_dir(t.path()))
        .path(t.path().join("out"))
        .run()
        .ok();
    assert_eq!(runpath(&m).unwrap().1, deep.display().to_string());
}

#[test]
fn no_recurse_patches_only_direct_entries() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("libdir");
    lib(&d, "dep", &[]);
    let top = module(&t.path().join("out/top.so"), &[("dep", &d)], None, false);
    let below = module(
        &t.path().join("out/sub/below.so"),
        &[("dep", &d)],
        None,
        false,
    );
    PatchRun::new()
        .arg("--no-recurse")
        .libs(&d)
        .libc(libc_dir(t.path()))
        .path(t.path().join("out"))
        .run()
        .ok();
    assert_eq!(runpath(&top).unwrap().1, d.display().to_string());
    assert_eq!(runpath(&below), None);
}

#[test]
fn the_nearest_copy_of_a_library_in_the_tree_wins() {
    let t = tempfile::tempdir().unwrap();
    // The same venv twice in one output: each module must use its own copy's library.
    let mut modules = Vec::new();
    for copy in ["a", "b"] {
        let libs = t.path().join(format!("out/{copy}/pkg.libs"));
        lib(&libs, "bundled", &[]);
        modules.push((
            libs.clone(),
            module(
                &t.path().join(format!("out/{copy}/pkg/mod.so")),
                &[("bundled", &libs)],
                None,
                false,
            ),
        ));
    }
    PatchRun::new()
        .libc(libc_dir(t.path()))
        .path(t.path().join("out"))
        .run()
        .ok();
    for (libs, m) in &modules {
        assert_eq!(runpath(m).unwrap().1, libs.display().to_string());
    }
}

#[test]
fn soname_links_in_the_tree_are_found_and_a_second_run_changes_nothing() {
    let t = tempfile::tempdir().unwrap();
    let tree = t.path().join("out");
    // D holds libdep.so.1.0 (soname libdep.so.1) and its soname link, and libreg.so; E's
    // library needs libreg.so, F's needs libdep.so.1: only the link has that name.
    let d = tree.join("D");
    let real = lib(&d, "dep", &[]);
    let versioned = d.join("libdep.so.1.0");
    fs::rename(&real, &versioned).unwrap();
    std::os::unix::fs::symlink("libdep.so.1.0", d.join("libdep.so.1")).unwrap();
    lib(&d, "reg", &[]);
    let e = module(&tree.join("E/liby.so"), &[("reg", &d)], None, false);
    let f = module(&tree.join("F/libx.so"), &[("dep", &d)], None, false);
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
    assert!(stderr(&twice).contains("patched 0,"), "{}", stderr(&twice));
}

#[test]
fn ignore_existing_keeps_resolution_out_of_the_tree() {
    let t = tempfile::tempdir().unwrap();
    let inside = t.path().join("out/lib");
    let outside = t.path().join("libs");
    lib(&inside, "dep", &[]);
    lib(&outside, "dep", &[]);
    let m = module(
        &t.path().join("out/mod.so"),
        &[("dep", &inside)],
        None,
        false,
    );
    PatchRun::new()
        .arg("--ignore-existing")
        .libs(&outside)
        .libc(libc_dir(t.path()))
        .path(t.path().join("out"))
        .run()
        .ok();
    assert_eq!(runpath(&m).unwrap().1, outside.display().to_string());
}

#[test]
fn a_separate_debug_file_is_skipped_not_an_error() {
    let t = tempfile::tempdir().unwrap();
    let so = lib(&t.path().join("out"), "dep", &[]);
    let debug = t.path().join("out/libdep.so.1.debug");
    let ok = Command::new("objcopy")
        .arg("--only-keep-debug")
        .arg(&so)
        .arg(&debug)
        .status()
        .unwrap();
    assert!(ok.success());
    let out = PatchRun::new()
        .libc(libc_dir(t.path()))
        .path(t.path().join("out"))
        .run()
        .ok();
    assert!(stderr(&out).contains("1 not dynamic"), "{}", stderr(&out));
}

/// A library with no RUNPATH and no spare dynamic slot (as LLD links Rust wheels): it takes an
/// --append-rpath entry all the same, in a copy of `.dynamic` (patchelf's way).
#[test]
fn a_library_without_a_spare_dynamic_slot_takes_a_new_runpath() {
    let t = tempfile::tempdir().unwrap();
    let m = module(&t.path().join("out/_rust.abi3.so"), &[], None, false);
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
    let rt = t.path().join("runtime");
    fs::create_dir_all(&rt).unwrap();
    let out = PatchRun::new()
        .append_rpath(&rt)
        .libc(libc_dir(t.path()))
        .json()
        .path(t.path().join("out"))
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
    let t = tempfile::tempdir().unwrap();
    let d = store_like(t.path(), "libxml2-2.13.8");
    lib(&d, "xml2", &[]);
    let m = module(
        &t.path().join("out/a/x.so"),
        &[("xml2", &d)],
        Some(&stripped_twin(&d)),
        false,
    );
    let twin = t.path().join("out/b/x.so");
    fs::create_dir_all(twin.parent().unwrap()).unwrap();
    fs::hard_link(&m, &twin).unwrap();
    // One worker, so the second link is read for writing after the first was replaced: that
    // changed its link count (and ctime), not its bytes.
    let out = PatchRun::new()
        .jobs(1)
        .libs(&d)
        .libc(libc_dir(t.path()))
        .path(t.path().join("out"))
        .run()
        .ok();
    for path in [&m, &twin] {
        assert_eq!(load(path), Ok(1), "{}", path.display());
    }
    assert!(stderr(&out).contains("patched 2,"), "{}", stderr(&out));
}

#[test]
fn a_killed_runs_temporary_copy_is_removed_and_reported() {
    let t = tempfile::tempdir().unwrap();
    let d = store_like(t.path(), "libxml2-2.13.8");
    lib(&d, "xml2", &[]);
    let m = module(
        &t.path().join("out/x.so"),
        &[("xml2", &d)],
        Some(&stripped_twin(&d)),
        false,
    );
    // A torn copy, as a kill in the middle of writing it leaves; pid 0 is no process.
    let torn = write(
        t.path(),
        "out/.x.so.patch-rpaths.0",
        &fs::read(&m).unwrap()[..100],
    );
    // Names that only look alike are the user's.
    let look_alike = write(t.path(), "out/x.so.patch-rpaths.0", "user data");
    let look_alike_dir = t.path().join("out/.y.so.patch-rpaths.0");
    fs::create_dir_all(&look_alike_dir).unwrap();
    let libc = libc_dir(t.path());
    let args = |dry: bool| patch_one_dir(&d, &libc, &t.path().join("out"), dry);
    let dry = args(true);
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert!(torn.exists(), "a dry run removes nothing");
    assert!(
        stderr(&dry).contains(&format!(
            "would remove {}: left by a killed run",
            torn.display()
        )),
        "{}",
        stderr(&dry)
    );
    let out = args(false);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!torn.exists());
    assert!(
        stderr(&out).contains(&format!("removed {}: left by a killed run", torn.display())),
        "{}",
        stderr(&out)
    );
    assert_eq!(fs::read_to_string(&look_alike).unwrap(), "user data");
    assert!(look_alike_dir.is_dir());
    assert_eq!(load(&m), Ok(1));
}

#[test]
fn overlapping_roots_patch_each_file_once() {
    let t = tempfile::tempdir().unwrap();
    let d = store_like(t.path(), "libxml2-2.13.8");
    lib(&d, "xml2", &[]);
    let m = module(
        &t.path().join("out/sub/x.so"),
        &[("xml2", &d)],
        Some(&stripped_twin(&d)),
        false,
    );
    let out = PatchRun::new()
        .libs(&d)
        .libc(libc_dir(t.path()))
        .path(t.path().join("out/sub"))
        .path(t.path().join("out"))
        .run()
        .ok();
    assert!(stderr(&out).contains("scanned 1 file"), "{}", stderr(&out));
    assert_eq!(load(&m), Ok(1));
}

/// auto-patchelf's layout: --runtime-dependency first, on executables only; then (our
/// difference) the kept $ORIGIN entries; the directories found; --append-rpath last, on
/// every file, as given even when it does not exist.
#[test]
fn runtime_dependencies_lead_executables_only_and_append_rpaths_end_every_runpath() {
    let t = tempfile::tempdir().unwrap();
    let out_dir = t.path().join("out");
    let bundled = out_dir.join("lib");
    lib(&bundled, "bundled", &[]);
    let d = t.path().join("deps");
    lib(&d, "dep", &[]);
    let rt = t.path().join("runtime/lib");
    fs::create_dir_all(&rt).unwrap();
    let appended = "/run/opengl-driver/lib";
    let x = exe(
        &out_dir.join("bin/app"),
        &[("bundled", &bundled), ("dep", &d)],
        Some("$ORIGIN/../lib"),
        false,
    );
    let m = module(&out_dir.join("site/mod.so"), &[("dep", &d)], None, false);
    let libc = libc_dir(t.path());
    let args = || {
        PatchRun::new()
            .libs(&d)
            .libc(&libc)
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
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("deps");
    lib(&d, "dep", &[]);
    let rt = t.path().join("runtime");
    fs::create_dir_all(&rt).unwrap();
    let x = exe(&t.path().join("out/app"), &[("dep", &d)], None, true);
    let info = fixup_hooks::elf::ElfInfo::parse(&fs::read(&x).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(info.e_type, 3, "ET_DYN: a PIE executable");
    assert!(info.interpreter.is_some());
    PatchRun::new()
        .libs(&d)
        .libc(libc_dir(t.path()))
        .runtime_dependency(&rt)
        .path(t.path().join("out"))
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
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("deps");
    lib(&d, "dep", &[]);
    let plugins = t.path().join("plugins");
    let foo = lib(&plugins, "foo", &[]);
    fs::rename(&foo, plugins.join("libfoo.so")).unwrap();
    let json = r#"[{"feature":"foo","description":"Foo support","priority":"recommended","soname":["libmissing.so.9","libfoo.so"]}]"#;
    // 26 bytes, padded to 28: a walk that padded to 8 would miss the notes after it.
    let mut notes = note("GNU", NT_DLOPEN, br#"[{"soname":["libdcy.so"]}]"#, None);
    assert_eq!(notes.len() % 8, 4);
    notes.extend(note("FDO", 1, br#"[{"soname":["libdecoy.so.2"]}]"#, None));
    notes.extend(note("FDO", NT_DLOPEN, json.as_bytes(), None));
    let m = module_with(
        &t.path().join("out/libplug.so"),
        &[("dep", &d)],
        None,
        false,
        &dlopen_section(&notes),
    );
    let libc = libc_dir(t.path());
    let patch_with = |libs: &[&Path], extra: &[&str]| {
        let run = libs.iter().fold(PatchRun::new(), |run, l| run.libs(l));
        run.libc(&libc).args(extra).path(t.path().join("out")).run()
    };
    let dry = patch_with(&[&d, &plugins], &["--dry-run"]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    let described = format!(
        "tried libmissing.so.9, libfoo.so: found libfoo.so in {}",
        plugins.display()
    );
    assert!(
        stdout(&dry).contains(&format!("  dlopen      {described}")),
        "{}",
        stdout(&dry)
    );
    assert!(
        stderr(&dry).contains(&format!("{}: .note.dlopen: {described}", m.display())),
        "{}",
        stderr(&dry)
    );
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
    assert!(
        stderr(&out).contains(&format!(
            "tried libmissing.so.9: found libmissing.so.9 in {}",
            first.display()
        )),
        "{}",
        stderr(&out)
    );
}

/// A `.note.dlopen` entry none of whose alternatives exists is missing like a DT_NEEDED,
/// named as auto-patchelf names it; --ignore-missing takes auto-patchelf's globs on that name
/// and globs on any one alternative.
#[test]
fn a_dlopen_note_with_every_alternative_missing_fails_unless_ignored() {
    let t = tempfile::tempdir().unwrap();
    let d = store_like(t.path(), "libxml2-2.13.8");
    lib(&d, "xml2", &[]);
    let m = dlopen_module(
        &t.path().join("out/libplug.so"),
        &[("xml2", &d)],
        Some(&stripped_twin(&d)),
        r#"[{"soname":["libmissing.so.9","libgone.so.2"]}]"#,
    );
    let before = fs::read(&m).unwrap();
    let libc = libc_dir(t.path());
    let patch_ignoring = |ignore: &[&str]| {
        let run = ignore
            .iter()
            .fold(PatchRun::new(), |run, g| run.ignore_missing(g));
        run.libs(&d).libc(&libc).path(t.path().join("out")).run()
    };
    let out = patch_ignoring(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "error: missing any(libmissing.so.9, libgone.so.2) wanted by {} (.note.dlopen)",
            m.display()
        )),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("tried libmissing.so.9, libgone.so.2: none found"),
        "{}",
        stderr(&out)
    );
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
    let t = tempfile::tempdir().unwrap();
    let d = store_like(t.path(), "zzlib-1.0");
    lib(&d, "zz", &[]);
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
            &t.path().join(format!("out/{name}.so")),
            &[("zz", &d)],
            Some(&stripped_twin(&d)),
            false,
            &dlopen_section(notes),
        ));
    }
    let out = PatchRun::new()
        .libs(&d)
        .libc(libc_dir(t.path()))
        .json()
        .path(t.path().join("out"))
        .run();
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
    let t = tempfile::tempdir().unwrap();
    let d = store_like(t.path(), "libxml2-2.13.8");
    lib(&d, "xml2", &[]);
    let m = module(
        &t.path().join("out/x.so"),
        &[("xml2", &d)],
        Some(&stripped_twin(&d)),
        false,
    );
    fs::set_permissions(&m, fs::Permissions::from_mode(0o444)).unwrap();
    let (ino, len) = (inode(&m), fs::metadata(&m).unwrap().len());
    let libc = libc_dir(t.path());
    let cmd = PatchRun::new()
        .libs(&d)
        .libc(&libc)
        .path(t.path().join("out"))
        .command();
    let (out, log) = traced(
        &cmd,
        "openat,pwrite64,write,writev,rename,renameat,renameat2,fsync,fdatasync",
        &t.path().join("strace.log"),
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
    let t = tempfile::tempdir().unwrap();
    let d = store_like(t.path(), "libxml2-2.13.8");
    lib(&d, "xml2", &[]);
    let m = module(
        &t.path().join("out/x.so"),
        &[("xml2", &d)],
        Some(&stripped_twin(&d)),
        false,
    );
    let outside = t.path().join("elsewhere.so");
    fs::hard_link(&m, &outside).unwrap();
    let before = fs::read(&outside).unwrap();
    let out = patch_one_dir(&d, &libc_dir(t.path()), &t.path().join("out"), false);
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
    let t = tempfile::tempdir().unwrap();
    let d = store_like(t.path(), "libxml2-2.13.8");
    lib(&d, "xml2", &[]);
    module(
        &t.path().join("out/a.so"),
        &[("xml2", &d)],
        Some(&stripped_twin(&d)),
        false,
    );
    // Needs a longer RUNPATH: appended, through a temporary copy.
    module(&t.path().join("out/b.so"), &[("xml2", &d)], None, false);
    let libc = libc_dir(t.path());
    for fsync in [false, true] {
        let root = t.path().join(format!("run-{fsync}"));
        fs::create_dir_all(&root).unwrap();
        for n in ["a.so", "b.so"] {
            fs::copy(t.path().join("out").join(n), root.join(n)).unwrap();
        }
        let run = PatchRun::new().libs(&d).libc(&libc);
        let cmd = if fsync { run.arg("--fsync") } else { run }
            .path(&root)
            .command();
        let (out, log) = traced(&cmd, "fsync,fdatasync", &t.path().join("strace.log"));
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(stderr(&out).contains("patched 2,"), "{}", stderr(&out));
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
    let t = tempfile::tempdir().unwrap();
    let d = store_like(t.path(), "libxml2-2.13.8");
    lib(&d, "xml2", &[]);
    lib(&d, "other", &[]);
    for i in 0..4 {
        module(
            &t.path().join(format!("out/m{i}.so")),
            &[("xml2", &d)],
            Some(&stripped_twin(&d)),
            false,
        );
    }
    let cmd = PatchRun::new()
        .libs(&d)
        .libc(libc_dir(t.path()))
        .path(t.path().join("out"))
        .command();
    let (out, log) = traced(&cmd, "openat,open", &t.path().join("strace.log"));
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
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("deps/lib");
    lib(&d, "dep", &[]);
    let rt = t.path().join("runtime/lib");
    fs::create_dir_all(&rt).unwrap();
    let bundled = t.path().join("out/lib");
    lib(&bundled, "bundled", &[]);
    let x = exe(
        &t.path().join("out/bin/app"),
        &[("bundled", &bundled), ("dep", &d)],
        None,
        false,
    );
    let m = module(
        &t.path().join("out/site/m.so"),
        &[("bundled", &bundled)],
        None,
        false,
    );
    libc_dir(t.path());
    // No longer than the one gcc wrote, so it fits in place.
    std::os::unix::fs::symlink("/lib64/ld-linux-x86-64.so.2", t.path().join("ld")).unwrap();
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
    let interp = Command::new("patchelf")
        .arg("--print-interpreter")
        .arg(&x)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&interp.stdout).trim(),
        abs(&t.path().join("ld"))
    );
    assert!(Command::new(&x).status().unwrap().success(), "it runs");
}

/// A relative `--append-rpath` would be looked up from whatever directory the loading process
/// runs in: refused as a usage error, nothing touched. `$ORIGIN`-relative ones are fine.
#[test]
fn a_relative_append_rpath_is_a_usage_error() {
    let t = tempfile::tempdir().unwrap();
    let m = module(&t.path().join("out/m.so"), &[], None, false);
    let before = fs::read(&m).unwrap();
    let libc = libc_dir(t.path());
    for bad in ["lib", "./lib", "../x/lib", "$LIB/x"] {
        let out = PatchRun::new()
            .libc(&libc)
            .append_rpath(bad)
            .path(t.path().join("out"))
            .run();
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!("--append-rpath {bad}: a relative entry")),
            "{}",
            stderr(&out)
        );
        assert_eq!(fs::read(&m).unwrap(), before);
    }
    for good in ["$ORIGIN/../lib", "${ORIGIN}/lib", "/run/opengl-driver/lib"] {
        let out = PatchRun::new()
            .libc(&libc)
            .append_rpath(good)
            .dry_run()
            .path(t.path().join("out"))
            .run();
        assert_eq!(out.status.code(), Some(0), "{good}: {}", stderr(&out));
    }
}

/// A library whose RUNPATH the writer cannot add (no DT_STRTAB, by test surgery) and that
/// needed only an --append-rpath entry: refused, counted as refused (never "already right"),
/// and a failure unless --allow-optional-refusal makes it a warning.
#[test]
fn an_optional_refusal_fails_unless_allowed_and_is_counted() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("out");
    fs::create_dir_all(&dir).unwrap();
    let src = t.path().join("plain.c");
    fs::write(&src, "int plain_value(void) { return 1; }\n").unwrap();
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
    let libc = libc_dir(t.path());
    let args = |allow: bool| {
        let run = PatchRun::new()
            .libc(&libc)
            .append_rpath("/run/opengl-driver/lib");
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
    assert!(
        stderr(&out).contains("patched 0, 0 already right, 1 refused"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("--allow-optional-refusal makes this a warning"),
        "{}",
        stderr(&out)
    );
    assert_eq!(fs::read(&m).unwrap(), bytes, "left untouched");
    let out = args(true);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("patched 0, 0 already right, 1 refused"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("warning: "), "{}", stderr(&out));
    assert_eq!(fs::read(&m).unwrap(), bytes, "left untouched");
}

/// A gcc executable surgically given an empty or no PT_DYNAMIC (PT_INTERP kept): it still
/// takes --interpreter instead of being skipped as "not dynamic".
#[test]
fn an_executable_without_dynamic_entries_still_gets_the_interpreter() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("hello.c");
    fs::write(&src, "int main(void) { return 0; }\n").unwrap();
    let ld = t.path().join("ld");
    std::os::unix::fs::symlink("/lib64/ld-linux-x86-64.so.2", &ld).unwrap();
    let libc = libc_dir(t.path());
    for (case, surgery) in [("empty", 0u8), ("missing", 1)] {
        let dir = t.path().join(case);
        fs::create_dir_all(&dir).unwrap();
        let x = dir.join("hello");
        gcc(&["-o", x.to_str().unwrap(), src.to_str().unwrap()]);
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
        let out = PatchRun::new()
            .interpreter(&ld)
            .libc(&libc)
            .path(&dir)
            .run();
        assert!(out.status.success(), "{case}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("patched 1,") && stderr(&out).contains("0 not dynamic"),
            "{case}: {}",
            stderr(&out)
        );
        let interp = Command::new("patchelf")
            .arg("--print-interpreter")
            .arg(&x)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&interp.stdout).trim(),
            ld.display().to_string(),
            "{case}"
        );
    }
}

/// The interpreter's OSABI must go with the file's: a Linux loader (SYSV here) takes SYSV and
/// GNU files, never a FreeBSD-branded one, which is skipped as foreign and counted.
#[test]
fn a_freebsd_branded_file_does_not_get_a_linux_loader() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("hello.c");
    fs::write(&src, "int main(void) { return 0; }\n").unwrap();
    let ld = t.path().join("ld");
    std::os::unix::fs::symlink("/lib64/ld-linux-x86-64.so.2", &ld).unwrap();
    let dir = t.path().join("out");
    fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    for (name, osabi) in [("sysv", 0u8), ("gnu", 3), ("freebsd", 9)] {
        let x = dir.join(name);
        gcc(&["-o", x.to_str().unwrap(), src.to_str().unwrap()]);
        let mut bytes = fs::read(&x).unwrap();
        bytes[7] = osabi;
        fs::write(&x, &bytes).unwrap();
        files.push((x, bytes));
    }
    let out = PatchRun::new()
        .interpreter(&ld)
        .libc(libc_dir(t.path()))
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
        let interp = Command::new("patchelf")
            .arg("--print-interpreter")
            .arg(x)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&interp.stdout).trim(),
            ld.display().to_string()
        );
    }
}
