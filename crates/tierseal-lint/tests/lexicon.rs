//! How the lint applies the lexicon: owner context, type signals,
//! categories and severities, as a CI job sees them.

use std::path::Path;

use tierseal_lint::{Category, Config, Finding, Report, Severity, lint_source, report};

fn lint(source: &str, config: &Config) -> Vec<Finding> {
    lint_source(Path::new("src/lib.rs"), source, config)
}

fn items(findings: &[Finding]) -> Vec<(&str, Option<&str>, Severity)> {
    findings
        .iter()
        .map(|f| (f.item.as_str(), f.lexicon_rule.as_deref(), f.severity))
        .collect()
}

const PAYMENTS: &str = r#"
pub struct Card {
    pub number: String,
    pub exp_month: u8,
    pub last4: String,
    pub brand: CardBrand,
}
pub struct FeeSchedule {
    pub expiry_date: String,
    pub fee_percentage: rust_decimal::Decimal,
}
pub enum PaymentMethodData {
    Card { number: String },
    BankDebit { iban: String, bic: String },
    Wallet { token: Secret<String, NetworkTokenStrategy> },
}
pub struct Charge {
    pub amount: i64,
    pub currency: Currency,
}
"#;

#[test]
fn owner_context_type_signals_and_severities() {
    let findings = lint(PAYMENTS, &Config::default());
    assert_eq!(
        items(&findings),
        [
            ("Card::number", Some("card-number"), Severity::Error),
            ("Card::exp_month", Some("card-expiry"), Severity::Error),
            ("Card::last4", Some("card-number"), Severity::Error),
            (
                "PaymentMethodData::Card::number",
                Some("card-number"),
                Severity::Error
            ),
            (
                "PaymentMethodData::BankDebit::iban",
                Some("iban"),
                Severity::Error
            ),
            (
                "PaymentMethodData::BankDebit::bic",
                Some("bic"),
                Severity::Error
            ),
            (
                "PaymentMethodData::Wallet::token",
                Some("network-token"),
                Severity::Error
            ),
            ("Charge::amount", Some("amount"), Severity::Warning),
        ]
    );
    let last4 = &findings[2];
    assert!(last4.message.contains("masked form"), "{}", last4.message);
    assert!(
        last4.help.contains("#[classify(internal)]"),
        "{}",
        last4.help
    );
    assert_eq!(findings[7].category, Some(Category::Money));
}

#[test]
fn severities_reach_every_format() {
    let source = "pub struct Charge { pub amount: i64, pub iban: String }";
    let findings = lint(source, &Config::default());
    let report = Report {
        findings,
        files: 1,
        lines: 1,
        ..Report::default()
    };
    let findings = &report.findings;
    let human = report::human(&report);
    assert!(
        human.contains("warning[unclassified-financial-field]: `Charge::amount`"),
        "{human}"
    );
    assert!(
        human.contains("error[unclassified-financial-field]: `Charge::iban`"),
        "{human}"
    );
    assert!(
        human.ends_with("checked 1 file (1 line): 1 error, 1 warning\n"),
        "{human}"
    );
    let sarif: serde_json::Value =
        serde_json::from_str(&report::sarif(&report, Path::new("."))).unwrap();
    let results = &sarif["runs"][0]["results"];
    assert_eq!(results[0]["level"], "warning");
    assert_eq!(results[0]["properties"]["category"], "money");
    assert_eq!(results[1]["level"], "error");
    let json: serde_json::Value = serde_json::from_str(&report::json(&report)).unwrap();
    assert_eq!(json["findings"][0]["severity"], "warning");
    assert_eq!(json["findings"][0]["category"], "money");
    assert_eq!(json["findings"][1]["severity"], "error");
    assert_eq!(json["findings"][1]["category"], "bank");
    assert!(!findings[0].is_error());
    assert!(findings[1].is_error());
}

#[test]
fn a_team_can_switch_money_off_or_up() {
    let source = "pub struct Charge { pub amount: i64, pub iban: String }";
    let path = Path::new("tierseal.toml");
    let off = Config::parse("[lexicon.severity]\nmoney = \"off\"\n", path).unwrap();
    assert_eq!(
        items(&lint(source, &off)),
        [("Charge::iban", Some("iban"), Severity::Error)]
    );
    let up = Config::parse("[lexicon.severity]\nmoney = \"error\"\n", path).unwrap();
    assert!(lint(source, &up).iter().all(Finding::is_error));
}

#[test]
fn masked_fields_classified_at_the_mask_level_pass() {
    let source = r#"
        #[derive(tierseal::Classified)]
        pub struct StoredCard {
            #[classify(internal)] pub last4: String,
            #[classify(internal)] pub iban_last4: String,
            #[classify(internal)] pub card_number: String,
        }
    "#;
    let findings = lint(source, &Config::default());
    assert_eq!(
        findings
            .iter()
            .map(|f| (f.rule, f.item.as_str()))
            .collect::<Vec<_>>(),
        [("classified-too-low", "StoredCard::card_number")]
    );
}
