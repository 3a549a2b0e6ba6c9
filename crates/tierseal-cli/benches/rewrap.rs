//! Rewrap throughput and peak memory of the `tierseal` binary on 100,000
//! and 1,000,000 sealed records, beside the floor: the same number of data
//! keys unwrapped and wrapped again with AES-GCM directly. Each size is
//! rewrapped with one and with two rayon threads (`RAYON_NUM_THREADS`), in
//! interleaved rounds, each run with the load average before it and the
//! child's CPU time.
//!
//! `cargo bench -p tierseal-cli --bench rewrap` (add `-- --quick` for the
//! 100,000-record run only, `-- --records N` for N records only, `--rounds
//! R` for R rounds, 3 by default). With `REWRAP_BASELINE=PATH` each round
//! also runs another build of the binary (e.g. the previous release) on
//! one thread, for a before/after figure in the same run.
#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::cast_precision_loss,
    clippy::indexing_slicing,
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

/// The CPU time (user + system) of this process's waited-for children,
/// from `/proc/self/stat` (clock ticks of 10 ms).
fn children_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .rsplit_once(')')
        .map(|(_, rest)| {
            rest.split_whitespace()
                .map(|f| f.parse().unwrap_or(0))
                .collect()
        })
        .unwrap_or_default();
    // Fields 16 and 17 of the file (cutime, cstime); `fields` starts at 3.
    let ticks = fields.get(13).copied().unwrap_or(0) + fields.get(14).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// The 1-minute load average.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// One run's figures.
struct Run {
    wall: Duration,
    cpu: Duration,
    peak_kib: u64,
    load: String,
}

/// Runs `tierseal rewrap` on `threads` rayon threads and samples its peak
/// resident set size.
fn rewrap(
    bin: &Path,
    keystore: &Path,
    pass: &Path,
    input: &Path,
    output: &Path,
    threads: usize,
) -> (Run, String) {
    let load = load();
    let cpu_before = children_cpu();
    let start = Instant::now();
    let mut child = Command::new(bin)
        .env("RAYON_NUM_THREADS", threads.to_string())
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
        Run {
            wall: elapsed,
            cpu: children_cpu().saturating_sub(cpu_before),
            peak_kib,
            load,
        },
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
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

    let args: Vec<String> = std::env::args().collect();
    let value_of = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(|v| v.parse::<usize>().unwrap())
    };
    let rounds = value_of("--rounds").unwrap_or(3);
    let only = value_of("--records").map(|n| vec![n]);
    let sizes: Vec<usize> = match only {
        Some(sizes) => sizes,
        None if quick => vec![100_000],
        None => vec![100_000, 1_000_000],
    };
    let mut inputs = Vec::new();
    for &count in &sizes {
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

    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_tierseal"));
    let mut configs = vec![("1", bin.clone(), 1), ("2", bin, 2)];
    if let Some(baseline) = std::env::var_os("REWRAP_BASELINE") {
        configs.push(("base", baseline.into(), 1));
    }
    println!(
        "\n{:>10} {:>7} {:>5} {:>9} {:>9} {:>12} {:>11} {:>6}",
        "records", "threads", "round", "wall s", "CPU s", "records/s", "peak RSS", "load"
    );
    for (count, input) in &inputs {
        let output = dir.path().join(format!("out-{count}.jsonl"));
        let mut walls: Vec<Vec<Duration>> = vec![Vec::new(); configs.len()];
        let mut cpus: Vec<Vec<Duration>> = vec![Vec::new(); configs.len()];
        for round in 1..=rounds {
            for (index, (label, bin, threads)) in configs.iter().enumerate() {
                let (run, summary) = rewrap(bin, &keystore_path, &pass, input, &output, *threads);
                assert!(
                    summary.contains(&format!("{count} records: rewrapped {count} data keys")),
                    "{summary}"
                );
                println!(
                    "{count:>10} {label:>7} {round:>5} {:>9.2} {:>9.2} {:>12.0} {:>7.1} MiB {:>6}",
                    run.wall.as_secs_f64(),
                    run.cpu.as_secs_f64(),
                    *count as f64 / run.wall.as_secs_f64(),
                    run.peak_kib as f64 / 1024.0,
                    run.load
                );
                walls[index].push(run.wall);
                cpus[index].push(run.cpu);
                std::fs::remove_file(&output).ok();
            }
        }
        let keys = 2 * count;
        let floor = floor(keys);
        let walls: Vec<Duration> = walls.into_iter().map(median).collect();
        let cpus: Vec<Duration> = cpus.into_iter().map(median).collect();
        println!(
            "{count:>10}: median wall {:.2} s on 1 thread, {:.2} s on 2 ({:.2}x); \
             median CPU {:.2} s / {:.2} s; floor {:.0} keys/s ({:.1}x of 1 thread's time)",
            walls[0].as_secs_f64(),
            walls[1].as_secs_f64(),
            walls[0].as_secs_f64() / walls[1].as_secs_f64(),
            cpus[0].as_secs_f64(),
            cpus[1].as_secs_f64(),
            keys as f64 / floor.as_secs_f64(),
            walls[0].as_secs_f64() / floor.as_secs_f64()
        );
        if let Some(base) = walls.get(2) {
            println!(
                "{count:>10}: baseline median wall {:.2} s, CPU {:.2} s (1 thread here / baseline: {:.2}x wall, {:.2}x CPU)",
                base.as_secs_f64(),
                cpus[2].as_secs_f64(),
                walls[0].as_secs_f64() / base.as_secs_f64(),
                cpus[0].as_secs_f64() / cpus[2].as_secs_f64()
            );
        }
    }
}
