//! patch-rpaths: walk → read every ELF file once → resolve → plan → write → report.

use std::collections::BTreeSet;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use globset::GlobSet;
use memmap2::Mmap;
use rayon::prelude::*;

use super::plan::{ignore_set, plan_file, plan_interpreter_only, FilePlan};
use super::report::{PatchReport, PatchedEntry};
use super::resolve::{self, Compat, Index, TreeLibrary};
use crate::elf::{self, Class, ElfEdit, ElfInfo, WriteOptions};
use crate::shared::leftover::{self, Owner};
use crate::shared::report::ErrorEntry;
use crate::shared::store::StoreDir;
use crate::shared::walk::{self, EntryKind};

/// What patch-rpaths is asked to do, as given on the command line (paths may be relative:
/// [`run`] makes them absolute first).
pub struct PatchOptions {
    /// `--libs`: directories of libraries to resolve against, searched in this order.
    pub libs: Vec<PathBuf>,
    /// `--libs-tree`: every directory below each that holds a shared library, searched after
    /// `libs` as if each were given with `--libs`.
    pub libs_tree: Vec<PathBuf>,
    /// `--bintools`: a Nix bintools wrapper, whose `nix-support/dynamic-linker` is the default
    /// interpreter and `nix-support/orig-libc` (+ `/lib`) the default libc directory.
    pub bintools: Option<PathBuf>,
    /// Do not resolve against the libraries under the patched trees.
    pub ignore_existing: bool,
    /// Only the files directly in each PATH, not below.
    pub no_recurse: bool,
    /// `--libc`: the C library's directory; what is found there needs no RUNPATH entry.
    pub libc: Option<PathBuf>,
    /// Put the libc directory on the RUNPATH too, when it satisfies a dependency.
    pub keep_libc: bool,
    /// Prepended to the RUNPATH of executables (files with PT_INTERP) only, when they exist.
    pub runtime_dependencies: Vec<PathBuf>,
    /// Appended to every patched file's RUNPATH, as given.
    pub append_rpaths: Vec<PathBuf>,
    /// The interpreter executables get; its class, machine and OSABI also decide which files
    /// are patched (this host's when none).
    pub interpreter: Option<PathBuf>,
    /// Globs: a missing dependency matching one is a warning, not an error.
    pub ignore_missing: Vec<String>,
    /// A file that could take only `--runtime-dependency` / `--append-rpath` entries and that
    /// the writer refused is a warning, not a failure.
    pub allow_optional_refusal: bool,
    /// fsync each written file (and its directory after a rename).
    pub fsync: bool,
    /// Change nothing; report what would change.
    pub dry_run: bool,
    /// The store directory, to name the package a stripped RUNPATH entry came from.
    pub store: StoreDir,
}

/// Options that cannot work, found before anything is read: a usage error.
#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    /// An `--ignore-missing` pattern that is not a glob.
    #[error("--ignore-missing {0:?}: {1}")]
    BadGlob(String, String),
    /// An interpreter that cannot be read as an ELF file.
    #[error("--interpreter {}: {reason}", path.display())]
    BadInterpreter {
        /// The `--interpreter` (or `--bintools`' dynamic linker).
        path: PathBuf,
        /// Why it cannot be read.
        reason: String,
    },
    /// An `--append-rpath` entry neither absolute nor starting with `$ORIGIN`.
    #[error("--append-rpath {}: a relative entry would be looked up from the working directory of whatever process loads the file; give an absolute directory, or one starting with $ORIGIN", .0.display())]
    RelativeAppendRpath(PathBuf),
    /// A path that `std::path::absolute` cannot make absolute.
    #[error("{}: cannot make the path absolute: {source}", path.display())]
    NotAbsolute {
        /// The path as given.
        path: PathBuf,
        /// Why (an empty path, an unreadable working directory).
        source: std::io::Error,
    },
    /// A `--libs`, `--libc`, `--libs-tree` or `--bintools` argument that is not a directory.
    #[error("{}: not a directory", .0.display())]
    NotADirectory(PathBuf),
    /// A `--bintools` wrapper whose `nix-support/dynamic-linker` or `orig-libc` is relative.
    #[error("--bintools {}: nix-support/{file} names a relative path ({})", bintools.display(), path.display())]
    RelativeBintoolsPath {
        /// The wrapper's directory.
        bintools: PathBuf,
        /// `dynamic-linker` or `orig-libc`.
        file: &'static str,
        /// What the file names.
        path: PathBuf,
    },
}

/// `path` made absolute against the working directory, as the kernel would resolve it:
/// `.` components go, `..` and symlinks stay (resolving them lexically could name another
/// directory). What goes on a RUNPATH or becomes an interpreter never depends on where
/// the tool was started.
pub fn absolute(path: &Path) -> Result<PathBuf, OptionsError> {
    std::path::absolute(path).map_err(|source| OptionsError::NotAbsolute {
        path: path.to_path_buf(),
        source,
    })
}

/// The roots and options as the run uses them, once every check passed.
struct Checked {
    roots: Vec<PathBuf>,
    /// Paths absolute, `--libs-tree` folded into `libs`, `--bintools`' defaults filled in.
    opts: PatchOptions,
    ignore: GlobSet,
    target: Target,
}

/// Checks the options before anything is read (every directory argument exists and every
/// path is made absolute, so no relative path reaches a RUNPATH or the interpreter), and
/// completes them from `--bintools` and `--libs-tree`.
fn check(roots: &[PathBuf], opts: &PatchOptions) -> Result<Checked, OptionsError> {
    let dirs = (opts.libs.iter())
        .chain(&opts.libc)
        .chain(&opts.libs_tree)
        .chain(&opts.bintools);
    if let Some(dir) = dirs.into_iter().find(|d| !d.is_dir()) {
        return Err(OptionsError::NotADirectory(dir.clone()));
    }
    let abs_all = |paths: &[PathBuf]| -> Result<Vec<PathBuf>, OptionsError> {
        paths.iter().map(|p| absolute(p)).collect()
    };
    let abs_opt = |path: &Option<PathBuf>| path.as_deref().map(absolute).transpose();
    let roots = abs_all(roots)?;
    let mut libs = abs_all(&opts.libs)?;
    let libs_tree = abs_all(&opts.libs_tree)?;
    let runtime_dependencies = abs_all(&opts.runtime_dependencies)?;
    let libc = abs_opt(&opts.libc)?;
    let interpreter = abs_opt(&opts.interpreter)?;
    let bintools = abs_opt(&opts.bintools)?;
    let (bintools_interpreter, bintools_libc) =
        bintools.as_deref().map(from_bintools).unwrap_or_default();
    for (file, path) in [
        ("dynamic-linker", &bintools_interpreter),
        ("orig-libc", &bintools_libc),
    ] {
        if let (Some(bintools), Some(path)) = (&bintools, path) {
            if !path.is_absolute() {
                return Err(OptionsError::RelativeBintoolsPath {
                    bintools: bintools.clone(),
                    file,
                    path: path.clone(),
                });
            }
        }
    }
    for tree in &libs_tree {
        libs.extend(library_dirs_under(tree));
    }
    let ignore = ignore_set(&opts.ignore_missing)?;
    if let Some(entry) = opts
        .append_rpaths
        .iter()
        .find(|e| !e.as_os_str().is_empty() && !is_runpath_entry_anchored(e.as_os_str().as_bytes()))
    {
        return Err(OptionsError::RelativeAppendRpath(entry.clone()));
    }
    let opts = PatchOptions {
        libs,
        libs_tree: Vec::new(),
        bintools,
        libc: libc.or(bintools_libc),
        runtime_dependencies,
        interpreter: interpreter.or(bintools_interpreter),
        append_rpaths: opts.append_rpaths.clone(),
        ignore_missing: opts.ignore_missing.clone(),
        store: opts.store.clone(),
        ..*opts
    };
    let target = target(opts.interpreter.as_deref())?;
    Ok(Checked {
        roots,
        opts,
        ignore,
        target,
    })
}

/// Whether an `--append-rpath` entry is one the loader resolves without a working directory:
/// absolute, or relative to the file itself (`$ORIGIN`, `${ORIGIN}`).
pub fn is_runpath_entry_anchored(entry: &[u8]) -> bool {
    entry.first() == Some(&b'/')
        || resolve::ORIGIN_SPELLINGS
            .iter()
            .any(|o| entry.starts_with(o))
}

/// One ELF file as read. Only its parsed headers are kept: a tree of half a million files
/// must not stay mapped until the write phase, which maps again the few files it changes.
struct ElfFile {
    path: PathBuf,
    info: ElfInfo,
    stamp: Stamp,
}

/// What identifies the contents a plan was made from: a write since then changes the mtime, a
/// replacement the inode. Not the ctime: patching one of two hard links to a file changes
/// the other's link count, and so its ctime, without changing its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Stamp {
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
        }
    }
}

/// What the read phase gathers.
#[derive(Default)]
struct ElfTally {
    files: u64,
    non_elf: u64,
    elves: Vec<ElfFile>,
    /// FIFOs, sockets and devices: never opened, named in the report.
    special: Vec<PathBuf>,
    /// Temporary copies a killed earlier run left: removed, never read.
    leftovers: Vec<PathBuf>,
    /// Symlinks named like libraries (`libfoo.so.1 -> libfoo.so.1.2`): the loader opens
    /// the name, so they are candidates as much as the files they point at.
    links: Vec<PathBuf>,
    errors: Vec<(PathBuf, String)>,
}

impl ElfTally {
    fn merge(mut self, mut other: ElfTally) -> ElfTally {
        self.files += other.files;
        self.non_elf += other.non_elf;
        self.elves.append(&mut other.elves);
        self.links.append(&mut other.links);
        self.special.append(&mut other.special);
        self.leftovers.append(&mut other.leftovers);
        self.errors.append(&mut other.errors);
        self
    }
}

/// Reads one walked file: three system calls (open, read of the magic, close) for the many
/// that are not ELF; only ELF files are stat'ed, mapped and parsed.
fn read_elf(entry: &walk::Visit, tally: &mut ElfTally) {
    tally.files += 1;
    let result = (|| -> std::io::Result<Option<(Mmap, Stamp)>> {
        let mut file = entry.open()?;
        let mut magic = [0u8; 4];
        if file.read(&mut magic)? < 4 || &magic != b"\x7fELF" {
            return Ok(None);
        }
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(std::io::Error::other("no longer a regular file"));
        }
        // SAFETY: the map is only read; the files are build outputs nothing else writes now.
        Ok(Some((unsafe { Mmap::map(&file)? }, Stamp::of(&meta))))
    })();
    match result {
        Ok(None) => tally.non_elf += 1,
        Ok(Some((map, stamp))) => {
            let path = entry.path();
            match ElfInfo::parse(&map) {
                Ok(Some(info)) => tally.elves.push(ElfFile { path, info, stamp }),
                Ok(None) => tally.non_elf += 1,
                Err(e) => {
                    let message = format!("{}: not a valid ELF file: {e}", path.display());
                    tally.errors.push((path, message))
                }
            }
        }
        Err(e) => {
            let path = entry.path();
            let message = format!("{}: cannot read: {e}", path.display());
            tally.errors.push((path, message))
        }
    }
}

/// What a file must be to be patched: the interpreter's class, machine and OSABI, else this
/// host's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Target {
    class: Class,
    machine: u16,
    osabi: u8,
}

const ELFOSABI_SYSV: u8 = 0;
const ELFOSABI_GNU: u8 = 3;

impl Target {
    /// A Linux loader (OSABI SYSV or GNU) takes SYSV and GNU files; another OS's loader takes
    /// its own OSABI and the generic SYSV. A FreeBSD-branded file never gets a Linux loader.
    fn accepts(&self, info: &ElfInfo) -> bool {
        let linux = |o: u8| o == ELFOSABI_SYSV || o == ELFOSABI_GNU;
        let osabi_ok = if linux(self.osabi) {
            linux(info.osabi)
        } else {
            info.osabi == self.osabi || info.osabi == ELFOSABI_SYSV
        };
        info.class == self.class && info.machine == self.machine && osabi_ok
    }
}

fn target(interpreter: Option<&Path>) -> Result<Target, OptionsError> {
    if let Some(interp) = interpreter {
        let bad = |reason: String| OptionsError::BadInterpreter {
            path: interp.to_path_buf(),
            reason,
        };
        let bytes = std::fs::read(interp).map_err(|e| bad(e.to_string()))?;
        let info = ElfInfo::parse(&bytes)
            .map_err(|e| bad(e.to_string()))?
            .ok_or_else(|| bad("not an ELF file".into()))?;
        return Ok(Target {
            class: info.class,
            machine: info.machine,
            osabi: info.osabi,
        });
    }
    let machine = if cfg!(target_arch = "x86_64") {
        62
    } else if cfg!(target_arch = "aarch64") {
        183
    } else if cfg!(target_arch = "x86") {
        3
    } else {
        0
    };
    let class = if cfg!(target_pointer_width = "64") {
        Class::Elf64
    } else {
        Class::Elf32
    };
    // The loaders of the hosts this builds for are SYSV-branded.
    Ok(Target {
        class,
        machine,
        osabi: ELFOSABI_SYSV,
    })
}

/// Runs patch-rpaths over `roots` on the current rayon pool.
pub fn run(roots: &[PathBuf], opts: &PatchOptions) -> Result<PatchReport, OptionsError> {
    let Checked {
        roots,
        opts,
        ignore,
        target,
    } = check(roots, opts)?;
    let opts = &opts;

    // Read: every regular file once, directories listed in parallel; ELF files are mapped
    // and parsed lazily.
    let depth = if opts.no_recurse { 1 } else { usize::MAX };
    let tally = walk::par_visit(
        &walk::distinct_roots(&roots),
        depth,
        |entry, tally: &mut ElfTally| {
            let name = Path::new(entry.name());
            match entry.kind {
                _ if !entry.is_root
                    && leftover::is_leftover(Owner::PatchRpaths, name, entry.kind) =>
                {
                    tally.leftovers.push(entry.path())
                }
                EntryKind::File => read_elf(entry, tally),
                EntryKind::Special => tally.special.push(entry.path()),
                EntryKind::Symlink
                    if name
                        .file_name()
                        .is_some_and(|n| resolve::is_library_name(n.as_bytes())) =>
                {
                    tally.links.push(entry.path())
                }
                _ => {}
            }
        },
        |e, tally| tally.errors.push((e.path.clone(), e.to_string())),
    )
    .into_iter()
    .fold(ElfTally::default(), ElfTally::merge);
    let ElfTally {
        files,
        non_elf,
        mut elves,
        links,
        mut special,
        mut leftovers,
        mut errors,
    } = tally;
    special.sort();
    leftovers.sort();
    elves.sort_by(|a, b| a.path.cmp(&b.path));

    let mut report = PatchReport {
        mode: if opts.dry_run { "dry-run" } else { "patch" },
        files_scanned: files,
        non_elf,
        ..PatchReport::default()
    };

    // Only files of the target's class, machine and OSABI take part: dynamic ones, and
    // executables whose PT_DYNAMIC is missing or empty, which still take --interpreter.
    let (ours, others): (Vec<ElfFile>, Vec<ElfFile>) =
        elves.into_iter().partition(|f| target.accepts(&f.info));
    report.foreign = others
        .iter()
        .map(|f| f.path.display().to_string())
        .collect();
    let (dynamic, rest): (Vec<ElfFile>, Vec<ElfFile>) =
        ours.into_iter().partition(|f| f.info.dynamic.is_some());
    let (interp_only, static_): (Vec<ElfFile>, Vec<ElfFile>) =
        rest.into_iter().partition(|f| f.info.interpreter.is_some());
    report.not_dynamic = static_.len() as u64;
    report.elf_files = (dynamic.len() + interp_only.len() + static_.len() + others.len()) as u64;

    // Resolve: the tree's own libraries first, then --libs, then RUNPATHs of those.
    let tree: Vec<TreeLibrary> = if opts.ignore_existing {
        Vec::new()
    } else {
        let mut tree: Vec<TreeLibrary> = dynamic
            .iter()
            .filter(|f| {
                f.path
                    .file_name()
                    .is_some_and(|n| resolve::is_library_name(n.as_bytes()))
            })
            .map(|f| TreeLibrary {
                path: f.path.clone(),
                compat: Compat::of(&f.info),
            })
            .chain(library_links(&links, &dynamic))
            .collect();
        tree.sort_by(|a, b| a.path.cmp(&b.path));
        tree
    };
    let index = Index::new(tree, &opts.libs, opts.libc.clone());

    // Plan each file: the dynamic ones, then the executables with only an interpreter.
    let mut plans: Vec<FilePlan> = dynamic
        .par_iter()
        .map(|f| plan_file(&f.path, &f.info, &index, opts, &ignore))
        .collect();
    plans.extend(
        interp_only
            .iter()
            .map(|f| plan_interpreter_only(&f.path, &f.info, opts)),
    );
    let mut dynamic = dynamic;
    dynamic.extend(interp_only);

    // Write: a killed run's temporary copies go first, then each changed file.
    if !opts.dry_run {
        errors.extend(leftover::remove(&leftovers, Owner::PatchRpaths));
    }
    report.footer.leftovers = leftovers.iter().map(|p| p.display().to_string()).collect();
    let outcomes: Vec<FileOutcome> = plans
        .par_iter()
        .zip(&dynamic)
        .map(|(plan, file)| write_file(file, plan, opts))
        .collect();

    let mut warnings = Vec::new();
    for (plan, outcome) in plans.into_iter().zip(outcomes) {
        report.missing.extend(plan.missing);
        report.dlopen.extend(plan.dlopen);
        warnings.extend(plan.warnings.into_iter().map(|w| (plan.path.clone(), w)));
        match outcome {
            // Only --runtime-dependency / --append-rpath entries were to be added, and the
            // file needs none of them to load (Rust wheels linked by LLD have no spare
            // dynamic slot to take a RUNPATH): a warning when the user allowed it, else a
            // failure. Either way the file was not patched as asked, so it counts as refused,
            // never as already right.
            FileOutcome::Refused(message) if plan.optional_only && opts.allow_optional_refusal => {
                warnings.push((
                    plan.path.clone(),
                    format!(
                        "{message} (only --runtime-dependency / --append-rpath entries were to be added; allowed by --allow-optional-refusal)"
                    ),
                ));
                report.refused += 1;
            }
            FileOutcome::Refused(message) if plan.optional_only => {
                errors.push((
                    plan.path.clone(),
                    format!(
                        "{message} (only --runtime-dependency / --append-rpath entries were to be added; --allow-optional-refusal makes this a warning)"
                    ),
                ));
                report.refused += 1;
            }
            FileOutcome::Refused(message) => {
                errors.push((plan.path.clone(), message));
                report.refused += 1;
            }
            FileOutcome::Failed(message) => {
                errors.push((plan.path.clone(), message));
                report.failed += 1;
            }
            FileOutcome::Patched(edit) => report.patched.push(PatchedEntry {
                path: plan.path.display().to_string(),
                old_runpath: plan.old_runpath.map(lossy),
                new_runpath: edit.change.runpath.clone().map(lossy),
                old_interpreter: plan.old_interpreter.map(lossy),
                new_interpreter: edit.change.interpreter.clone().map(lossy),
                how: edit.description.clone(),
                placement: edit.placement,
                dynamic_moved: edit.dynamic_moved,
            }),
            FileOutcome::Nothing if plan.blocked => report.blocked += 1,
            FileOutcome::Nothing => report.unchanged += 1,
        }
    }
    let mut errors: Vec<ErrorEntry> = errors
        .into_iter()
        .map(|(path, message)| ErrorEntry {
            path: path.display().to_string(),
            message,
        })
        .collect();
    errors.sort();
    report.footer.errors = errors;
    let mut warnings: Vec<ErrorEntry> = warnings
        .into_iter()
        .map(|(path, message)| ErrorEntry {
            path: path.display().to_string(),
            message,
        })
        .collect();
    warnings.sort();
    report.footer.warnings = warnings;
    report.footer.skipped_special = special.iter().map(|p| p.display().to_string()).collect();
    report.search_dirs = index
        .dirs()
        .iter()
        .map(|d| d.display().to_string())
        .collect();
    Ok(report)
}

/// The library-named symlinks whose target is one of the tree's own dynamic libraries.
fn library_links<'a>(
    links: &'a [PathBuf],
    dynamic: &'a [ElfFile],
) -> impl Iterator<Item = TreeLibrary> + 'a {
    // One canonicalize per ELF file, and only when there are links to match.
    let targets: std::collections::HashMap<PathBuf, Compat> = dynamic
        .iter()
        .take(if links.is_empty() { 0 } else { dynamic.len() })
        .filter_map(|f| Some((std::fs::canonicalize(&f.path).ok()?, Compat::of(&f.info))))
        .collect();
    links.iter().filter_map(move |link| {
        let compat = *targets.get(&std::fs::canonicalize(link).ok()?)?;
        Some(TreeLibrary {
            path: link.clone(),
            compat,
        })
    })
}

/// Every directory under `root` that directly holds a shared library (autoPatchelf's
/// `addAutoPatchelfSearchPath`), sorted.
pub fn library_dirs_under(root: &Path) -> Vec<PathBuf> {
    let dirs: BTreeSet<PathBuf> = walkdir::WalkDir::new(root)
        .follow_links(true)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| !e.file_type().is_dir() && resolve::is_library_name(e.file_name().as_bytes()))
        .filter_map(|e| e.path().parent().map(Path::to_path_buf))
        .collect();
    dirs.into_iter().collect()
}

/// The interpreter and libc directory a Nix bintools wrapper records in `nix-support/`.
pub fn from_bintools(dir: &Path) -> (Option<PathBuf>, Option<PathBuf>) {
    let read = |name: &str| {
        std::fs::read_to_string(dir.join("nix-support").join(name))
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    (
        read("dynamic-linker").map(PathBuf::from),
        read("orig-libc").map(|l| Path::new(&l).join("lib")),
    )
}

pub(crate) fn lossy(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes).into_owned()
}

/// What the write phase did with one file.
enum FileOutcome {
    Nothing,
    /// Changed (or, in a dry run, would be) as the edit describes.
    Patched(ElfEdit),
    /// The writer cannot make the change; the file is untouched.
    Refused(String),
    /// Reading or writing failed; the file is untouched.
    Failed(String),
}

/// Maps the file again, checks it is what was read, lays out the edit and applies it.
fn write_file(file: &ElfFile, plan: &FilePlan, opts: &PatchOptions) -> FileOutcome {
    let Some(change) = &plan.change else {
        return FileOutcome::Nothing;
    };
    let path = &file.path;
    let map = match walk::open_regular(path).and_then(|(f, meta)| {
        if Stamp::of(&meta) != file.stamp {
            return Err(std::io::Error::other("changed since it was read"));
        }
        // SAFETY: as in read_elf; the edit is checked against these bytes before the rename.
        unsafe { Mmap::map(&f) }
    }) {
        Ok(map) => map,
        Err(e) => {
            return FileOutcome::Failed(format!("{}: {e}; left untouched", path.display()));
        }
    };
    match elf::plan_edit(&file.info, &map, change) {
        Ok(None) => FileOutcome::Nothing,
        Ok(Some(edit)) if opts.dry_run => FileOutcome::Patched(edit),
        Ok(Some(edit)) => match elf::write_edit_with(
            path,
            &map,
            &edit,
            &WriteOptions {
                fsync: opts.fsync,
                identity: Some((file.stamp.dev, file.stamp.ino)),
            },
        ) {
            Ok(_) => FileOutcome::Patched(edit),
            Err(e) => FileOutcome::Failed(e.to_string()),
        },
        Err(reason) => FileOutcome::Refused(format!(
            "{}: cannot patch: {reason}; left untouched",
            path.display()
        )),
    }
}
