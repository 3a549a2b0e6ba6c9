//! What every backend of the migration recipe must do, run against each:
//! `tests/migrate_sqlite.rs` and `tests/migrate_postgres.rs` call these
//! with a way to open their table (a fresh connection each time, as a
//! restarted job would have).

use std::collections::BTreeMap;

use tierseal::RecordKeys;
use tierseal::sql::migrate::{Progress, Stop};

use crate::common::{Customer, SealedCustomer, Services, chain, ctx};
use crate::migrate::{CustomerTable, run};

/// Every scenario below as a `#[test]` of the same name, run through
/// `$with`: a function that runs a scenario against one backend.
macro_rules! scenario_tests {
    ($with:ident) => {
        $crate::scenarios::scenario_tests!(
            $with:
            killed_twice_resumes_without_loss_or_double_sealing,
            plaintext_is_kept_when_the_sealed_values_do_not_open_to_it,
            a_row_that_cannot_be_sealed_is_named_and_nothing_is_written,
            a_missing_table_is_named,
            a_column_that_is_not_its_token_type_is_refused_by_type_never_by_value,
        );
    };
    ($with:ident: $($scenario:ident),* $(,)?) => {
        $(
            #[test]
            fn $scenario() {
                $with($crate::scenarios::$scenario);
            }
        )*
    };
}
pub(crate) use scenario_tests;

/// Opens the table of the given name afresh (a new connection, as a
/// restarted job makes).
pub(crate) type Opener<'a, T> = &'a dyn Fn(&str) -> T;

/// A scenario, run against one backend.
pub(crate) type Scenario<T> = fn(Opener<'_, T>, &Services);

/// Rows of the plaintext table the scenarios start with.
pub(crate) const ROWS: i64 = 25;

/// Row `id` of the plaintext table.
pub(crate) fn customer(id: i64) -> Customer {
    Customer {
        customer_id: id.to_string(),
        name: format!("Customer {id}"),
        email: format!("c{id}@example.com"),
        iban: format!("DE{:02} 3704 0044 0532 0130 {id:02}", id % 97),
    }
}

/// Rows `1..=count` of the plaintext table.
pub(crate) fn legacy_rows(count: i64) -> Vec<(i64, Customer)> {
    (1..=count).map(|id| (id, customer(id))).collect()
}

/// Killed after its second sealing transaction (before clearing it),
/// restarted and killed after two complete batches, then run to the end:
/// no row lost, none sealed twice, plaintext kept until its sealed values
/// were committed, and every row found by its IBAN and opened.
pub(crate) fn killed_twice_resumes_without_loss_or_double_sealing<T: CustomerTable>(
    open: Opener<'_, T>,
    services: &Services,
) {
    let mut table = open("legacy");
    table.create(&legacy_rows(ROWS)).unwrap();

    let first = run(&mut table, services, 4, Stop::AfterSealing(2)).unwrap();
    assert_eq!(
        first,
        Progress {
            sealed: 8,
            cleared: 4,
            batches: 1,
            stopped: true,
            pending: 0
        }
    );
    drop(table);
    let mut table = open("legacy");
    let after_first = table.record_keys().unwrap();
    assert_eq!(
        after_first.keys().copied().collect::<Vec<_>>(),
        (1..=8).collect::<Vec<_>>()
    );
    // Sealed but not yet cleared: plaintext stays until the next run.
    assert_eq!(
        table.with_plaintext().unwrap(),
        (5..=ROWS).collect::<Vec<_>>()
    );

    let second = run(&mut table, services, 4, Stop::AfterBatches(2)).unwrap();
    assert_eq!(
        second,
        Progress {
            sealed: 8,
            cleared: 12,
            batches: 2,
            stopped: true,
            pending: 0
        }
    );
    drop(table);
    let mut table = open("legacy");
    let after_second = table.record_keys().unwrap();
    unchanged(&after_first, &after_second);
    assert_eq!(
        table.with_plaintext().unwrap(),
        (17..=ROWS).collect::<Vec<_>>()
    );

    let third = run(&mut table, services, 4, Stop::Never).unwrap();
    assert!(!third.stopped);
    assert_eq!(third.pending, 0);
    assert_eq!(first.sealed + second.sealed + third.sealed, ROWS as u64);
    let done = table.record_keys().unwrap();
    unchanged(&after_second, &done);
    assert_eq!(done.len(), usize::try_from(ROWS).unwrap());
    assert!(table.with_plaintext().unwrap().is_empty());
    every_row_opens_and_is_found(&mut table, services, ROWS);

    // A run over a finished table does nothing.
    let again = run(&mut table, services, 4, Stop::Never).unwrap();
    assert_eq!(again, Progress::default());
}

/// Every row keeps the data keys it had in `before`: sealed once.
pub(crate) fn unchanged(before: &BTreeMap<i64, RecordKeys>, after: &BTreeMap<i64, RecordKeys>) {
    for (id, keys) in before {
        assert_eq!(after.get(id), Some(keys), "row {id} was sealed again");
    }
}

/// Rows `1..=rows` open to what they held and are found by their IBAN
/// (through the index column, with a search-only keyring).
pub(crate) fn every_row_opens_and_is_found<T: CustomerTable>(
    table: &mut T,
    services: &Services,
    rows: i64,
) {
    for id in 1..=rows {
        let sealed: SealedCustomer = table.read_sealed(id).unwrap().unwrap();
        assert_eq!(
            sealed.open_all(&services.payments, &ctx("test")).unwrap(),
            customer(id)
        );
        let index = SealedCustomer::index_iban(&services.screening, &customer(id).iban).unwrap();
        assert_eq!(table.find_by_iban(&index).unwrap(), [id]);
    }
}

/// Plaintext changed after its row was sealed (a writer not yet switched
/// over): the clearing step refuses, naming the row, and clears nothing of
/// that batch.
pub(crate) fn plaintext_is_kept_when_the_sealed_values_do_not_open_to_it<T: CustomerTable>(
    open: Opener<'_, T>,
    services: &Services,
) {
    let mut table = open("legacy");
    table.create(&legacy_rows(ROWS)).unwrap();
    run(&mut table, services, 4, Stop::AfterSealing(1)).unwrap();
    let name = table.name();
    table
        .execute(&format!(
            "UPDATE {name} SET email = 'changed@example.com' WHERE id = 2"
        ))
        .unwrap();
    let error = run(&mut table, services, 4, Stop::Never)
        .unwrap_err()
        .to_string();
    assert!(error.contains(&format!("row 2 of {name}")), "{error}");
    assert!(error.contains("do not open to the plaintext"), "{error}");
    assert!(!error.contains("changed@"), "{error}");
    // Nothing of the batch was cleared, and nothing after it was sealed.
    assert_eq!(
        table.with_plaintext().unwrap(),
        (1..=ROWS).collect::<Vec<_>>()
    );
    assert_eq!(table.record_keys().unwrap().len(), 4);
}

/// A keyring that cannot seal a row (here: it lacks the cards tier) fails
/// the batch naming the row, and writes nothing.
pub(crate) fn a_row_that_cannot_be_sealed_is_named_and_nothing_is_written<T: CustomerTable>(
    open: Opener<'_, T>,
    services: &Services,
) {
    let mut table = open("legacy");
    table.create(&legacy_rows(ROWS)).unwrap();
    let error =
        tierseal::sql::migrate::Migration::new(&services.support, crate::migrate::migration_ctx())
            .batch_size(4)
            .run(&mut table)
            .unwrap_err()
            .to_string();
    let name = table.name();
    assert!(error.contains(&format!("row 1 of {name}")), "{error}");
    assert!(error.contains("cannot seal"), "{error}");
    assert!(table.record_keys().unwrap().is_empty());
    assert_eq!(
        table.with_plaintext().unwrap(),
        (1..=ROWS).collect::<Vec<_>>()
    );
}

/// A table that does not exist is named.
pub(crate) fn a_missing_table_is_named<T: CustomerTable>(open: Opener<'_, T>, services: &Services) {
    let mut table = open("nope");
    let error = run(&mut table, services, 4, Stop::Never)
        .unwrap_err()
        .to_string();
    assert!(error.contains("nope` does not exist"), "{error}");
}

/// A sealed column holding something else than its token type is refused
/// by type, and the error never shows the value.
pub(crate) fn a_column_that_is_not_its_token_type_is_refused_by_type_never_by_value<
    T: CustomerTable,
>(
    open: Opener<'_, T>,
    services: &Services,
) {
    let mut table = open("legacy");
    table.create(&legacy_rows(ROWS)).unwrap();
    run(&mut table, services, 4, Stop::Never).unwrap();
    assert!(table.read_sealed(3).unwrap().is_some());
    let name = table.name();
    table
        .execute(&format!(
            "UPDATE {name} SET iban_sealed = 'DE03 3704 0044 0532 0130 03' WHERE id = 3"
        ))
        .unwrap();
    table
        .execute(&format!(
            r#"UPDATE {name} SET tierseal_keys = '["DE04 3704"]' WHERE id = 4"#
        ))
        .unwrap();
    for (id, type_name) in [(3, "SealedField"), (4, "RecordKeys")] {
        let error = chain(&*table.read_sealed(id).unwrap_err());
        assert!(error.contains(type_name), "{error}");
        assert!(!error.contains("3704"), "{error}");
    }
}
