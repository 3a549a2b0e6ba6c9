use tierseal::Classified;

#[derive(Classified)]
pub struct Authorisation {
    #[classify(restricted)]
    pub cvv: String,
    #[classify(restricted)]
    pub pin_block: String,
}

fn main() {}
