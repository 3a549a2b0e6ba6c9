//! Names that only look financial once split or renamed.
#![allow(non_snake_case)]

/// A payee as the partner API names it.
#[derive(serde::Serialize)]
pub struct Payee {
    /// Display name.
    pub name: String,
    /// Stored under the partner's name for it.
    #[serde(rename = "accountNumber")]
    pub external_ref: String,
    /// Kept in the partner's spelling.
    pub routingNumber: String,
}
