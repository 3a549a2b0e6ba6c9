//! Blind indexes: a keyed hash of a field's normalised value, stored beside
//! the sealed field, so that a database can find records by equality
//! without ever holding the value.
//!
//! ```text
//! index = HMAC-SHA-256(index key of tier T, version v,
//!           "tierseal/blind-index\0" | 0x01
//!           | u32be len | tier | u32be len | type id | u32be len | field id
//!           | normalised value)[..16]
//! text  = "tsidx:v" version ":" base64url(index, no padding)
//! ```
//!
//! The index key of a tier is separate from the tier's encryption keys and
//! has versions of its own: rotating, rewrapping or retiring encryption
//! keys never changes an index value. The index of a value depends on the
//! tier, the type id and the field id it is declared with, never on the
//! record: two records holding the same value in the same field have the
//! same index (that is the point, and all it reveals), while the same IBAN
//! in two different fields or types has two unrelated indexes.
//!
//! A keyring may hold a tier's index key without its encryption keys (a
//! *search-only* tier, see [`Keystore::search_keyring`](crate::Keystore::search_keyring)):
//! it computes indexes for lookups but opens nothing of that tier.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::crypto::{CheckValue, KeyMaterial};
use crate::{Error, Keyring, Tier};

/// The length of an index value in bytes (128 bits of HMAC-SHA-256).
pub const INDEX_LEN: usize = 16;

/// The prefix of an index value's text form.
pub const INDEX_TEXT_PREFIX: &str = "tsidx:v";

/// Domain separation of the HMAC input.
const DOMAIN: &[u8] = b"tierseal/blind-index\0";
/// The version of the input layout.
const LAYOUT: u8 = 1;
/// The longest text form: prefix, a u32 version, ':' and 22 base64url chars.
const MAX_TEXT_LEN: usize = INDEX_TEXT_PREFIX.len() + 10 + 1 + 22;

/// A blind index value: the index key version that computed it and 16
/// bytes of HMAC-SHA-256.
///
/// Its text form, `tsidx:v<version>:<base64url>`, is what
/// [`Display`](fmt::Display), [`FromStr`] and serde use and what a
/// database column stores; `Debug` shows only the version. Two values are
/// equal when both the version and the bytes are: during a re-index job,
/// look a value up under each live version
/// ([`Keyring::blind_index_candidates`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlindIndex {
    version: u32,
    mac: [u8; INDEX_LEN],
}

impl BlindIndex {
    /// The index key version that computed this value.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The 16 index bytes (without the version).
    pub fn as_bytes(&self) -> &[u8; INDEX_LEN] {
        &self.mac
    }

    /// The text form, `tsidx:v<version>:<base64url>`.
    pub fn to_text(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for BlindIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{INDEX_TEXT_PREFIX}{}:{}",
            self.version,
            URL_SAFE_NO_PAD.encode(self.mac)
        )
    }
}

impl fmt::Debug for BlindIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlindIndex(v{})", self.version)
    }
}

impl FromStr for BlindIndex {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        const INVALID: Error =
            Error::malformed("a blind index is `tsidx:v<version>:` and 16 bytes of base64url");
        if text.len() > MAX_TEXT_LEN {
            return Err(INVALID);
        }
        let rest = text.strip_prefix(INDEX_TEXT_PREFIX).ok_or(INVALID)?;
        let (version, encoded) = rest.split_once(':').ok_or(INVALID)?;
        if version.is_empty()
            || !version.bytes().all(|b| b.is_ascii_digit())
            || (version.len() > 1 && version.starts_with('0'))
        {
            return Err(INVALID);
        }
        let version: u32 = version.parse().map_err(|_| INVALID)?;
        if version == 0 {
            return Err(INVALID);
        }
        let bytes = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| INVALID)?;
        let mac: [u8; INDEX_LEN] = bytes.as_slice().try_into().map_err(|_| INVALID)?;
        // Only the canonical encoding: one index has one text form.
        if URL_SAFE_NO_PAD.encode(mac) != encoded {
            return Err(INVALID);
        }
        Ok(BlindIndex { version, mac })
    }
}

impl Serialize for BlindIndex {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for BlindIndex {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Where an index value belongs: the field's tier, the stable type id and
/// the stable field id it is declared with. The record id is not part of
/// it, so that equal values in one field have equal indexes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexField<'a> {
    /// The field's tier: its index key computes the value.
    pub tier: &'a Tier,
    /// The stable type id (as in [`Binding`](crate::Binding)).
    pub type_id: &'a str,
    /// The stable field id (as in [`Binding`](crate::Binding)).
    pub field_id: &'a str,
}

impl<'a> IndexField<'a> {
    /// The index field `field_id` of type `type_id`, sealed at `tier`.
    pub fn new(tier: &'a Tier, type_id: &'a str, field_id: &'a str) -> IndexField<'a> {
        IndexField {
            tier,
            type_id,
            field_id,
        }
    }
}

/// One index key version held by a keyring.
pub(crate) struct IndexVersionKey {
    pub(crate) version: u32,
    pub(crate) material: KeyMaterial,
    pub(crate) check_value: CheckValue,
}

/// The index keys a keyring holds for one tier.
pub(crate) struct IndexKeys {
    pub(crate) tier: Tier,
    /// The version new index values are computed with.
    pub(crate) primary: u32,
    /// Every live version, newest first; always contains `primary`.
    pub(crate) versions: Vec<IndexVersionKey>,
}

impl IndexKeys {
    fn key(&self, version: u32) -> Option<&IndexVersionKey> {
        self.versions.iter().find(|key| key.version == version)
    }
}

/// Computes one index value.
fn compute(
    key: &IndexVersionKey,
    field: IndexField<'_>,
    value: &[u8],
) -> Result<BlindIndex, Error> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.material.expose())
        .map_err(|_| Error::malformed("index key length"))?;
    mac.update(DOMAIN);
    mac.update(&[LAYOUT]);
    for part in [field.tier.as_str(), field.type_id, field.field_id] {
        let len = u32::try_from(part.len()).map_err(|_| Error::InvalidParameter {
            what: "index field",
            reason: "a type or field id longer than 4 GiB",
        })?;
        mac.update(&len.to_be_bytes());
        mac.update(part.as_bytes());
    }
    mac.update(value);
    let full = mac.finalize().into_bytes();
    let mut out = [0u8; INDEX_LEN];
    out.copy_from_slice(full.get(..INDEX_LEN).unwrap_or(&[0u8; INDEX_LEN]));
    Ok(BlindIndex {
        version: key.version,
        mac: out,
    })
}

impl Keyring {
    fn index_keys(&self, tier: &Tier) -> Result<&IndexKeys, Error> {
        self.index_tiers()
            .iter()
            .find(|keys| keys.tier == *tier)
            .ok_or_else(|| Error::NoIndexKey { tier: tier.clone() })
    }

    /// The index keys of `field`'s tier; a seal-only keyring that lacks
    /// them says which field needs them and how to grant them.
    fn field_index_keys(&self, field: IndexField<'_>) -> Result<&IndexKeys, Error> {
        self.index_keys(field.tier).map_err(|error| {
            if self.is_seal_only() {
                Error::SealOnlyNoIndexKey {
                    tier: field.tier.clone(),
                    field: format!("{}.{}", field.type_id, field.field_id),
                }
            } else {
                error
            }
        })
    }

    /// Whether this keyring holds an index key of `tier` (it can compute
    /// that tier's blind indexes, whether or not it can open the tier).
    pub fn can_search(&self, tier: &Tier) -> bool {
        self.index_keys(tier).is_ok()
    }

    /// The tiers this keyring can compute blind indexes for.
    pub fn searchable_tiers(&self) -> impl Iterator<Item = &Tier> {
        self.index_tiers().iter().map(|keys| &keys.tier)
    }

    /// The index key version new index values of `tier` are computed with.
    pub fn index_version(&self, tier: &Tier) -> Option<u32> {
        self.index_keys(tier).ok().map(|keys| keys.primary)
    }

    /// The blind index of `value` (already normalised) in `field`, under
    /// the tier's primary index key version: what sealing stores and what
    /// a lookup compares with.
    ///
    /// # Errors
    /// [`Error::NoIndexKey`] when the keyring holds no index key of the
    /// field's tier ([`Error::SealOnlyNoIndexKey`], naming the field, for
    /// a seal-only keyring).
    pub fn blind_index(&self, field: IndexField<'_>, value: &[u8]) -> Result<BlindIndex, Error> {
        let keys = self.field_index_keys(field)?;
        let key = keys.key(keys.primary).ok_or_else(|| Error::NoIndexKey {
            tier: field.tier.clone(),
        })?;
        compute(key, field, value)
    }

    /// The blind index of `value` under index key `version` of the field's
    /// tier.
    ///
    /// # Errors
    /// [`Error::NoIndexKey`] when the keyring holds no index key of the
    /// tier, [`Error::UnknownKeyVersion`] when it lacks that version.
    pub fn blind_index_at(
        &self,
        field: IndexField<'_>,
        version: u32,
        value: &[u8],
    ) -> Result<BlindIndex, Error> {
        let keys = self.field_index_keys(field)?;
        let key = keys.key(version).ok_or_else(|| Error::UnknownKeyVersion {
            tier: field.tier.clone(),
            version,
        })?;
        compute(key, field, value)
    }

    /// The blind index of `value` under every index key version the
    /// keyring holds for the field's tier, primary first: during a
    /// re-index job, records carry old and new versions side by side, and
    /// a lookup matches any of these (`WHERE iban_index IN (...)`).
    ///
    /// # Errors
    /// [`Error::NoIndexKey`] when the keyring holds no index key of the
    /// tier.
    pub fn blind_index_candidates(
        &self,
        field: IndexField<'_>,
        value: &[u8],
    ) -> Result<Vec<BlindIndex>, Error> {
        let keys = self.field_index_keys(field)?;
        let mut out = Vec::with_capacity(keys.versions.len());
        out.push(self.blind_index(field, value)?);
        for key in keys.versions.iter().filter(|k| k.version != keys.primary) {
            out.push(compute(key, field, value)?);
        }
        Ok(out)
    }

    /// Whether `index` was computed with an index key version other than
    /// the tier's primary, so that a re-index job must recompute it.
    ///
    /// # Errors
    /// [`Error::NoIndexKey`] when the keyring holds no index key of `tier`.
    pub fn needs_reindex(&self, tier: &Tier, index: &BlindIndex) -> Result<bool, Error> {
        Ok(self.index_keys(tier)?.primary != index.version)
    }
}

/// The bytes a value is indexed as when the field declares no
/// `index_with` normaliser: the contents of a JSON string (a `String`
/// indexes as its UTF-8 bytes), otherwise the value's compact JSON text
/// (a number `42` as `42`). Kept in a zeroizing buffer.
///
/// # Errors
/// [`Error::Encoding`] when the value does not serialise.
pub fn index_input<T: Serialize + ?Sized>(value: &T) -> Result<Zeroizing<Vec<u8>>, Error> {
    let json = serde_json::to_value(value).map_err(|_| Error::Encoding {
        action: "index",
        reason: "the value does not serialise for its blind index".into(),
    })?;
    let bytes = match json {
        serde_json::Value::String(text) => Zeroizing::new(text.into_bytes()),
        other => Zeroizing::new(other.to_string().into_bytes()),
    };
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips_and_is_canonical() {
        let index = BlindIndex {
            version: 7,
            mac: [0xab; INDEX_LEN],
        };
        let text = index.to_text();
        assert!(text.starts_with("tsidx:v7:"), "{text}");
        assert_eq!(text.parse::<BlindIndex>().ok(), Some(index));
        for bad in [
            "",
            "tsidx:v0:q6urq6urq6urq6urq6urqw",
            "tsidx:v07:q6urq6urq6urq6urq6urqw",
            "tsidx:v:q6urq6urq6urq6urq6urqw",
            "tsidx:v7:q6urq6urq6urq6urq6urqw==",
            "tsidx:v7:q6urq6urq6urq6urq6urqx",
            "tsidx:v7:q6urq6urq6urq6urq6ur",
            "tsidx:v99999999999:q6urq6urq6urq6urq6urqw",
            "tsidx:v+7:q6urq6urq6urq6urq6urqw",
        ] {
            assert!(bad.parse::<BlindIndex>().is_err(), "{bad}");
        }
        assert_eq!(format!("{index:?}"), "BlindIndex(v7)");
    }

    #[test]
    fn the_format_doc_vector() {
        let mut bytes: [u8; 32] = std::array::from_fn(|i| u8::try_from(i).unwrap());
        let material = KeyMaterial::take(&mut bytes);
        let key = IndexVersionKey {
            version: 1,
            check_value: material.check_value(),
            material,
        };
        let tier: Tier = "restricted/cards".parse().unwrap();
        let index = compute(
            &key,
            IndexField::new(&tier, "Customer", "iban"),
            b"DE89370400440532013000",
        )
        .unwrap();
        let expected = "tsidx:v1:pYGXfEbERrKXpL5wFOH54A";
        assert_eq!(index.to_text(), expected);
        let doc = include_str!("../../../docs/FORMAT.md");
        assert!(doc.contains(expected), "docs/FORMAT.md lacks the vector");
    }

    #[test]
    fn strings_index_as_their_bytes_and_other_values_as_json() {
        assert_eq!(index_input("DE89 3704").unwrap().as_slice(), b"DE89 3704");
        assert_eq!(index_input(&42u32).unwrap().as_slice(), b"42");
        assert_eq!(index_input(&Some("x")).unwrap().as_slice(), b"x");
        assert_eq!(index_input(&None::<String>).unwrap().as_slice(), b"null");
    }
}
