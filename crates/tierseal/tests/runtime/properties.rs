use proptest::prelude::*;
use tierseal::{Binding, SealedValue, Tier};

use crate::common::Fixture;

fn keyring() -> &'static tierseal::Keyring {
    static KEYRING: std::sync::OnceLock<(tempfile::TempDir, tierseal::Keyring)> =
        std::sync::OnceLock::new();
    let (_, keyring) = KEYRING.get_or_init(|| {
        let fixture = Fixture::new();
        let keyring = fixture.everything();
        (fixture.dir, keyring)
    });
    keyring
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_value_roundtrips(
        value in proptest::collection::vec(any::<u8>(), 0..512),
        text in ".{0,64}",
        field in "[a-z_]{1,20}",
        record in proptest::option::of("[a-z0-9_]{1,20}"),
    ) {
        let binding = Binding::new("Prop", &field);
        let binding = match &record {
            Some(id) => binding.with_record_id(id),
            None => binding,
        };
        let sealed = SealedValue::seal(keyring(), &Tier::CONFIDENTIAL, binding, &(&value, &text)).unwrap();
        let opened: (Vec<u8>, String) = sealed.open(keyring(), binding, &crate::common::CTX).unwrap();
        prop_assert_eq!(opened, (value, text));
    }

    #[test]
    fn any_single_change_is_rejected(
        value in proptest::collection::vec(any::<u8>(), 0..64),
        position in any::<prop::sample::Index>(),
        xor in 1u8..=255,
    ) {
        let binding = Binding::new("Prop", "f");
        let sealed = SealedValue::seal(keyring(), &Tier::INTERNAL, binding, &value).unwrap();
        let mut bytes = sealed.as_bytes().to_vec();
        let i = position.index(bytes.len());
        bytes[i] ^= xor;
        let outcome = SealedValue::from_bytes(bytes).and_then(|v| v.open::<Vec<u8>>(keyring(), binding, &crate::common::CTX));
        prop_assert!(outcome.is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let binding = Binding::new("Prop", "f");
        if let Ok(value) = SealedValue::from_bytes(bytes.clone()) {
            prop_assert!(value.open::<Vec<u8>>(keyring(), binding, &crate::common::CTX).is_err());
        }
        let _ = tierseal::SealedField::from_bytes(bytes.clone());
        let _ = tierseal::RecordKey::from_bytes(bytes);
    }

    #[test]
    fn arbitrary_text_tokens_never_panic(text in "tierseal:[A-Za-z0-9_-]{0,120}") {
        let _ = text.parse::<SealedValue>();
        let _ = serde_json::from_value::<SealedValue>(serde_json::Value::String(text));
    }
}
