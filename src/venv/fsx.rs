//! The only places `fix-venv` writes: each checks that the target stays inside the venv and
//! that no directory on the way is a symlink, and replaces the final entry by `rename`, so a
//! symlink standing where a file goes is replaced, never followed.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use super::error::{Result, VenvError};

/// Fails unless `path` lies below `root` (lexically) and every directory between them is a
/// real directory, not a symlink.
pub fn check_inside(root: &Path, path: &Path) -> Result<()> {
    let outside = || VenvError::Outside {
        path: path.to_path_buf(),
    };
    let rel = path.strip_prefix(root).map_err(|_| outside())?;
    let components: Vec<_> = rel.components().collect();
    if components.is_empty() {
        return Err(outside());
    }
    if !components.iter().all(|c| matches!(c, Component::Normal(_))) {
        return Err(outside());
    }
    let mut dir = root.to_path_buf();
    for c in &components[..components.len() - 1] {
        dir.push(c);
        match fs::symlink_metadata(&dir) {
            Ok(meta) if meta.file_type().is_symlink() => return Err(outside()),
            Ok(meta) if !meta.is_dir() => {
                return Err(VenvError::invalid(&dir, "expected a directory"));
            }
            // A directory the plan creates first.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Ok(_) => {}
            Err(e) => return Err(VenvError::io(&dir, e)),
        }
    }
    Ok(())
}

fn temp_beside(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{name}.fix-venv-tmp"))
}

fn remove_stale(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(VenvError::io(path, e)),
    }
}

/// Writes `contents` with `mode` to `path` (inside `root`) through a temporary file and a
/// rename: whatever stood there, a symlink included, is replaced.
pub fn write_file(root: &Path, path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    check_inside(root, path)?;
    if let Ok(meta) = fs::symlink_metadata(path) {
        if meta.is_dir() {
            return Err(VenvError::invalid(path, "is a directory, expected a file"));
        }
    }
    let tmp = temp_beside(path);
    remove_stale(&tmp)?;
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        file.write_all(contents)?;
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.sync_data()?;
        drop(file);
        fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        VenvError::io(path, e)
    })
}

/// Makes `path` (inside `root`) a symlink to `target`, replacing what stood there.
pub fn write_symlink(root: &Path, path: &Path, target: &Path) -> Result<()> {
    check_inside(root, path)?;
    if let Ok(meta) = fs::symlink_metadata(path) {
        if meta.is_dir() {
            return Err(VenvError::invalid(
                path,
                "is a directory, expected a symlink",
            ));
        }
    }
    let tmp = temp_beside(path);
    remove_stale(&tmp)?;
    symlink(target, &tmp)
        .and_then(|()| fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = fs::remove_file(&tmp);
            VenvError::io(path, e)
        })
}

/// Creates the directory `path` (inside `root`), mode 0755.
pub fn create_dir(root: &Path, path: &Path) -> Result<()> {
    check_inside(root, path)?;
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => return Ok(()),
        Ok(_) => return Err(VenvError::invalid(path, "exists and is not a directory")),
        Err(_) => {}
    }
    fs::create_dir(path).map_err(|e| VenvError::io(path, e))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).map_err(|e| VenvError::io(path, e))
}

/// Removes a file or symlink (inside `root`).
pub fn remove_file(root: &Path, path: &Path) -> Result<()> {
    check_inside(root, path)?;
    fs::remove_file(path).map_err(|e| VenvError::io(path, e))
}

/// Removes a directory tree (inside `root`); symlinks in it are removed, not followed.
pub fn remove_dir_all(root: &Path, path: &Path) -> Result<()> {
    check_inside(root, path)?;
    fs::remove_dir_all(path).map_err(|e| VenvError::io(path, e))
}

/// `path` with `.` and `..` resolved lexically (symlinks are not looked at).
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// `path` made absolute against the working directory and [`normalize`]d, not resolved:
/// every path the venv code compares is in this form.
pub fn absolute(path: &Path) -> Result<PathBuf> {
    if path.is_absolute() {
        return Ok(normalize(path));
    }
    let cwd = std::env::current_dir().map_err(|e| VenvError::io(path, e))?;
    Ok(normalize(&cwd.join(path)))
}

/// What stands at `path`, without following a symlink.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Existing {
    /// Nothing there (`NotFound`); any other failure to look is an error.
    Missing,
    /// A real directory, not a symlink to one.
    Dir,
    /// A symlink, with its target as stored (not resolved, possibly dangling).
    Symlink(PathBuf),
    /// A regular file, not a symlink to one.
    File {
        /// The whole file, read.
        contents: Vec<u8>,
        /// Permission bits, setuid, setgid and sticky included (`& 0o7777`).
        mode: u32,
    },
    /// A device, FIFO or socket.
    Other,
}

/// What stands at `path`, reading a regular file whole: restore compares it with what it
/// would write, and plans only what differs.
pub fn existing(path: &Path) -> Result<Existing> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Existing::Missing),
        Err(e) => return Err(VenvError::io(path, e)),
    };
    let ft = meta.file_type();
    Ok(if ft.is_symlink() {
        Existing::Symlink(fs::read_link(path).map_err(|e| VenvError::io(path, e))?)
    } else if ft.is_dir() {
        Existing::Dir
    } else if ft.is_file() {
        Existing::File {
            contents: fs::read(path).map_err(|e| VenvError::io(path, e))?,
            mode: meta.permissions().mode() & 0o7777,
        }
    } else {
        Existing::Other
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_lexically() {
        assert_eq!(
            normalize(Path::new(
                "/v/lib/python3.11/site-packages/../../../bin/./x"
            )),
            PathBuf::from("/v/bin/x")
        );
        let cwd = std::env::current_dir().unwrap();
        for rel in [".", "./", "v/..", "./v/.."] {
            assert_eq!(absolute(Path::new(rel)).unwrap(), cwd, "{rel}");
        }
        assert_eq!(absolute(Path::new("./v")).unwrap(), cwd.join("v"));
        assert_eq!(
            absolute(Path::new("/a/./b/../c")).unwrap(),
            PathBuf::from("/a/c")
        );
    }

    #[test]
    fn refuses_paths_outside_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("venv");
        fs::create_dir(&root).unwrap();
        assert!(check_inside(&root, &dir.path().join("x")).is_err());
        assert!(check_inside(&root, &root.join("../x")).is_err());
        assert!(check_inside(&root, &root).is_err());
        assert!(check_inside(&root, &root.join("bin/x")).is_ok());
    }

    #[test]
    fn refuses_writing_through_a_symlinked_directory() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("venv");
        fs::create_dir(&root).unwrap();
        fs::create_dir(dir.path().join("elsewhere")).unwrap();
        symlink(dir.path().join("elsewhere"), root.join("bin")).unwrap();
        let err = write_file(&root, &root.join("bin/x"), b"x", 0o644).unwrap_err();
        assert!(matches!(err, VenvError::Outside { .. }));
        assert!(!dir.path().join("elsewhere/x").exists());
    }

    #[test]
    fn replaces_a_symlink_instead_of_following_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("venv");
        fs::create_dir(&root).unwrap();
        fs::write(dir.path().join("victim"), "keep").unwrap();
        symlink(dir.path().join("victim"), root.join("x")).unwrap();
        write_file(&root, &root.join("x"), b"new", 0o755).unwrap();
        assert_eq!(fs::read(dir.path().join("victim")).unwrap(), b"keep");
        assert_eq!(fs::read(root.join("x")).unwrap(), b"new");
        assert!(!fs::symlink_metadata(root.join("x"))
            .unwrap()
            .file_type()
            .is_symlink());
    }
}
