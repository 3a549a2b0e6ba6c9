//! What the database job tests share: a keystore folder, the binary, and
//! sealed rows.
#![allow(dead_code, reason = "each test file uses part of it")]

use std::collections::BTreeMap;
use std::path::PathBuf;

use assert_cmd::Command;
use tierseal::{
    Binding, Clearance, Keyring, Keystore, RecordSealer, SealedField, SealedToken, SealedValue,
    Tier,
};

pub const PASSPHRASE: &str = "custodian passphrase 7f3a";

/// A folder with a passphrase file and a keystore (test KDF, the cards
/// compartment).
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn initialised() -> Env {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pass"), format!("{PASSPHRASE}\n")).unwrap();
        let env = Env { dir };
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
        env
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `tierseal --keystore K --passphrase-file P`, in the folder, with no
    /// TIERSEAL_* variables inherited.
    pub fn cmd(&self) -> Command {
        Command::from_std(self.spawnable())
    }

    /// The keystore (drop it before the next command).
    pub fn keystore(&self) -> Keystore {
        Keystore::open(self.path("bank.keystore"), &PASSPHRASE.into()).unwrap()
    }

    /// The same command as [`Env::cmd`], as a `std` command (to spawn
    /// and kill).
    pub fn spawnable(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin!("tierseal"));
        cmd.current_dir(self.dir.path());
        for key in tierseal_testkit::inherited(&["TIERSEAL_"]) {
            cmd.env_remove(key);
        }
        cmd.arg("--keystore").arg(self.path("bank.keystore"));
        cmd.arg("--passphrase-file").arg(self.path("pass"));
        cmd
    }

    /// Every tier's keys (drop it before the next command).
    pub fn keyring(&self) -> Keyring {
        let keystore = self.keystore();
        let clearance: Clearance = keystore.tiers().cloned().collect();
        keystore.keyring(&clearance).unwrap()
    }

    /// `keys rotate --tier restricted/cards`: v2 becomes primary.
    pub fn rotate_cards(&self) {
        self.cmd()
            .args(["keys", "rotate", "--tier", "restricted/cards"])
            .assert()
            .success();
    }

    /// Asserts that retiring v1 over `data` is refused because a value
    /// cannot be checked (naming `place`), and that v1 stays.
    pub fn assert_retire_refused_unreadable(&self, data: &str, place: &str, case: &str) {
        let output = self.retire_v1(data);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{case}: {err}");
        assert!(err.contains("cannot be read"), "{case}: {err}");
        assert!(err.contains(place), "{case}: {err}");
        assert!(
            self.keystore()
                .key_versions()
                .iter()
                .all(|v| v.retired_at.is_none()),
            "{case}: v1 was retired"
        );
    }

    /// `keys retire --tier restricted/cards --version 1 --data DATA --yes`.
    pub fn retire_v1(&self, data: &str) -> std::process::Output {
        self.cmd()
            .args([
                "keys",
                "retire",
                "--tier",
                "restricted/cards",
                "--version",
                "1",
            ])
            .args(["--data", data, "--yes"])
            .output()
            .unwrap()
    }
}

pub use tierseal_testkit::{stderr, stdout};

pub fn cards() -> Tier {
    "restricted/cards".parse().unwrap()
}

/// One sealed row: a card field with its record key, and a standalone
/// sealed IBAN inside a JSON document.
pub struct SealedRow {
    pub card: SealedField,
    pub card_key: String,
    pub doc: String,
}

pub fn sealed_row(keyring: &Keyring, i: usize) -> SealedRow {
    let id = format!("acc_{i:06}");
    let mut sealer = RecordSealer::new(keyring, Binding::new("Account", "").with_record_id(&id));
    let card = sealer
        .seal_field(&cards(), "card", &format!("4111{i:012}"))
        .unwrap();
    let keys = sealer.finish();
    let iban = SealedValue::seal(
        keyring,
        &cards(),
        Binding::new("Account", "iban").with_record_id(&id),
        &format!("DE89370400440532{i:06}"),
    )
    .unwrap();
    SealedRow {
        card,
        card_key: keys.keys().first().unwrap().to_text(),
        doc: serde_json::json!({ "kind": "account", "seq": i, "iban": iban, "note": "ok" })
            .to_string(),
    }
}

/// Key versions of the data keys in a record-key text and a document.
pub fn versions(card_key: &str, doc: &str, into: &mut BTreeMap<u32, usize>) {
    let key: SealedToken = card_key.parse().unwrap();
    *into.entry(key.key_version().unwrap().1).or_default() += 1;
    let doc: serde_json::Value = serde_json::from_str(doc).unwrap();
    let iban: SealedToken = doc["iban"].as_str().unwrap().parse().unwrap();
    *into.entry(iban.key_version().unwrap().1).or_default() += 1;
}
