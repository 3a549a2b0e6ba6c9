//! The frozen test vectors of the public-key token kinds (format version
//! 3, kinds 4 and 5; `testdata/format-hpke.json`, shown in
//! `docs/FORMAT.md`).
//!
//! Each vector fixes a tier key, so the derived HPKE key pair is fixed, and
//! all randomness (data key, the KEM's ephemeral randomness, field nonce),
//! so the token is too: sealing as format version 3 must reproduce the file
//! byte for byte and a full keyring must open every token. The file is
//! frozen: format version 4 writes these kinds with version byte 4 (its
//! x25519 vector is in `format-v4.json`, see [`vector`]).

use serde_json::{Value, json};

use super::format::Version;
use super::public_wrap::{self, ParsedPublicKey};
use super::{Binding, RecordOpener, RecordSealer, SealedField, SealedValue};
use crate::crypto::{KeyMaterial, fixed_randomness};
use crate::keyring::{PublicTierKey, TierKeys, VersionKey};
use crate::{HpkeSuite, Keyring, Tier};

const TEXT: &str = include_str!("../../testdata/format-hpke.json");

/// (suite, tier, key version, key byte).
const CASES: [(HpkeSuite, &str, u32, u8); 2] = [
    (HpkeSuite::X25519, "restricted/cards", 1, 0x44),
    (HpkeSuite::XWing, "restricted", 3, 0x33),
];

fn hex(bytes: &[u8]) -> String {
    crate::crypto::hex(bytes)
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn tier_key(byte: u8) -> KeyMaterial {
    KeyMaterial::take(&mut [byte; 32])
}

fn full(tier: &Tier, version: u32, byte: u8) -> Keyring {
    let keys = TierKeys {
        tier: tier.clone(),
        primary: version,
        versions: vec![VersionKey::new(version, tier_key(byte))],
        retired: Vec::new(),
    };
    Keyring::from_tiers(vec![keys], "vectors".into(), None)
        .unwrap()
        .accept_public_key_tokens(tier.clone())
}

fn seal_only(suite: HpkeSuite, tier: &Tier, version: u32, byte: u8) -> Keyring {
    let public = public_wrap::derive_public_key(suite, &tier_key(byte));
    let mut keyring = Keyring::empty();
    keyring.public.push(PublicTierKey {
        tier: tier.clone(),
        key_version: version,
        key: ParsedPublicKey::parse(suite, &public).unwrap(),
    });
    keyring
}

/// Data key (32) and an unused wrap nonce (12), the KEM's randomness (64),
/// then a field nonce (12), from a seed.
fn randomness(seed: u8) -> Vec<u8> {
    let mut bytes = vec![seed; 44];
    bytes.extend_from_slice(&[seed.wrapping_add(1); 64]);
    bytes.extend_from_slice(&[seed.wrapping_add(2); 12]);
    bytes
}

fn ctx() -> crate::AccessContext {
    crate::AccessContext::new("vectors").with_purpose("test vectors")
}

/// The vector of case `index` of [`CASES`], sealed as format `format`.
pub(super) fn vector(format: Version, index: usize) -> Value {
    let (suite, tier, version, byte) = CASES[index];
    let tier: Tier = tier.parse().unwrap();
    let sealer = seal_only(suite, &tier, version, byte);
    let binding = Binding::new("Customer", "card_number").with_record_id("cus_042");
    let seed = 0x60 + u8::try_from(index).unwrap() * 0x10;
    let value_random = randomness(seed);
    let value = fixed_randomness::with(&value_random, || {
        SealedValue::seal_as(format, &sealer, &tier, binding, "4111111111111111").unwrap()
    });
    let record_random = randomness(seed + 8);
    let (keys, field) = fixed_randomness::with(&record_random, || {
        let mut record = RecordSealer::new_as(format, &sealer, binding);
        let field = record
            .seal_field(&tier, "iban", "GB33BUKB20201555555555")
            .unwrap();
        (record.finish(), field)
    });
    json!({
            "suite": suite.name(),
            "suite_id": suite.id(),
            "tier": tier.as_str(),
            "key_version": version,
            "tier_key": hex(&[byte; 32]),
            "public_key": hex(&public_wrap::derive_public_key(suite, &tier_key(byte))),
            "binding": {"type_name": "Customer", "field": "card_number", "record_id": "cus_042"},
            "sealed_value": {
                "value": "4111111111111111",
                "randomness": hex(&value_random),
                "token": hex(value.as_bytes()),
            },
            "record": {
                "field_id": "iban",
                "value": "GB33BUKB20201555555555",
                "randomness": hex(&record_random),
                "record_key": hex(keys.keys()[0].as_bytes()),
                "field": hex(field.as_bytes()),
            },
    })
}

fn generate() -> Value {
    let vectors: Vec<Value> = (0..CASES.len()).map(|i| vector(Version::V3, i)).collect();
    json!({
        "format": "tierseal public-key token vectors (format version 3, kinds 4 and 5)",
        "derivation": "ikm = HMAC-SHA-256(tier_key, \"tierseal/hpke/<suite>/v1\"); (sk, pk) = KEM.DeriveKeyPair(ikm)",
        "vectors": vectors,
    })
}

#[test]
fn hpke_vectors_are_frozen_and_open() {
    let generated = generate();
    let frozen: Value = serde_json::from_str(TEXT).unwrap();
    assert_eq!(generated, frozen, "the public-key token format changed");
    for vector in frozen["vectors"].as_array().unwrap() {
        opens(vector);
    }
}

/// A full keyring holding the vector's tier key opens its value and its
/// record field; another tier key opens nothing.
pub(super) fn opens(vector: &Value) {
    let tier: Tier = vector["tier"].as_str().unwrap().parse().unwrap();
    let version = u32::try_from(vector["key_version"].as_u64().unwrap()).unwrap();
    let byte = unhex(vector["tier_key"].as_str().unwrap())[0];
    let keyring = full(&tier, version, byte);
    let binding = Binding::new("Customer", "card_number").with_record_id("cus_042");
    let value =
        SealedValue::from_bytes(unhex(vector["sealed_value"]["token"].as_str().unwrap())).unwrap();
    assert_eq!(
        value.open::<String>(&keyring, binding, &ctx()).unwrap(),
        vector["sealed_value"]["value"].as_str().unwrap()
    );
    let key = super::RecordKey::from_bytes(unhex(vector["record"]["record_key"].as_str().unwrap()))
        .unwrap();
    let keys: super::RecordKeys = serde_json::from_value(json!([key.to_text()])).unwrap();
    let field =
        SealedField::from_bytes(unhex(vector["record"]["field"].as_str().unwrap())).unwrap();
    let ctx = ctx();
    let mut opener = RecordOpener::new(&keyring, &keys, binding, &ctx);
    assert_eq!(
        opener.open_field::<String>(&tier, "iban", &field).unwrap(),
        vector["record"]["value"].as_str().unwrap()
    );
    // Another tier key opens nothing.
    let wrong = full(&tier, version, byte ^ 1);
    assert!(matches!(
        value.open::<String>(&wrong, binding, &ctx),
        Err(crate::Error::Integrity { .. })
    ));
}

#[test]
fn public_key_tokens_parse_strictly() {
    let generated = generate();
    for vector in generated["vectors"].as_array().unwrap() {
        let bytes = unhex(vector["sealed_value"]["token"].as_str().unwrap());
        let field_start = bytes.len() - 16 - 12 - 17;
        for len in 0..field_start {
            assert!(
                SealedValue::from_bytes(bytes[..len].to_vec()).is_err(),
                "{len}"
            );
        }
        let key = unhex(vector["record"]["record_key"].as_str().unwrap());
        for len in 0..key.len() {
            assert!(super::RecordKey::from_bytes(key[..len].to_vec()).is_err());
        }
        let mut long = key.clone();
        long.push(0);
        assert!(super::RecordKey::from_bytes(long).is_err());
        let mut unknown_suite = key.clone();
        unknown_suite[3 + usize::from(key[2])] = 9;
        assert!(super::RecordKey::from_bytes(unknown_suite).is_err());
    }
}
