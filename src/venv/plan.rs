//! A plan: every change a run will make, as data. A dry run prints it; a real run applies
//! it in order (directories before what goes in them). Only real differences are planned,
//! so a second run over a restored tree plans nothing.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::error::Result;
use super::fsx;

/// What a change is about, for the summary and the JSON report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum What {
    /// A `.pyc`/`.pyo` file or a `__pycache__` directory: prepare removes it.
    Bytecode,
    /// uv's `.lock` at the venv's root or a dist-info's `uv_cache.json`: prepare removes it.
    UvLeftover,
    /// `bin/`, which restore creates when it is missing.
    BinDir,
    /// `bin/python`, `python3` or `python3.X`: prepare removes it, restore links it anew.
    InterpreterLink,
    /// `lib64`, which restore points back at `lib` where uv made it a symlink elsewhere.
    Lib64Link,
    /// `pyvenv.cfg`, given the home and version of restore's `--python`.
    PyvenvCfg,
    /// A `bin/` script restore generates from a dist-info's `entry_points.txt`.
    EntryPoint,
    /// A `bin/` script whose shebang restore points at the venv's interpreter.
    Shebang,
    /// A `bin/activate*` script, rewritten by restore to name the venv.
    Activator,
    /// A dist-info's `RECORD`, with lines dropped, blanked or given new digests.
    Record,
    /// A file `--install-source` installs, or a directory made for it.
    SourceFile,
    /// A `direct_url.json` naming a `file://` path of the build: prepare removes it.
    DirectUrl,
    /// A file strip-store-refs will change: it stays, its RECORD line loses its digest.
    RecordDigest,
    /// An ELF file built from source here, replaced by its normalised copy
    /// ([`super::normalise`]).
    NormalisedElf,
    /// A file `--drop` removes.
    Dropped,
}

impl What {
    /// The singular noun the summary counts this kind by (`bytecode entry`: `3 bytecode entries`).
    pub fn noun(self) -> &'static str {
        match self {
            What::Bytecode => "bytecode entry",
            What::UvLeftover => "uv leftover",
            What::BinDir => "bin directory",
            What::InterpreterLink => "interpreter link",
            What::Lib64Link => "lib64 link",
            What::PyvenvCfg => "pyvenv.cfg",
            What::EntryPoint => "entry-point script",
            What::Shebang => "script shebang",
            What::Activator => "activator",
            What::Record => "RECORD file",
            What::SourceFile => "installed source file",
            What::DirectUrl => "direct_url.json",
            What::RecordDigest => "blanked RECORD digest",
            What::NormalisedElf => "normalised ELF file",
            What::Dropped => "dropped file",
        }
    }
}

/// What applying a change does to its path; every write goes through a temporary file and a
/// rename, and none reaches outside the venv.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Creates the directory, mode 0755; one already there is fine.
    CreateDir,
    /// Makes the path a symlink to this target, written as given (relative or absolute),
    /// replacing a file or symlink there.
    Symlink(PathBuf),
    /// Makes the path a file, replacing a file or symlink there.
    Write {
        /// The file's new bytes.
        contents: Vec<u8>,
        /// Permission bits (`0o7777` at most), e.g. `0o755` for a script.
        mode: u32,
    },
    /// Removes the file or symlink.
    Remove,
    /// Removes the directory and everything in it, following no symlink.
    RemoveDir,
    /// The file stays as it is; its RECORD line loses its hash and size (the RECORD's
    /// own write, planned after, does it).
    BlankDigest,
}

/// What a change does to its path, as the dry run and the report name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// See [`Op::CreateDir`].
    CreateDir,
    /// See [`Op::Symlink`].
    Symlink,
    /// See [`Op::Write`].
    Write,
    /// See [`Op::Remove`].
    Remove,
    /// See [`Op::RemoveDir`].
    RemoveDir,
    /// See [`Op::BlankDigest`].
    BlankDigest,
}

impl Action {
    /// The action's name: `create-dir`, `symlink`, `write`, `remove`, `remove-dir`,
    /// `blank-digest`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::CreateDir => "create-dir",
            Action::Symlink => "symlink",
            Action::Write => "write",
            Action::Remove => "remove",
            Action::RemoveDir => "remove-dir",
            Action::BlankDigest => "blank-digest",
        }
    }
}

/// One planned change to one path, as applied, printed and reported.
#[derive(Clone, Debug, Serialize)]
pub struct VenvChange {
    /// Relative to the venv.
    pub path: String,
    /// What it does.
    pub action: Action,
    /// The symlink's target, as written; None unless `action` is [`Action::Symlink`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// What the path is, for grouping in the summary.
    pub what: What,
    /// Why it changes, in words for the user.
    pub reason: String,
    /// The path itself, absolute; what `apply` acts on.
    #[serde(skip)]
    pub abs: PathBuf,
    /// The change itself, with the bytes to write; not in the report.
    #[serde(skip)]
    pub op: Op,
}

impl VenvChange {
    /// A change to `abs`, named in the report relative to `root` (as given, when outside it).
    pub fn new(root: &Path, abs: PathBuf, op: Op, what: What, reason: impl Into<String>) -> Self {
        let path = abs.strip_prefix(root).unwrap_or(&abs).display().to_string();
        let (action, target) = match &op {
            Op::CreateDir => (Action::CreateDir, None),
            Op::Symlink(t) => (Action::Symlink, Some(t.display().to_string())),
            Op::Write { .. } => (Action::Write, None),
            Op::Remove => (Action::Remove, None),
            Op::RemoveDir => (Action::RemoveDir, None),
            Op::BlankDigest => (Action::BlankDigest, None),
        };
        VenvChange {
            path,
            action,
            target,
            what,
            reason: reason.into(),
            abs,
            op,
        }
    }

    /// `ACTION PATH [-> TARGET]  (REASON)`, one line of a dry run.
    pub fn line(&self) -> String {
        let target = self
            .target
            .as_deref()
            .map(|t| format!(" -> {t}"))
            .unwrap_or_default();
        format!(
            "{} {}{target}  ({})",
            self.action.as_str(),
            self.path,
            self.reason
        )
    }

    fn apply(&self, root: &Path) -> Result<()> {
        match &self.op {
            Op::CreateDir => fsx::create_dir(root, &self.abs),
            Op::Symlink(target) => fsx::write_symlink(root, &self.abs, target),
            Op::Write { contents, mode } => fsx::write_file(root, &self.abs, contents, *mode),
            Op::Remove => fsx::remove_file(root, &self.abs),
            Op::RemoveDir => fsx::remove_dir_all(root, &self.abs),
            Op::BlankDigest => Ok(()),
        }
    }
}

/// Every change one `prepare` or `restore` run makes to one venv.
#[derive(Clone, Debug, Default)]
pub struct VenvPlan {
    /// The venv, absolute: no change reaches outside it, and report paths are relative to it.
    pub root: PathBuf,
    /// In the order they must be applied.
    pub changes: Vec<VenvChange>,
}

impl VenvPlan {
    /// An empty plan for the venv at `root` (absolute).
    pub fn new(root: &Path) -> Self {
        VenvPlan {
            root: root.to_path_buf(),
            changes: Vec::new(),
        }
    }

    /// Adds a change to `abs` after those planned so far.
    pub fn push(&mut self, abs: PathBuf, op: Op, what: What, reason: impl Into<String>) {
        let change = VenvChange::new(&self.root, abs, op, what, reason);
        self.changes.push(change);
    }

    /// Applies every change in order; stops at the first failure.
    pub fn apply(&self) -> Result<()> {
        for change in &self.changes {
            change.apply(&self.root)?;
        }
        Ok(())
    }

    /// The changes sorted by path, for people and the report.
    pub fn sorted(&self) -> Vec<VenvChange> {
        let mut all = self.changes.clone();
        all.sort_by(|a, b| (a.path.cmp(&b.path)).then(a.action.as_str().cmp(b.action.as_str())));
        all
    }
}
