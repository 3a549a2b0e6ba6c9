//! The 8-field, 227-byte benchmark record as a packed type, shared by the
//! envelope benchmark and `examples/measure.rs`: all eight fields at one
//! tier, so one part (one AES-GCM message) per record.
#![allow(
    dead_code,
    clippy::indexing_slicing,
    reason = "benchmark code; each bench uses its part"
)]

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
