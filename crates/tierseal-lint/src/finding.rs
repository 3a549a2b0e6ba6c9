//! What the linter reports.

use std::path::PathBuf;

use serde::{Serialize, Serializer};
use tierseal_classify::{Category, Severity};

/// One lint rule (not a lexicon rule: a lexicon rule says what looks
/// financial, a lint rule says what is wrong with it).
#[derive(Debug, Serialize)]
pub struct LintRule {
    /// The stable id, as in SARIF `ruleId`.
    pub id: &'static str,
    /// One line on what it finds.
    pub description: &'static str,
}

/// Every lint rule.
pub static RULES: &[LintRule] = &[
    LintRule {
        id: "unclassified-financial-field",
        description: "a field whose name or type looks financial carries no classification",
    },
    LintRule {
        id: "classified-too-low",
        description: "a financial field is classified below its lexicon rule's minimum level",
    },
    LintRule {
        id: "public-without-reason",
        description: "a financial-looking field is declared public without a written reason",
    },
    LintRule {
        id: "sensitive-authentication-data",
        description: "PCI DSS sensitive authentication data (CVV, PIN, track data) would be stored: declare it transient",
    },
    LintRule {
        id: "invalid-classify-attribute",
        description: "a #[classify] or #[classified] attribute does not parse",
    },
    LintRule {
        id: "parse-error",
        description: "a source file is not valid Rust (or not UTF-8) and was not checked",
    },
    LintRule {
        id: "nesting-too-deep",
        description: "a source file nests brackets deeper than the parser's bound and was not checked",
    },
    LintRule {
        id: "classification-downgraded",
        description: "a field is classified weaker than tierseal.lock records (level, compartment, transient or mask)",
    },
    LintRule {
        id: "classified-field-removed",
        description: "a field in tierseal.lock is gone: removed, or renamed without keeping its stable id",
    },
];

/// Where a finding is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Location {
    /// The file, as given or found.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// 1-based column just past the end, on the same line.
    pub end_column: usize,
}

/// One problem found.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// The lint rule id (see [`RULES`]).
    pub rule: &'static str,
    /// The lexicon rule that flagged the field, if any.
    pub lexicon_rule: Option<String>,
    /// The built-in lexicon category of that rule (`card`, `money`, ...),
    /// if it is one.
    #[serde(serialize_with = "category_name")]
    pub category: Option<Category>,
    /// How it is reported: an error fails the run, a warning does not.
    #[serde(serialize_with = "as_name")]
    pub severity: Severity,
    /// `module::Type::field` (or `Type::Variant::field`).
    pub item: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: String,
    /// Where.
    pub location: Location,
    /// The source line, for display.
    pub source_line: String,
}

impl Finding {
    /// Whether this finding fails the run.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Serialises a severity by its name.
fn as_name<S: Serializer>(value: &Severity, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(value.as_str())
}

/// Serialises a category by its name, or `null`.
fn category_name<S: Serializer>(
    value: &Option<Category>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(category) => serializer.serialize_str(category.as_str()),
        None => serializer.serialize_none(),
    }
}
