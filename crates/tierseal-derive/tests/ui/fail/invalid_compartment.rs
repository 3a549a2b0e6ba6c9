use tierseal::Classified;

#[derive(Classified)]
pub struct Card {
    #[classify(restricted, compartment = "Cards EU")]
    pub card_number: String,
}

fn main() {}
