//! The frozen test vectors of format versions 1 to 4
//! (`testdata/format-v1.json` to `testdata/format-v4.json`, shown in
//! `docs/FORMAT.md`); the packed parts of version 4 are in [`packed`].
//!
//! Sealing the fixed inputs below with fixed randomness must reproduce each
//! file byte for byte, and every token in it must open (or, for the `fail_`
//! vectors, fail as recorded). Changing a vector means a format version
//! bump. To write the version-4 file after a deliberate change:
//! `TIERSEAL_WRITE_VECTORS=1 cargo test -p tierseal --lib vectors` (the
//! files of versions 1 to 3 are never rewritten).

mod packed;

use serde_json::{Value, json};

use super::format::{self, Role, Version};
use super::{Binding, RecordKeys, RecordOpener, RecordSealer, SealedField, SealedValue, Within};
use crate::crypto::{KeyMaterial, fixed_randomness};
use crate::keyring::{TierKeys, VersionKey};
use crate::{Error, Keyring, Tier};

/// One frozen file.
#[derive(Clone, Copy)]
struct Frozen {
    version: Version,
    text: &'static str,
    path: &'static str,
}

const V1: Frozen = Frozen {
    version: Version::V1,
    text: include_str!("../../testdata/format-v1.json"),
    path: concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/format-v1.json"),
};

const V2: Frozen = Frozen {
    version: Version::V2,
    text: include_str!("../../testdata/format-v2.json"),
    path: concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/format-v2.json"),
};

const V3: Frozen = Frozen {
    version: Version::V3,
    text: include_str!("../../testdata/format-v3.json"),
    path: concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/format-v3.json"),
};

const V4: Frozen = Frozen {
    version: Version::V4,
    text: include_str!("../../testdata/format-v4.json"),
    path: concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/format-v4.json"),
};

/// Every frozen file.
const ALL: [Frozen; 4] = [V1, V2, V3, V4];

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
    version: Version,
    name: &str,
    tier: &Tier,
    binding: Binding<'_>,
    value: &T,
    seed: u8,
) -> Value {
    let random = randomness(seed);
    let sealed = fixed_randomness::with(&random, || {
        SealedValue::seal_as(version, &keyring(), tier, binding, value).unwrap()
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

/// Randomness for a record: per tier on first use a data key and wrap
/// nonce, then each field's nonce (`seeds`: per tier, its first byte).
fn record_randomness(seeds: &[(u8, usize)]) -> Vec<u8> {
    let mut random = Vec::new();
    for (seed, fields) in seeds {
        random.extend_from_slice(&repeated::<32>(*seed));
        random.extend_from_slice(&repeated::<12>(seed + 1));
        for i in 0..*fields {
            random.extend_from_slice(&repeated::<12>(seed + 2 + i as u8));
        }
    }
    random
}

/// A record's place, as a vector states it: the root type and record id,
/// then the field ids down to the record (no nested record in these
/// vectors declares its own record id).
struct Place {
    root: &'static str,
    record_id: Option<&'static str>,
    fields: &'static [&'static str],
}

impl Place {
    fn within(&self) -> Within {
        let mut within = Within::root().enter(self.record_id.map(str::to_owned));
        for field in self.fields {
            within = within.child(self.root, field).enter(None);
        }
        within
    }

    fn from_json(value: &Value) -> Within {
        let mut within = Within::root().enter(value["record_id"].as_str().map(str::to_owned));
        let root = value["root"].as_str().unwrap();
        for field in value["path"].as_array().unwrap() {
            within = within.child(root, field.as_str().unwrap()).enter(None);
        }
        within
    }

    fn json(&self, type_name: &str) -> Value {
        json!({
            "type_name": type_name,
            "root": self.root,
            "path": self.fields,
            "record_id": self.record_id,
        })
    }
}

/// One field of a record vector: id, tier, role, value.
struct FieldSpec {
    id: &'static str,
    tier: &'static str,
    role: Role,
    value: &'static str,
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Value => "value",
        Role::Mask => "mask",
    }
}

fn record_vector(
    version: Version,
    name: &str,
    type_name: &str,
    place: &Place,
    fields: &[FieldSpec],
    random: &[u8],
) -> Value {
    let within = place.within();
    let binding = within.binding(type_name);
    let keyring = keyring();
    let (tokens, keys) = fixed_randomness::with(random, || {
        let mut sealer = RecordSealer::new_as(version, &keyring, binding);
        let tokens: Vec<SealedField> = fields
            .iter()
            .map(|field| match field.role {
                Role::Value => sealer
                    .seal_field(&field.tier.parse().unwrap(), field.id, field.value)
                    .unwrap(),
                Role::Mask => match sealer.seal_mask(field.id, field.value).unwrap() {
                    super::SealedMask::Sealed(token) => token,
                    super::SealedMask::Clear(_) => unreachable!("masks are sealed"),
                },
            })
            .collect();
        (tokens, sealer.finish())
    });
    let mut vector = json!({
        "name": name,
        "kind": "record",
        "randomness": hex(random),
        "keys": keys.keys().iter().map(|k| hex(k.as_bytes())).collect::<Vec<_>>(),
        "fields": fields.iter().zip(&tokens).map(|(field, token)| {
            let mut entry = json!({
                "field": field.id,
                "tier": field.tier,
                "value": field.value,
                "token": hex(token.as_bytes()),
            });
            if version != Version::V1 {
                entry["role"] = json!(role_name(field.role));
                let mut aad = Vec::new();
                format::field_aad_prefix(&mut aad, version, &binding);
                format::field_aad_suffix(&mut aad, version, field.tier, field.role, field.id).unwrap();
                entry["aad"] = json!(hex(&aad));
            }
            entry
        }).collect::<Vec<_>>(),
    });
    vector["binding"] = match version {
        Version::V1 => binding_json(&binding),
        Version::V2 | Version::V3 | Version::V4 => place.json(type_name),
    };
    vector
}

const CUSTOMER: Place = Place {
    root: "Customer",
    record_id: Some("cus_042"),
    fields: &[],
};

fn record_two_tiers(version: Version) -> Value {
    // Data key + wrap nonce for `internal`, field nonce, field nonce for
    // `restricted/cards` after its data key + wrap nonce.
    let mut random = repeated::<32>(0xA0).to_vec();
    random.extend_from_slice(&repeated::<12>(0xA1));
    random.extend_from_slice(&repeated::<12>(0xA2));
    random.extend_from_slice(&repeated::<32>(0xB0));
    random.extend_from_slice(&repeated::<12>(0xB1));
    random.extend_from_slice(&repeated::<12>(0xB2));
    record_vector(
        version,
        "record_two_tiers",
        "Customer",
        &CUSTOMER,
        &[
            FieldSpec {
                id: "name",
                tier: "internal",
                role: Role::Value,
                value: "Ada Lovelace",
            },
            FieldSpec {
                id: "card_number",
                tier: "restricted/cards",
                role: Role::Value,
                value: "4111111111111111",
            },
        ],
        &random,
    )
}

/// The version-2 and 3 record vectors: nested at depth 1 and 2, with and
/// without a record id, and a sealed mask.
fn nested_records(version: Version) -> Vec<Value> {
    let street = |value| FieldSpec {
        id: "street",
        tier: "internal",
        role: Role::Value,
        value,
    };
    vec![
        record_vector(
            version,
            "record_nested_home",
            "Address",
            &Place {
                root: "Employee",
                record_id: Some("emp_042"),
                fields: &["home"],
            },
            &[street("1 Main St")],
            &record_randomness(&[(0xC0, 1)]),
        ),
        record_vector(
            version,
            "record_nested_deep_no_record_id",
            "Geo",
            &Place {
                root: "Person",
                record_id: None,
                fields: &["work", "geo"],
            },
            &[FieldSpec {
                id: "lat",
                tier: "confidential",
                role: Role::Value,
                value: "48.8566",
            }],
            &record_randomness(&[(0xD0, 1)]),
        ),
        record_vector(
            version,
            "record_masked",
            "Customer",
            &CUSTOMER,
            &[
                FieldSpec {
                    id: "card_number",
                    tier: "restricted/cards",
                    role: Role::Value,
                    value: "4111111111111111",
                },
                FieldSpec {
                    id: "card_number",
                    tier: "internal",
                    role: Role::Mask,
                    value: "****1111",
                },
            ],
            &record_randomness(&[(0xE0, 1), (0xF0, 1)]),
        ),
    ]
}

/// Negative vectors: a token derived from the first vector, the binding to
/// open it with, and the error expected.
fn fail_vectors(version: Version, first: &[u8]) -> Value {
    let card_binding =
        json!({"type_name": "Customer", "field": "card_number", "record_id": "cus_042"});
    let mut flipped_tag = first.to_vec();
    *flipped_tag.last_mut().unwrap() ^= 0x01;
    let relabel = |byte: u8| {
        let mut token = first.to_vec();
        token[0] = byte;
        token
    };
    // "restricted/cards" (16 bytes) relabelled as "restricted" (10 bytes).
    let mut relabelled = first[..2].to_vec();
    relabelled.push(10);
    relabelled.extend_from_slice(b"restricted");
    relabelled.extend_from_slice(&first[3 + 16..]);
    let truncated = first[..40].to_vec();
    let mut fails = vec![
        json!({"name": "fail_flipped_tag", "token": hex(&flipped_tag), "binding": card_binding, "error": "Integrity"}),
        json!({"name": "fail_other_record", "token": hex(first),
         "binding": {"type_name": "Customer", "field": "card_number", "record_id": "cus_043"}, "error": "Integrity"}),
        json!({"name": "fail_other_field", "token": hex(first),
         "binding": {"type_name": "Customer", "field": "notes", "record_id": "cus_042"}, "error": "Integrity"}),
        json!({"name": "fail_relabelled_tier", "token": hex(&relabelled), "binding": card_binding, "error": "Integrity"}),
    ];
    match version {
        Version::V1 => fails.push(
            json!({"name": "fail_format_version_2", "token": hex(&relabel(2)), "binding": card_binding, "error": "UnsupportedFormat"}),
        ),
        Version::V2 => fails.extend([
            json!({"name": "fail_relabelled_version_1", "token": hex(&relabel(1)), "binding": card_binding, "error": "Integrity"}),
            json!({"name": "fail_format_version_3", "token": hex(&relabel(3)), "binding": card_binding, "error": "UnsupportedFormat"}),
        ]),
        Version::V3 => fails.extend([
            json!({"name": "fail_relabelled_version_1", "token": hex(&relabel(1)), "binding": card_binding, "error": "Integrity"}),
            json!({"name": "fail_relabelled_version_2", "token": hex(&relabel(2)), "binding": card_binding, "error": "Integrity"}),
            json!({"name": "fail_format_version_4", "token": hex(&relabel(4)), "binding": card_binding, "error": "UnsupportedFormat"}),
        ]),
        Version::V4 => fails.extend([
            json!({"name": "fail_relabelled_version_1", "token": hex(&relabel(1)), "binding": card_binding, "error": "Integrity"}),
            json!({"name": "fail_relabelled_version_2", "token": hex(&relabel(2)), "binding": card_binding, "error": "Integrity"}),
            json!({"name": "fail_relabelled_version_3", "token": hex(&relabel(3)), "binding": card_binding, "error": "Integrity"}),
            json!({"name": "fail_format_version_5", "token": hex(&relabel(5)), "binding": card_binding, "error": "UnsupportedFormat"}),
        ]),
    }
    fails.push(
        json!({"name": "fail_truncated", "token": hex(&truncated), "binding": card_binding, "error": "Malformed"}),
    );
    Value::Array(fails)
}

/// Negative record vectors (version 2): a field of a record vector opened
/// in another place or role.
fn record_fail_vectors() -> Value {
    json!([
        {"name": "fail_nested_other_field", "record": "record_nested_home", "index": 0, "field": "street", "role": "value",
         "binding": {"type_name": "Address", "root": "Employee", "path": ["work"], "record_id": "emp_042"}, "error": "Integrity"},
        {"name": "fail_nested_other_root_type", "record": "record_nested_home", "index": 0, "field": "street", "role": "value",
         "binding": {"type_name": "Address", "root": "Supplier", "path": ["home"], "record_id": "emp_042"}, "error": "Integrity"},
        {"name": "fail_nested_as_root", "record": "record_nested_home", "index": 0, "field": "street", "role": "value",
         "binding": {"type_name": "Address", "root": "Address", "path": [], "record_id": "emp_042"}, "error": "Integrity"},
        {"name": "fail_nested_v1_record_id", "record": "record_nested_home", "index": 0, "field": "street", "role": "value",
         "binding": {"type_name": "Address", "root": "Address", "path": [], "record_id": "emp_042/home"}, "error": "Integrity"},
        {"name": "fail_nested_deeper", "record": "record_nested_home", "index": 0, "field": "street", "role": "value",
         "binding": {"type_name": "Address", "root": "Employee", "path": ["home", "home"], "record_id": "emp_042"}, "error": "Integrity"},
        {"name": "fail_mask_opened_as_value", "record": "record_masked", "index": 1, "field": "card_number", "role": "value",
         "binding": {"type_name": "Customer", "root": "Customer", "path": [], "record_id": "cus_042"}, "error": "Integrity"},
        {"name": "fail_mask_of_other_field", "record": "record_masked", "index": 1, "field": "pan", "role": "mask",
         "binding": {"type_name": "Customer", "root": "Customer", "path": [], "record_id": "cus_042"}, "error": "Integrity"},
        {"name": "fail_mask_of_other_record", "record": "record_masked", "index": 1, "field": "card_number", "role": "mask",
         "binding": {"type_name": "Customer", "root": "Customer", "path": [], "record_id": "cus_043"}, "error": "Integrity"},
        {"name": "fail_value_opened_as_mask", "record": "record_two_tiers", "index": 0, "field": "name", "role": "mask",
         "binding": {"type_name": "Customer", "root": "Customer", "path": [], "record_id": "cus_042"}, "error": "Integrity"},
        {"name": "fail_street_in_other_record", "record": "record_nested_home", "index": 0, "field": "street", "role": "value",
         "binding": {"type_name": "Address", "root": "Employee", "path": ["home"], "record_id": "emp_043"}, "error": "Integrity"},
    ])
}

/// Negative record vectors of versions 3 and 4: a field token (or the
/// record's keys) altered, opened in the record's own place. `keys_from`
/// names the record whose keys are used (a field moved to another record).
fn record_token_fail_vectors(version: Version, records: &[Value]) -> Value {
    let find = |name: &str| records.iter().find(|r| r["name"] == name).unwrap();
    let two = find("record_two_tiers");
    let token = |index: usize| unhex(two["fields"][index]["token"].as_str().unwrap());
    let altered = |index: usize, at: usize, byte: u8| {
        let mut t = token(index);
        t[at] = byte;
        hex(&t)
    };
    let place =
        json!({"type_name": "Customer", "root": "Customer", "path": [], "record_id": "cus_042"});
    let key0 = unhex(two["keys"][0].as_str().unwrap());
    // The record key of `internal` relabelled `confidential` (same length
    // prefix position, longer name).
    let mut relabelled_key = key0[..2].to_vec();
    relabelled_key.push(12);
    relabelled_key.extend_from_slice(b"confidential");
    relabelled_key.extend_from_slice(&key0[3 + 8..]);
    let relabelled_keys = json!([hex(&relabelled_key), two["keys"][1].clone()]);
    let card = token(1);
    let entry = |name: &str, token: String, tier: &str, field: &str, error: &str| {
        json!({"name": name, "record": "record_two_tiers", "token": token, "tier": tier,
               "field": field, "role": "value", "binding": place, "error": error})
    };
    let mut fails = vec![
        entry(
            "fail_slot_pointed_at_other_tier",
            altered(1, 2, 0),
            "internal",
            "card_number",
            "Integrity",
        ),
        entry(
            "fail_slot_names_other_tier",
            hex(&card),
            "internal",
            "card_number",
            "TierMismatch",
        ),
        entry(
            "fail_slot_out_of_range",
            altered(1, 2, 7),
            "restricted/cards",
            "card_number",
            "Malformed",
        ),
        entry(
            "fail_altered_nonce",
            altered(1, 3, card[3] ^ 1),
            "restricted/cards",
            "card_number",
            "Integrity",
        ),
        entry(
            "fail_altered_kind",
            altered(1, 1, 1),
            "restricted/cards",
            "card_number",
            "Malformed",
        ),
        entry(
            "fail_relabelled_version_2",
            altered(0, 0, 2),
            "internal",
            "name",
            "Malformed",
        ),
        entry(
            &format!("fail_format_version_{}", version as u8 + 1),
            altered(1, 0, version as u8 + 1),
            "restricted/cards",
            "card_number",
            "UnsupportedFormat",
        ),
        entry(
            "fail_truncated",
            hex(&card[..30]),
            "restricted/cards",
            "card_number",
            "Malformed",
        ),
        entry(
            "fail_moved_to_other_field",
            hex(&card),
            "restricted/cards",
            "pan",
            "Integrity",
        ),
    ];
    if version == Version::V4 {
        // A version-4 field read as version 3 (the same layout): its AAD
        // names version 3.
        fails.push(entry(
            "fail_relabelled_version_3",
            altered(1, 0, 3),
            "restricted/cards",
            "card_number",
            "Integrity",
        ));
    }
    let mut moved = entry(
        "fail_moved_to_other_record",
        hex(&token(0)),
        "internal",
        "name",
        "Integrity",
    );
    moved["keys_from"] = json!("record_nested_home");
    moved["binding"] =
        json!({"type_name": "Customer", "root": "Customer", "path": [], "record_id": "cus_042"});
    fails.push(moved);
    let mut relabel_key = entry(
        "fail_record_key_relabelled",
        hex(&token(0)),
        "confidential",
        "name",
        "Integrity",
    );
    relabel_key["keys"] = relabelled_keys;
    fails.push(relabel_key);
    Value::Array(fails)
}

fn generate(frozen: Frozen, first_token: Option<&[u8]>) -> Value {
    let version = frozen.version;
    let cards: Tier = "restricted/cards".parse().unwrap();
    let card = Binding::new("Customer", "card_number").with_record_id("cus_042");
    let salary = Binding::new("Employee", "salary");
    let mut vectors = vec![
        value_vector(
            version,
            "value_string",
            &cards,
            card,
            &"4111111111111111",
            0x01,
        ),
        value_vector(
            version,
            "value_option_u64_unbound_record",
            &Tier::CONFIDENTIAL,
            salary,
            &Some(825_000_u64),
            0x10,
        ),
        record_two_tiers(version),
    ];
    if version != Version::V1 {
        vectors.extend(nested_records(version));
    }
    let first = match first_token {
        Some(token) => token.to_vec(),
        None => unhex(vectors[0]["token"].as_str().unwrap()),
    };
    let mut file = json!({
        "format_version": version as u8,
        "note": "Tier keys are 32 copies of the byte shown; randomness is drawn in order: data key, wrap nonce, field nonce.",
        "tier_keys": TIER_KEYS.iter().map(|(t, v, b)| json!({"tier": t, "version": v, "key": hex(&[*b; 32])})).collect::<Vec<_>>(),
        "vectors": vectors,
        "fail": fail_vectors(version, &first),
    });
    if version != Version::V1 {
        file["fail_records"] = record_fail_vectors();
    }
    if version.names_slots() {
        let records = file["vectors"].as_array().unwrap().clone();
        file["fail_record_tokens"] = record_token_fail_vectors(version, &records);
    }
    if version == Version::V4 {
        let records = file["vectors"].as_array().unwrap().clone();
        file["packed"] = packed::generate(&records);
        // The public-key kinds keep version 3's layout, with version byte 4.
        file["public_key"] = super::hpke_vectors::vector(Version::V4, 0);
    }
    file
}

#[test]
fn version_4_public_key_tokens_open() {
    let vector = &frozen_json(V4)["public_key"];
    for token in [
        &vector["sealed_value"]["token"],
        &vector["record"]["record_key"],
        &vector["record"]["field"],
    ] {
        assert!(token.as_str().unwrap().starts_with("04"), "{token}");
    }
    super::hpke_vectors::opens(vector);
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
        Error::TierMismatch { .. } => "TierMismatch",
        _ => "other",
    }
}

fn frozen_json(frozen: Frozen) -> Value {
    serde_json::from_str(frozen.text).unwrap()
}

fn first_value_token(frozen: Frozen) -> Vec<u8> {
    unhex(frozen_json(frozen)["vectors"][0]["token"].as_str().unwrap())
}

fn reproduces(frozen: Frozen) {
    let generated = generate(frozen, Some(&first_value_token(frozen)));
    assert_eq!(
        generated,
        frozen_json(frozen),
        "{} no longer matches what this build seals",
        frozen.path
    );
}

#[test]
fn sealing_reproduces_the_frozen_vectors() {
    if std::env::var_os("TIERSEAL_WRITE_VECTORS").is_some() {
        let generated = generate(V4, None);
        std::fs::write(
            V4.path,
            serde_json::to_string_pretty(&generated).unwrap() + "\n",
        )
        .unwrap();
        return;
    }
    for frozen in ALL {
        reproduces(frozen);
    }
}

fn vectors_of(frozen: Frozen, kind: &str) -> Vec<Value> {
    frozen_json(frozen)["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["kind"] == kind)
        .cloned()
        .collect()
}

#[test]
fn frozen_value_vectors_open() {
    let keyring = keyring();
    for frozen in ALL {
        for vector in vectors_of(frozen, "sealed value") {
            let sealed = SealedValue::from_bytes(unhex(vector["token"].as_str().unwrap())).unwrap();
            assert_eq!(sealed.token().version, frozen.version);
            assert_eq!(sealed.to_text(), vector["text"].as_str().unwrap());
            let binding = binding_from(&vector["binding"]);
            let opened: Value = match vector["name"].as_str().unwrap() {
                "value_string" => json!(sealed.open::<String>(&keyring, binding, &ctx()).unwrap()),
                _ => json!(
                    sealed
                        .open::<Option<u64>>(&keyring, binding, &ctx())
                        .unwrap()
                ),
            };
            assert_eq!(opened, vector["value"], "{}", vector["name"]);
        }
    }
}

fn record_keys(record: &Value) -> RecordKeys {
    serde_json::from_value(Value::Array(
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
    .unwrap()
}

/// Opens field `field` of a record vector in `place` under `field_id` and
/// `role`.
fn open_record_field(
    record: &Value,
    field: &Value,
    within: Option<&Within>,
    type_name: &str,
    field_id: &str,
    role: &str,
) -> Result<String, Error> {
    let keyring = keyring();
    let keys = record_keys(record);
    let binding = match within {
        Some(within) => within.binding(type_name),
        None => binding_from(&record["binding"]),
    };
    let ctx = ctx();
    let mut opener = RecordOpener::new(&keyring, &keys, binding, &ctx);
    let sealed = SealedField::from_bytes(unhex(field["token"].as_str().unwrap()))?;
    let tier: Tier = field["tier"].as_str().unwrap().parse().unwrap();
    match role {
        "mask" => opener.open_mask(
            field_id,
            &sealed,
            &super::SealedMask::Sealed(sealed.clone()),
        ),
        _ => opener.open_field(&tier, field_id, &sealed),
    }
}

#[test]
fn frozen_record_vectors_open() {
    for frozen in ALL {
        for record in vectors_of(frozen, "record") {
            let within =
                (frozen.version != Version::V1).then(|| Place::from_json(&record["binding"]));
            let type_name = record["binding"]["type_name"].as_str().unwrap();
            for field in record["fields"].as_array().unwrap() {
                let role = field["role"].as_str().unwrap_or("value");
                let value = open_record_field(
                    &record,
                    field,
                    within.as_ref(),
                    type_name,
                    field["field"].as_str().unwrap(),
                    role,
                )
                .unwrap();
                assert_eq!(json!(value), field["value"], "{}", record["name"]);
            }
        }
    }
}

/// The error a vector of `frozen` now expects. Version 1's file recorded
/// that a version-1 token relabelled as version 2 is refused as an unknown
/// version; now that version 2 exists it is read, and fails to
/// authenticate instead (both AADs bind the version byte): it still never
/// opens. The same holds for version 2's file and version 3, and for
/// version 3's file and version 4 (whose layouts are version 3's).
fn expected_error(frozen: Frozen, vector: &Value) -> Value {
    let next = format!("fail_format_version_{}", frozen.version as u8 + 1);
    if frozen.version != Version::V4 && vector["name"] == next.as_str() {
        return json!("Integrity");
    }
    vector["error"].clone()
}

#[test]
fn frozen_fail_vectors_fail_as_recorded() {
    let keyring = keyring();
    for frozen in ALL {
        for vector in frozen_json(frozen)["fail"].as_array().unwrap() {
            let outcome = SealedValue::from_bytes(unhex(vector["token"].as_str().unwrap()))
                .and_then(|sealed| {
                    sealed.open::<String>(&keyring, binding_from(&vector["binding"]), &ctx())
                });
            let error = outcome.expect_err(vector["name"].as_str().unwrap());
            assert_eq!(
                json!(error_name(&error)),
                expected_error(frozen, vector),
                "{}: {error:?}",
                vector["name"]
            );
        }
    }
}

#[test]
fn frozen_record_fail_vectors_fail_as_recorded() {
    for version in [V2, V3, V4] {
        record_fails_as_recorded(version);
    }
}

fn record_fails_as_recorded(version: Frozen) {
    let frozen = frozen_json(version);
    let records = vectors_of(version, "record");
    let fails = frozen["fail_records"].as_array().unwrap();
    assert!(fails.len() >= 8);
    for vector in fails {
        let record = records
            .iter()
            .find(|r| r["name"] == vector["record"])
            .unwrap();
        let field = &record["fields"][vector["index"].as_u64().unwrap() as usize];
        let binding = &vector["binding"];
        let within = Place::from_json(binding);
        let error = open_record_field(
            record,
            field,
            Some(&within),
            binding["type_name"].as_str().unwrap(),
            vector["field"].as_str().unwrap(),
            vector["role"].as_str().unwrap(),
        )
        .expect_err(vector["name"].as_str().unwrap());
        assert_eq!(
            json!(error_name(&error)),
            vector["error"],
            "{}: {error:?}",
            vector["name"]
        );
    }
}

#[test]
fn frozen_record_token_fail_vectors_fail_as_recorded() {
    for version in [V3, V4] {
        record_tokens_fail_as_recorded(version);
    }
}

fn record_tokens_fail_as_recorded(version: Frozen) {
    let frozen = frozen_json(version);
    let records = vectors_of(version, "record");
    let fails = frozen["fail_record_tokens"].as_array().unwrap();
    assert!(fails.len() >= 10);
    for vector in fails {
        let name = vector["name"].as_str().unwrap();
        let find = |key: &str| records.iter().find(|r| r["name"] == vector[key]).unwrap();
        let mut record = find("record").clone();
        if vector["keys_from"].is_string() {
            record["keys"] = find("keys_from")["keys"].clone();
        }
        if vector["keys"].is_array() {
            record["keys"] = vector["keys"].clone();
        }
        let field = json!({"token": vector["token"], "tier": vector["tier"]});
        let binding = &vector["binding"];
        let within = Place::from_json(binding);
        let error = open_record_field(
            &record,
            &field,
            Some(&within),
            binding["type_name"].as_str().unwrap(),
            vector["field"].as_str().unwrap(),
            vector["role"].as_str().unwrap(),
        )
        .expect_err(name);
        assert_eq!(
            json!(error_name(&error)),
            expected_error(version, vector),
            "{name}: {error:?}"
        );
    }
}

/// The vectors' keyring with a second `restricted/cards` version (key byte
/// 0x55) as primary.
fn rotated_keyring() -> Keyring {
    let tiers = TIER_KEYS
        .iter()
        .map(|(tier, version, byte)| {
            let mut versions = vec![VersionKey::new(
                *version,
                KeyMaterial::take(&mut repeated(*byte)),
            )];
            let mut primary = *version;
            if *tier == "restricted/cards" {
                versions.push(VersionKey::new(2, KeyMaterial::take(&mut repeated(0x55))));
                primary = 2;
            }
            TierKeys {
                tier: tier.parse().unwrap(),
                primary,
                versions,
                retired: Vec::new(),
            }
        })
        .collect();
    Keyring::from_tiers(tiers, "vectors".into(), None).unwrap()
}

#[test]
fn rewrap_moves_version_1_record_keys_to_version_4_and_keeps_values_at_1() {
    use super::{Rewrapped, SealedToken};

    let record = &vectors_of(V1, "record")[0];
    let fields = record["fields"].as_array().unwrap();
    for keyring in [keyring(), rotated_keyring()] {
        // Through the record and through the schema-blind token path the
        // CLI uses: both move every record key to version 4.
        let mut keys = record_keys(record);
        let outcomes = keys.rewrap(&keyring).unwrap();
        assert!(
            outcomes
                .iter()
                .all(|o| matches!(o, Rewrapped::Moved { .. }))
        );
        assert!(keys.keys().iter().all(|k| k.token().version == Version::V4));
        assert!(
            keys.rewrap(&keyring)
                .unwrap()
                .iter()
                .all(|o| *o == Rewrapped::AlreadyCurrent)
        );
        for key in record["keys"].as_array().unwrap() {
            let text = super::RecordKey::from_bytes(unhex(key.as_str().unwrap()))
                .unwrap()
                .to_text();
            let mut token: SealedToken = text.parse().unwrap();
            assert!(matches!(
                token.rewrap(&keyring).unwrap(),
                Some(Rewrapped::Moved { .. })
            ));
            assert!(token.to_text().starts_with("tierseal:BA"), "version byte 4");
        }
        // The version-1 fields open under the version-4 keys.
        let ctx = ctx();
        let binding = binding_from(&record["binding"]);
        let mut opener = RecordOpener::new(&keyring, &keys, binding, &ctx);
        for field in fields {
            let sealed = SealedField::from_bytes(unhex(field["token"].as_str().unwrap())).unwrap();
            assert_eq!(sealed.token().version, Version::V1);
            let tier: Tier = field["tier"].as_str().unwrap().parse().unwrap();
            let value: String = opener
                .open_field(&tier, field["field"].as_str().unwrap(), &sealed)
                .unwrap();
            assert_eq!(json!(value), field["value"]);
        }
    }

    // A version-1 sealed value keeps version 1: its field is bound to it.
    let vector = &vectors_of(V1, "sealed value")[0];
    let binding = binding_from(&vector["binding"]);
    let mut sealed = SealedValue::from_bytes(unhex(vector["token"].as_str().unwrap())).unwrap();
    assert_eq!(
        sealed.rewrap(&keyring()).unwrap(),
        Rewrapped::AlreadyCurrent
    );
    let rotated = rotated_keyring();
    assert_eq!(
        sealed.rewrap(&rotated).unwrap(),
        Rewrapped::Moved { from: 1, to: 2 }
    );
    assert_eq!(sealed.token().version, Version::V1);
    assert_eq!(sealed.key_version(), 2);
    let opened: String = sealed.open(&rotated, binding, &ctx()).unwrap();
    assert_eq!(json!(opened), vector["value"]);
}

#[test]
fn rewrap_moves_version_2_and_3_record_keys_to_version_4_and_their_fields_still_open() {
    for frozen in [V2, V3] {
        rewrap_moves_record_keys_to_version_4(frozen);
    }
}

fn rewrap_moves_record_keys_to_version_4(frozen: Frozen) {
    for record in vectors_of(frozen, "record") {
        let mut keys = record_keys(&record);
        let outcomes = keys.rewrap(&keyring()).unwrap();
        assert!(
            outcomes
                .iter()
                .all(|o| *o == super::Rewrapped::Moved { from: 1, to: 1 }),
            "{outcomes:?}"
        );
        assert!(keys.keys().iter().all(|k| k.token().version == Version::V4));
        let within = Place::from_json(&record["binding"]);
        let binding = within.binding(record["binding"]["type_name"].as_str().unwrap());
        let ctx = ctx();
        let keyring = keyring();
        let mut opener = RecordOpener::new(&keyring, &keys, binding, &ctx);
        for field in record["fields"].as_array().unwrap() {
            let sealed = SealedField::from_bytes(unhex(field["token"].as_str().unwrap())).unwrap();
            assert_eq!(sealed.token().version, frozen.version);
            let tier: Tier = field["tier"].as_str().unwrap().parse().unwrap();
            let id = field["field"].as_str().unwrap();
            let value = match field["role"].as_str().unwrap() {
                "mask" => opener
                    .open_mask(id, &sealed, &super::SealedMask::Sealed(sealed.clone()))
                    .unwrap(),
                _ => opener.open_field::<String>(&tier, id, &sealed).unwrap(),
            };
            assert_eq!(json!(value), field["value"], "{}", record["name"]);
        }
    }
}

/// `RecordSealer::prepare` draws every tier's data key and wrap nonce in
/// one call, wraps them at once, and stores only the keys fields use, in
/// order of first use: the record it seals is byte for byte the record
/// sealed tier by tier from the same randomness.
#[test]
fn a_prepared_record_is_the_record_sealed_tier_by_tier() {
    let keyring = keyring();
    let binding = Binding::new("Prepared", "").with_record_id("rec-1");
    let (internal, confidential, restricted) =
        (Tier::INTERNAL, Tier::CONFIDENTIAL, Tier::RESTRICTED);
    let draw = |seed: u8| {
        let mut bytes = repeated::<32>(seed).to_vec();
        bytes.extend_from_slice(&repeated::<12>(seed ^ 0x80));
        bytes
    };
    let seal_fields = |sealer: &mut RecordSealer<'_>| {
        let balance = sealer.seal_field(&confidential, "balance", &125_000_i64);
        let name = sealer.seal_field(&internal, "name", "Ada");
        (balance.unwrap(), name.unwrap())
    };

    // Prepared: one draw of three keys (internal, confidential,
    // restricted), then the two field nonces.
    let mut prepared_random = [draw(1), draw(2), draw(3)].concat();
    prepared_random.extend_from_slice(&[repeated::<12>(0xa1), repeated::<12>(0xa2)].concat());
    let ((prepared, prepared_keys), draws) = fixed_randomness::with_draws(&prepared_random, || {
        let mut sealer = RecordSealer::new(&keyring, binding);
        sealer
            .prepare(&[&internal, &confidential, &restricted, &internal])
            .unwrap();
        let fields = seal_fields(&mut sealer);
        (fields, sealer.finish())
    });
    assert_eq!(draws, [3 * 44, 12, 12], "one draw for the three tiers");

    // Tier by tier: each tier's key is drawn by its first field.
    let lazy_random = [
        draw(2),
        repeated::<12>(0xa1).to_vec(),
        draw(1),
        repeated::<12>(0xa2).to_vec(),
    ]
    .concat();
    let ((lazy, lazy_keys), draws) = fixed_randomness::with_draws(&lazy_random, || {
        let mut sealer = RecordSealer::new(&keyring, binding);
        let fields = seal_fields(&mut sealer);
        (fields, sealer.finish())
    });
    assert_eq!(draws, [44, 12, 44, 12], "one draw per tier");

    assert_eq!(prepared_keys, lazy_keys);
    assert_eq!(prepared, lazy);
    let tiers: Vec<_> = prepared_keys.key_versions().map(|(tier, _)| tier).collect();
    assert_eq!(
        tiers,
        ["confidential", "internal"],
        "the unused key is not stored"
    );

    let ctx = ctx();
    let mut opener = RecordOpener::new(&keyring, &prepared_keys, binding, &ctx);
    let balance: i64 = opener
        .open_field(&confidential, "balance", &prepared.0)
        .unwrap();
    let name: String = opener.open_field(&internal, "name", &prepared.1).unwrap();
    assert_eq!((balance, name.as_str()), (125_000, "Ada"));
}

/// A tier the keyring cannot seal is not prepared: the field that uses it
/// reports the error, as without `prepare`, and a single tier is left to
/// its first field.
#[test]
fn prepare_leaves_missing_tiers_and_single_tiers_to_their_fields() {
    let keyring = Keyring::from_tiers(
        vec![TierKeys {
            tier: Tier::INTERNAL,
            primary: 1,
            versions: vec![VersionKey::new(1, KeyMaterial::take(&mut [0x11; 32]))],
            retired: Vec::new(),
        }],
        "internal only".into(),
        None,
    )
    .unwrap();
    let binding = Binding::new("Prepared", "").with_record_id("rec-2");
    // `prepare` draws nothing: the one tier the keyring has is alone. Its
    // key is drawn by its first field.
    let random = [repeated::<44>(0x51).to_vec(), repeated::<12>(0x52).to_vec()].concat();
    let (keys, draws) = fixed_randomness::with_draws(&random, || {
        let mut sealer = RecordSealer::new(&keyring, binding);
        sealer
            .prepare(&[&Tier::INTERNAL, &Tier::RESTRICTED])
            .unwrap();
        let err = sealer
            .seal_field(&Tier::RESTRICTED, "ssn", "078-05-1120")
            .unwrap_err();
        assert!(matches!(err, Error::NotGranted { .. }), "{err:?}");
        sealer.seal_field(&Tier::INTERNAL, "name", "Ada").unwrap();
        sealer.finish()
    });
    assert_eq!(draws, [44, 12]);
    assert_eq!(keys.keys().len(), 1);
}

/// Tiers a record already uses are not prepared again; the rest are, in
/// one draw, and keep their place in the order of first use.
#[test]
fn prepare_after_a_field_skips_the_tiers_in_use() {
    let keyring = keyring();
    let binding = Binding::new("Prepared", "").with_record_id("rec-3");
    let random = [
        repeated::<44>(0x61).to_vec(), // internal, drawn by its field
        repeated::<12>(0x62).to_vec(),
        repeated::<88>(0x63).to_vec(), // restricted and confidential, prepared
        repeated::<12>(0x64).to_vec(),
        repeated::<12>(0x65).to_vec(),
    ]
    .concat();
    let ((fields, keys), draws) = fixed_randomness::with_draws(&random, || {
        let mut sealer = RecordSealer::new(&keyring, binding);
        let name = sealer.seal_field(&Tier::INTERNAL, "name", "Ada").unwrap();
        sealer
            .prepare(&[&Tier::INTERNAL, &Tier::RESTRICTED, &Tier::CONFIDENTIAL])
            .unwrap();
        let balance = sealer
            .seal_field(&Tier::CONFIDENTIAL, "balance", &7_i64)
            .unwrap();
        let ssn = sealer
            .seal_field(&Tier::RESTRICTED, "ssn", "078-05-1120")
            .unwrap();
        ((name, balance, ssn), sealer.finish())
    });
    assert_eq!(draws, [44, 12, 88, 12, 12]);
    let tiers: Vec<_> = keys.key_versions().map(|(tier, _)| tier).collect();
    assert_eq!(tiers, ["internal", "confidential", "restricted"]);
    let ctx = ctx();
    let mut opener = RecordOpener::new(&keyring, &keys, binding, &ctx);
    let name: String = opener
        .open_field(&Tier::INTERNAL, "name", &fields.0)
        .unwrap();
    let balance: i64 = opener
        .open_field(&Tier::CONFIDENTIAL, "balance", &fields.1)
        .unwrap();
    let ssn: String = opener
        .open_field(&Tier::RESTRICTED, "ssn", &fields.2)
        .unwrap();
    assert_eq!(
        (name.as_str(), balance, ssn.as_str()),
        ("Ada", 7, "078-05-1120")
    );
}
