//! Custodian jobs over databases: `rewrap --db URL` and `keys retire
//! --data URL`, over SQLite (`sqlite://PATH`) and PostgreSQL
//! (`postgres://...`).
//!
//! Schema-blind, like the JSON Lines rewrap: every table and every text or
//! JSON column (SQLite: text-affinity, JSON-named and untyped columns;
//! PostgreSQL: `text`, `varchar`, `json`, `jsonb`) is searched for tokens
//! with the same finder (`ValueScanner`) and the same per-token rewrap
//! (`rewrap_token`). Rows are walked in key order (SQLite: the rowid, or
//! the single-column primary key of a `WITHOUT ROWID` table; PostgreSQL:
//! the single-column primary key) by keyset pagination, `--batch-size`
//! rows at a time, each batch one transaction that also moves the job's
//! cursor in the table `tierseal_rewrap_progress` of the same database: a
//! killed run resumes after the last committed batch, counting nothing
//! twice, and a completed run removes its cursors. Memory holds one batch,
//! whose rows are rewrapped over the rayon pool and then written and
//! counted in key order by the one connection.

mod postgres;
mod sqlite;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tierseal::Keyring;

use crate::CliError;
use crate::rewrap::{LineCounts, ValueScanner, primary_versions, rewrap_token, token_key_version};
use crate::tokens::Found;

/// The table that holds the cursors of unfinished rewraps.
pub const PROGRESS_TABLE: &str = "tierseal_rewrap_progress";

/// At most this many failures are kept with their reasons (all are counted).
const KEPT_FAILURES: usize = 100;

/// The largest `--batch-size`.
pub const MAX_BATCH: usize = 100_000;

/// Whether `text` is meant as a database URL (rather than a file path).
pub fn is_url(text: &str) -> bool {
    text.contains("://")
}

/// A parsed database URL.
pub enum Url {
    /// `sqlite://PATH`.
    Sqlite(PathBuf),
    /// `postgres://...` or `postgresql://...`, as the `postgres` crate
    /// reads it.
    Postgres(String),
}

/// Parses `sqlite://PATH` (`sqlite:///abs/path` or `sqlite://rel/path`)
/// or `postgres://user@host:port/db?options` (`postgresql://` too).
///
/// # Errors
/// [`CliError::DatabaseUrl`], which does not repeat the URL.
pub fn parse_url(text: &str) -> Result<Url, CliError> {
    if let Some(path) = text.strip_prefix("sqlite://") {
        if path.is_empty() {
            return Err(CliError::DatabaseUrl {
                reason: "sqlite:// needs a file path, e.g. sqlite:///var/lib/app.db or sqlite://app.db",
            });
        }
        return Ok(Url::Sqlite(PathBuf::from(path)));
    }
    if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        return Ok(Url::Postgres(text.to_owned()));
    }
    Err(CliError::DatabaseUrl {
        reason: "expected sqlite://PATH or postgres://[user@]host[:port]/database",
    })
}

/// Opens the database `url` names; `lock_wait` bounds every wait for
/// another writer.
///
/// # Errors
/// The URL does not parse, or the database cannot be opened.
pub fn open(
    url: &str,
    lock_wait: Duration,
    read_only: bool,
) -> Result<Box<dyn Database>, CliError> {
    match parse_url(url)? {
        Url::Sqlite(path) => Ok(Box::new(sqlite::Sqlite::open(&path, lock_wait, read_only)?)),
        Url::Postgres(url) => Ok(Box::new(postgres::Postgres::open(&url, lock_wait)?)),
    }
}

/// A row key, as the keyset cursor holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Key {
    /// An integer key (SQLite rowid or integer primary key).
    Int(i64),
    /// Any other key, as text (PostgreSQL keys travel as text and are cast
    /// back to the key's type).
    Text(String),
}

impl Key {
    /// The key as text (PostgreSQL casts it back to the key's type).
    pub fn as_text(&self) -> String {
        match self {
            Key::Int(n) => n.to_string(),
            Key::Text(text) => text.clone(),
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Int(n) => write!(f, "{n}"),
            Key::Text(text) => write!(f, "{:?}", shorten(text)),
        }
    }
}

/// Cuts a key shown in a report to a bounded length.
fn shorten(text: &str) -> String {
    const MAX: usize = 64;
    match text.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}...", text.get(..end).unwrap_or_default()),
        None => text.to_owned(),
    }
}

/// A searched column.
#[derive(Clone, Debug)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// Its SQL type as the database spells it (PostgreSQL casts to it).
    pub sql_type: String,
}

/// How a table's rows are walked in order.
#[derive(Clone, Debug)]
pub enum RowKey {
    /// SQLite's rowid, under this alias (one no column shadows).
    Rowid(&'static str),
    /// A single-column primary key.
    Column {
        /// The key column.
        name: String,
        /// Its SQL type.
        sql_type: String,
    },
}

/// A table and its searched columns.
#[derive(Clone, Debug)]
pub struct Table {
    /// The PostgreSQL schema (SQLite: none).
    pub schema: Option<String>,
    /// The table's name.
    pub name: String,
    /// How to walk it, or why it cannot be walked.
    pub key: Result<RowKey, &'static str>,
    /// Its text and JSON columns.
    pub columns: Vec<Column>,
    /// Its other stored columns, which the search does not reach: the
    /// retire check refuses while one of their values mentions
    /// `tierseal:`.
    pub unsearched: Vec<Column>,
}

impl Table {
    /// `schema.table`, or `table`.
    pub fn display(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{schema}.{}", self.name),
            None => self.name.clone(),
        }
    }

    /// The key column's name, for reports.
    fn key_name(&self) -> &str {
        match &self.key {
            Ok(RowKey::Rowid(alias)) => alias,
            Ok(RowKey::Column { name, .. }) => name,
            Err(_) => "?",
        }
    }

    /// The job's name in the progress table: the schema, the table and its
    /// columns as a JSON array, so that no two different jobs share a name
    /// (names may contain dots, commas and parentheses).
    fn job(&self) -> String {
        let columns: Vec<&str> = self.columns.iter().map(|c| c.name.as_str()).collect();
        serde_json::json!([self.schema, self.name, columns]).to_string()
    }

    /// Whether `other` is the same table (not merely the same display).
    fn same_table(&self, other: &Table) -> bool {
        self.schema == other.schema && self.name == other.name
    }
}

/// A column value as read.
pub enum Value {
    /// NULL, or not text (numbers, blobs): nothing to search.
    Absent,
    /// Text.
    Text(String),
    /// Text that cannot be searched (not UTF-8) and mentions `tierseal:`.
    Unreadable(&'static str),
}

/// One row: its key and its searched columns' values, in column order.
pub struct Row {
    /// The row's key.
    pub key: Key,
    /// One value per searched column.
    pub values: Vec<Value>,
}

/// A new value for one column of one row of a batch.
pub struct Update {
    /// Index of the row in the batch.
    pub row: usize,
    /// Index of the column in the table's searched columns.
    pub column: usize,
    /// The new text.
    pub text: String,
}

/// A job's cursor and counts, as the progress table keeps them.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    /// The last key of the last committed batch.
    pub cursor: Option<Key>,
    /// The table is done.
    pub done: bool,
    /// Batches committed.
    pub batches: u64,
    /// Rows read.
    pub rows: u64,
    /// Rows written.
    pub updated: u64,
    /// Data keys moved.
    pub rewrapped: u64,
    /// Data keys already under the primary version.
    pub already_current: u64,
    /// Rows that failed (left unchanged).
    pub failed: u64,
}

/// The batch work: from the rows read, the updates to write and the
/// progress to record with them.
pub type Work<'a> = dyn FnMut(&[Row]) -> Result<(Vec<Update>, Progress), CliError> + 'a;

/// What a database backend does for the jobs.
pub trait Database {
    /// The database's name for messages (never a password).
    fn name(&self) -> &str;
    /// Every table (in `schema`, if given) and its text and JSON columns.
    fn tables(&mut self, schema: Option<&str>) -> Result<Vec<Table>, CliError>;
    /// How many rows `table` has (for the progress bar).
    fn count_rows(&mut self, table: &Table) -> Result<u64, CliError>;
    /// Creates the progress table if it is missing.
    fn prepare_progress(&mut self, schema: Option<&str>) -> Result<(), CliError>;
    /// A job's recorded progress.
    fn load_progress(&mut self, job: &str) -> Result<Option<Progress>, CliError>;
    /// Removes the jobs' progress.
    fn clear_progress(&mut self, jobs: &[String]) -> Result<(), CliError>;
    /// Per column of `table`, how many stored values the search cannot
    /// read yet mention `tierseal:` (a column of another type, or a value
    /// that is not text); columns with none are left out.
    fn unsearched_mentions(&mut self, table: &Table) -> Result<Vec<(String, u64)>, CliError>;
    /// Reads up to `limit` rows after `after`, in key order, writing
    /// nothing.
    fn read(
        &mut self,
        table: &Table,
        after: Option<&Key>,
        limit: usize,
    ) -> Result<Vec<Row>, CliError>;
    /// In one transaction: reads (and locks) up to `limit` rows after
    /// `after`, hands them to `work`, writes its updates and records its
    /// progress under `job`. Returns the progress recorded.
    fn write_batch(
        &mut self,
        table: &Table,
        after: Option<&Key>,
        limit: usize,
        job: &str,
        work: &mut Work<'_>,
    ) -> Result<Progress, CliError>;
}

/// Which tables, columns and batches a job covers.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    /// `--table` (PostgreSQL: `table` or `schema.table`).
    pub tables: Vec<String>,
    /// `--column`.
    pub columns: Vec<String>,
    /// `--schema` (PostgreSQL only).
    pub schema: Option<String>,
    /// Rows per batch.
    pub batch_size: usize,
}

/// The tables and columns in scope; errors for names that do not exist
/// and for tables that cannot be walked in batches.
fn select(db: &mut dyn Database, scope: &Scope) -> Result<Vec<Table>, CliError> {
    let all = db.tables(scope.schema.as_deref())?;
    let mut tables: Vec<Table> = if scope.tables.is_empty() {
        all
    } else {
        let mut chosen: Vec<Table> = Vec::new();
        for wanted in &scope.tables {
            let matches: Vec<&Table> = all
                .iter()
                .filter(|t| t.display() == *wanted || t.name == *wanted)
                .collect();
            if matches.is_empty() {
                return Err(CliError::NoSuchTable {
                    database: db.name().to_owned(),
                    table: wanted.clone(),
                });
            }
            for table in matches {
                if !chosen.iter().any(|t| t.same_table(table)) {
                    chosen.push(table.clone());
                }
            }
        }
        chosen
    };
    if !scope.columns.is_empty() {
        for wanted in &scope.columns {
            if !tables
                .iter()
                .any(|t| t.columns.iter().any(|c| c.name == *wanted))
            {
                let names: Vec<String> = tables.iter().map(Table::display).collect();
                return Err(CliError::NoSuchColumn {
                    database: db.name().to_owned(),
                    column: wanted.clone(),
                    tables: if names.is_empty() {
                        "any table".into()
                    } else {
                        names.join(", ")
                    },
                });
            }
        }
        for table in &mut tables {
            table.columns.retain(|c| scope.columns.contains(&c.name));
        }
    }
    tables.retain(|t| !t.columns.is_empty());
    for table in &tables {
        if let Err(reason) = &table.key {
            return Err(CliError::NoRowKey {
                database: db.name().to_owned(),
                table: table.display(),
                reason,
            });
        }
    }
    Ok(tables)
}

/// A row that could not be processed.
#[derive(Clone, Debug)]
pub struct RowFailure {
    /// `table.column` and the row's key.
    pub place: String,
    /// Why (never plaintext, key bytes or a token).
    pub reason: String,
}

/// What a database rewrap did (counts over every run of the job, the
/// resumed ones included).
#[derive(Clone, Debug, Default)]
pub struct DbSummary {
    /// Tables searched.
    pub tables: u64,
    /// Tables whose job an earlier run had started.
    pub resumed: u64,
    /// Rows read.
    pub rows: u64,
    /// Rows written.
    pub updated: u64,
    /// Data keys moved to the primary version.
    pub rewrapped: u64,
    /// Data keys already under the primary version.
    pub already_current: u64,
    /// Rows that failed and were left unchanged.
    pub failed: u64,
    /// The first failures of this run, with their place and reason.
    pub failures: Vec<RowFailure>,
    /// Data keys still under a non-primary version (this run), by `tier vN`.
    pub still_old: BTreeMap<String, u64>,
    /// Batches committed by this run.
    pub batches_this_run: u64,
    /// Every table is done (else `--max-batches` stopped the run).
    pub complete: bool,
}

impl DbSummary {
    fn add(&mut self, progress: &Progress) {
        self.rows += progress.rows;
        self.updated += progress.updated;
        self.rewrapped += progress.rewrapped;
        self.already_current += progress.already_current;
        self.failed += progress.failed;
    }
}

fn fail(failures: &mut Vec<RowFailure>, table: &Table, column: &str, key: &Key, reason: String) {
    if failures.len() < KEPT_FAILURES {
        failures.push(RowFailure {
            place: format!("{}.{column} at {} {key}", table.display(), table.key_name()),
            reason,
        });
    }
}

/// How a rewrap runs.
#[derive(Clone, Debug, Default)]
pub struct RewrapOptions {
    /// Tables, columns, batch size.
    pub scope: Scope,
    /// Stop after this many batches in this run (resume with a rerun).
    pub max_batches: Option<u64>,
    /// Discard the recorded progress and start over.
    pub restart: bool,
    /// Count only: write nothing, record no progress.
    pub dry_run: bool,
}

/// Rewraps every token in the tables and columns in scope, batch by batch.
///
/// # Errors
/// A table or column that does not exist, a table without a usable key,
/// or a database error; a database error after the first batch is
/// [`CliError::Interrupted`], which says how far the job got.
pub fn rewrap(
    db: &mut dyn Database,
    keyring: &Keyring,
    options: &RewrapOptions,
) -> Result<DbSummary, CliError> {
    let tables = select(db, &options.scope)?;
    let jobs: Vec<String> = tables.iter().map(Table::job).collect();
    if !options.dry_run {
        db.prepare_progress(options.scope.schema.as_deref())?;
        if options.restart {
            db.clear_progress(&jobs)?;
        }
    }
    let mut total = 0;
    for table in &tables {
        total += db.count_rows(table)?;
    }
    let bar = bar(total);
    let primaries = primary_versions(keyring);
    let mut summary = DbSummary {
        tables: tables.len() as u64,
        complete: true,
        ..DbSummary::default()
    };
    let limit = options.scope.batch_size.clamp(1, MAX_BATCH);
    'tables: for (table, job) in tables.iter().zip(&jobs) {
        bar.set_message(table.display());
        let mut state = if options.dry_run {
            Progress::default()
        } else {
            db.load_progress(job)?.unwrap_or_default()
        };
        if state.batches > 0 {
            summary.resumed += 1;
        }
        bar.inc(state.rows);
        while !state.done {
            if options
                .max_batches
                .is_some_and(|max| summary.batches_this_run >= max)
            {
                summary.complete = false;
                summary.add(&state);
                break 'tables;
            }
            let failures = &mut summary.failures;
            let still_old = &mut summary.still_old;
            let mut work = |rows: &[Row]| {
                Ok(rewrap_rows(
                    keyring, &primaries, table, rows, limit, &state, failures, still_old,
                ))
            };
            let result = if options.dry_run {
                db.read(table, state.cursor.as_ref(), limit)
                    .and_then(|rows| work(&rows))
                    .map(|(_, progress)| progress)
            } else {
                db.write_batch(table, state.cursor.as_ref(), limit, job, &mut work)
            };
            match result {
                Ok(next) => {
                    bar.inc(next.rows - state.rows);
                    state = next;
                    summary.batches_this_run += 1;
                }
                Err(error) => {
                    bar.abandon();
                    return Err(interrupted(error, &summary, table, &state));
                }
            }
        }
        summary.add(&state);
    }
    bar.finish_and_clear();
    if summary.complete && !options.dry_run {
        db.clear_progress(&jobs)?;
    }
    Ok(summary)
}

/// Rows one thread takes at a time (with one scanner): enough that the
/// pool's scheduling is a small share of their work.
const ROWS_PER_TASK: usize = 32;

/// Rewraps one batch in memory: the updates, and the progress after it.
///
/// The rows are spread over the rayon pool (`RAYON_NUM_THREADS`, by
/// default one thread per core), each through [`rewrap_row`]; their
/// outcomes are then counted and reported in row order, so failures,
/// counts and updates are what a single thread would give. The database
/// itself is only touched by the caller, before and after.
#[allow(
    clippy::too_many_arguments,
    reason = "the batch's context, passed down once"
)]
fn rewrap_rows(
    keyring: &Keyring,
    primaries: &[(String, u32)],
    table: &Table,
    rows: &[Row],
    limit: usize,
    before: &Progress,
    failures: &mut Vec<RowFailure>,
    still_old: &mut BTreeMap<String, u64>,
) -> (Vec<Update>, Progress) {
    use rayon::prelude::*;

    let outcomes: Vec<RowOutcome> = rows
        .par_iter()
        .with_min_len(ROWS_PER_TASK)
        .map_init(ValueScanner::default, |scanner, row| {
            rewrap_row(keyring, primaries, scanner, table, row)
        })
        .collect();
    let mut next = before.clone();
    next.batches += 1;
    let mut updates = Vec::new();
    for (index, (row, outcome)) in rows.iter().zip(outcomes).enumerate() {
        next.rows += 1;
        match outcome.fault {
            // The whole row is left as it was.
            Some((column, reason)) => {
                next.failed += 1;
                let name = table.columns.get(column).map_or("?", |c| c.name.as_str());
                fail(failures, table, name, &row.key, reason);
            }
            None => {
                let counts = outcome.counts;
                next.rewrapped += counts.rewrapped;
                next.already_current += counts.already_current;
                for key in counts.still_old {
                    *still_old.entry(key).or_default() += 1;
                }
                if !outcome.updates.is_empty() {
                    next.updated += 1;
                    updates.extend(outcome.updates.into_iter().map(|(column, text)| Update {
                        row: index,
                        column,
                        text,
                    }));
                }
            }
        }
    }
    if let Some(last) = rows.last() {
        next.cursor = Some(last.key.clone());
    }
    next.done = rows.len() < limit;
    (updates, next)
}

/// What rewrapping one row's values gave.
struct RowOutcome {
    /// New texts, by column index (only if the row did not fail).
    updates: Vec<(usize, String)>,
    /// What its tokens did.
    counts: LineCounts,
    /// The first column that failed, and why: the row is left unchanged.
    fault: Option<(usize, String)>,
}

/// Rewraps every token of one row's values, each through `rewrap_token`,
/// as the JSON Lines rewrap does with a line.
fn rewrap_row(
    keyring: &Keyring,
    primaries: &[(String, u32)],
    scanner: &mut ValueScanner,
    table: &Table,
    row: &Row,
) -> RowOutcome {
    let mut counts = LineCounts::default();
    let mut updates = Vec::new();
    for (column, value) in row.values.iter().enumerate().take(table.columns.len()) {
        let text = match value {
            Value::Absent => continue,
            Value::Unreadable(reason) => {
                return RowOutcome {
                    updates: Vec::new(),
                    counts,
                    fault: Some((column, (*reason).to_owned())),
                };
            }
            Value::Text(text) => text,
        };
        let mut handle = |found: Found<'_>| rewrap_token(keyring, primaries, &found, &mut counts);
        match scanner.visit(text, &mut handle) {
            Ok(Some(text)) => updates.push((column, text)),
            Ok(None) => {}
            Err(reason) => {
                return RowOutcome {
                    updates: Vec::new(),
                    counts,
                    fault: Some((column, reason)),
                };
            }
        }
    }
    RowOutcome {
        updates,
        counts,
        fault: None,
    }
}

/// The error, with how far the job got.
fn interrupted(error: CliError, summary: &DbSummary, table: &Table, state: &Progress) -> CliError {
    let at = match &state.cursor {
        Some(key) => format!("after {} {key}", table.key_name()),
        None => "at its start".to_owned(),
    };
    CliError::Interrupted {
        progress: format!(
            "stopped in table {} {at}: this run committed {} batches ({} rows of that table \
             done so far); committed batches stay committed, and a rerun resumes there",
            table.display(),
            summary.batches_this_run,
            state.rows
        ),
        source: Box::new(error),
    }
}

/// A progress bar on a terminal (rows, rows/s), hidden otherwise.
fn bar(total: u64) -> ProgressBar {
    use std::io::IsTerminal as _;
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} rewrap {msg} [{bar:30}] {human_pos}/{human_len} rows {per_sec} eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// What the retire check found.
#[derive(Clone, Debug, Default)]
pub struct References {
    /// Data keys wrapped under the version.
    pub count: u64,
    /// Data keys wrapped under the version, per `table.column`.
    pub per_column: BTreeMap<String, u64>,
    /// The first places that hold one (`table.column at key K`), a few
    /// per table.
    pub places: Vec<String>,
    /// Rows whose values could not be read (they may hold one).
    pub unreadable: u64,
    /// The first of those, with reasons.
    pub failures: Vec<RowFailure>,
}

/// Finds the rows that still hold data keys wrapped under `wanted`
/// (`tier vN`), reading batch by batch and writing nothing.
///
/// # Errors
/// As [`rewrap`], without progress (nothing is written).
pub fn references(
    db: &mut dyn Database,
    scope: &Scope,
    wanted: &str,
) -> Result<References, CliError> {
    const PLACES_PER_TABLE: usize = 5;
    let tables = select(db, scope)?;
    let limit = scope.batch_size.clamp(1, MAX_BATCH);
    let mut scanner = ValueScanner::default();
    let mut found = References::default();
    for table in &tables {
        let mut cursor = None;
        let mut listed = 0;
        loop {
            let rows = db.read(table, cursor.as_ref(), limit)?;
            for row in &rows {
                for (column, value) in table.columns.iter().zip(&row.values) {
                    let text = match value {
                        Value::Absent => continue,
                        Value::Unreadable(reason) => {
                            found.unreadable += 1;
                            fail(
                                &mut found.failures,
                                table,
                                &column.name,
                                &row.key,
                                (*reason).to_owned(),
                            );
                            continue;
                        }
                        Value::Text(text) => text,
                    };
                    let mut here = 0u64;
                    let mut handle = |token: Found<'_>| {
                        if token_key_version(&token)?.as_deref() == Some(wanted) {
                            here += 1;
                        }
                        Ok(None)
                    };
                    if let Err(reason) = scanner.visit(text, &mut handle) {
                        found.unreadable += 1;
                        fail(&mut found.failures, table, &column.name, &row.key, reason);
                    } else if here > 0 {
                        found.count += here;
                        *found
                            .per_column
                            .entry(format!("{}.{}", table.display(), column.name))
                            .or_default() += here;
                        if listed < PLACES_PER_TABLE {
                            listed += 1;
                            found.places.push(format!(
                                "{}.{} at {} {}",
                                table.display(),
                                column.name,
                                table.key_name(),
                                row.key
                            ));
                        }
                    }
                }
            }
            if rows.len() < limit {
                break;
            }
            cursor = rows.last().map(|row| row.key.clone());
        }
    }
    // A token kept where the search does not reach (a binary value, a
    // domain, array or char(n) column, text in an SQLite INTEGER column)
    // may be wrapped under the version: such a value cannot be checked.
    for table in db.tables(scope.schema.as_deref())? {
        for (column, count) in db.unsearched_mentions(&table)? {
            found.unreadable += count;
            found.failures.push(RowFailure {
                place: format!("{}.{column}", table.display()),
                reason: format!(
                    "{count} values mention `tierseal:` in a column or value that is not \
                     searched (not text: binary, a domain, an array, char(n)); keep tokens \
                     in text or JSON columns"
                ),
            });
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_or_fail_without_repeating_themselves() {
        assert!(matches!(
            parse_url("sqlite:///var/lib/a.db"),
            Ok(Url::Sqlite(path)) if path == std::path::Path::new("/var/lib/a.db")
        ));
        assert!(matches!(
            parse_url("sqlite://rel/a.db"),
            Ok(Url::Sqlite(path)) if path == std::path::Path::new("rel/a.db")
        ));
        assert!(matches!(
            parse_url("postgresql://u@h/db"),
            Ok(Url::Postgres(_))
        ));
        for bad in [
            "sqlite://",
            "mysql://u:pw-s3cret@h/db",
            "pw-s3cret",
            "sqlite:a.db",
        ] {
            let Err(error) = parse_url(bad) else {
                panic!("{bad} parsed");
            };
            assert_eq!(error.exit_code(), 2);
            let shown = format!("{error} {error:?}");
            assert!(!shown.contains("s3cret"), "{shown}");
        }
        assert!(is_url("sqlite://a.db") && !is_url("data/a.jsonl"));
    }

    #[test]
    fn long_text_keys_are_cut_in_reports() {
        let key = Key::Text("k".repeat(500));
        assert!(key.to_string().len() < 80);
        assert_eq!(Key::Int(-4).to_string(), "-4");
        assert_eq!(Key::Text("ref-1".into()).to_string(), "\"ref-1\"");
    }
}
