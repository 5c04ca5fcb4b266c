//! patch-rpaths' report: per file what changed and how, what is missing and where it most
//! likely came from, the `.note.dlopen` dependencies, the search order.

use std::io::{self, Write};

use serde::Serialize;

use crate::shared::report::{count, Footer, Report};

/// Whether a run writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PatchMode {
    /// Files are patched.
    #[default]
    Patch,
    /// Nothing is written; the report says what would be.
    DryRun,
}

/// Where a dependency comes from. Serialised as the ELF names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum DependencySource {
    /// A `DT_NEEDED` entry of `.dynamic`.
    #[serde(rename = "DT_NEEDED")]
    Needed,
    /// An object of a `.note.dlopen` note.
    #[serde(rename = ".note.dlopen")]
    Dlopen,
}

/// patch-rpaths' report.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PatchReport {
    /// `patch` or `dry-run`.
    pub mode: PatchMode,
    pub files_scanned: u64,
    pub elf_files: u64,
    pub non_elf: u64,
    /// ELF files of another class or machine than the target, left alone.
    pub foreign: Vec<String>,
    /// Static executables, objects and other ELF files without a dynamic section.
    pub not_dynamic: u64,
    /// Dynamic files that already had the right RUNPATH and interpreter.
    pub unchanged: u64,
    /// Files left as they were because a library they need is missing.
    pub blocked: u64,
    /// Files the writer could not change as asked (each also in `errors`, or in `warnings`
    /// when `--allow-optional-refusal` allowed it); left untouched.
    pub refused: u64,
    /// Files whose reading or writing failed (each also in `errors`); left untouched.
    pub failed: u64,
    pub patched: Vec<PatchedEntry>,
    pub missing: Vec<MissingEntry>,
    /// Every `.note.dlopen` dependency, found or not, per file in note order.
    pub dlopen: Vec<DlopenEntry>,
    /// The `--libs` directories and the RUNPATH directories found from them, in search order.
    pub search_dirs: Vec<String>,
    /// Special files, the temporary copies (`.NAME.patch-rpaths.PID`) a killed earlier run
    /// left (removed, or only listed in a dry run), warnings (files left as they were that
    /// needed only `--runtime-dependency` / `--append-rpath` entries, `.note.dlopen` notes
    /// that could not be read) and errors.
    #[serde(flatten)]
    pub footer: Footer,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PatchedEntry {
    pub path: String,
    pub old_runpath: Option<String>,
    /// Absent when only the interpreter changed.
    pub new_runpath: Option<String>,
    pub old_interpreter: Option<String>,
    pub new_interpreter: Option<String>,
    /// How the file was changed (in place, spare dynamic slot, appended segment), in words.
    pub how: String,
    /// The layout strategy the writer used (`in-place`, `extend-last-segment`,
    /// `null-header-entry`, `dynstr-load-replaced`, `header-table-grown`,
    /// `header-table-moved`).
    pub placement: crate::elf::Placement,
    /// `.dynamic` moved into the new segment to take a new entry.
    pub dynamic_moved: bool,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct MissingEntry {
    pub path: String,
    /// The dependency as nixpkgs' auto-patchelf names it: the soname, or for a `.note.dlopen`
    /// entry with several alternatives `any(a, b, …)`.
    pub soname: String,
    /// `DT_NEEDED` or `.note.dlopen`.
    pub source: DependencySource,
    /// The sonames looked for, in order (one for a `DT_NEEDED`).
    pub alternatives: Vec<String>,
    /// Packages named by the stripped RUNPATH entries the file had (`eeee…-NAME`).
    pub came_from: Vec<String>,
    /// The nixpkgs attribute that provides it, for common sonames (`libstdc++.so.6` →
    /// `stdenv.cc.cc.lib`): the advice when the file's RUNPATH named no package.
    pub nixpkgs: Option<String>,
    /// Matched `--ignore-missing`: a warning, not an error.
    pub ignored: bool,
}

impl MissingEntry {
    pub fn line(&self) -> String {
        let hint = match (self.came_from.as_slice(), &self.nixpkgs) {
            ([], Some(attribute)) => {
                format!("add the package that provides it to buildInputs (in nixpkgs: {attribute})")
            }
            ([], None) => "add the package that provides it to buildInputs".to_string(),
            ([one], _) => format!("it came from {one}: add that package to buildInputs"),
            (many, _) => format!(
                "it came from one of {}: add that package to buildInputs",
                many.join(", ")
            ),
        };
        let what = if self.ignored {
            "warning: ignoring missing"
        } else {
            "error: missing"
        };
        let source = if self.source == DependencySource::Dlopen {
            " (.note.dlopen)"
        } else {
            ""
        };
        format!(
            "{what} {} wanted by {}{source} — {hint}",
            self.soname, self.path
        )
    }
}

/// One `.note.dlopen` dependency of one file: its alternatives, and which one was found.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct DlopenEntry {
    pub path: String,
    /// The note's sonames, in order; any one satisfies the dependency.
    pub alternatives: Vec<String>,
    /// Those looked for, in order: up to the one found, else all of them.
    pub tried: Vec<String>,
    /// The first alternative found; None when none was (it is then in `missing` too).
    pub found: Option<String>,
    /// Where it was found: a directory on the new RUNPATH, or the libc directory. None when
    /// the file reaches it already (an absolute path that exists, its own `$ORIGIN` entry).
    pub directory: Option<String>,
    /// Whether `directory` goes on the RUNPATH (not for libc, unless `--keep-libc`).
    pub on_runpath: bool,
}

impl DlopenEntry {
    /// `tried a, b: found b in DIR`, for the listing and the summary.
    pub fn describe(&self) -> String {
        let tried = self.tried.join(", ");
        match (&self.found, &self.directory) {
            (None, _) => format!("tried {tried}: none found"),
            (Some(f), Some(d)) if self.on_runpath => format!("tried {tried}: found {f} in {d}"),
            (Some(f), Some(d)) => {
                format!("tried {tried}: found {f} in {d} (libc: the loader finds it)")
            }
            (Some(f), None) => format!(
                "tried {tried}: found {f} (already reachable: an absolute path or an $ORIGIN entry)"
            ),
        }
    }
}

impl PatchReport {
    pub fn failed_missing(&self) -> usize {
        self.missing.iter().filter(|m| !m.ignored).count()
    }
}

impl Report for PatchReport {
    /// A missing library (not ignored), a refused file, or another error.
    fn failed(&self) -> bool {
        self.failed_missing() > 0 || !self.footer.errors.is_empty()
    }

    /// For `--dry-run`: each file that would change, old → new, with its `.note.dlopen`
    /// dependencies.
    fn write_listing(&self, out: &mut dyn Write) -> io::Result<()> {
        let none = "(none)".to_string();
        let mut dlopen: std::collections::HashMap<&str, Vec<&DlopenEntry>> = Default::default();
        for d in &self.dlopen {
            dlopen.entry(d.path.as_str()).or_default().push(d);
        }
        for p in &self.patched {
            writeln!(out, "{} ({})", p.path, p.how)?;
            if let Some(new) = &p.new_runpath {
                writeln!(
                    out,
                    "  RUNPATH     {} -> {}",
                    p.old_runpath.as_ref().unwrap_or(&none),
                    new
                )?;
            }
            if let Some(new) = &p.new_interpreter {
                writeln!(
                    out,
                    "  interpreter {} -> {}",
                    p.old_interpreter.as_ref().unwrap_or(&none),
                    new
                )?;
            }
            for d in dlopen.get(p.path.as_str()).into_iter().flatten() {
                writeln!(out, "  dlopen      {}", d.describe())?;
            }
        }
        Ok(())
    }

    fn write_summary(&self, out: &mut dyn Write) -> io::Result<()> {
        let tool = "patch-rpaths";
        let verb = if self.mode == PatchMode::DryRun {
            "would patch"
        } else {
            "patched"
        };
        writeln!(
            out,
            "{tool}: scanned {} ({} ELF, {} not ELF); {verb} {}, {} already right, {} refused, {} failed, {} left for missing libraries, {} not dynamic, {} foreign",
            count(self.files_scanned, "file"),
            self.elf_files,
            self.non_elf,
            self.patched.len(),
            self.unchanged,
            self.refused,
            self.failed,
            self.blocked,
            self.not_dynamic,
            self.foreign.len(),
        )?;
        for d in &self.dlopen {
            writeln!(out, "{tool}: {}: .note.dlopen: {}", d.path, d.describe())?;
        }
        for m in &self.missing {
            writeln!(out, "{tool}: {}", m.line())?;
        }
        if self.failed_missing() > 0 {
            writeln!(
                out,
                "{tool}: {} could not be satisfied (--ignore-missing GLOB turns them into warnings)",
                count(self.failed_missing() as u64, "dependency")
            )?;
        }
        self.footer.write(out, tool, self.mode == PatchMode::Patch)
    }
}
