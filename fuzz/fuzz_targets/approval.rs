//! Break-glass approvals.
//!
//! First byte % 2 selects: 0, the rest is an approval's binary form; 1, the
//! rest is its text form (`tierseal-approval:` + base64url). A parsed
//! approval must print and round-trip exactly, and is then offered to a
//! keyring that requires approvals for `restricted/cards` (under an
//! approver key made for this run): it opens only if it verifies.
#![no_main]

use std::sync::OnceLock;
use std::time::SystemTime;

use libfuzzer_sys::fuzz_target;
use tierseal::{AccessContext, Approval, ApproverKey, Keyring, Keystore, SealedValue};
use tierseal_fuzz::{BINDING, PASSPHRASE, cards, full_clearance, keystore_path};

struct Gate {
    keyring: Keyring,
    key: ApproverKey,
    card: SealedValue,
}

fn gate() -> &'static Gate {
    static GATE: OnceLock<Gate> = OnceLock::new();
    GATE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("approvals.keystore");
        std::fs::copy(keystore_path(), &path).unwrap();
        let mut keystore = Keystore::open(&path, &PASSPHRASE.into()).unwrap();
        let key = keystore.ensure_approver_key().unwrap();
        let keyring = keystore
            .keyring(&full_clearance())
            .unwrap()
            .require_approval(cards(), key);
        let card = SealedValue::seal(&keyring, &cards(), BINDING, "4111111111111111").unwrap();
        Gate { keyring, key, card }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    let approval = if mode % 2 == 0 {
        let Ok(approval) = Approval::from_bytes(rest) else {
            return;
        };
        assert_eq!(approval.to_bytes(), rest, "the binary form round-trips");
        approval
    } else {
        let Ok(text) = std::str::from_utf8(rest) else {
            return;
        };
        let Ok(approval) = text.parse::<Approval>() else {
            return;
        };
        assert_eq!(
            approval.to_text(),
            text.trim(),
            "the text form is canonical"
        );
        approval
    };
    let _ = (format!("{approval:?}"), approval.to_string());

    let gate = gate();
    let ctx = AccessContext::new(approval.requester())
        .with_purpose(approval.purpose())
        .with_approval(approval.clone());
    let opened = gate.card.open::<String>(&gate.keyring, BINDING, &ctx);
    if let Ok(value) = opened {
        assert_eq!(value, "4111111111111111");
        // Only an approval signed by the gate's key opens (this run's key,
        // which no input can know).
        approval
            .verify_at(
                &gate.key,
                approval.requester(),
                &cards(),
                Some(approval.purpose()),
                SystemTime::now(),
            )
            .expect("an approval that opened verifies");
    }
});
