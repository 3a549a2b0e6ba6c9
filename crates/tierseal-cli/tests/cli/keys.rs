use crate::{Env, stdout};

#[test]
fn init_creates_the_default_tiers_and_compartments() {
    let env = Env::new();
    let output = env
        .cmd()
        .args([
            "init",
            "--kdf-profile",
            "test",
            "--tier",
            "restricted/cards",
            "--tier",
            "confidential/payroll",
        ])
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(
        stdout(&output)
            .contains("internal, confidential, confidential/payroll, restricted, restricted/cards")
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("never use it for real keys"));
    let tiers: Vec<String> = env.open().tiers().map(ToString::to_string).collect();
    assert_eq!(tiers.len(), 5);
}

#[test]
fn init_never_overwrites() {
    let env = Env::initialised();
    let before = std::fs::read(env.keystore()).unwrap();
    let output = env
        .cmd()
        .args(["init", "--kdf-profile", "test"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(crate::stderr(&output).contains("never overwrites"));
    assert_eq!(std::fs::read(env.keystore()).unwrap(), before);
}

#[test]
fn list_shows_every_version_and_json_for_scripts() {
    let env = Env::initialised();
    let output = env.cmd().args(["keys", "list"]).output().unwrap();
    let text = stdout(&output);
    assert!(text.starts_with("TIER"), "{text}");
    assert_eq!(text.lines().count(), 5, "{text}");
    assert!(text.contains("restricted/cards") && text.contains("active"));

    let output = env.cmd().args(["keys", "list", "--json"]).output().unwrap();
    let rows: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0]["state"], "active");
    assert_eq!(rows[0]["primary"], true);
    assert_eq!(rows[0]["check_value"].as_str().unwrap().len(), 6);
}

#[test]
fn add_tier_rotate_stage_and_promote() {
    let env = Env::initialised();
    env.cmd()
        .args(["keys", "add-tier", "confidential/payroll"])
        .assert()
        .success();
    env.cmd()
        .args(["keys", "add-tier", "confidential/payroll"])
        .assert()
        .code(1);

    env.cmd()
        .args(["keys", "rotate", "--tier", "restricted/cards", "--dry-run"])
        .assert()
        .success();
    assert_eq!(
        env.keyring()
            .primary_version(&"restricted/cards".parse().unwrap()),
        Some(1)
    );
    env.cmd()
        .args([
            "keys",
            "rotate",
            "--tier",
            "restricted/cards",
            "--reason",
            "quarterly",
        ])
        .assert()
        .success();
    assert_eq!(
        env.keyring()
            .primary_version(&"restricted/cards".parse().unwrap()),
        Some(2)
    );

    let output = env
        .cmd()
        .args(["keys", "add-version", "--tier", "internal"])
        .output()
        .unwrap();
    assert!(
        stdout(&output).contains("internal v2 (not primary)"),
        "{}",
        stdout(&output)
    );
    assert_eq!(
        env.keyring().primary_version(&tierseal::Tier::INTERNAL),
        Some(1)
    );
    env.cmd()
        .args(["keys", "promote", "--tier", "internal", "--version", "2"])
        .assert()
        .success();
    assert_eq!(
        env.keyring().primary_version(&tierseal::Tier::INTERNAL),
        Some(2)
    );
    env.cmd()
        .args(["keys", "promote", "--tier", "internal", "--version", "7"])
        .assert()
        .code(1);
}

#[test]
fn check_reports_overdue_keys_with_exit_1() {
    let env = Env::initialised();
    env.cmd().args(["keys", "check"]).assert().success();
    env.cmd()
        .args([
            "keys",
            "cryptoperiod",
            "--tier",
            "restricted/cards",
            "--days",
            "30",
        ])
        .assert()
        .success();
    let output = env
        .cmd()
        .args(["keys", "check", "--within", "31d"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(text.contains("overdue: restricted/cards v1"), "{text}");
    assert_eq!(text.lines().count(), 1, "only the 30-day tier: {text}");
    let output = env
        .cmd()
        .args(["keys", "check", "--within", "400d", "--json"])
        .output()
        .unwrap();
    let rows: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 4);
}

#[test]
fn every_command_has_help() {
    let env = Env::new();
    for args in [
        vec!["--help"],
        vec!["init", "--help"],
        vec!["keys", "list", "--help"],
        vec!["keys", "retire", "--help"],
        vec!["grant", "issue", "--help"],
        vec!["rewrap", "--help"],
        vec!["lint", "--help"],
        vec!["inventory", "--help"],
        vec!["passphrase", "change", "--help"],
        vec!["report", "--help"],
    ] {
        env.bare().args(&args).assert().success();
    }
    env.bare().args(["keys", "frobnicate"]).assert().code(2);
}
