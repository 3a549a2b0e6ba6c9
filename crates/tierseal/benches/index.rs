//! Blind-index benchmarks: the index of one value beside one plain
//! HMAC-SHA-256 over the same bytes (keyed for each value, as the index
//! is), in the same run.
//!
//! `cargo bench -p tierseal --bench index` prints values per second and the
//! ratio of each index computation to the HMAC. See `docs/PERFORMANCE.md`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::print_stdout,
    missing_docs,
    reason = "benchmark code"
)]

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::Criterion;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tierseal::{Classified, Clearance, IndexField, KdfProfile, Keystore, Level, Tier};

const POOL: usize = 1024;
const GROUP: &str = "blind_index_iban";

fn normalise(value: &str) -> String {
    value
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

#[derive(Classified)]
struct Customer {
    #[classify(restricted, compartment = "cards", index_with = "normalise")]
    iban: String,
}

/// IBAN-like values, 22 characters after normalisation.
fn ibans() -> Vec<String> {
    (0..POOL)
        .map(|i| format!("DE89 3704 0044 0532 {:04} {:02}", i % 10_000, i % 100))
        .collect()
}

fn mean_ns(dir: &std::path::Path, function: &str, since: std::time::SystemTime) -> Option<f64> {
    let path = dir.join(GROUP).join(function).join("new/estimates.json");
    if std::fs::metadata(&path).ok()?.modified().ok()? < since {
        return None;
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    json["mean"]["point_estimate"].as_f64()
}

fn main() {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target")))
        .join("criterion");
    let mut criterion = Criterion::default()
        .output_directory(&dir)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(40)
        .configure_from_args();
    let started = std::time::SystemTime::now();

    let keydir = tempfile::tempdir().unwrap();
    let mut keystore =
        Keystore::create(keydir.path().join("k"), &"bench".into(), KdfProfile::Test).unwrap();
    let cards: Tier = "restricted/cards".parse().unwrap();
    keystore.add_tier(&cards).unwrap();
    let keyring = keystore
        .keyring(&Clearance::up_to(Level::Restricted).with(cards.clone()))
        .unwrap();
    let values = ibans();
    let normalised: Vec<String> = values.iter().map(|v| normalise(v)).collect();
    let field = IndexField::new(&cards, "Customer", "iban");
    let key = [7u8; 32];

    let mut group = criterion.benchmark_group(GROUP);
    let mut i = 0;
    group.bench_function("hmac_sha256", |b| {
        b.iter(|| {
            i = (i + 1) % POOL;
            let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).unwrap();
            mac.update(normalised[i].as_bytes());
            black_box(mac.finalize().into_bytes())
        });
    });
    group.bench_function("blind_index", |b| {
        b.iter(|| {
            i = (i + 1) % POOL;
            black_box(
                keyring
                    .blind_index(field, normalised[i].as_bytes())
                    .unwrap(),
            )
        });
    });
    group.bench_function("derived_index_iban", |b| {
        b.iter(|| {
            i = (i + 1) % POOL;
            black_box(SealedCustomer::index_iban(&keyring, &values[i]).unwrap())
        });
    });
    // Mid re-index job: two live index key versions (rotated once, here,
    // not in the closure criterion calls for every sample).
    keystore.rotate_index(&cards).unwrap();
    let rotated = keystore
        .keyring(&Clearance::up_to(Level::Restricted).with(cards.clone()))
        .unwrap();
    assert_eq!(
        SealedCustomer::index_iban_candidates(&rotated, &values[0])
            .unwrap()
            .len(),
        2
    );
    group.bench_function("candidates_2_versions", |b| {
        b.iter(|| {
            i = (i + 1) % POOL;
            black_box(SealedCustomer::index_iban_candidates(&rotated, &values[i]).unwrap())
        });
    });
    group.finish();
    criterion.final_summary();

    let Some(base) = mean_ns(&dir, "hmac_sha256", started) else {
        return; // filtered out on the command line
    };
    println!(
        "\n{:<24} {:>12} {:>10} {:>8}",
        GROUP, "values/s", "ns/value", "ratio"
    );
    for function in [
        "hmac_sha256",
        "blind_index",
        "derived_index_iban",
        "candidates_2_versions",
    ] {
        if let Some(ns) = mean_ns(&dir, function, started) {
            println!(
                "{function:<24} {:>12.0} {:>10.0} {:>7.2}x",
                1e9 / ns,
                ns,
                ns / base
            );
        }
    }
}
