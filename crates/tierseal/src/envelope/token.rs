//! Sealed bytes as values: the token types and their text form.
//!
//! In human-readable formats (JSON) a token is the text `tierseal:` followed
//! by the unpadded base64url of its bytes; in binary formats it is the raw
//! bytes. Every constructor validates the layout, so a token that exists
//! has parsed once.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};

use super::format::{Kind, Token};
use crate::Error;

/// The prefix of every token's text form.
pub const TEXT_PREFIX: &str = "tierseal:";

/// Encodes token bytes as text.
fn encode_text(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(TEXT_PREFIX.len() + bytes.len().div_ceil(3) * 4);
    text.push_str(TEXT_PREFIX);
    URL_SAFE_NO_PAD.encode_string(bytes, &mut text);
    text
}

/// Decodes the text form back to bytes (layout not yet checked).
fn decode_text(text: &str) -> Result<Vec<u8>, Error> {
    let body = text
        .strip_prefix(TEXT_PREFIX)
        .ok_or_else(|| Error::malformed("text does not start with `tierseal:`"))?;
    URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| Error::malformed("text is not valid unpadded base64url"))
}

fn serialize_token<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    if serializer.is_human_readable() {
        serializer.serialize_str(&encode_text(bytes))
    } else {
        serializer.serialize_bytes(bytes)
    }
}

fn deserialize_token<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    struct TokenVisitor;

    impl Visitor<'_> for TokenVisitor {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a tierseal token (`tierseal:...` text or raw bytes)")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Vec<u8>, E> {
            decode_text(text).map_err(E::custom)
        }

        fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Vec<u8>, E> {
            Ok(bytes.to_vec())
        }

        fn visit_byte_buf<E: de::Error>(self, bytes: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(bytes)
        }
    }

    if deserializer.is_human_readable() {
        deserializer.deserialize_str(TokenVisitor)
    } else {
        deserializer.deserialize_byte_buf(TokenVisitor)
    }
}

/// Declares a token type: validated bytes, text form, serde, and a `Debug`
/// that shows only the header.
macro_rules! token_type {
    ($(#[$meta:meta])* $name:ident, $kind:expr) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash)]
        pub struct $name {
            bytes: Vec<u8>,
        }

        impl $name {
            const KIND: Kind = $kind;

            /// Takes bytes produced by tierseal, checking their layout.
            ///
            /// # Errors
            /// [`Error::Malformed`] or [`Error::UnsupportedFormat`] when
            /// the bytes are not a well-formed token of this kind.
            pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, Error> {
                Token::parse(&bytes, Self::KIND)?;
                Ok(Self { bytes })
            }

            /// The token's bytes, for binary storage.
            pub fn as_bytes(&self) -> &[u8] {
                &self.bytes
            }

            /// The token's text form: `tierseal:` + base64url.
            pub fn to_text(&self) -> String {
                encode_text(&self.bytes)
            }

            /// The tier named in the header; empty for a record field of
            /// format version 3, which names its record key's slot instead
            /// (the record key names the tier).
            pub fn tier_name(&self) -> &str {
                self.token().tier
            }

            /// Parses bytes that were validated on construction.
            pub(crate) fn token(&self) -> Token<'_> {
                Token::parse(&self.bytes, Self::KIND)
                    .unwrap_or_else(|_| unreachable!("validated on construction"))
            }

            #[allow(dead_code, reason = "not every token kind is rewrapped")]
            pub(crate) fn bytes_mut(&mut self) -> &mut Vec<u8> {
                &mut self.bytes
            }

            pub(crate) fn from_valid_bytes(bytes: Vec<u8>) -> Self {
                debug_assert!(Token::parse(&bytes, Self::KIND).is_ok());
                Self { bytes }
            }
        }

        impl FromStr for $name {
            type Err = Error;

            /// Parses the text form.
            fn from_str(text: &str) -> Result<Self, Error> {
                Self::from_bytes(decode_text(text)?)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut out = f.debug_struct(stringify!($name));
                // Tokens are validated when they are made; printing one
                // must not panic even if that invariant were ever broken.
                let Ok(token) = Token::parse(&self.bytes, Self::KIND) else {
                    return out.field("malformed", &true).finish_non_exhaustive();
                };
                match token.slot {
                    Some(slot) => out.field("key_slot", &slot),
                    None => out.field("tier", &token.tier),
                };
                if let Some(version) = token.key_version() {
                    out.field("key_version", &version);
                }
                if let Some(wrap) = token.public_wrap {
                    out.field("suite", &wrap.suite);
                }
                if let Some(field) = token.field {
                    out.field("ciphertext_len", &field.ciphertext.len());
                }
                out.finish_non_exhaustive()
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serialize_token(&self.bytes, serializer)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let bytes = deserialize_token(deserializer)?;
                Self::from_bytes(bytes).map_err(de::Error::custom)
            }
        }
    };
}

token_type!(
    /// One value sealed on its own: it carries its data key wrapped under a
    /// tier key version, then the encrypted value.
    ///
    /// Create one with [`SealedValue::seal`](crate::SealedValue::seal).
    SealedValue,
    Kind::Value
);

token_type!(
    /// One record's data key for one tier, wrapped under a tier key
    /// version. A record keeps one per tier it uses, in [`RecordKeys`](crate::RecordKeys).
    RecordKey,
    Kind::RecordKey
);

token_type!(
    /// One field of a record, encrypted under the record's data key for
    /// its tier. It names its tier (format version 3: the slot of its
    /// record key, which names the tier), never a key version: rewrapping
    /// the record's keys leaves it untouched.
    SealedField,
    Kind::RecordField
);

token_type!(
    /// Every field of one tier of a packed record (and, for `internal`,
    /// the masks of the record's masked fields), sealed together in one
    /// AES-GCM message under the record's data key for the tier: format
    /// version 4, kind 6. It names the slot of its record key, never a key
    /// version, so rewrapping the record's keys leaves it untouched; its
    /// AAD binds the record, the tier and the exact list of fields it
    /// holds. Written by types that derive `Classified` with
    /// `#[classified(packed)]`; see [`PackedSealer`](crate::PackedSealer).
    PackedPart,
    Kind::PackedPart
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_that_breaks_its_invariant_still_prints() {
        // Bytes no constructor accepts, built past the constructors.
        let bytes = vec![4, 3, 0, 0x41, 0x42];
        let shown = format!("{:?}", SealedField { bytes });
        assert!(shown.contains("malformed: true"), "{shown}");
        assert!(!shown.contains("65") && !shown.contains('A'), "{shown}");
    }

    #[test]
    fn text_form_requires_prefix_and_base64url() {
        assert!(matches!(decode_text("AQID"), Err(Error::Malformed { .. })));
        assert!(matches!(
            decode_text("tierseal:***"),
            Err(Error::Malformed { .. })
        ));
        assert_eq!(decode_text("tierseal:AQID").unwrap(), [1, 2, 3]);
        assert_eq!(encode_text(&[1, 2, 3]), "tierseal:AQID");
    }

    #[test]
    fn a_version_3_field_shows_its_slot_and_length_only() {
        let mut bytes = vec![3, 3, 1];
        bytes.extend_from_slice(&[0xAB; 12 + 5 + 16]);
        let field = SealedField::from_bytes(bytes).unwrap();
        let shown = format!("{field:?}");
        assert!(shown.contains("key_slot: 1"), "{shown}");
        assert!(shown.contains("ciphertext_len: 5"), "{shown}");
        assert!(!shown.to_lowercase().contains("ab"), "{shown}");
        assert_eq!(field.tier_name(), "");
    }

    #[test]
    fn garbage_is_not_a_token() {
        assert!(SealedField::from_bytes(vec![]).is_err());
        assert!("tierseal:AQID".parse::<SealedValue>().is_err());
        assert!(serde_json::from_str::<RecordKey>("\"hello\"").is_err());
        assert!(serde_json::from_str::<RecordKey>("42").is_err());
    }
}

/// Any token, as found in stored data whose schema is unknown (the
/// custodian's rewrap and retire checks scan JSON for them).
///
/// ```
/// # use tierseal::{Binding, Clearance, KdfProfile, Keystore, Level, SealedValue, SealedToken, Tier};
/// # let dir = tempfile::tempdir()?;
/// # let keystore = Keystore::create(dir.path().join("k"), &"pw".into(), KdfProfile::Test)?;
/// # let keyring = keystore.keyring(&Clearance::up_to(Level::Restricted))?;
/// let sealed = SealedValue::seal(&keyring, &Tier::INTERNAL, Binding::new("T", "f"), "x")?;
/// let token: SealedToken = sealed.to_text().parse()?;
/// assert_eq!(token.key_version(), Some(("internal", 1)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SealedToken {
    /// A standalone sealed value.
    Value(SealedValue),
    /// A record's wrapped data key.
    RecordKey(RecordKey),
    /// A record's field (it names no key version).
    Field(SealedField),
    /// A packed record's tier part (it names no key version).
    Part(PackedPart),
}

impl SealedToken {
    /// The tier and key version that wrap this token's data key; `None`
    /// for a record field, which has no key of its own.
    pub fn key_version(&self) -> Option<(&str, u32)> {
        let token = match self {
            SealedToken::Value(value) => value.token(),
            SealedToken::RecordKey(key) => key.token(),
            SealedToken::Field(_) | SealedToken::Part(_) => return None,
        };
        token.key_version().map(|version| (token.tier, version))
    }

    /// Re-wraps the data key under its tier's primary version; `None` for a
    /// record field or packed part (its record key is rewrapped instead).
    ///
    /// # Errors
    /// As [`SealedValue::rewrap`].
    pub fn rewrap(&mut self, keyring: &crate::Keyring) -> Result<Option<super::Rewrapped>, Error> {
        match self {
            SealedToken::Value(value) => value.rewrap(keyring).map(Some),
            SealedToken::RecordKey(key) => {
                super::rewrap_token(keyring, key.bytes_mut(), Kind::RecordKey).map(Some)
            }
            SealedToken::Field(_) | SealedToken::Part(_) => Ok(None),
        }
    }

    /// The text form.
    pub fn to_text(&self) -> String {
        match self {
            SealedToken::Value(value) => value.to_text(),
            SealedToken::RecordKey(key) => key.to_text(),
            SealedToken::Field(field) => field.to_text(),
            SealedToken::Part(part) => part.to_text(),
        }
    }
}

impl FromStr for SealedToken {
    type Err = Error;

    /// Parses the text form of any token kind.
    fn from_str(text: &str) -> Result<Self, Error> {
        let bytes = decode_text(text)?;
        match bytes.get(1) {
            Some(&b) if b == Kind::Value as u8 || b == Kind::PublicValue as u8 => {
                SealedValue::from_bytes(bytes).map(SealedToken::Value)
            }
            Some(&b) if b == Kind::RecordKey as u8 || b == Kind::PublicRecordKey as u8 => {
                RecordKey::from_bytes(bytes).map(SealedToken::RecordKey)
            }
            Some(&b) if b == Kind::PackedPart as u8 => {
                PackedPart::from_bytes(bytes).map(SealedToken::Part)
            }
            _ => SealedField::from_bytes(bytes).map(SealedToken::Field),
        }
    }
}

/// The stored mask of a masked field: what a reader who lacks the field's
/// tier is shown.
///
/// Format versions 2 and later seal every mask as a record field at `internal`
/// ([`RecordSealer::seal_mask`](crate::RecordSealer::seal_mask)); a
/// version-1 record stored it in clear, unauthenticated. Both still read:
/// a clear mask opens only beside a version-1 field
/// ([`RecordOpener::open_mask`](crate::RecordOpener::open_mask)).
///
/// In human-readable formats a sealed mask is its token's text
/// (`tierseal:...`) and a clear mask any other text; in binary formats a
/// sealed mask is the token's bytes (which start with a format version
/// byte, a control character no clear mask starts with).
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum SealedMask {
    /// A sealed mask (format version 2 or later).
    Sealed(SealedField),
    /// A clear-text mask, as version 1 stored it.
    Clear(String),
}

impl fmt::Debug for SealedMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SealedMask::Sealed(field) => f.debug_tuple("Sealed").field(field).finish(),
            // A mask is shown to low-clearance readers, but it is still
            // derived from the value: keep it out of logs.
            SealedMask::Clear(_) => f.write_str("Clear(<mask>)"),
        }
    }
}

impl serde::Serialize for SealedMask {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            SealedMask::Sealed(field) => serialize_token(field.as_bytes(), serializer),
            SealedMask::Clear(text) => serializer.serialize_str(text),
        }
    }
}

impl<'de> serde::Deserialize<'de> for SealedMask {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MaskVisitor;

        impl Visitor<'_> for MaskVisitor {
            type Value = SealedMask;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sealed mask (a tierseal token) or a version-1 clear mask")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<SealedMask, E> {
                if text.starts_with(TEXT_PREFIX) {
                    SealedField::from_str(text)
                        .map(SealedMask::Sealed)
                        .map_err(E::custom)
                } else {
                    Ok(SealedMask::Clear(text.to_owned()))
                }
            }

            fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<SealedMask, E> {
                match bytes.first() {
                    // Tokens start with their format version, a control
                    // character; a clear mask is display text.
                    Some(byte) if *byte < 0x20 => SealedField::from_bytes(bytes.to_vec())
                        .map(SealedMask::Sealed)
                        .map_err(E::custom),
                    _ => std::str::from_utf8(bytes)
                        .map(|text| SealedMask::Clear(text.to_owned()))
                        .map_err(|_| E::custom("a clear mask is not UTF-8")),
                }
            }
        }

        if deserializer.is_human_readable() {
            deserializer.deserialize_str(MaskVisitor)
        } else {
            deserializer.deserialize_byte_buf(MaskVisitor)
        }
    }
}

#[cfg(test)]
mod mask_tests {
    use super::*;

    fn sealed() -> SealedField {
        let mut bytes = vec![2, 3, 8];
        bytes.extend_from_slice(b"internal");
        bytes.extend_from_slice(&[7; 12 + 4 + 16]);
        SealedField::from_bytes(bytes).unwrap()
    }

    #[test]
    fn masks_round_trip_in_text_and_binary_forms() {
        for mask in [
            SealedMask::Sealed(sealed()),
            SealedMask::Clear("****1111".into()),
        ] {
            let json = serde_json::to_string(&mask).unwrap();
            assert_eq!(serde_json::from_str::<SealedMask>(&json).unwrap(), mask);
            let binary = postcard::to_allocvec(&mask).unwrap();
            assert_eq!(postcard::from_bytes::<SealedMask>(&binary).unwrap(), mask);
        }
        // A version-1 record wrote its mask as a plain string.
        let v1 = postcard::to_allocvec("****1111").unwrap();
        assert_eq!(
            postcard::from_bytes::<SealedMask>(&v1).unwrap(),
            SealedMask::Clear("****1111".into())
        );
    }

    #[test]
    fn a_broken_sealed_mask_is_an_error_not_a_clear_mask() {
        assert!(serde_json::from_str::<SealedMask>("\"tierseal:AQID\"").is_err());
        assert!(postcard::from_bytes::<SealedMask>(&[3, 2, 3, 0]).is_err());
        assert!(!format!("{:?}", SealedMask::Clear("****1111".into())).contains("1111"));
    }
}
