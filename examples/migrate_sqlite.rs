//! Sealing an existing plaintext SQLite table in place, in batches,
//! resumable: the recipe is `tierseal::sql::migrate` with the SQLite
//! backend in `examples/common/migrate_sqlite.rs` (the PostgreSQL one is
//! `migrate_postgres.rs`), tested, kills and restarts included, by
//! `tests/migrate_sqlite.rs`.
//!
//! Run it with `cargo run --example migrate_sqlite --features sqlite`.

#[path = "common/customers.rs"]
#[allow(dead_code, reason = "shared with the other database examples")]
mod common;
#[path = "common/migrate.rs"]
#[allow(dead_code, reason = "shared with the PostgreSQL example and the tests")]
mod migrate;
#[path = "common/migrate_sqlite.rs"]
#[allow(dead_code, reason = "shared with the tests")]
mod migrate_sqlite;

use common::BoxError;
use migrate_sqlite::SqliteCustomers;

fn main() -> Result<(), BoxError> {
    let services = common::services()?;
    let mut table = SqliteCustomers::open(&services.dir.path().join("legacy.db"), "customers")?;
    migrate::demo(&mut table, &services)
}
