//! The CLI on a keystore whose tier keys OpenBao Transit protects.
//!
//! Run with `source .ci/services/openbao.sh && cargo test -p tierseal-cli
//! --test openbao`. Without `TIERSEAL_TEST_BAO_ADDR`/`TIERSEAL_TEST_BAO_TOKEN`
//! each test prints a `skipped:` line and passes, unless
//! `TIERSEAL_REQUIRE_SERVICES=1`, when it fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "test code"
)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use assert_cmd::Command;
use secrecy::SecretString;
use serde_json::{Value, json};
use tierseal::kek::{ServiceKeyring, TransitProvider};
use tierseal::openbao::{BaoClient, Method};
use tierseal::{Keystore, Tier};

const RUN: &str = "source .ci/services/openbao.sh && cargo test -p tierseal-cli --test openbao";

use tierseal_testkit::OpenBao as Bao;

fn bao() -> Option<Bao> {
    Bao::from_env("OpenBao CLI tests", RUN)
}

fn unique_prefix() -> String {
    format!("c{}-", tierseal_testkit::unique_hex())
}

struct Env {
    dir: tempfile::TempDir,
    bao: Bao,
    prefix: String,
}

impl Env {
    fn new(bao: Bao) -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
            bao,
            prefix: unique_prefix(),
        }
    }

    fn keystore(&self) -> PathBuf {
        self.dir.path().join("kms.keystore")
    }

    /// `tierseal` with only TIERSEAL_KEYSTORE and BAO_ADDR/BAO_TOKEN set:
    /// no passphrase anywhere.
    fn cmd(&self) -> Command {
        self.cmd_with_token(&self.bao.token.clone())
    }

    fn cmd_with_token(&self, token: &str) -> Command {
        let mut cmd = Command::cargo_bin("tierseal").unwrap();
        cmd.current_dir(self.dir.path());
        for key in tierseal_testkit::inherited(&["TIERSEAL_", "BAO_", "VAULT_"]) {
            cmd.env_remove(key);
        }
        cmd.env("TIERSEAL_KEYSTORE", self.keystore())
            .env("BAO_ADDR", &self.bao.addr)
            .env("BAO_TOKEN", token)
            .env("TIERSEAL_ACTOR", "tests");
        cmd
    }

    fn init(&self) {
        let out = self
            .cmd()
            .args(["init", "--kek", "openbao", "--key-prefix", &self.prefix])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.assert_no_token(&out);
    }

    fn assert_no_token(&self, out: &std::process::Output) {
        for stream in [&out.stdout, &out.stderr] {
            assert!(
                !String::from_utf8_lossy(stream).contains(&self.bao.token),
                "token shown"
            );
        }
    }

    fn root(&self) -> BaoClient {
        BaoClient::new(&self.bao.addr, SecretString::from(self.bao.token.clone())).unwrap()
    }

    /// A token whose only policy is `hcl` (stored as `name`), and the
    /// keyring of `principal` built from this keystore with it.
    fn service(&self, name: &str, hcl: &str, principal: &str) -> (String, ServiceKeyring) {
        let root = self.root();
        root.call(
            Method::Post,
            &format!("sys/policies/acl/{name}"),
            "policy",
            Some(&json!({"policy": hcl})),
        )
        .unwrap();
        let created = root
            .call(
                Method::Post,
                "auth/token/create",
                "token",
                Some(&json!({"policies": [name], "no_default_policy": true})),
            )
            .unwrap();
        let token = created["auth"]["client_token"].as_str().unwrap().to_owned();
        let client = BaoClient::new(&self.bao.addr, SecretString::from(token.clone())).unwrap();
        let params = Keystore::kek_params_of(self.keystore()).unwrap().unwrap();
        let provider = TransitProvider::from_params(client, &params).unwrap();
        let handle = ServiceKeyring::build(
            self.keystore(),
            Arc::new(provider),
            principal,
            Duration::from_secs(60),
        )
        .unwrap();
        (token, handle)
    }
}

fn list(env: &Env) -> Vec<Value> {
    let out = env.cmd().args(["keys", "list", "--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn init_with_openbao_then_commands_need_no_passphrase() {
    let Some(bao) = bao() else { return };
    let env = Env::new(bao);
    env.init();
    let rows = list(&env);
    assert_eq!(rows.len(), 3);
    for row in &rows {
        assert_eq!(row["provider"], "openbao");
        let tier = row["tier"].as_str().unwrap();
        assert_eq!(row["kms_key"], Value::from(format!("{}{tier}", env.prefix)));
    }
    // The Transit keys exist, as derived keys.
    let key = env
        .root()
        .call(
            Method::Get,
            &format!("transit/keys/{}restricted", env.prefix),
            "key",
            None,
        )
        .unwrap();
    assert_eq!(key["data"]["derived"], Value::Bool(true));

    env.cmd()
        .args(["keys", "add-tier", "restricted/cards"])
        .assert()
        .success();
    env.cmd()
        .args(["keys", "rotate", "--tier", "restricted/cards"])
        .assert()
        .success();
    let rows = list(&env);
    let cards: Vec<&Value> = rows
        .iter()
        .filter(|r| r["tier"] == "restricted/cards")
        .collect();
    assert_eq!(cards.len(), 2);
    assert_eq!(
        cards[0]["kms_key"],
        Value::from(format!("{}restricted-cards", env.prefix))
    );
    let audit = env.dir.path().join("kms.keystore.audit.jsonl");
    env.cmd()
        .arg("audit")
        .arg("verify")
        .arg(&audit)
        .assert()
        .success();
}

#[test]
fn rotate_kek_rotates_the_transit_keys_and_keeps_the_tier_keys() {
    let Some(bao) = bao() else { return };
    let env = Env::new(bao);
    env.init();
    let before: Vec<Value> = list(&env)
        .iter()
        .map(|r| r["check_value"].clone())
        .collect();
    let out = env
        .cmd()
        .args(["keys", "rotate", "--kek"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.assert_no_token(&out);
    let after: Vec<Value> = list(&env)
        .iter()
        .map(|r| r["check_value"].clone())
        .collect();
    assert_eq!(before, after, "tier keys must not change");
    for name in ["internal", "index-internal", "keystore"] {
        let key = env
            .root()
            .call(
                Method::Get,
                &format!("transit/keys/{}{name}", env.prefix),
                "key",
                None,
            )
            .unwrap();
        assert_eq!(key["data"]["latest_version"], Value::from(2), "{name}");
    }
    let bytes = std::fs::read(env.keystore()).unwrap();
    assert!(!String::from_utf8_lossy(&bytes).contains("vault:v1:"));
}

#[test]
fn migrate_kek_moves_between_passphrase_and_openbao() {
    let Some(bao) = bao() else { return };
    let env = Env::new(bao);
    env.init();
    let before: Vec<Value> = list(&env)
        .iter()
        .map(|r| r["check_value"].clone())
        .collect();
    env.cmd()
        .args([
            "keys",
            "migrate-kek",
            "--to",
            "passphrase",
            "--kdf-profile",
            "test",
        ])
        .env("TIERSEAL_NEW_PASSPHRASE", "pw 1")
        .assert()
        .success();
    assert!(Keystore::kek_params_of(env.keystore()).unwrap().is_none());
    // Now it needs the passphrase.
    env.cmd().args(["keys", "list"]).assert().failure();
    let rows: Vec<Value> = serde_json::from_slice(
        &env.cmd()
            .env("TIERSEAL_PASSPHRASE", "pw 1")
            .args(["keys", "list", "--json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(rows[0]["provider"], "passphrase");
    assert_eq!(rows[0]["kms_key"], Value::Null);
    env.cmd()
        .env("TIERSEAL_PASSPHRASE", "pw 1")
        .args([
            "keys",
            "migrate-kek",
            "--to",
            "openbao",
            "--key-prefix",
            &format!("{}b-", env.prefix),
        ])
        .assert()
        .success();
    let after: Vec<Value> = list(&env)
        .iter()
        .map(|r| r["check_value"].clone())
        .collect();
    assert_eq!(before, after);
    assert_eq!(
        list(&env)[0]["kms_key"],
        Value::from(format!("{}b-internal", env.prefix))
    );
}

#[test]
fn the_printed_policy_gives_a_service_exactly_its_tiers() {
    let Some(bao) = bao() else { return };
    let env = Env::new(bao);
    env.init();
    let out = env
        .cmd()
        .args(["grant", "policy", "--clearance", "internal"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let hcl = String::from_utf8(out.stdout).unwrap();
    assert!(
        hcl.contains(&format!("transit/decrypt/{}internal", env.prefix)),
        "{hcl}"
    );
    assert!(
        !hcl.contains("restricted") && !hcl.contains("confidential"),
        "{hcl}"
    );

    let (token, handle) = env.service(&format!("{}svc", env.prefix), &hcl, "billing");
    let keyring = handle.keyring().unwrap();
    assert!(keyring.has_tier(&Tier::INTERNAL));
    assert!(!keyring.has_tier(&Tier::CONFIDENTIAL));
    assert!(!keyring.has_tier(&Tier::RESTRICTED));
    // A tier it opens it searches too (its index key is in the policy).
    assert!(keyring.can_search(&Tier::INTERNAL));
    assert!(!keyring.can_search(&Tier::RESTRICTED));

    // The service token cannot run custodian commands: typed, no token.
    let out = env
        .cmd_with_token(&token)
        .args(["keys", "list"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("openbao") && stderr.contains("denied"),
        "{stderr}"
    );
    assert!(!stderr.contains(&token));
}

#[test]
fn a_wrong_or_missing_token_is_a_typed_error_without_the_token() {
    let Some(bao) = bao() else { return };
    let env = Env::new(bao);
    env.init();
    let before = std::fs::read(env.keystore()).unwrap();
    let wrong = "s.not-a-real-token-8c1f";
    let out = env
        .cmd_with_token(wrong)
        .args(["keys", "rotate", "--tier", "internal"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&env.bao.addr) && stderr.contains("denied"),
        "{stderr}"
    );
    assert!(!stderr.contains(wrong), "{stderr}");
    let out = env
        .cmd()
        .env_remove("BAO_TOKEN")
        .args(["keys", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("BAO_TOKEN"));
    assert_eq!(std::fs::read(env.keystore()).unwrap(), before);
}

// Without a server.

fn bare(dir: &std::path::Path) -> Command {
    let mut cmd = Command::cargo_bin("tierseal").unwrap();
    cmd.current_dir(dir);
    for key in tierseal_testkit::inherited(&["TIERSEAL_", "BAO_", "VAULT_"]) {
        cmd.env_remove(key);
    }
    cmd.env("TIERSEAL_KEYSTORE", dir.join("ks"));
    cmd
}

/// `tierseal grant policy ARGS` without a server: the HCL it prints.
fn printed_policy(dir: &std::path::Path, args: &[&str]) -> String {
    let out = bare(dir)
        .args(["grant", "policy"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Asserts that `hcl` has a `path` block for each of `paths` and no other.
fn assert_exactly_paths(hcl: &str, paths: &[&str]) {
    for path in paths {
        assert!(
            hcl.contains(&format!("path \"{path}\"")),
            "{path} missing: {hcl}"
        );
    }
    assert_eq!(hcl.matches("path \"").count(), paths.len(), "{hcl}");
}

#[test]
fn grant_policy_prints_decrypt_only_on_the_clearance_keys() {
    let dir = tempfile::tempdir().unwrap();
    let hcl = printed_policy(
        dir.path(),
        &[
            "--clearance",
            "internal,restricted/cards",
            "--key-prefix",
            "bank-",
        ],
    );
    // A tier the service opens it also searches, as a grant would.
    assert_exactly_paths(
        &hcl,
        &[
            "transit/decrypt/bank-keystore",
            "transit/decrypt/bank-internal",
            "transit/decrypt/bank-index-internal",
            "transit/decrypt/bank-restricted-cards",
            "transit/decrypt/bank-index-restricted-cards",
        ],
    );
    assert!(
        !hcl.contains("encrypt/") && !hcl.contains("keys/") && !hcl.contains("confidential"),
        "{hcl}"
    );
    let out = bare(dir.path())
        .args(["grant", "policy", "--custodian"])
        .output()
        .unwrap();
    let hcl = String::from_utf8(out.stdout).unwrap();
    assert!(hcl.contains("transit/keys/tierseal-*/rotate"), "{hcl}");
}

#[test]
fn grant_policy_search_prints_decrypt_on_index_keys_only() {
    let dir = tempfile::tempdir().unwrap();
    let hcl = printed_policy(
        dir.path(),
        &[
            "--clearance",
            "internal",
            "--search",
            "restricted/cards,internal",
            "--key-prefix",
            "bank-",
        ],
    );
    assert_exactly_paths(
        &hcl,
        &[
            "transit/decrypt/bank-keystore",
            "transit/decrypt/bank-internal",
            "transit/decrypt/bank-index-internal",
            "transit/decrypt/bank-index-restricted-cards",
        ],
    );
    assert!(hcl.contains("search only"), "{hcl}");

    // --search alone is a search-only service; with --custodian it is refused.
    let hcl = printed_policy(dir.path(), &["--search", "restricted/cards"]);
    assert_exactly_paths(
        &hcl,
        &[
            "transit/decrypt/tierseal-keystore",
            "transit/decrypt/tierseal-index-restricted-cards",
        ],
    );
    let out = bare(dir.path())
        .args(["grant", "policy", "--custodian", "--search", "internal"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = bare(dir.path()).args(["grant", "policy"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_printed_search_policy_gives_a_service_search_without_opening() {
    let Some(bao) = bao() else { return };
    let env = Env::new(bao);
    env.init();
    let out = env
        .cmd()
        .args(["grant", "policy", "--search", "restricted"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let hcl = String::from_utf8(out.stdout).unwrap();
    assert!(
        hcl.contains(&format!("transit/decrypt/{}index-restricted", env.prefix)),
        "{hcl}"
    );
    let (_, handle) = env.service(&format!("{}search", env.prefix), &hcl, "support-desk");
    let keyring = handle.keyring().unwrap();
    assert_eq!(keyring.tiers().count(), 0);
    assert!(keyring.can_search(&Tier::RESTRICTED));
    assert_eq!(
        handle.denied_index_tiers(),
        [Tier::INTERNAL, Tier::CONFIDENTIAL]
    );

    // The custodian's listing names each tier's index key.
    let out = env
        .cmd()
        .args(["keys", "list-index", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let restricted = rows.iter().find(|r| r["tier"] == "restricted").unwrap();
    assert_eq!(
        restricted["kms_key"],
        Value::from(format!("{}index-restricted", env.prefix))
    );
    let out = env.cmd().args(["keys", "list-index"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("restricted by {}index-restricted", env.prefix)),
        "{text}"
    );
}

#[test]
fn provider_commands_fail_clearly_where_they_cannot_work() {
    let dir = tempfile::tempdir().unwrap();
    // No server configured.
    let out = bare(dir.path())
        .args(["init", "--kek", "openbao"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("BAO_ADDR"));
    assert!(!dir.path().join("ks").exists());
    // A PKCS#11 module that is not there is named, without the PIN.
    let out = bare(dir.path())
        .env("TIERSEAL_PKCS11_PIN", "pin-4417-not-shown")
        .args([
            "init",
            "--kek",
            "pkcs11",
            "--pkcs11-module",
            "/nonexistent.so",
            "--pkcs11-token",
            "t",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("PKCS#11") && stderr.contains("/nonexistent.so"),
        "{stderr}"
    );
    assert!(!stderr.contains("pin-4417-not-shown"), "{stderr}");
    assert!(!dir.path().join("ks").exists());
    // A passphrase keystore has no KEK to rotate.
    bare(dir.path())
        .env("TIERSEAL_PASSPHRASE", "pw")
        .args(["init", "--kdf-profile", "test"])
        .assert()
        .success();
    let before = std::fs::read(dir.path().join("ks")).unwrap();
    let out = bare(dir.path())
        .env("TIERSEAL_PASSPHRASE", "pw")
        .args(["keys", "rotate", "--kek"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("passphrase keystore"));
    assert_eq!(std::fs::read(dir.path().join("ks")).unwrap(), before);
    // --tier and --kek together is a usage error.
    let out = bare(dir.path())
        .args(["keys", "rotate", "--kek", "--tier", "internal"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
