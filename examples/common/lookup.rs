//! Lookup by blind index on a large table with an ordinary B-tree index,
//! whatever the database: the measurement shared by
//! `examples/index_lookup_sqlite.rs` and `examples/index_lookup_postgres.rs`.
//!
//! It fills a table `(id, iban_index, payload)` with `rows` rows (each
//! row's index computed on the way), builds the B-tree index on
//! `iban_index`, checks that the lookup's query plan uses it, then times,
//! in interleaved rounds:
//!
//! - the baseline: a lookup by primary key (`WHERE id = ?`, no index
//!   computation), in the same run on the same table;
//! - a lookup by blind index of a present IBAN: the query value's index
//!   computed with a search-only keyring, then `WHERE iban_index = ?`;
//! - the same for an absent IBAN.
//!
//! It prints lookups/s, µs per lookup, the ratio to the baseline and the
//! load average before and after.

use std::time::{Duration, Instant};

use tierseal::{BlindIndex, Clearance, IndexField, KdfProfile, Keyring, Keystore, Tier};

/// An error of the examples.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Rows written per insert call.
const CHUNK: u64 = 10_000;
/// Lookups of each kind, spread over `ROUNDS` interleaved rounds.
const LOOKUPS: u64 = 20_000;
const ROUNDS: u64 = 4;

/// A database table for the measurement.
pub(crate) trait LookupTable {
    /// The database, for the report (version, storage).
    fn describe(&mut self) -> Result<String, BoxError>;
    /// Creates the empty table `(id, iban_index, payload)`.
    fn create(&mut self) -> Result<(), BoxError>;
    /// Inserts `rows` (id and its IBAN's index), one transaction a call.
    fn insert(&mut self, rows: &[(i64, BlindIndex)]) -> Result<(), BoxError>;
    /// Builds the B-tree index on `iban_index`, then refreshes the
    /// planner's statistics.
    fn build_index(&mut self) -> Result<(), BoxError>;
    /// The lookup's query plan, and whether it uses the index.
    fn plan(&mut self) -> Result<(String, bool), BoxError>;
    /// How many rows have `iban_index = index`.
    fn by_index(&mut self, index: &BlindIndex) -> Result<u64, BoxError>;
    /// How many rows have `id = id` (the baseline).
    fn by_id(&mut self, id: i64) -> Result<u64, BoxError>;
}

/// The IBAN of row `i`.
fn iban(i: u64) -> String {
    format!("DE{:02}37040044{:010}", i % 97, i)
}

/// The load average (1, 5, 15 minutes), as the kernel reports it.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".into())
}

/// The `rows` argument: the first command-line argument, else 1,000,000.
pub(crate) fn rows_argument() -> Result<u64, BoxError> {
    Ok(std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(1_000_000))
}

/// One kind of lookup: its name and its total time over the rounds.
struct Kind {
    label: &'static str,
    elapsed: Duration,
}

/// Fills `table` with `rows` rows and measures the lookups.
#[allow(clippy::print_stdout, reason = "the examples print their figures")]
pub(crate) fn run(table: &mut impl LookupTable, rows: u64) -> Result<(), BoxError> {
    if rows == 0 {
        return Err("the table needs at least one row".into());
    }
    println!("load average before: {}", load_average());
    println!("database: {}", table.describe()?);
    let dir = tempfile::tempdir()?;
    // KdfProfile::Test is cheap and NOT for production keystores.
    let mut keystore = Keystore::create(dir.path().join("k"), &"bench".into(), KdfProfile::Test)?;
    let cards: Tier = "restricted/cards".parse()?;
    keystore.add_tier(&cards)?;
    let keyring = keystore.search_keyring(&Clearance::none().with(cards.clone()))?;
    let field = IndexField::new(&cards, "Customer", "iban");

    table.create()?;
    let started = Instant::now();
    let mut next = 0;
    while next < rows {
        let end = (next + CHUNK).min(rows);
        let chunk = (next..end)
            .map(|i| {
                Ok((
                    i64::try_from(i)?,
                    keyring.blind_index(field, iban(i).as_bytes())?,
                ))
            })
            .collect::<Result<Vec<_>, BoxError>>()?;
        table.insert(&chunk)?;
        next = end;
    }
    let filled = started.elapsed();
    let started = Instant::now();
    table.build_index()?;
    println!(
        "{rows} rows: filled in {:.1} s (index computed per row), B-tree index built in {:.1} s",
        filled.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    let (plan, uses_index) = table.plan()?;
    println!("plan: {plan}");
    if !uses_index {
        return Err("the lookup does not use the index".into());
    }

    let mut kinds = [
        Kind {
            label: "primary key (baseline)",
            elapsed: Duration::ZERO,
        },
        Kind {
            label: "blind index, present",
            elapsed: Duration::ZERO,
        },
        Kind {
            label: "blind index, absent",
            elapsed: Duration::ZERO,
        },
    ];
    let per_round = LOOKUPS / ROUNDS;
    for round in 0..ROUNDS {
        for (which, kind) in kinds.iter_mut().enumerate() {
            let started = Instant::now();
            let found = lookups(
                table,
                &keyring,
                field,
                which,
                rows,
                round * per_round,
                per_round,
            )?;
            kind.elapsed += started.elapsed();
            let expected = if which == 2 { 0 } else { per_round };
            if found != expected {
                return Err(
                    format!("{}: found {found} rows, expected {expected}", kind.label).into(),
                );
            }
        }
    }
    let baseline = kinds[0].elapsed.as_secs_f64();
    for kind in &kinds {
        let seconds = kind.elapsed.as_secs_f64();
        println!(
            "{:<24} {LOOKUPS} lookups: {:>6.1} µs each, {:>7.0} lookups/s, {:.2}x the baseline",
            kind.label,
            seconds * 1e6 / LOOKUPS as f64,
            LOOKUPS as f64 / seconds,
            seconds / baseline
        );
    }
    println!("load average after: {}", load_average());
    Ok(())
}

/// `count` lookups of kind `which` (0 baseline, 1 present, 2 absent),
/// starting at lookup number `from`; returns the rows found.
fn lookups(
    table: &mut impl LookupTable,
    keyring: &Keyring,
    field: IndexField<'_>,
    which: usize,
    rows: u64,
    from: u64,
    count: u64,
) -> Result<u64, BoxError> {
    let mut found = 0;
    for n in from..from + count {
        // Spread over the table: a prime stride.
        let i = (n * 7_919) % rows;
        found += match which {
            0 => table.by_id(i64::try_from(i)?)?,
            1 => table.by_index(&keyring.blind_index(field, iban(i).as_bytes())?)?,
            _ => table.by_index(&keyring.blind_index(field, iban(rows + i).as_bytes())?)?,
        };
    }
    Ok(found)
}
