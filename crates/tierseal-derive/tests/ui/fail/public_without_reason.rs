use tierseal::Classified;

#[derive(Classified)]
pub struct Quote {
    #[classify(public)]
    pub loan_amount: u64,
}

fn main() {}
