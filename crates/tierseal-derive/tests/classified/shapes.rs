use serde::{Deserialize, Serialize};
use tierseal::{AccessContext, Classified, Clearance, Level, Revealed};

use crate::Bank;

fn ctx() -> AccessContext {
    AccessContext::new("test").with_purpose("TICKET-3")
}

#[derive(Classified, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ledger<T> {
    #[classify(public)]
    pub currency: String,
    #[classify(confidential)]
    pub entries: Vec<T>,
}

#[test]
fn generic_structs_seal_and_open() {
    let bank = Bank::new();
    let ledger = Ledger {
        currency: "EUR".into(),
        entries: vec![10_i64, -4, 7],
    };
    let sealed = ledger.seal(&bank.writer()).unwrap();
    let json = serde_json::to_string(&sealed).unwrap();
    let stored: SealedLedger<i64> = serde_json::from_str(&json).unwrap();
    assert!(stored.open_all(&bank.writer(), &ctx()).unwrap() == ledger);
    let view = stored
        .open(&bank.keyring(Clearance::none()), &ctx())
        .unwrap();
    assert!(view.entries.is_withheld());
}

#[derive(Classified, Clone, PartialEq, Serialize, Deserialize)]
pub struct Optional {
    #[classify(confidential)]
    pub hidden: Option<u64>,
    #[classify(confidential, reveal_none)]
    pub visible: Option<u64>,
}

#[test]
fn none_is_sealed_unless_reveal_none() {
    let bank = Bank::new();
    let none = Optional {
        hidden: None,
        visible: None,
    };
    let json = serde_json::to_value(none.seal(&bank.writer()).unwrap()).unwrap();
    assert!(
        json["hidden"].as_str().unwrap().starts_with("tierseal:"),
        "presence of `hidden` stays sealed"
    );
    assert!(
        json["visible"].is_null(),
        "reveal_none stores None in clear"
    );

    let stored: SealedOptional = serde_json::from_value(json).unwrap();
    let view = stored
        .open(&bank.keyring(Clearance::none()), &ctx())
        .unwrap();
    assert!(view.hidden.is_withheld());
    assert_eq!(view.visible, Revealed::Value(None));
    assert!(stored.open_all(&bank.writer(), &ctx()).unwrap() == none);

    let some = Optional {
        hidden: Some(1),
        visible: Some(2),
    };
    let sealed = some.seal(&bank.writer()).unwrap();
    assert!(sealed.visible.is_some());
    assert!(sealed.open_all(&bank.writer(), &ctx()).unwrap() == some);
}

#[derive(Classified, Clone, PartialEq, Serialize, Deserialize)]
pub struct Address {
    #[classify(internal)]
    pub street: String,
    #[classify(public)]
    pub country: String,
}

#[derive(Classified, Clone, PartialEq, Serialize, Deserialize)]
#[classified(record_id = "id")]
pub struct Applicant {
    #[classify(public)]
    pub id: String,
    #[classify(nested)]
    pub home: Address,
    #[classify(restricted, transient)]
    pub cvv: String,
}

#[test]
fn nested_records_are_bound_to_their_parent() {
    let bank = Bank::new();
    let alice = Applicant {
        id: "app_1".into(),
        home: Address {
            street: "1 Main St".into(),
            country: "GB".into(),
        },
        cvv: "123".into(),
    };
    let sealed = alice.seal(&bank.writer()).unwrap();
    let view = sealed
        .open(&bank.keyring(Clearance::none()), &ctx())
        .unwrap();
    assert_eq!(view.home.country, "GB");
    assert!(view.home.street.is_withheld());
    let internal = sealed
        .open(&bank.keyring(Clearance::up_to(Level::Internal)), &ctx())
        .unwrap();
    assert_eq!(internal.home.street.value().unwrap(), "1 Main St");

    // The nested record is bound to app_1: under another applicant it fails.
    let mut bob = sealed.clone();
    bob.id = "app_2".into();
    assert!(bob.open_all(&bank.writer(), &ctx()).is_err());

    // The transient CVV is never written, and comes back empty.
    let json = serde_json::to_string(&sealed).unwrap();
    assert!(!json.contains("cvv"), "{json}");
    let opened = sealed.open_all(&bank.writer(), &ctx()).unwrap();
    assert_eq!(opened.cvv, "");
    assert_eq!(opened.home, alice.home);
}

#[test]
fn the_classification_is_described_statically() {
    let class = <crate::Customer as Classified>::CLASSIFICATION;
    assert_eq!(class.type_name, "Customer");
    assert_eq!(class.record_id, Some("customer_id"));
    let card = class
        .fields
        .iter()
        .find(|f| f.name == "card_number")
        .unwrap();
    assert_eq!(card.level, Level::Restricted);
    assert_eq!(card.compartment, Some("cards"));
    assert_eq!(card.mask, Some("last4"));
    assert_eq!(card.tier().unwrap().to_string(), "restricted/cards");
    let salary = class
        .fields
        .iter()
        .find(|f| f.name == "monthly_salary")
        .unwrap();
    assert_eq!(salary.id, "salary");
    let nickname = class.fields.iter().find(|f| f.name == "nickname").unwrap();
    assert_eq!(nickname.level, Level::Public);
    assert!(nickname.tier().is_none());
    let cvv = <Applicant as Classified>::CLASSIFICATION
        .fields
        .iter()
        .find(|f| f.name == "cvv")
        .unwrap();
    assert!(cvv.transient);
}

#[derive(Classified, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreeTiers {
    #[classify(internal)]
    pub memo: String,
    #[classify(restricted, mask = "last4")]
    pub pan: String,
    #[classify(confidential, reveal_none)]
    pub limit: Option<u64>,
}

/// The derive prepares every tier the type seals (one draw for the record);
/// a tier no field used (a `reveal_none` field left `None`) stores no key,
/// and the keys are in the order fields first used them, with the mask at
/// `internal`.
#[test]
fn prepared_tiers_store_only_the_keys_fields_use() {
    let bank = Bank::new();
    let tiers = |sealed: &SealedThreeTiers| -> Vec<String> {
        sealed
            .tierseal_keys
            .key_versions()
            .map(|(tier, _)| tier.to_owned())
            .collect()
    };
    let without = ThreeTiers {
        memo: "rent".into(),
        pan: "4111111111111111".into(),
        limit: None,
    };
    let sealed = without.seal(&bank.writer()).unwrap();
    assert_eq!(tiers(&sealed), ["internal", "restricted"]);
    assert!(sealed.open_all(&bank.writer(), &ctx()).unwrap() == without);
    let view = sealed
        .open(&bank.keyring(Clearance::up_to(Level::Internal)), &ctx())
        .unwrap();
    assert_eq!(view.pan.mask().map(|m| m.ends_with("1111")), Some(true));

    let with = ThreeTiers {
        limit: Some(500_000),
        ..without
    };
    let sealed = with.seal(&bank.writer()).unwrap();
    assert_eq!(tiers(&sealed), ["internal", "restricted", "confidential"]);
    assert!(sealed.open_all(&bank.writer(), &ctx()).unwrap() == with);
}
