use tierseal::{Classified, SealedRecord};

/// Generic, with a mask, an index, a transient field and a nested record,
/// packed; nested in a default-mode record and the reverse.
#[derive(Classified, Clone, serde::Serialize, serde::Deserialize)]
#[classified(packed, record_id = "id")]
pub struct Card<M> {
    #[classify(public)]
    pub id: String,
    #[classify(restricted, compartment = "cards", mask = "first6last4", index)]
    pub pan: String,
    #[classify(restricted, transient)]
    pub cvv: String,
    #[classify(internal)]
    pub memo: M,
    #[classify(nested)]
    pub holder: Holder,
}

#[derive(Classified, Clone, serde::Serialize, serde::Deserialize)]
pub struct Holder {
    #[classify(internal)]
    pub name: String,
    #[classify(nested)]
    pub address: Address,
}

#[derive(Classified, Clone, serde::Serialize, serde::Deserialize)]
#[classified(packed)]
pub struct Address {
    #[classify(internal)]
    pub street: String,
    #[classify(confidential)]
    pub postcode: String,
}

fn parts(card: &SealedCard<String>) -> [&tierseal::PackedPart; 2] {
    [&card.tierseal_restricted_cards, &card.tierseal_internal]
}

fn main() {
    let _ = parts;
    let _ = <SealedCard<String> as SealedRecord>::rewrap;
    let _ = <Card<String> as Classified>::CLASSIFICATION;
}
