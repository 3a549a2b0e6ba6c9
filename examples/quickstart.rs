//! The newcomer's first run: a keystore, one customer record sealed field
//! by field, and three services that each see only what they were granted.
//!
//! Run it with `cargo run --release --example quickstart`.
#![allow(
    clippy::print_stdout,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "an example prints its results and builds constant tiers"
)]

use serde::{Deserialize, Serialize};
use tierseal::{
    Binding, Clearance, Error, KdfProfile, Keyring, Keystore, Level, RecordKeys, RecordOpener,
    RecordSealer, SealedField, Tier,
};

/// The plain record, as the application holds it.
struct Customer {
    customer_id: String,
    name: String,
    balance_cents: i64,
    card_number: String,
    monthly_salary: Option<i64>,
}

/// The record as stored: public fields in clear, the rest sealed.
#[derive(Serialize, Deserialize)]
struct SealedCustomer {
    customer_id: String,
    keys: RecordKeys,
    name: SealedField,
    balance_cents: SealedField,
    card_number: SealedField,
    monthly_salary: SealedField,
}

fn cards() -> Tier {
    "restricted/cards".parse().expect("valid tier")
}

fn payroll() -> Tier {
    "confidential/payroll".parse().expect("valid tier")
}

fn seal(customer: &Customer, keyring: &Keyring) -> Result<SealedCustomer, Error> {
    let binding = Binding::new("Customer", "").with_record_id(&customer.customer_id);
    let mut sealer = RecordSealer::new(keyring, binding);
    let name = sealer.seal_field(&Tier::INTERNAL, "name", &customer.name)?;
    let balance_cents = sealer.seal_field(
        &Tier::CONFIDENTIAL,
        "balance_cents",
        &customer.balance_cents,
    )?;
    let card_number = sealer.seal_field(&cards(), "card_number", &customer.card_number)?;
    let monthly_salary = sealer.seal_field(&payroll(), "salary", &customer.monthly_salary)?;
    Ok(SealedCustomer {
        customer_id: customer.customer_id.clone(),
        keys: sealer.finish(),
        name,
        balance_cents,
        card_number,
        monthly_salary,
    })
}

/// What one service sees of each field: the value, or that it is withheld.
fn view(sealed: &SealedCustomer, keyring: &Keyring) -> Vec<String> {
    let binding = Binding::new("Customer", "").with_record_id(&sealed.customer_id);
    let mut opener = RecordOpener::new(keyring, &sealed.keys, binding);
    let cents = |c: i64| format!("{}.{:02}", c / 100, c % 100);
    vec![
        sealed.customer_id.clone(),
        reveal(opener.open_field::<String>(&Tier::INTERNAL, "name", &sealed.name)),
        reveal(
            opener
                .open_field(&Tier::CONFIDENTIAL, "balance_cents", &sealed.balance_cents)
                .map(cents),
        ),
        reveal(opener.open_field::<String>(&cards(), "card_number", &sealed.card_number)),
        reveal(
            opener
                .open_field::<Option<i64>>(&payroll(), "salary", &sealed.monthly_salary)
                .map(|salary| salary.map_or("none".into(), cents)),
        ),
    ]
}

fn reveal(opened: Result<String, Error>) -> String {
    match opened {
        Ok(text) => text,
        Err(Error::NotGranted { tier }) => format!("<withheld: {}>", tier.level()),
        Err(e) => format!("<error: {e}>"),
    }
}

fn print_table(sealed: &SealedCustomer, services: &[(&str, &Keyring)]) {
    let rows = [
        "customer_id",
        "name",
        "balance_cents",
        "card_number",
        "monthly_salary",
    ];
    let columns: Vec<Vec<String>> = services
        .iter()
        .map(|(_, keyring)| view(sealed, keyring))
        .collect();
    let mut widths = vec![rows.iter().map(|r| r.len()).max().unwrap_or(0)];
    for (i, (name, _)) in services.iter().enumerate() {
        let width = columns[i]
            .iter()
            .map(String::len)
            .chain([name.len()])
            .max()
            .unwrap_or(0);
        widths.push(width);
    }
    let mut header = format!("{:<w$}", "field", w = widths[0]);
    for (i, (name, _)) in services.iter().enumerate() {
        header.push_str(&format!("  {:<w$}", name, w = widths[i + 1]));
    }
    println!("{header}");
    println!("{}", "-".repeat(header.len()));
    for (r, row) in rows.iter().enumerate() {
        let mut line = format!("{:<w$}", row, w = widths[0]);
        for (i, column) in columns.iter().enumerate() {
            line.push_str(&format!("  {:<w$}", column[r], w = widths[i + 1]));
        }
        println!("{}", line.trim_end());
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("quickstart.keystore");
    println!("tierseal quickstart");
    println!("keystore: {}", path.display());
    println!("KDF profile: Test (cheap Argon2id, for demos only: real keystores use Production)\n");

    let mut keystore = Keystore::create(&path, &"quickstart passphrase".into(), KdfProfile::Test)?;
    keystore.add_tier(&cards())?;
    keystore.add_tier(&payroll())?;

    let writer = keystore.keyring(
        &Clearance::up_to(Level::Restricted)
            .with(cards())
            .with(payroll()),
    )?;
    let customer = Customer {
        customer_id: "cus_042".into(),
        name: "Ada Lovelace".into(),
        balance_cents: 1_250_075,
        card_number: "4111111111111111".into(),
        monthly_salary: Some(825_000),
    };
    let sealed = seal(&customer, &writer)?;
    let stored = serde_json::to_string_pretty(&sealed)?;
    println!("sealed record, as stored:\n{stored}\n");

    // Services load the stored JSON with their own keyrings.
    let sealed: SealedCustomer = serde_json::from_str(&stored)?;
    let support = keystore.keyring(&Clearance::up_to(Level::Internal))?;
    let loans = keystore.keyring(&Clearance::up_to(Level::Confidential).with(payroll()))?;
    let card_ops = keystore.keyring(&Clearance::none().with(cards()))?;
    let services = [
        ("support (up to internal)", &support),
        ("loans (up to confidential + payroll)", &loans),
        ("card-ops (restricted/cards)", &card_ops),
    ];
    println!("what each service sees:");
    print_table(&sealed, &services);

    // Key custodian: rotate the cards key, rewrap stored data, retire v1.
    let version = keystore.rotate(&cards())?;
    let mut sealed = sealed;
    let custodian = keystore.keyring(
        &Clearance::up_to(Level::Restricted)
            .with(cards())
            .with(payroll()),
    )?;
    let outcomes = sealed.keys.rewrap(&custodian)?;
    keystore.retire(&cards(), 1)?;
    println!(
        "\nrotated restricted/cards to v{version}, rewrapped {outcomes:?}, retired v1 (its key material is destroyed)"
    );
    let card_ops = keystore.keyring(&Clearance::none().with(cards()))?;
    println!(
        "card-ops after rotation: card_number = {}",
        view(&sealed, &card_ops)[3]
    );
    Ok(())
}
