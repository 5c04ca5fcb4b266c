//! Every offset into the dynamic string table that something other than DT_RPATH/DT_RUNPATH
//! uses. The linker merges string tails (`libfoo.so` may be the end of `/x/libfoo.so`), so an
//! in-place rewrite is safe only if no such reference lands inside the old string's span.
//! If any table cannot be located or sized, we answer Err and the writer copies the table
//! instead of editing it: being unable to prove safety means "not safe".

use goblin::elf::dynamic::*;
use goblin::elf::section_header::SHT_DYNSYM;

use super::read::{Dynamic, ElfInfo};

/// Dynamic tags whose value is a string-table offset (besides DT_RPATH/DT_RUNPATH).
const STRING_TAGS: [u64; 8] = [
    DT_NEEDED,
    DT_SONAME,
    DT_CONFIG,
    DT_DEPAUDIT,
    DT_AUDIT,
    0x7fff_fffd, // DT_AUXILIARY
    0x7fff_fffe, // DT_USED
    0x7fff_ffff, // DT_FILTER
];

pub(crate) fn string_refs(
    info: &ElfInfo,
    dynamic: &Dynamic,
    bytes: &[u8],
) -> Result<Vec<u64>, String> {
    let mut refs: Vec<u64> = dynamic
        .entries
        .iter()
        .filter(|e| STRING_TAGS.contains(&e.0))
        .map(|e| e.1)
        .collect();
    dynsym_names(info, dynamic, bytes, &mut refs)?;
    version_names(info, dynamic, bytes, &VERNEED, &mut refs)?;
    version_names(info, dynamic, bytes, &VERDEF, &mut refs)?;
    refs.sort_unstable();
    refs.dedup();
    Ok(refs)
}

fn at(info: &ElfInfo, vaddr: u64, len: u64, what: &str) -> Result<u64, String> {
    info.vaddr_to_offset(vaddr, len)
        .ok_or_else(|| format!("{what} at {vaddr:#x} is not in the file"))
}

fn dynsym_names(
    info: &ElfInfo,
    d: &Dynamic,
    bytes: &[u8],
    refs: &mut Vec<u64>,
) -> Result<(), String> {
    let Some(symtab) = d.get(DT_SYMTAB) else {
        return Ok(());
    };
    let codec = info.codec();
    let entsize = d
        .get(DT_SYMENT)
        .unwrap_or(if codec.word_size() == 8 { 24 } else { 16 });
    // st_name is a 32-bit field; a hostile entry size or count must not make us allocate or
    // loop past the file.
    if !(4..=64).contains(&entsize) {
        return Err(format!("DT_SYMENT {entsize} is not a symbol size"));
    }
    let count = dynsym_count(info, d, bytes, symtab)?;
    let size = count
        .checked_mul(entsize)
        .filter(|&size| size <= bytes.len() as u64)
        .ok_or_else(|| format!(".dynsym of {count} symbols does not fit in the file"))?;
    let off = at(info, symtab, size, ".dynsym")?;
    for i in 0..count {
        // st_name is the first field in both classes.
        refs.push(
            codec
                .u32(bytes, off + i * entsize)
                .ok_or(".dynsym truncated")?
                .into(),
        );
    }
    Ok(())
}

/// `.dynsym` has no size in `.dynamic`; the section header or a hash table gives it.
fn dynsym_count(info: &ElfInfo, d: &Dynamic, bytes: &[u8], symtab: u64) -> Result<u64, String> {
    let codec = info.codec();
    if let Some(sh) = info
        .section_headers
        .iter()
        .find(|s| s.sh_type == SHT_DYNSYM && s.sh_addr == symtab)
    {
        if let Some(n) = sh.sh_size.checked_div(sh.sh_entsize) {
            return Ok(n);
        }
    }
    if let Some(hash) = d.get(DT_HASH) {
        let off = at(info, hash, 8, "DT_HASH")?;
        return codec
            .u32(bytes, off + 4)
            .map(u64::from)
            .ok_or_else(|| "DT_HASH truncated".into());
    }
    let gnu = d
        .get(DT_GNU_HASH)
        .ok_or("no section header, DT_HASH or DT_GNU_HASH sizes .dynsym")?;
    let off = at(info, gnu, 16, "DT_GNU_HASH")?;
    let word = |o: u64| {
        codec
            .u32(bytes, o)
            .map(u64::from)
            .ok_or_else(|| "DT_GNU_HASH truncated".to_string())
    };
    let (nbuckets, symoffset, bloom) = (word(off)?, word(off + 4)?, word(off + 8)?);
    let buckets = off + 16 + bloom * codec.word_size() as u64;
    let mut last = 0;
    for i in 0..nbuckets {
        last = last.max(word(buckets + 4 * i)?);
    }
    if last < symoffset {
        return Ok(symoffset);
    }
    // Walk the last chain to the entry with the stop bit.
    let chains = buckets + 4 * nbuckets;
    while word(chains + 4 * (last - symoffset))? & 1 == 0 {
        last += 1;
    }
    Ok(last + 1)
}

/// Where the string offsets sit in one kind of symbol-version table: a chain of entries,
/// each with a chain of auxiliary entries. `Elf_Verneed`/`Elf_Vernaux` and
/// `Elf_Verdef`/`Elf_Verdaux` differ only in these offsets, so one walk reads both.
struct VersionTable {
    /// The dynamic tag giving the table's address, and the one giving its entry count.
    addr_tag: u64,
    count_tag: u64,
    /// For messages: `DT_VERNEED`, `DT_VERDEF`.
    what: &'static str,
    entry_size: u64,
    /// In an entry: its auxiliary count (16 bits), a string offset (the needed file's name;
    /// verdef entries have none), the offset of its first auxiliary entry and of the next
    /// entry (32 bits each, relative to the entry).
    count_at: u64,
    name_at: Option<u64>,
    aux_at: u64,
    next_at: u64,
    /// In an auxiliary entry: its string offset and the offset of the next one.
    aux_name_at: u64,
    aux_next_at: u64,
}

/// `Elf_Verneed` (16 bytes: `vn_cnt` at 2, `vn_file` at 4, `vn_aux` at 8, `vn_next` at 12)
/// and `Elf_Vernaux` (`vna_name` at 8, `vna_next` at 12).
const VERNEED: VersionTable = VersionTable {
    addr_tag: DT_VERNEED,
    count_tag: DT_VERNEEDNUM,
    what: "DT_VERNEED",
    entry_size: 16,
    count_at: 2,
    name_at: Some(4),
    aux_at: 8,
    next_at: 12,
    aux_name_at: 8,
    aux_next_at: 12,
};

/// `Elf_Verdef` (20 bytes: `vd_cnt` at 6, `vd_aux` at 12, `vd_next` at 16) and
/// `Elf_Verdaux` (`vda_name` at 0, `vda_next` at 4).
const VERDEF: VersionTable = VersionTable {
    addr_tag: DT_VERDEF,
    count_tag: DT_VERDEFNUM,
    what: "DT_VERDEF",
    entry_size: 20,
    count_at: 6,
    name_at: None,
    aux_at: 12,
    next_at: 16,
    aux_name_at: 0,
    aux_next_at: 4,
};

/// The string offsets a symbol-version table names. The table comes from the file, so
/// every read is bounds-checked and no count is trusted: entries take `entry_size` bytes
/// each, so no honest count exceeds the file, and a next offset of 0 ends a chain (as the
/// loader reads it) even when the count says otherwise.
fn version_names(
    info: &ElfInfo,
    d: &Dynamic,
    bytes: &[u8],
    table: &VersionTable,
    refs: &mut Vec<u64>,
) -> Result<(), String> {
    let Some(vaddr) = d.get(table.addr_tag) else {
        return Ok(());
    };
    let codec = info.codec();
    let mut off = at(info, vaddr, table.entry_size, table.what)?;
    let bad = || format!("{} truncated", table.what);
    let u32_at = |o: u64| codec.u32(bytes, o).map(u64::from).ok_or_else(bad);
    let num = d
        .get(table.count_tag)
        .unwrap_or(0)
        .min(bytes.len() as u64 / table.entry_size);
    for _ in 0..num {
        let cnt = codec.u16(bytes, off + table.count_at).ok_or_else(bad)?;
        if let Some(name_at) = table.name_at {
            refs.push(u32_at(off + name_at)?);
        }
        let mut aux = off + u32_at(off + table.aux_at)?;
        for _ in 0..cnt {
            refs.push(u32_at(aux + table.aux_name_at)?);
            let next = u32_at(aux + table.aux_next_at)?;
            if next == 0 {
                break;
            }
            aux += next;
        }
        let next = u32_at(off + table.next_at)?;
        if next == 0 {
            break;
        }
        off += next;
    }
    Ok(())
}

/// The file offsets of the `st_value` fields of the symbols named `name` whose value is
/// `value`, in `.dynsym` and in every `.symtab`: what must follow a table that moves (the
/// `_DYNAMIC` symbol names `.dynamic`'s address). Tables that cannot be read are skipped:
/// their symbols are for debuggers and linkers, not the loader.
pub(crate) fn symbol_values(
    info: &ElfInfo,
    d: &Dynamic,
    bytes: &[u8],
    name: &[u8],
    value: u64,
) -> Vec<u64> {
    let codec = info.codec();
    let wide = codec.word_size() == 8;
    let (entsize, value_at) = if wide { (24, 8) } else { (16, 4) };
    let mut found = Vec::new();
    // (table offset, count, string table offset, string table size)
    let mut tables: Vec<(u64, u64, u64, u64)> = Vec::new();
    if let (Some(symtab), Some(strtab)) = (d.get(DT_SYMTAB), d.strtab) {
        if let Ok(count) = dynsym_count(info, d, bytes, symtab) {
            if let Some(off) = count
                .checked_mul(entsize)
                .and_then(|size| info.vaddr_to_offset(symtab, size))
            {
                tables.push((off, count, strtab.offset, strtab.size));
            }
        }
    }
    for s in &info.section_headers {
        if s.sh_type != goblin::elf::section_header::SHT_SYMTAB || s.sh_entsize != entsize {
            continue;
        }
        if let Some(strs) = info.section_headers.get(s.sh_link as usize) {
            tables.push((
                s.sh_offset,
                s.sh_size / entsize,
                strs.sh_offset,
                strs.sh_size,
            ));
        }
    }
    for (off, count, str_off, str_size) in tables {
        let strtab = super::read::StrTab {
            vaddr: 0,
            offset: str_off,
            size: str_size,
        };
        for i in 0..count.min(bytes.len() as u64 / entsize) {
            let sym = off + i * entsize;
            let Some(st_name) = codec.u32(bytes, sym) else {
                break;
            };
            let named = super::read::strtab_string(bytes, &strtab, st_name.into()) == Some(name);
            if named && codec.word(bytes, sym + value_at) == Some(value) {
                found.push(sym + value_at);
            }
        }
    }
    found
}
