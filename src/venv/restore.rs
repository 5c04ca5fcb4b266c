//! `fix-venv restore`: in the main derivation, once the tree is in its final place and its
//! store references have been neutralised. Re-links the interpreter, rewrites `pyvenv.cfg`,
//! regenerates every entry-point script with uv's template, re-points other Python scripts
//! and the activators at the venv, and updates RECORD. Planned first, then applied.
//!
//! RECORD: the line of every file this run rewrites gets its new hash and size, and so does
//! every line `prepare` blanked (`path,,`, for files naming store paths), from the file as it
//! is now, i.e. after patch-rpaths and strip-store-refs. RECORD's own line (and its
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
use super::record::{self, RecordEntry};
use super::report::{ImportCheck, PythonSummary, VenvCommand, VenvReport};
use super::script::{self, posix_quote};
use super::source::{self, SourceDist};
use crate::shared::report::{ErrorEntry, Reportable};

#[derive(Clone, Debug, Default)]
pub struct RestoreOptions {
    pub python: PathBuf,
    pub install_sources: Vec<PathBuf>,
    pub compile_bytecode: bool,
    pub check_imports: Vec<String>,
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

struct RestorePlanner {
    root: PathBuf,
    plan: VenvPlan,
    warnings: Vec<VenvWarning>,
    /// Directories the plan creates, so files below them are not checked again.
    created: BTreeSet<PathBuf>,
}

impl RestorePlanner {
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

/// Plans the restore of `root` for `python`.
pub fn plan(root: &Path, python: &PythonInfo, sources: &[PathBuf]) -> Result<Planned> {
    let root = absolute(root)?;
    let layout = Layout::for_python(&root, python)?;
    let mut p = RestorePlanner {
        root: root.clone(),
        plan: VenvPlan::new(&root),
        warnings: Vec::new(),
        created: BTreeSet::new(),
    };

    // --install-source: package files and dist-info (RECORD comes last).
    let mut source_dists: Vec<SourceDist> = Vec::new();
    for dir in sources {
        let dist = source::read(dir, &layout.site_packages)?;
        for (path, contents) in &dist.files {
            if let Some(parent) = path.parent() {
                p.ensure_dir(parent, What::SourceFile, "--install-source")?;
            }
            let reason = format!("--install-source {}", dir.display());
            p.write(
                path.clone(),
                contents.clone(),
                0o644,
                What::SourceFile,
                &reason,
            )?;
        }
        source_dists.push(dist);
    }

    // bin/ and the interpreter links.
    let bin = layout.bin.clone();
    p.ensure_dir(
        &bin,
        What::BinDir,
        "missing; scripts and interpreter links go there",
    )?;
    p.link(
        bin.join("python"),
        python.executable.clone(),
        What::InterpreterLink,
        "the interpreter given by --python, linked as uv does",
    )?;
    let mut link_names = BTreeSet::from(["python".to_string()]);
    for name in [format!("python{}", python.major), python.versioned_name()] {
        if link_names.insert(name.clone()) {
            p.link(
                bin.join(&name),
                "python".into(),
                What::InterpreterLink,
                "uv's relative link to python",
            )?;
        }
    }
    if let Existing::Symlink(target) = existing(&root.join("lib64"))? {
        if target != Path::new("lib") {
            p.link(
                root.join("lib64"),
                "lib".into(),
                What::Lib64Link,
                "uv's lib64 -> lib",
            )?;
        }
    }

    // pyvenv.cfg.
    let cfg_path = root.join("pyvenv.cfg");
    let (mut cfg, cfg_mode) = match existing(&cfg_path)? {
        Existing::File { contents, mode } => {
            (PyVenvCfg::parse(&String::from_utf8_lossy(&contents)), mode)
        }
        Existing::Missing => (PyVenvCfg::default(), 0o644),
        _ => return Err(VenvError::invalid(&cfg_path, "not a regular file")),
    };
    cfg.set("home", &python.home().display().to_string());
    if cfg.get("implementation").is_none() {
        cfg.set("implementation", &python.implementation);
    }
    cfg.set("version_info", &python.version);
    cfg.set("include-system-site-packages", "false");
    p.write(
        cfg_path,
        cfg.render().into_bytes(),
        cfg_mode,
        What::PyvenvCfg,
        "home and version_info of --python",
    )?;
    let relocatable = cfg.is_relocatable();
    let executable = bin.join("python");
    let executable = executable
        .to_str()
        .ok_or_else(|| VenvError::invalid(&executable, "venv path is not valid UTF-8"))?
        .to_string();

    // RECORD of each existing dist-info, and which dist-info owns which bin/ file.
    let mut dist_infos: Vec<PathBuf> = layout.dist_infos()?;
    for dist in &source_dists {
        if !dist_infos.contains(&dist.dist_info) {
            dist_infos.push(dist.dist_info.clone());
        }
    }
    dist_infos.sort();
    let mut owner_of_bin: BTreeMap<String, PathBuf> = BTreeMap::new();
    for dist_info in &dist_infos {
        let record_path = dist_info.join("RECORD");
        if let Ok(text) = std::fs::read_to_string(&record_path) {
            for (_, entry) in record::entries(&text) {
                owner_of_bin
                    .entry(entry.path)
                    .or_insert_with(|| dist_info.clone());
            }
        }
    }
    let mut edits: BTreeMap<PathBuf, record::RecordEdit> = BTreeMap::new();

    // Entry-point scripts.
    let mut generated: BTreeMap<String, PathBuf> = BTreeMap::new();
    for dist_info in &dist_infos {
        let ep_path = dist_info.join("entry_points.txt");
        let bytes = match source_dists.iter().find(|d| &d.dist_info == dist_info) {
            Some(dist) => dist.entry_points.clone(),
            None => match std::fs::read(&ep_path) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(VenvError::io(&ep_path, e)),
            },
        };
        let parsed = entry_points::parse(&bytes, python.minor);
        for refusal in parsed.refused {
            p.warnings.push(VenvWarning::EntryPointRefused {
                path: ep_path.clone(),
                line: refusal.line,
                text: refusal.text,
                reason: refusal.reason,
            });
        }
        for entry in &parsed.scripts {
            if let Some(first) = generated.get(&entry.name) {
                let first = p.rel(first);
                p.warnings.push(VenvWarning::ScriptDefinedTwice {
                    path: ep_path.clone(),
                    line: entry.line,
                    name: entry.name.clone(),
                    first,
                });
                continue;
            }
            generated.insert(entry.name.clone(), ep_path.clone());
            let contents = script::render(entry, &executable, relocatable);
            let reason = format!("[{}] of {}", entry.kind.section(), p.rel(dist_info));
            edits
                .entry(dist_info.clone())
                .or_default()
                .set
                .insert(layout.record_path_of_bin(&entry.name), contents.clone());
            p.write(
                bin.join(&entry.name),
                contents,
                0o755,
                What::EntryPoint,
                &reason,
            )?;
        }
    }

    // Other Python scripts in bin/ (data scripts), and the activators.
    let venv_str = root.display().to_string();
    let mut names: Vec<String> = match std::fs::read_dir(&bin) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    for name in names {
        if generated.contains_key(&name) || link_names.contains(&name) {
            continue;
        }
        let path = bin.join(&name);
        let Existing::File { contents, mode } = existing(&path)? else {
            continue;
        };
        if ACTIVATORS.contains(&name.as_str()) {
            let text = String::from_utf8_lossy(&contents);
            if let Some(new) = activator(&name, &text, &venv_str) {
                p.write(
                    path,
                    new.into_bytes(),
                    mode,
                    What::Activator,
                    "names the venv",
                )?;
            }
            continue;
        }
        if let Some(new) = script::reshebang(&contents, &executable, relocatable) {
            let record_path = layout.record_path_of_bin(&name);
            if let Some(owner) = owner_of_bin.get(&record_path) {
                edits
                    .entry(owner.clone())
                    .or_default()
                    .set
                    .insert(record_path, new.clone());
            }
            p.write(
                path,
                new,
                mode,
                What::Shebang,
                "shebang names a Python; now the venv's",
            )?;
        }
    }

    // RECORD lines of files this plan rewrites, and blank digests (from prepare).
    refill_records(&p, &dist_infos, &source_dists, &mut edits)?;

    // RECORD files.
    for dist in &source_dists {
        let edit = edits.remove(&dist.dist_info).unwrap_or_default();
        let dist_name = dist
            .dist_info
            .file_name()
            .unwrap_or_default()
            .to_string_lossy();
        let mut lines = BTreeMap::new();
        for (path, contents) in dist.files.iter().map(|(k, v)| (k.clone(), v)) {
            let rel = path
                .strip_prefix(&layout.site_packages)
                .unwrap_or(&path)
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
        p.write(
            dist.dist_info.join("RECORD"),
            text.into_bytes(),
            0o644,
            What::Record,
            "--install-source",
        )?;
    }
    for (dist_info, edit) in edits {
        let record_path = dist_info.join("RECORD");
        let Ok(text) = std::fs::read_to_string(&record_path) else {
            p.warnings
                .push(VenvWarning::RecordUnreadable { path: record_path });
            continue;
        };
        let new = record::apply(&text, &edit);
        let mode = file_mode_or(&record_path, 0o644);
        p.write(
            record_path,
            new.into_bytes(),
            mode,
            What::Record,
            "hashes and sizes of rewritten files and of blank digests",
        )?;
    }

    p.warnings.sort_by(|a, b| a.path().cmp(b.path()));
    Ok(Planned {
        plan: p.plan,
        warnings: p.warnings,
        layout,
    })
}

/// RECORD lines that stay blank: RECORD's own (and its signatures'), and bytecode.
fn stays_blank(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    matches!(name, "RECORD" | "RECORD.jws" | "RECORD.p7s") || name.ends_with(".pyc")
}

/// Adds to `edits` the RECORD lines of files the plan writes (with what it writes) and the
/// blank ones whose file exists (with its bytes now). Dist-infos `--install-source` installs
/// get a whole new RECORD and are skipped.
fn refill_records(
    p: &RestorePlanner,
    dist_infos: &[PathBuf],
    source_dists: &[SourceDist],
    edits: &mut BTreeMap<PathBuf, record::RecordEdit>,
) -> Result<()> {
    let planned: BTreeMap<&Path, &Vec<u8>> = p
        .plan
        .changes
        .iter()
        .filter_map(|c| match &c.op {
            Op::Write { contents, .. } => Some((c.abs.as_path(), contents)),
            _ => None,
        })
        .collect();
    for dist_info in dist_infos {
        if source_dists.iter().any(|d| &d.dist_info == dist_info) {
            continue;
        }
        let record_path = dist_info.join("RECORD");
        let Ok(text) = std::fs::read_to_string(&record_path) else {
            continue;
        };
        let site = dist_info.parent().unwrap_or(&p.root);
        for (_, entry) in record::entries(&text) {
            let blank = entry.is_blank();
            let rel = entry.path;
            if rel.is_empty() || stays_blank(&rel) {
                continue;
            }
            let abs = normalize(&site.join(&rel));
            if !abs.starts_with(&p.root) {
                continue;
            }
            let contents = match planned.get(abs.as_path()) {
                Some(contents) => (*contents).clone(),
                None if blank => match existing(&abs)? {
                    Existing::File { contents, .. } => contents,
                    _ => continue,
                },
                None => continue,
            };
            edits
                .entry(dist_info.clone())
                .or_default()
                .set
                .insert(rel, contents);
        }
    }
    Ok(())
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
