//! Key-encryption providers: what protects tier keys at rest.
//!
//! A keystore's tier keys are wrapped either under a master key derived
//! from a passphrase (the default, [`ProviderKind::Passphrase`]), or by a
//! key manager that holds one key per tier, so that the key manager's own
//! access control is the clearance ([`ProviderKind::OpenBao`]: OpenBao or
//! HashiCorp Vault Transit, [`ProviderKind::Pkcs11`]: an HSM).
//!
//! A provider key is named `{prefix}{tier}` with `/` replaced by `-`
//! (`tierseal-restricted-cards`); each tier's blind-index keys are wrapped
//! under a key of their own, `{prefix}index-{tier}`
//! (`tierseal-index-restricted-cards`, [`KekSlot::Index`]), so that the key
//! manager can grant search on a tier without opening it and the other way
//! round; the keystore's own metadata key is wrapped under
//! `{prefix}keystore` ([`KekSlot::Keystore`]).
//!
//! Per-record work never reaches the provider: a keyring unwraps each
//! tier key version once when it is built (see [`ServiceKeyring`]) and
//! holds the keys in zeroizing memory.

mod passphrase;
#[cfg(feature = "pkcs11")]
pub mod pkcs11;
mod service;
pub mod transit;

use std::collections::BTreeMap;
use std::fmt;

pub use crate::crypto::KeyMaterial;
use crate::{Error, Tier};

pub use passphrase::PassphraseProvider;
pub use service::ServiceKeyring;
pub use transit::TransitProvider;

/// The default prefix of provider key names.
pub const DEFAULT_KEY_PREFIX: &str = "tierseal-";

/// The name of the metadata key's slot, after the prefix.
pub const KEYSTORE_KEY_SUFFIX: &str = "keystore";

/// What an index slot's key name starts with, after the prefix. No tier
/// name starts with it (a tier starts with its level), so an index key
/// never shares a name with a tier's key.
pub const INDEX_KEY_INFIX: &str = "index-";

/// Where a wrapped key belongs: a tier's KMS key, a tier's blind-index
/// KMS key, or the keystore's own metadata key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KekSlot<'a> {
    /// The key of one tier: it wraps the tier's encryption key versions.
    Tier(&'a Tier),
    /// The index key of one tier: it wraps the tier's blind-index key
    /// versions, and nothing that opens data.
    Index(&'a Tier),
    /// The key that wraps the keystore's metadata key.
    Keystore,
}

impl KekSlot<'_> {
    /// The provider key name of this slot under `prefix`:
    /// `{prefix}{tier with '/' -> '-'}`, `{prefix}index-{tier with '/' -> '-'}`
    /// or `{prefix}keystore`.
    pub fn key_name(&self, prefix: &str) -> String {
        match self {
            KekSlot::Tier(tier) => format!("{prefix}{}", tier.as_str().replace('/', "-")),
            KekSlot::Index(tier) => format!(
                "{prefix}{INDEX_KEY_INFIX}{}",
                tier.as_str().replace('/', "-")
            ),
            KekSlot::Keystore => format!("{prefix}{KEYSTORE_KEY_SUFFIX}"),
        }
    }
}

impl fmt::Display for KekSlot<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KekSlot::Tier(tier) => write!(f, "tier {tier}"),
            KekSlot::Index(tier) => write!(f, "the blind-index keys of tier {tier}"),
            KekSlot::Keystore => f.write_str("the keystore metadata"),
        }
    }
}

/// Which provider protects tier keys at rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// A master key wrapped under an Argon2id-derived passphrase key.
    Passphrase,
    /// OpenBao / HashiCorp Vault Transit.
    #[serde(rename = "openbao")]
    OpenBao,
    /// A PKCS#11 token (an HSM).
    Pkcs11,
}

impl ProviderKind {
    /// The name used on the command line, in files and in errors:
    /// `passphrase`, `openbao`, `pkcs11`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Passphrase => "passphrase",
            ProviderKind::OpenBao => "openbao",
            ProviderKind::Pkcs11 => "pkcs11",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ProviderKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "passphrase" => Ok(ProviderKind::Passphrase),
            "openbao" | "vault" => Ok(ProviderKind::OpenBao),
            "pkcs11" => Ok(ProviderKind::Pkcs11),
            _ => Err(Error::InvalidParameter {
                what: "key-encryption provider",
                reason: "expected passphrase, openbao or pkcs11",
            }),
        }
    }
}

/// What protects tier keys at rest (one KMS/HSM key per tier, named
/// `{prefix}{tier}` with '/' replaced by '-', e.g.
/// `tierseal-restricted-cards`, one per tier for its blind-index keys,
/// `{prefix}index-{tier}`, plus `{prefix}keystore`).
pub trait KekProvider: Send + Sync + fmt::Debug {
    /// Which provider this is.
    fn kind(&self) -> ProviderKind;
    /// The KMS/HSM key name for a slot (None for the passphrase provider).
    fn key_name(&self, slot: &KekSlot<'_>) -> Option<String>;
    /// Creates the slot's KMS/HSM key if it does not exist (idempotent).
    ///
    /// # Errors
    /// A typed provider error naming the provider, address and slot.
    fn ensure_key(&self, slot: &KekSlot<'_>) -> Result<(), Error>;
    /// Wraps a 32-byte key under the slot's key; `aad` is bound (AES-GCM
    /// AAD, or Transit `associated_data`/context).
    ///
    /// # Errors
    /// A typed provider error naming the provider, address and slot.
    fn wrap(&self, slot: &KekSlot<'_>, aad: &[u8], key: &KeyMaterial) -> Result<Vec<u8>, Error>;
    /// Unwraps what [`wrap`](Self::wrap) returned for the same slot and
    /// `aad`.
    ///
    /// # Errors
    /// [`Error::KmsDenied`] when the credential may not use the slot's key,
    /// other typed provider errors naming the provider, address and slot.
    fn unwrap(&self, slot: &KekSlot<'_>, aad: &[u8], wrapped: &[u8]) -> Result<KeyMaterial, Error>;
    /// Rotates the slot's KMS/HSM key (Transit rotate; PKCS#11: new key
    /// object). Keys wrapped before stay unwrappable; re-wrap them with
    /// [`rewrap`](Self::rewrap).
    ///
    /// # Errors
    /// A typed provider error naming the provider, address and slot.
    fn rotate_key(&self, slot: &KekSlot<'_>) -> Result<(), Error>;
    /// Re-wraps `wrapped` under the slot key's newest version, without
    /// exposing the key where the provider can do so (Transit `rewrap`).
    /// The default unwraps and wraps again.
    ///
    /// # Errors
    /// As [`unwrap`](Self::unwrap) and [`wrap`](Self::wrap).
    fn rewrap(&self, slot: &KekSlot<'_>, aad: &[u8], wrapped: &[u8]) -> Result<Vec<u8>, Error> {
        let key = self.unwrap(slot, aad, wrapped)?;
        self.wrap(slot, aad, &key)
    }
}

/// A provider's non-secret parameters, as the keystore header records
/// them (`mount`, `prefix`; a module path and token label for PKCS#11):
/// what a later command needs, besides the credential from its
/// environment, to reach the same keys. Never a token or PIN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KekParams {
    kind: ProviderKind,
    settings: BTreeMap<String, String>,
}

impl KekParams {
    /// Parameters of `kind` with no settings yet.
    pub fn new(kind: ProviderKind) -> KekParams {
        KekParams {
            kind,
            settings: BTreeMap::new(),
        }
    }

    /// Adds a setting.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a name or value the file cannot
    /// hold (empty name, control characters, too long).
    pub fn with(mut self, name: &str, value: &str) -> Result<KekParams, Error> {
        self.settings.insert(name.to_owned(), value.to_owned());
        if crate::keystore::check_kek_params(&self.settings) {
            Ok(self)
        } else {
            Err(Error::InvalidParameter {
                what: "provider setting",
                reason: "names are 1 to 64 characters, values at most 512, without control characters",
            })
        }
    }

    /// Which provider.
    pub fn kind(&self) -> ProviderKind {
        self.kind
    }

    /// A setting's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.settings.get(name).map(String::as_str)
    }

    /// Every setting, by name.
    pub fn settings(&self) -> &BTreeMap<String, String> {
        &self.settings
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(&self.settings).unwrap_or_default()
    }

    pub(crate) fn decode(kind: ProviderKind, bytes: &[u8]) -> Option<KekParams> {
        let settings: BTreeMap<String, String> = serde_json::from_slice(bytes).ok()?;
        crate::keystore::check_kek_params(&settings).then_some(KekParams { kind, settings })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_replace_slashes_and_use_the_prefix() {
        let tier: Tier = "restricted/cards".parse().unwrap();
        assert_eq!(
            KekSlot::Tier(&tier).key_name("tierseal-"),
            "tierseal-restricted-cards"
        );
        assert_eq!(KekSlot::Keystore.key_name("p-"), "p-keystore");
        assert_eq!(KekSlot::Tier(&Tier::INTERNAL).key_name(""), "internal");
        assert_eq!(
            KekSlot::Index(&tier).key_name("tierseal-"),
            "tierseal-index-restricted-cards"
        );
        assert_ne!(
            KekSlot::Index(&tier).to_string(),
            KekSlot::Tier(&tier).to_string()
        );
    }

    #[test]
    fn provider_kinds_parse_and_print() {
        for kind in [
            ProviderKind::Passphrase,
            ProviderKind::OpenBao,
            ProviderKind::Pkcs11,
        ] {
            assert_eq!(kind.as_str().parse::<ProviderKind>().unwrap(), kind);
        }
        assert!("hsm".parse::<ProviderKind>().is_err());
    }

    #[test]
    fn params_round_trip_and_refuse_control_characters() {
        let params = KekParams::new(ProviderKind::OpenBao)
            .with("mount", "transit")
            .unwrap()
            .with("prefix", "tierseal-")
            .unwrap();
        let back = KekParams::decode(ProviderKind::OpenBao, &params.encode()).unwrap();
        assert_eq!(back, params);
        assert_eq!(back.get("mount"), Some("transit"));
        assert!(
            KekParams::new(ProviderKind::OpenBao)
                .with("mount", "a\nb")
                .is_err()
        );
        assert!(KekParams::decode(ProviderKind::OpenBao, b"[1]").is_none());
    }
}
