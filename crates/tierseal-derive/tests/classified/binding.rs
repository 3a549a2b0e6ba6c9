use serde::{Deserialize, Serialize};
use tierseal::{AccessContext, Classified, Clearance, Error, Level, Rewrapped};

use crate::{Bank, SealedCustomer, ada, cards};

fn ctx() -> AccessContext {
    AccessContext::new("test").with_purpose("TICKET-2")
}

#[test]
fn a_field_copied_into_another_records_json_fails_to_open() {
    let bank = Bank::new();
    let writer = bank.writer();
    let mut grace = ada();
    grace.customer_id = "cus_043".into();
    grace.card_number = "5500000000000004".into();
    let ada_json = serde_json::to_value(ada().seal(&writer).unwrap()).unwrap();
    let mut grace_json = serde_json::to_value(grace.seal(&writer).unwrap()).unwrap();
    grace_json["card_number"] = ada_json["card_number"].clone();
    let tampered: SealedCustomer = serde_json::from_value(grace_json).unwrap();

    let err = tampered.open_all(&writer, &ctx()).unwrap_err();
    assert!(matches!(err, Error::Integrity { .. }), "{err:?}");
    // Partial opening does not hide tampering either.
    let err = tampered.open(&writer, &ctx()).unwrap_err();
    assert!(matches!(err, Error::Integrity { .. }), "{err:?}");
}

#[test]
fn changing_the_clear_record_id_breaks_every_sealed_field() {
    let bank = Bank::new();
    let writer = bank.writer();
    let mut sealed = ada().seal(&writer).unwrap();
    sealed.customer_id = "cus_999".into();
    assert!(matches!(
        sealed.open_all(&writer, &ctx()),
        Err(Error::Integrity { .. })
    ));
}

mod v1 {
    use super::*;

    #[derive(Classified, Clone, Serialize, Deserialize)]
    #[classified(id = "Employee", record_id = "employee_id")]
    pub struct Employee {
        #[classify(public)]
        pub employee_id: String,
        #[classify(confidential, id = "salary")]
        pub monthly_salary: u64,
    }
}

mod v2 {
    use super::*;

    /// The same record after a refactor: type and field renamed, ids kept.
    #[derive(Classified, Clone, Serialize, Deserialize)]
    #[classified(id = "Employee", record_id = "employee_id")]
    pub struct StaffMember {
        #[classify(public)]
        pub employee_id: String,
        #[classify(confidential, id = "salary")]
        #[serde(alias = "monthly_salary")]
        pub salary_cents: u64,
    }
}

#[test]
fn renaming_a_field_but_keeping_its_id_still_opens_old_data() {
    let bank = Bank::new();
    let writer = bank.writer();
    let old = v1::Employee {
        employee_id: "emp_7".into(),
        monthly_salary: 910_000,
    };
    let json = serde_json::to_string(&old.seal(&writer).unwrap()).unwrap();
    let json = json.replace("\"monthly_salary\"", "\"salary_cents\"");
    let stored: v2::SealedStaffMember = serde_json::from_str(&json).unwrap();
    let opened = stored.open_all(&writer, &ctx()).unwrap();
    assert_eq!(opened.salary_cents, 910_000);
}

#[test]
fn rewrap_after_rotation_then_retire() {
    let mut bank = Bank::new();
    let mut sealed = ada().seal(&bank.writer()).unwrap();
    let fields_before = serde_json::to_value(&sealed).unwrap();

    bank.keystore.rotate(&cards()).unwrap();
    let writer = bank.writer();
    let outcomes = sealed.rewrap(&writer).unwrap();
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| matches!(o, Rewrapped::Moved { from: 1, to: 2 }))
            .count(),
        1
    );
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == Rewrapped::AlreadyCurrent)
            .count(),
        3
    );

    let fields_after = serde_json::to_value(&sealed).unwrap();
    for field in ["name", "balance_cents", "card_number", "monthly_salary"] {
        assert_eq!(
            fields_before[field], fields_after[field],
            "{field} ciphertext untouched"
        );
    }
    assert_ne!(fields_before["_keys"], fields_after["_keys"]);

    bank.keystore.retire(&cards(), 1).unwrap();
    let writer = bank.writer();
    assert!(sealed.open_all(&writer, &ctx()).unwrap() == ada());
    let cards_only = bank.keyring(Clearance::none().with(cards()));
    assert_eq!(
        sealed
            .open(&cards_only, &ctx())
            .unwrap()
            .card_number
            .value()
            .unwrap(),
        "4111111111111111"
    );
    let _ = Level::Public;
}
