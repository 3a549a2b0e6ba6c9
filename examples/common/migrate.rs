//! The recipe for sealing a plaintext SQLite table in place, in batches,
//! resumable after a kill at any point:
//!
//! 1. Add the sealed columns beside the plaintext ones (idempotent).
//! 2. Seal: in batches in primary-key order, each one transaction, read
//!    rows whose `tierseal_keys` is NULL, seal them and write the sealed
//!    columns and index columns. A row with `tierseal_keys` set is never
//!    sealed again, so a restart neither loses nor double-seals a row.
//! 3. Clear: only for rows whose sealed values are committed, and only
//!    after reading them back and opening them to the same values, set
//!    the plaintext columns to NULL, in a later transaction. A kill
//!    between 2 and 3 leaves plaintext beside committed sealed values;
//!    the next run clears it.
//!
//! With `PRAGMA secure_delete = ON`, SQLite overwrites the cleared
//! plaintext in its pages; run `VACUUM` at the end so that no free page
//! keeps an old copy (and rotate away backups taken before).

use rusqlite::{Connection, OptionalExtension, params};
use tierseal::{AccessContext, Classified, Keyring};

use super::common::{BoxError, Customer, SealedCustomer};

/// The sealed and index columns added to the plaintext table.
const ADDED: [&str; 7] = [
    "name_sealed",
    "email_sealed",
    "email_index",
    "iban_sealed",
    "iban_mask",
    "iban_index",
    "tierseal_keys",
];

/// What one run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Progress {
    /// Rows sealed by this run.
    pub(crate) sealed: usize,
    /// Rows whose plaintext this run cleared.
    pub(crate) cleared: usize,
    /// Batches committed by this run.
    pub(crate) batches: usize,
    /// Whether the run stopped early (the simulated kill).
    pub(crate) stopped: bool,
}

/// Where a simulated kill strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopAt {
    /// Never: run to the end.
    Never,
    /// After this many sealing transactions, before their plaintext is
    /// cleared.
    AfterSealing(usize),
    /// After this many complete batches (sealed and cleared).
    AfterBatches(usize),
}

/// Step 1: the sealed columns and the lookup index, added once.
pub(crate) fn prepare(db: &Connection, table: &str) -> Result<(), BoxError> {
    let existing: Vec<String> = db
        .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if existing.is_empty() {
        return Err(format!("table `{table}` does not exist").into());
    }
    for column in ADDED {
        if !existing.iter().any(|c| c == column) {
            db.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} TEXT"))?;
        }
    }
    db.execute_batch(&format!(
        "CREATE INDEX IF NOT EXISTS {table}_by_iban ON {table} (iban_index);
         CREATE INDEX IF NOT EXISTS {table}_by_email ON {table} (email_index);"
    ))?;
    Ok(())
}

/// Runs (or resumes) the migration of `table`: `batch` rows per
/// transaction, stopping early at `stop` to simulate a kill.
pub(crate) fn migrate(
    db: &mut Connection,
    table: &str,
    keyring: &Keyring,
    batch: usize,
    stop: StopAt,
) -> Result<Progress, BoxError> {
    db.execute_batch("PRAGMA secure_delete = ON")?;
    prepare(db, table)?;
    let mut progress = Progress::default();
    // Rows sealed by an earlier, killed run whose plaintext is still there.
    progress.cleared += clear(db, table, keyring, batch)?;
    loop {
        let sealed = seal_batch(db, table, keyring, batch)?;
        if sealed.is_empty() {
            break;
        }
        progress.sealed += sealed.len();
        if stop == StopAt::AfterSealing(progress.batches + 1) {
            progress.stopped = true;
            return Ok(progress);
        }
        progress.cleared += clear(db, table, keyring, batch)?;
        progress.batches += 1;
        if stop == StopAt::AfterBatches(progress.batches) {
            progress.stopped = true;
            return Ok(progress);
        }
    }
    db.execute_batch("VACUUM")?;
    Ok(progress)
}

/// Step 2 for one batch: seals up to `batch` unsealed rows in one
/// transaction. Returns their ids.
fn seal_batch(
    db: &mut Connection,
    table: &str,
    keyring: &Keyring,
    batch: usize,
) -> Result<Vec<i64>, BoxError> {
    let tx = db.transaction()?;
    let rows: Vec<(i64, Customer)> = {
        let mut statement = tx.prepare(&format!(
            "SELECT id, name, email, iban FROM {table}
             WHERE tierseal_keys IS NULL ORDER BY id LIMIT ?1"
        ))?;
        statement
            .query_map([i64::try_from(batch)?], |r| {
                Ok((
                    r.get(0)?,
                    Customer {
                        customer_id: r.get::<_, i64>(0)?.to_string(),
                        name: r.get(1)?,
                        email: r.get(2)?,
                        iban: r.get(3)?,
                    },
                ))
            })?
            .collect::<Result<_, _>>()?
    };
    let mut ids = Vec::with_capacity(rows.len());
    for (id, customer) in rows {
        let sealed = customer.seal(keyring)?;
        tx.execute(
            &format!(
                "UPDATE {table} SET name_sealed = ?1, email_sealed = ?2, email_index = ?3,
                 iban_sealed = ?4, iban_mask = ?5, iban_index = ?6, tierseal_keys = ?7
                 WHERE id = ?8 AND tierseal_keys IS NULL"
            ),
            params![
                sealed.name,
                sealed.email,
                sealed.email_index,
                sealed.iban,
                sealed.iban_mask,
                sealed.iban_index,
                sealed.tierseal_keys,
                id
            ],
        )?;
        ids.push(id);
    }
    tx.commit()?;
    Ok(ids)
}

/// A sealed row read back from its columns: each one a column value of
/// its token type (`tierseal`'s `rusqlite` feature).
pub(crate) fn read_sealed(
    db: &Connection,
    table: &str,
    id: i64,
) -> Result<Option<SealedCustomer>, BoxError> {
    Ok(db
        .query_row(
            &format!(
                "SELECT name_sealed, email_sealed, email_index, iban_sealed, iban_mask, iban_index,
                 tierseal_keys FROM {table} WHERE id = ?1 AND tierseal_keys IS NOT NULL"
            ),
            [id],
            |r| {
                Ok(SealedCustomer {
                    customer_id: id.to_string(),
                    name: r.get(0)?,
                    email: r.get(1)?,
                    email_index: r.get(2)?,
                    iban: r.get(3)?,
                    iban_mask: r.get(4)?,
                    iban_index: r.get(5)?,
                    tierseal_keys: r.get(6)?,
                })
            },
        )
        .optional()?)
}

/// Step 3: clears the plaintext of committed sealed rows, in batches,
/// each row only once its sealed values open to the plaintext beside
/// them. Returns how many rows it cleared.
fn clear(
    db: &mut Connection,
    table: &str,
    keyring: &Keyring,
    batch: usize,
) -> Result<usize, BoxError> {
    let ctx = AccessContext::new("migration").with_purpose("seal plaintext table");
    let mut cleared = 0;
    loop {
        let tx = db.transaction()?;
        let rows: Vec<(i64, Customer)> = {
            let mut statement = tx.prepare(&format!(
                "SELECT id, name, email, iban FROM {table}
                 WHERE tierseal_keys IS NOT NULL
                   AND (name IS NOT NULL OR email IS NOT NULL OR iban IS NOT NULL)
                 ORDER BY id LIMIT ?1"
            ))?;
            statement
                .query_map([i64::try_from(batch)?], |r| {
                    Ok((
                        r.get(0)?,
                        Customer {
                            customer_id: r.get::<_, i64>(0)?.to_string(),
                            name: r.get(1)?,
                            email: r.get(2)?,
                            iban: r.get(3)?,
                        },
                    ))
                })?
                .collect::<Result<_, _>>()?
        };
        if rows.is_empty() {
            break;
        }
        for (id, plain) in rows {
            let sealed = read_sealed(&tx, table, id)?
                .ok_or_else(|| format!("row {id} of {table}: sealed columns vanished"))?;
            if sealed.open_all(keyring, &ctx)? != plain {
                return Err(format!(
                    "row {id} of {table}: the sealed values do not open to the plaintext; nothing cleared"
                )
                .into());
            }
            tx.execute(
                &format!("UPDATE {table} SET name = NULL, email = NULL, iban = NULL WHERE id = ?1"),
                [id],
            )?;
            cleared += 1;
        }
        tx.commit()?;
    }
    Ok(cleared)
}
