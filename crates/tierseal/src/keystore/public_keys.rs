//! The keystore's side of public-key sealing (issue 14): each tier's HPKE
//! suite, the Ed25519 publisher key, and publishing the signed public key
//! set.

use std::time::SystemTime;

use ed25519_dalek::{Signer as _, SigningKey};

use super::{Keystore, unix_seconds, unknown, wrap_under};
use crate::crypto::{self, KeyMaterial};
use crate::envelope::public_wrap;
use crate::public_keys::{PublicKeySet, PublisherKey, SET_FORMAT, WireBody, WireFile, WireTier};
use crate::{Error, HpkeSuite, Tier};

/// AAD of the publisher key's wrap under the master key.
pub(super) const PUBLISHER_KEY_AAD: &[u8] = b"tierseal/publisher-key\0\x01";

use crate::kek::KekSlot;

impl Keystore {
    /// Adds a tier at version 1, with its blind-index key at version 1,
    /// whose public key belongs to `suite` (see
    /// [`add_tier`](Self::add_tier), which uses [`HpkeSuite::X25519`]).
    /// The suite is fixed for the tier's life: every version's key pair
    /// is of it.
    ///
    /// # Errors
    /// [`Error::TierExists`], or an error saving the file.
    pub fn add_tier_with_suite(&mut self, tier: &Tier, suite: HpkeSuite) -> Result<(), Error> {
        if let Some(provider) = self.root.provider() {
            provider.ensure_key(&KekSlot::Tier(tier))?;
            provider.ensure_key(&KekSlot::Index(tier))?;
        }
        // Checked and applied inside the save, so that a change re-applied
        // on another custodian's keystore sees their tiers.
        self.update(|store, body| {
            if body.tier(tier).is_some() {
                return Err(Error::TierExists { tier: tier.clone() });
            }
            let record = store.new_tier_record(body, tier.clone())?;
            body.tiers.push(record);
            body.tiers.sort_by(|a, b| a.tier.cmp(&b.tier));
            if !body.index_keys.iter().any(|r| r.tier == *tier) {
                let index = store.new_index_record(body, tier)?;
                body.index_keys.push(index);
                body.index_keys.sort_by(|a, b| a.tier.cmp(&b.tier));
            }
            body.hpke_suites.retain(|(t, _)| t != tier);
            if suite != HpkeSuite::default() {
                body.hpke_suites.push((tier.clone(), suite));
            }
            Ok(())
        })
    }

    /// The HPKE suite of `tier`'s public keys (X25519 unless the tier was
    /// created with another).
    pub fn hpke_suite(&self, tier: &Tier) -> HpkeSuite {
        self.body
            .hpke_suites
            .iter()
            .find(|(t, _)| t == tier)
            .map_or_else(HpkeSuite::default, |(_, suite)| *suite)
    }

    /// The verifying key of the publisher key, if one was drawn (on the
    /// first [`publish_public_keys`](Self::publish_public_keys)).
    ///
    /// # Errors
    /// [`Error::KeystoreCorrupt`] when the stored key does not authenticate.
    pub fn publisher_key(&self) -> Result<Option<PublisherKey>, Error> {
        Ok(self
            .publisher_signing_key()?
            .map(|key| PublisherKey(key.verifying_key().to_bytes())))
    }

    fn publisher_signing_key(&self) -> Result<Option<SigningKey>, Error> {
        let Some(wrapped) = &self.body.publisher_key else {
            return Ok(None);
        };
        let seed = self.unwrap_under_master(
            wrapped,
            PUBLISHER_KEY_AAD,
            "the publisher key does not authenticate",
        )?;
        Ok(Some(SigningKey::from_bytes(seed.expose())))
    }

    /// Publishes every tier's primary public key in a set signed by the
    /// publisher key (drawn and stored, wrapped under the master key, on
    /// first use), under the next serial. Returns the file's bytes and the
    /// set. Public keys are derived from the tier keys, so nothing else is
    /// stored.
    ///
    /// # Errors
    /// [`Error::KeystoreCorrupt`], [`Error::Randomness`], or an error
    /// saving the file (nothing is published then).
    pub fn publish_public_keys(&mut self) -> Result<(Vec<u8>, PublicKeySet), Error> {
        self.publish_public_keys_for(None)
    }

    /// As [`publish_public_keys`](Self::publish_public_keys), for the tiers
    /// of `clearance` only (a seal-only grant): a service holding it can
    /// seal to those tiers and no other.
    ///
    /// # Errors
    /// [`Error::UnknownTier`] for a tier the keystore lacks, and as
    /// [`publish_public_keys`](Self::publish_public_keys).
    pub fn publish_public_keys_for(
        &mut self,
        clearance: Option<&crate::Clearance>,
    ) -> Result<(Vec<u8>, PublicKeySet), Error> {
        if let Some(clearance) = clearance {
            for tier in clearance.tiers() {
                self.record(tier)?;
            }
        }
        // Serial and publisher key are taken from the body the change is
        // applied to: a save re-applied after another writer's publish
        // takes the serial after theirs and keeps their publisher key
        // (the one services pinned) instead of overwriting it.
        let serial = self.update(|store, body| {
            let serial =
                body.public_key_set_serial
                    .checked_add(1)
                    .ok_or(Error::InvalidParameter {
                        what: "public key set serial",
                        reason: "the serial is exhausted",
                    })?;
            body.public_key_set_serial = serial;
            if body.publisher_key.is_none() {
                let seed = KeyMaterial::generate()?;
                body.publisher_key =
                    Some(wrap_under(store.root.cipher(), &seed, PUBLISHER_KEY_AAD)?);
            }
            Ok(serial)
        })?;
        // Signed with the key now stored (self.body is the saved body).
        let signing = self
            .publisher_signing_key()?
            .ok_or(Error::KeystoreCorrupt {
                path: self.path.clone(),
                reason: "the publisher key is missing",
            })?;
        let mut tiers = Vec::with_capacity(self.body.tiers.len());
        let wanted = |tier: &Tier| clearance.is_none_or(|c| c.tiers().any(|t| t == tier));
        for record in self.body.tiers.iter().filter(|r| wanted(&r.tier)) {
            let version = record
                .versions
                .iter()
                .find(|v| v.version == record.primary)
                .ok_or_else(|| unknown(&record.tier))?;
            let material = self
                .unwrap_tier_key(record, version)?
                .ok_or(Error::KeyRetired {
                    tier: record.tier.clone(),
                    version: record.primary,
                })?;
            let suite = self.hpke_suite(&record.tier);
            tiers.push(WireTier {
                tier: record.tier.clone(),
                suite,
                version: record.primary,
                public_key: crypto::hex(&public_wrap::derive_public_key(suite, &material)),
            });
        }
        let body = WireBody {
            format: SET_FORMAT.to_owned(),
            serial,
            issued_at: unix_seconds(SystemTime::now()),
            tiers,
        };
        let signature = signing.sign(&body.signed_message()?);
        let signer = PublisherKey(signing.verifying_key().to_bytes());
        let file = WireFile {
            set: body.clone(),
            signer: signer.to_string(),
            signature: crypto::hex(&signature.to_bytes()),
        };
        let mut bytes = serde_json::to_vec_pretty(&file)
            .map_err(|_| Error::malformed("public key set does not encode"))?;
        bytes.push(b'\n');
        Ok((bytes, PublicKeySet::from_body(body, signer)?))
    }
}
