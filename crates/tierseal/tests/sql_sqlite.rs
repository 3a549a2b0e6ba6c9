//! The token types bind and read as SQLite columns (feature `rusqlite`).
#![cfg(feature = "rusqlite")]
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
use rusqlite::Connection;
use rusqlite::types::FromSql;
use tierseal::{
    PackedPart, RecordKey, RecordKeys, SealedField, SealedMask, SealedToken, SealedValue,
};

fn db() -> Connection {
    let db = Connection::open_in_memory().unwrap();
    db.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, value TEXT, key TEXT, field TEXT, \
         mask TEXT, clear_mask TEXT, any TEXT, raw BLOB, empty TEXT)",
    )
    .unwrap();
    db
}

#[test]
fn every_token_type_round_trips_through_a_text_column() {
    let t = tokens();
    let db = db();
    db.execute(
        "INSERT INTO t (id, value, key, field, mask, clear_mask, any) VALUES (1, ?, ?, ?, ?, ?, ?)",
        rusqlite::params![t.value, t.key, t.field, t.mask, t.clear_mask, t.any()],
    )
    .unwrap();
    let row = db
        .query_row(
            "SELECT value, key, field, mask, clear_mask, any, empty FROM t",
            [],
            |row| {
                Ok((
                    row.get::<_, SealedValue>(0)?,
                    row.get::<_, RecordKey>(1)?,
                    row.get::<_, SealedField>(2)?,
                    row.get::<_, SealedMask>(3)?,
                    row.get::<_, SealedMask>(4)?,
                    row.get::<_, SealedToken>(5)?,
                    row.get::<_, Option<SealedValue>>(6)?,
                ))
            },
        )
        .unwrap();
    assert_eq!(row.0, t.value);
    assert_eq!(row.1, t.key);
    assert_eq!(row.2, t.field);
    assert_eq!(row.3, t.mask);
    assert_eq!(row.4, t.clear_mask);
    assert_eq!(row.5, t.any());
    assert_eq!(row.6, None);
    // Stored as the text form, so that other tools (and rewrap) see it.
    let stored: String = db
        .query_row("SELECT value FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, t.value.to_text());
    // A record key reads as the catch-all token type too.
    let any: SealedToken = db.query_row("SELECT key FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(any, SealedToken::RecordKey(t.key.clone()));
}

#[test]
fn a_blob_holding_the_token_bytes_reads() {
    let t = tokens();
    let db = db();
    db.execute(
        "INSERT INTO t (id, raw) VALUES (1, ?)",
        [t.value.as_bytes()],
    )
    .unwrap();
    let value: SealedValue = db.query_row("SELECT raw FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(value, t.value);
    let any: SealedToken = db.query_row("SELECT raw FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(any, t.any());
}

fn read_error<T: FromSql>(db: &Connection) -> String {
    read_column_error::<T>(db, "any")
}

fn read_column_error<T: FromSql>(db: &Connection, column: &str) -> String {
    match db.query_row(&format!("SELECT {column} FROM t"), [], |r| r.get::<_, T>(0)) {
        Ok(_) => panic!("a bad value read as a token"),
        Err(e) => format!("{e} {e:?}"),
    }
}

#[test]
fn a_value_that_is_not_a_token_is_an_error_naming_the_type_not_the_value() {
    let t = tokens();
    let db = db();
    for bad in NOT_A_TOKEN {
        db.execute("DELETE FROM t", []).unwrap();
        db.execute("INSERT INTO t (id, any) VALUES (1, ?)", [bad])
            .unwrap();
        assert_names_type(&read_error::<SealedValue>(&db), "SealedValue", bad);
        assert_names_type(&read_error::<RecordKey>(&db), "RecordKey", bad);
        assert_names_type(&read_error::<SealedField>(&db), "SealedField", bad);
        assert_names_type(&read_error::<SealedToken>(&db), "SealedToken", bad);
    }
    // A token of another kind is not this kind.
    db.execute("UPDATE t SET any = ?", [&t.field]).unwrap();
    assert_names_type(
        &read_error::<SealedValue>(&db),
        "SealedValue",
        &t.field.to_text(),
    );
    // A broken sealed mask is an error, not a clear mask.
    db.execute("UPDATE t SET any = 'tierseal:AQID'", [])
        .unwrap();
    assert_names_type(&read_error::<SealedMask>(&db), "SealedMask", "AQID");
    // Numbers are the wrong type, and NULL needs an Option.
    db.execute("UPDATE t SET raw = 42", []).unwrap();
    assert!(read_column_error::<SealedValue>(&db, "raw").contains("InvalidColumnType"));
    db.execute("UPDATE t SET raw = NULL", []).unwrap();
    assert!(read_column_error::<SealedValue>(&db, "raw").contains("InvalidColumnType"));
    // Text that is not UTF-8.
    db.execute("UPDATE t SET any = CAST(x'ff74' AS TEXT)", [])
        .unwrap();
    assert_names_type(&read_error::<SealedValue>(&db), "SealedValue", "\u{fffd}");
}

#[test]
fn record_keys_round_trip_as_json_text_and_refuse_anything_else() {
    let t = tokens();
    let db = db();
    db.execute(
        "INSERT INTO t (id, any, raw) VALUES (1, ?, ?)",
        rusqlite::params![t.keys, serde_json::to_vec(&t.keys).unwrap()],
    )
    .unwrap();
    let stored: String = db.query_row("SELECT any FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(stored, serde_json::to_string(&t.keys).unwrap());
    for column in ["any", "raw"] {
        let keys: RecordKeys = db
            .query_row(&format!("SELECT {column} FROM t"), [], |r| r.get(0))
            .unwrap();
        assert_eq!(keys, t.keys, "{column}");
    }
    let field = t.field.to_text();
    for bad in NOT_A_TOKEN
        .iter()
        .map(|bad| (*bad).to_owned())
        .chain(NOT_A_TOKEN.iter().map(|bad| format!("[\"{bad}\"]")))
        .chain([format!("[\"{field}\"]"), "[4111111111111111]".to_owned()])
    {
        db.execute("UPDATE t SET any = ?", [&bad]).unwrap();
        let error = read_error::<RecordKeys>(&db);
        assert_names_type(&error, "RecordKeys", bad.trim_matches(['[', ']', '"']));
        assert!(!error.contains("4111"), "{error}");
    }
}

#[test]
fn a_packed_part_round_trips_through_a_text_or_blob_column() {
    let t = tokens();
    let db = db();
    db.execute(
        "INSERT INTO t (id, field, raw) VALUES (1, ?, ?)",
        rusqlite::params![t.part, t.part.as_bytes()],
    )
    .unwrap();
    let stored: String = db
        .query_row("SELECT field FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, t.part.to_text());
    for column in ["field", "raw"] {
        let part: PackedPart = db
            .query_row(&format!("SELECT {column} FROM t"), [], |r| r.get(0))
            .unwrap();
        assert_eq!(part, t.part);
        let any: SealedToken = db
            .query_row(&format!("SELECT {column} FROM t"), [], |r| r.get(0))
            .unwrap();
        assert_eq!(any, SealedToken::Part(t.part.clone()));
    }
    // A field is not a part, nor garbage.
    db.execute("UPDATE t SET field = ?", [t.field.to_text()])
        .unwrap();
    let error = read_column_error::<PackedPart>(&db, "field");
    assert_names_type(&error, "PackedPart", &t.field.to_text());
    for text in NOT_A_TOKEN {
        db.execute("UPDATE t SET field = ?", [text]).unwrap();
        let error = read_column_error::<PackedPart>(&db, "field");
        assert_names_type(&error, "PackedPart", text);
    }
}
