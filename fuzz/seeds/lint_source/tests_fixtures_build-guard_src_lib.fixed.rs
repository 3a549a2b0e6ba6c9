//! The same payment, classified: the build passes.

/// A SEPA payment.
#[derive(tierseal::Classified)]
pub struct Payment {
    /// Our reference.
    #[classify(public)]
    pub id: String,
    /// The payee's account.
    #[classify(confidential)]
    pub iban: String,
}
