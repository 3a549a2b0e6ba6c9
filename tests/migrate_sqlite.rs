//! The in-place migration recipe over SQLite (`examples/migrate_sqlite.rs`,
//! backend `examples/common/migrate_sqlite.rs`): killed midway and
//! restarted, nothing is lost and nothing sealed twice. The scenarios are
//! shared with PostgreSQL (`tests/support/migration.rs`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "test code"
)]

#[path = "../examples/common/customers.rs"]
#[allow(dead_code, reason = "shared with the examples")]
mod common;
#[path = "../examples/common/migrate.rs"]
#[allow(dead_code, reason = "shared with the examples")]
mod migrate;
#[path = "../examples/common/migrate_sqlite.rs"]
#[allow(dead_code, reason = "shared with the examples")]
mod migrate_sqlite;
#[path = "support/migration.rs"]
#[allow(dead_code, reason = "shared with the PostgreSQL tests")]
mod scenarios;

use migrate_sqlite::SqliteCustomers;

/// Runs `scenario` with a database file of its own, opened afresh by
/// every call of the opener (as a restarted job would open it).
fn with_sqlite(scenario: scenarios::Scenario<SqliteCustomers>) {
    let services = common::services().unwrap();
    let path = services.dir.path().join("legacy.db");
    scenario(
        &|table| SqliteCustomers::open(&path, table).unwrap(),
        &services,
    );
}

scenarios::scenario_tests!(with_sqlite);
