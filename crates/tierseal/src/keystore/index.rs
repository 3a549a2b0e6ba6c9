//! Blind-index keys in the keystore: one record per tier, with versions of
//! its own, wrapped like tier keys but with their own AAD, so that an index
//! key can never be taken for an encryption key: under the master key of a
//! passphrase keystore, and in a provider keystore (file version 4) by the
//! provider under the tier's own index key (`{prefix}index-{tier}`), apart
//! from the tier's encryption key, so that the provider's policies grant
//! searching a tier separately from opening it.
//!
//! Rotating an index key adds a version and makes it primary; the older
//! versions stay until the re-index job has recomputed every stored index
//! value, and are then retired with [`Keystore::retire_index`].

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::model::{Body, KeyRole, VersionRecord};
use super::wrapping::StoredKey;
use super::{Keystore, unix_seconds, unknown};
use crate::crypto::{CheckValue, KeyMaterial};
use crate::index::{IndexKeys, IndexVersionKey};
use crate::kek::KekSlot;
use crate::{Clearance, Error, Keyring, Tier};

/// One tier's index key versions.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct IndexKeyRecord {
    pub(crate) tier: Tier,
    /// The version new index values are computed with.
    pub(crate) primary: u32,
    /// In increasing version order.
    pub(crate) versions: Vec<IndexVersionRecord>,
}

/// One index key version: recorded (and encoded) exactly as a tier key
/// version is — number, creation time, check value, wrap (`None` once
/// retired), retirement time.
pub(crate) type IndexVersionRecord = VersionRecord;

/// An index key version as [`Keystore::index_key_versions`] lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexKeyInfo {
    /// The tier.
    pub tier: Tier,
    /// The version.
    pub version: u32,
    /// Whether new index values are computed with it.
    pub primary: bool,
    /// Created, in seconds since the Unix epoch.
    pub created_at: u64,
    /// Retired (material destroyed), in seconds since the Unix epoch.
    pub retired_at: Option<u64>,
    /// The key's public fingerprint.
    pub check_value: CheckValue,
}

/// Checks the invariants of the index key records of a decoded body.
pub(crate) fn check(records: &[IndexKeyRecord]) -> Result<(), &'static str> {
    for (i, record) in records.iter().enumerate() {
        if records
            .iter()
            .skip(i + 1)
            .any(|other| other.tier == record.tier)
        {
            return Err("a tier's index keys are listed twice");
        }
        if !record
            .versions
            .windows(2)
            .all(|w| matches!(w, [a, b] if a.version < b.version))
        {
            return Err("index key versions are out of order");
        }
        let primary = record
            .versions
            .iter()
            .find(|v| v.version == record.primary)
            .ok_or("a tier's primary index key is missing")?;
        if primary.wrapped.is_none() {
            return Err("a tier's primary index key is retired");
        }
    }
    Ok(())
}

/// AAD of an index key wrap: binds the key to its tier and version, and
/// sets it apart from the tier (encryption) keys.
pub(crate) fn index_key_aad(tier: &Tier, version: u32) -> Vec<u8> {
    let mut aad = Vec::with_capacity(64);
    aad.extend_from_slice(b"tierseal/index-key\0");
    aad.push(1);
    aad.push(u8::try_from(tier.as_str().len()).unwrap_or(u8::MAX));
    aad.extend_from_slice(tier.as_str().as_bytes());
    aad.extend_from_slice(&version.to_be_bytes());
    aad
}

impl IndexKeyRecord {
    fn next_version(&self) -> u32 {
        self.versions
            .last()
            .map_or(1, |v| v.version.saturating_add(1))
    }
}

impl Keystore {
    /// A fresh index key version of `tier`: wrapped under the master key,
    /// or in a provider keystore by the provider under the tier's index
    /// slot (added to `body`'s provider-held index keys).
    pub(crate) fn new_index_version(
        &self,
        body: &mut Body,
        tier: &Tier,
        version: u32,
    ) -> Result<IndexVersionRecord, Error> {
        let material = KeyMaterial::generate()?;
        let wrapped = self.wrap_new(body, KeyRole::Index, tier, version, &material)?;
        Ok(IndexVersionRecord {
            version,
            created_at: unix_seconds(SystemTime::now()),
            check_value: material.check_value(),
            wrapped: Some(wrapped),
            retired_at: None,
        })
    }

    /// The index key record of a new tier, at version 1.
    pub(crate) fn new_index_record(
        &self,
        body: &mut Body,
        tier: &Tier,
    ) -> Result<IndexKeyRecord, Error> {
        Ok(IndexKeyRecord {
            tier: tier.clone(),
            primary: 1,
            versions: vec![self.new_index_version(body, tier, 1)?],
        })
    }

    /// The index key of `version`, unwrapped and checked, or `None` when
    /// retired.
    fn unwrap_index_key(
        &self,
        record: &IndexKeyRecord,
        version: &IndexVersionRecord,
    ) -> Result<Option<KeyMaterial>, Error> {
        let Some(wrapped) = &version.wrapped else {
            return Ok(None);
        };
        let key = StoredKey::PerTier {
            role: KeyRole::Index,
            tier: &record.tier,
            version: version.version,
            check_value: version.check_value,
        };
        self.unwrap_stored(&self.body, &key, wrapped).map(Some)
    }

    /// Checks that every stored index key unwraps (on open).
    pub(crate) fn check_index_keys(&self) -> Result<(), Error> {
        for record in &self.body.index_keys {
            for version in &record.versions {
                self.unwrap_index_key(record, version)?;
            }
        }
        Ok(())
    }

    /// The live index keys of each tier of `tiers` that has any.
    pub(crate) fn index_keys_for<'t>(
        &self,
        tiers: impl Iterator<Item = &'t Tier>,
    ) -> Result<Vec<IndexKeys>, Error> {
        let mut out = Vec::new();
        for tier in tiers {
            if self.body.tier(tier).is_none() {
                return Err(unknown(tier));
            }
            let Some(record) = self.body.index_keys.iter().find(|r| r.tier == *tier) else {
                continue;
            };
            let mut versions = Vec::new();
            for version in &record.versions {
                if let Some(material) = self.unwrap_index_key(record, version)? {
                    versions.push(IndexVersionKey {
                        version: version.version,
                        check_value: version.check_value,
                        material,
                    });
                }
            }
            out.push(IndexKeys {
                tier: record.tier.clone(),
                primary: record.primary,
                versions,
            });
        }
        Ok(out)
    }

    /// A keyring that can compute the blind indexes of the tiers of
    /// `search` and open nothing: for a service that looks records up by
    /// IBAN or card number and must never read one. Opening a field of
    /// such a tier fails with [`Error::NotGranted`].
    ///
    /// # Errors
    /// [`Error::UnknownTier`], [`Error::NoIndexKey`] for a tier without an
    /// index key (see [`rotate_index`](Self::rotate_index)).
    pub fn search_keyring(&self, search: &Clearance) -> Result<Keyring, Error> {
        self.keyring_with_search(&Clearance::none(), search)
    }

    /// A keyring that opens the tiers of `clearance` and computes the
    /// blind indexes of the tiers of `clearance` and `search`.
    ///
    /// # Errors
    /// As [`keyring`](Self::keyring) and [`search_keyring`](Self::search_keyring).
    pub fn keyring_with_search(
        &self,
        clearance: &Clearance,
        search: &Clearance,
    ) -> Result<Keyring, Error> {
        for tier in search.tiers() {
            self.record(tier)?;
            if !self.body.index_keys.iter().any(|r| r.tier == *tier) {
                return Err(Error::NoIndexKey { tier: tier.clone() });
            }
        }
        let keyring = self.keyring(clearance)?;
        let mut tiers: Vec<Tier> = clearance.tiers().cloned().collect();
        tiers.extend(search.tiers().cloned());
        tiers.sort();
        tiers.dedup();
        Ok(keyring.with_index_keys(self.index_keys_for(tiers.iter())?))
    }

    /// Every index key version, by tier then version.
    pub fn index_key_versions(&self) -> Vec<IndexKeyInfo> {
        self.body
            .index_keys
            .iter()
            .flat_map(|record| {
                record.versions.iter().map(|v| IndexKeyInfo {
                    tier: record.tier.clone(),
                    version: v.version,
                    primary: v.version == record.primary,
                    created_at: v.created_at,
                    retired_at: v.retired_at,
                    check_value: v.check_value,
                })
            })
            .collect()
    }

    /// Creates a new index key version of `tier` and makes it primary
    /// (version 1 for a tier that has none yet, as in keystores made before
    /// blind indexes). Returns the new version.
    ///
    /// Index values computed with the older versions stay valid for
    /// lookups ([`Keyring::blind_index_candidates`]) until a re-index job
    /// has recomputed them; then retire the old version with
    /// [`retire_index`](Self::retire_index). Encryption keys are not
    /// touched.
    ///
    /// # Errors
    /// [`Error::UnknownTier`], or an error saving the file.
    pub fn rotate_index(&mut self, tier: &Tier) -> Result<u32, Error> {
        self.record(tier)?;
        if let Some(provider) = self.root.provider() {
            provider.ensure_key(&KekSlot::Index(tier))?;
        }
        // The next version is read from the body the change is applied to,
        // so that a save re-applied after another writer's rotation takes
        // the version after theirs instead of reusing it.
        self.update(|store, body| {
            if body.tier(tier).is_none() {
                return Err(unknown(tier));
            }
            let next = body
                .index_keys
                .iter()
                .find(|r| r.tier == *tier)
                .map_or(1, IndexKeyRecord::next_version);
            let version = store.new_index_version(body, tier, next)?;
            match body.index_keys.iter_mut().find(|r| r.tier == *tier) {
                Some(record) => {
                    record.versions.push(version);
                    record.primary = next;
                }
                None => {
                    body.index_keys.push(IndexKeyRecord {
                        tier: tier.clone(),
                        primary: next,
                        versions: vec![version],
                    });
                    body.index_keys.sort_by(|a, b| a.tier.cmp(&b.tier));
                }
            }
            Ok(next)
        })
    }

    /// Retires index key `version` of `tier`: its material is destroyed,
    /// and index values computed with it match nothing any more. Run the
    /// re-index job first. The primary version cannot be retired.
    ///
    /// Refused while an unexpired issued grant carries the version (see
    /// [`outstanding_index_grants`](Self::outstanding_index_grants)): its
    /// holder keeps a copy of the key that retiring cannot destroy. Wait
    /// for those grants to expire, or confirm their holders discarded them
    /// and call [`retire_index_despite_grants`](Self::retire_index_despite_grants).
    ///
    /// # Errors
    /// [`Error::IndexGrantsOutstanding`], [`Error::NoIndexKey`],
    /// [`Error::UnknownKeyVersion`], [`Error::KeyRetired`],
    /// [`Error::KeyState`] for the primary, or an error saving the file.
    pub fn retire_index(&mut self, tier: &Tier, version: u32) -> Result<(), Error> {
        self.retire_index_checked(tier, version, false)
    }

    /// As [`retire_index`](Self::retire_index), even while issued grants
    /// still carry the version: their holders can go on computing index
    /// values under it with their own copy until their grants expire.
    ///
    /// # Errors
    /// As [`retire_index`](Self::retire_index), except
    /// [`Error::IndexGrantsOutstanding`].
    pub fn retire_index_despite_grants(&mut self, tier: &Tier, version: u32) -> Result<(), Error> {
        self.retire_index_checked(tier, version, true)
    }

    /// The issued grants that carry index key `version` of `tier` and have
    /// not expired at `now`: whoever holds one can compute index values
    /// under that version whatever the keystore does.
    pub fn outstanding_index_grants(
        &self,
        tier: &Tier,
        version: u32,
        now: SystemTime,
    ) -> Vec<&crate::IssuedGrant> {
        let now = unix_seconds(now);
        self.body
            .grants
            .iter()
            .filter(|grant| !grant.is_expired(now) && grant.carries_index(tier, version))
            .collect()
    }

    /// Checks that every index key version in `index` is still usable
    /// (re-checked when another writer saved first and may have retired
    /// one meanwhile).
    pub(crate) fn check_index_versions_usable(
        &self,
        index: &[super::IssuedTier],
    ) -> Result<(), Error> {
        for granted in index {
            let record = self.body.index_keys.iter().find(|r| r.tier == granted.tier);
            for version in &granted.versions {
                let usable = record
                    .and_then(|r| r.versions.iter().find(|v| v.version == *version))
                    .is_some_and(|v| v.wrapped.is_some());
                if !usable {
                    return Err(Error::KeystoreConflict {
                        path: self.path.clone(),
                        reason: "an index key version the grant carries was retired meanwhile",
                    });
                }
            }
        }
        Ok(())
    }

    /// Retires after the checks, made on the body the change applies to
    /// (a fresh one when another writer saved first).
    fn retire_index_checked(
        &mut self,
        tier: &Tier,
        version: u32,
        despite: bool,
    ) -> Result<(), Error> {
        let now = unix_seconds(SystemTime::now());
        self.update(|store, body| {
            let record = store
                .body
                .index_keys
                .iter()
                .find(|r| r.tier == *tier)
                .ok_or_else(|| Error::NoIndexKey { tier: tier.clone() })?;
            let entry = record
                .versions
                .iter()
                .find(|v| v.version == version)
                .ok_or(Error::UnknownKeyVersion {
                    tier: tier.clone(),
                    version,
                })?;
            if entry.wrapped.is_none() {
                return Err(Error::KeyRetired {
                    tier: tier.clone(),
                    version,
                });
            }
            if record.primary == version {
                return Err(Error::KeyState {
                    action: "retire",
                    tier: tier.clone(),
                    version,
                    reason: "it is the primary index key; rotate the index key first",
                });
            }
            let outstanding = store
                .outstanding_index_grants(tier, version, SystemTime::now())
                .len();
            if !despite && outstanding > 0 {
                return Err(Error::IndexGrantsOutstanding {
                    tier: tier.clone(),
                    version,
                    grants: outstanding,
                });
            }
            if let Some(entry) = body
                .index_keys
                .iter_mut()
                .find(|r| r.tier == *tier)
                .and_then(|r| r.versions.iter_mut().find(|v| v.version == version))
            {
                entry.wrapped = None;
                entry.retired_at = Some(now);
            }
            body.provider_index_keys
                .retain(|k| !(k.tier == *tier && k.version == version));
            Ok(())
        })
    }

    /// As [`issue_grant`](Self::issue_grant), with the index keys of the
    /// tiers of `search` too: the grant can look records of those tiers
    /// up by blind index without being able to open them (unless
    /// `clearance` grants them as well).
    ///
    /// # Errors
    /// As [`issue_grant`](Self::issue_grant) and
    /// [`search_keyring`](Self::search_keyring).
    pub fn issue_grant_with_search(
        &mut self,
        clearance: &Clearance,
        search: &Clearance,
        principal: &str,
        expires_at: SystemTime,
    ) -> Result<(Vec<u8>, crate::GrantSecret), Error> {
        self.issue_grant_scoped(clearance, search, principal, expires_at, &[])
    }
}

#[cfg(test)]
mod tests {
    use super::super::{tier_key_aad, unwrap_under};
    use super::*;
    use crate::KdfProfile;

    #[test]
    fn an_index_key_never_unwraps_as_a_tier_key_and_a_swapped_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let mut keystore = Keystore::create(&path, &"pw".into(), KdfProfile::Test).unwrap();
        let record = keystore.body.index_keys.first().unwrap().clone();
        let wrapped = record.versions.first().unwrap().wrapped.clone().unwrap();
        let master = keystore.root.cipher();
        assert!(unwrap_under(master, &wrapped, &index_key_aad(&record.tier, 1)).is_ok());
        assert!(unwrap_under(master, &wrapped, &tier_key_aad(&record.tier, 1)).is_err());

        // A body whose index key was replaced by the tier's encryption key
        // (both under the master key) does not open.
        keystore
            .update(|_, body| {
                let tier_key = body.tier(&record.tier).unwrap().versions[0].wrapped.clone();
                body.index_keys[0].versions[0].wrapped = tier_key;
                Ok(())
            })
            .unwrap();
        drop(keystore);
        let error = Keystore::open(&path, &"pw".into()).unwrap_err();
        assert!(
            matches!(error, Error::KeystoreCorrupt { reason, .. } if reason.contains("index key")),
            "{error:?}"
        );
    }

    #[test]
    fn a_search_grant_is_registered_and_keeps_its_index_key_until_forced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let mut keystore = Keystore::create(&path, &"pw".into(), KdfProfile::Test).unwrap();
        let tier = Tier::RESTRICTED;
        let in_an_hour = SystemTime::now() + std::time::Duration::from_secs(3600);
        keystore
            .issue_grant_with_search(
                &Clearance::none(),
                &Clearance::none().with(tier.clone()),
                "support-desk",
                in_an_hour,
            )
            .unwrap();
        let issued = keystore.issued_grants().last().unwrap().clone();
        assert!(issued.tiers.is_empty(), "{issued:?}");
        assert_eq!(
            issued.index,
            [crate::IssuedTier {
                tier: tier.clone(),
                versions: vec![1],
            }]
        );
        assert!(issued.carries_index(&tier, 1) && !issued.carries_index(&tier, 2));
        assert!(!issued.carries(&tier, 1));

        // A grant that opens the tier carries its index keys too.
        keystore
            .issue_grant(
                &Clearance::none().with(tier.clone()),
                "payments",
                in_an_hour,
            )
            .unwrap();
        let payments = keystore.issued_grants().last().unwrap().clone();
        assert!(payments.carries(&tier, 1) && payments.carries_index(&tier, 1));

        assert_eq!(keystore.rotate_index(&tier).unwrap(), 2);
        let error = keystore.retire_index(&tier, 1).unwrap_err();
        assert!(
            matches!(
                &error,
                Error::IndexGrantsOutstanding { tier: t, version: 1, grants: 2 } if *t == tier
            ),
            "{error:?}"
        );
        assert_eq!(error.kind(), "index-grants-outstanding");
        assert!(
            error.to_string().contains("index key restricted v1"),
            "{error}"
        );
        let retired = |keystore: &Keystore| {
            keystore
                .index_key_versions()
                .iter()
                .find(|v| v.tier == tier && v.version == 1)
                .unwrap()
                .retired_at
                .is_some()
        };
        assert!(!retired(&keystore));
        // Once the grant has expired it holds nothing back.
        let later = in_an_hour + std::time::Duration::from_secs(1);
        assert_eq!(
            keystore
                .outstanding_index_grants(&tier, 1, SystemTime::now())
                .len(),
            2
        );
        assert!(
            keystore
                .outstanding_index_grants(&tier, 1, later)
                .is_empty()
        );

        // The register survives a save and a reopen (body version 3).
        drop(keystore);
        let mut keystore = Keystore::open(&path, &"pw".into()).unwrap();
        assert_eq!(keystore.issued_grants().first(), Some(&issued));
        keystore.retire_index_despite_grants(&tier, 1).unwrap();
        assert!(retired(&keystore));
    }
}
