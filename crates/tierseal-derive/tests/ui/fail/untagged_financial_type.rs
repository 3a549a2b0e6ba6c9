use tierseal::Classified;

pub struct Decimal;

#[derive(Classified)]
pub struct Invoice {
    #[classify(public)]
    pub id: String,
    pub total: Option<Decimal>,
}

fn main() {}
