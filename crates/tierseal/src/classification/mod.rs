//! The classification model: sensitivity [`Level`]s, key [`Tier`]s and
//! [`Clearance`]s.
//!
//! A level says how sensitive a value is; a tier is the unit that owns a key
//! (a level, optionally narrowed to a need-to-know compartment); a clearance
//! is the set of tiers a keyring may hold.

mod clearance;
mod level;
mod tier;

pub use clearance::Clearance;
pub use level::Level;
pub use tier::{MAX_COMPARTMENT_LEN, Tier};
