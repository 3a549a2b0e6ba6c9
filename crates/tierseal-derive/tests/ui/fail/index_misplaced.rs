use tierseal::Classified;

#[derive(Classified)]
pub struct Card {
    #[classify(public, reason = "shown on receipts", index)]
    pub label: String,
    #[classify(restricted, transient, index)]
    pub cvv: String,
    #[classify(confidential, reveal_none, index)]
    pub email: Option<String>,
    #[classify(confidential, index_with = "not a path")]
    pub phone: String,
}

fn main() {}
