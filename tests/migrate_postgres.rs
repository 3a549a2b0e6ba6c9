//! The in-place migration recipe over PostgreSQL
//! (`examples/migrate_postgres.rs`, backend
//! `examples/common/migrate_postgres.rs`) against the server named by
//! `TIERSEAL_TEST_PG` (default `host=127.0.0.1 user=postgres dbname=test`):
//! the scenarios every backend passes (`tests/support/migration.rs`),
//! then what only PostgreSQL has — row locks another transaction holds,
//! two migrators side by side — and a real kill (SIGKILL) of a migrating
//! process. Each test works in a schema of its own, dropped at its end.
//!
//! Run: `cargo test --test migrate_postgres --features postgres`. Without
//! a server it prints `skipped: ...` and passes, unless
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
#[path = "../examples/common/migrate.rs"]
#[allow(dead_code, reason = "shared with the examples")]
mod migrate;
#[path = "../examples/common/migrate_postgres.rs"]
#[allow(dead_code, reason = "shared with the examples")]
mod migrate_postgres;
#[path = "../examples/common/pg.rs"]
#[allow(dead_code, reason = "shared with the examples")]
mod pg;
#[path = "support/migration.rs"]
#[allow(dead_code, reason = "shared with the SQLite tests")]
mod scenarios;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use tierseal::sql::migrate::{Migration, PlaintextTable, Stop};
use tierseal::{Clearance, GrantSecret, Keyring, Level};

use migrate::{CustomerTable, migration_ctx, run};
use migrate_postgres::PostgresCustomers;
use pg::Schema;
use scenarios::{ROWS, every_row_opens_and_is_found, legacy_rows, unchanged};

/// The server's connection string, or `None` after the skip line (a
/// failure when `TIERSEAL_REQUIRE_SERVICES=1`).
fn server() -> Option<String> {
    let config = tierseal_testkit::postgres_config("host=127.0.0.1 user=postgres dbname=test");
    match postgres::Client::connect(&config, postgres::NoTls) {
        Ok(_) => Some(config),
        Err(error) => tierseal_testkit::absent(
            &format!("PostgreSQL at `{config}`"),
            &error.to_string(),
            "pg_isready -h 127.0.0.1, then cargo test --test migrate_postgres --features postgres",
        ),
    }
}

/// A schema no other test (or earlier run) uses.
fn schema(config: &str) -> Schema {
    Schema::create(
        config,
        &format!("tierseal_migrate_test_{}", tierseal_testkit::unique_hex()),
    )
    .unwrap()
}

/// Runs `scenario` in a schema of its own; every call of the opener is a
/// fresh connection (as a restarted job would make).
fn with_postgres(scenario: scenarios::Scenario<PostgresCustomers>) {
    let Some(config) = server() else { return };
    let schema = schema(&config);
    let services = common::services().unwrap();
    scenario(
        &|table| PostgresCustomers::connect(&config, &schema.table(table)).unwrap(),
        &services,
    );
}

scenarios::scenario_tests!(with_postgres);

/// A plaintext table of `rows` rows in a schema of its own (dropped with
/// it), or `None` after the skip line.
struct Legacy {
    config: String,
    services: common::Services,
    name: String,
    table: PostgresCustomers,
    _schema: Schema,
}

fn legacy(rows: i64) -> Option<Legacy> {
    let config = server()?;
    let schema = schema(&config);
    let name = schema.table("legacy");
    let mut table = PostgresCustomers::connect(&config, &name).unwrap();
    table.create(&legacy_rows(rows)).unwrap();
    Some(Legacy {
        services: common::services().unwrap(),
        name,
        table,
        config,
        _schema: schema,
    })
}

impl Legacy {
    /// Another session, which locks row `id` in `transaction` (as an
    /// application transaction would) until it ends.
    fn hold_row<'c>(
        &self,
        session: &'c mut postgres::Client,
        id: i64,
    ) -> postgres::Transaction<'c> {
        let mut transaction = session.transaction().unwrap();
        transaction
            .query(
                &format!("SELECT id FROM {} WHERE id = $1 FOR UPDATE", self.name),
                &[&id],
            )
            .unwrap();
        transaction
    }
}

/// A row an application transaction holds is passed by, not waited for:
/// the run ends, counts it as pending, and a rerun seals it.
#[test]
fn a_row_locked_by_another_transaction_is_passed_by_and_sealed_by_the_rerun() {
    let Some(mut legacy) = legacy(ROWS) else {
        return;
    };
    legacy.table.prepare().unwrap();
    // Were the run to wait for the held row, it would fail here rather
    // than hang.
    legacy
        .table
        .client()
        .batch_execute("SET lock_timeout = '10s'")
        .unwrap();
    let mut session = pg::connect(&legacy.config).unwrap();
    let held = legacy.hold_row(&mut session, 7);
    let first = run(&mut legacy.table, &legacy.services, 4, Stop::Never).unwrap();
    assert_eq!((first.sealed, first.cleared, first.pending), (24, 24, 1));
    assert_eq!(legacy.table.with_plaintext().unwrap(), [7]);
    assert!(!legacy.table.record_keys().unwrap().contains_key(&7));
    held.rollback().unwrap();

    let second = run(&mut legacy.table, &legacy.services, 4, Stop::Never).unwrap();
    assert_eq!((second.sealed, second.cleared, second.pending), (1, 1, 0));
    every_row_opens_and_is_found(&mut legacy.table, &legacy.services, ROWS);
}

/// Adding the columns behind a long application transaction gives up
/// after the lock timeout (5 s) instead of queueing for the table lock,
/// which would block every other writer of the table while it waits; once
/// the transaction ends, a rerun goes through.
#[test]
fn adding_the_columns_behind_a_long_transaction_gives_up_instead_of_queueing() {
    let Some(mut legacy) = legacy(ROWS) else {
        return;
    };
    let mut session = pg::connect(&legacy.config).unwrap();
    let held = legacy.hold_row(&mut session, 1);
    let error =
        common::chain(&*run(&mut legacy.table, &legacy.services, 4, Stop::Never).unwrap_err());
    assert!(error.contains("lock timeout"), "{error}");
    assert!(legacy.table.record_keys().is_err(), "no column was added");
    held.rollback().unwrap();

    let done = run(&mut legacy.table, &legacy.services, 4, Stop::Never).unwrap();
    assert_eq!((done.sealed, done.pending), (ROWS as u64, 0));
}

/// Two migrators over the same table at once take disjoint rows: every
/// row is sealed exactly once, and all plaintext is cleared.
#[test]
fn two_migrators_side_by_side_seal_each_row_once() {
    let rows = 300;
    let Some(mut legacy) = legacy(rows) else {
        return;
    };
    legacy.table.prepare().unwrap();
    let (config, name, services) = (&legacy.config, &legacy.name, &legacy.services);
    let sealed: Vec<u64> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let mut table = PostgresCustomers::connect(config, name).unwrap();
                    run(&mut table, services, 10, Stop::Never).unwrap().sealed
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    assert_eq!(sealed.iter().sum::<u64>(), rows as u64, "{sealed:?}");
    let table = &mut legacy.table;
    assert_eq!(table.record_keys().unwrap().len(), rows as usize);
    assert!(table.with_plaintext().unwrap().is_empty());
    assert_eq!(table.pending().unwrap(), 0);
    every_row_opens_and_is_found(table, &legacy.services, rows);
}

/// Set in the child process of the kill test: the table it migrates.
const CHILD_TABLE: &str = "TIERSEAL_MIGRATE_CHILD_TABLE";
/// The child's grant file, and its secret.
const CHILD_GRANT: &str = "TIERSEAL_MIGRATE_CHILD_GRANT";
const CHILD_SECRET: &str = "TIERSEAL_MIGRATE_CHILD_SECRET";
/// This test's name: the child is this test binary running only it.
const KILL_TEST: &str = "a_migrating_process_killed_mid_job_loses_nothing_and_a_rerun_finishes";

/// A process migrating the table is killed (SIGKILL) mid-job, wherever it
/// is (inside a sealing or clearing transaction, or between them): every
/// row still holds its plaintext or committed sealed values that open to
/// it, and a rerun seals exactly the rest, once.
///
/// The child is this test binary, started again to run only this test
/// with the table named in its environment; it migrates one row per
/// batch, so that a kill lands mid-job.
#[test]
fn a_migrating_process_killed_mid_job_loses_nothing_and_a_rerun_finishes() {
    if let Some(table) = tierseal_testkit::var(CHILD_TABLE) {
        migrate_until_killed(&table);
        return;
    }
    let rows = 2_000;
    let Some(legacy) = legacy(rows) else { return };
    let Legacy {
        config,
        mut services,
        name,
        mut table,
        _schema,
    } = legacy;
    // The sealed columns exist before the child starts, so that watching
    // them can begin at once.
    table.prepare().unwrap();

    // The job's keyring, as a grant (the keystore stays locked by us).
    let everything = Clearance::up_to(Level::Restricted).with(common::cards());
    let (grant, secret) = services
        .keystore
        .issue_grant(
            &everything,
            "migration-job",
            SystemTime::now() + Duration::from_secs(3600),
        )
        .unwrap();
    let grant_path = services.dir.path().join("migration.grant");
    std::fs::write(&grant_path, grant).unwrap();

    // The child's connection is named, so that we can tell when the
    // server has finished with it.
    let child_name = format!("tierseal_migrate_child_{}", tierseal_testkit::unique_hex());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", KILL_TEST, "--nocapture", "--test-threads", "1"])
        .env(CHILD_TABLE, &name)
        .env(CHILD_GRANT, &grant_path)
        .env(CHILD_SECRET, secret.expose_text().as_str())
        .env("TIERSEAL_TEST_PG", application_name(&config, &child_name))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while table.record_keys().unwrap().len() < 50 {
        if let Some(status) = child.try_wait().unwrap() {
            let output = child.wait_with_output().unwrap();
            panic!(
                "the migration ended ({status}) before it was killed: {}",
                tierseal_testkit::stderr(&output)
            );
        }
        assert!(
            Instant::now() < deadline,
            "the migration never sealed a row"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // A COMMIT the child sent just before it died may still be applied:
    // look only once the server has closed the child's session.
    while table
        .client()
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
            &[&child_name],
        )
        .unwrap()
        .get::<_, i64>(0)
        > 0
    {
        assert!(
            Instant::now() < deadline,
            "the server kept the killed session"
        );
        std::thread::sleep(Duration::from_millis(5));
    }

    // What the kill left: no row without both plaintext and sealed values,
    // and every sealed row (cleared or not) opens to what it held.
    let at_kill = table.record_keys().unwrap();
    let with_plaintext = table.with_plaintext().unwrap();
    let sealed = at_kill.len() as i64;
    assert!((50..rows).contains(&sealed), "killed mid-job: {sealed}");
    for id in 1..=rows {
        assert!(
            at_kill.contains_key(&id) || with_plaintext.contains(&id),
            "row {id} lost both its plaintext and its sealed values"
        );
    }
    for id in at_kill.keys() {
        let row = table.read_sealed(*id).unwrap().unwrap();
        assert_eq!(
            row.open_all(&services.payments, &common::ctx("test"))
                .unwrap(),
            scenarios::customer(*id)
        );
    }
    let cleared_at_kill = rows - with_plaintext.len() as i64;
    eprintln!("killed with {sealed} of {rows} rows sealed, {cleared_at_kill} cleared");

    let rerun = Migration::new(&services.onboarding, migration_ctx())
        .batch_size(100)
        .run(&mut table)
        .unwrap();
    assert_eq!(rerun.sealed as i64, rows - sealed, "{rerun:?}");
    assert_eq!(rerun.cleared as i64, rows - cleared_at_kill, "{rerun:?}");
    assert_eq!(rerun.pending, 0);
    unchanged(&at_kill, &table.record_keys().unwrap());
    assert!(table.with_plaintext().unwrap().is_empty());
    every_row_opens_and_is_found(&mut table, &services, rows);
}

/// `config` with the connection's `application_name` set to `name`, in
/// either form a connection string takes (URL or key=value).
fn application_name(config: &str, name: &str) -> String {
    if config.starts_with("postgres://") || config.starts_with("postgresql://") {
        let separator = if config.contains('?') { '&' } else { '?' };
        format!("{config}{separator}application_name={name}")
    } else {
        format!("{config} application_name={name}")
    }
}

/// The child's side of the kill test: migrate one row per batch until
/// killed.
fn migrate_until_killed(table: &str) {
    let grant = std::fs::read(tierseal_testkit::var(CHILD_GRANT).unwrap()).unwrap();
    let secret: GrantSecret = tierseal_testkit::var(CHILD_SECRET)
        .unwrap()
        .parse()
        .unwrap();
    let keyring = Keyring::from_grant(&grant, &secret).unwrap();
    let mut table = PostgresCustomers::connect(&pg::config(), table).unwrap();
    Migration::new(&keyring, migration_ctx())
        .batch_size(1)
        .run(&mut table)
        .unwrap();
}
