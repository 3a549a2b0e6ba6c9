//! What a keystore records: its tiers and key versions, the grants it
//! issued, and the last audit-log checkpoint.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Tier;
use crate::crypto::{CheckValue, KEY_LEN, NONCE_LEN, TAG_LEN};

/// The keystore body of file format version 4 (version 3's, then the
/// provider-wrapped index keys).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Body {
    pub(crate) tiers: Vec<TierRecord>,
    /// The root audit key, wrapped under the master key.
    pub(crate) audit_key: Option<WrappedTierKey>,
    /// Every grant issued, in issue order (expired ones included).
    pub(crate) grants: Vec<IssuedGrant>,
    /// The last audit-log head recorded by a custodian operation.
    pub(crate) audit_checkpoint: Option<AuditCheckpoint>,
    // issue 13: custodian shares and dual control (see `shares`).
    /// The keystore's identity, bound into every custodian share; drawn
    /// when the keystore is first split and kept from then on.
    pub(crate) keystore_id: Option<super::shares::KeystoreId>,
    /// The share set the master key is split into; `None` on a passphrase
    /// keystore.
    pub(crate) share_set: Option<super::shares::ShareSet>,
    /// The last share-set generation issued: never reused, so that a share
    /// of an earlier set is refused by its generation.
    pub(crate) share_generation: u32,
    /// The operations that need M custodians (empty without shares).
    pub(crate) dual_control: Vec<super::shares::DualControlOp>,
    // issue 13: the approver's Ed25519 signing key (its 32-byte seed),
    // wrapped under the master key like the audit key; `None` in files
    // older than version 3 until the first approval needs it.
    pub(crate) approver_key: Option<WrappedTierKey>,
    // issue 12: blind-index keys, one record per tier, separate from the
    // tier (encryption) keys and versioned on their own.
    pub(crate) index_keys: Vec<super::index::IndexKeyRecord>,
    // issue 14: public-key (HPKE) sealing (see `public_keys`).
    /// Each tier's HPKE suite where it is not the default (X25519).
    pub(crate) hpke_suites: Vec<(Tier, crate::HpkeSuite)>,
    /// The Ed25519 seed that signs published public key sets, wrapped
    /// under the master key; drawn on the first publish.
    pub(crate) publisher_key: Option<WrappedTierKey>,
    /// The serial of the last public key set published: each publish takes
    /// the next, so seal-only keyrings can refuse a replayed older set.
    pub(crate) public_key_set_serial: u64,
    // issue 11: tier keys wrapped by a key-encryption provider (OpenBao
    // Transit, PKCS#11), one entry per non-retired version. Empty in a
    // passphrase keystore; in a provider keystore each such version's
    // `wrapped` is `WrappedTierKey::PROVIDER_HELD`.
    pub(crate) provider_keys: Vec<ProviderWrappedKey>,
    // issue 12, file version 4: blind-index keys wrapped by the provider
    // under each tier's index slot (`KekSlot::Index`), one entry per live
    // index key version, each such version's `wrapped` being
    // `WrappedTierKey::PROVIDER_HELD`. Empty in a passphrase keystore, and
    // in a provider keystore read from version 3, whose index keys stay
    // under the metadata key until its next save.
    pub(crate) provider_index_keys: Vec<ProviderWrappedKey>,
}

/// The role of a key the body keeps per tier and version: what it does,
/// and so which provider key wraps it in a provider keystore.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyRole {
    /// A tier (encryption) key version: it opens the tier's data.
    Encryption,
    /// A blind-index key version: it computes the tier's index values and
    /// opens nothing.
    Index,
}

impl KeyRole {
    /// Both roles.
    pub(crate) const ALL: [KeyRole; 2] = [KeyRole::Encryption, KeyRole::Index];

    /// The provider key that wraps `tier`'s keys of this role.
    pub(crate) fn slot(self, tier: &Tier) -> crate::kek::KekSlot<'_> {
        match self {
            KeyRole::Encryption => crate::kek::KekSlot::Tier(tier),
            KeyRole::Index => crate::kek::KekSlot::Index(tier),
        }
    }

    /// The binding data of a wrap of version `version` of `tier`.
    pub(crate) fn aad(self, tier: &Tier, version: u32) -> Vec<u8> {
        match self {
            KeyRole::Encryption => super::tier_key_aad(tier, version),
            KeyRole::Index => super::index::index_key_aad(tier, version),
        }
    }

    /// The reason given when a stored key of this role does not
    /// authenticate.
    pub(crate) fn unauthenticated(self) -> &'static str {
        match self {
            KeyRole::Encryption => "a tier key does not authenticate under the master key",
            KeyRole::Index => "an index key does not authenticate under the master key",
        }
    }

    /// The reason given when a stored key of this role does not match its
    /// check value.
    pub(crate) fn mismatched(self) -> &'static str {
        match self {
            KeyRole::Encryption => "a tier key does not match its check value",
            KeyRole::Index => "an index key does not match its check value",
        }
    }

    /// The reason given when a provider-held key of this role has no
    /// provider wrap.
    pub(crate) fn missing(self) -> &'static str {
        match self {
            KeyRole::Encryption => "a provider-wrapped tier key is missing",
            KeyRole::Index => "a provider-wrapped index key is missing",
        }
    }
}

/// issue 11: a tier key version wrapped by the keystore's key-encryption
/// provider under the tier's own provider key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ProviderWrappedKey {
    pub(crate) tier: Tier,
    pub(crate) version: u32,
    /// The provider's wrapped form (a Transit ciphertext string, ...).
    pub(crate) wrapped: Vec<u8>,
}

/// The keystore body of file format version 2, read to upgrade old files.
#[derive(Deserialize)]
struct BodyV2 {
    tiers: Vec<TierRecord>,
    audit_key: Option<WrappedTierKey>,
    grants: Vec<IssuedGrantV2>,
    audit_checkpoint: Option<AuditCheckpoint>,
}

/// The keystore body of file format version 1, read to upgrade old files.
#[derive(Deserialize)]
struct BodyV1 {
    tiers: Vec<TierRecord>,
    audit_key: Option<WrappedTierKey>,
}

impl Body {
    /// Decodes the body of a file of format `version` (1 to 4). Every
    /// byte must belong to the body: trailing bytes are refused, so that
    /// one body has one encoding and a body of a later layout (which
    /// extends the earlier one) is never read as the earlier one.
    pub(crate) fn decode(version: u16, bytes: &[u8]) -> Option<Body> {
        match version {
            1 => {
                let old: BodyV1 = strict(bytes)?;
                Some(Body {
                    tiers: old.tiers,
                    audit_key: old.audit_key,
                    ..Body::default()
                })
            }
            2 => {
                let old: BodyV2 = strict(bytes)?;
                Some(Body {
                    tiers: old.tiers,
                    audit_key: old.audit_key,
                    grants: old.grants.into_iter().map(IssuedGrant::from).collect(),
                    audit_checkpoint: old.audit_checkpoint,
                    ..Body::default()
                })
            }
            3 => {
                // Version 4 appends one list to version 3's layout, and
                // postcard encodes an empty list as the single byte 0: a
                // version 3 body followed by that byte is the version 4
                // encoding of the same body. Anything else after the
                // version 3 fields (trailing bytes) leaves a non-empty
                // list or bytes over, and is refused.
                let mut extended = Vec::with_capacity(bytes.len() + 1);
                extended.extend_from_slice(bytes);
                extended.push(0);
                let body: Body = strict(&extended)?;
                body.provider_index_keys.is_empty().then_some(body)
            }
            4 => strict(bytes),
            _ => None,
        }
    }
}

/// Decodes `bytes` as one `T` with nothing after it.
fn strict<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Option<T> {
    match postcard::take_from_bytes(bytes) {
        Ok((value, [])) => Some(value),
        _ => None,
    }
}

/// A grant recorded in the keystore's register when it was issued.
///
/// The register is what lets a custodian see who still holds a key
/// version: a grant carries copies of tier keys, and a copy handed out
/// cannot be taken back, so retiring a version that an unexpired grant
/// carries does not stop that grant's holder from opening data under it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedGrant {
    /// A random identifier, unique in this keystore.
    pub id: GrantId,
    /// The service or person the grant was issued to.
    pub principal: String,
    /// Issued, in seconds since the Unix epoch.
    pub issued_at: u64,
    /// Expires, in seconds since the Unix epoch.
    pub expires_at: u64,
    /// Each granted tier with the key versions the grant carries.
    pub tiers: Vec<IssuedTier>,
    // issue 12: search capability. A search-only tier grants no tier key,
    // so without this the register showed no tier for it and
    // `retire_index` could not see who holds an index key version. Not
    // in version 2 files (read as empty).
    /// Each tier whose blind-index keys the grant carries, with the index
    /// key versions (empty for a grant that cannot search).
    #[serde(default)]
    pub index: Vec<IssuedTier>,
}

impl IssuedGrant {
    /// Whether the grant has expired at `now` (seconds since the Unix
    /// epoch): a grant is refused from its expiry second on.
    pub fn is_expired(&self, now: u64) -> bool {
        now >= self.expires_at
    }

    /// Whether the grant carries the key of `version` of `tier`.
    pub fn carries(&self, tier: &Tier, version: u32) -> bool {
        self.tiers
            .iter()
            .any(|t| t.tier == *tier && t.versions.contains(&version))
    }

    /// Whether the grant carries blind-index key `version` of `tier`.
    pub fn carries_index(&self, tier: &Tier, version: u32) -> bool {
        self.index
            .iter()
            .any(|t| t.tier == *tier && t.versions.contains(&version))
    }
}

/// An issued grant as file format version 2 recorded it (no index keys).
#[derive(Deserialize)]
struct IssuedGrantV2 {
    id: GrantId,
    principal: String,
    issued_at: u64,
    expires_at: u64,
    tiers: Vec<IssuedTier>,
}

impl From<IssuedGrantV2> for IssuedGrant {
    fn from(old: IssuedGrantV2) -> Self {
        IssuedGrant {
            id: old.id,
            principal: old.principal,
            issued_at: old.issued_at,
            expires_at: old.expires_at,
            tiers: old.tiers,
            index: Vec::new(),
        }
    }
}

/// One tier of an [`IssuedGrant`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedTier {
    /// The tier.
    pub tier: Tier,
    /// The versions whose keys the grant carries.
    pub versions: Vec<u32>,
}

/// The identifier of an issued grant: 8 random bytes, shown as 16 hex
/// digits (and as a hex string in JSON).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GrantId(pub(crate) [u8; 8]);

impl fmt::Display for GrantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::crypto::hex(&self.0))
    }
}

impl fmt::Debug for GrantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GrantId({self})")
    }
}

impl Serialize for GrantId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&self.to_string())
        } else {
            self.0.serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for GrantId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            let bytes = crate::crypto::from_hex(text.as_bytes())
                .ok_or_else(|| serde::de::Error::custom("a grant id is 16 lowercase hex digits"))?;
            Ok(GrantId(bytes))
        } else {
            <[u8; 8]>::deserialize(deserializer).map(GrantId)
        }
    }
}

/// A checkpoint of the audit log's head, kept in the keystore where the
/// log's writers cannot rewrite it: a log that ends before `seq`, or whose
/// entry `seq` has another MAC, was cut or rewritten.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditCheckpoint {
    /// The sequence number of the last entry covered.
    pub seq: u64,
    /// That entry's MAC.
    pub mac: [u8; 32],
    /// When it was recorded, in seconds since the Unix epoch.
    pub recorded_at: u64,
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WrappedTierKey {
    pub(crate) nonce: [u8; NONCE_LEN],
    pub(crate) ciphertext: [u8; KEY_LEN],
    pub(crate) tag: [u8; TAG_LEN],
}

impl WrappedTierKey {
    /// issue 11: the marker a provider keystore stores in place of a
    /// master-key wrap: the key itself is in `Body::provider_keys`.
    pub(crate) const PROVIDER_HELD: WrappedTierKey = WrappedTierKey {
        nonce: [0; NONCE_LEN],
        ciphertext: [0; KEY_LEN],
        tag: [0; TAG_LEN],
    };
}

impl Body {
    /// Checks the invariants a decoded body must hold.
    pub(crate) fn check(&self) -> Result<(), &'static str> {
        if let Some(set) = &self.share_set {
            set.check(self.keystore_id, self.share_generation)?;
        }
        let mut ids = std::collections::HashSet::with_capacity(self.grants.len());
        if !self.grants.iter().all(|grant| ids.insert(grant.id)) {
            return Err("a grant id is listed twice");
        }
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
        super::index::check(&self.index_keys)?;
        self.check_provider_keys()
    }

    /// issue 11 and 12: for each key role, either no live version is
    /// provider-held and the role has no provider wraps, or every live
    /// version is provider-held with exactly one provider wrap. Index keys
    /// are provider-held only where tier keys are (a provider keystore);
    /// a provider keystore's index keys may still be under the metadata
    /// key (read from version 3, see [`index_keys_in_slots`](Self::index_keys_in_slots)).
    fn check_provider_keys(&self) -> Result<(), &'static str> {
        for role in KeyRole::ALL {
            let live = self.live(role);
            let held = live
                .iter()
                .filter(|(_, _, w)| **w == WrappedTierKey::PROVIDER_HELD)
                .count();
            let wraps = self.held(role);
            if held == 0 {
                if !wraps.is_empty() {
                    return Err(match role {
                        KeyRole::Encryption => "provider-wrapped keys in a passphrase keystore",
                        KeyRole::Index => "provider-wrapped index keys that no index key uses",
                    });
                }
                continue;
            }
            if held != live.len() || held != wraps.len() {
                return Err(match role {
                    KeyRole::Encryption => "tier keys are wrapped partly by the provider",
                    KeyRole::Index => "index keys are wrapped partly by the provider",
                });
            }
            let once = live.iter().all(|(tier, version, _)| {
                wraps
                    .iter()
                    .filter(|k| k.tier == **tier && k.version == *version)
                    .count()
                    == 1
            });
            if !once {
                return Err(match role {
                    KeyRole::Encryption => "a provider-wrapped tier key is missing or listed twice",
                    KeyRole::Index => "a provider-wrapped index key is missing or listed twice",
                });
            }
        }
        if !self.provider_index_keys.is_empty() && !self.provider_held() {
            return Err("provider-wrapped index keys in a passphrase keystore");
        }
        Ok(())
    }

    /// The live (not retired) versions of `role`: tier, version, wrap.
    fn live(&self, role: KeyRole) -> Vec<(&Tier, u32, &WrappedTierKey)> {
        self.versions_of(role)
            .into_iter()
            .flat_map(|(tier, versions)| {
                versions
                    .iter()
                    .filter_map(move |v| Some((tier, v.version, v.wrapped.as_ref()?)))
            })
            .collect()
    }

    /// Each tier's key versions of `role`.
    pub(crate) fn versions_of(&self, role: KeyRole) -> Vec<(&Tier, &[VersionRecord])> {
        match role {
            KeyRole::Encryption => self
                .tiers
                .iter()
                .map(|r| (&r.tier, r.versions.as_slice()))
                .collect(),
            KeyRole::Index => self
                .index_keys
                .iter()
                .map(|r| (&r.tier, r.versions.as_slice()))
                .collect(),
        }
    }

    /// Each tier's key versions of `role`, to change.
    pub(crate) fn versions_of_mut(&mut self, role: KeyRole) -> Vec<(&Tier, &mut [VersionRecord])> {
        match role {
            KeyRole::Encryption => self
                .tiers
                .iter_mut()
                .map(|r| (&r.tier, r.versions.as_mut_slice()))
                .collect(),
            KeyRole::Index => self
                .index_keys
                .iter_mut()
                .map(|r| (&r.tier, r.versions.as_mut_slice()))
                .collect(),
        }
    }

    /// issue 11: whether tier keys are held by a provider.
    pub(crate) fn provider_held(&self) -> bool {
        !self.provider_keys.is_empty()
    }

    /// issue 12: whether every live index key version is held by the
    /// provider under its tier's index slot (true when there are none):
    /// what a provider keystore of file version 4 must hold.
    pub(crate) fn index_keys_in_slots(&self) -> bool {
        self.live(KeyRole::Index)
            .iter()
            .all(|(_, _, w)| **w == WrappedTierKey::PROVIDER_HELD)
    }

    /// The provider wraps of the keys of `role`.
    pub(crate) fn held(&self, role: KeyRole) -> &[ProviderWrappedKey] {
        match role {
            KeyRole::Encryption => &self.provider_keys,
            KeyRole::Index => &self.provider_index_keys,
        }
    }

    /// The provider wraps of the keys of `role`, to change.
    pub(crate) fn held_mut(&mut self, role: KeyRole) -> &mut Vec<ProviderWrappedKey> {
        match role {
            KeyRole::Encryption => &mut self.provider_keys,
            KeyRole::Index => &mut self.provider_index_keys,
        }
    }

    /// The provider's wrap of `version` of `tier`'s key of `role`.
    pub(crate) fn held_key(
        &self,
        role: KeyRole,
        tier: &Tier,
        version: u32,
    ) -> Option<&ProviderWrappedKey> {
        self.held(role)
            .iter()
            .find(|k| k.tier == *tier && k.version == version)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The body as format version 2 wrote it.
    #[derive(Serialize)]
    struct WrittenV2<'a> {
        tiers: &'a [TierRecord],
        audit_key: &'a Option<WrappedTierKey>,
        grants: &'a [WrittenGrantV2],
        audit_checkpoint: &'a Option<AuditCheckpoint>,
    }

    /// The body as format version 3 wrote it: version 4's layout without
    /// its last field (the provider-wrapped index keys, empty here).
    fn written_v3(body: &Body) -> Vec<u8> {
        assert!(body.provider_index_keys.is_empty());
        let mut bytes = postcard::to_stdvec(body).unwrap();
        assert_eq!(bytes.pop(), Some(0), "an empty list is one zero byte");
        bytes
    }

    /// An issued grant as format version 2 wrote it.
    #[derive(Serialize)]
    struct WrittenGrantV2 {
        id: GrantId,
        principal: String,
        issued_at: u64,
        expires_at: u64,
        tiers: Vec<IssuedTier>,
    }

    #[test]
    fn a_version_2_body_decodes_with_no_share_set() {
        let checkpoint = Some(AuditCheckpoint {
            seq: 9,
            mac: [4; 32],
            recorded_at: 77,
        });
        let grant = IssuedGrant {
            id: GrantId([1; 8]),
            principal: "svc".into(),
            issued_at: 1,
            expires_at: 2,
            tiers: vec![IssuedTier {
                tier: Tier::RESTRICTED,
                versions: vec![1, 2],
            }],
            index: Vec::new(),
        };
        let written = WrittenGrantV2 {
            id: grant.id,
            principal: grant.principal.clone(),
            issued_at: grant.issued_at,
            expires_at: grant.expires_at,
            tiers: grant.tiers.clone(),
        };
        let bytes = postcard::to_stdvec(&WrittenV2 {
            tiers: &[],
            audit_key: &None,
            grants: std::slice::from_ref(&written),
            audit_checkpoint: &checkpoint,
        })
        .unwrap();
        let body = Body::decode(2, &bytes).unwrap();
        assert_eq!(body.grants, [grant]);
        assert_eq!(body.audit_checkpoint, checkpoint);
        assert!(body.share_set.is_none() && body.keystore_id.is_none());
        assert!(body.dual_control.is_empty());
        // A version 2 body is not a version 3 one: the reader is chosen by
        // the file's version, never guessed.
        assert!(Body::decode(3, &bytes).is_none());
    }

    #[test]
    fn a_version_2_body_decodes_without_an_approver_key_and_version_3_keeps_it() {
        let key = WrappedTierKey {
            nonce: [1; NONCE_LEN],
            ciphertext: [2; KEY_LEN],
            tag: [3; TAG_LEN],
        };
        let checkpoint = Some(AuditCheckpoint {
            seq: 7,
            mac: [9; 32],
            recorded_at: 1_700_000_000,
        });
        let v2 = postcard::to_stdvec(&WrittenV2 {
            tiers: &[],
            audit_key: &Some(key.clone()),
            grants: &[],
            audit_checkpoint: &checkpoint,
        })
        .unwrap();
        let body = Body::decode(2, &v2).unwrap();
        assert!(body.approver_key.is_none());
        assert_eq!(body.audit_checkpoint, checkpoint);
        assert!(body.audit_key.is_some());
        // A version-2 body is not a version-3 one (the field is not optional
        // on the wire): each version is read with its own layout.
        assert!(Body::decode(3, &v2).is_none());

        let mut v3 = body.clone();
        v3.approver_key = Some(key);
        let decoded = Body::decode(3, &written_v3(&v3)).unwrap();
        assert_eq!(decoded.approver_key.unwrap().ciphertext, [2; KEY_LEN]);
        let decoded = Body::decode(4, &postcard::to_stdvec(&v3).unwrap()).unwrap();
        assert_eq!(decoded.approver_key.unwrap().ciphertext, [2; KEY_LEN]);
    }

    #[test]
    fn a_version_2_body_decodes_without_index_keys() {
        let checkpoint = AuditCheckpoint {
            seq: 9,
            mac: [1; 32],
            recorded_at: 5,
        };
        let v2 = postcard::to_stdvec(&WrittenV2 {
            tiers: &[],
            audit_key: &None,
            grants: &[],
            audit_checkpoint: &Some(checkpoint),
        })
        .unwrap();
        let body = Body::decode(2, &v2).unwrap();
        assert_eq!(body.audit_checkpoint, Some(checkpoint));
        assert!(body.index_keys.is_empty());
        // Read as version 3 it lacks the version 3 fields.
        assert!(Body::decode(3, &v2).is_none());
        let v3 = written_v3(&body);
        assert_eq!(
            Body::decode(3, &v3).unwrap().audit_checkpoint,
            Some(checkpoint)
        );
    }

    #[test]
    fn a_version_3_body_keeps_the_public_key_fields() {
        let body = Body {
            share_generation: 4,
            hpke_suites: vec![("restricted/iban".parse().unwrap(), crate::HpkeSuite::XWing)],
            public_key_set_serial: 7,
            ..Body::default()
        };
        let full = written_v3(&body);
        let decoded = Body::decode(3, &full).unwrap();
        assert_eq!(decoded.hpke_suites, body.hpke_suites);
        assert_eq!(decoded.public_key_set_serial, 7);
        assert_eq!(decoded.share_generation, 4);
        // One version-3 layout: a body cut short of its last fields does
        // not decode.
        let mut short = full.clone();
        short.truncate(full.len() - 3);
        assert!(Body::decode(3, &short).is_none());
    }

    #[test]
    fn a_body_with_trailing_bytes_is_refused_in_every_version() {
        let v2 = postcard::to_stdvec(&WrittenV2 {
            tiers: &[],
            audit_key: &None,
            grants: &[],
            audit_checkpoint: &None,
        })
        .unwrap();
        let v4 = postcard::to_stdvec(&Body::default()).unwrap();
        let v3 = written_v3(&Body::default());
        // Version 1 is a prefix of version 2 (tiers, audit key).
        let v1 = postcard::to_stdvec(&(Vec::<TierRecord>::new(), None::<WrappedTierKey>)).unwrap();
        for (version, exact) in [(1, &v1), (2, &v2), (3, &v3), (4, &v4)] {
            assert!(Body::decode(version, exact).is_some(), "v{version}");
            for tail in [&[0][..], &[1], &[1, 0, 0, 0]] {
                let mut longer = exact.clone();
                longer.extend_from_slice(tail);
                assert!(
                    Body::decode(version, &longer).is_none(),
                    "v{version} + {tail:?}"
                );
            }
        }
        // A later layout is not read as an earlier one, nor an earlier as
        // a later.
        assert!(Body::decode(3, &v4).is_none());
        assert!(Body::decode(2, &v3).is_none());
        assert!(Body::decode(1, &v2).is_none());
        assert!(Body::decode(4, &v3).is_none());
    }

    #[test]
    fn a_version_3_body_never_reads_with_provider_index_keys() {
        // Version 3 bytes followed by a provider index key list whose last
        // byte (the one byte of its wrap) is the zero the version 3 reader
        // appends: read as version 4 it would hold that key. Refused.
        let key = ProviderWrappedKey {
            tier: Tier::INTERNAL,
            version: 1,
            wrapped: vec![0],
        };
        let body = Body {
            provider_index_keys: vec![key],
            ..Body::default()
        };
        let full = postcard::to_stdvec(&body).unwrap();
        assert!(Body::decode(4, &full).is_some());
        let crafted = &full[..full.len() - 1];
        assert!(Body::decode(3, crafted).is_none());
    }
}
