//! Host package for the workspace-level `examples/` and `tests/`.
//!
//! It contains no code of its own: depend on the `tierseal` crate instead.
//!
//! ```
//! // The examples use the runtime through its public API only.
//! use tierseal::Level;
//! assert!(Level::Restricted > Level::Public);
//! ```
#![forbid(unsafe_code)]
