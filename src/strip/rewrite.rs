//! Applying a plan in place: same-length overwrites of hash bytes, and symlinks swapped for
//! new ones by rename. Nothing else about a file changes: not its inode, mode, owner, size
//! or hard links.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions, Permissions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::shared::leftover;
use crate::shared::report::Reportable;
use crate::shared::store::{HASH_LEN, NEUTRAL_BYTE};
use crate::strip::plan::Hit;

/// Why an in-place write did not happen (or, for [`RewriteError::Io`] with `restore mode`,
/// did not finish tidily). Each names the path it concerns.
#[derive(Debug, thiserror::Error)]
pub enum RewriteError {
    /// The entry is gone (or is no longer a regular file).
    #[error("{}: vanished during the run", path.display())]
    Vanished {
        /// The entry.
        path: PathBuf,
    },
    /// A system call failed.
    #[error("{}: cannot {action}: {source}", path.display())]
    Io {
        /// The entry, or the directory whose mode had to change.
        path: PathBuf,
        /// What was being done: `open for writing`, `write`, `restore mode`, ….
        action: &'static str,
        /// The error.
        source: io::Error,
    },
    /// The bytes at a planned offset no longer hold the hash the scan found there.
    #[error("{}: changed during the run (offset {offset} no longer holds {expected}); that reference was left untouched", path.display())]
    Changed {
        /// The file.
        path: PathBuf,
        /// Where the hash was.
        offset: u64,
        /// The hash.
        expected: String,
    },
    /// The symlink no longer points where the scan read it pointing.
    #[error("{}: symlink target changed during the run; left untouched", path.display())]
    LinkChanged {
        /// The symlink.
        path: PathBuf,
    },
}

impl Reportable for RewriteError {
    fn path(&self) -> &Path {
        match self {
            RewriteError::Vanished { path }
            | RewriteError::Io { path, .. }
            | RewriteError::Changed { path, .. }
            | RewriteError::LinkChanged { path } => path,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            RewriteError::Vanished { .. } => "vanished",
            RewriteError::Io { .. } => "io",
            RewriteError::Changed { .. } => "changed",
            RewriteError::LinkChanged { .. } => "link_changed",
        }
    }
}

fn io_error<'p>(
    path: &'p Path,
    action: &'static str,
) -> impl FnOnce(io::Error) -> RewriteError + 'p {
    move |source| {
        if source.kind() == io::ErrorKind::NotFound {
            RewriteError::Vanished {
                path: path.to_path_buf(),
            }
        } else {
            RewriteError::Io {
                path: path.to_path_buf(),
                action,
                source,
            }
        }
    }
}

/// Makes a file or directory writable by its owner for as long as it lives, then puts the
/// mode back: a read-only file in a build output is still ours to fix.
pub(crate) struct WritableFor<'a> {
    path: &'a Path,
    restore: Option<Permissions>,
}

impl<'a> WritableFor<'a> {
    fn new(path: &'a Path, mode: u32) -> Result<WritableFor<'a>, RewriteError> {
        let mode = mode & 0o7777;
        let mut guard = WritableFor {
            path,
            restore: None,
        };
        if mode & 0o200 == 0 {
            fs::set_permissions(path, Permissions::from_mode(mode | 0o200))
                .map_err(io_error(path, "make writable"))?;
            guard.restore = Some(Permissions::from_mode(mode));
        }
        Ok(guard)
    }

    pub(crate) fn finish(mut self) -> Result<(), RewriteError> {
        match self.restore.take() {
            Some(perms) => {
                fs::set_permissions(self.path, perms).map_err(io_error(self.path, "restore mode"))
            }
            None => Ok(()),
        }
    }
}

impl Drop for WritableFor<'_> {
    fn drop(&mut self) {
        if let Some(perms) = self.restore.take() {
            let _ = fs::set_permissions(self.path, perms);
        }
    }
}

/// Overwrites each hit's 32 hash bytes with `e`, after checking they still hold the hash.
/// Returns the offsets written and the errors of those that were not; each reference is one
/// write of its 32 bytes, so it is either fully neutralised or untouched.
pub fn neutralise_file(path: &Path, hits: &[Hit]) -> (Vec<u64>, Vec<RewriteError>) {
    neutralise_with(path, hits, open_for_write(path))
}

/// [`neutralise_file`] for a file whose mode is known from the `stat` its scan took: `open`
/// opens it for reading and writing, without following a symlink or blocking on a FIFO
/// (relative to its directory, say), and no other `stat` is taken. A file its owner may not
/// write is made writable from that mode for the write, then the mode is put back.
pub fn neutralise_file_of_mode(
    path: &Path,
    mode: u32,
    open: impl Fn() -> io::Result<File>,
    hits: &[Hit],
) -> (Vec<u64>, Vec<RewriteError>) {
    neutralise_with(path, hits, open_writable(path, mode, open))
}

fn neutralise_with(
    path: &Path,
    hits: &[Hit],
    opened: Result<(File, WritableFor<'_>), RewriteError>,
) -> (Vec<u64>, Vec<RewriteError>) {
    let mut errors = Vec::new();
    let written = match opened {
        Ok((file, guard)) => {
            let mut written = Vec::new();
            for hit in hits {
                match neutralise_at(&file, path, hit) {
                    Ok(()) => written.push(hit.offset),
                    Err(e) => errors.push(e),
                }
            }
            drop(file);
            if let Err(e) = guard.finish() {
                errors.push(e);
            }
            written
        }
        Err(e) => {
            errors.push(e);
            Vec::new()
        }
    };
    (written, errors)
}

/// Opens a regular file for reading and writing in place, without following a symlink or
/// blocking on a FIFO; a file its owner may not write is made writable until the returned
/// guard is finished (or dropped), then its mode is put back.
pub(crate) fn open_for_write(path: &Path) -> Result<(File, WritableFor<'_>), RewriteError> {
    let meta = fs::symlink_metadata(path).map_err(io_error(path, "stat"))?;
    if !meta.file_type().is_file() {
        return Err(RewriteError::Vanished {
            path: path.to_path_buf(),
        });
    }
    open_writable(path, meta.mode(), || open_in_place(path))
}

/// Opens `path` for reading and writing, without following a symlink or blocking on a FIFO.
pub(crate) fn open_in_place(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
}

/// Opens the file with `open`, and when that is refused, makes it writable from `mode` (its
/// mode when last seen) and opens it again. A path that is now a symlink or a directory is
/// [`RewriteError::Vanished`], as a regular file it no longer is.
fn open_writable(
    path: &Path,
    mode: u32,
    open: impl Fn() -> io::Result<File>,
) -> Result<(File, WritableFor<'_>), RewriteError> {
    let refused = |e: io::Error| match e.raw_os_error() {
        Some(libc::ELOOP | libc::EISDIR) => RewriteError::Vanished {
            path: path.to_path_buf(),
        },
        _ => io_error(path, "open for writing")(e),
    };
    // The mode changes only when it must (not for root): a kill between the chmod and its
    // restoration would leave the file's mode changed.
    match open() {
        Ok(file) => Ok((
            file,
            WritableFor {
                path,
                restore: None,
            },
        )),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            let guard = WritableFor::new(path, mode)?;
            let file = open().map_err(refused)?;
            Ok((file, guard))
        }
        Err(e) => Err(refused(e)),
    }
}

fn neutralise_at(file: &File, path: &Path, hit: &Hit) -> Result<(), RewriteError> {
    let mut current = [0u8; HASH_LEN];
    let changed = || RewriteError::Changed {
        path: path.to_path_buf(),
        offset: hit.offset,
        expected: hit.hash.to_string(),
    };
    match file.read_exact_at(&mut current, hit.offset) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(changed()),
        Err(e) => return Err(io_error(path, "read")(e)),
    }
    if &current != hit.hash.as_bytes() {
        return Err(changed());
    }
    file.write_all_at(&[NEUTRAL_BYTE; HASH_LEN], hit.offset)
        .map_err(io_error(path, "write"))
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// What [`relink`] did besides replacing the link.
#[derive(Debug)]
pub struct Relinked {
    /// The directory was made writable for the new link and its mode could not be put back
    /// (why, naming the directory). The link is replaced all the same.
    pub mode_not_restored: Option<RewriteError>,
}

/// Replaces the symlink at `path` by one pointing at `new`, if it still points at `old`.
/// The new link is made under a temporary name beside it and renamed over the old one, so
/// the name always resolves to one whole target. Once the rename is done the link counts
/// as replaced, whatever happens to the directory's mode after.
pub fn relink(path: &Path, old: &[u8], new: &[u8]) -> Result<Relinked, RewriteError> {
    let current = fs::read_link(path).map_err(io_error(path, "read symlink"))?;
    if current.as_os_str().as_bytes() != old {
        return Err(RewriteError::LinkChanged {
            path: path.to_path_buf(),
        });
    }
    let meta = fs::symlink_metadata(path).map_err(io_error(path, "stat"))?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let temp = parent.join(leftover::strip_temp_name(
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed),
    ));
    // As for files: the directory's mode changes only when it must. Errors name the link the
    // user has, not the temporary name it was being made under.
    let mut guard = WritableFor {
        path: parent,
        restore: None,
    };
    if let Err(e) = symlink(OsStr::from_bytes(new), &temp) {
        if e.kind() != io::ErrorKind::PermissionDenied {
            return Err(io_error(path, "re-create symlink")(e));
        }
        let parent_meta = fs::metadata(parent).map_err(io_error(parent, "stat"))?;
        guard = WritableFor::new(parent, parent_meta.mode())?;
        symlink(OsStr::from_bytes(new), &temp).map_err(io_error(path, "re-create symlink"))?;
    }
    // Keep the owner when we can (running as root); a build user owns its links anyway.
    let _ = std::os::unix::fs::lchown(&temp, Some(meta.uid()), Some(meta.gid()));
    if let Err(e) = fs::rename(&temp, path) {
        let _ = fs::remove_file(&temp);
        return Err(io_error(path, "replace symlink")(e));
    }
    Ok(Relinked {
        mode_not_restored: guard.finish().err(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::store::StoreHash;

    const H: &[u8; 32] = b"0c0s8w0wxyg2yyrb8iv5k1m6kv3bvhfz";

    fn hit(offset: u64) -> Hit {
        Hit {
            offset,
            hash: StoreHash::from_bytes(H).unwrap(),
            bare: false,
        }
    }

    #[test]
    fn a_reference_that_changed_since_the_scan_is_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut bytes = b"/nix/store/".to_vec();
        bytes.extend_from_slice(H);
        bytes.extend_from_slice(b"-x and more");
        fs::write(&path, &bytes).unwrap();
        // The first hit is stale (wrong offset), the second right: one error, one write.
        let (written, errors) = neutralise_file(&path, &[hit(3), hit(11)]);
        assert_eq!(written, [11]);
        assert!(matches!(
            errors.as_slice(),
            [RewriteError::Changed { offset: 3, .. }]
        ));
        assert_eq!(&fs::read(&path).unwrap()[11..43], &[NEUTRAL_BYTE; 32]);
    }

    #[test]
    fn a_hit_past_the_end_of_a_shrunk_file_is_an_error_not_a_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, b"short").unwrap();
        let (written, errors) = neutralise_file(&path, &[hit(100)]);
        assert!(written.is_empty());
        assert!(matches!(errors.as_slice(), [RewriteError::Changed { .. }]));
        assert_eq!(fs::read(&path).unwrap(), b"short");
    }

    #[test]
    fn a_vanished_file_is_named_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gone");
        let (_, errors) = neutralise_file(&path, &[hit(0)]);
        assert_eq!(
            errors[0].to_string(),
            format!("{}: vanished during the run", path.display())
        );
        let err = relink(&path, b"a", b"b").unwrap_err();
        assert!(matches!(err, RewriteError::Vanished { .. }));
    }
}
