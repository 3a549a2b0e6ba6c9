//! The packed-part vectors of format version 4 (the `packed` section of
//! `testdata/format-v4.json`, shown in `docs/FORMAT.md`): packed records
//! sealed with fixed randomness, each part with its AAD and plaintext, and
//! negative vectors (parts moved, relabelled, cut, opened with another
//! field list, and parts sealed around malformed plaintexts).
//!
//! The randomness of a packed record is drawn in order: per part, on the
//! first entry pushed, its tier's data key (32 bytes) and wrap nonce (12);
//! then, when the parts are sealed, each part's nonce (12), in part order.

use serde_json::{Value, json};

use super::super::format::{self, Role};
use super::super::{
    PackedEntry, PackedLayout, PackedPart, PartLayout, RecordOpener, RecordSealer, SealedField,
};
use super::{Place, V4, ctx, error_name, frozen_json, hex, keyring, record_keys, repeated, unhex};
use crate::crypto::{self, fixed_randomness};
use crate::{Error, Tier};

/// A value of a vector entry: postcard encodes strings and integers
/// differently, and both appear.
#[derive(Clone, Copy)]
enum Sample {
    Text(&'static str),
    Number(u64),
}

impl Sample {
    fn json(self) -> Value {
        match self {
            Sample::Text(text) => json!(text),
            Sample::Number(number) => json!(number),
        }
    }

    fn encoded(self) -> Vec<u8> {
        match self {
            Sample::Text(text) => postcard::to_stdvec(text).unwrap(),
            Sample::Number(number) => postcard::to_stdvec(&number).unwrap(),
        }
    }
}

struct EntrySpec {
    field: &'static str,
    role: Role,
    value: Sample,
}

struct PartSpec {
    tier: &'static str,
    entries: &'static [EntrySpec],
}

impl PartSpec {
    fn entries(&self) -> Vec<PackedEntry<'static>> {
        self.entries
            .iter()
            .map(|e| entry(e.field, e.role))
            .collect()
    }
}

fn entry(field: &str, role: Role) -> PackedEntry<'_> {
    match role {
        Role::Value => PackedEntry::value(field),
        Role::Mask => PackedEntry::mask(field),
    }
}

const fn value(field: &'static str, value: Sample) -> EntrySpec {
    EntrySpec {
        field,
        role: Role::Value,
        value,
    }
}

const CUSTOMER: Place = Place {
    root: "Customer",
    record_id: Some("cus_042"),
    fields: &[],
};

/// Three parts: `internal` (with the card number's mask), `confidential`
/// (an integer) and `restricted/cards`.
const CUSTOMER_PARTS: [PartSpec; 3] = [
    PartSpec {
        tier: "internal",
        entries: &[
            EntrySpec {
                field: "card_number",
                role: Role::Mask,
                value: Sample::Text("****1111"),
            },
            value("email", Sample::Text("ada@example.com")),
            value("name", Sample::Text("Ada Lovelace")),
        ],
    },
    PartSpec {
        tier: "confidential",
        entries: &[value("balance_cents", Sample::Number(1_250_075))],
    },
    PartSpec {
        tier: "restricted/cards",
        entries: &[
            value("card_number", Sample::Text("4111111111111111")),
            value("expiry", Sample::Text("12/29")),
        ],
    },
];

const GEO: Place = Place {
    root: "Person",
    record_id: None,
    fields: &["work", "geo"],
};

const GEO_PARTS: [PartSpec; 1] = [PartSpec {
    tier: "confidential",
    entries: &[
        value("lat", Sample::Text("48.8566")),
        value("lon", Sample::Text("2.3522")),
    ],
}];

/// Randomness for a packed record: per part a data key and wrap nonce
/// (from `seed`), then each part's nonce (from `seed + 2`).
fn randomness(seeds: &[u8]) -> Vec<u8> {
    let mut random = Vec::new();
    for seed in seeds {
        random.extend_from_slice(&repeated::<32>(*seed));
        random.extend_from_slice(&repeated::<12>(seed + 1));
    }
    for seed in seeds {
        random.extend_from_slice(&repeated::<12>(seed + 2));
    }
    random
}

/// Seals a record of `N` parts, pushing every entry in part order.
fn seal<const N: usize>(
    type_name: &str,
    place: &Place,
    specs: &[PartSpec],
    random: &[u8],
) -> (Vec<String>, Vec<PackedPart>) {
    let within = place.within();
    let binding = within.binding(type_name);
    let keyring = keyring();
    let tiers: Vec<Tier> = specs.iter().map(|p| p.tier.parse().unwrap()).collect();
    let entries: Vec<Vec<PackedEntry<'_>>> = specs.iter().map(PartSpec::entries).collect();
    let layout = PackedLayout::new(std::array::from_fn::<_, N, _>(|i| {
        PartLayout::new(&tiers[i], &entries[i])
    }))
    .unwrap();
    fixed_randomness::with(random, || {
        let mut sealer = RecordSealer::new(&keyring, binding);
        let mut packer = sealer.pack(&layout).unwrap();
        for (p, spec) in specs.iter().enumerate() {
            for (e, entry) in spec.entries.iter().enumerate() {
                match (entry.role, entry.value) {
                    (Role::Mask, Sample::Text(text)) => packer.mask(p, e, text).unwrap(),
                    (_, Sample::Text(text)) => packer.value(p, e, text).unwrap(),
                    (_, Sample::Number(number)) => packer.value(p, e, &number).unwrap(),
                }
            }
        }
        let parts = packer.finish().unwrap().to_vec();
        let keys = sealer.finish();
        let keys = keys.keys().iter().map(|k| hex(k.as_bytes())).collect();
        (keys, parts)
    })
}

/// A part's AAD, as the format defines it.
fn part_aad(
    within: &super::Within,
    type_name: &str,
    tier: &str,
    entries: &[PackedEntry<'_>],
) -> Vec<u8> {
    let mut aad = Vec::new();
    format::part_aad_prefix(&mut aad, &within.binding(type_name));
    format::part_aad_suffix(
        &mut aad,
        tier,
        entries.iter().map(|e| (role_of(e), e.field())),
    );
    aad
}

fn role_of(entry: &PackedEntry<'_>) -> Role {
    if entry.is_mask() {
        Role::Mask
    } else {
        Role::Value
    }
}

/// The plaintext of a part holding `specs`' values.
fn plaintext(spec: &PartSpec) -> Vec<u8> {
    let mut plaintext = Vec::new();
    for entry in spec.entries {
        format::push_part_entry(&mut plaintext, &entry.value.encoded());
    }
    plaintext
}

fn packed_vector<const N: usize>(
    name: &str,
    type_name: &str,
    place: &Place,
    specs: &[PartSpec; N],
    seeds: &[u8; N],
) -> Value {
    let random = randomness(seeds);
    let (keys, parts) = seal::<N>(type_name, place, specs, &random);
    let within = place.within();
    json!({
        "name": name,
        "kind": "packed record",
        "binding": place.json(type_name),
        "randomness": hex(&random),
        "keys": keys,
        "parts": specs.iter().zip(&parts).map(|(spec, part)| json!({
            "tier": spec.tier,
            "entries": spec.entries.iter().map(|e| json!({
                "field": e.field,
                "role": super::role_name(e.role),
                "value": e.value.json(),
            })).collect::<Vec<_>>(),
            "aad": hex(&part_aad(&within, type_name, spec.tier, &spec.entries())),
            "plaintext": hex(&plaintext(spec)),
            "token": hex(part.as_bytes()),
        })).collect::<Vec<_>>(),
    })
}

/// A part sealed by hand around `plaintext` under the data key drawn from
/// `seed`, at key slot `slot`, with the AAD of `spec` in the customer
/// record: a writer holding the data key is the only one who can make a
/// part whose plaintext is malformed.
fn hand_sealed(seed: u8, slot: u8, spec: &PartSpec, plaintext: &[u8]) -> Vec<u8> {
    let cipher = crypto::cipher_for(&repeated(seed));
    let nonce = repeated::<12>(0x77);
    let aad = part_aad(&CUSTOMER.within(), "Customer", spec.tier, &spec.entries());
    let mut body = plaintext.to_vec();
    let tag = crypto::encrypt(&cipher, &nonce, &aad, &mut body).unwrap();
    let mut token = vec![4, 6, slot];
    token.extend_from_slice(&nonce);
    token.extend_from_slice(&body);
    token.extend_from_slice(&tag);
    token
}

fn entries_json(entries: &[(&str, Role)]) -> Value {
    json!(
        entries
            .iter()
            .map(|(field, role)| json!({"field": field, "role": super::role_name(*role)}))
            .collect::<Vec<_>>()
    )
}

/// Negative vectors: each opens a token as a part of `tier` with
/// `entries`, in `binding`'s place, with the keys of record `keys_of` (or
/// `keys`), and must fail with `error`. `open_as: "field"` opens it as a
/// record field `field` instead.
fn fail_vectors(packed: &[Value], records: &[Value]) -> Value {
    let customer = &packed[0];
    let token = |part: usize| unhex(customer["parts"][part]["token"].as_str().unwrap());
    let altered = |part: usize, at: usize, byte: u8| {
        let mut t = token(part);
        t[at] = byte;
        hex(&t)
    };
    let place = CUSTOMER.json("Customer");
    let internal = [
        ("card_number", Role::Mask),
        ("email", Role::Value),
        ("name", Role::Value),
    ];
    let cards = [("card_number", Role::Value), ("expiry", Role::Value)];
    let fail = |name: &str, token: String, tier: &str, entries: &[(&str, Role)], error: &str| {
        json!({"name": name, "token": token, "tier": tier, "entries": entries_json(entries),
               "binding": place, "keys_of": "packed_record_three_tiers", "error": error})
    };

    // The internal part's plaintext, then three ways to frame it wrongly,
    // each sealed under the record's internal data key (seed 0x30).
    let good = plaintext(&CUSTOMER_PARTS[0]);
    let mut trailing = good.clone();
    trailing.push(0);
    let mut short = good.clone();
    // The last entry ("Ada Lovelace", 13 bytes) claims one byte more.
    let last = good.len() - 14;
    short[last] += 1;
    let mut overlong = vec![good[0] | 0x80, 0x00];
    overlong.extend_from_slice(&good[1..]);
    let sealed = |plaintext: &[u8]| hex(&hand_sealed(0x30, 0, &CUSTOMER_PARTS[0], plaintext));

    // The same record sealed again: other data keys.
    let (other_keys, _) = seal::<3>(
        "Customer",
        &CUSTOMER,
        &CUSTOMER_PARTS,
        &randomness(&[0x70, 0x80, 0x90]),
    );
    let two_tiers = records
        .iter()
        .find(|r| r["name"] == "record_two_tiers")
        .unwrap();
    let mut field_as_part = unhex(two_tiers["fields"][0]["token"].as_str().unwrap());
    field_as_part[1] = 6;

    let mut flipped = token(0);
    *flipped.last_mut().unwrap() ^= 1;
    let mut fails = vec![
        fail(
            "fail_part_flipped_tag",
            hex(&flipped),
            "internal",
            &internal,
            "Integrity",
        ),
        fail(
            "fail_part_in_other_tier_place",
            hex(&token(2)),
            "internal",
            &internal,
            "TierMismatch",
        ),
        fail(
            "fail_part_slot_pointed_at_other_tier",
            altered(2, 2, 0),
            "internal",
            &internal,
            "Integrity",
        ),
        fail(
            "fail_part_slot_names_other_tier",
            altered(2, 2, 0),
            "restricted/cards",
            &cards,
            "TierMismatch",
        ),
        fail(
            "fail_part_slot_out_of_range",
            altered(0, 2, 9),
            "internal",
            &internal,
            "Malformed",
        ),
        fail(
            "fail_part_entry_dropped",
            hex(&token(0)),
            "internal",
            &[("card_number", Role::Mask), ("name", Role::Value)],
            "Integrity",
        ),
        fail(
            "fail_part_entry_added",
            hex(&token(0)),
            "internal",
            &[
                ("card_number", Role::Mask),
                ("email", Role::Value),
                ("name", Role::Value),
                ("phone", Role::Value),
            ],
            "Integrity",
        ),
        fail(
            "fail_part_entry_renamed",
            hex(&token(0)),
            "internal",
            &[
                ("card_number", Role::Mask),
                ("email", Role::Value),
                ("full_name", Role::Value),
            ],
            "Integrity",
        ),
        fail(
            "fail_part_mask_read_as_value",
            hex(&token(0)),
            "internal",
            &[
                ("card_number", Role::Value),
                ("email", Role::Value),
                ("name", Role::Value),
            ],
            "Integrity",
        ),
        fail(
            "fail_part_entry_moved_between_parts",
            hex(&token(2)),
            "restricted/cards",
            &[
                ("card_number", Role::Value),
                ("email", Role::Value),
                ("expiry", Role::Value),
            ],
            "Integrity",
        ),
        fail(
            "fail_part_truncated",
            hex(&token(0)[..20]),
            "internal",
            &internal,
            "Malformed",
        ),
        fail(
            "fail_part_relabelled_version_3",
            altered(0, 0, 3),
            "internal",
            &internal,
            "Malformed",
        ),
        fail(
            "fail_part_format_version_5",
            altered(0, 0, 5),
            "internal",
            &internal,
            "UnsupportedFormat",
        ),
        fail(
            "fail_part_plaintext_trailing_bytes",
            sealed(&trailing),
            "internal",
            &internal,
            "Malformed",
        ),
        fail(
            "fail_part_plaintext_short",
            sealed(&short),
            "internal",
            &internal,
            "Malformed",
        ),
        fail(
            "fail_part_plaintext_overlong_length",
            sealed(&overlong),
            "internal",
            &internal,
            "Malformed",
        ),
    ];
    let mut other_record = fail(
        "fail_part_other_record",
        hex(&token(0)),
        "internal",
        &internal,
        "Integrity",
    );
    other_record["binding"]["record_id"] = json!("cus_043");
    let mut other_type = fail(
        "fail_part_other_type",
        hex(&token(0)),
        "internal",
        &internal,
        "Integrity",
    );
    other_type["binding"]["type_name"] = json!("Supplier");
    other_type["binding"]["root"] = json!("Supplier");
    let mut nested = fail(
        "fail_part_nested_in_other_place",
        hex(&token(0)),
        "internal",
        &internal,
        "Integrity",
    );
    nested["binding"]["path"] = json!(["home"]);
    let mut other_keys_vector = fail(
        "fail_part_under_other_record_keys",
        hex(&token(0)),
        "internal",
        &internal,
        "Integrity",
    );
    other_keys_vector["keys"] = json!(other_keys);
    other_keys_vector.as_object_mut().unwrap().remove("keys_of");
    let mut as_field = fail(
        "fail_part_read_as_field",
        altered(0, 1, 3),
        "internal",
        &[("name", Role::Value)],
        "Integrity",
    );
    as_field["open_as"] = json!("field");
    let mut field_as = fail(
        "fail_field_read_as_part",
        hex(&field_as_part),
        "internal",
        &[("name", Role::Value)],
        "Integrity",
    );
    field_as["keys_of"] = json!("record_two_tiers");
    fails.extend([
        other_record,
        other_type,
        nested,
        other_keys_vector,
        as_field,
        field_as,
    ]);
    Value::Array(fails)
}

/// The `packed` section of `format-v4.json`; `records` are the file's
/// default-mode record vectors.
pub(super) fn generate(records: &[Value]) -> Value {
    let vectors = vec![
        packed_vector(
            "packed_record_three_tiers",
            "Customer",
            &CUSTOMER,
            &CUSTOMER_PARTS,
            &[0x30, 0x40, 0x50],
        ),
        packed_vector(
            "packed_nested_no_record_id",
            "Geo",
            &GEO,
            &GEO_PARTS,
            &[0x60],
        ),
    ];
    let fail = fail_vectors(&vectors, records);
    json!({
        "note": "Randomness is drawn in order: per part, its data key and wrap nonce; then each part's nonce. A part's plaintext is each entry's postcard encoding prefixed with its length (LEB128), in the order of the AAD's entry list.",
        "vectors": vectors,
        "fail": fail,
    })
}

fn section() -> Value {
    frozen_json(V4)["packed"].clone()
}

fn layout_entries(part: &Value) -> Vec<(String, Role)> {
    part["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let role = if e["role"] == "mask" {
                Role::Mask
            } else {
                Role::Value
            };
            (e["field"].as_str().unwrap().to_owned(), role)
        })
        .collect()
}

/// Runs `open` with an opener of the record whose keys are `keys`, in
/// `binding`'s place.
fn with_opener<R>(
    keys: &Value,
    binding: &Value,
    open: impl FnOnce(&mut RecordOpener<'_>) -> R,
) -> R {
    let keyring = keyring();
    let keys = record_keys(&json!({ "keys": keys }));
    let within = Place::from_json(binding);
    let ctx = ctx();
    let binding = within.binding(binding["type_name"].as_str().unwrap());
    open(&mut RecordOpener::new(&keyring, &keys, binding, &ctx))
}

/// Opens entry `index` of `token` as the one part of a layout (`tier`,
/// `entries`) of the record whose keys are `keys`, in `binding`'s place.
fn open_entry(
    keys: &Value,
    binding: &Value,
    tier: &str,
    entries: &[(String, Role)],
    token: &str,
    index: usize,
) -> Result<Value, Error> {
    let tier: Tier = tier.parse().unwrap();
    let entries: Vec<PackedEntry<'_>> = entries.iter().map(|(f, r)| entry(f, *r)).collect();
    let layout = PackedLayout::new([PartLayout::new(&tier, &entries)])?;
    let part = PackedPart::from_bytes(unhex(token))?;
    with_opener(keys, binding, |opener| {
        let mut packed = opener.unpack(&layout, [&part]);
        match entries.get(index).map(PackedEntry::is_mask) {
            Some(true) => packed.open_mask(0, index).map(Value::from),
            _ => match packed.open::<String>(0, index) {
                Ok(text) => Ok(Value::from(text)),
                // An integer entry.
                Err(Error::Encoding { .. }) => packed.open::<u64>(0, index).map(Value::from),
                Err(error) => Err(error),
            },
        }
    })
}

/// Opens `token` as the record field `field` at `tier` of the record whose
/// keys are `keys`, in `binding`'s place.
fn open_as_field(
    keys: &Value,
    binding: &Value,
    tier: &str,
    field: &str,
    token: &str,
) -> Result<Value, Error> {
    let sealed = SealedField::from_bytes(unhex(token))?;
    with_opener(keys, binding, |opener| {
        opener
            .open_field::<String>(&tier.parse().unwrap(), field, &sealed)
            .map(Value::from)
    })
}

#[test]
fn frozen_packed_vectors_open_and_state_their_aad_and_plaintext() {
    let section = section();
    for record in section["vectors"].as_array().unwrap() {
        let within = Place::from_json(&record["binding"]);
        let type_name = record["binding"]["type_name"].as_str().unwrap();
        for part in record["parts"].as_array().unwrap() {
            let tier = part["tier"].as_str().unwrap();
            let entries = layout_entries(part);
            let layout: Vec<PackedEntry<'_>> = entries.iter().map(|(f, r)| entry(f, *r)).collect();
            assert_eq!(
                hex(&part_aad(&within, type_name, tier, &layout)),
                part["aad"].as_str().unwrap(),
                "{}",
                record["name"]
            );
            let token = part["token"].as_str().unwrap();
            // header, nonce, the plaintext's length in ciphertext, tag
            assert_eq!(
                token.len() / 2,
                3 + 12 + part["plaintext"].as_str().unwrap().len() / 2 + 16
            );
            for (index, expected) in part["entries"].as_array().unwrap().iter().enumerate() {
                let opened = open_entry(
                    &record["keys"],
                    &record["binding"],
                    tier,
                    &entries,
                    token,
                    index,
                )
                .unwrap();
                assert_eq!(opened, expected["value"], "{}", record["name"]);
            }
        }
    }
}

#[test]
fn frozen_packed_fail_vectors_fail_as_recorded() {
    let frozen = frozen_json(V4);
    let section = section();
    let records: Vec<&Value> = section["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .chain(frozen["vectors"].as_array().unwrap())
        .collect();
    let fails = section["fail"].as_array().unwrap();
    assert!(fails.len() >= 20);
    for vector in fails {
        let name = vector["name"].as_str().unwrap();
        let keys = match vector["keys_of"].as_str() {
            Some(of) => records.iter().find(|r| r["name"] == of).unwrap()["keys"].clone(),
            None => vector["keys"].clone(),
        };
        let entries = layout_entries(vector);
        let tier = vector["tier"].as_str().unwrap();
        let token = vector["token"].as_str().unwrap();
        let error = if vector["open_as"] == "field" {
            open_as_field(&keys, &vector["binding"], tier, &entries[0].0, token)
        } else {
            open_entry(&keys, &vector["binding"], tier, &entries, token, 0)
        }
        .expect_err(name);
        assert_eq!(
            json!(error_name(&error)),
            vector["error"],
            "{name}: {error:?}"
        );
    }
}
