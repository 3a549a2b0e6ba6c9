use tierseal::Classified;

#[derive(Classified)]
pub struct Profile {
    #[classify(internal, id = "a", id = "b", mask = "last4", mask = "email")]
    pub name: String,
    #[classify(internal, confidential)]
    pub email: String,
}

fn main() {}
