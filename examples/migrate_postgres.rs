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

use common::BoxError;
use migrate_postgres::{PostgresCustomers, Schema};

fn main() -> Result<(), BoxError> {
    let config = migrate_postgres::config();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let schema = Schema::create(
        &config,
        &format!("tierseal_migrate_{}_{nanos}", std::process::id()),
    )?;
    let mut table = PostgresCustomers::connect(&config, &schema.table("customers"))?;
    let services = common::services()?;
    migrate::demo(&mut table, &services)
}
