//! The financial lexicon: field names and types that look like financial
//! data.
//!
//! A field name is split into lowercase words (`card_number`,
//! `cardNumber` and `CardNumber` all give `card number`); a rule matches
//! when its words appear next to each other, in order. Types match on their
//! last path segment, looking through `Option`, `Vec`, `Box` and references.

use crate::LevelName;

/// One rule of the lexicon.
#[derive(Debug)]
pub struct Rule {
    /// A stable id, used in diagnostics, allow-lists and SARIF.
    pub id: &'static str,
    /// What the rule recognises.
    pub description: &'static str,
    /// The word sequences that trigger it.
    pub names: &'static [&'static [&'static str]],
    /// Type names (last path segment) that trigger it.
    pub types: &'static [&'static str],
    /// The lowest level such data may be classified at.
    pub min_level: LevelName,
    /// PCI DSS sensitive authentication data: must never be stored after
    /// authorisation, so it may only be declared `transient`.
    pub sensitive_authentication_data: bool,
}

const fn rule(
    id: &'static str,
    description: &'static str,
    names: &'static [&'static [&'static str]],
    min_level: LevelName,
) -> Rule {
    Rule {
        id,
        description,
        names,
        types: &[],
        min_level,
        sensitive_authentication_data: false,
    }
}

/// Every built-in rule.
pub static RULES: &[Rule] = &[
    rule(
        "iban",
        "an IBAN (international bank account number)",
        &[&["iban"]],
        LevelName::Confidential,
    ),
    rule(
        "bic",
        "a BIC / SWIFT bank code",
        &[&["bic"], &["swift"]],
        LevelName::Internal,
    ),
    rule(
        "account-number",
        "a bank account number",
        &[
            &["account", "number"],
            &["account", "no"],
            &["account", "num"],
            &["acct", "number"],
            &["acct", "no"],
            &["acct", "num"],
            &["acct"],
        ],
        LevelName::Confidential,
    ),
    rule(
        "routing-number",
        "a bank routing number",
        &[
            &["routing", "number"],
            &["routing", "no"],
            &["aba", "number"],
            &["aba"],
        ],
        LevelName::Confidential,
    ),
    rule(
        "sort-code",
        "a UK bank sort code",
        &[&["sort", "code"], &["sortcode"]],
        LevelName::Confidential,
    ),
    rule(
        "card-number",
        "a payment card number (PAN)",
        &[
            &["card", "number"],
            &["card", "no"],
            &["card", "num"],
            &["pan"],
            &["credit", "card"],
            &["debit", "card"],
            &["cc", "number"],
        ],
        LevelName::Restricted,
    ),
    Rule {
        id: "card-security-code",
        description: "a card security code (CVV/CVC): PCI DSS sensitive authentication data",
        names: &[
            &["cvv"],
            &["cvc"],
            &["cvv2"],
            &["cvc2"],
            &["cid"],
            &["card", "verification"],
            &["security", "code"],
        ],
        types: &[],
        min_level: LevelName::Restricted,
        sensitive_authentication_data: true,
    },
    Rule {
        id: "pin",
        description: "a PIN or PIN block: PCI DSS sensitive authentication data",
        names: &[&["pin"], &["pin", "block"], &["pinblock"]],
        types: &[],
        min_level: LevelName::Restricted,
        sensitive_authentication_data: true,
    },
    Rule {
        id: "track-data",
        description: "magnetic-stripe or chip track data: PCI DSS sensitive authentication data",
        names: &[&["track", "data"], &["track1"], &["track2"], &["magstripe"]],
        types: &[],
        min_level: LevelName::Restricted,
        sensitive_authentication_data: true,
    },
    rule(
        "expiry",
        "a card expiry date",
        &[
            &["expiry"],
            &["expiration", "date"],
            &["exp", "date"],
            &["expiry", "date"],
            &["exp", "month"],
            &["exp", "year"],
        ],
        LevelName::Confidential,
    ),
    rule(
        "balance",
        "an account balance",
        &[&["balance"]],
        LevelName::Confidential,
    ),
    rule(
        "compensation",
        "a salary, wage, income or bonus",
        &[
            &["salary"],
            &["wage"],
            &["wages"],
            &["income"],
            &["bonus"],
            &["compensation"],
            &["payroll"],
        ],
        LevelName::Confidential,
    ),
    rule(
        "tax-id",
        "a tax or national identifier (SSN, TIN, VAT number)",
        &[
            &["tax", "id"],
            &["tax", "number"],
            &["taxid"],
            &["ssn"],
            &["tin"],
            &["ein"],
            &["vat", "number"],
            &["vat", "id"],
            &["national", "insurance"],
            &["social", "security"],
        ],
        LevelName::Restricted,
    ),
    rule(
        "credit-limit",
        "a credit limit",
        &[&["credit", "limit"]],
        LevelName::Confidential,
    ),
    rule(
        "loan",
        "a loan or mortgage",
        &[&["loan"], &["mortgage"]],
        LevelName::Confidential,
    ),
    rule(
        "amount",
        "a monetary amount",
        &[&["amount"]],
        LevelName::Internal,
    ),
    Rule {
        id: "money-type",
        description: "a monetary or financial type",
        names: &[],
        types: &[
            "Decimal",
            "BigDecimal",
            "Money",
            "Amount",
            "Iban",
            "CardNumber",
            "Pan",
            "Currency",
        ],
        min_level: LevelName::Internal,
        sensitive_authentication_data: false,
    },
];

/// Why a name or type matched.
#[derive(Clone, Copy, Debug)]
pub struct Match {
    /// The rule that matched.
    pub rule: &'static Rule,
    /// The words or type name that triggered it, for the message.
    pub trigger: &'static str,
}

/// Splits an identifier into lowercase words: `accountNumber`,
/// `account_number`, `AccountNumber` and `ACCOUNT_NUMBER` all give
/// `["account", "number"]`; a raw-identifier prefix `r#` is dropped.
pub fn split_words(name: &str) -> Vec<String> {
    let name = name.strip_prefix("r#").unwrap_or(name);
    let mut words = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            continue;
        }
        let prev = i.checked_sub(1).and_then(|p| chars.get(p)).copied();
        let next = chars.get(i + 1).copied();
        let boundary = c.is_uppercase()
            && prev.is_some_and(|p| {
                p.is_lowercase()
                    || p.is_numeric()
                    || (p.is_uppercase() && next.is_some_and(char::is_lowercase))
            });
        if boundary && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        current.extend(c.to_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// The rule a field name triggers, if any (first rule wins).
pub fn match_name(name: &str) -> Option<Match> {
    match_words(&split_words(name))
}

/// The rule a name already split into lowercase words triggers, if any.
pub fn match_words(words: &[String]) -> Option<Match> {
    RULES.iter().find_map(|rule| {
        rule.names
            .iter()
            .find(|pattern| contains_run(words, pattern))
            .map(|pattern| Match {
                rule,
                trigger: pattern.first().copied().unwrap_or(rule.id),
            })
    })
}

/// Whether `pattern` appears in `words` as a run of adjacent words.
pub fn contains_run(words: &[String], pattern: &[impl AsRef<str>]) -> bool {
    !pattern.is_empty()
        && words.windows(pattern.len()).any(|window| {
            window
                .iter()
                .zip(pattern)
                .all(|(word, want)| word == want.as_ref())
        })
}

/// The rule a type triggers, if any: the last path segment of the type,
/// looking through `Option`, `Vec`, `Box`, `Rc`, `Arc` and references.
pub fn match_type(ty: &syn::Type) -> Option<Match> {
    let name = type_name(ty)?;
    RULES.iter().find_map(|rule| {
        rule.types
            .iter()
            .find(|candidate| **candidate == name)
            .map(|trigger| Match { rule, trigger })
    })
}

/// The name a type is matched by: its last path segment, looking through
/// `Option`, `Vec`, `Box`, `Rc`, `Arc`, references and parentheses.
pub fn type_name(ty: &syn::Type) -> Option<String> {
    innermost_type_name(ty)
}

fn innermost_type_name(ty: &syn::Type) -> Option<String> {
    match ty {
        syn::Type::Reference(reference) => innermost_type_name(&reference.elem),
        syn::Type::Paren(paren) => innermost_type_name(&paren.elem),
        syn::Type::Group(group) => innermost_type_name(&group.elem),
        syn::Type::Path(path) => {
            let last = path.path.segments.last()?;
            let name = last.ident.to_string();
            if matches!(name.as_str(), "Option" | "Vec" | "Box" | "Rc" | "Arc")
                && let syn::PathArguments::AngleBracketed(args) = &last.arguments
                && let Some(inner) = args.args.iter().find_map(|arg| match arg {
                    syn::GenericArgument::Type(inner) => Some(inner),
                    _ => None,
                })
            {
                return innermost_type_name(inner);
            }
            Some(name)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn matches_financial_names() {
        for (name, rule) in [
            ("iban", "iban"),
            ("payee_iban", "iban"),
            ("cardNumber", "card-number"),
            ("pan", "card-number"),
            ("cvv", "card-security-code"),
            ("monthly_salary", "compensation"),
            ("taxId", "tax-id"),
            ("ssn", "tax-id"),
            ("sort_code", "sort-code"),
            ("credit_limit", "credit-limit"),
            ("available_balance", "balance"),
            ("amount_cents", "amount"),
            ("swift", "bic"),
            ("pin_block", "pin"),
        ] {
            assert_eq!(match_name(name).map(|m| m.rule.id), Some(rule), "{name}");
        }
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
        ] {
            assert!(match_name(name).is_none(), "{name} should not match");
        }
    }

    #[test]
    fn matches_money_types_through_wrappers() {
        let ty: syn::Type = syn::parse_str("Option<rust_decimal::Decimal>").unwrap();
        assert_eq!(match_type(&ty).map(|m| m.rule.id), Some("money-type"));
        let ty: syn::Type = syn::parse_str("&Vec<Money>").unwrap();
        assert!(match_type(&ty).is_some());
        let ty: syn::Type = syn::parse_str("String").unwrap();
        assert!(match_type(&ty).is_none());
    }

    #[test]
    fn rule_ids_are_unique() {
        let mut ids: Vec<_> = RULES.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), RULES.len());
    }
}
