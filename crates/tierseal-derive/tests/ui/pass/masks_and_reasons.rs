use tierseal::Classified;

fn iban_mask(iban: &String) -> String {
    format!("{}…", &iban[..4])
}

#[derive(Classified)]
#[classified(strict)]
pub struct Transfer {
    #[classify(public, reason = "ISO 4217 currency code, not an amount")]
    pub amount_currency: String,
    #[classify(confidential, mask_with = "iban_mask")]
    pub iban: String,
    #[classify(confidential, mask = "email")]
    pub payer_email: String,
    #[classify(restricted, mask = "first6last4")]
    pub pan: String,
    #[classify(restricted, transient)]
    pub cvv: String,
    #[classify(confidential, reveal_none)]
    pub balance_cents: Option<i64>,
}

fn main() {
    assert_eq!(<Transfer as Classified>::CLASSIFICATION.fields.len(), 6);
}
