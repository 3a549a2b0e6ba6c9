//! Lookup by blind index on a large PostgreSQL table with an ordinary
//! B-tree index: `ROWS` rows (default 1,000,000; argument 1 overrides), in
//! a schema of its own on the server named by `TIERSEAL_TEST_PG` (default
//! `host=127.0.0.1 user=postgres dbname=test`), dropped at the end. The
//! measurement is shared with SQLite (`index_lookup_sqlite`):
//! `examples/common/lookup.rs`.
//!
//! `cargo run --release --example index_lookup_postgres --features postgres [ROWS]`.
//! Figures: docs/PERFORMANCE.md.

#[path = "common/lookup.rs"]
mod lookup;
#[path = "common/pg.rs"]
#[allow(dead_code, reason = "shared with the other PostgreSQL examples")]
mod pg;

use postgres::{Client, Statement};
use tierseal::BlindIndex;

use lookup::{BoxError, LookupTable};

/// The table on a PostgreSQL server, with its two lookups prepared once.
struct Postgres {
    client: Client,
    table: String,
    by_index: Option<Statement>,
    by_id: Option<Statement>,
}

impl Postgres {
    fn select_by_index(&self) -> String {
        format!(
            "SELECT id, payload FROM {} WHERE iban_index = $1",
            self.table
        )
    }
}

impl LookupTable for Postgres {
    fn describe(&mut self) -> Result<String, BoxError> {
        let version: String = self
            .client
            .query_one("SHOW server_version", &[])?
            .try_get(0)?;
        let buffers: String = self
            .client
            .query_one("SHOW shared_buffers", &[])?
            .try_get(0)?;
        Ok(format!(
            "PostgreSQL {version} on this machine (shared_buffers {buffers}), synchronous client over TCP"
        ))
    }

    fn create(&mut self) -> Result<(), BoxError> {
        self.client.batch_execute(&format!(
            "CREATE TABLE {} (id BIGINT PRIMARY KEY, iban_index TEXT NOT NULL, payload TEXT NOT NULL)",
            self.table
        ))?;
        Ok(())
    }

    fn insert(&mut self, rows: &[(i64, BlindIndex)]) -> Result<(), BoxError> {
        // One statement a chunk: the rows travel as two arrays.
        let ids: Vec<i64> = rows.iter().map(|(id, _)| *id).collect();
        let indexes: Vec<BlindIndex> = rows.iter().map(|(_, index)| *index).collect();
        self.client.execute(
            &format!(
                "INSERT INTO {} (id, iban_index, payload) \
                 SELECT id, iban_index, 'tierseal:payload-stand-in' FROM unnest($1::bigint[], $2::text[]) AS u(id, iban_index)",
                self.table
            ),
            &[&ids, &indexes],
        )?;
        Ok(())
    }

    fn build_index(&mut self) -> Result<(), BoxError> {
        let table = &self.table;
        self.client.batch_execute(&format!(
            "CREATE INDEX lookup_by_iban ON {table} (iban_index)"
        ))?;
        // Its own statement: VACUUM cannot run in a transaction.
        self.client
            .batch_execute(&format!("VACUUM ANALYZE {table}"))?;
        self.by_index = Some(self.client.prepare(&self.select_by_index())?);
        self.by_id = Some(
            self.client
                .prepare(&format!("SELECT payload FROM {table} WHERE id = $1"))?,
        );
        Ok(())
    }

    fn plan(&mut self) -> Result<(String, bool), BoxError> {
        // The plan of the prepared statement as the server runs it.
        let plan: Vec<String> = self
            .client
            .query(
                &format!(
                    "EXPLAIN (COSTS OFF) {}",
                    self.select_by_index().replace("$1", "'tsidx:v1:x'")
                ),
                &[],
            )?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        let plan = plan.join(" / ");
        let uses = plan.contains("lookup_by_iban");
        Ok((plan, uses))
    }

    fn by_index(&mut self, index: &BlindIndex) -> Result<u64, BoxError> {
        let statement = self.by_index.as_ref().ok_or("the index is not built")?;
        Ok(u64::try_from(
            self.client.query(statement, &[index])?.len(),
        )?)
    }

    fn by_id(&mut self, id: i64) -> Result<u64, BoxError> {
        let statement = self.by_id.as_ref().ok_or("the index is not built")?;
        Ok(u64::try_from(self.client.query(statement, &[&id])?.len())?)
    }
}

fn main() -> Result<(), BoxError> {
    let rows = lookup::rows_argument()?;
    let config = pg::config();
    // Dropped, with the table, when the example ends (even on error).
    let schema = pg::Schema::create(&config, &pg::unique_name("tierseal_lookup"))?;
    let mut table = Postgres {
        client: pg::connect(&config)?,
        table: schema.table("customers"),
        by_index: None,
        by_id: None,
    };
    lookup::run(&mut table, rows)
}
