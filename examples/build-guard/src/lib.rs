//! A statement line whose every financial field is classified, so the
//! build.rs guard lets it build.

use tierseal::Classified;

/// One line of a bank statement.
#[derive(Classified, Clone, serde::Serialize, serde::Deserialize)]
#[classified(record_id = "line_id")]
pub struct StatementLine {
    /// Our reference.
    #[classify(public)]
    pub line_id: String,
    /// The counterparty's account.
    #[classify(confidential)]
    pub iban: String,
    /// The amount in cents.
    #[classify(confidential)]
    pub amount_cents: i64,
    /// Free text the customer typed.
    #[classify(internal)]
    pub reference: String,
}

/// Statement metadata, safe in clear.
pub struct Statement {
    /// The statement period, e.g. "2026-11".
    pub period: String,
    /// How many lines it has.
    pub line_count: usize,
}

/// The classification of a statement line, for an inventory.
pub fn classification() -> &'static tierseal::Classification {
    StatementLine::CLASSIFICATION
}
