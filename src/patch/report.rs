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
    /// Regular files read under the roots, ELF or not.
    pub files_scanned: u64,
    /// Of those, the ones read as ELF, `foreign` ones included; malformed ones (errors) are not.
    pub elf_files: u64,
    /// Of those, the ones without the ELF magic (or too short to have it).
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
    /// Files changed (or, in a dry run, that would be), one entry each.
    pub patched: Vec<PatchedEntry>,
    /// Dependencies found nowhere, those `--ignore-missing` matched included (`ignored`).
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

/// One file patch-rpaths changed (or would change, in a dry run): old and new values, and how
/// the writer made room for them. Values are the file's bytes, read lossily as UTF-8.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PatchedEntry {
    /// As walked: under the root it was found in.
    pub path: String,
    /// DT_RUNPATH, else DT_RPATH; None when the file had neither.
    pub old_runpath: Option<String>,
    /// Absent when only the interpreter changed.
    pub new_runpath: Option<String>,
    /// None for a file without PT_INTERP.
    pub old_interpreter: Option<String>,
    /// Absent when only the RUNPATH changed.
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

/// One dependency of one file that no search directory satisfies: what was looked for, and
/// the advice on which package to add.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct MissingEntry {
    /// The file that needs it, as walked.
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
    /// The diagnostic for people: `error: missing SONAME wanted by PATH — HINT` (`warning:
    /// ignoring missing …` when ignored), the hint naming the package to add to buildInputs.
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
    /// The file whose note it is, as walked.
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
    /// How many missing dependencies are errors: those `--ignore-missing` did not match.
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
