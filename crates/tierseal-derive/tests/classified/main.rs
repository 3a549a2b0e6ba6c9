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

/// Declares a type with the fields of the README's `Customer` (and
/// `$extra` internal fields), under type id `$id`, with the container
/// attributes `$flag` (`packed`): the same record in several forms.
macro_rules! customer_type {
    ($name:ident, $id:tt $(, $flag:ident)* $(; $($extra:ident),*)?) => {
        #[derive(tierseal::Classified, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        #[classified(record_id = "customer_id", id = $id $(, $flag)*)]
        pub struct $name {
            #[classify(public)]
            pub customer_id: String,
            #[classify(internal)]
            pub name: String,
            $($(
                #[classify(internal)]
                pub $extra: String,
            )*)?
            #[classify(confidential)]
            pub balance_cents: i64,
            #[classify(restricted, compartment = "cards", mask = "last4")]
            pub card_number: String,
            #[classify(confidential, compartment = "payroll", id = "salary")]
            pub monthly_salary: Option<u64>,
            pub nickname: String,
        }
    };
}

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

use tierseal::{Clearance, KdfProfile, Keyring, Keystore, Level, Tier};

customer_type!(Customer, "Customer");

/// Fails unless `text` holds none of Ada's classified values.
pub fn assert_no_secrets(text: &str) {
    for secret in [
        "Ada Lovelace",
        "1250075",
        "4111111111111111",
        "825000",
        "1111",
    ] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
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
