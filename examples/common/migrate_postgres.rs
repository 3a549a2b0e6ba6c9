//! The PostgreSQL backend of the migration recipe (`migrate.rs`): the
//! customers table as a `PlaintextTable`, with the synchronous `postgres`
//! client.
//!
//! Locks: each batch is one transaction that reads its rows with
//! `FOR UPDATE SKIP LOCKED`, so it locks only those rows, never waits for
//! a row an application transaction holds (it passes it by; `pending`
//! counts what is left, and a rerun takes it), and two migrators can run
//! side by side without sealing a row twice. Adding the columns takes the
//! table's `ACCESS EXCLUSIVE` lock for a moment (a nullable column without
//! a default is a catalogue change only); `lock_timeout` makes that step
//! fail rather than queue behind a long transaction, and block every
//! writer while it waits. The lookup indexes are built
//! `CONCURRENTLY`, without blocking writes; an index whose build was
//! killed is left invalid by PostgreSQL, and is dropped and built again.
//!
//! Clearing a column does not erase the old row versions: PostgreSQL keeps
//! them (plaintext included) until `VACUUM` reclaims them, and even then
//! the bytes stay in free space until overwritten; the WAL and backups
//! keep them too. After the migration run `VACUUM FULL` (it rewrites the
//! table under an exclusive lock: a maintenance window, or `pg_repack`),
//! and rotate away WAL archives and backups taken before.

use std::collections::BTreeMap;

use postgres::Client;
use postgres::types::ToSql;
use tierseal::sql::migrate::{Batch, ClearCheck, PlainRow, PlaintextTable, SealWork, SealedRow};
use tierseal::{BlindIndex, RecordKeys};

use crate::common::{BoxError, Customer, SealedCustomer};
use crate::migrate::{
    CustomerTable, Dialect, FIRST, INDEXES, LAST, PLAIN, SEALED, Statements, plain_customer,
    sealed_customer, sealed_parameters,
};
use crate::pg::connect;

const POSTGRES: Dialect = Dialect {
    parameter: |n| format!("${n}"),
    lock: " FOR UPDATE SKIP LOCKED",
};

/// How long the migration waits for the table lock it needs to add its
/// columns, before it gives up (rerun later).
const LOCK_TIMEOUT: &str = "5s";

/// A customers table (`table` or `schema.table`) in a PostgreSQL database.
pub(crate) struct PostgresCustomers {
    client: Client,
    table: String,
    sql: Statements,
}

impl PostgresCustomers {
    /// The table `table` of the database at `config`.
    pub(crate) fn connect(config: &str, table: &str) -> Result<PostgresCustomers, BoxError> {
        Ok(PostgresCustomers {
            client: connect(config)?,
            table: table.to_owned(),
            sql: Statements::new(table, &POSTGRES),
        })
    }

    /// Builds the lookup index `name` on `column` without blocking writes,
    /// replacing one a killed build left invalid.
    fn ensure_index(&mut self, name: &str, column: &str) -> Result<(), BoxError> {
        let schema = self
            .table
            .rsplit_once('.')
            .map(|(schema, _)| format!("{schema}."))
            .unwrap_or_default();
        let valid: Option<bool> = self
            .client
            .query_opt(
                "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
                 WHERE i.indrelid = to_regclass($1) AND c.relname = $2",
                &[&self.table, &name],
            )?
            .map(|row| row.try_get(0))
            .transpose()?;
        match valid {
            Some(true) => return Ok(()),
            Some(false) => self
                .client
                .batch_execute(&format!("DROP INDEX CONCURRENTLY {schema}{name}"))?,
            None => {}
        }
        // CONCURRENTLY cannot run in a transaction: this is one statement.
        self.client.batch_execute(&format!(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {} ({column})",
            self.table
        ))?;
        Ok(())
    }

    /// The connection (for the examples' and tests' own queries).
    pub(crate) fn client(&mut self) -> &mut Client {
        &mut self.client
    }
}

impl PlaintextTable for PostgresCustomers {
    type Key = i64;
    type Record = Customer;
    type Error = BoxError;

    fn name(&self) -> String {
        self.table.clone()
    }

    fn prepare(&mut self) -> Result<(), BoxError> {
        let table = &self.table;
        let exists: bool = self
            .client
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[table])?
            .try_get(0)?;
        if !exists {
            return Err(format!("table `{table}` does not exist").into());
        }
        // Only when a column is missing: even `ADD COLUMN IF NOT EXISTS`
        // takes the table lock, which would wait behind every open
        // transaction of the application on a resumed run.
        let existing: Vec<String> = self
            .client
            .query(
                "SELECT attname::text FROM pg_attribute \
                 WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped",
                &[table],
            )?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        let columns: Vec<String> = SEALED
            .iter()
            .filter(|column| !existing.iter().any(|c| c == *column))
            .map(|column| {
                let sql_type = if *column == "tierseal_keys" {
                    "JSONB"
                } else {
                    "TEXT"
                };
                format!("ADD COLUMN IF NOT EXISTS {column} {sql_type}")
            })
            .collect();
        if !columns.is_empty() {
            // One query string: one transaction, to which SET LOCAL keeps
            // the timeout (the session's own setting is left alone).
            self.client.batch_execute(&format!(
                "SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'; ALTER TABLE {table} {}",
                columns.join(", ")
            ))?;
        }
        let bare = table.rsplit('.').next().unwrap_or(table).to_owned();
        for (suffix, column) in INDEXES {
            self.ensure_index(&format!("{bare}_{suffix}"), column)?;
        }
        Ok(())
    }

    fn seal_batch(
        &mut self,
        after: Option<&i64>,
        limit: usize,
        work: &mut SealWork<'_, i64, Customer>,
    ) -> Result<Batch<i64>, BoxError> {
        let mut tx = self.client.transaction()?;
        let rows = tx
            .query(
                &self.sql.seal_select,
                &[&after.copied().unwrap_or(FIRST), &i64::try_from(limit)?],
            )?
            .iter()
            .map(|r| {
                let key: i64 = r.try_get(0)?;
                Ok(PlainRow {
                    key,
                    plain: plain_customer!(key, r.try_get, 1),
                })
            })
            .collect::<Result<Vec<_>, BoxError>>()?;
        let Some(last) = rows.last().map(|row| row.key) else {
            return Ok(Batch::empty());
        };
        let sealed = work(&rows)?;
        let update = tx.prepare(&self.sql.seal_update)?;
        let mut written = 0;
        for (row, sealed) in rows.iter().zip(&sealed) {
            written += tx.execute(
                &update,
                &sealed_parameters!(sealed, &row.key, dyn ToSql + Sync),
            )?;
        }
        tx.commit()?;
        Ok(Batch {
            rows: written,
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
        let mut tx = self.client.transaction()?;
        let rows = tx
            .query(
                &self.sql.clear_select,
                &[
                    &after.copied().unwrap_or(FIRST),
                    &up_to.copied().unwrap_or(LAST),
                    &i64::try_from(limit)?,
                ],
            )?
            .iter()
            .map(|r| {
                let key: i64 = r.try_get(0)?;
                Ok(SealedRow {
                    key,
                    plain: plain_customer!(key, r.try_get, 1),
                    sealed: sealed_customer!(key, r.try_get, 1 + PLAIN.len()),
                })
            })
            .collect::<Result<Vec<_>, BoxError>>()?;
        let Some(last) = rows.last().map(|row| row.key) else {
            return Ok(Batch::empty());
        };
        check(&rows)?;
        let clear = tx.prepare(&self.sql.clear_update)?;
        for row in &rows {
            tx.execute(&clear, &[&row.key])?;
        }
        tx.commit()?;
        Ok(Batch {
            rows: u64::try_from(rows.len())?,
            last: Some(last),
        })
    }

    fn pending(&mut self) -> Result<u64, BoxError> {
        let count: i64 = self.client.query_one(&self.sql.pending, &[])?.try_get(0)?;
        Ok(u64::try_from(count)?)
    }
}

impl CustomerTable for PostgresCustomers {
    fn create(&mut self, rows: &[(i64, Customer)]) -> Result<(), BoxError> {
        let table = &self.table;
        let mut tx = self.client.transaction()?;
        tx.batch_execute(&format!(
            "CREATE TABLE {table} (id BIGINT PRIMARY KEY, name TEXT, email TEXT, iban TEXT)"
        ))?;
        let insert = tx.prepare(&format!(
            "INSERT INTO {table} (id, name, email, iban) VALUES ($1, $2, $3, $4)"
        ))?;
        for (id, c) in rows {
            tx.execute(&insert, &[id, &c.name, &c.email, &c.iban])?;
        }
        tx.commit()?;
        Ok(())
    }

    fn execute(&mut self, sql: &str) -> Result<u64, BoxError> {
        Ok(self.client.execute(sql, &[])?)
    }

    fn ids(&mut self, sql: &str, index: Option<&BlindIndex>) -> Result<Vec<i64>, BoxError> {
        let rows = match index {
            Some(index) => self.client.query(sql, &[index])?,
            None => self.client.query(sql, &[])?,
        };
        Ok(rows
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?)
    }

    fn read_sealed(&mut self, id: i64) -> Result<Option<SealedCustomer>, BoxError> {
        self.client
            .query_opt(&self.sql.read_sealed, &[&id])?
            .map(|r| -> Result<SealedCustomer, BoxError> { Ok(sealed_customer!(id, r.try_get, 0)) })
            .transpose()
    }

    fn record_keys(&mut self) -> Result<BTreeMap<i64, RecordKeys>, BoxError> {
        Ok(self
            .client
            .query(&self.sql.record_keys, &[])?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, postgres::Error>>()?)
    }

    fn statements(&self) -> &Statements {
        &self.sql
    }
}
