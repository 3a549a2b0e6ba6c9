//! A payment type that never derived anything.

/// A SEPA payment.
pub struct Payment {
    /// Our reference.
    pub id: String,
    /// The payee's account.
    pub iban: String,
}
