//! Keyrings: the tier keys a service was granted, ready to use.
//!
//! A keyring holds every non-retired version of each granted tier, with
//! its AES-GCM key schedule expanded once, and remembers which versions
//! were retired so that it can say so. It never holds the master key.

use std::fmt;
use std::sync::Arc;

use aes_gcm::Aes256Gcm;

use crate::audit::{AuditKey, AuditSink};
use crate::crypto::{CheckValue, KeyMaterial};
use crate::{ApproverKey, Clearance, Error, Level, Tier};

/// The tier keys a clearance grants, ready for sealing and opening.
///
/// Get one from an unlocked [`Keystore`](crate::Keystore) with
/// [`Keystore::keyring`](crate::Keystore::keyring), or from a grant file
/// with [`Keyring::from_grant`]. `Debug` shows tiers, versions and check
/// values, never key bytes.
///
/// A keyring also carries what opening requires: the audit sink every open
/// is recorded to ([`with_audit`](Self::with_audit)), and the level from
/// which an open needs a purpose ([`with_purpose_threshold`](Self::with_purpose_threshold),
/// `Confidential` by default).
pub struct Keyring {
    tiers: Vec<TierKeys>,
    pub(crate) writer: String,
    audit_key: Option<AuditKey>,
    audit: Option<Arc<dyn AuditSink>>,
    purpose_threshold: Level,
    /// Whether version-1 clear masks (never authenticated) are shown.
    legacy_clear_masks: bool,
    /// Tiers that open only with a break-glass approval, and the key each
    /// approval must verify under.
    approval_required: Vec<(Tier, ApproverKey)>,
    /// Blind-index keys, per tier; a tier here but not in `tiers` is
    /// search-only.
    index: Vec<crate::index::IndexKeys>,
    // issue 14: a seal-only keyring's public keys (empty otherwise).
    /// The tiers this keyring can only seal to, with their public keys.
    pub(crate) public: Vec<PublicTierKey>,
    /// The serial of the public key set `public` came from (0 without one).
    pub(crate) public_serial: u64,
    /// Tiers whose public-key tokens (kinds 4 and 5) this keyring opens and
    /// rewraps; refused for every other tier, since anyone holding a
    /// tier's published public key can write one.
    accept_public: Vec<Tier>,
}

/// A tier's primary public key, as a seal-only keyring holds it.
#[derive(Clone)]
pub(crate) struct PublicTierKey {
    pub(crate) tier: Tier,
    pub(crate) key_version: u32,
    pub(crate) key: crate::envelope::public_wrap::ParsedPublicKey,
}

/// The keys a keyring holds for one tier.
pub(crate) struct TierKeys {
    pub(crate) tier: Tier,
    pub(crate) primary: u32,
    /// Sorted by version; always contains `primary`.
    pub(crate) versions: Vec<VersionKey>,
    /// Versions whose material was destroyed.
    pub(crate) retired: Vec<u32>,
}

/// One tier key version with its expanded cipher.
pub(crate) struct VersionKey {
    pub(crate) version: u32,
    pub(crate) material: KeyMaterial,
    pub(crate) cipher: Aes256Gcm,
    pub(crate) check_value: CheckValue,
    // issue 14: HPKE private keys derived from `material` on first use.
    /// The version's HPKE private keys, derived once per keyring.
    pub(crate) hpke: crate::envelope::public_wrap::DerivedKeys,
}

impl VersionKey {
    pub(crate) fn new(version: u32, material: KeyMaterial) -> VersionKey {
        VersionKey {
            version,
            cipher: material.cipher(),
            check_value: material.check_value(),
            hpke: crate::envelope::public_wrap::DerivedKeys::default(),
            material,
        }
    }
}

impl TierKeys {
    pub(crate) fn primary_key(&self) -> Result<&VersionKey, Error> {
        self.version_key(self.primary)
    }

    pub(crate) fn version_key(&self, version: u32) -> Result<&VersionKey, Error> {
        if let Some(key) = self.versions.iter().find(|key| key.version == version) {
            return Ok(key);
        }
        if self.retired.contains(&version) {
            Err(Error::KeyRetired {
                tier: self.tier.clone(),
                version,
            })
        } else {
            Err(Error::UnknownKeyVersion {
                tier: self.tier.clone(),
                version,
            })
        }
    }
}

impl Keyring {
    /// Builds a keyring for `writer`, checking that each tier's primary is
    /// present.
    pub(crate) fn from_tiers(
        mut tiers: Vec<TierKeys>,
        writer: String,
        audit_key: Option<AuditKey>,
    ) -> Result<Keyring, Error> {
        for keys in &mut tiers {
            keys.versions.sort_by_key(|key| key.version);
            if keys.primary_key().is_err() {
                return Err(Error::InvalidParameter {
                    what: "keyring",
                    reason: "a tier's primary key version is missing",
                });
            }
        }
        tiers.sort_by(|a, b| a.tier.cmp(&b.tier));
        Ok(Keyring {
            tiers,
            writer,
            audit_key,
            audit: None,
            purpose_threshold: Level::Confidential,
            legacy_clear_masks: false,
            approval_required: Vec::new(),
            index: Vec::new(),
            public: Vec::new(),
            public_serial: 0,
            accept_public: Vec::new(),
        })
    }

    /// A keyring with no keys: it can open nothing but public data.
    pub fn empty() -> Keyring {
        Keyring {
            tiers: Vec::new(),
            writer: "unattributed".into(),
            audit_key: None,
            audit: None,
            purpose_threshold: Level::Confidential,
            legacy_clear_masks: false,
            approval_required: Vec::new(),
            index: Vec::new(),
            public: Vec::new(),
            public_serial: 0,
            accept_public: Vec::new(),
        }
    }

    /// Adds blind-index keys (sorted by tier, each tier's versions newest
    /// first).
    pub(crate) fn with_index_keys(mut self, mut index: Vec<crate::index::IndexKeys>) -> Keyring {
        for keys in &mut index {
            keys.versions
                .sort_by_key(|key| std::cmp::Reverse(key.version));
        }
        index.sort_by(|a, b| a.tier.cmp(&b.tier));
        self.index = index;
        self
    }

    /// The blind-index keys, per tier.
    pub(crate) fn index_tiers(&self) -> &[crate::index::IndexKeys] {
        &self.index
    }

    /// This keyring with the blind-index keys of `search` (moved, never
    /// copied), and `search`'s principal, audit key and audit sink: what
    /// a seal-only keyring takes from a search-only grant.
    pub(crate) fn with_search_of(mut self, search: Keyring) -> Keyring {
        self.writer = search.writer;
        self.audit_key = search.audit_key;
        self.audit = search.audit;
        self.index = search.index;
        self
    }

    /// Records every open, failed open, restricted seal and rewrap made
    /// with this keyring to `sink`.
    #[must_use]
    pub fn with_audit(mut self, sink: Arc<dyn AuditSink>) -> Keyring {
        self.audit = Some(sink);
        self
    }

    /// Opens of fields at `level` or above need a purpose in the access
    /// context (default: `Confidential`). `Level::Public` requires one for
    /// every open.
    #[must_use]
    pub fn with_purpose_threshold(mut self, level: Level) -> Keyring {
        self.purpose_threshold = level;
        self
    }

    /// Shows the clear masks of records sealed by format version 1, which
    /// stored masks unauthenticated. Off by default: a reader who cannot
    /// open a field also cannot check that field's version byte, so anyone
    /// who can write the store could relabel a version-2 field as version 1
    /// and put a mask of their choosing beside it. Turn this on only while
    /// version-1 records remain and their store is trusted; re-seal them to
    /// get authenticated masks.
    #[must_use]
    pub fn with_legacy_clear_masks(mut self) -> Keyring {
        self.legacy_clear_masks = true;
        self
    }

    /// Opens of `tier` need a break-glass [`Approval`](crate::Approval)
    /// signed by `approver` (see
    /// [`AccessContext::with_approval`](crate::AccessContext::with_approval)):
    /// without a valid one, the tier's fields are refused before any data
    /// key of the tier is unwrapped. Replaces an earlier requirement for the
    /// same tier. The requirement can only be added, never removed, on a
    /// keyring; a grant issued with one carries it.
    ///
    /// This is a check made by the process that opens: code running inside
    /// that process with the keyring (or the grant and its secret) holds the
    /// tier keys, and is not stopped by it. See THREAT-MODEL.md.
    #[must_use]
    pub fn require_approval(mut self, tier: Tier, approver: ApproverKey) -> Keyring {
        self.approval_required.retain(|(t, _)| *t != tier);
        self.approval_required.push((tier, approver));
        self
    }

    /// Opens and rewraps public-key tokens of `tier` (values and record
    /// keys sealed by a seal-only keyring, token kinds 5 and 4), which are
    /// refused by default with [`Error::PublicKeyTokenRefused`].
    ///
    /// A public-key token proves nothing about who wrote it: anyone who
    /// holds the tier's published public key (every seal-only service, and
    /// whoever can read where the set is published) can seal a value of
    /// their choosing that opens as genuine. Opt in only for tiers that a
    /// seal-only service writes to, and treat what they hold as only as
    /// trustworthy as the path by which it reached the store. See
    /// THREAT-MODEL.md.
    #[must_use]
    pub fn accept_public_key_tokens(mut self, tier: Tier) -> Keyring {
        if !self.accept_public.contains(&tier) {
            self.accept_public.push(tier);
        }
        self
    }

    /// Whether this keyring opens public-key tokens of `tier`
    /// ([`accept_public_key_tokens`](Self::accept_public_key_tokens)).
    pub fn accepts_public_key_tokens(&self, tier: &Tier) -> bool {
        self.accept_public.contains(tier)
    }

    /// The keys for `name` when this keyring may unwrap a public-key
    /// token of it: as [`require`](Self::require), then
    /// [`Error::PublicKeyTokenRefused`] unless the tier was opted in.
    pub(crate) fn require_for_public_token(&self, name: &str) -> Result<&TierKeys, Error> {
        let keys = self.require(name)?;
        if !self.accept_public.contains(&keys.tier) {
            return Err(Error::PublicKeyTokenRefused {
                tier: keys.tier.clone(),
            });
        }
        Ok(keys)
    }

    /// The key approvals for `tier` must verify under, if opening `tier`
    /// needs one.
    pub fn approval_requirement(&self, tier: &Tier) -> Option<&ApproverKey> {
        self.approval_required
            .iter()
            .find(|(t, _)| t == tier)
            .map(|(_, key)| key)
    }

    /// Whether this keyring shows version-1 clear masks
    /// ([`with_legacy_clear_masks`](Self::with_legacy_clear_masks)).
    pub fn shows_legacy_clear_masks(&self) -> bool {
        self.legacy_clear_masks
    }

    /// Who this keyring's audit entries are signed as: a grant's principal,
    /// or `custodian` for a keyring taken from the keystore.
    pub fn writer(&self) -> &str {
        &self.writer
    }

    /// The key this keyring's writer signs audit entries with.
    pub fn audit_key(&self) -> Option<&AuditKey> {
        self.audit_key.as_ref()
    }

    /// The level from which opens need a purpose.
    pub fn purpose_threshold(&self) -> Level {
        self.purpose_threshold
    }

    pub(crate) fn audit_sink(&self) -> Option<&dyn AuditSink> {
        self.audit.as_deref()
    }

    /// The granted tiers, in order.
    pub fn tiers(&self) -> impl ExactSizeIterator<Item = &Tier> {
        self.tiers.iter().map(|keys| &keys.tier)
    }

    /// The clearance this keyring holds.
    pub fn clearance(&self) -> Clearance {
        self.tiers().cloned().collect()
    }

    /// Whether this keyring holds keys for `tier`.
    pub fn has_tier(&self, tier: &Tier) -> bool {
        self.find(tier.as_str()).is_some()
    }

    /// The primary (sealing) version of `tier`, if granted.
    pub fn primary_version(&self, tier: &Tier) -> Option<u32> {
        self.find(tier.as_str()).map(|keys| keys.primary)
    }

    /// The keys for the tier named `name`, looked up without allocating.
    pub(crate) fn find(&self, name: &str) -> Option<&TierKeys> {
        self.tiers.iter().find(|keys| keys.tier.as_str() == name)
    }

    /// The public key a seal-only keyring seals `name` to; `None` on a
    /// keyring that holds the tier's keys (it seals symmetrically).
    pub(crate) fn public_key(&self, name: &str) -> Option<&PublicTierKey> {
        self.public.iter().find(|key| key.tier.as_str() == name)
    }

    /// The keys for `name`, or `SealOnly` when the keyring holds only the
    /// tier's public key, `NotGranted` (or `Malformed` when `name` is not
    /// even a tier).
    pub(crate) fn require(&self, name: &str) -> Result<&TierKeys, Error> {
        if let Some(public) = self.public_key(name) {
            return Err(Error::SealOnly {
                tier: public.tier.clone(),
            });
        }
        self.find(name).ok_or_else(|| match name.parse::<Tier>() {
            Ok(tier) => Error::NotGranted { tier },
            Err(_) => Error::malformed("the tier name in the header is invalid"),
        })
    }

    pub(crate) fn tier_keys(&self) -> &[TierKeys] {
        &self.tiers
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Versions<'a>(&'a TierKeys);

        impl fmt::Debug for Versions<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut list = f.debug_list();
                for key in &self.0.versions {
                    let primary = if key.version == self.0.primary {
                        " primary"
                    } else {
                        ""
                    };
                    list.entry(&format_args!(
                        "v{} ({}){primary}",
                        key.version, key.check_value
                    ));
                }
                for version in &self.0.retired {
                    list.entry(&format_args!("v{version} retired"));
                }
                list.finish()
            }
        }

        write!(f, "Keyring(writer: {}", self.writer)?;
        for (tier, _) in &self.approval_required {
            write!(f, ", {tier} needs approval")?;
        }
        for tier in &self.accept_public {
            write!(f, ", {tier} accepts public-key tokens")?;
        }
        f.write_str(") ")?;
        let mut map = f.debug_map();
        for keys in &self.tiers {
            map.entry(&format_args!("{}", keys.tier), &Versions(keys));
        }
        for keys in &self.index {
            let versions: Vec<String> = keys
                .versions
                .iter()
                .map(|key| {
                    let primary = if key.version == keys.primary {
                        " primary"
                    } else {
                        ""
                    };
                    format!("v{} ({}){primary}", key.version, key.check_value)
                })
                .collect();
            map.entry(&format_args!("{} (index)", keys.tier), &versions);
        }
        for public in &self.public {
            map.entry(
                &format_args!("{}", public.tier),
                &format_args!("seal-only v{} ({})", public.key_version, public.key.suite()),
            );
        }
        map.finish()
    }
}
