//! Formats every secret-bearing type and every error, and searches the text
//! for the plaintext and the key bytes.

use std::time::{Duration, SystemTime};

use tierseal::{
    Binding, Error, GrantSecret, Passphrase, RecordOpener, RecordSealer, SealedValue, Tier,
};

use crate::common::{Fixture, PASSPHRASE, cards};

const PAN: &str = "4111111111111111";

fn fixture_clearance() -> tierseal::Clearance {
    tierseal::Clearance::up_to(tierseal::Level::Restricted).with(cards())
}

/// The forms in which a secret could leak into text.
fn forbidden(secret: &[u8]) -> Vec<String> {
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let mut forms = vec![hex.clone(), hex.to_uppercase(), format!("{secret:?}")];
    if let Ok(text) = std::str::from_utf8(secret) {
        forms.push(text.to_owned());
    }
    forms
}

fn assert_clean(text: &str, secrets: &[Vec<u8>]) {
    for secret in secrets {
        for form in forbidden(secret) {
            assert!(!text.contains(&form), "leaked {form:?} in {text:?}");
        }
    }
}

/// The key bytes of a keyring, recovered the only way the public API
/// allows: through a grant and its secret text (the secret's own bytes).
fn grant_secret_bytes(secret: &GrantSecret) -> Vec<u8> {
    use base64::Engine as _;
    let text = secret.expose_text();
    let body = text.strip_prefix("tierseal-grant:").unwrap();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(body)
        .unwrap()
}

#[test]
fn nothing_prints_plaintext_keys_or_passphrases() {
    let mut fixture = Fixture::new();
    let keyring = fixture.everything();
    let binding = Binding::new("Customer", "card_number").with_record_id("cus_1");
    let sealed = SealedValue::seal(&keyring, &cards(), binding, PAN).unwrap();

    let (grant, secret) = fixture
        .keystore
        .issue_grant(
            &fixture_clearance(),
            "svc",
            SystemTime::now() + Duration::from_secs(60),
        )
        .unwrap();
    let secrets = vec![
        PAN.as_bytes().to_vec(),
        PASSPHRASE.as_bytes().to_vec(),
        grant_secret_bytes(&secret),
    ];

    let mut texts = vec![
        format!("{keyring:?}"),
        format!("{sealed:?}"),
        format!("{:?}", fixture.keystore),
        format!("{secret:?}"),
        format!("{secret}"),
        format!("{:?}", Passphrase::from(PASSPHRASE)),
        format!("{:?}", fixture.keystore.key_versions()),
    ];
    let mut sealer = RecordSealer::new(&keyring, binding);
    let field = sealer.seal_field(&cards(), "card_number", PAN).unwrap();
    let keys = sealer.finish();
    texts.push(format!("{field:?}"));
    texts.push(format!("{keys:?}"));

    // Every error the runtime can produce around that data.
    let support = fixture.up_to(tierseal::Level::Internal);
    let mut errors: Vec<Error> = vec![
        sealed
            .open::<String>(&support, binding, &crate::common::CTX)
            .unwrap_err(),
        sealed
            .open::<String>(&keyring, binding.for_field("x"), &crate::common::CTX)
            .unwrap_err(),
        sealed
            .open::<u8>(&keyring, binding, &crate::common::CTX)
            .unwrap_err(),
        RecordOpener::new(&keyring, &keys, binding, &crate::common::CTX)
            .open_field::<String>(&Tier::RESTRICTED, "card_number", &field)
            .unwrap_err(),
        tierseal::Keystore::open(fixture.path(), &PASSPHRASE.into()).unwrap_err(),
        tierseal::Keyring::from_grant(&grant[..grant.len() - 1], &secret).unwrap_err(),
        fixture.keystore.retire(&cards(), 1).unwrap_err(),
    ];
    // Break-glass approvals: the approval itself, and refusals with and
    // without one.
    let approval = fixture
        .keystore
        .approve(
            "alice",
            "runtime-tests",
            &cards(),
            "TEST-1",
            SystemTime::now() + Duration::from_secs(60),
        )
        .unwrap();
    texts.push(format!("{approval:?}"));
    texts.push(format!("{approval}"));
    let gated = fixture
        .everything()
        .require_approval(cards(), fixture.keystore.approver_key().unwrap().unwrap());
    let wrong_purpose = tierseal::AccessContext::new("runtime-tests")
        .with_purpose("TEST-2")
        .with_approval(approval);
    texts.push(format!("{wrong_purpose:?}"));
    errors.push(
        sealed
            .open::<String>(&gated, binding, &crate::common::CTX)
            .unwrap_err(),
    );
    errors.push(
        sealed
            .open::<String>(&gated, binding, &wrong_purpose)
            .unwrap_err(),
    );
    let mut bytes = sealed.as_bytes().to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    errors.push(
        SealedValue::from_bytes(bytes)
            .unwrap()
            .open::<String>(&keyring, binding, &crate::common::CTX)
            .unwrap_err(),
    );
    let path = fixture.path();
    drop(std::mem::replace(
        &mut fixture.keystore,
        tierseal::Keystore::create(
            fixture.dir.path().join("b"),
            &"x".into(),
            tierseal::KdfProfile::Test,
        )
        .unwrap(),
    ));
    errors.push(tierseal::Keystore::open(&path, &"wrong".into()).unwrap_err());

    for error in &errors {
        texts.push(error.to_string());
        texts.push(format!("{error:?}"));
    }
    for text in &texts {
        assert_clean(text, &secrets);
    }
    // The redacted forms still say something useful.
    assert!(format!("{keyring:?}").contains("restricted/cards"));
    assert!(format!("{sealed:?}").contains("key_version"));
}
