//! A service's life with tierseal: the custodian issues it a grant, it loads
//! the grant, opens records with an access context, every open is audited,
//! and the custodian verifies the audit log.
//!
//! Run it with `cargo run --example service`.
#![allow(clippy::print_stdout, reason = "an example prints its results")]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tierseal::audit::{Durability, FileSink, verify};
use tierseal::{AccessContext, Classified, Clearance, Error, KdfProfile, Keyring, Keystore, Level};

#[derive(Classified, Clone, serde::Serialize, serde::Deserialize)]
#[classified(record_id = "account_id")]
struct Account {
    #[classify(public)]
    account_id: String,
    #[classify(internal)]
    holder: String,
    #[classify(confidential)]
    balance_cents: i64,
    #[classify(restricted, compartment = "cards", mask = "first6last4")]
    card_number: String,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;

    // Custodian: a keystore (cheap test KDF for the demo) and a grant for
    // the statements service, valid for a day, without the cards tier.
    let mut keystore = Keystore::create(
        dir.path().join("bank.keystore"),
        &"demo passphrase".into(),
        KdfProfile::Test,
    )?;
    keystore.add_tier(&"restricted/cards".parse()?)?;
    let everything =
        keystore.keyring(&Clearance::up_to(Level::Restricted).with("restricted/cards".parse()?))?;
    let (grant, secret) = keystore.issue_grant(
        &Clearance::up_to(Level::Confidential),
        "statements-service",
        SystemTime::now() + Duration::from_secs(86_400),
    )?;
    let sealed = Account {
        account_id: "acc_001".into(),
        holder: "Ada Lovelace".into(),
        balance_cents: 1_250_075,
        card_number: "4111111111111111".into(),
    }
    .seal(&everything)?;
    let stored = serde_json::to_string(&sealed)?;
    println!(
        "custodian: issued a {}-byte grant to statements-service; the secret travels separately",
        grant.len()
    );

    // Service: load the grant, attach an audit log signed with its own key.
    let keyring = Keyring::from_grant(&grant, &secret)?;
    let audit_key = keyring
        .audit_key()
        .cloned()
        .ok_or("the grant carries no audit key")?;
    let log = dir.path().join("statements.audit.jsonl");
    let keyring = keyring.with_audit(Arc::new(FileSink::open(
        &log,
        audit_key,
        Durability::Flush,
    )?));
    println!(
        "service: loaded grant for {} with tiers {}",
        keyring.writer(),
        keyring.clearance()
    );

    let record: SealedAccount = serde_json::from_str(&stored)?;
    let ctx = AccessContext::new("statement-run-2026-11").with_purpose("monthly statement");
    let view = record.open(&keyring, &ctx)?;
    println!(
        "service: {} holds {} cents; card {}",
        view.holder.render(),
        view.balance_cents.render(),
        view.card_number.render()
    );

    // Without a purpose, confidential data stays closed — and that is recorded.
    match record.open(&keyring, &AccessContext::new("curious-script")) {
        Err(error @ Error::PurposeRequired { .. }) => println!("service: refused: {error}"),
        other => println!("service: unexpected: {other:?}"),
    }
    drop(keyring);

    // Custodian: verify the service's log with the keystore's root audit key.
    let entries = verify(&log, &keystore.audit_key()?)?.entries;
    println!("custodian: {entries} audit entries, chain intact");
    for (seq, event) in tierseal::audit::read_events(&log)? {
        let purpose = event
            .purpose
            .map_or_else(|| "no purpose".to_owned(), |p| format!("\"{p}\""));
        println!(
            "  #{seq} {} {} by {} ({purpose})",
            event.action.as_str(),
            event.outcome.as_str(),
            event.principal
        );
    }
    Ok(())
}
