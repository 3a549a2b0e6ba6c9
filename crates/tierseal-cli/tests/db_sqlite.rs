//! `tierseal rewrap --db sqlite://...` and `keys retire --data
//! sqlite://...` on real SQLite files.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    unreachable_pub,
    reason = "test code"
)]

#[path = "db/common.rs"]
mod common;

use std::collections::BTreeMap;

use common::{Env, cards, sealed_row, stderr, stdout, versions};
use rusqlite::Connection;
use tierseal::{AccessContext, Binding, RecordKeys, RecordOpener, SealedField, SealedValue};

/// `accounts` (rowid table: a card field, its record key, a JSON document
/// with a sealed IBAN, a plain note, a number) and `ledger` (WITHOUT ROWID,
/// text key, a sealed value).
fn create(env: &Env, rows: usize) -> String {
    let path = env.path("bank.db");
    let db = Connection::open(&path).unwrap();
    db.execute_batch(
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY, card TEXT, card_key VARCHAR(500), \
         doc JSON, note TEXT, n INTEGER, extra);
         CREATE TABLE ledger (ref TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID;
         CREATE TABLE empty_numbers (a INTEGER, b REAL);",
    )
    .unwrap();
    let keyring = env.keyring();
    let tx = db.unchecked_transaction().unwrap();
    for i in 0..rows {
        let row = sealed_row(&keyring, i);
        tx.execute(
            "INSERT INTO accounts (id, card, card_key, doc, note, n) VALUES (?1, ?2, ?3, ?4, 'plain note', 7)",
            rusqlite::params![i as i64 + 1, row.card, row.card_key, row.doc],
        )
        .unwrap();
    }
    for i in 0..3 {
        let value =
            SealedValue::seal(&keyring, &cards(), Binding::new("Ledger", "v"), "x").unwrap();
        tx.execute(
            "INSERT INTO ledger (ref, v) VALUES (?1, ?2)",
            rusqlite::params![format!("ref-{i}"), value],
        )
        .unwrap();
    }
    tx.commit().unwrap();
    format!("sqlite://{}", path.display())
}

/// Key versions of every data key in `accounts`, and its fields' texts.
fn scan(env: &Env) -> (BTreeMap<u32, usize>, Vec<String>) {
    let db = Connection::open(env.path("bank.db")).unwrap();
    let mut statement = db
        .prepare("SELECT card, card_key, doc, note FROM accounts ORDER BY id")
        .unwrap();
    let mut rows = statement.query([]).unwrap();
    let (mut found, mut fields) = (BTreeMap::new(), Vec::new());
    while let Some(row) = rows.next().unwrap() {
        let card: SealedField = row.get(0).unwrap();
        fields.push(card.to_text());
        versions(
            &row.get::<_, String>(1).unwrap(),
            &row.get::<_, String>(2).unwrap(),
            &mut found,
        );
        assert_eq!(row.get::<_, String>(3).unwrap(), "plain note");
    }
    (found, fields)
}

fn progress_rows(env: &Env) -> i64 {
    let db = Connection::open(env.path("bank.db")).unwrap();
    db.query_row(
        "SELECT count(*) FROM sqlite_schema WHERE name = 'tierseal_rewrap_progress'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .and_then(|exists| {
        if exists == 0 {
            Ok(0)
        } else {
            db.query_row("SELECT count(*) FROM tierseal_rewrap_progress", [], |r| {
                r.get(0)
            })
        }
    })
    .unwrap()
}

#[test]
fn rewrap_moves_every_data_key_and_leaves_fields_and_other_text_alone() {
    let env = Env::initialised();
    let url = create(&env, 40);
    env.rotate_cards();
    let (before, fields_before) = scan(&env);
    assert_eq!(before, BTreeMap::from([(1, 80)]));

    let output = env.cmd().args(["rewrap", "--db", &url]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    // 40 accounts (card key + IBAN each) and 3 ledger values.
    assert!(
        text.contains("2 tables, 43 rows: rewrapped 83 data keys, 0 already current, 43 rows written, 0 failed rows"),
        "{text}"
    );
    assert!(
        text.contains("no data key references an old version"),
        "{text}"
    );
    let (after, fields_after) = scan(&env);
    assert_eq!(after, BTreeMap::from([(2, 80)]));
    assert_eq!(
        fields_before, fields_after,
        "field tokens are not rewrapped"
    );
    assert_eq!(progress_rows(&env), 0, "a completed run leaves no cursor");
    // The custodian's audit log has the intent and the outcome, with counts.
    let log = std::fs::read_to_string(env.path("bank.keystore.audit.jsonl")).unwrap();
    let entries: Vec<&str> = log.lines().filter(|l| l.contains("\"rewrap\"")).collect();
    assert_eq!(entries.len(), 2, "{log}");
    assert!(entries[0].contains("database "), "{log}");
    assert!(entries[1].contains("43 rows, 83 data keys moved"), "{log}");

    // Everything still opens.
    let keyring = env.keyring();
    let db = Connection::open(env.path("bank.db")).unwrap();
    let (card, key): (SealedField, tierseal::RecordKey) = db
        .query_row(
            "SELECT card, card_key FROM accounts WHERE id = 6",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let keys: RecordKeys = serde_json::from_value(serde_json::json!([key])).unwrap();
    assert_eq!(keys.key_versions().next(), Some(("restricted/cards", 2)));
    let ctx = AccessContext::new("test").with_purpose("db rewrap test");
    let mut opener = RecordOpener::new(
        &keyring,
        &keys,
        Binding::new("Account", "").with_record_id("acc_000005"),
        &ctx,
    );
    let number: String = opener.open_field(&cards(), "card", &card).unwrap();
    assert_eq!(number, "4111000000000005");
    drop(opener);
    drop(keyring);

    // A second run finds everything current.
    let output = env.cmd().args(["rewrap", "--db", &url]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output)
            .contains("43 rows: rewrapped 0 data keys, 83 already current, 0 rows written"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn table_and_column_narrow_the_job() {
    let env = Env::initialised();
    let url = create(&env, 10);
    env.rotate_cards();
    let output = env
        .cmd()
        .args([
            "rewrap", "--db", &url, "--table", "accounts", "--column", "card_key",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("1 tables, 10 rows: rewrapped 10 data keys"),
        "{}",
        stdout(&output)
    );
    // The IBANs in `doc` were not in scope.
    assert_eq!(scan(&env).0, BTreeMap::from([(1, 10), (2, 10)]));
}

#[test]
fn a_run_stopped_after_some_batches_resumes_without_counting_twice() {
    let env = Env::initialised();
    let url = create(&env, 250);
    env.rotate_cards();
    let first = env
        .cmd()
        .args([
            "rewrap",
            "--db",
            &url,
            "--table",
            "accounts",
            "--batch-size",
            "40",
        ])
        .args(["--max-batches", "3"])
        .output()
        .unwrap();
    assert!(first.status.success(), "{}", stderr(&first));
    let text = stdout(&first);
    assert!(text.contains("stopped by --max-batches"), "{text}");
    assert!(text.contains("120 rows: rewrapped 240 data keys"), "{text}");
    assert!(text.contains("3 batches committed by this run"), "{text}");
    // Exactly the first three batches were written, and the cursor kept.
    assert_eq!(scan(&env).0, BTreeMap::from([(1, 260), (2, 240)]));
    assert_eq!(progress_rows(&env), 1);

    let second = env
        .cmd()
        .args([
            "rewrap",
            "--db",
            &url,
            "--table",
            "accounts",
            "--batch-size",
            "40",
        ])
        .output()
        .unwrap();
    assert!(second.status.success(), "{}", stderr(&second));
    let text = stdout(&second);
    // The totals cover both runs; nothing was read twice (no key was
    // found already current).
    assert!(
        text.contains("250 rows: rewrapped 500 data keys, 0 already current, 250 rows written"),
        "{text}"
    );
    assert!(text.contains("resumed 1 tables"), "{text}");
    // 130 rows left at 40 a batch: 4 batches (the last one short).
    assert!(text.contains("4 batches committed by this run"), "{text}");
    assert_eq!(scan(&env).0, BTreeMap::from([(2, 500)]));
    assert_eq!(progress_rows(&env), 0);
}

#[test]
fn a_run_killed_mid_job_resumes_after_its_last_committed_batch() {
    let env = Env::initialised();
    let url = create(&env, 1500);
    env.rotate_cards();
    // One row per batch: each a transaction of its own, so the kill lands
    // between or inside batches, never after the last one.
    let mut child = env
        .spawnable()
        .args([
            "rewrap",
            "--db",
            &url,
            "--table",
            "accounts",
            "--batch-size",
            "1",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let watcher = Connection::open(env.path("bank.db")).unwrap();
    watcher
        .busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    let committed = |db: &Connection| -> i64 {
        db.query_row(
            "SELECT coalesce(max(rows), 0) FROM tierseal_rewrap_progress",
            [],
            |r| r.get(0),
        )
        .unwrap_or(0)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while committed(&watcher) < 20 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the rewrap ended before it was killed"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the rewrap never committed a batch"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let done = committed(&watcher);
    assert!((20..1500).contains(&done), "killed mid-job: {done}");
    // Exactly the committed rows moved: the batch the kill cut was rolled back.
    let moved = scan(&env).0.get(&2).copied().unwrap_or(0);
    assert_eq!(moved as i64, 2 * done);

    let output = env
        .cmd()
        .args([
            "rewrap",
            "--db",
            &url,
            "--table",
            "accounts",
            "--batch-size",
            "500",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("1500 rows: rewrapped 3000 data keys, 0 already current, 1500 rows written"),
        "{text}"
    );
    assert!(text.contains("resumed 1 tables"), "{text}");
    assert_eq!(scan(&env).0, BTreeMap::from([(2, 3000)]));
    assert_eq!(progress_rows(&env), 0);
}

#[test]
fn a_database_error_mid_job_says_how_far_it_got_and_a_rerun_resumes_there() {
    let env = Env::initialised();
    let url = create(&env, 200);
    env.rotate_cards();
    let db = Connection::open(env.path("bank.db")).unwrap();
    // The fourth batch (rows 121 to 160) fails as it writes row 150.
    db.execute_batch(
        "CREATE TRIGGER refuse BEFORE UPDATE ON accounts WHEN old.id = 150 \
         BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END;",
    )
    .unwrap();
    let run = || {
        env.cmd()
            .args([
                "rewrap",
                "--db",
                &url,
                "--table",
                "accounts",
                "--batch-size",
                "40",
            ])
            .output()
            .unwrap()
    };
    let output = run();
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("refused by a trigger"), "{err}");
    assert!(
        err.contains("stopped in table accounts after rowid 120: this run committed 3 batches"),
        "{err}"
    );
    // The failed batch was rolled back whole: rows 121 to 149 are still v1.
    assert_eq!(scan(&env).0, BTreeMap::from([(1, 160), (2, 240)]));

    db.execute_batch("DROP TRIGGER refuse").unwrap();
    let output = run();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("200 rows: rewrapped 400 data keys, 0 already current, 200 rows written"),
        "{text}"
    );
    // Rows 121 to 200, then an empty batch that finds the end.
    assert!(text.contains("3 batches committed by this run"), "{text}");
    assert_eq!(scan(&env).0, BTreeMap::from([(2, 400)]));
}

#[test]
fn a_malformed_token_is_reported_by_table_column_and_key_and_the_rest_goes_on() {
    let env = Env::initialised();
    let url = create(&env, 20);
    let db = Connection::open(env.path("bank.db")).unwrap();
    // Not a token of any kind, but written as one.
    db.execute(
        "UPDATE accounts SET card_key = 'tierseal:AAAAAAAA' WHERE id = 7",
        [],
    )
    .unwrap();
    db.execute(
        "UPDATE ledger SET v = 'tierseal:QUJD' WHERE ref = 'ref-1'",
        [],
    )
    .unwrap();
    drop(db);
    env.rotate_cards();
    let output = env.cmd().args(["rewrap", "--db", &url]).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    let err = stderr(&output);
    assert!(err.contains("accounts.card_key at rowid 7: "), "{err}");
    assert!(err.contains("ledger.v at ref \"ref-1\": "), "{err}");
    assert!(!err.contains("AAAAAAAA") && !err.contains("QUJD"), "{err}");
    assert!(
        stdout(&output).contains("2 failed rows"),
        "{}",
        stdout(&output)
    );
    // The other rows moved; the failed row was left as it was (its IBAN too).
    let iban_version = |id: i64| {
        let db = Connection::open(env.path("bank.db")).unwrap();
        let doc: String = db
            .query_row("SELECT doc FROM accounts WHERE id = ?1", [id], |r| r.get(0))
            .unwrap();
        let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
        let iban: tierseal::SealedToken = doc["iban"].as_str().unwrap().parse().unwrap();
        iban.key_version().unwrap().1
    };
    assert_eq!(iban_version(7), 1, "the failed row is left as it was");
    assert_eq!(iban_version(6), 2);
    assert_eq!(iban_version(8), 2);
    // retire refuses while a value cannot be read.
    let output = env.retire_v1(&url);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("cannot be read"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn retire_refuses_while_a_row_references_the_version_and_succeeds_after_rewrap() {
    let env = Env::initialised();
    let url = create(&env, 15);
    env.rotate_cards();
    let output = env.retire_v1(&url);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains("33 values still wrapped under restricted/cards v1"),
        "{err}"
    );
    assert!(err.contains("accounts.card_key at rowid 1"), "{err}");
    assert!(err.contains("accounts.doc at rowid 1"), "{err}");
    assert!(err.contains("ledger.v at ref \"ref-0\""), "{err}");

    env.cmd().args(["rewrap", "--db", &url]).assert().success();
    let output = env.retire_v1(&url);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        env.keystore()
            .key_versions()
            .iter()
            .any(|v| v.version == 1 && v.retired_at.is_some()),
        "v1 is retired"
    );
}

#[test]
fn a_database_locked_by_another_writer_is_a_typed_error_and_nothing_is_written() {
    let env = Env::initialised();
    let url = create(&env, 5);
    env.rotate_cards();
    let holder = Connection::open(env.path("bank.db")).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let output = env
        .cmd()
        .args(["--lock-wait", "1", "rewrap", "--db", &url])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("is locked by another writer"), "{err}");
    assert!(err.contains("bank.db"), "{err}");
    holder.execute_batch("ROLLBACK").unwrap();
    assert_eq!(scan(&env).0, BTreeMap::from([(1, 10)]));
}

#[test]
fn bad_urls_tables_and_columns_are_named_errors() {
    let env = Env::initialised();
    let url = create(&env, 2);
    let run = |args: &[&str]| env.cmd().arg("rewrap").args(args).output().unwrap();

    for bad in ["mysql://db/x", "sqlite://", "sqlite:relative.db"] {
        let output = run(&["--db", bad]);
        assert_eq!(output.status.code(), Some(2), "{bad}");
        assert!(
            stderr(&output).contains("database URL"),
            "{}",
            stderr(&output)
        );
    }
    // A PostgreSQL URL that does not parse never echoes its password.
    let output = run(&["--db", "postgres://u:hunter2secret@host:notaport/db"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        !stderr(&output).contains("hunter2secret"),
        "{}",
        stderr(&output)
    );

    let output = run(&["--db", "sqlite://missing.db"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("missing.db"),
        "{}",
        stderr(&output)
    );
    assert!(!env.path("missing.db").exists(), "no database is created");

    let output = run(&["--db", &url, "--table", "nope"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("no table nope"),
        "{}",
        stderr(&output)
    );
    let output = run(&["--db", &url, "--column", "n"]);
    assert!(
        stderr(&output).contains("no text or JSON column n"),
        "{}",
        stderr(&output)
    );

    std::fs::write(
        env.path("not.db"),
        "this is not a database, just text ".repeat(200),
    )
    .unwrap();
    let output = run(&["--db", "sqlite://not.db"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("not.db"), "{}", stderr(&output));
}

#[test]
fn a_dry_run_counts_and_writes_nothing() {
    let env = Env::initialised();
    let url = create(&env, 12);
    env.rotate_cards();
    let output = env
        .cmd()
        .args(["rewrap", "--db", &url, "--dry-run", "--batch-size", "5"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("15 rows: dry run: would rewrap 27 data keys"),
        "{}",
        stdout(&output)
    );
    assert_eq!(scan(&env).0, BTreeMap::from([(1, 24)]));
    assert_eq!(progress_rows(&env), 0);
}

#[test]
fn thousands_of_rows_over_two_threads_are_counted_and_reported_in_key_order() {
    const ROWS: i64 = 3_000;
    let env = Env::initialised();
    let url = create(&env, ROWS as usize);
    let db = Connection::open(env.path("bank.db")).unwrap();
    db.execute(
        "UPDATE accounts SET card_key = 'tierseal:AAAAAAAA' WHERE id % 97 = 0",
        [],
    )
    .unwrap();
    drop(db);
    env.rotate_cards();
    let output = env
        .cmd()
        .env("RAYON_NUM_THREADS", "2")
        .args(["rewrap", "--db", &url, "--batch-size", "1000"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    let bad: Vec<i64> = (1..=ROWS).filter(|id| id % 97 == 0).collect();
    let err = stderr(&output);
    let reported: Vec<i64> = err
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("tierseal: accounts.card_key at rowid ")?;
            rest.split_once(':')?.0.parse().ok()
        })
        .collect();
    assert_eq!(reported, bad, "{err}");
    let good = ROWS as usize - bad.len();
    assert!(
        stdout(&output).contains(&format!(
            "2 tables, {} rows: rewrapped {} data keys, 0 already current, {} rows written, \
             {} failed rows",
            ROWS + 3,
            2 * good + 3,
            good + 3,
            bad.len()
        )),
        "{}",
        stdout(&output)
    );
    // Each row moved whole, or (the failed ones) not at all.
    let db = Connection::open(env.path("bank.db")).unwrap();
    let mut statement = db
        .prepare("SELECT id, card_key, doc FROM accounts ORDER BY id")
        .unwrap();
    let mut rows = statement.query([]).unwrap();
    let mut seen = 0;
    while let Some(row) = rows.next().unwrap() {
        let (id, card_key, doc): (i64, String, String) = (
            row.get(0).unwrap(),
            row.get(1).unwrap(),
            row.get(2).unwrap(),
        );
        let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
        assert_eq!(doc["seq"], id - 1);
        let iban: tierseal::SealedToken = doc["iban"].as_str().unwrap().parse().unwrap();
        if id % 97 == 0 {
            assert_eq!(card_key, "tierseal:AAAAAAAA");
            assert_eq!(iban.key_version().unwrap().1, 1, "row {id} left as it was");
        } else {
            let key: tierseal::SealedToken = card_key.parse().unwrap();
            assert_eq!(key.key_version().unwrap().1, 2, "row {id}");
            assert_eq!(iban.key_version().unwrap().1, 2, "row {id}");
        }
        seen += 1;
    }
    assert_eq!(seen, ROWS);
}

#[test]
fn retire_refuses_while_a_column_it_cannot_search_mentions_a_token() {
    // Each table holds one v1 data key where the search does not reach:
    // JSON kept as a BLOB value, a token in a column declared INTEGER (it
    // stays text), and a blob value in a TEXT column.
    for (create, insert) in [
        (
            "CREATE TABLE t (id INTEGER PRIMARY KEY, doc BLOB)",
            "INSERT INTO t (doc) VALUES (CAST(?1 AS BLOB))",
        ),
        (
            "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER)",
            "INSERT INTO t (n) VALUES (?1)",
        ),
        (
            "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)",
            "INSERT INTO t (v) VALUES (CAST(?1 AS BLOB))",
        ),
    ] {
        let env = Env::initialised();
        let path = env.path("bank.db");
        let db = Connection::open(&path).unwrap();
        db.execute_batch(create).unwrap();
        let value =
            SealedValue::seal(&env.keyring(), &cards(), Binding::new("Doc", "v"), "x").unwrap();
        let doc = serde_json::json!({ "iban": value }).to_string();
        db.execute(insert, [&doc]).unwrap();
        drop(db);
        env.rotate_cards();
        let url = format!("sqlite://{}", path.display());
        env.assert_retire_refused_unreadable(&url, "t.", create);
    }
}

#[test]
fn a_text_row_key_that_is_not_utf8_stops_the_table_instead_of_skipping_its_row() {
    let env = Env::initialised();
    let url = create(&env, 2);
    let db = Connection::open(env.path("bank.db")).unwrap();
    let value =
        SealedValue::seal(&env.keyring(), &cards(), Binding::new("Ledger", "v"), "y").unwrap();
    db.execute(
        "INSERT INTO ledger (ref, v) VALUES (CAST(x'72ff31' AS TEXT), ?1)",
        [&value],
    )
    .unwrap();
    env.rotate_cards();

    let output = env.cmd().args(["rewrap", "--db", &url]).output().unwrap();
    assert!(!output.status.success(), "{}", stdout(&output));
    let err = stderr(&output);
    assert!(err.contains("ledger") && err.contains("not UTF-8"), "{err}");
    // The value under the odd key still holds its old token: nothing was
    // counted as rewritten that was not.
    let stored: String = db
        .query_row(
            "SELECT v FROM ledger WHERE ref = CAST(x'72ff31' AS TEXT)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stored, value.to_text());
}
