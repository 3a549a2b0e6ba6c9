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
fn with_sqlite(scenario: fn(&dyn Fn(&str) -> SqliteCustomers, &common::Services)) {
    let services = common::services().unwrap();
    let path = services.dir.path().join("legacy.db");
    scenario(
        &|table| SqliteCustomers::open(&path, table).unwrap(),
        &services,
    );
}

#[test]
fn a_migration_killed_twice_resumes_without_loss_or_double_sealing() {
    with_sqlite(scenarios::killed_twice_resumes_without_loss_or_double_sealing);
}

#[test]
fn plaintext_is_kept_when_the_sealed_values_do_not_open_to_it() {
    with_sqlite(scenarios::plaintext_is_kept_when_the_sealed_values_do_not_open_to_it);
}

#[test]
fn a_row_that_cannot_be_sealed_is_named_and_nothing_is_written() {
    with_sqlite(scenarios::a_row_that_cannot_be_sealed_is_named_and_nothing_is_written);
}

#[test]
fn a_missing_table_is_named() {
    with_sqlite(scenarios::a_missing_table_is_named);
}

#[test]
fn a_column_that_is_not_its_token_type_is_refused_by_type_never_by_value() {
    with_sqlite(scenarios::a_column_that_is_not_its_token_type_is_refused_by_type_never_by_value);
}
