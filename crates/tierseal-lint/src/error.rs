//! Errors that stop a lint run (findings are not errors).

use std::path::PathBuf;

/// Something that prevented linting: the CLI exits 2 on these.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LintError {
    /// A path could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `tierseal.toml` is invalid.
    #[error("invalid {path}: {reason}")]
    Config {
        /// The configuration file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A path held no Rust source to check: a gate that checked nothing
    /// must not pass.
    #[error("no Rust source checked under {path}{detail}")]
    NothingScanned {
        /// The path given.
        path: PathBuf,
        /// What was found instead (exempt, excluded or skipped files).
        detail: String,
    },
    /// `tierseal.lock` is malformed.
    #[error("invalid {path}:{line}: {reason}")]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The 1-based line of the problem.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// `--update-lock` was asked of something that is not a folder.
    #[error("cannot write a lock for {path}: {reason}")]
    LockTarget {
        /// The path given.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// The 1-based line of byte `offset` in `text`.
pub(crate) fn line_at(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()
        .get(..end)
        .map_or(0, |prefix| prefix.iter().filter(|&&b| b == b'\n').count())
        + 1
}
