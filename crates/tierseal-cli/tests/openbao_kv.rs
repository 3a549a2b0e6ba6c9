//! `TIERSEAL_KEYSTORE=openbao://MOUNT/PATH` with the `tierseal` binary,
//! against a real OpenBao server.
//!
//! Needs `TIERSEAL_TEST_BAO_ADDR` and `TIERSEAL_TEST_BAO_TOKEN` (KV v2 at
//! `secret`, or `TIERSEAL_TEST_BAO_KV_MOUNT`); without them each test
//! prints `skipped: ...` and passes, unless `TIERSEAL_REQUIRE_SERVICES=1`.
//!
//! Run: `source .ci/services/openbao.sh && cargo test -p tierseal-cli --test openbao_kv`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "test code"
)]

use std::process::{Command as Process, Output, Stdio};

use assert_cmd::Command;
use assert_cmd::cargo::CommandCargoExt as _;
use serde_json::Value;

const PASSPHRASE: &str = "kv custodian passphrase 51c0";

use tierseal_testkit::OpenBao as Bao;

fn bao() -> Option<Bao> {
    Bao::from_env(
        "tierseal CLI on an OpenBao KV keystore",
        "source .ci/services/openbao.sh && cargo test -p tierseal-cli --test openbao_kv",
    )
}

/// A folder with a passphrase file, and a fresh KV location.
struct Env {
    dir: tempfile::TempDir,
    location: String,
    bao: Bao,
}

impl Env {
    fn new(bao: Bao, name: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pass"), format!("{PASSPHRASE}\n")).unwrap();
        // The temporary folder's name is unique: so is the secret.
        let unique = dir
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "");
        let location = format!(
            "openbao://{}/tierseal-cli-test/{name}-{unique}",
            bao.kv_mount
        );
        Env { dir, location, bao }
    }

    /// The binary in the folder, configured by the environment only, as a
    /// service or custodian on another host would be.
    fn process(&self) -> Process {
        let mut cmd = Process::cargo_bin("tierseal").unwrap();
        cmd.current_dir(self.dir.path());
        for key in tierseal_testkit::inherited(&["TIERSEAL_", "BAO_", "VAULT_"]) {
            cmd.env_remove(key);
        }
        cmd.env("TIERSEAL_KEYSTORE", &self.location)
            .env("BAO_ADDR", &self.bao.addr)
            .env("BAO_TOKEN", &self.bao.token)
            .env("TIERSEAL_PASSPHRASE", PASSPHRASE)
            .env("TIERSEAL_ACTOR", "kv-test");
        cmd
    }

    fn cmd(&self) -> Command {
        Command::from_std(self.process())
    }

    fn init(&self) {
        self.cmd()
            .args(["init", "--kdf-profile", "test"])
            .assert()
            .success();
    }

    /// `keys list --json`: (tier, version, state) rows.
    fn versions(&self, tier: &str) -> Vec<(u64, String)> {
        let out = self
            .cmd()
            .args(["keys", "list", "--json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
        rows.as_array()
            .unwrap()
            .iter()
            .filter(|row| row["tier"] == tier)
            .map(|row| {
                (
                    row["version"].as_u64().unwrap(),
                    row["state"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    /// The KV secret's current version, read straight from the server.
    fn kv_version(&self) -> u64 {
        let path = self.location.trim_start_matches("openbao://");
        let (mount, rest) = path.split_once('/').unwrap();
        let out = Process::new("curl")
            .args(["-sf", "-H"])
            .arg(format!("X-Vault-Token: {}", self.bao.token))
            .arg(format!("{}/v1/{mount}/data/{rest}", self.bao.addr))
            .output();
        match out {
            Ok(out) if out.status.success() => {
                let body: Value = serde_json::from_slice(&out.stdout).unwrap();
                body["data"]["metadata"]["version"].as_u64().unwrap()
            }
            _ => panic!("curl could not read the secret"),
        }
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn every_command_works_on_an_openbao_keystore() {
    let Some(bao) = bao() else { return };
    let env = Env::new(bao, "all");
    env.cmd()
        .args([
            "init",
            "--kdf-profile",
            "test",
            "--tier",
            "restricted/cards",
        ])
        .assert()
        .success();
    assert_eq!(env.versions("restricted/cards"), vec![(1, "active".into())]);

    let steps: &[&[&str]] = &[
        &["keys", "add-tier", "confidential/payroll"],
        &["keys", "rotate", "--tier", "restricted", "--reason", "test"],
        &["keys", "add-version", "--tier", "internal"],
        &["keys", "promote", "--tier", "internal", "--version", "2"],
        &[
            "keys",
            "retire",
            "--tier",
            "restricted",
            "--version",
            "1",
            "--yes",
        ],
        &["keys", "cryptoperiod", "--tier", "internal", "--days", "90"],
        &["keys", "check"],
        &["grant", "list"],
    ];
    for step in steps {
        let out = env.cmd().args(*step).output().unwrap();
        let shown = text(&out);
        assert!(out.status.success(), "{step:?}: {shown}");
        assert!(!shown.contains(&env.bao.token), "{step:?}: {shown}");
    }
    let grant = env
        .cmd()
        .args(["grant", "issue", "--principal", "payments-api"])
        .args(["--clearance", "confidential", "--expires", "30d"])
        .args(["--out", "payments.grant"])
        .output()
        .unwrap();
    assert!(grant.status.success(), "{}", text(&grant));
    assert!(env.dir.path().join("payments.grant").exists());

    assert_eq!(
        env.versions("restricted"),
        vec![(1, "retired".into()), (2, "active".into())]
    );
    assert_eq!(
        env.versions("internal"),
        vec![(1, "decrypt-only".into()), (2, "active".into())]
    );
    assert_eq!(env.versions("confidential/payroll").len(), 1);

    // The audit log (in the folder, named after the location) verifies
    // against the keystore in OpenBao.
    let log = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".audit.jsonl"))
        .expect("an audit log");
    assert!(
        log.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("tierseal-"),
        "{log:?}"
    );
    let out = env
        .cmd()
        .args(["audit", "show"])
        .arg(&log)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains("UNVERIFIED"), "{}", text(&out));
    let out = env
        .cmd()
        .args(["audit", "verify"])
        .arg(&log)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));

    // A passphrase change replaces the secret's contents: the new
    // passphrase opens it, the old one no longer does.
    std::fs::write(env.dir.path().join("new"), "new kv passphrase\n").unwrap();
    let out = env
        .cmd()
        .args(["passphrase", "change", "--kdf-profile", "test"])
        .arg("--new-passphrase-file")
        .arg(env.dir.path().join("new"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let out = env.cmd().args(["keys", "list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("wrong passphrase"), "{}", text(&out));
    env.cmd()
        .env("TIERSEAL_PASSPHRASE", "new kv passphrase")
        .args(["keys", "list"])
        .assert()
        .success();
}

#[test]
fn init_refuses_an_existing_secret() {
    let Some(bao) = bao() else { return };
    let env = Env::new(bao, "twice");
    env.init();
    let version = env.kv_version();
    let out = env
        .cmd()
        .args(["init", "--kdf-profile", "test"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("already exists"), "{}", text(&out));
    assert_eq!(env.kv_version(), version);
    assert_eq!(env.versions("restricted"), vec![(1, "active".into())]);
}

#[test]
fn two_processes_rotating_at_once_both_land() {
    let Some(bao) = bao() else { return };
    let env = Env::new(bao, "race");
    env.init();
    const ROUNDS: usize = 3;
    for _ in 0..ROUNDS {
        let children: Vec<_> = ["confidential", "restricted", "restricted"]
            .iter()
            .map(|tier| {
                env.process()
                    .args(["keys", "rotate", "--tier", tier])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            let shown = text(&out);
            assert!(!shown.contains(&env.bao.token), "{shown}");
            // Each rotation lands, or is refused cleanly as a conflict.
            assert!(
                out.status.success() || shown.contains("changed by another custodian"),
                "{shown}"
            );
        }
    }
    let confidential = env.versions("confidential");
    assert_eq!(confidential.len(), 1 + ROUNDS, "{confidential:?}");
    let restricted = env.versions("restricted");
    // Two rotations of restricted per round: every successful one is kept,
    // with consecutive versions and the last one primary.
    assert!(restricted.len() > ROUNDS, "{restricted:?}");
    for (i, (version, _)) in restricted.iter().enumerate() {
        assert_eq!(*version, i as u64 + 1, "{restricted:?}");
    }
    assert_eq!(restricted.last().unwrap().1, "active");
}

#[test]
fn missing_secret_bad_url_and_unreachable_server_are_clear_errors() {
    let Some(bao) = bao() else { return };
    let env = Env::new(bao, "missing");
    // Never created.
    let out = env.cmd().args(["keys", "list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let shown = text(&out);
    assert!(shown.contains("no keystore at openbao://"), "{shown}");
    assert!(shown.contains(&env.bao.addr), "{shown}");

    // A malformed location is named.
    let out = env
        .cmd()
        .env("TIERSEAL_KEYSTORE", "openbao://secret")
        .args(["keys", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("openbao://secret"), "{}", text(&out));

    // A server that is not there: the address is named, not the token.
    env.init();
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let out = env
        .cmd()
        .env("BAO_ADDR", &dead)
        .args(["keys", "rotate", "--tier", "internal"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let shown = text(&out);
    assert!(
        shown.contains(&dead) && shown.contains("unavailable"),
        "{shown}"
    );
    assert!(!shown.contains(&env.bao.token), "{shown}");
    assert_eq!(env.versions("internal"), vec![(1, "active".into())]);

    // No token at all.
    let out = env
        .cmd()
        .env_remove("BAO_TOKEN")
        .args(["keys", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("BAO_TOKEN"), "{}", text(&out));
}

/// The share files `init --split` wrote under `shares/`, by holder.
fn share_of(env: &Env, holder: &str) -> std::path::PathBuf {
    std::fs::read_dir(env.dir.path().join("shares"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| {
            path.file_name()
                .unwrap()
                .to_string_lossy()
                .ends_with(&format!("-{holder}.share"))
        })
        .unwrap_or_else(|| panic!("no share of {holder}"))
}

#[test]
fn a_split_keystore_and_a_transit_keystore_both_live_in_kv() {
    let Some(bao) = bao() else { return };

    // M-of-N custodian shares, the keystore in KV.
    let split = Env::new(bao, "split");
    for holder in ["alice", "bob", "carol"] {
        std::fs::write(
            split.dir.path().join(format!("{holder}.pass")),
            format!("{holder} kv share passphrase\n"),
        )
        .unwrap();
    }
    std::fs::create_dir(split.dir.path().join("shares")).unwrap();
    let mut init = split.cmd();
    init.args(["init", "--kdf-profile", "test", "--split", "2-of-3"])
        .args(["--share-out", "shares"]);
    for holder in ["alice", "bob", "carol"] {
        init.args(["--holder", holder]);
    }
    for holder in ["alice", "bob", "carol"] {
        init.arg("--holder-passphrase-file")
            .arg(format!("{holder}.pass"));
    }
    init.assert().success();
    let with_shares = |holders: &[&str]| {
        let mut cmd = split.cmd();
        cmd.env_remove("TIERSEAL_PASSPHRASE");
        for holder in holders {
            cmd.arg("--share").arg(share_of(&split, holder));
            cmd.arg("--share-passphrase-file")
                .arg(format!("{holder}.pass"));
        }
        cmd
    };
    with_shares(&["alice", "carol"])
        .args(["keys", "rotate", "--tier", "restricted"])
        .assert()
        .success();
    // A split keystore does not open with a passphrase.
    let out = split.cmd().args(["keys", "list"]).output().unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    let out = with_shares(&["bob", "carol"])
        .args(["keys", "list", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    let restricted: Vec<u64> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["tier"] == "restricted")
        .map(|row| row["version"].as_u64().unwrap())
        .collect();
    assert_eq!(restricted, vec![1, 2]);
    // One share is not enough, in KV as in a file.
    let out = with_shares(&["alice"])
        .args(["keys", "list"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("2"), "{}", text(&out));
    // A split keystore moves to a provider only after its shares are joined.
    let out = with_shares(&["alice", "bob"])
        .args(["keys", "migrate-kek", "--to", "openbao"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("split"), "{}", text(&out));

    // Tier keys under OpenBao Transit, the keystore in KV: no passphrase.
    let bao = bao_again();
    let transit = Env::new(bao, "transit");
    let prefix = format!(
        "kv{}-",
        transit
            .location
            .rsplit('-')
            .next()
            .unwrap()
            .chars()
            .take(12)
            .collect::<String>()
            .to_lowercase()
    );
    let mut cmd = transit.cmd();
    cmd.env_remove("TIERSEAL_PASSPHRASE")
        .args(["init", "--kek", "openbao", "--key-prefix", &prefix])
        .assert()
        .success();
    let before = transit.kv_version();
    let plain = |cmd: &mut Command| {
        cmd.env_remove("TIERSEAL_PASSPHRASE");
    };
    let mut rotate = transit.cmd();
    plain(&mut rotate);
    rotate
        .args(["keys", "rotate", "--tier", "confidential"])
        .assert()
        .success();
    let mut rotate_kek = transit.cmd();
    plain(&mut rotate_kek);
    rotate_kek
        .args(["keys", "rotate", "--kek"])
        .assert()
        .success();
    assert!(transit.kv_version() >= before + 2);
    let mut list = transit.cmd();
    plain(&mut list);
    let out = list.args(["keys", "list", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    let confidential: Vec<&Value> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["tier"] == "confidential")
        .collect();
    assert_eq!(confidential.len(), 2);
    assert!(
        confidential
            .iter()
            .all(|row| row["provider"] == "openbao"
                && row["kms_key"] == format!("{prefix}confidential")),
        "{rows}"
    );
    // The passphrase opens nothing here: the header names the provider.
    let out = transit
        .cmd()
        .args(["passphrase", "change"])
        .env("TIERSEAL_NEW_PASSPHRASE", "another passphrase 99")
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains(&transit.bao.token));
}

/// The server settings again (each `Env` owns its own).
fn bao_again() -> Bao {
    bao().expect("checked above")
}
