//! Sealing a plaintext table in place: the steps of the migration that do
//! not depend on the database, for every backend alike.
//!
//! Most adopters start with a table whose sensitive columns hold
//! plaintext. The migration adds the sealed (and blind-index) columns
//! beside them and then, in batches in primary-key order:
//!
//! 1. **Seals** up to `batch_size` rows that are not sealed yet, in one
//!    transaction: reads their plaintext, seals each record
//!    ([`Classified::seal`], spread over threads as [`batch`](crate::batch)
//!    does), writes the sealed and index columns, commits. A row whose
//!    sealed columns are set is never sealed again, so a restart neither
//!    loses nor double-seals a row.
//! 2. **Clears**, in a later transaction, the plaintext of the rows just
//!    sealed, and only of rows whose sealed values were committed: each
//!    row's sealed columns are read back from the database and opened
//!    ([`SealedRecord::open_all`]), and must give exactly the plaintext
//!    beside them; otherwise nothing of that batch is cleared and the run
//!    stops, naming the row.
//!
//! A kill at any point leaves each row in one of three states: plaintext
//! only, plaintext beside committed sealed values, or sealed values only.
//! The next run first clears the rows of the second kind (verifying them
//! the same way), then seals the rest.
//!
//! What is specific to one table and one database — the SQL, the
//! locking, how a row maps to the record type — is a [`PlaintextTable`]
//! that the adopter writes for their table (the workspace's examples
//! `migrate_sqlite` and `migrate_postgres` hold one each). The
//! [`Migration`] drives it: batch planning (a keyset cursor, so that
//! every batch is a range scan of the primary key however far the job
//! has come), sealing, verification before clearing, and progress.
//!
//! This module holds no SQL and no database client: it is here, beside
//! the column types, because every backend needs the same steps, and the
//! order of those steps is what makes the migration safe to kill.

use std::fmt;

use crate::batch::map;
use crate::{AccessContext, Classified, Keyring, SealedRecord};

/// A row read for sealing: its primary key and its plaintext record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlainRow<K, T> {
    /// The row's primary key. It is shown in errors and progress: use the
    /// table's (non-sensitive) key, never a sensitive value.
    pub key: K,
    /// The record the row's plaintext columns hold.
    pub plain: T,
}

/// A row whose sealed columns are committed and whose plaintext columns
/// are still set: what the clearing step verifies.
pub struct SealedRow<K, T: Classified> {
    /// The row's primary key.
    pub key: K,
    /// The record its plaintext columns hold now.
    pub plain: T,
    /// The sealed record read back from its sealed columns.
    pub sealed: T::Sealed,
}

/// What one batch call did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch<K> {
    /// Rows written (sealed, or cleared).
    pub rows: u64,
    /// The key of the last row the batch read, `None` when it read none:
    /// the walk goes on after it.
    pub last: Option<K>,
}

impl<K> Batch<K> {
    /// A batch that read no row: the walk is over.
    pub fn empty() -> Batch<K> {
        Batch {
            rows: 0,
            last: None,
        }
    }
}

/// The sealing step's work on one batch, handed to
/// [`PlaintextTable::seal_batch`]: the rows in, one sealed record per row
/// out, in the same order.
pub type SealWork<'a, K, T> =
    dyn FnMut(&[PlainRow<K, T>]) -> Result<Vec<<T as Classified>::Sealed>, MigrationError> + 'a;

/// The clearing step's check on one batch, handed to
/// [`PlaintextTable::clear_batch`]: `Ok` when every row's sealed values
/// open to the plaintext beside them (then, and only then, the table
/// clears the batch's plaintext).
pub type ClearCheck<'a, K, T> = dyn FnMut(&[SealedRow<K, T>]) -> Result<(), MigrationError> + 'a;

/// A plaintext table being sealed in place: the SQL of one table on one
/// database, which the [`Migration`] drives.
///
/// Each batch method runs in **one transaction** and commits before it
/// returns `Ok`; on any error (its own, or the one `work`/`check` returns)
/// it rolls back and returns the error, leaving the table as it was
/// before the call. Rows are walked in key order by keyset pagination
/// (`WHERE key > $after ... ORDER BY key LIMIT $limit`), so a batch
/// never scans the rows before it. Lock only the batch's rows (and skip
/// rows other transactions hold, where the database can: PostgreSQL's
/// `FOR UPDATE SKIP LOCKED`); never the table.
pub trait PlaintextTable {
    /// The primary key: ordered, shown in errors.
    type Key: Clone + fmt::Display + Send + Sync;
    /// The record type its plaintext columns hold.
    type Record: Classified + PartialEq + Send + Sync;
    /// The backend's error; it must carry the migration's own.
    type Error: From<MigrationError>;

    /// The table's name, for messages.
    fn name(&self) -> String;

    /// Adds the sealed and index columns (and the lookup indexes) when
    /// missing: idempotent, run at the start of every run.
    ///
    /// # Errors
    /// The table does not exist, or the database refused.
    fn prepare(&mut self) -> Result<(), Self::Error>;

    /// In one transaction: reads up to `limit` rows whose key is above
    /// `after` (every row when `None`) and whose sealed columns are not
    /// set, in key order, locking them; hands them to `work`; writes the
    /// sealed records it returns (one per row, in order) to the sealed and
    /// index columns of rows still unsealed; commits. Plaintext columns
    /// are not touched.
    ///
    /// # Errors
    /// The database's, or `work`'s, after rolling back.
    fn seal_batch(
        &mut self,
        after: Option<&Self::Key>,
        limit: usize,
        work: &mut SealWork<'_, Self::Key, Self::Record>,
    ) -> Result<Batch<Self::Key>, Self::Error>;

    /// In one transaction: reads up to `limit` rows with a key above
    /// `after` and at most `up_to` (`None`: unbounded), whose sealed
    /// columns are set and whose plaintext columns are not all cleared, in
    /// key order, locking them, with both their plaintext and their sealed
    /// record read back from the columns; hands them to `check`; only if it
    /// returns `Ok`, sets their plaintext columns to NULL and commits.
    ///
    /// # Errors
    /// The database's, or `check`'s, after rolling back (nothing cleared).
    fn clear_batch(
        &mut self,
        after: Option<&Self::Key>,
        up_to: Option<&Self::Key>,
        limit: usize,
        check: &mut ClearCheck<'_, Self::Key, Self::Record>,
    ) -> Result<Batch<Self::Key>, Self::Error>;

    /// How many rows are not finished (not sealed, or sealed with
    /// plaintext left): after a complete run, the rows other transactions
    /// held locked while the run passed them. A rerun takes them.
    ///
    /// # Errors
    /// The database's.
    fn pending(&mut self) -> Result<u64, Self::Error>;

    /// Called once after the last batch of a complete run (SQLite:
    /// `VACUUM`, so that no free page keeps cleared plaintext).
    ///
    /// # Errors
    /// The database's.
    fn finish(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// A failure of the migration's own steps, naming the table and the row
/// by its key (never a value).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrationError {
    /// A row could not be sealed (a tier or index key the keyring lacks,
    /// ...): nothing of its batch was written.
    #[error("row {key} of {table}: cannot seal it: {error}; nothing of its batch was written")]
    Seal {
        /// The table.
        table: String,
        /// The row's key.
        key: String,
        /// Why (boxed: the error stays small on the success path).
        error: Box<crate::Error>,
    },
    /// A row's committed sealed values do not open: nothing of its batch
    /// was cleared.
    #[error(
        "row {key} of {table}: its sealed values do not open: {error}; nothing of its batch was cleared"
    )]
    Open {
        /// The table.
        table: String,
        /// The row's key.
        key: String,
        /// Why (boxed: the error stays small on the success path).
        error: Box<crate::Error>,
    },
    /// A row's sealed values open to something other than the plaintext
    /// beside them (a writer changed the plaintext after the row was
    /// sealed): nothing of its batch was cleared.
    #[error(
        "row {key} of {table}: the sealed values do not open to the plaintext beside them (changed after sealing?); nothing of its batch was cleared: mark the row unsealed (its sealed columns NULL) and run again"
    )]
    Mismatch {
        /// The table.
        table: String,
        /// The row's key.
        key: String,
    },
}

/// Where a run stops before the table is done.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Stop {
    /// Run to the end.
    #[default]
    Never,
    /// After this many complete batches (sealed and cleared): a window's
    /// worth of work; a rerun goes on.
    AfterBatches(u64),
    /// After the sealing transaction of batch number `n` (counted from 1
    /// in this run), before its plaintext is cleared: what a kill at that
    /// moment leaves, for tests of resumption.
    AfterSealing(u64),
}

/// What one run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Rows this run sealed.
    pub sealed: u64,
    /// Rows whose plaintext this run cleared (rows an earlier, killed run
    /// sealed included).
    pub cleared: u64,
    /// Batches this run completed (sealed and cleared).
    pub batches: u64,
    /// The run stopped early ([`Stop`]).
    pub stopped: bool,
    /// After a complete run: rows still not finished (other transactions
    /// held them while the run passed); 0 otherwise.
    pub pending: u64,
}

/// A run of the migration over one [`PlaintextTable`].
///
/// ```
/// # use tierseal::{AccessContext, Clearance, KdfProfile, Keystore, Level};
/// # use tierseal::sql::migrate::{Migration, Stop};
/// # let dir = tempfile::tempdir()?;
/// # let keystore = Keystore::create(dir.path().join("k"), &"pw".into(), KdfProfile::Test)?;
/// let keyring = keystore.keyring(&Clearance::up_to(Level::Restricted))?;
/// let ctx = AccessContext::new("migration").with_purpose("CHG-2041 seal customers");
/// let migration = Migration::new(&keyring, ctx).batch_size(1_000).stop(Stop::AfterBatches(500));
/// // migration.run(&mut my_table)? for a table implementing PlaintextTable
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Migration<'a> {
    keyring: &'a Keyring,
    ctx: AccessContext,
    batch_size: usize,
    stop: Stop,
    report: Option<&'a mut dyn FnMut(&Progress)>,
}

/// The default rows per batch: large enough that the commit is a small
/// share of a batch, small enough that a batch's locks are short.
pub const DEFAULT_BATCH_SIZE: usize = 1_000;

impl<'a> Migration<'a> {
    /// A run sealing with `keyring` (it must hold every tier of the record
    /// type and their index keys, and open them: the clearing step opens
    /// every row it clears, as `ctx`, audited on the keyring's sink).
    pub fn new(keyring: &'a Keyring, ctx: AccessContext) -> Migration<'a> {
        Migration {
            keyring,
            ctx,
            batch_size: DEFAULT_BATCH_SIZE,
            stop: Stop::Never,
            report: None,
        }
    }

    /// Rows per batch (at least 1; default [`DEFAULT_BATCH_SIZE`]).
    #[must_use]
    pub fn batch_size(mut self, rows: usize) -> Migration<'a> {
        self.batch_size = rows.max(1);
        self
    }

    /// Where the run stops early (default: never).
    #[must_use]
    pub fn stop(mut self, stop: Stop) -> Migration<'a> {
        self.stop = stop;
        self
    }

    /// Calls `report` with the run's progress after every committed batch
    /// and at the end (for a progress bar, rows/s, a log line).
    #[must_use]
    pub fn on_progress(mut self, report: &'a mut dyn FnMut(&Progress)) -> Migration<'a> {
        self.report = Some(report);
        self
    }

    /// Runs (or resumes) the migration of `table`.
    ///
    /// # Errors
    /// The table's errors, and [`MigrationError`] (carried in the table's
    /// error type) for a row that cannot be sealed or whose sealed values
    /// do not open to its plaintext. Every batch before the failing one
    /// stays committed; a rerun resumes after them.
    pub fn run<T>(&mut self, table: &mut T) -> Result<Progress, T::Error>
    where
        T: PlaintextTable,
        <T::Record as Classified>::Sealed: Send + Sync,
    {
        table.prepare()?;
        let name = table.name();
        let mut progress = Progress::default();
        // Rows an earlier, killed run sealed but did not clear.
        progress.cleared += self.clear(table, &name, None, None)?;
        let mut cursor: Option<T::Key> = None;
        loop {
            let keyring = self.keyring;
            let batch = table.seal_batch(cursor.as_ref(), self.batch_size, &mut |rows| {
                seal_rows(keyring, &name, rows)
            })?;
            let Some(last) = batch.last else {
                break;
            };
            progress.sealed += batch.rows;
            if self.stop == Stop::AfterSealing(progress.batches + 1) {
                return Ok(self.stopped(progress));
            }
            progress.cleared += self.clear(table, &name, cursor.as_ref(), Some(&last))?;
            progress.batches += 1;
            cursor = Some(last);
            if self.stop == Stop::AfterBatches(progress.batches) {
                return Ok(self.stopped(progress));
            }
            self.tell(&progress);
        }
        table.finish()?;
        progress.pending = table.pending()?;
        self.tell(&progress);
        Ok(progress)
    }

    /// Clears every sealed row with plaintext left in `(after, up_to]`,
    /// a batch at a time. Returns how many it cleared.
    fn clear<T>(
        &self,
        table: &mut T,
        name: &str,
        after: Option<&T::Key>,
        up_to: Option<&T::Key>,
    ) -> Result<u64, T::Error>
    where
        T: PlaintextTable,
        <T::Record as Classified>::Sealed: Sync,
    {
        let (keyring, ctx) = (self.keyring, &self.ctx);
        let mut cleared = 0;
        let mut cursor = after.cloned();
        loop {
            let batch =
                table.clear_batch(cursor.as_ref(), up_to, self.batch_size, &mut |rows| {
                    check_rows(keyring, ctx, name, rows)
                })?;
            cleared += batch.rows;
            match batch.last {
                Some(last) => cursor = Some(last),
                None => return Ok(cleared),
            }
        }
    }

    fn stopped(&mut self, mut progress: Progress) -> Progress {
        progress.stopped = true;
        self.tell(&progress);
        progress
    }

    fn tell(&mut self, progress: &Progress) {
        if let Some(report) = self.report.as_mut() {
            report(progress);
        }
    }
}

/// Seals every row of a batch (over the thread pool); the first row that
/// fails, in key order, fails the batch.
fn seal_rows<K, T>(
    keyring: &Keyring,
    table: &str,
    rows: &[PlainRow<K, T>],
) -> Result<Vec<T::Sealed>, MigrationError>
where
    K: fmt::Display + Sync,
    T: Classified + Sync,
    T::Sealed: Send,
{
    map(rows, |row| row.plain.seal(keyring))
        .into_iter()
        .zip(rows)
        .map(|(sealed, row)| {
            sealed.map_err(|error| MigrationError::Seal {
                table: table.to_owned(),
                key: row.key.to_string(),
                error: Box::new(error),
            })
        })
        .collect()
}

/// Opens every row's sealed record (over the thread pool) and compares it
/// with the plaintext beside it; the first row that fails, in key order,
/// fails the batch.
fn check_rows<K, T>(
    keyring: &Keyring,
    ctx: &AccessContext,
    table: &str,
    rows: &[SealedRow<K, T>],
) -> Result<(), MigrationError>
where
    K: fmt::Display + Sync,
    T: Classified + PartialEq + Send + Sync,
    T::Sealed: Sync,
{
    let opened = map(rows, |row| {
        row.sealed
            .open_all(keyring, ctx)
            .map(|open| open == row.plain)
    });
    for (result, row) in opened.into_iter().zip(rows) {
        match result {
            Ok(true) => {}
            Ok(false) => {
                return Err(MigrationError::Mismatch {
                    table: table.to_owned(),
                    key: row.key.to_string(),
                });
            }
            Err(error) => {
                return Err(MigrationError::Open {
                    table: table.to_owned(),
                    key: row.key.to_string(),
                    error: Box::new(error),
                });
            }
        }
    }
    Ok(())
}
