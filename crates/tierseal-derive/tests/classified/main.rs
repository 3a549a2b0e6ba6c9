//! `#[derive(Classified)]` end to end: seal, store as JSON, open with
//! keyrings of different clearances.
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

// Clearances see exactly their fields; masks show; open_all refuses.
mod clearances;
// Moved ciphertexts, renamed fields, rewrap after rotation.
mod binding;
// Generics, Option presence, nested records, transient fields.
mod shapes;
// Debug output of every generated type.
mod redaction;
// Nested records bound to their path; authenticated masks.
mod nesting;
// #[classified(packed)]: one part per tier, as the default mode otherwise.
mod packed;

use serde::{Deserialize, Serialize};
use tierseal::{Classified, Clearance, KdfProfile, Keyring, Keystore, Level, Tier};

#[derive(Classified, Clone, PartialEq, Serialize, Deserialize)]
#[classified(record_id = "customer_id")]
pub struct Customer {
    #[classify(public)]
    pub customer_id: String,
    #[classify(internal)]
    pub name: String,
    #[classify(confidential)]
    pub balance_cents: i64,
    #[classify(restricted, compartment = "cards", mask = "last4")]
    pub card_number: String,
    #[classify(confidential, compartment = "payroll", id = "salary")]
    pub monthly_salary: Option<u64>,
    pub nickname: String,
}

pub fn ada() -> Customer {
    Customer {
        customer_id: "cus_042".into(),
        name: "Ada Lovelace".into(),
        balance_cents: 1_250_075,
        card_number: "4111111111111111".into(),
        monthly_salary: Some(825_000),
        nickname: "ada".into(),
    }
}

pub fn cards() -> Tier {
    "restricted/cards".parse().unwrap()
}

pub fn payroll() -> Tier {
    "confidential/payroll".parse().unwrap()
}

pub struct Bank {
    pub _dir: tempfile::TempDir,
    pub keystore: Keystore,
}

impl Bank {
    pub fn new() -> Bank {
        let dir = tempfile::tempdir().unwrap();
        let mut keystore = Keystore::create(
            dir.path().join("bank.keystore"),
            &"pw".into(),
            KdfProfile::Test,
        )
        .unwrap();
        keystore.add_tier(&cards()).unwrap();
        keystore.add_tier(&payroll()).unwrap();
        Bank {
            _dir: dir,
            keystore,
        }
    }

    pub fn keyring(&self, clearance: Clearance) -> Keyring {
        self.keystore.keyring(&clearance).unwrap()
    }

    pub fn writer(&self) -> Keyring {
        self.keyring(
            Clearance::up_to(Level::Restricted)
                .with(cards())
                .with(payroll()),
        )
    }
}
