use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tierseal::audit::{Durability, FileSink};
use tierseal::{AccessContext, Classified, GrantSecret, Keyring};

use crate::{Env, PASSPHRASE, stderr, stdout};

#[derive(Classified, Clone, Serialize, Deserialize)]
#[classified(record_id = "account_id")]
struct Account {
    #[classify(public)]
    account_id: String,
    #[classify(internal)]
    holder: String,
    #[classify(confidential)]
    balance_cents: i64,
    #[classify(restricted, compartment = "cards", mask = "last4")]
    card_number: String,
}

const HOLDER: &str = "Ada Lovelace";
const CARD: &str = "4111111111111111";

/// The workspace's lint fixture with every kind of classified field.
fn tagged_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tagged-ok")
}

/// A keystore with internal rotated (v1 decrypt-only), a 30-day
/// cryptoperiod on the cards tier, a grant to `statements` for internal
/// and confidential, and that service's audit log of three real opens:
/// two by alice for TICKET-1 (cards withheld), one by mallory without a
/// purpose (denied).
fn audited_run() -> (Env, PathBuf) {
    let env = Env::initialised();
    for args in [
        &["keys", "rotate", "--tier", "internal"][..],
        &[
            "keys",
            "cryptoperiod",
            "--tier",
            "restricted/cards",
            "--days",
            "30",
        ],
    ] {
        env.cmd().args(args).assert().success();
    }
    env.issue_grant("statements", "internal,confidential", "30d", "svc.grant")
        .assert()
        .success();
    let sealed = Account {
        account_id: "acc_001".into(),
        holder: HOLDER.into(),
        balance_cents: 1_250_075,
        card_number: CARD.into(),
    }
    .seal(&env.keyring())
    .unwrap();
    let grant = std::fs::read(env.path("svc.grant")).unwrap();
    let secret: GrantSecret = std::fs::read_to_string(env.path("svc.grant.secret"))
        .unwrap()
        .parse()
        .unwrap();
    let keyring = Keyring::from_grant(&grant, &secret).unwrap();
    let key = keyring.audit_key().cloned().unwrap();
    let log = env.path("svc.jsonl");
    let keyring = keyring.with_audit(Arc::new(
        FileSink::open(&log, key, Durability::Sync).unwrap(),
    ));
    let ctx = AccessContext::new("alice").with_purpose("TICKET-1");
    for _ in 0..2 {
        let view = sealed.open(&keyring, &ctx).unwrap();
        assert_eq!(view.holder.render(), HOLDER);
    }
    assert!(
        sealed
            .open(&keyring, &AccessContext::new("mallory"))
            .is_err()
    );
    (env, log)
}

fn report(env: &Env, log: &Path, extra: &[&str]) -> std::process::Output {
    env.cmd()
        .arg("report")
        .arg("--log")
        .arg(log)
        .arg("--source")
        .arg(tagged_fixture())
        .args(extra)
        .output()
        .unwrap()
}

/// Nothing secret: no passphrase, grant secret or plaintext (key bytes
/// never leave the keystore; the check values shown are public).
fn assert_nothing_secret(env: &Env, text: &str) {
    let secret = std::fs::read_to_string(env.path("svc.grant.secret")).unwrap();
    for needle in [
        PASSPHRASE,
        secret.trim(),
        HOLDER,
        CARD,
        "1250075",
        "12500.75",
    ] {
        assert!(!text.contains(needle), "report shows {needle:?}:\n{text}");
    }
}

#[test]
fn markdown_report_shows_keys_grants_inventory_verification_and_access_counts() {
    let (env, log) = audited_run();
    let output = report(&env, &log, &["--within", "31d"]);
    let text = stdout(&output);
    assert!(output.status.success(), "{text}{}", stderr(&output));
    for expected in [
        "- Custody: passphrase (single custodian)",
        "| internal | v1 | decrypt-only |",
        "| internal | v2 | active (primary) |",
        "| restricted/cards | v1 | active (primary) |",
        "| 30d | **due soon** |",
        "**Due for rotation within 31d:** restricted/cards.",
        "1 outstanding, 0 expired.",
        "| statements |",
        "| outstanding | internal v1,v2; confidential v1 |",
        // tagged-ok: id and currency public, expiry confidential, cvv
        // restricted and transient, card number cards-compartment masked.
        "5 classified fields in 1 files",
        "| public | 2 | 0 | 0 |",
        "| confidential | 1 | 0 | 0 |",
        "| restricted | 1 | 0 | 1 |",
        "| restricted/cards | 1 | 1 | 0 |",
        "0 error and 0 warning findings",
        "Verification: **OK** — 3 entries",
        "| alice | internal | TICKET-1 | 2 | 0 | 0 | 0 |",
        "| alice | confidential | TICKET-1 | 2 | 0 | 0 | 0 |",
        "| alice | restricted/cards | TICKET-1 | 0 | 2 | 0 | 0 |",
        "| mallory | — | — | 0 | 0 | 0 | 1 |",
        "| rotate | ok | 1 |",
        "| grant-issue | ok | 1 |",
    ] {
        assert!(text.contains(expected), "lacks {expected:?}:\n{text}");
    }
    assert!(!text.contains("OVERDUE"), "{text}");
    assert_nothing_secret(&env, &text);
}

#[test]
fn json_report_has_the_documented_keys_and_counts() {
    let (env, log) = audited_run();
    let output = report(&env, &log, &["--format", "json", "--within", "31d"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert_nothing_secret(&env, &text);
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let keys = |value: &serde_json::Value| -> Vec<String> {
        let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(
        keys(&json),
        [
            "audit",
            "generated_at",
            "inventory",
            "keystore",
            "period",
            "schema",
            "within"
        ]
    );
    assert_eq!(json["schema"], "tierseal-report/1");
    assert_eq!(
        keys(&json["keystore"]),
        ["custody", "grants", "path", "tiers"]
    );
    assert_eq!(json["keystore"]["custody"]["kind"], "passphrase");
    let tiers = json["keystore"]["tiers"].as_array().unwrap();
    let cards = tiers
        .iter()
        .find(|t| t["tier"] == "restricted/cards")
        .unwrap();
    assert_eq!(
        keys(cards),
        [
            "cryptoperiod_days",
            "overdue",
            "primary",
            "rotation_due",
            "tier",
            "versions"
        ]
    );
    assert_eq!(cards["cryptoperiod_days"], 30);
    assert_eq!(cards["overdue"], false);
    assert_eq!(cards["rotation_due"], true);
    assert_eq!(
        keys(&cards["versions"][0]),
        [
            "age_days",
            "check_value",
            "created_at",
            "overdue",
            "retired_at",
            "rotation_due",
            "state",
            "version"
        ]
    );
    let internal = tiers.iter().find(|t| t["tier"] == "internal").unwrap();
    assert_eq!(internal["primary"], 2);
    assert_eq!(internal["versions"][0]["state"], "decrypt-only");
    assert_eq!(internal["rotation_due"], false);
    let grant = &json["keystore"]["grants"][0];
    assert_eq!(grant["principal"], "statements");
    assert_eq!(grant["status"], "outstanding");
    assert_eq!(grant["tiers"][0]["versions"], serde_json::json!([1, 2]));

    let inventory = &json["inventory"];
    assert_eq!(inventory["fields"], 5);
    assert_eq!(inventory["errors"], 0);
    let cards_fields = inventory["by_tier"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tier"] == "restricted/cards")
        .unwrap();
    assert_eq!(cards_fields["masked"], 1);

    let audit = json["audit"].as_array().unwrap();
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[0]["role"], "keystore");
    assert_eq!(audit[0]["verification"]["verified"], true);
    let service = &audit[1];
    assert_eq!(
        keys(service),
        [
            "access",
            "counted_entries",
            "log",
            "operations",
            "role",
            "verification"
        ]
    );
    assert_eq!(service["role"], "service");
    assert_eq!(service["verification"]["verified"], true);
    assert_eq!(service["verification"]["entries"], 3);
    assert!(service["verification"]["failure"].is_null());
    assert_eq!(service["counted_entries"], 3);
    let access = service["access"].as_array().unwrap();
    let row = |principal: &str, tier: serde_json::Value| {
        access
            .iter()
            .find(|a| a["principal"] == principal && a["tier"] == tier)
            .unwrap_or_else(|| panic!("no row {principal} {tier}: {access:?}"))
            .clone()
    };
    let cards_row = row("alice", "restricted/cards".into());
    assert_eq!(cards_row["purpose"], "TICKET-1");
    assert_eq!(
        (cards_row["opened"].as_u64(), cards_row["withheld"].as_u64()),
        (Some(0), Some(2))
    );
    assert_eq!(row("alice", "confidential".into())["opened"], 2);
    let denied = row("mallory", serde_json::Value::Null);
    assert_eq!(
        (denied["denied"].as_u64(), denied["opened"].as_u64()),
        (Some(1), Some(0))
    );
}

#[test]
fn the_period_bounds_the_counts_but_not_the_verification() {
    let (env, log) = audited_run();
    let output = report(
        &env,
        &log,
        &[
            "--format",
            "json",
            "--from",
            "2000-01-01",
            "--to",
            "2000-02-01",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["period"]["from"], "2000-01-01T00:00:00.000Z");
    assert_eq!(json["period"]["to"], "2000-02-01T00:00:00.000Z");
    let service = &json["audit"][1];
    assert_eq!(service["verification"]["entries"], 3);
    assert_eq!(service["counted_entries"], 0);
    assert!(service["access"].as_array().unwrap().is_empty());
    let output = report(&env, &log, &["--format", "json", "--since", "30d"]);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["audit"][1]["counted_entries"], 3);
}

#[test]
fn a_tampered_log_is_reported_as_failed_with_its_line_and_exits_1() {
    let (env, log) = audited_run();
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    let edited = format!(
        "{}\n{}\n{}\n",
        lines[0],
        lines[1].replace("TICKET-1", "TICKET-2"),
        lines[2]
    );
    assert_ne!(edited, text);
    std::fs::write(&log, edited).unwrap();

    let output = report(&env, &log, &[]);
    assert_eq!(output.status.code(), Some(1));
    let out = stdout(&output);
    assert!(
        out.contains("Verification: **FAILED** at line 2 (bad-mac)"),
        "{out}"
    );
    // The entry before the bad one still counts; nothing after it does.
    assert!(
        out.contains("| alice | internal | TICKET-1 | 1 | 0 | 0 | 0 |"),
        "{out}"
    );
    assert!(
        !out.contains("TICKET-2") && !out.contains("mallory"),
        "{out}"
    );
    let err = stderr(&output);
    assert!(
        err.contains("audit log verification FAILED at line 2"),
        "{err}"
    );

    let output = report(&env, &log, &["--format", "json"]);
    assert_eq!(output.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let verification = &json["audit"][1]["verification"];
    assert_eq!(verification["verified"], false);
    assert_eq!(verification["failure"]["line"], 2);
    assert_eq!(verification["failure"]["problem"], "bad-mac");
    assert_eq!(json["audit"][0]["verification"]["verified"], true);
}

#[test]
fn bad_periods_and_missing_logs_are_typed_errors() {
    let env = Env::initialised();
    for (args, code, message) in [
        (
            &["--from", "yesterday-ish"][..],
            2,
            "invalid period: --from",
        ),
        (&["--since", "7x"], 2, "invalid period: --since"),
        (
            &["--from", "2026-12-01", "--to", "2026-11-01"],
            2,
            "the period is empty",
        ),
        (
            &["--since", "7d", "--from", "2026-11-01"],
            2,
            "cannot be used with",
        ),
        (
            &["--log", "missing.jsonl"],
            1,
            "no audit log at missing.jsonl",
        ),
        (
            &["--log", "a", "--log", "b", "--checkpoint", "c"],
            2,
            "--checkpoint applies to one --log",
        ),
    ] {
        let output = env.cmd().arg("report").args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(code), "{args:?}");
        let err = stderr(&output);
        assert!(err.contains(message), "{args:?}: {err}");
        assert!(output.stdout.is_empty(), "{args:?}: nothing printed");
    }
    // The keystore's own log, when gone, is reported, not skipped.
    std::fs::remove_file(env.path("bank.keystore.audit.jsonl")).unwrap();
    let output = env.cmd().arg("report").output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).contains("**FAILED**"),
        "{}",
        stdout(&output)
    );
}

/// The `tierseal ...` commands in docs/COMPLIANCE.md's code spans, as the
/// subcommand words before the first flag or placeholder.
fn compliance_commands() -> Vec<Vec<String>> {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/COMPLIANCE.md"),
    )
    .unwrap();
    let mut commands = Vec::new();
    let mut fenced = false;
    for line in doc.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        for span in line.split('`').skip(1).step_by(2) {
            let Some(rest) = span.strip_prefix("tierseal ") else {
                continue;
            };
            let words: Vec<String> = rest
                .split_whitespace()
                .take_while(|w| w.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'))
                .take_while(|w| !w.starts_with('-'))
                .map(str::to_owned)
                .collect();
            if !commands.contains(&words) {
                commands.push(words);
            }
        }
    }
    commands
}

#[test]
fn every_command_compliance_md_names_exists() {
    let commands = compliance_commands();
    assert!(
        commands.len() >= 12,
        "expected the matrix's commands: {commands:?}"
    );
    assert!(commands.contains(&vec!["report".to_owned()]));
    assert!(commands.contains(&vec!["audit".to_owned(), "verify".to_owned()]));
    let env = Env::new();
    for words in &commands {
        assert!(!words.is_empty(), "a bare `tierseal` in COMPLIANCE.md");
        let output = env.bare().args(words).arg("--help").output().unwrap();
        assert!(
            output.status.success(),
            "COMPLIANCE.md names `tierseal {}`, which is not a command: {}",
            words.join(" "),
            stderr(&output)
        );
    }
    // The check can fail: a command that does not exist is refused.
    let output = env
        .bare()
        .args(["keys", "frobnicate", "--help"])
        .output()
        .unwrap();
    assert!(!output.status.success());
}
