use tierseal::Classified;

#[derive(Classified)]
#[classified(record_id = "customer")]
pub struct Missing {
    #[classify(public)]
    pub id: String,
}

#[derive(Classified)]
#[classified(record_id = "id")]
pub struct Sealed {
    #[classify(internal)]
    pub id: String,
}

fn main() {}
