use tierseal::Classified;

#[derive(Classified)]
#[classified(strict)]
pub struct Profile {
    #[classify(internal)]
    pub name: String,
    pub nickname: String,
}

fn main() {}
