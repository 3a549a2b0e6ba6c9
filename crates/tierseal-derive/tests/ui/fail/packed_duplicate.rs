use tierseal::Classified;

#[derive(Classified)]
#[classified(packed, packed)]
pub struct Note {
    #[classify(internal)]
    pub text: String,
}

fn main() {}
