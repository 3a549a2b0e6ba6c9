//! Each rule on a realistic struct, and each false-positive guard.

use super::*;

/// `(field, rule id, masked)` for every field of `source`'s struct that
/// the lexicon flags.
fn flagged(source: &str) -> Vec<(String, &'static str, bool)> {
    let item: syn::ItemStruct = syn::parse_str(source).expect("test struct parses");
    let owner = item.ident.to_string();
    item.fields
        .iter()
        .filter_map(|field| {
            let name = field.ident.as_ref().map(ToString::to_string)?;
            let names = [name.clone()];
            let hit = classify(&FieldContext {
                owner: &owner,
                names: &names,
                ty: &field.ty,
            })?;
            Some((name, hit.rule.id, hit.masked))
        })
        .collect()
}

fn rules_of(source: &str) -> Vec<(String, &'static str)> {
    flagged(source)
        .into_iter()
        .map(|(name, rule, _)| (name, rule))
        .collect()
}

fn pairs(expected: &[(&str, &'static str)]) -> Vec<(String, &'static str)> {
    expected
        .iter()
        .map(|(name, rule)| ((*name).to_owned(), *rule))
        .collect()
}

#[test]
fn splits_every_case_style() {
    assert_eq!(split_words("account_number"), ["account", "number"]);
    assert_eq!(split_words("accountNumber"), ["account", "number"]);
    assert_eq!(split_words("AccountNumber"), ["account", "number"]);
    assert_eq!(split_words("ACCOUNT_NUMBER"), ["account", "number"]);
    assert_eq!(split_words("IBANNumber"), ["iban", "number"]);
    assert_eq!(split_words("cvv2"), ["cvv2"]);
    assert_eq!(split_words("r#type"), ["type"]);
}

#[test]
fn card_data_in_a_payment_method() {
    let found = rules_of(
        "struct CardDetails {
            card_number: cards::CardNumber,
            expiration_month: Secret<String>,
            expiration_year: Secret<String>,
            card_exp: Secret<String>,
            card_expiration: Secret<String>,
            card_cvc: Secret<String>,
            csc: Secret<String>,
            track2: Option<String>,
            pin_block: String,
            card_holder_name: Option<Secret<String>>,
            nick_name: Option<String>,
            card_network: Option<CardNetwork>,
        }",
    );
    assert_eq!(
        found,
        pairs(&[
            ("card_number", "card-number"),
            ("expiration_month", "card-expiry"),
            ("expiration_year", "card-expiry"),
            ("card_exp", "card-expiry"),
            ("card_expiration", "card-expiry"),
            ("card_cvc", "card-security-code"),
            ("csc", "card-security-code"),
            ("track2", "track-data"),
            ("pin_block", "pin"),
            ("card_holder_name", "cardholder-name"),
        ])
    );
}

#[test]
fn bare_card_words_need_a_card_owner() {
    let card = "struct Card { number: String, exp_month: u8, expiry_date: String, name: String, cid: String }";
    assert_eq!(
        rules_of(card),
        pairs(&[
            ("number", "card-number"),
            ("exp_month", "card-expiry"),
            ("expiry_date", "card-expiry"),
            ("name", "cardholder-name"),
            ("cid", "card-security-code"),
        ])
    );
    // Guard: the same names in a fee schedule or an order are not card data.
    let fees =
        "struct FeeSchedule { number: String, expiry_date: String, name: String, cid: String }";
    assert!(rules_of(fees).is_empty(), "{:?}", rules_of(fees));
}

#[test]
fn expiry_that_is_not_card_expiry() {
    // Guard: `session_expiry` after a non-card word, and timestamps.
    let found = rules_of(
        "struct CardSession { session_expiry: String, token_expiry: String, expires_at: PrimitiveDateTime, expiry: Option<time::OffsetDateTime> }",
    );
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn codes_flags_and_tls_pins_are_not_card_data() {
    // Guards: the name must end in the data words; bool never matches;
    // `ssl_pin` is a TLS pin.
    let found = rules_of(
        "struct ConnectorConfig {
            cvv2_verification_code: Option<String>,
            cvc_check: Option<String>,
            ssl_pin: String,
            public_key_pin: String,
            pin_code: String,
            pin_protection: bool,
            is_clear_pan_retries_enabled: bool,
            cache_cvv: bool,
            pan_entry_mode: Option<String>,
            card_number_length: usize,
            track: Option<String>,
            account_id: String,
            card_fingerprint: String,
            payment_method_id: String,
        }",
    );
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn bank_identifiers_of_several_schemes() {
    let found = flagged(
        "struct BankAccountDetails {
            iban: Secret<String>,
            bic: Option<Secret<String>>,
            account_number: Secret<String>,
            routing_number: Secret<String>,
            aba: String,
            sort_code: Secret<String>,
            bsb_number: Secret<String>,
            transit_number: Secret<String>,
            institution_number: Secret<String>,
            clabe: Secret<String>,
            account_holder_name: Secret<String>,
            bank_name: Option<String>,
            account_type: Option<AccountType>,
            routing: RoutingAlgorithm,
        }",
    );
    assert_eq!(
        found.iter().map(|(_, rule, _)| *rule).collect::<Vec<_>>(),
        [
            "iban",
            "bic",
            "account-number",
            "routing-number",
            "routing-number",
            "sort-code",
            "bsb",
            "transit-institution",
            "transit-institution",
            "clabe",
            "account-holder-name",
        ]
    );
}

#[test]
fn a_bic_alone_names_a_bank() {
    // Guard: a BIC outside an account, beneficiary or mandate type.
    assert!(rules_of("struct IdealIssuer { bic: String, swift: String }").is_empty());
    assert_eq!(
        rules_of("struct SepaBeneficiary { beneficiary_bic: String }"),
        pairs(&[("beneficiary_bic", "bic")])
    );
}

#[test]
fn national_and_tax_ids() {
    let found = flagged(
        "struct Individual {
            ssn: Secret<String>,
            ssn_last_4: Option<String>,
            tax_id: Option<String>,
            cpf: Option<Secret<String>>,
            cnpj: Option<Secret<String>>,
            document_number: Secret<String>,
            id_number: Option<String>,
            passport_number: String,
            national_insurance_number: String,
            id_number_provided: bool,
            tax_id_type: Option<TaxIdType>,
            document_type: String,
            tax_rate: Decimal,
        }",
    );
    assert_eq!(
        found,
        [
            ("ssn".to_owned(), "national-id", false),
            ("ssn_last_4".to_owned(), "national-id", true),
            ("tax_id".to_owned(), "tax-id", false),
            ("cpf".to_owned(), "tax-id", false),
            ("cnpj".to_owned(), "tax-id", false),
            ("document_number".to_owned(), "national-id", false),
            ("id_number".to_owned(), "national-id", false),
            ("passport_number".to_owned(), "national-id", false),
            ("national_insurance_number".to_owned(), "national-id", false),
        ]
    );
}

#[test]
fn authentication_data() {
    let found = flagged(
        "struct NetworkTokenAuthentication {
            network_token: Secret<String>,
            token_cryptogram: Option<Secret<String>>,
            cavv: Option<String>,
            authentication_value: Option<Secret<String>>,
            network_token_status: Option<String>,
            network_token_requestor_ref_id: Option<String>,
            cryptogram_type: Option<String>,
        }",
    );
    assert_eq!(
        found
            .iter()
            .map(|(n, r, _)| (n.as_str(), *r))
            .collect::<Vec<_>>(),
        [
            ("network_token", "network-token"),
            ("token_cryptogram", "cryptogram"),
            ("cavv", "cryptogram"),
            ("authentication_value", "cryptogram"),
        ]
    );
}

#[test]
fn balances_salaries_and_money() {
    let found = flagged(
        "struct Statement {
            available_balance: i64,
            monthly_salary: u64,
            fee_income: AccountSetSpec,
            interest_income: AccountSetSpec,
            credit_limit: i64,
            approved_credit_limit: CreditLimit,
            balance: Vec<BalanceLimit>,
            loan_amount: MinorUnit,
            amount: MinorUnit,
            amount_captured: Option<i64>,
            net: Money,
            balance_transaction: Option<String>,
            balances: PayoutsConfig,
            load_balancer: String,
            load_balance: u32,
            bonus_points: u32,
            payroll_id: String,
            loan_id: String,
            loan_status: LoanStatus,
            account_holder_type: Option<String>,
            amount_type: AmountType,
            min_amount: i64,
            interest_percentage: MinorUnit,
            fee_percentage: Decimal,
            liquidity_coverage_ratio: Decimal,
            currency: Currency,
            amount_currency: String,
        }",
    );
    assert_eq!(
        found
            .iter()
            .map(|(n, r, _)| (n.as_str(), *r))
            .collect::<Vec<_>>(),
        [
            ("available_balance", "balance"),
            ("monthly_salary", "compensation"),
            ("credit_limit", "credit-limit"),
            ("approved_credit_limit", "credit-limit"),
            ("loan_amount", "loan"),
            ("amount", "amount"),
            ("amount_captured", "amount"),
            ("net", "amount"),
        ]
    );
    let amount = RULES
        .iter()
        .find(|r| r.id == "amount")
        .expect("amount rule");
    assert_eq!(amount.category, Category::Money);
    assert_eq!(Category::Money.default_severity(), crate::Severity::Warning);
}

#[test]
fn types_name_the_data_through_wrappers_and_paths() {
    let found = flagged(
        "struct Vaulted {
            data: Secret<String, CardNumberStrategy>,
            value: cards::CardNumber,
            account: Option<Masked<Iban>>,
            holder: StrongSecret<String>,
            settlement: Option<Box<MaskedBic>>,
        }",
    );
    assert_eq!(
        found,
        [
            ("data".to_owned(), "card-number", false),
            ("value".to_owned(), "card-number", false),
            ("account".to_owned(), "iban", false),
            ("settlement".to_owned(), "bic", true),
        ]
    );
    // A card number type is never money (it used to be).
    let ty: syn::Type = syn::parse_str("cards::CardNumber").expect("type");
    assert_eq!(match_type(&ty).map(|m| m.rule.id), Some("card-number"));
    // A bare decimal is not money by itself.
    let ty: syn::Type = syn::parse_str("Option<rust_decimal::Decimal>").expect("type");
    assert!(match_type(&ty).is_none());
}

#[test]
fn masked_forms_get_the_mask_level() {
    let found = flagged(
        "struct PaymentMethodCard {
            last4: String,
            masked_pan: String,
            card_number_masked: Option<String>,
            iban_last4: Option<String>,
            last_four_digits: Option<String>,
        }",
    );
    assert!(found.iter().all(|(_, _, masked)| *masked), "{found:?}");
    assert_eq!(found.len(), 5);
    let names = ["iban_last4".to_owned()];
    let ty: syn::Type = syn::parse_str("String").expect("type");
    let hit = classify(&FieldContext {
        owner: "SepaDebit",
        names: &names,
        ty: &ty,
    })
    .expect("a masked IBAN is flagged");
    assert_eq!(hit.min_level(), MASKED_LEVEL);
    assert!(!hit.sensitive_authentication_data());
    // A bare last4 in a bank account is an account number's mask.
    assert_eq!(
        rules_of("struct BankAccount { last4: String }"),
        pairs(&[("last4", "account-number")])
    );
}

#[test]
fn ignores_lookalikes() {
    for name in [
        "nickname",
        "spinner",
        "pantry",
        "tinted",
        "accountant_id",
        "card_holder",
        "customer_id",
        "sorted",
        "company",
        "expansion",
        "is_iban_valid",
    ] {
        assert!(match_name(name).is_none(), "{name} should not match");
    }
}

#[test]
fn rule_ids_are_unique_and_every_rule_documents_its_guards() {
    let mut ids: Vec<_> = RULES.iter().map(|r| r.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), RULES.len());
    for rule in RULES {
        assert!(!rule.guards.is_empty(), "{} documents no guard", rule.id);
        assert!(!rule.description.is_empty(), "{}", rule.id);
    }
}
