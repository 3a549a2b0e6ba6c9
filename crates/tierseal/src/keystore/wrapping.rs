//! What wraps each key the keystore body stores: the one list of those
//! keys ([`for_each_wrapped_key`]), and wrapping, unwrapping and moving
//! them for the keystore's root.
//!
//! Per-tier keys — each version of a tier's encryption key and of its
//! blind-index key — are wrapped under the master key of a passphrase
//! keystore, or by the provider under the tier's own provider key for
//! their role ([`KeyRole::slot`]: `{prefix}{tier}` for encryption keys,
//! `{prefix}index-{tier}` for index keys) in a provider keystore. Every
//! other key (audit, approver, publisher) is always under the root key:
//! the master key, or a provider keystore's metadata key.
//!
//! A provider keystore read from file version 3 still has its index keys
//! under the metadata key; [`Keystore::place_index_keys`] moves them to
//! their slots in the first save, which writes version 4.

use super::model::{Body, KeyRole, ProviderWrappedKey, WrappedTierKey};
use super::{APPROVER_KEY_AAD, AUDIT_KEY_AAD, Keystore, Root, public_keys, wrap_under};
use crate::crypto::{CheckValue, KeyMaterial};
use crate::{Error, Tier};

/// A key the body stores, and where it belongs.
pub(super) enum StoredKey<'a> {
    /// A version of a tier's key of `role`.
    PerTier {
        role: KeyRole,
        tier: &'a Tier,
        version: u32,
        check_value: CheckValue,
    },
    /// A key always wrapped under the root key, with its AAD.
    Root(&'static [u8]),
}

impl StoredKey<'_> {
    /// The binding data of its wrap.
    fn aad(&self) -> Vec<u8> {
        match self {
            StoredKey::PerTier {
                role,
                tier,
                version,
                ..
            } => role.aad(tier, *version),
            StoredKey::Root(aad) => aad.to_vec(),
        }
    }
}

/// Calls `f` with every live key the body stores and its wrap (for a
/// provider-held key, the [`WrappedTierKey::PROVIDER_HELD`] marker; the
/// provider's wrap is in the body's provider lists). A key kind added to
/// the body must be added here, or changing the passphrase or the provider
/// would leave it under the old root.
pub(super) fn for_each_wrapped_key(
    body: &mut Body,
    mut f: impl FnMut(&StoredKey<'_>, &mut WrappedTierKey) -> Result<(), Error>,
) -> Result<(), Error> {
    for role in KeyRole::ALL {
        for (tier, versions) in body.versions_of_mut(role) {
            for version in versions {
                if let Some(wrapped) = &mut version.wrapped {
                    let key = StoredKey::PerTier {
                        role,
                        tier,
                        version: version.version,
                        check_value: version.check_value,
                    };
                    f(&key, wrapped)?;
                }
            }
        }
    }
    if let Some(wrapped) = &mut body.audit_key {
        f(&StoredKey::Root(AUDIT_KEY_AAD), wrapped)?;
    }
    if let Some(wrapped) = &mut body.approver_key {
        f(&StoredKey::Root(APPROVER_KEY_AAD), wrapped)?;
    }
    if let Some(wrapped) = &mut body.publisher_key {
        f(&StoredKey::Root(public_keys::PUBLISHER_KEY_AAD), wrapped)?;
    }
    Ok(())
}

/// Whether `key` is an index key still under the root key.
fn index_key_under_root(key: &StoredKey<'_>, wrapped: &WrappedTierKey) -> bool {
    matches!(
        key,
        StoredKey::PerTier {
            role: KeyRole::Index,
            ..
        }
    ) && *wrapped != WrappedTierKey::PROVIDER_HELD
}

impl Keystore {
    /// Wraps a fresh per-tier key: under the master key of a passphrase
    /// keystore; in a provider keystore by the provider under the tier's
    /// slot for `role`, the wrap added to `body`'s provider list and the
    /// marker returned.
    pub(super) fn wrap_new(
        &self,
        body: &mut Body,
        role: KeyRole,
        tier: &Tier,
        version: u32,
        material: &KeyMaterial,
    ) -> Result<WrappedTierKey, Error> {
        let aad = role.aad(tier, version);
        match &self.root {
            Root::Passphrase(root) => wrap_under(&root.master, material, &aad),
            Root::Provider(root) => {
                let wrapped = root.provider.wrap(&role.slot(tier), &aad, material)?;
                let held = body.held_mut(role);
                held.retain(|k| !(k.tier == *tier && k.version == version));
                held.push(ProviderWrappedKey {
                    tier: tier.clone(),
                    version,
                    wrapped,
                });
                Ok(WrappedTierKey::PROVIDER_HELD)
            }
        }
    }

    /// Unwraps a stored key with this keystore's root, reading a
    /// provider-held key's wrap from `source`, and checks a per-tier key
    /// against its check value.
    pub(super) fn unwrap_stored(
        &self,
        source: &Body,
        key: &StoredKey<'_>,
        wrapped: &WrappedTierKey,
    ) -> Result<KeyMaterial, Error> {
        let StoredKey::PerTier {
            role,
            tier,
            version,
            check_value,
        } = key
        else {
            return self.unwrap_under_master(
                wrapped,
                &key.aad(),
                "a key does not authenticate under the root key",
            );
        };
        let aad = key.aad();
        let material = match &self.root {
            Root::Provider(root) if *wrapped == WrappedTierKey::PROVIDER_HELD => {
                let held = source
                    .held_key(*role, tier, *version)
                    .ok_or_else(|| self.corrupt(role.missing()))?;
                root.provider
                    .unwrap(&role.slot(tier), &aad, &held.wrapped)?
            }
            _ => self.unwrap_under_master(wrapped, &aad, role.unauthenticated())?,
        };
        if material.check_value() != *check_value {
            return Err(self.corrupt(role.mismatched()));
        }
        Ok(material)
    }

    /// Wraps again for `root` each key of `body` that `select` picks,
    /// unwrapping it with this keystore's root: per-tier keys by `root`'s
    /// provider under their slot (created where missing), their new wraps
    /// replacing the old in `body`'s provider lists; every other key, and
    /// every key when `root` is a master key, under `root`'s own key.
    pub(super) fn rewrap_keys(
        &self,
        root: &Root,
        body: &mut Body,
        mut select: impl FnMut(&StoredKey<'_>, &WrappedTierKey) -> bool,
    ) -> Result<(), Error> {
        let source = body.clone();
        let mut replaced: Vec<(KeyRole, Tier, u32)> = Vec::new();
        let mut moved: Vec<(KeyRole, ProviderWrappedKey)> = Vec::new();
        let mut ensured: Vec<(KeyRole, Tier)> = Vec::new();
        for_each_wrapped_key(body, |key, wrapped| {
            if !select(key, wrapped) {
                return Ok(());
            }
            let material = self.unwrap_stored(&source, key, wrapped)?;
            let aad = key.aad();
            let StoredKey::PerTier {
                role,
                tier,
                version,
                ..
            } = key
            else {
                *wrapped = wrap_under(root.cipher(), &material, &aad)?;
                return Ok(());
            };
            replaced.push((*role, (*tier).clone(), *version));
            let Root::Provider(provider_root) = root else {
                *wrapped = wrap_under(root.cipher(), &material, &aad)?;
                return Ok(());
            };
            let slot = role.slot(tier);
            if !ensured.iter().any(|(r, t)| r == role && t == *tier) {
                provider_root.provider.ensure_key(&slot)?;
                ensured.push((*role, (*tier).clone()));
            }
            let provider_wrap = provider_root.provider.wrap(&slot, &aad, &material)?;
            moved.push((
                *role,
                ProviderWrappedKey {
                    tier: (*tier).clone(),
                    version: *version,
                    wrapped: provider_wrap,
                },
            ));
            *wrapped = WrappedTierKey::PROVIDER_HELD;
            Ok(())
        })?;
        for role in KeyRole::ALL {
            let held = body.held_mut(role);
            held.retain(|k| {
                !replaced
                    .iter()
                    .any(|(r, t, v)| *r == role && *t == k.tier && *v == k.version)
            });
            held.extend(
                moved
                    .iter()
                    .filter(|(r, _)| *r == role)
                    .map(|(_, key)| key.clone()),
            );
        }
        Ok(())
    }

    /// In a provider keystore, moves every index key `body` still holds
    /// under the metadata key (a file read as version 3) to its tier's
    /// index slot, creating the slot's provider key where missing; nothing
    /// to do otherwise. Every save runs it, so the first save of such a
    /// keystore writes it as version 4 with its index keys in their slots.
    pub(super) fn place_index_keys(&self, body: &mut Body) -> Result<(), Error> {
        if !matches!(self.root, Root::Provider(_)) || body.index_keys_in_slots() {
            return Ok(());
        }
        self.rewrap_keys(&self.root, body, index_key_under_root)
    }

    /// A corrupt-keystore error naming this keystore.
    pub(super) fn corrupt(&self, reason: &'static str) -> Error {
        Error::KeystoreCorrupt {
            path: self.path.clone(),
            reason,
        }
    }
}
