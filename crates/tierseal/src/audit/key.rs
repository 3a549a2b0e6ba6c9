//! The audit key: authenticates entries so that someone who can write the
//! log but not read the keystore cannot forge a consistent chain.

use std::fmt;

use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::Sha256;

use crate::crypto::{KEY_LEN, KeyMaterial};

/// An HMAC-SHA-256 key for audit entries.
///
/// The keystore holds the *root* key. A service receives, in its grant, a
/// key derived for its own principal: it can sign entries as itself and no
/// one else. The custodian's root key derives every writer's key, so it
/// verifies the whole log. `Debug` is redacted.
#[derive(Clone)]
pub struct AuditKey {
    material: KeyMaterial,
    /// `None` for the root key; the principal a derived key signs for.
    writer: Option<String>,
}

impl AuditKey {
    pub(crate) fn root(material: KeyMaterial) -> AuditKey {
        AuditKey {
            material,
            writer: None,
        }
    }

    /// The key `writer` signs its entries with, derived from the root key:
    /// HMAC-SHA-256(root, "tierseal audit writer\0" || writer).
    pub fn derive(&self, writer: &str) -> Option<AuditKey> {
        if self.writer.is_some() {
            return if self.writer.as_deref() == Some(writer) {
                Some(self.clone())
            } else {
                None
            };
        }
        let mut mac = Hmac::<Sha256>::new_from_slice(self.material.expose()).ok()?;
        mac.update(b"tierseal audit writer\0");
        mac.update(writer.as_bytes());
        let mut bytes = [0u8; KEY_LEN];
        bytes.copy_from_slice(&mac.finalize().into_bytes());
        Some(AuditKey {
            material: KeyMaterial::take(&mut bytes),
            writer: Some(writer.to_owned()),
        })
    }

    /// The key that signs checkpoints, derived from the root key only:
    /// HMAC-SHA-256(root, "tierseal audit checkpoint\0"). No writer's key
    /// derives it (their derivation input starts "tierseal audit writer"),
    /// so a log's writer cannot vouch for how far its own log reached.
    pub(crate) fn checkpoint_key(&self) -> Option<AuditKey> {
        if self.writer.is_some() {
            return None;
        }
        let mut mac = Hmac::<Sha256>::new_from_slice(self.material.expose()).ok()?;
        mac.update(b"tierseal audit checkpoint\0");
        let mut bytes = [0u8; KEY_LEN];
        bytes.copy_from_slice(&mac.finalize().into_bytes());
        Some(AuditKey::root(KeyMaterial::take(&mut bytes)))
    }

    /// The writer a derived key signs for; `None` for the root key.
    pub fn writer(&self) -> Option<&str> {
        self.writer.as_deref()
    }

    /// HMAC-SHA-256 of `message` under this key.
    pub(crate) fn mac(&self, message: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        if let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(self.material.expose()) {
            mac.update(message);
            out.copy_from_slice(&mac.finalize().into_bytes());
        }
        out
    }

    /// Checks a MAC in constant time.
    pub(crate) fn verify(&self, message: &[u8], tag: &[u8]) -> bool {
        Hmac::<Sha256>::new_from_slice(self.material.expose()).is_ok_and(|mut mac| {
            mac.update(message);
            mac.verify_slice(tag).is_ok()
        })
    }

    pub(crate) fn material(&self) -> &KeyMaterial {
        &self.material
    }

    pub(crate) fn derived(writer: String, material: KeyMaterial) -> AuditKey {
        AuditKey {
            material,
            writer: Some(writer),
        }
    }
}

impl fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.writer {
            Some(writer) => write!(f, "AuditKey(writer: {writer}, [REDACTED])"),
            None => f.write_str("AuditKey(root, [REDACTED])"),
        }
    }
}
