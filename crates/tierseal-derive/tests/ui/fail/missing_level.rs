use tierseal::Classified;

#[derive(Classified)]
pub struct Profile {
    #[classify(compartment = "cards")]
    pub name: String,
}

fn main() {}
