//! The classification inventory: every field of every classified struct.

use std::path::PathBuf;

use serde::Serialize;

use crate::{Config, LintError};

/// One field of a `#[derive(Classified)]` struct.
#[derive(Clone, Debug, Serialize)]
pub struct InventoryEntry {
    /// `module::Type::field`.
    pub item: String,
    /// `module::Type`.
    pub owner: String,
    /// The type's stable id bound into its ciphertexts
    /// (`#[classified(id = "...")]`, or the type's name).
    pub type_id: String,
    /// The field name.
    pub field: String,
    /// The stable id bound into its ciphertext.
    pub id: String,
    /// `public`, `internal`, `confidential`, `restricted` or `nested`.
    pub level: String,
    /// Its compartment, if any.
    pub compartment: Option<String>,
    /// Its mask, if any: a built-in mask's name, or the path of a
    /// `mask_with` function.
    pub mask: Option<String>,
    /// Whether `mask` is a `mask_with` function (which may show anything).
    pub custom_mask: bool,
    /// Never written into the sealed form.
    pub transient: bool,
    /// Where it is declared.
    pub file: PathBuf,
    /// The line of its declaration.
    pub line: usize,
}

/// The inventory of every classified field under `paths`.
///
/// # Errors
/// As [`lint_paths`](crate::lint_paths).
pub fn inventory_paths(paths: &[PathBuf]) -> Result<Vec<InventoryEntry>, LintError> {
    let config = Config::default();
    let report = crate::lint_paths_with(paths, Some(&config), crate::LockMode::Ignore)?;
    Ok(report.inventory)
}
