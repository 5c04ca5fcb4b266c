//! Planning one ELF file: each dependency resolved, the new RUNPATH built as autoPatchelf
//! builds it, the interpreter chosen; what is missing traced to the package it came from.

use std::collections::BTreeSet;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};

use super::advice;
use super::report::{DependencySource, DlopenEntry, MissingEntry};
use super::resolve::{self, Compat, Index, Resolution};
use super::run::{lossy, OptionsError, PatchOptions, PatchWarning};
use crate::elf::{ElfChange, ElfInfo};
use crate::shared::store::{name_after, StoreDir, HASH_LEN, NEUTRAL_BYTE};

pub(crate) fn ignore_set(globs: &[String]) -> Result<GlobSet, OptionsError> {
    let mut set = GlobSetBuilder::new();
    for g in globs {
        set.add(Glob::new(g).map_err(|e| OptionsError::BadGlob(g.clone(), e.kind().to_string()))?);
    }
    set.build()
        .map_err(|e| OptionsError::BadGlob(globs.join(" "), e.kind().to_string()))
}

pub(crate) struct FilePlan {
    pub path: PathBuf,
    pub old_runpath: Option<Vec<u8>>,
    pub old_interpreter: Option<Vec<u8>>,
    /// None: the file stays as it is.
    pub change: Option<ElfChange>,
    pub missing: Vec<MissingEntry>,
    pub dlopen: Vec<DlopenEntry>,
    /// Unreadable `.note.dlopen` notes.
    pub warnings: Vec<PatchWarning>,
    /// Left alone because a library it needs is missing.
    pub blocked: bool,
    /// The change only adds --runtime-dependency / --append-rpath entries: refusing it is a
    /// warning.
    pub optional_only: bool,
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

pub(crate) fn plan_file(
    path: &Path,
    info: &ElfInfo,
    index: &Index,
    opts: &PatchOptions,
    ignore: &GlobSet,
) -> FilePlan {
    let dynamic = info
        .dynamic
        .as_ref()
        .expect("only dynamic files are planned");
    let dir = path.parent().unwrap_or(Path::new("."));
    let old_entries = resolve::runpath_of(info);
    let old_runpath = dynamic
        .runpath
        .as_ref()
        .or(dynamic.rpath.as_ref())
        .map(|s| s.bytes.clone());

    // Existing $ORIGIN entries stay, in order, while they point at something.
    let origin_entries: Vec<&Vec<u8>> = old_entries
        .iter()
        .filter(|e| resolve::mentions_origin(e))
        .filter(|e| resolve::expand_origin(e, dir).is_dir())
        .collect();
    let (deps, warnings) = dependencies(path, info);
    let resolver = Resolver {
        path,
        dir,
        compat: Compat::of(info),
        origin_dirs: (origin_entries.iter())
            .map(|e| resolve::expand_origin(e, dir))
            .collect(),
        came_from: (old_entries.iter())
            .filter_map(|e| stripped_name(&opts.store, e))
            .collect(),
        index,
        opts,
        ignore,
    };
    let resolved = resolver.resolve(deps);
    let optional_only = resolved.found_dirs.is_empty();
    let new_runpath = new_runpath(info, opts, &origin_entries, resolved.found_dirs);

    // Nothing to put there: leave the old value, as autoPatchelf does. An empty RUNPATH is
    // not obviously "no directories" to every loader, and dead entries do no harm.
    let runpath = match &old_runpath {
        _ if new_runpath.is_empty() => None,
        Some(old) if *old == new_runpath => None,
        _ => Some(new_runpath),
    };
    let interpreter = new_interpreter(info, opts);
    // A file whose libraries cannot all be found is left as it was: the run fails anyway, and
    // half a RUNPATH would only hide which package is missing.
    let blocked = resolved.missing.iter().any(|m| !m.ignored);
    let optional_only = optional_only && interpreter.is_none();
    let change = (!blocked && (runpath.is_some() || interpreter.is_some())).then_some(ElfChange {
        runpath,
        interpreter,
    });
    FilePlan {
        path: path.to_path_buf(),
        old_runpath,
        old_interpreter: info.interpreter.as_ref().map(|i| i.path.clone()),
        optional_only,
        change,
        missing: resolved.missing,
        dlopen: resolved.dlopen,
        warnings,
        blocked,
    }
}

/// One dependency: its alternatives, tried in order (one for a DT_NEEDED, the sonames of one
/// object of a `.note.dlopen` note); the first that resolves satisfies it.
struct Dependency {
    source: DependencySource,
    alternatives: Vec<Vec<u8>>,
}

/// Every DT_NEEDED, then every `.note.dlopen` dependency, with a warning for each note that
/// cannot be read.
fn dependencies(path: &Path, info: &ElfInfo) -> (Vec<Dependency>, Vec<PatchWarning>) {
    let needed = info.dynamic.iter().flat_map(|d| &d.needed);
    let mut deps: Vec<Dependency> = needed
        .map(|n| Dependency {
            source: DependencySource::Needed,
            alternatives: vec![n.clone()],
        })
        .collect();
    let note = |problem: String| PatchWarning::DlopenNote {
        path: path.to_path_buf(),
        problem,
    };
    let mut warnings: Vec<PatchWarning> = info.dlopen.problems.iter().cloned().map(note).collect();
    for desc in &info.dlopen.descs {
        let (found, problems) = resolve::dlopen_dependencies(desc);
        warnings.extend(problems.into_iter().map(note));
        deps.extend(found.into_iter().map(|sonames| Dependency {
            source: DependencySource::Dlopen,
            alternatives: sonames.into_iter().map(String::into_bytes).collect(),
        }));
    }
    (deps, warnings)
}

/// What resolving one file's dependencies needs to know.
struct Resolver<'a> {
    path: &'a Path,
    /// The file's directory, what `$ORIGIN` means for it.
    dir: &'a Path,
    compat: Compat,
    /// Its kept `$ORIGIN` entries, expanded.
    origin_dirs: Vec<PathBuf>,
    /// The packages its stripped RUNPATH entries name.
    came_from: BTreeSet<String>,
    index: &'a Index,
    opts: &'a PatchOptions,
    ignore: &'a GlobSet,
}

/// What resolving one file's dependencies found.
#[derive(Default)]
struct Resolved {
    /// Directories that satisfied a dependency and go on the RUNPATH, in dependency order.
    found_dirs: Vec<Vec<u8>>,
    missing: Vec<MissingEntry>,
    dlopen: Vec<DlopenEntry>,
}

impl Resolver<'_> {
    fn resolve(&self, deps: Vec<Dependency>) -> Resolved {
        let mut resolved = Resolved::default();
        for dep in deps {
            self.resolve_one(dep, &mut resolved);
        }
        resolved
    }

    /// Tries the dependency's alternatives in order, and records where the first that
    /// resolves was found, or that none was.
    fn resolve_one(&self, dep: Dependency, resolved: &mut Resolved) {
        let Dependency {
            source,
            alternatives,
        } = dep;
        let sonames: Vec<String> = alternatives.iter().cloned().map(lossy).collect();
        let mut tried = Vec::new();
        let mut hit = None;
        for (soname, raw) in sonames.iter().zip(&alternatives) {
            tried.push(soname.clone());
            let found = (self.index).find(raw, &self.compat, self.dir, &self.origin_dirs);
            if let Some(found) = found {
                hit = Some((soname.clone(), found));
                break;
            }
        }
        let (directory, on_runpath) = match &hit {
            Some((_, Resolution::Dir(d))) => (Some(d.clone()), true),
            Some((_, Resolution::Libc(d))) => (Some(d.clone()), self.opts.keep_libc),
            Some((_, Resolution::AlreadySatisfied)) | None => (None, false),
        };
        if let (Some(d), true) = (&directory, on_runpath) {
            resolved
                .found_dirs
                .push(d.clone().into_os_string().into_vec());
        }
        let name = dependency_name(&sonames);
        if hit.is_none() {
            resolved.missing.push(MissingEntry {
                path: self.path.display().to_string(),
                ignored: ignored(self.ignore, &name, &sonames),
                soname: name,
                source,
                came_from: likely_sources(&sonames, &self.came_from),
                nixpkgs: advice::first_nixpkgs_attribute(&sonames).map(str::to_string),
                alternatives: sonames.clone(),
            });
        }
        if source == DependencySource::Dlopen {
            resolved.dlopen.push(DlopenEntry {
                path: self.path.display().to_string(),
                alternatives: sonames,
                tried,
                found: hit.map(|(soname, _)| soname),
                directory: directory.map(|d| d.display().to_string()),
                on_runpath,
            });
        }
    }
}

/// The new RUNPATH, as nixpkgs' auto-patchelf builds it: `--runtime-dependency` first, for
/// executables only (PT_INTERP, so PIE executables too); then the kept `$ORIGIN` entries,
/// the directories found, and `--append-rpath` for every file; duplicates dropped (the first
/// stays). An `$ORIGIN` entry that an option puts on the RUNPATH stands where the option puts
/// it, so a second run gives the same order.
fn new_runpath(
    info: &ElfInfo,
    opts: &PatchOptions,
    origin_entries: &[&Vec<u8>],
    found_dirs: Vec<Vec<u8>>,
) -> Vec<u8> {
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
    let kept_origin: Vec<Vec<u8>> = origin_entries
        .iter()
        .filter(|e| !prepended.contains(e) && !appended.contains(e))
        .map(|e| (*e).clone())
        .collect();
    let mut entries = prepended;
    entries.extend(kept_origin);
    entries.extend(found_dirs);
    entries.extend(appended);
    let mut seen = BTreeSet::new();
    entries.retain(|e| seen.insert(e.clone()));
    entries.join(&b':')
}

/// `--interpreter`, for an executable whose interpreter is another.
fn new_interpreter(info: &ElfInfo, opts: &PatchOptions) -> Option<Vec<u8>> {
    match (&info.interpreter, &opts.interpreter) {
        (Some(old), Some(new)) if old.path != new.as_os_str().as_bytes() => {
            Some(new.as_os_str().as_bytes().to_vec())
        }
        _ => None,
    }
}

/// An executable with PT_INTERP but no (or an empty) PT_DYNAMIC: nothing to resolve, but it
/// still takes `--interpreter`.
pub(crate) fn plan_interpreter_only(path: &Path, info: &ElfInfo, opts: &PatchOptions) -> FilePlan {
    let old = info.interpreter.as_ref().map(|i| i.path.clone());
    let interpreter = new_interpreter(info, opts);
    FilePlan {
        path: path.to_path_buf(),
        old_runpath: None,
        old_interpreter: old,
        change: interpreter.map(|interpreter| ElfChange {
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

#[cfg(test)]
mod tests {
    use super::*;

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
