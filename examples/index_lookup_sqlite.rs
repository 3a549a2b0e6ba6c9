//! Lookup by blind index on a large SQLite table with an ordinary B-tree
//! index: builds a table of `ROWS` rows (default 1,000,000; argument 1
//! overrides) holding an IBAN's blind index and a payload, then times
//! lookups of present and absent IBANs through the index, and prints the
//! query plan to show the index is used.
//!
//! `cargo run --release --example index_lookup_sqlite --features sqlite [ROWS]`.
//! Figures: docs/PERFORMANCE.md.
#![allow(clippy::print_stdout, reason = "an example prints its results")]

use std::time::Instant;

use rusqlite::{Connection, params};
use tierseal::{BlindIndex, Clearance, IndexField, KdfProfile, Keystore, Tier};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn iban(i: u64) -> String {
    format!("DE{:02}37040044{:010}", i % 97, i)
}

fn main() -> Result<(), BoxError> {
    let rows: u64 = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    // KdfProfile::Test is cheap and NOT for production keystores.
    let mut keystore = Keystore::create(dir.path().join("k"), &"bench".into(), KdfProfile::Test)?;
    let cards: Tier = "restricted/cards".parse()?;
    keystore.add_tier(&cards)?;
    let keyring = keystore.search_keyring(&Clearance::none().with(cards.clone()))?;
    let field = IndexField::new(&cards, "Customer", "iban");

    let mut db = Connection::open(dir.path().join("lookup.db"))?;
    db.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
         CREATE TABLE customers (id INTEGER PRIMARY KEY, iban_index TEXT NOT NULL, payload TEXT NOT NULL);",
    )?;
    let started = Instant::now();
    let tx = db.transaction()?;
    {
        let mut insert =
            tx.prepare("INSERT INTO customers (id, iban_index, payload) VALUES (?1, ?2, ?3)")?;
        for i in 0..rows {
            let index = keyring.blind_index(field, iban(i).as_bytes())?;
            insert.execute(params![
                i64::try_from(i)?,
                index,
                "tierseal:payload-stand-in"
            ])?;
        }
    }
    tx.commit()?;
    let filled = started.elapsed();
    let started = Instant::now();
    db.execute_batch("CREATE INDEX customers_by_iban ON customers (iban_index); ANALYZE;")?;
    let indexed = started.elapsed();
    println!(
        "{rows} rows: filled in {:.1} s (index computed per row), B-tree index built in {:.1} s",
        filled.as_secs_f64(),
        indexed.as_secs_f64()
    );

    let plan: String = db.query_row(
        "EXPLAIN QUERY PLAN SELECT id, payload FROM customers WHERE iban_index = ?1",
        ["x"],
        |r| r.get(3),
    )?;
    println!("plan: {plan}");
    if !plan.contains("customers_by_iban") {
        return Err("the lookup does not use the index".into());
    }

    let lookups = 20_000u64;
    let mut statement = db.prepare("SELECT id, payload FROM customers WHERE iban_index = ?1")?;
    for (label, offset) in [("present", 0u64), ("absent", rows)] {
        let started = Instant::now();
        let mut found = 0u64;
        for n in 0..lookups {
            let i = offset + (n * 7_919) % rows.max(1);
            let index: BlindIndex = keyring.blind_index(field, iban(i).as_bytes())?;
            let mut hits = statement.query([index])?;
            while hits.next()?.is_some() {
                found += 1;
            }
        }
        let elapsed = started.elapsed();
        let expected = if offset == 0 { lookups } else { 0 };
        if found != expected {
            return Err(format!("{label}: found {found} rows, expected {expected}").into());
        }
        println!(
            "{label:<8} {lookups} lookups (index computation + query): {:.1} µs each, {:.0} lookups/s",
            elapsed.as_secs_f64() * 1e6 / lookups as f64,
            lookups as f64 / elapsed.as_secs_f64()
        );
    }
    Ok(())
}
