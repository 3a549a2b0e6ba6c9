use tierseal::Classified;

// The sealed form of a packed type has a field per tier part,
// `tierseal_<tier>`: a field of that name would collide with it.
#[derive(Classified)]
#[classified(packed, strict)]
pub struct Ledger {
    #[classify(public)]
    pub tierseal_restricted_cards: String,
    #[classify(restricted, compartment = "cards")]
    pub pan: String,
}

fn main() {}
