//! What can stop a `fix-venv` run; every variant names the file it concerns.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a virtualenv: {reason}", path.display())]
    NotAVenv { path: PathBuf, reason: String },
    #[error(
        "{}: the venv has {found}, but {} is Python {wanted} and needs {expected}; \
         restore it with a matching interpreter",
        path.display(), python.display()
    )]
    VersionMismatch {
        path: PathBuf,
        found: String,
        expected: String,
        wanted: String,
        python: PathBuf,
    },
    #[error("{}: {message}", path.display())]
    Python { path: PathBuf, message: String },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("{}: refusing to write through a symlink or outside the venv", path.display())]
    Outside { path: PathBuf },
    #[error("{}: `import {module}` failed:\n{tail}", python.display())]
    ImportFailed {
        python: PathBuf,
        module: String,
        tail: String,
    },
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub fn invalid(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Invalid {
            path: path.into(),
            message: message.into(),
        }
    }

    /// The path the error concerns, for the report.
    pub fn path(&self) -> &std::path::Path {
        match self {
            Error::Io { path, .. }
            | Error::NotAVenv { path, .. }
            | Error::VersionMismatch { path, .. }
            | Error::Python { path, .. }
            | Error::Invalid { path, .. }
            | Error::Outside { path } => path,
            Error::ImportFailed { python, .. } => python,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
