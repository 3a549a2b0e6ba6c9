//! What a keystore records about its tiers and key versions.

use serde::{Deserialize, Serialize};

use crate::Tier;
use crate::crypto::{CheckValue, KEY_LEN, NONCE_LEN, TAG_LEN};

/// The keystore body: every tier and every key version.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Body {
    pub(crate) tiers: Vec<TierRecord>,
    /// The root audit key, wrapped under the master key.
    pub(crate) audit_key: Option<WrappedTierKey>,
}

/// One tier's key versions.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct TierRecord {
    pub(crate) tier: Tier,
    /// The version that seals new data.
    pub(crate) primary: u32,
    /// How long a primary version may stay in use, in days.
    pub(crate) cryptoperiod_days: u32,
    /// In increasing version order.
    pub(crate) versions: Vec<VersionRecord>,
}

/// One tier key version.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct VersionRecord {
    pub(crate) version: u32,
    /// Seconds since the Unix epoch.
    pub(crate) created_at: u64,
    pub(crate) check_value: CheckValue,
    /// `None` once retired: the material is destroyed.
    pub(crate) wrapped: Option<WrappedTierKey>,
    /// When it was retired, in seconds since the Unix epoch.
    pub(crate) retired_at: Option<u64>,
}

/// A tier key wrapped under the master key.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct WrappedTierKey {
    pub(crate) nonce: [u8; NONCE_LEN],
    pub(crate) ciphertext: [u8; KEY_LEN],
    pub(crate) tag: [u8; TAG_LEN],
}

impl Body {
    /// Checks the invariants a decoded body must hold.
    pub(crate) fn check(&self) -> Result<(), &'static str> {
        for (i, record) in self.tiers.iter().enumerate() {
            if self
                .tiers
                .iter()
                .skip(i + 1)
                .any(|other| other.tier == record.tier)
            {
                return Err("a tier is listed twice");
            }
            if !record
                .versions
                .windows(2)
                .all(|w| matches!(w, [a, b] if a.version < b.version))
            {
                return Err("key versions are out of order");
            }
            let primary = record
                .versions
                .iter()
                .find(|v| v.version == record.primary)
                .ok_or("a tier's primary version is missing")?;
            if primary.wrapped.is_none() {
                return Err("a tier's primary version is retired");
            }
        }
        Ok(())
    }

    pub(crate) fn tier(&self, tier: &Tier) -> Option<&TierRecord> {
        self.tiers.iter().find(|record| record.tier == *tier)
    }

    pub(crate) fn tier_mut(&mut self, tier: &Tier) -> Option<&mut TierRecord> {
        self.tiers.iter_mut().find(|record| record.tier == *tier)
    }
}

impl TierRecord {
    pub(crate) fn version(&self, version: u32) -> Option<&VersionRecord> {
        self.versions.iter().find(|v| v.version == version)
    }

    pub(crate) fn next_version(&self) -> u32 {
        self.versions
            .last()
            .map_or(1, |v| v.version.saturating_add(1))
    }
}
