//! Walking the trees a tool was given, the way Nix serialises them: symlinks are entries,
//! never followed, and every name below a root is part of the content.

use std::path::{Path, PathBuf};

use walkdir::WalkDir;

/// What a walked entry is, from the directory listing (no extra `stat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Symlink,
    Dir,
    /// FIFOs, sockets and devices: never opened, since opening a FIFO blocks and reading a
    /// device is meaningless. Nix cannot put them in an output either.
    Special,
}

#[derive(Clone, Debug)]
pub struct Entry {
    pub path: PathBuf,
    pub kind: Kind,
    /// True for the paths the user named; their own names are not part of the tree's content.
    pub is_root: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("{}: cannot list: {source}", path.display())]
pub struct WalkError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Every entry under `root`, in sorted name order, symlinks not followed (the root included).
pub fn walk(root: &Path) -> impl Iterator<Item = Result<Entry, WalkError>> {
    walk_to_depth(root, usize::MAX)
}

/// [`walk`], descending at most `depth` levels below `root` (1: its direct entries).
pub fn walk_to_depth(root: &Path, depth: usize) -> impl Iterator<Item = Result<Entry, WalkError>> {
    WalkDir::new(root)
        .max_depth(depth)
        .follow_links(false)
        .follow_root_links(false)
        .sort_by_file_name()
        .into_iter()
        .map(|item| match item {
            Ok(entry) => {
                let ft = entry.file_type();
                let kind = if ft.is_symlink() {
                    Kind::Symlink
                } else if ft.is_dir() {
                    Kind::Dir
                } else if ft.is_file() {
                    Kind::File
                } else {
                    Kind::Special
                };
                Ok(Entry {
                    is_root: entry.depth() == 0,
                    path: entry.into_path(),
                    kind,
                })
            }
            Err(err) => {
                let path = err.path().map(Path::to_path_buf).unwrap_or_default();
                let source = err
                    .into_io_error()
                    .unwrap_or_else(|| std::io::Error::other("filesystem loop"));
                Err(WalkError { path, source })
            }
        })
}

/// `roots` without those another root already covers (the same path given twice, or a path
/// under another root), in the order given: each entry must be walked, and written, once.
/// Paths are compared by their parent's real location and their own name, since a root that is
/// itself a symlink is an entry, not followed.
pub fn distinct_roots(roots: &[PathBuf]) -> Vec<PathBuf> {
    let key = |p: &Path| -> PathBuf {
        let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        match (abs.parent(), abs.file_name()) {
            (Some(parent), Some(name)) => std::fs::canonicalize(parent)
                .map(|c| c.join(name))
                .unwrap_or(abs.clone()),
            _ => abs.clone(),
        }
    };
    let keys: Vec<PathBuf> = roots.iter().map(|r| key(r)).collect();
    roots
        .iter()
        .enumerate()
        .filter(|&(i, _)| {
            !keys.iter().enumerate().any(|(j, other)| {
                (keys[i] == *other && j < i) || (keys[i] != *other && keys[i].starts_with(other))
            })
        })
        .map(|(_, r)| r.clone())
        .collect()
}

/// Opens a walked regular file for reading, without following a symlink or blocking on a FIFO
/// that replaced it since the walk.
pub fn open_regular(path: &Path) -> std::io::Result<(std::fs::File, std::fs::Metadata)> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("no longer a regular file"));
    }
    Ok((file, meta))
}

/// Groups walk entries into batches, so the workers that take them from the walk (which is
/// sequential) meet at the walk's lock once per batch rather than once per file.
pub fn batched<T>(mut items: impl Iterator<Item = T>, size: usize) -> impl Iterator<Item = Vec<T>> {
    std::iter::from_fn(move || {
        let batch: Vec<T> = items.by_ref().take(size).collect();
        (!batch.is_empty()).then_some(batch)
    })
}

/// How many walk entries a worker takes at once.
pub const BATCH: usize = 256;

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn does_not_follow_symlinks_and_sorts() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("b")).unwrap();
        std::fs::write(dir.path().join("b/f"), "x").unwrap();
        std::fs::write(dir.path().join("a"), "x").unwrap();
        symlink(dir.path().join("b"), dir.path().join("c")).unwrap();
        let entries: Vec<_> = walk(dir.path()).map(Result::unwrap).collect();
        let rel: Vec<_> = entries
            .iter()
            .map(|e| {
                (
                    e.path.strip_prefix(dir.path()).unwrap().to_path_buf(),
                    e.kind,
                )
            })
            .collect();
        assert_eq!(
            rel,
            vec![
                (PathBuf::new(), Kind::Dir),
                (PathBuf::from("a"), Kind::File),
                (PathBuf::from("b"), Kind::Dir),
                (PathBuf::from("b/f"), Kind::File),
                (PathBuf::from("c"), Kind::Symlink),
            ]
        );
        assert!(entries[0].is_root && !entries[1].is_root);
    }

    #[test]
    fn roots_another_root_covers_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("d");
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::create_dir_all(dir.path().join("e")).unwrap();
        symlink(&d, dir.path().join("link")).unwrap();
        let roots = vec![
            d.join("sub"),
            d.clone(),
            d.join("./"),
            dir.path().join("e"),
            d.clone(),
            dir.path().join("link"),
        ];
        assert_eq!(
            distinct_roots(&roots),
            vec![d.clone(), dir.path().join("e"), dir.path().join("link")],
            "a symlink root is its own entry, not the directory it names"
        );
    }
}
