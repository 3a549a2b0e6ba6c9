//! `#[derive(Classified)]` for tierseal. Use it through the `tierseal`
//! crate, which re-exports it and documents the attribute syntax on
//! `tierseal::Classified`.
//!
//! ```
//! use tierseal::Classified;
//!
//! #[derive(Classified)]
//! struct Payment {
//!     #[classify(public)]
//!     id: String,
//!     #[classify(confidential)]
//!     iban: String,
//! }
//! assert_eq!(<Payment as Classified>::CLASSIFICATION.fields.len(), 2);
//! ```
//!
//! The pipeline: [`ast`] reads the struct and its attributes, [`check`]
//! applies the classification rules (lexicon, strictness, masks), and
//! [`expand`] writes the code ([`packed`] lays out the parts of a
//! `#[classified(packed)]` type). Errors are collected and reported together,
//! with a stub impl so that they are the only errors the user sees.
#![forbid(unsafe_code)]

mod ast;
mod check;
mod expand;
mod fallback;
mod packed;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Derives `tierseal::Classified`; see that trait for the attributes.
#[proc_macro_derive(Classified, attributes(classified, classify))]
pub fn derive_classified(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input)
        .unwrap_or_else(|errors| fallback::expand(&input, errors))
        .into()
}
