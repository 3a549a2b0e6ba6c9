use tierseal::Classified;

#[derive(Classified)]
pub enum Status {
    Open,
}

#[derive(Classified)]
pub struct Pair(String, String);

#[derive(Classified)]
pub struct Marker;

fn main() {}
