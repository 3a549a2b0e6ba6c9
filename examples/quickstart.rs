//! The newcomer's first run: a keystore, one customer record, and three
//! services that each see only what they were granted.
//!
//! Run it with `cargo run --release --example quickstart`.
#![allow(clippy::print_stdout, reason = "an example prints its results")]

use tierseal::{AccessContext, Classified, Clearance, KdfProfile, Keystore, Level, Tier};

/// Tag each field with its sensitivity; derive `Classified` instead of
/// `Debug` (the derived `Debug` prints levels, not values).
#[derive(Classified, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[classified(record_id = "customer_id")]
struct Customer {
    #[classify(public)]
    customer_id: String,
    #[classify(internal)]
    name: String,
    #[classify(confidential)]
    balance_cents: i64,
    #[classify(restricted, compartment = "cards", mask = "last4")]
    card_number: String,
    #[classify(confidential, compartment = "payroll", id = "salary")]
    monthly_salary: Option<u64>,
    nickname: String,
}

/// One row per field, one column per service.
fn print_table(rows: &[&str], columns: &[(&str, Vec<String>)]) {
    let first = rows
        .iter()
        .map(|r| r.len())
        .max()
        .unwrap_or(0)
        .max("field".len());
    let widths: Vec<usize> = columns
        .iter()
        .map(|(title, cells)| {
            cells
                .iter()
                .map(String::len)
                .chain([title.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |label: &str, cells: Vec<&str>| {
        let mut text = format!("{label:<first$}");
        for (cell, width) in cells.iter().zip(&widths) {
            text.push_str(&format!("  {cell:<width$}"));
        }
        text.trim_end().to_owned()
    };
    let header = line("field", columns.iter().map(|(title, _)| *title).collect());
    println!("{header}");
    println!("{}", "-".repeat(header.len()));
    for (i, row) in rows.iter().enumerate() {
        let cells = columns
            .iter()
            .map(|(_, cells)| cells.get(i).map_or("", String::as_str))
            .collect();
        println!("{}", line(row, cells));
    }
}

fn cents(value: &i64) -> String {
    format!("{}.{:02}", value / 100, value % 100)
}

/// What one service sees of the stored record.
fn column(view: &CustomerView) -> Vec<String> {
    vec![
        view.customer_id.clone(),
        view.name.render(),
        match view.balance_cents.value() {
            Some(value) => cents(value),
            None => view.balance_cents.render(),
        },
        view.card_number.render(),
        match view.monthly_salary.value() {
            Some(salary) => salary.map_or("none".into(), |s| {
                cents(&i64::try_from(s).unwrap_or(i64::MAX))
            }),
            None => format!("<withheld: {}>", Level::Confidential),
        },
        view.nickname.clone(),
    ]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("quickstart.keystore");
    println!("tierseal quickstart");
    println!("keystore: {}", path.display());
    println!("KDF profile: Test (cheap Argon2id for this demo; real keystores use Production)\n");

    // Key custodian: one keystore, two need-to-know compartments.
    let cards: Tier = "restricted/cards".parse()?;
    let payroll: Tier = "confidential/payroll".parse()?;
    let mut keystore = Keystore::create(&path, &"quickstart passphrase".into(), KdfProfile::Test)?;
    keystore.add_tier(&cards)?;
    keystore.add_tier(&payroll)?;

    // The onboarding service may write every tier.
    let onboarding = keystore.keyring(
        &Clearance::up_to(Level::Restricted)
            .with(cards.clone())
            .with(payroll.clone()),
    )?;
    let customer = Customer {
        customer_id: "cus_042".into(),
        name: "Ada Lovelace".into(),
        balance_cents: 1_250_075,
        card_number: "4111111111111111".into(),
        monthly_salary: Some(825_000),
        nickname: "ada".into(),
    };
    println!("in a log line the record reads:\n{customer:?}\n");
    let stored = serde_json::to_string_pretty(&customer.seal(&onboarding)?)?;
    println!("sealed record, as stored:\n{stored}\n");

    // Three services load the stored JSON, each with its own keyring.
    let services = [
        (
            "support (up to internal)",
            Clearance::up_to(Level::Internal),
        ),
        (
            "loans (up to confidential + payroll)",
            Clearance::up_to(Level::Confidential).with(payroll.clone()),
        ),
        (
            "card-ops (restricted/cards)",
            Clearance::none().with(cards.clone()),
        ),
    ];
    let rows = [
        "customer_id",
        "name",
        "balance_cents",
        "card_number",
        "monthly_salary",
        "nickname",
    ];
    let record: SealedCustomer = serde_json::from_str(&stored)?;
    let mut columns = Vec::new();
    for (service, clearance) in &services {
        let keyring = keystore.keyring(clearance)?;
        let ctx = AccessContext::new(*service).with_purpose("quickstart demo");
        columns.push((*service, column(&record.open(&keyring, &ctx)?)));
    }
    println!("what each service sees:");
    print_table(&rows, &columns);

    // Key custodian again: rotate the cards key, rewrap, retire the old one.
    let version = keystore.rotate(&cards)?;
    let mut record = record;
    let custodian = keystore.keyring(
        &Clearance::up_to(Level::Restricted)
            .with(cards.clone())
            .with(payroll),
    )?;
    let moved = record
        .rewrap(&custodian)?
        .iter()
        .filter(|outcome| matches!(outcome, tierseal::Rewrapped::Moved { .. }))
        .count();
    keystore.retire(&cards, 1)?;
    println!(
        "\nrotated restricted/cards to v{version}, rewrapped {moved} data key (field ciphertexts untouched), \
         retired v1 (its key material is destroyed)"
    );
    let card_ops = keystore.keyring(&Clearance::none().with(cards))?;
    let view = record.open(
        &card_ops,
        &AccessContext::new("card-ops").with_purpose("quickstart demo"),
    )?;
    println!(
        "card-ops after rotation: card_number = {}",
        view.card_number.render()
    );
    Ok(())
}
