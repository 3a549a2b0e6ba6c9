use tierseal::{AccessContext, Classified, Clearance, Error, Level, Tier};

use crate::{Bank, SealedCustomer, ada, cards, payroll};

fn ctx() -> AccessContext {
    AccessContext::new("test").with_purpose("TICKET-1")
}

/// Seals Ada, stores her as JSON, and opens the JSON with `clearance`.
fn view_as(bank: &Bank, clearance: Clearance) -> crate::CustomerView {
    let sealed = ada().seal(&bank.writer()).unwrap();
    let json = serde_json::to_string(&sealed).unwrap();
    let stored: SealedCustomer = serde_json::from_str(&json).unwrap();
    stored.open(&bank.keyring(clearance), &ctx()).unwrap()
}

#[test]
fn the_sealed_json_keeps_only_public_fields_in_clear() {
    let bank = Bank::new();
    let json = serde_json::to_value(ada().seal(&bank.writer()).unwrap()).unwrap();
    assert_eq!(json["customer_id"], "cus_042");
    assert_eq!(json["nickname"], "ada");
    // The mask is sealed too (at `internal`), so it cannot be edited.
    for field in [
        "name",
        "balance_cents",
        "card_number",
        "card_number_mask",
        "monthly_salary",
    ] {
        assert!(
            json[field].as_str().unwrap().starts_with("tierseal:"),
            "{field}"
        );
    }
    crate::assert_no_secrets(&json.to_string());
    assert_eq!(
        json["_keys"].as_array().unwrap().len(),
        4,
        "one data key per tier used"
    );
}

#[test]
fn public_only_sees_public_fields_and_no_mask() {
    let bank = Bank::new();
    let view = view_as(&bank, Clearance::none());
    assert_eq!(view.customer_id, "cus_042");
    assert_eq!(view.nickname, "ada");
    assert_eq!(view.name.withheld_level(), Some(Level::Internal));
    assert_eq!(
        view.balance_cents.withheld_level(),
        Some(Level::Confidential)
    );
    assert_eq!(view.card_number.withheld_level(), Some(Level::Restricted));
    // The mask is sealed at `internal`: a keyring without it sees none.
    assert_eq!(view.card_number.mask(), None);
    assert_eq!(view.card_number.render(), "<withheld: restricted>");
    assert!(view.monthly_salary.is_withheld());
    assert_eq!(view.monthly_salary.mask(), None);
}

#[test]
fn up_to_internal_sees_the_name() {
    let bank = Bank::new();
    let view = view_as(&bank, Clearance::up_to(Level::Internal));
    assert_eq!(view.name.value().unwrap(), "Ada Lovelace");
    assert!(view.balance_cents.is_withheld());
    assert!(view.card_number.is_withheld());
    assert_eq!(view.card_number.render(), "****1111");
    assert!(view.monthly_salary.is_withheld());
}

#[test]
fn up_to_confidential_sees_the_balance_but_not_the_payroll_compartment() {
    let bank = Bank::new();
    let view = view_as(&bank, Clearance::up_to(Level::Confidential));
    assert_eq!(view.name.value().unwrap(), "Ada Lovelace");
    assert_eq!(*view.balance_cents.value().unwrap(), 1_250_075);
    assert!(
        view.monthly_salary.is_withheld(),
        "payroll is a compartment"
    );
    assert!(view.card_number.is_withheld());

    let loans = view_as(&bank, Clearance::up_to(Level::Confidential).with(payroll()));
    assert_eq!(*loans.monthly_salary.value().unwrap(), Some(825_000));
}

#[test]
fn the_cards_compartment_alone_sees_only_the_card() {
    let bank = Bank::new();
    let view = view_as(&bank, Clearance::none().with(cards()));
    assert_eq!(view.card_number.value().unwrap(), "4111111111111111");
    assert!(view.name.is_withheld());
    assert!(view.balance_cents.is_withheld());
    assert!(view.monthly_salary.is_withheld());
}

#[test]
fn open_all_returns_the_struct_or_names_the_missing_tier() {
    let bank = Bank::new();
    let sealed = ada().seal(&bank.writer()).unwrap();
    assert!(sealed.open_all(&bank.writer(), &ctx()).unwrap() == ada());

    let err = sealed
        .open_all(&bank.keyring(Clearance::up_to(Level::Confidential)), &ctx())
        .unwrap_err();
    match err {
        Error::NotGranted { tier } => assert_eq!(tier, cards()),
        other => panic!("expected NotGranted, got {other:?}"),
    }
    let err = sealed
        .open_all(&bank.keyring(Clearance::none()), &ctx())
        .unwrap_err();
    assert!(matches!(err, Error::NotGranted { tier } if tier == Tier::INTERNAL));
}

#[test]
fn sealing_without_a_tier_is_not_granted() {
    let bank = Bank::new();
    let err = ada()
        .seal(&bank.keyring(Clearance::up_to(Level::Restricted)))
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotGranted { tier } if *tier == cards()),
        "{err:?}"
    );
}

#[test]
fn a_view_without_a_break_glass_approval_shows_the_mask_and_one_with_it_the_card() {
    let mut bank = Bank::new();
    let sealed = ada().seal(&bank.writer()).unwrap();
    let key = bank.keystore.approver_key().unwrap().unwrap();
    let gated = bank.writer().require_approval(cards(), key);

    // No approval: the card is withheld with its mask, the rest opens.
    let view = sealed.open(&gated, &ctx()).unwrap();
    assert_eq!(view.name.value().unwrap(), "Ada Lovelace");
    assert!(view.card_number.is_withheld());
    assert_eq!(view.card_number.render(), "****1111");
    // open_all names what is missing.
    assert!(matches!(
        sealed.open_all(&gated, &ctx()),
        Err(Error::ApprovalRequired { tier, .. }) if tier == cards()
    ));

    // With an approval for this principal, tier and purpose: the card.
    let expiry = std::time::SystemTime::now() + std::time::Duration::from_secs(600);
    let approval = bank
        .keystore
        .approve("alice", "test", &cards(), "TICKET-1", expiry)
        .unwrap();
    let view = sealed
        .open(&gated, &ctx().with_approval(approval.clone()))
        .unwrap();
    assert_eq!(view.card_number.value().unwrap(), "4111111111111111");

    // An approval offered and refused fails the view, naming it.
    let other = AccessContext::new("test")
        .with_purpose("TICKET-2")
        .with_approval(approval.clone());
    assert!(matches!(
        sealed.open(&gated, &other),
        Err(Error::ApprovalMismatch { id, what: "purpose" }) if id == approval.id().to_string()
    ));
}
