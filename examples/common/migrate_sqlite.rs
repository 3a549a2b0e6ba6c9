//! The SQLite backend of the migration recipe (`migrate.rs`): the
//! customers table as a `PlaintextTable`, with rusqlite.
//!
//! Each batch is one `BEGIN IMMEDIATE` transaction: SQLite locks the
//! database file for writing while it lasts (there are no row locks), so
//! batches are kept short and application writers wait at most one batch
//! (give them a busy timeout). With `PRAGMA secure_delete = ON` SQLite
//! overwrites cleared plaintext in its pages; `finish` runs `VACUUM` so
//! that no free page keeps an old copy (backups taken before still do:
//! rotate them away).

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use tierseal::sql::migrate::{Batch, ClearCheck, PlainRow, PlaintextTable, SealWork, SealedRow};
use tierseal::{BlindIndex, RecordKeys};

use crate::common::{BoxError, Customer, SealedCustomer};
use crate::migrate::{
    CustomerTable, Dialect, FIRST, INDEXES, LAST, PLAIN, SEALED, Statements, plain_customer,
    sealed_customer, sealed_parameters,
};

const SQLITE: Dialect = Dialect {
    parameter: |n| format!("?{n}"),
    lock: "",
};

/// A customers table in an SQLite database.
pub(crate) struct SqliteCustomers {
    db: Connection,
    table: String,
    sql: Statements,
}

impl SqliteCustomers {
    /// The table `table` of the database at `path`.
    pub(crate) fn open(path: &Path, table: &str) -> Result<SqliteCustomers, BoxError> {
        Ok(SqliteCustomers::new(Connection::open(path)?, table))
    }

    /// The table `table` of `db`.
    pub(crate) fn new(db: Connection, table: &str) -> SqliteCustomers {
        SqliteCustomers {
            db,
            table: table.to_owned(),
            sql: Statements::new(table, &SQLITE),
        }
    }
}

impl PlaintextTable for SqliteCustomers {
    type Key = i64;
    type Record = Customer;
    type Error = BoxError;

    fn name(&self) -> String {
        self.table.clone()
    }

    fn prepare(&mut self) -> Result<(), BoxError> {
        let table = &self.table;
        self.db.execute_batch("PRAGMA secure_delete = ON")?;
        let existing: Vec<String> = self
            .db
            .prepare("SELECT name FROM pragma_table_info(?1)")?
            .query_map([table], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        if existing.is_empty() {
            return Err(format!("table `{table}` does not exist").into());
        }
        for column in SEALED {
            if !existing.iter().any(|c| c == column) {
                self.db
                    .execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} TEXT"))?;
            }
        }
        for (suffix, column) in INDEXES {
            self.db.execute_batch(&format!(
                "CREATE INDEX IF NOT EXISTS {table}_{suffix} ON {table} ({column})"
            ))?;
        }
        Ok(())
    }

    fn seal_batch(
        &mut self,
        after: Option<&i64>,
        limit: usize,
        work: &mut SealWork<'_, i64, Customer>,
    ) -> Result<Batch<i64>, BoxError> {
        let tx = self
            .db
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let rows: Vec<PlainRow<i64, Customer>> = tx
            .prepare(&self.sql.seal_select)?
            .query_map(
                params![after.copied().unwrap_or(FIRST), i64::try_from(limit)?],
                |r| {
                    let key: i64 = r.get(0)?;
                    Ok(PlainRow {
                        key,
                        plain: plain_customer!(key, r.get, 1),
                    })
                },
            )?
            .collect::<Result<_, _>>()?;
        let Some(last) = rows.last().map(|row| row.key) else {
            return Ok(Batch::empty());
        };
        let sealed = work(&rows)?;
        let mut written = 0;
        {
            let mut update = tx.prepare(&self.sql.seal_update)?;
            for (row, sealed) in rows.iter().zip(&sealed) {
                written +=
                    update.execute(sealed_parameters!(sealed, &row.key, dyn rusqlite::ToSql))?;
            }
        }
        tx.commit()?;
        Ok(Batch {
            rows: u64::try_from(written)?,
            last: Some(last),
        })
    }

    fn clear_batch(
        &mut self,
        after: Option<&i64>,
        up_to: Option<&i64>,
        limit: usize,
        check: &mut ClearCheck<'_, i64, Customer>,
    ) -> Result<Batch<i64>, BoxError> {
        let tx = self
            .db
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let rows: Vec<SealedRow<i64, Customer>> = tx
            .prepare(&self.sql.clear_select)?
            .query_map(
                params![
                    after.copied().unwrap_or(FIRST),
                    up_to.copied().unwrap_or(LAST),
                    i64::try_from(limit)?
                ],
                |r| {
                    let key: i64 = r.get(0)?;
                    Ok(SealedRow {
                        key,
                        plain: plain_customer!(key, r.get, 1),
                        sealed: sealed_customer!(key, r.get, 1 + PLAIN.len()),
                    })
                },
            )?
            .collect::<Result<_, _>>()?;
        let Some(last) = rows.last().map(|row| row.key) else {
            return Ok(Batch::empty());
        };
        check(&rows)?;
        {
            let mut clear = tx.prepare(&self.sql.clear_update)?;
            for row in &rows {
                clear.execute([row.key])?;
            }
        }
        tx.commit()?;
        Ok(Batch {
            rows: u64::try_from(rows.len())?,
            last: Some(last),
        })
    }

    fn pending(&mut self) -> Result<u64, BoxError> {
        let count: i64 = self.db.query_row(&self.sql.pending, [], |r| r.get(0))?;
        Ok(u64::try_from(count)?)
    }

    fn finish(&mut self) -> Result<(), BoxError> {
        self.db.execute_batch("VACUUM")?;
        Ok(())
    }
}

impl CustomerTable for SqliteCustomers {
    fn create(&mut self, rows: &[(i64, Customer)]) -> Result<(), BoxError> {
        let table = &self.table;
        let tx = self.db.transaction()?;
        tx.execute_batch(&format!(
            "CREATE TABLE {table} (id INTEGER PRIMARY KEY, name TEXT, email TEXT, iban TEXT)"
        ))?;
        {
            let mut insert = tx.prepare(&format!(
                "INSERT INTO {table} (id, name, email, iban) VALUES (?1, ?2, ?3, ?4)"
            ))?;
            for (id, c) in rows {
                insert.execute(params![id, c.name, c.email, c.iban])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn execute(&mut self, sql: &str) -> Result<u64, BoxError> {
        Ok(u64::try_from(self.db.execute(sql, [])?)?)
    }

    fn ids(&mut self, sql: &str, index: Option<&BlindIndex>) -> Result<Vec<i64>, BoxError> {
        let mut statement = self.db.prepare(sql)?;
        let ids: rusqlite::Result<Vec<i64>> = match index {
            Some(index) => statement.query_map([index], |r| r.get(0))?.collect(),
            None => statement.query_map([], |r| r.get(0))?.collect(),
        };
        Ok(ids?)
    }

    fn read_sealed(&mut self, id: i64) -> Result<Option<SealedCustomer>, BoxError> {
        Ok(self
            .db
            .query_row(&self.sql.read_sealed, [id], |r| {
                Ok(sealed_customer!(id, r.get, 0))
            })
            .optional()?)
    }

    fn record_keys(&mut self) -> Result<BTreeMap<i64, RecordKeys>, BoxError> {
        Ok(self
            .db
            .prepare(&self.sql.record_keys)?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?)
    }

    fn statements(&self) -> &Statements {
        &self.sql
    }
}
