//! `#[classified(packed)]`: one sealed part per tier, opened, withheld,
//! masked, audited, rewrapped and bound exactly as the default mode's
//! fields are.

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tierseal::audit::{AuditEvent, AuditSink, FieldOutcome};
use tierseal::{
    AccessContext, Classified, Clearance, Error, Keyring, Level, PackedPart, Revealed, Rewrapped,
    SealedRecord,
};

use crate::{Bank, ada, cards, payroll};

fn ctx() -> AccessContext {
    AccessContext::new("test").with_purpose("TICKET-7")
}

// The `Customer` of the default-mode tests, packed, under the same type
// id: the same record sealed both ways binds the same type and record.
customer_type!(PackedCustomer, "Customer", packed);
// The same fields under another type id.
customer_type!(PackedSupplier, "Supplier", packed);
// `Customer`'s type id with one more internal field: the same tiers, a
// different list of fields in the `internal` part.
customer_type!(PackedCustomerWithPhone, "Customer", packed; phone);

/// Ada, as a packed customer (the same fields).
pub fn packed_ada() -> PackedCustomer {
    from_json(as_json(&ada()))
}

fn as_json<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap()
}

fn from_json<T: for<'de> Deserialize<'de>>(value: serde_json::Value) -> T {
    serde_json::from_value(value).unwrap()
}

fn expect<T>(result: Result<T, Error>, what: &str) -> Error {
    match result {
        Err(error) => error,
        Ok(_) => panic!("expected {what}, but it opened"),
    }
}

fn assert_integrity<T>(result: Result<T, Error>) {
    let error = expect(result, "Integrity");
    assert!(matches!(error, Error::Integrity { .. }), "{error:?}");
}

#[test]
fn a_packed_record_round_trips_through_json_and_binary() {
    let bank = Bank::new();
    let sealed = packed_ada().seal(&bank.writer()).unwrap();
    let stored: SealedPackedCustomer = from_json(as_json(&sealed));
    assert!(stored.open_all(&bank.writer(), &ctx()).unwrap() == packed_ada());
    let binary = postcard::to_allocvec(&sealed).unwrap();
    let stored: SealedPackedCustomer = postcard::from_bytes(&binary).unwrap();
    assert!(stored.open_all(&bank.writer(), &ctx()).unwrap() == packed_ada());
}

#[test]
fn the_sealed_json_has_one_part_per_tier_and_only_public_fields_in_clear() {
    let bank = Bank::new();
    let json = as_json(&packed_ada().seal(&bank.writer()).unwrap());
    let mut keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "_confidential",
            "_confidential/payroll",
            "_internal",
            "_keys",
            "_restricted/cards",
            "customer_id",
            "nickname"
        ]
    );
    for part in [
        "_internal",
        "_confidential",
        "_restricted/cards",
        "_confidential/payroll",
    ] {
        let text = json[part].as_str().unwrap();
        assert!(
            text.starts_with("tierseal:BAY"),
            "{part}: version 4, kind 6"
        );
    }
    assert_eq!(json["_keys"].as_array().unwrap().len(), 4);
    crate::assert_no_secrets(&json.to_string());
}

#[test]
fn a_packed_record_is_smaller_than_the_same_record_field_by_field() {
    let bank = Bank::new();
    let packed = serde_json::to_string(&packed_ada().seal(&bank.writer()).unwrap()).unwrap();
    let fields = serde_json::to_string(&ada().seal(&bank.writer()).unwrap()).unwrap();
    assert!(
        packed.len() < fields.len(),
        "{} / {}",
        packed.len(),
        fields.len()
    );
}

/// What a view shows of each field, for comparing the two modes.
fn shown<T: std::fmt::Debug>(field: &Revealed<T>) -> String {
    match field {
        Revealed::Value(value) => format!("{value:?}"),
        Revealed::Withheld(withheld) => format!("withheld {} {:?}", withheld.tier, withheld.mask),
    }
}

fn clearances() -> Vec<Clearance> {
    vec![
        Clearance::none(),
        Clearance::up_to(Level::Internal),
        Clearance::up_to(Level::Confidential),
        Clearance::up_to(Level::Confidential).with(payroll()),
        Clearance::none().with(cards()),
        Clearance::none().with("restricted".parse().unwrap()),
        Clearance::up_to(Level::Restricted)
            .with(cards())
            .with(payroll()),
    ]
}

#[test]
fn every_clearance_sees_in_packed_mode_what_it_sees_field_by_field() {
    let bank = Bank::new();
    let packed = packed_ada().seal(&bank.writer()).unwrap();
    let fields = ada().seal(&bank.writer()).unwrap();
    for clearance in clearances() {
        let keyring = bank.keyring(clearance.clone());
        let p = packed.open(&keyring, &ctx()).unwrap();
        let f = fields.open(&keyring, &ctx()).unwrap();
        assert_eq!(
            [
                shown(&p.name),
                shown(&p.balance_cents),
                shown(&p.card_number),
                shown(&p.monthly_salary)
            ],
            [
                shown(&f.name),
                shown(&f.balance_cents),
                shown(&f.card_number),
                shown(&f.monthly_salary)
            ],
            "{clearance:?}"
        );
        assert_eq!(p.customer_id, "cus_042");
        let all_p = packed.open_all(&keyring, &ctx()).map_err(|e| e.to_string());
        let all_f = fields.open_all(&keyring, &ctx()).map_err(|e| e.to_string());
        assert_eq!(all_p.is_ok(), all_f.is_ok(), "{clearance:?}");
        if let (Err(p), Err(f)) = (all_p, all_f) {
            assert_eq!(p, f, "the same missing tier is named");
        }
    }
}

#[test]
fn masks_show_to_internal_and_to_nobody_below() {
    let bank = Bank::new();
    let sealed = packed_ada().seal(&bank.writer()).unwrap();
    let internal = sealed
        .open(&bank.keyring(Clearance::up_to(Level::Internal)), &ctx())
        .unwrap();
    assert_eq!(internal.card_number.mask(), Some("****1111"));
    assert_eq!(internal.card_number.render(), "****1111");
    let cards_only = sealed
        .open(&bank.keyring(Clearance::none().with(cards())), &ctx())
        .unwrap();
    assert_eq!(cards_only.card_number.value().unwrap(), "4111111111111111");
    assert!(cards_only.name.is_withheld());
    let nobody = sealed
        .open(&bank.keyring(Clearance::none()), &ctx())
        .unwrap();
    assert_eq!(nobody.card_number.mask(), None);
    assert_eq!(nobody.card_number.render(), "<withheld: restricted>");
}

#[test]
fn an_edited_internal_part_fails_for_a_reader_who_only_sees_the_mask() {
    let bank = Bank::new();
    let mut json = as_json(&packed_ada().seal(&bank.writer()).unwrap());
    let mut bytes = json["_internal"]
        .as_str()
        .unwrap()
        .parse::<PackedPart>()
        .unwrap()
        .as_bytes()
        .to_vec();
    let last = bytes.len() - 20;
    bytes[last] ^= 0x01;
    json["_internal"] = PackedPart::from_bytes(bytes).unwrap().to_text().into();
    let edited: SealedPackedCustomer = from_json(json);
    assert_integrity(edited.open(&bank.keyring(Clearance::up_to(Level::Internal)), &ctx()));
    // A reader of the cards compartment alone never opens `internal`.
    let view = edited
        .open(&bank.keyring(Clearance::none().with(cards())), &ctx())
        .unwrap();
    assert_eq!(view.card_number.value().unwrap(), "4111111111111111");
}

#[derive(Default)]
struct Memory(Mutex<Vec<AuditEvent>>);

impl AuditSink for Memory {
    fn record(&self, event: AuditEvent) -> Result<(), Error> {
        self.0.lock().unwrap().push(event);
        Ok(())
    }
}

/// The events of `f`, without their time.
fn events_of(keyring: Keyring, f: impl FnOnce(&Keyring)) -> Vec<serde_json::Value> {
    let sink = Arc::new(Memory::default());
    let audited = keyring.with_audit(sink.clone());
    f(&audited);
    let events = sink.0.lock().unwrap();
    events
        .iter()
        .map(|event| {
            let mut json = as_json(event);
            json.as_object_mut().unwrap().remove("time");
            json
        })
        .collect()
}

#[test]
fn audit_events_are_the_default_modes_for_the_same_record() {
    let bank = Bank::new();
    let packed_seal = events_of(bank.writer(), |k| drop(packed_ada().seal(k).unwrap()));
    let fields_seal = events_of(bank.writer(), |k| drop(ada().seal(k).unwrap()));
    assert_eq!(packed_seal, fields_seal);
    assert_eq!(
        packed_seal.len(),
        1,
        "restricted fields are recorded when sealed"
    );

    let packed = packed_ada().seal(&bank.writer()).unwrap();
    let fields = ada().seal(&bank.writer()).unwrap();
    for clearance in clearances() {
        let keyring = || bank.keyring(clearance.clone());
        let p = events_of(keyring(), |k| drop(packed.open(k, &ctx()).unwrap()));
        let f = events_of(keyring(), |k| drop(fields.open(k, &ctx()).unwrap()));
        assert_eq!(p, f, "{clearance:?}");
        assert_eq!(p.len(), 1);
        let p = events_of(keyring(), |k| drop(packed.open_all(k, &ctx())));
        let f = events_of(keyring(), |k| drop(fields.open_all(k, &ctx())));
        assert_eq!(p, f, "open_all {clearance:?}");
    }
    // A failed open is recorded as failed, the same way.
    let mut json = as_json(&packed);
    json["_confidential"] = json["_internal"].clone();
    let moved: SealedPackedCustomer = from_json(json);
    let events = events_of(bank.writer(), |k| drop(moved.open(k, &ctx())));
    let fields = events[0]["fields"].as_array().unwrap();
    assert_eq!(fields[0]["outcome"], as_json(&FieldOutcome::Revealed));
    assert_eq!(fields[1]["outcome"], as_json(&FieldOutcome::Failed));
}

#[test]
fn rewrap_touches_only_the_record_keys_and_the_record_still_opens() {
    let mut bank = Bank::new();
    let mut sealed = packed_ada().seal(&bank.writer()).unwrap();
    let before = as_json(&sealed);
    bank.keystore.rotate(&cards()).unwrap();
    let writer = bank.writer();
    let outcomes = sealed.rewrap(&writer).unwrap();
    assert!(
        outcomes.contains(&Rewrapped::Moved { from: 1, to: 2 }),
        "{outcomes:?}"
    );
    let after = as_json(&sealed);
    for part in [
        "_internal",
        "_confidential",
        "_restricted/cards",
        "_confidential/payroll",
    ] {
        assert_eq!(before[part], after[part], "{part} untouched");
    }
    assert_ne!(before["_keys"], after["_keys"]);
    assert!(sealed.open_all(&writer, &ctx()).unwrap() == packed_ada());
    assert!(
        sealed
            .rewrap(&writer)
            .unwrap()
            .iter()
            .all(|o| *o == Rewrapped::AlreadyCurrent)
    );
}

#[test]
fn parts_swapped_between_tiers_records_or_types_do_not_open() {
    let bank = Bank::new();
    let writer = bank.writer();
    let json = as_json(&packed_ada().seal(&writer).unwrap());

    // Another tier's part: its key slot names that tier.
    let mut swapped = json.clone();
    swapped["_internal"] = json["_confidential"].clone();
    swapped["_confidential"] = json["_internal"].clone();
    let swapped: SealedPackedCustomer = from_json(swapped);
    let error = expect(swapped.open_all(&writer, &ctx()), "TierMismatch");
    assert!(matches!(error, Error::TierMismatch { .. }), "{error:?}");

    // Another record's part (same type, other record id), with or without
    // its record keys.
    let mut other = packed_ada();
    other.customer_id = "cus_043".into();
    let other = as_json(&other.seal(&writer).unwrap());
    let mut moved = json.clone();
    moved["_confidential"] = other["_confidential"].clone();
    assert_integrity(from_json::<SealedPackedCustomer>(moved).open_all(&writer, &ctx()));
    let mut with_keys = json.clone();
    with_keys["_confidential"] = other["_confidential"].clone();
    with_keys["_keys"] = other["_keys"].clone();
    assert_integrity(from_json::<SealedPackedCustomer>(with_keys).open_all(&writer, &ctx()));

    // The same record as another type, parts and keys together.
    let supplier: SealedPackedSupplier = from_json(json.clone());
    assert_integrity(supplier.open_all(&writer, &ctx()));

    // The same type id with another list of internal fields.
    let mut with_phone = json;
    with_phone["phone"] = serde_json::Value::Null;
    let with_phone: SealedPackedCustomerWithPhone = from_json(with_phone);
    assert_integrity(with_phone.open_all(&writer, &ctx()));
}

#[test]
fn malformed_parts_are_typed_errors_when_read() {
    let bank = Bank::new();
    let json = as_json(&packed_ada().seal(&bank.writer()).unwrap());
    let part: PackedPart = json["_internal"].as_str().unwrap().parse().unwrap();
    let bytes = part.as_bytes();
    for len in 0..3 + 12 + 16 {
        assert!(matches!(
            PackedPart::from_bytes(bytes[..len].to_vec()),
            Err(Error::Malformed { .. })
        ));
    }
    let mut v3 = bytes.to_vec();
    v3[0] = 3;
    assert!(matches!(
        PackedPart::from_bytes(v3),
        Err(Error::Malformed { .. })
    ));
    let mut v9 = bytes.to_vec();
    v9[0] = 9;
    assert!(matches!(
        PackedPart::from_bytes(v9),
        Err(Error::UnsupportedFormat { version: 9 })
    ));
    let mut broken = json.clone();
    broken["_internal"] = "tierseal:AQID".into();
    assert!(serde_json::from_value::<SealedPackedCustomer>(broken).is_err());
    let mut field = json;
    field["_internal"] = as_json(&ada().seal(&bank.writer()).unwrap())["name"].clone();
    assert!(serde_json::from_value::<SealedPackedCustomer>(field).is_err());
}

#[test]
fn nothing_secret_in_debug() {
    let bank = Bank::new();
    let sealed = packed_ada().seal(&bank.writer()).unwrap();
    let view = sealed.open(&bank.writer(), &ctx()).unwrap();
    let shown = format!("{:?} {sealed:?} {view:?}", packed_ada());
    crate::assert_no_secrets(&shown);
    assert!(shown.contains("PackedPart { key_slot: 0"), "{shown}");
}

/// Packed records nest in default ones and the reverse, bound to their
/// place like any nested record.
#[derive(Classified, Clone, PartialEq, Serialize, Deserialize)]
#[classified(packed)]
pub struct PackedAddress {
    #[classify(internal)]
    pub street: String,
    #[classify(confidential)]
    pub postcode: String,
}

#[derive(Classified, Clone, PartialEq, Serialize, Deserialize)]
pub struct Household {
    #[classify(public)]
    pub name: String,
    #[classify(nested)]
    pub home: PackedAddress,
    #[classify(nested)]
    pub work: PackedAddress,
}

#[derive(Classified, Clone, PartialEq, Serialize, Deserialize)]
#[classified(packed, record_id = "id")]
pub struct PackedEmployee {
    #[classify(public)]
    pub id: String,
    #[classify(nested)]
    pub household: Household,
    #[classify(restricted, mask = "last4")]
    pub card_number: String,
}

fn address(street: &str) -> PackedAddress {
    PackedAddress {
        street: street.into(),
        postcode: "SW1A 1AA".into(),
    }
}

fn employee() -> PackedEmployee {
    PackedEmployee {
        id: "emp_7".into(),
        household: Household {
            name: "Lovelace".into(),
            home: address("1 Home Rd"),
            work: address("2 Work St"),
        },
        card_number: "5500000000000004".into(),
    }
}

#[test]
fn packed_records_nest_and_stay_bound_to_their_place() {
    let bank = Bank::new();
    let writer = bank.writer();
    let sealed = employee().seal(&writer).unwrap();
    assert!(sealed.open_all(&writer, &ctx()).unwrap() == employee());
    let view = sealed
        .open(&bank.keyring(Clearance::up_to(Level::Internal)), &ctx())
        .unwrap();
    assert_eq!(view.household.home.street.value().unwrap(), "1 Home Rd");
    assert!(view.household.home.postcode.is_withheld());
    assert_eq!(view.card_number.mask(), Some("****0004"));

    let json = as_json(&sealed);
    let mut swapped = json.clone();
    swapped["household"]["home"] = json["household"]["work"].clone();
    swapped["household"]["work"] = json["household"]["home"].clone();
    assert_integrity(from_json::<SealedPackedEmployee>(swapped).open_all(&writer, &ctx()));
    // A nested address pasted in as the root record of its type.
    let alone: SealedPackedAddress = from_json(json["household"]["home"].clone());
    assert_integrity(alone.open_all(&writer, &ctx()));

    // Rewrap reaches the nested records' keys.
    let mut sealed = sealed;
    let outcomes = SealedRecord::rewrap(&mut sealed, &writer).unwrap();
    assert_eq!(outcomes.len(), 2 + 2 + 2, "{outcomes:?}");
}

/// A packed type with blind indexes, beside the same type field by field:
/// the index binds tier, type id and field id only, so both give the same.
#[derive(Classified, Clone, PartialEq, Serialize, Deserialize)]
#[classified(record_id = "id", id = "Account", packed)]
pub struct PackedAccount {
    #[classify(public)]
    pub id: String,
    #[classify(restricted, index)]
    pub iban: String,
    #[classify(confidential, index_with = "crate::packed::lowercase")]
    pub email: String,
}

#[derive(Classified, Clone, PartialEq, Serialize, Deserialize)]
#[classified(record_id = "id", id = "Account")]
pub struct Account {
    #[classify(public)]
    pub id: String,
    #[classify(restricted, index)]
    pub iban: String,
    #[classify(confidential, index_with = "crate::packed::lowercase")]
    pub email: String,
}

pub fn lowercase(text: &str) -> String {
    text.to_lowercase()
}

#[test]
fn blind_indexes_work_as_in_the_default_mode() {
    let bank = Bank::new();
    let writer = bank.writer();
    let packed = PackedAccount {
        id: "acc_1".into(),
        iban: "DE89370400440532013000".into(),
        email: "Ada@Example.com".into(),
    };
    let sealed = packed.seal(&writer).unwrap();
    let fields = Account {
        id: "acc_1".into(),
        iban: packed.iban.clone(),
        email: packed.email.clone(),
    }
    .seal(&writer)
    .unwrap();
    assert_eq!(sealed.iban_index, fields.iban_index);
    assert_eq!(sealed.email_index, fields.email_index);
    assert_eq!(
        SealedPackedAccount::index_email(&writer, &"ada@example.com".to_owned()).unwrap(),
        sealed.email_index
    );
    let mut sealed = sealed;
    assert!(!sealed.reindex(&writer, &ctx()).unwrap(), "nothing stale");
    assert!(sealed.open_all(&writer, &ctx()).unwrap() == packed);
}

#[test]
fn the_batch_api_seals_and_opens_packed_records() {
    let bank = Bank::new();
    let writer = bank.writer();
    let records: Vec<PackedCustomer> = (0..70)
        .map(|i| PackedCustomer {
            customer_id: format!("cus_{i:03}"),
            ..packed_ada()
        })
        .collect();
    let sealed: Vec<SealedPackedCustomer> = tierseal::batch::seal_all(&writer, &records)
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
    let opened = tierseal::batch::open_all(&writer, &ctx(), &sealed);
    assert!(
        opened
            .iter()
            .zip(&records)
            .all(|(o, r)| o.as_ref().ok() == Some(r))
    );
    let views = tierseal::batch::open_views(
        &bank.keyring(Clearance::up_to(Level::Internal)),
        &ctx(),
        &sealed,
    );
    assert!(
        views
            .iter()
            .all(|v| v.as_ref().unwrap().card_number.mask() == Some("****1111"))
    );
    // A part moved between two records of the batch fails alone.
    let mut moved = sealed.clone();
    moved[1].tierseal_internal = sealed[2].tierseal_internal.clone();
    let opened = tierseal::batch::open_all(&writer, &ctx(), &moved);
    assert!(matches!(opened[1], Err(Error::Integrity { .. })));
    assert!(opened[0].is_ok() && opened[2].is_ok());
}
