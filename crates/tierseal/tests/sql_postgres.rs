//! The token types bind and read as PostgreSQL columns (feature
//! `postgres`), against a real server: `TIERSEAL_TEST_PG` (a connection
//! string), else `host=127.0.0.1 port=5432 user=postgres dbname=test`.
//! Skipped when no server answers, unless `TIERSEAL_REQUIRE_SERVICES=1`.
#![cfg(feature = "postgres")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    unreachable_pub,
    reason = "test code"
)]

#[path = "sql/common.rs"]
mod common;

use common::{NOT_A_TOKEN, assert_names_type, tokens};
use postgres::types::FromSqlOwned;
use postgres::{Client, NoTls};
use tierseal::{
    PackedPart, RecordKey, RecordKeys, SealedField, SealedMask, SealedToken, SealedValue,
};

const DEFAULT: &str = "host=127.0.0.1 port=5432 user=postgres dbname=test";

/// A client and a schema of its own, dropped at the end.
struct Db {
    client: Client,
    schema: String,
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = self
            .client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema));
    }
}

fn db(name: &str) -> Option<Db> {
    let url = tierseal_testkit::postgres_config(DEFAULT);
    let mut client = match Client::connect(&url, NoTls) {
        Ok(client) => client,
        Err(e) => {
            return tierseal_testkit::absent(
                "PostgreSQL",
                &e.to_string(),
                "source .ci/services/postgres.sh",
            );
        }
    };
    let schema = format!("tierseal_sql_{name}_{}", std::process::id());
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}; \
             CREATE TABLE {schema}.t (id int PRIMARY KEY, value text, key varchar(2000), \
             field text, mask text, clear_mask varchar, anyt text, nothing text, n int)"
        ))
        .unwrap();
    Some(Db { client, schema })
}

#[test]
fn every_token_type_round_trips_through_text_and_varchar_columns() {
    let Some(mut db) = db("roundtrip") else {
        return;
    };
    let t = tokens();
    let s = db.schema.clone();
    db.client
        .execute(
            &format!(
                "INSERT INTO {s}.t (id, value, key, field, mask, clear_mask, anyt) \
                 VALUES (1, $1, $2, $3, $4, $5, $6)"
            ),
            &[&t.value, &t.key, &t.field, &t.mask, &t.clear_mask, &t.any()],
        )
        .unwrap();
    let row = db
        .client
        .query_one(
            &format!("SELECT value, key, field, mask, clear_mask, anyt, nothing FROM {s}.t"),
            &[],
        )
        .unwrap();
    assert_eq!(row.get::<_, SealedValue>(0), t.value);
    assert_eq!(row.get::<_, RecordKey>(1), t.key);
    assert_eq!(row.get::<_, SealedField>(2), t.field);
    assert_eq!(row.get::<_, SealedMask>(3), t.mask);
    assert_eq!(row.get::<_, SealedMask>(4), t.clear_mask);
    assert_eq!(row.get::<_, SealedToken>(5), t.any());
    assert_eq!(row.get::<_, Option<SealedValue>>(6), None);
    let stored: String = db
        .client
        .query_one(&format!("SELECT value FROM {s}.t"), &[])
        .unwrap()
        .get(0);
    assert_eq!(stored, t.value.to_text());
    // Found by equality, as a WHERE clause would.
    let n = db
        .client
        .query(
            &format!("SELECT id FROM {s}.t WHERE field = $1"),
            &[&t.field],
        )
        .unwrap()
        .len();
    assert_eq!(n, 1);
}

fn read_error<T: FromSqlOwned>(db: &mut Db, column: &str) -> String {
    let row = db
        .client
        .query_one(&format!("SELECT {column} FROM {}.t", db.schema), &[])
        .unwrap();
    match row.try_get::<_, T>(0) {
        Ok(_) => panic!("a bad value read as a token"),
        Err(e) => format!("{e} {e:?}"),
    }
}

#[test]
fn a_value_that_is_not_a_token_is_an_error_naming_the_type_not_the_value() {
    let Some(mut db) = db("bad") else { return };
    let t = tokens();
    let s = db.schema.clone();
    for bad in NOT_A_TOKEN {
        db.client
            .batch_execute(&format!("DELETE FROM {s}.t"))
            .unwrap();
        db.client
            .execute(
                &format!("INSERT INTO {s}.t (id, anyt, n) VALUES (1, $1, 7)"),
                &[&bad],
            )
            .unwrap();
        assert_names_type(
            &read_error::<SealedValue>(&mut db, "anyt"),
            "SealedValue",
            bad,
        );
        assert_names_type(&read_error::<RecordKey>(&mut db, "anyt"), "RecordKey", bad);
        assert_names_type(
            &read_error::<SealedField>(&mut db, "anyt"),
            "SealedField",
            bad,
        );
        assert_names_type(
            &read_error::<SealedToken>(&mut db, "anyt"),
            "SealedToken",
            bad,
        );
        assert_names_type(
            &read_error::<RecordKeys>(&mut db, "anyt"),
            "RecordKeys",
            bad,
        );
    }
    db.client
        .execute(
            &format!("UPDATE {s}.t SET anyt = $1"),
            &[&t.field.to_text()],
        )
        .unwrap();
    assert_names_type(
        &read_error::<SealedValue>(&mut db, "anyt"),
        "SealedValue",
        &t.field.to_text(),
    );
    db.client
        .batch_execute(&format!("UPDATE {s}.t SET anyt = 'tierseal:AQID'"))
        .unwrap();
    assert_names_type(
        &read_error::<SealedMask>(&mut db, "anyt"),
        "SealedMask",
        "AQID",
    );
    // An int column is not a token column: refused by type, before anyt value.
    let wrong = read_error::<SealedValue>(&mut db, "n");
    assert!(
        wrong.contains("WrongType") || wrong.contains("type"),
        "{wrong}"
    );
    // A token binds only as text.
    let bound = db
        .client
        .execute(&format!("UPDATE {s}.t SET n = $1"), &[&t.value]);
    assert!(bound.is_err());
}

#[test]
fn record_keys_round_trip_as_the_json_array_of_their_tokens() {
    let Some(mut db) = db("keys") else { return };
    let t = tokens();
    let s = db.schema.clone();
    db.client
        .execute(
            &format!("INSERT INTO {s}.t (id, anyt) VALUES (1, $1)"),
            &[&t.keys],
        )
        .unwrap();
    let row = db
        .client
        .query_one(&format!("SELECT anyt, anyt::jsonb FROM {s}.t"), &[])
        .unwrap();
    assert_eq!(row.get::<_, RecordKeys>(0), t.keys);
    assert_eq!(row.get::<_, RecordKeys>(1), t.keys);
    assert_eq!(
        row.get::<_, String>(0),
        serde_json::to_string(&t.keys).unwrap()
    );
    let bad = format!("[\"{}\"]", t.field.to_text());
    db.client
        .execute(&format!("UPDATE {s}.t SET anyt = $1"), &[&bad])
        .unwrap();
    assert_names_type(
        &read_error::<RecordKeys>(&mut db, "anyt"),
        "RecordKeys",
        &t.field.to_text(),
    );
}

#[test]
fn a_packed_part_round_trips_through_a_text_column() {
    let Some(mut db) = db("packed") else {
        return;
    };
    let t = tokens();
    let s = db.schema.clone();
    db.client
        .execute(
            &format!("INSERT INTO {s}.t (id, field, anyt) VALUES (1, $1, $2)"),
            &[&t.part, &SealedToken::Part(t.part.clone())],
        )
        .unwrap();
    let row = db
        .client
        .query_one(&format!("SELECT field, anyt, field::text FROM {s}.t"), &[])
        .unwrap();
    assert_eq!(row.get::<_, PackedPart>(0), t.part);
    assert_eq!(
        row.get::<_, SealedToken>(1),
        SealedToken::Part(t.part.clone())
    );
    assert_eq!(row.get::<_, String>(2), t.part.to_text());
    // A field is not a part.
    db.client
        .execute(&format!("UPDATE {s}.t SET field = $1"), &[&t.field])
        .unwrap();
    let error = db
        .client
        .query_one(&format!("SELECT field FROM {s}.t"), &[])
        .unwrap()
        .try_get::<_, PackedPart>(0)
        .unwrap_err();
    assert_names_type(
        &format!("{error} {error:?}"),
        "PackedPart",
        &t.field.to_text(),
    );
}
