//! Class- and endian-aware integer access. goblin's `Pwrite` needs `scroll` in scope, which is
//! not a direct dependency, and the writer only ever emits a handful of fixed records, so a
//! few explicit encoders are simpler than pulling it in.

use goblin::elf::ProgramHeader;

/// ELF class (`e_ident[EI_CLASS]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// 32-bit: 4-byte words and addresses.
    Elf32,
    /// 64-bit: 8-byte words and addresses.
    Elf64,
}

/// Byte order (`e_ident[EI_DATA]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endian {
    /// Least significant byte first (`ELFDATA2LSB`).
    Little,
    /// Most significant byte first (`ELFDATA2MSB`).
    Big,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Codec {
    pub class: Class,
    pub endian: Endian,
}

impl Codec {
    pub fn word_size(self) -> usize {
        match self.class {
            Class::Elf32 => 4,
            Class::Elf64 => 8,
        }
    }

    pub fn dyn_size(self) -> usize {
        2 * self.word_size()
    }

    pub fn phdr_size(self) -> usize {
        match self.class {
            Class::Elf32 => 32,
            Class::Elf64 => 56,
        }
    }

    /// Size of one section header.
    pub fn shdr_size(self) -> u64 {
        match self.class {
            Class::Elf32 => 40,
            Class::Elf64 => 64,
        }
    }

    fn bytes<const N: usize>(b: &[u8], off: u64) -> Option<[u8; N]> {
        let start = usize::try_from(off).ok()?;
        b.get(start..start.checked_add(N)?)?.try_into().ok()
    }

    pub fn u16(self, b: &[u8], off: u64) -> Option<u16> {
        let a = Self::bytes::<2>(b, off)?;
        Some(match self.endian {
            Endian::Little => u16::from_le_bytes(a),
            Endian::Big => u16::from_be_bytes(a),
        })
    }

    pub fn u32(self, b: &[u8], off: u64) -> Option<u32> {
        let a = Self::bytes::<4>(b, off)?;
        Some(match self.endian {
            Endian::Little => u32::from_le_bytes(a),
            Endian::Big => u32::from_be_bytes(a),
        })
    }

    pub fn u64(self, b: &[u8], off: u64) -> Option<u64> {
        let a = Self::bytes::<8>(b, off)?;
        Some(match self.endian {
            Endian::Little => u64::from_le_bytes(a),
            Endian::Big => u64::from_be_bytes(a),
        })
    }

    /// A class-sized field (`Elf32_Addr`/`Elf64_Addr`, `d_val`, ...).
    pub fn word(self, b: &[u8], off: u64) -> Option<u64> {
        match self.class {
            Class::Elf32 => self.u32(b, off).map(u64::from),
            Class::Elf64 => self.u64(b, off),
        }
    }

    pub fn put_u16(self, out: &mut Vec<u8>, v: u16) {
        out.extend_from_slice(&match self.endian {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        });
    }

    pub fn put_u32(self, out: &mut Vec<u8>, v: u32) {
        out.extend_from_slice(&match self.endian {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        });
    }

    /// Callers only pass values that came from (or were sized for) this class, so the 32-bit
    /// truncation is checked by `fits_word` before any plan is made.
    pub fn put_word(self, out: &mut Vec<u8>, v: u64) {
        match self.class {
            Class::Elf32 => self.put_u32(out, v as u32),
            Class::Elf64 => out.extend_from_slice(&match self.endian {
                Endian::Little => v.to_le_bytes(),
                Endian::Big => v.to_be_bytes(),
            }),
        }
    }

    pub fn fits_word(self, v: u64) -> bool {
        self.class == Class::Elf64 || v <= u64::from(u32::MAX)
    }

    pub fn encode_dyn(self, tag: u64, val: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.dyn_size());
        self.put_word(&mut out, tag);
        self.put_word(&mut out, val);
        out
    }

    /// Field order differs between the classes (p_flags moves), hence two layouts.
    pub fn encode_phdr(self, p: &ProgramHeader) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.phdr_size());
        match self.class {
            Class::Elf64 => {
                self.put_u32(&mut out, p.p_type);
                self.put_u32(&mut out, p.p_flags);
                for v in [
                    p.p_offset, p.p_vaddr, p.p_paddr, p.p_filesz, p.p_memsz, p.p_align,
                ] {
                    self.put_word(&mut out, v);
                }
            }
            Class::Elf32 => {
                self.put_u32(&mut out, p.p_type);
                for v in [p.p_offset, p.p_vaddr, p.p_paddr, p.p_filesz, p.p_memsz] {
                    self.put_word(&mut out, v);
                }
                self.put_u32(&mut out, p.p_flags);
                self.put_word(&mut out, p.p_align);
            }
        }
        out
    }

    /// Offsets of (sh_addr, sh_offset, sh_size) inside one section header; the writer patches
    /// just these three fields so every other field stays byte-identical.
    pub fn shdr_addr_offset_size(self) -> (u64, u64, u64) {
        match self.class {
            Class::Elf32 => (12, 16, 20),
            Class::Elf64 => (16, 24, 32),
        }
    }

    /// Offsets of e_phoff and e_phnum in the ELF header.
    pub fn ehdr_phoff_phnum(self) -> (u64, u64) {
        match self.class {
            Class::Elf32 => (0x1c, 0x2c),
            Class::Elf64 => (0x20, 0x38),
        }
    }
}
