//! The SQLite example's flow on PostgreSQL: sealed customers in a table
//! with one column per sealed field plus the blind index columns, a lookup
//! by IBAN through an ordinary B-tree index, and three services that see
//! different things of the row they found.
//!
//! Run it with `cargo run --example customers_postgres --features postgres`
//! against the server named by `TIERSEAL_TEST_PG` (a libpq-style
//! connection string; default `host=127.0.0.1 user=postgres dbname=test`).
//! It works in a table of its own, dropped at the end.
//!
//! The client is the synchronous `postgres` crate (rust-postgres): its
//! column traits come from `postgres-types`, shared with `tokio-postgres`,
//! so the same `ToSql`/`FromSql` impls serve async services too. Sealed
//! fields are bound as TEXT through their token text; the index columns
//! bind as [`BlindIndex`](tierseal::BlindIndex) values directly
//! (`tierseal`'s `postgres` feature), arrays of them included.
#![allow(clippy::print_stdout, reason = "an example prints its results")]

#[path = "common/customers.rs"]
#[allow(dead_code, reason = "shared with the SQLite example")]
mod common;

use postgres::{Client, NoTls};
use tierseal::{BlindIndex, Classified, Error, Keyring, SealedRecord};

use common::{BoxError, SealedCustomer, cards, ctx, describe, ensure};

const COLUMNS: &str =
    "customer_id, name, email, email_index, iban, iban_mask, iban_index, tierseal_keys";

/// The example's own table, dropped when the example ends (even on error).
struct Table<'c> {
    client: &'c mut Client,
    name: String,
}

impl Drop for Table<'_> {
    fn drop(&mut self) {
        if let Err(error) = self
            .client
            .batch_execute(&format!("DROP TABLE IF EXISTS {}", self.name))
        {
            eprintln!("could not drop table {}: {error}", self.name);
        }
    }
}

fn read_row(row: &postgres::Row) -> Result<SealedCustomer, BoxError> {
    let text = |i: usize| row.try_get::<_, String>(i);
    Ok(SealedCustomer {
        customer_id: text(0)?,
        name: text(1)?.parse()?,
        email: text(2)?.parse()?,
        email_index: row.try_get(3)?,
        iban: text(4)?.parse()?,
        iban_mask: common::parse_mask(&text(5)?)?,
        iban_index: row.try_get(6)?,
        tierseal_keys: common::parse_keys(&text(7)?)?,
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
    let config = std::env::var("TIERSEAL_TEST_PG")
        .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".to_owned());
    let mut client = Client::connect(&config, NoTls).map_err(|error| {
        format!("cannot connect to PostgreSQL at `{config}` (set TIERSEAL_TEST_PG; check `pg_isready -h 127.0.0.1`): {error}")
    })?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = format!("tierseal_customers_{}_{nanos}", std::process::id());
    client.batch_execute(&format!(
        "CREATE TABLE {name} (
            customer_id   TEXT PRIMARY KEY,
            name          TEXT NOT NULL,
            email         TEXT NOT NULL,
            email_index   TEXT NOT NULL,
            iban          TEXT NOT NULL,
            iban_mask     TEXT NOT NULL,
            iban_index    TEXT NOT NULL,
            tierseal_keys TEXT NOT NULL
        );
        CREATE INDEX {name}_by_iban ON {name} (iban_index);
        CREATE INDEX {name}_by_email ON {name} (email_index);"
    ))?;
    let table = Table {
        client: &mut client,
        name,
    };
    run(table.client, &table.name)
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
    for (service, keyring) in [
        ("payments", &services.payments),
        ("support", &services.support),
        ("screening", &services.screening),
    ] {
        let found = find_by_iban(client, table, keyring, asked)?;
        ensure(
            found.len() == 1,
            "the lookup by IBAN finds exactly one customer",
        )?;
        let Some(sealed) = found.first() else {
            continue;
        };
        let view = sealed.open(keyring, &ctx(service))?;
        println!("{service:<10} found {}", describe(&view));
        match service {
            "payments" => ensure(
                sealed.open_all(keyring, &ctx(service))?.iban == "DE89 3704 0044 0532 0130 00",
                "payments reads the IBAN",
            )?,
            "support" => ensure(
                view.iban.is_withheld() && view.name.value().is_some(),
                "support reads the name, not the IBAN",
            )?,
            _ => {
                ensure(view.name.is_withheld(), "screening reads nothing")?;
                ensure(
                    matches!(
                        SealedRecord::open_all(sealed, keyring, &ctx(service)),
                        Err(Error::NotGranted { .. })
                    ),
                    "screening cannot open the record",
                )?;
                println!("{service:<10} cannot open it: search only");
            }
        }
    }

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
            &sealed.name.to_text(),
            &sealed.email.to_text(),
            &sealed.email_index,
            &sealed.iban.to_text(),
            &common::mask_text(&sealed.iban_mask),
            &sealed.iban_index,
            &common::keys_text(&sealed.tierseal_keys)?,
        ],
    )?;
    Ok(())
}
