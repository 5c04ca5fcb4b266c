//! ELF files compiled in this build, made independent of where they were compiled.
//!
//! A C extension compiled from an sdist records uv's random build directory in its DWARF
//! (`DW_AT_comp_dir` = `~/.cache/uv/sdists-v11/pypi/NAME/VERSION/JpYYy6wKIocw1DxP/src`, or
//! `/tmp/.tmpKktqVT/…`), and the linker's GNU build-id, a hash over the whole file, follows
//! it. mkUvVenv sets `CFLAGS=-g0`, but some packages add their own `-g`.
//!
//! **Which files.** uv writes `uv_build.json` into the dist-info of every wheel it built
//! itself — from a registry's sdist, a path or a Git checkout, also when the built wheel
//! came from its cache — and never into a downloaded wheel's (checked with uv 0.13.9:
//! `uv pip install --no-binary markupsafe markupsafe pyyaml` gives markupsafe's dist-info a
//! `uv_build.json` of `{}`, the downloaded pyyaml none; `WHEEL`'s `Generator` is the build
//! backend's in both; `direct_url.json` only marks URL and path sources). So the files are
//! those listed in the RECORD of a dist-info holding `uv_build.json`, that start with the
//! ELF magic and are shared objects or executables (`ET_REL` objects, whose relocations
//! point into their debug sections, are left alone). A downloaded wheel is never touched:
//! it is the same bytes on every build already.
//!
//! **What changes**, in a copy of the file, nothing moving and the length kept (later tools
//! patch these files and expect the layout the linker made):
//! - every non-allocated `.debug_*` / `.zdebug_*` section with contents is zeroed and its
//!   type set to `SHT_NOBITS`, so readers (readelf, gdb, strip) skip it instead of parsing
//!   zeros. `.comment` is kept: it names the compiler, the same on every build with the
//!   same toolchain, and no build directory;
//! - every `NT_GNU_BUILD_ID` note's descriptor is recomputed: SHA-256 over the resulting
//!   file with the descriptor zeroed and every store hash after `STORE_DIR/` read as
//!   strip-store-refs will leave it (`eeee…`), cut (or extended by hashing again) to the
//!   descriptor's length. It still differs when the code differs, and does not depend on
//!   the build directory nor on the store paths of the build's inputs.
//!
//! A file with no such debug section is left alone: its build-id already covers only
//! bytes the build directory does not reach. The random part of uv's directories has a
//! fixed length, so two builds give files of one length and, after this, the same bytes.
//! A file that cannot be read as ELF is an error naming it, and nothing is changed.
//!
//! The new contents are written by `prepare`'s plan through a temporary file and a rename
//! (a copy, never through a hard link into uv's cache), so a file is either as uv left it
//! or wholly normalised; the result is re-read as ELF before it is planned.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use goblin::elf::header::{ET_DYN, ET_EXEC};
use goblin::elf::section_header::{SHF_ALLOC, SHN_XINDEX, SHT_NOBITS, SHT_NOTE, SHT_NULL};
use goblin::elf::{Elf, SectionHeader};
use sha2::{Digest, Sha256};

use super::error::{Result, VenvError};
use super::record::DistRecord;
use crate::elf::{Class, ElfError, ElfInfo, Endian};
use crate::shared::scan::Scanner;
use crate::shared::store::{StoreDir, HASH_LEN, NEUTRAL_BYTE};

/// The file uv writes into the dist-info of a wheel it built from source.
pub const BUILD_MARKER: &str = "uv_build.json";

/// `NT_GNU_BUILD_ID`.
const NT_GNU_BUILD_ID: u32 = 3;

/// What normalising one file changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Normalised {
    /// The sections zeroed and made `SHT_NOBITS`, in file order.
    pub sections: Vec<String>,
    /// How many build-id notes were recomputed (0 or 1 in practice).
    pub build_ids: usize,
}

/// A file to replace by its normalised copy.
#[derive(Clone, Debug)]
pub struct NormalisedFile {
    /// The file, absolute and inside the venv.
    pub path: PathBuf,
    /// The normalised copy: as long as the file, differing only in debug sections, their
    /// section headers and build-ids.
    pub contents: Vec<u8>,
    /// The file's permission bits (`0o7777` at most), kept for the copy.
    pub mode: u32,
    /// The distribution it belongs to (`name-version`).
    pub dist: String,
    /// What the copy changed.
    pub done: Normalised,
}

impl NormalisedFile {
    /// What changed and why, for the plan.
    pub fn why(&self) -> String {
        let build_id = if self.done.build_ids > 0 {
            ", GNU build-id recomputed from the rest"
        } else {
            ""
        };
        format!(
            "built from source here ({} has {BUILD_MARKER}), its debug info names the build \
             directory: {} .debug_* sections zeroed and made SHT_NOBITS{build_id}; RECORD \
             digest blanked (restore recomputes it)",
            self.dist,
            self.done.sections.len()
        )
    }
}

fn malformed(msg: impl Into<String>) -> ElfError {
    ElfError::Malformed(msg.into())
}

/// The normalised copies of the ELF files of every distribution uv built from source, by
/// path. `skip` says which paths prepare removes anyway.
pub fn plan(
    root: &Path,
    store: &StoreDir,
    records: &[DistRecord],
    skip: impl Fn(&Path) -> bool,
) -> Result<Vec<NormalisedFile>> {
    let mut files: BTreeMap<PathBuf, &str> = BTreeMap::new();
    for record in records {
        if !record.dist_info().join(BUILD_MARKER).is_file() {
            continue;
        }
        for entry in &record.entries {
            let path = record.path_of(entry);
            if path.starts_with(root) && !skip(&path) {
                files.entry(path).or_insert(&record.dist);
            }
        }
    }
    let mut out = Vec::new();
    for (path, dist) in files {
        if let Some(file) = normalise_file(&path, store, dist)? {
            out.push(file);
        }
    }
    Ok(out)
}

/// The normalised copy of `path`, or None when it is not an ELF file to normalise.
fn normalise_file(path: &Path, store: &StoreDir, dist: &str) -> Result<Option<NormalisedFile>> {
    use std::os::unix::fs::PermissionsExt;
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_file() => m,
        _ => return Ok(None),
    };
    let mut magic = [0u8; 4];
    let mut file = std::fs::File::open(path).map_err(|e| VenvError::io(path, e))?;
    match file.read_exact(&mut magic) {
        Ok(()) if &magic == b"\x7fELF" => {}
        Ok(()) => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(VenvError::io(path, e)),
    }
    let mut contents = std::fs::read(path).map_err(|e| VenvError::io(path, e))?;
    let done = normalise(&mut contents, store).map_err(|source| VenvError::MalformedElf {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(done.map(|done| NormalisedFile {
        path: path.to_path_buf(),
        contents,
        mode: meta.permissions().mode() & 0o7777,
        dist: dist.to_string(),
        done,
    }))
}

fn get_u32(endian: Endian, bytes: &[u8], off: u64) -> Option<u32> {
    let start = usize::try_from(off).ok()?;
    let b: [u8; 4] = bytes.get(start..start.checked_add(4)?)?.try_into().ok()?;
    Some(match endian {
        Endian::Little => u32::from_le_bytes(b),
        Endian::Big => u32::from_be_bytes(b),
    })
}

fn put_u32(endian: Endian, bytes: &mut [u8], off: usize, v: u32) {
    let b = match endian {
        Endian::Little => v.to_le_bytes(),
        Endian::Big => v.to_be_bytes(),
    };
    bytes[off..off + 4].copy_from_slice(&b);
}

/// `[offset, offset + size)` as a usize range inside a file of `len` bytes.
fn range_in(len: usize, offset: u64, size: u64) -> Option<Range> {
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(usize::try_from(size).ok()?)?;
    (end <= len).then_some(start..end)
}

fn overlaps(a: &Range, b: &Range) -> bool {
    a.start < b.end && b.start < a.end
}

/// Section names, read from the section name table; None for a name outside it.
fn section_names(
    bytes: &[u8],
    sections: &[SectionHeader],
    shstrndx: u32,
) -> std::result::Result<Vec<Option<String>>, ElfError> {
    let index = if shstrndx == SHN_XINDEX {
        sections.first().map_or(0, |s| s.sh_link)
    } else {
        shstrndx
    };
    let table = sections
        .get(index as usize)
        .filter(|_| index != 0)
        .ok_or_else(|| malformed(format!("section name table index {index} is out of range")))?;
    let table = range_in(bytes.len(), table.sh_offset, table.sh_size)
        .map(|r| &bytes[r])
        .ok_or_else(|| malformed("the section name table lies outside the file"))?;
    Ok(sections
        .iter()
        .map(|s| {
            let start = s.sh_name;
            let rest = table.get(start..)?;
            let end = rest.iter().position(|&b| b == 0)?;
            Some(String::from_utf8_lossy(&rest[..end]).into_owned())
        })
        .collect())
}

fn is_debug_name(name: &str) -> bool {
    name.starts_with(".debug") || name.starts_with(".zdebug")
}

type Range = std::ops::Range<usize>;

/// A section to zero: its index, name and bytes.
struct DebugSection {
    index: usize,
    name: String,
    range: Range,
}

/// Normalises an ELF file's bytes in place (see the module docs); None, bytes untouched,
/// when there is nothing to do. Every check comes before the first byte changes.
pub fn normalise(
    bytes: &mut [u8],
    store: &StoreDir,
) -> std::result::Result<Option<Normalised>, ElfError> {
    let Some(info) = ElfInfo::parse(bytes)? else {
        return Ok(None);
    };
    if (info.e_type != ET_DYN && info.e_type != ET_EXEC) || info.section_headers.is_empty() {
        return Ok(None);
    }
    let header = Elf::parse_header(bytes).map_err(|e| ElfError::Header(e.to_string()))?;
    let names = section_names(bytes, &info.section_headers, header.e_shstrndx.into())?;
    let debug = debug_sections(bytes.len(), &info, &names)?;
    if debug.is_empty() {
        return Ok(None);
    }
    let kept = kept_ranges(bytes.len(), &info, header.e_ehsize, &names, &debug);
    for d in &debug {
        if let Some((what, _)) = kept.iter().find(|(_, k)| overlaps(k, &d.range)) {
            return Err(malformed(format!("section {} overlaps {what}", d.name)));
        }
    }
    let notes = build_id_descriptors(bytes, &info, &names)?;

    let shdr_size = shdr_size(&info);
    for d in &debug {
        bytes[d.range.clone()].fill(0);
        let sh_type_at = info.shoff as usize + d.index * shdr_size + 4;
        put_u32(info.endian, bytes, sh_type_at, SHT_NOBITS);
    }
    for desc in &notes {
        bytes[desc.clone()].fill(0);
    }
    if !notes.is_empty() {
        let id = build_id(bytes, store);
        for desc in &notes {
            let n = desc.len();
            bytes[desc.clone()].copy_from_slice(&stretch(&id, n));
        }
    }
    // The result must still read as the same ELF file.
    let after = ElfInfo::parse(bytes)?.ok_or_else(|| malformed("lost its ELF magic"))?;
    if after.section_headers.len() != info.section_headers.len()
        || after.program_headers.len() != info.program_headers.len()
    {
        return Err(malformed("its headers read differently after normalising"));
    }
    Ok(Some(Normalised {
        sections: debug.into_iter().map(|d| d.name).collect(),
        build_ids: notes.len(),
    }))
}

fn shdr_size(info: &ElfInfo) -> usize {
    match info.class {
        Class::Elf64 => 64,
        Class::Elf32 => 40,
    }
}

fn phdr_size(info: &ElfInfo) -> usize {
    match info.class {
        Class::Elf64 => 56,
        Class::Elf32 => 32,
    }
}

/// The non-allocated `.debug_*` sections with contents, each inside the file.
fn debug_sections(
    len: usize,
    info: &ElfInfo,
    names: &[Option<String>],
) -> std::result::Result<Vec<DebugSection>, ElfError> {
    let mut debug = Vec::new();
    for (index, (s, name)) in info.section_headers.iter().zip(names).enumerate() {
        let Some(name) = name else {
            return Err(malformed(format!(
                "section {index}'s name lies outside the section name table"
            )));
        };
        if s.sh_flags & u64::from(SHF_ALLOC) != 0
            || s.sh_type == SHT_NOBITS
            || s.sh_type == SHT_NULL
            || s.sh_size == 0
            || !is_debug_name(name)
        {
            continue;
        }
        let range = range_in(len, s.sh_offset, s.sh_size).ok_or_else(|| {
            malformed(format!(
                "section {name} ({:#x} bytes at {:#x}) runs past the end of the file \
                 ({len} bytes)",
                s.sh_size, s.sh_offset
            ))
        })?;
        debug.push(DebugSection {
            index,
            name: name.clone(),
            range,
        });
    }
    Ok(debug)
}

/// What zeroing must not touch, named: the ELF header, the header tables, every segment's
/// bytes and every other section's.
fn kept_ranges(
    len: usize,
    info: &ElfInfo,
    ehsize: u16,
    names: &[Option<String>],
    debug: &[DebugSection],
) -> Vec<(String, Range)> {
    let table = |offset: u64, count: usize, size: usize| {
        range_in(len, offset, (count * size) as u64).unwrap_or(0..0)
    };
    let mut kept: Vec<(String, Range)> = vec![
        ("the ELF header".into(), 0..usize::from(ehsize).max(52)),
        (
            "the section header table".into(),
            table(info.shoff, info.section_headers.len(), shdr_size(info)),
        ),
        (
            "the program header table".into(),
            table(info.phoff, info.program_headers.len(), phdr_size(info)),
        ),
    ];
    for p in &info.program_headers {
        if let Some(r) = range_in(len, p.p_offset, p.p_filesz) {
            kept.push((format!("the segment at {:#x}", p.p_offset), r));
        }
    }
    for (i, (s, name)) in info.section_headers.iter().zip(names).enumerate() {
        if s.sh_type == SHT_NOBITS || debug.iter().any(|d| d.index == i) {
            continue;
        }
        if let Some(r) = range_in(len, s.sh_offset, s.sh_size) {
            let name = name.as_deref().unwrap_or_default();
            kept.push((format!("section {name}"), r));
        }
    }
    kept
}

/// The descriptors of the `NT_GNU_BUILD_ID` notes (owner `GNU`) in the note sections.
fn build_id_descriptors(
    bytes: &[u8],
    info: &ElfInfo,
    names: &[Option<String>],
) -> std::result::Result<Vec<Range>, ElfError> {
    let mut found = Vec::new();
    for (s, name) in info.section_headers.iter().zip(names) {
        if s.sh_type != SHT_NOTE || s.sh_size == 0 {
            continue;
        }
        let name = name.as_deref().unwrap_or_default();
        let section = range_in(bytes.len(), s.sh_offset, s.sh_size).ok_or_else(|| {
            malformed(format!("note section {name} runs past the end of the file"))
        })?;
        let align: u64 = if s.sh_addralign == 8 { 8 } else { 4 };
        let pad = |n: u64| n.div_ceil(align) * align;
        let (start, end) = (section.start as u64, section.end as u64);
        let mut at = start;
        while at + 12 <= end {
            let word = |k: u64| get_u32(info.endian, bytes, at + 4 * k).map(u64::from);
            let (Some(namesz), Some(descsz), Some(kind)) = (word(0), word(1), word(2)) else {
                break;
            };
            let name_at = at + 12;
            let desc_at = name_at + pad(namesz);
            let next = desc_at + pad(descsz);
            if desc_at + descsz > end {
                return Err(malformed(format!(
                    "a note in {name} runs past the end of its section"
                )));
            }
            let owner = &bytes[name_at as usize..(name_at + namesz) as usize];
            if kind == u64::from(NT_GNU_BUILD_ID) && owner == b"GNU\0" && descsz > 0 {
                found.push(desc_at as usize..(desc_at + descsz) as usize);
            }
            at = next;
        }
    }
    Ok(found)
}

/// SHA-256 over `bytes` with every store hash after `STORE_DIR/` read as `eeee…`.
fn build_id(bytes: &[u8], store: &StoreDir) -> [u8; 32] {
    let refs = Scanner::new(store, None).scan_bytes(bytes).prefixed;
    let neutral = [NEUTRAL_BYTE; HASH_LEN];
    let mut hasher = Sha256::new();
    let mut at = 0usize;
    for r in refs {
        let start = r.offset as usize;
        if start < at || start + HASH_LEN > bytes.len() {
            continue;
        }
        hasher.update(&bytes[at..start]);
        hasher.update(neutral);
        at = start + HASH_LEN;
    }
    hasher.update(&bytes[at..]);
    hasher.finalize().into()
}

/// `n` bytes from `digest`: its first `n`, or it followed by SHA-256 of what came before.
fn stretch(digest: &[u8; 32], n: usize) -> Vec<u8> {
    let mut out = digest.to_vec();
    while out.len() < n {
        let more: [u8; 32] = Sha256::digest(&out).into();
        out.extend_from_slice(&more);
    }
    out.truncate(n);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_sections_are_named_debug_or_zdebug() {
        for name in [".debug_info", ".debug_line_str", ".zdebug_info", ".debug"] {
            assert!(is_debug_name(name), "{name}");
        }
        for name in [
            ".comment",
            ".symtab",
            ".note.gnu.build-id",
            "debug_info",
            ".text",
        ] {
            assert!(!is_debug_name(name), "{name}");
        }
    }

    #[test]
    fn stretches_a_digest_to_any_length() {
        let d: [u8; 32] = Sha256::digest(b"x").into();
        assert_eq!(stretch(&d, 20), d[..20]);
        let long = stretch(&d, 40);
        assert_eq!(long.len(), 40);
        assert_eq!(long[..32], d);
        assert_ne!(long[32..], [0; 8]);
    }

    #[test]
    fn build_id_reads_store_hashes_as_stripped() {
        let store = StoreDir::new("/nix/store").unwrap();
        let a = b"x /nix/store/0a1b2c3d4f5g6h7i8j9k0l1m2n3p4q5r-lib y";
        let b = b"x /nix/store/5r4q3p2n1m0l9k8j7i6h5g4f3d2c1b0a-lib y";
        assert_eq!(build_id(a, &store), build_id(b, &store));
        assert_ne!(
            build_id(a, &store),
            build_id(b"x /nix/store/0a1b-lib y", &store)
        );
    }

    #[test]
    fn leaves_non_elf_and_refuses_truncated_elf() {
        let store = StoreDir::new("/nix/store").unwrap();
        let mut text = b"not elf".to_vec();
        assert_eq!(normalise(&mut text, &store), Ok(None));
        let mut short = b"\x7fELF\x02\x01\x01".to_vec();
        assert!(normalise(&mut short, &store).is_err());
        assert_eq!(short, b"\x7fELF\x02\x01\x01");
    }
}
