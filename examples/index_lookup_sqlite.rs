//! Lookup by blind index on a large SQLite table with an ordinary B-tree
//! index (bundled SQLite, WAL, a file on local disk): `ROWS` rows (default
//! 1,000,000; argument 1 overrides). The measurement is shared with
//! PostgreSQL (`index_lookup_postgres`): `examples/common/lookup.rs`.
//!
//! `cargo run --release --example index_lookup_sqlite --features sqlite [ROWS]`.
//! Figures: docs/PERFORMANCE.md.

#[path = "common/lookup.rs"]
mod lookup;

use rusqlite::{Connection, OptionalExtension, params};
use tierseal::BlindIndex;

use lookup::{BoxError, LookupTable};

/// The table in an SQLite file.
struct Sqlite {
    db: Connection,
}

const SELECT_BY_INDEX: &str = "SELECT id, payload FROM customers WHERE iban_index = ?1";

impl LookupTable for Sqlite {
    fn describe(&mut self) -> Result<String, BoxError> {
        let version: String = self
            .db
            .query_row("SELECT sqlite_version()", [], |r| r.get(0))?;
        Ok(format!(
            "SQLite {version} (bundled), WAL, synchronous NORMAL, local file"
        ))
    }

    fn create(&mut self) -> Result<(), BoxError> {
        self.db.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
             CREATE TABLE customers (id INTEGER PRIMARY KEY, iban_index TEXT NOT NULL, payload TEXT NOT NULL);",
        )?;
        Ok(())
    }

    fn insert(&mut self, rows: &[(i64, BlindIndex)]) -> Result<(), BoxError> {
        let tx = self.db.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO customers (id, iban_index, payload) VALUES (?1, ?2, 'tierseal:payload-stand-in')",
            )?;
            for (id, index) in rows {
                insert.execute(params![id, index])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn build_index(&mut self) -> Result<(), BoxError> {
        self.db
            .execute_batch("CREATE INDEX customers_by_iban ON customers (iban_index); ANALYZE;")?;
        Ok(())
    }

    fn plan(&mut self) -> Result<(String, bool), BoxError> {
        let plan: String = self.db.query_row(
            &format!("EXPLAIN QUERY PLAN {SELECT_BY_INDEX}"),
            ["x"],
            |r| r.get(3),
        )?;
        let uses = plan.contains("customers_by_iban");
        Ok((plan, uses))
    }

    fn by_index(&mut self, index: &BlindIndex) -> Result<u64, BoxError> {
        let mut statement = self.db.prepare_cached(SELECT_BY_INDEX)?;
        let mut hits = statement.query([index])?;
        let mut found = 0;
        while hits.next()?.is_some() {
            found += 1;
        }
        Ok(found)
    }

    fn by_id(&mut self, id: i64) -> Result<u64, BoxError> {
        let payload: Option<String> = self
            .db
            .prepare_cached("SELECT payload FROM customers WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?;
        Ok(u64::from(payload.is_some()))
    }
}

fn main() -> Result<(), BoxError> {
    let rows = lookup::rows_argument()?;
    let dir = tempfile::tempdir()?;
    let mut table = Sqlite {
        db: Connection::open(dir.path().join("lookup.db"))?,
    };
    lookup::run(&mut table, rows)
}
