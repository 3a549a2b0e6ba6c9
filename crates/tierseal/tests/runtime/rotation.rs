use tierseal::{
    Binding, Error, KeyState, RecordOpener, RecordSealer, Rewrapped, SealedValue, Tier,
};

use crate::common::{Fixture, cards};

const PAN: &str = "4111111111111111";

fn binding() -> Binding<'static> {
    Binding::new("Customer", "card_number").with_record_id("cus_1")
}

#[test]
fn rotate_then_open_old_data() {
    let mut fixture = Fixture::new();
    let before = fixture.everything();
    let old = SealedValue::seal(&before, &cards(), binding(), PAN).unwrap();
    assert_eq!(old.key_version(), 1);

    assert_eq!(fixture.keystore.rotate(&cards()).unwrap(), 2);
    let after = fixture.everything();
    assert_eq!(after.primary_version(&cards()), Some(2));
    assert_eq!(
        old.open::<String>(&after, binding(), &crate::common::CTX)
            .unwrap(),
        PAN
    );
    let new = SealedValue::seal(&after, &cards(), binding(), PAN).unwrap();
    assert_eq!(new.key_version(), 2);
    // A keyring from before the rotation cannot know v2.
    assert!(matches!(
        new.open::<String>(&before, binding(), &crate::common::CTX),
        Err(Error::UnknownKeyVersion { version: 2, .. })
    ));
}

#[test]
fn rewrap_retire_then_open() {
    let mut fixture = Fixture::new();
    let keyring = fixture.everything();
    let mut value = SealedValue::seal(&keyring, &cards(), binding(), PAN).unwrap();
    let field_part_before = value.as_bytes()[value.as_bytes().len() - 40..].to_vec();

    fixture.keystore.rotate(&cards()).unwrap();
    let keyring = fixture.everything();
    assert_eq!(
        value.rewrap(&keyring).unwrap(),
        Rewrapped::Moved { from: 1, to: 2 }
    );
    assert_eq!(
        value.rewrap(&keyring).unwrap(),
        Rewrapped::AlreadyCurrent,
        "rewrap is idempotent"
    );
    assert_eq!(value.key_version(), 2);
    // The field ciphertext (and its tag) are untouched.
    assert_eq!(
        &value.as_bytes()[value.as_bytes().len() - 40..],
        field_part_before.as_slice()
    );

    fixture.keystore.retire(&cards(), 1).unwrap();
    let keyring = fixture.everything();
    assert_eq!(
        value
            .open::<String>(&keyring, binding(), &crate::common::CTX)
            .unwrap(),
        PAN
    );
}

#[test]
fn records_rewrap_without_touching_fields() {
    let mut fixture = Fixture::new();
    let keyring = fixture.everything();
    let record = Binding::new("Customer", "").with_record_id("cus_1");
    let mut sealer = RecordSealer::new(&keyring, record);
    let card = sealer.seal_field(&cards(), "card_number", PAN).unwrap();
    let name = sealer.seal_field(&Tier::INTERNAL, "name", "Ada").unwrap();
    let mut keys = sealer.finish();

    fixture.keystore.rotate(&cards()).unwrap();
    let keyring = fixture.everything();
    let outcomes = keys.rewrap(&keyring).unwrap();
    assert_eq!(
        outcomes,
        [
            Rewrapped::Moved { from: 1, to: 2 },
            Rewrapped::AlreadyCurrent
        ]
    );
    let versions: Vec<_> = keys.key_versions().collect();
    assert_eq!(versions, [("restricted/cards", 2), ("internal", 1)]);

    fixture.keystore.retire(&cards(), 1).unwrap();
    let keyring = fixture.everything();
    let mut opener = RecordOpener::new(&keyring, &keys, record, &crate::common::CTX);
    assert_eq!(
        opener
            .open_field::<String>(&cards(), "card_number", &card)
            .unwrap(),
        PAN
    );
    assert_eq!(
        opener
            .open_field::<String>(&Tier::INTERNAL, "name", &name)
            .unwrap(),
        "Ada"
    );
}

#[test]
fn data_under_a_retired_version_is_key_retired() {
    let mut fixture = Fixture::new();
    let keyring = fixture.everything();
    let mut value = SealedValue::seal(&keyring, &cards(), binding(), PAN).unwrap();
    fixture.keystore.rotate(&cards()).unwrap();
    fixture.keystore.retire(&cards(), 1).unwrap();
    let keyring = fixture.everything();
    match value.open::<String>(&keyring, binding(), &crate::common::CTX) {
        Err(Error::KeyRetired { tier, version }) => {
            assert_eq!(tier, cards());
            assert_eq!(version, 1);
        }
        other => panic!("expected KeyRetired, got {other:?}"),
    }
    let message = value
        .open::<String>(&keyring, binding(), &crate::common::CTX)
        .unwrap_err()
        .to_string();
    assert!(message.contains("restricted/cards v1"), "{message}");
    assert!(matches!(
        value.rewrap(&keyring),
        Err(Error::KeyRetired { version: 1, .. })
    ));
}

#[test]
fn staged_version_reaches_readers_before_writers_use_it() {
    let mut fixture = Fixture::new();
    let staged = fixture.keystore.add_version(&cards()).unwrap();
    assert_eq!(staged, 2);
    let reader = fixture.everything();
    assert_eq!(reader.primary_version(&cards()), Some(1), "not yet primary");
    let states: Vec<_> = fixture
        .keystore
        .key_versions()
        .into_iter()
        .filter(|info| info.tier == cards())
        .map(|info| (info.version, info.state))
        .collect();
    assert_eq!(states, [(1, KeyState::Active), (2, KeyState::DecryptOnly)]);

    fixture.keystore.promote(&cards(), 2).unwrap();
    let writer = fixture.everything();
    let sealed = SealedValue::seal(&writer, &cards(), binding(), PAN).unwrap();
    assert_eq!(sealed.key_version(), 2);
    // The reader's keyring, issued before promotion, already opens it.
    assert_eq!(
        sealed
            .open::<String>(&reader, binding(), &crate::common::CTX)
            .unwrap(),
        PAN
    );
}

#[test]
fn the_primary_cannot_be_retired() {
    let mut fixture = Fixture::new();
    let err = fixture.keystore.retire(&cards(), 1).unwrap_err();
    assert!(
        matches!(
            err,
            Error::KeyState {
                action: "retire",
                version: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("primary"));
}

#[test]
fn retired_versions_cannot_be_promoted_or_retired_again() {
    let mut fixture = Fixture::new();
    fixture.keystore.rotate(&cards()).unwrap();
    fixture.keystore.retire(&cards(), 1).unwrap();
    assert!(matches!(
        fixture.keystore.promote(&cards(), 1),
        Err(Error::KeyRetired { .. })
    ));
    assert!(matches!(
        fixture.keystore.retire(&cards(), 1),
        Err(Error::KeyRetired { .. })
    ));
    assert!(matches!(
        fixture.keystore.promote(&cards(), 9),
        Err(Error::UnknownKeyVersion { version: 9, .. })
    ));
    let states: Vec<_> = fixture
        .keystore
        .key_versions()
        .into_iter()
        .filter(|info| info.tier == cards())
        .map(|info| info.state)
        .collect();
    assert_eq!(states, [KeyState::Retired, KeyState::Active]);
}

#[test]
fn retirement_survives_reopening() {
    let mut fixture = Fixture::new();
    let keyring = fixture.everything();
    let value = SealedValue::seal(&keyring, &cards(), binding(), PAN).unwrap();
    fixture.keystore.rotate(&cards()).unwrap();
    fixture.keystore.retire(&cards(), 1).unwrap();
    let path = fixture.path();
    drop(std::mem::replace(
        &mut fixture.keystore,
        tierseal::Keystore::create(
            fixture.dir.path().join("other"),
            &"x".into(),
            tierseal::KdfProfile::Test,
        )
        .unwrap(),
    ));
    let reopened = tierseal::Keystore::open(&path, &crate::common::PASSPHRASE.into()).unwrap();
    let keyring = reopened
        .keyring(&tierseal::Clearance::none().with(cards()))
        .unwrap();
    assert!(matches!(
        value.open::<String>(&keyring, binding(), &crate::common::CTX),
        Err(Error::KeyRetired { .. })
    ));
}

#[test]
fn overdue_keys_are_reported() {
    let mut fixture = Fixture::new();
    fixture.keystore.set_cryptoperiod(&cards(), 30).unwrap();
    let now = std::time::SystemTime::now();
    assert!(fixture.keystore.overdue(now).is_empty());
    let later = now + std::time::Duration::from_secs(31 * 86_400);
    let overdue = fixture.keystore.overdue(later);
    assert_eq!(overdue.len(), 1);
    assert_eq!(overdue[0].tier, cards());
    let much_later = now + std::time::Duration::from_secs(400 * 86_400);
    assert_eq!(
        fixture.keystore.overdue(much_later).len(),
        5,
        "every tier's primary"
    );
    assert!(fixture.keystore.set_cryptoperiod(&cards(), 0).is_err());
}
