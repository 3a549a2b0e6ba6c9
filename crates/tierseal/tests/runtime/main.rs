//! Integration tests of the tierseal runtime, in one binary to keep link
//! time low.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a panic is a test failure"
)]

// Values sealed and opened through the public API.
mod roundtrip;
// Altered, moved and relabelled ciphertexts.
mod tamper;
// Rotation, staged versions, rewrap and retire.
mod rotation;
// The keystore file: passphrases, corruption, locking, crashes.
mod keystore;
// Grant files for services.
mod grants;
// Debug, Display and errors never show secrets.
mod redaction;
// The audit trail: chain, tampering, concurrency, purpose.
mod audit;
// The purpose an open must give.
mod purpose;
// Property tests.
mod properties;
// Break-glass approvals.
mod approval;

mod common {
    use std::sync::LazyLock;

    use tierseal::{AccessContext, Clearance, KdfProfile, Keyring, Keystore, Level, Tier};

    /// The access context of every open in these tests.
    pub(crate) static CTX: LazyLock<AccessContext> =
        LazyLock::new(|| AccessContext::new("runtime-tests").with_purpose("TEST-1"));

    /// A keystore in a temporary folder, with the cheap test KDF profile
    /// and the `restricted/cards` and `confidential/payroll` compartments.
    pub(crate) struct Fixture {
        pub(crate) dir: tempfile::TempDir,
        pub(crate) keystore: Keystore,
    }

    pub(crate) const PASSPHRASE: &str = "correct horse battery staple";

    impl Fixture {
        pub(crate) fn new() -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let mut keystore = Keystore::create(
                dir.path().join("test.keystore"),
                &PASSPHRASE.into(),
                KdfProfile::Test,
            )
            .unwrap();
            keystore.add_tier(&cards()).unwrap();
            keystore.add_tier(&payroll()).unwrap();
            Fixture { dir, keystore }
        }

        pub(crate) fn path(&self) -> std::path::PathBuf {
            self.keystore.path().to_owned()
        }

        pub(crate) fn everything(&self) -> Keyring {
            self.keystore
                .keyring(
                    &Clearance::up_to(Level::Restricted)
                        .with(cards())
                        .with(payroll()),
                )
                .unwrap()
        }

        pub(crate) fn up_to(&self, level: Level) -> Keyring {
            self.keystore.keyring(&Clearance::up_to(level)).unwrap()
        }
    }

    pub(crate) fn cards() -> Tier {
        "restricted/cards".parse().unwrap()
    }

    pub(crate) fn payroll() -> Tier {
        "confidential/payroll".parse().unwrap()
    }
}
