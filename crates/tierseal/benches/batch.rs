//! The batch API beside one thread, in the same run.
//!
//! `cargo bench -p tierseal --bench batch` seals and opens 10,000 records
//! of the benchmark record (8 string fields of random lowercase letters,
//! 227 bytes of plaintext, a distinct record id each; see
//! docs/PERFORMANCE.md) one by one on the main thread, and with
//! `tierseal::batch` in pools of 1 and 2 threads, in interleaved rounds.
//! It prints, per operation, the median records per second of each form,
//! the speedup of 2 threads over the plain loop, the load average read
//! from /proc/loadavg just before each figure, and the CPU time all
//! threads spent per record (from /proc/self/task/*/schedstat), which a
//! busy machine does not inflate the way it inflates the wall clock.
//!
//! Environment: `BATCH_RECORDS` (default 10000), `BATCH_ROUNDS`
//! (default 7), `BATCH_ONLY` (one form alone, for callgrind; see below).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::print_stdout,
    missing_docs,
    reason = "benchmark code"
)]

use std::hint::black_box;
use std::time::Instant;

use tierseal::{AccessContext, Classified, Clearance, KdfProfile, Keyring, Keystore, Level};

#[path = "support/baseline.rs"]
mod baseline;
#[path = "support/records.rs"]
mod records;
use baseline::letters;
use records::{Person, SealedPerson};

/// Benchmark record `i`: the 8 fields of docs/PERFORMANCE.md's record
/// (227 bytes of plaintext) and a distinct record id.
fn record(i: usize) -> Person {
    let fields = [14, 26, 11, 12, 42, 10, 16, 96].map(letters);
    Person::new(&format!("rec_{i:07}"), &fields)
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| {
            let parts: Vec<&str> = text.split_whitespace().take(3).collect();
            (parts.len() == 3).then(|| parts.join(" "))
        })
        .unwrap_or_else(|| "n/a".into())
}

/// CPU time (ns) spent so far by every thread of this process; `None`
/// where /proc does not say.
fn cpu_ns() -> Option<u64> {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let path = task.ok()?.path().join("schedstat");
        let text = std::fs::read_to_string(path).ok()?;
        total += text.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

/// One timed run: wall seconds, CPU nanoseconds of all threads, and the
/// load average just before.
struct Sample {
    wall: f64,
    cpu: Option<u64>,
    load: String,
}

fn measure<T>(f: impl FnOnce() -> T) -> (Sample, T) {
    let load = loadavg();
    let cpu_before = cpu_ns();
    let started = Instant::now();
    let out = black_box(f());
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_ns()
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    (Sample { wall, cpu, load }, out)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[derive(Default)]
struct Series {
    samples: Vec<Sample>,
}

impl Series {
    fn wall(&self) -> f64 {
        median(self.samples.iter().map(|s| s.wall).collect())
    }

    fn cpu_per_record_ns(&self, records: usize) -> Option<f64> {
        let cpus: Option<Vec<f64>> = self
            .samples
            .iter()
            .map(|s| s.cpu.map(|ns| ns as f64))
            .collect();
        cpus.map(|c| median(c) / records as f64)
    }

    fn loads(&self) -> String {
        let mut loads: Vec<&str> = self.samples.iter().map(|s| s.load.as_str()).collect();
        loads.sort_unstable();
        format!("{} .. {}", loads[0], loads[loads.len() - 1])
    }
}

fn main() {
    let records = env_usize("BATCH_RECORDS", 10_000);
    let rounds = env_usize("BATCH_ROUNDS", 7).max(1);
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it once
    // with no argument: then do one small round to prove it works.
    let quick = !std::env::args().any(|a| a == "--bench");
    let (records, rounds) = if quick { (200, 1) } else { (records, rounds) };

    let dir = tempfile::tempdir().unwrap();
    let keystore =
        Keystore::create(dir.path().join("k"), &"bench".into(), KdfProfile::Test).unwrap();
    let keyring: Keyring = keystore
        .keyring(&Clearance::up_to(Level::Confidential))
        .unwrap();
    let ctx = AccessContext::new("bench").with_purpose("benchmark");
    let pool: Vec<Person> = (0..records).map(record).collect();
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let two = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();

    let seal_loop =
        || -> Vec<SealedPerson> { pool.iter().map(|r| r.seal(&keyring).unwrap()).collect() };
    let seal_batch = || -> Vec<SealedPerson> {
        tierseal::batch::seal_all(&keyring, &pool)
            .into_iter()
            .map(Result::unwrap)
            .collect()
    };
    let sealed = seal_loop();
    // The loop keeps every opened record until the end, as the batch
    // returns them all: dropping each record as soon as it is opened would
    // reuse one hot allocation per field and time less than a batch can do.
    let open_loop = || -> usize {
        let opened: Vec<Person> = sealed
            .iter()
            .map(|s| s.open_all(&keyring, &ctx).unwrap())
            .collect();
        opened.iter().map(|r| r.notes.len()).sum()
    };
    let open_batch = || -> usize {
        let opened: Vec<Person> = tierseal::batch::open_all(&keyring, &ctx, &sealed)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        opened.iter().map(|r| r.notes.len()).sum()
    };
    // `BATCH_ONLY=loop|batch_1t|batch_2t`: run one form `BATCH_ROUNDS`
    // times (seal, then open) and nothing else, for instruction counts
    // under callgrind: the difference between 3 rounds and 1 round is the
    // steady-state cost of 2 rounds, without set-up or cold caches.
    if let Ok(only) = std::env::var("BATCH_ONLY") {
        for _ in 0..rounds {
            match only.as_str() {
                "loop" => black_box((seal_loop(), open_loop())),
                "batch_1t" => black_box((one.install(seal_batch), one.install(open_batch))),
                "batch_2t" => black_box((two.install(seal_batch), two.install(open_batch))),
                _ => (Vec::new(), 0),
            };
        }
        println!("batch: BATCH_ONLY={only}, {records} records, {rounds} rounds");
        return;
    }
    // Warm up every path and both pools.
    let _ = (
        seal_loop(),
        one.install(seal_batch),
        two.install(seal_batch),
    );
    let _ = (
        open_loop(),
        one.install(open_batch),
        two.install(open_batch),
    );

    let names = ["loop", "batch_1t", "batch_2t"];
    let mut seal: [Series; 3] = Default::default();
    let mut open: [Series; 3] = Default::default();
    for round in 0..rounds {
        // Interleaved, and the order rotates so that no form always runs
        // first or last in a round.
        for k in 0..3 {
            let form = (round + k) % 3;
            let (s, out) = match form {
                0 => measure(seal_loop),
                1 => measure(|| one.install(seal_batch)),
                _ => measure(|| two.install(seal_batch)),
            };
            assert_eq!(out.len(), records);
            seal[form].samples.push(s);
            let (s, total) = match form {
                0 => measure(open_loop),
                1 => measure(|| one.install(open_batch)),
                _ => measure(|| two.install(open_batch)),
            };
            assert!(total > 0);
            open[form].samples.push(s);
        }
    }

    println!(
        "\nbatch: {records} records of 8 fields (227 B), {rounds} interleaved rounds, medians; {} cores available",
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    println!(
        "{:<5} {:<9} {:>12} {:>10} {:>14} {:>12}  load average (1/5/15 min, min .. max over rounds)",
        "op", "form", "records/s", "vs loop", "CPU ns/record", "CPU vs loop"
    );
    for (op, series) in [("seal", &seal), ("open", &open)] {
        let base_wall = series[0].wall();
        let base_cpu = series[0].cpu_per_record_ns(records);
        for (name, s) in names.iter().zip(series.iter()) {
            let cpu = s.cpu_per_record_ns(records);
            println!(
                "{op:<5} {name:<9} {:>12.0} {:>9.2}x {:>14} {:>12}  {}",
                records as f64 / s.wall(),
                base_wall / s.wall(),
                cpu.map_or("n/a".into(), |c| format!("{c:.0}")),
                cpu.zip(base_cpu)
                    .map_or("n/a".into(), |(c, b)| format!("{:.2}x", c / b)),
                s.loads()
            );
        }
        // On an idle machine with two free cores, two threads could reach
        // at most 2 x (CPU per record of the loop / CPU per record of the
        // batch): the batch's extra work is what keeps it below 2x.
        if let (Some(b), Some(c)) = (base_cpu, series[2].cpu_per_record_ns(records)) {
            println!(
                "{op:<5} bound on 2 idle cores from CPU time: {:.2}x",
                2.0 * b / c
            );
        }
    }
}
