use tierseal::Classified;

#[derive(Classified, Clone, serde::Serialize, serde::Deserialize)]
pub struct Money<C> {
    #[classify(public)]
    pub currency: C,
    #[classify(confidential)]
    pub amount_cents: i64,
}

#[derive(Classified, Clone, serde::Serialize, serde::Deserialize)]
#[classified(record_id = "id")]
pub struct Account {
    #[classify(public)]
    pub id: u64,
    #[classify(nested)]
    pub balance: Money<String>,
}

fn main() {}
