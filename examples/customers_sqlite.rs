//! Sealed customers in SQLite: one column per sealed field plus the blind
//! index columns, a lookup by IBAN through the index, and three services
//! that see different things of the row they found.
//!
//! Run it with `cargo run --example customers_sqlite --features sqlite`.
//!
//! No column is converted by hand: with `tierseal`'s `rusqlite` feature
//! the sealed fields (`SealedField`), the mask (`SealedMask`), the index
//! columns ([`BlindIndex`]) and the record's keys (`RecordKeys`, a JSON
//! array of tokens) are rusqlite column values, bound with `params![...]`
//! and read with `row.get(..)`. All are TEXT columns; a value that is not
//! the expected token type reads as an error naming the type, never the
//! value.
#![allow(clippy::print_stdout, reason = "an example prints its results")]

#[path = "common/customers.rs"]
#[allow(dead_code, reason = "shared with the PostgreSQL example")]
mod common;

use rusqlite::{Connection, params, params_from_iter};
use tierseal::{BlindIndex, Classified, Keyring, RecordKeys, SealedField, SealedMask};

use common::{BoxError, SealedCustomer, cards, ctx, ensure};

const SCHEMA: &str = "
    CREATE TABLE customers (
        customer_id   TEXT PRIMARY KEY,
        name          TEXT NOT NULL,
        email         TEXT NOT NULL,
        email_index   TEXT NOT NULL,
        iban          TEXT NOT NULL,
        iban_mask     TEXT NOT NULL,
        iban_index    TEXT NOT NULL,
        tierseal_keys TEXT NOT NULL
    );
    CREATE INDEX customers_by_iban ON customers (iban_index);
    CREATE INDEX customers_by_email ON customers (email_index);
";

const COLUMNS: &str =
    "customer_id, name, email, email_index, iban, iban_mask, iban_index, tierseal_keys";

fn insert(db: &Connection, sealed: &SealedCustomer) -> Result<(), BoxError> {
    db.execute(
        &format!("INSERT INTO customers ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
        params![
            sealed.customer_id,
            sealed.name,
            sealed.email,
            sealed.email_index,
            sealed.iban,
            sealed.iban_mask,
            sealed.iban_index,
            sealed.tierseal_keys,
        ],
    )?;
    Ok(())
}

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SealedCustomer> {
    Ok(SealedCustomer {
        customer_id: r.get(0)?,
        name: r.get::<_, SealedField>(1)?,
        email: r.get(2)?,
        email_index: r.get::<_, BlindIndex>(3)?,
        iban: r.get(4)?,
        iban_mask: r.get::<_, SealedMask>(5)?,
        iban_index: r.get(6)?,
        tierseal_keys: r.get::<_, RecordKeys>(7)?,
    })
}

/// `WHERE iban_index IN (...)`: one candidate per live index key version,
/// so that rows not yet re-indexed after an index key rotation are found.
fn find_by_iban(
    db: &Connection,
    keyring: &Keyring,
    iban: &str,
) -> Result<Vec<SealedCustomer>, BoxError> {
    let candidates = SealedCustomer::index_iban_candidates(keyring, &iban.to_owned())?;
    let placeholders = vec!["?"; candidates.len()].join(", ");
    let mut statement = db.prepare(&format!(
        "SELECT {COLUMNS} FROM customers WHERE iban_index IN ({placeholders})"
    ))?;
    let rows = statement.query_map(params_from_iter(candidates.iter()), read_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The re-index job after an index key rotation: in batches ordered by
/// primary key (a cursor makes it resumable), recompute the index columns
/// of rows whose index was computed with an older index key version.
fn reindex(db: &mut Connection, keyring: &Keyring, batch: usize) -> Result<usize, BoxError> {
    let mut cursor = String::new();
    let mut changed = 0;
    loop {
        let tx = db.transaction()?;
        let rows: Vec<SealedCustomer> = {
            let mut statement = tx.prepare(&format!(
                "SELECT {COLUMNS} FROM customers WHERE customer_id > ?1 ORDER BY customer_id LIMIT ?2"
            ))?;
            statement
                .query_map(params![cursor, i64::try_from(batch)?], read_row)?
                .collect::<Result<_, _>>()?
        };
        let Some(last) = rows.last() else {
            break;
        };
        cursor.clone_from(&last.customer_id);
        for mut sealed in rows {
            if sealed.reindex(keyring, &ctx("reindex-job"))? {
                tx.execute(
                    "UPDATE customers SET iban_index = ?1, email_index = ?2 WHERE customer_id = ?3",
                    params![sealed.iban_index, sealed.email_index, sealed.customer_id],
                )?;
                changed += 1;
            }
        }
        tx.commit()?;
    }
    Ok(changed)
}

fn main() -> Result<(), BoxError> {
    let mut services = common::services()?;
    let mut db = Connection::open(services.dir.path().join("customers.db"))?;
    db.execute_batch(SCHEMA)?;

    // Onboarding seals and stores every customer.
    let tx = db.transaction()?;
    for customer in common::customers() {
        insert(&tx, &customer.seal(&services.onboarding)?)?;
    }
    tx.commit()?;
    println!("stored {} sealed customers", common::customers().len());

    // A caller gives an IBAN, spaced and cased their own way.
    let asked = "de89370400440532013000";
    services.look_up_as_each_service(asked, |keyring, asked| find_by_iban(&db, keyring, asked))?;
    ensure(
        find_by_iban(&db, &services.support, "FR76 3000 6000 0112 3456 7890 189")?.is_empty(),
        "an unknown IBAN finds nothing",
    )?;

    // The custodian rotates the cards index key; until the re-index job
    // has run, lookups match either version.
    let version = services.keystore.rotate_index(&cards())?;
    services.reload()?;
    println!("rotated the cards index key to v{version}");
    ensure(
        find_by_iban(&db, &services.support, asked)?.len() == 1,
        "found mid-rotation",
    )?;
    let changed = reindex(&mut db, &services.payments, 3)?;
    println!("re-indexed {changed} rows");
    ensure(changed == common::customers().len(), "every row re-indexed")?;
    ensure(
        reindex(&mut db, &services.payments, 3)? == 0,
        "a second run changes nothing",
    )?;
    services.keystore.retire_index(&cards(), version - 1)?;
    services.reload()?;
    let found = find_by_iban(&db, &services.screening, asked)?;
    ensure(found.len() == 1, "found after the old index key is retired")?;
    let stored: BlindIndex = db.query_row(
        "SELECT iban_index FROM customers WHERE customer_id = 'cus_001'",
        [],
        |r| r.get(0),
    )?;
    ensure(
        stored.version() == version,
        "the stored index names the new version",
    )?;
    println!(
        "after retiring index key v{}: still found, stored as v{}",
        version - 1,
        stored.version()
    );

    // A column that does not hold a sealed field (here: plaintext a legacy
    // writer left behind) does not read as one; the error names the type
    // and the column, never the value.
    db.execute(
        "UPDATE customers SET iban = 'GB29 NWBK 6016 1331 9268 19' WHERE customer_id = 'cus_004'",
        [],
    )?;
    let refused = db
        .query_row(
            &format!("SELECT {COLUMNS} FROM customers WHERE customer_id = 'cus_004'"),
            [],
            read_row,
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    ensure(
        refused.contains("SealedField") && !refused.contains("GB29"),
        "plaintext in a sealed column is refused without being shown",
    )?;
    println!("plaintext in a sealed column: {refused}");
    Ok(())
}
