// The attribute syntax of the issue, verbatim.
use tierseal::Classified;

#[derive(Classified, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[classified(record_id = "customer_id")]
pub struct Customer {
    #[classify(public)]
    pub customer_id: String,
    #[classify(internal)]
    pub name: String,
    #[classify(confidential)]
    pub balance_cents: i64,
    #[classify(restricted, compartment = "cards", mask = "last4")]
    pub card_number: String,
    #[classify(confidential, compartment = "payroll", id = "salary")]
    pub monthly_salary: Option<u64>,
    pub nickname: String,
}

fn main() {
    let _: &tierseal::Classification = <Customer as Classified>::CLASSIFICATION;
}
