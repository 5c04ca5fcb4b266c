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
    Bytecode,
    UvLeftover,
    BinDir,
    InterpreterLink,
    Lib64Link,
    PyvenvCfg,
    EntryPoint,
    Shebang,
    Activator,
    Record,
    SourceFile,
    DirectUrl,
    RecordDigest,
    NormalisedElf,
    Dropped,
}

impl What {
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

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    CreateDir,
    Symlink(PathBuf),
    Write {
        contents: Vec<u8>,
        mode: u32,
    },
    Remove,
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

#[derive(Clone, Debug, Serialize)]
pub struct VenvChange {
    /// Relative to the venv.
    pub path: String,
    /// What it does.
    pub action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub what: What,
    pub reason: String,
    #[serde(skip)]
    pub abs: PathBuf,
    #[serde(skip)]
    pub op: Op,
}

impl VenvChange {
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

#[derive(Clone, Debug, Default)]
pub struct VenvPlan {
    pub root: PathBuf,
    /// In the order they must be applied.
    pub changes: Vec<VenvChange>,
}

impl VenvPlan {
    pub fn new(root: &Path) -> Self {
        VenvPlan {
            root: root.to_path_buf(),
            changes: Vec::new(),
        }
    }

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
