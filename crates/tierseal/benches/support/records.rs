//! The 8-field, 227-byte benchmark record through the derive, one token
//! per field and packed, shared by the benchmarks and `examples/measure.rs`:
//! all eight fields at one tier, so one record key per record (and, packed,
//! one part: one AES-GCM message).
#![allow(
    dead_code,
    clippy::indexing_slicing,
    reason = "benchmark code; each bench uses its part"
)]

/// The benchmark record, one token per field.
#[derive(tierseal::Classified, Clone)]
#[classified(record_id = "id")]
pub(crate) struct Person {
    #[classify(public)]
    pub(crate) id: String,
    #[classify(confidential)]
    pub(crate) name: String,
    #[classify(confidential)]
    pub(crate) email: String,
    #[classify(confidential)]
    pub(crate) ssn: String,
    #[classify(confidential)]
    pub(crate) phone: String,
    #[classify(confidential)]
    pub(crate) address: String,
    #[classify(confidential)]
    pub(crate) dob: String,
    #[classify(confidential)]
    pub(crate) account: String,
    #[classify(confidential)]
    pub(crate) notes: String,
}

impl Person {
    /// The record `id` with the 8 field values in the benchmark's order
    /// (name, email, ssn, phone, address, dob, account, notes).
    pub(crate) fn new(id: &str, fields: &[String]) -> Person {
        Person {
            id: id.to_owned(),
            name: fields[0].clone(),
            email: fields[1].clone(),
            ssn: fields[2].clone(),
            phone: fields[3].clone(),
            address: fields[4].clone(),
            dob: fields[5].clone(),
            account: fields[6].clone(),
            notes: fields[7].clone(),
        }
    }
}

/// The benchmark record, packed.
#[derive(tierseal::Classified, Clone)]
#[classified(record_id = "id", packed)]
pub(crate) struct PackedPerson {
    #[classify(public)]
    pub(crate) id: String,
    #[classify(confidential)]
    pub(crate) name: String,
    #[classify(confidential)]
    pub(crate) email: String,
    #[classify(confidential)]
    pub(crate) ssn: String,
    #[classify(confidential)]
    pub(crate) phone: String,
    #[classify(confidential)]
    pub(crate) address: String,
    #[classify(confidential)]
    pub(crate) dob: String,
    #[classify(confidential)]
    pub(crate) account: String,
    #[classify(confidential)]
    pub(crate) notes: String,
}

impl PackedPerson {
    /// The record `id` with the 8 field values in the benchmark's order
    /// (name, email, ssn, phone, address, dob, account, notes).
    pub(crate) fn new(id: &str, fields: &[String]) -> PackedPerson {
        PackedPerson {
            id: id.to_owned(),
            name: fields[0].clone(),
            email: fields[1].clone(),
            ssn: fields[2].clone(),
            phone: fields[3].clone(),
            address: fields[4].clone(),
            dob: fields[5].clone(),
            account: fields[6].clone(),
            notes: fields[7].clone(),
        }
    }
}
