//! Blind indexes: values, key separation, rotation, re-index, search-only
//! keyrings and grants.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a panic is a test failure"
)]

use std::time::{Duration, SystemTime};

use tierseal::{
    AccessContext, BlindIndex, Classified, Clearance, Error, GrantInfo, IndexField, KdfProfile,
    Keyring, Keystore, Level, Revealed, Tier,
};

fn cards() -> Tier {
    "restricted/cards".parse().unwrap()
}

fn new_keystore(dir: &tempfile::TempDir) -> Keystore {
    let mut keystore =
        Keystore::create(dir.path().join("k"), &"passphrase".into(), KdfProfile::Test).unwrap();
    keystore.add_tier(&cards()).unwrap();
    keystore
}

fn ctx() -> AccessContext {
    AccessContext::new("index-tests").with_purpose("TEST-12")
}

/// IBANs are indexed without spaces and upper-cased.
fn iban(value: &str) -> String {
    value
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_uppercase()
}

#[derive(Classified, Clone, PartialEq, Eq)]
#[classified(record_id = "id")]
struct Customer {
    id: String,
    #[classify(confidential)]
    name: String,
    #[classify(restricted, compartment = "cards", index_with = "iban", mask = "last4")]
    iban: String,
    #[classify(confidential, index)]
    email: String,
}

#[derive(Classified)]
struct Supplier {
    #[classify(restricted, compartment = "cards", index_with = "iban")]
    iban: String,
}

fn alice() -> Customer {
    Customer {
        id: "cus_1".into(),
        name: "Alice".into(),
        iban: "DE89 3704 0044 0532 0130 00".into(),
        email: "alice@example.com".into(),
    }
}

fn bob() -> Customer {
    Customer {
        id: "cus_2".into(),
        name: "Bob".into(),
        iban: "GB29 NWBK 6016 1331 9268 19".into(),
        email: "bob@example.com".into(),
    }
}

#[test]
fn equal_values_have_equal_indexes_across_records_and_the_query_finds_them() {
    let dir = tempfile::tempdir().unwrap();
    let keystore = new_keystore(&dir);
    let keyring = keystore
        .keyring(&Clearance::up_to(Level::Restricted).with(cards()))
        .unwrap();
    let a = alice().seal(&keyring).unwrap();
    let mut other = alice();
    other.id = "cus_9".into();
    let b = other.seal(&keyring).unwrap();
    let c = bob().seal(&keyring).unwrap();
    assert_eq!(a.iban_index, b.iban_index);
    assert_ne!(a.iban_index, c.iban_index);
    assert_eq!(a.iban_index.version(), 1);
    // The query value is normalised the same way.
    let query = SealedCustomer::index_iban(&keyring, &"de893704 00440532013000".into()).unwrap();
    assert_eq!(query, a.iban_index);
    let email = SealedCustomer::index_email(&keyring, &"alice@example.com".into()).unwrap();
    assert_eq!(email, a.email_index);
    // The runtime function gives the same value for the normalised bytes.
    let runtime = keyring
        .blind_index(
            IndexField::new(&cards(), "Customer", "iban"),
            b"DE89370400440532013000",
        )
        .unwrap();
    assert_eq!(runtime, a.iban_index);
}

#[test]
fn the_same_value_in_another_field_or_type_or_keystore_has_another_index() {
    let dir = tempfile::tempdir().unwrap();
    let keystore = new_keystore(&dir);
    let keyring = keystore
        .keyring(&Clearance::up_to(Level::Restricted).with(cards()))
        .unwrap();
    let customer = alice().seal(&keyring).unwrap();
    let supplier = Supplier { iban: alice().iban }.seal(&keyring).unwrap();
    assert_ne!(customer.iban_index, supplier.iban_index);
    let bytes = b"DE89370400440532013000";
    let restricted = Tier::RESTRICTED;
    let field = |type_id, field_id| IndexField::new(&restricted, type_id, field_id);
    let one = keyring
        .blind_index(field("Customer", "iban"), bytes)
        .unwrap();
    assert_ne!(
        one,
        keyring
            .blind_index(field("Customer", "iban2"), bytes)
            .unwrap()
    );
    assert_ne!(
        one,
        keyring
            .blind_index(IndexField::new(&cards(), "Customer", "iban"), bytes)
            .unwrap()
    );
    // No ambiguity between the id parts.
    assert_ne!(
        keyring.blind_index(field("ab", "c"), bytes).unwrap(),
        keyring.blind_index(field("a", "bc"), bytes).unwrap()
    );
    let dir2 = tempfile::tempdir().unwrap();
    let other = new_keystore(&dir2)
        .keyring(&Clearance::up_to(Level::Restricted).with(cards()))
        .unwrap();
    assert_ne!(
        one,
        other.blind_index(field("Customer", "iban"), bytes).unwrap()
    );
}

#[test]
fn rotating_rewrapping_and_retiring_encryption_keys_leaves_indexes_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let mut keystore = new_keystore(&dir);
    let all = Clearance::up_to(Level::Restricted).with(cards());
    let keyring = keystore.keyring(&all).unwrap();
    let mut sealed = alice().seal(&keyring).unwrap();
    let before = (sealed.iban_index, sealed.email_index);
    keystore.rotate(&cards()).unwrap();
    keystore.rotate(&Tier::CONFIDENTIAL).unwrap();
    let keyring = keystore.keyring(&all).unwrap();
    assert!(!sealed.rewrap(&keyring).unwrap().is_empty());
    keystore.retire(&cards(), 1).unwrap();
    keystore.retire(&Tier::CONFIDENTIAL, 1).unwrap();
    let keyring = keystore.keyring(&all).unwrap();
    assert_eq!((sealed.iban_index, sealed.email_index), before);
    assert_eq!(
        SealedCustomer::index_iban(&keyring, &alice().iban).unwrap(),
        before.0
    );
    // A record sealed after the rotation has the same index too.
    assert_eq!(alice().seal(&keyring).unwrap().iban_index, before.0);
    assert!(sealed.open_all(&keyring, &ctx()).unwrap() == alice());
}

#[test]
fn rotating_the_index_key_keeps_old_values_findable_until_the_reindex_job_ran() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k");
    let mut keystore = new_keystore(&dir);
    let all = Clearance::up_to(Level::Restricted).with(cards());
    let keyring = keystore.keyring(&all).unwrap();
    let mut records = [
        alice().seal(&keyring).unwrap(),
        bob().seal(&keyring).unwrap(),
    ];
    let old = records[0].iban_index;

    assert_eq!(keystore.rotate_index(&cards()).unwrap(), 2);
    let encryption_versions = keystore.key_versions();
    let keyring = keystore.keyring(&all).unwrap();
    assert_eq!(keyring.index_version(&cards()), Some(2));
    // The encryption keys did not change.
    assert_eq!(keystore.key_versions(), encryption_versions);
    assert_eq!(keyring.primary_version(&cards()), Some(1));

    let candidates = SealedCustomer::index_iban_candidates(&keyring, &alice().iban).unwrap();
    assert_eq!(candidates.len(), 2);
    assert_eq!(candidates[0].version(), 2);
    assert!(candidates.contains(&old));
    assert!(!candidates.contains(&records[1].iban_index));
    let new = SealedCustomer::index_iban(&keyring, &alice().iban).unwrap();
    assert_ne!(new, old);

    // The re-index job: stops after the first record, then resumes.
    assert!(records[0].reindex(&keyring, &ctx()).unwrap());
    assert_eq!(records[0].iban_index, new);
    assert!(!records[0].reindex(&keyring, &ctx()).unwrap());
    // Mid-job, both records are found through the candidates.
    let bob_candidates = SealedCustomer::index_iban_candidates(&keyring, &bob().iban).unwrap();
    assert!(bob_candidates.contains(&records[1].iban_index));
    assert!(records[1].reindex(&keyring, &ctx()).unwrap());
    assert_eq!(records[1].iban_index.version(), 2);
    assert_eq!(records[1].email_index.version(), 1, "email is another tier");

    // After the job, the old version is retired and lookups use one value.
    keystore.retire_index(&cards(), 1).unwrap();
    assert!(matches!(
        keystore.retire_index(&cards(), 2),
        Err(Error::KeyState { .. })
    ));
    drop(keystore);
    let keystore = Keystore::open(&path, &"passphrase".into()).unwrap();
    let keyring = keystore.keyring(&all).unwrap();
    assert_eq!(
        SealedCustomer::index_iban_candidates(&keyring, &alice().iban).unwrap(),
        vec![new]
    );
    let infos = keystore.index_key_versions();
    assert!(
        infos
            .iter()
            .any(|i| i.tier == cards() && i.version == 1 && i.retired_at.is_some())
    );
    assert!(
        infos
            .iter()
            .any(|i| i.tier == cards() && i.version == 2 && i.primary)
    );
}

#[test]
fn a_passphrase_change_rewraps_index_keys_and_keeps_index_values() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k");
    let mut keystore = new_keystore(&dir);
    let all = Clearance::up_to(Level::Restricted).with(cards());
    let before = alice().seal(&keystore.keyring(&all).unwrap()).unwrap();
    keystore
        .change_passphrase(&"another passphrase".into(), KdfProfile::Test)
        .unwrap();
    drop(keystore);
    let keystore = Keystore::open(&path, &"another passphrase".into()).unwrap();
    let keyring = keystore.keyring(&all).unwrap();
    assert_eq!(
        SealedCustomer::index_iban(&keyring, &alice().iban).unwrap(),
        before.iban_index
    );
    assert_eq!(
        SealedCustomer::index_email(&keyring, &alice().email).unwrap(),
        before.email_index
    );
}

#[test]
fn a_search_only_keyring_finds_but_cannot_open() {
    let dir = tempfile::tempdir().unwrap();
    let keystore = new_keystore(&dir);
    let all = Clearance::up_to(Level::Restricted).with(cards());
    let writer = keystore.keyring(&all).unwrap();
    let sealed = alice().seal(&writer).unwrap();

    let search = keystore
        .search_keyring(&Clearance::none().with(cards()))
        .unwrap();
    assert!(search.can_search(&cards()));
    assert!(!search.has_tier(&cards()));
    assert!(!search.can_search(&Tier::CONFIDENTIAL));
    assert_eq!(
        SealedCustomer::index_iban(&search, &alice().iban).unwrap(),
        sealed.iban_index
    );
    assert!(matches!(
        SealedCustomer::index_email(&search, &alice().email),
        Err(Error::NoIndexKey { .. })
    ));
    assert!(matches!(
        sealed.open_all(&search, &ctx()),
        Err(Error::NotGranted { .. })
    ));
    let view = sealed.open(&search, &ctx()).unwrap();
    assert!(matches!(view.iban, Revealed::Withheld(_)));
    // It cannot seal an indexed record either (no encryption key).
    assert!(alice().seal(&search).is_err());
    let debug = format!("{search:?}");
    assert!(debug.contains("restricted/cards (index)"), "{debug}");
}

#[test]
fn a_search_only_grant_carries_index_keys_and_no_decryption_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut keystore = new_keystore(&dir);
    let writer = keystore
        .keyring(&Clearance::up_to(Level::Restricted).with(cards()))
        .unwrap();
    let sealed = alice().seal(&writer).unwrap();
    let expires = SystemTime::now() + Duration::from_secs(3600);
    let (grant, secret) = keystore
        .issue_grant_with_search(
            &Clearance::none().with(Tier::CONFIDENTIAL),
            &Clearance::none().with(cards()),
            "support-desk",
            expires,
        )
        .unwrap();
    let info = GrantInfo::read(&grant).unwrap();
    assert_eq!(info.tiers.len(), 1);
    assert_eq!(info.index.len(), 2, "{info:?}");
    let keyring = Keyring::from_grant(&grant, &secret).unwrap();
    assert!(keyring.can_search(&cards()) && !keyring.has_tier(&cards()));
    assert!(keyring.has_tier(&Tier::CONFIDENTIAL) && keyring.can_search(&Tier::CONFIDENTIAL));
    assert_eq!(
        SealedCustomer::index_iban(&keyring, &alice().iban).unwrap(),
        sealed.iban_index
    );
    let view = sealed.open(&keyring, &ctx()).unwrap();
    assert!(matches!(view.iban, Revealed::Withheld(_)));
    assert!(matches!(view.name, Revealed::Value(ref n) if n == "Alice"));

    // The grant register records the decryption tiers only.
    let issued = keystore.issued_grants().last().unwrap();
    assert!(!issued.carries(&cards(), 1));

    // An altered index header is refused.
    let mut altered = grant.clone();
    let at = altered.windows(5).position(|w| w == b"cards").unwrap();
    altered[at] ^= 1;
    assert!(Keyring::from_grant(&altered, &secret).is_err());
}

#[test]
fn a_plain_grant_still_searches_its_own_tiers() {
    let dir = tempfile::tempdir().unwrap();
    let mut keystore = new_keystore(&dir);
    let expires = SystemTime::now() + Duration::from_secs(3600);
    let (grant, secret) = keystore
        .issue_grant(&Clearance::none().with(cards()), "payments", expires)
        .unwrap();
    let keyring = Keyring::from_grant(&grant, &secret).unwrap();
    assert!(keyring.can_search(&cards()) && keyring.has_tier(&cards()));
}

#[test]
fn keystores_without_index_keys_say_how_to_add_them() {
    let dir = tempfile::tempdir().unwrap();
    let keystore = new_keystore(&dir);
    let keyring = keystore
        .keyring(&Clearance::up_to(Level::Restricted))
        .unwrap();
    // `restricted/cards` is not in the clearance: no index key.
    let error = SealedCustomer::index_iban(&keyring, &alice().iban).unwrap_err();
    assert!(matches!(error, Error::NoIndexKey { .. }));
    assert!(error.to_string().contains("rotate-index"), "{error}");
    assert!(matches!(
        keystore.search_keyring(&Clearance::none().with("restricted/other".parse().unwrap())),
        Err(Error::UnknownTier { .. })
    ));
}

#[test]
fn index_values_and_keyrings_never_show_the_value_or_key() {
    let dir = tempfile::tempdir().unwrap();
    let keystore = new_keystore(&dir);
    let keyring = keystore
        .keyring(&Clearance::up_to(Level::Restricted).with(cards()))
        .unwrap();
    let sealed = alice().seal(&keyring).unwrap();
    let debug = format!("{sealed:?} {keyring:?} {:?}", sealed.iban_index);
    for secret in ["DE89", "3704", "alice@", "Alice"] {
        assert!(!debug.contains(secret), "{debug}");
    }
    assert!(
        !debug.contains(&sealed.iban_index.to_text()[9..]),
        "Debug shows index bytes"
    );
    let json = serde_json::to_string(&sealed).unwrap();
    assert!(json.contains(&sealed.iban_index.to_text()));
    let back: SealedCustomer = serde_json::from_str(&json).unwrap();
    assert_eq!(back.iban_index, sealed.iban_index);
    let error = "tsidx:v1:not-an-index".parse::<BlindIndex>().unwrap_err();
    assert!(!error.to_string().contains("not-an-index"), "{error}");
}

mod properties {
    use proptest::prelude::*;
    use tierseal::BlindIndex;

    proptest! {
        /// Any text parses or is refused, never panics; what parses prints
        /// back as the same text (one text form per index).
        #[test]
        fn parsing_any_text_never_panics_and_is_canonical(text in "\\PC{0,60}") {
            if let Ok(index) = text.parse::<BlindIndex>() {
                prop_assert_eq!(index.to_text(), text);
            }
        }

        /// Near-misses of the text form are parsed or refused the same way.
        #[test]
        fn near_misses_never_panic(text in "tsidx:v[0-9+-]{0,12}:[A-Za-z0-9_=+/-]{0,30}") {
            if let Ok(index) = text.parse::<BlindIndex>() {
                prop_assert_eq!(index.to_text(), text);
            }
        }

        /// Every version and every 16 bytes round-trip through the text form.
        #[test]
        fn every_index_round_trips(version in 1u32.., bytes in proptest::array::uniform16(any::<u8>())) {
            use base64::Engine as _;
            let text = format!(
                "tsidx:v{version}:{}",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
            );
            let index: BlindIndex = text.parse().unwrap();
            prop_assert_eq!(index.version(), version);
            prop_assert_eq!(index.as_bytes(), &bytes);
            prop_assert_eq!(index.to_text(), text);
        }
    }
}

#[path = "support/memory_backend.rs"]
mod memory_backend;
use memory_backend::Shared;

/// A tier added with a chosen suite (as `tierseal keys add-tier` does)
/// gets its index key at version 1, as `add_tier` does.
#[test]
fn a_tier_added_with_a_suite_has_an_index_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut keystore = new_keystore(&dir);
    let iban_tier: Tier = "restricted/iban".parse().unwrap();
    keystore
        .add_tier_with_suite(&iban_tier, tierseal::HpkeSuite::XWing)
        .unwrap();
    let versions: Vec<_> = keystore
        .index_key_versions()
        .into_iter()
        .filter(|info| info.tier == iban_tier)
        .map(|info| (info.version, info.primary))
        .collect();
    assert_eq!(versions, [(1, true)]);
    let keyring = keystore
        .keyring(&Clearance::up_to(Level::Restricted).with(iban_tier.clone()))
        .unwrap();
    assert_eq!(keyring.index_version(&iban_tier), Some(1));
    assert!(matches!(
        keystore.add_tier_with_suite(&iban_tier, tierseal::HpkeSuite::X25519),
        Err(Error::TierExists { .. })
    ));
}

/// Changes made by a handle whose view is stale are checked and computed
/// again on the keystore another handle saved.
#[test]
fn stale_handles_re_apply_add_tier_and_rotate_index_on_the_fresh_keystore() {
    let shared = Shared::new();
    let passphrase = "passphrase".into();
    let mut created = Keystore::create_in(shared.handle(), &passphrase, KdfProfile::Test).unwrap();
    created.add_tier(&cards()).unwrap();
    drop(created);
    let mut first = Keystore::open_in(shared.handle(), &passphrase).unwrap();
    let mut stale = Keystore::open_in(shared.handle(), &passphrase).unwrap();

    let iban_tier: Tier = "restricted/iban".parse().unwrap();
    first
        .add_tier_with_suite(&iban_tier, tierseal::HpkeSuite::XWing)
        .unwrap();
    assert!(matches!(
        stale.add_tier_with_suite(&iban_tier, tierseal::HpkeSuite::X25519),
        Err(Error::TierExists { .. })
    ));
    assert_eq!(stale.hpke_suite(&iban_tier), tierseal::HpkeSuite::XWing);

    let mut stale = Keystore::open_in(shared.handle(), &passphrase).unwrap();
    assert_eq!(first.rotate_index(&cards()).unwrap(), 2);
    // `stale` read version 1 as the newest: its rotation makes version 3.
    assert_eq!(stale.rotate_index(&cards()).unwrap(), 3);
    let versions: Vec<_> = Keystore::open_in(shared.handle(), &passphrase)
        .unwrap()
        .index_key_versions()
        .into_iter()
        .filter(|info| info.tier == cards())
        .map(|info| (info.version, info.primary))
        .collect();
    assert_eq!(versions, [(1, false), (2, false), (3, true)]);
}
