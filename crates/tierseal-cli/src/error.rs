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
    /// A `--db`/`--data` database URL that does not parse (the URL is not
    /// repeated: it may hold a password).
    #[error("database URL: {reason}")]
    DatabaseUrl {
        /// What is wrong, and the accepted forms.
        reason: &'static str,
    },
    /// A database operation failed.
    #[error("{database}: could not {action}: {reason}")]
    Database {
        /// The database (an SQLite path, or PostgreSQL host, port and
        /// database name; never a password).
        database: String,
        /// What was being done.
        action: String,
        /// The database's reason.
        reason: String,
    },
    /// Another writer held the database (SQLite busy, PostgreSQL row lock)
    /// for longer than the wait allowed.
    #[error(
        "{database} is locked by another writer ({what}); waited {waited_secs} s: retry when it finishes, or raise --lock-wait"
    )]
    DatabaseBusy {
        /// The database.
        database: String,
        /// What was locked.
        what: String,
        /// How long it waited.
        waited_secs: u64,
    },
    /// A `--table` that the database does not have.
    #[error("{database}: no table {table}")]
    NoSuchTable {
        /// The database.
        database: String,
        /// The table asked for.
        table: String,
    },
    /// A `--column` that no selected table has as a text or JSON column.
    #[error("{database}: no text or JSON column {column} in {tables}")]
    NoSuchColumn {
        /// The database.
        database: String,
        /// The column asked for.
        column: String,
        /// The tables searched.
        tables: String,
    },
    /// A table whose rows cannot be walked in key order, batch by batch.
    #[error("{database}: table {table} cannot be rewrapped in batches: {reason}")]
    NoRowKey {
        /// The database.
        database: String,
        /// The table.
        table: String,
        /// Why, and what to do.
        reason: &'static str,
    },
    /// A database job stopped on an error; the message says how far it
    /// got (committed batches stay committed, and a rerun resumes there).
    #[error("{source}; {progress}")]
    Interrupted {
        /// How far the job got.
        progress: String,
        /// What stopped it.
        #[source]
        source: Box<CliError>,
    },
    /// `report` could not report, or reported a log that does not verify.
    #[error(transparent)]
    Report(#[from] ReportError),
}

/// Why `tierseal report` failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// `--since`, `--from` or `--to` is not a time, or the period is empty.
    #[error("invalid period: {reason}")]
    BadPeriod {
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// A `--log` names no file.
    #[error("no audit log at {path}: check the path given to --log")]
    MissingLog {
        /// The path given.
        path: PathBuf,
    },
    /// `--checkpoint` was given with more than one `--log`.
    #[error(
        "--checkpoint applies to one --log; {logs} were given: report each log with its own checkpoints"
    )]
    CheckpointWithoutLog {
        /// How many logs were given.
        logs: usize,
    },
    /// An audit log did not verify; the report was printed and says where.
    #[error("{path}: audit log verification FAILED at line {line}: {detail}")]
    AuditFailed {
        /// The log.
        path: PathBuf,
        /// The first bad line (0: the log as a whole).
        line: u64,
        /// What is wrong there.
        detail: String,
    },
}

impl CliError {
    /// 2 for usage mistakes (including a bad `report` period) and
    /// unreadable or invalid inputs of `lint`, 3
    /// when `lint` found nothing to check, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Lint(tierseal_lint::LintError::NothingScanned { .. }) => 3,
            CliError::Usage(_)
            | CliError::Lint(_)
            | CliError::DatabaseUrl { .. }
            | CliError::Report(
                ReportError::BadPeriod { .. } | ReportError::CheckpointWithoutLog { .. },
            ) => 2,
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
