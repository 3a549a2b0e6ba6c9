//! `tierseal rewrap --db postgres://...` and `keys retire --data
//! postgres://...` against a real PostgreSQL server: `TIERSEAL_TEST_PG`
//! (a postgres:// URL), else postgres://postgres@127.0.0.1:5432/test. Each
//! test works in a database of its own, created and dropped here, so that
//! whole-database discovery meets only its own tables. Skipped when no
//! server answers, unless `TIERSEAL_REQUIRE_SERVICES=1`.
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
use postgres::{Client, NoTls};
use tierseal::{Binding, SealedField, SealedValue};

const DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A database of the test's own, dropped at the end.
struct Db {
    admin: Client,
    name: String,
    url: String,
}

impl Db {
    fn client(&self) -> Client {
        Client::connect(&self.url, NoTls).unwrap()
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = self.admin.batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

fn database(test: &str) -> Option<Db> {
    let base = tierseal_testkit::postgres_config(DEFAULT);
    let mut admin = match Client::connect(&base, NoTls) {
        Ok(client) => client,
        Err(e) => {
            return tierseal_testkit::absent(
                "PostgreSQL",
                &e.to_string(),
                "source .ci/services/postgres.sh",
            );
        }
    };
    let name = format!("tierseal_db_{test}_{}", std::process::id());
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    // The same server and user, the new database.
    let prefix = match base.rfind('/') {
        Some(at) if base[..at].contains("://") && at > base.find("://").unwrap() + 2 => &base[..at],
        _ => base.as_str(),
    };
    let url = format!("{prefix}/{name}");
    Some(Db { admin, name, url })
}

/// `bank.accounts` (bigint key: a card field in text, its record key in
/// varchar, a JSONB and a JSON document with a sealed IBAN, a note) and
/// `bank.ledger` (text key, a sealed value).
fn create(env: &Env, db: &Db, rows: usize) {
    let mut client = db.client();
    client
        .batch_execute(
            "CREATE SCHEMA bank;
             CREATE TABLE bank.accounts (id bigint PRIMARY KEY, card text, \
             card_key varchar(500), doc jsonb, doc_json json, note text, n int);
             CREATE TABLE bank.ledger (ref text PRIMARY KEY, v text);",
        )
        .unwrap();
    let keyring = env.keyring();
    let mut tx = client.transaction().unwrap();
    for i in 0..rows {
        let row = sealed_row(&keyring, i);
        tx.execute(
            "INSERT INTO bank.accounts (id, card, card_key, doc, doc_json, note, n) \
             VALUES ($1, $2, $3, $4::text::jsonb, $4::text::json, 'plain note', 7)",
            &[&(i as i64 + 1), &row.card, &row.card_key, &row.doc],
        )
        .unwrap();
    }
    for i in 0..3 {
        let value =
            SealedValue::seal(&keyring, &cards(), Binding::new("Ledger", "v"), "x").unwrap();
        tx.execute(
            "INSERT INTO bank.ledger (ref, v) VALUES ($1, $2)",
            &[&format!("ref-{i}"), &value],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

/// Key versions in `card_key`, `doc` and `doc_json`, and the card fields.
fn scan(db: &Db) -> (BTreeMap<u32, usize>, Vec<String>) {
    let mut client = db.client();
    let (mut found, mut fields) = (BTreeMap::new(), Vec::new());
    for row in client
        .query(
            "SELECT card, card_key, doc::text, doc_json::text, note FROM bank.accounts ORDER BY id",
            &[],
        )
        .unwrap()
    {
        let card: SealedField = row.get(0);
        fields.push(card.to_text());
        let key: String = row.get(1);
        versions(&key, &row.get::<_, String>(2), &mut found);
        let json: serde_json::Value = serde_json::from_str(&row.get::<_, String>(3)).unwrap();
        let iban: tierseal::SealedToken = json["iban"].as_str().unwrap().parse().unwrap();
        *found.entry(iban.key_version().unwrap().1).or_default() += 1;
        assert_eq!(row.get::<_, String>(4), "plain note");
    }
    (found, fields)
}

fn progress_rows(db: &Db) -> i64 {
    let mut client = db.client();
    let exists: bool = client
        .query_one(
            "SELECT to_regclass('public.tierseal_rewrap_progress') IS NOT NULL",
            &[],
        )
        .unwrap()
        .get(0);
    if !exists {
        return 0;
    }
    client
        .query_one("SELECT count(*) FROM public.tierseal_rewrap_progress", &[])
        .unwrap()
        .get(0)
}

#[test]
fn rewrap_moves_every_data_key_in_text_varchar_json_and_jsonb() {
    let Some(db) = database("all") else { return };
    let env = Env::initialised();
    create(&env, &db, 30);
    env.rotate_cards();
    let (before, fields_before) = scan(&db);
    assert_eq!(before, BTreeMap::from([(1, 90)]));

    let output = env
        .cmd()
        .args(["rewrap", "--db", &db.url])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("2 tables, 33 rows: rewrapped 93 data keys, 0 already current, 33 rows written, 0 failed rows"),
        "{text}"
    );
    let (after, fields_after) = scan(&db);
    assert_eq!(after, BTreeMap::from([(2, 90)]));
    assert_eq!(
        fields_before, fields_after,
        "field tokens are not rewrapped"
    );
    assert_eq!(progress_rows(&db), 0);

    let output = env
        .cmd()
        .args(["rewrap", "--db", &db.url])
        .output()
        .unwrap();
    assert!(
        stdout(&output).contains("33 rows: rewrapped 0 data keys, 93 already current"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn a_run_stopped_after_some_batches_resumes_without_counting_twice() {
    let Some(db) = database("resume") else { return };
    let env = Env::initialised();
    create(&env, &db, 100);
    env.rotate_cards();
    let run = |extra: &[&str]| {
        env.cmd()
            .args(["rewrap", "--db", &db.url, "--table", "bank.accounts"])
            .args(["--column", "card_key", "--batch-size", "30"])
            .args(extra)
            .output()
            .unwrap()
    };
    let first = run(&["--max-batches", "2"]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        stdout(&first).contains("60 rows: rewrapped 60 data keys"),
        "{}",
        stdout(&first)
    );
    assert_eq!(progress_rows(&db), 1);
    let second = run(&[]);
    assert!(second.status.success(), "{}", stderr(&second));
    let text = stdout(&second);
    assert!(
        text.contains("100 rows: rewrapped 100 data keys, 0 already current, 100 rows written"),
        "{text}"
    );
    assert!(text.contains("resumed 1 tables"), "{text}");
    assert!(text.contains("2 batches committed by this run"), "{text}");
    assert_eq!(progress_rows(&db), 0);
    // Only card_key was in scope: 100 keys moved, 200 IBANs left.
    assert_eq!(scan(&db).0, BTreeMap::from([(1, 200), (2, 100)]));
}

#[test]
fn malformed_tokens_are_reported_and_retire_waits_for_the_rewrap() {
    let Some(db) = database("retire") else { return };
    let env = Env::initialised();
    create(&env, &db, 10);
    env.rotate_cards();
    let output = env.retire_v1(&db.url);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains("33 values still wrapped under restricted/cards v1"),
        "{err}"
    );
    assert!(err.contains("bank.accounts.doc_json at id 1"), "{err}");
    assert!(err.contains("bank.ledger.v at ref \"ref-0\""), "{err}");

    db.client()
        .batch_execute("UPDATE bank.ledger SET v = 'tierseal:QUJDREVG' WHERE ref = 'ref-2'")
        .unwrap();
    let output = env
        .cmd()
        .args(["rewrap", "--db", &db.url])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("bank.ledger.v at ref \"ref-2\": "), "{err}");
    assert!(!err.contains("QUJDREVG"), "{err}");
    let output = env.retire_v1(&db.url);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("cannot be read"),
        "{}",
        stderr(&output)
    );

    db.client()
        .batch_execute("DELETE FROM bank.ledger WHERE ref = 'ref-2'")
        .unwrap();
    let output = env.retire_v1(&db.url);
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn tables_without_a_single_column_key_are_refused_by_name() {
    let Some(db) = database("nokey") else { return };
    let env = Env::initialised();
    db.client()
        .batch_execute(
            "CREATE TABLE heap (note text); CREATE TABLE pair (a int, b int, v text, PRIMARY KEY (a, b));",
        )
        .unwrap();
    let output = env
        .cmd()
        .args(["rewrap", "--db", &db.url])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains("table public.heap cannot be rewrapped in batches"),
        "{err}"
    );
    assert!(err.contains("no primary key"), "{err}");
    let output = env
        .cmd()
        .args(["rewrap", "--db", &db.url, "--table", "pair"])
        .output()
        .unwrap();
    assert!(
        stderr(&output).contains("public.pair"),
        "{}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("several columns"),
        "{}",
        stderr(&output)
    );
    let output = env
        .cmd()
        .args(["rewrap", "--db", &db.url, "--table", "nope"])
        .output()
        .unwrap();
    assert!(
        stderr(&output).contains("no table nope"),
        "{}",
        stderr(&output)
    );
    // Nothing was written: not even the progress table.
    assert_eq!(progress_rows(&db), 0);
}

#[test]
fn rows_locked_by_another_writer_are_a_typed_error_after_the_wait() {
    let Some(db) = database("locked") else { return };
    let env = Env::initialised();
    create(&env, &db, 5);
    env.rotate_cards();
    let mut holder = db.client();
    let mut tx = holder.transaction().unwrap();
    tx.batch_execute("SELECT * FROM bank.accounts WHERE id = 3 FOR UPDATE")
        .unwrap();
    let output = env
        .cmd()
        .args([
            "--lock-wait",
            "1",
            "rewrap",
            "--db",
            &db.url,
            "--table",
            "bank.accounts",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("is locked by another writer"), "{err}");
    assert!(err.contains(&db.name), "{err}");
    assert!(
        err.contains("stopped in table bank.accounts at its start"),
        "{err}"
    );
    tx.rollback().unwrap();
    drop(holder);
    assert_eq!(scan(&db).0, BTreeMap::from([(1, 15)]));
}

#[test]
fn an_unreachable_server_is_named_without_the_password() {
    let env = Env::initialised();
    let output = env
        .cmd()
        .args(["--lock-wait", "1", "rewrap", "--db"])
        .arg("postgres://someone:hunter2secret@127.0.0.1:1/nowhere")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("postgres://127.0.0.1:1/nowhere"), "{err}");
    assert!(!err.contains("hunter2secret"), "{err}");
}

/// Every value of `table` (`id`, `v`), opened, in key order.
fn opened(env: &Env, db: &Db, table: &str) -> Vec<(i64, String)> {
    let keyring = env.keyring();
    let ctx = tierseal::AccessContext::new("test").with_purpose("db rewrap test");
    db.client()
        .query(&format!("SELECT id, v FROM ONLY {table} ORDER BY id"), &[])
        .unwrap()
        .iter()
        .map(|row| {
            let value: SealedValue = row.get(1);
            let plain: String = value
                .open(&keyring, Binding::new("Doc", "v"), &ctx)
                .unwrap();
            (row.get(0), plain)
        })
        .collect()
}

#[test]
fn an_inheriting_child_table_keeps_its_own_values() {
    let Some(db) = database("inherit") else {
        return;
    };
    let env = Env::initialised();
    db.client()
        .batch_execute(
            "CREATE TABLE parent (id bigint PRIMARY KEY, v text);
             CREATE TABLE child (PRIMARY KEY (id)) INHERITS (parent);",
        )
        .unwrap();
    let keyring = env.keyring();
    let mut client = db.client();
    for (table, id, plain) in [
        ("parent", 1i64, "parent one"),
        ("parent", 2, "parent two"),
        ("child", 1, "child one"),
        ("child", 3, "child three"),
    ] {
        let value = SealedValue::seal(&keyring, &cards(), Binding::new("Doc", "v"), plain).unwrap();
        client
            .execute(
                &format!("INSERT INTO {table} (id, v) VALUES ($1, $2)"),
                &[&id, &value],
            )
            .unwrap();
    }
    drop(keyring);
    env.rotate_cards();
    let output = env
        .cmd()
        .args(["rewrap", "--db", &db.url, "--batch-size", "10"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("2 tables, 4 rows: rewrapped 4 data keys, 0 already current"),
        "{}",
        stdout(&output)
    );
    assert_eq!(
        opened(&env, &db, "parent"),
        [(1, "parent one".into()), (2, "parent two".into())]
    );
    assert_eq!(
        opened(&env, &db, "child"),
        [(1, "child one".into()), (3, "child three".into())]
    );
    let output = env.retire_v1(&db.url);
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn retire_refuses_while_a_column_it_cannot_search_mentions_a_token() {
    // Each table holds one v1 data key where the search does not reach: a
    // domain over text, a text array, char(n), bytea.
    for (create, insert) in [
        (
            "CREATE DOMAIN email AS text; CREATE TABLE t (id int PRIMARY KEY, v email)",
            "INSERT INTO t VALUES (1, $1::text)",
        ),
        (
            "CREATE TABLE t (id int PRIMARY KEY, v text[])",
            "INSERT INTO t VALUES (1, ARRAY[$1::text])",
        ),
        (
            "CREATE TABLE t (id int PRIMARY KEY, v char(2000))",
            "INSERT INTO t VALUES (1, $1::text)",
        ),
        (
            "CREATE TABLE t (id int PRIMARY KEY, v bytea)",
            "INSERT INTO t VALUES (1, convert_to($1::text, 'UTF8'))",
        ),
    ] {
        let Some(db) = database("unsearched") else {
            return;
        };
        let env = Env::initialised();
        let mut client = db.client();
        client.batch_execute(create).unwrap();
        let value =
            SealedValue::seal(&env.keyring(), &cards(), Binding::new("Doc", "v"), "x").unwrap();
        client.execute(insert, &[&value.to_text()]).unwrap();
        env.rotate_cards();
        env.assert_retire_refused_unreadable(&db.url, "public.t.v", create);
    }
}

#[test]
fn tables_whose_dotted_names_look_alike_each_keep_their_own_progress() {
    // `a`.`b.c` and `a.b`.`c` both display as a.b.c: each must be
    // rewrapped, neither may take the other's progress.
    let Some(db) = database("dotted") else { return };
    let env = Env::initialised();
    let keyring = env.keyring();
    let mut client = db.client();
    client
        .batch_execute(
            "CREATE SCHEMA a; CREATE SCHEMA \"a.b\";
             CREATE TABLE a.\"b.c\" (id bigint PRIMARY KEY, v text);
             CREATE TABLE \"a.b\".c (id bigint PRIMARY KEY, v text);",
        )
        .unwrap();
    for table in ["a.\"b.c\"", "\"a.b\".c"] {
        for i in 0..3_i64 {
            let value =
                SealedValue::seal(&keyring, &cards(), Binding::new("Ledger", "v"), "x").unwrap();
            client
                .execute(
                    &format!("INSERT INTO {table} (id, v) VALUES ($1, $2)"),
                    &[&i, &value],
                )
                .unwrap();
        }
    }
    env.rotate_cards();
    let output = env
        .cmd()
        .args(["rewrap", "--db", &db.url, "--batch-size", "2"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    for table in ["a.\"b.c\"", "\"a.b\".c"] {
        let mut found = BTreeMap::<u32, usize>::new();
        for row in client
            .query(&format!("SELECT v FROM {table}"), &[])
            .unwrap()
        {
            let token: tierseal::SealedToken = row.get::<_, String>(0).parse().unwrap();
            *found.entry(token.key_version().unwrap().1).or_default() += 1;
        }
        assert_eq!(found, BTreeMap::from([(2, 3)]), "{table}");
    }
}
