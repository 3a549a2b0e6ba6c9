//! Passphrases and the Argon2id derivation that turns one into the
//! keystore's unlock key.

use std::fmt;

use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::Error;
use crate::crypto::KEY_LEN;

/// A custodian's passphrase. Zeroized on drop; `Debug` is redacted.
///
/// ```
/// use tierseal::Passphrase;
///
/// let passphrase = Passphrase::from("correct horse battery staple");
/// assert_eq!(format!("{passphrase:?}"), "Passphrase([REDACTED])");
/// ```
pub struct Passphrase(SecretString);

impl Passphrase {
    /// Wraps a passphrase.
    pub fn new(passphrase: String) -> Passphrase {
        Passphrase(SecretString::from(passphrase))
    }

    pub(crate) fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl From<String> for Passphrase {
    fn from(passphrase: String) -> Self {
        Passphrase::new(passphrase)
    }
}

impl From<&str> for Passphrase {
    fn from(passphrase: &str) -> Self {
        Passphrase::new(passphrase.to_owned())
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase([REDACTED])")
    }
}

/// How expensive the passphrase derivation is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KdfProfile {
    /// Argon2id with 64 MiB of memory and 3 passes (about 120 ms here):
    /// the default for every real keystore.
    Production,
    /// Argon2id with 64 KiB and 1 pass: **not for production**. A stolen
    /// keystore under this profile falls to a cheap brute force. For tests,
    /// demos and examples only.
    Test,
}

impl KdfProfile {
    /// The Argon2id parameters of this profile.
    pub fn params(self) -> KdfParams {
        match self {
            KdfProfile::Production => KdfParams {
                memory_kib: 64 * 1024,
                passes: 3,
                lanes: 1,
            },
            KdfProfile::Test => KdfParams {
                memory_kib: 64,
                passes: 1,
                lanes: 1,
            },
        }
    }
}

/// Argon2id parameters, stored in the keystore file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Number of passes.
    pub passes: u32,
    /// Degree of parallelism.
    pub lanes: u32,
}

impl KdfParams {
    /// Upper bounds accepted when reading a file, so that a tampered file
    /// cannot make opening it take unbounded memory or time.
    const MAX_MEMORY_KIB: u32 = 1024 * 1024;
    const MAX_PASSES: u32 = 16;
    const MAX_LANES: u32 = 16;

    /// Whether these parameters are within what tierseal accepts.
    pub(crate) fn check(self) -> Result<KdfParams, &'static str> {
        if self.lanes == 0 || self.lanes > Self::MAX_LANES {
            return Err("Argon2 lanes out of range (1 to 16)");
        }
        if self.passes == 0 || self.passes > Self::MAX_PASSES {
            return Err("Argon2 passes out of range (1 to 16)");
        }
        if self.memory_kib < 8 * self.lanes || self.memory_kib > Self::MAX_MEMORY_KIB {
            return Err("Argon2 memory out of range (8 KiB per lane to 1 GiB)");
        }
        Ok(self)
    }

    /// Derives the 256-bit unlock key from `passphrase` and `salt`.
    pub(crate) fn derive(
        self,
        passphrase: &Passphrase,
        salt: &[u8],
    ) -> Result<Zeroizing<[u8; KEY_LEN]>, Error> {
        let params =
            Params::new(self.memory_kib, self.passes, self.lanes, Some(KEY_LEN)).map_err(|_| {
                Error::InvalidParameter {
                    what: "Argon2 parameters",
                    reason: "rejected by Argon2",
                }
            })?;
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(passphrase.expose().as_bytes(), salt, key.as_mut())
            .map_err(|_| Error::InvalidParameter {
                what: "passphrase or salt",
                reason: "rejected by Argon2 (empty or too long)",
            })?;
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_within_bounds() {
        assert!(KdfProfile::Production.params().check().is_ok());
        assert!(KdfProfile::Test.params().check().is_ok());
        assert_eq!(KdfProfile::Production.params().memory_kib, 65536);
    }

    #[test]
    fn rejects_out_of_range_params() {
        let bad = KdfParams {
            memory_kib: u32::MAX,
            passes: 1,
            lanes: 1,
        };
        assert!(bad.check().is_err());
        let bad = KdfParams {
            memory_kib: 64,
            passes: 0,
            lanes: 1,
        };
        assert!(bad.check().is_err());
    }

    #[test]
    fn derivation_depends_on_passphrase_and_salt() {
        let params = KdfProfile::Test.params();
        let a = params.derive(&"one".into(), &[1; 16]).unwrap();
        let b = params.derive(&"two".into(), &[1; 16]).unwrap();
        let c = params.derive(&"one".into(), &[2; 16]).unwrap();
        let again = params.derive(&"one".into(), &[1; 16]).unwrap();
        assert_ne!(*a, *b);
        assert_ne!(*a, *c);
        assert_eq!(*a, *again);
    }
}
