//! The purpose an open must give: present, meaningful, and asked for only
//! from a keyring that could see the data at all.

use tierseal::{
    AccessContext, Binding, Error, Level, RecordOpener, RecordSealer, SealedValue, Tier,
};

use crate::common::{CTX, Fixture};

/// Purposes that say nothing: empty, whitespace, controls, invisible
/// format characters, fillers, blank symbols, punctuation alone, and
/// mixes of them.
const BLANK_PURPOSES: &[&str] = &[
    "",
    " ",
    "\t\n",
    "\r\n \u{0B}\u{0C}",
    "\u{00A0}\u{2003}\u{3000}",
    "\u{200B}",
    "\u{FEFF}\u{2060}\u{200D}",
    "\u{0000}\u{001B}",
    "\u{2066}\u{3164}",
    "\u{2067}\u{2068}\u{2069}\u{206A}\u{206F}",
    "\u{115F}\u{1160}\u{FFA0}",
    "\u{2800}",
    "\u{034F}\u{FE0F}\u{E0020}\u{E007F}",
    "\u{061C}\u{17B4}\u{1D173}",
    "-",
    "...?!",
];

fn sealed_balance(fixture: &Fixture) -> SealedValue {
    SealedValue::seal(
        &fixture.everything(),
        &Tier::CONFIDENTIAL,
        Binding::new("Account", "balance").with_record_id("acc_1"),
        &125_i64,
    )
    .unwrap()
}

#[test]
fn blank_purposes_are_refused_with_a_typed_error_on_values_and_records() {
    let fixture = Fixture::new();
    let keyring = fixture.everything();
    let value = sealed_balance(&fixture);
    let binding = Binding::new("Account", "").with_record_id("acc_1");
    let mut sealer = RecordSealer::new(&keyring, binding);
    let field = sealer
        .seal_field(&Tier::CONFIDENTIAL, "balance", &125_i64)
        .unwrap();
    let keys = sealer.finish();

    for purpose in BLANK_PURPOSES {
        let ctx = AccessContext::new("batch-job").with_purpose(*purpose);
        let err = value
            .open::<i64>(
                &keyring,
                Binding::new("Account", "balance").with_record_id("acc_1"),
                &ctx,
            )
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidPurpose {
                    level: Level::Confidential,
                    ..
                }
            ),
            "{purpose:?}: {err:?}"
        );
        assert_eq!(err.kind(), "invalid-purpose");

        let mut opener = RecordOpener::new(&keyring, &keys, binding, &ctx);
        let err = opener
            .open_field::<i64>(&Tier::CONFIDENTIAL, "balance", &field)
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidPurpose { .. }),
            "{purpose:?}: {err:?}"
        );
    }

    // A real purpose, even a short one, still opens.
    let ctx = AccessContext::new("batch-job").with_purpose("T-1");
    let mut opener = RecordOpener::new(&keyring, &keys, binding, &ctx);
    assert_eq!(
        opener
            .open_field::<i64>(&Tier::CONFIDENTIAL, "balance", &field)
            .unwrap(),
        125
    );
}

#[test]
fn an_oversized_purpose_is_refused_and_not_echoed() {
    let fixture = Fixture::new();
    let value = sealed_balance(&fixture);
    let purpose = "TICKET-".repeat(1000);
    let ctx = AccessContext::new("batch-job").with_purpose(purpose.clone());
    let err = value
        .open::<i64>(
            &fixture.everything(),
            Binding::new("Account", "balance").with_record_id("acc_1"),
            &ctx,
        )
        .unwrap_err();
    assert!(matches!(err, Error::InvalidPurpose { .. }), "{err:?}");
    assert!(!err.to_string().contains("TICKET"), "{err}");
}

#[test]
fn below_the_threshold_no_purpose_is_needed() {
    let fixture = Fixture::new();
    let keyring = fixture.everything();
    let binding = Binding::new("Customer", "name").with_record_id("cus_1");
    let value = SealedValue::seal(&keyring, &Tier::INTERNAL, binding, "Ada").unwrap();
    for ctx in [
        AccessContext::new("support"),
        AccessContext::new("support").with_purpose(" "),
    ] {
        assert_eq!(
            value.open::<String>(&keyring, binding, &ctx).unwrap(),
            "Ada"
        );
    }
}

#[test]
fn a_keyring_without_the_tier_is_told_so_not_asked_for_a_purpose() {
    let fixture = Fixture::new();
    let value = sealed_balance(&fixture);
    let support = fixture.up_to(Level::Internal);
    let binding = Binding::new("Account", "balance").with_record_id("acc_1");
    for ctx in [
        AccessContext::new("support"),
        AccessContext::new("support").with_purpose(""),
        CTX.clone(),
    ] {
        let err = value.open::<i64>(&support, binding, &ctx).unwrap_err();
        assert!(
            matches!(&err, Error::NotGranted { tier } if *tier == Tier::CONFIDENTIAL),
            "{err:?}"
        );
    }

    let record = Binding::new("Account", "").with_record_id("acc_1");
    let writer = fixture.everything();
    let mut sealer = RecordSealer::new(&writer, record);
    let field = sealer
        .seal_field(&Tier::CONFIDENTIAL, "balance", &1_i64)
        .unwrap();
    let keys = sealer.finish();
    let ctx = AccessContext::new("support");
    let mut opener = RecordOpener::new(&support, &keys, record, &ctx);
    let err = opener
        .open_field::<i64>(&Tier::CONFIDENTIAL, "balance", &field)
        .unwrap_err();
    assert!(matches!(err, Error::NotGranted { .. }), "{err:?}");
}
