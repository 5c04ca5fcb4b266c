//! The temporary names the tools write under before renaming over the real entry, and how a
//! later run recognises what a killed run left behind.
//!
//! A rename is atomic, but the temporary entry made before it is not undone by SIGKILL: a
//! build killed at that moment leaves `.NAME.patch-rpaths.PID` (a whole or torn copy of an
//! ELF file) or `.strip-store-refs.PID.N` (a symlink) beside the real entry. Treating those
//! as part of the tree would make a re-run's result differ from an uninterrupted run's, so
//! each tool removes its own leftovers, and only those: the exact name shape, the entry kind
//! it writes, and an owner process that is gone.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::shared::walk::EntryKind;

/// Which tool's temporary name a leftover has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// strip-store-refs: a symlink named `.strip-store-refs.PID.N`.
    StripStoreRefs,
    /// patch-rpaths: a file named `.NAME.patch-rpaths.PID`.
    PatchRpaths,
}

impl Owner {
    /// The name the kernel gives the process (`comm`, at most 15 bytes).
    fn comm(self) -> &'static [u8] {
        match self {
            Owner::StripStoreRefs => b"strip-store-ref",
            Owner::PatchRpaths => b"patch-rpaths",
        }
    }

    /// The kind of entry this tool makes under a temporary name.
    fn kind(self) -> EntryKind {
        match self {
            Owner::StripStoreRefs => EntryKind::Symlink,
            Owner::PatchRpaths => EntryKind::File,
        }
    }
}

const STRIP_PREFIX: &[u8] = b".strip-store-refs.";
const PATCH_INFIX: &[u8] = b".patch-rpaths.";

/// The temporary name for the `n`th symlink strip-store-refs replaces in process `pid`.
pub fn strip_temp_name(pid: u32, n: u64) -> OsString {
    format!(".strip-store-refs.{pid}.{n}").into()
}

/// The temporary name beside `name` under which patch-rpaths writes its new copy.
pub fn patch_temp_name(name: &OsStr, pid: u32) -> OsString {
    let mut out = OsString::from(".");
    out.push(name);
    out.push(format!(".patch-rpaths.{pid}"));
    out
}

fn digits(s: &[u8]) -> Option<u32> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// The process id in `name` when it is `owner`'s temporary name.
pub fn parse(owner: Owner, name: &[u8]) -> Option<u32> {
    match owner {
        Owner::StripStoreRefs => {
            let rest = name.strip_prefix(STRIP_PREFIX)?;
            let dot = rest.iter().position(|&b| b == b'.')?;
            digits(&rest[dot + 1..])?;
            digits(&rest[..dot])
        }
        Owner::PatchRpaths => {
            let rest = name.strip_prefix(b".")?;
            let at = rest
                .windows(PATCH_INFIX.len())
                .rposition(|w| w == PATCH_INFIX)?;
            // `..patch-rpaths.N` would be the temporary name of an empty file name.
            (at > 0).then_some(())?;
            digits(&rest[at + PATCH_INFIX.len()..])
        }
    }
}

/// Whether process `pid` is still `owner` running (a concurrent run, whose temporary entries
/// are not ours to remove). A pid the kernel has since given to another program is not.
fn still_running(owner: Owner, pid: u32) -> bool {
    if pid == std::process::id() {
        // Our own temporary entries only exist after the walk, never during it.
        return false;
    }
    match std::fs::read(format!("/proc/{pid}/comm")) {
        Ok(comm) => comm.strip_suffix(b"\n").unwrap_or(&comm) == owner.comm(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        // Cannot tell (no /proc): leave it rather than remove another run's file.
        Err(_) => true,
    }
}

/// Whether the walked entry at `path` is a temporary entry `owner` left in a killed run.
pub fn is_leftover(owner: Owner, path: &Path, kind: EntryKind) -> bool {
    kind == owner.kind()
        && path
            .file_name()
            .and_then(|n| parse(owner, n.as_bytes()))
            .is_some_and(|pid| !still_running(owner, pid))
}

/// A leftover that could not be removed.
#[derive(Debug, thiserror::Error)]
#[error("{}: cannot remove a killed run's {what}: {source}", path.display())]
pub struct RemoveError {
    /// The leftover.
    pub path: PathBuf,
    /// `temporary symlink` or `temporary copy`.
    pub what: &'static str,
    /// Why it could not go.
    pub source: std::io::Error,
}

/// Removes the leftovers a walk found; the error of each that could not go.
pub fn remove(paths: &[PathBuf], owner: Owner) -> Vec<RemoveError> {
    let what = match owner.kind() {
        EntryKind::Symlink => "temporary symlink",
        _ => "temporary copy",
    };
    paths
        .iter()
        .filter_map(|path| {
            std::fs::remove_file(path).err().map(|source| RemoveError {
                path: path.clone(),
                what,
                source,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let s = strip_temp_name(4242, 7);
        assert_eq!(parse(Owner::StripStoreRefs, s.as_bytes()), Some(4242));
        let p = patch_temp_name(OsStr::new("libfoo.so.1"), 99);
        assert_eq!(p, ".libfoo.so.1.patch-rpaths.99");
        assert_eq!(parse(Owner::PatchRpaths, p.as_bytes()), Some(99));
        // A name that itself looks like a temporary name still parses from its last infix.
        let nested = patch_temp_name(OsStr::new("a.patch-rpaths.1"), 5);
        assert_eq!(parse(Owner::PatchRpaths, nested.as_bytes()), Some(5));
    }

    #[test]
    fn user_names_that_only_look_alike_are_not_leftovers() {
        for name in [
            ".strip-store-refs.",
            ".strip-store-refs.12",
            ".strip-store-refs.12.",
            ".strip-store-refs.x.1",
            "strip-store-refs.1.2",
        ] {
            assert_eq!(
                parse(Owner::StripStoreRefs, name.as_bytes()),
                None,
                "{name}"
            );
        }
        for name in [
            "libfoo.so.patch-rpaths.12",
            ".libfoo.so.patch-rpaths.",
            ".libfoo.so.patch-rpaths.12a",
            "..patch-rpaths.12",
            ".libfoo.so",
        ] {
            assert_eq!(parse(Owner::PatchRpaths, name.as_bytes()), None, "{name}");
        }
    }

    #[test]
    fn only_the_kind_the_tool_writes_is_a_leftover() {
        // pid 0 is never a process the tool could have run as.
        let link = PathBuf::from("/x/.strip-store-refs.0.1");
        assert!(is_leftover(
            Owner::StripStoreRefs,
            &link,
            EntryKind::Symlink
        ));
        assert!(!is_leftover(Owner::StripStoreRefs, &link, EntryKind::File));
        let file = PathBuf::from("/x/.lib.so.patch-rpaths.0");
        assert!(is_leftover(Owner::PatchRpaths, &file, EntryKind::File));
        assert!(!is_leftover(Owner::PatchRpaths, &file, EntryKind::Dir));
    }

    /// Set by [`a_live_run_of_the_same_tool_keeps_its_entries`] in the child it starts.
    const SLEEPER: &str = "FIXUP_HOOKS_TEST_SLEEPER";

    /// Not a test: the body of the child process below, which only lives on for a while.
    #[test]
    #[ignore = "the helper process of a_live_run_of_the_same_tool_keeps_its_entries"]
    fn sleeper() {
        if std::env::var_os(SLEEPER).is_some() {
            std::thread::sleep(std::time::Duration::from_secs(30));
        }
    }

    #[test]
    fn a_live_run_of_the_same_tool_keeps_its_entries() {
        // A process named patch-rpaths: this test binary, copied under that name, running
        // only `sleeper`. Nothing from outside the build (the Nix sandbox has no /bin).
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("patch-rpaths");
        std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
        // The test's name as the harness knows it: this module's path without the crate's.
        let sleeper = format!("{}::sleeper", module_path!().split_once("::").unwrap().1);
        let mut live = std::process::Command::new(&exe)
            .args(["--exact", &sleeper, "--ignored", "--quiet"])
            .env(SLEEPER, "1")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // spawn() returns once the child's exec has released the parent, which the kernel
        // does a moment before it gives the process its new name.
        let comm = format!("/proc/{}/comm", live.id());
        for _ in 0..500 {
            if std::fs::read(&comm).is_ok_and(|c| c == b"patch-rpaths\n") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let path = PathBuf::from(format!("/x/.lib.so.patch-rpaths.{}", live.id()));
        let kept = !is_leftover(Owner::PatchRpaths, &path, EntryKind::File);
        // The same pid is not strip-store-refs: that tool's name shape would be a leftover.
        let other = PathBuf::from(format!("/x/.strip-store-refs.{}.0", live.id()));
        let other_tool = is_leftover(Owner::StripStoreRefs, &other, EntryKind::Symlink);
        live.kill().unwrap();
        live.wait().unwrap();
        assert!(
            kept,
            "a running patch-rpaths' temporary copy is not removed"
        );
        assert!(other_tool);
        assert!(
            is_leftover(Owner::PatchRpaths, &path, EntryKind::File),
            "once it is gone"
        );
    }
}
