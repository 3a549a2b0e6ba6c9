//! Rewrap over a database at scale: rows per second and peak memory.
//!
//! ```text
//! cargo run --release -p tierseal-cli --example bench_rewrap_db -- sqlite 1000000
//! cargo run --release -p tierseal-cli --example bench_rewrap_db -- postgres 1000000 [BATCH]
//! ```
//!
//! Fills a table with `ROWS` rows (an SQLite file in a temporary folder,
//! or a PostgreSQL database of its own on `TIERSEAL_TEST_PG`, default
//! postgres://postgres@127.0.0.1:5432/test), each with a record field, its
//! record key (text) and a JSON document holding a sealed value, rotates the
//! tier, then rewraps in a fresh process (so that its peak RSS, VmHWM, is the
//! rewrap's own) and prints rows/s, peak RSS and the load average. Criterion
//! is too slow for a million rows; this is run by hand and its figures are
//! recorded in docs/PERFORMANCE.md.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "a benchmark run by hand"
)]

use std::io::Write as _;
use std::time::Instant;

use tierseal::{Binding, Clearance, KdfProfile, Keystore, Level, RecordSealer, SealedValue, Tier};
use tierseal_cli::db::{RewrapOptions, Scope};

const PASSPHRASE: &str = "bench passphrase";

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// CPU seconds (user + system) this process has used, from /proc (the
/// machine may be shared: wall time alone would measure the neighbours).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses).
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat(5), 12 and 13 here.
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if std::env::var("BENCH_PHASE").as_deref() == Ok("rewrap") {
        return rewrap_phase(&args[1], &args[2], args[3].parse().unwrap());
    }
    let backend = args.get(1).map_or("sqlite", String::as_str).to_owned();
    let rows: usize = args.get(2).map_or(100_000, |n| n.parse().unwrap());
    let batch: usize = args.get(3).map_or(1000, |n| n.parse().unwrap());

    let dir = tempfile::tempdir().unwrap();
    let keystore_path = dir.path().join("bench.keystore");
    let mut keystore =
        Keystore::create(&keystore_path, &PASSPHRASE.into(), KdfProfile::Test).unwrap();
    let keyring = keystore
        .keyring(&Clearance::up_to(Level::Restricted))
        .unwrap();
    let started = Instant::now();
    let mut pg_cleanup = None;
    let url = match backend.as_str() {
        "sqlite" => fill_sqlite(&dir.path().join("bench.db"), &keyring, rows),
        "postgres" => {
            let (url, admin, name) = fill_postgres(&keyring, rows);
            pg_cleanup = Some((admin, name));
            url
        }
        other => panic!("unknown backend {other}: sqlite or postgres"),
    };
    eprintln!(
        "filled {rows} rows in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    drop(keyring);
    keystore.rotate(&Tier::RESTRICTED).unwrap();
    drop(keystore);

    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .env("BENCH_PHASE", "rewrap")
        .arg(&url)
        .arg(&keystore_path)
        .arg(batch.to_string())
        .output()
        .unwrap();
    std::io::stderr().write_all(&output.stderr).unwrap();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "{backend} rows={rows} batch={batch} {} loadavg={} cores={cores}",
        String::from_utf8_lossy(&output.stdout).trim(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    if let Some((mut admin, name)) = pg_cleanup {
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .unwrap();
    }
}

fn rewrap_phase(url: &str, keystore: &str, batch: usize) {
    let keystore = Keystore::open(keystore, &PASSPHRASE.into()).unwrap();
    let keyring = keystore
        .keyring(&Clearance::up_to(Level::Restricted))
        .unwrap();
    let before = vm_hwm_kib();
    let mut db = tierseal_cli::db::open(url, std::time::Duration::from_secs(10), false).unwrap();
    let options = RewrapOptions {
        scope: Scope {
            batch_size: batch,
            ..Scope::default()
        },
        ..RewrapOptions::default()
    };
    let started = Instant::now();
    let cpu_before = cpu_seconds();
    let summary = tierseal_cli::db::rewrap(db.as_mut(), &keyring, &options).unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    assert_eq!(summary.failed, 0);
    assert_eq!(summary.rewrapped, 2 * summary.rows);
    println!(
        "rewrapped={} seconds={seconds:.2} rows_per_s={:.0} cpu_seconds={cpu:.2} \
         rows_per_cpu_s={:.0} vmhwm_before_kib={before} vmhwm_kib={}",
        summary.rewrapped,
        summary.rows as f64 / seconds,
        summary.rows as f64 / cpu.max(0.01),
        vm_hwm_kib()
    );
}

/// One row: a record field, its record key, a JSON document with a sealed
/// value.
fn row(keyring: &tierseal::Keyring, i: usize) -> (String, String, String) {
    let id = format!("acc_{i:08}");
    let mut sealer = RecordSealer::new(keyring, Binding::new("Account", "").with_record_id(&id));
    let card = sealer
        .seal_field(&Tier::RESTRICTED, "card", &format!("4111{i:012}"))
        .unwrap();
    let keys = sealer.finish();
    let iban = SealedValue::seal(
        keyring,
        &Tier::RESTRICTED,
        Binding::new("Account", "iban").with_record_id(&id),
        &format!("DE8937040044{i:010}"),
    )
    .unwrap();
    let doc = format!(
        "{{\"kind\":\"account\",\"seq\":{i},\"iban\":\"{}\",\"note\":\"ok\"}}",
        iban.to_text()
    );
    (card.to_text(), keys.keys()[0].to_text(), doc)
}

fn fill_sqlite(path: &std::path::Path, keyring: &tierseal::Keyring, rows: usize) -> String {
    let db = rusqlite::Connection::open(path).unwrap();
    db.execute_batch(
        "PRAGMA journal_mode = WAL; CREATE TABLE accounts (id INTEGER PRIMARY KEY, \
         card TEXT, card_key TEXT, doc JSON, note TEXT)",
    )
    .unwrap();
    let tx = db.unchecked_transaction().unwrap();
    {
        let mut insert = tx
            .prepare("INSERT INTO accounts VALUES (?1, ?2, ?3, ?4, 'plain note')")
            .unwrap();
        for i in 0..rows {
            let (card, key, doc) = row(keyring, i);
            insert
                .execute(rusqlite::params![i as i64 + 1, card, key, doc])
                .unwrap();
        }
    }
    tx.commit().unwrap();
    format!("sqlite://{}", path.display())
}

fn fill_postgres(keyring: &tierseal::Keyring, rows: usize) -> (String, postgres::Client, String) {
    let base = std::env::var("TIERSEAL_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let mut admin = postgres::Client::connect(&base, postgres::NoTls).unwrap();
    let name = format!("tierseal_bench_{}", std::process::id());
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    let url = format!("{}/{name}", &base[..base.rfind('/').unwrap()]);
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    client
        .batch_execute(
            "CREATE TABLE accounts (id bigint PRIMARY KEY, card text, card_key varchar(500), \
             doc jsonb, note text)",
        )
        .unwrap();
    let mut writer = client
        .copy_in("COPY accounts (id, card, card_key, doc, note) FROM STDIN")
        .unwrap();
    for i in 0..rows {
        let (card, key, doc) = row(keyring, i);
        writeln!(writer, "{}\t{card}\t{key}\t{doc}\tplain note", i + 1).unwrap();
    }
    writer.finish().unwrap();
    client.batch_execute("ANALYZE accounts").unwrap();
    (url, admin, name)
}
