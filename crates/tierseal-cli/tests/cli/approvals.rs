use tierseal::audit::Action;
use tierseal::{AccessContext, Approval, Binding, Error, SealedValue};

use crate::{Env, stderr, stdout};

const PURPOSE: &str = "INC-2041 chargeback dispute";

fn card(env: &Env) -> SealedValue {
    SealedValue::seal(
        &env.keyring(),
        &"restricted/cards".parse().unwrap(),
        Binding::new("Customer", "card_number"),
        "4111111111111111",
    )
    .unwrap()
}

#[test]
fn approve_then_a_service_whose_grant_requires_it_opens_with_it() {
    let env = Env::initialised();
    let output = env
        .issue_grant("card-ops", "internal,restricted/cards", "30d", "ops.grant")
        .args(["--require-approval", "restricted/cards"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("approval:"), "{}", stdout(&output));
    let shown = env
        .cmd()
        .args(["grant", "show", "ops.grant"])
        .output()
        .unwrap();
    let key = env.cmd().arg("approver-key").output().unwrap();
    assert!(key.status.success(), "{}", stderr(&key));
    let key = stdout(&key).trim().to_owned();
    assert!(key.starts_with("tierseal-approver:"), "{key}");
    assert!(
        stdout(&shown).contains("approval required for restricted/cards")
            && stdout(&shown).contains(&key),
        "{}",
        stdout(&shown)
    );

    let service = env.load_grant("ops.grant");
    let card = card(&env);
    let binding = Binding::new("Customer", "card_number");
    let ctx = AccessContext::new("card-ops").with_purpose(PURPOSE);
    assert!(matches!(
        card.open::<String>(&service, binding, &ctx),
        Err(Error::ApprovalRequired { .. })
    ));

    let output = env
        .approve("alice", "card-ops", "restricted/cards", PURPOSE, "30m")
        .args(["--out", "inc-2041.approval"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = std::fs::read_to_string(env.path("inc-2041.approval")).unwrap();
    let approval: Approval = text.parse().unwrap();
    assert_eq!(approval.approver(), "alice");
    assert!(stdout(&output).contains(&approval.id().to_string()));
    assert_eq!(
        card.open::<String>(
            &service,
            binding,
            &ctx.clone().with_approval(approval.clone())
        )
        .unwrap(),
        "4111111111111111"
    );

    // Printed to stdout without --out: the same form.
    let output = env
        .approve("alice", "card-ops", "restricted/cards", PURPOSE, "10m")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let printed: Approval = stdout(&output).trim().parse().unwrap();
    assert_eq!(
        card.open::<String>(&service, binding, &ctx.with_approval(printed))
            .unwrap(),
        "4111111111111111"
    );

    // Each approval is announced and recorded in the custodian's log,
    // naming the approver, and the log verifies.
    let log = env.path("bank.keystore.audit.jsonl");
    let events = tierseal::audit::read_events(&log).unwrap();
    let approvals: Vec<_> = events
        .iter()
        .map(|(_, e)| e)
        .filter(|e| e.action == Action::Approve)
        .collect();
    assert_eq!(approvals.len(), 4, "two intents and two outcomes");
    assert!(approvals.iter().all(|e| e.principal == "alice"));
    assert!(
        approvals[1]
            .reason
            .as_deref()
            .unwrap()
            .contains(&approval.id().to_string())
    );
    env.cmd()
        .args(["audit", "verify"])
        .arg(&log)
        .assert()
        .success();
}

#[test]
fn approve_refuses_bad_requests_and_writes_nothing() {
    let env = Env::initialised();
    for (approver, requester, tier, purpose, expires, why) in [
        (
            "alice",
            "alice",
            "restricted/cards",
            PURPOSE,
            "30m",
            "different",
        ),
        (
            "alice",
            "card-ops",
            "restricted/cards",
            PURPOSE,
            "25h",
            "24 hours",
        ),
        (
            "alice",
            "card-ops",
            "restricted/cards",
            "  ",
            "30m",
            "letter or digit",
        ),
        (
            "alice",
            "card-ops",
            "restricted/nope",
            PURPOSE,
            "30m",
            "not in the keystore",
        ),
    ] {
        let output = env
            .approve(approver, requester, tier, purpose, expires)
            .args(["--out", "x.approval"])
            .output()
            .unwrap();
        assert!(!output.status.success(), "{approver} {requester} {tier}");
        assert!(stderr(&output).contains(why), "{}", stderr(&output));
        assert!(!env.path("x.approval").exists());
    }
    // A requirement for a tier the grant does not include.
    let output = env
        .issue_grant("svc", "internal", "30d", "svc.grant")
        .args(["--require-approval", "restricted/cards"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("does not include"),
        "{}",
        stderr(&output)
    );
    assert!(!env.path("svc.grant").exists());
    // An existing approval file is not overwritten.
    std::fs::write(env.path("keep.approval"), "keep").unwrap();
    env.approve("alice", "card-ops", "restricted/cards", PURPOSE, "30m")
        .args(["--out", "keep.approval"])
        .assert()
        .failure();
    assert_eq!(
        std::fs::read_to_string(env.path("keep.approval")).unwrap(),
        "keep"
    );
}

/// Without `--out`, the approval printed is the command's only product:
/// when it cannot be written, the command fails rather than report
/// success with the approval lost.
#[cfg(unix)]
#[test]
fn an_approval_that_cannot_be_printed_is_a_failure() {
    let env = Env::initialised();
    // Through a shell, which points the command's standard output at a
    // device that refuses every write.
    let output = env
        .in_shell("exec \"$0\" \"$@\" >/dev/full")
        .args(["--actor", "alice", "approve", "--requester", "card-ops"])
        .args(["--tier", "restricted/cards", "--purpose", PURPOSE])
        .args(["--expires", "10m"])
        .output()
        .unwrap();
    assert!(!output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("approval"), "{}", stderr(&output));
}
