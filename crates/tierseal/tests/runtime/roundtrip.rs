use serde::{Deserialize, Serialize};
use tierseal::{Binding, Error, Level, RecordOpener, RecordSealer, SealedValue, Tier};

use crate::common::{Fixture, cards};

fn roundtrip<T>(value: &T)
where
    T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug,
{
    let fixture = Fixture::new();
    let keyring = fixture.everything();
    let binding = Binding::new("Account", "field").with_record_id("acc_1");
    let sealed = SealedValue::seal(&keyring, &Tier::CONFIDENTIAL, binding, value).unwrap();
    let opened: T = sealed.open(&keyring, binding, &crate::common::CTX).unwrap();
    assert_eq!(&opened, value);

    // Through JSON (text token) and a binary format (raw bytes) too.
    let json = serde_json::to_string(&sealed).unwrap();
    assert!(json.starts_with("\"tierseal:"), "{json}");
    let back: SealedValue = serde_json::from_str(&json).unwrap();
    assert_eq!(
        back.open::<T>(&keyring, binding, &crate::common::CTX)
            .unwrap(),
        *value
    );
    let bytes = postcard::to_stdvec(&sealed).unwrap();
    let back: SealedValue = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(back, sealed);
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Address {
    street: String,
    postcode: String,
    lines: Vec<String>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Beneficiary {
    name: String,
    address: Address,
    share_percent: u8,
}

#[test]
fn strings_roundtrip() {
    roundtrip(&String::from("GB82 WEST 1234 5698 7654 32"));
    roundtrip(&String::new());
    roundtrip(&"ünïcødé ✓".to_owned());
}

#[test]
fn integers_roundtrip() {
    roundtrip(&0_i64);
    roundtrip(&-123_456_789_i64);
    roundtrip(&u64::MAX);
    roundtrip(&i128::MIN);
}

#[test]
fn options_roundtrip() {
    roundtrip(&Some(4_200_u64));
    roundtrip(&None::<u64>);
}

#[test]
fn byte_vectors_roundtrip() {
    roundtrip(&vec![0u8, 1, 2, 255]);
    roundtrip(&Vec::<u8>::new());
    roundtrip(&vec![7u8; 4096]);
}

#[test]
fn nested_structs_roundtrip() {
    roundtrip(&Beneficiary {
        name: "Ada Lovelace".into(),
        address: Address {
            street: "12 St James's Square".into(),
            postcode: "SW1Y 4JH".into(),
            lines: vec!["London".into(), "UK".into()],
        },
        share_percent: 50,
    });
}

#[test]
fn sealing_twice_gives_different_ciphertexts() {
    let fixture = Fixture::new();
    let keyring = fixture.everything();
    let binding = Binding::new("T", "f");
    let a = SealedValue::seal(&keyring, &Tier::INTERNAL, binding, "same").unwrap();
    let b = SealedValue::seal(&keyring, &Tier::INTERNAL, binding, "same").unwrap();
    assert_ne!(a, b);
}

#[test]
fn opening_without_the_tier_is_not_granted_naming_it() {
    let fixture = Fixture::new();
    let all = fixture.everything();
    let support = fixture.up_to(Level::Internal);
    let binding = Binding::new("Customer", "card_number");
    let sealed = SealedValue::seal(&all, &cards(), binding, "4111111111111111").unwrap();
    match sealed.open::<String>(&support, binding, &crate::common::CTX) {
        Err(Error::NotGranted { tier }) => assert_eq!(tier, cards()),
        other => panic!("expected NotGranted, got {other:?}"),
    }
    let message = sealed
        .open::<String>(&support, binding, &crate::common::CTX)
        .unwrap_err()
        .to_string();
    assert!(message.contains("restricted/cards"), "{message}");
}

#[test]
fn sealing_without_the_tier_is_not_granted() {
    let fixture = Fixture::new();
    let support = fixture.up_to(Level::Internal);
    let result = SealedValue::seal(&support, &Tier::RESTRICTED, Binding::new("T", "f"), "x");
    assert!(matches!(result, Err(Error::NotGranted { tier }) if tier == Tier::RESTRICTED));
}

#[test]
fn opening_as_the_wrong_type_is_an_error_not_garbage() {
    let fixture = Fixture::new();
    let keyring = fixture.everything();
    let binding = Binding::new("T", "f");
    let sealed = SealedValue::seal(&keyring, &Tier::INTERNAL, binding, &(1u8, 2u8, 3u8)).unwrap();
    assert!(matches!(
        sealed.open::<u8>(&keyring, binding, &crate::common::CTX),
        Err(Error::Encoding { .. })
    ));
}

#[test]
fn record_fields_share_one_key_per_tier() {
    let fixture = Fixture::new();
    let keyring = fixture.everything();
    let binding = Binding::new("Customer", "").with_record_id("cus_1");
    let mut sealer = RecordSealer::new(&keyring, binding);
    let name = sealer.seal_field(&Tier::INTERNAL, "name", "Ada").unwrap();
    let email = sealer
        .seal_field(&Tier::INTERNAL, "email", "ada@example.com")
        .unwrap();
    let card = sealer
        .seal_field(&cards(), "card", "4111111111111111")
        .unwrap();
    let keys = sealer.finish();
    assert_eq!(keys.keys().len(), 2, "one wrapped key per tier");

    let mut opener = RecordOpener::new(&keyring, &keys, binding, &crate::common::CTX);
    assert_eq!(
        opener
            .open_field::<String>(&Tier::INTERNAL, "name", &name)
            .unwrap(),
        "Ada"
    );
    assert_eq!(
        opener
            .open_field::<String>(&Tier::INTERNAL, "email", &email)
            .unwrap(),
        "ada@example.com"
    );
    assert_eq!(
        opener
            .open_field::<String>(&cards(), "card", &card)
            .unwrap(),
        "4111111111111111"
    );

    // A keyring without cards opens the rest and is refused the card.
    let support = fixture.up_to(Level::Internal);
    let mut opener = RecordOpener::new(&support, &keys, binding, &crate::common::CTX);
    assert_eq!(
        opener
            .open_field::<String>(&Tier::INTERNAL, "name", &name)
            .unwrap(),
        "Ada"
    );
    assert!(matches!(
        opener.open_field::<String>(&cards(), "card", &card),
        Err(Error::NotGranted { .. })
    ));
}

#[test]
fn record_keys_serialize_as_tokens() {
    let fixture = Fixture::new();
    let keyring = fixture.everything();
    let binding = Binding::new("Customer", "").with_record_id("cus_1");
    let mut sealer = RecordSealer::new(&keyring, binding);
    let name = sealer.seal_field(&Tier::INTERNAL, "name", "Ada").unwrap();
    let keys = sealer.finish();
    let json = serde_json::to_string(&(&keys, &name)).unwrap();
    let (keys, name): (tierseal::RecordKeys, tierseal::SealedField) =
        serde_json::from_str(&json).unwrap();
    let mut opener = RecordOpener::new(&keyring, &keys, binding, &crate::common::CTX);
    assert_eq!(
        opener
            .open_field::<String>(&Tier::INTERNAL, "name", &name)
            .unwrap(),
        "Ada"
    );
}
