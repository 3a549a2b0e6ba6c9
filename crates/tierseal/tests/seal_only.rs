//! Seal-only keyrings: public-key (HPKE) wrapping per tier, signed public
//! key sets, rotation, rewrap and retire.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "test code: a panic is a test failure"
)]

use std::sync::{Arc, LazyLock, Mutex};

use tierseal::audit::{Action, AuditEvent, AuditSink};
use tierseal::{
    AccessContext, Binding, Classified, Clearance, Error, HpkeSuite, KdfProfile, Keyring, Keystore,
    Level, PublicKeySet, PublisherKey, RecordKeys, RecordOpener, RecordSealer, Rewrapped,
    SealedToken, SealedValue, Tier,
};

static CTX: LazyLock<AccessContext> =
    LazyLock::new(|| AccessContext::new("seal-only-tests").with_purpose("TEST-14"));

const PAN: &str = "4111111111111111";

fn cards() -> Tier {
    "restricted/cards".parse().unwrap()
}

fn payroll() -> Tier {
    "confidential/payroll".parse().unwrap()
}

fn iban() -> Tier {
    "restricted/iban".parse().unwrap()
}

#[derive(Classified, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[classified(record_id = "customer_id")]
struct Customer {
    #[classify(public)]
    customer_id: String,
    #[classify(internal)]
    name: String,
    #[classify(confidential)]
    balance_cents: i64,
    #[classify(restricted, compartment = "cards", mask = "last4")]
    card_number: String,
    #[classify(confidential, compartment = "payroll", id = "salary")]
    monthly_salary: Option<u64>,
    nickname: String,
}

fn customer() -> Customer {
    Customer {
        customer_id: "cus_042".into(),
        name: "Ada Lovelace".into(),
        balance_cents: 125_000,
        card_number: PAN.into(),
        monthly_salary: Some(9_100),
        nickname: "ada".into(),
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    keystore: Keystore,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let mut keystore = Keystore::create(
            dir.path().join("test.keystore"),
            &"correct horse battery staple".into(),
            KdfProfile::Test,
        )
        .unwrap();
        keystore.add_tier(&cards()).unwrap();
        keystore.add_tier(&payroll()).unwrap();
        keystore
            .add_tier_with_suite(&iban(), HpkeSuite::XWing)
            .unwrap();
        Fixture {
            _dir: dir,
            keystore,
        }
    }

    /// A full keyring that opted in to public-key tokens of every tier it
    /// holds, as a reader of seal-only tiers must.
    fn full(&self) -> Keyring {
        let reader = self.reader();
        let clearance = reader.clearance();
        clearance
            .tiers()
            .cloned()
            .fold(reader, Keyring::accept_public_key_tokens)
    }

    /// A full keyring as the keystore hands it out: public-key tokens refused.
    fn reader(&self) -> Keyring {
        self.keystore
            .keyring(
                &Clearance::up_to(Level::Restricted)
                    .with(cards())
                    .with(payroll())
                    .with(iban()),
            )
            .unwrap()
    }

    /// Publishes, then loads the file as a seal-only service would.
    fn publish(&mut self) -> (Vec<u8>, PublisherKey, PublicKeySet) {
        let (file, _) = self.keystore.publish_public_keys().unwrap();
        let pinned = self.keystore.publisher_key().unwrap().unwrap();
        let set = PublicKeySet::verify(&file, &pinned).unwrap();
        (file, pinned, set)
    }

    fn seal_only(&mut self) -> Keyring {
        let (_, _, set) = self.publish();
        Keyring::seal_only(&set)
    }
}

fn binding() -> Binding<'static> {
    Binding::new("Customer", "card_number").with_record_id("cus_042")
}

/// The kind byte of a token's text form.
fn kind_of(text: &str) -> (u8, u8) {
    let bytes = token_bytes(text);
    (bytes[0], bytes[1])
}

fn token_bytes(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.strip_prefix("tierseal:").unwrap())
        .unwrap()
}

fn token_text(bytes: &[u8]) -> String {
    use base64::Engine as _;
    format!(
        "tierseal:{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// Anyone holding a tier's published public key can seal a value of their
/// choosing to it: a full keyring refuses such tokens unless it opted the
/// tier in.
#[test]
fn public_key_tokens_are_refused_unless_the_tier_opted_in() {
    let mut fixture = Fixture::new();
    // The forger needs only the published file (no custodian secret).
    let (file, pinned, _) = fixture.publish();
    let forger = Keyring::seal_only(&PublicKeySet::verify(&file, &pinned).unwrap());
    let forged = SealedValue::seal(&forger, &cards(), binding(), "5500000000000004").unwrap();
    assert_eq!(kind_of(&forged.to_text()), (4, 5));

    let reader = fixture.reader();
    assert!(!reader.accepts_public_key_tokens(&cards()));
    let error = forged.open::<String>(&reader, binding(), &CTX).unwrap_err();
    assert!(
        matches!(&error, Error::PublicKeyTokenRefused { tier } if *tier == cards()),
        "{error:?}"
    );
    assert_eq!(error.kind(), "public-key-token-refused");
    let message = error.to_string();
    assert!(message.contains("accept_public_key_tokens"), "{message}");
    assert!(!message.contains("5500000000000004"), "{message}");

    // Record keys (kind 4): refused by the opener, by open_all, and by the
    // partial view (an error, never a silently withheld field).
    let sealed = customer().seal(&forger).unwrap();
    assert!(matches!(
        sealed.open_all(&reader, &CTX),
        Err(Error::PublicKeyTokenRefused { .. })
    ));
    assert!(matches!(
        sealed.open(&reader, &CTX),
        Err(Error::PublicKeyTokenRefused { .. })
    ));
    let mut sealer = RecordSealer::new(&forger, binding());
    let pan = sealer.seal_field(&cards(), "card_number", PAN).unwrap();
    let mut keys = sealer.finish();
    let mut opener = RecordOpener::new(&reader, &keys, binding(), &CTX);
    assert!(matches!(
        opener.open_field::<String>(&cards(), "card_number", &pan),
        Err(Error::PublicKeyTokenRefused { .. })
    ));
    drop(opener);
    let mut moved = forged.clone();
    assert!(matches!(
        moved.rewrap(&reader),
        Err(Error::PublicKeyTokenRefused { .. })
    ));
    assert!(matches!(
        keys.rewrap(&reader),
        Err(Error::PublicKeyTokenRefused { .. })
    ));

    // Opting one tier in opens that tier's tokens and no other's.
    let opted = fixture.reader().accept_public_key_tokens(cards());
    assert!(opted.accepts_public_key_tokens(&cards()));
    assert_eq!(
        forged.open::<String>(&opted, binding(), &CTX).unwrap(),
        "5500000000000004"
    );
    let at_payroll = SealedValue::seal(&forger, &payroll(), binding(), PAN).unwrap();
    assert!(matches!(
        at_payroll.open::<String>(&opted, binding(), &CTX),
        Err(Error::PublicKeyTokenRefused { .. })
    ));
    // Symmetric tokens are unaffected by the refusal.
    let symmetric = SealedValue::seal(&reader, &cards(), binding(), PAN).unwrap();
    assert_eq!(
        symmetric.open::<String>(&reader, binding(), &CTX).unwrap(),
        PAN
    );
}

#[test]
fn seal_only_output_opens_with_a_full_keyring() {
    let mut fixture = Fixture::new();
    let seal_only = fixture.seal_only();
    assert!(seal_only.is_seal_only());
    let full = fixture.full();

    // A derived record over four tiers, with a mask.
    let sealed = customer().seal(&seal_only).unwrap();
    assert_eq!(sealed.open_all(&full, &CTX).unwrap(), customer());

    // Standalone values at a classical and a post-quantum tier.
    for tier in [cards(), iban(), Tier::INTERNAL] {
        let value = SealedValue::seal(&seal_only, &tier, binding(), PAN).unwrap();
        assert_eq!(kind_of(&value.to_text()), (4, 5), "version 4, kind 5");
        assert_eq!(value.key_version(), 1);
        assert_eq!(
            value.open::<String>(&full, binding(), &CTX).unwrap(),
            PAN,
            "{tier}"
        );
        // Any-token parsing sees it as a sealed value.
        let any: SealedToken = value.to_text().parse().unwrap();
        assert_eq!(any.key_version(), Some((tier.as_str(), 1)));
    }

    // A hand-sealed record: public-key record keys, slot fields (version 4).
    let mut sealer = RecordSealer::new(&seal_only, binding());
    let pan = sealer.seal_field(&cards(), "card_number", PAN).unwrap();
    let pay = sealer.seal_field(&payroll(), "salary", &9_100_u64).unwrap();
    let keys = sealer.finish();
    for key in keys.keys() {
        assert_eq!(kind_of(&key.to_text()), (4, 4), "version 4, kind 4");
    }
    assert_eq!(kind_of(&pan.to_text()), (4, 3), "slot fields");
    let mut opener = RecordOpener::new(&full, &keys, binding(), &CTX);
    assert_eq!(
        opener
            .open_field::<String>(&cards(), "card_number", &pan)
            .unwrap(),
        PAN
    );
    assert_eq!(
        opener
            .open_field::<u64>(&payroll(), "salary", &pay)
            .unwrap(),
        9_100
    );
    opener.finish().unwrap();
}

#[test]
fn seal_only_keyring_cannot_open_even_its_own_output() {
    let mut fixture = Fixture::new();
    let seal_only = fixture.seal_only();

    let value = SealedValue::seal(&seal_only, &cards(), binding(), PAN).unwrap();
    let error = value
        .open::<String>(&seal_only, binding(), &CTX)
        .unwrap_err();
    assert!(
        matches!(&error, Error::SealOnly { tier } if *tier == cards()),
        "{error:?}"
    );
    assert_eq!(error.kind(), "seal-only");

    let sealed = customer().seal(&seal_only).unwrap();
    assert!(matches!(
        sealed.open_all(&seal_only, &CTX),
        Err(Error::SealOnly { .. })
    ));
    // The partial view withholds every sealed field.
    let view = sealed.open(&seal_only, &CTX).unwrap();
    assert!(!format!("{view:?}").contains(PAN));

    let mut sealer = RecordSealer::new(&seal_only, binding());
    let pan = sealer.seal_field(&cards(), "card_number", PAN).unwrap();
    let mut keys = sealer.finish();
    let mut opener = RecordOpener::new(&seal_only, &keys, binding(), &CTX);
    assert!(matches!(
        opener.open_field::<String>(&cards(), "card_number", &pan),
        Err(Error::SealOnly { .. })
    ));
    drop(opener);
    assert!(matches!(
        keys.rewrap(&seal_only),
        Err(Error::SealOnly { .. })
    ));
    // Symmetric tokens are not opened either.
    let symmetric = SealedValue::seal(&fixture.full(), &cards(), binding(), PAN).unwrap();
    assert!(matches!(
        symmetric.open::<String>(&seal_only, binding(), &CTX),
        Err(Error::SealOnly { .. })
    ));
    // A tier the set does not have is simply not granted.
    let other = SealedValue::seal(&fixture.full(), &Tier::RESTRICTED, binding(), PAN);
    assert!(other.is_ok());
    let empty = Keyring::empty();
    assert!(matches!(
        SealedValue::seal(&empty, &cards(), binding(), PAN),
        Err(Error::NotGranted { .. })
    ));
}

#[test]
fn a_swapped_or_altered_public_key_set_is_refused() {
    let mut fixture = Fixture::new();
    let (file, pinned, _) = fixture.publish();

    // Published by another keystore: signed by a key that is not pinned.
    let mut impostor = Fixture::new();
    let (forged, impostor_key, _) = impostor.publish();
    assert_ne!(pinned, impostor_key);
    let error = PublicKeySet::verify(&forged, &pinned).unwrap_err();
    assert!(
        matches!(error, Error::PublicKeySetInvalid { .. }),
        "{error}"
    );

    // The impostor's set relabelled with the pinned signer.
    let text = String::from_utf8(forged.clone()).unwrap();
    let relabelled = text.replace(&impostor_key.to_string(), &pinned.to_string());
    assert!(matches!(
        PublicKeySet::verify(relabelled.as_bytes(), &pinned),
        Err(Error::PublicKeySetInvalid { .. })
    ));

    // Our set with one public key swapped for the impostor's.
    let ours: serde_json::Value = serde_json::from_slice(&file).unwrap();
    let theirs: serde_json::Value = serde_json::from_slice(&forged).unwrap();
    let mut swapped = ours.clone();
    swapped["set"]["tiers"][0]["public_key"] = theirs["set"]["tiers"][0]["public_key"].clone();
    assert_ne!(swapped, ours);
    assert!(matches!(
        PublicKeySet::verify(&serde_json::to_vec(&swapped).unwrap(), &pinned),
        Err(Error::PublicKeySetInvalid { .. })
    ));

    // An altered serial, version or suite.
    for (path, value) in [
        ("serial", serde_json::json!(999)),
        ("version", serde_json::json!(7)),
        ("suite", serde_json::json!("xwing")),
    ] {
        let mut altered = ours.clone();
        if path == "serial" {
            altered["set"]["serial"] = value;
        } else {
            altered["set"]["tiers"][0][path] = value;
        }
        assert!(
            matches!(
                PublicKeySet::verify(&serde_json::to_vec(&altered).unwrap(), &pinned),
                Err(Error::PublicKeySetInvalid { .. })
            ),
            "{path}"
        );
    }
    // Garbage and truncation.
    assert!(PublicKeySet::verify(b"{}", &pinned).is_err());
    assert!(PublicKeySet::verify(&file[..file.len() / 2], &pinned).is_err());
    // The untouched file verifies.
    assert!(PublicKeySet::verify(&file, &pinned).is_ok());
}

#[test]
fn public_key_tokens_bind_the_same_context_as_symmetric_ones() {
    let mut fixture = Fixture::new();
    let seal_only = fixture.seal_only();
    let full = fixture.full();
    let integrity = |r: Result<String, Error>| matches!(r, Err(Error::Integrity { .. }));

    // Another field, type or record.
    let value = SealedValue::seal(&seal_only, &cards(), binding(), PAN).unwrap();
    for elsewhere in [
        binding().for_field("notes"),
        Binding::new("Account", "card_number").with_record_id("cus_042"),
        Binding::new("Customer", "card_number").with_record_id("cus_043"),
    ] {
        assert!(integrity(value.open(&full, elsewhere, &CTX)));
    }

    // The wrapped key relabelled to another tier (header rewritten).
    let bytes = token_bytes(&value.to_text());
    let tier_len = usize::from(bytes[2]);
    let body = &bytes[3 + tier_len..];
    for other in [Tier::RESTRICTED, iban()] {
        let mut relabelled = vec![3, 5, u8::try_from(other.as_str().len()).unwrap()];
        relabelled.extend_from_slice(other.as_str().as_bytes());
        relabelled.extend_from_slice(body);
        let moved: SealedValue = token_text(&relabelled).parse().unwrap();
        assert!(integrity(moved.open(&full, binding(), &CTX)), "{other}");
    }

    // Another key version (after a rotation, so that v2 exists).
    fixture.keystore.rotate(&cards()).unwrap();
    let full = fixture.full();
    let mut versioned = bytes.clone();
    let at = 3 + tier_len + 1;
    versioned[at..at + 4].copy_from_slice(&2u32.to_be_bytes());
    let versioned: SealedValue = token_text(&versioned).parse().unwrap();
    assert!(integrity(versioned.open(&full, binding(), &CTX)));

    // A flipped bit in the encapsulated key, the wrapped key, the field.
    for offset in [at + 4, bytes.len() - 20 - 48, bytes.len() - 1] {
        let mut flipped = bytes.clone();
        flipped[offset] ^= 1;
        let flipped: SealedValue = token_text(&flipped).parse().unwrap();
        assert!(integrity(flipped.open(&full, binding(), &CTX)), "{offset}");
    }

    // A record key moved to another record: its fields no longer open.
    let mut a = RecordSealer::new(&seal_only, binding());
    let field_a = a.seal_field(&cards(), "card_number", PAN).unwrap();
    let keys_a = a.finish();
    let other = Binding::new("Customer", "").with_record_id("cus_043");
    let mut b = RecordSealer::new(&seal_only, other);
    let _ = b
        .seal_field(&cards(), "card_number", "5500000000000004")
        .unwrap();
    let keys_b = b.finish();
    let mut opener = RecordOpener::new(&full, &keys_b, other, &CTX);
    assert!(integrity(opener.open_field(
        &cards(),
        "card_number",
        &field_a
    )));
    drop(opener);
    // The same field under its own record key, but read as another record.
    let mut opener = RecordOpener::new(&full, &keys_a, other, &CTX);
    assert!(integrity(opener.open_field(
        &cards(),
        "card_number",
        &field_a
    )));
    drop(opener);
    // A public-key record key relabelled as a symmetric one is refused.
    let mut key = token_bytes(&keys_a.keys()[0].to_text());
    key[1] = 2;
    assert!(token_text(&key).parse::<SealedToken>().is_err());
    key[0] = 2;
    key[1] = 4;
    assert!(token_text(&key).parse::<SealedToken>().is_err());
}

#[test]
fn rotate_refresh_rewrap_retire() {
    let mut fixture = Fixture::new();
    let (_, pinned, set_v1) = fixture.publish();
    let mut seal_only = Keyring::seal_only(&set_v1);
    let mut old = SealedValue::seal(&seal_only, &cards(), binding(), PAN).unwrap();
    let untouched = SealedValue::seal(&seal_only, &cards(), binding(), PAN).unwrap();
    let old_xwing = SealedValue::seal(&seal_only, &iban(), binding(), PAN).unwrap();
    let mut sealer = RecordSealer::new(&seal_only, binding());
    let field = sealer.seal_field(&cards(), "card_number", PAN).unwrap();
    let mut keys: RecordKeys = sealer.finish();
    assert_eq!(old.key_version(), 1);

    fixture.keystore.rotate(&cards()).unwrap();
    fixture.keystore.rotate(&iban()).unwrap();
    let (file, _, set_v2) = fixture.publish();
    assert!(set_v2.serial() > set_v1.serial());
    assert_eq!(set_v2.key(&cards()).unwrap().version(), 2);
    assert_eq!(set_v2.key(&iban()).unwrap().suite(), HpkeSuite::XWing);

    // The refreshed keyring seals to v2; the old set cannot be replayed.
    let reloaded = PublicKeySet::verify(&file, &pinned).unwrap();
    seal_only.refresh_public_keys(&reloaded).unwrap();
    assert!(matches!(
        seal_only.refresh_public_keys(&set_v1),
        Err(Error::PublicKeySetRollback { .. })
    ));
    assert!(matches!(
        set_v1.clone().require_serial_at_least(set_v2.serial()),
        Err(Error::PublicKeySetRollback { .. })
    ));
    let new = SealedValue::seal(&seal_only, &cards(), binding(), PAN).unwrap();
    assert_eq!(new.key_version(), 2);

    let full = fixture.full();
    for value in [&old, &new, &untouched, &old_xwing] {
        assert_eq!(value.open::<String>(&full, binding(), &CTX).unwrap(), PAN);
    }

    // Rewrap keeps a public-key token a public-key token of its suite.
    let before = old.as_bytes().to_vec();
    assert_eq!(
        old.rewrap(&full).unwrap(),
        Rewrapped::Moved { from: 1, to: 2 }
    );
    assert_eq!(old.rewrap(&full).unwrap(), Rewrapped::AlreadyCurrent);
    assert_eq!(old.as_bytes().len(), before.len());
    assert_eq!(&old.as_bytes()[..2], &[4, 5]);
    assert_eq!(old.key_version(), 2);
    assert_eq!(
        old.as_bytes()[old.as_bytes().len() - 30..],
        before[before.len() - 30..],
        "the field is untouched"
    );
    assert_eq!(
        keys.rewrap(&full).unwrap(),
        vec![Rewrapped::Moved { from: 1, to: 2 }]
    );
    let mut xwing = old_xwing.clone();
    assert_eq!(
        xwing.rewrap(&full).unwrap(),
        Rewrapped::Moved { from: 1, to: 2 }
    );

    // Retire v1: the private key derived from it is gone with it.
    fixture.keystore.retire_despite_grants(&cards(), 1).unwrap();
    fixture.keystore.retire_despite_grants(&iban(), 1).unwrap();
    let full = fixture.full();
    assert!(matches!(
        untouched.open::<String>(&full, binding(), &CTX),
        Err(Error::KeyRetired { version: 1, .. })
    ));
    assert!(matches!(
        old_xwing.open::<String>(&full, binding(), &CTX),
        Err(Error::KeyRetired { version: 1, .. })
    ));
    for value in [&old, &new, &xwing] {
        assert_eq!(value.open::<String>(&full, binding(), &CTX).unwrap(), PAN);
    }
    let mut opener = RecordOpener::new(&full, &keys, binding(), &CTX);
    assert_eq!(
        opener
            .open_field::<String>(&cards(), "card_number", &field)
            .unwrap(),
        PAN
    );
    opener.finish().unwrap();
}

#[test]
fn xwing_round_trip_and_sizes() {
    let mut fixture = Fixture::new();
    assert_eq!(fixture.keystore.hpke_suite(&iban()), HpkeSuite::XWing);
    assert_eq!(fixture.keystore.hpke_suite(&cards()), HpkeSuite::X25519);
    let seal_only = fixture.seal_only();
    let full = fixture.full();
    let pq = SealedValue::seal(&seal_only, &iban(), binding(), PAN).unwrap();
    let classical = SealedValue::seal(&seal_only, &cards(), binding(), PAN).unwrap();
    // Same tier-name length, so the difference is the encapsulation.
    assert_eq!(iban().as_str().len() + 1, cards().as_str().len());
    assert_eq!(
        pq.as_bytes().len() + 1 - classical.as_bytes().len(),
        HpkeSuite::XWing.encapsulated_len() - HpkeSuite::X25519.encapsulated_len()
    );
    assert_eq!(pq.as_bytes()[3 + iban().as_str().len()], 2, "suite byte");
    assert_eq!(pq.open::<String>(&full, binding(), &CTX).unwrap(), PAN);
    let set = fixture.keystore.publish_public_keys().unwrap().1;
    assert_eq!(set.key(&iban()).unwrap().public_key().len(), 1216);
}

#[test]
fn the_suite_survives_reopening_and_passphrase_change() {
    let fixture = Fixture::new();
    let path = fixture.keystore.path().to_owned();
    let mut fixture = fixture;
    let (_, pinned, _) = fixture.publish();
    fixture
        .keystore
        .change_passphrase(&"new passphrase".into(), KdfProfile::Test)
        .unwrap();
    drop(fixture.keystore);
    let mut reopened = Keystore::open(&path, &"new passphrase".into()).unwrap();
    assert_eq!(reopened.hpke_suite(&iban()), HpkeSuite::XWing);
    assert_eq!(reopened.publisher_key().unwrap(), Some(pinned));
    let (file, set) = reopened.publish_public_keys().unwrap();
    assert!(PublicKeySet::verify(&file, &pinned).is_ok());
    assert_eq!(set.serial(), 2);
}

#[derive(Default)]
struct Memory(Mutex<Vec<AuditEvent>>);

impl AuditSink for Memory {
    fn record(&self, event: AuditEvent) -> Result<(), Error> {
        self.0.lock().unwrap().push(event);
        Ok(())
    }
}

#[test]
fn seal_only_seals_of_restricted_fields_are_audited() {
    let mut fixture = Fixture::new();
    let sink = Arc::new(Memory::default());
    let seal_only = fixture.seal_only().with_audit(sink.clone());
    let _ = customer().seal(&seal_only).unwrap();
    let events = sink.0.lock().unwrap();
    let seal = events
        .iter()
        .find(|e| e.action == Action::Seal)
        .expect("a seal event");
    assert_eq!(seal.writer, "seal-only");
    let field = seal
        .fields
        .iter()
        .find(|f| f.tier == cards())
        .expect("the card field");
    assert_eq!(field.key_version, Some(1));
}

#[test]
fn debug_and_errors_show_nothing_secret() {
    let mut fixture = Fixture::new();
    let (file, pinned, set) = fixture.publish();
    let seal_only = Keyring::seal_only(&set);
    let value = SealedValue::seal(&seal_only, &cards(), binding(), PAN).unwrap();
    let signature = serde_json::from_slice::<serde_json::Value>(&file).unwrap()["signature"]
        .as_str()
        .unwrap()
        .to_owned();
    let shown = [
        format!("{seal_only:?}"),
        format!("{set:?}"),
        format!("{pinned:?}"),
        format!("{value:?}"),
        format!(
            "{}",
            value
                .open::<String>(&seal_only, binding(), &CTX)
                .unwrap_err()
        ),
        format!("{}", PublicKeySet::verify(b"{}", &pinned).unwrap_err()),
    ];
    let full = format!("{:?}", fixture.full());
    for text in &shown {
        assert!(!text.contains(PAN), "{text}");
        assert!(!text.contains(&signature), "{text}");
        assert!(!text.contains(&value.to_text()[9..40]), "{text}");
    }
    assert!(shown[0].contains("seal-only v1 (x25519)"), "{}", shown[0]);
    assert!(shown[0].contains("restricted/iban"), "{}", shown[0]);
    assert!(!full.contains("seal-only"));
}

#[test]
fn a_field_sealed_by_a_full_keyring_mixes_with_seal_only_records() {
    // The two writers' tokens are read by the same reader.
    let mut fixture = Fixture::new();
    let seal_only = fixture.seal_only();
    let full = fixture.full();
    let a = customer().seal(&seal_only).unwrap();
    let b = customer().seal(&full).unwrap();
    assert_eq!(
        a.open_all(&full, &CTX).unwrap(),
        b.open_all(&full, &CTX).unwrap()
    );
}

#[test]
fn keyrings_and_public_key_sets_can_be_shared_between_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Keyring>();
    shared::<PublicKeySet>();
    // A full keyring caches derived private keys: opening from several
    // threads at once gives each the same answer.
    let mut fixture = Fixture::new();
    let seal_only = fixture.seal_only();
    let full = fixture.full();
    let values: Vec<SealedValue> = [cards(), iban()]
        .iter()
        .map(|tier| SealedValue::seal(&seal_only, tier, binding(), PAN).unwrap())
        .collect();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for value in &values {
                    assert_eq!(value.open::<String>(&full, binding(), &CTX).unwrap(), PAN);
                }
            });
        }
    });
}

#[path = "support/memory_backend.rs"]
mod memory_backend;
use memory_backend::Shared;

/// A publish re-applied after another custodian's takes the serial after
/// theirs and keeps the publisher key they drew (the one services pinned).
#[test]
fn a_publish_re_applied_after_another_writers_keeps_their_publisher_key() {
    let shared = Shared::new();
    let passphrase = "correct horse battery staple".into();
    drop(Keystore::create_in(shared.handle(), &passphrase, KdfProfile::Test).unwrap());
    let mut first = Keystore::open_in(shared.handle(), &passphrase).unwrap();
    let mut stale = Keystore::open_in(shared.handle(), &passphrase).unwrap();

    let (first_file, first_set) = first.publish_public_keys().unwrap();
    assert_eq!(first_set.serial(), 1);
    let pinned = first.publisher_key().unwrap().unwrap();

    // `stale` read the keystore before that publish: no key, serial 0.
    let (file, set) = stale.publish_public_keys().unwrap();
    assert_eq!(set.serial(), 2);
    assert_eq!(set.signer(), &pinned);
    assert_eq!(stale.publisher_key().unwrap(), Some(pinned));
    // Both files verify under the key that was pinned first.
    PublicKeySet::verify(&first_file, &pinned).unwrap();
    assert_eq!(PublicKeySet::verify(&file, &pinned).unwrap().serial(), 2);

    let reopened = Keystore::open_in(shared.handle(), &passphrase).unwrap();
    assert_eq!(reopened.publisher_key().unwrap(), Some(pinned));
}

/// A customer whose IBAN (cards tier) carries a blind index.
#[derive(Classified, Clone, PartialEq)]
#[classified(record_id = "customer_id")]
struct Applicant {
    #[classify(public)]
    customer_id: String,
    #[classify(internal)]
    name: String,
    #[classify(restricted, compartment = "cards", index)]
    iban: String,
}

const IBAN: &str = "DE89370400440532013000";

fn applicant() -> Applicant {
    Applicant {
        customer_id: "cus_007".into(),
        name: "Grace Hopper".into(),
        iban: IBAN.into(),
    }
}

impl Fixture {
    /// A search-only grant for `tiers`, loaded as a service loads it.
    fn search_grant(&mut self, tiers: &[Tier]) -> Keyring {
        let search: Clearance = tiers.iter().cloned().collect();
        let (grant, secret) = self
            .keystore
            .issue_grant_scoped(
                &Clearance::none(),
                &search,
                "intake-api",
                std::time::SystemTime::now() + std::time::Duration::from_secs(3600),
                &[],
            )
            .unwrap();
        Keyring::from_grant(&grant, &secret).unwrap()
    }
}

#[test]
fn a_seal_only_keyring_refuses_an_indexed_field_naming_it_and_the_fix() {
    let mut fixture = Fixture::new();
    let seal_only = fixture.seal_only();
    let error = applicant().seal(&seal_only).expect_err("no index key");
    assert!(
        matches!(&error, Error::SealOnlyNoIndexKey { tier, field } if *tier == cards() && field == "Applicant.iban"),
        "{error:?}"
    );
    assert_eq!(error.kind(), "seal-only-no-index-key");
    let shown = format!("{error} {error:?}");
    assert!(shown.contains("Applicant.iban"), "{shown}");
    assert!(
        shown.contains("--seal-only --search restricted/cards"),
        "{shown}"
    );
    assert!(!shown.contains(IBAN), "{shown}");
    // A lookup value cannot be computed either, with the same error.
    assert!(matches!(
        SealedApplicant::index_iban(&seal_only, &IBAN.to_owned()),
        Err(Error::SealOnlyNoIndexKey { .. })
    ));
    // An index key of another tier does not help.
    let payroll_only =
        Keyring::seal_only_with_search(&fixture.publish().2, fixture.search_grant(&[payroll()]))
            .unwrap();
    assert!(matches!(
        applicant().seal(&payroll_only),
        Err(Error::SealOnlyNoIndexKey { .. })
    ));
    // A full keyring without the index key keeps the general error.
    assert!(matches!(
        SealedApplicant::index_iban(&Keyring::empty(), &IBAN.to_owned()),
        Err(Error::NoIndexKey { .. })
    ));
}

#[test]
fn a_seal_only_keyring_with_a_search_grant_fills_the_index_and_opens_nothing() {
    let mut fixture = Fixture::new();
    let (_, _, set) = fixture.publish();
    let search = fixture.search_grant(&[cards()]);
    let intake = Keyring::seal_only_with_search(&set, search).unwrap();
    assert!(intake.is_seal_only());
    assert!(intake.can_search(&cards()));
    assert_eq!(intake.writer(), "intake-api");

    let sealed = applicant().seal(&intake).unwrap();
    // The index is the one every other keyring of the tier computes.
    let reader = fixture.full();
    assert_eq!(
        sealed.iban_index,
        SealedApplicant::index_iban(&reader, &IBAN.to_owned()).unwrap()
    );
    let support = fixture
        .keystore
        .search_keyring(&Clearance::none().with(cards()))
        .unwrap();
    assert!(
        SealedApplicant::index_iban_candidates(&support, &IBAN.to_owned())
            .unwrap()
            .contains(&sealed.iban_index)
    );
    // The full reader opens it; the intake service still cannot.
    assert!(reader.accepts_public_key_tokens(&cards()));
    assert!(sealed.open_all(&reader, &CTX).unwrap() == applicant());
    assert!(matches!(
        sealed.open_all(&intake, &CTX),
        Err(Error::SealOnly { .. })
    ));
    let view = sealed.open(&intake, &CTX).unwrap();
    assert!(view.iban.is_withheld() && view.name.is_withheld());
    // Debug shows the index tier, never key bytes.
    let shown = format!("{intake:?}");
    assert!(shown.contains("restricted/cards (index)"), "{shown}");
    assert!(shown.contains("seal-only"), "{shown}");
}

#[test]
fn seal_only_with_search_takes_index_keys_only() {
    let mut fixture = Fixture::new();
    let (_, _, set) = fixture.publish();
    // A keyring that decrypts is refused: seal-only means no decryption key.
    let reader = fixture.reader();
    assert!(matches!(
        Keyring::seal_only_with_search(&set, reader),
        Err(Error::InvalidParameter { .. })
    ));
    let seal_only = fixture.seal_only();
    assert!(matches!(
        Keyring::seal_only_with_search(&set, seal_only),
        Err(Error::InvalidParameter { .. })
    ));
    assert!(matches!(
        Keyring::seal_only_with_search(&set, Keyring::empty()),
        Err(Error::InvalidParameter { .. })
    ));
}

#[test]
fn a_refreshed_public_key_set_keeps_the_index_keys() {
    let mut fixture = Fixture::new();
    let (_, _, set) = fixture.publish();
    let mut intake =
        Keyring::seal_only_with_search(&set, fixture.search_grant(&[cards()])).unwrap();
    fixture.keystore.rotate(&cards()).unwrap();
    let (_, _, newer) = fixture.publish();
    intake.refresh_public_keys(&newer).unwrap();
    let sealed = applicant().seal(&intake).unwrap();
    assert_eq!(
        sealed.iban_index,
        SealedApplicant::index_iban(&fixture.full(), &IBAN.to_owned()).unwrap()
    );
    assert_eq!(sealed.open_all(&fixture.full(), &CTX).unwrap().iban, IBAN);
}
