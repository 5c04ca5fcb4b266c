//! `fix-venv restore`: in the main derivation, once the tree is in its final place and its
//! store references have been neutralised. Re-links the interpreter, rewrites `pyvenv.cfg`,
//! regenerates every entry-point script with uv's template, re-points other Python scripts
//! and the activators at the venv, and updates RECORD. Planned first, then applied.
//!
//! RECORD: the line of every file this run rewrites gets its new hash and size, and so does
//! every line `prepare` blanked (`path,,`, for files naming store paths), from the file as it
//! is now, i.e. after patch-rpaths and strip-store-refs, and every other line whose file's
//! bytes no longer match it (patch-rpaths also changes files that name no store path).
//! RECORD's own line (and its
//! signatures') stays blank, as do `.pyc` lines (`--compile-bytecode` writes after the plan).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::cfg::PyVenvCfg;
use super::entry_points::{self, ACTIVATORS};
use super::error::{Result, VenvError, VenvWarning};
use super::fsx::{absolute, existing, normalize, Existing};
use super::layout::{tail, Layout, PythonInfo};
use super::plan::{Op, VenvPlan, What};
use super::record::{self, RecordEdit, RecordEntry};
use super::report::{ImportCheck, PythonSummary, VenvCommand, VenvReport};
use super::script::{self, posix_quote};
use super::source::{self, SourceDist};
use crate::shared::report::{ErrorEntry, Reportable};

/// `fix-venv restore`'s options, the venv aside: one field per flag.
#[derive(Clone, Debug, Default)]
pub struct RestoreOptions {
    /// `--python`: the interpreter the venv is for, run once to ask its version and layout;
    /// its site-packages directory name must match the venv's.
    pub python: PathBuf,
    /// `--install-source`: pure-Python workspace members to install, in the order given.
    pub install_sources: Vec<PathBuf>,
    /// `--compile-bytecode`: compile site-packages once the plan is applied (not in a dry run),
    /// hash-based and unchecked so the bytes do not depend on the build.
    pub compile_bytecode: bool,
    /// `--check-import`: modules the restored venv's `python` must import, checked last.
    pub check_imports: Vec<String>,
    /// `--dry-run`: plan and report, write nothing (and run no compile or import check).
    pub dry_run: bool,
}

/// The plan for one venv, with what was left alone and why.
#[derive(Clone, Debug)]
pub struct Planned {
    /// Every change, in the order it is applied.
    pub plan: VenvPlan,
    /// What was left alone, sorted by path.
    pub warnings: Vec<VenvWarning>,
    /// Where things are in the venv.
    pub layout: Layout,
}

/// The restore plan as it is built, step by step (see [`plan`]).
struct RestorePlanner<'a> {
    root: PathBuf,
    layout: Layout,
    python: &'a PythonInfo,
    plan: VenvPlan,
    warnings: Vec<VenvWarning>,
    /// Directories the plan creates, so files below them are not checked again.
    created: BTreeSet<PathBuf>,
    /// The RECORD lines to change, per dist-info.
    edits: BTreeMap<PathBuf, RecordEdit>,
}

/// How the venv's scripts name its interpreter.
struct Shebang {
    /// `VENV/bin/python`.
    executable: String,
    /// `pyvenv.cfg` says `relocatable = true`: scripts find `python` beside themselves.
    relocatable: bool,
}

impl RestorePlanner<'_> {
    fn rel(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    fn ensure_dir(&mut self, dir: &Path, what: What, reason: &str) -> Result<()> {
        if self.created.contains(dir) {
            return Ok(());
        }
        match existing(dir)? {
            Existing::Dir => Ok(()),
            Existing::Missing => {
                if let Some(parent) = dir.parent() {
                    if parent.starts_with(&self.root) && parent != self.root {
                        self.ensure_dir(parent, what, reason)?;
                    }
                }
                self.created.insert(dir.to_path_buf());
                self.plan
                    .push(dir.to_path_buf(), Op::CreateDir, what, reason);
                Ok(())
            }
            _ => Err(VenvError::invalid(dir, "exists and is not a directory")),
        }
    }

    fn link(&mut self, path: PathBuf, target: PathBuf, what: What, reason: &str) -> Result<()> {
        if existing(&path)? != Existing::Symlink(target.clone()) {
            self.plan.push(path, Op::Symlink(target), what, reason);
        }
        Ok(())
    }

    /// Plans writing `contents` unless the file already holds exactly that with `mode`.
    fn write(
        &mut self,
        path: PathBuf,
        contents: Vec<u8>,
        mode: u32,
        what: What,
        reason: &str,
    ) -> Result<()> {
        match existing(&path)? {
            Existing::File {
                contents: c,
                mode: m,
            } if c == contents && m == mode => Ok(()),
            Existing::Dir => {
                self.warnings.push(VenvWarning::DirectoryInTheWay { path });
                Ok(())
            }
            _ => {
                self.plan
                    .push(path, Op::Write { contents, mode }, what, reason);
                Ok(())
            }
        }
    }

    /// The RECORD line of `rel` in `dist_info` gets the hash and size of `contents`.
    fn set_record_line(&mut self, dist_info: &Path, rel: String, contents: Vec<u8>) {
        (self.edits.entry(dist_info.to_path_buf()).or_default())
            .set
            .insert(rel, contents);
    }

    /// `--install-source`: each member's package files and dist-info (its RECORD comes last,
    /// in [`RestorePlanner::source_records`]).
    fn install_sources(&mut self, sources: &[PathBuf]) -> Result<Vec<SourceDist>> {
        let mut source_dists = Vec::new();
        for dir in sources {
            let dist = source::read(dir, &self.layout.site_packages)?;
            let reason = format!("--install-source {}", dir.display());
            for (path, contents) in &dist.files {
                if let Some(parent) = path.parent() {
                    self.ensure_dir(parent, What::SourceFile, "--install-source")?;
                }
                let (path, contents) = (path.clone(), contents.clone());
                self.write(path, contents, 0o644, What::SourceFile, &reason)?;
            }
            source_dists.push(dist);
        }
        Ok(source_dists)
    }

    /// `bin/`, `bin/python` linked to PYTHON, `python3` and `python3.X` to `python`, and
    /// `lib64 -> lib` where uv made one. Returns the names of the links in `bin/`.
    fn interpreter_links(&mut self) -> Result<BTreeSet<String>> {
        let bin = self.layout.bin.clone();
        let reason = "missing; scripts and interpreter links go there";
        self.ensure_dir(&bin, What::BinDir, reason)?;
        self.link(
            bin.join("python"),
            self.python.executable.clone(),
            What::InterpreterLink,
            "the interpreter given by --python, linked as uv does",
        )?;
        let mut names = BTreeSet::from(["python".to_string()]);
        let python = self.python;
        for name in [format!("python{}", python.major), python.versioned_name()] {
            if names.insert(name.clone()) {
                self.link(
                    bin.join(&name),
                    "python".into(),
                    What::InterpreterLink,
                    "uv's relative link to python",
                )?;
            }
        }
        let lib64 = self.root.join("lib64");
        if let Existing::Symlink(target) = existing(&lib64)? {
            if target != Path::new("lib") {
                self.link(lib64, "lib".into(), What::Lib64Link, "uv's lib64 -> lib")?;
            }
        }
        Ok(names)
    }

    /// `pyvenv.cfg` with PYTHON's home and version (other keys kept in uv's order), and how
    /// scripts are then to name the interpreter.
    fn pyvenv_cfg(&mut self) -> Result<Shebang> {
        let cfg_path = self.root.join("pyvenv.cfg");
        let (mut cfg, cfg_mode) = match existing(&cfg_path)? {
            Existing::File { contents, mode } => {
                (PyVenvCfg::parse(&String::from_utf8_lossy(&contents)), mode)
            }
            Existing::Missing => (PyVenvCfg::default(), 0o644),
            _ => return Err(VenvError::invalid(&cfg_path, "not a regular file")),
        };
        let python = self.python;
        cfg.set("home", &python.home().display().to_string());
        if cfg.get("implementation").is_none() {
            cfg.set("implementation", &python.implementation);
        }
        cfg.set("version_info", &python.version);
        cfg.set("include-system-site-packages", "false");
        self.write(
            cfg_path,
            cfg.render().into_bytes(),
            cfg_mode,
            What::PyvenvCfg,
            "home and version_info of --python",
        )?;
        let executable = self.layout.bin.join("python");
        let executable = executable
            .to_str()
            .ok_or_else(|| VenvError::invalid(&executable, "venv path is not valid UTF-8"))?
            .to_string();
        Ok(Shebang {
            executable,
            relocatable: cfg.is_relocatable(),
        })
    }

    /// Every dist-info of site-packages and of `--install-source`, sorted.
    fn dist_infos(&self, source_dists: &[SourceDist]) -> Result<Vec<PathBuf>> {
        let mut dist_infos: Vec<PathBuf> = self.layout.dist_infos()?;
        for dist in source_dists {
            if !dist_infos.contains(&dist.dist_info) {
                dist_infos.push(dist.dist_info.clone());
            }
        }
        dist_infos.sort();
        Ok(dist_infos)
    }

    /// Every console and GUI script of every dist-info, regenerated with uv's template
    /// (the first definition of a name wins). Returns the names written, with the
    /// `entry_points.txt` each came from.
    fn entry_point_scripts(
        &mut self,
        dist_infos: &[PathBuf],
        source_dists: &[SourceDist],
        shebang: &Shebang,
    ) -> Result<BTreeMap<String, PathBuf>> {
        let mut generated: BTreeMap<String, PathBuf> = BTreeMap::new();
        for dist_info in dist_infos {
            let ep_path = dist_info.join("entry_points.txt");
            let bytes = match source_dists.iter().find(|d| &d.dist_info == dist_info) {
                Some(dist) => dist.entry_points.clone(),
                None => match std::fs::read(&ep_path) {
                    Ok(bytes) => bytes,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(VenvError::io(&ep_path, e)),
                },
            };
            let parsed = entry_points::parse(&bytes, self.python.minor);
            for refusal in parsed.refused {
                self.warnings.push(VenvWarning::EntryPointRefused {
                    path: ep_path.clone(),
                    line: refusal.line,
                    text: refusal.text,
                    reason: refusal.reason,
                });
            }
            for entry in &parsed.scripts {
                if let Some(first) = generated.get(&entry.name) {
                    let first = self.rel(first);
                    self.warnings.push(VenvWarning::ScriptDefinedTwice {
                        path: ep_path.clone(),
                        line: entry.line,
                        name: entry.name.clone(),
                        first,
                    });
                    continue;
                }
                generated.insert(entry.name.clone(), ep_path.clone());
                let contents = script::render(entry, &shebang.executable, shebang.relocatable);
                let reason = format!("[{}] of {}", entry.kind.section(), self.rel(dist_info));
                let record_path = self.layout.record_path_of_bin(&entry.name);
                self.set_record_line(dist_info, record_path, contents.clone());
                let path = self.layout.bin.join(&entry.name);
                self.write(path, contents, 0o755, What::EntryPoint, &reason)?;
            }
        }
        Ok(generated)
    }

    /// The other files in `bin/`: Python scripts whose shebang names a Python get the venv's
    /// (and their RECORD line, in the dist-info that lists them, the new digest); the
    /// activators name the venv. Scripts just generated and the interpreter links are left.
    fn bin_scripts(
        &mut self,
        skip: &BTreeSet<&str>,
        dist_infos: &[PathBuf],
        shebang: &Shebang,
    ) -> Result<()> {
        let owner_of_bin = owners_of_record_lines(dist_infos);
        let bin = self.layout.bin.clone();
        let venv_str = self.root.display().to_string();
        let mut names: Vec<String> = match std::fs::read_dir(&bin) {
            Ok(entries) => entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        };
        names.sort();
        for name in names.into_iter().filter(|n| !skip.contains(n.as_str())) {
            let path = bin.join(&name);
            let Existing::File { contents, mode } = existing(&path)? else {
                continue;
            };
            if ACTIVATORS.contains(&name.as_str()) {
                let text = String::from_utf8_lossy(&contents);
                if let Some(new) = activator(&name, &text, &venv_str) {
                    let reason = "names the venv";
                    self.write(path, new.into_bytes(), mode, What::Activator, reason)?;
                }
                continue;
            }
            let Some(new) = script::reshebang(&contents, &shebang.executable, shebang.relocatable)
            else {
                continue;
            };
            let record_path = self.layout.record_path_of_bin(&name);
            if let Some(owner) = owner_of_bin.get(&record_path) {
                self.set_record_line(owner, record_path, new.clone());
            }
            let reason = "shebang names a Python; now the venv's";
            self.write(path, new, mode, What::Shebang, reason)?;
        }
        Ok(())
    }

    /// The RECORD lines of files this plan writes (with what it writes) and the blank ones
    /// whose file exists (with its bytes now, from prepare's blanking). Dist-infos
    /// `--install-source` installs get a whole new RECORD and are skipped.
    fn refill_records(
        &mut self,
        dist_infos: &[PathBuf],
        source_dists: &[SourceDist],
    ) -> Result<()> {
        let mut unverified = Vec::new();
        let planned: BTreeMap<PathBuf, Vec<u8>> = (self.plan.changes.iter())
            .filter_map(|c| match &c.op {
                Op::Write { contents, .. } => Some((c.abs.clone(), contents.clone())),
                _ => None,
            })
            .collect();
        for dist_info in dist_infos {
            if source_dists.iter().any(|d| &d.dist_info == dist_info) {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(dist_info.join("RECORD")) else {
                continue;
            };
            let site = dist_info.parent().unwrap_or(&self.root).to_path_buf();
            for (_, entry) in record::entries(&text) {
                let blank = entry.is_blank();
                let rel = entry.path.clone();
                if rel.is_empty() || stays_blank(&rel) {
                    continue;
                }
                let abs = normalize(&site.join(&rel));
                if !abs.starts_with(&self.root) {
                    continue;
                }
                let contents = match planned.get(&abs) {
                    Some(contents) => contents.clone(),
                    None if blank => match existing(&abs)? {
                        Existing::File { contents, .. } => contents,
                        _ => continue,
                    },
                    None => {
                        unverified.push((dist_info.clone(), entry, abs));
                        continue;
                    }
                };
                self.set_record_line(dist_info, rel, contents);
            }
        }
        for (dist_info, rel, contents) in changed_since_recorded(unverified)? {
            self.set_record_line(&dist_info, rel, contents);
        }
        Ok(())
    }

    /// A whole RECORD for each `--install-source` member: its files, its scripts, its own
    /// line blank.
    fn source_records(&mut self, source_dists: &[SourceDist]) -> Result<()> {
        for dist in source_dists {
            let edit = self.edits.remove(&dist.dist_info).unwrap_or_default();
            let dist_name = dist
                .dist_info
                .file_name()
                .unwrap_or_default()
                .to_string_lossy();
            let mut lines = BTreeMap::new();
            for (path, contents) in &dist.files {
                let rel = path
                    .strip_prefix(&self.layout.site_packages)
                    .unwrap_or(path)
                    .display()
                    .to_string();
                lines.insert(rel.clone(), RecordEntry::of_contents(&rel, contents));
            }
            for (rel, contents) in &edit.set {
                lines.insert(rel.clone(), RecordEntry::of_contents(rel, contents));
            }
            let own = format!("{dist_name}/RECORD");
            lines.insert(own.clone(), RecordEntry::blank(&own));
            let lines: Vec<String> = lines.values().map(RecordEntry::to_string).collect();
            let mut text = lines.join("\n");
            text.push('\n');
            let path = dist.dist_info.join("RECORD");
            self.write(
                path,
                text.into_bytes(),
                0o644,
                What::Record,
                "--install-source",
            )?;
        }
        Ok(())
    }

    /// Every other RECORD with a line to change, rewritten.
    fn updated_records(&mut self) -> Result<()> {
        for (dist_info, edit) in std::mem::take(&mut self.edits) {
            let record_path = dist_info.join("RECORD");
            let Ok(text) = std::fs::read_to_string(&record_path) else {
                self.warnings
                    .push(VenvWarning::RecordUnreadable { path: record_path });
                continue;
            };
            let new = record::apply(&text, &edit);
            let mode = file_mode_or(&record_path, 0o644);
            self.write(
                record_path,
                new.into_bytes(),
                mode,
                What::Record,
                "hashes and sizes of rewritten files, of blank digests and of files changed since",
            )?;
        }
        Ok(())
    }
}

/// The recorded files whose bytes no longer match their RECORD line: changed after `uv sync`
/// and `prepare` by something that left the line alone (patch-rpaths growing a library whose
/// RUNPATH named no store path, a user's postFixup). Only `sha256=` lines are checked: a
/// line in another algorithm would be rewritten on every run. Hashed in parallel; a venv's
/// files are read once.
fn changed_since_recorded(
    unverified: Vec<(PathBuf, RecordEntry, PathBuf)>,
) -> Result<Vec<(PathBuf, String, Vec<u8>)>> {
    use rayon::prelude::*;
    let checked: Vec<Option<(PathBuf, String, Vec<u8>)>> = unverified
        .into_par_iter()
        .filter(|(_, entry, _)| {
            entry
                .hash
                .as_deref()
                .is_some_and(|h| h.starts_with("sha256="))
        })
        .map(|(dist_info, entry, abs)| {
            let Existing::File { contents, .. } = existing(&abs)? else {
                return Ok(None);
            };
            let now = RecordEntry::of_contents(&entry.path, &contents);
            Ok((now != entry).then_some((dist_info, entry.path, contents)))
        })
        .collect::<Result<_>>()?;
    Ok(checked.into_iter().flatten().collect())
}

/// Which dist-info's RECORD lists each path (the first, in sorted order), so a rewritten
/// script's line is updated where it is.
fn owners_of_record_lines(dist_infos: &[PathBuf]) -> BTreeMap<String, PathBuf> {
    let mut owner: BTreeMap<String, PathBuf> = BTreeMap::new();
    for dist_info in dist_infos {
        if let Ok(text) = std::fs::read_to_string(dist_info.join("RECORD")) {
            for (_, entry) in record::entries(&text) {
                owner.entry(entry.path).or_insert_with(|| dist_info.clone());
            }
        }
    }
    owner
}

fn file_mode_or(path: &Path, default: u32) -> u32 {
    super::prepare::file_mode(path).unwrap_or(default)
}

/// Rewrites the line of an activator that names the venv; `None` when there is none.
fn activator(name: &str, text: &str, venv: &str) -> Option<String> {
    let (prefix, value) = match name {
        "activate" => ("VIRTUAL_ENV=", posix_quote(venv)),
        "activate.csh" => ("setenv VIRTUAL_ENV ", posix_quote(venv)),
        "activate.fish" => ("set -gx VIRTUAL_ENV ", posix_quote(venv)),
        "activate.nu" => ("const virtual_env = ", posix_quote(venv)),
        "activate.bat" => (
            "@for %%i in (",
            format!("\"{venv}\") do @set \"VIRTUAL_ENV=%%~fi\""),
        ),
        _ => return None,
    };
    let mut out = String::with_capacity(text.len() + venv.len());
    let mut found = false;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let ending = &line[body.len()..];
        let indent = &body[..body.len() - body.trim_start().len()];
        if !found && body.trim_start().starts_with(prefix) {
            found = true;
            out.push_str(indent);
            out.push_str(prefix);
            out.push_str(&value);
            out.push_str(ending);
        } else {
            out.push_str(line);
        }
    }
    found.then_some(out)
}

/// Plans the restore of `root` for `python`: the `--install-source` members, the
/// interpreter links, `pyvenv.cfg`, every entry-point script, the other scripts and
/// activators in `bin/`, then the RECORD lines of everything rewritten (and of the digests
/// `prepare` blanked).
pub fn plan(root: &Path, python: &PythonInfo, sources: &[PathBuf]) -> Result<Planned> {
    let root = absolute(root)?;
    let layout = Layout::for_python(&root, python)?;
    let mut p = RestorePlanner {
        plan: VenvPlan::new(&root),
        root,
        layout,
        python,
        warnings: Vec::new(),
        created: BTreeSet::new(),
        edits: BTreeMap::new(),
    };
    let source_dists = p.install_sources(sources)?;
    let link_names = p.interpreter_links()?;
    let shebang = p.pyvenv_cfg()?;
    let dist_infos = p.dist_infos(&source_dists)?;
    let generated = p.entry_point_scripts(&dist_infos, &source_dists, &shebang)?;
    let skip: BTreeSet<&str> = (generated.keys().chain(&link_names))
        .map(String::as_str)
        .collect();
    p.bin_scripts(&skip, &dist_infos, &shebang)?;
    p.refill_records(&dist_infos, &source_dists)?;
    p.source_records(&source_dists)?;
    p.updated_records()?;
    p.warnings.sort_by(|a, b| a.path().cmp(b.path()));
    Ok(Planned {
        plan: p.plan,
        warnings: p.warnings,
        layout: p.layout,
    })
}

/// RECORD lines that stay blank: RECORD's own (and its signatures'), and bytecode.
fn stays_blank(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    matches!(name, "RECORD" | "RECORD.jws" | "RECORD.p7s") || name.ends_with(".pyc")
}

fn pyc_digests(site: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    use sha2::{Digest, Sha256};
    walkdir::WalkDir::new(site)
        .follow_links(false)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "pyc"))
        .filter_map(|e| {
            let bytes = std::fs::read(e.path()).ok()?;
            Some((e.into_path(), Sha256::digest(bytes).to_vec()))
        })
        .collect()
}

/// PYTHON's arguments to compile `site` with `jobs` workers (what the build was granted:
/// `-j 0` would take every core).
fn compileall_args(site: &Path, jobs: usize) -> Vec<std::ffi::OsString> {
    let jobs = jobs.max(1).to_string();
    let args = [
        "-I",
        "-m",
        "compileall",
        "-q",
        "-j",
        &jobs,
        "--invalidation-mode",
        "unchecked-hash",
    ];
    let mut out: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
    out.push(site.into());
    out
}

/// Compiles site-packages with PYTHON's compileall, hash-based and unchecked, so the bytecode
/// is the same on every build and imports never try to rewrite it. Returns how many .pyc
/// files were written or changed, and compileall's complaints (files it could not compile).
pub fn compile_bytecode(python: &PythonInfo, layout: &Layout) -> Result<(u64, Vec<String>)> {
    let before = pyc_digests(&layout.site_packages);
    let out = Command::new(&python.executable)
        .args(compileall_args(
            &layout.site_packages,
            crate::shared::cli::jobs(None),
        ))
        .output()
        .map_err(|e| VenvError::Python {
            path: python.executable.clone(),
            message: format!("cannot run compileall: {e}"),
        })?;
    let mut complaints = Vec::new();
    if !out.status.success() {
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        complaints.extend(
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_string),
        );
        if complaints.is_empty() {
            complaints.push(format!("compileall exited with {}", out.status));
        }
    }
    let after = pyc_digests(&layout.site_packages);
    let changed = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(*v))
        .count() as u64;
    Ok((changed, complaints))
}

/// `VENV/bin/python -I -c 'import MODULE'`.
pub fn check_import(layout: &Layout, module: &str) -> Result<()> {
    let python = layout.bin.join("python");
    let bad = |tail: String| VenvError::ImportFailed {
        python: python.clone(),
        module: module.to_string(),
        tail,
    };
    if !entry_points::is_dotted(module) {
        return Err(bad("not a dotted module name".into()));
    }
    // -B: a check must not leave timestamped bytecode in the output.
    let out = Command::new(&python)
        .args(["-I", "-B", "-c", &format!("import {module}")])
        .current_dir(&layout.root)
        .output()
        .map_err(|e| bad(format!("cannot run: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(bad(tail(&String::from_utf8_lossy(&out.stderr), 8)))
    }
}

/// Plans, prints nothing, applies unless a dry run; everything that happened is in the report.
pub fn run(root: &Path, options: &RestoreOptions) -> VenvReport {
    let mut report = VenvReport {
        command: VenvCommand::Restore,
        dry_run: options.dry_run,
        venv: root.display().to_string(),
        ..VenvReport::default()
    };
    let python = match PythonInfo::probe(&options.python) {
        Ok(python) => python,
        Err(e) => {
            report.errors.push(ErrorEntry::relative_to(&e, root));
            return report;
        }
    };
    report.python = Some(PythonSummary {
        executable: python.executable.display().to_string(),
        version: python.version.clone(),
        prefix: python.prefix.clone(),
    });
    let planned = match plan(root, &python, &options.install_sources) {
        Ok(planned) => planned,
        Err(e) => {
            report.errors.push(ErrorEntry::relative_to(&e, root));
            return report;
        }
    };
    report.changes = planned.plan.sorted();
    let warning = |w: &VenvWarning| ErrorEntry::relative_to(w, &planned.layout.root);
    report.warnings = planned.warnings.iter().map(warning).collect();
    if options.dry_run {
        return report;
    }
    if let Err(e) = planned.plan.apply() {
        report.errors.push(ErrorEntry::relative_to(&e, root));
        return report;
    }
    if options.compile_bytecode {
        match compile_bytecode(&python, &planned.layout) {
            Ok((changed, complaints)) => {
                report.bytecode_files_changed = Some(changed);
                for complaint in complaints {
                    report.warnings.push(warning(&VenvWarning::Compileall {
                        path: planned.layout.site_packages.clone(),
                        complaint,
                    }));
                }
            }
            Err(e) => {
                report.errors.push(ErrorEntry::relative_to(&e, root));
                return report;
            }
        }
    }
    for module in &options.check_imports {
        let result = check_import(&planned.layout, module);
        report.imports_checked.push(ImportCheck {
            module: module.clone(),
            ok: result.is_ok(),
        });
        if let Err(e) = result {
            report.errors.push(ErrorEntry::relative_to(&e, root));
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compileall_uses_the_given_worker_count() {
        let args = compileall_args(Path::new("/v/site"), 3);
        let args: Vec<&str> = args.iter().map(|a| a.to_str().unwrap()).collect();
        let j = args.iter().position(|a| *a == "-j").unwrap();
        assert_eq!(args[j + 1], "3");
        assert_eq!(args.last(), Some(&"/v/site"));
        // 0 would mean every core to compileall, never what was granted.
        let args = compileall_args(Path::new("/v/site"), 0);
        assert!(!args.iter().any(|a| a == "0"));
    }

    #[test]
    fn rewrites_the_activate_line() {
        let text = "x\nVIRTUAL_ENV='/nix/store/eeee-venv'\nif [ \"$VIRTUAL_ENV\" ]\n";
        assert_eq!(
            activator("activate", text, "/out").unwrap(),
            "x\nVIRTUAL_ENV='/out'\nif [ \"$VIRTUAL_ENV\" ]\n"
        );
        let nu = "def x [] {\n    const virtual_env = '/old'\n}\n";
        assert_eq!(
            activator("activate.nu", nu, "/o").unwrap(),
            "def x [] {\n    const virtual_env = '/o'\n}\n"
        );
        let bat = "@for %%i in (\"/old\") do @set \"VIRTUAL_ENV=%%~fi\"\r\n";
        assert_eq!(
            activator("activate.bat", bat, "/o").unwrap(),
            "@for %%i in (\"/o\") do @set \"VIRTUAL_ENV=%%~fi\"\r\n"
        );
        assert_eq!(activator("activate", "nothing\n", "/o"), None);
    }
}
