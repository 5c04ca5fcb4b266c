//! A lazy ELF reader: the ELF header, program headers, section headers and the dynamic
//! segment, nothing more. `goblin::elf::Elf::parse` is avoided on purpose: it indexes every
//! string table and relocation (milliseconds on big libraries) and rejects non-UTF-8 names.
//! All strings here are raw bytes.

use goblin::container::{Container, Ctx};
use goblin::elf::dynamic::{
    DT_NEEDED, DT_NULL, DT_RPATH, DT_RUNPATH, DT_SONAME, DT_STRSZ, DT_STRTAB,
};
use goblin::elf::header::{EI_OSABI, ET_EXEC};
use goblin::elf::program_header::{PT_DYNAMIC, PT_INTERP, PT_LOAD};
use goblin::elf::{Elf, ProgramHeader, SectionHeader};

use super::codec::{Class, Codec, Endian};

/// Why a file that starts with `\x7fELF` could not be read. The caller adds the path.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ElfError {
    #[error("bad ELF header: {0}")]
    Header(String),
    #[error("malformed ELF: {0}")]
    Malformed(String),
}

fn malformed(msg: impl Into<String>) -> ElfError {
    ElfError::Malformed(msg.into())
}

/// A byte range of the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileRange {
    pub offset: u64,
    pub size: u64,
}

/// PT_INTERP: the path without its NUL, and the whole segment's file range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interp {
    pub path: Vec<u8>,
    pub range: FileRange,
}

/// A string-valued dynamic entry: its bytes and its offset into the dynamic string table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DynString {
    pub bytes: Vec<u8>,
    pub strtab_offset: u64,
}

/// Where DT_STRTAB lives: `vaddr` as the loader sees it, `offset` in the file, `size` = DT_STRSZ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StrTab {
    pub vaddr: u64,
    pub offset: u64,
    pub size: u64,
}

/// The dynamic segment. `entries` stops before the first DT_NULL; the entry at index `i` sits
/// at file offset `range.offset + i * entry_size`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dynamic {
    pub range: FileRange,
    pub vaddr: u64,
    pub entry_size: u64,
    pub entries: Vec<(u64, u64)>,
    /// DT_NULL entries directly after the terminating one: room to add entries in place.
    pub spare_null_slots: usize,
    pub strtab: Option<StrTab>,
    pub needed: Vec<Vec<u8>>,
    pub soname: Option<Vec<u8>>,
    pub runpath: Option<DynString>,
    pub rpath: Option<DynString>,
}

impl Dynamic {
    pub fn entry_offset(&self, index: usize) -> u64 {
        self.range.offset + index as u64 * self.entry_size
    }

    /// First value of `tag`, if present.
    pub fn get(&self, tag: u64) -> Option<u64> {
        self.entries.iter().find(|e| e.0 == tag).map(|e| e.1)
    }
}

/// What patch-rpaths needs to know about one ELF file.
#[derive(Clone, Debug)]
pub struct ElfInfo {
    pub class: Class,
    pub endian: Endian,
    pub machine: u16,
    pub osabi: u8,
    pub e_type: u16,
    pub phoff: u64,
    pub program_headers: Vec<ProgramHeader>,
    pub shoff: u64,
    /// Empty when the file has none (sstrip'ed files); the writer then updates none.
    pub section_headers: Vec<SectionHeader>,
    pub interpreter: Option<Interp>,
    pub dynamic: Option<Dynamic>,
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
        };
        info.interpreter = info.read_interp(bytes)?;
        info.dynamic = info.read_dynamic(bytes)?;
        Ok(Some(info))
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
