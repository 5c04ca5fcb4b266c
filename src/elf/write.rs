//! Planning a RUNPATH / interpreter change as data. Strategies, least invasive first:
//! 1. in place: the new string fits the old one's span and nothing else shares that span;
//! 2. a spare DT_NULL slot becomes DT_RUNPATH when the file has no R(UN)PATH entry;
//! 3. growth: one read-only PT_LOAD appended at the end of the file, holding a copy of
//!    `.dynstr` plus the new strings (and a longer interpreter). Old string offsets stay valid
//!    in the copy, so `.dynsym`, hash and version tables are untouched. The program header
//!    table needs one more entry: a PT_NULL slot if there is one; else the table grows in
//!    place, and the few sections right after it (notes, hash and symbol tables: data only the
//!    dynamic section and program headers point at) move into the new segment; only when
//!    those cannot move does the table itself move after the segment.
//!
//! Anything that cannot be proven safe is a [`Refusal`]; `plan` never touches the file.

use goblin::elf::dynamic::{DT_RPATH, DT_RUNPATH, DT_STRSZ, DT_STRTAB};
use goblin::elf::header::ET_DYN;
use goblin::elf::program_header::{
    PF_R, PT_GNU_PROPERTY, PT_INTERP, PT_LOAD, PT_NOTE, PT_NULL, PT_PHDR,
};
use goblin::elf::section_header::{SHF_ALLOC, SHT_NOBITS};
use goblin::elf::ProgramHeader;

use super::read::{slice, strtab_string, Dynamic, ElfInfo, StrTab};
use super::refs::string_refs;

pub use super::apply::{apply, WriteError};

/// What the caller wants; `None` leaves that part alone. Values are raw bytes without NUL.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Change {
    pub runpath: Option<Vec<u8>>,
    pub interpreter: Option<Vec<u8>>,
}

/// Overwrite `bytes.len()` bytes at `offset` of the original file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Patch {
    pub offset: u64,
    pub bytes: Vec<u8>,
}

/// The most invasive technique an edit uses, in increasing order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Strategy {
    InPlace,
    DtNullSlot,
    AppendedLoad,
}

/// A planned edit: patches inside the original bytes plus bytes appended after them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edit {
    pub patches: Vec<Patch>,
    pub tail: Vec<u8>,
    pub strategy: Strategy,
    /// One line for a dry run / report, e.g. "RUNPATH rewritten in place".
    pub description: String,
    /// What the result must read back as (checked by `apply`).
    pub change: Change,
    /// The address of the original PT_LOAD that mapped nothing but the replaced `.dynstr`,
    /// re-pointed at the new segment (the one original PT_LOAD allowed to change).
    pub retired_load: Option<u64>,
}

/// Why a file is left alone. The caller adds the path.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    #[error("{0} contains a NUL byte")]
    NulInValue(&'static str),
    #[error("not dynamically linked (no PT_DYNAMIC)")]
    NotDynamic,
    #[error("no dynamic string table (DT_STRTAB)")]
    NoStringTable,
    #[error("no PT_INTERP to change")]
    NoInterpreter,
    #[error("no RUNPATH/RPATH entry and no spare DT_NULL slot in .dynamic to add one (moving .dynamic is not supported)")]
    NoSpareDynamicSlot,
    #[error("no PT_NULL program header to reuse for the new segment, {0}")]
    NoProgramHeaderSlot(String),
    #[error("{0}")]
    Unsupported(String),
}

/// True when `[offset, offset + len)` shares a byte with the ELF header, the program header
/// table or the dynamic segment: a string written there would rewrite the file's structure.
fn overlaps_headers(info: &ElfInfo, offset: u64, len: u64) -> bool {
    let codec = info.codec();
    let ehsize = if codec.word_size() == 8 { 64 } else { 52 };
    let phdrs = (
        info.phoff,
        info.program_headers.len() as u64 * codec.phdr_size() as u64,
    );
    let dynamic = info
        .dynamic
        .as_ref()
        .map_or((0, 0), |d| (d.range.offset, d.range.size));
    let end = offset.saturating_add(len);
    [(0, ehsize), phdrs, dynamic]
        .into_iter()
        .any(|(start, size)| size > 0 && offset < start.saturating_add(size) && start < end)
}

/// Plan `change` against `info` (parsed from `bytes`). `Ok(None)`: already as requested.
pub fn plan(info: &ElfInfo, bytes: &[u8], change: &Change) -> Result<Option<Edit>, Refusal> {
    for (name, v) in [
        ("RUNPATH", &change.runpath),
        ("interpreter", &change.interpreter),
    ] {
        if v.as_ref().is_some_and(|v| v.contains(&0)) {
            return Err(Refusal::NulInValue(name));
        }
    }
    let mut p = Planner {
        info,
        bytes,
        patches: Vec::new(),
        grow: Growth::default(),
        notes: Vec::new(),
        strategy: Strategy::InPlace,
    };
    if let Some(new) = &change.runpath {
        p.runpath(new)?;
    }
    if let Some(new) = &change.interpreter {
        p.interpreter(new)?;
    }
    if p.grow.needed() {
        p.append_segment()?;
    }
    if p.patches.is_empty() && p.grow.tail.is_empty() {
        return Ok(None);
    }
    p.patches.sort_by_key(|x| x.offset);
    if p.patches
        .windows(2)
        .any(|w| w[0].offset + w[0].bytes.len() as u64 > w[1].offset)
    {
        return Err(Refusal::Unsupported(
            "internal: planned patches overlap".into(),
        ));
    }
    Ok(Some(Edit {
        patches: p.patches,
        tail: p.grow.tail,
        strategy: p.strategy,
        description: p.notes.join("; "),
        change: change.clone(),
        retired_load: p.grow.retired_load,
    }))
}

/// The file range moved out of the way of a grown program header table.
struct Unit {
    off: u64,
    end: u64,
    vaddr: u64,
    sections: u64,
    /// The largest alignment inside it: the copy keeps `off` modulo this.
    align: u64,
}

/// Segments that only describe data (notes, the interpreter string): they move with it.
const MOVABLE_SEGMENTS: [u32; 3] = [PT_NOTE, PT_GNU_PROPERTY, PT_INTERP];

/// Section types only dynamic tags, program headers and section headers point at.
const MOVABLE_SECTIONS: [u32; 10] = [
    goblin::elf::section_header::SHT_NOTE,
    goblin::elf::section_header::SHT_HASH,
    goblin::elf::section_header::SHT_GNU_HASH,
    goblin::elf::section_header::SHT_DYNSYM,
    goblin::elf::section_header::SHT_GNU_VERSYM,
    goblin::elf::section_header::SHT_GNU_VERNEED,
    goblin::elf::section_header::SHT_GNU_VERDEF,
    goblin::elf::section_header::SHT_RELA,
    goblin::elf::section_header::SHT_REL,
    19, // SHT_RELR
];

/// Dynamic tags that point at movable sections; the loader reads each table through them.
const MOVABLE_TAGS: [u64; 10] = [
    goblin::elf::dynamic::DT_HASH,
    goblin::elf::dynamic::DT_GNU_HASH,
    goblin::elf::dynamic::DT_SYMTAB,
    goblin::elf::dynamic::DT_VERSYM,
    goblin::elf::dynamic::DT_VERNEED,
    goblin::elf::dynamic::DT_VERDEF,
    goblin::elf::dynamic::DT_RELA,
    goblin::elf::dynamic::DT_REL,
    goblin::elf::dynamic::DT_JMPREL,
    36, // DT_RELR
];

/// Whether a dynamic tag's value is an address (per the gABI's d_ptr use, and the GNU
/// address range).
fn is_address_tag(tag: u64) -> bool {
    use goblin::elf::dynamic::*;
    matches!(
        tag,
        DT_PLTGOT
            | DT_HASH
            | DT_STRTAB
            | DT_SYMTAB
            | DT_RELA
            | DT_INIT
            | DT_FINI
            | DT_REL
            | DT_JMPREL
            | DT_INIT_ARRAY
            | DT_FINI_ARRAY
            | DT_PREINIT_ARRAY
            | 34 // DT_SYMTAB_SHNDX
            | 36 // DT_RELR
            | DT_VERSYM
            | DT_VERDEF
            | DT_VERNEED
    ) || (0x6ffffe00..=0x6ffffeff).contains(&tag)
}

/// Work that needs the appended segment, collected before it is laid out.
#[derive(Default)]
struct Growth {
    /// Bytes to add after the copied `.dynstr`, and the dynamic entries to point at them
    /// (entry index → offset in `new_strings`).
    new_strings: Vec<u8>,
    string_entries: Vec<(usize, u64, u64)>, // (entry index, tag, offset in new_strings)
    /// Spans of the old table to NUL in the copy (and in place): old RUNPATH strings.
    blank: Vec<(u64, u64)>,
    interpreter: Option<Vec<u8>>,
    /// The bytes moved out of the way of a grown program header table.
    moved: Vec<u8>,
    /// See [`Edit::retired_load`].
    retired_load: Option<u64>,
    tail: Vec<u8>,
}

impl Growth {
    fn needed(&self) -> bool {
        !self.string_entries.is_empty() || self.interpreter.is_some()
    }
}

struct Planner<'a> {
    info: &'a ElfInfo,
    bytes: &'a [u8],
    patches: Vec<Patch>,
    grow: Growth,
    notes: Vec<String>,
    strategy: Strategy,
}

impl Planner<'_> {
    fn use_strategy(&mut self, s: Strategy, note: String) {
        self.strategy = self.strategy.max(s);
        self.notes.push(note);
    }

    fn runpath(&mut self, new: &[u8]) -> Result<(), Refusal> {
        let d = self.info.dynamic.as_ref().ok_or(Refusal::NotDynamic)?;
        let strtab = d.strtab.ok_or(Refusal::NoStringTable)?;
        // Every R(UN)PATH entry gets the new value, keeping its tag: RPATH stays RPATH.
        let targets: Vec<(usize, u64, u64)> = (d.entries.iter().enumerate())
            .filter(|(_, e)| e.0 == DT_RPATH || e.0 == DT_RUNPATH)
            .map(|(i, e)| (i, e.0, e.1))
            .collect();
        if targets.is_empty() {
            if d.spare_null_slots == 0 {
                return Err(Refusal::NoSpareDynamicSlot);
            }
            let slot = d.entries.len();
            self.grow.string_entries.push((slot, DT_RUNPATH, 0));
            self.grow.new_strings.extend_from_slice(new);
            self.grow.new_strings.push(0);
            self.use_strategy(
                Strategy::DtNullSlot,
                "DT_RUNPATH added in a spare DT_NULL slot".into(),
            );
            return Ok(());
        }
        let old: Vec<&[u8]> = targets
            .iter()
            .map(|t| strtab_string(self.bytes, &strtab, t.2).unwrap_or_default())
            .collect();
        if old.iter().all(|o| *o == new) {
            return Ok(());
        }
        let mut spans: Vec<(u64, u64)> = targets
            .iter()
            .zip(&old)
            .map(|(t, o)| (t.2, t.2 + o.len() as u64))
            .collect();
        spans.sort_unstable();
        spans.dedup();
        let unshared = self.unshared(d, &strtab, &spans);
        let kinds = if targets.iter().any(|t| t.1 == DT_RPATH) {
            "RPATH"
        } else {
            "RUNPATH"
        };
        if spans
            .iter()
            .any(|(s, e)| overlaps_headers(self.info, strtab.offset + s, e - s + 1))
        {
            return Err(Refusal::Unsupported(
                "the RUNPATH string overlaps the ELF header, the program headers or .dynamic"
                    .into(),
            ));
        }
        if let Ok(()) = &unshared {
            if spans.iter().all(|(s, e)| new.len() as u64 <= e - s) {
                for (s, e) in &spans {
                    let mut b = new.to_vec();
                    b.resize((e - s) as usize, 0);
                    self.patches.push(Patch {
                        offset: strtab.offset + s,
                        bytes: b,
                    });
                }
                self.use_strategy(Strategy::InPlace, format!("{kinds} rewritten in place"));
                return Ok(());
            }
            self.grow.blank = spans.clone();
        }
        for t in &targets {
            self.grow.string_entries.push((t.0, t.1, 0));
        }
        self.grow.new_strings.extend_from_slice(new);
        self.grow.new_strings.push(0);
        let why = match unshared {
            Ok(()) => "longer than the old string".to_string(),
            Err(e) => format!("old string not editable in place: {e}"),
        };
        self.notes
            .push(format!("{kinds} set in a copy of .dynstr ({why})"));
        Ok(())
    }

    /// Ok if no other string reference overlaps any of `spans` (`[start, NUL]` offsets).
    fn unshared(&self, d: &Dynamic, strtab: &StrTab, spans: &[(u64, u64)]) -> Result<(), String> {
        let mut refs = string_refs(self.info, d, self.bytes)?;
        // Distinct R(UN)PATH strings may share tails with each other, too.
        refs.extend(spans.iter().map(|s| s.0));
        for r in refs {
            let end = r + strtab_string(self.bytes, strtab, r).map_or(0, |s| s.len() as u64);
            for &(s, e) in spans {
                // A reference to exactly the NUL is an empty string, which NUL-filling keeps.
                if (r, end) != (s, e) && r != e && r <= e && end >= s {
                    return Err(format!("string offset {r:#x} shares bytes with it"));
                }
            }
        }
        Ok(())
    }

    fn interpreter(&mut self, new: &[u8]) -> Result<(), Refusal> {
        let interp = self
            .info
            .interpreter
            .as_ref()
            .ok_or(Refusal::NoInterpreter)?;
        if interp.path == new {
            return Ok(());
        }
        if overlaps_headers(self.info, interp.range.offset, interp.range.size) {
            return Err(Refusal::Unsupported(
                "PT_INTERP's bytes overlap the ELF header, the program headers or .dynamic".into(),
            ));
        }
        if new.len() < interp.range.size as usize {
            let mut b = new.to_vec();
            b.resize(interp.range.size as usize, 0);
            self.patches.push(Patch {
                offset: interp.range.offset,
                bytes: b,
            });
            self.use_strategy(Strategy::InPlace, "interpreter rewritten in place".into());
        } else {
            self.grow.interpreter = Some(new.to_vec());
            self.notes
                .push("PT_INTERP moved to the appended segment (longer)".into());
        }
        Ok(())
    }

    fn append_segment(&mut self) -> Result<(), Refusal> {
        let info = self.info;
        let codec = info.codec();
        let unsupported = |m: &str| Refusal::Unsupported(m.to_string());
        let loads: Vec<&ProgramHeader> = info.loads().collect();
        if loads.windows(2).any(|w| w[0].p_vaddr > w[1].p_vaddr) {
            return Err(unsupported("PT_LOAD entries are not sorted by address"));
        }
        let last_load = info
            .program_headers
            .iter()
            .rposition(|p| p.p_type == PT_LOAD)
            .ok_or_else(|| unsupported("no PT_LOAD"))?;

        // Where the new table entry goes: a PT_NULL slot, the table grown where it is (what
        // binutils' strip and objcopy can re-lay), or, failing both, a table moved after the
        // segment.
        // A PT_LOAD mapping only the `.dynstr` being replaced (patchelf's and auditwheel's
        // layout) must be the one reused: left behind with no section in it, binutils would
        // rewrite it as an empty segment at an unaligned offset, which no loader accepts.
        let lone_dynstr = self.lone_dynstr_load();
        let null_slot = lone_dynstr.or_else(|| {
            info.program_headers
                .iter()
                .position(|p| p.p_type == PT_NULL)
        });
        self.grow.retired_load = lone_dynstr.map(|k| info.program_headers[k].p_vaddr);
        let (in_the_way, stays) = match null_slot {
            Some(_) => (None, String::new()),
            None => match self.in_the_way() {
                Ok(unit) => (Some(unit), String::new()),
                Err(why) => (None, why),
            },
        };
        let cannot = |and: &str| {
            Refusal::NoProgramHeaderSlot(format!(
                "the table cannot grow in place ({stays}), and {and}"
            ))
        };
        let move_table = match (null_slot, &in_the_way) {
            (Some(_), _) | (None, Some(_)) => false,
            (None, None) if info.e_type == ET_DYN && info.interpreter.is_none() => true,
            (None, None) if info.interpreter.is_some() => {
                return Err(cannot("an executable's program header table cannot move"))
            }
            (None, None) => {
                return Err(cannot(
                    "the program header table only moves in shared libraries",
                ))
            }
        };
        if move_table && info.program_headers.iter().any(|p| p.p_type == PT_PHDR) {
            return Err(cannot(
                "the table cannot move out of memory while PT_PHDR maps it",
            ));
        }
        if null_slot.is_none() && info.program_headers.len() + 1 >= 0xffff {
            return Err(unsupported("too many program headers"));
        }

        // Placement: P covers every alignment the loader may apply; the segment starts in a
        // P-region above everything mapped, so it shares no page with another segment, and
        // its file offset is only page-aligned (congruent mod P) to keep padding small.
        let page = info.arch_page_size();
        let align = loads
            .iter()
            .map(|p| p.p_align)
            .chain([page])
            .max()
            .unwrap_or(page);
        if !align.is_power_of_two() {
            return Err(unsupported("PT_LOAD alignment is not a power of two"));
        }
        let file_len = self.bytes.len() as u64;
        let seg_off = file_len.next_multiple_of(page);
        let top = info
            .loads()
            .map(|p| p.p_vaddr.saturating_add(p.p_memsz))
            .max()
            .unwrap_or(0);
        let seg_vaddr = top
            .checked_next_multiple_of(align)
            .ok_or_else(|| unsupported("address space exhausted"))?
            + seg_off % align;
        // Whatever the segment will hold (copies of file bytes, the new strings, the table)
        // must have addresses, so that no sum below wraps.
        let most = (2 * file_len)
            .saturating_add(self.grow.new_strings.len() as u64)
            .saturating_add(self.grow.interpreter.as_ref().map_or(0, |i| i.len() as u64))
            .saturating_add(page + 0x10000 * codec.phdr_size() as u64);
        if !seg_vaddr
            .checked_add(most)
            .is_some_and(|end| codec.fits_word(end))
        {
            return Err(unsupported("address space exhausted"));
        }

        let d = info.dynamic.as_ref();
        let mut seg: Vec<u8> = Vec::new();
        let phnum = info.program_headers.len() + usize::from(null_slot.is_none());
        let mut phdrs = info.program_headers.clone();

        // The bytes in the way of a grown table go first, copied whole near the segment's
        // (page-aligned) start, at the same offset modulo their largest alignment, so every
        // alignment inside them holds.
        if let Some(unit) = in_the_way.as_ref().filter(|u| u.end > u.off) {
            let pad = unit.off % unit.align;
            seg.resize(pad as usize, 0);
            self.move_unit(unit, seg_off + pad, seg_vaddr + pad, &mut phdrs)?;
            seg.extend_from_slice(&self.grow.moved);
        }

        if !self.grow.string_entries.is_empty() {
            let d = d.ok_or(Refusal::NotDynamic)?;
            let strtab = d.strtab.ok_or(Refusal::NoStringTable)?;
            let start = seg.len() as u64;
            let old =
                slice(self.bytes, strtab.offset, strtab.size).ok_or(Refusal::NoStringTable)?;
            let mut copy = old.to_vec();
            for &(s, e) in &self.grow.blank {
                copy[s as usize..e as usize].fill(0);
                self.patches.push(Patch {
                    offset: strtab.offset + s,
                    bytes: vec![0; (e - s) as usize],
                });
            }
            let appended_at = copy.len() as u64;
            copy.extend_from_slice(&self.grow.new_strings);
            seg.extend_from_slice(&copy);
            let (vaddr, size) = (seg_vaddr + start, copy.len() as u64);
            for (i, &(tag, _)) in d.entries.iter().enumerate() {
                match tag {
                    DT_STRTAB => self.patch_dyn(d, i, tag, vaddr),
                    DT_STRSZ => self.patch_dyn(d, i, tag, size),
                    _ => {}
                }
            }
            for &(i, tag, off) in &self.grow.string_entries.clone() {
                self.patch_dyn(d, i, tag, appended_at + off);
            }
            self.patch_section(strtab.offset, strtab.vaddr, seg_off + start, vaddr, size);
        }

        if let Some(new) = self.grow.interpreter.clone() {
            let interp = info.interpreter.as_ref().ok_or(Refusal::NoInterpreter)?;
            let start = seg.len() as u64;
            seg.extend_from_slice(&new);
            seg.push(0);
            let size = new.len() as u64 + 1;
            let ph = phdrs
                .iter_mut()
                .find(|p| p.p_type == goblin::elf::program_header::PT_INTERP)
                .ok_or(Refusal::NoInterpreter)?;
            let old_vaddr = ph.p_vaddr;
            (ph.p_offset, ph.p_vaddr, ph.p_paddr, ph.p_filesz, ph.p_memsz) = (
                seg_off + start,
                seg_vaddr + start,
                seg_vaddr + start,
                size,
                size,
            );
            self.patch_section(
                interp.range.offset,
                old_vaddr,
                seg_off + start,
                seg_vaddr + start,
                size,
            );
        }

        // A moved table goes after the segment, in no PT_LOAD: objcopy/strip re-lay any
        // segment that includes the program headers as if they sat at its start, and shifted
        // ours onto .bss's page (a segfault after `strip -g`). glibc's dlopen copies a table
        // that no segment maps; a PT_PHDR would need it mapped, so that case is refused above.
        let seg_size = seg.len() as u64;
        let table_pos = seg.len().next_multiple_of(8) as u64;
        let load = ProgramHeader {
            p_type: PT_LOAD,
            p_flags: PF_R,
            p_offset: seg_off,
            p_vaddr: seg_vaddr,
            p_paddr: seg_vaddr,
            p_filesz: seg_size,
            p_memsz: seg_size,
            p_align: align,
        };
        if !codec.fits_word(seg_vaddr + seg_size) {
            return Err(unsupported(
                "new segment does not fit a 32-bit address space",
            ));
        }
        // The loader maps PT_LOADs in table order and expects ascending addresses, so the new
        // (highest) one goes right after the last existing PT_LOAD.
        match null_slot {
            Some(k) if k > last_load => phdrs[k] = load,
            Some(k) => {
                phdrs.remove(k);
                phdrs.insert(last_load, load);
            }
            None => phdrs.insert(last_load + 1, load),
        }
        if in_the_way.is_some() {
            // The table grows where it is: PT_PHDR must cover the new entry too.
            let size = (phdrs.len() * codec.phdr_size()) as u64;
            for p in phdrs.iter_mut().filter(|p| p.p_type == PT_PHDR) {
                (p.p_filesz, p.p_memsz) = (size, size);
            }
        }
        let table: Vec<u8> = phdrs.iter().flat_map(|p| codec.encode_phdr(p)).collect();
        // The table is rewritten where it is (unless it moves): any other segment whose bytes
        // still share its span once moved ones point at their copies (an interpreter string
        // inside it, in a crafted file) would change too.
        if !move_table {
            let span = (info.phoff, info.phoff.saturating_add(table.len() as u64));
            if phdrs.iter().any(|p| {
                ![PT_LOAD, PT_PHDR, PT_NULL].contains(&p.p_type)
                    && p.p_filesz > 0
                    && p.p_offset < span.1
                    && span.0 < p.p_offset.saturating_add(p.p_filesz)
            }) {
                return Err(unsupported(
                    "a segment's bytes lie inside the program header table",
                ));
            }
        }
        if let Some(unit) = &in_the_way {
            // The grown table over the old one and the start of what moved; the rest of what
            // moved is zeroed, so no stale copy (of a note, say) is found there.
            let table_end = info.phoff + table.len() as u64;
            self.patches.push(Patch {
                offset: info.phoff,
                bytes: table,
            });
            if unit.end > table_end {
                self.patches.push(Patch {
                    offset: table_end,
                    bytes: vec![0; (unit.end - table_end) as usize],
                });
            }
            let (_, phnum_at) = codec.ehdr_phoff_phnum();
            let mut b = Vec::new();
            codec.put_u16(&mut b, phnum as u16);
            self.patches.push(Patch {
                offset: phnum_at,
                bytes: b,
            });
        } else if move_table {
            seg.resize(table_pos as usize, 0);
            seg.extend_from_slice(&table);
            let (phoff_at, phnum_at) = codec.ehdr_phoff_phnum();
            let mut b = Vec::new();
            codec.put_word(&mut b, seg_off + table_pos);
            self.patches.push(Patch {
                offset: phoff_at,
                bytes: b,
            });
            let mut b = Vec::new();
            codec.put_u16(&mut b, phnum as u16);
            self.patches.push(Patch {
                offset: phnum_at,
                bytes: b,
            });
        } else {
            self.patches.push(Patch {
                offset: info.phoff,
                bytes: table,
            });
        }
        self.grow.tail = vec![0; (seg_off - file_len) as usize];
        self.grow.tail.extend_from_slice(&seg);
        self.use_strategy(
            Strategy::AppendedLoad,
            format!(
                "appended PT_LOAD at offset {seg_off:#x} vaddr {seg_vaddr:#x} ({seg_size} bytes, align {align:#x}; {})",
                match (&in_the_way, move_table) {
                    (Some(u), _) if u.end > u.off => format!(
                        "program header table grown in place, {} moved into the segment",
                        crate::report::count(u.sections, "section")
                    ),
                    (Some(_), _) => "program header table grown in place".into(),
                    (None, true) => "program header table moved after it".into(),
                    (None, false) if lone_dynstr.is_some() =>
                        "replacing the PT_LOAD that held only the old .dynstr".into(),
                    (None, false) => "PT_NULL slot reused".into(),
                }
            ),
        );
        Ok(())
    }

    /// The PT_LOAD that maps the `.dynstr` being copied and nothing else (no other section,
    /// segment, dynamic pointer or `.bss`), if there is one.
    fn lone_dynstr_load(&self) -> Option<usize> {
        let info = self.info;
        if self.grow.string_entries.is_empty() || info.section_headers.is_empty() {
            return None;
        }
        let strtab = info.dynamic.as_ref()?.strtab?;
        let k = info.program_headers.iter().position(|p| {
            p.p_type == PT_LOAD
                && p.p_offset <= strtab.offset
                && strtab.offset.saturating_add(strtab.size)
                    <= p.p_offset.saturating_add(p.p_filesz)
        })?;
        let load = &info.program_headers[k];
        let (off, end) = (load.p_offset, load.p_offset.saturating_add(load.p_filesz));
        let overlaps = |o: u64, size: u64| size > 0 && o < end && off < o.saturating_add(size);
        let others = info.section_headers.iter().any(|s| {
            s.sh_flags & u64::from(SHF_ALLOC) != 0
                && (s.sh_offset, s.sh_size) != (strtab.offset, strtab.size)
                && ((s.sh_type != SHT_NOBITS && overlaps(s.sh_offset, s.sh_size)) || {
                    // .bss and friends occupy no file bytes but do occupy its addresses.
                    let (a, e) = (load.p_vaddr, load.p_vaddr.saturating_add(load.p_memsz));
                    s.sh_size > 0 && s.sh_addr < e && a < s.sh_addr.saturating_add(s.sh_size)
                })
        });
        let segments = info
            .program_headers
            .iter()
            .enumerate()
            .any(|(i, p)| i != k && p.p_type != PT_NULL && overlaps(p.p_offset, p.p_filesz));
        let (a, e) = (load.p_vaddr, load.p_vaddr.saturating_add(load.p_memsz));
        let pointers = info.dynamic.as_ref().is_some_and(|d| {
            d.entries.iter().any(|&(tag, val)| {
                tag != goblin::elf::dynamic::DT_STRTAB && is_address_tag(tag) && val >= a && val < e
            })
        });
        let sole = info.section_headers.iter().any(|s| {
            (s.sh_offset, s.sh_addr, s.sh_size) == (strtab.offset, strtab.vaddr, strtab.size)
        });
        let headers = overlaps_headers(info, load.p_offset, load.p_filesz);
        (load.p_memsz == load.p_filesz && sole && !others && !segments && !pointers && !headers)
            .then_some(k)
    }

    /// The bytes right after the program header table that one more entry would overwrite,
    /// widened to whole sections and whole note/interpreter segments, when all of it can
    /// move: data that only program headers, section headers and the dynamic tags below point
    /// at. Code, `.dynamic`, `.dynstr` and anything another segment covers stay.
    fn in_the_way(&self) -> Result<Unit, String> {
        let info = self.info;
        let codec = info.codec();
        let entry = codec.phdr_size() as u64;
        let ehsize = if codec.word_size() == 8 { 64 } else { 52 };
        if info.phoff != ehsize {
            return Err("the program header table does not follow the ELF header".into());
        }
        let old_end = info.phoff + info.program_headers.len() as u64 * entry;
        let new_end = old_end + entry;
        let first = info.loads().next().ok_or("no PT_LOAD")?;
        if first.p_offset != 0 || first.p_filesz < new_end {
            return Err("the first PT_LOAD does not map the headers".into());
        }
        if info.section_headers.is_empty() {
            return Err("no section headers tell what follows the table".into());
        }
        let alloc: Vec<&goblin::elf::SectionHeader> = info
            .section_headers
            .iter()
            .filter(|s| s.sh_flags & u64::from(SHF_ALLOC) != 0)
            .filter(|s| s.sh_type != SHT_NOBITS && s.sh_size > 0)
            .collect();
        let overlaps =
            |off: u64, size: u64, lo: u64, hi: u64| off < hi && lo < off.saturating_add(size);
        // The bytes the grown table takes, and whatever occupies them: sections, segments other
        // than the loads and the table's own, and anything a dynamic tag points at.
        let (mut lo, mut hi) = (old_end, new_end);
        let first_vaddr = first.p_vaddr;
        let occupied = alloc
            .iter()
            .any(|s| overlaps(s.sh_offset, s.sh_size, lo, hi))
            || info.program_headers.iter().any(|p| {
                ![PT_LOAD, PT_PHDR, PT_NULL].contains(&p.p_type)
                    && overlaps(p.p_offset, p.p_filesz, lo, hi)
            })
            || info.dynamic.as_ref().is_some_and(|d| {
                d.entries.iter().any(|&(tag, val)| {
                    is_address_tag(tag)
                        && val >= first_vaddr.saturating_add(lo)
                        && val < first_vaddr.saturating_add(hi)
                })
            });
        if !occupied {
            return Ok(Unit {
                off: new_end,
                end: new_end,
                vaddr: 0,
                sections: 0,
                align: 1,
            });
        }
        // Whole sections and whole note/interpreter segments: widen until nothing straddles.
        loop {
            let before = (lo, hi);
            let spans = alloc.iter().map(|s| (s.sh_offset, s.sh_size)).chain(
                info.program_headers
                    .iter()
                    .filter(|p| MOVABLE_SEGMENTS.contains(&p.p_type))
                    .map(|p| (p.p_offset, p.p_filesz)),
            );
            for (off, size) in spans {
                if size > 0 && overlaps(off, size, lo, hi) {
                    (lo, hi) = (lo.min(off), hi.max(off.saturating_add(size)));
                }
            }
            if (lo, hi) == before {
                break;
            }
        }
        if lo < old_end || hi > first.p_filesz {
            return Err("the sections after the table are not all in the first PT_LOAD".into());
        }
        if info.section_headers.iter().any(|s| {
            s.sh_flags & u64::from(SHF_ALLOC) == 0
                && s.sh_type != SHT_NOBITS
                && s.sh_size > 0
                && overlaps(s.sh_offset, s.sh_size, lo, hi)
        }) {
            return Err("a section that is not loaded lies among them".into());
        }
        let shdrs = info.section_headers.len() as u64 * codec.shdr_size();
        if overlaps(info.shoff, shdrs, lo, hi) {
            return Err("the section header table lies among them".into());
        }
        for p in &info.program_headers {
            let movable = [
                PT_LOAD,
                PT_PHDR,
                PT_NOTE,
                PT_GNU_PROPERTY,
                PT_INTERP,
                PT_NULL,
            ];
            if !movable.contains(&p.p_type) && overlaps(p.p_offset, p.p_filesz, lo, hi) {
                return Err(format!("a segment of type {:#x} covers them", p.p_type));
            }
        }
        if self.grow.interpreter.is_some()
            && info
                .interpreter
                .as_ref()
                .is_some_and(|i| overlaps(i.range.offset, i.range.size, lo, hi))
        {
            return Err("the interpreter both grows and is in the way".into());
        }
        let mut sections = 0;
        let mut align = info
            .program_headers
            .iter()
            .filter(|p| MOVABLE_SEGMENTS.contains(&p.p_type))
            .filter(|p| overlaps(p.p_offset, p.p_filesz, lo, hi))
            .map(|p| p.p_align)
            .max()
            .unwrap_or(1);
        for s in alloc
            .iter()
            .filter(|s| overlaps(s.sh_offset, s.sh_size, lo, hi))
        {
            align = align.max(s.sh_addralign);
            let is_interp = info
                .interpreter
                .as_ref()
                .is_some_and(|i| (i.range.offset, i.range.size) == (s.sh_offset, s.sh_size));
            if !(MOVABLE_SECTIONS.contains(&s.sh_type) || is_interp) {
                return Err(format!(
                    "a section of type {:#x} at {:#x} cannot move",
                    s.sh_type, s.sh_offset
                ));
            }
            sections += 1;
        }
        let vaddr = first
            .p_vaddr
            .checked_add(lo)
            .filter(|v| v.checked_add(hi - lo).is_some())
            .ok_or("addresses overflow")?;
        // Everything that moves must sit at the address its offset implies, or the copy would
        // not be where its pointers say.
        let at_home = |off: u64, addr: u64| addr == vaddr + (off - lo);
        for s in alloc
            .iter()
            .filter(|s| overlaps(s.sh_offset, s.sh_size, lo, hi))
        {
            if !at_home(s.sh_offset, s.sh_addr) {
                return Err(format!(
                    "section at {:#x} is not mapped at its offset",
                    s.sh_offset
                ));
            }
        }
        for p in info.program_headers.iter().filter(|p| {
            MOVABLE_SEGMENTS.contains(&p.p_type)
                && p.p_filesz > 0
                && overlaps(p.p_offset, p.p_filesz, lo, hi)
        }) {
            if !at_home(p.p_offset, p.p_vaddr) {
                return Err(format!(
                    "segment at {:#x} is not mapped at its offset",
                    p.p_offset
                ));
            }
        }
        if let Some(d) = &info.dynamic {
            for &(tag, val) in &d.entries {
                let points_in = val >= vaddr && val < vaddr + (hi - lo);
                if points_in && is_address_tag(tag) && !MOVABLE_TAGS.contains(&tag) {
                    return Err(format!("dynamic tag {tag:#x} points into them"));
                }
            }
        }
        let page = info.arch_page_size();
        if !align.is_power_of_two() || align > page {
            return Err(format!("an alignment of {align:#x} inside them"));
        }
        Ok(Unit {
            off: lo,
            end: hi,
            vaddr,
            sections,
            align,
        })
    }

    /// Copies `unit` to the start of the new segment and points everything that named it
    /// (section headers, note/interpreter program headers, dynamic tags) at the copy.
    fn move_unit(
        &mut self,
        unit: &Unit,
        seg_off: u64,
        seg_vaddr: u64,
        phdrs: &mut [ProgramHeader],
    ) -> Result<(), Refusal> {
        let info = self.info;
        let len = unit.end - unit.off;
        let mut moved = slice(self.bytes, unit.off, len)
            .ok_or_else(|| Refusal::Unsupported("sections past the end of the file".into()))?
            .to_vec();
        // A patch already planned inside (a shorter interpreter in place) goes to the copy.
        let mut kept = Vec::new();
        for p in std::mem::take(&mut self.patches) {
            let end = p.offset + p.bytes.len() as u64;
            if p.offset >= unit.off && end <= unit.end {
                let at = (p.offset - unit.off) as usize;
                moved[at..at + p.bytes.len()].copy_from_slice(&p.bytes);
            } else if p.offset < unit.end && unit.off < end {
                return Err(Refusal::Unsupported(
                    "a planned change straddles the sections that move".into(),
                ));
            } else {
                kept.push(p);
            }
        }
        self.patches = kept;
        self.grow.moved = moved;
        let off = |o: u64| seg_off + (o - unit.off);
        let addr = |a: u64| seg_vaddr + (a - unit.vaddr);
        for p in phdrs.iter_mut() {
            let inside = p.p_filesz > 0
                && p.p_offset >= unit.off
                && p.p_offset.saturating_add(p.p_filesz) <= unit.end;
            if MOVABLE_SEGMENTS.contains(&p.p_type) && inside {
                (p.p_offset, p.p_vaddr, p.p_paddr) =
                    (off(p.p_offset), addr(p.p_vaddr), addr(p.p_vaddr));
            }
        }
        let moved_sections: Vec<(u64, u64, u64)> = info
            .section_headers
            .iter()
            .filter(|s| s.sh_flags & u64::from(SHF_ALLOC) != 0 && s.sh_type != SHT_NOBITS)
            .filter(|s| s.sh_size > 0 && s.sh_offset >= unit.off)
            .filter(|s| s.sh_offset.saturating_add(s.sh_size) <= unit.end)
            .map(|s| (s.sh_offset, s.sh_addr, s.sh_size))
            .collect();
        for (o, a, size) in moved_sections {
            self.patch_section(o, a, off(o), addr(a), size);
        }
        if let Some(d) = &info.dynamic {
            for (i, &(tag, val)) in d.entries.iter().enumerate() {
                if MOVABLE_TAGS.contains(&tag)
                    && val >= unit.vaddr
                    && val < unit.vaddr + (unit.end - unit.off)
                {
                    self.patch_dyn(d, i, tag, addr(val));
                }
            }
        }
        Ok(())
    }

    fn patch_dyn(&mut self, d: &Dynamic, index: usize, tag: u64, val: u64) {
        self.patches.push(Patch {
            offset: d.entry_offset(index),
            bytes: self.info.codec().encode_dyn(tag, val),
        });
    }

    /// Point the section header that described old data (matched by offset and address) at
    /// its new home, so `strip`/`objcopy` carry the live copy, not the stale one.
    fn patch_section(&mut self, old_off: u64, old_vaddr: u64, off: u64, vaddr: u64, size: u64) {
        let codec = self.info.codec();
        let (a, o, s) = codec.shdr_addr_offset_size();
        let entsize = codec.shdr_size();
        for (i, sh) in self.info.section_headers.iter().enumerate() {
            if sh.sh_offset == old_off && sh.sh_addr == old_vaddr && sh.sh_size > 0 {
                let base = self.info.shoff + i as u64 * entsize;
                for (field, v) in [(a, vaddr), (o, off), (s, size)] {
                    let mut b = Vec::new();
                    codec.put_word(&mut b, v);
                    self.patches.push(Patch {
                        offset: base + field,
                        bytes: b,
                    });
                }
            }
        }
    }
}
