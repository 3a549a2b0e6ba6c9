//! The `tierseal` binary with tier keys on a PKCS#11 token (SoftHSM2).
//!
//! Needs `TIERSEAL_TEST_PKCS11_MODULE`, `TIERSEAL_TEST_PKCS11_TOKEN`,
//! `TIERSEAL_TEST_PKCS11_PIN` and `SOFTHSM2_CONF` (what
//! `.ci/services/softhsm.sh` exports); the test of a keystore made with
//! OpenBao also needs `TIERSEAL_TEST_BAO_ADDR` / `TIERSEAL_TEST_BAO_TOKEN`
//! (`.ci/services/openbao.sh`). Without them each test prints `skipped:
//! ...` and passes, unless `TIERSEAL_REQUIRE_SERVICES=1`.
//!
//! Run: `source .ci/services/softhsm.sh && cargo test -p tierseal-cli --test pkcs11`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "test code"
)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use assert_cmd::Command;
use secrecy::SecretString;
use serde_json::Value;
use tierseal::kek::pkcs11::{Pkcs11Config, Pkcs11Kek};
use tierseal::kek::{KekSlot, ProviderKind};
use tierseal::{AccessContext, Binding, Clearance, Error, Keystore, Level, SealedValue, Tier};

/// A PIN that must never appear in any output.
const WRONG_PIN: &str = "wrong-pin-83Kq";

/// PKCS#11 login state belongs to the process: the tests that log in
/// from this process run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

struct Hsm {
    module: PathBuf,
    token: String,
    pin: String,
    _serial: MutexGuard<'static, ()>,
}

/// The token `.ci/services/softhsm.sh` set up, or `None` after saying why.
fn hsm(test: &str) -> Option<Hsm> {
    let serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let found = tierseal_testkit::Pkcs11Token::from_env(
        &format!("tierseal CLI on a PKCS#11 token, {test}"),
        "source .ci/services/softhsm.sh && cargo test -p tierseal-cli --test pkcs11",
    )?;
    Some(Hsm {
        module: found.module,
        token: found.token,
        pin: found.pin,
        _serial: serial,
    })
}

/// A key prefix no other test (or earlier run on the same token) uses.
fn unique_prefix(test: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("c{}-{nanos}-{test}-", std::process::id())
}

/// `tierseal --keystore DIR/ks` with the PIN and nothing else of the
/// caller's TIERSEAL_*/BAO_*/VAULT_* environment (SOFTHSM2_CONF stays).
fn tierseal(dir: &Path, pin: &str) -> Command {
    let mut cmd = Command::cargo_bin("tierseal").unwrap();
    cmd.current_dir(dir);
    for key in tierseal_testkit::inherited(&["TIERSEAL_", "BAO_", "VAULT_"]) {
        cmd.env_remove(key);
    }
    cmd.env("TIERSEAL_PKCS11_PIN", pin)
        .env("TIERSEAL_ACTOR", "pkcs11-test")
        .arg("--keystore")
        .arg(dir.join("ks"));
    cmd
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

impl Hsm {
    fn cmd(&self, dir: &Path) -> Command {
        tierseal(dir, &self.pin)
    }

    /// `init --kek pkcs11` on this token with `prefix`.
    fn init(&self, dir: &Path, prefix: &str) {
        self.cmd(dir)
            .args(["init", "--kek", "pkcs11", "--pkcs11-module"])
            .arg(&self.module)
            .args(["--pkcs11-token", &self.token, "--key-prefix", prefix])
            .assert()
            .success();
    }

    /// The provider the keystore header names, opened from this process.
    fn provider_for(&self, keystore: &Path) -> Arc<Pkcs11Kek> {
        let params = Keystore::kek_params_of(keystore).unwrap().unwrap();
        let config = Pkcs11Config::from_params(&params).unwrap();
        Arc::new(Pkcs11Kek::open(config, &SecretString::from(self.pin.clone())).unwrap())
    }

    fn assert_no_pin(&self, text: &str) {
        assert!(!text.contains(&self.pin), "the PIN leaked: {text}");
        assert!(!text.contains(WRONG_PIN), "the PIN leaked: {text}");
    }
}

/// `keys list --json` rows.
fn rows(cmd: &mut Command) -> Vec<Value> {
    let out = cmd.args(["keys", "list", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn cards() -> Tier {
    "restricted/cards".parse().unwrap()
}

#[test]
fn init_rotate_and_rotate_kek_on_a_token_keep_the_data_readable() {
    let Some(hsm) = hsm("init_rotate") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let keystore = dir.path().join("ks");
    let prefix = unique_prefix("rot");
    hsm.init(dir.path(), &prefix);
    // Later commands need the keystore and the PIN only: the module path,
    // token label and prefix are in the header.
    hsm.cmd(dir.path())
        .args(["keys", "add-tier", "restricted/cards"])
        .assert()
        .success();
    hsm.cmd(dir.path())
        .args(["keys", "rotate", "--tier", "restricted/cards"])
        .assert()
        .success();
    let listed = rows(&mut hsm.cmd(dir.path()));
    let card_rows: Vec<&Value> = listed
        .iter()
        .filter(|row| row["tier"] == "restricted/cards")
        .collect();
    assert_eq!(card_rows.len(), 2, "{listed:?}");
    assert!(
        listed.iter().all(|row| row["provider"] == "pkcs11"),
        "{listed:?}"
    );
    assert_eq!(
        card_rows[0]["kms_key"],
        format!("{prefix}restricted-cards"),
        "{listed:?}"
    );
    let check_values = |rows: &[Value]| -> Vec<String> {
        rows.iter()
            .map(|row| row["check_value"].as_str().unwrap().to_owned())
            .collect()
    };
    let before = check_values(&listed);

    // A keyring opened from the token seals a card number.
    let binding = Binding::new("Card", "pan");
    let ctx = AccessContext::new("pkcs11-cli-tests").with_purpose("TEST-11");
    let sealed = {
        let provider = hsm.provider_for(&keystore);
        let store = Keystore::open_with_kek(&keystore, provider).unwrap();
        assert_eq!(store.provider_kind(), ProviderKind::Pkcs11);
        let keyring = store
            .keyring(&Clearance::up_to(Level::Restricted).with(cards()))
            .unwrap();
        SealedValue::seal(&keyring, &cards(), binding, "5500 0000 0000 0004").unwrap()
    };

    // New key objects on the token, the tier keys re-wrapped under them.
    let out = hsm
        .cmd(dir.path())
        .args(["keys", "rotate", "--kek"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    hsm.assert_no_pin(&text(&out));
    let provider = hsm.provider_for(&keystore);
    assert_eq!(
        provider.key_versions(&KekSlot::Tier(&cards())).unwrap(),
        vec![1, 2]
    );
    assert_eq!(
        provider.key_versions(&KekSlot::Keystore).unwrap(),
        vec![1, 2]
    );
    // The tier keys are the same, and the data still opens.
    assert_eq!(check_values(&rows(&mut hsm.cmd(dir.path()))), before);
    {
        let store = Keystore::open_with_kek(&keystore, provider.clone()).unwrap();
        let keyring = store
            .keyring(&Clearance::up_to(Level::Restricted).with(cards()))
            .unwrap();
        assert_eq!(
            sealed.open::<String>(&keyring, binding, &ctx).unwrap(),
            "5500 0000 0000 0004"
        );
    }
    // Only the old key objects' versions could be destroyed now: every
    // wrap names version 2.
    provider
        .destroy_key_version(&KekSlot::Tier(&cards()), 1)
        .unwrap();
    assert_eq!(check_values(&rows(&mut hsm.cmd(dir.path()))), before);

    // The header records where the keys are, never the PIN.
    let bytes = std::fs::read(&keystore).unwrap();
    let header = String::from_utf8_lossy(&bytes);
    assert!(header.contains(&hsm.token) && header.contains(&prefix));
    hsm.assert_no_pin(&header);
}

#[test]
fn a_wrong_pin_is_a_typed_error_without_the_pin() {
    let Some(hsm) = hsm("wrong_pin") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    hsm.init(dir.path(), &unique_prefix("pin"));
    let before = std::fs::read(dir.path().join("ks")).unwrap();
    let out = tierseal(dir.path(), WRONG_PIN)
        .args(["keys", "rotate", "--tier", "internal"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = text(&out);
    assert!(shown.contains("refused the user PIN"), "{shown}");
    assert!(shown.contains(&hsm.token), "{shown}");
    hsm.assert_no_pin(&shown);
    assert_eq!(std::fs::read(dir.path().join("ks")).unwrap(), before);
    // No PIN at all and no terminal: a usage error naming the variable.
    let out = hsm
        .cmd(dir.path())
        .env_remove("TIERSEAL_PKCS11_PIN")
        .args(["keys", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("TIERSEAL_PKCS11_PIN"), "{}", text(&out));
}

#[test]
fn migrate_kek_moves_a_passphrase_keystore_to_the_token_and_back() {
    let Some(hsm) = hsm("migrate") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let prefix = unique_prefix("mig");
    let with_passphrase = || {
        let mut cmd = hsm.cmd(dir.path());
        cmd.env("TIERSEAL_PASSPHRASE", "pkcs11 migration passphrase");
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
    let before: Vec<Value> = rows(&mut with_passphrase());
    let out = with_passphrase()
        .args(["keys", "migrate-kek", "--to", "pkcs11", "--pkcs11-module"])
        .arg(&hsm.module)
        .args(["--pkcs11-token", &hsm.token, "--key-prefix", &prefix])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    hsm.assert_no_pin(&text(&out));
    // Now the PIN alone opens it; the tier keys did not change.
    let after = rows(&mut hsm.cmd(dir.path()));
    assert!(after.iter().all(|row| row["provider"] == "pkcs11"));
    let values = |rows: &[Value]| -> Vec<Value> {
        rows.iter().map(|row| row["check_value"].clone()).collect()
    };
    assert_eq!(values(&after), values(&before));
    // And back to a passphrase.
    hsm.cmd(dir.path())
        .env("TIERSEAL_NEW_PASSPHRASE", "back to a passphrase 2")
        .args([
            "keys",
            "migrate-kek",
            "--to",
            "passphrase",
            "--kdf-profile",
            "test",
        ])
        .assert()
        .success();
    let back = rows(
        hsm.cmd(dir.path())
            .env("TIERSEAL_PASSPHRASE", "back to a passphrase 2"),
    );
    assert!(back.iter().all(|row| row["provider"] == "passphrase"));
    assert_eq!(values(&back), values(&before));
}

#[test]
fn a_keystore_made_with_openbao_is_not_opened_with_pkcs11() {
    let Some(hsm) = hsm("openbao_mismatch") else {
        return;
    };
    let Some(tierseal_testkit::OpenBao {
        addr: address,
        token,
        ..
    }) = tierseal_testkit::OpenBao::from_env(
        "an OpenBao keystore against PKCS#11, no OpenBao server",
        "source .ci/services/openbao.sh && source .ci/services/softhsm.sh && cargo test -p tierseal-cli --test pkcs11",
    )
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let keystore = dir.path().join("ks");
    let prefix = unique_prefix("bao");
    hsm.cmd(dir.path())
        .env("BAO_ADDR", &address)
        .env("BAO_TOKEN", &token)
        .args(["init", "--kek", "openbao", "--key-prefix", &prefix])
        .assert()
        .success();
    let before = std::fs::read(&keystore).unwrap();

    // The library refuses the PKCS#11 provider for it, naming both.
    let provider = Arc::new(
        Pkcs11Kek::open(
            Pkcs11Config::new(&hsm.module, &hsm.token).with_key_prefix(&prefix),
            &SecretString::from(hsm.pin.clone()),
        )
        .unwrap(),
    );
    let err = Keystore::open_with_kek(&keystore, provider).unwrap_err();
    assert!(
        matches!(
            err,
            Error::KekProviderMismatch {
                expected: "pkcs11",
                found: "openbao",
                ..
            }
        ),
        "{err:?}"
    );
    // The binary follows the header: with a PIN but no OpenBao settings it
    // asks for OpenBao's, and never touches the token's keys.
    let out = hsm.cmd(dir.path()).args(["keys", "list"]).output().unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("BAO_ADDR"), "{}", text(&out));
    hsm.assert_no_pin(&text(&out));
    assert!(!text(&out).contains(&token));
    assert_eq!(std::fs::read(&keystore).unwrap(), before);
}
