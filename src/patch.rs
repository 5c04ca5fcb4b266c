//! patch-rpaths: walk → read every ELF file once → resolve → plan → write → report.

use std::collections::BTreeSet;
use std::ffi::OsStr;

use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use memmap2::Mmap;
use rayon::prelude::*;

use crate::elf::{self, ApplyOptions, Change, Class, Edit, ElfInfo};
use crate::leftover::{self, Owner};
use crate::report::{
    DlopenEntry, ErrorEntry, MissingEntry, PatchReport, PatchedEntry, DLOPEN, NEEDED,
};
use crate::resolve::{self, Compat, Found, Index, TreeLibrary};
use crate::store::{name_after, StoreDir, HASH_LEN, NEUTRAL_BYTE};
use crate::walk::{self, Kind};

pub struct Options {
    pub libs: Vec<PathBuf>,
    /// Do not resolve against the libraries under the patched trees.
    pub ignore_existing: bool,
    /// Only the files directly in each PATH, not below.
    pub no_recurse: bool,
    pub libc: Option<PathBuf>,
    pub keep_libc: bool,
    /// Prepended to the RUNPATH of executables (files with PT_INTERP) only, when they exist.
    pub runtime_dependencies: Vec<PathBuf>,
    /// Appended to every patched file's RUNPATH, as given.
    pub append_rpaths: Vec<PathBuf>,
    pub interpreter: Option<PathBuf>,
    pub ignore_missing: Vec<String>,
    /// A file that could take only `--runtime-dependency` / `--append-rpath` entries and that
    /// the writer refused is a warning, not a failure.
    pub allow_optional_refusal: bool,
    /// fsync each written file (and its directory after a rename).
    pub fsync: bool,
    pub dry_run: bool,
    pub store: StoreDir,
}

#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    #[error("--ignore-missing {0:?}: {1}")]
    BadGlob(String, String),
    #[error("--interpreter {}: {reason}", path.display())]
    BadInterpreter { path: PathBuf, reason: String },
    #[error("--append-rpath {}: a relative entry would be looked up from the working directory of whatever process loads the file; give an absolute directory, or one starting with $ORIGIN", .0.display())]
    RelativeAppendRpath(PathBuf),
    #[error("{}: cannot make the path absolute: {source}", path.display())]
    NotAbsolute {
        path: PathBuf,
        source: std::io::Error,
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

/// Whether an `--append-rpath` entry is one the loader resolves without a working directory:
/// absolute, or relative to the file itself (`$ORIGIN`, `${ORIGIN}`).
pub fn is_runpath_entry_anchored(entry: &[u8]) -> bool {
    entry.first() == Some(&b'/') || entry.starts_with(b"$ORIGIN") || entry.starts_with(b"${ORIGIN}")
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
struct Tally {
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

impl Tally {
    fn merge(mut self, mut other: Tally) -> Tally {
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
fn read_elf(entry: &walk::Visit, tally: &mut Tally) {
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
pub fn run(roots: &[PathBuf], opts: &Options) -> Result<PatchReport, OptionsError> {
    let ignore = ignore_set(&opts.ignore_missing)?;
    if let Some(entry) = opts
        .append_rpaths
        .iter()
        .find(|e| !e.as_os_str().is_empty() && !is_runpath_entry_anchored(e.as_os_str().as_bytes()))
    {
        return Err(OptionsError::RelativeAppendRpath(entry.clone()));
    }
    // Every path made absolute before use: a relative one would reach a RUNPATH (a tree
    // library's directory, a --libs one) or the interpreter as it was typed.
    let abs_all = |paths: &[PathBuf]| -> Result<Vec<PathBuf>, OptionsError> {
        paths.iter().map(|p| absolute(p)).collect()
    };
    let abs_opt = |path: &Option<PathBuf>| path.as_deref().map(absolute).transpose();
    let roots = abs_all(roots)?;
    let opts = &Options {
        libs: abs_all(&opts.libs)?,
        libc: abs_opt(&opts.libc)?,
        runtime_dependencies: abs_all(&opts.runtime_dependencies)?,
        interpreter: abs_opt(&opts.interpreter)?,
        append_rpaths: opts.append_rpaths.clone(),
        ignore_missing: opts.ignore_missing.clone(),
        store: opts.store.clone(),
        ..*opts
    };
    let target = target(opts.interpreter.as_deref())?;

    // Read: every regular file once, directories listed in parallel; ELF files are mapped
    // and parsed lazily.
    let depth = if opts.no_recurse { 1 } else { usize::MAX };
    let tally = walk::par_visit(
        &walk::distinct_roots(&roots),
        depth,
        |entry, tally: &mut Tally| {
            let name = Path::new(entry.name());
            match entry.kind {
                _ if !entry.is_root
                    && leftover::is_leftover(Owner::PatchRpaths, name, entry.kind) =>
                {
                    tally.leftovers.push(entry.path())
                }
                Kind::File => read_elf(entry, tally),
                Kind::Special => tally.special.push(entry.path()),
                Kind::Symlink
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
    .fold(Tally::default(), Tally::merge);
    let Tally {
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
        .map(|f| plan_file(f, &index, opts, &ignore))
        .collect();
    plans.extend(interp_only.iter().map(|f| plan_interpreter_only(f, opts)));
    let mut dynamic = dynamic;
    dynamic.extend(interp_only);

    // Write: a killed run's temporary copies go first, then each changed file.
    if !opts.dry_run {
        errors.extend(leftover::remove(&leftovers, Owner::PatchRpaths));
    }
    report.leftovers = leftovers.iter().map(|p| p.display().to_string()).collect();
    let outcomes: Vec<Written> = plans
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
            Written::Refused(message) if plan.optional_only && opts.allow_optional_refusal => {
                warnings.push((
                    plan.path.clone(),
                    format!(
                        "{message} (only --runtime-dependency / --append-rpath entries were to be added; allowed by --allow-optional-refusal)"
                    ),
                ));
                report.refused += 1;
            }
            Written::Refused(message) if plan.optional_only => {
                errors.push((
                    plan.path.clone(),
                    format!(
                        "{message} (only --runtime-dependency / --append-rpath entries were to be added; --allow-optional-refusal makes this a warning)"
                    ),
                ));
                report.refused += 1;
            }
            Written::Refused(message) => {
                errors.push((plan.path.clone(), message));
                report.refused += 1;
            }
            Written::Failed(message) => {
                errors.push((plan.path.clone(), message));
                report.failed += 1;
            }
            Written::Patched(edit) => report.patched.push(PatchedEntry {
                path: plan.path.display().to_string(),
                old_runpath: plan.old_runpath.map(lossy),
                new_runpath: edit.change.runpath.clone().map(lossy),
                old_interpreter: plan.old_interpreter.map(lossy),
                new_interpreter: edit.change.interpreter.clone().map(lossy),
                how: edit.description.clone(),
                placement: edit.placement,
                dynamic_moved: edit.dynamic_moved,
            }),
            Written::Nothing if plan.blocked => report.blocked += 1,
            Written::Nothing => report.unchanged += 1,
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
    report.errors = errors;
    let mut warnings: Vec<ErrorEntry> = warnings
        .into_iter()
        .map(|(path, message)| ErrorEntry {
            path: path.display().to_string(),
            message,
        })
        .collect();
    warnings.sort();
    report.warnings = warnings;
    report.skipped_special = special.iter().map(|p| p.display().to_string()).collect();
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

fn lossy(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes).into_owned()
}

fn ignore_set(globs: &[String]) -> Result<GlobSet, OptionsError> {
    let mut set = GlobSetBuilder::new();
    for g in globs {
        set.add(Glob::new(g).map_err(|e| OptionsError::BadGlob(g.clone(), e.kind().to_string()))?);
    }
    set.build()
        .map_err(|e| OptionsError::BadGlob(globs.join(" "), e.kind().to_string()))
}

struct FilePlan {
    path: PathBuf,
    old_runpath: Option<Vec<u8>>,
    old_interpreter: Option<Vec<u8>>,
    /// None: the file stays as it is.
    change: Option<Change>,
    missing: Vec<MissingEntry>,
    dlopen: Vec<DlopenEntry>,
    /// Unreadable `.note.dlopen` notes, each naming the file.
    warnings: Vec<String>,
    /// Left alone because a library it needs is missing.
    blocked: bool,
    /// The change only adds --runtime-dependency / --append-rpath entries: refusing it is a
    /// warning.
    optional_only: bool,
}

/// `$ORIGIN` and `${ORIGIN}` expanded against the file's directory.
fn expand_origin(entry: &[u8], dir: &Path) -> PathBuf {
    let dir = dir.as_os_str().as_bytes();
    let mut out = Vec::new();
    let mut rest = entry;
    while !rest.is_empty() {
        if let Some(r) = rest
            .strip_prefix(b"${ORIGIN}")
            .or_else(|| rest.strip_prefix(b"$ORIGIN"))
        {
            out.extend_from_slice(dir);
            rest = r;
        } else {
            out.push(rest[0]);
            rest = &rest[1..];
        }
    }
    PathBuf::from(OsStr::from_bytes(&out))
}

/// The package name a stripped entry (`STORE_DIR/eeee…-NAME/lib`) came from.
fn stripped_name(store: &StoreDir, entry: &[u8]) -> Option<String> {
    let rest = entry.strip_prefix(store.prefix())?;
    let (hash, tail) = (rest.get(..HASH_LEN)?, rest.get(HASH_LEN..)?);
    if !hash.iter().all(|&b| b == NEUTRAL_BYTE) {
        return None;
    }
    let name = name_after(tail.strip_prefix(b"-")?);
    (!name.is_empty()).then_some(name)
}

/// The stripped packages a missing library most likely came from: those whose name holds the
/// stem of one of its sonames (`libxml2.so.2` → `xml2` → `libxml2-2.13.8`), else all of them.
fn likely_sources(sonames: &[String], stripped: &BTreeSet<String>) -> Vec<String> {
    let matching: Vec<String> = stripped
        .iter()
        .filter(|p| {
            sonames.iter().any(|name| {
                let base = name.split(".so").next().unwrap_or(name);
                let stem = base.strip_prefix("lib").unwrap_or(base);
                !stem.is_empty()
                    && p.split('-')
                        .next()
                        .is_some_and(|first| first.contains(stem))
            })
        })
        .cloned()
        .collect();
    if matching.is_empty() {
        stripped.iter().cloned().collect()
    } else {
        matching
    }
}

/// How nixpkgs' auto-patchelf names a dependency: its soname, or `any(a, b, …)` when a
/// `.note.dlopen` entry offers several.
fn dependency_name(sonames: &[String]) -> String {
    match sonames {
        [one] => one.clone(),
        many => format!("any({})", many.join(", ")),
    }
}

/// Whether `--ignore-missing` lets a dependency stay missing. auto-patchelf matches the last
/// path component of the name above (so `any(…)` only matches a glob like `*` or `any(*`);
/// the whole name and each alternative (and its last component) match here too, so
/// `--ignore-missing 'libfoo*'` also covers `any(libfoo.so.2, libfoo.so)`.
fn ignored(ignore: &GlobSet, name: &str, sonames: &[String]) -> bool {
    std::iter::once(name)
        .chain(sonames.iter().map(String::as_str))
        .any(|s| ignore.is_match(s) || ignore.is_match(s.rsplit('/').next().unwrap_or(s)))
}

fn plan_file(file: &ElfFile, index: &Index, opts: &Options, ignore: &GlobSet) -> FilePlan {
    let info = &file.info;
    let dynamic = info
        .dynamic
        .as_ref()
        .expect("only dynamic files are planned");
    let dir = file.path.parent().unwrap_or(Path::new("."));
    let old_entries = resolve::runpath_of(info);
    let old_runpath = dynamic
        .runpath
        .as_ref()
        .or(dynamic.rpath.as_ref())
        .map(|s| s.bytes.clone());

    // Existing $ORIGIN entries stay, in order, while they point at something.
    let origin_entries: Vec<&Vec<u8>> = old_entries
        .iter()
        .filter(|e| {
            e.windows(7).any(|w| w == b"$ORIGIN") || e.windows(9).any(|w| w == b"${ORIGIN}")
        })
        .filter(|e| expand_origin(e, dir).is_dir())
        .collect();
    let origin_dirs: Vec<PathBuf> = origin_entries
        .iter()
        .map(|e| expand_origin(e, dir))
        .collect();

    let compat = Compat::of(info);
    let mut missing = Vec::new();
    let mut dlopen = Vec::new();
    let mut warnings = Vec::new();
    let came_from: BTreeSet<String> = old_entries
        .iter()
        .filter_map(|e| stripped_name(&opts.store, e))
        .collect();
    // Each dependency is a list of alternatives, tried in order: one for a DT_NEEDED, the
    // sonames of one entry for a .note.dlopen note. The first that resolves satisfies it.
    let mut deps: Vec<(&'static str, Vec<Vec<u8>>)> = dynamic
        .needed
        .iter()
        .map(|n| (NEEDED, vec![n.clone()]))
        .collect();
    let note = |problem: String| format!("{}: .note.dlopen: {problem}", file.path.display());
    warnings.extend(info.dlopen.problems.iter().cloned().map(note));
    for desc in &info.dlopen.descs {
        let (found, problems) = resolve::dlopen_dependencies(desc);
        warnings.extend(problems.into_iter().map(note));
        deps.extend(found.into_iter().map(|sonames| {
            (
                DLOPEN,
                sonames.into_iter().map(String::into_bytes).collect(),
            )
        }));
    }
    // Directories that satisfied a dependency, in dependency order.
    let mut found_dirs: Vec<Vec<u8>> = Vec::new();
    for (source, alternatives) in deps {
        let sonames: Vec<String> = alternatives.iter().cloned().map(lossy).collect();
        let mut tried = Vec::new();
        let mut hit = None;
        for (soname, raw) in sonames.iter().zip(&alternatives) {
            tried.push(soname.clone());
            if let Some(found) = index.find(raw, &compat, dir, &origin_dirs) {
                hit = Some((soname.clone(), found));
                break;
            }
        }
        let (directory, on_runpath) = match &hit {
            Some((_, Found::Dir(d))) => (Some(d.clone()), true),
            Some((_, Found::Libc(d))) => (Some(d.clone()), opts.keep_libc),
            Some((_, Found::AlreadySatisfied)) | None => (None, false),
        };
        if let (Some(d), true) = (&directory, on_runpath) {
            found_dirs.push(d.clone().into_os_string().into_vec());
        }
        let name = dependency_name(&sonames);
        if hit.is_none() {
            missing.push(MissingEntry {
                path: file.path.display().to_string(),
                ignored: ignored(ignore, &name, &sonames),
                soname: name,
                source,
                came_from: likely_sources(&sonames, &came_from),
                alternatives: sonames.clone(),
            });
        }
        if source == DLOPEN {
            dlopen.push(DlopenEntry {
                path: file.path.display().to_string(),
                alternatives: sonames,
                tried,
                found: hit.map(|(soname, _)| soname),
                directory: directory.map(|d| d.display().to_string()),
                on_runpath,
            });
        }
    }
    // As nixpkgs' auto-patchelf: --runtime-dependency first, for executables only (PT_INTERP,
    // so PIE executables too); then the kept $ORIGIN entries, the directories found, and
    // --append-rpath for every file. An $ORIGIN entry that an option puts on the RUNPATH
    // stands where the option puts it, so a second run gives the same order.
    let is_executable = info.interpreter.is_some();
    let prepended: Vec<Vec<u8>> = opts
        .runtime_dependencies
        .iter()
        .filter(|d| is_executable && d.is_dir())
        .map(|d| d.as_os_str().as_bytes().to_vec())
        .collect();
    let appended: Vec<Vec<u8>> = opts
        .append_rpaths
        .iter()
        .map(|d| d.as_os_str().as_bytes().to_vec())
        .filter(|d| !d.is_empty())
        .collect();
    let resolved_dirs = !found_dirs.is_empty();
    let kept_origin: Vec<Vec<u8>> = origin_entries
        .iter()
        .filter(|e| !prepended.contains(e) && !appended.contains(e))
        .map(|e| (*e).clone())
        .collect();
    let mut new_entries = prepended;
    new_entries.extend(kept_origin);
    new_entries.extend(found_dirs);
    new_entries.extend(appended);
    let mut seen = BTreeSet::new();
    new_entries.retain(|e| seen.insert(e.clone()));
    let new_runpath = new_entries.join(&b':');

    // Nothing to put there: leave the old value, as autoPatchelf does. An empty RUNPATH is
    // not obviously "no directories" to every loader, and dead entries do no harm.
    let runpath = match &old_runpath {
        _ if new_runpath.is_empty() => None,
        Some(old) if *old == new_runpath => None,
        _ => Some(new_runpath),
    };
    let interpreter = match (&info.interpreter, &opts.interpreter) {
        (Some(old), Some(new)) if old.path != new.as_os_str().as_bytes() => {
            Some(new.as_os_str().as_bytes().to_vec())
        }
        _ => None,
    };
    // A file whose libraries cannot all be found is left as it was: the run fails anyway, and
    // half a RUNPATH would only hide which package is missing.
    let blocked = missing.iter().any(|m| !m.ignored);
    let optional_only = !resolved_dirs && interpreter.is_none();
    let change = (!blocked && (runpath.is_some() || interpreter.is_some())).then_some(Change {
        runpath,
        interpreter,
    });
    FilePlan {
        path: file.path.clone(),
        old_runpath,
        old_interpreter: info.interpreter.as_ref().map(|i| i.path.clone()),
        optional_only,
        change,
        missing,
        dlopen,
        warnings,
        blocked,
    }
}

/// An executable with PT_INTERP but no (or an empty) PT_DYNAMIC: nothing to resolve, but it
/// still takes `--interpreter`.
fn plan_interpreter_only(file: &ElfFile, opts: &Options) -> FilePlan {
    let old = file.info.interpreter.as_ref().map(|i| i.path.clone());
    let interpreter = match (&old, &opts.interpreter) {
        (Some(old), Some(new)) if *old != new.as_os_str().as_bytes() => {
            Some(new.as_os_str().as_bytes().to_vec())
        }
        _ => None,
    };
    FilePlan {
        path: file.path.clone(),
        old_runpath: None,
        old_interpreter: old,
        change: interpreter.map(|interpreter| Change {
            runpath: None,
            interpreter: Some(interpreter),
        }),
        missing: Vec::new(),
        dlopen: Vec::new(),
        warnings: Vec::new(),
        blocked: false,
        optional_only: false,
    }
}

/// What the write phase did with one file.
enum Written {
    Nothing,
    /// Changed (or, in a dry run, would be) as the edit describes.
    Patched(Edit),
    /// The writer cannot make the change; the file is untouched.
    Refused(String),
    /// Reading or writing failed; the file is untouched.
    Failed(String),
}

/// Maps the file again, checks it is what was read, lays out the edit and applies it.
fn write_file(file: &ElfFile, plan: &FilePlan, opts: &Options) -> Written {
    let Some(change) = &plan.change else {
        return Written::Nothing;
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
            return Written::Failed(format!("{}: {e}; left untouched", path.display()));
        }
    };
    match elf::plan(&file.info, &map, change) {
        Ok(None) => Written::Nothing,
        Ok(Some(edit)) if opts.dry_run => Written::Patched(edit),
        Ok(Some(edit)) => match elf::apply_with(
            path,
            &map,
            &edit,
            &ApplyOptions {
                fsync: opts.fsync,
                identity: Some((file.stamp.dev, file.stamp.ino)),
            },
        ) {
            Ok(_) => Written::Patched(edit),
            Err(e) => Written::Failed(e.to_string()),
        },
        Err(reason) => Written::Refused(format!(
            "{}: cannot patch: {reason}; left untouched",
            path.display()
        )),
    }
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
    fn missing_soname_is_traced_to_the_package_named_like_it() {
        let stripped: BTreeSet<String> = ["libxml2-2.13.8", "openssl-3.0.16", "zlib-1.3.1"]
            .map(String::from)
            .into();
        let sources = |names: &[&str]| {
            let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            likely_sources(&names, &stripped)
        };
        assert_eq!(sources(&["libxml2.so.2"]), ["libxml2-2.13.8"]);
        assert_eq!(sources(&["libssl.so.3"]), ["openssl-3.0.16"]);
        assert_eq!(sources(&["libz.so.1"]), ["zlib-1.3.1"]);
        assert_eq!(sources(&["libffi.so.8"]).len(), 3);
        assert_eq!(
            sources(&["libffi.so.8", "libz.so.1", "libssl.so.3"]),
            ["openssl-3.0.16", "zlib-1.3.1"]
        );
    }

    #[test]
    fn an_any_of_dependency_is_named_and_ignored_as_auto_patchelf_does() {
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let one = names(&["libfoo.so.1"]);
        let two = names(&["libmissing.so.9", "libfoo.so"]);
        assert_eq!(dependency_name(&one), "libfoo.so.1");
        assert_eq!(dependency_name(&two), "any(libmissing.so.9, libfoo.so)");
        let set = |g: &str| ignore_set(&[g.to_string()]).unwrap();
        let name = dependency_name(&two);
        // auto-patchelf's own matches: the name's last path component.
        assert!(ignored(&set("*"), &name, &two));
        assert!(ignored(&set("any(libmissing*"), &name, &two));
        // Ours too: any one alternative.
        assert!(ignored(&set("libmissing.so.9"), &name, &two));
        assert!(ignored(&set("libfoo*"), &name, &two));
        assert!(!ignored(&set("libbar*"), &name, &two));
        // A DT_NEEDED by path matches on its last component, as in auto-patchelf.
        let abs = names(&["/opt/lib/libq.so.2"]);
        assert!(ignored(&set("libq*"), "/opt/lib/libq.so.2", &abs));
    }

    #[test]
    fn stripped_entry_names_its_package() {
        let store = StoreDir::new("/nix/store").unwrap();
        let e = format!("/nix/store/{}-postgresql-15.18-lib/lib", "e".repeat(32));
        assert_eq!(
            stripped_name(&store, e.as_bytes()).as_deref(),
            Some("postgresql-15.18-lib")
        );
        let real = "/nix/store/0c0s8w0wxyg2yyrb8iv5k1m6kv3bvhfz-x/lib";
        assert_eq!(stripped_name(&store, real.as_bytes()), None);
    }
}
