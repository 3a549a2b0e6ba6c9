use tierseal::{BlindIndex, Classified, Error, Keyring};

mod normalise {
    pub fn email(value: &str) -> String {
        value.trim().to_lowercase()
    }
}

#[derive(Classified, Clone)]
pub struct Contact<K> {
    #[classify(public)]
    pub kind: K,
    #[classify(confidential, index_with = "normalise::email")]
    pub email: String,
    #[classify(restricted, compartment = "cards", index, mask = "last4")]
    pub card_number: String,
    #[classify(confidential, index)]
    pub customer_number: u64,
}

#[derive(Classified)]
pub struct Holder {
    #[classify(nested)]
    pub contact: Contact<String>,
}

fn lookups(keyring: &Keyring) -> Result<(BlindIndex, Vec<BlindIndex>), Error> {
    let one = SealedContact::<String>::index_email(keyring, &"A@B.example".to_owned())?;
    let all = SealedContact::<String>::index_card_number_candidates(keyring, &"4111".to_owned())?;
    let _: BlindIndex = SealedContact::<String>::index_customer_number(keyring, &42)?;
    Ok((one, all))
}

fn stored(sealed: &SealedContact<String>) -> (&BlindIndex, &BlindIndex, &BlindIndex) {
    (&sealed.email_index, &sealed.card_number_index, &sealed.customer_number_index)
}

fn main() {
    let _ = (lookups, stored);
}
