//! Measures tierseal beside its baselines in one process, two ways.
//!
//! Wall clock, interleaved: `measure wall ROUNDS` runs every mode in turn,
//! ROUNDS times, and prints each mode's median ns per operation, the
//! ratios to the baselines and the load average.
//!
//! Instructions, when the wall clock is too noisy: `measure MODE N` runs
//! one mode N times, for `valgrind --tool=callgrind`:
//!
//! ```text
//! cargo build --release -p tierseal --example measure
//! valgrind --tool=callgrind target/release/examples/measure MODE N
//! ```
//!
//! Run each mode with N = 0 and N = 1000; the difference over 1000 is the
//! cost of one operation (set-up, key derivation and pool sealing cancel
//! out). Callgrind counts no time inside system calls (tierseal draws each
//! data key from the kernel) and runs without the CPU's SHA extensions.
//!
//! Modes: `seal8`, `open8` (tierseal, 8 string fields, one tier),
//! `env_seal8`, `env_open8` (the minimal AES-KW envelope of the benchmark),
//! `env_os_seal8` (the same envelope drawing its data key from the kernel,
//! as tierseal does: the like-for-like baseline of a fork-safe seal),
//! `raw_seal8`, `raw_open8` (raw AES-GCM of the same 8 fields under one
//! ready key), `seal3t`, `open3t` (10 fields over 3 tiers), `raw_seal3t`,
//! `raw_open3t`, `derive_seal8`, `derive_open8` (the same 8 fields through
//! the derive), `packed_seal8`, `packed_open8` (the same 8 fields through
//! the derive with `#[classified(packed)]`: one AES-GCM message),
//! `packed_seal3t`, `packed_open3t` (the 10 fields over 3 tiers, packed),
//! `value_seal4k`, `value_open4k`, `raw_seal4k`, `raw_open4k`,
//! `os_random44` (the kernel draw tierseal makes per record and tier).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::print_stdout,
    clippy::panic,
    missing_docs,
    reason = "measurement code"
)]

use std::hint::black_box;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::KeyInit;
use rand::Rng as _;
use tierseal::{
    AccessContext, Binding, Classified, Clearance, KdfProfile, Keyring, Keystore, Level,
    RecordKeys, RecordOpener, RecordSealer, SealedField, SealedRecord, SealedValue, Tier,
};

const POOL: usize = 64;
const NAMES: [&str; 8] = [
    "name", "email", "ssn", "phone", "address", "dob", "account", "notes",
];
const LENGTHS: [usize; 8] = [14, 26, 11, 12, 42, 10, 16, 96];

/// The 3-tier record (`layout3t`), packed: three parts.
#[derive(tierseal::Classified, Clone)]
#[classified(record_id = "id", packed)]
struct PackedPerson3t {
    #[classify(public)]
    id: String,
    #[classify(internal)]
    name: String,
    #[classify(internal)]
    email: String,
    #[classify(internal)]
    phone: String,
    #[classify(internal)]
    address: String,
    #[classify(confidential)]
    dob: String,
    #[classify(confidential)]
    balance: String,
    #[classify(confidential)]
    notes: String,
    #[classify(restricted)]
    ssn: String,
    #[classify(restricted)]
    account: String,
    #[classify(restricted)]
    card: String,
}

#[path = "../benches/support/baseline.rs"]
mod baseline;
#[path = "../benches/support/records.rs"]
mod records;
use baseline::{letters, raw_decrypt, raw_encrypt};
use records::{PackedPerson, Person};

struct Record {
    id: String,
    fields: Vec<String>,
}

fn layout8() -> Vec<(Tier, &'static str)> {
    NAMES.iter().map(|n| (Tier::CONFIDENTIAL, *n)).collect()
}

fn layout3t() -> Vec<(Tier, &'static str, usize)> {
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

fn pool(lengths: &[usize]) -> Vec<Record> {
    (0..POOL)
        .map(|i| Record {
            id: format!("rec-{i:06}"),
            fields: lengths.iter().map(|len| letters(*len)).collect(),
        })
        .collect()
}

/// The tiers of `layout`'s fields, which a sealer prepares together (it
/// skips repeats).
fn tiers_of<'l>(layout: &'l [(Tier, &str)]) -> Vec<&'l Tier> {
    layout.iter().map(|(tier, _)| tier).collect()
}

fn seal(
    keyring: &Keyring,
    (layout, tiers): (&[(Tier, &str)], &[&Tier]),
    r: &Record,
) -> (RecordKeys, Vec<SealedField>) {
    let mut sealer = RecordSealer::new(keyring, Binding::new("Bench", "").with_record_id(&r.id));
    sealer.prepare(tiers).unwrap();
    let fields = layout
        .iter()
        .zip(&r.fields)
        .map(|((tier, id), value)| sealer.seal_field(tier, id, value).unwrap())
        .collect();
    (sealer.finish(), fields)
}

fn open(
    keyring: &Keyring,
    ctx: &AccessContext,
    layout: &[(Tier, &str)],
    id: &str,
    sealed: &(RecordKeys, Vec<SealedField>),
) -> Vec<String> {
    let mut opener = RecordOpener::new(
        keyring,
        &sealed.0,
        Binding::new("Bench", "").with_record_id(id),
        ctx,
    );
    let out = layout
        .iter()
        .zip(&sealed.1)
        .map(|((tier, id), field)| opener.open_field::<String>(tier, id, field).unwrap())
        .collect();
    opener.finish().unwrap();
    out
}

/// Every mode, in the order the wall-clock rounds run them.
const MODES: [&str; 22] = [
    "os_random44",
    "seal8",
    "env_seal8",
    "env_os_seal8",
    "raw_seal8",
    "open8",
    "env_open8",
    "raw_open8",
    "seal3t",
    "raw_seal3t",
    "open3t",
    "raw_open3t",
    "derive_seal8",
    "derive_open8",
    "packed_seal8",
    "packed_open8",
    "packed_seal3t",
    "packed_open3t",
    "value_seal4k",
    "raw_seal4k",
    "value_open4k",
    "raw_open4k",
];

/// The pairs the wall-clock summary compares: (tierseal, baseline).
const PAIRS: [(&str, &str); 18] = [
    ("seal8", "env_seal8"),
    ("seal8", "env_os_seal8"),
    ("packed_seal8", "env_os_seal8"),
    ("open8", "env_open8"),
    ("packed_seal8", "env_seal8"),
    ("packed_open8", "env_open8"),
    ("packed_seal8", "derive_seal8"),
    ("packed_open8", "derive_open8"),
    ("packed_seal3t", "raw_seal3t"),
    ("packed_open3t", "raw_open3t"),
    ("seal8", "raw_seal8"),
    ("open8", "raw_open8"),
    ("seal3t", "raw_seal3t"),
    ("open3t", "raw_open3t"),
    ("derive_seal8", "env_seal8"),
    ("derive_open8", "env_open8"),
    ("value_seal4k", "raw_seal4k"),
    ("value_open4k", "raw_open4k"),
];

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().expect("MODE");
    let n: usize = args.next().expect("N").parse().unwrap();
    if mode == "wall" {
        let per_round = 400;
        let mut samples: Vec<Vec<f64>> = vec![Vec::new(); MODES.len()];
        let before = load_average();
        for _ in 0..n {
            for (i, mode) in MODES.iter().enumerate() {
                let took = run(mode, per_round);
                samples[i].push(took.as_nanos() as f64 / per_round as f64);
            }
        }
        let median = |mode: &str| {
            let i = MODES.iter().position(|m| *m == mode).unwrap();
            let mut s = samples[i].clone();
            s.sort_by(f64::total_cmp);
            s[s.len() / 2]
        };
        println!("load average before: {before}, after: {}", load_average());
        println!("rounds: {n}, {per_round} operations per mode per round (set-up excluded)");
        println!(
            "os_random44    {:>9.0} ns  (one kernel draw of a data key and wrap nonce)",
            median("os_random44")
        );
        for (ours, base) in PAIRS {
            let (a, b) = (median(ours), median(base));
            println!(
                "{ours:<14} {a:>9.0} ns  {base:<12} {b:>9.0} ns  {:>5.2}x",
                a / b
            );
        }
        return;
    }
    black_box(run(&mode, n));
}

/// Runs `f` for `0..n`, adding the time it took to `total`.
fn timed(n: usize, total: &mut std::time::Duration, f: impl FnMut(usize)) {
    let start = std::time::Instant::now();
    (0..n).for_each(f);
    *total += start.elapsed();
}

/// Seals (`seal`) or opens with `open_all` the derived records `people`,
/// `n` times in turn (opening what was sealed once in the set-up); returns
/// the time the `n` operations took.
fn derived<T: Classified>(
    seal: bool,
    people: &[T],
    keyring: &Keyring,
    ctx: &AccessContext,
    n: usize,
) -> std::time::Duration {
    let mut took = std::time::Duration::ZERO;
    let at = |i: usize| i % people.len();
    if seal {
        timed(n, &mut took, |i| {
            black_box(people[at(i)].seal(keyring).unwrap());
        });
    } else {
        let sealed: Vec<_> = people.iter().map(|p| p.seal(keyring).unwrap()).collect();
        timed(n, &mut took, |i| {
            black_box(SealedRecord::open_all(&sealed[at(i)], keyring, ctx).unwrap());
        });
    }
    took
}

/// Runs `mode` `n` times after its set-up (keystore, pool, sealing the
/// pool for open modes); returns the time the `n` operations took.
fn run(mode: &str, n: usize) -> std::time::Duration {
    let mode = mode.to_owned();
    let mut took = std::time::Duration::ZERO;

    let dir = tempfile::tempdir().unwrap();
    let keystore = Keystore::create(dir.path().join("k"), &"pw".into(), KdfProfile::Test).unwrap();
    let keyring = keystore
        .keyring(&Clearance::up_to(Level::Restricted))
        .unwrap();
    let ctx = AccessContext::new("instructions").with_purpose("measurement");
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    let kek = aes_kw::KwAes256::new(&key.into());
    let tier_ciphers: Vec<Aes256Gcm> = (0..3)
        .map(|_| {
            rand::rng().fill_bytes(&mut key);
            Aes256Gcm::new(&key.into())
        })
        .collect();

    let l8 = layout8();
    let l3: Vec<(Tier, &str)> = layout3t().iter().map(|(t, n, _)| (t.clone(), *n)).collect();
    let lens3: Vec<usize> = layout3t().iter().map(|f| f.2).collect();
    // One tier has nothing to prepare (the derive emits no `prepare` then).
    let (t8, t3): (Vec<&Tier>, _) = (Vec::new(), tiers_of(&l3));
    let recs8 = pool(&LENGTHS);
    let recs3 = pool(&lens3);
    let at = |i: usize| i % POOL;

    match mode.as_str() {
        "seal8" => timed(n, &mut took, |i| {
            black_box(seal(&keyring, (&l8, &t8), &recs8[at(i)]));
        }),
        "open8" => {
            let sealed: Vec<_> = recs8
                .iter()
                .map(|r| seal(&keyring, (&l8, &t8), r))
                .collect();
            timed(n, &mut took, |i| {
                black_box(open(&keyring, &ctx, &l8, &recs8[at(i)].id, &sealed[at(i)]));
            });
        }
        "seal3t" => timed(n, &mut took, |i| {
            black_box(seal(&keyring, (&l3, &t3), &recs3[at(i)]));
        }),
        "open3t" => {
            let sealed: Vec<_> = recs3
                .iter()
                .map(|r| seal(&keyring, (&l3, &t3), r))
                .collect();
            timed(n, &mut took, |i| {
                black_box(open(&keyring, &ctx, &l3, &recs3[at(i)].id, &sealed[at(i)]));
            });
        }
        "env_seal8" | "env_os_seal8" | "env_open8" => {
            // The minimal envelope draws its data key from the thread's
            // user-space generator; `env_os_seal8` draws it from the kernel
            // instead, as tierseal does for fork safety: the like-for-like
            // baseline of `seal8`.
            let from_kernel = mode == "env_os_seal8";
            let env_seal = |r: &Record| {
                let mut dek = [0u8; 32];
                if from_kernel {
                    use rand::TryRng as _;
                    rand::rngs::SysRng.try_fill_bytes(&mut dek).unwrap();
                } else {
                    rand::rng().fill_bytes(&mut dek);
                }
                let mut wrapped = [0u8; 40];
                kek.wrap_key(&dek, &mut wrapped).unwrap();
                let cipher = Aes256Gcm::new(&dek.into());
                let mut aad = Vec::with_capacity(64);
                let fields: Vec<Vec<u8>> = NAMES
                    .iter()
                    .zip(&r.fields)
                    .map(|(name, value)| {
                        aad.clear();
                        aad.extend_from_slice(r.id.as_bytes());
                        aad.extend_from_slice(name.as_bytes());
                        raw_encrypt(&cipher, &aad, value.as_bytes())
                    })
                    .collect();
                (wrapped, fields)
            };
            if mode != "env_open8" {
                timed(n, &mut took, |i| {
                    black_box(env_seal(&recs8[at(i)]));
                });
            } else {
                let sealed: Vec<_> = recs8.iter().map(env_seal).collect();
                timed(n, &mut took, |i| {
                    let (r, s) = (&recs8[at(i)], &sealed[at(i)]);
                    let mut dek = [0u8; 32];
                    kek.unwrap_key(&s.0, &mut dek).unwrap();
                    let cipher = Aes256Gcm::new(&dek.into());
                    let mut aad = Vec::with_capacity(64);
                    let out: Vec<String> = NAMES
                        .iter()
                        .zip(&s.1)
                        .map(|(name, field)| {
                            aad.clear();
                            aad.extend_from_slice(r.id.as_bytes());
                            aad.extend_from_slice(name.as_bytes());
                            String::from_utf8(raw_decrypt(&cipher, &aad, field)).unwrap()
                        })
                        .collect();
                    black_box(out);
                });
            }
        }
        "raw_seal8" | "raw_open8" => {
            let cipher = &tier_ciphers[0];
            let raw_seal = |r: &Record| -> Vec<Vec<u8>> {
                NAMES
                    .iter()
                    .zip(&r.fields)
                    .map(|(name, v)| raw_encrypt(cipher, name.as_bytes(), v.as_bytes()))
                    .collect()
            };
            if mode == "raw_seal8" {
                timed(n, &mut took, |i| {
                    black_box(raw_seal(&recs8[at(i)]));
                });
            } else {
                let sealed: Vec<_> = recs8.iter().map(raw_seal).collect();
                timed(n, &mut took, |i| {
                    let out: Vec<Vec<u8>> = NAMES
                        .iter()
                        .zip(&sealed[at(i)])
                        .map(|(name, f)| raw_decrypt(cipher, name.as_bytes(), f))
                        .collect();
                    black_box(out);
                });
            }
        }
        "raw_seal3t" | "raw_open3t" => {
            let tier_of = |t: &Tier| match t.level() {
                Level::Internal => 0,
                Level::Confidential => 1,
                _ => 2,
            };
            let raw_seal = |r: &Record| {
                let mut keys = Vec::with_capacity(3);
                let mut wrapped = Vec::with_capacity(3);
                for tk in &tier_ciphers {
                    let mut dek = [0u8; 32];
                    rand::rng().fill_bytes(&mut dek);
                    wrapped.push(raw_encrypt(tk, b"tier", &dek));
                    keys.push(Aes256Gcm::new(&dek.into()));
                }
                let fields: Vec<Vec<u8>> = l3
                    .iter()
                    .zip(&r.fields)
                    .map(|((t, id), v)| raw_encrypt(&keys[tier_of(t)], id.as_bytes(), v.as_bytes()))
                    .collect();
                (wrapped, fields)
            };
            if mode == "raw_seal3t" {
                timed(n, &mut took, |i| {
                    black_box(raw_seal(&recs3[at(i)]));
                });
            } else {
                let sealed: Vec<_> = recs3.iter().map(raw_seal).collect();
                timed(n, &mut took, |i| {
                    let s = &sealed[at(i)];
                    let keys: Vec<Aes256Gcm> =
                        s.0.iter()
                            .zip(&tier_ciphers)
                            .map(|(w, tk)| {
                                let dek: [u8; 32] = raw_decrypt(tk, b"tier", w).try_into().unwrap();
                                Aes256Gcm::new(&dek.into())
                            })
                            .collect();
                    let out: Vec<Vec<u8>> = l3
                        .iter()
                        .zip(&s.1)
                        .map(|((t, id), f)| raw_decrypt(&keys[tier_of(t)], id.as_bytes(), f))
                        .collect();
                    black_box(out);
                });
            }
        }
        "derive_seal8" | "derive_open8" => {
            let people: Vec<Person> = recs8
                .iter()
                .map(|r| Person::new(&r.id, &r.fields))
                .collect();
            took = derived(&mode == "derive_seal8", &people, &keyring, &ctx, n);
        }
        "packed_seal8" | "packed_open8" => {
            let people: Vec<PackedPerson> = recs8
                .iter()
                .map(|r| PackedPerson::new(&r.id, &r.fields))
                .collect();
            took = derived(&mode == "packed_seal8", &people, &keyring, &ctx, n);
        }
        "packed_seal3t" | "packed_open3t" => {
            let people: Vec<PackedPerson3t> = recs3
                .iter()
                .map(|r| {
                    let f = |i: usize| r.fields[i].clone();
                    PackedPerson3t {
                        id: r.id.clone(),
                        name: f(0),
                        email: f(1),
                        phone: f(2),
                        address: f(3),
                        dob: f(4),
                        balance: f(5),
                        notes: f(6),
                        ssn: f(7),
                        account: f(8),
                        card: f(9),
                    }
                })
                .collect();
            took = derived(&mode == "packed_seal3t", &people, &keyring, &ctx, n);
        }
        "value_seal4k" | "value_open4k" | "raw_seal4k" | "raw_open4k" => {
            let text = letters(4096);
            let binding = Binding::new("Bench", "value").with_record_id("rec-1");
            let cipher = &tier_ciphers[0];
            match mode.as_str() {
                "value_seal4k" => timed(n, &mut took, |_| {
                    black_box(
                        SealedValue::seal(&keyring, &Tier::CONFIDENTIAL, binding, black_box(&text))
                            .unwrap(),
                    );
                }),
                "value_open4k" => {
                    let sealed =
                        SealedValue::seal(&keyring, &Tier::CONFIDENTIAL, binding, &text).unwrap();
                    timed(n, &mut took, |_| {
                        black_box(sealed.open::<String>(&keyring, binding, &ctx).unwrap());
                    });
                }
                "raw_seal4k" => timed(n, &mut took, |_| {
                    black_box(raw_encrypt(cipher, b"aad", black_box(text.as_bytes())));
                }),
                _ => {
                    let sealed = raw_encrypt(cipher, b"aad", text.as_bytes());
                    timed(n, &mut took, |_| {
                        black_box(raw_decrypt(cipher, b"aad", black_box(&sealed)));
                    });
                }
            }
        }
        // The kernel draw of a data key and its wrap nonce that tierseal
        // makes per record and tier (fork-safe randomness), on its own.
        "os_random44" => timed(n, &mut took, |_| {
            use rand::TryRng as _;
            let mut buf = [0u8; 44];
            rand::rngs::SysRng.try_fill_bytes(&mut buf).unwrap();
            black_box(buf);
        }),
        other => panic!("unknown mode {other}"),
    }
    took
}
