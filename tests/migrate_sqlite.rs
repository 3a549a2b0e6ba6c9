//! The in-place migration recipe of `examples/migrate_sqlite.rs`: killed
//! midway and restarted, nothing is lost and nothing sealed twice.
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

use std::collections::BTreeMap;

use rusqlite::{Connection, params};
use tierseal::RecordKeys;

use common::{Customer, SealedCustomer, ctx};
use migrate::{Progress, StopAt};

const ROWS: i64 = 25;

fn customer(id: i64) -> Customer {
    Customer {
        customer_id: id.to_string(),
        name: format!("Customer {id}"),
        email: format!("c{id}@example.com"),
        iban: format!("DE{:02} 3704 0044 0532 0130 {id:02}", id % 97),
    }
}

fn legacy_table(db: &Connection) {
    db.execute_batch(
        "CREATE TABLE legacy (id INTEGER PRIMARY KEY, name TEXT, email TEXT, iban TEXT)",
    )
    .unwrap();
    for id in 1..=ROWS {
        let c = customer(id);
        db.execute(
            "INSERT INTO legacy VALUES (?1, ?2, ?3, ?4)",
            params![id, c.name, c.email, c.iban],
        )
        .unwrap();
    }
}

/// `tierseal_keys` of every sealed row, read as the column value it is:
/// a row sealed twice would get new data keys.
fn sealed_keys(db: &Connection) -> BTreeMap<i64, RecordKeys> {
    db.prepare("SELECT id, tierseal_keys FROM legacy WHERE tierseal_keys IS NOT NULL")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn with_plaintext(db: &Connection) -> Vec<i64> {
    db.prepare(
        "SELECT id FROM legacy WHERE name IS NOT NULL OR email IS NOT NULL OR iban IS NOT NULL ORDER BY id",
    )
    .unwrap()
    .query_map([], |r| r.get(0))
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

#[test]
fn a_migration_killed_twice_resumes_without_loss_or_double_sealing() {
    let services = common::services().unwrap();
    let keyring = &services.onboarding;
    let path = services.dir.path().join("legacy.db");
    let mut db = Connection::open(&path).unwrap();
    legacy_table(&db);

    // Killed after its second sealing transaction, before clearing it.
    let first = migrate::migrate(&mut db, "legacy", keyring, 4, StopAt::AfterSealing(2)).unwrap();
    assert_eq!(
        first,
        Progress {
            sealed: 8,
            cleared: 4,
            batches: 1,
            stopped: true
        }
    );
    drop(db);
    let mut db = Connection::open(&path).unwrap();
    let after_first = sealed_keys(&db);
    assert_eq!(
        after_first.keys().copied().collect::<Vec<_>>(),
        (1..=8).collect::<Vec<_>>()
    );
    // Sealed but not yet cleared: plaintext stays until the next run.
    assert_eq!(with_plaintext(&db), (5..=ROWS).collect::<Vec<_>>());

    // Restarted, and killed again after two complete batches.
    let second = migrate::migrate(&mut db, "legacy", keyring, 4, StopAt::AfterBatches(2)).unwrap();
    assert_eq!(
        second,
        Progress {
            sealed: 8,
            cleared: 12,
            batches: 2,
            stopped: true
        }
    );
    drop(db);
    let mut db = Connection::open(&path).unwrap();
    let after_second = sealed_keys(&db);
    for (id, keys) in &after_first {
        assert_eq!(
            after_second.get(id),
            Some(keys),
            "row {id} was sealed again"
        );
    }
    assert_eq!(with_plaintext(&db), (17..=ROWS).collect::<Vec<_>>());

    // Run to the end.
    let third = migrate::migrate(&mut db, "legacy", keyring, 4, StopAt::Never).unwrap();
    assert!(!third.stopped);
    assert_eq!(
        first.sealed + second.sealed + third.sealed,
        usize::try_from(ROWS).unwrap()
    );
    let done = sealed_keys(&db);
    for (id, keys) in &after_second {
        assert_eq!(done.get(id), Some(keys), "row {id} was sealed again");
    }
    assert_eq!(done.len(), usize::try_from(ROWS).unwrap());
    assert!(with_plaintext(&db).is_empty());

    // Every row opens to what it held, and is found by its IBAN.
    for id in 1..=ROWS {
        let sealed: SealedCustomer = migrate::read_sealed(&db, "legacy", id).unwrap().unwrap();
        assert_eq!(
            sealed.open_all(keyring, &ctx("test")).unwrap(),
            customer(id)
        );
        let index = SealedCustomer::index_iban(&services.screening, &customer(id).iban).unwrap();
        let found: i64 = db
            .query_row(
                "SELECT id FROM legacy WHERE iban_index = ?1",
                [index],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(found, id);
    }
    // A run over a finished table does nothing.
    let again = migrate::migrate(&mut db, "legacy", keyring, 4, StopAt::Never).unwrap();
    assert_eq!(again, Progress::default());
}

#[test]
fn plaintext_is_kept_when_the_sealed_values_do_not_open_to_it() {
    let services = common::services().unwrap();
    let mut db = Connection::open_in_memory().unwrap();
    legacy_table(&db);
    migrate::migrate(
        &mut db,
        "legacy",
        &services.onboarding,
        4,
        StopAt::AfterSealing(1),
    )
    .unwrap();
    // The plaintext changed after sealing (a writer not yet switched over).
    db.execute(
        "UPDATE legacy SET email = 'changed@example.com' WHERE id = 2",
        [],
    )
    .unwrap();
    let error = migrate::migrate(&mut db, "legacy", &services.onboarding, 4, StopAt::Never)
        .unwrap_err()
        .to_string();
    assert!(error.contains("row 2 of legacy"), "{error}");
    let email: Option<String> = db
        .query_row("SELECT email FROM legacy WHERE id = 2", [], |r| r.get(0))
        .unwrap();
    assert_eq!(email.as_deref(), Some("changed@example.com"));
}

#[test]
fn a_missing_table_is_named() {
    let services = common::services().unwrap();
    let mut db = Connection::open_in_memory().unwrap();
    let error = migrate::migrate(&mut db, "nope", &services.onboarding, 4, StopAt::Never)
        .unwrap_err()
        .to_string();
    assert!(error.contains("table `nope` does not exist"), "{error}");
}

#[test]
fn a_column_that_is_not_its_token_type_is_refused_by_type_never_by_value() {
    let services = common::services().unwrap();
    let mut db = Connection::open_in_memory().unwrap();
    legacy_table(&db);
    migrate::migrate(&mut db, "legacy", &services.onboarding, 4, StopAt::Never).unwrap();
    assert!(migrate::read_sealed(&db, "legacy", 3).unwrap().is_some());

    // Plaintext in a sealed column, and a keys column that is not a list.
    db.execute(
        "UPDATE legacy SET iban_sealed = 'DE03 3704 0044 0532 0130 03' WHERE id = 3",
        [],
    )
    .unwrap();
    db.execute(
        r#"UPDATE legacy SET tierseal_keys = '["DE04 3704"]' WHERE id = 4"#,
        [],
    )
    .unwrap();
    for (id, type_name) in [(3, "SealedField"), (4, "RecordKeys")] {
        let error = migrate::read_sealed(&db, "legacy", id)
            .unwrap_err()
            .to_string();
        assert!(error.contains(type_name), "{error}");
        assert!(!error.contains("3704"), "{error}");
    }
}
