//! `BlindIndex` as a PostgreSQL column value (feature `postgres`), against
//! the server named by `TIERSEAL_TEST_PG` (default
//! `host=127.0.0.1 user=postgres dbname=test`).
//!
//! Run: `cargo test --test index_postgres --features postgres`. Without a
//! server it prints `skipped: ...` and passes, unless
//! `TIERSEAL_REQUIRE_SERVICES=1`, when it fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "test code"
)]

use postgres::{Client, NoTls};
use tierseal::BlindIndex;

fn client() -> Option<Client> {
    let config = std::env::var("TIERSEAL_TEST_PG")
        .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".to_owned());
    match Client::connect(&config, NoTls) {
        Ok(client) => Some(client),
        Err(error) => {
            assert!(
                std::env::var("TIERSEAL_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "PostgreSQL at `{config}` is required (TIERSEAL_REQUIRE_SERVICES=1): {error}"
            );
            eprintln!(
                "skipped: PostgreSQL at `{config}` (run: pg_isready -h 127.0.0.1, then cargo test --test index_postgres --features postgres)"
            );
            None
        }
    }
}

#[test]
fn a_blind_index_binds_reads_and_matches_in_arrays() {
    let Some(mut client) = client() else { return };
    let table = format!("tierseal_index_{}", std::process::id());
    client
        .batch_execute(&format!(
            "CREATE TABLE {table} (id INT, i TEXT, v VARCHAR(64))"
        ))
        .unwrap();
    let result = (|| -> Result<(), Box<dyn std::error::Error>> {
        let one: BlindIndex = "tsidx:v1:q6urq6urq6urq6urq6urqw".parse()?;
        let two: BlindIndex = "tsidx:v2:AAAAAAAAAAAAAAAAAAAAAA".parse()?;
        client.execute(
            &format!("INSERT INTO {table} VALUES (1, $1, $2)"),
            &[&one, &one],
        )?;
        client.execute(
            &format!("INSERT INTO {table} VALUES (2, $1, $2)"),
            &[&two, &two],
        )?;
        let text: String = client
            .query_one(&format!("SELECT i FROM {table} WHERE id = 1"), &[])?
            .get(0);
        assert_eq!(text, one.to_text());
        let back: BlindIndex = client
            .query_one(&format!("SELECT v FROM {table} WHERE id = 2"), &[])?
            .get(0);
        assert_eq!(back, two);
        let ids: Vec<i32> = client
            .query(
                &format!("SELECT id FROM {table} WHERE i = ANY($1) ORDER BY id"),
                &[&vec![two, one]],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(ids, [1, 2]);
        client.execute(
            &format!("UPDATE {table} SET i = 'DE89 3704' WHERE id = 1"),
            &[],
        )?;
        let error = client
            .query_one(&format!("SELECT i FROM {table} WHERE id = 1"), &[])?
            .try_get::<_, BlindIndex>(0)
            .unwrap_err();
        let mut bad = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(inner) = source {
            bad.push_str(&format!(": {inner}"));
            source = inner.source();
        }
        assert!(
            bad.contains("blind index") && !bad.contains("DE89"),
            "{bad}"
        );
        Ok(())
    })();
    client
        .batch_execute(&format!("DROP TABLE {table}"))
        .unwrap();
    result.unwrap();
}
