use tierseal::Classified;

fn shout(value: &bool) -> String {
    value.to_string()
}

#[derive(Classified)]
pub struct Account {
    #[classify(confidential, index)]
    pub active: bool,
    #[classify(confidential, index)]
    pub risk_grade: u8,
    #[classify(confidential, index)]
    pub initial: Option<char>,
    #[classify(confidential, index_with = "shout")]
    pub frozen: bool,
    #[classify(confidential, index)]
    pub nothing: (),
}

fn main() {}
