//! Sealing an existing plaintext SQLite table in place, in batches,
//! resumable: the recipe is in `examples/common/migrate.rs` (and tested,
//! kill and restart included, by `tests/migrate_sqlite.rs`).
//!
//! Run it with `cargo run --example migrate_sqlite --features sqlite`.
#![allow(clippy::print_stdout, reason = "an example prints its results")]

#[path = "common/customers.rs"]
#[allow(dead_code, reason = "shared with the other database examples")]
mod common;
#[path = "common/migrate.rs"]
mod migrate;

use rusqlite::{Connection, params};

use common::{BoxError, SealedCustomer, ensure};
use migrate::StopAt;

fn main() -> Result<(), BoxError> {
    let services = common::services()?;
    let path = services.dir.path().join("legacy.db");
    let mut db = Connection::open(&path)?;
    // The table an adopter starts with.
    db.execute_batch(
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, email TEXT, iban TEXT)",
    )?;
    for (i, customer) in common::customers().into_iter().enumerate() {
        db.execute(
            "INSERT INTO customers (id, name, email, iban) VALUES (?1, ?2, ?3, ?4)",
            params![
                i64::try_from(i)? + 1,
                customer.name,
                customer.email,
                customer.iban
            ],
        )?;
    }

    // A first run killed after one batch, then a run to the end.
    let first = migrate::migrate(
        &mut db,
        "customers",
        &services.onboarding,
        2,
        StopAt::AfterBatches(1),
    )?;
    println!("first run (killed): {first:?}");
    let second = migrate::migrate(&mut db, "customers", &services.onboarding, 2, StopAt::Never)?;
    println!("second run: {second:?}");
    ensure(
        first.sealed + second.sealed == common::customers().len(),
        "every row sealed once",
    )?;

    let left: i64 = db.query_row(
        "SELECT count(*) FROM customers WHERE name IS NOT NULL OR email IS NOT NULL OR iban IS NOT NULL",
        [],
        |r| r.get(0),
    )?;
    ensure(left == 0, "no plaintext left")?;
    let index =
        SealedCustomer::index_iban(&services.support, &"gb29nwbk60161331926819".to_owned())?;
    let id: i64 = db.query_row(
        "SELECT id FROM customers WHERE iban_index = ?1",
        [index],
        |r| r.get(0),
    )?;
    let found = migrate::read_sealed(&db, "customers", id)?.ok_or("row vanished")?;
    let view = found.open(&services.support, &common::ctx("support"))?;
    println!(
        "found by IBAN after the migration: {}",
        common::describe(&view)
    );
    Ok(())
}
