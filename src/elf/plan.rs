//! Planning a RUNPATH / interpreter change as data, with patchelf's layout strategies (see
//! [`Placement`]), least invasive first:
//! 1. in place: the new string fits the old one's span and nothing else shares that span;
//!    a file without R(UN)PATH takes the entry in a spare DT_NULL slot of `.dynamic`;
//! 2. the last segment grows, when it ends the file with `.dynstr` and the old string last
//!    (what strategy 3 lays out): repeated runs converge;
//! 3. one PT_LOAD appended at the end of the file, holding a longer interpreter, a copy of
//!    `.dynamic` when it has no spare slot for a new entry, and a copy of `.dynstr` plus the
//!    new strings. Old string offsets stay valid in the copy, so `.dynsym`, hash and version
//!    tables are untouched. Its program header takes the PT_LOAD that mapped only the old
//!    `.dynstr`, a PT_NULL or empty PT_LOAD entry; else the table grows in place and the
//!    sections right after it (`.interp`, notes, hash, symbol, version and relocation tables:
//!    data only program headers, section headers and dynamic tags point at) move into the new
//!    segment; only in a library whose table cannot grow does it move to the new segment's
//!    start.
//!
//! Anything that cannot be proven safe is an [`ElfRefusal`]; `plan_edit` never touches the file.

use goblin::elf::dynamic::{DT_RPATH, DT_RUNPATH, DT_STRSZ, DT_STRTAB};
use goblin::elf::header::ET_DYN;
use goblin::elf::program_header::{
    PF_R, PF_W, PT_GNU_PROPERTY, PT_INTERP, PT_LOAD, PT_NOTE, PT_NULL, PT_PHDR,
};
use goblin::elf::section_header::{SHF_ALLOC, SHT_NOBITS};
use goblin::elf::{ProgramHeader, SectionHeader};

use super::read::{slice, strtab_string, Dynamic, ElfInfo, StrTab};
use super::refs::string_refs;

/// What the caller wants; `None` leaves that part alone. Values are raw bytes without NUL.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ElfChange {
    /// The new search path: every DT_RPATH and DT_RUNPATH entry gets it and keeps its tag; a
    /// file with neither gets a DT_RUNPATH.
    pub runpath: Option<Vec<u8>>,
    /// The new PT_INTERP path; a file without PT_INTERP is refused, not given one.
    pub interpreter: Option<Vec<u8>>,
}

/// Overwrite `bytes.len()` bytes at `offset` of the original file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overwrite {
    /// From the start of the original file.
    pub offset: u64,
    /// What replaces the original bytes there (a string padded with NULs, a header, an entry).
    pub bytes: Vec<u8>,
}

/// Where an edit put what did not fit where it was: patchelf's layout strategies, each a
/// unit of the writer, least invasive first. Reported as `placement` in `--report json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Placement {
    /// Every new string fits in the bytes of the old one (the usual case after
    /// strip-store-refs: a restored store path is as long as its stripped form).
    InPlace,
    /// The last segment, which ends the file with `.dynstr` and the old string last (what an
    /// earlier run appended), grows by the longer string: repeated runs converge.
    ExtendLastSegment,
    /// A new PT_LOAD at the end (copies of `.dynstr`, a longer interpreter, `.dynamic` when it
    /// had no spare entry); its program header takes a PT_NULL entry of the table.
    NullHeaderEntry,
    /// … takes the entry of a PT_LOAD that mapped nothing.
    EmptyLoadReused,
    /// … takes the place of the PT_LOAD that mapped only the old `.dynstr`.
    DynstrLoadReplaced,
    /// … comes from the table grown where it is, the sections in its way (notes, hash,
    /// symbol, version, relocation tables, `.interp`) moved into the new segment.
    HeaderTableGrown,
    /// … comes from the table moved to the new segment's start (libraries only).
    HeaderTableMoved,
}

impl Placement {
    /// Whether the edit appended a new PT_LOAD to the file.
    pub fn appends_segment(self) -> bool {
        self >= Placement::NullHeaderEntry
    }
}

/// How the new PT_LOAD gets its program header; see [`Placement`].
enum HeaderRoom {
    /// It takes this PT_NULL entry.
    NullEntry(usize),
    /// It takes the entry of this PT_LOAD, which maps nothing.
    EmptyLoad(usize),
    /// It takes the entry of this PT_LOAD, which maps only the `.dynstr` being replaced.
    DynstrLoad(usize),
    /// The table grows by one entry where it is; what stood there moves into the segment.
    GrowTable(Unit),
    /// The table moves to the new segment's start (libraries only).
    MoveTable,
}

impl HeaderRoom {
    /// The existing table entry the new PT_LOAD takes, if it takes one.
    fn reused_entry(&self) -> Option<usize> {
        match *self {
            HeaderRoom::NullEntry(k) | HeaderRoom::EmptyLoad(k) | HeaderRoom::DynstrLoad(k) => {
                Some(k)
            }
            HeaderRoom::GrowTable(_) | HeaderRoom::MoveTable => None,
        }
    }

    /// The placement it makes, and how the dry run words it.
    fn describe(&self) -> (Placement, String) {
        match self {
            HeaderRoom::NullEntry(_) => (Placement::NullHeaderEntry, "PT_NULL slot reused".into()),
            HeaderRoom::EmptyLoad(_) => (
                Placement::EmptyLoadReused,
                "the empty PT_LOAD's entry reused".into(),
            ),
            HeaderRoom::DynstrLoad(_) => (
                Placement::DynstrLoadReplaced,
                "replacing the PT_LOAD that held only the old .dynstr".into(),
            ),
            HeaderRoom::GrowTable(u) if u.end > u.off => (
                Placement::HeaderTableGrown,
                format!(
                    "program header table grown in place, {} moved into the segment",
                    crate::shared::report::count(u.sections, "section")
                ),
            ),
            HeaderRoom::GrowTable(_) => (
                Placement::HeaderTableGrown,
                "program header table grown in place".into(),
            ),
            HeaderRoom::MoveTable => (
                Placement::HeaderTableMoved,
                "program header table moved to its start".into(),
            ),
        }
    }
}

/// The PT_LOAD being appended: where it goes, and its bytes so far.
struct NewSegment {
    /// File offset: the end of the file, page-aligned.
    off: u64,
    vaddr: u64,
    align: u64,
    bytes: Vec<u8>,
}

impl NewSegment {
    /// The file offset and address of the next byte appended to it.
    fn end(&self) -> (u64, u64) {
        let len = self.bytes.len() as u64;
        (self.off + len, self.vaddr + len)
    }
}

/// PT_PHDR follows the table: in a grown table it covers the new entry too; a table moved
/// to the new segment's start takes it there.
fn follow_table(phdrs: &mut [ProgramHeader], room: &HeaderRoom, seg: &NewSegment, size: u64) {
    for p in phdrs.iter_mut().filter(|p| p.p_type == PT_PHDR) {
        match room {
            HeaderRoom::GrowTable(_) => (p.p_filesz, p.p_memsz) = (size, size),
            HeaderRoom::MoveTable => {
                (p.p_offset, p.p_vaddr, p.p_paddr, p.p_filesz, p.p_memsz) =
                    (seg.off, seg.vaddr, seg.vaddr, size, size)
            }
            _ => {}
        }
    }
}

/// A table rewritten where it is would rewrite any other segment whose bytes still share
/// its span once moved ones point at their copies (an interpreter string inside it, in a
/// crafted file).
fn check_table_span(info: &ElfInfo, phdrs: &[ProgramHeader], len: u64) -> Result<(), ElfRefusal> {
    let span = (info.phoff, info.phoff.saturating_add(len));
    if phdrs.iter().any(|p| {
        !FRAME_SEGMENTS.contains(&p.p_type)
            && p.p_filesz > 0
            && p.p_offset < span.1
            && span.0 < p.p_offset.saturating_add(p.p_filesz)
    }) {
        return Err(ElfRefusal::Unsupported(
            "a segment's bytes lie inside the program header table".into(),
        ));
    }
    Ok(())
}

/// A planned edit: patches inside the original bytes plus bytes appended after them.
#[derive(Clone, Debug, PartialEq)]
pub struct ElfEdit {
    /// Overwrites inside the original bytes, sorted by offset and never overlapping.
    pub patches: Vec<Overwrite>,
    /// Appended after the original bytes (the new or grown segment); empty for an in-place edit.
    pub tail: Vec<u8>,
    /// The most invasive strategy the edit needed.
    pub placement: Placement,
    /// `.dynamic` had no spare entry for a new one and moved into the new segment.
    pub dynamic_moved: bool,
    /// One line for a dry run / report, e.g. "RUNPATH rewritten in place".
    pub description: String,
    /// What the result must read back as (checked by [`write_edit`](super::write_edit)).
    pub change: ElfChange,
    /// The one original PT_LOAD allowed to change: the one that mapped nothing but the
    /// replaced `.dynstr`, or an empty one, re-pointed at the new segment; or the last one,
    /// grown.
    pub retired_load: Option<ProgramHeader>,
}

/// Why a file is left alone. The caller adds the path.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ElfRefusal {
    /// The requested value (named: "RUNPATH" or "interpreter") holds a NUL, which would end
    /// it early.
    #[error("{0} contains a NUL byte")]
    NulInValue(&'static str),
    /// No PT_DYNAMIC (a static file, or a separate debug file): no RUNPATH to set.
    #[error("not dynamically linked (no PT_DYNAMIC)")]
    NotDynamic,
    /// PT_DYNAMIC has no DT_STRTAB, or it lies outside the file.
    #[error("no dynamic string table (DT_STRTAB)")]
    NoStringTable,
    /// An interpreter was requested for a file without PT_INTERP (a library or a static file).
    #[error("no PT_INTERP to change")]
    NoInterpreter,
    /// The new segment needs a program header and there is no entry to reuse, and the table can
    /// neither grow in place nor move; the text says why.
    #[error("no PT_NULL program header to reuse for the new segment, {0}")]
    NoProgramHeaderSlot(String),
    /// A layout that cannot be proven safe to change (shared or overlapping bytes, tables out of
    /// bounds, …); the text says what.
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
pub fn plan_edit(
    info: &ElfInfo,
    bytes: &[u8],
    change: &ElfChange,
) -> Result<Option<ElfEdit>, ElfRefusal> {
    for (name, v) in [
        ("RUNPATH", &change.runpath),
        ("interpreter", &change.interpreter),
    ] {
        if v.as_ref().is_some_and(|v| v.contains(&0)) {
            return Err(ElfRefusal::NulInValue(name));
        }
    }
    let mut p = EditPlanner {
        info,
        bytes,
        patches: Vec::new(),
        grow: Growth::default(),
        notes: Vec::new(),
        placement: Placement::InPlace,
    };
    if let Some(new) = &change.runpath {
        p.runpath(new)?;
    }
    if let Some(new) = &change.interpreter {
        p.interpreter(new)?;
    }
    if p.grow.needed() && !p.extend_segment() {
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
        return Err(ElfRefusal::Unsupported(
            "internal: planned patches overlap".into(),
        ));
    }
    Ok(Some(ElfEdit {
        patches: p.patches,
        tail: p.grow.tail,
        placement: p.placement,
        dynamic_moved: p.grow.move_dynamic,
        description: p.notes.join("; "),
        change: change.clone(),
        retired_load: p.grow.retired_load,
    }))
}

/// The file range moved out of the way of a grown program header table.
#[derive(Clone)]
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

/// The tables only dynamic tags, program headers and section headers point at, so they can
/// move out of the way of a grown program header table: each section type with the dynamic
/// tags through which the loader reads it (none for notes, which only a program header names).
const MOVABLE_TABLES: [(u32, &[u64]); 10] = {
    use goblin::elf::dynamic::*;
    use goblin::elf::section_header::*;
    const SHT_RELR: u32 = 19;
    const DT_RELR: u64 = 36;
    [
        (SHT_NOTE, &[]),
        (SHT_HASH, &[DT_HASH]),
        (SHT_GNU_HASH, &[DT_GNU_HASH]),
        (SHT_DYNSYM, &[DT_SYMTAB]),
        (SHT_GNU_VERSYM, &[DT_VERSYM]),
        (SHT_GNU_VERNEED, &[DT_VERNEED]),
        (SHT_GNU_VERDEF, &[DT_VERDEF]),
        // DT_JMPREL names the PLT's relocations, a table of one of these two types.
        (SHT_RELA, &[DT_RELA, DT_JMPREL]),
        (SHT_REL, &[DT_REL, DT_JMPREL]),
        (SHT_RELR, &[DT_RELR]),
    ]
};

/// Whether a section of this type may move (see [`MOVABLE_TABLES`]).
fn is_movable_section(sh_type: u32) -> bool {
    MOVABLE_TABLES.iter().any(|&(t, _)| t == sh_type)
}

/// Whether a dynamic tag points at a table that may move (see [`MOVABLE_TABLES`]).
fn is_movable_tag(tag: u64) -> bool {
    MOVABLE_TABLES.iter().any(|(_, tags)| tags.contains(&tag))
}

/// A range of file offsets, `[lo, hi)`.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Span {
    lo: u64,
    hi: u64,
}

impl Span {
    /// Whether `size` bytes at `off` reach into the span.
    fn overlaps(self, off: u64, size: u64) -> bool {
        off < self.hi && self.lo < off.saturating_add(size)
    }

    /// Whether a section reaches into the span.
    fn holds_any(self, s: &SectionHeader) -> bool {
        self.overlaps(s.sh_offset, s.sh_size)
    }
}

/// Program header entries that frame the file (its loads, the table itself, unused slots)
/// rather than describe data in it.
const FRAME_SEGMENTS: [u32; 3] = [PT_LOAD, PT_PHDR, PT_NULL];

/// The sections loaded from the file (allocated, with bytes).
fn loaded_sections(info: &ElfInfo) -> Vec<&SectionHeader> {
    (info.section_headers.iter())
        .filter(|s| s.sh_flags & u64::from(SHF_ALLOC) != 0)
        .filter(|s| s.sh_type != SHT_NOBITS && s.sh_size > 0)
        .collect()
}

/// Whether anything occupies `taken`, the bytes a grown table takes: a section, a segment
/// other than the frame's, or something a dynamic tag points at (`first_vaddr` is the first
/// PT_LOAD's address, which maps offset 0).
fn occupied(info: &ElfInfo, alloc: &[&SectionHeader], taken: Span, first_vaddr: u64) -> bool {
    let (lo, hi) = (
        first_vaddr.saturating_add(taken.lo),
        first_vaddr.saturating_add(taken.hi),
    );
    alloc.iter().any(|s| taken.holds_any(s))
        || info
            .program_headers
            .iter()
            .any(|p| !FRAME_SEGMENTS.contains(&p.p_type) && taken.overlaps(p.p_offset, p.p_filesz))
        || info.dynamic.as_ref().is_some_and(|d| {
            (d.entries.iter()).any(|&(tag, val)| is_address_tag(tag) && val >= lo && val < hi)
        })
}

/// `span` widened until no section or note/interpreter segment straddles its ends.
fn widen_to_whole(info: &ElfInfo, alloc: &[&SectionHeader], mut span: Span) -> Span {
    loop {
        let before = span;
        let spans = (alloc.iter().map(|s| (s.sh_offset, s.sh_size))).chain(
            (info.program_headers.iter())
                .filter(|p| MOVABLE_SEGMENTS.contains(&p.p_type))
                .map(|p| (p.p_offset, p.p_filesz)),
        );
        for (off, size) in spans {
            if size > 0 && span.overlaps(off, size) {
                span = Span {
                    lo: span.lo.min(off),
                    hi: span.hi.max(off.saturating_add(size)),
                };
            }
        }
        if span == before {
            return span;
        }
    }
}

/// Everything in `span` may move: no section that is not loaded, not the section header
/// table, no segment but notes and the interpreter (and the frame), and only sections that
/// just headers and dynamic tags point at (see [`MOVABLE_TABLES`]), or `.interp`.
fn check_only_movable(info: &ElfInfo, alloc: &[&SectionHeader], span: Span) -> Result<(), String> {
    if info.section_headers.iter().any(|s| {
        s.sh_flags & u64::from(SHF_ALLOC) == 0
            && s.sh_type != SHT_NOBITS
            && s.sh_size > 0
            && span.holds_any(s)
    }) {
        return Err("a section that is not loaded lies among them".into());
    }
    let shdrs = info.section_headers.len() as u64 * info.codec().shdr_size();
    if span.overlaps(info.shoff, shdrs) {
        return Err("the section header table lies among them".into());
    }
    for p in &info.program_headers {
        let movable = FRAME_SEGMENTS.contains(&p.p_type) || MOVABLE_SEGMENTS.contains(&p.p_type);
        if !movable && span.overlaps(p.p_offset, p.p_filesz) {
            return Err(format!("a segment of type {:#x} covers them", p.p_type));
        }
    }
    for s in alloc.iter().filter(|s| span.holds_any(s)) {
        let is_interp = (info.interpreter.as_ref())
            .is_some_and(|i| (i.range.offset, i.range.size) == (s.sh_offset, s.sh_size));
        if !(is_movable_section(s.sh_type) || is_interp) {
            return Err(format!(
                "a section of type {:#x} at {:#x} cannot move",
                s.sh_type, s.sh_offset
            ));
        }
    }
    Ok(())
}

/// Everything that moves sits at the address its offset implies (`span.lo` at `vaddr`), or
/// the copy would not be where its pointers say; and no dynamic tag but those of movable
/// tables points into it.
fn check_at_home(
    info: &ElfInfo,
    alloc: &[&SectionHeader],
    span: Span,
    vaddr: u64,
) -> Result<(), String> {
    let at_home = |off: u64, addr: u64| addr == vaddr + (off - span.lo);
    for s in alloc.iter().filter(|s| span.holds_any(s)) {
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
            && span.overlaps(p.p_offset, p.p_filesz)
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
            let points_in = val >= vaddr && val < vaddr + (span.hi - span.lo);
            if points_in && is_address_tag(tag) && !is_movable_tag(tag) {
                return Err(format!("dynamic tag {tag:#x} points into them"));
            }
        }
    }
    Ok(())
}

/// The largest alignment among what moves: the copy keeps its offset modulo this.
fn largest_alignment(info: &ElfInfo, alloc: &[&SectionHeader], span: Span) -> u64 {
    let segments = (info.program_headers.iter())
        .filter(|p| MOVABLE_SEGMENTS.contains(&p.p_type))
        .filter(|p| span.overlaps(p.p_offset, p.p_filesz))
        .map(|p| p.p_align);
    let sections = (alloc.iter())
        .filter(|s| span.holds_any(s))
        .map(|s| s.sh_addralign);
    sections.fold(segments.max().unwrap_or(1), u64::max)
}

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
    /// The new R(UN)PATH (without its NUL) when it goes after the copied `.dynstr`, and the
    /// dynamic entries (index, tag) to point at it; an index past the old entries adds one.
    new_runpath: Vec<u8>,
    runpath_entries: Vec<(usize, u64)>,
    /// Spans of the old table to NUL in the copy (and in place): old RUNPATH strings.
    blank: Vec<(u64, u64)>,
    interpreter: Option<Vec<u8>>,
    /// The bytes moved out of the way of a grown program header table.
    moved: Vec<u8>,
    /// See [`Edit::retired_load`].
    retired_load: Option<ProgramHeader>,
    /// `.dynamic` has no room for a new entry: a copy of it, with the entry, goes into the
    /// new segment, and every dynamic-entry change is made to the copy (`dyn_updates`:
    /// entry index, tag, value; an index past the old entries adds one).
    move_dynamic: bool,
    dyn_updates: Vec<(usize, u64, u64)>,
    /// The old R(UN)PATH string's span, when nothing else shares it (see `extend_segment`).
    own_span: Option<(u64, u64)>,
    tail: Vec<u8>,
}

impl Growth {
    fn needed(&self) -> bool {
        !self.runpath_entries.is_empty() || self.interpreter.is_some()
    }
}

struct EditPlanner<'a> {
    info: &'a ElfInfo,
    bytes: &'a [u8],
    patches: Vec<Overwrite>,
    grow: Growth,
    notes: Vec<String>,
    placement: Placement,
}

impl EditPlanner<'_> {
    fn use_strategy(&mut self, s: Placement, note: String) {
        self.placement = self.placement.max(s);
        self.notes.push(note);
    }

    fn runpath(&mut self, new: &[u8]) -> Result<(), ElfRefusal> {
        let d = self.info.dynamic.as_ref().ok_or(ElfRefusal::NotDynamic)?;
        let strtab = d.strtab.ok_or(ElfRefusal::NoStringTable)?;
        // Every R(UN)PATH entry gets the new value, keeping its tag: RPATH stays RPATH.
        let targets: Vec<(usize, u64, u64)> = (d.entries.iter().enumerate())
            .filter(|(_, e)| e.0 == DT_RPATH || e.0 == DT_RUNPATH)
            .map(|(i, e)| (i, e.0, e.1))
            .collect();
        if targets.is_empty() {
            let slot = d.entries.len();
            self.grow.runpath_entries.push((slot, DT_RUNPATH));
            self.grow.new_runpath = new.to_vec();
            if d.spare_null_slots == 0 {
                // patchelf's way: .dynamic moves to the new segment, one entry longer.
                self.grow.move_dynamic = true;
                self.notes
                    .push("DT_RUNPATH added to a copy of .dynamic (no spare DT_NULL slot)".into());
            } else {
                self.notes
                    .push("DT_RUNPATH added in a spare DT_NULL slot".into());
            }
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
            return Err(ElfRefusal::Unsupported(
                "the RUNPATH string overlaps the ELF header, the program headers or .dynamic"
                    .into(),
            ));
        }
        if let Ok(()) = &unshared {
            if spans.iter().all(|(s, e)| new.len() as u64 <= e - s) {
                for (s, e) in &spans {
                    let mut b = new.to_vec();
                    b.resize((e - s) as usize, 0);
                    self.patches.push(Overwrite {
                        offset: strtab.offset + s,
                        bytes: b,
                    });
                }
                self.use_strategy(Placement::InPlace, format!("{kinds} rewritten in place"));
                return Ok(());
            }
            self.grow.blank = spans.clone();
            if let [one] = spans[..] {
                self.grow.own_span = Some(one);
            }
        }
        for t in &targets {
            self.grow.runpath_entries.push((t.0, t.1));
        }
        self.grow.new_runpath = new.to_vec();
        let why = match unshared {
            Ok(()) => "longer than the old string".to_string(),
            Err(e) => format!("old string not editable in place: {e}"),
        };
        self.notes
            .push(format!("{kinds} set in a copy of .dynstr ({why})"));
        Ok(())
    }

    /// Ok if nothing but the R(UN)PATH entries themselves uses a byte of `spans` (`[start,
    /// NUL]` offsets): a symbol, version or other dynamic string sharing the bytes — the whole
    /// string, a tail or a prefix of it — would be rewritten with it.
    fn unshared(&self, d: &Dynamic, strtab: &StrTab, spans: &[(u64, u64)]) -> Result<(), String> {
        let string_end =
            |r: u64| r + strtab_string(self.bytes, strtab, r).map_or(0, |s| s.len() as u64);
        for r in string_refs(self.info, d, self.bytes)? {
            let end = string_end(r);
            for &(s, e) in spans {
                // A reference to exactly the NUL is an empty string, which NUL-filling keeps.
                if r < e && end >= s {
                    return Err(format!("string offset {r:#x} shares bytes with it"));
                }
            }
        }
        // Two R(UN)PATH strings are each rewritten: the same one twice is fine, a tail of
        // another is not.
        for &(r, end) in spans {
            for &(s, e) in spans {
                if (r, end) != (s, e) && r != e && r <= e && end >= s {
                    return Err(format!("string offset {r:#x} shares bytes with it"));
                }
            }
        }
        Ok(())
    }

    fn interpreter(&mut self, new: &[u8]) -> Result<(), ElfRefusal> {
        let interp = self
            .info
            .interpreter
            .as_ref()
            .ok_or(ElfRefusal::NoInterpreter)?;
        if interp.path == new {
            return Ok(());
        }
        if overlaps_headers(self.info, interp.range.offset, interp.range.size) {
            return Err(ElfRefusal::Unsupported(
                "PT_INTERP's bytes overlap the ELF header, the program headers or .dynamic".into(),
            ));
        }
        if new.len() < interp.range.size as usize {
            let mut b = new.to_vec();
            b.resize(interp.range.size as usize, 0);
            self.patches.push(Overwrite {
                offset: interp.range.offset,
                bytes: b,
            });
            self.use_strategy(Placement::InPlace, "interpreter rewritten in place".into());
        } else {
            self.grow.interpreter = Some(new.to_vec());
            self.notes
                .push("PT_INTERP moved to the appended segment (longer)".into());
        }
        Ok(())
    }

    /// Strategy 3: one PT_LOAD appended at the end of the file, holding what did not fit
    /// where it was. Laid out as [a moved program header table][the bytes moved out of the
    /// way of a grown one][the new interpreter][a copy of .dynamic][the copy of .dynstr, new
    /// string at its end]. The table first, because binutils (strip, objcopy) takes a
    /// segment that holds the program headers to hold them at its start; .dynstr last, so
    /// that a later, longer RUNPATH can extend the segment in place.
    fn append_segment(&mut self) -> Result<(), ElfRefusal> {
        let info = self.info;
        let codec = info.codec();
        let last_load = self.last_load()?;
        let room = self.header_room()?;
        self.grow.retired_load = match room {
            HeaderRoom::DynstrLoad(k) | HeaderRoom::EmptyLoad(k) => {
                Some(info.program_headers[k].clone())
            }
            _ => None,
        };
        let mut seg = self.new_segment()?;
        let mut phdrs = info.program_headers.clone();
        let phnum = phdrs.len() + usize::from(room.reused_entry().is_none());
        let table_len = phnum * codec.phdr_size();
        match &room {
            HeaderRoom::MoveTable => seg.bytes.resize(table_len, 0),
            HeaderRoom::GrowTable(unit) if unit.end > unit.off => {
                self.place_moved_unit(unit, &mut seg, &mut phdrs)?
            }
            _ => {}
        }
        self.place_interpreter(&mut seg, &mut phdrs)?;
        let dynamic_at = self.reserve_dynamic(&mut seg);
        self.place_dynstr(&mut seg)?;
        if let Some(pos) = dynamic_at {
            self.move_dynamic(&mut seg.bytes, pos, seg.off, seg.vaddr, &mut phdrs)?;
        }
        let load = self.load_header(&seg)?;
        // The loader maps PT_LOADs in table order and expects ascending addresses, so the new
        // (highest) one goes right after the last existing PT_LOAD.
        match room.reused_entry() {
            Some(k) if k > last_load => phdrs[k] = load,
            Some(k) => {
                phdrs.remove(k);
                phdrs.insert(last_load, load);
            }
            None => phdrs.insert(last_load + 1, load),
        }
        follow_table(&mut phdrs, &room, &seg, table_len as u64);
        let table: Vec<u8> = phdrs.iter().flat_map(|p| codec.encode_phdr(p)).collect();
        if !matches!(room, HeaderRoom::MoveTable) {
            check_table_span(info, &phdrs, table.len() as u64)?;
        }
        self.write_table(&room, table, phnum, &mut seg);
        let (seg_off, seg_vaddr, seg_size, align) =
            (seg.off, seg.vaddr, seg.bytes.len(), seg.align);
        self.grow.tail = vec![0; (seg.off - self.bytes.len() as u64) as usize];
        self.grow.tail.append(&mut seg.bytes);
        let (placement, how) = room.describe();
        self.use_strategy(
            placement,
            format!(
                "appended PT_LOAD at offset {seg_off:#x} vaddr {seg_vaddr:#x} ({seg_size} bytes, align {align:#x}; {how})"
            ),
        );
        Ok(())
    }

    /// The index of the last PT_LOAD, after which the new one goes; the PT_LOADs must
    /// ascend, as the loader expects.
    fn last_load(&self) -> Result<usize, ElfRefusal> {
        let unsupported = |m: &str| ElfRefusal::Unsupported(m.to_string());
        let loads: Vec<&ProgramHeader> = self.info.loads().collect();
        if loads.windows(2).any(|w| w[0].p_vaddr > w[1].p_vaddr) {
            return Err(unsupported("PT_LOAD entries are not sorted by address"));
        }
        (self.info.program_headers.iter())
            .rposition(|p| p.p_type == PT_LOAD)
            .ok_or_else(|| unsupported("no PT_LOAD"))
    }

    /// Where the new segment goes. Its alignment covers every alignment the loader may apply;
    /// it starts in an aligned region above everything mapped, so it shares no page with
    /// another segment, and its file offset is only page-aligned (congruent modulo the
    /// alignment) to keep padding small.
    fn new_segment(&self) -> Result<NewSegment, ElfRefusal> {
        let info = self.info;
        let unsupported = |m: &str| ElfRefusal::Unsupported(m.to_string());
        let page = info.arch_page_size();
        let align = (info.loads().map(|p| p.p_align))
            .chain([page])
            .max()
            .unwrap_or(page);
        if !align.is_power_of_two() {
            return Err(unsupported("PT_LOAD alignment is not a power of two"));
        }
        let file_len = self.bytes.len() as u64;
        let off = file_len.next_multiple_of(page);
        let top = (info.loads())
            .map(|p| p.p_vaddr.saturating_add(p.p_memsz))
            .max()
            .unwrap_or(0);
        let vaddr = top
            .checked_next_multiple_of(align)
            .ok_or_else(|| unsupported("address space exhausted"))?
            + off % align;
        // Whatever the segment will hold (copies of file bytes, the new string, the table)
        // must have addresses, so that no sum below wraps.
        let new_string = if self.grow.runpath_entries.is_empty() {
            0
        } else {
            self.grow.new_runpath.len() as u64 + 1
        };
        let most = (2 * file_len)
            .saturating_add(new_string)
            .saturating_add(self.grow.interpreter.as_ref().map_or(0, |i| i.len() as u64))
            .saturating_add(page + 0x10000 * info.codec().phdr_size() as u64);
        if !(vaddr.checked_add(most)).is_some_and(|end| info.codec().fits_word(end)) {
            return Err(unsupported("address space exhausted"));
        }
        Ok(NewSegment {
            off,
            vaddr,
            align,
            bytes: Vec::new(),
        })
    }

    /// The bytes in the way of a grown table, copied whole near the segment's (page-aligned)
    /// start, at the same offset modulo their largest alignment, so every alignment inside
    /// them holds.
    fn place_moved_unit(
        &mut self,
        unit: &Unit,
        seg: &mut NewSegment,
        phdrs: &mut [ProgramHeader],
    ) -> Result<(), ElfRefusal> {
        let pad = unit.off % unit.align;
        seg.bytes.resize(pad as usize, 0);
        self.move_unit(unit, seg.off + pad, seg.vaddr + pad, phdrs)?;
        seg.bytes.extend_from_slice(&self.grow.moved);
        Ok(())
    }

    /// A longer interpreter, with PT_INTERP and `.interp`'s section header pointing at it.
    fn place_interpreter(
        &mut self,
        seg: &mut NewSegment,
        phdrs: &mut [ProgramHeader],
    ) -> Result<(), ElfRefusal> {
        let Some(new) = self.grow.interpreter.clone() else {
            return Ok(());
        };
        let interp = self
            .info
            .interpreter
            .as_ref()
            .ok_or(ElfRefusal::NoInterpreter)?;
        let (off, vaddr) = seg.end();
        seg.bytes.extend_from_slice(&new);
        seg.bytes.push(0);
        let size = new.len() as u64 + 1;
        let ph = (phdrs.iter_mut())
            .find(|p| p.p_type == PT_INTERP)
            .ok_or(ElfRefusal::NoInterpreter)?;
        let old_vaddr = ph.p_vaddr;
        (ph.p_offset, ph.p_vaddr, ph.p_paddr, ph.p_filesz, ph.p_memsz) =
            (off, vaddr, vaddr, size, size);
        self.patch_section(interp.range.offset, old_vaddr, off, vaddr, size);
        Ok(())
    }

    /// Room for the copy of `.dynamic` when it moves (filled by `move_dynamic` once every
    /// entry's value is known): its entries, one more for each added, the terminating
    /// DT_NULL and a spare one for the next addition. Its position in the segment.
    fn reserve_dynamic(&self, seg: &mut NewSegment) -> Option<usize> {
        let d = self
            .info
            .dynamic
            .as_ref()
            .filter(|_| self.grow.move_dynamic)?;
        let codec = self.info.codec();
        let added = (self.grow.runpath_entries.iter())
            .filter(|e| e.0 >= d.entries.len())
            .count();
        let pos = seg.bytes.len().next_multiple_of(codec.word_size());
        let entries = d.entries.len() + added + 2;
        seg.bytes.resize(pos + entries * codec.dyn_size(), 0);
        Some(pos)
    }

    /// The copy of `.dynstr` with the new RUNPATH at its end (the old one NUL-filled, in
    /// the copy and in place, when nothing else shares it); DT_STRTAB, DT_STRSZ, the R(UN)PATH
    /// entries and `.dynstr`'s section header point at the copy.
    fn place_dynstr(&mut self, seg: &mut NewSegment) -> Result<(), ElfRefusal> {
        if self.grow.runpath_entries.is_empty() {
            return Ok(());
        }
        let d = self.info.dynamic.as_ref().ok_or(ElfRefusal::NotDynamic)?;
        let strtab = d.strtab.ok_or(ElfRefusal::NoStringTable)?;
        let old = slice(self.bytes, strtab.offset, strtab.size).ok_or(ElfRefusal::NoStringTable)?;
        let (off, vaddr) = seg.end();
        let mut copy = old.to_vec();
        for &(s, e) in &self.grow.blank {
            copy[s as usize..e as usize].fill(0);
            self.patches.push(Overwrite {
                offset: strtab.offset + s,
                bytes: vec![0; (e - s) as usize],
            });
        }
        let appended_at = copy.len() as u64;
        copy.extend_from_slice(&self.grow.new_runpath);
        copy.push(0);
        let size = copy.len() as u64;
        seg.bytes.extend_from_slice(&copy);
        for (i, &(tag, _)) in d.entries.iter().enumerate() {
            match tag {
                DT_STRTAB => self.patch_dyn(d, i, tag, vaddr),
                DT_STRSZ => self.patch_dyn(d, i, tag, size),
                _ => {}
            }
        }
        for &(i, tag) in &self.grow.runpath_entries.clone() {
            self.patch_dyn(d, i, tag, appended_at);
        }
        self.patch_section(strtab.offset, strtab.vaddr, off, vaddr, size);
        Ok(())
    }

    /// The new segment's program header: read-only, or read-write when it holds `.dynamic`
    /// (the loader writes DT_DEBUG there).
    fn load_header(&self, seg: &NewSegment) -> Result<ProgramHeader, ElfRefusal> {
        let size = seg.bytes.len() as u64;
        if !self.info.codec().fits_word(seg.vaddr + size) {
            return Err(ElfRefusal::Unsupported(
                "new segment does not fit a 32-bit address space".into(),
            ));
        }
        Ok(ProgramHeader {
            p_type: PT_LOAD,
            p_flags: if self.grow.move_dynamic {
                PF_R | PF_W
            } else {
                PF_R
            },
            p_offset: seg.off,
            p_vaddr: seg.vaddr,
            p_paddr: seg.vaddr,
            p_filesz: size,
            p_memsz: size,
            p_align: seg.align,
        })
    }

    /// Writes the new program header table: over the old one and the start of what moved,
    /// the rest of what moved zeroed (so no stale copy, of a note say, is found there), with
    /// the new e_phnum; or into the new segment's start, with the new e_phoff and e_phnum; or
    /// over the old one, its entry count unchanged.
    fn write_table(
        &mut self,
        room: &HeaderRoom,
        table: Vec<u8>,
        phnum: usize,
        seg: &mut NewSegment,
    ) {
        let info = self.info;
        let codec = info.codec();
        let (phoff_at, phnum_at) = codec.ehdr_phoff_phnum();
        let mut phnum_bytes = Vec::new();
        codec.put_u16(&mut phnum_bytes, phnum as u16);
        match room {
            HeaderRoom::GrowTable(unit) => {
                let table_end = info.phoff + table.len() as u64;
                self.patches.push(Overwrite {
                    offset: info.phoff,
                    bytes: table,
                });
                if unit.end > table_end {
                    self.patches.push(Overwrite {
                        offset: table_end,
                        bytes: vec![0; (unit.end - table_end) as usize],
                    });
                }
                self.patches.push(Overwrite {
                    offset: phnum_at,
                    bytes: phnum_bytes,
                });
            }
            HeaderRoom::MoveTable => {
                seg.bytes[..table.len()].copy_from_slice(&table);
                let mut phoff = Vec::new();
                codec.put_word(&mut phoff, seg.off);
                self.patches.push(Overwrite {
                    offset: phoff_at,
                    bytes: phoff,
                });
                self.patches.push(Overwrite {
                    offset: phnum_at,
                    bytes: phnum_bytes,
                });
            }
            HeaderRoom::NullEntry(_) | HeaderRoom::EmptyLoad(_) | HeaderRoom::DynstrLoad(_) => {
                self.patches.push(Overwrite {
                    offset: info.phoff,
                    bytes: table,
                })
            }
        }
    }

    /// A longer RUNPATH in a file whose `.dynstr` ends its last segment and the file, with the
    /// old string its last (what `append_segment` lays out): the string is rewritten where it
    /// starts and the segment grows by the difference. Repeated runs then converge instead of
    /// appending a copy each. False when the file is not laid out so (or more is asked).
    fn extend_segment(&mut self) -> bool {
        let info = self.info;
        let codec = info.codec();
        let (Some(d), Some((s, e))) = (info.dynamic.as_ref(), self.grow.own_span) else {
            return false;
        };
        let Some(strtab) = d.strtab else {
            return false;
        };
        let file_len = self.bytes.len() as u64;
        let only_strings = self.grow.interpreter.is_none()
            && !self.grow.move_dynamic
            && self
                .grow
                .runpath_entries
                .iter()
                .all(|e| e.0 < d.entries.len());
        let Some(k) = info
            .program_headers
            .iter()
            .rposition(|p| p.p_type == PT_LOAD)
        else {
            return false;
        };
        let load = &info.program_headers[k];
        let laid_out = e + 1 == strtab.size
            && strtab.offset.checked_add(strtab.size) == Some(file_len)
            && load.p_offset.checked_add(load.p_filesz) == Some(file_len)
            && load.p_filesz == load.p_memsz
            && load.p_offset <= strtab.offset
            && strtab.vaddr.checked_sub(load.p_vaddr) == Some(strtab.offset - load.p_offset)
            && info.loads().all(|p| p.p_vaddr <= load.p_vaddr)
            && info.shoff < load.p_offset;
        if !only_strings || !laid_out {
            return false;
        }
        let new = self.grow.new_runpath.clone();
        // The table without the old string, with the new one and its NUL; the segment's end.
        let grown = (strtab.size.checked_sub(e - s + 1))
            .and_then(|rest| rest.checked_add(new.len() as u64 + 1));
        let end = grown.and_then(|grown| {
            (load
                .p_vaddr
                .checked_add(load.p_memsz)?
                .checked_sub(strtab.size))?
            .checked_add(grown)
        });
        let (Some(grown), Some(end)) = (grown, end) else {
            return false;
        };
        if !codec.fits_word(end) || grown < strtab.size {
            return false;
        }
        // The old string's bytes up to the end of the file, then the rest of the new one.
        let mut bytes = new;
        bytes.push(0);
        let inside = (e - s + 1) as usize;
        self.grow.tail = bytes.split_off(inside.min(bytes.len()));
        bytes.resize(inside, 0);
        self.patches.push(Overwrite {
            offset: strtab.offset + s,
            bytes,
        });
        for (i, &(tag, _)) in d.entries.iter().enumerate() {
            if tag == DT_STRSZ {
                self.patch_dyn(d, i, tag, grown);
            }
        }
        let mut grown_load = load.clone();
        grown_load.p_filesz += grown - strtab.size;
        grown_load.p_memsz += grown - strtab.size;
        self.patches.push(Overwrite {
            offset: info.phoff + (k * codec.phdr_size()) as u64,
            bytes: codec.encode_phdr(&grown_load),
        });
        self.patch_section(
            strtab.offset,
            strtab.vaddr,
            strtab.offset,
            strtab.vaddr,
            grown,
        );
        self.grow.retired_load = Some(load.clone());
        self.grow.runpath_entries.clear();
        self.use_strategy(
            Placement::ExtendLastSegment,
            format!(
                "RUNPATH rewritten at the end of the last segment, which grows by {} bytes",
                grown - strtab.size
            ),
        );
        true
    }

    /// Where the new PT_LOAD's program header goes, least disturbing first. A PT_LOAD mapping
    /// only the `.dynstr` being replaced (patchelf's and auditwheel's layout) must be the one
    /// reused: left behind with no section in it, binutils would rewrite it as an empty
    /// segment at an unaligned offset, which no loader accepts. Then a PT_NULL entry; then the
    /// table grown where it is (what binutils' strip and objcopy can re-lay), moving what is
    /// in its way; then, in a library, the table moved to the new segment's start. An
    /// executable's table stays in its first segment: the kernel finds it there.
    fn header_room(&self) -> Result<HeaderRoom, ElfRefusal> {
        let info = self.info;
        if let Some(k) = self.lone_dynstr_load() {
            return Ok(HeaderRoom::DynstrLoad(k));
        }
        if let Some(k) = info
            .program_headers
            .iter()
            .position(|p| p.p_type == PT_NULL)
        {
            return Ok(HeaderRoom::NullEntry(k));
        }
        // A PT_LOAD of nothing (bfd keeps one for an output section it emptied) maps nothing.
        if let Some(k) = info
            .program_headers
            .iter()
            .position(|p| p.p_type == PT_LOAD && p.p_memsz == 0 && p.p_filesz == 0)
        {
            return Ok(HeaderRoom::EmptyLoad(k));
        }
        if info.program_headers.len() + 1 >= 0xffff {
            return Err(ElfRefusal::Unsupported("too many program headers".into()));
        }
        let stays = match self.in_the_way() {
            Ok(unit) => return Ok(HeaderRoom::GrowTable(unit)),
            Err(why) => why,
        };
        let cannot = |and: &str| {
            ElfRefusal::NoProgramHeaderSlot(format!(
                "the table cannot grow in place ({stays}), and {and}"
            ))
        };
        match (info.e_type == ET_DYN, info.interpreter.is_some()) {
            (true, false) => Ok(HeaderRoom::MoveTable),
            (_, true) => Err(cannot("an executable's program header table cannot move")),
            (false, false) => Err(cannot(
                "the program header table only moves in shared libraries",
            )),
        }
    }

    /// The PT_LOAD that maps the `.dynstr` being copied and nothing else (no other section,
    /// segment, dynamic pointer or `.bss`), if there is one.
    fn lone_dynstr_load(&self) -> Option<usize> {
        let info = self.info;
        if self.grow.runpath_entries.is_empty() || info.section_headers.is_empty() {
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
        let (first, taken) = self.table_can_grow()?;
        let alloc = loaded_sections(info);
        if !occupied(info, &alloc, taken, first.p_vaddr) {
            return Ok(Unit {
                off: taken.hi,
                end: taken.hi,
                vaddr: 0,
                sections: 0,
                align: 1,
            });
        }
        let span = widen_to_whole(info, &alloc, taken);
        if span.lo < taken.lo || span.hi > first.p_filesz {
            return Err("the sections after the table are not all in the first PT_LOAD".into());
        }
        check_only_movable(info, &alloc, span)?;
        let vaddr = (first.p_vaddr.checked_add(span.lo))
            .filter(|v| v.checked_add(span.hi - span.lo).is_some())
            .ok_or("addresses overflow")?;
        check_at_home(info, &alloc, span, vaddr)?;
        let align = largest_alignment(info, &alloc, span);
        if !align.is_power_of_two() || align > info.arch_page_size() {
            return Err(format!("an alignment of {align:#x} inside them"));
        }
        Ok(Unit {
            off: span.lo,
            end: span.hi,
            vaddr,
            sections: alloc.iter().filter(|s| span.holds_any(s)).count() as u64,
            align,
        })
    }

    /// The first PT_LOAD and the bytes one more table entry takes, when the table can grow
    /// where it is: right after the ELF header, mapped by the first PT_LOAD, and with section
    /// headers to tell what follows it.
    fn table_can_grow(&self) -> Result<(&ProgramHeader, Span), String> {
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
        Ok((
            first,
            Span {
                lo: old_end,
                hi: new_end,
            },
        ))
    }

    /// Copies `unit` to the start of the new segment and points everything that named it
    /// (section headers, note/interpreter program headers, dynamic tags) at the copy.
    fn move_unit(
        &mut self,
        unit: &Unit,
        seg_off: u64,
        seg_vaddr: u64,
        phdrs: &mut [ProgramHeader],
    ) -> Result<(), ElfRefusal> {
        let info = self.info;
        let len = unit.end - unit.off;
        let mut moved = slice(self.bytes, unit.off, len)
            .ok_or_else(|| ElfRefusal::Unsupported("sections past the end of the file".into()))?
            .to_vec();
        // A patch already planned inside (a shorter interpreter in place) goes to the copy.
        let mut kept = Vec::new();
        for p in std::mem::take(&mut self.patches) {
            let end = p.offset + p.bytes.len() as u64;
            if p.offset >= unit.off && end <= unit.end {
                let at = (p.offset - unit.off) as usize;
                moved[at..at + p.bytes.len()].copy_from_slice(&p.bytes);
            } else if p.offset < unit.end && unit.off < end {
                return Err(ElfRefusal::Unsupported(
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
        // An interpreter that also grows gets its new home (and header) from `interpreter`.
        let regrown = |offset: u64, size: u64| {
            self.grow.interpreter.is_some()
                && info
                    .interpreter
                    .as_ref()
                    .is_some_and(|i| (i.range.offset, i.range.size) == (offset, size))
        };
        for p in phdrs.iter_mut() {
            let inside = p.p_filesz > 0
                && p.p_offset >= unit.off
                && p.p_offset.saturating_add(p.p_filesz) <= unit.end;
            if MOVABLE_SEGMENTS.contains(&p.p_type) && inside && !regrown(p.p_offset, p.p_filesz) {
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
            .filter(|s| !regrown(s.sh_offset, s.sh_size))
            .map(|s| (s.sh_offset, s.sh_addr, s.sh_size))
            .collect();
        for (o, a, size) in moved_sections {
            self.patch_section(o, a, off(o), addr(a), size);
        }
        if let Some(d) = &info.dynamic {
            for (i, &(tag, val)) in d.entries.iter().enumerate() {
                if is_movable_tag(tag)
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
        if self.grow.move_dynamic {
            self.grow.dyn_updates.push((index, tag, val));
            return;
        }
        self.patches.push(Overwrite {
            offset: d.entry_offset(index),
            bytes: self.info.codec().encode_dyn(tag, val),
        });
    }

    /// The copy of `.dynamic` (with every planned entry change and new entry), written into
    /// the room reserved for it at `pos` in `seg`; PT_DYNAMIC, the section header and the
    /// `_DYNAMIC` symbols point at it. The old table stays where it was, unused.
    fn move_dynamic(
        &mut self,
        seg: &mut [u8],
        pos: usize,
        seg_off: u64,
        seg_vaddr: u64,
        phdrs: &mut [ProgramHeader],
    ) -> Result<(), ElfRefusal> {
        let info = self.info;
        let codec = info.codec();
        let d = info.dynamic.as_ref().ok_or(ElfRefusal::NotDynamic)?;
        let mut entries = d.entries.clone();
        let mut updates = std::mem::take(&mut self.grow.dyn_updates);
        updates.sort_by_key(|u| u.0);
        for (i, tag, val) in updates {
            match entries.get_mut(i) {
                Some(e) => *e = (tag, val),
                None => entries.push((tag, val)),
            }
        }
        // The terminating DT_NULL and the spare one are the reserved room's zeros.
        let table: Vec<u8> = entries
            .iter()
            .flat_map(|&(tag, val)| codec.encode_dyn(tag, val))
            .collect();
        let size = (entries.len() + 2) * codec.dyn_size();
        let room = seg
            .get_mut(pos..pos + size)
            .ok_or_else(|| ElfRefusal::Unsupported("internal: no room for .dynamic".into()))?;
        room[..table.len()].copy_from_slice(&table);
        let size = size as u64;
        let (off, vaddr) = (seg_off + pos as u64, seg_vaddr + pos as u64);
        let ph = phdrs
            .iter_mut()
            .find(|p| p.p_type == goblin::elf::program_header::PT_DYNAMIC)
            .ok_or(ElfRefusal::NotDynamic)?;
        (ph.p_offset, ph.p_vaddr, ph.p_paddr, ph.p_filesz, ph.p_memsz) =
            (off, vaddr, vaddr, size, size);
        self.patch_section(d.range.offset, d.vaddr, off, vaddr, size);
        for at in super::refs::symbol_values(info, d, self.bytes, b"_DYNAMIC", d.vaddr) {
            // (`move_symbols` already moved the `.symtab` ones defined in `.dynamic`.)
            if self.patches.iter().any(|p| p.offset == at) {
                continue;
            }
            let mut b = Vec::new();
            codec.put_word(&mut b, vaddr);
            self.patches.push(Overwrite {
                offset: at,
                bytes: b,
            });
        }
        Ok(())
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
                    self.patches.push(Overwrite {
                        offset: base + field,
                        bytes: b,
                    });
                }
                if vaddr != old_vaddr {
                    self.move_symbols(i, old_vaddr, vaddr);
                }
            }
        }
    }

    /// The `.symtab` symbols defined in section `index` (its section symbol among them, as
    /// `--emit-relocs` keeps them) move with it: debuggers and linkers read their addresses.
    fn move_symbols(&mut self, index: usize, old_vaddr: u64, vaddr: u64) {
        let info = self.info;
        let codec = info.codec();
        let (entsize, shndx_at, value_at) = if codec.word_size() == 8 {
            (24u64, 6u64, 8u64)
        } else {
            (16, 14, 4)
        };
        for table in info.section_headers.iter().filter(|s| {
            s.sh_type == goblin::elf::section_header::SHT_SYMTAB && s.sh_entsize == entsize
        }) {
            let count = (table.sh_size / entsize).min(self.bytes.len() as u64 / entsize);
            for k in 0..count {
                let sym = table.sh_offset + k * entsize;
                let (Some(shndx), Some(value)) = (
                    codec.u16(self.bytes, sym + shndx_at),
                    codec.word(self.bytes, sym + value_at),
                ) else {
                    break;
                };
                if usize::from(shndx) == index {
                    let mut b = Vec::new();
                    codec.put_word(&mut b, value.wrapping_sub(old_vaddr).wrapping_add(vaddr));
                    self.patches.push(Overwrite {
                        offset: sym + value_at,
                        bytes: b,
                    });
                }
            }
        }
    }
}
