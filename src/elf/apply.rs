//! Applying an [`Edit`]: build the new bytes, prove they are what the plan promised, then
//! replace the file atomically. A refusal or a failed check leaves the original untouched
//! (arwen's CLI truncated its input before failing; we never open the target for writing).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use goblin::elf::program_header::PT_LOAD;

use super::read::ElfInfo;
use super::write::Edit;
use crate::leftover;

/// Failure to write an edited file; each carries the file's path.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: edited file failed its self-check: {reason}", path.display())]
    Verify { path: PathBuf, reason: String },
}

/// Apply `edit` (planned from `bytes`, the current contents of `path`).
pub fn apply(path: &Path, bytes: &[u8], edit: &Edit) -> Result<(), WriteError> {
    let verify = |reason: String| WriteError::Verify {
        path: path.to_path_buf(),
        reason,
    };
    let out = build(bytes, edit).map_err(verify)?;
    check(bytes, &out, edit).map_err(verify)?;
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| WriteError::Io { path: p, source }
    };
    let perms = fs::metadata(path).map_err(io(path))?.permissions();
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| verify("path has no file name".into()))?;
    let tmp = dir.join(leftover::patch_temp_name(name, std::process::id()));
    let written = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(&out)?;
        // Permissions last: the original may be read-only (store outputs are 0444/0555).
        f.set_permissions(perms)?;
        f.sync_all()
    })();
    if let Err(e) = written.and_then(|()| fs::rename(&tmp, path)) {
        let _ = fs::remove_file(&tmp);
        return Err(io(path)(e));
    }
    // Make the rename durable; failure here does not undo a completed, verified write.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The edited bytes: original, patches over it, tail after it.
pub fn build(bytes: &[u8], edit: &Edit) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(bytes.len() + edit.tail.len());
    out.extend_from_slice(bytes);
    for p in &edit.patches {
        let start = p.offset as usize;
        let dst = out
            .get_mut(start..start + p.bytes.len())
            .ok_or_else(|| format!("patch at {:#x} is past the end of the file", p.offset))?;
        dst.copy_from_slice(&p.bytes);
    }
    out.extend_from_slice(&edit.tail);
    Ok(out)
}

/// Re-read the result and compare it with the original and the plan.
fn check(old: &[u8], new: &[u8], edit: &Edit) -> Result<(), String> {
    let mut covered = vec![false; old.len()];
    for p in &edit.patches {
        covered[p.offset as usize..p.offset as usize + p.bytes.len()].fill(true);
    }
    if let Some(i) = (0..old.len()).find(|&i| !covered[i] && old[i] != new[i]) {
        return Err(format!("byte {i:#x} changed outside the planned ranges"));
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
    check_loads(&before, &after, edit.retired_load)
}

/// PT_LOADs ascend and are congruent mod p_align; a new one shares no page with another; every
/// original one survives but the one the plan retired.
fn check_loads(before: &ElfInfo, after: &ElfInfo, retired: Option<u64>) -> Result<(), String> {
    let loads: Vec<_> = after.loads().collect();
    if loads.len() > before.loads().count() + usize::from(retired.is_none()) {
        return Err("more PT_LOADs than planned".into());
    }
    if let Some(gone) = before
        .loads()
        .filter(|o| Some(o.p_vaddr) != retired)
        .find(|o| !loads.contains(o))
    {
        return Err(format!("the PT_LOAD at {:#x} changed", gone.p_vaddr));
    }
    if loads.windows(2).any(|w| w[0].p_vaddr > w[1].p_vaddr) {
        return Err("PT_LOAD entries are not in ascending order".into());
    }
    for p in &loads {
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
