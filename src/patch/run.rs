//! patch-rpaths: walk → read every ELF file once → resolve → plan → write → report.

use std::collections::BTreeSet;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use globset::GlobSet;
use memmap2::Mmap;
use rayon::prelude::*;

use super::plan::{ignore_set, plan_file, plan_interpreter_only, FilePlan};
use super::report::{PatchMode, PatchReport, PatchedEntry};
use super::resolve::{self, Compat, Index, TreeLibrary, ELFOSABI_GNU, ELFOSABI_SYSV};
use crate::elf::{self, Class, ElfEdit, ElfError, ElfInfo, ElfRefusal, WriteError, WriteOptions};
use crate::shared::leftover::{self, Owner, RemoveError};
use crate::shared::report::{self, Footer, Reportable};
use crate::shared::store::StoreDir;
use crate::shared::walk::{self, EntryKind, Gathered, Merge, Visit, WalkError};

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

/// What can go wrong with one file; none stops the run, each names its path.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// A directory could not be listed.
    #[error(transparent)]
    List(#[from] WalkError),
    /// The file could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The file starts like an ELF file but cannot be parsed as one.
    #[error("{}: not a valid ELF file: {source}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: ElfError,
    },
    /// A killed run's temporary copy could not be removed.
    #[error(transparent)]
    LeftoverNotRemoved(#[from] RemoveError),
    /// The writer cannot make the change safely; the file is untouched.
    #[error("{}: cannot patch: {reason}; left untouched", path.display())]
    Refused {
        /// The file.
        path: PathBuf,
        /// Why the writer refused.
        reason: ElfRefusal,
    },
    /// As [`PatchError::Refused`], for a change that only adds `--runtime-dependency` /
    /// `--append-rpath` entries (which `--allow-optional-refusal` makes a warning).
    #[error(
        "{}: cannot patch: {reason}; left untouched (only --runtime-dependency / --append-rpath \
         entries were to be added; --allow-optional-refusal makes this a warning)",
        path.display()
    )]
    OptionalRefused {
        /// The file.
        path: PathBuf,
        /// Why the writer refused.
        reason: ElfRefusal,
    },
    /// The file is not what was read (another inode, length or mtime) when it is written.
    #[error("{}: changed since it was read; left untouched", path.display())]
    ChangedSinceRead {
        /// The file.
        path: PathBuf,
    },
    /// The file could not be opened again to be written.
    #[error("{}: {source}; left untouched", path.display())]
    Reopen {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Writing the edited file failed; the original is untouched.
    #[error(transparent)]
    Write(#[from] WriteError),
}

impl Reportable for PatchError {
    fn path(&self) -> &Path {
        match self {
            PatchError::List(e) => &e.path,
            PatchError::LeftoverNotRemoved(e) => &e.path,
            PatchError::Write(e) => e.path(),
            PatchError::Read { path, .. }
            | PatchError::Malformed { path, .. }
            | PatchError::Refused { path, .. }
            | PatchError::OptionalRefused { path, .. }
            | PatchError::ChangedSinceRead { path }
            | PatchError::Reopen { path, .. } => path,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            PatchError::List(_) => "list",
            PatchError::Read { .. } => "read",
            PatchError::Malformed { .. } => "malformed",
            PatchError::LeftoverNotRemoved(_) => "leftover_not_removed",
            PatchError::Refused { .. } => "refused",
            PatchError::OptionalRefused { .. } => "optional_refused",
            PatchError::ChangedSinceRead { .. } => "changed_since_read",
            PatchError::Reopen { .. } => "reopen",
            PatchError::Write(e) => e.kind(),
        }
    }
}

/// What patch-rpaths leaves alone without failing the run; each names its file.
#[derive(Debug, thiserror::Error)]
pub enum PatchWarning {
    /// A `.note.dlopen` note that cannot be read; the rest of the file is still resolved.
    #[error("{}: .note.dlopen: {problem}", path.display())]
    DlopenNote {
        /// The file.
        path: PathBuf,
        /// What is wrong with the note.
        problem: String,
    },
    /// As [`PatchError::OptionalRefused`], allowed by `--allow-optional-refusal`.
    #[error(
        "{}: cannot patch: {reason}; left untouched (only --runtime-dependency / --append-rpath \
         entries were to be added; allowed by --allow-optional-refusal)",
        path.display()
    )]
    OptionalRefusalAllowed {
        /// The file.
        path: PathBuf,
        /// Why the writer refused.
        reason: ElfRefusal,
    },
}

impl Reportable for PatchWarning {
    fn path(&self) -> &Path {
        match self {
            PatchWarning::DlopenNote { path, .. }
            | PatchWarning::OptionalRefusalAllowed { path, .. } => path,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            PatchWarning::DlopenNote { .. } => "dlopen_note",
            PatchWarning::OptionalRefusalAllowed { .. } => "optional_refusal_allowed",
        }
    }
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

/// What the read phase gathers besides special files, leftovers and errors.
#[derive(Default)]
struct ElfFiles {
    files: u64,
    non_elf: u64,
    elves: Vec<ElfFile>,
    /// Symlinks named like libraries (`libfoo.so.1 -> libfoo.so.1.2`): the loader opens
    /// the name, so they are candidates as much as the files they point at.
    links: Vec<PathBuf>,
}

impl Merge for ElfFiles {
    fn merge(&mut self, mut other: ElfFiles) {
        self.files += other.files;
        self.non_elf += other.non_elf;
        self.elves.append(&mut other.elves);
        self.links.append(&mut other.links);
    }
}

/// Reads one walked file: three system calls (open, read of the magic, close) for the many
/// that are not ELF; only ELF files are stat'ed, mapped and parsed.
fn read_elf(entry: &Visit, found: &mut ElfFiles, errors: &mut Vec<PatchError>) {
    found.files += 1;
    let result = (|| -> io::Result<Option<(Mmap, Stamp)>> {
        let mut file = entry.open()?;
        let mut magic = [0u8; 4];
        if file.read(&mut magic)? < 4 || &magic != b"\x7fELF" {
            return Ok(None);
        }
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(io::Error::other("no longer a regular file"));
        }
        // SAFETY: the map is only read; the files are build outputs nothing else writes now.
        Ok(Some((unsafe { Mmap::map(&file)? }, Stamp::of(&meta))))
    })();
    match result {
        Ok(None) => found.non_elf += 1,
        Ok(Some((map, stamp))) => {
            let path = entry.path();
            match ElfInfo::parse(&map) {
                Ok(Some(info)) => found.elves.push(ElfFile { path, info, stamp }),
                Ok(None) => found.non_elf += 1,
                Err(source) => errors.push(PatchError::Malformed { path, source }),
            }
        }
        Err(source) => errors.push(PatchError::Read {
            path: entry.path(),
            source,
        }),
    }
}

/// Reads every regular file under `roots` once, directories listed in parallel; ELF files
/// are mapped and parsed lazily. Library-named symlinks are collected as candidates.
fn read_tree(roots: &[PathBuf], opts: &PatchOptions) -> Gathered<ElfFiles, PatchError> {
    let depth = if opts.no_recurse { 1 } else { usize::MAX };
    let mut read = walk::gather(
        roots,
        depth,
        Owner::PatchRpaths,
        |entry, found: &mut ElfFiles, errors| match entry.kind {
            EntryKind::File => read_elf(entry, found, errors),
            EntryKind::Symlink
                if Path::new(entry.name())
                    .file_name()
                    .is_some_and(|n| resolve::is_library_name(n.as_bytes())) =>
            {
                found.links.push(entry.path())
            }
            _ => {}
        },
    );
    read.found.elves.sort_by(|a, b| a.path.cmp(&b.path));
    read
}

/// What a file must be to be patched: the interpreter's class, machine and OSABI, else this
/// host's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Target {
    class: Class,
    machine: u16,
    osabi: u8,
}

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

/// The ELF files that take part, split by what they get.
struct Classified {
    /// Files with a dynamic section: resolved, and given a RUNPATH (and an interpreter).
    dynamic: Vec<ElfFile>,
    /// Executables whose PT_DYNAMIC is missing or empty: they only take `--interpreter`.
    interpreter_only: Vec<ElfFile>,
}

/// Splits the files read into those of the target's class, machine and OSABI that take part
/// and the rest, counting the rest (foreign, not dynamic) in the report.
fn classify(elves: Vec<ElfFile>, target: Target, report: &mut PatchReport) -> Classified {
    let (ours, others): (Vec<ElfFile>, Vec<ElfFile>) =
        elves.into_iter().partition(|f| target.accepts(&f.info));
    report.foreign = others
        .iter()
        .map(|f| f.path.display().to_string())
        .collect();
    let (dynamic, rest): (Vec<ElfFile>, Vec<ElfFile>) =
        ours.into_iter().partition(|f| f.info.dynamic.is_some());
    let (interpreter_only, static_): (Vec<ElfFile>, Vec<ElfFile>) =
        rest.into_iter().partition(|f| f.info.interpreter.is_some());
    report.not_dynamic = static_.len() as u64;
    report.elf_files =
        (dynamic.len() + interpreter_only.len() + static_.len() + others.len()) as u64;
    Classified {
        dynamic,
        interpreter_only,
    }
}

/// The tree's own libraries (and the library-named symlinks to them), sorted by path: what
/// resolution tries before `--libs`. None with `--ignore-existing`.
fn tree_libraries(dynamic: &[ElfFile], links: &[PathBuf], opts: &PatchOptions) -> Vec<TreeLibrary> {
    if opts.ignore_existing {
        return Vec::new();
    }
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
        .chain(library_links(links, dynamic))
        .collect();
    tree.sort_by(|a, b| a.path.cmp(&b.path));
    tree
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
    let Gathered {
        found,
        special,
        leftovers,
        mut errors,
    } = read_tree(&roots, opts);
    let mut report = PatchReport {
        mode: if opts.dry_run {
            PatchMode::DryRun
        } else {
            PatchMode::Patch
        },
        files_scanned: found.files,
        non_elf: found.non_elf,
        ..PatchReport::default()
    };
    let Classified {
        dynamic,
        interpreter_only,
    } = classify(found.elves, target, &mut report);

    // Resolve: the tree's own libraries first, then --libs, then the RUNPATHs of those.
    let tree = tree_libraries(&dynamic, &found.links, opts);
    let index = Index::new(tree, &opts.libs, opts.libc.clone());
    report.search_dirs = index
        .dirs()
        .iter()
        .map(|d| d.display().to_string())
        .collect();

    // Plan each file: the dynamic ones, then the executables with only an interpreter.
    let mut plans: Vec<FilePlan> = dynamic
        .par_iter()
        .map(|f| plan_file(&f.path, &f.info, &index, opts, &ignore))
        .collect();
    plans.extend((interpreter_only.iter()).map(|f| plan_interpreter_only(&f.path, &f.info, opts)));
    let files: Vec<ElfFile> = dynamic.into_iter().chain(interpreter_only).collect();

    // Write: a killed run's temporary copies go first, then each changed file.
    if !opts.dry_run {
        let not_removed = leftover::remove(&leftovers, Owner::PatchRpaths);
        errors.extend(not_removed.into_iter().map(PatchError::from));
    }
    let outcomes: Vec<FileOutcome> = plans
        .par_iter()
        .zip(&files)
        .map(|(plan, file)| write_file(file, plan, opts))
        .collect();
    let mut warnings = Vec::new();
    for (plan, outcome) in plans.into_iter().zip(outcomes) {
        record_outcome(&mut report, plan, outcome, opts, &mut errors, &mut warnings);
    }
    // Interpreter-only executables were planned after the dynamic files: one order for all.
    report.patched.sort_by(|a, b| a.path.cmp(&b.path));
    report.missing.sort_by(|a, b| a.path.cmp(&b.path));
    report.dlopen.sort_by(|a, b| a.path.cmp(&b.path));
    report.footer = Footer {
        skipped_special: special.iter().map(|p| p.display().to_string()).collect(),
        leftovers: leftovers.iter().map(|p| p.display().to_string()).collect(),
        warnings: report::entries(warnings),
        errors: report::entries(errors),
    };
    Ok(report)
}

/// Adds what was planned and done for one file to the report, its errors and warnings.
fn record_outcome(
    report: &mut PatchReport,
    plan: FilePlan,
    outcome: FileOutcome,
    opts: &PatchOptions,
    errors: &mut Vec<PatchError>,
    warnings: &mut Vec<PatchWarning>,
) {
    report.missing.extend(plan.missing);
    report.dlopen.extend(plan.dlopen);
    warnings.extend(plan.warnings);
    let path = plan.path;
    match outcome {
        // Only --runtime-dependency / --append-rpath entries were to be added, and the file
        // needs none of them to load (Rust wheels linked by LLD have no spare dynamic slot to
        // take a RUNPATH): a warning when the user allowed it, else a failure. Either way the
        // file was not patched as asked, so it counts as refused, never as already right.
        FileOutcome::Refused(reason) if plan.optional_only && opts.allow_optional_refusal => {
            warnings.push(PatchWarning::OptionalRefusalAllowed { path, reason });
            report.refused += 1;
        }
        FileOutcome::Refused(reason) if plan.optional_only => {
            errors.push(PatchError::OptionalRefused { path, reason });
            report.refused += 1;
        }
        FileOutcome::Refused(reason) => {
            errors.push(PatchError::Refused { path, reason });
            report.refused += 1;
        }
        FileOutcome::Failed(e) => {
            errors.push(e);
            report.failed += 1;
        }
        FileOutcome::Patched(edit) => report.patched.push(PatchedEntry {
            path: path.display().to_string(),
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
    Refused(ElfRefusal),
    /// Reading or writing failed; the file is untouched.
    Failed(PatchError),
}

/// Maps the file again, checks it is what was read, lays out the edit and writes it.
fn write_file(file: &ElfFile, plan: &FilePlan, opts: &PatchOptions) -> FileOutcome {
    let Some(change) = &plan.change else {
        return FileOutcome::Nothing;
    };
    let path = &file.path;
    let reopened = walk::open_regular(path)
        .map_err(|source| PatchError::Reopen {
            path: path.clone(),
            source,
        })
        .and_then(|(f, meta)| {
            if Stamp::of(&meta) != file.stamp {
                return Err(PatchError::ChangedSinceRead { path: path.clone() });
            }
            // SAFETY: as in read_elf; the edit is checked against these bytes before the
            // rename.
            unsafe { Mmap::map(&f) }.map_err(|source| PatchError::Reopen {
                path: path.clone(),
                source,
            })
        });
    let map = match reopened {
        Ok(map) => map,
        Err(e) => return FileOutcome::Failed(e),
    };
    match elf::plan_edit(&file.info, &map, change) {
        Ok(None) => FileOutcome::Nothing,
        Ok(Some(edit)) if opts.dry_run => FileOutcome::Patched(edit),
        Ok(Some(edit)) => {
            let how = WriteOptions {
                fsync: opts.fsync,
                identity: Some((file.stamp.dev, file.stamp.ino)),
            };
            match elf::write_edit_with(path, &map, &edit, &how) {
                Ok(_) => FileOutcome::Patched(edit),
                Err(e) => FileOutcome::Failed(e.into()),
            }
        }
        Err(reason) => FileOutcome::Refused(reason),
    }
}
