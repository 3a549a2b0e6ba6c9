//! The SQLite example's flow on PostgreSQL: sealed customers in a table
//! with one column per sealed field plus the blind index columns, a lookup
//! by IBAN through an ordinary B-tree index, and three services that see
//! different things of the row they found.
//!
//! Run it with `cargo run --example customers_postgres --features postgres`
//! against the server named by `TIERSEAL_TEST_PG` (a libpq-style
//! connection string; default `host=127.0.0.1 user=postgres dbname=test`).
//! It works in a schema of its own, dropped at the end.
//!
//! The client is the synchronous `postgres` crate (rust-postgres): its
//! column traits come from `postgres-types`, shared with `tokio-postgres`,
//! so the same `ToSql`/`FromSql` impls serve async services too. No
//! column is converted by hand: with `tierseal`'s `postgres` feature the
//! sealed fields (`SealedField`), the mask (`SealedMask`) and the index
//! columns ([`BlindIndex`](tierseal::BlindIndex), arrays of them
//! included) bind and read as `text`, and the record's keys
//! (`RecordKeys`) as `jsonb` (a JSON array of tokens; `text` works too).
#![allow(clippy::print_stdout, reason = "an example prints its results")]

#[path = "common/customers.rs"]
#[allow(dead_code, reason = "shared with the SQLite example")]
mod common;
#[path = "common/pg.rs"]
#[allow(dead_code, reason = "shared with the other PostgreSQL examples")]
mod pg;

use postgres::Client;
use tierseal::{BlindIndex, Classified, Keyring, RecordKeys, SealedField, SealedMask};

use common::{BoxError, SealedCustomer, cards, chain, ctx, ensure};

const COLUMNS: &str =
    "customer_id, name, email, email_index, iban, iban_mask, iban_index, tierseal_keys";

fn read_row(row: &postgres::Row) -> Result<SealedCustomer, BoxError> {
    Ok(SealedCustomer {
        customer_id: row.try_get(0)?,
        name: row.try_get::<_, SealedField>(1)?,
        email: row.try_get(2)?,
        email_index: row.try_get::<_, BlindIndex>(3)?,
        iban: row.try_get(4)?,
        iban_mask: row.try_get::<_, SealedMask>(5)?,
        iban_index: row.try_get(6)?,
        tierseal_keys: row.try_get::<_, RecordKeys>(7)?,
    })
}

/// `WHERE iban_index = ANY($1)`: one candidate per live index key version.
fn find_by_iban(
    client: &mut Client,
    table: &str,
    keyring: &Keyring,
    iban: &str,
) -> Result<Vec<SealedCustomer>, BoxError> {
    let candidates = SealedCustomer::index_iban_candidates(keyring, &iban.to_owned())?;
    client
        .query(
            &format!("SELECT {COLUMNS} FROM {table} WHERE iban_index = ANY($1)"),
            &[&candidates],
        )?
        .iter()
        .map(read_row)
        .collect()
}

/// The re-index job: batches in primary-key order (resumable from the
/// cursor), each one transaction.
fn reindex(
    client: &mut Client,
    table: &str,
    keyring: &Keyring,
    batch: i64,
) -> Result<usize, BoxError> {
    let mut cursor = String::new();
    let mut changed = 0;
    loop {
        let mut tx = client.transaction()?;
        let rows = tx.query(
            &format!(
                "SELECT {COLUMNS} FROM {table} WHERE customer_id > $1 ORDER BY customer_id LIMIT $2 FOR UPDATE"
            ),
            &[&cursor, &batch],
        )?;
        let Some(last) = rows.last() else {
            break;
        };
        cursor = last.try_get(0)?;
        for row in &rows {
            let mut sealed = read_row(row)?;
            if sealed.reindex(keyring, &ctx("reindex-job"))? {
                tx.execute(
                    &format!("UPDATE {table} SET iban_index = $1, email_index = $2 WHERE customer_id = $3"),
                    &[&sealed.iban_index, &sealed.email_index, &sealed.customer_id],
                )?;
                changed += 1;
            }
        }
        tx.commit()?;
    }
    Ok(changed)
}

fn main() -> Result<(), BoxError> {
    let config = pg::config();
    // Dropped, with the table, when the example ends (even on error).
    let schema = pg::Schema::create(&config, &pg::unique_name("tierseal_customers"))?;
    let name = schema.table("customers");
    let mut client = pg::connect(&config)?;
    client.batch_execute(&format!(
        "CREATE TABLE {name} (
            customer_id   TEXT PRIMARY KEY,
            name          TEXT NOT NULL,
            email         TEXT NOT NULL,
            email_index   TEXT NOT NULL,
            iban          TEXT NOT NULL,
            iban_mask     TEXT NOT NULL,
            iban_index    TEXT NOT NULL,
            tierseal_keys JSONB NOT NULL
        );
        CREATE INDEX customers_by_iban ON {name} (iban_index);
        CREATE INDEX customers_by_email ON {name} (email_index);"
    ))?;
    run(&mut client, &name)
}

fn run(client: &mut Client, table: &str) -> Result<(), BoxError> {
    let mut services = common::services()?;
    let mut tx = client.transaction()?;
    for customer in common::customers() {
        let sealed = customer.seal(&services.onboarding)?;
        insert_tx(&mut tx, table, &sealed)?;
    }
    tx.commit()?;
    println!(
        "stored {} sealed customers in {table}",
        common::customers().len()
    );

    let asked = "de89370400440532013000";
    services.look_up_as_each_service(asked, |keyring, asked| {
        find_by_iban(client, table, keyring, asked)
    })?;

    let version = services.keystore.rotate_index(&cards())?;
    services.reload()?;
    println!("rotated the cards index key to v{version}");
    ensure(
        find_by_iban(client, table, &services.support, asked)?.len() == 1,
        "found mid-rotation",
    )?;
    let changed = reindex(client, table, &services.payments, 3)?;
    println!("re-indexed {changed} rows");
    ensure(changed == common::customers().len(), "every row re-indexed")?;
    services.keystore.retire_index(&cards(), version - 1)?;
    services.reload()?;
    ensure(
        find_by_iban(client, table, &services.screening, asked)?.len() == 1,
        "found after the old index key is retired",
    )?;
    let stored: BlindIndex = client
        .query_one(
            &format!("SELECT iban_index FROM {table} WHERE customer_id = 'cus_001'"),
            &[],
        )?
        .try_get(0)?;
    ensure(
        stored.version() == version,
        "the stored index names the new version",
    )?;
    println!("after retiring index key v{}: still found", version - 1);

    // The record's keys are JSON to the database too: a JSONB query sees
    // one wrapped key per tier the record uses.
    let tiers: i32 = client
        .query_one(
            &format!("SELECT jsonb_array_length(tierseal_keys) FROM {table} WHERE customer_id = 'cus_001'"),
            &[],
        )?
        .try_get(0)?;
    ensure(
        usize::try_from(tiers)? == stored_keys(client, table)?.keys().len(),
        "jsonb holds the record's keys",
    )?;
    println!("cus_001 has {tiers} wrapped data keys in its jsonb column");

    // A column that does not hold a sealed field (plaintext a legacy writer
    // left behind) does not read as one; the error names the type, never
    // the value.
    client.execute(
        &format!(
            "UPDATE {table} SET iban = 'GB29 NWBK 6016 1331 9268 19' WHERE customer_id = 'cus_004'"
        ),
        &[],
    )?;
    let row = client.query_one(
        &format!("SELECT {COLUMNS} FROM {table} WHERE customer_id = 'cus_004'"),
        &[],
    )?;
    let refused = read_row(&row).err().map(|e| chain(&*e)).unwrap_or_default();
    ensure(
        refused.contains("SealedField") && !refused.contains("GB29"),
        "plaintext in a sealed column is refused without being shown",
    )?;
    println!("plaintext in a sealed column: {refused}");
    Ok(())
}

fn insert_tx(
    tx: &mut postgres::Transaction<'_>,
    table: &str,
    sealed: &SealedCustomer,
) -> Result<(), BoxError> {
    tx.execute(
        &format!("INSERT INTO {table} ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"),
        &[
            &sealed.customer_id,
            &sealed.name,
            &sealed.email,
            &sealed.email_index,
            &sealed.iban,
            &sealed.iban_mask,
            &sealed.iban_index,
            &sealed.tierseal_keys,
        ],
    )?;
    Ok(())
}

fn stored_keys(client: &mut Client, table: &str) -> Result<RecordKeys, BoxError> {
    Ok(client
        .query_one(
            &format!("SELECT tierseal_keys FROM {table} WHERE customer_id = 'cus_001'"),
            &[],
        )?
        .try_get(0)?)
}
