//! The lazy reader: what it reports for gcc-built files, and how it treats non-ELF and junk.

use crate::support::elf::*;

use fixup_hooks::elf::{ElfError, ElfInfo};

#[test]
fn non_elf_is_none() {
    assert_eq!(
        ElfInfo::parse(b"#!/bin/sh\necho hi\n").unwrap().map(|_| ()),
        None
    );
    assert_eq!(ElfInfo::parse(b"").unwrap().map(|_| ()), None);
}

#[test]
fn truncated_elf_is_an_error_that_says_what_is_wrong() {
    let d = tmp();
    let lib = Gcc::lib(d.path()).build();
    let bytes = std::fs::read(lib).unwrap();
    let err = ElfInfo::parse(&bytes[..40]).unwrap_err();
    assert!(matches!(err, ElfError::Header(_)), "{err}");
    let err = ElfInfo::parse(&bytes[..1000]).unwrap_err();
    assert!(
        err.to_string().contains("the section header table (")
            && err
                .to_string()
                .contains("runs past the end of the file (1000 bytes)"),
        "{err}"
    );
}

#[test]
fn reads_runpath_needed_and_soname() {
    let d = tmp();
    let lib = Gcc::lib(d.path())
        .runpath(STORE_E)
        .flag(b"-Wl,-soname,libfixture.so.1")
        .flag(b"-Wl,--no-as-needed")
        .flag(b"-lm")
        .build();
    let i = info(&lib);
    let dy = i.dynamic.clone().unwrap();
    assert_eq!(dy.runpath.unwrap().bytes, STORE_E.as_bytes());
    assert_eq!(dy.rpath, None);
    assert_eq!(dy.soname.as_deref(), Some(&b"libfixture.so.1"[..]));
    assert!(
        dy.needed.contains(&b"libm.so.6".to_vec()) && dy.needed.contains(&b"libc.so.6".to_vec())
    );
    assert!(dy.spare_null_slots > 0, "GNU ld leaves DT_NULL slack");
    assert!(dy.strtab.is_some());
    assert!(!i.is_executable());
    assert_eq!(i.machine, goblin::elf::header::EM_X86_64);
}

#[test]
fn reads_rpath_with_disable_new_dtags() {
    let d = tmp();
    let lib = Gcc::lib(d.path()).rpath(STORE_E).build();
    let dy = info(&lib).dynamic.unwrap();
    assert_eq!(dy.rpath.unwrap().bytes, STORE_E.as_bytes());
    assert_eq!(dy.runpath, None);
}

#[test]
fn reads_non_utf8_runpath_as_raw_bytes() {
    let d = tmp();
    let lib = Gcc::lib(d.path())
        .flag(b"-Wl,-rpath,/opt/\xff\xfe/lib")
        .build();
    assert_eq!(
        info(&lib).dynamic.unwrap().runpath.unwrap().bytes,
        b"/opt/\xff\xfe/lib"
    );
}

#[test]
fn pie_executable_has_interpreter_and_is_executable() {
    let d = tmp();
    Gcc::lib(d.path()).build();
    let exe = Gcc::exe(d.path()).pie().build();
    let i = info(&exe);
    assert!(i.is_executable());
    assert_eq!(i.e_type, goblin::elf::header::ET_DYN);
    let interp = i.interpreter.unwrap();
    assert_eq!(interp.path, system_interpreter().as_bytes());
    assert_eq!(interp.range.size, interp.path.len() as u64 + 1);
}
