//! What protects tier keys at rest: the key-encryption provider seam.
//!
//! The passphrase (the default), a KMS (OpenBao / Vault Transit) or an HSM
//! over PKCS#11 wraps each tier key version and the keystore's own
//! metadata key. Each provider keeps one KMS/HSM key per tier, named
//! `{prefix}{tier}` with '/' replaced by '-' (e.g.
//! `tierseal-restricted-cards`), plus `{prefix}keystore`, so that the KMS's
//! or HSM's own access control is the clearance.

use crate::crypto::KeyMaterial;
use crate::{Error, Tier};

#[cfg(feature = "pkcs11")]
pub mod pkcs11;

/// Where a wrapped key belongs: a tier's KMS key, or the keystore's own metadata key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KekSlot<'a> {
    /// The key of one tier.
    Tier(&'a Tier),
    /// The key that protects the keystore's own metadata.
    Keystore,
}

/// Which provider protects tier keys at rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    /// A passphrase-derived key (the default).
    Passphrase,
    /// OpenBao or HashiCorp Vault Transit.
    OpenBao,
    /// An HSM over PKCS#11.
    Pkcs11,
}

/// What protects tier keys at rest (one KMS/HSM key per tier, named `{prefix}{tier}`
/// with '/' replaced by '-', e.g. `tierseal-restricted-cards`, plus `{prefix}keystore`).
pub trait KekProvider: Send + Sync + std::fmt::Debug {
    /// Which provider this is.
    fn kind(&self) -> ProviderKind;
    /// The KMS/HSM key name for a slot (None for the passphrase provider).
    fn key_name(&self, slot: &KekSlot<'_>) -> Option<String>;
    /// Creates the slot's KMS/HSM key if it does not exist (idempotent).
    fn ensure_key(&self, slot: &KekSlot<'_>) -> Result<(), Error>;
    /// Wraps a 32-byte key under the slot's key; `aad` is bound (AES-GCM AAD, or Transit
    /// `associated_data`/context).
    fn wrap(&self, slot: &KekSlot<'_>, aad: &[u8], key: &KeyMaterial) -> Result<Vec<u8>, Error>;
    /// Unwraps what [`KekProvider::wrap`] returned for the same slot and `aad`.
    fn unwrap(&self, slot: &KekSlot<'_>, aad: &[u8], wrapped: &[u8]) -> Result<KeyMaterial, Error>;
    /// Rotates the slot's KMS/HSM key (Transit rotate; PKCS#11: new key object) and
    /// re-wraps `wrapped` under the new key without exposing it where the KMS can do so.
    fn rotate_key(&self, slot: &KekSlot<'_>) -> Result<(), Error>;
}
