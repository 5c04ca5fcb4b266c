//! The writer, judged by external oracles: readelf, patchelf --print-*, ld.so itself.

use crate::support::elf::*;

use std::os::unix::fs::PermissionsExt;

use fixup_hooks::elf::{plan_edit, ElfChange, ElfEdit, ElfInfo, ElfRefusal, Placement};

/// Checks every patched library gets: readelf quiet, patchelf agrees, it loads, and
/// `strip -g` yields a loadable file, whatever strategy the writer used.
fn assert_library_ok(lib: &std::path::Path, want_runpath: &str) {
    assert_readelf_clean(lib);
    assert_eq!(patchelf(lib, "--print-rpath"), want_runpath);
    dlopen(lib, "fixture_answer").expect("patched library loads");
    let stripped = strip_copy(lib).expect("strip -g refused the patched library");
    assert_readelf_clean(&stripped);
    dlopen(&stripped, "fixture_answer").expect("stripped library loads");
}

/// Asserts the writer describes its edit with `text` (which strategy ran, in its words).
#[track_caller]
fn assert_described(edit: &ElfEdit, text: &str) {
    assert!(edit.description.contains(text), "{}", edit.description);
}

/// `dir/exe` (after its library), finding `dir/libfixture.so` through `-rpath dir`.
fn exe_finding_its_lib(dir: &std::path::Path) -> std::path::PathBuf {
    Gcc::exe_with_lib(dir)
        .search_path(dir.to_str().unwrap())
        .build()
}

/// A link to the machine's loader whose path is longer than the loader's own.
fn long_loader(dir: &std::path::Path) -> String {
    let ld = loader_in(
        dir,
        "a-rather-long-directory-name-for-the-dynamic-loader",
        "ld-linux-x86-64.so.2",
    );
    ld.to_str().unwrap().to_string()
}

/// Asserts patchelf reads `ld` as the executable's interpreter, it runs, readelf is quiet.
#[track_caller]
fn assert_runs_with_loader(exe: &std::path::Path, ld: &str) {
    assert_eq!(patchelf(exe, "--print-interpreter"), ld);
    assert_eq!(run(exe).unwrap(), "42");
    assert_readelf_clean(exe);
}

/// A link to the machine's loader in the new directory `dir/name`; returns the link's path.
fn loader_in(dir: &std::path::Path, name: &str, file: &str) -> std::path::PathBuf {
    let ld_dir = dir.join(name);
    std::fs::create_dir_all(&ld_dir).unwrap();
    let ld = ld_dir.join(file);
    std::os::unix::fs::symlink(system_interpreter(), &ld).unwrap();
    ld
}

/// Asserts the library kept an RPATH (now `value`, no RUNPATH beside it) and is sound.
#[track_caller]
fn assert_rpath_kept(lib: &std::path::Path, value: &str) {
    let dy = info(lib).dynamic.unwrap();
    assert_eq!(dy.rpath.unwrap().bytes, value.as_bytes());
    assert_eq!(dy.runpath, None);
    assert_library_ok(lib, value);
}

/// Asserts a patched executable runs, readelf is quiet and patchelf reads `want_runpath`.
#[track_caller]
fn assert_exe_ok(exe: &std::path::Path, want_runpath: &str) {
    assert_eq!(run(exe).unwrap(), "42");
    assert_readelf_clean(exe);
    assert_eq!(patchelf(exe, "--print-rpath"), want_runpath);
}

/// `libfixture.so` with a RUNPATH of `STORE_E`, linked with `--hash-style=STYLE`, its section
/// headers then dropped.
fn hashed_lib_without_section_headers(dir: &std::path::Path, style: &str) -> std::path::PathBuf {
    let lib = Gcc::lib(dir)
        .runpath(STORE_E)
        .flag(format!("-Wl,--hash-style={style}").as_bytes())
        .build();
    drop_section_headers(&lib);
    lib
}

/// Asserts `strip -g` takes the executable (else fails with `refused`) and the copy runs.
#[track_caller]
fn assert_stripped_copy_runs(exe: &std::path::Path, refused: &str) {
    let stripped = strip_copy(exe).expect(refused);
    assert_eq!(run(&stripped).unwrap(), "42");
}

/// Every section (moved ones included) sits at an offset and address its alignment allows.
fn assert_sections_aligned(path: &std::path::Path) {
    for (k, sh) in info(path).section_headers.iter().enumerate() {
        if sh.sh_addralign > 1 && sh.sh_size > 0 {
            assert_eq!(sh.sh_addr % sh.sh_addralign, 0, "section {k} address");
            assert_eq!(sh.sh_offset % sh.sh_addralign, 0, "section {k} offset");
        }
    }
}

#[test]
fn same_length_runpath_is_rewritten_in_place() {
    let d = tmp();
    let lib = Gcc::lib(d.path()).runpath(STORE_E).build();
    let before = std::fs::read(&lib).unwrap();
    let edit = patch_file(&lib, &runpath(STORE_REAL));
    assert_eq!(edit.placement, Placement::InPlace);
    assert!(edit.tail.is_empty());
    assert_eq!(std::fs::metadata(&lib).unwrap().len(), before.len() as u64);
    let i = info(&lib);
    assert_eq!(
        i.dynamic.unwrap().runpath.unwrap().bytes,
        STORE_REAL.as_bytes()
    );
    assert_library_ok(&lib, STORE_REAL);
}

#[test]
fn same_length_rpath_stays_rpath() {
    let d = tmp();
    let lib = Gcc::lib(d.path()).rpath(STORE_E).build();
    let edit = patch_file(&lib, &runpath(STORE_REAL));
    assert_eq!(edit.placement, Placement::InPlace);
    assert_rpath_kept(&lib, STORE_REAL);
}

#[test]
fn shorter_runpath_is_nul_filled_in_place() {
    let d = tmp();
    let lib = Gcc::lib(d.path()).runpath(STORE_E).build();
    let edit = patch_file(&lib, &runpath("$ORIGIN"));
    assert_eq!(edit.placement, Placement::InPlace);
    assert_eq!(edit.patches.len(), 1);
    assert_eq!(
        edit.patches[0].bytes.len(),
        STORE_E.len(),
        "the old NUL stays"
    );
    assert!(edit.patches[0].bytes[7..].iter().all(|&b| b == 0));
    assert_library_ok(&lib, "$ORIGIN");
}

#[test]
fn unchanged_runpath_plans_nothing() {
    let d = tmp();
    let lib = Gcc::lib(d.path()).runpath(STORE_E).build();
    assert_eq!(plan_file(&lib, &runpath(STORE_E)), Ok(None));
    assert_eq!(plan_file(&lib, &ElfChange::default()), Ok(None));
}

#[test]
fn longer_runpath_in_library_appends_segment_and_grows_phdr_table_in_place() {
    let d = tmp();
    let lib = Gcc::lib(d.path()).runpath(STORE_E).build();
    let original = d.path().join("original.so");
    std::fs::copy(&lib, &original).unwrap();
    let edit = patch_file(&lib, &runpath(STORE_LONG));
    assert!(edit.placement.appends_segment());
    assert_described(&edit, "program header table grown in place");
    let i = info(&lib);
    assert_eq!(i.phoff, 64, "the table stays after the ELF header");
    assert_sections_aligned(&lib);
    assert_eq!(
        i.dynamic.unwrap().runpath.unwrap().bytes,
        STORE_LONG.as_bytes()
    );
    assert!(
        !std::fs::read(&lib)
            .unwrap()
            .windows(STORE_E.len())
            .any(|w| w == STORE_E.as_bytes()),
        "old string blanked"
    );
    assert_library_ok(&lib, STORE_LONG);
    let stripped = strip_copy(&lib).expect("strip -g takes a table grown in place");
    assert_eq!(
        info(&stripped).dynamic.unwrap().runpath.unwrap().bytes,
        STORE_LONG.as_bytes()
    );
    // What moved keeps its meaning: the build id note is where PT_NOTE and the section say.
    let notes = |f: &std::path::Path| {
        let out = std::process::Command::new("readelf")
            .args(["-nW"])
            .arg(f)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains("Build ID"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(notes(&original).len(), 1, "{:?}", notes(&original));
    assert_eq!(notes(&lib), notes(&original));
    assert_eq!(notes(&stripped), notes(&original));
}

#[test]
fn without_section_headers_the_phdr_table_moves_to_the_segment_start() {
    let d = tmp();
    let lib = Gcc::lib(d.path()).runpath(STORE_E).build();
    // Nothing tells which sections follow the table, so none can move out of its way.
    drop_section_headers(&lib);
    let edit = patch_file(&lib, &runpath(STORE_LONG));
    assert_described(&edit, "program header table moved to its start");
    // Inside a PT_LOAD, at its start: where the loader and binutils look for it.
    let i = info(&lib);
    assert!(
        i.loads().any(|p| p.p_offset == i.phoff),
        "the table is not at a PT_LOAD's start"
    );
    assert_readelf_clean(&lib);
    dlopen(&lib, "fixture_answer").expect("patched library loads");
    assert_eq!(
        info(&lib).dynamic.unwrap().runpath.unwrap().bytes,
        STORE_LONG.as_bytes()
    );
}

#[test]
fn longer_rpath_stays_rpath_when_grown() {
    let d = tmp();
    let lib = Gcc::lib(d.path()).rpath("$ORIGIN").build();
    patch_file(&lib, &runpath(STORE_LONG));
    assert_rpath_kept(&lib, STORE_LONG);
}

#[test]
fn missing_runpath_uses_spare_dt_null_slot() {
    let d = tmp();
    let lib = Gcc::lib(d.path()).build();
    let slots = info(&lib).dynamic.unwrap().spare_null_slots;
    let edit = patch_file(&lib, &runpath(STORE_REAL));
    assert_described(&edit, "DT_NULL slot");
    let dy = info(&lib).dynamic.unwrap();
    assert_eq!(dy.runpath.unwrap().bytes, STORE_REAL.as_bytes());
    assert_eq!(dy.spare_null_slots, slots - 1);
    assert_library_ok(&lib, STORE_REAL);
}

#[test]
fn missing_runpath_without_spare_dt_null_slot_moves_dynamic() {
    let d = tmp();
    let lib = Gcc::lib(d.path()).build();
    fill_spare_dynamic_slots(&lib);
    let before = info(&lib).dynamic.unwrap();
    assert_eq!(before.spare_null_slots, 0);
    let edit = patch_file(&lib, &runpath(STORE_REAL));
    assert_described(&edit, "copy of .dynamic");
    let after = info(&lib).dynamic.unwrap();
    assert_ne!(
        after.vaddr, before.vaddr,
        "PT_DYNAMIC still points at the old table"
    );
    assert_eq!(after.needed, before.needed);
    // The copy keeps a spare slot, so the next entry needs no other move.
    assert!(after.spare_null_slots >= 1);
    assert_library_ok(&lib, STORE_REAL);
}

#[test]
fn tail_shared_runpath_is_not_clobbered() {
    // GNU ld merges string tails: NEEDED "libc.so.6" becomes the end of this RUNPATH.
    let d = tmp();
    let shared = "/nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-x/libc.so.6";
    let lib = Gcc::lib(d.path())
        .runpath(shared)
        .flag(b"-Wl,--no-as-needed")
        .flag(b"-lc")
        .build();
    let i = info(&lib);
    let dy = i.dynamic.as_ref().unwrap();
    let rp = dy.runpath.as_ref().unwrap().strtab_offset;
    let needed_offsets: Vec<u64> = dy
        .entries
        .iter()
        .filter(|e| e.0 == 1)
        .map(|e| e.1)
        .collect();
    assert!(
        needed_offsets.iter().any(|&n| n > rp && n <= rp + shared.len() as u64),
        "fixture: the linker did not tail-merge (NEEDED at {needed_offsets:x?}, RUNPATH at {rp:#x})"
    );
    let same_len = "/nix/store/0c9d3k2l8x7v1mq5w4r6t2y9u3i8o7p1-x/libc.so.X";
    let edit = patch_file(&lib, &runpath(same_len));
    assert!(
        edit.placement.appends_segment(),
        "must not rewrite a shared span in place"
    );
    assert_eq!(info(&lib).dynamic.unwrap().needed, dy.needed);
    assert_library_ok(&lib, same_len);
}

#[test]
fn no_section_headers_sizes_dynsym_from_gnu_hash() {
    let d = tmp();
    let lib = hashed_lib_without_section_headers(d.path(), "gnu");
    let edit = patch_file(&lib, &runpath(STORE_REAL));
    assert_eq!(edit.placement, Placement::InPlace);
    // (patchelf refuses files without section headers, so no oracle here but the loader.)
    dlopen(&lib, "fixture_answer").unwrap();
}

#[test]
fn sysv_hash_library_grows_and_loads() {
    let d = tmp();
    let lib = hashed_lib_without_section_headers(d.path(), "sysv");
    patch_file(&lib, &runpath(STORE_LONG));
    dlopen(&lib, "fixture_answer").unwrap();
}

#[test]
fn huge_page_alignment_is_respected_when_growing() {
    let d = tmp();
    let lib = Gcc::lib(d.path())
        .runpath("$ORIGIN")
        .flag(b"-Wl,-z,max-page-size=0x200000")
        .build();
    let size_before = std::fs::metadata(&lib).unwrap().len();
    patch_file(&lib, &runpath(STORE_LONG));
    let i = info(&lib);
    let last = i.loads().last().unwrap();
    assert_eq!(last.p_align, 0x200000);
    assert_eq!(last.p_vaddr % 0x200000, last.p_offset % 0x200000);
    assert!(
        std::fs::metadata(&lib).unwrap().len() < size_before + 0x3000,
        "padding stays page-sized"
    );
    assert_library_ok(&lib, STORE_LONG);
}

#[test]
fn executable_runs_after_in_place_runpath_rewrite() {
    let d = tmp();
    let exe = Gcc::exe_with_lib(d.path()).runpath(STORE_E).pie().build();
    assert!(
        run(&exe).is_err(),
        "fixture: library not found before patching"
    );
    let real = d.path().to_str().unwrap();
    assert_eq!(
        patch_file(&exe, &runpath(real)).placement,
        Placement::InPlace
    );
    assert_exe_ok(&exe, real);
}

#[test]
fn growth_in_executable_without_pt_null_grows_the_table_in_place_and_runs() {
    let d = tmp();
    let exe = Gcc::exe_with_lib(d.path()).runpath("$ORIGIN").pie().build();
    // A longer RUNPATH naming the library's real directory, so the run proves it is used.
    let real = format!("{}:{}", d.path().display(), STORE_LONG);
    let edit = patch_file(&exe, &runpath(&real));
    assert!(edit.placement.appends_segment());
    assert_described(&edit, "program header table grown in place");
    assert_exe_ok(&exe, &real);
    assert_sections_aligned(&exe);
    assert_stripped_copy_runs(&exe, "strip -g takes a table grown in place");
}

#[test]
fn executable_with_pt_null_slot_grows_and_runs() {
    let d = tmp();
    let exe = Gcc::exe_with_lib(d.path())
        .runpath("$ORIGIN/nowhere")
        .pie()
        .build();
    null_out_phdr(&exe, goblin::elf::program_header::PT_NOTE);
    let long = format!("{STORE_LONG}:{}", d.path().display());
    let edit = patch_file(&exe, &runpath(&long));
    assert_described(&edit, "PT_NULL slot reused");
    assert_exe_ok(&exe, &long);
    assert_stripped_copy_runs(&exe, "strip -g works when the table did not move");
}

#[test]
fn non_pie_executable_runs_after_runpath_rewrite() {
    let d = tmp();
    let exe = Gcc::exe_with_lib(d.path()).rpath(STORE_E).no_pie().build();
    assert_eq!(info(&exe).e_type, goblin::elf::header::ET_EXEC);
    patch_file(&exe, &runpath(d.path().to_str().unwrap()));
    assert_eq!(run(&exe).unwrap(), "42");
}

#[test]
fn shorter_interpreter_is_rewritten_in_place() {
    let d = tmp();
    let exe = exe_finding_its_lib(d.path());
    let ld = d.path().join("ld.so");
    std::os::unix::fs::symlink(system_interpreter(), &ld).unwrap();
    let ld = ld.to_str().unwrap();
    assert!(
        ld.len() < system_interpreter().len(),
        "fixture: temp path too long"
    );
    let edit = patch_file(&exe, &interpreter(ld));
    assert_eq!(edit.placement, Placement::InPlace);
    assert_runs_with_loader(&exe, ld);
}

#[test]
fn longer_interpreter_moves_into_appended_segment_when_pt_null_is_free() {
    let d = tmp();
    let exe = exe_finding_its_lib(d.path());
    null_out_phdr(&exe, goblin::elf::program_header::PT_NOTE);
    let ld = long_loader(d.path());
    let edit = patch_file(&exe, &interpreter(&ld));
    assert!(edit.placement.appends_segment());
    assert_runs_with_loader(&exe, &ld);
}

#[test]
fn longer_interpreter_grows_in_an_ordinary_executable() {
    // gcc's executables have no PT_NULL and .interp right after the program headers: the
    // table grows where it is and .interp moves with the new string.
    let d = tmp();
    let exe = exe_finding_its_lib(d.path());
    let ld = long_loader(d.path());
    patch_file(&exe, &interpreter(&ld));
    assert_runs_with_loader(&exe, &ld);
    assert_stripped_copy_runs(&exe, "strip -g refused the patched executable");
}

#[test]
fn refuses_interpreter_change_in_library() {
    let d = tmp();
    let lib = Gcc::lib(d.path()).build();
    assert_eq!(
        plan_file(&lib, &interpreter("/lib/ld.so")),
        Err(ElfRefusal::NoInterpreter)
    );
}

#[test]
fn refuses_nul_in_runpath() {
    let d = tmp();
    let lib = Gcc::lib(d.path()).build();
    let c = ElfChange {
        runpath: Some(b"/a\0/b".to_vec()),
        interpreter: None,
    };
    assert_eq!(plan_file(&lib, &c), Err(ElfRefusal::NulInValue("RUNPATH")));
}

#[test]
fn apply_keeps_file_mode_and_leaves_no_temp_file() {
    let d = tmp();
    let lib = Gcc::lib(d.path()).runpath(STORE_E).build();
    std::fs::set_permissions(&lib, std::fs::Permissions::from_mode(0o555)).unwrap();
    patch_file(&lib, &runpath(STORE_LONG));
    assert_eq!(
        std::fs::metadata(&lib).unwrap().permissions().mode() & 0o777,
        0o555
    );
    let names: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        !names.iter().any(|n| n.to_string_lossy().starts_with('.')),
        "{names:?}"
    );
}

#[test]
fn apply_rejects_an_edit_that_does_not_match_the_file() {
    let d = tmp();
    let lib = Gcc::lib(d.path()).runpath(STORE_E).build();
    let bytes = std::fs::read(&lib).unwrap();
    let mut edit = plan_edit(
        &ElfInfo::parse(&bytes).unwrap().unwrap(),
        &bytes,
        &runpath(STORE_REAL),
    )
    .unwrap()
    .unwrap();
    edit.change.runpath = Some(b"/something/else".to_vec());
    let err = fixup_hooks::elf::write_edit(&lib, &bytes, &edit).unwrap_err();
    assert!(err.to_string().contains("self-check"), "{err}");
    assert_eq!(std::fs::read(&lib).unwrap(), bytes, "original untouched");
}

/// A library as auditwheel leaves many wheel libraries: patchelf grew its RUNPATH twice, so
/// `.dynstr` sits alone in a PT_LOAD of its own, and a large `.bss` runs (in offsets) past it.
fn twice_patchelfed_library(dir: &std::path::Path) -> std::path::PathBuf {
    let src = dir.join("big.c");
    std::fs::write(
        &src,
        "static char big[1 << 20];\nint fixture_answer(void) { big[5] = 1; return 42 + big[0]; }\n",
    )
    .unwrap();
    let lib = dir.join("libbig.so");
    let gcc = std::process::Command::new("gcc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(&src)
        .arg("-Wl,-rpath,/short")
        .status()
        .unwrap();
    assert!(gcc.success());
    for rpath in [
        "/a/longer/rpath/so/that/patchelf/moves/the/string/table/once",
        "/an/even/longer/rpath/so/that/patchelf/moves/the/string/table/a/second/time",
    ] {
        let st = std::process::Command::new("patchelf")
            .args(["--set-rpath", rpath])
            .arg(&lib)
            .status()
            .unwrap();
        assert!(st.success());
    }
    lib
}

#[test]
fn a_segment_holding_only_the_old_dynstr_is_reused_so_strip_keeps_the_file_loadable() {
    let d = tmp();
    let lib = twice_patchelfed_library(d.path());
    let pristine_stripped = strip_copy(&lib).expect("strip -g takes patchelf's layout");
    dlopen(&pristine_stripped, "fixture_answer").expect("and the result loads");
    let loads_before = info(&lib).loads().count();

    let long = format!("{STORE_LONG}:{STORE_LONG}");
    let edit = patch_file(&lib, &runpath(&long));
    assert_described(&edit, "held only the old .dynstr");
    assert_eq!(info(&lib).loads().count(), loads_before, "no segment added");
    assert_library_ok(&lib, &long);
    // Left with no section, the old segment would come out of strip empty and misaligned
    // ("ELF load command address/offset not page-aligned").
    let stripped = strip_copy(&lib).expect("strip -g works");
    dlopen(&stripped, "fixture_answer").expect("stripped library loads");
}

#[test]
fn pt_phdr_covers_the_whole_table_after_each_growth() {
    let d = tmp();
    Gcc::lib(d.path()).build();
    // A long interpreter string (a link to the real loader) right after the table: the first
    // growth moves and zeroes it; later ones extend the segment it appended.
    let ld = loader_in(
        d.path(),
        &"a-long-directory-name-for-the-loader-".repeat(3),
        "ld.so",
    );
    let linker = format!("-Wl,--dynamic-linker={}", ld.display());
    let exe = Gcc::exe(d.path())
        .runpath("$ORIGIN")
        .pie()
        .flag(linker.as_bytes())
        .build();
    for n in 1..=3 {
        let value = format!("{}:{}", d.path().display(), vec![STORE_LONG; n].join(":"));
        let edit = patch_file(&exe, &runpath(&value));
        if n > 1 {
            assert!(
                edit.description.contains("at the end of the last segment"),
                "growth {n} appends no second segment: {}",
                edit.description
            );
        }
        let i = info(&exe);
        let table = i.program_headers.len() as u64 * 56;
        let phdr = i
            .program_headers
            .iter()
            .find(|p| p.p_type == goblin::elf::program_header::PT_PHDR)
            .expect("a PIE has PT_PHDR");
        assert_eq!(
            (phdr.p_offset, phdr.p_filesz, phdr.p_memsz),
            (i.phoff, table, table),
            "after growth {n}"
        );
        assert_eq!(run(&exe).unwrap(), "42", "after growth {n}");
    }
    assert_stripped_copy_runs(&exe, "strip -g works");
}
