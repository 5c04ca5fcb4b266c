//! What can stop a `fix-venv` run, and what it leaves alone without stopping; every variant
//! names the file it concerns.

use std::path::{Path, PathBuf};

use crate::shared::report::Reportable;

/// What stops a `fix-venv` run (the plan is not applied, or applying it stops).
#[derive(Debug, thiserror::Error)]
pub enum VenvError {
    /// A system call failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The directory is not a virtualenv fix-venv can work on.
    #[error("{}: not a virtualenv: {reason}", path.display())]
    NotAVenv {
        /// The directory given.
        path: PathBuf,
        /// What is missing.
        reason: String,
    },
    /// The venv was made for another Python than `--python`.
    #[error(
        "{}: the venv has {found}, but {} is Python {wanted} and needs {expected}; \
         restore it with a matching interpreter",
        path.display(), python.display()
    )]
    VersionMismatch {
        /// The venv's site-packages parent.
        path: PathBuf,
        /// What the venv has (`lib/python3.11`).
        found: String,
        /// What `--python` needs.
        expected: String,
        /// `--python`'s version.
        wanted: String,
        /// `--python`.
        python: PathBuf,
    },
    /// `--python` could not be run or asked.
    #[error("{}: {message}", path.display())]
    Python {
        /// The interpreter.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A file that cannot be what it should be (not UTF-8, not a directory, …).
    #[error("{}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A write that would go through a symlink or outside the venv.
    #[error("{}: refusing to write through a symlink or outside the venv", path.display())]
    Outside {
        /// Where it would have written.
        path: PathBuf,
    },
    /// An ELF file `prepare` would normalise cannot be read as one.
    #[error("{}: {source}", path.display())]
    MalformedElf {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: crate::elf::ElfError,
    },
    /// Files two or more distributions install with different contents (one entry per
    /// file, each naming it); `prepare` refuses until `--drop` settles each.
    #[error("{}", clashes.iter().map(|c| c.to_string()).collect::<Vec<_>>().join("\n"))]
    PathClash {
        /// Sorted by path; never empty.
        clashes: Vec<super::claims::PathClash>,
    },
    /// A `--drop` that names no file and no RECORD line.
    #[error(
        "{}: --drop {given}: no such file, and no RECORD lists it; remove the option",
        path.display()
    )]
    DropNothing {
        /// Where it was looked for (relative to site-packages).
        path: PathBuf,
        /// The option's value.
        given: String,
    },
    /// `--check-import` failed.
    #[error("{}: `import {module}` failed:\n{tail}", python.display())]
    ImportFailed {
        /// The venv's interpreter.
        python: PathBuf,
        /// The module.
        module: String,
        /// The end of what Python printed.
        tail: String,
    },
}

impl VenvError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        VenvError::Io {
            path: path.into(),
            source,
        }
    }

    /// A file that cannot be what it should be.
    pub fn invalid(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        VenvError::Invalid {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl Reportable for VenvError {
    fn path(&self) -> &Path {
        match self {
            VenvError::Io { path, .. }
            | VenvError::NotAVenv { path, .. }
            | VenvError::VersionMismatch { path, .. }
            | VenvError::Python { path, .. }
            | VenvError::Invalid { path, .. }
            | VenvError::Outside { path } => path,
            VenvError::MalformedElf { path, .. } | VenvError::DropNothing { path, .. } => path,
            VenvError::PathClash { clashes } => {
                clashes.first().map_or(Path::new(""), |c| c.path.as_path())
            }
            VenvError::ImportFailed { python, .. } => python,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            VenvError::Io { .. } => "io",
            VenvError::NotAVenv { .. } => "not_a_venv",
            VenvError::VersionMismatch { .. } => "version_mismatch",
            VenvError::Python { .. } => "python",
            VenvError::Invalid { .. } => "invalid",
            VenvError::Outside { .. } => "outside",
            VenvError::ImportFailed { .. } => "import_failed",
            VenvError::MalformedElf { .. } => "malformed_elf",
            VenvError::PathClash { .. } => "path_clash",
            VenvError::DropNothing { .. } => "drop_nothing",
        }
    }
}

/// What `fix-venv restore` leaves alone without failing. The messages do not repeat the
/// path: the summary prints `warning: PATH: MESSAGE`.
#[derive(Clone, Debug, thiserror::Error)]
pub enum VenvWarning {
    /// A line of `entry_points.txt` that is not turned into a script.
    #[error("line {line}: `{text}`: {reason}; nothing written for it")]
    EntryPointRefused {
        /// The `entry_points.txt`.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The line, escaped for printing.
        text: String,
        /// Why it is refused.
        reason: String,
    },
    /// A script another dist-info already defines; the first one is kept.
    #[error("line {line}: script {name:?} is also defined by {first}; keeping that one")]
    ScriptDefinedTwice {
        /// The `entry_points.txt` of the second definition.
        path: PathBuf,
        /// Its line.
        line: usize,
        /// The script's name.
        name: String,
        /// The first definition's `entry_points.txt`, relative to the venv.
        first: String,
    },
    /// A directory stands where a file is to be written.
    #[error("is a directory where a file belongs; left alone")]
    DirectoryInTheWay {
        /// The directory.
        path: PathBuf,
    },
    /// A RECORD to update that cannot be read.
    #[error("missing or unreadable; not updated")]
    RecordUnreadable {
        /// The RECORD.
        path: PathBuf,
    },
    /// What `--compile-bytecode`'s compileall complained about.
    #[error("compileall: {complaint}")]
    Compileall {
        /// site-packages.
        path: PathBuf,
        /// One line of compileall's output.
        complaint: String,
    },
}

impl Reportable for VenvWarning {
    fn path(&self) -> &Path {
        match self {
            VenvWarning::EntryPointRefused { path, .. }
            | VenvWarning::ScriptDefinedTwice { path, .. }
            | VenvWarning::DirectoryInTheWay { path }
            | VenvWarning::RecordUnreadable { path }
            | VenvWarning::Compileall { path, .. } => path,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            VenvWarning::EntryPointRefused { .. } => "entry_point_refused",
            VenvWarning::ScriptDefinedTwice { .. } => "script_defined_twice",
            VenvWarning::DirectoryInTheWay { .. } => "directory_in_the_way",
            VenvWarning::RecordUnreadable { .. } => "record_unreadable",
            VenvWarning::Compileall { .. } => "compileall",
        }
    }
}

/// A `fix-venv` result.
pub type Result<T, E = VenvError> = std::result::Result<T, E>;
