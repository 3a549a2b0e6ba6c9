//! Nested records bound to their place in the root record, and masks
//! authenticated as record fields.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tierseal::{
    AccessContext, Classified, Clearance, Error, Keystore, Level, Rewrapped, SealedField,
    SealedToken,
};

use crate::Bank;

fn ctx() -> AccessContext {
    AccessContext::new("test").with_purpose("TICKET-9")
}

#[derive(Classified, Clone, PartialEq, Serialize, Deserialize)]
pub struct Geo {
    #[classify(confidential)]
    pub lat: String,
}

#[derive(Classified, Clone, PartialEq, Serialize, Deserialize)]
pub struct Address {
    #[classify(internal)]
    pub street: String,
    #[classify(nested)]
    pub geo: Geo,
}

/// No record id: nested fields are told apart by their place only.
#[derive(Classified, Clone, PartialEq, Serialize, Deserialize)]
pub struct Person {
    #[classify(public)]
    pub name: String,
    #[classify(nested)]
    pub home: Address,
    #[classify(nested)]
    pub work: Address,
}

#[derive(Classified, Clone, PartialEq, Serialize, Deserialize)]
#[classified(record_id = "id")]
pub struct Employee {
    #[classify(public)]
    pub id: String,
    #[classify(nested)]
    pub address: Address,
    #[classify(restricted, mask = "last4")]
    pub card_number: String,
}

#[derive(Classified, Clone, PartialEq, Serialize, Deserialize)]
#[classified(record_id = "id")]
pub struct Supplier {
    #[classify(public)]
    pub id: String,
    #[classify(nested)]
    pub address: Address,
    #[classify(restricted, mask = "last4")]
    pub card_number: String,
}

fn address(street: &str, lat: &str) -> Address {
    Address {
        street: street.into(),
        geo: Geo { lat: lat.into() },
    }
}

pub fn person() -> Person {
    Person {
        name: "Ada".into(),
        home: address("1 Home Rd", "51.5"),
        work: address("2 Work St", "48.8"),
    }
}

pub fn employee() -> Employee {
    Employee {
        id: "42".into(),
        address: address("3 Staff Ln", "40.7"),
        card_number: "4111111111111111".into(),
    }
}

fn assert_integrity<T>(result: Result<T, Error>) {
    match result {
        Err(Error::Integrity { .. }) => {}
        Err(other) => panic!("expected Integrity, got {other:?}"),
        Ok(_) => panic!("expected Integrity, but it opened"),
    }
}

fn internal(bank: &Bank) -> tierseal::Keyring {
    bank.keyring(Clearance::up_to(Level::Internal))
}

/// The version byte of a token's text form.
fn token_version(text: &serde_json::Value) -> u8 {
    let token: SealedToken = text.as_str().unwrap().parse().unwrap();
    let bytes = match token {
        SealedToken::Value(value) => value.as_bytes().to_vec(),
        SealedToken::RecordKey(key) => key.as_bytes().to_vec(),
        SealedToken::Field(field) => field.as_bytes().to_vec(),
        SealedToken::Part(part) => part.as_bytes().to_vec(),
    };
    bytes[0]
}

#[test]
fn swapping_two_nested_records_of_a_parent_without_record_id_fails() {
    let bank = Bank::new();
    let sealed = person().seal(&bank.writer()).unwrap();
    let mut json = serde_json::to_value(&sealed).unwrap();
    let home = json["home"].clone();
    json["home"] = json["work"].clone();
    json["work"] = home;
    let swapped: SealedPerson = serde_json::from_value(json).unwrap();
    assert_integrity(swapped.open_all(&bank.writer(), &ctx()));
    assert_integrity(swapped.open(&internal(&bank), &ctx()));
    // Untouched, it opens.
    assert!(sealed.open_all(&bank.writer(), &ctx()).unwrap() == person());
}

#[test]
fn swapping_only_one_field_between_nested_records_fails() {
    let bank = Bank::new();
    let mut json = serde_json::to_value(person().seal(&bank.writer()).unwrap()).unwrap();
    // Same record keys could not help: each nested record has its own, so
    // paste the whole nested geo record one level across.
    let geo = json["home"]["geo"].clone();
    json["home"]["geo"] = json["work"]["geo"].clone();
    json["work"]["geo"] = geo;
    let swapped: SealedPerson = serde_json::from_value(json).unwrap();
    assert_integrity(swapped.open_all(&bank.writer(), &ctx()));
}

#[test]
fn a_nested_record_pasted_into_another_type_with_the_same_record_id_fails() {
    let bank = Bank::new();
    let employee = serde_json::to_value(employee().seal(&bank.writer()).unwrap()).unwrap();
    let supplier = Supplier {
        id: "42".into(),
        address: Address {
            street: "9 Vendor Way".into(),
            geo: Geo { lat: "1.3".into() },
        },
        card_number: "5500000000000004".into(),
    };
    let mut json = serde_json::to_value(supplier.seal(&bank.writer()).unwrap()).unwrap();
    json["address"] = employee["address"].clone();
    let pasted: SealedSupplier = serde_json::from_value(json).unwrap();
    assert_integrity(pasted.open_all(&bank.writer(), &ctx()));
    assert_integrity(pasted.open(&internal(&bank), &ctx()));
}

#[test]
fn deeply_nested_records_round_trip_and_stay_in_their_record() {
    let bank = Bank::new();
    let sealed = employee().seal(&bank.writer()).unwrap();
    let view = sealed.open(&bank.writer(), &ctx()).unwrap();
    assert_eq!(view.address.geo.lat.value().unwrap(), "40.7");
    // Employee 43's geo pasted into employee 42.
    let mut other = employee();
    other.id = "43".into();
    let other = serde_json::to_value(other.seal(&bank.writer()).unwrap()).unwrap();
    let mut json = serde_json::to_value(&sealed).unwrap();
    json["address"]["geo"] = other["address"]["geo"].clone();
    let pasted: SealedEmployee = serde_json::from_value(json).unwrap();
    assert_integrity(pasted.open_all(&bank.writer(), &ctx()));
}

#[test]
fn a_mask_is_shown_to_internal_readers_and_authenticated() {
    let bank = Bank::new();
    let sealed = employee().seal(&bank.writer()).unwrap();
    let view = sealed.open(&internal(&bank), &ctx()).unwrap();
    assert_eq!(view.card_number.mask(), Some("****1111"));
    // Without `internal`, withheld with no mask.
    let view = sealed
        .open(&bank.keyring(Clearance::none()), &ctx())
        .unwrap();
    assert!(view.card_number.is_withheld());
    assert_eq!(view.card_number.mask(), None);

    // An edited mask.
    let mut json = serde_json::to_value(&sealed).unwrap();
    let mut bytes = tierseal::SealedField::from_str(json["card_number_mask"].as_str().unwrap())
        .unwrap()
        .as_bytes()
        .to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    json["card_number_mask"] = tierseal::SealedField::from_bytes(bytes)
        .unwrap()
        .to_text()
        .into();
    let edited: SealedEmployee = serde_json::from_value(json).unwrap();
    assert_integrity(edited.open(&internal(&bank), &ctx()));
}

#[test]
fn a_mask_from_another_record_type_or_seal_fails() {
    let bank = Bank::new();
    let employee_json = serde_json::to_value(employee().seal(&bank.writer()).unwrap()).unwrap();
    // The same record sealed again after its card changed: its old mask
    // is under the old data key.
    let mut changed = employee();
    changed.card_number = "5500000000000004".into();
    let mut json = serde_json::to_value(changed.seal(&bank.writer()).unwrap()).unwrap();
    json["card_number_mask"] = employee_json["card_number_mask"].clone();
    let stale: SealedEmployee = serde_json::from_value(json).unwrap();
    assert_integrity(stale.open(&internal(&bank), &ctx()));

    // Employee 42's mask, with its data keys, in supplier 42.
    let supplier = Supplier {
        id: "42".into(),
        address: employee().address,
        card_number: "5500000000000004".into(),
    };
    let mut json = serde_json::to_value(supplier.seal(&bank.writer()).unwrap()).unwrap();
    json["card_number_mask"] = employee_json["card_number_mask"].clone();
    json["_keys"] = employee_json["_keys"].clone();
    let pasted: SealedSupplier = serde_json::from_value(json).unwrap();
    assert_integrity(pasted.open(&internal(&bank), &ctx()));
}

#[test]
fn a_clear_mask_beside_a_current_field_is_refused() {
    let bank = Bank::new();
    let mut json = serde_json::to_value(employee().seal(&bank.writer()).unwrap()).unwrap();
    json["card_number_mask"] = "****9999".into();
    let downgraded: SealedEmployee = serde_json::from_value(json).unwrap();
    let err = downgraded.open(&internal(&bank), &ctx()).unwrap_err();
    assert!(
        matches!(&err, Error::MaskDowngrade { field } if field == "card_number"),
        "{err:?}"
    );
    assert!(!err.to_string().contains("9999"));
}

#[test]
fn a_current_field_relabelled_as_version_1_cannot_bring_a_mask_of_its_own() {
    // A reader without the field's tier cannot check the field's version
    // byte: an attacker rewrites the field's header as version 1 (which
    // names the tier instead of the key slot) and puts their own clear mask
    // beside it.
    let bank = Bank::new();
    let mut json = serde_json::to_value(employee().seal(&bank.writer()).unwrap()).unwrap();
    let current = SealedField::from_str(json["card_number"].as_str().unwrap())
        .unwrap()
        .as_bytes()
        .to_vec();
    assert_eq!(current[0], 4);
    let tier = b"restricted";
    let mut bytes = vec![1, 3, u8::try_from(tier.len()).unwrap()];
    bytes.extend_from_slice(tier);
    bytes.extend_from_slice(&current[3..]);
    json["card_number"] = SealedField::from_bytes(bytes).unwrap().to_text().into();
    json["card_number_mask"] = "ATTACKER-CHOSEN".into();
    let forged: SealedEmployee = serde_json::from_value(json).unwrap();
    let view = forged.open(&internal(&bank), &ctx()).unwrap();
    assert_eq!(view.card_number.mask(), None);
    assert!(!format!("{view:?}").contains("ATTACKER"));
    // A reader who holds the tier finds the relabelled field altered.
    assert_integrity(forged.open(&bank.writer(), &ctx()));
}

#[test]
fn sealing_a_masked_field_needs_the_internal_tier() {
    let bank = Bank::new();
    let restricted_only = bank.keyring(Clearance::none().with("restricted".parse().unwrap()));
    let err = employee().seal(&restricted_only).unwrap_err();
    assert!(matches!(err, Error::NotGranted { .. }), "{err:?}");
}

/// Records sealed by the version-1 writer (`testdata/records-v1`): nested
/// records bound by `parent/field` record ids, a clear mask.
struct V1Records {
    _dir: tempfile::TempDir,
    keystore: Keystore,
    json: serde_json::Value,
}

impl V1Records {
    fn load() -> V1Records {
        let source = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tierseal/testdata/records-v1"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records-v1.keystore");
        std::fs::copy(format!("{source}/records-v1.keystore"), &path).unwrap();
        let keystore = Keystore::open(&path, &"records v1".into()).unwrap();
        let json = serde_json::from_str(
            &std::fs::read_to_string(format!("{source}/records-v1.json")).unwrap(),
        )
        .unwrap();
        V1Records {
            _dir: dir,
            keystore,
            json,
        }
    }

    fn keyring(&self, level: Level) -> tierseal::Keyring {
        self.keystore.keyring(&Clearance::up_to(level)).unwrap()
    }
}

#[test]
fn version_1_nested_records_and_clear_masks_still_open() {
    let v1 = V1Records::load();
    assert_eq!(token_version(&v1.json["employee"]["card_number"]), 1);
    let person_v1: SealedPerson = serde_json::from_value(v1.json["person"].clone()).unwrap();
    let employee_v1: SealedEmployee = serde_json::from_value(v1.json["employee"].clone()).unwrap();
    let all = v1.keyring(Level::Restricted);
    assert!(person_v1.open_all(&all, &ctx()).unwrap() == person());
    assert!(employee_v1.open_all(&all, &ctx()).unwrap() == employee());
    // The clear mask of a version-1 record is shown only by a keyring that
    // accepts unauthenticated legacy masks; by default it is not shown.
    let view = employee_v1
        .open(&v1.keyring(Level::Internal), &ctx())
        .unwrap();
    assert_eq!(view.card_number.mask(), None);
    let view = employee_v1
        .open(
            &v1.keyring(Level::Internal).with_legacy_clear_masks(),
            &ctx(),
        )
        .unwrap();
    assert_eq!(view.card_number.mask(), Some("****1111"));
    assert_eq!(view.address.geo.lat.mask(), None);
    assert_eq!(view.address.street.value().unwrap(), "3 Staff Ln");
}

#[test]
fn rewrap_moves_version_1_record_keys_to_version_4_and_fields_keep_theirs() {
    let mut v1 = V1Records::load();
    let mut employee_v1: SealedEmployee =
        serde_json::from_value(v1.json["employee"].clone()).unwrap();
    let all = v1.keyring(Level::Restricted);
    // Same key versions: only the format moves.
    let outcomes = employee_v1.rewrap(&all).unwrap();
    assert_eq!(outcomes.len(), 3, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Rewrapped::Moved { from: 1, to: 1 }))
    );
    let json = serde_json::to_value(&employee_v1).unwrap();
    assert_eq!(token_version(&json["_keys"][0]), 4);
    assert_eq!(token_version(&json["address"]["geo"]["_keys"][0]), 4);
    assert_eq!(token_version(&json["card_number"]), 1);
    assert_eq!(json["card_number_mask"], "****1111");
    assert!(employee_v1.open_all(&all, &ctx()).unwrap() == employee());
    // A second rewrap has nothing to do.
    assert!(
        employee_v1
            .rewrap(&all)
            .unwrap()
            .iter()
            .all(|o| *o == Rewrapped::AlreadyCurrent)
    );

    // After a rotation, the moved keys follow the new version.
    v1.keystore.rotate(&"restricted".parse().unwrap()).unwrap();
    let all = v1.keyring(Level::Restricted);
    let outcomes = employee_v1.rewrap(&all).unwrap();
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| matches!(o, Rewrapped::Moved { from: 1, to: 2 }))
            .count(),
        1
    );
    let view = employee_v1
        .open(
            &v1.keyring(Level::Internal).with_legacy_clear_masks(),
            &ctx(),
        )
        .unwrap();
    assert_eq!(view.card_number.mask(), Some("****1111"));
    assert!(employee_v1.open_all(&all, &ctx()).unwrap() == employee());
}
