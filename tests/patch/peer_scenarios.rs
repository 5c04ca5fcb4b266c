//! The peer-scenario suite: the layouts patchelf's own test suite is built around (big
//! `.dynstr`, per-library RUNPATHs, RPATH vs RUNPATH, prebuilt files of other machines,
//! interpreters of every length, a second `.shstrtab`, build-id notes, repeated updates, a
//! short first segment, file growth, segments sharing pages, strings shared between RPATH and
//! a symbol, DT_INIT/DT_FINI, SysV-only hashes, `--emit-relocs`, data right after the program
//! header table, PT_INTERP without a dynamic table, another OS's ABI, and malformed files),
//! with this project's own fixtures (`tests/peer/`) built at test time by gcc with bfd, gold
//! and lld, PIE and not, and clang for the other machines.
//!
//! Every result for this machine must run, `readelf -a -W` must not complain about it, its
//! loadable segments must not share pages, `strip`, `strip -g` and `objcopy` must take it (and
//! their copies run), and a second patch-rpaths run must change nothing. Malformed files must
//! be refused with their name and the cause, byte for byte untouched.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::peer::*;

fn variant_named(name: &str) -> Variant {
    match name {
        "bfd_pie" => Variant::bfd_pie(),
        "bfd_exec" => Variant::bfd_exec(),
        "gold_pie" => Variant::gold_pie(),
        "gold_exec" => Variant::gold_exec(),
        "lld_pie" => Variant::lld_pie(),
        "lld_exec" => Variant::lld_exec(),
        other => panic!("no variant {other}"),
    }
}

fn linker_named(name: &str) -> Linker {
    match name {
        "bfd" => Linker::Bfd,
        "gold" => Linker::Gold,
        "lld" => Linker::Lld,
        other => panic!("no linker {other}"),
    }
}

/// One test per link variant (`bfd_pie`, `bfd_exec`, …; all six when none are named), in a
/// module named after the behaviour.
macro_rules! per_variant {
    ($scenario:ident) => {
        per_variant!($scenario: bfd_pie, bfd_exec, gold_pie, gold_exec, lld_pie, lld_exec);
    };
    ($scenario:ident: $($v:ident),+ $(,)?) => {
        mod $scenario {
            $(
                #[test]
                fn $v() {
                    super::$scenario(super::variant_named(stringify!($v)));
                }
            )+
        }
    };
}

/// One test per linker, for libraries.
macro_rules! per_linker {
    ($scenario:ident) => {
        per_linker!($scenario: bfd, gold, lld);
    };
    ($scenario:ident: $($l:ident),+ $(,)?) => {
        mod $scenario {
            $(
                #[test]
                fn $l() {
                    super::$scenario(super::linker_named(stringify!($l)));
                }
            )+
        }
    };
}

/// `DIR/libpeer.so` (peer_value() = 41), linked with `linker`.
fn libpeer(dir: &Path, linker: Linker, extra: &[&str]) -> PathBuf {
    shared_lib(&dir.join("libpeer.so"), &["peer-lib.c"], linker, extra)
}

fn l_flag(dir: &Path) -> String {
    format!("-L{}", dir.display())
}

fn rpath_flag(value: &str) -> String {
    format!("-Wl,-rpath,{value}")
}

const RUNPATH: &str = "-Wl,--enable-new-dtags";
const RPATH: &str = "-Wl,--disable-new-dtags";

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap().len()
}

// ---------------------------------------------------------------------------------------------
// big-dynstr: a program whose .dynstr is large (2,000 exported functions), with an RPATH
// (patchelf forces one there); its library chain must still be found and the RPATH stay one.

fn big_dynstr_program_keeps_its_rpath_and_runs(v: Variant) {
    let sc = Scratch::new();
    let g = sc.nix_glibc();
    let runner = sc.dlopen_runner();
    let libs_b = sc.dir("libs-b");
    shared_lib(
        &libs_b.join("libbottom.so"),
        &["chain-bottom.c"],
        v.linker,
        &[],
    );
    let tree = sc.dir("tree");
    let top = shared_lib(
        &tree.join("lib/libtop.so"),
        &["chain-top.c"],
        v.linker,
        &[&l_flag(&libs_b), "-lbottom", RPATH, &rpath_flag("/oops")],
    );
    let big = sc.file("big.c");
    let funcs: String = (1..=2000)
        .map(|i| format!("void peer_big_function_{i:04}(void) {{}}\n"))
        .collect();
    std::fs::write(&big, funcs).unwrap();
    let prog = program(
        &tree.join("bin/big-dynstr"),
        &["chain-main.c", &s(&big)],
        v,
        &[
            "-rdynamic",
            &l_flag(&tree.join("lib")),
            "-ltop",
            &format!("-Wl,-rpath-link,{}", libs_b.display()),
            RPATH,
            &rpath_flag("/oops"),
        ],
    );
    let bytes = read(&prog);
    let dynstr = Elf64::new(&bytes).section(".dynstr").size;
    assert!(dynstr > 40_000, "precondition: .dynstr is big ({dynstr} B)");

    let patch = Patch::new()
        .libs(&libs_b)
        .libc(&g.lib)
        .interpreter(&g.loader)
        .root(&tree, &[&prog, &top]);
    patch.ok();
    assert_search_path(&prog, "RPATH", &s(&tree.join("lib")));
    assert_search_path(&top, "RPATH", &s(&libs_b));
    assert_eq!(interpreter(&prog), Some(s(&g.loader)));
    assert_sound(&prog, &Role::program("chain 46"));
    assert_sound(&top, &Role::library(&runner, "top_value", "46"));
    patch.assert_second_run_changes_nothing();
}
per_variant!(big_dynstr_program_keeps_its_rpath_and_runs);

// ---------------------------------------------------------------------------------------------
// set-rpath-library / shrink-rpath: RUNPATH is not inherited, so the library in the middle of a
// chain needs its own; the program's RUNPATH keeps only what the program itself needs.

fn each_file_gets_the_runpath_it_needs_and_no_more(v: Variant) {
    let sc = Scratch::new();
    let g = sc.nix_glibc();
    let runner = sc.dlopen_runner();
    let libs_b = sc.dir("libs-b");
    shared_lib(
        &libs_b.join("libbottom.so"),
        &["chain-bottom.c"],
        v.linker,
        &[],
    );
    let tree = sc.dir("tree");
    let lib_dir = tree.join("lib");
    let top = shared_lib(
        &lib_dir.join("libtop.so"),
        &["chain-top.c"],
        v.linker,
        &[&l_flag(&libs_b), "-lbottom", RUNPATH, &rpath_flag("/oops")],
    );
    let prog = program(
        &tree.join("bin/chain"),
        &["chain-main.c"],
        v,
        &[
            &l_flag(&lib_dir),
            "-ltop",
            &format!("-Wl,-rpath-link,{}", libs_b.display()),
            RUNPATH,
            &rpath_flag(&format!("/oops:{}:{}", lib_dir.display(), libs_b.display())),
        ],
    );
    assert!(
        Role::program("chain 46").exercise(&prog).is_err(),
        "precondition: libtop.so cannot find libbottom.so through the program's RUNPATH"
    );

    let patch = Patch::new()
        .libs(&libs_b)
        .libc(&g.lib)
        .interpreter(&g.loader)
        .root(&tree, &[&prog, &top]);
    patch.ok();
    assert_search_path(&prog, "RUNPATH", &s(&lib_dir));
    assert_search_path(&top, "RUNPATH", &s(&libs_b));
    assert_sound(&prog, &Role::program("chain 46"));
    assert_sound(&top, &Role::library(&runner, "top_value", "46"));
    patch.assert_second_run_changes_nothing();
}
per_variant!(each_file_gets_the_runpath_it_needs_and_no_more);

/// set-rpath-library's last step: a library linked with 64 KiB pages keeps one alignment for
/// every PT_LOAD, the appended one included.
fn an_overaligned_library_keeps_one_alignment_for_all_its_loads(l: Linker) {
    let sc = Scratch::new();
    let g = sc.nix_glibc();
    let runner = sc.dlopen_runner();
    let libs = sc.dir("libs");
    libpeer(&libs, l, &[]);
    let tree = sc.dir("tree");
    let lib = shared_lib(
        &tree.join("liboveralign.so"),
        &["peer-user.c"],
        l,
        &[
            &l_flag(&libs),
            "-lpeer",
            "-Wl,-z,max-page-size=0x10000",
            RUNPATH,
            &rpath_flag("/x"),
        ],
    );
    let aligns = |f: &Path| {
        let mut a: Vec<u64> = loads(f).iter().map(|s| s.align).collect();
        a.dedup();
        a
    };
    assert_eq!(aligns(&lib), vec![0x10000], "precondition");
    let xs = format!("/{}", "x".repeat(47));
    let patch = Patch::new()
        .libs(&libs)
        .libc(&g.lib)
        .append(&xs)
        .root(&tree, &[&lib]);
    patch.ok();
    assert_search_path(&lib, "RUNPATH", &format!("{}:{xs}", libs.display()));
    assert_eq!(
        aligns(&lib),
        vec![0x10000],
        "one alignment for every PT_LOAD"
    );
    assert_sound(&lib, &Role::library(&runner, "user_value", "42"));
    patch.assert_second_run_changes_nothing();
}
per_linker!(an_overaligned_library_keeps_one_alignment_for_all_its_loads);

// ---------------------------------------------------------------------------------------------
// force-rpath / shrink-rpath, as they apply to patch-rpaths: an RPATH stays an RPATH, a RUNPATH a
// RUNPATH, both lose the entries nothing needs, and a file with neither gets a RUNPATH.

fn search_path_kind_kept(l: Linker, kind: Option<&str>) {
    let sc = Scratch::new();
    let g = sc.nix_glibc();
    let runner = sc.dlopen_runner();
    let libs = sc.dir("libs");
    libpeer(&libs, l, &[]);
    let tree = sc.dir("tree");
    let no_such = sc.path().join("no-such-path");
    let old = format!("{}:{}", no_such.display(), libs.display());
    let mut extra = vec![l_flag(&libs), "-lpeer".to_string()];
    match kind {
        Some("RPATH") => extra.extend([RPATH.to_string(), rpath_flag(&old)]),
        Some(_) => extra.extend([RUNPATH.to_string(), rpath_flag(&old)]),
        None => {}
    }
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let lib = shared_lib(&tree.join("libuser.so"), &["peer-user.c"], l, &extra);
    match kind {
        Some(k) => assert_search_path(&lib, k, &old),
        None => assert_eq!(search_paths(&lib), vec![], "precondition"),
    }
    let patch = Patch::new().libs(&libs).libc(&g.lib).root(&tree, &[&lib]);
    patch.ok();
    assert_search_path(&lib, kind.unwrap_or("RUNPATH"), &s(&libs));
    assert_sound(&lib, &Role::library(&runner, "user_value", "42"));
    patch.assert_second_run_changes_nothing();
}

fn an_rpath_stays_an_rpath_and_is_shrunk(l: Linker) {
    search_path_kind_kept(l, Some("RPATH"));
}
per_linker!(an_rpath_stays_an_rpath_and_is_shrunk);

fn a_runpath_stays_a_runpath_and_is_shrunk(l: Linker) {
    search_path_kind_kept(l, Some("RUNPATH"));
}
per_linker!(a_runpath_stays_a_runpath_and_is_shrunk);

fn a_library_without_a_search_path_gets_a_runpath(l: Linker) {
    search_path_kind_kept(l, None);
}
per_linker!(a_library_without_a_search_path_gets_a_runpath);

fn a_program_without_a_search_path_gets_a_runpath(v: Variant) {
    let sc = Scratch::new();
    let g = sc.nix_glibc();
    let libs = sc.dir("libs");
    libpeer(&libs, v.linker, &[]);
    let tree = sc.dir("tree");
    let prog = program(
        &tree.join("hello"),
        &["hello.c"],
        v,
        &[&l_flag(&libs), "-lpeer"],
    );
    assert_eq!(search_paths(&prog), vec![], "precondition");
    let patch = Patch::new().libs(&libs).libc(&g.lib).root(&tree, &[&prog]);
    patch.ok();
    assert_search_path(&prog, "RUNPATH", &s(&libs));
    assert_sound(&prog, &Role::program("peer 42"));
    patch.assert_second_run_changes_nothing();
}
per_variant!(a_program_without_a_search_path_gets_a_runpath);

// ---------------------------------------------------------------------------------------------
// no-rpath-prebuild: programs for other machines, without RPATH or RUNPATH, each needing a stub
// library of its machine. They are patched with a loader of their machine (a stand-in, at a
// path as long as a Nix store one) and --libs holding their stub; readelf judges them.

/// (clang target, the loader's file name, readelf's name of the machine)
fn cross_target(name: &str) -> (&'static str, &'static str, &'static str) {
    match name {
        "aarch64" => ("aarch64-linux-gnu", "ld-linux-aarch64.so.1", "AArch64"),
        "i386" => ("i386-linux-gnu", "ld-linux.so.2", "Intel 80386"),
        "ppc64" => ("powerpc64-linux-gnu", "ld64.so.1", "PowerPC64"),
        "mips" => ("mips-linux-gnu", "ld.so.1", "MIPS R3000"),
        "riscv64" => ("riscv64-linux-gnu", "ld-linux-riscv64-lp64d.so.1", "RISC-V"),
        other => panic!("no target {other}"),
    }
}

fn a_program_for_another_machine_gets_runpath_and_interpreter(arch: &str, pie: bool) {
    let (triple, loader_name, machine) = cross_target(arch);
    let sc = Scratch::new();
    let target = format!("--target={triple}");
    let freestanding = |out: &Path, src: &str, extra: &[&str]| {
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        let mut args: Vec<String> = vec![
            target.clone(),
            "-nostdlib".into(),
            "-fuse-ld=lld".into(),
            "-o".into(),
            s(out),
            s(&source(src)),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        clang(&args);
        out.to_path_buf()
    };
    let stubs = sc.dir("stub-libs");
    freestanding(
        &stubs.join("libstub.so"),
        "cross-stub.c",
        &["-shared", "-fPIC", "-Wl,-soname,libstub.so"],
    );
    // The loader stand-in, at a path as long as /nix/store/<32>-glibc-2.40-66/lib/<name>.
    let want_len = "/nix/store/".len() + 32 + "-glibc-2.40-66/lib/".len() + loader_name.len();
    let base = sc.path().as_os_str().len() + 1 + "-glibc-2.40-66/lib/".len() + loader_name.len();
    let loader = sc.path().join(format!(
        "{}-glibc-2.40-66/lib/{loader_name}",
        "g".repeat(want_len - base)
    ));
    freestanding(
        &loader,
        "cross-stub.c",
        &["-shared", "-fPIC", &format!("-Wl,-soname,{loader_name}")],
    );
    assert_eq!(loader.as_os_str().len(), want_len);
    let tree = sc.dir("tree");
    let link: &[&str] = if pie {
        &["-fPIE", "-pie"]
    } else {
        &["-fno-pic", "-no-pie"]
    };
    let mut extra = link.to_vec();
    let l = l_flag(&stubs);
    extra.extend(["-Wl,--entry=_start", &l, "-lstub"]);
    let prog = freestanding(&tree.join("bin/no-rpath"), "cross-main.c", &extra);

    let (header, _) = readelf(&["-h"], &prog);
    assert!(header.contains(machine), "precondition: {header}");
    assert_eq!(
        search_paths(&prog),
        vec![],
        "precondition: no RPATH/RUNPATH"
    );
    assert_eq!(needed(&prog), vec!["libstub.so".to_string()]);
    assert!(interpreter(&prog).is_some(), "precondition: PT_INTERP");
    assert_readelf_clean(&prog);

    let patch = Patch::new()
        .interpreter(&loader)
        .libs(&stubs)
        .append("/foo")
        .append("/bar")
        .root(&tree, &[&prog]);
    patch.ok();
    assert_search_path(&prog, "RUNPATH", &format!("{}:/foo:/bar", stubs.display()));
    assert_eq!(interpreter(&prog), Some(s(&loader)));
    assert_eq!(needed(&prog), vec!["libstub.so".to_string()]);
    assert_readelf_clean(&prog);
    assert_loads_disjoint_after_rounding(&prog);
    patch.assert_second_run_changes_nothing();
}

mod a_program_for_another_machine_gets_runpath_and_interpreter {
    macro_rules! cross {
        ($($name:ident: $arch:literal, $pie:literal;)+) => {
            $(
                #[test]
                fn $name() {
                    super::a_program_for_another_machine_gets_runpath_and_interpreter($arch, $pie);
                }
            )+
        };
    }
    cross! {
        aarch64_exec: "aarch64", false;
        aarch64_pie: "aarch64", true;
        i386_exec: "i386", false;
        i386_pie: "i386", true;
        ppc64_exec: "ppc64", false;
        ppc64_pie: "ppc64", true;
        mips_exec: "mips", false;
        mips_pie: "mips", true;
        riscv64_exec: "riscv64", false;
        riscv64_pie: "riscv64", true;
    }
}

// ---------------------------------------------------------------------------------------------
// set-interpreter-long / -short / -same: a program needing only libc, its interpreter set to a
// Nix store-length loader, a shorter one, the same one and one of equal length. It must run.

fn hello_libc(sc: &Scratch, v: Variant) -> (PathBuf, PathBuf) {
    let tree = sc.dir("tree");
    let prog = program(&tree.join("bin/hello"), &["hello-libc.c"], v, &[]);
    assert_eq!(interpreter(&prog).as_deref(), Some(HOST_LOADER));
    (tree, prog)
}

fn a_longer_interpreter_is_set_and_the_program_runs(v: Variant) {
    let sc = Scratch::new();
    let g = sc.nix_glibc();
    let (tree, prog) = hello_libc(&sc, v);
    let patch = Patch::new()
        .interpreter(&g.loader)
        .libc(&g.lib)
        .root(&tree, &[&prog]);
    patch.ok();
    assert_eq!(interpreter(&prog), Some(s(&g.loader)));
    assert_sound(&prog, &Role::program("hello"));
    patch.assert_second_run_changes_nothing();
}
per_variant!(a_longer_interpreter_is_set_and_the_program_runs);

fn a_shorter_interpreter_is_written_in_place(v: Variant) {
    let sc = Scratch::new();
    let g = sc.nix_glibc();
    let (tree, prog) = hello_libc(&sc, v);
    let len = file_len(&prog);
    let short = sc.loader_of_length(20);
    let patch = Patch::new()
        .interpreter(&short)
        .libc(&g.lib)
        .root(&tree, &[&prog]);
    patch.ok();
    assert_eq!(interpreter(&prog), Some(s(&short)));
    assert_eq!(file_len(&prog), len, "a shorter interpreter fits in place");
    assert_sound(&prog, &Role::program("hello"));
    patch.assert_second_run_changes_nothing();
}
per_variant!(a_shorter_interpreter_is_written_in_place);

fn the_same_interpreter_changes_nothing_and_one_of_equal_length_only_its_bytes(v: Variant) {
    let sc = Scratch::new();
    let g = sc.nix_glibc();
    let (tree, prog) = hello_libc(&sc, v);
    let before = read(&prog);
    let same = Patch::new()
        .interpreter(Path::new(HOST_LOADER))
        .libc(&g.lib)
        .root(&tree, &[&prog]);
    let err = same.ok();
    assert!(err.contains("patched 0,"), "{err}");
    assert!(
        read(&prog) == before,
        "the same interpreter changed the file"
    );

    let equal = sc.loader_of_length(HOST_LOADER.len());
    let patch = Patch::new()
        .interpreter(&equal)
        .libc(&g.lib)
        .root(&tree, &[&prog]);
    patch.ok();
    assert_eq!(interpreter(&prog), Some(s(&equal)));
    let after = read(&prog);
    assert_eq!(after.len(), before.len(), "an equal length fits in place");
    let interp = segments(&prog)
        .into_iter()
        .find(|s| s.kind == "INTERP")
        .unwrap();
    let span = interp.offset as usize..(interp.offset + interp.filesz) as usize;
    let changed: Vec<usize> = (0..after.len())
        .filter(|&i| after[i] != before[i])
        .collect();
    assert!(
        changed.iter().all(|i| span.contains(i)),
        "bytes outside PT_INTERP ({span:x?}) changed: {:x?}",
        changed
            .iter()
            .filter(|i| !span.contains(i))
            .take(16)
            .collect::<Vec<_>>()
    );
    assert_sound(&prog, &Role::program("hello"));
    patch.assert_second_run_changes_nothing();
}
per_variant!(the_same_interpreter_changes_nothing_and_one_of_equal_length_only_its_bytes);

// ---------------------------------------------------------------------------------------------
// too-many-strtab: a second section named .shstrtab (bfd keeps it; gold and lld merge it).

fn assert_two_shstrtabs(f: &Path) {
    let bytes = read(f);
    let n = Elf64::new(&bytes)
        .sections()
        .iter()
        .filter(|s| s.name == ".shstrtab")
        .count();
    assert_eq!(n, 2, "precondition: two sections named .shstrtab");
}

#[test]
fn a_second_shstrtab_section_in_a_library_is_harmless() {
    let sc = Scratch::new();
    let g = sc.nix_glibc();
    let runner = sc.dlopen_runner();
    let libs = sc.dir("libs");
    libpeer(&libs, Linker::Bfd, &[]);
    let tree = sc.dir("tree");
    let lib = shared_lib(
        &tree.join("libtoomany.so"),
        &["extra-shstrtab.c", "peer-user.c"],
        Linker::Bfd,
        &[&l_flag(&libs), "-lpeer"],
    );
    assert_two_shstrtabs(&lib);
    let patch = Patch::new()
        .libs(&libs)
        .libc(&g.lib)
        .append("$ORIGIN")
        .root(&tree, &[&lib]);
    patch.ok();
    assert_search_path(&lib, "RUNPATH", &format!("{}:$ORIGIN", libs.display()));
    assert_sound(&lib, &Role::library(&runner, "user_value", "42"));
    patch.assert_second_run_changes_nothing();
}

fn a_second_shstrtab_section_in_a_program_is_harmless(v: Variant) {
    let sc = Scratch::new();
    let g = sc.nix_glibc();
    let libs = sc.dir("libs");
    libpeer(&libs, v.linker, &[]);
    let tree = sc.dir("tree");
    let prog = program(
        &tree.join("bin/toomany"),
        &["hello.c", "extra-shstrtab.c"],
        v,
        &[&l_flag(&libs), "-lpeer"],
    );
    assert_two_shstrtabs(&prog);
    let patch = Patch::new()
        .libs(&libs)
        .libc(&g.lib)
        .interpreter(&g.loader)
        .root(&tree, &[&prog]);
    patch.ok();
    assert_search_path(&prog, "RUNPATH", &s(&libs));
    assert_eq!(interpreter(&prog), Some(s(&g.loader)));
    assert_sound(&prog, &Role::program("peer 42"));
    patch.assert_second_run_changes_nothing();
}
per_variant!(a_second_shstrtab_section_in_a_program_is_harmless: bfd_pie, bfd_exec);

// ---------------------------------------------------------------------------------------------
// build-id: the GNU build-id note survives a long RUNPATH, and readelf -n still reads it (also
// in a stripped copy).

fn build_id(f: &Path) -> Option<String> {
    let (out, _) = readelf(&["-n", "-W"], f);
    out.lines().find_map(|l| {
        l.split_once("Build ID: ")
            .map(|(_, id)| id.trim().to_string())
    })
}

fn the_build_id_note_survives_a_long_runpath(l: Linker) {
    let sc = Scratch::new();
    let g = sc.nix_glibc();
    let runner = sc.dlopen_runner();
    let libs = sc.dir("libs");
    libpeer(&libs, l, &[]);
    let tree = sc.dir("tree");
    let lib = shared_lib(
        &tree.join("libbuildid.so"),
        &["peer-user.c"],
        l,
        &[
            &l_flag(&libs),
            "-lpeer",
            "-Wl,--build-id=sha1",
            RUNPATH,
            &rpath_flag("/x"),
        ],
    );
    let id = build_id(&lib).expect("precondition: a build id");
    let long = format!("/{}", "A".repeat(1000));
    let patch = Patch::new()
        .libs(&libs)
        .libc(&g.lib)
        .append(&long)
        .root(&tree, &[&lib]);
    patch.ok();
    assert_search_path(&lib, "RUNPATH", &format!("{}:{long}", libs.display()));
    assert_eq!(
        build_id(&lib),
        Some(id.clone()),
        "readelf -n reads the build id"
    );
    let stripped = sc.file("copies/libbuildid.so");
    let out = Command::new("strip")
        .args(["-g", "-o"])
        .arg(&stripped)
        .arg(&lib)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(build_id(&stripped), Some(id), "strip -g keeps the build id");
    assert_sound(&lib, &Role::library(&runner, "user_value", "42"));
    patch.assert_second_run_changes_nothing();
}
per_linker!(the_build_id_note_survives_a_long_runpath);

// ---------------------------------------------------------------------------------------------
// repeated-updates: 20 runs, each with a RUNPATH 8 bytes longer. The file must stay bounded (at
// most one segment more than it had, at most two pages more than after the first run) and work
// after every run. The sizes after 1, 10 and 20 runs are printed.

fn repeated_updates(sc: &Scratch, tree: &Path, file: &Path, role: &Role, libs: &Path, label: &str) {
    let g = sc.nix_glibc();
    let original = file_len(file);
    let loads_before = loads(file).len();
    let mut sizes = Vec::new();
    let mut last = Patch::new();
    for k in 1..=20 {
        let grow = format!("/grow/{}", "g".repeat(8 * k));
        last = Patch::new()
            .libs(libs)
            .libc(&g.lib)
            .interpreter(&g.loader)
            .append(&grow)
            .root(tree, &[file]);
        last.ok();
        assert_search_path(file, "RUNPATH", &format!("{}:{grow}", libs.display()));
        role.exercise(file)
            .unwrap_or_else(|e| panic!("after run {k}: {e}"));
        assert!(
            loads(file).len() <= loads_before + 1,
            "after run {k}: {} PT_LOADs, {loads_before} before",
            loads(file).len()
        );
        if [1, 10, 20].contains(&k) {
            sizes.push(file_len(file));
        }
    }
    eprintln!(
        "repeated updates, {label}: original {original} B; after 1 run {} B, 10 runs {} B, 20 runs {} B",
        sizes[0], sizes[1], sizes[2]
    );
    assert!(
        sizes[2] <= sizes[0] + 2 * 4096,
        "the file keeps growing: {original} B, then {sizes:?} after 1, 10, 20 runs"
    );
    assert_sound(file, role);
    last.assert_second_run_changes_nothing();
}

fn repeated_updates_of_a_program_stay_bounded(v: Variant) {
    let sc = Scratch::new();
    let libs = sc.dir("libs");
    libpeer(&libs, v.linker, &[]);
    let tree = sc.dir("tree");
    let prog = program(
        &tree.join("bin/hello"),
        &["hello.c"],
        v,
        &[&l_flag(&libs), "-lpeer", RUNPATH, &rpath_flag("/x")],
    );
    repeated_updates(
        &sc,
        &tree,
        &prog,
        &Role::program("peer 42"),
        &libs,
        &v.to_string(),
    );
}
per_variant!(repeated_updates_of_a_program_stay_bounded);

fn repeated_updates_of_a_library_stay_bounded(l: Linker) {
    let sc = Scratch::new();
    let runner = sc.dlopen_runner();
    let libs = sc.dir("libs");
    libpeer(&libs, l, &[]);
    let tree = sc.dir("tree");
    let lib = shared_lib(
        &tree.join("libuser.so"),
        &["peer-user.c"],
        l,
        &[&l_flag(&libs), "-lpeer", RUNPATH, &rpath_flag("/x")],
    );
    repeated_updates(
        &sc,
        &tree,
        &lib,
        &Role::library(&runner, "user_value", "42"),
        &libs,
        &format!("{l:?} library"),
    );
}
per_linker!(repeated_updates_of_a_library_stay_bounded);

// ---------------------------------------------------------------------------------------------
// short-first-segment and grow-file: a 4096-byte RUNPATH, then a second one on top of it, in a
// non-PIE program whose first PT_LOAD is far shorter than a page; and a 4096-byte RUNPATH in
// programs of every variant.

fn a_short_first_segment_takes_two_4096_byte_runpaths(v: Variant) {
    let sc = Scratch::new();
    let g = sc.nix_glibc();
    let libs = sc.dir("libs");
    libpeer(&libs, v.linker, &[]);
    let tree = sc.dir("tree");
    let prog = program(
        &tree.join("bin/hello"),
        &["hello.c"],
        v,
        &[&l_flag(&libs), "-lpeer", RUNPATH, &rpath_flag("/x")],
    );
    let first = loads(&prog)[0].clone();
    assert!(
        first.filesz < 0x1000,
        "precondition: a short first segment ({first:?})"
    );
    let a = format!("/{}", "=".repeat(4095));
    let b = format!("/{}", "+".repeat(4095));
    let role = Role::program("peer 42");
    Patch::new()
        .libs(&libs)
        .libc(&g.lib)
        .interpreter(&g.loader)
        .append(&a)
        .root(&tree, &[&prog])
        .ok();
    assert_search_path(&prog, "RUNPATH", &format!("{}:{a}", libs.display()));
    role.exercise(&prog).unwrap();
    let patch = Patch::new()
        .libs(&libs)
        .libc(&g.lib)
        .interpreter(&g.loader)
        .append(&a)
        .append(&b)
        .root(&tree, &[&prog]);
    patch.ok();
    assert_search_path(&prog, "RUNPATH", &format!("{}:{a}:{b}", libs.display()));
    assert_sound(&prog, &role);
    patch.assert_second_run_changes_nothing();
}
per_variant!(a_short_first_segment_takes_two_4096_byte_runpaths: bfd_exec, gold_exec, lld_exec);

fn a_4096_byte_runpath_grows_the_file_and_it_runs(v: Variant) {
    let sc = Scratch::new();
    let g = sc.nix_glibc();
    let tree = sc.dir("tree");
    let prog = program(
        &tree.join("bin/hello"),
        &["hello-libc.c"],
        v,
        &[RUNPATH, &rpath_flag("/x")],
    );
    let len = file_len(&prog);
    let big = format!("/{}", "=".repeat(4095));
    let patch = Patch::new().libc(&g.lib).append(&big).root(&tree, &[&prog]);
    patch.ok();
    assert_search_path(&prog, "RUNPATH", &big);
    assert!(file_len(&prog) > len, "the file grew");
    assert_sound(&prog, &Role::program("hello"));
    patch.assert_second_run_changes_nothing();
}
per_variant!(a_4096_byte_runpath_grows_the_file_and_it_runs);

// ---------------------------------------------------------------------------------------------
// overlapping-segments-after-rounding: the last read-only segment and the writable one share a
// file page; a longer RPATH (kept an RPATH) must not make any two segments share memory pages.

fn segments_sharing_a_file_page_stay_apart_in_memory(v: Variant) {
    let sc = Scratch::new();
    let g = sc.nix_glibc();
    let libs = sc.dir("libs");
    libpeer(&libs, v.linker, &[]);
    let tree = sc.dir("tree");
    let prog = program(
        &tree.join("bin/hello"),
        &["hello.c"],
        v,
        &[&l_flag(&libs), "-lpeer", RPATH, &rpath_flag("/x")],
    );
    let l = loads(&prog);
    let shares = l
        .windows(2)
        .any(|w| w[0].filesz > 0 && (w[0].offset + w[0].filesz - 1) / 4096 == w[1].offset / 4096);
    assert!(
        shares,
        "precondition: two PT_LOADs share a file page: {l:x?}"
    );
    assert_loads_disjoint_after_rounding(&prog);
    let xs = format!("/{}", "x".repeat(39));
    let patch = Patch::new()
        .libs(&libs)
        .libc(&g.lib)
        .interpreter(&g.loader)
        .append(&xs)
        .root(&tree, &[&prog]);
    patch.ok();
    assert_search_path(&prog, "RPATH", &format!("{}:{xs}", libs.display()));
    assert_sound(&prog, &Role::program("peer 42"));
    patch.assert_second_run_changes_nothing();
}
per_variant!(segments_sharing_a_file_page_stay_apart_in_memory: bfd_exec, gold_exec, lld_exec);

// ---------------------------------------------------------------------------------------------
// shared-rpath: the linker merged the RPATH string with the name of the symbol a_symbol_name in
// .dynstr (the same string; the RPATH a tail of the name; the name a tail of the RPATH). A
// longer and a shorter new RUNPATH must leave the symbol's name intact: the program binding it
// still runs, and nm -D lists the same symbols.

/// Whether the RPATH's bytes in .dynstr overlap those of the name of `a_symbol_name`.
fn rpath_shares_bytes_with_the_symbol(f: &Path) -> bool {
    let b = read(f);
    let e = Elf64::new(&b);
    let dynstr = e.section(".dynstr");
    let dynsym = e.section(".dynsym");
    let rpath = e.dynamic_value(15).expect("DT_RPATH") as usize;
    let rpath_end = rpath + cstr(&b, dynstr.offset as usize + rpath).len();
    let name = (0..dynsym.size as usize / 24)
        .map(|i| u32_at(&b, dynsym.offset as usize + i * 24) as usize)
        .find(|&n| cstr(&b, dynstr.offset as usize + n) == "a_symbol_name")
        .expect("a_symbol_name in .dynsym");
    let name_end = name + "a_symbol_name".len();
    rpath.max(name) < rpath_end.min(name_end)
}

fn nm_dynamic(f: &Path) -> String {
    let out = Command::new("nm").arg("-D").arg(f).output().unwrap();
    assert!(
        out.status.success(),
        "nm -D {}: {}",
        f.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn a_symbol_sharing_the_rpath_string_still_binds(l: Linker, rpath: &str) {
    let sc = Scratch::new();
    let g = sc.nix_glibc();
    let runner = sc.dlopen_runner();
    let built = sc.dir("built");
    let lib = shared_lib(
        &built.join("libshared.so"),
        &["shared-rpath-lib.c"],
        l,
        &[RPATH, &rpath_flag(rpath)],
    );
    assert!(
        rpath_shares_bytes_with_the_symbol(&lib),
        "precondition: {l:?} merged the RPATH {rpath:?} with the symbol's name"
    );
    let app = program(
        &sc.file("app/shared"),
        &["shared-rpath-main.c"],
        Variant::bfd_pie(),
        &[&l_flag(&built), "-lshared"],
    );
    let symbols = nm_dynamic(&lib);
    let run_app = |dir: &Path| {
        let out = Command::new(&app)
            .env("LD_LIBRARY_PATH", dir)
            .output()
            .unwrap();
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout) == "shared 42\n",
            "the program binding a_symbol_name from {}: {:?} {}{}",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run_app(&built);
    let role = Role::library(&runner, "a_symbol_name", "42");
    for (label, entry) in [
        ("longer", "/a_very_big_rpath_that_is_larger_than_original"),
        ("shorter", "/s"),
    ] {
        let dir = sc.dir(&format!("{label}/lib"));
        let copy = dir.join("libshared.so");
        std::fs::copy(&lib, &copy).unwrap();
        let patch = Patch::new().libc(&g.lib).append(entry).root(&dir, &[&copy]);
        patch.ok();
        assert_search_path(&copy, "RPATH", entry);
        assert_eq!(
            nm_dynamic(&copy),
            symbols,
            "{label}: the dynamic symbols changed"
        );
        run_app(&dir);
        assert_sound(&copy, &role);
        patch.assert_second_run_changes_nothing();
        if label == "longer" {
            // Now the RPATH has a string of its own: an even longer one is fine too.
            let again = "/a_very_big_rpath_that_is_larger_than_original__even_larger";
            Patch::new()
                .libc(&g.lib)
                .append(again)
                .root(&dir, &[&copy])
                .ok();
            assert_search_path(&copy, "RPATH", again);
            assert_eq!(nm_dynamic(&copy), symbols);
            run_app(&dir);
        }
    }
}

mod a_symbol_sharing_the_rpath_string_still_binds {
    use super::*;

    #[test]
    fn bfd_same_string() {
        a_symbol_sharing_the_rpath_string_still_binds(Linker::Bfd, "a_symbol_name");
    }

    #[test]
    fn bfd_rpath_is_a_tail_of_the_name() {
        a_symbol_sharing_the_rpath_string_still_binds(Linker::Bfd, "symbol_name");
    }

    #[test]
    fn bfd_name_is_a_tail_of_the_rpath() {
        a_symbol_sharing_the_rpath_string_still_binds(Linker::Bfd, "/opt/peer/a_symbol_name");
    }

    #[test]
    fn gold_same_string() {
        a_symbol_sharing_the_rpath_string_still_binds(Linker::Gold, "a_symbol_name");
    }
}

// ---------------------------------------------------------------------------------------------
// preserve-init: DT_INIT/DT_FINI (pointing at functions of their own, not at .init/.fini) and
// the init/fini arrays of a library and a program keep their values and still run, in order.

const INIT_ORDER: &str = "lib DT_INIT\nlib init_array\nmain init_array\nmain 1\nmain fini_array\nlib fini_array\nlib DT_FINI\n";

fn init_fini_entries(f: &Path) -> Vec<(String, String)> {
    dynamic_entries(f)
        .into_iter()
        .filter(|(t, _)| t.starts_with("INIT") || t.starts_with("FINI") || t == "PREINIT_ARRAY")
        .collect()
}

fn init_and_fini_still_run_in_order(v: Variant) {
    let sc = Scratch::new();
    let g = sc.nix_glibc();
    let runner = sc.dlopen_runner();
    let libs = sc.dir("libs");
    libpeer(&libs, v.linker, &[]);
    let tree = sc.dir("tree");
    let lib_dir = tree.join("lib");
    let lib = shared_lib(
        &lib_dir.join("libinit.so"),
        &["init-lib.c"],
        v.linker,
        &[
            &l_flag(&libs),
            "-lpeer",
            "-Wl,-init,peer_init",
            "-Wl,-fini,peer_fini",
            RUNPATH,
            &rpath_flag("/x"),
        ],
    );
    let prog = program(
        &tree.join("bin/init"),
        &["init-main.c"],
        v,
        &[
            &l_flag(&lib_dir),
            "-linit",
            &format!("-Wl,-rpath-link,{}", libs.display()),
            RUNPATH,
            &rpath_flag("/x"),
        ],
    );
    let lib_entries = init_fini_entries(&lib);
    let prog_entries = init_fini_entries(&prog);
    for tag in ["INIT", "FINI", "INIT_ARRAY", "FINI_ARRAY"] {
        assert!(
            lib_entries.iter().any(|(t, _)| t == tag),
            "precondition: the library has {tag}: {lib_entries:?}"
        );
    }
    let patch = Patch::new()
        .libs(&libs)
        .libc(&g.lib)
        .interpreter(&g.loader)
        .root(&tree, &[&prog, &lib]);
    patch.ok();
    assert_search_path(&prog, "RUNPATH", &s(&lib_dir));
    assert_search_path(&lib, "RUNPATH", &s(&libs));
    assert_eq!(init_fini_entries(&lib), lib_entries, "library");
    assert_eq!(init_fini_entries(&prog), prog_entries, "program");
    assert_sound(&prog, &Role::program(INIT_ORDER));
    assert_sound(
        &lib,
        &Role::library(
            &runner,
            "peer_init_value",
            "lib DT_INIT\nlib init_array\n1\nlib fini_array\nlib DT_FINI",
        ),
    );
    patch.assert_second_run_changes_nothing();
}
per_variant!(init_and_fini_still_run_in_order);

// ---------------------------------------------------------------------------------------------
// no-gnu-hash: SysV hash tables only (-Wl,--hash-style=sysv).

fn a_program_with_only_a_sysv_hash_is_patched_and_runs(v: Variant) {
    let sc = Scratch::new();
    let g = sc.nix_glibc();
    let libs = sc.dir("libs");
    libpeer(&libs, v.linker, &["-Wl,--hash-style=sysv"]);
    let tree = sc.dir("tree");
    let prog = program(
        &tree.join("bin/hello"),
        &["hello.c"],
        v,
        &[
            &l_flag(&libs),
            "-lpeer",
            "-Wl,--hash-style=sysv",
            RUNPATH,
            &rpath_flag("/x"),
        ],
    );
    let tags =
        |f: &Path| -> Vec<String> { dynamic_entries(f).into_iter().map(|(t, _)| t).collect() };
    assert!(
        tags(&prog).contains(&"HASH".to_string()) && !tags(&prog).contains(&"GNU_HASH".to_string()),
        "precondition: {:?}",
        tags(&prog)
    );
    let patch = Patch::new()
        .libs(&libs)
        .libc(&g.lib)
        .interpreter(&g.loader)
        .root(&tree, &[&prog]);
    patch.ok();
    assert_search_path(&prog, "RUNPATH", &s(&libs));
    assert_eq!(interpreter(&prog), Some(s(&g.loader)));
    assert!(tags(&prog).contains(&"HASH".to_string()));
    assert!(!tags(&prog).contains(&"GNU_HASH".to_string()));
    assert_sound(&prog, &Role::program("peer 42"));
    patch.assert_second_run_changes_nothing();
}
per_variant!(a_program_with_only_a_sysv_hash_is_patched_and_runs);

// ---------------------------------------------------------------------------------------------
// emit-relocs: a program linked with --emit-relocs keeps its relocation sections, and every
// section symbol in .symtab still names the section it named, at the same distance from it.

/// For each STT_SECTION symbol: (the section's name, st_value − the section's address).
fn section_symbols(f: &Path) -> Vec<(String, i128)> {
    let b = read(f);
    let e = Elf64::new(&b);
    let sections = e.sections();
    let symtab = e.section(".symtab");
    (0..symtab.size as usize / 24)
        .filter_map(|i| {
            let at = symtab.offset as usize + i * 24;
            let info = b[at + 4];
            let shndx = u16_at(&b, at + 6) as usize;
            let value = u64_at(&b, at + 8);
            (info & 0xf == 3 && shndx != 0 && shndx < 0xff00).then(|| {
                let sec = &sections[shndx];
                (sec.name.clone(), value as i128 - sec.addr as i128)
            })
        })
        .collect()
}

fn emitted_relocations_and_section_symbols_survive(v: Variant) {
    let sc = Scratch::new();
    let g = sc.nix_glibc();
    let libs = sc.dir("libs");
    libpeer(&libs, v.linker, &[]);
    let tree = sc.dir("tree");
    let prog = program(
        &tree.join("bin/hello"),
        &["hello.c"],
        v,
        &[
            &l_flag(&libs),
            "-lpeer",
            "-Wl,--emit-relocs",
            RUNPATH,
            &rpath_flag("/x"),
        ],
    );
    let syms = section_symbols(&prog);
    let has_rela_text = |f: &Path| {
        let b = read(f);
        Elf64::new(&b)
            .sections()
            .iter()
            .any(|s| s.name == ".rela.text")
    };
    assert!(has_rela_text(&prog), "precondition: .rela.text");
    assert!(!syms.is_empty(), "precondition: section symbols in .symtab");
    let patch = Patch::new()
        .libs(&libs)
        .libc(&g.lib)
        .interpreter(&g.loader)
        .root(&tree, &[&prog]);
    patch.ok();
    assert_search_path(&prog, "RUNPATH", &s(&libs));
    assert!(has_rela_text(&prog), ".rela.text is gone");
    assert_eq!(
        syms,
        section_symbols(&prog),
        "SECTION symbols: (section, st_value - its address) before (left) and after (right)"
    );
    assert_sound(&prog, &Role::program("peer 42"));
    patch.assert_second_run_changes_nothing();
}
per_variant!(emitted_relocations_and_section_symbols_survive);

// ---------------------------------------------------------------------------------------------
// pht-collision: the program header table moved (by the test, as a linker may place it) to end
// exactly where other data begins. Growing the table must not overwrite that data.

/// Moves the program header table to the end of `.peer_pht`, right before `.peer_after_pht`,
/// and points e_phoff (and PT_PHDR, if any) at it.
fn move_pht_before_data(f: &Path) {
    let mut b = read(f);
    let e = Elf64::new(&b);
    let room = e.section(".peer_pht");
    let after = e.section(".peer_after_pht");
    let size = e.phnum() * 56;
    let old = e.phoff();
    let new = after.offset as usize - size;
    assert_eq!(
        room.offset + room.size,
        after.offset,
        "precondition: the data follows the room"
    );
    assert!(
        new >= room.offset as usize,
        "room for {} headers",
        e.phnum()
    );
    let new_vaddr = room.addr + (new as u64 - room.offset);
    let table = b[old..old + size].to_vec();
    b[new..new + size].copy_from_slice(&table);
    put_u64(&mut b, 0x20, new as u64);
    for i in 0..size / 56 {
        let at = new + i * 56;
        if u32_at(&b, at) == PT_PHDR {
            put_u64(&mut b, at + 8, new as u64);
            put_u64(&mut b, at + 16, new_vaddr);
            put_u64(&mut b, at + 24, new_vaddr);
        }
    }
    std::fs::write(f, b).unwrap();
}

fn after_pht_bytes(f: &Path) -> Vec<u8> {
    let b = read(f);
    let a = Elf64::new(&b).section(".peer_after_pht");
    b[a.offset as usize..(a.offset + a.size) as usize].to_vec()
}

fn data_right_after_the_program_header_table_survives_its_growth(l: Linker) {
    let sc = Scratch::new();
    let g = sc.nix_glibc();
    let runner = sc.dlopen_runner();
    let libs = sc.dir("libs");
    libpeer(&libs, l, &[]);
    let tree = sc.dir("tree");
    let lib = shared_lib(
        &tree.join("libpht.so"),
        &["pht-room.c", "peer-user.c"],
        l,
        &[
            &format!("-Wl,-T,{}", source("pht-room.ld").display()),
            &l_flag(&libs),
            "-lpeer",
            RUNPATH,
            &rpath_flag(&s(&libs)),
        ],
    );
    move_pht_before_data(&lib);
    let role = Role::library(&runner, "user_value", "42");
    role.exercise(&lib)
        .expect("precondition: the moved table loads");
    assert!(
        !binutils_complaints(&lib).is_empty(),
        "precondition: strip re-lays a file whose table is not after the ELF header"
    );
    assert_readelf_clean(&lib);
    assert_eq!(after_pht_bytes(&lib), b"0123456789abcdef");
    let long = format!("/{}", "p".repeat(200));
    let patch = Patch::new()
        .libs(&libs)
        .libc(&g.lib)
        .append(&long)
        .root(&tree, &[&lib]);
    patch.ok();
    assert_search_path(&lib, "RUNPATH", &format!("{}:{long}", libs.display()));
    assert_eq!(
        after_pht_bytes(&lib),
        b"0123456789abcdef",
        "the data after the program header table was overwritten"
    );
    Role::library(&runner, "peer_pht_value", "51")
        .exercise(&lib)
        .expect("the data after the table reads back at run time");
    role.exercise(&lib).unwrap();
    assert_readelf_clean(&lib);
    assert_loads_disjoint_after_rounding(&lib);
    // No strip/objcopy check here: binutils always lays the table out right after the ELF
    // header, and already re-lays (and warns about) the input with the table moved.
    patch.assert_second_run_changes_nothing();
}
per_linker!(data_right_after_the_program_header_table_survives_its_growth: bfd, lld);

// ---------------------------------------------------------------------------------------------
// empty-note / contiguous-note-sections: a program with PT_INTERP and an empty PT_DYNAMIC (no
// dynamic table at all), notes of different alignment in one PT_NOTE, and (empty-note) an empty
// PT_NOTE and an empty PT_LOAD. It is an executable: it gets the interpreter.
//
// Two shapes. ET_DYN, as patchelf's own fixtures are: patchelf sets the interpreter, so must
// patch-rpaths (the loader cannot run this shape, before or after). ET_EXEC linked at 0: the
// loader takes PT_DYNAMIC's address 0 for "no dynamic section" and runs it; patchelf refuses it
// ("virtual address space underrun!": it would have to prepend pages below 0), so a clean
// refusal is accepted there, and a patched result must run.

fn interp_without_dynamic(l: Linker, script: &str, shape: &str) {
    let sc = Scratch::new();
    let g = sc.nix_glibc();
    let tree = sc.dir("tree");
    let prog = tree.join("bin/nodyn");
    std::fs::create_dir_all(prog.parent().unwrap()).unwrap();
    gcc([
        l.flag().to_string(),
        "-nostdlib".into(),
        "-static".into(),
        "-no-pie".into(),
        "-fno-pic".into(),
        "-O1".into(),
        "-Wl,--build-id=none".into(),
        format!("-Wl,-T,{}", source(script).display()),
        "-o".into(),
        s(&prog),
        s(&source("interp-no-dynamic.c")),
    ]);
    let runs = shape == "exec";
    if !runs {
        let mut b = read(&prog);
        put_u16(&mut b, 0x10, 3); // e_type = ET_DYN
        std::fs::write(&prog, b).unwrap();
    }
    let segs = segments(&prog);
    let dynamic = segs.iter().find(|s| s.kind == "DYNAMIC");
    assert!(
        matches!(dynamic, Some(d) if d.filesz == 0 && d.vaddr == 0),
        "precondition: an empty PT_DYNAMIC at 0: {segs:x?}"
    );
    assert_eq!(interpreter(&prog).as_deref(), Some(HOST_LOADER));
    let role = Role::program("");
    if runs {
        role.exercise(&prog).expect("precondition: it runs");
    }
    let before = read(&prog);
    let readelf_before = readelf_complaints(&prog);
    let binutils_before = binutils_complaints(&prog);
    let patch = Patch::new()
        .interpreter(&g.loader)
        .libc(&g.lib)
        .root(&tree, &[&prog]);
    if runs && patch.run().status.code() == Some(1) {
        std::fs::write(&prog, &before).unwrap();
        let line = patch.assert_refused(&prog, &before);
        eprintln!("refused, as patchelf refuses it: {line}");
        return;
    }
    patch.ok();
    assert_eq!(interpreter(&prog), Some(s(&g.loader)));
    if runs {
        role.exercise(&prog)
            .expect("it runs with the new interpreter");
    }
    let new: Vec<String> = readelf_complaints(&prog)
        .into_iter()
        .filter(|c| !readelf_before.contains(c))
        .collect();
    assert!(
        new.is_empty(),
        "new readelf complaints:\n{}",
        new.join("\n")
    );
    assert_loads_disjoint_after_rounding(&prog);
    // binutils already warns about some of these inputs (bfd's empty PT_LOAD): nothing new.
    let new: Vec<String> = binutils_complaints(&prog)
        .into_iter()
        .filter(|c| !binutils_before.contains(c))
        .collect();
    assert!(
        new.is_empty(),
        "new binutils complaints:\n{}",
        new.join("\n")
    );
    if runs {
        assert_copies_run(&prog, &role);
    }
    patch.assert_second_run_changes_nothing();
}

fn a_program_with_contiguous_notes_and_no_dynamic_table_gets_its_interpreter(l: Linker) {
    interp_without_dynamic(l, "contiguous-notes.ld", "dyn");
}
per_linker!(a_program_with_contiguous_notes_and_no_dynamic_table_gets_its_interpreter);

fn a_program_with_an_empty_note_and_no_dynamic_table_gets_its_interpreter(l: Linker) {
    interp_without_dynamic(l, "empty-note.ld", "dyn");
}
per_linker!(a_program_with_an_empty_note_and_no_dynamic_table_gets_its_interpreter: bfd, lld);

fn an_exec_at_address_0_with_contiguous_notes_and_no_dynamic_table_runs_or_is_refused(l: Linker) {
    interp_without_dynamic(l, "contiguous-notes.ld", "exec");
}
per_linker!(an_exec_at_address_0_with_contiguous_notes_and_no_dynamic_table_runs_or_is_refused);

fn an_exec_at_address_0_with_an_empty_note_and_no_dynamic_table_runs_or_is_refused(l: Linker) {
    interp_without_dynamic(l, "empty-note.ld", "exec");
}
per_linker!(
    an_exec_at_address_0_with_an_empty_note_and_no_dynamic_table_runs_or_is_refused: bfd, lld
);

// ---------------------------------------------------------------------------------------------
// change-abi: a FreeBSD (OSABI 9) program does not get a GNU/Linux interpreter; a Linux one in
// the same run does.

#[test]
fn a_freebsd_program_does_not_get_a_linux_interpreter() {
    let sc = Scratch::new();
    let g = sc.nix_glibc();
    let (header, _) = readelf(&["-h"], &g.loader);
    assert!(
        header.contains("UNIX - GNU"),
        "precondition: the loader's OSABI is GNU/Linux:\n{header}"
    );
    let (tree, linux) = hello_libc(&sc, Variant::bfd_pie());
    let bsd = tree.join("bin/hello-freebsd");
    let mut b = read(&linux);
    b[7] = 9; // EI_OSABI = ELFOSABI_FREEBSD
    std::fs::write(&bsd, &b).unwrap();
    std::fs::set_permissions(&bsd, std::fs::metadata(&linux).unwrap().permissions()).unwrap();
    let (header, _) = readelf(&["-h"], &bsd);
    assert!(header.contains("FreeBSD"), "precondition:\n{header}");
    let patch = Patch::new()
        .interpreter(&g.loader)
        .libc(&g.lib)
        .root(&tree, &[&linux, &bsd]);
    patch.ok();
    assert_eq!(interpreter(&linux), Some(s(&g.loader)), "the Linux program");
    assert!(read(&bsd) == b, "the FreeBSD program was changed");
    assert_eq!(interpreter(&bsd).as_deref(), Some(HOST_LOADER));
    patch.assert_second_run_changes_nothing();
}

// ---------------------------------------------------------------------------------------------
// invalid-elf: a small gcc-built library, broken one field at a time. patch-rpaths must refuse
// each with the file's name and the cause, and leave it byte for byte as it was.

const STRIPPED_PEER: &str = "/nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-peer-1.0/lib";

struct Base {
    sc: Scratch,
    file: PathBuf,
    bytes: Vec<u8>,
    patch: Patch,
    libs: PathBuf,
}

impl Base {
    /// `tree/libmal.so` needing libpeer.so, with the RUNPATH strip-store-refs leaves; patching
    /// it against `--libs` rewrites that RUNPATH.
    fn new() -> Base {
        let sc = Scratch::new();
        let g = sc.nix_glibc();
        let libs = sc.dir("libs");
        libpeer(&libs, Linker::Bfd, &[]);
        let tree = sc.dir("tree");
        let file = shared_lib(
            &tree.join("libmal.so"),
            &["malformed-base.c"],
            Linker::Bfd,
            &[
                &l_flag(&libs),
                "-lpeer",
                RUNPATH,
                &rpath_flag(STRIPPED_PEER),
            ],
        );
        let bytes = read(&file);
        let patch = Patch::new().libs(&libs).libc(&g.lib).root(&file, &[&file]);
        Base {
            sc,
            file,
            bytes,
            patch,
            libs,
        }
    }

    fn elf(&self) -> Elf64<'_> {
        Elf64::new(&self.bytes)
    }

    /// Writes the base with `change` applied, and requires a clean refusal.
    fn refused(&self, what: &str, change: impl FnOnce(&mut Vec<u8>)) {
        let mut b = self.bytes.clone();
        change(&mut b);
        assert!(b != self.bytes, "the mutation changed nothing");
        std::fs::write(&self.file, &b).unwrap();
        let line = self.patch.assert_refused(&self.file, &b);
        eprintln!("{what}: {line}");
    }

    /// Writes the base with `change` applied, and requires it to be patched and still load.
    fn accepted(&self, change: impl FnOnce(&mut Vec<u8>)) {
        let mut b = self.bytes.clone();
        change(&mut b);
        std::fs::write(&self.file, &b).unwrap();
        self.patch.ok();
        assert_search_path(&self.file, "RUNPATH", &s(&self.libs));
        Role::library(&self.sc.dlopen_runner(), "mal_value", "41")
            .exercise(&self.file)
            .unwrap();
        self.patch.assert_second_run_changes_nothing();
    }
}

#[test]
fn malformed_base_library_is_patched_when_intact() {
    let base = Base::new();
    let runner = base.sc.dlopen_runner();
    base.patch.ok();
    assert_search_path(&base.file, "RUNPATH", &s(&base.libs));
    assert_sound(&base.file, &Role::library(&runner, "mal_value", "41"));
    base.patch.assert_second_run_changes_nothing();
}

mod a_malformed_file_is_refused_and_left_untouched {
    use super::*;

    const HUGE: u64 = 0x7fff_ffff_ffff_ffff;

    #[test]
    fn section_name_table_index_out_of_range() {
        let base = Base::new();
        let n = base.elf().shnum() as u16;
        base.refused("e_shstrndx out of range", |b| put_u16(b, 0x3e, n + 5));
    }

    #[test]
    fn section_name_table_past_the_end_of_the_file() {
        let base = Base::new();
        let sh = base.elf().sections()[base.elf().shstrndx()].clone();
        base.refused(".shstrtab past the end", |b| put_u64(b, sh.at + 32, HUGE));
    }

    #[test]
    fn section_name_table_empty() {
        let base = Base::new();
        let sh = base.elf().sections()[base.elf().shstrndx()].clone();
        base.refused(".shstrtab empty", |b| put_u64(b, sh.at + 32, 0));
    }

    #[test]
    fn section_name_table_not_nul_terminated() {
        let base = Base::new();
        let sh = base.elf().sections()[base.elf().shstrndx()].clone();
        let last = (sh.offset + sh.size - 1) as usize;
        base.refused(".shstrtab unterminated", |b| b[last] = b'A');
    }

    #[test]
    fn section_name_offset_out_of_range() {
        let base = Base::new();
        let at = base.elf().sections()[1].at;
        base.refused("sh_name out of range", |b| put_u32(b, at, 0x7fff_ffff));
    }

    #[test]
    fn section_header_entry_size_wrong() {
        let base = Base::new();
        base.refused("e_shentsize wrong", |b| put_u16(b, 0x3a, 0x30));
    }

    #[test]
    fn section_headers_past_the_end_of_the_file() {
        let base = Base::new();
        let len = base.bytes.len() as u64;
        base.refused("e_shoff past the end", |b| put_u64(b, 0x28, len));
    }

    #[test]
    fn section_headers_overlapping_the_program_headers() {
        let base = Base::new();
        let phoff = base.elf().phoff() as u64;
        base.refused("e_shoff = e_phoff", |b| put_u64(b, 0x28, phoff));
    }

    #[test]
    fn program_headers_past_the_end_of_the_file() {
        let base = Base::new();
        let len = base.bytes.len() as u64;
        base.refused("e_phoff past the end", |b| put_u64(b, 0x20, len - 16));
    }

    #[test]
    fn a_load_segment_past_the_end_of_the_file() {
        let base = Base::new();
        let last = base
            .elf()
            .phdrs()
            .into_iter()
            .filter(|p| p.p_type == PT_LOAD)
            .max_by_key(|p| p.offset + p.filesz)
            .unwrap();
        // The headers at the end of the file stay readable: the segment claims more bytes
        // than the file has, rather than the file being cut short.
        let len = base.bytes.len() as u64;
        base.refused("PT_LOAD past the end", |b| {
            put_u64(b, last.at + 32, len - last.offset + 0x1000)
        });
    }

    #[test]
    fn dynamic_section_offset_past_the_end_of_the_file() {
        let base = Base::new();
        let at = base.elf().section(".dynamic").at;
        base.refused(".dynamic sh_offset past the end", |b| {
            put_u64(b, at + 24, HUGE)
        });
    }

    #[test]
    fn dynamic_section_offset_unaligned() {
        let base = Base::new();
        let at = base.elf().section(".dynamic").at;
        base.refused(".dynamic sh_offset unaligned", |b| put_u64(b, at + 24, 1));
    }

    #[test]
    fn dynamic_table_without_a_terminator() {
        let base = Base::new();
        let nulls: Vec<usize> = base
            .elf()
            .dynamic()
            .into_iter()
            .filter(|&(_, t, _)| t == 0)
            .map(|(at, _, _)| at)
            .collect();
        base.refused("no DT_NULL", |b| {
            for at in nulls {
                put_u64(b, at, 21); // DT_DEBUG
            }
        });
    }

    #[test]
    fn needed_string_offset_out_of_range() {
        let base = Base::new();
        let (at, _, _) = base
            .elf()
            .dynamic()
            .into_iter()
            .find(|&(_, t, _)| t == 1)
            .unwrap();
        base.refused("DT_NEEDED out of range", |b| put_u64(b, at + 8, HUGE));
    }

    #[test]
    fn runpath_string_offset_out_of_range() {
        let base = Base::new();
        let (at, _, _) = base
            .elf()
            .dynamic()
            .into_iter()
            .find(|&(_, t, _)| t == 29)
            .unwrap();
        base.refused("DT_RUNPATH out of range", |b| {
            put_u64(b, at + 8, 0x7fff_ffff)
        });
    }

    #[test]
    fn dynamic_string_table_not_nul_terminated() {
        let base = Base::new();
        let sh = base.elf().section(".dynstr");
        let last = (sh.offset + sh.size - 1) as usize;
        base.refused(".dynstr unterminated", |b| b[last] = b'A');
    }

    #[test]
    fn dynamic_string_table_past_the_end_of_the_file() {
        let base = Base::new();
        let (at, _, _) = base
            .elf()
            .dynamic()
            .into_iter()
            .find(|&(_, t, _)| t == 10)
            .unwrap();
        base.refused("DT_STRSZ past the end", |b| put_u64(b, at + 8, 0x7fff_ffff));
    }

    #[test]
    fn dynamic_string_table_overlapping_the_tables_after_it() {
        let base = Base::new();
        let e = base.elf();
        let dynstr = e.section(".dynstr");
        let next = e
            .sections()
            .into_iter()
            .filter(|s| s.offset > dynstr.offset && s.addr != 0)
            .min_by_key(|s| s.offset)
            .unwrap();
        let (at, _, _) = e.dynamic().into_iter().find(|&(_, t, _)| t == 10).unwrap();
        let size = next.offset + next.size - dynstr.offset;
        base.refused("DT_STRSZ over the next table", |b| put_u64(b, at + 8, size));
    }

    #[test]
    fn dynamic_string_table_at_an_unmapped_address() {
        let base = Base::new();
        let (at, _, _) = base
            .elf()
            .dynamic()
            .into_iter()
            .find(|&(_, t, _)| t == 5)
            .unwrap();
        base.refused("DT_STRTAB unmapped", |b| put_u64(b, at + 8, 0x7fff_0000));
    }

    #[test]
    fn version_needs_naming_a_file_out_of_range() {
        let base = Base::new();
        let at = base.elf().section(".gnu.version_r").offset as usize;
        base.refused("vn_file out of range", |b| put_u32(b, at + 4, 0x7fff_ffff));
    }

    #[test]
    fn gnu_hash_without_buckets() {
        let base = Base::new();
        let at = base.elf().section(".gnu.hash").offset as usize;
        base.refused("GNU hash nbuckets 0", |b| put_u32(b, at, 0));
    }

    #[test]
    fn gnu_hash_bloom_filter_past_the_table() {
        let base = Base::new();
        let at = base.elf().section(".gnu.hash").offset as usize;
        base.refused("GNU hash maskwords huge", |b| {
            put_u32(b, at + 8, 0x7fff_ffff)
        });
    }
}

mod an_odd_but_valid_file_is_patched {
    use super::*;

    #[test]
    fn note_section_with_zero_alignment() {
        let base = Base::new();
        let note = base
            .elf()
            .sections()
            .into_iter()
            .find(|s| s.sh_type == 7)
            .expect("a note section");
        base.accepted(|b| put_u64(b, note.at + 48, 0));
    }

    #[test]
    fn section_without_a_name() {
        let base = Base::new();
        let at = base.elf().sections()[1].at;
        base.accepted(|b| put_u32(b, at, 0));
    }
}
