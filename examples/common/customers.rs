//! The customer model shared by the database examples, and the three
//! services that use it.
//!
//! Its sealed form, `SealedCustomer`, is all column values: with
//! `tierseal`'s `rusqlite` or `postgres` feature every sealed field
//! (`SealedField`), the mask (`SealedMask`), the index values
//! (`BlindIndex`) and the record's keys (`RecordKeys`) bind and read as
//! they are, with no conversion by hand.

use tierseal::{
    AccessContext, Classified, Clearance, KdfProfile, Keyring, Keystore, Level, SealedRecord, Tier,
};

/// Index normalisers: what counts as "the same" value for a lookup.
pub(crate) mod normalise {
    /// An IBAN without spaces, upper-cased: `de89 3704...` finds `DE89 3704...`.
    pub(crate) fn iban(value: &str) -> String {
        value
            .chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_uppercase)
            .collect()
    }

    /// What a reader without the cards tier sees of an IBAN: its last
    /// four characters, spaces ignored.
    pub(crate) fn iban_mask(value: &str) -> String {
        let compact = iban(value);
        let tail: String = compact
            .chars()
            .skip(compact.chars().count().saturating_sub(4))
            .collect();
        format!("****{tail}")
    }

    /// An e-mail address trimmed and lower-cased.
    pub(crate) fn email(value: &str) -> String {
        value.trim().to_lowercase()
    }
}

/// A bank customer. `index_with` gives the sealed form a blind index of
/// the field, computed over the normalised value.
#[derive(Classified, Clone, PartialEq, Eq)]
#[classified(record_id = "customer_id")]
pub(crate) struct Customer {
    #[classify(public)]
    pub(crate) customer_id: String,
    #[classify(confidential)]
    pub(crate) name: String,
    #[classify(confidential, index_with = "normalise::email")]
    pub(crate) email: String,
    #[classify(
        restricted,
        compartment = "cards",
        mask_with = "normalise::iban_mask",
        index_with = "normalise::iban"
    )]
    pub(crate) iban: String,
}

/// The customers every example stores.
pub(crate) fn customers() -> Vec<Customer> {
    [
        (
            "cus_001",
            "Alice Martin",
            "alice@example.com",
            "DE89 3704 0044 0532 0130 00",
        ),
        (
            "cus_002",
            "Bruno Costa",
            "bruno@example.com",
            "PT50 0002 0123 1234 5678 9015 4",
        ),
        (
            "cus_003",
            "Chiara Rossi",
            "chiara@example.com",
            "IT60 X054 2811 1010 0000 0123 456",
        ),
        (
            "cus_004",
            "Dmitri Ivanov",
            "dmitri@example.com",
            "GB29 NWBK 6016 1331 9268 19",
        ),
    ]
    .into_iter()
    .map(|(id, name, email, iban)| Customer {
        customer_id: id.into(),
        name: name.into(),
        email: email.into(),
        iban: iban.into(),
    })
    .collect()
}

/// The keystore and the keyrings of the three services.
pub(crate) struct Services {
    /// The custodian's keystore (rotates the index key mid-example).
    pub(crate) keystore: Keystore,
    /// Keeps the keystore's folder alive.
    pub(crate) dir: tempfile::TempDir,
    /// Onboarding writes customers: every tier.
    pub(crate) onboarding: Keyring,
    /// Payments reads IBANs: every tier.
    pub(crate) payments: Keyring,
    /// The support desk opens names and e-mails, and finds customers by
    /// IBAN without being able to read one (cards: search only).
    pub(crate) support: Keyring,
    /// Fraud screening only checks whether an IBAN is a customer's:
    /// search only, opens nothing.
    pub(crate) screening: Keyring,
}

pub(crate) fn cards() -> Tier {
    "restricted/cards".parse().unwrap_or(Tier::RESTRICTED)
}

/// An error of the examples.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub(crate) fn services() -> Result<Services, BoxError> {
    let dir = tempfile::tempdir()?;
    // KdfProfile::Test is cheap and NOT for production keystores.
    let mut keystore = Keystore::create(
        dir.path().join("bank.keystore"),
        &"example passphrase".into(),
        KdfProfile::Test,
    )?;
    keystore.add_tier(&cards())?;
    let (onboarding, payments, support, screening) = keyrings(&keystore)?;
    Ok(Services {
        onboarding,
        payments,
        support,
        screening,
        keystore,
        dir,
    })
}

/// The four services' keyrings from `keystore`: onboarding and payments
/// read everything, support reads up to confidential and searches cards,
/// screening only searches cards.
fn keyrings(keystore: &Keystore) -> Result<(Keyring, Keyring, Keyring, Keyring), BoxError> {
    let everything = Clearance::up_to(Level::Restricted).with(cards());
    let search_cards = Clearance::none().with(cards());
    Ok((
        keystore.keyring(&everything)?,
        keystore.keyring(&everything)?,
        keystore.keyring_with_search(&Clearance::up_to(Level::Confidential), &search_cards)?,
        keystore.search_keyring(&search_cards)?,
    ))
}

impl Services {
    /// Fresh keyrings after the custodian changed the keystore (a service
    /// would load a fresh grant).
    pub(crate) fn reload(&mut self) -> Result<(), BoxError> {
        (self.onboarding, self.payments, self.support, self.screening) = keyrings(&self.keystore)?;
        Ok(())
    }

    /// Each service looks up the customer whose IBAN is `asked` with
    /// `find` (the example's `WHERE iban_index = ?`) and opens what its
    /// keyring allows: payments reads the IBAN, support the name but not
    /// the IBAN, screening finds the record and can open nothing.
    #[allow(
        clippy::print_stdout,
        reason = "the examples print what each service sees"
    )]
    pub(crate) fn look_up_as_each_service(
        &self,
        asked: &str,
        mut find: impl FnMut(&Keyring, &str) -> Result<Vec<SealedCustomer>, BoxError>,
    ) -> Result<(), BoxError> {
        for (service, keyring) in [
            ("payments", &self.payments),
            ("support", &self.support),
            ("screening", &self.screening),
        ] {
            let found = find(keyring, asked)?;
            ensure(
                found.len() == 1,
                "the lookup by IBAN finds exactly one customer",
            )?;
            let Some(sealed) = found.first() else {
                continue;
            };
            let view = sealed.open(keyring, &ctx(service))?;
            println!("{service:<10} found {}", describe(&view));
            match service {
                "payments" => ensure(
                    sealed.open_all(keyring, &ctx(service))?.iban == "DE89 3704 0044 0532 0130 00",
                    "payments reads the IBAN",
                )?,
                "support" => ensure(
                    view.iban.is_withheld() && view.name.value().is_some(),
                    "support reads the name, not the IBAN",
                )?,
                _ => {
                    ensure(view.name.is_withheld(), "screening reads nothing")?;
                    ensure(
                        matches!(
                            SealedRecord::open_all(sealed, keyring, &ctx(service)),
                            Err(tierseal::Error::NotGranted { .. })
                        ),
                        "screening cannot open the record",
                    )?;
                    println!("{service:<10} cannot open it: search only");
                }
            }
        }
        Ok(())
    }
}

/// Fails the example with `message` unless `condition` holds.
pub(crate) fn ensure(condition: bool, message: &str) -> Result<(), BoxError> {
    if condition {
        Ok(())
    } else {
        Err(message.into())
    }
}

pub(crate) fn ctx(service: &str) -> AccessContext {
    AccessContext::new(service).with_purpose("CASE-4711")
}

/// How one service sees a customer: each field revealed or withheld.
pub(crate) fn describe(view: &CustomerView) -> String {
    format!(
        "{} | name: {} | email: {} | iban: {}",
        view.customer_id,
        view.name.render(),
        view.email.render(),
        view.iban.render()
    )
}

/// An error and its sources, one line (the database clients keep the
/// reason in the source).
pub(crate) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(&format!(": {inner}"));
        source = inner.source();
    }
    text
}
