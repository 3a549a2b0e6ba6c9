//! What kind of financial data a lexicon rule recognises, and how loudly
//! a finding of that kind is reported.

use std::fmt;

/// The kind of data a lexicon rule recognises. A project can switch a
/// whole category down or off in `tierseal.toml`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    /// Payment card data: PAN, expiry, CVV/CVC, PIN, track data,
    /// cardholder name.
    Card,
    /// Bank account identifiers: IBAN, account and routing numbers, sort
    /// code, BSB, CLABE, account-holder name.
    Bank,
    /// National and tax identifiers: SSN, TIN, CPF, passport numbers.
    Identity,
    /// Payment authentication data: network tokens, cryptograms, CAVV.
    Authentication,
    /// Balances, credit limits, loans.
    Balance,
    /// Salaries, wages, income.
    Salary,
    /// Money amounts: the lowest-severity category.
    Money,
}

impl Category {
    /// Every category.
    pub const ALL: [Category; 7] = [
        Category::Card,
        Category::Bank,
        Category::Identity,
        Category::Authentication,
        Category::Balance,
        Category::Salary,
        Category::Money,
    ];

    /// The name used in `tierseal.toml`, JSON and SARIF.
    pub const fn as_str(self) -> &'static str {
        match self {
            Category::Card => "card",
            Category::Bank => "bank",
            Category::Identity => "identity",
            Category::Authentication => "authentication",
            Category::Balance => "balance",
            Category::Salary => "salary",
            Category::Money => "money",
        }
    }

    /// Parses a name as written in `tierseal.toml`.
    pub fn parse(name: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// How a finding of this category is reported unless a project says
    /// otherwise: money amounts are warnings, everything else an error.
    pub const fn default_severity(self) -> Severity {
        match self {
            Category::Money => Severity::Warning,
            _ => Severity::Error,
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a finding is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Not reported at all.
    Off,
    /// Reported, but does not fail the run.
    Warning,
    /// Reported and fails the run.
    Error,
}

impl Severity {
    /// The name used in `tierseal.toml`, reports and SARIF `level`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Off => "off",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }

    /// Parses a name as written in `tierseal.toml`.
    pub fn parse(name: &str) -> Option<Severity> {
        [Severity::Off, Severity::Warning, Severity::Error]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
