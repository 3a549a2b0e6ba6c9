use tierseal::Classified;

#[derive(Classified)]
#[classified(recordid = "id")]
pub struct Profile {
    #[classify(internal, foo = "bar", encrypt)]
    pub name: String,
}

fn main() {}
