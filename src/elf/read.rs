//! A lazy ELF reader: the ELF header, program headers, section headers, the dynamic segment
//! and `.note.dlopen`, nothing more. `goblin::elf::Elf::parse` is avoided on purpose: it indexes every
//! string table and relocation (milliseconds on big libraries) and rejects non-UTF-8 names.
//! All strings here are raw bytes.

use goblin::container::{Container, Ctx};
use goblin::elf::dynamic::{
    DT_NEEDED, DT_NULL, DT_RPATH, DT_RUNPATH, DT_SONAME, DT_STRSZ, DT_STRTAB,
};
use goblin::elf::header::{EI_OSABI, ET_EXEC};
use goblin::elf::program_header::{PT_DYNAMIC, PT_INTERP, PT_LOAD};
use goblin::elf::section_header::{SHN_XINDEX, SHT_NOTE};
use goblin::elf::{Elf, ProgramHeader, SectionHeader};

use super::codec::{Class, Codec, Endian};

/// Why a file that starts with `\x7fELF` could not be read. The caller adds the path.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ElfError {
    /// The ELF header itself is unusable: goblin rejects it, or an entry size is not the class's.
    #[error("bad ELF header: {0}")]
    Header(String),
    /// The header is fine but a table, segment or string it locates is out of bounds or
    /// inconsistent, so a writer working from it could write through one structure into another.
    #[error("malformed ELF: {0}")]
    Malformed(String),
}

fn malformed(msg: impl Into<String>) -> ElfError {
    ElfError::Malformed(msg.into())
}

/// A byte range of the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileRange {
    /// From the start of the file.
    pub offset: u64,
    /// In bytes.
    pub size: u64,
}

/// PT_INTERP: the path without its NUL, and the whole segment's file range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interp {
    /// The interpreter's path, without its NUL.
    pub path: Vec<u8>,
    /// The whole segment (NUL and padding included): the room an in-place rewrite has.
    pub range: FileRange,
}

/// A string-valued dynamic entry: its bytes and its offset into the dynamic string table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DynString {
    /// The string, without its NUL.
    pub bytes: Vec<u8>,
    /// Relative to the start of the dynamic string table: the entry's `d_val`.
    pub strtab_offset: u64,
}

/// Where DT_STRTAB lives: `vaddr` as the loader sees it, `offset` in the file, `size` = DT_STRSZ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StrTab {
    /// DT_STRTAB's value.
    pub vaddr: u64,
    /// Where `vaddr` maps to through a PT_LOAD.
    pub offset: u64,
    /// In bytes; the last one is a NUL.
    pub size: u64,
}

/// The dynamic segment. `entries` stops before the first DT_NULL; the entry at index `i` sits
/// at file offset `range.offset + i * entry_size`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dynamic {
    /// The PT_DYNAMIC segment: every slot, spare DT_NULLs included.
    pub range: FileRange,
    /// The segment's address as the loader sees it.
    pub vaddr: u64,
    /// In bytes: two words, 8 for ELF32 and 16 for ELF64.
    pub entry_size: u64,
    /// `(d_tag, d_val)` pairs, in file order.
    pub entries: Vec<(u64, u64)>,
    /// DT_NULL entries directly after the terminating one: room to add entries in place.
    pub spare_null_slots: usize,
    /// None without DT_STRTAB, which the reader allows only when no entry is string-valued.
    pub strtab: Option<StrTab>,
    /// DT_NEEDED names, in entry order: the order the loader looks them up.
    pub needed: Vec<Vec<u8>>,
    /// DT_SONAME; the last one if there are several.
    pub soname: Option<Vec<u8>>,
    /// DT_RUNPATH; the last one if there are several.
    pub runpath: Option<DynString>,
    /// DT_RPATH, the older tag the loader ignores when DT_RUNPATH is present; the last one if
    /// there are several.
    pub rpath: Option<DynString>,
}

impl Dynamic {
    /// File offset of the slot at `index`; the terminating DT_NULL is at `entries.len()`.
    pub fn entry_offset(&self, index: usize) -> u64 {
        self.range.offset + index as u64 * self.entry_size
    }

    /// First value of `tag`, if present.
    pub fn get(&self, tag: u64) -> Option<u64> {
        self.entries.iter().find(|e| e.0 == tag).map(|e| e.1)
    }
}

/// The note type of systemd's ELF dlopen metadata (owner "FDO"), in `.note.dlopen` sections.
pub const NT_FDO_DLOPEN_METADATA: u32 = 0x407c_0c0a;

/// How many bytes of `.note.dlopen` sections one file may have read: real ones hold a few
/// hundred bytes; a hostile file must not make the walk slow or the notes big.
pub const DLOPEN_NOTES_MAX: usize = 1 << 20;

/// How many problems one file's `.note.dlopen` sections report before summing up the rest.
const DLOPEN_PROBLEMS_MAX: usize = 16;

/// `.note.dlopen` sections (systemd's ELF dlopen metadata): the descriptor of each note with
/// owner "FDO" and type [`NT_FDO_DLOPEN_METADATA`], as stored (JSON, by the spec), in file
/// order, and why any part could not be read. A bad note never makes the file unreadable.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DlopenNotes {
    /// Each matching note's descriptor, not validated here.
    pub descs: Vec<Vec<u8>>,
    /// One line each, without the path; past 16, one more line counts the rest.
    pub problems: Vec<String>,
}

/// What patch-rpaths needs to know about one ELF file.
#[derive(Clone, Debug)]
pub struct ElfInfo {
    /// From `e_ident[EI_CLASS]`.
    pub class: Class,
    /// From `e_ident[EI_DATA]`.
    pub endian: Endian,
    /// `e_machine` (`EM_*`): a library must match it to satisfy a dependency.
    pub machine: u16,
    /// `e_ident[EI_OSABI]`.
    pub osabi: u8,
    /// `ET_EXEC`, `ET_DYN`, …
    pub e_type: u16,
    /// File offset of the program header table.
    pub phoff: u64,
    /// In table order.
    pub program_headers: Vec<ProgramHeader>,
    /// File offset of the section header table; 0 when there is none.
    pub shoff: u64,
    /// Empty when the file has none (sstrip'ed files); the writer then updates none.
    pub section_headers: Vec<SectionHeader>,
    /// PT_INTERP; None for shared libraries and static executables.
    pub interpreter: Option<Interp>,
    /// PT_DYNAMIC; None for static files and for separate debug files (their segment has no bytes).
    pub dynamic: Option<Dynamic>,
    /// Empty when the file has no `.note.dlopen` section.
    pub dlopen: DlopenNotes,
}

impl ElfInfo {
    /// `Ok(None)` for anything without the ELF magic, so a tree walk can hand us every file.
    pub fn parse(bytes: &[u8]) -> Result<Option<ElfInfo>, ElfError> {
        if !bytes.starts_with(b"\x7fELF") {
            return Ok(None);
        }
        let header = Elf::parse_header(bytes).map_err(|e| ElfError::Header(e.to_string()))?;
        let container = header
            .container()
            .map_err(|e| ElfError::Header(e.to_string()))?;
        let le = header
            .endianness()
            .map_err(|e| ElfError::Header(e.to_string()))?;
        let ctx = Ctx::new(container, le);
        let codec = Codec {
            class: match container {
                Container::Little => Class::Elf32,
                Container::Big => Class::Elf64,
            },
            endian: if le.is_little() {
                Endian::Little
            } else {
                Endian::Big
            },
        };
        if header.e_phnum > 0 && usize::from(header.e_phentsize) != codec.phdr_size() {
            return Err(ElfError::Header(format!(
                "e_phentsize {} is not {}",
                header.e_phentsize,
                codec.phdr_size()
            )));
        }
        if header.e_shnum > 0 && u64::from(header.e_shentsize) != codec.shdr_size() {
            return Err(ElfError::Header(format!(
                "e_shentsize {} is not {}",
                header.e_shentsize,
                codec.shdr_size()
            )));
        }
        let ehsize = if codec.word_size() == 8 { 64 } else { 52 };
        let file_len = bytes.len() as u64;
        let phdrs = (
            header.e_phoff,
            u64::from(header.e_phnum) * codec.phdr_size() as u64,
        );
        let shdrs = (
            header.e_shoff,
            u64::from(header.e_shnum) * codec.shdr_size(),
        );
        for (what, (off, size)) in [("program", phdrs), ("section", shdrs)] {
            if size > 0 && off.checked_add(size).map_or(true, |end| end > file_len) {
                return Err(malformed(format!(
                    "the {what} header table ({size} bytes at {off:#x}) runs past the end of \
                     the file ({file_len} bytes)"
                )));
            }
            if overlaps(off, size, 0, ehsize) {
                return Err(malformed(format!(
                    "the {what} header table overlaps the ELF header"
                )));
            }
        }
        if overlaps(phdrs.0, phdrs.1, shdrs.0, shdrs.1) {
            return Err(malformed(
                "the section header table overlaps the program header table",
            ));
        }
        let program_headers =
            ProgramHeader::parse(bytes, header.e_phoff as usize, header.e_phnum.into(), ctx)
                .map_err(|e| malformed(format!("program headers: {e}")))?;
        let section_headers =
            SectionHeader::parse(bytes, header.e_shoff as usize, header.e_shnum.into(), ctx)
                .map_err(|e| malformed(format!("section headers: {e}")))?;

        let mut info = ElfInfo {
            class: codec.class,
            endian: codec.endian,
            machine: header.e_machine,
            osabi: header.e_ident[EI_OSABI],
            e_type: header.e_type,
            phoff: header.e_phoff,
            program_headers,
            shoff: header.e_shoff,
            section_headers,
            interpreter: None,
            dynamic: None,
            dlopen: DlopenNotes::default(),
        };
        info.interpreter = info.read_interp(bytes)?;
        info.dynamic = info.read_dynamic(bytes)?;
        if info.dynamic.is_some() || info.interpreter.is_some() {
            info.check_tables(bytes, header.e_shstrndx.into())?;
        }
        info.dlopen = info.read_dlopen_notes(bytes, header.e_shstrndx.into());
        Ok(Some(info))
    }

    /// What a file about to be patched must also get right — patchelf refuses each of these:
    /// segments and sections inside the file, section names inside a NUL-terminated name
    /// table, `.dynamic` at an offset its alignment allows, `.dynstr` sharing no byte with
    /// another table, a GNU hash table that fits, and every string a symbol, version or
    /// dynamic entry names inside `.dynstr`. A writer working from such a file would write
    /// through one table into another.
    fn check_tables(&self, bytes: &[u8], shstrndx: u32) -> Result<(), ElfError> {
        let file_len = bytes.len() as u64;
        for p in self.loads() {
            if p.p_offset
                .checked_add(p.p_filesz)
                .map_or(true, |end| end > file_len)
            {
                return Err(malformed(format!(
                    "the PT_LOAD at {:#x} ({:#x} bytes at {:#x}) runs past the end of the file",
                    p.p_vaddr, p.p_filesz, p.p_offset
                )));
            }
        }
        if !self.section_headers.is_empty() && shstrndx != 0 {
            let index = if shstrndx == SHN_XINDEX {
                self.section_headers[0].sh_link
            } else {
                shstrndx
            };
            let names = self.section_headers.get(index as usize).ok_or_else(|| {
                malformed(format!("section name table index {index} is out of range"))
            })?;
            let table = slice(bytes, names.sh_offset, names.sh_size)
                .ok_or_else(|| malformed("the section name table lies outside the file"))?;
            if table.last() != Some(&0) {
                return Err(malformed(
                    "the section name table is empty or does not end with a NUL byte",
                ));
            }
            if let Some(s) = self
                .section_headers
                .iter()
                .find(|s| s.sh_name as u64 >= names.sh_size)
            {
                return Err(malformed(format!(
                    "a section's name offset {:#x} is outside the section name table",
                    s.sh_name
                )));
            }
        }
        for s in &self.section_headers {
            if s.sh_type == goblin::elf::section_header::SHT_NOBITS || s.sh_size == 0 {
                continue;
            }
            if s.sh_offset
                .checked_add(s.sh_size)
                .map_or(true, |end| end > file_len)
            {
                return Err(malformed(format!(
                    "a section ({:#x} bytes at {:#x}) runs past the end of the file",
                    s.sh_size, s.sh_offset
                )));
            }
            if s.sh_type == goblin::elf::section_header::SHT_DYNAMIC
                && s.sh_addralign > 1
                && s.sh_offset % s.sh_addralign != 0
            {
                return Err(malformed(format!(
                    ".dynamic at {:#x} is not aligned to {}",
                    s.sh_offset, s.sh_addralign
                )));
            }
        }
        let Some(d) = &self.dynamic else {
            return Ok(());
        };
        if let Some(strtab) = d.strtab {
            let alloc = goblin::elf::section_header::SHF_ALLOC as u64;
            if let Some(s) = self.section_headers.iter().find(|s| {
                s.sh_flags & alloc != 0
                    && s.sh_type != goblin::elf::section_header::SHT_NOBITS
                    && s.sh_offset != strtab.offset
                    && overlaps(s.sh_offset, s.sh_size, strtab.offset, strtab.size)
            }) {
                return Err(malformed(format!(
                    "the dynamic string table ({:#x} bytes at {:#x}) overlaps the section at {:#x}",
                    strtab.size, strtab.offset, s.sh_offset
                )));
            }
            if let Ok(refs) = super::refs::string_refs(self, d, bytes) {
                if let Some(r) = refs.iter().find(|&&r| r >= strtab.size) {
                    return Err(malformed(format!(
                        "a symbol, version or dynamic entry names string offset {r:#x}, outside \
                         the dynamic string table ({:#x} bytes)",
                        strtab.size
                    )));
                }
            }
        }
        if let Some(vaddr) = d.get(goblin::elf::dynamic::DT_GNU_HASH) {
            self.check_gnu_hash(bytes, vaddr)?;
        }
        Ok(())
    }

    /// The GNU hash table's header: at least one bucket, and its bloom filter, buckets (and a
    /// chain) inside the table (its section, or else the segment mapping it).
    fn check_gnu_hash(&self, bytes: &[u8], vaddr: u64) -> Result<(), ElfError> {
        let codec = self.codec();
        let bad = |why: &str| malformed(format!("the GNU hash table (DT_GNU_HASH): {why}"));
        let off = self
            .vaddr_to_offset(vaddr, 16)
            .ok_or_else(|| bad("not inside a PT_LOAD"))?;
        let size =
            match self.section_headers.iter().find(|s| {
                s.sh_type == goblin::elf::section_header::SHT_GNU_HASH && s.sh_offset == off
            }) {
                Some(s) => s.sh_size,
                None => self
                    .loads()
                    .find(|p| p.p_offset <= off && off < p.p_offset + p.p_filesz)
                    .map_or(16, |p| p.p_offset + p.p_filesz - off),
            };
        let word = |k: u64| codec.u32(bytes, off + 4 * k).map(u64::from);
        let (Some(nbuckets), Some(bloom)) = (word(0), word(2)) else {
            return Err(bad("truncated"));
        };
        if nbuckets == 0 {
            return Err(bad("no buckets"));
        }
        let need = bloom
            .checked_mul(codec.word_size() as u64)
            .and_then(|b| b.checked_add(16))
            .and_then(|b| b.checked_add(nbuckets.checked_mul(4)?));
        if need.map_or(true, |need| need > size) {
            return Err(bad(&format!(
                "{nbuckets} buckets and {bloom} bloom words do not fit its {size} bytes"
            )));
        }
        Ok(())
    }

    /// Executables are what the kernel starts: they name an interpreter or are not relocatable.
    pub fn is_executable(&self) -> bool {
        self.interpreter.is_some() || self.e_type == ET_EXEC
    }

    pub(crate) fn codec(&self) -> Codec {
        Codec {
            class: self.class,
            endian: self.endian,
        }
    }

    /// The page size the loader may use on this machine (patchelf's table): segments must not
    /// share a page of this size.
    pub fn arch_page_size(&self) -> u64 {
        use goblin::elf::header::*;
        const EM_ALPHA: u16 = 0x9026; // not in goblin: the unofficial value Linux uses
        match self.machine {
            EM_AARCH64 | EM_PPC | EM_PPC64 | EM_MIPS | EM_IA_64 | EM_ALPHA | EM_LOONGARCH
            | EM_TILEGX => 0x10000,
            EM_SPARC | EM_SPARCV9 => 0x2000,
            _ => 0x1000,
        }
    }

    /// The PT_LOAD program headers, in table order.
    pub fn loads(&self) -> impl Iterator<Item = &ProgramHeader> {
        self.program_headers.iter().filter(|p| p.p_type == PT_LOAD)
    }

    /// File offset of `len` bytes at `vaddr`, if one PT_LOAD maps all of them from the file.
    pub fn vaddr_to_offset(&self, vaddr: u64, len: u64) -> Option<u64> {
        self.loads().find_map(|p| {
            let rel = vaddr.checked_sub(p.p_vaddr)?;
            (rel.checked_add(len)? <= p.p_filesz).then_some(())?;
            p.p_offset.checked_add(rel)
        })
    }

    fn read_interp(&self, bytes: &[u8]) -> Result<Option<Interp>, ElfError> {
        let Some(p) = self.program_headers.iter().find(|p| p.p_type == PT_INTERP) else {
            return Ok(None);
        };
        let raw = slice(bytes, p.p_offset, p.p_filesz)
            .ok_or_else(|| malformed("PT_INTERP lies outside the file"))?;
        let end = raw
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| malformed("PT_INTERP is not NUL-terminated"))?;
        Ok(Some(Interp {
            path: raw[..end].to_vec(),
            range: FileRange {
                offset: p.p_offset,
                size: p.p_filesz,
            },
        }))
    }

    fn read_dynamic(&self, bytes: &[u8]) -> Result<Option<Dynamic>, ElfError> {
        let Some(p) = self.program_headers.iter().find(|p| p.p_type == PT_DYNAMIC) else {
            return Ok(None);
        };
        // A separate debug file (objcopy --only-keep-debug) keeps the segment but not its
        // bytes: nothing there is loaded or linked, so it is not a dynamic object to patch.
        if p.p_filesz == 0 {
            return Ok(None);
        }
        let codec = self.codec();
        let size = codec.dyn_size() as u64;
        slice(bytes, p.p_offset, p.p_filesz)
            .ok_or_else(|| malformed("PT_DYNAMIC lies outside the file"))?;
        // A writer that rewrites the headers would rewrite entries that share their bytes.
        let ehsize = if codec.word_size() == 8 { 64 } else { 52 };
        let table = self.program_headers.len() as u64 * codec.phdr_size() as u64;
        if overlaps(p.p_offset, p.p_filesz, 0, ehsize)
            || overlaps(p.p_offset, p.p_filesz, self.phoff, table)
        {
            return Err(malformed(
                "PT_DYNAMIC overlaps the ELF header or the program header table",
            ));
        }
        let slots = p.p_filesz / size;
        let mut entries = Vec::new();
        let mut terminated_at = None;
        for i in 0..slots {
            let at = p.p_offset + i * size;
            let tag = codec.word(bytes, at).unwrap_or(DT_NULL);
            let val = codec.word(bytes, at + size / 2).unwrap_or(0);
            if tag == DT_NULL {
                terminated_at = Some(i);
                break;
            }
            entries.push((tag, val));
        }
        let Some(first_null) = terminated_at else {
            return Err(malformed("dynamic section has no DT_NULL terminator"));
        };
        let spare_null_slots = (first_null + 1..slots)
            .take_while(|i| codec.word(bytes, p.p_offset + i * size) == Some(DT_NULL))
            .count();

        let mut dynamic = Dynamic {
            range: FileRange {
                offset: p.p_offset,
                size: p.p_filesz,
            },
            vaddr: p.p_vaddr,
            entry_size: size,
            entries,
            spare_null_slots,
            strtab: None,
            needed: Vec::new(),
            soname: None,
            runpath: None,
            rpath: None,
        };
        if let Some(vaddr) = dynamic.get(DT_STRTAB) {
            let size = dynamic
                .get(DT_STRSZ)
                .ok_or_else(|| malformed("DT_STRTAB without DT_STRSZ"))?;
            let offset = self.vaddr_to_offset(vaddr, size).ok_or_else(|| {
                malformed(format!(
                    "DT_STRTAB {vaddr:#x}+{size:#x} is not inside a PT_LOAD"
                ))
            })?;
            // A last string without its NUL would run on into whatever follows: into the
            // new strings of a grown copy.
            let last = offset
                .checked_add(size.saturating_sub(1))
                .and_then(|i| usize::try_from(i).ok())
                .and_then(|i| bytes.get(i));
            if size > 0 && last != Some(&0) {
                return Err(malformed(
                    "the dynamic string table (DT_STRTAB) does not end with a NUL byte",
                ));
            }
            if overlaps(offset, size, p.p_offset, p.p_filesz) {
                return Err(malformed(
                    "the dynamic string table overlaps the dynamic section",
                ));
            }
            dynamic.strtab = Some(StrTab {
                vaddr,
                offset,
                size,
            });
        }
        for &(tag, val) in &dynamic.entries {
            if !matches!(tag, DT_NEEDED | DT_SONAME | DT_RPATH | DT_RUNPATH) {
                continue;
            }
            let strtab = dynamic
                .strtab
                .ok_or_else(|| malformed("string-valued dynamic entry without DT_STRTAB"))?;
            let s = strtab_string(bytes, &strtab, val)
                .ok_or_else(|| {
                    malformed(format!(
                        "dynamic tag {tag:#x}: string offset {val:#x} is outside DT_STRTAB"
                    ))
                })?
                .to_vec();
            match tag {
                DT_NEEDED => dynamic.needed.push(s),
                DT_SONAME => dynamic.soname = Some(s),
                DT_RPATH => {
                    dynamic.rpath = Some(DynString {
                        bytes: s,
                        strtab_offset: val,
                    })
                }
                _ => {
                    dynamic.runpath = Some(DynString {
                        bytes: s,
                        strtab_offset: val,
                    })
                }
            }
        }
        Ok(Some(dynamic))
    }
}

impl ElfInfo {
    /// Every section's name, in section-header order (None where it cannot be read), for
    /// callers that map file offsets to sections (`fix-venv diff`).
    pub fn section_names<'a>(&self, bytes: &'a [u8]) -> Vec<Option<&'a [u8]>> {
        let shstrndx = Elf::parse_header(bytes).map_or(0, |h| u32::from(h.e_shstrndx));
        self.section_headers
            .iter()
            .map(|s| self.section_name(bytes, shstrndx, s.sh_name))
            .collect()
    }

    /// The name of a section, from the section-name string table (`e_shstrndx`, or section 0's
    /// `sh_link` when that is `SHN_XINDEX`); None when any of it is out of bounds.
    fn section_name<'a>(&self, bytes: &'a [u8], shstrndx: u32, sh_name: usize) -> Option<&'a [u8]> {
        let index = if shstrndx == SHN_XINDEX {
            self.section_headers.first()?.sh_link
        } else {
            shstrndx
        };
        let names = self.section_headers.get(usize::try_from(index).ok()?)?;
        let table = slice(bytes, names.sh_offset, names.sh_size)?;
        let rest = table.get(sh_name..)?;
        Some(&rest[..memchr::memchr(0, rest)?])
    }

    /// Every `.note.dlopen` section of type SHT_NOTE, walked as pyelftools (and so nixpkgs'
    /// auto-patchelf) walks notes: 12-byte headers, name and descriptor each padded to 4 bytes,
    /// the owner compared up to its first NUL. Everything is bounds-checked; a note that runs
    /// past its section ends that section's walk with a problem, never an error. At most
    /// [`DLOPEN_NOTES_MAX`] bytes of such sections are read.
    fn read_dlopen_notes(&self, bytes: &[u8], shstrndx: u32) -> DlopenNotes {
        let mut notes = DlopenNotes::default();
        let codec = self.codec();
        let mut budget = DLOPEN_NOTES_MAX;
        for sh in &self.section_headers {
            if sh.sh_type != SHT_NOTE
                || self.section_name(bytes, shstrndx, sh.sh_name) != Some(b".note.dlopen")
            {
                continue;
            }
            let Some(data) = slice(bytes, sh.sh_offset, sh.sh_size) else {
                notes.problems.push(format!(
                    "section at {:#x}+{:#x} lies outside the file",
                    sh.sh_offset, sh.sh_size
                ));
                continue;
            };
            let Some(left) = budget.checked_sub(data.len()) else {
                notes.problems.push(format!(
                    "more than {DLOPEN_NOTES_MAX} bytes of .note.dlopen sections; the rest ignored"
                ));
                break;
            };
            budget = left;
            let align4 = |n: usize| n.checked_add(3).map(|n| n & !3);
            let mut at = 0usize;
            while at < data.len() {
                let word = |k: usize| codec.u32(data, (at + 4 * k) as u64);
                let (Some(namesz), Some(descsz), Some(n_type)) = (word(0), word(1), word(2)) else {
                    notes
                        .problems
                        .push(format!("truncated note header at section offset {at:#x}"));
                    break;
                };
                let name_start = at + 12;
                let bounds = name_start
                    .checked_add(namesz as usize)
                    .and_then(|name_end| {
                        let desc_start = align4(name_end)?;
                        Some((
                            name_end,
                            desc_start,
                            desc_start.checked_add(descsz as usize)?,
                        ))
                    })
                    .filter(|&(_, _, desc_end)| desc_end <= data.len());
                let Some((name_end, desc_start, desc_end)) = bounds else {
                    notes.problems.push(format!(
                        "note at section offset {at:#x} (name {namesz} bytes, descriptor \
                         {descsz} bytes) runs past the end of the section"
                    ));
                    break;
                };
                let name = &data[name_start..name_end];
                let owner = &name[..memchr::memchr(0, name).unwrap_or(name.len())];
                if owner == b"FDO" && n_type == NT_FDO_DLOPEN_METADATA {
                    notes.descs.push(data[desc_start..desc_end].to_vec());
                }
                match align4(desc_end) {
                    Some(next) => at = next,
                    None => break,
                }
            }
        }
        if notes.problems.len() > DLOPEN_PROBLEMS_MAX {
            let more = notes.problems.len() - DLOPEN_PROBLEMS_MAX;
            notes.problems.truncate(DLOPEN_PROBLEMS_MAX);
            notes.problems.push(format!("and {more} more problems"));
        }
        notes
    }
}

/// Whether two non-empty file ranges share a byte.
fn overlaps(a: u64, a_len: u64, b: u64, b_len: u64) -> bool {
    a_len > 0 && b_len > 0 && a < b.saturating_add(b_len) && b < a.saturating_add(a_len)
}

pub(crate) fn slice(bytes: &[u8], offset: u64, len: u64) -> Option<&[u8]> {
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    bytes.get(start..end)
}

/// The NUL-terminated string at `at` in the table, without the NUL; None if it runs past DT_STRSZ.
pub(crate) fn strtab_string<'a>(bytes: &'a [u8], strtab: &StrTab, at: u64) -> Option<&'a [u8]> {
    let table = slice(bytes, strtab.offset, strtab.size)?;
    let rest = table.get(usize::try_from(at).ok()?..)?;
    let end = memchr::memchr(0, rest)?;
    Some(&rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A little-endian note: header, owner and descriptor, each padded to 4 bytes.
    fn note(owner: &[u8], n_type: u32, desc: &[u8], descsz: u32) -> Vec<u8> {
        let mut n = Vec::new();
        n.extend((owner.len() as u32).to_le_bytes());
        n.extend(descsz.to_le_bytes());
        n.extend(n_type.to_le_bytes());
        n.extend(owner);
        n.resize(n.len().next_multiple_of(4), 0);
        n.extend(desc);
        n.resize(n.len().next_multiple_of(4), 0);
        n
    }

    /// A minimal ELF64 file: no segments; sections null, .shstrtab and one per `sections`
    /// entry (name, type, contents).
    fn elf(sections: &[(&str, u32, &[u8])]) -> Vec<u8> {
        let mut names = b"\0.shstrtab\0".to_vec();
        let mut b = vec![0u8; 64];
        let mut headers: Vec<[u64; 4]> = vec![[0; 4]]; // name, type, offset, size
        headers.push([1, 3, 64, 0]);
        let mut bodies = Vec::new();
        for (name, ty, data) in sections {
            headers.push([names.len() as u64, u64::from(*ty), 0, data.len() as u64]);
            names.extend(name.as_bytes());
            names.push(0);
            bodies.push(*data);
        }
        headers[1][3] = names.len() as u64;
        b.extend(&names);
        for (h, data) in headers.iter_mut().skip(2).zip(bodies) {
            b.resize(b.len().next_multiple_of(4), 0);
            h[2] = b.len() as u64;
            b.extend(data);
        }
        b.resize(b.len().next_multiple_of(8), 0);
        let shoff = b.len() as u64;
        for [name, ty, offset, size] in &headers {
            let mut sh = [0u8; 64];
            sh[0..4].copy_from_slice(&(*name as u32).to_le_bytes());
            sh[4..8].copy_from_slice(&(*ty as u32).to_le_bytes());
            sh[24..32].copy_from_slice(&offset.to_le_bytes());
            sh[32..40].copy_from_slice(&size.to_le_bytes());
            sh[48..56].copy_from_slice(&4u64.to_le_bytes());
            b.extend(sh);
        }
        b[..16].copy_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
        b[16..18].copy_from_slice(&3u16.to_le_bytes()); // ET_DYN
        b[18..20].copy_from_slice(&62u16.to_le_bytes());
        b[20..24].copy_from_slice(&1u32.to_le_bytes());
        b[40..48].copy_from_slice(&shoff.to_le_bytes());
        b[52..54].copy_from_slice(&64u16.to_le_bytes());
        b[54..56].copy_from_slice(&56u16.to_le_bytes());
        b[58..60].copy_from_slice(&64u16.to_le_bytes());
        b[60..62].copy_from_slice(&(headers.len() as u16).to_le_bytes());
        b[62..64].copy_from_slice(&1u16.to_le_bytes());
        b
    }

    fn dlopen_of(bytes: &[u8]) -> DlopenNotes {
        ElfInfo::parse(bytes).unwrap().unwrap().dlopen
    }

    const T: u32 = NT_FDO_DLOPEN_METADATA;

    #[test]
    fn only_fdo_dlopen_notes_in_note_sections_named_note_dlopen_count() {
        let section = [
            note(b"FDO\0", T, b"one", 3),
            note(b"GNU\0", T, b"owner", 5),
            note(b"FDO\0", 1, b"type", 4),
            note(b"FDO\0\0\0\0\0", T, b"padded owner\0\0", 14),
            note(b"FDO\0", T, b"", 0),
        ]
        .concat();
        let other = note(b"FDO\0", T, b"elsewhere", 9);
        let bytes = elf(&[
            (".note.dlopen", SHT_NOTE, &section),
            (".note.other", SHT_NOTE, &other),
            (".note.dlopen", 1, &other), // PROGBITS: not a note section
        ]);
        let notes = dlopen_of(&bytes);
        assert_eq!(
            notes.descs,
            [b"one".to_vec(), b"padded owner\0\0".to_vec(), Vec::new()]
        );
        assert!(notes.problems.is_empty(), "{:?}", notes.problems);
    }

    #[test]
    fn hostile_notes_are_problems_and_what_came_before_is_kept() {
        let overrun = [
            note(b"FDO\0", T, b"ok", 2),
            note(b"FDO\0", T, b"x", u32::MAX),
        ]
        .concat();
        let notes = dlopen_of(&elf(&[(".note.dlopen", SHT_NOTE, &overrun)]));
        assert_eq!(notes.descs, [b"ok".to_vec()]);
        assert!(notes.problems[0].contains("runs past the end"), "{notes:?}");

        let mut torn = note(b"FDO\0", T, b"ok", 2);
        torn.extend([1, 0, 0, 0, 0, 0]);
        let notes = dlopen_of(&elf(&[(".note.dlopen", SHT_NOTE, &torn)]));
        assert_eq!(notes.descs, [b"ok".to_vec()]);
        assert!(
            notes.problems[0].contains("truncated note header"),
            "{notes:?}"
        );

        let huge_name = [&[0xff, 0xff, 0xff, 0xff][..], &[0; 8], b"FDO\0"].concat();
        let notes = dlopen_of(&elf(&[(".note.dlopen", SHT_NOTE, &huge_name)]));
        assert!(
            notes.descs.is_empty() && notes.problems.len() == 1,
            "{notes:?}"
        );
    }

    #[test]
    fn dlopen_sections_are_read_up_to_a_budget() {
        let zeros = vec![0u8; DLOPEN_NOTES_MAX - 12];
        let first = note(b"FDO\0", T, b"first", 5);
        let bytes = elf(&[
            (".note.dlopen", SHT_NOTE, &first),
            (".note.dlopen", SHT_NOTE, &zeros),
            (".note.dlopen", SHT_NOTE, &first),
        ]);
        let notes = dlopen_of(&bytes);
        assert_eq!(notes.descs, [b"first".to_vec()]);
        assert_eq!(notes.problems.len(), 1, "{:?}", notes.problems);
        assert!(notes.problems[0].starts_with("more than"), "{notes:?}");
    }

    #[test]
    fn a_section_outside_the_file_is_a_problem_not_an_error() {
        let mut bytes = elf(&[(".note.dlopen", SHT_NOTE, &note(b"FDO\0", T, b"x", 1))]);
        // The third section header's sh_size, made huge.
        let shoff = u64::from_le_bytes(bytes[40..48].try_into().unwrap()) as usize;
        bytes[shoff + 2 * 64 + 32..shoff + 2 * 64 + 40].copy_from_slice(&u64::MAX.to_le_bytes());
        let notes = dlopen_of(&bytes);
        assert!(notes.descs.is_empty());
        assert!(notes.problems[0].contains("outside the file"), "{notes:?}");
    }
}
