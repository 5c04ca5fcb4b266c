//! Writing an [`ElfEdit`]: build the new bytes, prove they are what the plan promised, then
//! write them. A refusal or a failed check leaves the original untouched (arwen's CLI
//! truncated its input before failing; we never open the target for writing before the check).
//!
//! Two ways to write, both all-or-nothing under a kill:
//! - **in place**: an edit that only overwrites bytes inside the file (no tail: the usual case
//!   after strip-store-refs, a same-length RUNPATH) and whose patches all lie in one page is
//!   one `pwrite` into the open file, after checking that those bytes still are what was read.
//!   Inode, mode, owner and hard links stay; a read-only file is writable only for the write.
//!   A kill lands before or after that one write: the kernel copies one page without
//!   checking for signals. A file with other hard links is never written through (the other
//!   names would change too), and neither is an edit spread over several pages;
//! - **replaced**: anything else goes to a temporary file beside the original
//!   (`.NAME.patch-rpaths.PID`): the original's bytes copied file to file
//!   (`copy_file_range`), the patches and the tail written, what the file then holds checked,
//!   and it is renamed over the original, keeping the mode.
//!
//! Nothing is fsynced unless asked ([`WriteOptions::fsync`]): a rename is atomic under a kill,
//! and a build that loses power is rebuilt.

use std::fs::{self, File, OpenOptions};
use std::io::{IoSlice, Seek, Write};
use std::ops::Range;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use goblin::elf::program_header::PT_LOAD;
use memmap2::{Mmap, MmapOptions};

use super::plan::ElfEdit;
use super::read::ElfInfo;
use crate::shared::leftover;
use crate::shared::report::Reportable;
use crate::strip::rewrite::{self, RewriteError};

/// The unit the kernel writes without checking for a fatal signal in between, and so the
/// widest in-place write that a kill cannot tear.
const PAGE: u64 = 4096;

/// Failure to write an edited file; each carries the file's path. The original is left as
/// it was.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// A system call failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The result did not read back as planned; nothing was written.
    #[error("{}: edited file failed its self-check: {reason}", path.display())]
    Verify {
        /// The file.
        path: PathBuf,
        /// What differed.
        reason: String,
    },
    /// Opening or writing the file in place (the message names the path).
    #[error("{0}")]
    InPlace(#[from] RewriteError),
    /// The file is no longer the one the edit was planned from.
    #[error("{}: changed since it was read; left untouched", path.display())]
    Changed {
        /// The file.
        path: PathBuf,
    },
}

impl Reportable for WriteError {
    fn path(&self) -> &Path {
        match self {
            WriteError::Io { path, .. }
            | WriteError::Verify { path, .. }
            | WriteError::Changed { path } => path,
            WriteError::InPlace(e) => e.path(),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            WriteError::Io { .. } => "io",
            WriteError::Verify { .. } => "verify",
            WriteError::InPlace(e) => e.kind(),
            WriteError::Changed { .. } => "changed",
        }
    }
}

/// How [`write_edit_with`] writes.
#[derive(Clone, Copy, Debug, Default)]
pub struct WriteOptions {
    /// fsync the written file, and after a rename its directory.
    pub fsync: bool,
    /// The (device, inode) the bytes were read from: an in-place write refuses another file.
    pub identity: Option<(u64, u64)>,
}

/// How an edit reached the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteMethod {
    /// One `pwrite` into the file itself.
    InPlace,
    /// A checked temporary copy renamed over it.
    Replaced,
}

/// Apply `edit` (planned from `bytes`, the current contents of `path`), without fsync.
pub fn write_edit(path: &Path, bytes: &[u8], edit: &ElfEdit) -> Result<(), WriteError> {
    write_edit_with(path, bytes, edit, &WriteOptions::default()).map(|_| ())
}

/// Apply `edit` (planned from `bytes`, the current contents of `path`): the result is built
/// and checked before the original changes, then written in place when it can be, else
/// through a temporary file.
pub fn write_edit_with(
    path: &Path,
    bytes: &[u8],
    edit: &ElfEdit,
    opts: &WriteOptions,
) -> Result<WriteMethod, WriteError> {
    if let Some(span) = in_place_span(bytes.len() as u64, edit) {
        if write_in_place(path, bytes, edit, span, opts)? {
            return Ok(WriteMethod::InPlace);
        }
    }
    replace(path, bytes, edit, opts)?;
    Ok(WriteMethod::Replaced)
}

/// The one range an in-place write covers: every patch, the bytes between them (written back
/// as they are), all in one page; None when the edit appends or spreads over pages.
fn in_place_span(len: u64, edit: &ElfEdit) -> Option<Range<u64>> {
    if !edit.tail.is_empty() {
        return None;
    }
    one_page_span(
        len,
        edit.patches
            .iter()
            .map(|p| p.offset..p.offset + p.bytes.len() as u64),
    )
}

/// The range covering `ranges`, when it is non-empty, inside a file of `len` bytes and
/// within one page.
fn one_page_span(len: u64, ranges: impl Iterator<Item = Range<u64>>) -> Option<Range<u64>> {
    let (start, end) = ranges.fold((u64::MAX, 0), |(s, e), r| (s.min(r.start), e.max(r.end)));
    (start < end && end <= len && start / PAGE == (end - 1) / PAGE).then_some(start..end)
}

/// Writes the edit into the file itself with one `pwrite` of `span`, after checking it is
/// still the file `bytes` was read from, that `span` still holds what was read, and that the
/// result (the file mapped copy-on-write, patched: only the touched pages are copied) parses
/// as planned. False, with nothing done, when the file has other hard links: writing through
/// would change them too.
fn write_in_place(
    path: &Path,
    bytes: &[u8],
    edit: &ElfEdit,
    span: Range<u64>,
    opts: &WriteOptions,
) -> Result<bool, WriteError> {
    let io = |source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    };
    let changed = || WriteError::Changed {
        path: path.to_path_buf(),
    };
    if fs::symlink_metadata(path).map_err(io)?.nlink() > 1 {
        return Ok(false);
    }
    let (file, writable) = rewrite::open_for_write(path)?;
    let meta = file.metadata().map_err(io)?;
    let same_file = opts
        .identity
        .map_or(true, |id| id == (meta.dev(), meta.ino()));
    if !meta.is_file() || !same_file || meta.len() != bytes.len() as u64 {
        return Err(changed());
    }
    if meta.nlink() > 1 {
        return Ok(false);
    }
    // SAFETY: a private, copy-on-write map: our writes to it never reach the file, and it is
    // dropped before the file is written.
    let mut new = unsafe { MmapOptions::new().map_copy(&file) }.map_err(io)?;
    let (start, end) = (span.start as usize, span.end as usize);
    if new.len() != bytes.len() || new[start..end] != bytes[start..end] {
        return Err(changed());
    }
    for p in &edit.patches {
        let at = p.offset as usize;
        new[at..at + p.bytes.len()].copy_from_slice(&p.bytes);
    }
    check(bytes, &new, edit).map_err(|reason| WriteError::Verify {
        path: path.to_path_buf(),
        reason,
    })?;
    file.write_all_at(&new[start..end], span.start)
        .map_err(io)?;
    drop(new);
    if opts.fsync {
        file.sync_data().map_err(io)?;
    }
    drop(file);
    writable.finish()?;
    Ok(true)
}

/// Writes the edited file to a temporary file beside `path` (the original's bytes around the
/// patches, then the tail: no copy of it in memory), checks what that file holds, and renames
/// it over `path`, keeping the mode. On any failure the temporary file goes and the original
/// stays as it was.
fn replace(
    path: &Path,
    bytes: &[u8],
    edit: &ElfEdit,
    opts: &WriteOptions,
) -> Result<(), WriteError> {
    let verify = |reason: String| WriteError::Verify {
        path: path.to_path_buf(),
        reason,
    };
    let io = |source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut patches: Vec<&super::plan::Overwrite> = edit.patches.iter().collect();
    patches.sort_by_key(|p| p.offset);
    let mut pieces: Vec<&[u8]> = Vec::with_capacity(2 * patches.len() + 2);
    let mut from = 0usize;
    for p in &patches {
        let at = p.offset as usize;
        if at < from || at + p.bytes.len() > bytes.len() {
            return Err(verify(format!(
                "patch at {:#x} overlaps another or is past the end of the file",
                p.offset
            )));
        }
        pieces.push(&bytes[from..at]);
        pieces.push(&p.bytes);
        from = at + p.bytes.len();
    }
    pieces.push(&bytes[from..]);
    pieces.push(&edit.tail);

    let perms = fs::metadata(path).map_err(io)?.permissions();
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| verify("path has no file name".into()))?;
    let tmp = dir.join(leftover::patch_temp_name(name, std::process::id()));
    let written = (|| -> Result<(), WriteError> {
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io)?;
        // The original's bytes are copied file to file where the kernel can (no pass through
        // this process's memory); the patches and the tail, and everything when it cannot,
        // are written from memory.
        let copied = match File::open(path) {
            Ok(src) => copy_pieces(&src, bytes, &pieces, &mut f, opts).map_err(io)?,
            Err(_) => false,
        };
        if !copied {
            f.set_len(0).map_err(io)?;
            f.seek(std::io::SeekFrom::Start(0)).map_err(io)?;
            populate(bytes);
            write_all_vectored(&mut f, &pieces).map_err(io)?;
        }
        // The self-check reads back what the temporary file holds.
        // SAFETY: a read-only map of the file this process just wrote and nothing else has.
        let new = unsafe { Mmap::map(&f) }.map_err(io)?;
        check(bytes, &new, edit).map_err(verify)?;
        drop(new);
        // Permissions last: the original may be read-only (store outputs are 0444/0555).
        f.set_permissions(perms).map_err(io)?;
        if opts.fsync {
            f.sync_all().map_err(io)?;
        }
        drop(f);
        fs::rename(&tmp, path).map_err(io)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    if opts.fsync {
        // Make the rename durable; failure here does not undo a completed, verified write.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Writes `pieces` to `out`: those that are ranges of `bytes` (the original's contents) with
/// `copy_file_range` from `src`, the others from memory. False, with `out` in an unknown state,
/// when `src` is not the file `bytes` was read from or the kernel cannot copy between them.
fn copy_pieces(
    src: &File,
    bytes: &[u8],
    pieces: &[&[u8]],
    out: &mut File,
    opts: &WriteOptions,
) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    let meta = src.metadata()?;
    let same = opts
        .identity
        .map_or(true, |id| id == (meta.dev(), meta.ino()));
    if !same || meta.len() != bytes.len() as u64 {
        return Ok(false);
    }
    let base = bytes.as_ptr() as usize;
    for piece in pieces {
        let start = (piece.as_ptr() as usize).wrapping_sub(base);
        let from_original =
            !piece.is_empty() && start < bytes.len() && start + piece.len() <= bytes.len();
        if !from_original {
            out.write_all(piece)?;
            continue;
        }
        let mut off = start as libc::loff_t;
        let mut left = piece.len();
        while left > 0 {
            // SAFETY: two open descriptors and an offset we own; no memory is passed.
            let n = unsafe {
                libc::copy_file_range(
                    src.as_raw_fd(),
                    &mut off,
                    out.as_raw_fd(),
                    std::ptr::null_mut(),
                    left,
                    0,
                )
            };
            match n {
                n if n > 0 => left -= n as usize,
                0 => return Ok(false),
                _ => {
                    let e = std::io::Error::last_os_error();
                    return match e.raw_os_error() {
                        Some(libc::EINTR) => continue,
                        Some(
                            libc::ENOSYS
                            | libc::EXDEV
                            | libc::EINVAL
                            | libc::EOPNOTSUPP
                            | libc::EBADF,
                        ) => Ok(false),
                        _ => Err(e),
                    };
                }
            }
        }
    }
    Ok(true)
}

/// Maps in every page of `bytes` when it is a file mapping (page-aligned), before it is
/// copied into the page cache: the kernel copies from user memory without taking faults, and
/// on each source page not yet mapped it zeroes the new page-cache folio, faults the page in
/// and copies again (a fifth of the run's time on the benchmark, with large folios). Best
/// effort: an older kernel without MADV_POPULATE_READ just takes the slow path.
fn populate(bytes: &[u8]) {
    let addr = bytes.as_ptr() as usize;
    if bytes.is_empty() || addr % PAGE as usize != 0 {
        return;
    }
    // SAFETY: advice on memory the slice covers; it changes no contents.
    unsafe {
        libc::madvise(
            addr as *mut libc::c_void,
            bytes.len(),
            libc::MADV_POPULATE_READ,
        );
    }
}

/// Writes `pieces` one after the other with as few `writev`s as the kernel allows: one pass
/// over the page cache, where a `write` per piece would have the file system zero the rest of
/// each new page (or large folio) that a piece ends inside, only to overwrite it next.
fn write_all_vectored(f: &mut File, pieces: &[&[u8]]) -> std::io::Result<()> {
    let mut pieces: Vec<&[u8]> = pieces.iter().copied().filter(|p| !p.is_empty()).collect();
    while !pieces.is_empty() {
        let slices: Vec<IoSlice> = pieces.iter().map(|p| IoSlice::new(p)).collect();
        let mut n = match f.write_vectored(&slices) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let mut done = 0;
        for p in pieces.iter_mut() {
            if n >= p.len() {
                n -= p.len();
                done += 1;
            } else {
                *p = &p[n..];
                break;
            }
        }
        pieces.drain(..done);
    }
    Ok(())
}

/// Re-read the result and compare it with the original and the plan.
fn check(old: &[u8], new: &[u8], edit: &ElfEdit) -> Result<(), String> {
    // Outside the patched ranges (merged, in order) the old bytes must be there unchanged:
    // compared slice by slice, which is memcmp's speed rather than a byte loop's.
    let mut ranges: Vec<(usize, usize)> = edit
        .patches
        .iter()
        .map(|p| (p.offset as usize, p.offset as usize + p.bytes.len()))
        .collect();
    ranges.sort_unstable();
    if new.len() != old.len() + edit.tail.len() || new[old.len()..] != edit.tail[..] {
        return Err("the result does not end with the planned tail".into());
    }
    let mut from = 0;
    for (start, end) in ranges
        .into_iter()
        .map(|(s, e)| (s.min(old.len()), e.min(old.len())))
        .chain([(old.len(), old.len())])
    {
        if start > from && old[from..start] != new[from..start] {
            let i = from + (from..start).position(|i| old[i] != new[i]).unwrap_or(0);
            return Err(format!("byte {i:#x} changed outside the planned ranges"));
        }
        from = from.max(end);
    }
    let before = ElfInfo::parse(old)
        .ok()
        .flatten()
        .ok_or("original no longer parses")?;
    let after = ElfInfo::parse(new)
        .map_err(|e| e.to_string())?
        .ok_or("result is not ELF")?;
    let (bd, ad) = (before.dynamic.as_ref(), after.dynamic.as_ref());
    if bd.map(|d| (&d.needed, &d.soname)) != ad.map(|d| (&d.needed, &d.soname)) {
        return Err("DT_NEEDED or DT_SONAME changed".into());
    }
    if let Some(want) = &edit.change.runpath {
        let d = ad.ok_or("dynamic section vanished")?;
        let got: Vec<&Vec<u8>> = [&d.runpath, &d.rpath]
            .into_iter()
            .flatten()
            .map(|s| &s.bytes)
            .collect();
        if got.is_empty() || got.iter().any(|g| *g != want) {
            return Err("RUNPATH does not read back as planned".into());
        }
    }
    let interp = |i: &ElfInfo| i.interpreter.as_ref().map(|i| i.path.clone());
    let want = edit.change.interpreter.clone().or_else(|| interp(&before));
    if interp(&after) != want {
        return Err("interpreter does not read back as planned".into());
    }
    if edit.change.runpath.is_none() {
        let paths =
            |d: Option<&super::read::Dynamic>| d.map(|d| (d.runpath.clone(), d.rpath.clone()));
        if paths(bd) != paths(ad) {
            return Err("RUNPATH changed unasked".into());
        }
    }
    check_loads(&before, &after, edit.retired_load.as_ref())
}

/// PT_LOADs ascend; a new one is congruent mod p_align and shares no page with another;
/// every original one survives but the one the plan retired.
fn check_loads(
    before: &ElfInfo,
    after: &ElfInfo,
    retired: Option<&goblin::elf::ProgramHeader>,
) -> Result<(), String> {
    let loads: Vec<_> = after.loads().collect();
    if loads.len() > before.loads().count() + usize::from(retired.is_none()) {
        return Err("more PT_LOADs than planned".into());
    }
    if let Some(gone) = before
        .loads()
        .filter(|o| Some(*o) != retired)
        .find(|o| !loads.contains(o))
    {
        return Err(format!("the PT_LOAD at {:#x} changed", gone.p_vaddr));
    }
    if loads.windows(2).any(|w| w[0].p_vaddr > w[1].p_vaddr) {
        return Err("PT_LOAD entries are not in ascending order".into());
    }
    // (An original one is as the file had it, odd or not.)
    for p in loads.iter().filter(|p| !before.loads().any(|o| o == **p)) {
        if p.p_align > 1 && (p.p_vaddr.wrapping_sub(p.p_offset)) % p.p_align != 0 {
            return Err(format!(
                "PT_LOAD at {:#x}: offset and address not congruent mod p_align",
                p.p_vaddr
            ));
        }
    }
    let page = after.arch_page_size();
    let pages = |p: &goblin::elf::ProgramHeader| {
        (
            p.p_vaddr / page,
            p.p_vaddr.saturating_add(p.p_memsz).div_ceil(page),
        )
    };
    for new in loads.iter().filter(|p| {
        !before
            .program_headers
            .iter()
            .any(|o| o.p_type == PT_LOAD && o == **p)
    }) {
        let (s, e) = pages(new);
        // Other kinds (PT_INTERP, PT_PHDR) may legitimately live inside the new segment.
        for other in loads.iter().filter(|o| *o != new) {
            let (os, oe) = pages(other);
            if s < oe && os < e {
                return Err(format!(
                    "new PT_LOAD at {:#x} shares a page with another segment",
                    new.p_vaddr
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_in_place_write_covers_its_patches_within_one_page() {
        let span = |ranges: &[(u64, u64)]| one_page_span(10_000, ranges.iter().map(|&(s, e)| s..e));
        assert_eq!(span(&[(100, 110), (200, 210)]), Some(100..210));
        assert_eq!(span(&[(4090, 4096)]), Some(4090..4096));
        assert_eq!(span(&[(4090, 4097)]), None, "crosses a page");
        assert_eq!(span(&[(100, 110), (5000, 5010)]), None, "two pages");
        assert_eq!(span(&[(9990, 10_001)]), None, "past the end");
        assert_eq!(span(&[]), None);
    }

    #[test]
    fn vectored_writes_put_every_piece_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut f = File::create(&path).unwrap();
        let big = vec![7u8; 3 << 20];
        let pieces: Vec<&[u8]> = vec![b"ab", b"", &big, b"c", b"", b"def"];
        write_all_vectored(&mut f, &pieces).unwrap();
        drop(f);
        let got = fs::read(&path).unwrap();
        assert_eq!(got.len(), 2 + big.len() + 4);
        assert_eq!(&got[..2], b"ab");
        assert!(got[2..2 + big.len()].iter().all(|&b| b == 7));
        assert_eq!(&got[2 + big.len()..], b"cdef");
    }
}
