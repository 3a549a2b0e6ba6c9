//! The batch API: many records or values in one call, across threads,
//! each giving what the single call gives, in order, failing alone.
//!
//! Runs with the default `rayon` feature and without it:
//! `cargo test -p tierseal --no-default-features --test batch`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a panic is a test failure"
)]

use std::collections::HashSet;
use std::sync::{Arc, LazyLock, Mutex};

use tierseal::audit::{Action, Durability, FileSink, Outcome};
use tierseal::{
    AccessContext, Binding, Classified, Clearance, Error, KdfProfile, Keyring, Keystore, Level,
    Rewrapped, SealedRecord, SealedToken, SealedValue, Tier, batch,
};

static CTX: LazyLock<AccessContext> =
    LazyLock::new(|| AccessContext::new("batch-tests").with_purpose("TEST-15"));

/// More than a few runs of `MIN_CHUNK`, so that the batch is split.
const N: usize = 300;

fn cards() -> Tier {
    "restricted/cards".parse().unwrap()
}

struct Fixture {
    dir: tempfile::TempDir,
    keystore: Keystore,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let mut keystore =
            Keystore::create(dir.path().join("k"), &"pw".into(), KdfProfile::Test).unwrap();
        keystore.add_tier(&cards()).unwrap();
        Fixture { dir, keystore }
    }

    fn everything(&self) -> Keyring {
        self.keystore
            .keyring(&Clearance::up_to(Level::Restricted).with(cards()))
            .unwrap()
    }
}

/// The benchmark record's shape: eight classified string fields over
/// three tiers, and a public record id.
#[derive(Classified, Clone, PartialEq)]
#[classified(record_id = "id")]
struct Customer {
    #[classify(public)]
    id: String,
    #[classify(internal)]
    name: String,
    #[classify(confidential)]
    email: String,
    #[classify(restricted)]
    ssn: String,
    #[classify(confidential)]
    phone: String,
    #[classify(confidential)]
    address: String,
    #[classify(confidential)]
    dob: String,
    #[classify(restricted, compartment = "cards", mask = "last4")]
    account: String,
    #[classify(internal)]
    notes: String,
}

fn customer(i: usize) -> Customer {
    Customer {
        id: format!("cus_{i:05}"),
        name: format!("Name {i}"),
        email: format!("user{i}@example.com"),
        ssn: format!("{:03}-45-{:04}", i % 1000, i),
        phone: format!("+44 20 {i:07}"),
        address: format!("{i} Example Street, London"),
        dob: format!("19{:02}-01-01", i % 100),
        account: format!("{:016}", 4_111_111_111_111_111_u64 + i as u64),
        notes: "n".repeat(i % 97),
    }
}

fn customers() -> Vec<Customer> {
    (0..N).map(customer).collect()
}

fn ok<T>(results: Vec<Result<T, Error>>) -> Vec<T> {
    results
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.unwrap_or_else(|e| panic!("element {i}: {e}")))
        .collect()
}

#[test]
fn batch_sealed_records_open_one_by_one() {
    let fixture = Fixture::new();
    let keyring = fixture.everything();
    let records = customers();
    let sealed = ok(batch::seal_all(&keyring, &records));
    assert_eq!(sealed.len(), N);
    for (record, sealed) in records.iter().zip(&sealed) {
        assert!(sealed.open_all(&keyring, &CTX).unwrap() == *record);
    }
}

#[test]
fn records_sealed_one_by_one_open_in_a_batch_in_order() {
    let fixture = Fixture::new();
    let keyring = fixture.everything();
    let records = customers();
    let sealed: Vec<SealedCustomer> = records.iter().map(|r| r.seal(&keyring).unwrap()).collect();
    let opened = ok(batch::open_all(&keyring, &CTX, &sealed));
    assert_eq!(opened.len(), N);
    for (i, (record, opened)) in records.iter().zip(&opened).enumerate() {
        assert_eq!(opened.id, format!("cus_{i:05}"), "out of order at {i}");
        assert!(opened == record, "record {i} differs");
    }
}

#[test]
fn batch_views_withhold_what_the_keyring_lacks() {
    let fixture = Fixture::new();
    let writer = fixture.everything();
    let support = fixture
        .keystore
        .keyring(&Clearance::up_to(Level::Internal))
        .unwrap();
    let records = customers();
    let sealed = ok(batch::seal_all(&writer, &records));
    let views = ok(batch::open_views(&support, &CTX, &sealed));
    for (record, view) in records.iter().zip(&views) {
        assert_eq!(view.id, record.id);
        assert_eq!(view.name.value(), Some(&record.name));
        assert_eq!(view.ssn.value(), None);
        let last4 = &record.account[12..];
        assert_eq!(view.account.mask(), Some(format!("****{last4}").as_str()));
    }
    // Without the tiers, opening everything fails for every record, alone.
    for result in batch::open_all(&support, &CTX, &sealed) {
        assert!(matches!(result, Err(Error::NotGranted { .. })));
    }
}

#[test]
fn one_altered_record_fails_alone() {
    let fixture = Fixture::new();
    let keyring = fixture.everything();
    let records = customers();
    let mut sealed = ok(batch::seal_all(&keyring, &records));
    // Record 37 claims another id: its ciphertexts are bound to cus_00037.
    sealed[37].id = "cus_99999".into();
    // Record 201 gets record 200's ssn: moved between records.
    sealed[201].ssn = sealed[200].ssn.clone();
    let opened = batch::open_all(&keyring, &CTX, &sealed);
    assert_eq!(opened.len(), N);
    for (i, result) in opened.iter().enumerate() {
        match i {
            37 | 201 => assert!(
                matches!(result, Err(Error::Integrity { .. })),
                "record {i}: {result:?}",
                result = result.as_ref().map(|r| &r.id)
            ),
            _ => assert!(*result.as_ref().unwrap() == records[i], "record {i}"),
        }
    }
}

/// A value whose serialization fails on demand: one bad input in a batch.
enum Probe {
    Good(String),
    Bad,
}

impl serde::Serialize for Probe {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Probe::Good(text) => serializer.serialize_str(text),
            Probe::Bad => Err(serde::ser::Error::custom("refused")),
        }
    }
}

#[test]
fn one_value_that_cannot_be_sealed_fails_alone() {
    let fixture = Fixture::new();
    let keyring = fixture.everything();
    let ids: Vec<String> = (0..N).map(|i| format!("cus_{i}")).collect();
    let values: Vec<Probe> = (0..N)
        .map(|i| {
            if i == 123 {
                Probe::Bad
            } else {
                Probe::Good(format!("value {i}"))
            }
        })
        .collect();
    let items: Vec<(Binding<'_>, &Probe)> = ids
        .iter()
        .zip(&values)
        .map(|(id, value)| (Binding::new("Row", "secret").with_record_id(id), value))
        .collect();
    let sealed = batch::seal_values(&keyring, &Tier::CONFIDENTIAL, &items);
    for (i, (result, (binding, _))) in sealed.iter().zip(&items).enumerate() {
        if i == 123 {
            assert!(matches!(result, Err(Error::Encoding { .. })), "value {i}");
        } else {
            let opened: String = result
                .as_ref()
                .unwrap()
                .open(&keyring, *binding, &CTX)
                .unwrap();
            assert_eq!(opened, format!("value {i}"));
        }
    }
}

#[test]
fn values_sealed_one_by_one_open_in_a_batch_and_stay_bound() {
    let fixture = Fixture::new();
    let keyring = fixture.everything();
    let ids: Vec<String> = (0..N).map(|i| format!("cus_{i}")).collect();
    let bindings: Vec<Binding<'_>> = ids
        .iter()
        .map(|id| Binding::new("Customer", "pan").with_record_id(id))
        .collect();
    let sealed: Vec<SealedValue> = bindings
        .iter()
        .enumerate()
        .map(|(i, b)| SealedValue::seal(&keyring, &cards(), *b, &format!("pan {i}")).unwrap())
        .collect();
    let mut items: Vec<(Binding<'_>, &SealedValue)> =
        bindings.iter().copied().zip(&sealed).collect();
    // Value 7 is presented as record 8's: its binding does not match.
    items[7].0 = bindings[8];
    let opened = batch::open_values::<String>(&keyring, &CTX, &items);
    for (i, result) in opened.iter().enumerate() {
        if i == 7 {
            assert!(matches!(result, Err(Error::Integrity { .. })));
        } else {
            assert_eq!(result.as_ref().unwrap(), &format!("pan {i}"));
        }
    }
}

#[test]
fn tokens_rewrap_in_a_batch_as_one_by_one() {
    let mut fixture = Fixture::new();
    let keyring = fixture.everything();
    let ids: Vec<String> = (0..N).map(|i| format!("cus_{i}")).collect();
    let binding = |i: usize| Binding::new("Customer", "pan").with_record_id(&ids[i]);
    let mut tokens: Vec<SealedToken> = (0..N)
        .map(|i| {
            let tier = if i % 3 == 0 { Tier::INTERNAL } else { cards() };
            let value = SealedValue::seal(&keyring, &tier, binding(i), &format!("pan {i}"));
            SealedToken::Value(value.unwrap())
        })
        .collect();
    // A record's field has no key of its own; a record key does.
    let customer = customer(0).seal(&keyring).unwrap();
    let field_text = serde_json::to_value(&customer).unwrap()["name"]
        .as_str()
        .unwrap()
        .to_owned();
    tokens.push(field_text.parse().unwrap());
    fixture.keystore.rotate(&cards()).unwrap();
    let keyring = fixture.everything();
    let before = tokens.clone();

    let outcomes = batch::rewrap_all(&keyring, &mut tokens);
    assert_eq!(outcomes.len(), N + 1);
    for (i, outcome) in outcomes.iter().enumerate() {
        let expected = if i == N {
            None
        } else if i % 3 == 0 {
            Some(Rewrapped::AlreadyCurrent)
        } else {
            Some(Rewrapped::Moved { from: 1, to: 2 })
        };
        assert_eq!(outcome.as_ref().unwrap(), &expected, "token {i}");
    }
    // Every token still opens, now under version 2, and the old tokens
    // rewrapped one by one agree.
    fixture.keystore.retire(&cards(), 1).unwrap();
    let keyring = fixture.everything();
    for (i, (token, mut old)) in tokens.iter().zip(before).enumerate().take(N) {
        let SealedToken::Value(value) = token else {
            panic!("token {i} changed kind")
        };
        let opened: String = value.open(&keyring, binding(i), &CTX).unwrap();
        assert_eq!(opened, format!("pan {i}"));
        let single = old.rewrap(&keyring);
        if i % 3 == 0 {
            assert_eq!(single.unwrap(), Some(Rewrapped::AlreadyCurrent));
        } else {
            // Version 1 is retired now: the batch had moved it in time.
            assert!(matches!(single, Err(Error::KeyRetired { .. })));
            assert_eq!(value.key_version(), 2);
        }
    }
}

#[test]
fn a_token_the_keyring_cannot_rewrap_fails_alone_and_is_left_as_it_was() {
    let mut fixture = Fixture::new();
    let keyring = fixture.everything();
    let binding = Binding::new("T", "f");
    let mut tokens: Vec<SealedToken> = (0..N)
        .map(|i| {
            let tier = if i == 50 { cards() } else { Tier::CONFIDENTIAL };
            SealedToken::Value(SealedValue::seal(&keyring, &tier, binding, "x").unwrap())
        })
        .collect();
    fixture.keystore.rotate(&cards()).unwrap();
    fixture.keystore.rotate(&Tier::CONFIDENTIAL).unwrap();
    let without_cards = fixture
        .keystore
        .keyring(&Clearance::up_to(Level::Restricted))
        .unwrap();
    let untouched = tokens[50].clone();
    let outcomes = batch::rewrap_all(&without_cards, &mut tokens);
    for (i, outcome) in outcomes.iter().enumerate() {
        if i == 50 {
            assert!(matches!(outcome, Err(Error::NotGranted { .. })));
        } else {
            assert_eq!(
                outcome.as_ref().unwrap(),
                &Some(Rewrapped::Moved { from: 1, to: 2 })
            );
        }
    }
    assert_eq!(tokens[50], untouched);
}

#[test]
fn records_rewrap_in_a_batch() {
    let mut fixture = Fixture::new();
    let keyring = fixture.everything();
    let records = customers();
    let mut sealed = ok(batch::seal_all(&keyring, &records));
    fixture.keystore.rotate(&cards()).unwrap();
    let keyring = fixture.everything();
    let outcomes = ok(batch::rewrap_records(&keyring, &mut sealed));
    for outcome in &outcomes {
        let moved = outcome
            .iter()
            .filter(|o| **o == Rewrapped::Moved { from: 1, to: 2 })
            .count();
        assert_eq!(moved, 1, "only the cards key moves: {outcome:?}");
    }
    fixture.keystore.retire(&cards(), 1).unwrap();
    let keyring = fixture.everything();
    for (record, opened) in records
        .iter()
        .zip(ok(batch::open_all(&keyring, &CTX, &sealed)))
    {
        assert!(opened == *record);
    }
}

thread_local! {
    static SEEN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Thread ids that serialized a [`Tracer`].
static THREADS: LazyLock<Mutex<HashSet<std::thread::ThreadId>>> =
    LazyLock::new(|| Mutex::new(HashSet::new()));

/// A value that notes which thread sealed it.
struct Tracer(u32);

impl serde::Serialize for Tracer {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if !SEEN.with(std::cell::Cell::get) {
            SEEN.with(|seen| seen.set(true));
            THREADS.lock().unwrap().insert(std::thread::current().id());
        }
        serializer.serialize_u32(self.0)
    }
}

/// With the feature, a batch in a two-thread pool is sealed by both
/// threads; without it, by the calling thread alone. Either way the
/// results come back in order.
#[test]
fn the_work_is_shared_between_threads_only_with_the_feature() {
    let fixture = Fixture::new();
    let keyring = fixture.everything();
    let values: Vec<Tracer> = (0..4_000).map(Tracer).collect();
    let items: Vec<(Binding<'_>, &Tracer)> = values
        .iter()
        .map(|v| (Binding::new("Row", "n"), v))
        .collect();
    let seal = || batch::seal_values(&keyring, &Tier::INTERNAL, &items);
    #[cfg(feature = "rayon")]
    let sealed = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap()
        .install(seal);
    #[cfg(not(feature = "rayon"))]
    let sealed = seal();
    let threads = THREADS.lock().unwrap().len();
    #[cfg(feature = "rayon")]
    assert_eq!(threads, 2, "a two-thread pool used {threads} threads");
    #[cfg(not(feature = "rayon"))]
    assert_eq!(threads, 1, "the sequential form used {threads} threads");
    let sealed: Vec<SealedValue> = ok(sealed);
    let to_open: Vec<(Binding<'_>, &SealedValue)> = sealed
        .iter()
        .map(|s| (Binding::new("Row", "n"), s))
        .collect();
    let opened = ok(batch::open_values::<u32>(&keyring, &CTX, &to_open));
    assert!(opened.iter().copied().eq(0..4_000));
}

/// Opens and restricted seals from several threads at once, recorded to
/// one audit log, leave a chain that verifies with one entry each.
fn audited_batches_leave_a_verifiable_log(durability: Durability) {
    let fixture = Fixture::new();
    let log = fixture.dir.path().join("audit.jsonl");
    let key = fixture.keystore.audit_key().unwrap();
    let sink = Arc::new(FileSink::open(&log, key.clone(), durability).unwrap());
    let keyring = fixture.everything().with_audit(sink.clone());
    let records = customers();
    let run = || {
        let sealed = ok(batch::seal_all(&keyring, &records));
        let opened = ok(batch::open_all(&keyring, &CTX, &sealed));
        // Two batches at once from two callers, sharing the keyring.
        std::thread::scope(|scope| {
            let a = scope.spawn(|| ok(batch::open_all(&keyring, &CTX, &sealed)));
            let b = scope.spawn(|| ok(batch::open_all(&keyring, &CTX, &sealed)));
            assert_eq!(a.join().unwrap().len(), N);
            assert_eq!(b.join().unwrap().len(), N);
        });
        opened
    };
    #[cfg(feature = "rayon")]
    let opened = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap()
        .install(run);
    #[cfg(not(feature = "rayon"))]
    let opened = run();
    assert!(opened == records);
    drop(keyring);
    sink.flush_now();
    drop(sink);

    let report = tierseal::audit::verify(&log, &key).unwrap();
    let events = tierseal::audit::read_events(&log).unwrap();
    assert_eq!(report.entries, events.len() as u64);
    let count = |action: Action| {
        events
            .iter()
            .filter(|(_, e)| e.action == action && e.outcome == Outcome::Ok)
            .count()
    };
    assert_eq!(
        count(Action::Seal),
        N,
        "one seal event per restricted record"
    );
    assert_eq!(
        count(Action::Open),
        3 * N,
        "one open event per record opened"
    );
    let opened_ids: HashSet<&str> = events
        .iter()
        .filter(|(_, e)| e.action == Action::Open)
        .filter_map(|(_, e)| e.record_id.as_deref())
        .collect();
    assert_eq!(opened_ids.len(), N);
}

trait FlushNow {
    fn flush_now(&self);
}

impl FlushNow for FileSink {
    fn flush_now(&self) {
        tierseal::audit::AuditSink::flush(self).unwrap();
    }
}

#[test]
fn audited_batches_leave_a_verifiable_log_buffered() {
    audited_batches_leave_a_verifiable_log(Durability::Buffered);
}

#[test]
fn audited_batches_leave_a_verifiable_log_flushed() {
    audited_batches_leave_a_verifiable_log(Durability::Flush);
}

/// The batch functions add no type of their own: their errors are the
/// single calls' errors, which never show values.
#[test]
fn batch_errors_show_no_value() {
    let fixture = Fixture::new();
    let keyring = fixture.everything();
    let records = customers();
    let mut sealed = ok(batch::seal_all(&keyring, &records));
    sealed[3].id = "cus_elsewhere".into();
    let error = batch::open_all(&keyring, &CTX, &sealed)
        .swap_remove(3)
        .err()
        .unwrap();
    let shown = format!("{error} {error:?}");
    for secret in [&records[3].ssn, &records[3].account, &records[3].email] {
        assert!(!shown.contains(secret.as_str()), "{shown}");
    }
    assert!(
        shown.contains("restricted")
            || shown.contains("internal")
            || shown.contains("confidential")
    );
}

/// Nothing in the public API needs to be `Sync` for batches but the
/// keyring and the access context: check they are, and stay so.
#[test]
fn keyring_and_context_are_shareable() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Keyring>();
    shareable::<AccessContext>();
    shareable::<SealedCustomer>();
    shareable::<SealedToken>();
    shareable::<Error>();
    // Opened records cross back from the pool threads.
    fn sendable<T: Send>() {}
    sendable::<CustomerView>();
    let _: fn(&SealedCustomer, &Keyring, &AccessContext) -> Result<Customer, Error> =
        <SealedCustomer as SealedRecord>::open_all;
}

/// An empty slice gives no results; a slice smaller than one run is
/// handled on the calling thread, with the same results.
#[test]
fn empty_and_small_batches() {
    let fixture = Fixture::new();
    let keyring = fixture.everything();
    assert!(batch::seal_all::<Customer>(&keyring, &[]).is_empty());
    assert!(batch::open_all::<SealedCustomer>(&keyring, &CTX, &[]).is_empty());
    assert!(batch::rewrap_all(&keyring, &mut []).is_empty());
    for len in [1, batch::MIN_CHUNK, batch::MIN_CHUNK + 1] {
        let records: Vec<Customer> = (0..len).map(customer).collect();
        let sealed = ok(batch::seal_all(&keyring, &records));
        let opened = ok(batch::open_all(&keyring, &CTX, &sealed));
        assert!(opened == records, "batch of {len}");
    }
}
