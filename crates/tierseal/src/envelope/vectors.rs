//! The frozen test vectors of format version 1 (`testdata/format-v1.json`,
//! shown in `docs/FORMAT.md`).
//!
//! Sealing the fixed inputs below with fixed randomness must reproduce the
//! file byte for byte, and every token in the file must open (or, for the
//! `fail_` vectors, fail as recorded). Changing a vector means a format
//! version bump. To write the file after a deliberate change:
//! `TIERSEAL_WRITE_VECTORS=1 cargo test -p tierseal vectors`.

use serde_json::{Value, json};

use super::{Binding, RecordKeys, RecordOpener, RecordSealer, SealedField, SealedValue};
use crate::crypto::{KeyMaterial, fixed_randomness};
use crate::keyring::{TierKeys, VersionKey};
use crate::{Error, Keyring, Tier};

const FILE: &str = include_str!("../../testdata/format-v1.json");
const FILE_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/format-v1.json");

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// Byte `n` repeated, as a readable fixed key or nonce.
fn repeated<const N: usize>(byte: u8) -> [u8; N] {
    [byte; N]
}

/// The fixed tier keys: (tier, version, key byte).
const TIER_KEYS: [(&str, u32, u8); 4] = [
    ("internal", 1, 0x11),
    ("confidential", 1, 0x22),
    ("restricted", 1, 0x33),
    ("restricted/cards", 1, 0x44),
];

fn ctx() -> crate::AccessContext {
    crate::AccessContext::new("vectors").with_purpose("test vectors")
}

fn keyring() -> Keyring {
    let tiers = TIER_KEYS
        .iter()
        .map(|(tier, version, byte)| TierKeys {
            tier: tier.parse().unwrap(),
            primary: *version,
            versions: vec![VersionKey::new(
                *version,
                KeyMaterial::take(&mut repeated(*byte)),
            )],
            retired: Vec::new(),
        })
        .collect();
    Keyring::from_tiers(tiers, "vectors".into(), None).unwrap()
}

/// Data key, wrap nonce and field nonce for a sealed value.
fn randomness(seed: u8) -> Vec<u8> {
    let mut bytes = repeated::<32>(seed).to_vec();
    bytes.extend_from_slice(&repeated::<12>(seed.wrapping_add(1)));
    bytes.extend_from_slice(&repeated::<12>(seed.wrapping_add(2)));
    bytes
}

fn binding_json(binding: &Binding<'_>) -> Value {
    json!({
        "type_name": binding.type_name(),
        "field": binding.field(),
        "record_id": binding.record_id(),
    })
}

fn value_vector<T: serde::Serialize>(
    name: &str,
    tier: &Tier,
    binding: Binding<'_>,
    value: &T,
    seed: u8,
) -> Value {
    let random = randomness(seed);
    let sealed = fixed_randomness::with(&random, || {
        SealedValue::seal(&keyring(), tier, binding, value).unwrap()
    });
    json!({
        "name": name,
        "kind": "sealed value",
        "tier": tier.as_str(),
        "key_version": 1,
        "binding": binding_json(&binding),
        "value": serde_json::to_value(value).unwrap(),
        "randomness": hex(&random),
        "token": hex(sealed.as_bytes()),
        "text": sealed.to_text(),
    })
}

fn record_vector() -> Value {
    let binding = Binding::new("Customer", "").with_record_id("cus_042");
    // Data key + wrap nonce for `internal`, field nonce, field nonce for
    // `restricted/cards` after its data key + wrap nonce.
    let mut random = repeated::<32>(0xA0).to_vec();
    random.extend_from_slice(&repeated::<12>(0xA1));
    random.extend_from_slice(&repeated::<12>(0xA2));
    random.extend_from_slice(&repeated::<32>(0xB0));
    random.extend_from_slice(&repeated::<12>(0xB1));
    random.extend_from_slice(&repeated::<12>(0xB2));
    let keyring = keyring();
    let (name, card, keys) = fixed_randomness::with(&random, || {
        let mut sealer = RecordSealer::new(&keyring, binding);
        let name = sealer
            .seal_field(&Tier::INTERNAL, "name", "Ada Lovelace")
            .unwrap();
        let card = sealer
            .seal_field(
                &"restricted/cards".parse().unwrap(),
                "card_number",
                "4111111111111111",
            )
            .unwrap();
        (name, card, sealer.finish())
    });
    json!({
        "name": "record_two_tiers",
        "kind": "record",
        "binding": binding_json(&binding),
        "randomness": hex(&random),
        "keys": keys.keys().iter().map(|k| hex(k.as_bytes())).collect::<Vec<_>>(),
        "fields": [
            {"field": "name", "tier": "internal", "value": "Ada Lovelace", "token": hex(name.as_bytes())},
            {"field": "card_number", "tier": "restricted/cards", "value": "4111111111111111", "token": hex(card.as_bytes())},
        ],
    })
}

fn first_value_token() -> Vec<u8> {
    let file: Value = serde_json::from_str(FILE).unwrap();
    unhex(file["vectors"][0]["token"].as_str().unwrap())
}

/// Negative vectors: a token derived from the first vector, the binding to
/// open it with, and the error expected.
fn fail_vectors(first: &[u8]) -> Value {
    let card_binding =
        json!({"type_name": "Customer", "field": "card_number", "record_id": "cus_042"});
    let mut flipped_tag = first.to_vec();
    *flipped_tag.last_mut().unwrap() ^= 0x01;
    let mut version_2 = first.to_vec();
    version_2[0] = 2;
    // "restricted/cards" (16 bytes) relabelled as "restricted" (10 bytes).
    let mut relabelled = first[..2].to_vec();
    relabelled.push(10);
    relabelled.extend_from_slice(b"restricted");
    relabelled.extend_from_slice(&first[3 + 16..]);
    let truncated = first[..40].to_vec();
    json!([
        {"name": "fail_flipped_tag", "token": hex(&flipped_tag), "binding": card_binding, "error": "Integrity"},
        {"name": "fail_other_record", "token": hex(first),
         "binding": {"type_name": "Customer", "field": "card_number", "record_id": "cus_043"}, "error": "Integrity"},
        {"name": "fail_other_field", "token": hex(first),
         "binding": {"type_name": "Customer", "field": "notes", "record_id": "cus_042"}, "error": "Integrity"},
        {"name": "fail_relabelled_tier", "token": hex(&relabelled), "binding": card_binding, "error": "Integrity"},
        {"name": "fail_format_version_2", "token": hex(&version_2), "binding": card_binding, "error": "UnsupportedFormat"},
        {"name": "fail_truncated", "token": hex(&truncated), "binding": card_binding, "error": "Malformed"},
    ])
}

fn generate(first_token: Option<&[u8]>) -> Value {
    let cards: Tier = "restricted/cards".parse().unwrap();
    let card = Binding::new("Customer", "card_number").with_record_id("cus_042");
    let salary = Binding::new("Employee", "salary");
    let vectors = vec![
        value_vector("value_string", &cards, card, &"4111111111111111", 0x01),
        value_vector(
            "value_option_u64_unbound_record",
            &Tier::CONFIDENTIAL,
            salary,
            &Some(825_000_u64),
            0x10,
        ),
        record_vector(),
    ];
    let first = match first_token {
        Some(token) => token.to_vec(),
        None => unhex(vectors[0]["token"].as_str().unwrap()),
    };
    json!({
        "format_version": 1,
        "note": "Tier keys are 32 copies of the byte shown; randomness is drawn in order: data key, wrap nonce, field nonce.",
        "tier_keys": TIER_KEYS.iter().map(|(t, v, b)| json!({"tier": t, "version": v, "key": hex(&[*b; 32])})).collect::<Vec<_>>(),
        "vectors": vectors,
        "fail": fail_vectors(&first),
    })
}

fn binding_from(value: &Value) -> Binding<'_> {
    let binding = Binding::new(
        value["type_name"].as_str().unwrap(),
        value["field"].as_str().unwrap(),
    );
    match value["record_id"].as_str() {
        Some(id) => binding.with_record_id(id),
        None => binding,
    }
}

fn error_name(error: &Error) -> &'static str {
    match error {
        Error::Integrity { .. } => "Integrity",
        Error::UnsupportedFormat { .. } => "UnsupportedFormat",
        Error::Malformed { .. } => "Malformed",
        _ => "other",
    }
}

#[test]
fn sealing_reproduces_the_frozen_vectors() {
    if std::env::var_os("TIERSEAL_WRITE_VECTORS").is_some() {
        let generated = generate(None);
        std::fs::write(
            FILE_PATH,
            serde_json::to_string_pretty(&generated).unwrap() + "\n",
        )
        .unwrap();
        return;
    }
    let frozen: Value = serde_json::from_str(FILE).unwrap();
    let generated = generate(Some(&first_value_token()));
    assert_eq!(
        generated, frozen,
        "format-v1.json no longer matches what this build seals"
    );
}

#[test]
fn frozen_value_vectors_open() {
    let frozen: Value = serde_json::from_str(FILE).unwrap();
    let keyring = keyring();
    for vector in frozen["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["kind"] == "sealed value")
    {
        let sealed = SealedValue::from_bytes(unhex(vector["token"].as_str().unwrap())).unwrap();
        assert_eq!(sealed.to_text(), vector["text"].as_str().unwrap());
        let opened: Value = match vector["name"].as_str().unwrap() {
            "value_string" => json!(
                sealed
                    .open::<String>(&keyring, binding_from(&vector["binding"]), &ctx())
                    .unwrap()
            ),
            _ => json!(
                sealed
                    .open::<Option<u64>>(&keyring, binding_from(&vector["binding"]), &ctx())
                    .unwrap()
            ),
        };
        assert_eq!(opened, vector["value"], "{}", vector["name"]);
    }
}

#[test]
fn frozen_record_vector_opens() {
    let frozen: Value = serde_json::from_str(FILE).unwrap();
    let keyring = keyring();
    let record = frozen["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["kind"] == "record")
        .unwrap();
    let keys: RecordKeys = serde_json::from_value(Value::Array(
        record["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                json!(
                    super::RecordKey::from_bytes(unhex(k.as_str().unwrap()))
                        .unwrap()
                        .to_text()
                )
            })
            .collect(),
    ))
    .unwrap();
    let binding = binding_from(&record["binding"]);
    let ctx = crate::AccessContext::new("vectors").with_purpose("test vectors");
    let mut opener = RecordOpener::new(&keyring, &keys, binding, &ctx);
    for field in record["fields"].as_array().unwrap() {
        let sealed = SealedField::from_bytes(unhex(field["token"].as_str().unwrap())).unwrap();
        let tier: Tier = field["tier"].as_str().unwrap().parse().unwrap();
        let value: String = opener
            .open_field(&tier, field["field"].as_str().unwrap(), &sealed)
            .unwrap();
        assert_eq!(json!(value), field["value"]);
    }
}

#[test]
fn frozen_fail_vectors_fail_as_recorded() {
    let frozen: Value = serde_json::from_str(FILE).unwrap();
    let keyring = keyring();
    for vector in frozen["fail"].as_array().unwrap() {
        let outcome =
            SealedValue::from_bytes(unhex(vector["token"].as_str().unwrap())).and_then(|sealed| {
                sealed.open::<String>(&keyring, binding_from(&vector["binding"]), &ctx())
            });
        let error = outcome.expect_err(vector["name"].as_str().unwrap());
        assert_eq!(
            error_name(&error),
            vector["error"],
            "{}: {error:?}",
            vector["name"]
        );
    }
}
