//! Rewrap throughput and peak memory of the `tierseal` binary on 100,000
//! and 1,000,000 sealed records, beside the floor: the same number of data
//! keys unwrapped and wrapped again with AES-GCM directly.
//!
//! `cargo bench -p tierseal-cli --bench rewrap` (add `-- --quick` for the
//! 100,000-record run only).
#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::cast_precision_loss,
    missing_docs,
    reason = "benchmark code"
)]

use std::io::{BufWriter, Write as _};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, KeyInit};
use tierseal::{Binding, Clearance, KdfProfile, Keyring, Keystore, Level, RecordSealer, Tier};

const PASSPHRASE: &str = "bench passphrase";

/// Writes `count` lines, each a document with one record sealed at two
/// tiers (two record keys, three fields).
fn generate(keyring: &Keyring, path: &Path, count: usize) {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    for i in 0..count {
        let id = format!("acc_{i:08}");
        let mut sealer =
            RecordSealer::new(keyring, Binding::new("Account", "").with_record_id(&id));
        let name = sealer
            .seal_field(&Tier::INTERNAL, "name", "Ada Lovelace")
            .unwrap();
        let email = sealer
            .seal_field(&Tier::INTERNAL, "email", "ada@example.com")
            .unwrap();
        let balance = sealer
            .seal_field(&Tier::CONFIDENTIAL, "balance", &1_250_075_i64)
            .unwrap();
        let keys = sealer.finish();
        let line = serde_json::json!({
            "id": id, "kind": "account", "name": name, "email": email, "balance": balance, "_keys": keys,
        });
        writeln!(out, "{line}").unwrap();
    }
    out.flush().unwrap();
}

/// Runs `tierseal rewrap` and samples its peak resident set size.
fn rewrap(keystore: &Path, pass: &Path, input: &Path, output: &Path) -> (Duration, u64, String) {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tierseal"))
        .arg("--keystore")
        .arg(keystore)
        .arg("--passphrase-file")
        .arg(pass)
        .arg("rewrap")
        .arg("--input")
        .arg(input)
        .arg("--output")
        .arg(output)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0;
    while child.try_wait().unwrap().is_none() {
        if let Ok(text) = std::fs::read_to_string(&status) {
            for line in text.lines().filter(|l| l.starts_with("VmHWM:")) {
                let kib: u64 = line
                    .split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                peak_kib = peak_kib.max(kib);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = start.elapsed();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    (
        elapsed,
        peak_kib,
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

/// The floor: unwrap and re-wrap `count` 32-byte keys with ready ciphers.
fn floor(count: usize) -> Duration {
    let old = Aes256Gcm::new(&[1u8; 32].into());
    let new = Aes256Gcm::new(&[2u8; 32].into());
    let mut wrapped = [0u8; 32];
    let tag = old
        .encrypt_inout_detached(&[0u8; 12].into(), b"aad", (&mut wrapped[..]).into())
        .unwrap();
    let start = Instant::now();
    for i in 0..count {
        let mut key = wrapped;
        old.decrypt_inout_detached(&[0u8; 12].into(), b"aad", (&mut key[..]).into(), &tag)
            .unwrap();
        let mut nonce = [0u8; 12];
        nonce[..8].copy_from_slice(&(i as u64).to_le_bytes());
        let _ = new
            .encrypt_inout_detached(&nonce.into(), b"aad", (&mut key[..]).into())
            .unwrap();
        std::hint::black_box(&key);
    }
    start.elapsed()
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let dir = tempfile::tempdir().unwrap();
    let keystore_path = dir.path().join("bench.keystore");
    let pass = dir.path().join("pass");
    std::fs::write(&pass, PASSPHRASE).unwrap();
    let mut keystore =
        Keystore::create(&keystore_path, &PASSPHRASE.into(), KdfProfile::Test).unwrap();
    let keyring = keystore
        .keyring(&Clearance::up_to(Level::Confidential))
        .unwrap();

    let sizes: &[usize] = if quick {
        &[100_000]
    } else {
        &[100_000, 1_000_000]
    };
    let mut inputs = Vec::new();
    for &count in sizes {
        let input = dir.path().join(format!("records-{count}.jsonl"));
        let start = Instant::now();
        generate(&keyring, &input, count);
        let bytes = std::fs::metadata(&input).unwrap().len();
        println!(
            "generated {count} records ({:.0} MiB) in {:.1} s",
            bytes as f64 / 1_048_576.0,
            start.elapsed().as_secs_f64()
        );
        inputs.push((count, input));
    }
    // One of the two tiers moves: half the data keys are rewrapped.
    keystore.rotate(&Tier::CONFIDENTIAL).unwrap();
    drop(keystore);

    println!(
        "\n{:>10} {:>12} {:>14} {:>12} {:>16} {:>8}",
        "records", "seconds", "records/s", "peak RSS", "floor keys/s", "ratio"
    );
    for (count, input) in &inputs {
        let output = dir.path().join(format!("out-{count}.jsonl"));
        let (elapsed, peak_kib, summary) = rewrap(&keystore_path, &pass, input, &output);
        assert!(
            summary.contains(&format!("{count} records: rewrapped {count} data keys")),
            "{summary}"
        );
        let keys = 2 * count;
        let floor = floor(keys);
        let rate = *count as f64 / elapsed.as_secs_f64();
        println!(
            "{count:>10} {:>12.2} {rate:>14.0} {:>9.1} MiB {:>16.0} {:>7.1}x",
            elapsed.as_secs_f64(),
            peak_kib as f64 / 1024.0,
            keys as f64 / floor.as_secs_f64(),
            elapsed.as_secs_f64() / floor.as_secs_f64()
        );
        std::fs::remove_file(&output).ok();
    }
}
