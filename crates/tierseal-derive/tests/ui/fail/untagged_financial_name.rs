use tierseal::Classified;

#[derive(Classified)]
pub struct Payment {
    #[classify(public)]
    pub id: String,
    pub iban: String,
    pub accountNumber: String,
}

fn main() {}
