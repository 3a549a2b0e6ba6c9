//! Every financial field classified at or above its minimum level.

/// A card on file.
#[derive(tierseal::Classified)]
#[classified(record_id = "id")]
pub struct Card {
    /// Our reference.
    #[classify(public)]
    pub id: String,
    /// The PAN.
    #[classify(restricted, compartment = "cards", mask = "last4")]
    pub card_number: String,
    /// The expiry date.
    #[classify(confidential)]
    pub expiry: String,
    /// Checked at authorisation, never stored.
    #[classify(restricted, transient)]
    pub cvv: String,
    /// The ISO currency, not an amount.
    #[classify(public, reason = "ISO 4217 currency code, not an amount")]
    pub amount_currency: String,
}

#[cfg(test)]
mod tests {
    /// Test data is exempt.
    pub struct Sample {
        pub iban: String,
    }
}
