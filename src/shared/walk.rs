//! Walking the trees a tool was given, the way Nix serialises them: symlinks are entries,
//! never followed, and every name below a root is part of the content.

use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use super::leftover::{is_leftover, Owner};

/// What a walked entry is, from the directory listing (no extra `stat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A symlink, never followed: its target is the content.
    Symlink,
    /// A directory, descended into.
    Dir,
    /// FIFOs, sockets and devices: never opened, since opening a FIFO blocks and reading a
    /// device is meaningless. Nix cannot put them in an output either.
    Special,
}

/// One entry met by [`walk`].
#[derive(Clone, Debug)]
pub struct Entry {
    /// The root as given, joined with the names below it.
    pub path: PathBuf,
    /// From the directory listing; a symlink is the link itself, never what it points at.
    pub kind: EntryKind,
    /// True for the paths the user named; their own names are not part of the tree's content.
    pub is_root: bool,
}

/// An entry the walk could not list or read; the walk goes on past it.
#[derive(Debug, thiserror::Error)]
#[error("{}: cannot list: {source}", path.display())]
pub struct WalkError {
    /// The entry that failed; empty when the walker could not say which.
    pub path: PathBuf,
    /// The I/O error; a made-up `filesystem loop` error when the walker found a loop instead.
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
                    EntryKind::Symlink
                } else if ft.is_dir() {
                    EntryKind::Dir
                } else if ft.is_file() {
                    EntryKind::File
                } else {
                    EntryKind::Special
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

/// One entry met by [`par_visit`]: its directory (path and open descriptor) and its name.
pub struct Visit<'a> {
    dir: &'a Path,
    dir_fd: libc::c_int,
    name: &'a OsStr,
    /// What the entry is, from the directory listing.
    pub kind: EntryKind,
    /// True for the paths the user named.
    pub is_root: bool,
}

impl Visit<'_> {
    /// The entry's name (a root's whole path).
    pub fn name(&self) -> &OsStr {
        self.name
    }

    /// The entry's path (built only when asked: most entries never need one).
    pub fn path(&self) -> PathBuf {
        if self.is_root {
            self.dir.to_path_buf()
        } else {
            self.dir.join(self.name)
        }
    }

    /// Opens the entry for reading relative to its directory's descriptor (no path lookup
    /// from the root), without following a symlink or blocking on a FIFO that replaced it.
    pub fn open(&self) -> std::io::Result<std::fs::File> {
        openat(
            self.dir_fd,
            self.name,
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    }

    /// [`Visit::open`] for reading and writing: for a file whose contents must change, while
    /// the descriptor it was read through is still open (no path lookup, no `stat`).
    pub fn open_for_write(&self) -> std::io::Result<std::fs::File> {
        openat(
            self.dir_fd,
            self.name,
            libc::O_RDWR | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    }
}

fn openat(dir_fd: libc::c_int, name: &OsStr, flags: libc::c_int) -> std::io::Result<std::fs::File> {
    use std::os::fd::FromRawFd;
    let name = CString::new(name.as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: a NUL-terminated name and a descriptor the caller keeps open for the call.
    let fd = unsafe { libc::openat(dir_fd, name.as_ptr(), flags) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and is owned by nobody else.
    Ok(unsafe { std::fs::File::from_raw_fd(fd) })
}

/// The entries of the directory open as `dir`, with their kinds (from the listing; a
/// file system that does not say is asked with `fstatat`, not following symlinks).
fn list(dir: &std::fs::File) -> std::io::Result<Vec<(OsString, EntryKind)>> {
    use std::os::fd::AsRawFd;
    // SAFETY: dup of a descriptor we hold; fdopendir takes the copy, closedir closes it.
    let copy = unsafe { libc::dup(dir.as_raw_fd()) };
    if copy < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `copy` is a fresh descriptor of a directory.
    let stream = unsafe { libc::fdopendir(copy) };
    if stream.is_null() {
        let e = std::io::Error::last_os_error();
        // SAFETY: fdopendir failed, so `copy` is still ours to close.
        unsafe { libc::close(copy) };
        return Err(e);
    }
    let mut entries = Vec::new();
    let result = loop {
        // SAFETY: errno is thread-local; cleared so that end-of-stream and error differ.
        unsafe { *libc::__errno_location() = 0 };
        // SAFETY: `stream` is open; the entry is read before the next readdir call.
        let ent = unsafe { libc::readdir64(stream) };
        if ent.is_null() {
            let e = std::io::Error::last_os_error();
            break if e.raw_os_error().unwrap_or(0) == 0 {
                Ok(())
            } else {
                Err(e)
            };
        }
        // SAFETY: readdir's entry holds a NUL-terminated name.
        let (name, d_type) = unsafe {
            (
                std::ffi::CStr::from_ptr((*ent).d_name.as_ptr()).to_bytes(),
                (*ent).d_type,
            )
        };
        if name == b"." || name == b".." {
            continue;
        }
        let kind = match d_type {
            libc::DT_REG => EntryKind::File,
            libc::DT_DIR => EntryKind::Dir,
            libc::DT_LNK => EntryKind::Symlink,
            libc::DT_UNKNOWN => kind_at(dir.as_raw_fd(), OsStr::from_bytes(name)),
            _ => EntryKind::Special,
        };
        entries.push((OsStr::from_bytes(name).to_os_string(), kind));
    };
    // SAFETY: closes the stream (and `copy`) once.
    unsafe { libc::closedir(stream) };
    result.map(|()| entries)
}

fn kind_at(dir_fd: libc::c_int, name: &OsStr) -> EntryKind {
    let Ok(c) = CString::new(name.as_bytes()) else {
        return EntryKind::Special;
    };
    // SAFETY: a zeroed stat is a valid out-parameter; the name is NUL-terminated.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::fstatat(dir_fd, c.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
    if rc != 0 {
        // Gone since the listing: a file, so that opening it says what happened.
        return EntryKind::File;
    }
    kind_of_mode(st.st_mode)
}

fn kind_of_mode(mode: libc::mode_t) -> EntryKind {
    match mode & libc::S_IFMT {
        libc::S_IFREG => EntryKind::File,
        libc::S_IFDIR => EntryKind::Dir,
        libc::S_IFLNK => EntryKind::Symlink,
        _ => EntryKind::Special,
    }
}

/// An accumulator of a parallel walk: each task fills its own, and they are merged at the
/// end, so no lock is held while a file is read.
pub trait Merge: Default + Send {
    /// Adds what `other` gathered to `self`.
    fn merge(&mut self, other: Self);
}

/// What [`gather`] collects: the tool's own findings, and what every tool treats alike.
#[derive(Debug)]
pub struct Gathered<T, E> {
    /// What the tool's `visit` found.
    pub found: T,
    /// FIFOs, sockets and devices (never opened), sorted.
    pub special: Vec<PathBuf>,
    /// The temporary entries a killed run of the tool left, sorted: never read, for the tool
    /// to remove.
    pub leftovers: Vec<PathBuf>,
    /// What went wrong, in no particular order.
    pub errors: Vec<E>,
}

impl<T: Default, E> Default for Gathered<T, E> {
    fn default() -> Self {
        Gathered {
            found: T::default(),
            special: Vec::new(),
            leftovers: Vec::new(),
            errors: Vec::new(),
        }
    }
}

/// Walks `roots` on the current rayon pool (see [`par_visit`]; a root another root covers is
/// walked once) and calls `visit` for every entry but `owner`'s leftovers, which are only
/// collected; special files are collected too, and still visited (their names count).
/// What the walk itself cannot list becomes an error `E`.
pub fn gather<T, E, V>(roots: &[PathBuf], depth: usize, owner: Owner, visit: V) -> Gathered<T, E>
where
    T: Merge,
    E: From<WalkError> + Send,
    V: Fn(&Visit, &mut T, &mut Vec<E>) + Sync,
{
    let parts = par_visit(
        &distinct_roots(roots),
        depth,
        |entry, acc: &mut Gathered<T, E>| {
            if !entry.is_root && is_leftover(owner, Path::new(entry.name()), entry.kind) {
                return acc.leftovers.push(entry.path());
            }
            if entry.kind == EntryKind::Special {
                acc.special.push(entry.path());
            }
            visit(entry, &mut acc.found, &mut acc.errors);
        },
        |e, acc| acc.errors.push(E::from(e)),
    );
    let mut all: Gathered<T, E> = Gathered::default();
    for mut part in parts {
        all.found.merge(part.found);
        all.special.append(&mut part.special);
        all.leftovers.append(&mut part.leftovers);
        all.errors.append(&mut part.errors);
    }
    all.special.sort();
    all.leftovers.sort();
    all
}

/// How many files of one directory a task handles before the rest go to other workers.
const FILES_PER_TASK: usize = 128;

/// Visits every entry under `roots` (each root too), descending at most `depth` levels,
/// symlinks never followed, on the current rayon pool: directories are listed in parallel
/// and files opened relative to their directory's descriptor. Entries come in no particular
/// order. Each task folds what it meets into its own accumulator (`visit`, `error`); all of
/// them are returned, for the caller to merge.
pub fn par_visit<A, V, E>(roots: &[PathBuf], depth: usize, visit: V, error: E) -> Vec<A>
where
    A: Default + Send,
    V: Fn(&Visit, &mut A) + Sync,
    E: Fn(WalkError, &mut A) + Sync,
{
    let out = std::sync::Mutex::new(Vec::new());
    let cx = Cx {
        visit: &visit,
        error: &error,
        out: &out,
    };
    rayon::scope(|s| {
        for root in roots {
            let cx = &cx;
            s.spawn(move |s| cx.root(s, root, depth));
        }
    });
    out.into_inner().expect("no panics while held")
}

struct Cx<'c, A, V, E> {
    visit: &'c V,
    error: &'c E,
    out: &'c std::sync::Mutex<Vec<A>>,
}

impl<'c, A, V, E> Cx<'c, A, V, E>
where
    A: Default + Send,
    V: Fn(&Visit, &mut A) + Sync,
    E: Fn(WalkError, &mut A) + Sync,
{
    fn keep(&self, acc: A) {
        self.out.lock().expect("no panics while held").push(acc);
    }

    fn root<'s>(&'s self, s: &rayon::Scope<'s>, root: &'s Path, depth: usize) {
        let mut acc = A::default();
        let kind = match std::fs::symlink_metadata(root) {
            Ok(meta) => kind_of_mode(meta.mode() as libc::mode_t),
            Err(source) => {
                (self.error)(
                    WalkError {
                        path: root.to_path_buf(),
                        source,
                    },
                    &mut acc,
                );
                return self.keep(acc);
            }
        };
        (self.visit)(
            &Visit {
                dir: root,
                dir_fd: libc::AT_FDCWD,
                name: root.as_os_str(),
                kind,
                is_root: true,
            },
            &mut acc,
        );
        self.keep(acc);
        if kind == EntryKind::Dir && depth > 0 {
            self.dir(s, root.to_path_buf(), depth);
        }
    }

    /// Lists the directory at `path`, visits its entries (handing big batches of files to
    /// other workers) and spawns a task per subdirectory.
    fn dir<'s>(&'s self, s: &rayon::Scope<'s>, path: PathBuf, depth: usize) {
        let mut acc = A::default();
        let listed = openat(
            libc::AT_FDCWD,
            path.as_os_str(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
        .and_then(|fd| list(&fd).map(|entries| (fd, entries)));
        let (fd, entries) = match listed {
            Ok(listed) => listed,
            Err(source) => {
                (self.error)(WalkError { path, source }, &mut acc);
                return self.keep(acc);
            }
        };
        let (dirs, others): (Vec<_>, Vec<_>) =
            entries.into_iter().partition(|(_, k)| *k == EntryKind::Dir);
        let path = std::sync::Arc::new(path);
        let fd = std::sync::Arc::new(fd);
        for (name, _) in &dirs {
            (self.visit)(&self.at(&path, &fd, name, EntryKind::Dir), &mut acc);
            if depth > 1 {
                let sub = path.join(name);
                s.spawn(move |s| self.dir(s, sub, depth - 1));
            }
        }
        let mut chunks = others.chunks(FILES_PER_TASK);
        let first = chunks.next().map(<[_]>::to_vec);
        for chunk in chunks {
            let (chunk, path, fd) = (chunk.to_vec(), path.clone(), fd.clone());
            s.spawn(move |_| {
                let mut acc = A::default();
                for (name, kind) in &chunk {
                    (self.visit)(&self.at(&path, &fd, name, *kind), &mut acc);
                }
                self.keep(acc);
            });
        }
        for (name, kind) in first.iter().flatten() {
            (self.visit)(&self.at(&path, &fd, name, *kind), &mut acc);
        }
        self.keep(acc);
    }

    fn at<'a>(
        &self,
        path: &'a Path,
        fd: &std::fs::File,
        name: &'a OsStr,
        kind: EntryKind,
    ) -> Visit<'a> {
        use std::os::fd::AsRawFd;
        Visit {
            dir: path,
            dir_fd: fd.as_raw_fd(),
            name,
            kind,
            is_root: false,
        }
    }
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
                (PathBuf::new(), EntryKind::Dir),
                (PathBuf::from("a"), EntryKind::File),
                (PathBuf::from("b"), EntryKind::Dir),
                (PathBuf::from("b/f"), EntryKind::File),
                (PathBuf::from("c"), EntryKind::Symlink),
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
