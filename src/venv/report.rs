//! fix-venv's report: the changes (sorted by path), warnings and errors, rendered as JSON
//! for tools and as a short summary for people.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

use super::plan::{VenvChange, What};
use crate::shared::report::{count, write_errors, ErrorEntry, Report};

/// Which half of fix-venv ran.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VenvCommand {
    /// In the fixed-output derivation.
    #[default]
    Prepare,
    /// In the main derivation.
    Restore,
}

impl VenvCommand {
    /// `prepare` or `restore`, as the summary names it.
    pub fn as_str(self) -> &'static str {
        match self {
            VenvCommand::Prepare => "prepare",
            VenvCommand::Restore => "restore",
        }
    }
}

/// The interpreter `restore` ran for, as it described itself.
#[derive(Clone, Debug, Serialize)]
pub struct PythonSummary {
    /// As given, made absolute but not resolved.
    pub executable: String,
    /// `platform.python_version()`, e.g. `3.11.7`.
    pub version: String,
    /// `sys.prefix` of the interpreter run on its own (not in the venv).
    pub prefix: String,
}

/// One `--check-import` module, imported by the venv's `python` after the restore.
#[derive(Clone, Debug, Serialize)]
pub struct ImportCheck {
    /// As given to `--check-import`.
    pub module: String,
    /// It imported; when not, why is in the report's `errors`.
    pub ok: bool,
}

/// fix-venv's report for one venv: what `prepare` or `restore` changed or would change.
#[derive(Clone, Debug, Default, Serialize)]
pub struct VenvReport {
    /// `prepare` or `restore`.
    pub command: VenvCommand,
    /// Nothing was written; `changes` is what would be.
    pub dry_run: bool,
    /// The venv's root, as given.
    pub venv: String,
    /// `restore` only, once the interpreter answered; absent from the JSON otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub python: Option<PythonSummary>,
    /// Every change made (or, in a dry run, planned), sorted by path.
    pub changes: Vec<VenvChange>,
    /// `.pyc` files written or changed by `--compile-bytecode`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytecode_files_changed: Option<u64>,
    /// In the order given; empty when the run stopped before the checks.
    pub imports_checked: Vec<ImportCheck>,
    /// Refused entry points and other things left alone, sorted.
    pub warnings: Vec<ErrorEntry>,
    /// Why the run failed; any entry makes the tool exit non-zero.
    pub errors: Vec<ErrorEntry>,
}

impl Report for VenvReport {
    fn failed(&self) -> bool {
        !self.errors.is_empty()
    }

    /// The plan, one change a line (dry run).
    fn write_listing(&self, out: &mut dyn Write) -> io::Result<()> {
        for change in &self.changes {
            writeln!(out, "{}", change.line())?;
        }
        Ok(())
    }

    /// The short summary printed on stderr.
    fn write_summary(&self, out: &mut dyn Write) -> io::Result<()> {
        let tool = "fix-venv";
        // Per kind: how many, and the reason when they all share one.
        let mut by_what: BTreeMap<What, (u64, Option<&str>)> = BTreeMap::new();
        for c in &self.changes {
            let slot = by_what
                .entry(c.what)
                .or_insert((0, Some(c.reason.as_str())));
            slot.0 += 1;
            if slot.1 != Some(c.reason.as_str()) {
                slot.1 = None;
            }
        }
        let python = self
            .python
            .as_ref()
            .map(|p| format!(" for Python {} ({})", p.version, p.executable))
            .unwrap_or_default();
        let verb = if self.dry_run {
            "would change"
        } else {
            "changed"
        };
        if self.changes.is_empty() {
            writeln!(
                out,
                "{tool}: {} {}{python}: nothing to change",
                self.command.as_str(),
                self.venv
            )?;
        } else {
            writeln!(
                out,
                "{tool}: {} {}{python}: {verb} {}",
                self.command.as_str(),
                self.venv,
                count(self.changes.len() as u64, "path")
            )?;
        }
        for (what, (n, reason)) in &by_what {
            match reason {
                Some(reason) => writeln!(out, "  {}: {reason}", count(*n, what.noun()))?,
                None => writeln!(out, "  {}", count(*n, what.noun()))?,
            }
        }
        // prepare removes few files besides bytecode: name each, with its reason.
        for c in &self.changes {
            if self.command == VenvCommand::Prepare && c.what != What::Bytecode {
                writeln!(out, "  {}", c.line())?;
            }
        }
        if let Some(n) = self.bytecode_files_changed {
            writeln!(
                out,
                "  compiled bytecode: {} written or changed",
                count(n, "file")
            )?;
        }
        for check in &self.imports_checked {
            let status = if check.ok { "ok" } else { "FAILED" };
            writeln!(out, "  import {}: {status}", check.module)?;
        }
        for w in &self.warnings {
            writeln!(out, "{tool}: warning: {}: {}", w.path, w.message)?;
        }
        write_errors(out, tool, &self.errors)
    }
}
