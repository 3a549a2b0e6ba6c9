use tierseal::Classified;

// A packed part seals every field of its tier together: a `None` cannot
// stay in clear beside it.
#[derive(Classified)]
#[classified(packed)]
pub struct Payroll {
    #[classify(confidential, compartment = "payroll", reveal_none)]
    pub bonus_cents: Option<u64>,
    #[classify(confidential, compartment = "payroll")]
    pub base_cents: u64,
}

fn main() {}
