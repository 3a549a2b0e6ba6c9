//! Finds financial data left unclassified in Rust sources.
//!
//! `#[derive(Classified)]` already refuses to compile an untagged financial
//! field in the structs it derives. This crate catches the rest: a
//! `struct Payment { iban: String }` that never derived anything, an enum
//! variant carrying a card number, a card number tagged `internal`, a CVV
//! stored after authorisation. It reads `#[classify]` and decides what looks
//! financial through `tierseal-classify`, the same grammar and lexicon the
//! derive uses.
//!
//! ```
//! use tierseal_lint::{Config, lint_source};
//!
//! let findings = lint_source("src/payment.rs".as_ref(), "pub struct Payment { pub iban: String }", &Config::default());
//! assert_eq!(findings.len(), 1);
//! assert_eq!(findings[0].rule, "unclassified-financial-field");
//! assert_eq!(findings[0].item, "Payment::iban");
//! ```
//!
//! Use it from the `tierseal lint` command, or from a `build.rs` with
//! [`guard`], or as a library with [`lint_paths`] and [`inventory_paths`].
#![forbid(unsafe_code)]

mod config;
mod error;
mod finding;
mod guard;
mod inventory;
mod lock;
pub mod report;
mod scan;
mod sources;

pub use config::{AllowEntry, Config, ConfigRule};
pub use error::LintError;
pub use finding::{Finding, LintRule, Location, RULES as LINT_RULES};
pub use guard::guard;
pub use inventory::{InventoryEntry, inventory_paths};
pub use lock::{LOCK_FILE, LockDrift, LockMode};
pub use scan::{MAX_NESTING, Report, lint_paths, lint_paths_with, lint_source};
pub use sources::Skipped;
pub use tierseal_classify::{Category, Severity};
