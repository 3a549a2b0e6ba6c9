//! A card number classified below its rule's minimum.

/// A customer's card.
#[derive(tierseal::Classified)]
pub struct CustomerCard {
    /// Our reference.
    #[classify(public)]
    pub id: String,
    /// A PAN is restricted data, not internal.
    #[classify(internal)]
    pub card_number: String,
}
