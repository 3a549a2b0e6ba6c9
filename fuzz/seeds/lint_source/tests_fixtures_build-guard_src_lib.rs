//! A payment type that never derived anything: the build must fail.

/// A SEPA payment.
pub struct Payment {
    /// Our reference.
    pub id: String,
    /// The payee's account.
    pub iban: String,
}
