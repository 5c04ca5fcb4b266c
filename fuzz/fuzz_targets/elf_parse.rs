//! `ElfInfo::parse` on arbitrary bytes, then everything patch-rpaths derives from a parsed file
//! without writing: accessors, RUNPATH entries, and a plan for a fixed change. None may panic;
//! a planned edit must only patch bytes inside the file.
#![no_main]

use fixup_hooks::elf::{plan_edit, ElfChange, ElfInfo};
use fixup_hooks::patch::resolve::{runpath_of, search_entries, Compat};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(Some(info)) = ElfInfo::parse(data) else {
        return;
    };
    let _ = info.is_executable();
    let _ = info.arch_page_size();
    let _ = info.loads().count();
    let _ = Compat::of(&info).accepts(&Compat::of(&info));
    let _ = runpath_of(&info);
    let _ = search_entries(&info);
    if let Some(d) = &info.dynamic {
        if let Some(s) = d.strtab {
            let _ = info.vaddr_to_offset(s.vaddr, s.size);
        }
        let _ = info.vaddr_to_offset(d.vaddr, d.range.size);
    }
    for change in [
        ElfChange {
            runpath: Some(b"/nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-x/lib".to_vec()),
            interpreter: None,
        },
        ElfChange {
            runpath: Some(b"/a".to_vec()),
            interpreter: Some(b"/lib64/ld-linux-x86-64.so.2".to_vec()),
        },
    ] {
        if let Ok(Some(edit)) = plan_edit(&info, data, &change) {
            let _ = format!("{edit:?}");
        }
    }
});
