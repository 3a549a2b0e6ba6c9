//! The passphrase provider: tier keys wrapped with AES-256-GCM under the
//! keystore's master key, which an Argon2id-derived key wraps in turn.
//!
//! This is the keystore's default and today's behaviour. There is no
//! external key to name, create or rotate: rotating the master key is
//! `Keystore::change_passphrase`.

use std::fmt;

use aes_gcm::Aes256Gcm;

use super::{KekProvider, KekSlot, KeyMaterial, ProviderKind};
use crate::Error;
use crate::crypto::{self, NONCE_LEN, WRAPPED_KEY_LEN};

/// Wraps keys under a keystore master key (nonce ‖ ciphertext ‖ tag).
pub struct PassphraseProvider {
    master: Aes256Gcm,
}

impl PassphraseProvider {
    /// A provider over `master`.
    pub fn new(master: &KeyMaterial) -> PassphraseProvider {
        PassphraseProvider {
            master: master.cipher(),
        }
    }
}

impl fmt::Debug for PassphraseProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PassphraseProvider { master: [redacted] }")
    }
}

impl KekProvider for PassphraseProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Passphrase
    }

    fn key_name(&self, _slot: &KekSlot<'_>) -> Option<String> {
        None
    }

    fn ensure_key(&self, _slot: &KekSlot<'_>) -> Result<(), Error> {
        Ok(())
    }

    fn wrap(&self, _slot: &KekSlot<'_>, aad: &[u8], key: &KeyMaterial) -> Result<Vec<u8>, Error> {
        let nonce = crypto::fresh_wrap_nonce()?;
        let wrapped = crypto::wrap_key(&self.master, &nonce, aad, key.expose())?;
        let mut out = Vec::with_capacity(NONCE_LEN + WRAPPED_KEY_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&wrapped);
        Ok(out)
    }

    fn unwrap(&self, slot: &KekSlot<'_>, aad: &[u8], wrapped: &[u8]) -> Result<KeyMaterial, Error> {
        let failed = || Error::KmsRequest {
            provider: "passphrase",
            address: "master key".to_owned(),
            subject: slot.to_string(),
            status: 0,
            reason: "the wrapped key does not authenticate under the master key".to_owned(),
        };
        let (nonce, rest) = wrapped.split_at_checked(NONCE_LEN).ok_or_else(failed)?;
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| failed())?;
        let rest: [u8; WRAPPED_KEY_LEN] = rest.try_into().map_err(|_| failed())?;
        let mut key = crypto::unwrap_key(&self.master, &nonce, aad, &rest).map_err(|_| failed())?;
        Ok(KeyMaterial::take(&mut key))
    }

    fn rotate_key(&self, _slot: &KekSlot<'_>) -> Result<(), Error> {
        Err(Error::InvalidParameter {
            what: "key-encryption key rotation",
            reason: "a passphrase keystore has no per-tier key-encryption key: change the passphrase to replace its master key",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tier;

    #[test]
    fn wraps_round_trip_and_bind_the_aad() {
        let provider = PassphraseProvider::new(&KeyMaterial::generate().unwrap());
        let key = KeyMaterial::generate().unwrap();
        let slot = KekSlot::Tier(&Tier::INTERNAL);
        let wrapped = provider.wrap(&slot, b"aad", &key).unwrap();
        assert_eq!(
            provider.unwrap(&slot, b"aad", &wrapped).unwrap().expose(),
            key.expose()
        );
        assert!(provider.unwrap(&slot, b"other", &wrapped).is_err());
        assert!(provider.unwrap(&slot, b"aad", &wrapped[1..]).is_err());
        let again = provider.rewrap(&slot, b"aad", &wrapped).unwrap();
        assert_ne!(again, wrapped);
        assert_eq!(
            provider.unwrap(&slot, b"aad", &again).unwrap().expose(),
            key.expose()
        );
        assert_eq!(provider.key_name(&slot), None);
        assert!(!format!("{provider:?}").contains(&format!("{:?}", key.expose())));
    }
}
