use tierseal::{Binding, Error, Level, RecordOpener, RecordSealer, SealedField, SealedValue, Tier};

use crate::common::{Fixture, cards, payroll};

const SECRET: &str = "4111111111111111";

/// Every error a tampered value may produce: never a value.
fn is_rejection(error: &Error) -> bool {
    matches!(
        error,
        Error::Integrity { .. }
            | Error::Malformed { .. }
            | Error::UnsupportedFormat { .. }
            | Error::NotGranted { .. }
            | Error::UnknownKeyVersion { .. }
            | Error::TierMismatch { .. }
    )
}

#[test]
fn flipping_any_byte_of_a_sealed_value_fails() {
    let fixture = Fixture::new();
    let keyring = fixture.everything();
    let binding = Binding::new("Customer", "card_number").with_record_id("cus_1");
    let sealed = SealedValue::seal(&keyring, &cards(), binding, SECRET).unwrap();
    let bytes = sealed.as_bytes().to_vec();
    for position in 0..bytes.len() {
        for flip in [0x01u8, 0x80, 0xFF] {
            let mut altered = bytes.clone();
            altered[position] ^= flip;
            let outcome = SealedValue::from_bytes(altered)
                .and_then(|v| v.open::<String>(&keyring, binding, &crate::common::CTX));
            match outcome {
                Ok(value) => panic!("byte {position} ^ {flip:#x} opened to {value:?}"),
                Err(e) => assert!(is_rejection(&e), "byte {position}: unexpected {e:?}"),
            }
        }
    }
}

#[test]
fn flipping_any_byte_of_a_record_field_or_key_fails() {
    let fixture = Fixture::new();
    let keyring = fixture.everything();
    let binding = Binding::new("Customer", "").with_record_id("cus_1");
    let mut sealer = RecordSealer::new(&keyring, binding);
    let field = sealer.seal_field(&cards(), "card_number", SECRET).unwrap();
    let keys = sealer.finish();

    let field_bytes = field.as_bytes().to_vec();
    for position in 0..field_bytes.len() {
        let mut altered = field_bytes.clone();
        altered[position] ^= 0x01;
        let mut opener = RecordOpener::new(&keyring, &keys, binding, &crate::common::CTX);
        let outcome = SealedField::from_bytes(altered)
            .and_then(|f| opener.open_field::<String>(&cards(), "card_number", &f));
        assert!(
            outcome.as_ref().is_err_and(is_rejection),
            "field byte {position}: {outcome:?}"
        );
    }

    let json = serde_json::to_value(&keys).unwrap();
    let key_bytes = keys.keys()[0].as_bytes().to_vec();
    for position in 0..key_bytes.len() {
        let mut altered = key_bytes.clone();
        altered[position] ^= 0x01;
        let Ok(key) = tierseal::RecordKey::from_bytes(altered) else {
            continue; // rejected by the parser: also a failure to open
        };
        let mut doc = json.clone();
        doc[0] = serde_json::Value::String(key.to_text());
        let altered_keys: tierseal::RecordKeys = serde_json::from_value(doc).unwrap();
        let mut opener = RecordOpener::new(&keyring, &altered_keys, binding, &crate::common::CTX);
        let outcome = opener.open_field::<String>(&cards(), "card_number", &field);
        assert!(
            outcome.as_ref().is_err_and(is_rejection),
            "key byte {position}: {outcome:?}"
        );
    }
}

#[test]
fn a_value_moved_to_another_field_fails() {
    let fixture = Fixture::new();
    let keyring = fixture.everything();
    let record = Binding::new("Customer", "card_number").with_record_id("cus_1");
    let sealed = SealedValue::seal(&keyring, &cards(), record, SECRET).unwrap();
    let err = sealed
        .open::<String>(&keyring, record.for_field("notes"), &crate::common::CTX)
        .unwrap_err();
    assert!(matches!(err, Error::Integrity { .. }), "{err:?}");
    let err = sealed
        .open::<String>(
            &keyring,
            Binding::new("Supplier", "card_number").with_record_id("cus_1"),
            &crate::common::CTX,
        )
        .unwrap_err();
    assert!(matches!(err, Error::Integrity { .. }), "{err:?}");
}

#[test]
fn a_value_moved_to_another_record_fails() {
    let fixture = Fixture::new();
    let keyring = fixture.everything();
    let alice = Binding::new("Customer", "card_number").with_record_id("cus_alice");
    let bob = alice.with_record_id("cus_bob");
    let sealed = SealedValue::seal(&keyring, &cards(), alice, SECRET).unwrap();
    assert!(matches!(
        sealed.open::<String>(&keyring, bob, &crate::common::CTX),
        Err(Error::Integrity { .. })
    ));
    // Dropping the record id is moving it too.
    let unbound = Binding::new("Customer", "card_number");
    assert!(matches!(
        sealed.open::<String>(&keyring, unbound, &crate::common::CTX),
        Err(Error::Integrity { .. })
    ));
}

#[test]
fn record_fields_swapped_between_fields_or_records_fail() {
    let fixture = Fixture::new();
    let keyring = fixture.everything();
    let alice = Binding::new("Customer", "").with_record_id("cus_alice");
    let bob = Binding::new("Customer", "").with_record_id("cus_bob");

    let mut sealer = RecordSealer::new(&keyring, alice);
    let alice_card = sealer.seal_field(&cards(), "card_number", SECRET).unwrap();
    let alice_pan_copy = sealer
        .seal_field(&cards(), "backup_card", "5500000000000004")
        .unwrap();
    let alice_keys = sealer.finish();
    let mut sealer = RecordSealer::new(&keyring, bob);
    let bob_card = sealer
        .seal_field(&cards(), "card_number", "4000000000000002")
        .unwrap();
    let bob_keys = sealer.finish();

    // Another field of the same record, same tier, same data key.
    let mut opener = RecordOpener::new(&keyring, &alice_keys, alice, &crate::common::CTX);
    let err = opener
        .open_field::<String>(&cards(), "card_number", &alice_pan_copy)
        .unwrap_err();
    assert!(matches!(err, Error::Integrity { .. }), "{err:?}");

    // Bob's field under Alice's keys, and with Bob's keys claimed as Alice.
    let err = opener
        .open_field::<String>(&cards(), "card_number", &bob_card)
        .unwrap_err();
    assert!(matches!(err, Error::Integrity { .. }), "{err:?}");
    let mut opener = RecordOpener::new(&keyring, &bob_keys, alice, &crate::common::CTX);
    let err = opener
        .open_field::<String>(&cards(), "card_number", &bob_card)
        .unwrap_err();
    assert!(matches!(err, Error::Integrity { .. }), "{err:?}");
    // Sanity: each opens where it belongs.
    let mut opener = RecordOpener::new(&keyring, &alice_keys, alice, &crate::common::CTX);
    assert_eq!(
        opener
            .open_field::<String>(&cards(), "card_number", &alice_card)
            .unwrap(),
        SECRET
    );
}

#[test]
fn values_swapped_between_tiers_fail() {
    let fixture = Fixture::new();
    let keyring = fixture.everything();
    let binding = Binding::new("Employee", "salary").with_record_id("emp_7");
    let restricted = SealedValue::seal(&keyring, &Tier::RESTRICTED, binding, &90_000_u64).unwrap();
    let mut sealer = RecordSealer::new(&keyring, binding);
    let field = sealer
        .seal_field(&payroll(), "salary", &90_000_u64)
        .unwrap();
    let keys = sealer.finish();

    // A record field declared at another tier is refused before any crypto.
    let mut opener = RecordOpener::new(&keyring, &keys, binding, &crate::common::CTX);
    let err = opener
        .open_field::<u64>(&Tier::CONFIDENTIAL, "salary", &field)
        .unwrap_err();
    assert!(matches!(err, Error::TierMismatch { .. }), "{err:?}");

    // Relabelling a value's tier in its header (restricted -> confidential)
    // must fail authentication, not open under the lower tier's key.
    let relabelled = relabel(restricted.as_bytes(), "restricted", "confidential");
    let relabelled = SealedValue::from_bytes(relabelled).unwrap();
    assert_eq!(relabelled.tier_name(), "confidential");
    let err = relabelled
        .open::<u64>(&keyring, binding, &crate::common::CTX)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Integrity { .. } | Error::UnknownKeyVersion { .. }
        ),
        "{err:?}"
    );

    // Pointing a record field at the key slot of another tier whose data
    // key the record has (a field of version 3 or later names its slot, byte 2).
    let mut sealer = RecordSealer::new(&keyring, binding);
    let salary = sealer.seal_field(&payroll(), "salary", &1_u64).unwrap();
    let _ = sealer
        .seal_field(&Tier::CONFIDENTIAL, "other", &1_u64)
        .unwrap();
    let both_keys = sealer.finish();
    assert_eq!(both_keys.keys()[1].tier_name(), "confidential");
    let mut moved = salary.as_bytes().to_vec();
    assert_eq!(moved[2], 0, "the payroll key is the record's first");
    moved[2] = 1;
    let mut opener = RecordOpener::new(&keyring, &both_keys, binding, &crate::common::CTX);
    let moved = SealedField::from_bytes(moved).unwrap();
    let err = opener
        .open_field::<u64>(&Tier::CONFIDENTIAL, "salary", &moved)
        .unwrap_err();
    assert!(matches!(err, Error::Integrity { .. }), "{err:?}");
    // Its own slot, opened as the other tier, is a tier mismatch.
    let err = opener
        .open_field::<u64>(&Tier::CONFIDENTIAL, "salary", &salary)
        .unwrap_err();
    assert!(matches!(err, Error::TierMismatch { .. }), "{err:?}");
}

#[test]
fn a_lower_clearance_cannot_open_by_relabelling() {
    let fixture = Fixture::new();
    let all = fixture.everything();
    let support = fixture.up_to(Level::Internal);
    let binding = Binding::new("Customer", "balance");
    let sealed = SealedValue::seal(&all, &Tier::CONFIDENTIAL, binding, &1_000_i64).unwrap();
    let relabelled =
        SealedValue::from_bytes(relabel(sealed.as_bytes(), "confidential", "internal")).unwrap();
    let err = relabelled
        .open::<i64>(&support, binding, &crate::common::CTX)
        .unwrap_err();
    assert!(matches!(err, Error::Integrity { .. }), "{err:?}");
}

/// Rewrites the tier name in a token's header (byte 2 is its length).
fn relabel(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    assert_eq!(&bytes[3..3 + from.len()], from.as_bytes());
    let mut out = bytes[..2].to_vec();
    out.push(u8::try_from(to.len()).unwrap());
    out.extend_from_slice(to.as_bytes());
    out.extend_from_slice(&bytes[3 + from.len()..]);
    out
}
