//! Lint throughput on a generated tree of 200,000 lines, in lines per
//! second. `cargo bench -p tierseal-lint --bench lint`
#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::indexing_slicing,
    missing_docs,
    reason = "benchmark code"
)]

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, Throughput};

/// One module of about 1,000 lines: plain and classified structs, enums,
/// impls, functions; a few financial fields left unclassified.
fn module(index: usize) -> String {
    let mut text = String::from("//! Generated module.\nuse std::collections::HashMap;\n\n");
    let mut block = 0;
    while text.lines().count() < 1_000 {
        block += 1;
        let _ = write!(
            text,
            "/// A record.\n#[derive(Debug, Clone, serde::Serialize)]\npub struct Plain{index}x{block} {{\n    pub id: u64,\n    \
             pub name: String,\n    pub created_at: String,\n    pub tags: Vec<String>,\n    pub notes: Option<String>,\n}}\n\n\
             #[derive(tierseal::Classified)]\n#[classified(record_id = \"id\")]\npub struct Sealed{index}x{block} {{\n    \
             #[classify(public)]\n    pub id: String,\n    #[classify(confidential)]\n    pub balance: i64,\n    \
             #[classify(restricted, compartment = \"cards\", mask = \"last4\")]\n    pub card_number: String,\n    \
             pub nickname: String,\n}}\n\n\
             pub enum Event{index}x{block} {{\n    Opened {{ at: u64 }},\n    Closed(u64, String),\n}}\n\n\
             impl Plain{index}x{block} {{\n    pub fn describe(&self) -> String {{\n        let mut map = HashMap::new();\n        \
             map.insert(self.id, self.name.clone());\n        format!(\"{{}} {{:?}}\", self.name, map)\n    }}\n}}\n\n"
        );
        if block % 10 == 0 {
            let _ = write!(
                text,
                "pub struct Leaky{index}x{block} {{\n    pub iban: String,\n}}\n\n"
            );
        }
    }
    text
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let mut lines = 0;
    let mut index = 0;
    while lines < 200_000 {
        let text = module(index);
        lines += text.lines().count();
        std::fs::write(src.join(format!("m{index}.rs")), text).unwrap();
        index += 1;
    }
    let paths = vec![PathBuf::from(&src)];
    let report = tierseal_lint::lint_paths(&paths, None).unwrap();
    assert_eq!(report.lines, lines);

    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10))
        .sample_size(10)
        .configure_from_args();
    let mut group = criterion.benchmark_group("lint");
    group.throughput(Throughput::Elements(u64::try_from(lines).unwrap()));
    let mut seconds = Vec::new();
    group.bench_function("200k_lines", |b| {
        b.iter(|| {
            let start = std::time::Instant::now();
            let report = tierseal_lint::lint_paths(&paths, None).unwrap();
            seconds.push(start.elapsed().as_secs_f64());
            report
        });
    });
    group.finish();
    criterion.final_summary();
    if !seconds.is_empty() {
        seconds.sort_by(f64::total_cmp);
        let median = seconds[seconds.len() / 2];
        println!(
            "\nlint: {lines} lines in {} files, {} findings; median {:.3} s = {:.0} lines/s (one thread)",
            index,
            report.findings.len(),
            median,
            lines as f64 / median
        );
    }
}
