//! `BlindIndex` and the sealed struct's token types (`SealedField`,
//! `SealedMask`, `RecordKeys`) as PostgreSQL column values (feature
//! `postgres`), against
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

#[path = "../examples/common/customers.rs"]
#[allow(dead_code, reason = "shared with the examples")]
mod common;

use postgres::{Client, NoTls};
use tierseal::{BlindIndex, Classified, RecordKeys, SealedField, SealedMask};

fn client() -> Option<Client> {
    let config = tierseal_testkit::postgres_config("host=127.0.0.1 user=postgres dbname=test");
    match Client::connect(&config, NoTls) {
        Ok(client) => Some(client),
        Err(error) => tierseal_testkit::absent(
            &format!("PostgreSQL at `{config}`"),
            &error.to_string(),
            "pg_isready -h 127.0.0.1, then cargo test --test index_postgres --features postgres",
        ),
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
        let bad = common::chain(&error);
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

#[test]
fn sealed_fields_masks_and_record_keys_bind_and_read_as_columns() {
    let Some(mut client) = client() else { return };
    let services = common::services().unwrap();
    let customer = common::customers().remove(0);
    let sealed = customer.seal(&services.onboarding).unwrap();
    let table = format!("tierseal_tokens_{}", std::process::id());
    client
        .batch_execute(&format!(
            "CREATE TABLE {table} (id INT, field TEXT, mask VARCHAR, keys_text TEXT, keys_json JSON, keys_jsonb JSONB)"
        ))
        .unwrap();
    let result = (|| -> Result<(), Box<dyn std::error::Error>> {
        client.execute(
            &format!("INSERT INTO {table} VALUES (1, $1, $2, $3, $4, $5)"),
            &[
                &sealed.iban,
                &sealed.iban_mask,
                &sealed.tierseal_keys,
                &sealed.tierseal_keys,
                &sealed.tierseal_keys,
            ],
        )?;
        let row = client.query_one(
            &format!("SELECT field, mask, keys_text, keys_json, keys_jsonb FROM {table}"),
            &[],
        )?;
        assert_eq!(row.try_get::<_, SealedField>(0)?, sealed.iban);
        assert_eq!(row.try_get::<_, SealedMask>(1)?, sealed.iban_mask);
        for column in 2..=4 {
            assert_eq!(row.try_get::<_, RecordKeys>(column)?, sealed.tierseal_keys);
        }
        // The text column holds the token text; jsonb is real JSON to the server.
        let text: String = row.try_get(2)?;
        assert_eq!(text, serde_json::to_string(&sealed.tierseal_keys)?);
        let first: String = client
            .query_one(&format!("SELECT keys_jsonb->>0 FROM {table}"), &[])?
            .try_get(0)?;
        assert_eq!(first, sealed.tierseal_keys.keys()[0].to_text());
        // The sealed record opens from what was read back.
        let back = common::SealedCustomer {
            iban: row.try_get(0)?,
            iban_mask: row.try_get(1)?,
            tierseal_keys: row.try_get(4)?,
            ..sealed.clone()
        };
        assert_eq!(
            back.open_all(&services.payments, &common::ctx("test"))?,
            customer
        );

        // Values that are not tokens: refused by type, never shown.
        client.execute(
            &format!(
                r#"UPDATE {table} SET field = 'DE89 3704 0044', keys_jsonb = '["DE89 3704"]', keys_text = '{{"iban":"DE89 3704"}}'"#
            ),
            &[],
        )?;
        let row = client.query_one(
            &format!("SELECT field, keys_jsonb, keys_text FROM {table}"),
            &[],
        )?;
        for (error, type_name) in [
            (row.try_get::<_, SealedField>(0).unwrap_err(), "SealedField"),
            (row.try_get::<_, RecordKeys>(1).unwrap_err(), "RecordKeys"),
            (row.try_get::<_, RecordKeys>(2).unwrap_err(), "RecordKeys"),
        ] {
            let shown = common::chain(&error);
            assert!(shown.contains(type_name), "{shown}");
            assert!(!shown.contains("DE89"), "{shown}");
        }
        // A column of another type is refused before any value is read.
        let error = client
            .query_one(&format!("SELECT id FROM {table}"), &[])?
            .try_get::<_, RecordKeys>(0)
            .unwrap_err();
        let shown = common::chain(&error);
        assert!(shown.contains("RecordKeys"), "{shown}");
        Ok(())
    })();
    client
        .batch_execute(&format!("DROP TABLE {table}"))
        .unwrap();
    result.unwrap();
}
