//! Library resolution: which directory satisfies each DT_NEEDED of a file, searched the way
//! autoPatchelf does, but in an order that never depends on readdir.
//!
//! Order: the file's own `$ORIGIN` entries (a wheel's `.libs`, which stay on the RUNPATH as
//! they are), the libraries under the patched trees themselves, the `--libs` directories in the
//! order given, then the RUNPATHs (without `$ORIGIN`) of the libraries found there, breadth
//! first. A candidate must have the file's ELF class and machine, and a compatible OSABI.
//!
//! Besides DT_NEEDED, a file's `.note.dlopen` notes name libraries it may `dlopen`: each entry's
//! sonames are alternatives, any one of which satisfies it ([`dlopen_dependencies`]).

use std::collections::HashMap;
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::ffi::OsStr;
use std::fs::File;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use rayon::prelude::*;

use crate::elf::{Class, ElfInfo};

/// `e_ident[EI_OSABI]` of the generic System V ABI, which goes with any.
pub(crate) const ELFOSABI_SYSV: u8 = 0;
/// `e_ident[EI_OSABI]` of GNU/Linux: System V plus extensions.
pub(crate) const ELFOSABI_GNU: u8 = 3;

/// What must match between a file and a library that satisfies it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Compat {
    /// A library must have the file's.
    pub class: Class,
    /// `e_machine`; a library must have the file's.
    pub machine: u16,
    /// `e_ident[EI_OSABI]`; see [`Compat::accepts`] for which go together.
    pub osabi: u8,
}

impl Compat {
    /// The ABI a parsed file has.
    pub fn of(info: &ElfInfo) -> Compat {
        Compat {
            class: info.class,
            machine: info.machine,
            osabi: info.osabi,
        }
    }

    /// SYSV is the generic ABI and goes with any; GNU (Linux) is SYSV plus extensions.
    pub fn accepts(&self, lib: &Compat) -> bool {
        let osabi_ok = self.osabi == lib.osabi
            || [self.osabi, lib.osabi].contains(&ELFOSABI_SYSV)
            || (self.osabi == ELFOSABI_GNU && lib.osabi == ELFOSABI_SYSV);
        self.class == lib.class && self.machine == lib.machine && osabi_ok
    }
}

/// True for names the loader can load as shared objects (`libfoo.so`, `libfoo.so.1.2`).
pub fn is_library_name(name: &[u8]) -> bool {
    memchr::memmem::find(name, b".so").is_some_and(|at| {
        let rest = &name[at + 3..];
        rest.is_empty() || rest[0] == b'.'
    })
}

/// A library the tree itself holds: its path (the name the loader would open) and its ABI.
#[derive(Clone, Debug)]
pub struct TreeLibrary {
    /// Where it is in the tree (a library-named symlink counts too); its file name is what a
    /// DT_NEEDED matches.
    pub path: PathBuf,
    /// From its ELF header: only a file whose [`Compat`] [accepts](Compat::accepts) it uses it.
    pub compat: Compat,
}

/// Where a DT_NEEDED was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// An absolute DT_NEEDED that exists, or a `$ORIGIN` entry the file already has.
    AlreadySatisfied,
    /// In the libc directory: the loader finds it; no entry needed.
    Libc(PathBuf),
    /// In this directory, which goes on the RUNPATH.
    Dir(PathBuf),
}

/// The searchable set of libraries for one run.
pub struct Index {
    /// Libraries under the patched trees, by file name, in sorted path order.
    tree: BTreeMap<Vec<u8>, Vec<TreeLibrary>>,
    /// `--libs` directories, then the RUNPATH directories found from them, in search order.
    dirs: Vec<PathBuf>,
    libc: Option<PathBuf>,
    /// Header of each candidate file looked at, so each is read once. Never held while a
    /// file is read: planning threads would queue behind one another's reads.
    headers: RwLock<HashMap<PathBuf, Option<Compat>>>,
}

impl Index {
    /// `tree` must be sorted by path; `libs` in the order given.
    pub fn new(tree: Vec<TreeLibrary>, libs: &[PathBuf], libc: Option<PathBuf>) -> Index {
        let mut by_name: BTreeMap<Vec<u8>, Vec<TreeLibrary>> = BTreeMap::new();
        for lib in tree {
            if let Some(name) = lib.path.file_name() {
                by_name
                    .entry(name.as_bytes().to_vec())
                    .or_default()
                    .push(lib);
            }
        }
        // --libs first, in order; then breadth first through the RUNPATHs of what they hold.
        // Not through the RUNPATHs of the tree's own libraries: those are what this tool
        // writes, so searching them would make a second run resolve differently from the first.
        // Each library there is opened once: its RUNPATH and the header fields that decide
        // compatibility come from one parse, and the header is kept for `find`. A directory's
        // libraries are read in parallel; their results are used in name order.
        let mut dirs = Vec::new();
        let mut headers = HashMap::new();
        let mut seen = HashSet::new();
        let mut pending: VecDeque<PathBuf> = libs.iter().cloned().collect();
        while let Some(dir) = pending.pop_front() {
            if !seen.insert(dir.clone()) || !dir.is_dir() {
                continue;
            }
            let read: Vec<(PathBuf, LibraryRead)> = libraries_in(&dir)
                .into_par_iter()
                .map(|lib| {
                    let read = read_library(&lib);
                    (lib, read)
                })
                .collect();
            for (lib, read) in read {
                match read {
                    LibraryRead::Elf { compat, runpath } => {
                        pending.extend(runpath);
                        headers.insert(lib, Some(compat));
                    }
                    LibraryRead::NotElf => {
                        headers.insert(lib, None);
                    }
                    // Unreadable or malformed: `find` reads the header itself, as before.
                    LibraryRead::Unknown => {}
                }
            }
            dirs.push(dir);
        }
        Index {
            tree: by_name,
            dirs,
            libc,
            headers: RwLock::new(headers),
        }
    }

    /// The directories searched after the tree, in order (for reports and tests).
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// Finds one DT_NEEDED for a file in directory `from` with ABI `compat` whose
    /// `$ORIGIN`-relative RUNPATH entries expand to `origin_dirs`.
    pub fn find(
        &self,
        needed: &[u8],
        compat: &Compat,
        from: &Path,
        origin_dirs: &[PathBuf],
    ) -> Option<Resolution> {
        let name = Path::new(std::ffi::OsStr::from_bytes(needed));
        if needed.contains(&b'/') {
            return (name.is_absolute() && name.exists()).then_some(Resolution::AlreadySatisfied);
        }
        if origin_dirs
            .iter()
            .any(|d| self.usable(&d.join(name), compat))
        {
            return Some(Resolution::AlreadySatisfied);
        }
        if let Some(libc) = &self.libc {
            if self.usable(&libc.join(name), compat) {
                return Some(Resolution::Libc(libc.clone()));
            }
        }
        // When the tree holds the library more than once (a venv copied twice, two wheels
        // bundling the same soname), the copy nearest the file wins: its own directory, else
        // the one sharing the longest path with it; ties go to the first in path order.
        if let Some(libs) = self.tree.get(needed) {
            let nearest = libs
                .iter()
                .filter(|l| compat.accepts(&l.compat))
                .map(|l| l.path.parent().unwrap_or(Path::new("")))
                .rev()
                .max_by_key(|dir| shared_components(dir, from));
            if let Some(dir) = nearest {
                return Some(Resolution::Dir(dir.to_path_buf()));
            }
        }
        self.dirs
            .iter()
            .find(|d| self.usable(&d.join(name), compat))
            .map(|d| Resolution::Dir(d.clone()))
    }

    /// An existing ELF file (symlinks followed, as the loader does) that `compat` accepts.
    fn usable(&self, path: &Path, compat: &Compat) -> bool {
        let cached = self
            .headers
            .read()
            .expect("no panics while held")
            .get(path)
            .copied();
        // Read without the lock; two threads may both read a header the first time, which
        // costs less than making every other thread wait for the read.
        let lib = cached.unwrap_or_else(|| {
            let lib = read_compat(path);
            self.headers
                .write()
                .expect("no panics while held")
                .insert(path.to_path_buf(), lib);
            lib
        });
        lib.is_some_and(|lib| compat.accepts(&lib))
    }
}

/// How many leading path components two directories share.
fn shared_components(a: &Path, b: &Path) -> usize {
    a.components()
        .zip(b.components())
        .take_while(|(x, y)| x == y)
        .count()
}

/// Reads just the ELF identification and header fields that decide compatibility.
fn read_compat(path: &Path) -> Option<Compat> {
    let mut header = [0u8; 64];
    let mut file = File::open(path).ok()?;
    let n = file.read(&mut header).ok()?;
    let bytes = &header[..n];
    if n < 20 || &bytes[..4] != b"\x7fELF" {
        return None;
    }
    let class = match bytes[4] {
        1 => Class::Elf32,
        2 => Class::Elf64,
        _ => return None,
    };
    let machine = match bytes[5] {
        1 => u16::from_le_bytes([bytes[18], bytes[19]]),
        2 => u16::from_be_bytes([bytes[18], bytes[19]]),
        _ => return None,
    };
    Some(Compat {
        class,
        machine,
        osabi: bytes[7],
    })
}

/// The shared objects directly in `dir` (not recursive), sorted by name.
fn libraries_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut libs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| is_library_name(e.file_name().as_bytes()))
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    libs.sort();
    libs
}

/// What one read of a `--libs` library gave.
enum LibraryRead {
    /// Its header fields and its RUNPATH/RPATH entries without those that depend on `$ORIGIN`.
    Elf {
        compat: Compat,
        runpath: Vec<PathBuf>,
    },
    NotElf,
    /// Could not be opened, mapped or parsed.
    Unknown,
}

fn read_library(lib: &Path) -> LibraryRead {
    let Ok(file) = File::open(lib) else {
        return LibraryRead::Unknown;
    };
    // SAFETY: read-only map of a file we only read; a concurrent truncation could fault, which
    // for a library in a build input does not happen.
    let Ok(map) = (unsafe { memmap2::Mmap::map(&file) }) else {
        return LibraryRead::Unknown;
    };
    match ElfInfo::parse(&map) {
        Ok(Some(info)) => LibraryRead::Elf {
            compat: Compat::of(&info),
            runpath: search_entries(&info),
        },
        Ok(None) => LibraryRead::NotElf,
        Err(_) => LibraryRead::Unknown,
    }
}

/// The loader's two spellings of the file's own directory in a RUNPATH entry.
pub const ORIGIN_SPELLINGS: [&[u8]; 2] = [b"$ORIGIN", b"${ORIGIN}"];

/// Whether a RUNPATH entry depends on the file's own directory: it names `$ORIGIN` (either
/// spelling) anywhere in it.
pub fn mentions_origin(entry: &[u8]) -> bool {
    ORIGIN_SPELLINGS
        .iter()
        .any(|o| memchr::memmem::find(entry, o).is_some())
}

/// `$ORIGIN` and `${ORIGIN}` expanded against the file's directory.
pub fn expand_origin(entry: &[u8], dir: &Path) -> PathBuf {
    let dir = dir.as_os_str().as_bytes();
    let mut out = Vec::new();
    let mut rest = entry;
    while !rest.is_empty() {
        if let Some(r) = ORIGIN_SPELLINGS.iter().find_map(|o| rest.strip_prefix(*o)) {
            out.extend_from_slice(dir);
            rest = r;
        } else {
            out.push(rest[0]);
            rest = &rest[1..];
        }
    }
    PathBuf::from(OsStr::from_bytes(&out))
}

/// The absolute, `$ORIGIN`-free entries of a file's RUNPATH (or RPATH).
pub fn search_entries(info: &ElfInfo) -> Vec<PathBuf> {
    runpath_of(info)
        .into_iter()
        .filter(|e| !mentions_origin(e) && e.first() == Some(&b'/'))
        .map(|e| PathBuf::from(std::ffi::OsStr::from_bytes(&e)))
        .collect()
}

/// The dependencies a `.note.dlopen` descriptor declares, as nixpkgs' auto-patchelf reads
/// them: UTF-8 JSON (trailing NULs stripped), a list of objects of which only `soname`, a list
/// of strings, counts; `feature`, `priority` and `description` are ignored. Each item is one
/// dependency's sonames, alternatives in order. Where auto-patchelf would crash (not UTF-8, not
/// JSON, not a list, an entry without a non-empty list of non-empty strings), the second value
/// says why and the rest is still used.
pub fn dlopen_dependencies(desc: &[u8]) -> (Vec<Vec<String>>, Vec<String>) {
    let end = desc.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let text = match std::str::from_utf8(&desc[..end]) {
        Ok(text) => text,
        Err(e) => return (Vec::new(), vec![format!("not UTF-8: {e}")]),
    };
    let entries = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Array(entries)) => entries,
        Ok(_) => return (Vec::new(), vec!["not a JSON list".to_string()]),
        Err(e) => return (Vec::new(), vec![format!("not valid JSON: {e}")]),
    };
    let mut deps = Vec::new();
    let mut problems = Vec::new();
    let mut skipped = 0usize;
    for (i, entry) in entries.iter().enumerate() {
        let sonames = entry
            .get("soname")
            .and_then(serde_json::Value::as_array)
            .and_then(|names| {
                names
                    .iter()
                    .map(|n| n.as_str().filter(|n| !n.is_empty()).map(str::to_string))
                    .collect::<Option<Vec<String>>>()
            })
            .filter(|names| !names.is_empty());
        match sonames {
            Some(names) => deps.push(names),
            // A few by number; a hostile note's thousands as one count.
            None if skipped < 8 => {
                skipped += 1;
                problems.push(format!(
                    "entry {i} has no \"soname\" list of non-empty strings; skipped"
                ))
            }
            None => skipped += 1,
        }
    }
    if skipped > problems.len() {
        problems.push(format!(
            "{} more entries without a \"soname\" list skipped",
            skipped - problems.len()
        ));
    }
    (deps, problems)
}

/// The entries of a file's RUNPATH, else its RPATH.
pub fn runpath_of(info: &ElfInfo) -> Vec<Vec<u8>> {
    let Some(dynamic) = &info.dynamic else {
        return Vec::new();
    };
    let Some(s) = dynamic.runpath.as_ref().or(dynamic.rpath.as_ref()) else {
        return Vec::new();
    };
    s.bytes
        .split(|&b| b == b':')
        .filter(|e| !e.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_expands_both_spellings() {
        let dir = Path::new("/out/lib/site/pkg");
        assert_eq!(
            expand_origin(b"$ORIGIN/../pkg.libs", dir),
            PathBuf::from("/out/lib/site/pkg/../pkg.libs")
        );
        assert_eq!(
            expand_origin(b"${ORIGIN}", dir),
            PathBuf::from("/out/lib/site/pkg")
        );
    }

    #[test]
    fn library_names() {
        for ok in ["libz.so", "libz.so.1", "libz.so.1.3.1", "_rust.abi3.so"] {
            assert!(is_library_name(ok.as_bytes()), "{ok}");
        }
        for no in ["libz.sox", "libz.a", "so", "x.so-1"] {
            assert!(!is_library_name(no.as_bytes()), "{no}");
        }
    }

    #[test]
    fn dlopen_json_is_read_as_auto_patchelf_reads_it() {
        let (deps, problems) = dlopen_dependencies(
            br#"[{"feature":"x","soname":["libz.so.1","libz.so"],"priority":"required"},{"soname":["liba.so.2"]}]"#
                .iter()
                .chain(b"\0\0\0")
                .copied()
                .collect::<Vec<u8>>()
                .as_slice(),
        );
        assert_eq!(deps, [vec!["libz.so.1", "libz.so"], vec!["liba.so.2"]]);
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn bad_dlopen_json_is_a_problem_not_a_panic() {
        for bad in [
            &b"\xff\xfe"[..],
            b"",
            b"{",
            b"{\"soname\":[\"libx.so\"]}",
            b"\"libx.so\"",
            &[b'['; 10_000],
        ] {
            let (deps, problems) = dlopen_dependencies(bad);
            assert!(deps.is_empty() && problems.len() == 1, "{bad:?}");
        }
        let (deps, problems) = dlopen_dependencies(
            br#"[1, {"soname":"libx.so"}, {"soname":[]}, {"soname":[2]}, {"soname":[""]}, {}, {"soname":["ok.so"]}]"#,
        );
        assert_eq!(deps, [vec!["ok.so"]]);
        assert_eq!(problems.len(), 6, "{problems:?}");
        assert!(problems[0].starts_with("entry 0 "), "{problems:?}");
        let many = format!("[{}{{\"soname\":[\"ok.so\"]}}]", "1,".repeat(100));
        let (deps, problems) = dlopen_dependencies(many.as_bytes());
        assert_eq!(deps, [vec!["ok.so"]]);
        assert_eq!(problems.len(), 9, "{problems:?}");
        assert!(problems[8].starts_with("92 more entries"), "{problems:?}");
    }

    #[test]
    fn osabi_sysv_goes_with_any() {
        let gnu = Compat {
            class: Class::Elf64,
            machine: 62,
            osabi: ELFOSABI_GNU,
        };
        let sysv = Compat {
            osabi: ELFOSABI_SYSV,
            ..gnu
        };
        let freebsd = Compat { osabi: 9, ..gnu };
        assert!(gnu.accepts(&sysv) && sysv.accepts(&gnu) && sysv.accepts(&freebsd));
        assert!(!gnu.accepts(&freebsd));
        assert!(!gnu.accepts(&Compat {
            machine: 183,
            ..gnu
        }));
    }
}
