//! Break-glass approvals: a keyring that requires one for a tier opens that
//! tier only with a valid, matching, unexpired approval, and records it.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tierseal::audit::{Action, AuditKey, Durability, FieldOutcome, FileSink, Outcome, verify};
use tierseal::{
    AccessContext, Approval, ApproverKey, Binding, Clearance, Error, GrantInfo, Keyring, Keystore,
    Level, RecordOpener, RecordSealer, SealedValue, Tier,
};

use crate::common::{Fixture, cards};

const REQUESTER: &str = "card-ops";
const PURPOSE: &str = "INC-2041 chargeback dispute";

fn in_minutes(minutes: u64) -> SystemTime {
    SystemTime::now() + Duration::from_secs(minutes * 60)
}

/// An approval from `fixture`'s keystore for `REQUESTER` to open `tier`.
fn approval(fixture: &mut Fixture, tier: &Tier) -> Approval {
    fixture
        .keystore
        .approve("alice", REQUESTER, tier, PURPOSE, in_minutes(30))
        .unwrap()
}

fn approver_key(fixture: &Fixture) -> ApproverKey {
    fixture.keystore.approver_key().unwrap().unwrap()
}

/// Every tier, with opens of `restricted/cards` needing an approval.
fn gated(fixture: &Fixture) -> Keyring {
    fixture
        .everything()
        .require_approval(cards(), approver_key(fixture))
}

fn ctx() -> AccessContext {
    AccessContext::new(REQUESTER).with_purpose(PURPOSE)
}

fn sealed_card(keyring: &Keyring) -> SealedValue {
    SealedValue::seal(keyring, &cards(), binding(), "4111111111111111").unwrap()
}

fn binding() -> Binding<'static> {
    Binding::new("Customer", "card_number").with_record_id("cus_042")
}

#[test]
fn a_valid_approval_opens_the_gated_tier() {
    let mut fixture = Fixture::new();
    let approval = approval(&mut fixture, &cards());
    let keyring = gated(&fixture);
    let card = sealed_card(&keyring);
    let ctx = ctx().with_approval(approval.clone());
    assert_eq!(
        card.open::<String>(&keyring, binding(), &ctx).unwrap(),
        "4111111111111111"
    );
    assert_eq!(approval.requester(), REQUESTER);
    assert_eq!(approval.approver(), "alice");
    assert_eq!(approval.tier(), &cards());
    assert_eq!(approval.purpose(), PURPOSE);
    // Text form round trip.
    let text = approval.to_text();
    assert!(text.starts_with(tierseal::APPROVAL_PREFIX));
    assert_eq!(text.parse::<Approval>().unwrap(), approval);
}

#[test]
fn without_an_approval_the_gated_tier_is_refused_naming_the_tier() {
    let fixture = Fixture::new();
    let keyring = gated(&fixture);
    let card = sealed_card(&keyring);
    let err = card
        .open::<String>(&keyring, binding(), &ctx())
        .unwrap_err();
    match &err {
        Error::ApprovalRequired { tier, principal } => {
            assert_eq!(tier, &cards());
            assert_eq!(principal, REQUESTER);
        }
        other => panic!("expected ApprovalRequired, got {other:?}"),
    }
    assert!(err.to_string().contains("restricted/cards"), "{err}");
    assert_eq!(err.kind(), "approval-required");

    // Tiers without a requirement open as before, even in the same record.
    let name = SealedValue::seal(&keyring, &Tier::RESTRICTED, binding(), "Ada").unwrap();
    assert_eq!(
        name.open::<String>(&keyring, binding(), &ctx()).unwrap(),
        "Ada"
    );
}

#[test]
fn the_record_opener_checks_the_approval_before_it_unwraps_the_tier_key() {
    let mut fixture = Fixture::new();
    let approval = approval(&mut fixture, &cards());
    let keyring = gated(&fixture);
    let record = Binding::new("Customer", "").with_record_id("cus_042");
    let mut sealer = RecordSealer::new(&keyring, record);
    let card = sealer
        .seal_field(&cards(), "card_number", "4111111111111111")
        .unwrap();
    let keys = sealer.finish();

    // The data key of the record is deliberately damaged: an open that
    // got as far as unwrapping it would fail with `Integrity`. Without an
    // approval, the refusal comes first.
    let mut damaged = serde_json::to_value(&keys).unwrap();
    let token = damaged[0].as_str().unwrap().to_owned();
    // A character of the wrapped key's tag, near the end but not the last
    // (whose low bits base64 leaves unused).
    let at = token.len() - 5;
    let replacement = if &token[at..=at] == "A" { "B" } else { "A" };
    let flipped = format!("{}{replacement}{}", &token[..at], &token[at + 1..]);
    damaged[0] = serde_json::Value::String(flipped);
    let damaged: tierseal::RecordKeys = serde_json::from_value(damaged).unwrap();
    let ctx_without = ctx();
    let mut opener = RecordOpener::new(&keyring, &damaged, record, &ctx_without);
    assert!(matches!(
        opener.open_field::<String>(&cards(), "card_number", &card),
        Err(Error::ApprovalRequired { .. })
    ));

    let ctx_with = ctx().with_approval(approval);
    // The damage is real: with the approval, the unwrap is reached and fails.
    let mut opener = RecordOpener::new(&keyring, &damaged, record, &ctx_with);
    assert!(matches!(
        opener.open_field::<String>(&cards(), "card_number", &card),
        Err(Error::Integrity { .. })
    ));
    let mut opener = RecordOpener::new(&keyring, &keys, record, &ctx_with);
    assert_eq!(
        opener
            .open_field::<String>(&cards(), "card_number", &card)
            .unwrap(),
        "4111111111111111"
    );
}

/// Waits (at most a few seconds) until the clock passes `unix_seconds`.
fn wait_past(unix_seconds: u64) {
    while SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        < unix_seconds
    {
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn an_expired_approval_is_refused() {
    let mut fixture = Fixture::new();
    let approval = fixture
        .keystore
        .approve(
            "alice",
            REQUESTER,
            &cards(),
            PURPOSE,
            SystemTime::now() + Duration::from_secs(1),
        )
        .unwrap();
    let keyring = gated(&fixture);
    let card = sealed_card(&keyring);
    wait_past(approval.expires_at());
    let ctx = ctx().with_approval(approval.clone());
    let err = card.open::<String>(&keyring, binding(), &ctx).unwrap_err();
    match &err {
        Error::ApprovalExpired { id, expired_at } => {
            assert_eq!(id, &approval.id().to_string());
            assert_eq!(*expired_at, approval.expires_at());
        }
        other => panic!("expected ApprovalExpired, got {other:?}"),
    }
    // The same check, at a chosen time, for a service that checks an
    // approval before it starts work.
    let key = approver_key(&fixture);
    let later = SystemTime::now() + Duration::from_secs(3600);
    assert!(matches!(
        approval.verify_at(&key, REQUESTER, &cards(), Some(PURPOSE), later),
        Err(Error::ApprovalExpired { .. })
    ));
    let earlier = UNIX_EPOCH + Duration::from_secs(approval.issued_at());
    approval
        .verify_at(&key, REQUESTER, &cards(), Some(PURPOSE), earlier)
        .unwrap();
    // Dated beyond the clock skew in the future of the checker: refused.
    let long_before = earlier - Duration::from_secs(tierseal::MAX_CLOCK_SKEW_SECS + 60);
    assert!(matches!(
        approval.verify_at(&key, REQUESTER, &cards(), Some(PURPOSE), long_before),
        Err(Error::ApprovalInvalid { .. })
    ));
}

fn mismatch(err: Error) -> &'static str {
    match err {
        Error::ApprovalMismatch { what, .. } => what,
        other => panic!("expected ApprovalMismatch, got {other:?}"),
    }
}

#[test]
fn an_approval_for_another_requester_tier_or_purpose_is_refused() {
    let mut fixture = Fixture::new();
    let approval = approval(&mut fixture, &cards());
    let keyring = gated(&fixture);
    let card = sealed_card(&keyring);

    let other_principal = AccessContext::new("mallory")
        .with_purpose(PURPOSE)
        .with_approval(approval.clone());
    let err = card
        .open::<String>(&keyring, binding(), &other_principal)
        .unwrap_err();
    assert_eq!(mismatch(err), "requester");

    let other_purpose = AccessContext::new(REQUESTER)
        .with_purpose("INC-9999 something else")
        .with_approval(approval.clone());
    let err = card
        .open::<String>(&keyring, binding(), &other_purpose)
        .unwrap_err();
    assert_eq!(mismatch(err), "purpose");

    let no_purpose = AccessContext::new(REQUESTER).with_approval(approval.clone());
    // Restricted data needs a purpose before the approval is looked at.
    assert!(matches!(
        card.open::<String>(&keyring, binding(), &no_purpose),
        Err(Error::PurposeRequired { .. })
    ));

    // An approval for `restricted` does not open `restricted/cards`.
    let restricted = fixture
        .keystore
        .approve(
            "alice",
            REQUESTER,
            &Tier::RESTRICTED,
            PURPOSE,
            in_minutes(5),
        )
        .unwrap();
    let other_tier = ctx().with_approval(restricted);
    let err = card
        .open::<String>(&keyring, binding(), &other_tier)
        .unwrap_err();
    assert_eq!(mismatch(err), "tier");
}

#[test]
fn an_approval_for_one_tier_does_not_open_another() {
    let mut fixture = Fixture::new();
    let for_cards = approval(&mut fixture, &cards());
    let key = approver_key(&fixture);
    let keyring = fixture
        .everything()
        .require_approval(cards(), key)
        .require_approval(Tier::RESTRICTED, key);
    let card = sealed_card(&keyring);
    let secret = SealedValue::seal(&keyring, &Tier::RESTRICTED, binding(), "pin-offset").unwrap();
    let ctx = ctx().with_approval(for_cards);
    assert_eq!(
        card.open::<String>(&keyring, binding(), &ctx).unwrap(),
        "4111111111111111"
    );
    let err = secret
        .open::<String>(&keyring, binding(), &ctx)
        .unwrap_err();
    assert_eq!(mismatch(err), "tier");

    // With an approval for each tier, both open.
    let for_restricted = approval(&mut fixture, &Tier::RESTRICTED);
    let ctx = ctx.with_approval(for_restricted);
    assert_eq!(
        secret.open::<String>(&keyring, binding(), &ctx).unwrap(),
        "pin-offset"
    );
}

#[test]
fn an_approval_signed_by_another_keystore_is_refused() {
    let fixture = Fixture::new();
    let mut other = Fixture::new();
    let forged = approval(&mut other, &cards());
    let keyring = gated(&fixture);
    let card = sealed_card(&keyring);
    // The same approval object first opens where its key is configured
    // (so its signature is known good under that key)...
    let at_home = ctx().with_approval(forged.clone());
    assert!(
        sealed_card(&gated(&other))
            .open::<String>(&gated(&other), binding(), &at_home)
            .is_ok()
    );
    // ...and is still refused under another key.
    let ctx = at_home;
    match card.open::<String>(&keyring, binding(), &ctx).unwrap_err() {
        Error::ApprovalInvalid { id, reason } => {
            assert_eq!(id, forged.id().to_string());
            assert!(reason.contains("signature"), "{reason}");
        }
        other => panic!("expected ApprovalInvalid, got {other:?}"),
    }
}

#[test]
fn a_tampered_approval_is_refused_whichever_byte_is_flipped() {
    let mut fixture = Fixture::new();
    let approval = approval(&mut fixture, &cards());
    let keyring = gated(&fixture);
    let card = sealed_card(&keyring);
    let bytes = approval.to_bytes();
    for i in 0..bytes.len() {
        for bit in [0x01u8, 0x80] {
            let mut altered = bytes.clone();
            altered[i] ^= bit;
            let Ok(parsed) = Approval::from_bytes(&altered) else {
                continue;
            };
            let ctx = ctx().with_approval(parsed);
            let result = card.open::<String>(&keyring, binding(), &ctx);
            assert!(
                matches!(
                    result,
                    Err(Error::ApprovalInvalid { .. } | Error::ApprovalMismatch { .. })
                ),
                "byte {i} bit {bit:#x}: {result:?}"
            );
        }
    }
    // Truncated or extended: refused when read.
    assert!(Approval::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(Approval::from_bytes(&longer).is_err());
    assert!(matches!(
        "tierseal-approval:!!".parse::<Approval>(),
        Err(Error::ApprovalInvalid { .. })
    ));
}

#[test]
fn approvals_are_refused_when_badly_asked_for() {
    let mut fixture = Fixture::new();
    let keystore = &mut fixture.keystore;
    let expiry = in_minutes(30);
    assert!(matches!(
        keystore.approve(REQUESTER, REQUESTER, &cards(), PURPOSE, expiry),
        Err(Error::InvalidParameter { .. })
    ));
    // Nor a name that reads as the requester's.
    assert!(matches!(
        keystore.approve("Card-Ops ", REQUESTER, &cards(), PURPOSE, expiry),
        Err(Error::InvalidParameter { .. })
    ));
    assert!(matches!(
        keystore.approve("alice", REQUESTER, &cards(), "   ", expiry),
        Err(Error::InvalidParameter { .. })
    ));
    assert!(matches!(
        keystore.approve("alice", REQUESTER, &cards(), PURPOSE, in_minutes(25 * 60)),
        Err(Error::InvalidParameter { .. })
    ));
    assert!(matches!(
        keystore.approve("alice", "custodian", &cards(), PURPOSE, expiry),
        Err(Error::ReservedPrincipal { .. })
    ));
    assert!(matches!(
        keystore.approve(
            "alice",
            REQUESTER,
            &"restricted/nope".parse().unwrap(),
            PURPOSE,
            expiry
        ),
        Err(Error::UnknownTier { .. })
    ));
}

fn root_key(fixture: &Fixture) -> AuditKey {
    fixture.keystore.audit_key().unwrap()
}

#[test]
fn the_audit_event_of_an_open_names_the_approver_and_the_approval_id() {
    let mut fixture = Fixture::new();
    let approval = approval(&mut fixture, &cards());
    let path = fixture.dir.path().join("audit.jsonl");
    let sink = FileSink::open(&path, root_key(&fixture), Durability::Flush).unwrap();
    let keyring = gated(&fixture).with_audit(Arc::new(sink));
    let record = Binding::new("Customer", "").with_record_id("cus_042");
    let mut sealer = RecordSealer::new(&keyring, record);
    let name = sealer
        .seal_field(&Tier::INTERNAL, "name", "Ada Lovelace")
        .unwrap();
    let card = sealer
        .seal_field(&cards(), "card_number", "4111111111111111")
        .unwrap();
    let keys = sealer.finish();

    // Without the approval: the card is withheld, and the event says why.
    let without = ctx();
    let mut opener = RecordOpener::new(&keyring, &keys, record, &without);
    assert!(
        opener
            .open_field::<String>(&cards(), "card_number", &card)
            .is_err()
    );
    opener.finish().unwrap();

    let with = ctx().with_approval(approval.clone());
    let mut opener = RecordOpener::new(&keyring, &keys, record, &with);
    opener
        .open_field::<String>(&Tier::INTERNAL, "name", &name)
        .unwrap();
    opener
        .open_field::<String>(&cards(), "card_number", &card)
        .unwrap();
    opener
        .open_field::<String>(&cards(), "card_number", &card)
        .unwrap();
    opener.finish().unwrap();

    // An approval offered for another purpose: denied, naming the approval.
    let refused = AccessContext::new(REQUESTER)
        .with_purpose("INC-9999")
        .with_approval(approval.clone());
    let mut opener = RecordOpener::new(&keyring, &keys, record, &refused);
    assert!(
        opener
            .open_field::<String>(&cards(), "card_number", &card)
            .is_err()
    );
    opener.finish().unwrap();
    drop(keyring);

    let events = tierseal::audit::read_events(&path).unwrap();
    let opens: Vec<_> = events
        .iter()
        .map(|(_, e)| e)
        .filter(|e| e.action == Action::Open)
        .collect();
    assert_eq!(opens.len(), 3);
    assert_eq!(opens[0].outcome, Outcome::Partial);
    assert_eq!(opens[0].fields[0].outcome, FieldOutcome::Withheld);
    let reason = opens[0].reason.as_deref().unwrap_or_default();
    assert!(
        reason.contains("approval-required") && reason.contains("restricted/cards"),
        "{reason}"
    );
    assert!(opens[0].approvals.is_empty());

    assert_eq!(opens[1].outcome, Outcome::Ok);
    assert_eq!(opens[1].approvals.len(), 1, "one entry per approval used");
    let used = &opens[1].approvals[0];
    assert_eq!(used.id, approval.id().to_string());
    assert_eq!(used.approver, "alice");
    assert_eq!(used.tier, cards());
    assert_eq!(opens[1].principal, REQUESTER);

    assert_eq!(opens[2].outcome, Outcome::Denied);
    let reason = opens[2].reason.as_deref().unwrap_or_default();
    assert!(
        reason.contains("approval-mismatch") && reason.contains(&approval.id().to_string()),
        "{reason}"
    );

    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("4111111111111111"));
    // The signature is not written (the log names the approval by id).
    let signature = &approval.to_bytes()[approval.to_bytes().len() - 64..];
    assert!(!text.contains(&base64_url(signature)));
    // Entries with and without approvals verify as one chain, and entries
    // without approvals are written exactly as before (no new key).
    assert_eq!(verify(&path, &root_key(&fixture)).unwrap().entries, 4);
    let lines: Vec<&str> = text.lines().collect();
    assert!(!lines[0].contains("\"approvals\""), "{}", lines[0]);
    assert!(!lines[1].contains("\"approvals\""), "{}", lines[1]);
    assert!(lines[2].contains("\"approvals\""), "{}", lines[2]);
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[test]
fn a_grant_carries_the_requirement_and_the_approver_key() {
    let mut fixture = Fixture::new();
    let clearance = Clearance::up_to(Level::Internal).with(cards());
    let (grant, secret) = fixture
        .keystore
        .issue_grant_requiring_approval(&clearance, REQUESTER, in_minutes(60), &[cards()])
        .unwrap();
    assert_eq!(grant[4], 3, "grants are written as format version 3");
    let info = GrantInfo::read(&grant).unwrap();
    assert_eq!(info.approval_required.len(), 1);
    assert_eq!(info.approval_required[0].tier, cards());
    assert_eq!(info.approval_required[0].approver, approver_key(&fixture));

    let service = Keyring::from_grant(&grant, &secret).unwrap();
    assert_eq!(
        service.approval_requirement(&cards()),
        Some(&approver_key(&fixture))
    );
    assert!(format!("{service:?}").contains("restricted/cards needs approval"));
    let card = sealed_card(&fixture.everything());
    assert!(matches!(
        card.open::<String>(&service, binding(), &ctx()),
        Err(Error::ApprovalRequired { .. })
    ));
    let approval = approval(&mut fixture, &cards());
    assert_eq!(
        card.open::<String>(&service, binding(), &ctx().with_approval(approval))
            .unwrap(),
        "4111111111111111"
    );

    // The requirement is authenticated with the rest of the header: a
    // holder of the file alone cannot drop it or swap the key.
    let key_at = grant
        .windows(32)
        .position(|w| w == approver_key(&fixture).to_bytes())
        .unwrap();
    let mut swapped = grant.clone();
    swapped[key_at] ^= 1;
    assert!(matches!(
        Keyring::from_grant(&swapped, &secret),
        Err(Error::GrantInvalid { .. })
    ));
    let mut downgraded = grant.clone();
    downgraded[4] = 1;
    assert!(matches!(
        Keyring::from_grant(&downgraded, &secret),
        Err(Error::GrantInvalid { .. })
    ));

    let mut relabelled = grant.clone();
    relabelled[4] = 2;
    assert!(matches!(
        Keyring::from_grant(&relabelled, &secret),
        Err(Error::GrantInvalid { .. })
    ));

    // Grants without a requirement are version 3 too, with an empty list.
    let (plain, _) = fixture
        .keystore
        .issue_grant(&clearance, "plain-svc", in_minutes(60))
        .unwrap();
    assert_eq!(plain[4], 3);
    assert!(
        GrantInfo::read(&plain)
            .unwrap()
            .approval_required
            .is_empty()
    );
    // A requirement for a tier the grant lacks is refused.
    assert!(matches!(
        fixture.keystore.issue_grant_requiring_approval(
            &Clearance::up_to(Level::Internal),
            REQUESTER,
            in_minutes(60),
            &[cards()]
        ),
        Err(Error::InvalidParameter { .. })
    ));
}

#[test]
fn a_keystore_from_before_approvals_gets_its_approver_key_on_first_use() {
    let source = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/records-v1/records-v1.keystore"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.keystore");
    std::fs::copy(source, &path).unwrap();
    let mut keystore = Keystore::open(&path, &"records v1".into()).unwrap();
    assert_eq!(keystore.approver_key().unwrap(), None);
    let approval = keystore
        .approve(
            "alice",
            REQUESTER,
            &Tier::RESTRICTED,
            PURPOSE,
            in_minutes(5),
        )
        .unwrap();
    let key = keystore.approver_key().unwrap().unwrap();
    drop(keystore);

    let keystore = Keystore::open(&path, &"records v1".into()).unwrap();
    assert_eq!(keystore.approver_key().unwrap(), Some(key));
    approval
        .verify_at(
            &key,
            REQUESTER,
            &Tier::RESTRICTED,
            Some(PURPOSE),
            SystemTime::now(),
        )
        .unwrap();

    // A passphrase change re-wraps the approver key with the others.
    drop(keystore);
    let mut keystore = Keystore::open(&path, &"records v1".into()).unwrap();
    keystore
        .change_passphrase(&"new words".into(), tierseal::KdfProfile::Test)
        .unwrap();
    drop(keystore);
    let keystore = Keystore::open(&path, &"new words".into()).unwrap();
    assert_eq!(keystore.approver_key().unwrap(), Some(key));
}

#[test]
fn approver_keys_parse_and_print_as_text() {
    let fixture = Fixture::new();
    let key = approver_key(&fixture);
    let text = key.to_string();
    assert!(text.starts_with(tierseal::APPROVER_KEY_PREFIX));
    assert_eq!(text.parse::<ApproverKey>().unwrap(), key);
    assert!("tierseal-approver:AAAA".parse::<ApproverKey>().is_err());
    // The all-zero point is a weak key: refused.
    assert!(ApproverKey::from_bytes(&[0u8; 32]).is_err());
}
