//! An invoice whose currency code is allowed in tierseal.toml.

/// An invoice header.
pub struct Invoice {
    /// Our reference.
    pub id: String,
    /// An ISO 4217 currency code such as "EUR".
    pub amount_currency: String,
}
