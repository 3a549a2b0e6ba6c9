//! The `tierseal` binary, driven as a custodian would drive it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    unreachable_pub,
    clippy::new_without_default,
    reason = "test code"
)]

// init, keys list/add-tier/rotate/add-version/promote/check.
mod keys;
// Wrong passphrase, missing, corrupt and locked keystores, concurrency.
mod failures;
// Grants issued by the CLI, loaded by the library.
mod grants;
// Rewrap, retire, and crash safety.
mod rewrap;
// Passphrases never in arguments or output.
mod secrets;
// The audit log of key operations.
mod audit;
// lint and inventory.
mod lint;
// Seal-only grants and public key sets.
mod seal_only;
// The auditor's report.
mod report;
// Huge and odd numbers in every numeric argument and file field.
mod numbers;
// Break-glass approvals: approve, and a grant that requires them.
mod approvals;
// Blind-index keys: rotate-index, retire-index, search-only grants.
mod index;

use std::path::PathBuf;

use assert_cmd::Command;
use tierseal::{Clearance, Keyring, Keystore};

pub const PASSPHRASE: &str = "custodian passphrase 7f3a";

/// A folder with a passphrase file and (after `init`) a keystore.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pass"), format!("{PASSPHRASE}\n")).unwrap();
        Env { dir }
    }

    /// A keystore created with the test KDF and the cards compartment.
    pub fn initialised() -> Env {
        let env = Env::new();
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

    pub fn keystore(&self) -> PathBuf {
        self.path("bank.keystore")
    }

    /// `tierseal --keystore K --passphrase-file P`, in the folder, with no
    /// TIERSEAL_* variables inherited.
    pub fn cmd(&self) -> Command {
        let mut cmd = self.bare();
        cmd.arg("--keystore").arg(self.keystore());
        cmd.arg("--passphrase-file").arg(self.path("pass"));
        cmd
    }

    /// `tierseal grant issue --principal P --clearance C --expires E --out O`
    /// on this keystore; add arguments or assert on it as the test needs.
    pub fn issue_grant(
        &self,
        principal: &str,
        clearance: &str,
        expires: &str,
        out: &str,
    ) -> Command {
        let mut cmd = self.cmd();
        cmd.args(["grant", "issue", "--principal", principal])
            .args(["--clearance", clearance, "--expires", expires, "--out", out]);
        cmd
    }

    /// `tierseal --actor APPROVER approve --requester R --tier T --purpose P
    /// --expires E`; add `--out FILE` or assert on it as the test needs.
    pub fn approve(
        &self,
        approver: &str,
        requester: &str,
        tier: &str,
        purpose: &str,
        expires: &str,
    ) -> Command {
        let mut cmd = self.cmd();
        cmd.args(["--actor", approver, "approve", "--requester", requester])
            .args(["--tier", tier, "--purpose", purpose, "--expires", expires]);
        cmd
    }

    /// The grant file `name` and its secret (`name.secret`), as a service
    /// loads them.
    pub fn load_grant(&self, name: &str) -> Keyring {
        let grant = std::fs::read(self.path(name)).unwrap();
        let secret: tierseal::GrantSecret =
            std::fs::read_to_string(self.path(&format!("{name}.secret")))
                .unwrap()
                .parse()
                .unwrap();
        Keyring::from_grant(&grant, &secret).unwrap()
    }

    /// `sh -c SCRIPT tierseal --keystore K --passphrase-file P`, in the
    /// folder: the script runs the command as `exec "$0" "$@"`, after
    /// setting a limit or with a redirection; add the command's arguments.
    pub fn in_shell(&self, script: &str) -> std::process::Command {
        let mut cmd = std::process::Command::new("sh");
        cmd.current_dir(self.dir.path())
            .args(["-c", script])
            .arg(assert_cmd::cargo::cargo_bin("tierseal"))
            .arg("--keystore")
            .arg(self.keystore())
            .arg("--passphrase-file")
            .arg(self.path("pass"));
        for key in tierseal_testkit::inherited(&["TIERSEAL_"]) {
            cmd.env_remove(key);
        }
        cmd
    }

    /// `tierseal` in the folder with a clean environment.
    pub fn bare(&self) -> Command {
        let mut cmd = Command::cargo_bin("tierseal").unwrap();
        cmd.current_dir(self.dir.path());
        for key in tierseal_testkit::inherited(&["TIERSEAL_"]) {
            cmd.env_remove(key);
        }
        cmd
    }

    /// `tierseal passphrase change` to `new` (read from the file `new`).
    pub fn change_passphrase(&self, new: &str) {
        std::fs::write(self.path("new"), format!("{new}\n")).unwrap();
        self.cmd()
            .args([
                "passphrase",
                "change",
                "--kdf-profile",
                "test",
                "--new-passphrase-file",
            ])
            .arg(self.path("new"))
            .assert()
            .success();
    }

    /// The library's view of the keystore (drop it before the next command).
    pub fn open(&self) -> Keystore {
        Keystore::open(self.keystore(), &PASSPHRASE.into()).unwrap()
    }

    pub fn keyring(&self) -> Keyring {
        let keystore = self.open();
        let clearance: Clearance = keystore.tiers().cloned().collect();
        keystore.keyring(&clearance).unwrap()
    }
}

pub use tierseal_testkit::{stderr, stdout};
