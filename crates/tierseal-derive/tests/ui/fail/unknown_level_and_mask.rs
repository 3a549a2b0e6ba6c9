use tierseal::Classified;

#[derive(Classified)]
pub struct Profile {
    #[classify(secret)]
    pub name: String,
    #[classify(internal, mask = "blur")]
    pub email: String,
}

fn main() {}
