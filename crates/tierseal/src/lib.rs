//! # tierseal
//!
//! Field-level envelope encryption and data classification for teams that
//! hold customers' financial data.
//!
//! Values are classified by [`Level`] (`Public < Internal < Confidential <
//! Restricted`); every non-public value is sealed at a [`Tier`] (a level,
//! optionally narrowed to a need-to-know compartment such as
//! `restricted/cards`). Each tier has its own key, kept in a
//! passphrase-protected [`Keystore`]; a service holds a [`Keyring`] with
//! only the tiers its [`Clearance`] grants, so data above its grant stays
//! sealed by cryptography, not by an `if`.
//!
//! ```
//! use tierseal::{AccessContext, Binding, Clearance, Error, KdfProfile, Keystore, Level, SealedValue, Tier};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! // KdfProfile::Test is cheap and NOT for production keystores.
//! let keystore = Keystore::create(dir.path().join("k"), &"passphrase".into(), KdfProfile::Test)?;
//!
//! let billing = keystore.keyring(&Clearance::up_to(Level::Restricted))?;
//! let support = keystore.keyring(&Clearance::up_to(Level::Internal))?;
//!
//! let ctx = AccessContext::new("billing-run").with_purpose("monthly statement");
//! let binding = Binding::new("Customer", "card_number").with_record_id("cus_042");
//! let card = SealedValue::seal(&billing, &Tier::RESTRICTED, binding, "4111111111111111")?;
//!
//! assert_eq!(card.open::<String>(&billing, binding, &ctx)?, "4111111111111111");
//! assert!(matches!(card.open::<String>(&support, binding, &ctx), Err(Error::NotGranted { .. })));
//! # Ok(())
//! # }
//! ```
//!
//! ## Key hierarchy
//!
//! ```text
//! passphrase --Argon2id--> unlock key --AES-256-GCM--> master key
//! master key --AES-256-GCM--> tier key, version v
//! tier key v --AES-256-GCM--> data key (per record and tier)
//! data key   --AES-256-GCM--> each field (random 96-bit nonce)
//! ```
//!
//! ## What never leaves this crate
//!
//! No `Debug`, `Display` or error message contains plaintext, key bytes or
//! a passphrase: keys print as tier, version and check value; sealed values
//! as tier, key version and length; errors name tiers, versions and paths.
//! Integrity failures say which key was tried, never why the tag failed.
#![forbid(unsafe_code)]

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
#[path = "fuzzing.rs"]
pub mod __fuzz;
#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
mod access;
mod approval;
pub mod audit;
pub mod batch;
mod classification;
mod classified;
mod crypto;
mod envelope;
mod error;
mod grant;
mod index;
pub mod kek;
mod keyring;
mod keystore;
pub mod mask;
pub mod openbao;
mod public_keys;
mod revealed;
#[cfg(any(feature = "rusqlite", feature = "postgres"))]
pub mod sql;

pub use access::AccessContext;
pub use approval::{
    APPROVAL_PREFIX, APPROVER_KEY_PREFIX, Approval, ApprovalId, ApproverKey,
    MAX_APPROVAL_LIFETIME_SECS, MAX_CLOCK_SKEW_SECS,
};
pub use classification::{Clearance, Level, MAX_COMPARTMENT_LEN, Tier};
pub use classified::{Classification, Classified, FieldClassification, SealedRecord};
pub use crypto::{CheckValue, KeyMaterial};
pub use envelope::{
    Binding, HpkeSuite, PackedEntry, PackedLayout, PackedOpener, PackedPart, PackedSealer,
    PartLayout, RecordKey, RecordKeys, RecordOpener, RecordSealer, Rewrapped, SealedField,
    SealedMask, SealedToken, SealedValue, TEXT_PREFIX,
};
pub use error::Error;
pub use grant::{ApprovalRequirement, GrantInfo, GrantSecret, GrantedIndex};
pub use index::{BlindIndex, INDEX_LEN, INDEX_TEXT_PREFIX, IndexField, index_input};
pub use keyring::Keyring;
pub use keystore::{
    AuditCheckpoint, CUSTODIAN, DEFAULT_CRYPTOPERIOD_DAYS, DEFAULT_LOCK_WAIT, DualControlOp,
    GrantId, IndexKeyInfo, IssuedGrant, IssuedTier, KdfParams, KdfProfile, KeyState,
    KeyVersionInfo, Keystore, KeystoreId, NewShare, Passphrase, RESERVED_PRINCIPALS, ShareInfo,
    ShareKey, ShareSetInfo, SplitPlan, SplitSpec,
};
// issue 11: the keystore on a replicated store.
pub use keystore::{
    FileBackend, KeystoreBackend, KeystoreLocation, KvBackend, MAX_SAVE_ATTEMPTS, OPENBAO_SCHEME,
    Revision, Stored,
};
pub use public_keys::{PublicKeySet, PublishedKey, PublisherKey};
pub use revealed::{Revealed, Withheld};
/// Derives [`Classified`] (see there for the attribute syntax).
pub use tierseal_derive::Classified;
