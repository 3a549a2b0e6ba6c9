//! issue 11: keystores whose tier keys a key-encryption provider protects
//! (OpenBao / Vault Transit, PKCS#11).
//!
//! ```text
//! provider key {prefix}keystore --wraps--> metadata key
//!     metadata key --AES-GCM--> body tag, audit key
//! provider key {prefix}{tier}   --wraps--> each key version of that tier
//! ```
//! The metadata key is wrapped with the file header (magic, version,
//! provider, its parameters) as binding data, and authenticates the body as
//! the master key does in a passphrase keystore: a forged, downgraded or
//! re-labelled file fails to load. Tier keys are wrapped under their own
//! tier's provider key, so the provider's access control decides which
//! tiers a credential can unwrap.

use std::path::Path;
use std::sync::Arc;

use aes_gcm::Aes256Gcm;

use super::{
    AUDIT_KEY_AAD, FILE_VERSION, FileImage, Keystore, PassphraseRoot, Root, RootImage, decode_body,
    file, tier_key_aad, unwrap_under, wrap_under,
};
use crate::crypto::{self, KeyMaterial};
use crate::kek::{KekParams, KekProvider, KekSlot, ProviderKind};
use crate::keyring::{TierKeys, VersionKey};
use crate::keystore::model::{Body, ProviderWrappedKey, WrappedTierKey};
use crate::keystore::{KdfProfile, Passphrase};
use crate::{Error, Keyring, Tier};

/// The metadata key of a provider keystore and its wrap.
pub(super) struct ProviderRoot {
    pub(super) provider: Arc<dyn KekProvider>,
    pub(super) params: KekParams,
    /// Wrapped with the provider header of [`FILE_VERSION`] as binding data.
    pub(super) wrapped_meta: Vec<u8>,
    pub(super) meta: Aes256Gcm,
}

impl ProviderRoot {
    /// Creates the keystore key if needed and wraps a fresh metadata key.
    pub(super) fn new(
        provider: Arc<dyn KekProvider>,
        params: KekParams,
    ) -> Result<ProviderRoot, Error> {
        check_kind(&provider, &params)?;
        provider.ensure_key(&KekSlot::Keystore)?;
        for tier in [Tier::INTERNAL, Tier::CONFIDENTIAL, Tier::RESTRICTED] {
            provider.ensure_key(&KekSlot::Tier(&tier))?;
        }
        Self::wrap_fresh(provider, params)
    }

    fn wrap_fresh(
        provider: Arc<dyn KekProvider>,
        params: KekParams,
    ) -> Result<ProviderRoot, Error> {
        let meta = KeyMaterial::generate()?;
        let header = FileImage::provider_header(FILE_VERSION, &params);
        let wrapped_meta = provider.wrap(&KekSlot::Keystore, &header, &meta)?;
        Ok(ProviderRoot {
            provider,
            params,
            wrapped_meta,
            meta: meta.cipher(),
        })
    }

    /// Unwraps the metadata key of a file read from `path`.
    pub(super) fn open(
        path: &Path,
        image: &FileImage,
        provider: Arc<dyn KekProvider>,
    ) -> Result<ProviderRoot, Error> {
        let RootImage::Provider {
            params,
            wrapped_meta,
        } = &image.root
        else {
            return Err(Error::KekProviderMismatch {
                path: path.to_owned(),
                expected: provider.kind().as_str(),
                found: ProviderKind::Passphrase.as_str(),
            });
        };
        if params.kind() != provider.kind() {
            return Err(Error::KekProviderMismatch {
                path: path.to_owned(),
                expected: provider.kind().as_str(),
                found: params.kind().as_str(),
            });
        }
        let header = FileImage::provider_header(image.version, params);
        let meta = provider.unwrap(&KekSlot::Keystore, &header, wrapped_meta)?;
        Ok(ProviderRoot {
            provider,
            params: params.clone(),
            wrapped_meta: wrapped_meta.clone(),
            meta: meta.cipher(),
        })
    }
}

fn check_kind(provider: &Arc<dyn KekProvider>, params: &KekParams) -> Result<(), Error> {
    if params.kind() == ProviderKind::Passphrase || params.kind() != provider.kind() {
        return Err(Error::InvalidParameter {
            what: "key-encryption provider",
            reason: "the parameters name another provider than the one given (or the passphrase)",
        });
    }
    Ok(())
}

/// Every key of a keystore, unwrapped: what a provider migration moves.
struct Unwrapped {
    /// (tier, version, key) of every non-retired version.
    tier_keys: Vec<(Tier, u32, KeyMaterial)>,
    audit: Option<KeyMaterial>,
}

impl Keystore {
    fn unwrap_all(&self) -> Result<Unwrapped, Error> {
        let mut tier_keys = Vec::new();
        for record in &self.body.tiers {
            for version in &record.versions {
                if let Some(material) = self.unwrap_tier_key(record, version)? {
                    tier_keys.push((record.tier.clone(), version.version, material));
                }
            }
        }
        let audit = match &self.body.audit_key {
            Some(wrapped) => Some(self.unwrap_under_master(
                wrapped,
                AUDIT_KEY_AAD,
                "the audit key does not authenticate",
            )?),
            None => None,
        };
        Ok(Unwrapped { tier_keys, audit })
    }

    /// Re-wraps every key under `root` into a copy of the body.
    fn body_under(&self, root: &Root, keys: &Unwrapped) -> Result<Body, Error> {
        let mut body = self.body.clone();
        body.provider_keys.clear();
        for (tier, version, material) in &keys.tier_keys {
            let aad = tier_key_aad(tier, *version);
            let wrapped = match root {
                Root::Passphrase(root) => wrap_under(&root.master, material, &aad)?,
                Root::Provider(root) => {
                    let wrapped = root.provider.wrap(&KekSlot::Tier(tier), &aad, material)?;
                    body.provider_keys.push(ProviderWrappedKey {
                        tier: tier.clone(),
                        version: *version,
                        wrapped,
                    });
                    WrappedTierKey::PROVIDER_HELD
                }
            };
            let entry = body
                .tier_mut(tier)
                .and_then(|record| record.versions.iter_mut().find(|v| v.version == *version))
                .ok_or(Error::InvalidParameter {
                    what: "keystore",
                    reason: "a key version vanished during migration",
                })?;
            entry.wrapped = Some(wrapped);
        }
        body.audit_key = match &keys.audit {
            Some(audit) => Some(wrap_under(root.cipher(), audit, AUDIT_KEY_AAD)?),
            None => None,
        };
        Ok(body)
    }

    fn migrate(&mut self, root: Root) -> Result<(), Error> {
        let keys = self.unwrap_all()?;
        let body = self.body_under(&root, &keys)?;
        body.check().map_err(|reason| Error::InvalidParameter {
            what: "keystore migration",
            reason,
        })?;
        self.save_as(&root, &body)?;
        self.root = root;
        self.body = body;
        Ok(())
    }

    /// Moves the keystore to `provider`: its keys (created where missing)
    /// wrap every tier key version and a fresh metadata key, all in one
    /// atomic save. Data sealed under the tier keys is untouched: the tier
    /// keys themselves do not change.
    ///
    /// A copy of the file taken before still opens the old way and still
    /// reveals the keys that existed then.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when `params` do not match `provider`,
    /// provider errors, or an error saving the file; the keystore is then
    /// unchanged, in memory and on disk.
    pub fn migrate_to_kek(
        &mut self,
        provider: Arc<dyn KekProvider>,
        params: KekParams,
    ) -> Result<(), Error> {
        check_kind(&provider, &params)?;
        provider.ensure_key(&KekSlot::Keystore)?;
        for tier in self.tiers() {
            provider.ensure_key(&KekSlot::Tier(tier))?;
        }
        let root = ProviderRoot::wrap_fresh(provider, params)?;
        self.migrate(Root::Provider(root))
    }

    /// Moves the keystore to a passphrase-protected master key (fresh),
    /// in one atomic save.
    ///
    /// # Errors
    /// Provider errors while unwrapping, or an error saving the file; the
    /// keystore is then unchanged.
    pub fn migrate_to_passphrase(
        &mut self,
        passphrase: &Passphrase,
        profile: KdfProfile,
    ) -> Result<(), Error> {
        let root = PassphraseRoot::new(&KeyMaterial::generate()?, passphrase, profile.params())?;
        self.migrate(Root::Passphrase(root))
    }

    /// Rotates the provider keys themselves (Transit `rotate`; a new key
    /// object on PKCS#11) — every tier's key and the keystore key — and
    /// re-wraps each stored tier key version and the metadata key under
    /// the new provider key versions (Transit `rewrap`: the keys do not
    /// leave the server), then saves once. Sealed data is untouched.
    ///
    /// A failure part-way leaves the file as it was: the provider keys may
    /// have been rotated, but their older versions still unwrap what the
    /// file holds. Run it again.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a passphrase keystore, provider
    /// errors, or an error saving the file.
    pub fn rotate_kek(&mut self) -> Result<Vec<String>, Error> {
        let Root::Provider(root) = &self.root else {
            return Err(Error::InvalidParameter {
                what: "key-encryption key rotation",
                reason: "a passphrase keystore has no provider keys: change the passphrase to replace its master key",
            });
        };
        let provider = Arc::clone(&root.provider);
        let mut rotated = Vec::new();
        let tiers: Vec<Tier> = self.tiers().cloned().collect();
        for tier in &tiers {
            let slot = KekSlot::Tier(tier);
            provider.rotate_key(&slot)?;
            rotated.extend(provider.key_name(&slot));
        }
        provider.rotate_key(&KekSlot::Keystore)?;
        rotated.extend(provider.key_name(&KekSlot::Keystore));

        let mut body = self.body.clone();
        for held in &mut body.provider_keys {
            let aad = tier_key_aad(&held.tier, held.version);
            held.wrapped = provider.rewrap(&KekSlot::Tier(&held.tier), &aad, &held.wrapped)?;
        }
        let header = FileImage::provider_header(FILE_VERSION, &root.params);
        let wrapped_meta = provider.rewrap(&KekSlot::Keystore, &header, &root.wrapped_meta)?;
        let new_root = Root::Provider(ProviderRoot {
            provider,
            params: root.params.clone(),
            wrapped_meta,
            meta: root.meta.clone(),
        });
        self.save_as(&new_root, &body)?;
        self.root = new_root;
        self.body = body;
        Ok(rotated)
    }
}

/// What a service keyring build found.
pub(crate) struct ServiceLoad {
    pub(crate) keyring: Keyring,
    /// The tiers the credential may not unwrap.
    pub(crate) denied: Vec<Tier>,
}

/// Builds a service's keyring from the provider keystore at `path`: reads
/// the file without its lock (saves replace it atomically), authenticates
/// the metadata with the keystore key, and unwraps every non-retired
/// version of each tier the credential may unwrap. A tier whose key the
/// provider refuses ([`Error::KmsDenied`]) is left out; every other failure
/// is an error.
pub(crate) fn service_keyring(
    path: &Path,
    provider: Arc<dyn KekProvider>,
    principal: &str,
) -> Result<ServiceLoad, Error> {
    let bytes = file::read(path)?;
    let image = FileImage::decode(&bytes, path)?;
    let root = ProviderRoot::open(path, &image, provider)?;
    let corrupt = |reason| Error::KeystoreCorrupt {
        path: path.to_owned(),
        reason,
    };
    let mut empty = [];
    crypto::decrypt(
        &root.meta,
        &image.body_nonce,
        &image.authenticated_prefix(),
        &mut empty,
        &image.body_tag,
    )
    .map_err(|_| corrupt("authentication failed (the file was altered)"))?;
    let body = decode_body(image.version, &image.body).map_err(corrupt)?;
    if !body.provider_held() {
        return Err(corrupt(
            "its tier keys are not wrapped the way its header says",
        ));
    }
    let mut tiers = Vec::new();
    let mut denied = Vec::new();
    'tiers: for record in &body.tiers {
        let mut versions = Vec::new();
        let mut retired = Vec::new();
        for version in &record.versions {
            if version.wrapped.is_none() {
                retired.push(version.version);
                continue;
            }
            let held = body
                .provider_key(&record.tier, version.version)
                .ok_or(corrupt("a provider-wrapped tier key is missing"))?;
            let aad = tier_key_aad(&record.tier, version.version);
            match root
                .provider
                .unwrap(&KekSlot::Tier(&record.tier), &aad, &held.wrapped)
            {
                Ok(material) => {
                    if material.check_value() != version.check_value {
                        return Err(corrupt("a tier key does not match its check value"));
                    }
                    versions.push(VersionKey::new(version.version, material));
                }
                Err(Error::KmsDenied { .. }) => {
                    denied.push(record.tier.clone());
                    continue 'tiers;
                }
                Err(other) => return Err(other),
            }
        }
        tiers.push(TierKeys {
            tier: record.tier.clone(),
            primary: record.primary,
            versions,
            retired,
        });
    }
    let audit_key = match &body.audit_key {
        Some(wrapped) => Some(
            unwrap_under(&root.meta, wrapped, AUDIT_KEY_AAD)
                .map_err(|_| corrupt("the audit key does not authenticate"))?,
        ),
        None => None,
    };
    let audit_key =
        audit_key.and_then(|material| crate::audit::AuditKey::root(material).derive(principal));
    let keyring = Keyring::from_tiers(tiers, principal.to_owned(), audit_key)?;
    Ok(ServiceLoad { keyring, denied })
}
