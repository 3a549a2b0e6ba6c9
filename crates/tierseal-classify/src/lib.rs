//! The grammar of `#[classified(...)]` / `#[classify(...)]` and the
//! financial lexicon, in one place.
//!
//! Both `#[derive(Classified)]` and the source linter read classification
//! attributes through [`attr`] and decide what looks financial through
//! [`lexicon`], so the two can never disagree.
//!
//! ```
//! use tierseal_classify::lexicon;
//!
//! let hit = lexicon::match_name("ibanNumber").expect("an IBAN is financial");
//! assert_eq!(hit.rule.id, "iban");
//! assert!(lexicon::match_name("nickname").is_none());
//! ```
#![forbid(unsafe_code)]

pub mod attr;
mod category;
mod level;
pub mod lexicon;

pub use category::{Category, Severity};
pub use level::LevelName;
