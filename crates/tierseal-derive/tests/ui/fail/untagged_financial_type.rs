use tierseal::Classified;

pub struct Money;
pub struct Decimal;
pub struct CardNumberStrategy;
pub struct Secret<T, S>(T, S);

#[derive(Classified)]
pub struct Invoice {
    #[classify(public)]
    pub id: String,
    pub total: Option<Money>,
    // A bare decimal is not money by itself: no error.
    pub exchange_rate: Decimal,
    pub card: Secret<String, CardNumberStrategy>,
}

fn main() {}
