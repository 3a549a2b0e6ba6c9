//! Split knowledge and dual control, driven as custodians would drive them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "test code"
)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use tierseal::{Binding, Clearance, KdfProfile, Keystore, SealedValue, ShareKey, Tier};

const HOLDERS: [&str; 3] = ["alice", "bob", "carol"];

fn pass(holder: &str) -> String {
    format!("{holder} keeps this secret 8d2")
}

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        for holder in ["alice", "bob", "carol", "dave", "mallory"] {
            std::fs::write(
                dir.path().join(format!("{holder}.pass")),
                pass(holder) + "\n",
            )
            .unwrap();
        }
        std::fs::write(dir.path().join("keystore.pass"), "the one passphrase\n").unwrap();
        std::fs::create_dir(dir.path().join("shares")).unwrap();
        Env { dir }
    }

    /// A 2-of-3 keystore (alice, bob, carol) with restricted/cards.
    fn split() -> Env {
        let env = Env::new();
        let mut cmd = env.bare();
        cmd.args([
            "init",
            "--kdf-profile",
            "test",
            "--tier",
            "restricted/cards",
        ]);
        env.new_set(&mut cmd, "2-of-3", &HOLDERS);
        cmd.assert().success();
        env
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn keystore(&self) -> PathBuf {
        self.path("bank.keystore")
    }

    fn log(&self) -> PathBuf {
        self.path("bank.keystore.audit.jsonl")
    }

    /// The share file of `holder` in generation `generation`.
    fn share(&self, generation: u32, holder: &str) -> PathBuf {
        let index = match holder {
            "alice" => 1,
            "bob" => 2,
            "carol" => 3,
            _ => 3,
        };
        self.path(&format!(
            "shares/bank.keystore.g{generation}.{index}-{holder}.share"
        ))
    }

    fn bytes(&self) -> Vec<u8> {
        std::fs::read(self.keystore()).unwrap()
    }

    /// `tierseal --keystore K`, in the folder, with no TIERSEAL_* variables.
    fn bare(&self) -> Command {
        let mut cmd = Command::cargo_bin("tierseal").unwrap();
        cmd.current_dir(self.dir.path());
        for key in tierseal_testkit::inherited(&["TIERSEAL_"]) {
            cmd.env_remove(key);
        }
        cmd.arg("--keystore").arg(self.keystore());
        cmd
    }

    /// `bare()` unlocked with the given (share file, passphrase holder)
    /// pairs.
    fn with(&self, shares: &[(PathBuf, &str)]) -> Command {
        let mut cmd = self.bare();
        for (share, holder) in shares {
            cmd.arg("--share").arg(share);
            cmd.arg("--share-passphrase-file")
                .arg(self.path(&format!("{holder}.pass")));
        }
        cmd
    }

    /// `bare()` unlocked by `holders`' generation-`generation` shares.
    fn by(&self, generation: u32, holders: &[&str]) -> Command {
        let shares: Vec<(PathBuf, &str)> = holders
            .iter()
            .map(|h| (self.share(generation, h), *h))
            .collect();
        self.with(&shares)
    }

    /// Adds `--split SPEC --holder H... --share-out shares --holder-passphrase-file ...`.
    fn new_set(&self, cmd: &mut Command, spec: &str, holders: &[&str]) {
        cmd.args(["--split", spec, "--share-out", "shares"]);
        for holder in holders {
            cmd.args(["--holder", holder]);
        }
        for holder in holders {
            cmd.arg("--holder-passphrase-file")
                .arg(self.path(&format!("{holder}.pass")));
        }
    }

    fn key(&self, generation: u32, holder: &str) -> ShareKey {
        ShareKey {
            path: self.share(generation, holder),
            passphrase: pass(holder).into(),
        }
    }

    /// Every tier key version's check value, as `keys list --json` shows it.
    fn check_values(&self, cmd: &mut Command) -> Vec<(String, u64, String)> {
        let out = cmd.args(["keys", "list", "--json"]).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        rows.as_array()
            .unwrap()
            .iter()
            .map(|row| {
                (
                    row["tier"].as_str().unwrap().to_owned(),
                    row["version"].as_u64().unwrap(),
                    row["check_value"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }
}

use tierseal_testkit::{stderr, stdout};

/// Runs `cmd`, expects exit 1 or 2, and returns stderr.
fn fails(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        !out.status.success(),
        "unexpected success: {}",
        stdout(&out)
    );
    stderr(&out)
}

fn cards() -> Tier {
    "restricted/cards".parse().unwrap()
}

fn audit_events(log: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).unwrap()["entry"]["event"].clone()
        })
        .collect()
}

#[test]
fn cli_init_split_two_of_three_and_any_two_holders_unlock() {
    let env = Env::split();
    for holder in HOLDERS {
        assert!(env.share(1, holder).is_file(), "{holder}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(env.share(1, holder))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
    let mut seen = Vec::new();
    for pair in [["alice", "bob"], ["bob", "carol"], ["carol", "alice"]] {
        seen.push(env.check_values(&mut env.by(1, &pair)));
    }
    assert_eq!(seen[0].len(), 4);
    assert!(seen.iter().all(|values| *values == seen[0]));
    // No share: the error names the holders and how to unlock.
    let err = fails(env.bare().args(["keys", "list"]));
    assert!(
        err.contains("--share") && err.contains("alice, bob, carol"),
        "{err}"
    );
    // A passphrase does not open it.
    let err = fails(
        env.bare()
            .arg("--passphrase-file")
            .arg(env.path("keystore.pass"))
            .args(["keys", "list"]),
    );
    assert!(err.contains("--share"), "{err}");
    let out = env.bare().args(["shares", "show"]).output().unwrap();
    assert!(stdout(&out).contains("split 2-of-3"), "{}", stdout(&out));
    assert!(stdout(&out).contains("retire, grant-restricted, root-change, kek-migration"));
}

#[test]
fn cli_one_share_is_refused_as_too_few_and_nothing_changes() {
    let env = Env::split();
    let before = env.bytes();
    let err = fails(
        env.by(1, &["carol"])
            .args(["keys", "rotate", "--tier", "restricted"]),
    );
    assert!(err.contains("needs 2 shares, got 1"), "{err}");
    assert_eq!(env.bytes(), before);
}

#[test]
fn cli_a_share_of_another_keystore_is_refused_by_name() {
    let env = Env::split();
    let other = Env::split();
    let before = env.bytes();
    let err = fails(
        env.with(&[
            (env.share(1, "alice"), "alice"),
            (other.share(1, "bob"), "bob"),
        ])
        .args(["keys", "rotate", "--tier", "restricted"]),
    );
    assert!(
        err.contains(&other.share(1, "bob").display().to_string())
            && err.contains("belongs to keystore"),
        "{err}"
    );
    assert_eq!(env.bytes(), before);
}

#[test]
fn cli_a_duplicated_share_is_refused_naming_it() {
    let env = Env::split();
    let before = env.bytes();
    let err = fails(
        env.by(1, &["bob", "bob"])
            .args(["keys", "rotate", "--tier", "restricted"]),
    );
    assert!(
        err.contains("share #2 of holder bob is given twice"),
        "{err}"
    );
    assert_eq!(env.bytes(), before);
}

#[test]
fn cli_a_tampered_share_file_is_refused_naming_the_file() {
    let env = Env::split();
    let before = env.bytes();
    let share = env.share(1, "carol");
    let mut bytes = std::fs::read(&share).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    std::fs::write(&share, bytes).unwrap();
    let err =
        fails(
            env.by(1, &["alice", "carol"])
                .args(["keys", "rotate", "--tier", "restricted"]),
        );
    assert!(
        err.contains(&format!("share file {} is corrupt", share.display())),
        "{err}"
    );
    assert_eq!(env.bytes(), before);
}

#[test]
fn cli_a_wrong_holder_passphrase_names_the_share_and_holder() {
    let env = Env::split();
    let before = env.bytes();
    // Mallory's passphrase on Bob's share.
    let out = env
        .with(&[
            (env.share(1, "alice"), "alice"),
            (env.share(1, "bob"), "mallory"),
        ])
        .args(["keys", "rotate", "--tier", "restricted"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("wrong passphrase for share #2 of holder bob"),
        "{err}"
    );
    assert!(!err.contains(&pass("mallory")) && !stdout(&out).contains(&pass("mallory")));
    assert_eq!(env.bytes(), before);
}

#[test]
fn cli_reissue_makes_the_old_shares_useless() {
    let env = Env::split();
    let keys_before = env.check_values(&mut env.by(1, &["alice", "bob"]));
    // Carol leaves; dave joins. Alice and Bob approve.
    let mut cmd = env.by(1, &["alice", "bob"]);
    cmd.args(["shares", "reissue", "--kdf-profile", "test"]);
    env.new_set(&mut cmd, "2-of-3", &["alice", "bob", "dave"]);
    cmd.assert().success();
    let dave = env.path("shares/bank.keystore.g2.3-dave.share");
    assert!(dave.is_file());

    let before = env.bytes();
    for pair in [["alice", "bob"], ["alice", "carol"]] {
        let err = fails(env.by(1, &pair).args(["keys", "list"]));
        assert!(
            err.contains("generation 1") && err.contains("current set is generation 2"),
            "{err}"
        );
    }
    // Carol's old share, now verified, is refused too.
    let err = fails(
        env.with(&[(env.share(1, "carol"), "carol")])
            .args(["shares", "verify"]),
    );
    assert!(err.contains("useless"), "{err}");
    assert_eq!(env.bytes(), before);
    // Mixed old and new: refused by the old one's name.
    let err = fails(
        env.with(&[
            (env.share(2, "alice"), "alice"),
            (env.share(1, "bob"), "bob"),
        ])
        .args(["keys", "list"]),
    );
    assert!(
        err.contains(&env.share(1, "bob").display().to_string()),
        "{err}"
    );
    // The new set opens every key.
    let after = env.check_values(&mut env.with(&[(dave, "dave"), (env.share(2, "bob"), "bob")]));
    assert_eq!(after, keys_before);
}

#[test]
fn cli_verify_checks_one_share_without_unlocking_anything() {
    let env = Env::split();
    let before = env.bytes();
    let log_before = std::fs::read(env.log()).unwrap();
    let out = env
        .with(&[(env.share(1, "carol"), "carol")])
        .args(["shares", "verify"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("share #3 of 2-of-3 held by carol") && text.contains("nothing was unlocked"),
        "{text}"
    );
    // Wrong passphrase: named, exit 1.
    let err = fails(
        env.with(&[(env.share(1, "carol"), "alice")])
            .args(["shares", "verify"]),
    );
    assert!(err.contains("holder carol"), "{err}");
    // It needs exactly one share.
    let err = fails(env.by(1, &["alice", "bob"]).args(["shares", "verify"]));
    assert!(err.contains("the one share"), "{err}");
    assert_eq!(env.bytes(), before);
    assert_eq!(std::fs::read(env.log()).unwrap(), log_before);
}

#[test]
fn cli_passphrase_to_shares_to_passphrase_keeps_every_tier_key() {
    let env = Env::new();
    let with_passphrase = || {
        let mut cmd = env.bare();
        cmd.arg("--passphrase-file").arg(env.path("keystore.pass"));
        cmd
    };
    with_passphrase()
        .args([
            "init",
            "--kdf-profile",
            "test",
            "--tier",
            "restricted/cards",
        ])
        .assert()
        .success();
    with_passphrase()
        .args(["keys", "rotate", "--tier", "restricted/cards"])
        .assert()
        .success();
    let keys_before = env.check_values(&mut with_passphrase());
    let binding = Binding::new("Card", "pan");
    let sealed = {
        let keystore = Keystore::open(env.keystore(), &"the one passphrase".into()).unwrap();
        let keyring = keystore.keyring(&Clearance::none().with(cards())).unwrap();
        SealedValue::seal(&keyring, &cards(), binding, "5500 0000 0000 0004").unwrap()
    };
    let ctx = tierseal::AccessContext::new("cli-tests").with_purpose("TEST-13");

    let mut split = with_passphrase();
    split.args(["shares", "split", "--kdf-profile", "test"]);
    env.new_set(&mut split, "2-of-3", &HOLDERS);
    split.assert().success();
    assert!(fails(with_passphrase().args(["keys", "list"])).contains("--share"));
    assert_eq!(
        env.check_values(&mut env.by(1, &["alice", "carol"])),
        keys_before
    );
    {
        let keystore = Keystore::open_with_shares(
            env.keystore(),
            &[env.key(1, "bob"), env.key(1, "carol")],
            Duration::ZERO,
        )
        .unwrap();
        let keyring = keystore.keyring(&Clearance::none().with(cards())).unwrap();
        assert_eq!(
            sealed.open::<String>(&keyring, binding, &ctx).unwrap(),
            "5500 0000 0000 0004"
        );
    }
    // A passphrase change on a split keystore is refused, pointing at join.
    let err = fails(
        env.by(1, &["alice", "bob"])
            .args([
                "passphrase",
                "change",
                "--kdf-profile",
                "test",
                "--new-passphrase-file",
            ])
            .arg(env.path("dave.pass")),
    );
    assert!(err.contains("shares join"), "{err}");

    env.by(1, &["bob", "alice"])
        .args([
            "shares",
            "join",
            "--kdf-profile",
            "test",
            "--new-passphrase-file",
        ])
        .arg(env.path("dave.pass"))
        .assert()
        .success();
    let err = fails(env.by(1, &["alice", "bob"]).args(["keys", "list"]));
    assert!(err.contains("not split"), "{err}");
    let mut joined = env.bare();
    joined.arg("--passphrase-file").arg(env.path("dave.pass"));
    assert_eq!(env.check_values(&mut joined), keys_before);
    let keystore = Keystore::open(env.keystore(), &pass("dave").into()).unwrap();
    let keyring = keystore.keyring(&Clearance::none().with(cards())).unwrap();
    assert_eq!(
        sealed.open::<String>(&keyring, binding, &ctx).unwrap(),
        "5500 0000 0000 0004"
    );
    assert!(keystore.share_set().is_none());
    let _ = KdfProfile::Test;
}

#[test]
fn cli_the_audit_log_names_both_approving_custodians() {
    let env = Env::split();
    env.by(1, &["alice", "carol"])
        .args([
            "--actor",
            "ops-oncall",
            "keys",
            "rotate",
            "--tier",
            "restricted/cards",
        ])
        .assert()
        .success();
    env.by(1, &["carol", "bob"])
        .args([
            "keys",
            "retire",
            "--tier",
            "restricted/cards",
            "--version",
            "1",
            "--yes",
        ])
        .assert()
        .success();
    let events = audit_events(&env.log());
    let rotate: Vec<_> = events.iter().filter(|e| e["action"] == "rotate").collect();
    assert_eq!(rotate.len(), 2, "intent and outcome");
    for event in &rotate {
        assert_eq!(event["approvers"], serde_json::json!(["alice", "carol"]));
        assert_eq!(event["principal"], "ops-oncall");
    }
    let retire: Vec<_> = events.iter().filter(|e| e["action"] == "retire").collect();
    assert_eq!(retire.len(), 2);
    assert_eq!(retire[1]["outcome"], "ok");
    for event in &retire {
        assert_eq!(event["approvers"], serde_json::json!(["carol", "bob"]));
    }
    // The log, with its approvers, verifies under the keystore's audit key.
    env.by(1, &["alice", "bob"])
        .arg("audit")
        .arg("verify")
        .arg(env.log())
        .assert()
        .success();
    // A reissue is recorded with its approvers too.
    let mut cmd = env.by(1, &["alice", "bob"]);
    cmd.args(["shares", "reissue", "--kdf-profile", "test"]);
    env.new_set(&mut cmd, "2-of-3", &HOLDERS);
    cmd.assert().success();
    let events = audit_events(&env.log());
    let reissue = events
        .iter()
        .rfind(|e| e["action"] == "shares-reissue")
        .unwrap();
    assert_eq!(reissue["outcome"], "ok");
    assert_eq!(reissue["approvers"], serde_json::json!(["alice", "bob"]));
}

#[test]
fn cli_bad_splits_and_pairings_are_usage_errors_and_create_nothing() {
    let env = Env::new();
    for (spec, holders) in [
        ("1-of-3", &HOLDERS[..]),
        ("3-of-2", &HOLDERS[..2]),
        ("2-of-3", &HOLDERS[..2]),
    ] {
        let mut cmd = env.bare();
        cmd.args(["init", "--kdf-profile", "test"]);
        env.new_set(&mut cmd, spec, holders);
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{spec}: {}", stderr(&out));
        assert!(!env.keystore().exists());
        assert_eq!(std::fs::read_dir(env.path("shares")).unwrap().count(), 0);
    }
    // One passphrase file for two shares.
    let env = Env::split();
    let out = env
        .bare()
        .args(["--share"])
        .arg(env.share(1, "alice"))
        .args(["--share"])
        .arg(env.share(1, "bob"))
        .arg("--share-passphrase-file")
        .arg(env.path("alice.pass"))
        .args(["keys", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("one --share-passphrase-file per --share"));
}

#[test]
fn cli_nothing_is_written_and_no_passphrase_is_shown_on_any_share_error() {
    let env = Env::split();
    let before = env.bytes();
    let log_before = std::fs::read(env.log()).unwrap();
    let listing = |dir: &Path| {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        names
    };
    let files_before = listing(env.dir.path());
    let attempts: Vec<Command> = vec![
        env.by(1, &["alice"]),
        env.by(1, &["alice", "alice"]),
        env.with(&[(env.share(1, "alice"), "bob"), (env.share(1, "bob"), "bob")]),
        env.with(&[
            (env.share(1, "alice"), "alice"),
            (env.path("missing.share"), "bob"),
        ]),
    ];
    for mut cmd in attempts {
        cmd.args([
            "keys",
            "retire",
            "--tier",
            "restricted/cards",
            "--version",
            "1",
            "--yes",
        ]);
        let out = cmd.output().unwrap();
        assert!(!out.status.success());
        let all = format!("{}{}", stdout(&out), stderr(&out));
        for holder in HOLDERS {
            assert!(!all.contains(&pass(holder)), "{all}");
        }
    }
    assert_eq!(env.bytes(), before);
    assert_eq!(std::fs::read(env.log()).unwrap(), log_before);
    assert_eq!(listing(env.dir.path()), files_before);
}

#[test]
fn cli_audit_show_names_the_approvers() {
    let env = Env::split();
    env.by(1, &["bob", "alice"])
        .args(["keys", "rotate", "--tier", "internal"])
        .assert()
        .success();
    let out = env
        .by(1, &["alice", "carol"])
        .args(["audit", "show", "--action", "rotate"])
        .arg(env.log())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(text.matches("approved by bob, alice").count(), 2, "{text}");
}

#[test]
fn cli_the_dual_control_policy_is_set_at_split_and_kept_or_changed_by_reissue() {
    let env = Env::new();
    let mut cmd = env.bare();
    cmd.args([
        "init",
        "--kdf-profile",
        "test",
        "--dual-control",
        "retire,root-change",
    ]);
    env.new_set(&mut cmd, "2-of-3", &HOLDERS);
    cmd.assert().success();
    let policy = |env: &Env| {
        let out = env
            .bare()
            .args(["shares", "show", "--json"])
            .output()
            .unwrap();
        let set: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        set["dual_control"].clone()
    };
    assert_eq!(policy(&env), serde_json::json!(["retire", "root-change"]));
    let mut reissue = env.by(1, &["alice", "bob"]);
    reissue.args(["shares", "reissue", "--kdf-profile", "test"]);
    env.new_set(&mut reissue, "2-of-3", &HOLDERS);
    reissue.assert().success();
    assert_eq!(policy(&env), serde_json::json!(["retire", "root-change"]));
    let mut reissue = env.by(2, &["alice", "bob"]);
    reissue.args([
        "shares",
        "reissue",
        "--kdf-profile",
        "test",
        "--dual-control",
        "none",
    ]);
    env.new_set(&mut reissue, "2-of-3", &HOLDERS);
    reissue.assert().success();
    assert_eq!(policy(&env), serde_json::json!([]));
    let before = env.bytes();
    let mut bad = env.by(3, &["alice", "bob"]);
    bad.args([
        "shares",
        "reissue",
        "--kdf-profile",
        "test",
        "--dual-control",
        "everything",
    ]);
    env.new_set(&mut bad, "2-of-3", &HOLDERS);
    let err = fails(&mut bad);
    assert!(err.contains("dual-control operation"), "{err}");
    assert_eq!(env.bytes(), before);
    assert!(!env.share(4, "alice").exists());
}

#[test]
fn cli_report_shows_the_share_policy_for_an_auditor() {
    let env = Env::split();
    let out = env
        .by(1, &["bob", "carol"])
        .args(["report", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let custody = &report["keystore"]["custody"];
    assert_eq!(custody["kind"], "shares", "{custody}");
    assert_eq!(custody["threshold"], 2, "{custody}");
    assert_eq!(custody["holders"], 3, "{custody}");
    assert_eq!(
        custody["holder_names"],
        serde_json::json!(["alice", "bob", "carol"])
    );
    assert_eq!(
        custody["dual_control"],
        serde_json::json!(["retire", "grant-restricted", "root-change", "kek-migration"])
    );
    let out = env.by(1, &["alice", "bob"]).arg("report").output().unwrap();
    let text = stdout(&out);
    assert!(text.contains("2-of-3 custodian shares"), "{text}");
    assert!(text.contains("Share holders: alice, bob, carol"), "{text}");
}
