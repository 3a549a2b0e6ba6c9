//! A card security code that would be stored after authorisation.

/// An authorisation request.
#[derive(tierseal::Classified)]
pub struct Authorisation {
    /// The PAN.
    #[classify(restricted)]
    pub pan: String,
    /// Tagged, but not transient: it would be written into the sealed form.
    #[classify(restricted)]
    pub cvv: String,
}
