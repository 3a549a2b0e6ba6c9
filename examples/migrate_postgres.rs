//! Sealing an existing plaintext PostgreSQL table in place, in batches,
//! resumable: the recipe is `tierseal::sql::migrate` with the PostgreSQL
//! backend in `examples/common/migrate_postgres.rs` (keyset batches by
//! primary key, each one transaction locking only its rows with
//! `FOR UPDATE SKIP LOCKED`; plaintext cleared only after the sealed
//! values are committed and open to it). Tested, a real kill included, by
//! `tests/migrate_postgres.rs`.
//!
//! Run it with `cargo run --example migrate_postgres --features postgres`
//! against the server named by `TIERSEAL_TEST_PG` (a libpq-style
//! connection string; default `host=127.0.0.1 user=postgres dbname=test`).
//! It works in a schema of its own, dropped at the end.

#[path = "common/customers.rs"]
#[allow(dead_code, reason = "shared with the other database examples")]
mod common;
#[path = "common/migrate.rs"]
#[allow(dead_code, reason = "shared with the SQLite example and the tests")]
mod migrate;
#[path = "common/migrate_postgres.rs"]
#[allow(dead_code, reason = "shared with the tests")]
mod migrate_postgres;
#[path = "common/pg.rs"]
#[allow(dead_code, reason = "shared with the other PostgreSQL examples")]
mod pg;

use common::BoxError;
use migrate_postgres::PostgresCustomers;

fn main() -> Result<(), BoxError> {
    let config = pg::config();
    let schema = pg::Schema::create(&config, &pg::unique_name("tierseal_migrate"))?;
    let mut table = PostgresCustomers::connect(&config, &schema.table("customers"))?;
    let services = common::services()?;
    migrate::demo(&mut table, &services)
}
