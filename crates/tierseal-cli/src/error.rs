//! The binary's errors and their exit codes.

use std::path::PathBuf;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// An error from the runtime (its message never contains secrets).
    #[error(transparent)]
    Tierseal(#[from] tierseal::Error),
    /// The linter could not run.
    #[error(transparent)]
    Lint(#[from] tierseal_lint::LintError),
    /// A file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The command was used wrongly; the message says how to use it.
    #[error("{0}")]
    Usage(String),
    /// The command refused to act; the message says why and what to do.
    #[error("{0}")]
    Refused(String),
}

impl CliError {
    /// 2 for usage mistakes and unreadable or invalid inputs of `lint`, 3
    /// when `lint` found nothing to check, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Lint(tierseal_lint::LintError::NothingScanned { .. }) => 3,
            CliError::Usage(_) | CliError::Lint(_) => 2,
            _ => 1,
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> CliError {
        CliError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
