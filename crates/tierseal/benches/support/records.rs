//! The 8-field, 227-byte benchmark record through the derive, one token
//! per field and packed, shared by the benchmarks and `examples/measure.rs`:
//! all eight fields at one tier, so one record key per record (and, packed,
//! one part: one AES-GCM message).
#![allow(
    dead_code,
    clippy::indexing_slicing,
    reason = "benchmark code; each bench uses its part"
)]

/// Declares the benchmark record as `$name`, with the container
/// attributes `$flag` (`packed`), and its constructor: the same record in
/// each mode.
macro_rules! benchmark_record {
    ($(#[$doc:meta])* $name:ident $(, $flag:ident)*) => {
        $(#[$doc])*
        #[derive(tierseal::Classified, Clone)]
        #[classified(record_id = "id" $(, $flag)*)]
        pub(crate) struct $name {
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

        impl $name {
            /// The record `id` with the 8 field values in the benchmark's
            /// order (name, email, ssn, phone, address, dob, account, notes).
            pub(crate) fn new(id: &str, fields: &[String]) -> $name {
                $name {
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
    };
}

benchmark_record!(
    /// The benchmark record, one token per field.
    Person
);
benchmark_record!(
    /// The benchmark record, packed.
    PackedPerson,
    packed
);
