//! Envelope benchmarks: tierseal beside the raw AES-256-GCM work it contains,
//! in the same run.
//!
//! `cargo bench -p tierseal --bench envelope` runs every pair with criterion,
//! then prints records per second and the ratio of each tierseal operation
//! to its baseline. See `docs/PERFORMANCE.md` for the figures.
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

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::KeyInit;
use criterion::{Criterion, Throughput};
use rand::Rng as _;
use tierseal::{
    Binding, Clearance, KdfProfile, Keyring, Keystore, Level, RecordKeys, RecordOpener,
    RecordSealer, SealedField, SealedValue, Tier,
};

const POOL: usize = 1024;

/// The access context of every open in the benchmark.
static CTX: std::sync::LazyLock<tierseal::AccessContext> =
    std::sync::LazyLock::new(|| tierseal::AccessContext::new("bench").with_purpose("benchmark"));

fn ready_cipher() -> Aes256Gcm {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    Aes256Gcm::new(&key.into())
}

#[path = "support/baseline.rs"]
mod baseline;
use baseline::{letters, raw_decrypt, raw_encrypt};
#[path = "support/records.rs"]
mod records;
use records::PackedPerson;

struct Setup {
    _dir: tempfile::TempDir,
    keyring: Keyring,
    /// The same keys, recording every open to an audit log file.
    audited: Keyring,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let mut keystore = Keystore::create(
        dir.path().join("bench.keystore"),
        &"bench".into(),
        KdfProfile::Test,
    )
    .unwrap();
    keystore.add_tier(&cards()).unwrap();
    keystore.add_tier(&payroll()).unwrap();
    let clearance = Clearance::up_to(Level::Restricted)
        .with(cards())
        .with(payroll());
    let keyring = keystore.keyring(&clearance).unwrap();
    let sink = tierseal::audit::FileSink::open(
        dir.path().join("audit.jsonl"),
        keystore.audit_key().unwrap(),
        tierseal::audit::Durability::Buffered,
    )
    .unwrap();
    let audited = keystore
        .keyring(&clearance)
        .unwrap()
        .with_audit(std::sync::Arc::new(sink));
    Setup {
        _dir: dir,
        keyring,
        audited,
    }
}

fn cards() -> Tier {
    "restricted/cards".parse().unwrap()
}

fn payroll() -> Tier {
    "confidential/payroll".parse().unwrap()
}

/// The Customer record of the README, through the derive.
#[derive(tierseal::Classified, Clone, serde::Serialize, serde::Deserialize)]
#[classified(record_id = "customer_id")]
struct Customer {
    #[classify(public)]
    customer_id: String,
    #[classify(internal)]
    name: String,
    #[classify(confidential)]
    balance_cents: i64,
    #[classify(restricted, compartment = "cards", mask = "last4")]
    card_number: String,
    #[classify(confidential, compartment = "payroll", id = "salary")]
    monthly_salary: Option<u64>,
    nickname: String,
}

/// The same record sealed by hand through the core's record path.
struct HandSealed {
    keys: RecordKeys,
    name: SealedField,
    balance_cents: SealedField,
    card_number: SealedField,
    card_number_mask: tierseal::SealedMask,
    monthly_salary: SealedField,
}

struct CustomerTiers {
    cards: Tier,
    payroll: Tier,
}

fn hand_seal(
    keyring: &Keyring,
    tiers: &CustomerTiers,
    c: &Customer,
) -> (String, String, HandSealed) {
    let mut sealer = RecordSealer::new(
        keyring,
        Binding::new("Customer", "").with_record_id(&c.customer_id),
    );
    // As the derive does: every tier's data key in one draw.
    sealer
        .prepare(&[
            &Tier::INTERNAL,
            &Tier::CONFIDENTIAL,
            &tiers.cards,
            &tiers.payroll,
        ])
        .unwrap();
    let sealed = HandSealed {
        name: sealer.seal_field(&Tier::INTERNAL, "name", &c.name).unwrap(),
        balance_cents: sealer
            .seal_field(&Tier::CONFIDENTIAL, "balance_cents", &c.balance_cents)
            .unwrap(),
        card_number: sealer
            .seal_field(&tiers.cards, "card_number", &c.card_number)
            .unwrap(),
        card_number_mask: sealer
            .seal_mask("card_number", &tierseal::mask::last4(&c.card_number))
            .unwrap(),
        monthly_salary: sealer
            .seal_field(&tiers.payroll, "salary", &c.monthly_salary)
            .unwrap(),
        keys: sealer.finish(),
    };
    (c.customer_id.clone(), c.nickname.clone(), sealed)
}

fn hand_open(
    keyring: &Keyring,
    tiers: &CustomerTiers,
    stored: &(String, String, HandSealed),
) -> Customer {
    let (id, nickname, sealed) = stored;
    let _mask = &sealed.card_number_mask;
    let mut opener = RecordOpener::new(
        keyring,
        &sealed.keys,
        Binding::new("Customer", "").with_record_id(id),
        &CTX,
    );
    let customer = Customer {
        customer_id: id.clone(),
        name: opener
            .open_field(&Tier::INTERNAL, "name", &sealed.name)
            .unwrap(),
        balance_cents: opener
            .open_field(&Tier::CONFIDENTIAL, "balance_cents", &sealed.balance_cents)
            .unwrap(),
        card_number: opener
            .open_field(&tiers.cards, "card_number", &sealed.card_number)
            .unwrap(),
        monthly_salary: opener
            .open_field(&tiers.payroll, "salary", &sealed.monthly_salary)
            .unwrap(),
        nickname: nickname.clone(),
    };
    opener.finish().unwrap();
    customer
}

fn bench_derive(c: &mut Criterion, keyring: &Keyring) {
    use tierseal::{AccessContext, Classified};
    let pool: Vec<Customer> = (0..POOL)
        .map(|i| Customer {
            customer_id: format!("cus_{i:06}"),
            name: letters(14),
            balance_cents: i64::try_from(i).unwrap() * 1_013,
            card_number: letters(16),
            monthly_salary: Some(825_000),
            nickname: letters(8),
        })
        .collect();
    let tiers = CustomerTiers {
        cards: cards(),
        payroll: payroll(),
    };
    let derived: Vec<_> = pool.iter().map(|c| c.seal(keyring).unwrap()).collect();
    let by_hand: Vec<_> = pool.iter().map(|c| hand_seal(keyring, &tiers, c)).collect();
    let ctx = AccessContext::new("bench").with_purpose("benchmark");

    let mut group = c.benchmark_group("customer_derive");
    group.throughput(Throughput::Elements(1));
    over_pool(&mut group, "seal", |i| pool[i].seal(keyring).unwrap());
    over_pool(&mut group, "hand_seal", |i| {
        hand_seal(keyring, &tiers, &pool[i])
    });
    over_pool(&mut group, "open", |i| {
        derived[i].open_all(keyring, &ctx).unwrap()
    });
    over_pool(&mut group, "hand_open", |i| {
        hand_open(keyring, &tiers, &by_hand[i])
    });
    group.finish();
}

fn bench_values(c: &mut Criterion, keyring: &Keyring) {
    for (label, size) in [("value_32B", 32usize), ("value_4KiB", 4096)] {
        let mut group = c.benchmark_group(label);
        group.throughput(Throughput::Elements(1));
        let text = letters(size);
        let binding = Binding::new("Bench", "value").with_record_id("rec-1");
        let cipher = ready_cipher();
        let sealed = SealedValue::seal(keyring, &Tier::CONFIDENTIAL, binding, &text).unwrap();
        let raw_sealed = raw_encrypt(&cipher, b"aad", text.as_bytes());

        group.bench_function("seal", |b| {
            b.iter(|| {
                SealedValue::seal(keyring, &Tier::CONFIDENTIAL, binding, black_box(&text)).unwrap()
            });
        });
        group.bench_function("raw_encrypt", |b| {
            b.iter(|| raw_encrypt(&cipher, b"aad", black_box(text.as_bytes())));
        });
        group.bench_function("open", |b| {
            b.iter(|| {
                black_box(&sealed)
                    .open::<String>(keyring, binding, &CTX)
                    .unwrap()
            });
        });
        group.bench_function("raw_decrypt", |b| {
            b.iter(|| raw_decrypt(&cipher, b"aad", black_box(&raw_sealed)));
        });
        group.finish();
    }
}

/// Ten fields over three tiers: (tier, field id, length).
fn ten_field_layout() -> Vec<(Tier, &'static str, usize)> {
    vec![
        (Tier::INTERNAL, "name", 14),
        (Tier::INTERNAL, "email", 26),
        (Tier::INTERNAL, "phone", 12),
        (Tier::INTERNAL, "address", 42),
        (Tier::CONFIDENTIAL, "dob", 10),
        (Tier::CONFIDENTIAL, "balance", 12),
        (Tier::CONFIDENTIAL, "notes", 96),
        (Tier::RESTRICTED, "ssn", 11),
        (Tier::RESTRICTED, "account", 16),
        (Tier::RESTRICTED, "card", 16),
    ]
}

struct Record {
    id: String,
    fields: Vec<String>,
}

fn record_pool(lengths: &[usize]) -> Vec<Record> {
    (0..POOL)
        .map(|i| Record {
            id: format!("rec-{i:06}"),
            fields: lengths.iter().map(|len| letters(*len)).collect(),
        })
        .collect()
}

fn seal_record(
    keyring: &Keyring,
    layout: &[(Tier, &str, usize)],
    record: &Record,
) -> (RecordKeys, Vec<SealedField>) {
    let mut sealer = RecordSealer::new(
        keyring,
        Binding::new("Bench", "").with_record_id(&record.id),
    );
    // Every tier of the layout prepared in one draw, as the derive does
    // (`prepare` skips repeats).
    let placeholder = Tier::INTERNAL;
    let mut tiers = [&placeholder; 16];
    assert!(layout.len() <= tiers.len(), "a larger bench layout");
    for (slot, (tier, _, _)) in tiers.iter_mut().zip(layout) {
        *slot = tier;
    }
    sealer.prepare(&tiers[..layout.len()]).unwrap();
    let fields = layout
        .iter()
        .zip(&record.fields)
        .map(|((tier, id, _), value)| sealer.seal_field(tier, id, value).unwrap())
        .collect();
    (sealer.finish(), fields)
}

fn open_record(
    keyring: &Keyring,
    layout: &[(Tier, &str, usize)],
    id: &str,
    sealed: &(RecordKeys, Vec<SealedField>),
) -> Vec<String> {
    let mut opener = RecordOpener::new(
        keyring,
        &sealed.0,
        Binding::new("Bench", "").with_record_id(id),
        &CTX,
    );
    layout
        .iter()
        .zip(&sealed.1)
        .map(|((tier, field_id, _), field)| {
            opener.open_field::<String>(tier, field_id, field).unwrap()
        })
        .collect()
}

fn bench_ten_fields(c: &mut Criterion, keyring: &Keyring) {
    let layout = ten_field_layout();
    let lengths: Vec<usize> = layout.iter().map(|f| f.2).collect();
    let pool = record_pool(&lengths);
    let sealed: Vec<_> = pool
        .iter()
        .map(|r| seal_record(keyring, &layout, r))
        .collect();
    let tier_keys: Vec<Aes256Gcm> = (0..3).map(|_| ready_cipher()).collect();
    let tier_of = |tier: &Tier| match tier.level() {
        Level::Internal => 0,
        Level::Confidential => 1,
        _ => 2,
    };
    // The raw work a 3-tier record contains: 3 fresh data keys set up and
    // wrapped (3 AES-GCM ops) plus 10 field encryptions.
    let raw_seal = |record: &Record| {
        let mut data_keys = Vec::with_capacity(3);
        let mut wrapped = Vec::with_capacity(3);
        for tier_key in &tier_keys {
            let mut dek = [0u8; 32];
            rand::rng().fill_bytes(&mut dek);
            wrapped.push(raw_encrypt(tier_key, b"tier", &dek));
            data_keys.push(Aes256Gcm::new(&dek.into()));
        }
        let fields: Vec<Vec<u8>> = layout
            .iter()
            .zip(&record.fields)
            .map(|((tier, id, _), value)| {
                raw_encrypt(&data_keys[tier_of(tier)], id.as_bytes(), value.as_bytes())
            })
            .collect();
        (wrapped, fields)
    };
    let raw_sealed: Vec<_> = pool.iter().map(raw_seal).collect();
    let raw_open = |sealed: &(Vec<Vec<u8>>, Vec<Vec<u8>>)| {
        let data_keys: Vec<Aes256Gcm> = sealed
            .0
            .iter()
            .zip(&tier_keys)
            .map(|(wrapped, tier_key)| {
                let dek: [u8; 32] = raw_decrypt(tier_key, b"tier", wrapped).try_into().unwrap();
                Aes256Gcm::new(&dek.into())
            })
            .collect();
        layout
            .iter()
            .zip(&sealed.1)
            .map(|((tier, id, _), field)| {
                raw_decrypt(&data_keys[tier_of(tier)], id.as_bytes(), field)
            })
            .collect::<Vec<_>>()
    };

    let mut group = c.benchmark_group("record_10f_3t");
    group.throughput(Throughput::Elements(1));
    over_pool(&mut group, "seal", |i| {
        seal_record(keyring, &layout, &pool[i])
    });
    over_pool(&mut group, "raw_seal", |i| raw_seal(&pool[i]));
    over_pool(&mut group, "open", |i| {
        open_record(keyring, &layout, &pool[i].id, &sealed[i])
    });
    over_pool(&mut group, "raw_open", |i| raw_open(&raw_sealed[i]));
    group.finish();
}

/// The 8-field, 227-byte record of the comparison (all fields one tier),
/// field by field and packed (one part), beside the minimal envelope loop:
/// a fresh data key wrapped with AES-KW, 8 AES-GCM field encryptions with
/// AAD = record id + field name.
fn bench_envelope_loop(c: &mut Criterion, keyring: &Keyring) {
    use tierseal::Classified;
    let names = [
        "name", "email", "ssn", "phone", "address", "dob", "account", "notes",
    ];
    let lengths = [14, 26, 11, 12, 42, 10, 16, 96];
    let layout: Vec<(Tier, &str, usize)> = names
        .iter()
        .zip(lengths)
        .map(|(name, len)| (Tier::CONFIDENTIAL, *name, len))
        .collect();
    let pool = record_pool(&lengths);
    let sealed: Vec<_> = pool
        .iter()
        .map(|r| seal_record(keyring, &layout, r))
        .collect();

    let mut kek_bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut kek_bytes);
    let kek = aes_kw::KwAes256::new(&kek_bytes.into());
    let naive_seal = |record: &Record| {
        let mut dek = [0u8; 32];
        rand::rng().fill_bytes(&mut dek);
        let mut wrapped = [0u8; 40];
        kek.wrap_key(&dek, &mut wrapped).unwrap();
        let cipher = Aes256Gcm::new(&dek.into());
        let mut aad = Vec::with_capacity(64);
        let fields: Vec<Vec<u8>> = names
            .iter()
            .zip(&record.fields)
            .map(|(name, value)| {
                aad.clear();
                aad.extend_from_slice(record.id.as_bytes());
                aad.extend_from_slice(name.as_bytes());
                raw_encrypt(&cipher, &aad, value.as_bytes())
            })
            .collect();
        (wrapped, fields)
    };
    let naive_sealed: Vec<_> = pool.iter().map(naive_seal).collect();
    let naive_open = |record: &Record, sealed: &([u8; 40], Vec<Vec<u8>>)| {
        let mut dek = [0u8; 32];
        kek.unwrap_key(&sealed.0, &mut dek).unwrap();
        let cipher = Aes256Gcm::new(&dek.into());
        let mut aad = Vec::with_capacity(64);
        names
            .iter()
            .zip(&sealed.1)
            .map(|(name, field)| {
                aad.clear();
                aad.extend_from_slice(record.id.as_bytes());
                aad.extend_from_slice(name.as_bytes());
                String::from_utf8(raw_decrypt(&cipher, &aad, field)).unwrap()
            })
            .collect::<Vec<_>>()
    };

    // The same records, packed (`#[classified(packed)]`): one part each.
    let packed: Vec<PackedPerson> = pool
        .iter()
        .map(|r| PackedPerson::new(&r.id, &r.fields))
        .collect();
    let packed_sealed: Vec<_> = packed.iter().map(|p| p.seal(keyring).unwrap()).collect();

    let mut group = c.benchmark_group("record_8f_227B");
    group.throughput(Throughput::Elements(1));
    over_pool(&mut group, "seal", |i| {
        seal_record(keyring, &layout, &pool[i])
    });
    over_pool(&mut group, "envelope_loop_seal", |i| naive_seal(&pool[i]));
    over_pool(&mut group, "packed_seal", |i| {
        packed[i].seal(keyring).unwrap()
    });
    over_pool(&mut group, "open", |i| {
        open_record(keyring, &layout, &pool[i].id, &sealed[i])
    });
    over_pool(&mut group, "envelope_loop_open", |i| {
        naive_open(&pool[i], &naive_sealed[i])
    });
    over_pool(&mut group, "packed_open", |i| {
        packed_sealed[i].open_all(keyring, &CTX).unwrap()
    });
    group.finish();
}

/// The price of fork-safe randomness per record: a data key and its wrap
/// nonce (44 bytes) from the kernel, as tierseal draws them, beside the
/// same bytes from the thread-local generator, which a forked child would
/// share with its parent.
fn bench_randomness(c: &mut Criterion) {
    use rand::TryRng as _;
    let mut group = c.benchmark_group("randomness_44B");
    group.throughput(Throughput::Elements(1));
    group.bench_function("os", |b| {
        b.iter(|| {
            let mut buf = [0u8; 44];
            rand::rngs::SysRng.try_fill_bytes(&mut buf).unwrap();
            black_box(buf)
        })
    });
    group.bench_function("getpid", |b| b.iter(|| black_box(std::process::id())));
    group.bench_function("thread_rng", |b| {
        b.iter(|| {
            let mut buf = [0u8; 44];
            rand::rng().fill_bytes(&mut buf);
            black_box(buf)
        })
    });
    group.finish();
}

/// The `Customer` open with every open recorded to a buffered audit log
/// file, beside the same open with auditing off.
fn bench_audit(c: &mut Criterion, keyring: &Keyring, audited: &Keyring) {
    use tierseal::Classified;
    let ctx = tierseal::AccessContext::new("bench").with_purpose("benchmark");
    let sealed: Vec<_> = (0..POOL)
        .map(|i| {
            Customer {
                customer_id: format!("cus_{i:06}"),
                name: letters(14),
                balance_cents: 1_013,
                card_number: letters(16),
                monthly_salary: Some(825_000),
                nickname: letters(8),
            }
            .seal(keyring)
            .unwrap()
        })
        .collect();
    let mut group = c.benchmark_group("customer_audit");
    group.throughput(Throughput::Elements(1));
    over_pool(&mut group, "open_audited", |i| {
        sealed[i].open_all(audited, &ctx).unwrap()
    });
    over_pool(&mut group, "open_unaudited", |i| {
        sealed[i].open_all(keyring, &ctx).unwrap()
    });
    group.finish();
}

/// Benchmarks `f` on successive records of a pool of [`POOL`].
/// The 8-field, 227-byte record sealed by a seal-only keyring (the record's
/// data key sealed with HPKE to the tier's public key: one HPKE wrap per
/// record and tier) beside a full keyring (AES-GCM wrap under the tier key)
/// and raw AES-GCM of the 8 fields, for an X25519 tier and an X-Wing tier;
/// and a full keyring opening each.
fn bench_seal_only(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut keystore = Keystore::create(
        dir.path().join("seal-only.keystore"),
        &"bench".into(),
        KdfProfile::Test,
    )
    .unwrap();
    let classical: Tier = "confidential/intake".parse().unwrap();
    let pq: Tier = "confidential/intakepq".parse().unwrap();
    keystore.add_tier(&classical).unwrap();
    keystore
        .add_tier_with_suite(&pq, tierseal::HpkeSuite::XWing)
        .unwrap();
    let full = keystore
        .keyring(&Clearance::none().with(classical.clone()).with(pq.clone()))
        .unwrap()
        .accept_public_key_tokens(classical.clone())
        .accept_public_key_tokens(pq.clone());
    let (_, set) = keystore.publish_public_keys().unwrap();
    let seal_only = Keyring::seal_only(&set);

    let names = [
        "name", "email", "ssn", "phone", "address", "dob", "account", "notes",
    ];
    let lengths = [14, 26, 11, 12, 42, 10, 16, 96];
    let layout = |tier: &Tier| -> Vec<(Tier, &'static str, usize)> {
        names
            .iter()
            .zip(lengths)
            .map(|(name, len)| (tier.clone(), *name, len))
            .collect()
    };
    let (x25519, xwing) = (layout(&classical), layout(&pq));
    let pool = record_pool(&lengths);
    let cipher = ready_cipher();
    let raw_seal = |record: &Record| {
        let mut aad = Vec::with_capacity(64);
        names
            .iter()
            .zip(&record.fields)
            .map(|(name, value)| {
                aad.clear();
                aad.extend_from_slice(record.id.as_bytes());
                aad.extend_from_slice(name.as_bytes());
                raw_encrypt(&cipher, &aad, value.as_bytes())
            })
            .collect::<Vec<_>>()
    };
    let sealed_x25519: Vec<_> = pool
        .iter()
        .map(|r| seal_record(&seal_only, &x25519, r))
        .collect();
    let sealed_xwing: Vec<_> = pool
        .iter()
        .map(|r| seal_record(&seal_only, &xwing, r))
        .collect();
    let sealed_full: Vec<_> = pool
        .iter()
        .map(|r| seal_record(&full, &x25519, r))
        .collect();

    let mut group = c.benchmark_group("record_8f_seal_only");
    group.throughput(Throughput::Elements(1));
    over_pool(&mut group, "full_seal", |i| {
        seal_record(&full, &x25519, &pool[i])
    });
    over_pool(&mut group, "seal_only_x25519", |i| {
        seal_record(&seal_only, &x25519, &pool[i])
    });
    over_pool(&mut group, "seal_only_xwing", |i| {
        seal_record(&seal_only, &xwing, &pool[i])
    });
    over_pool(&mut group, "raw_seal", |i| raw_seal(&pool[i]));
    over_pool(&mut group, "full_open", |i| {
        open_record(&full, &x25519, &pool[i].id, &sealed_full[i])
    });
    over_pool(&mut group, "open_x25519", |i| {
        open_record(&full, &x25519, &pool[i].id, &sealed_x25519[i])
    });
    over_pool(&mut group, "open_xwing", |i| {
        open_record(&full, &xwing, &pool[i].id, &sealed_xwing[i])
    });
    group.finish();
    let size = |sealed: &(RecordKeys, Vec<SealedField>)| sealed.0.keys()[0].as_bytes().len();
    println!(
        "record key bytes: symmetric {}, x25519 {}, xwing {}",
        size(&sealed_full[0]),
        size(&sealed_x25519[0]),
        size(&sealed_xwing[0])
    );
}

fn over_pool<T>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    mut f: impl FnMut(usize) -> T,
) {
    let mut i = 0;
    group.bench_function(name, |b| {
        b.iter(|| {
            i = (i + 1) % POOL;
            f(i)
        });
    });
}

/// Mean time per iteration in nanoseconds, from criterion's estimates
/// written by this run (older files, from filtered-out benchmarks, are
/// ignored).
fn mean_ns(
    dir: &std::path::Path,
    group: &str,
    function: &str,
    since: std::time::SystemTime,
) -> Option<f64> {
    let path = dir.join(group).join(function).join("new/estimates.json");
    if std::fs::metadata(&path).ok()?.modified().ok()? < since {
        return None;
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    json["mean"]["point_estimate"].as_f64()
}

fn print_summary(dir: &std::path::Path, since: std::time::SystemTime) {
    let pairs = [
        ("value_32B", "seal", "raw_encrypt"),
        ("value_32B", "open", "raw_decrypt"),
        ("value_4KiB", "seal", "raw_encrypt"),
        ("value_4KiB", "open", "raw_decrypt"),
        ("record_10f_3t", "seal", "raw_seal"),
        ("record_10f_3t", "open", "raw_open"),
        ("record_8f_227B", "seal", "envelope_loop_seal"),
        ("record_8f_227B", "open", "envelope_loop_open"),
        ("record_8f_227B", "packed_seal", "envelope_loop_seal"),
        ("record_8f_227B", "packed_open", "envelope_loop_open"),
        ("customer_derive", "seal", "hand_seal"),
        ("customer_derive", "open", "hand_open"),
        ("customer_audit", "open_audited", "open_unaudited"),
        ("randomness_44B", "os", "thread_rng"),
        ("record_8f_seal_only", "full_seal", "raw_seal"),
        ("record_8f_seal_only", "seal_only_x25519", "full_seal"),
        ("record_8f_seal_only", "seal_only_x25519", "raw_seal"),
        ("record_8f_seal_only", "seal_only_xwing", "full_seal"),
        ("record_8f_seal_only", "seal_only_xwing", "raw_seal"),
        ("record_8f_seal_only", "open_x25519", "full_open"),
        ("record_8f_seal_only", "open_xwing", "full_open"),
    ];
    // The figures mean little without the machine's load beside them.
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "\nload average (1, 5, 15 min): {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "\n{:<16} {:<5} {:>14} {:>14} {:>22} {:>7}",
        "group", "op", "tierseal rec/s", "ns/record", "baseline", "ratio"
    );
    for (group, op, baseline) in pairs {
        let (Some(ours), Some(base)) = (
            mean_ns(dir, group, op, since),
            mean_ns(dir, group, baseline, since),
        ) else {
            continue; // filtered out on the command line
        };
        println!(
            "{group:<16} {op:<5} {:>14.0} {:>14.0} {:>13} {:>6.0} ns {:>6.2}x",
            1e9 / ours,
            ours,
            baseline,
            base,
            ours / base
        );
    }
}

/// Seal and open with a keyring built from an OpenBao Transit keystore,
/// beside the passphrase keystore's: the same `Keyring` type, so the same
/// cost. Runs only when `TIERSEAL_TEST_BAO_ADDR`/`TIERSEAL_TEST_BAO_TOKEN`
/// name a server (`source .ci/services/openbao.sh`).
fn bench_kms_keyring(c: &mut Criterion, file_keyring: &Keyring) {
    use std::sync::Arc;
    use tierseal::kek::{ServiceKeyring, TransitProvider};
    use tierseal::{AccessContext, Classified};
    let (Ok(addr), Ok(token)) = (
        std::env::var("TIERSEAL_TEST_BAO_ADDR"),
        std::env::var("TIERSEAL_TEST_BAO_TOKEN"),
    ) else {
        eprintln!("skipped: customer_kms (run: source .ci/services/openbao.sh first)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kms.keystore");
    let client =
        tierseal::openbao::BaoClient::new(&addr, secrecy::SecretString::from(token)).unwrap();
    let prefix = format!("bench{}-", std::process::id());
    let provider = TransitProvider::new(client, "transit", &prefix).unwrap();
    let mut keystore =
        Keystore::create_with_kek(&path, Arc::new(provider.clone()), provider.params()).unwrap();
    keystore.add_tier(&cards()).unwrap();
    keystore.add_tier(&payroll()).unwrap();
    drop(keystore);
    let handle = ServiceKeyring::build(
        &path,
        Arc::new(provider),
        "bench",
        Duration::from_secs(3600),
    )
    .unwrap();
    let kms = handle.keyring().unwrap();
    let pool: Vec<Customer> = (0..POOL)
        .map(|i| Customer {
            customer_id: format!("cus_{i:06}"),
            name: letters(14),
            balance_cents: i64::try_from(i).unwrap() * 1_013,
            card_number: letters(16),
            monthly_salary: Some(825_000),
            nickname: letters(8),
        })
        .collect();
    let ctx = AccessContext::new("bench").with_purpose("benchmark");
    let by_file: Vec<_> = pool.iter().map(|c| c.seal(file_keyring).unwrap()).collect();
    let by_kms: Vec<_> = pool.iter().map(|c| c.seal(&kms).unwrap()).collect();
    let mut group = c.benchmark_group("customer_kms");
    group.throughput(Throughput::Elements(1));
    over_pool(&mut group, "seal_file", |i| {
        pool[i].seal(file_keyring).unwrap()
    });
    over_pool(&mut group, "seal_kms", |i| pool[i].seal(&kms).unwrap());
    over_pool(&mut group, "open_file", |i| {
        by_file[i].open_all(file_keyring, &ctx).unwrap()
    });
    over_pool(&mut group, "open_kms", |i| {
        by_kms[i].open_all(&kms, &ctx).unwrap()
    });
    group.finish();
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
    let Setup {
        _dir,
        keyring,
        audited,
    } = setup();
    bench_values(&mut criterion, &keyring);
    bench_ten_fields(&mut criterion, &keyring);
    bench_envelope_loop(&mut criterion, &keyring);
    bench_randomness(&mut criterion);
    bench_derive(&mut criterion, &keyring);
    bench_audit(&mut criterion, &keyring, &audited);
    bench_seal_only(&mut criterion);
    bench_kms_keyring(&mut criterion, &keyring);
    criterion.final_summary();
    print_summary(&dir, started);
}
