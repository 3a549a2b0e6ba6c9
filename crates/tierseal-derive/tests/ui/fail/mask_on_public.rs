use tierseal::Classified;

#[derive(Classified)]
pub struct Profile {
    #[classify(public, mask = "last4")]
    pub handle: String,
}

fn main() {}
