//! The byte layout of sealed data, parsed and written in one place.
//!
//! Every token starts with the format version and its kind, then names its
//! tier. See `docs/FORMAT.md` for the layout, the AAD composition and the
//! versioning rules; this module is their only implementation.
//!
//! ```text
//! token      = version:u8 kind:u8 tier_len:u8 tier:[u8; tier_len] body
//! kind 1 (sealed value)  body = wrapped_key field
//! kind 2 (record key)    body = wrapped_key
//! kind 3 (record field)  body = field
//! wrapped_key = key_version:u32be wrap_nonce:[u8;12] wrapped_dek:[u8;48]
//! field       = nonce:[u8;12] ciphertext:[u8; n] tag:[u8;16]
//!
//! version 3, kind 3 (record field): no tier name, a key slot instead
//! token      = version:u8 kind:u8 slot:u8 field
//! ```
//!
//! Versions 1 and 2 share this layout; they differ in their AADs. Version 3
//! keeps it for sealed values and record keys and shortens the record
//! field's header: the field names the index of its record key in the
//! record's key list, which names the tier. Version 3 also adds the
//! public-key kinds, whose data key is sealed with HPKE to the tier's public
//! key (see `public_wrap`):
//!
//! ```text
//! kind 4 (record key, public-key wrap)   body = public_wrap
//! kind 5 (sealed value, public-key wrap) body = public_wrap field
//! public_wrap = suite:u8 key_version:u32be enc:[u8; Nenc(suite)] wrapped_dek:[u8;48]
//! ```
//!
//! Version 4 keeps version 3's layouts and AADs (with version byte 4) and
//! adds the packed tier part: every field of one tier of a record (and, in
//! the `internal` part, the masks) in one AES-GCM message, naming its
//! record key by slot like a version-3 field:
//!
//! ```text
//! kind 6 (packed part)  token = version:u8 kind:u8 slot:u8 field
//! plaintext = ( len:varint postcard(value) )*   one per entry, in the AAD's order
//! ```
//!
//! Versions 1 and 2 read kinds 1 to 3 only, version 3 kinds 1 to 5, version
//! 4 kinds 1 to 6. Each token's own version byte decides which layout and
//! AAD rules apply to it.

use crate::Error;
use crate::crypto::{NONCE_LEN, TAG_LEN, WRAPPED_KEY_LEN};
use crate::envelope::Binding;

/// A format version this build reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Version {
    /// Nested records bound by a `parent/field` record id; masks in clear.
    V1 = 1,
    /// Nested records bound by their path in the root record; masks sealed.
    V2 = 2,
    /// Record fields name their record key's slot, not their tier; data
    /// keys may also be sealed to a tier's public key (kinds 4 and 5).
    V3 = 3,
    /// Version 3's layouts and AADs, plus packed tier parts (kind 6).
    V4 = 4,
}

impl Version {
    fn from_byte(byte: u8) -> Result<Version, Error> {
        match byte {
            1 => Ok(Version::V1),
            2 => Ok(Version::V2),
            3 => Ok(Version::V3),
            4 => Ok(Version::V4),
            version => Err(Error::UnsupportedFormat { version }),
        }
    }

    /// Whether record fields name their record key's slot instead of their
    /// tier, and the public-key kinds exist (versions 3 and later).
    pub(crate) fn names_slots(self) -> bool {
        matches!(self, Version::V3 | Version::V4)
    }
}

/// The version this build writes.
pub(crate) const WRITE_VERSION: Version = Version::V4;

/// The longest tier name (`confidential/` plus a 32-character compartment).
pub(crate) const MAX_TIER_LEN: usize = 64;

/// Bytes of a header before the tier name: version, kind, tier length.
pub(crate) const HEADER_FIXED_LEN: usize = 3;

/// Bytes of a version-3 record field's header: version, kind, key slot
/// (version 4's record fields and packed parts have the same header).
pub(crate) const FIELD_HEADER_V3_LEN: usize = 3;

/// The most tiers one record can use in version 3 (the slot is one byte).
pub(crate) const MAX_SLOTS: usize = 256;

/// What a record field holds (version 2 binds it; version 1 has values
/// only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// The field's value.
    Value = 0,
    /// The mask shown when the field's value is withheld.
    Mask = 1,
}

/// Which structure a token holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A standalone value: its own wrapped data key plus one field.
    Value = 1,
    /// One record's data key for one tier.
    RecordKey = 2,
    /// One field of a record, encrypted under the record's data key.
    RecordField = 3,
    /// One record's data key for one tier, sealed to the tier's public key.
    PublicRecordKey = 4,
    /// A standalone value whose data key is sealed to the tier's public key.
    PublicValue = 5,
    /// Every field (and mask) of one tier of a record in one AES-GCM
    /// message, under the record's data key for the tier.
    PackedPart = 6,
}

impl Kind {
    fn from_byte(byte: u8) -> Result<Kind, Error> {
        match byte {
            1 => Ok(Kind::Value),
            2 => Ok(Kind::RecordKey),
            3 => Ok(Kind::RecordField),
            4 => Ok(Kind::PublicRecordKey),
            5 => Ok(Kind::PublicValue),
            6 => Ok(Kind::PackedPart),
            _ => Err(Error::malformed("unknown token kind")),
        }
    }

    fn has_wrapped_key(self) -> bool {
        matches!(self, Kind::Value | Kind::RecordKey)
    }

    fn has_field(self) -> bool {
        matches!(
            self,
            Kind::Value | Kind::RecordField | Kind::PublicValue | Kind::PackedPart
        )
    }

    /// Whether a token of this kind and `version` names its record key's
    /// slot (in place of a tier name).
    fn names_slot(self, version: Version) -> bool {
        match self {
            Kind::RecordField => version.names_slots(),
            Kind::PackedPart => true,
            _ => false,
        }
    }

    fn has_public_wrap(self) -> bool {
        matches!(self, Kind::PublicRecordKey | Kind::PublicValue)
    }

    /// The token type a kind is read as: public-key kinds are read by the
    /// same types as their symmetric counterparts.
    fn read_as(self) -> Kind {
        match self {
            Kind::PublicRecordKey => Kind::RecordKey,
            Kind::PublicValue => Kind::Value,
            kind => kind,
        }
    }
}

/// A data key sealed to a tier's public key (HPKE), as read.
#[derive(Clone, Copy)]
pub(crate) struct PublicWrap<'a> {
    pub(crate) suite: crate::HpkeSuite,
    pub(crate) key_version: u32,
    /// The KEM's encapsulated key, `suite.encapsulated_len()` bytes.
    pub(crate) enc: &'a [u8],
    /// The sealed data key and its tag.
    pub(crate) wrapped: &'a [u8; WRAPPED_KEY_LEN],
    /// Where the suite byte starts in the token, for in-place rewrap.
    pub(crate) offset: usize,
}

/// Bytes of a public-key wrap of `suite`: suite, key version, encapsulated
/// key, sealed data key.
pub(crate) const fn public_wrap_len(suite: crate::HpkeSuite) -> usize {
    1 + 4 + suite.encapsulated_len() + WRAPPED_KEY_LEN
}

/// A data key wrapped under a tier key version, as read.
#[derive(Clone, Copy)]
pub(crate) struct WrappedKey<'a> {
    pub(crate) key_version: u32,
    pub(crate) nonce: &'a [u8; NONCE_LEN],
    pub(crate) wrapped: &'a [u8; WRAPPED_KEY_LEN],
    /// Where `key_version` starts in the token, for in-place rewrap.
    pub(crate) offset: usize,
}

/// Bytes of the wrapped-key part: version, nonce, wrapped key.
pub(crate) const WRAPPED_PART_LEN: usize = 4 + NONCE_LEN + WRAPPED_KEY_LEN;

/// An encrypted field, as read.
#[derive(Clone, Copy)]
pub(crate) struct FieldPart<'a> {
    pub(crate) nonce: &'a [u8; NONCE_LEN],
    pub(crate) ciphertext: &'a [u8],
    pub(crate) tag: &'a [u8; TAG_LEN],
}

/// A token parsed without copying: the header kept as read.
#[derive(Clone, Copy)]
pub(crate) struct Token<'a> {
    /// The format version, which decides the AAD rules.
    pub(crate) version: Version,
    /// The tier's text form; checked to be ASCII, parsed by the caller.
    /// Empty for a version-3 record field, which names its `slot` instead.
    pub(crate) tier: &'a str,
    /// Version-3 record fields: the index of the field's record key in the
    /// record's key list.
    pub(crate) slot: Option<u8>,
    pub(crate) wrapped_key: Option<WrappedKey<'a>>,
    /// The public-key wrap of kinds 4 and 5 (`wrapped_key` is `None`).
    pub(crate) public_wrap: Option<PublicWrap<'a>>,
    pub(crate) field: Option<FieldPart<'a>>,
}

impl Token<'_> {
    /// The tier key version the data key is wrapped under (symmetric or
    /// public-key), if the token has a key.
    pub(crate) fn key_version(&self) -> Option<u32> {
        self.wrapped_key
            .map(|key| key.key_version)
            .or(self.public_wrap.map(|wrap| wrap.key_version))
    }
}

impl<'a> Token<'a> {
    /// Parses `bytes`, checking the version, kind, lengths and that nothing
    /// trails. Never panics.
    pub(crate) fn parse(bytes: &'a [u8], expected: Kind) -> Result<Token<'a>, Error> {
        let mut reader = Reader { bytes, pos: 0 };
        let version = Version::from_byte(reader.u8()?)?;
        let kind = Kind::from_byte(reader.u8()?)?;
        if kind.has_public_wrap() && !version.names_slots() {
            return Err(Error::malformed(
                "a public-key token must be format version 3 or later",
            ));
        }
        if kind == Kind::PackedPart && version != Version::V4 {
            return Err(Error::malformed("a packed part must be format version 4"));
        }
        if kind.read_as() != expected {
            return Err(Error::malformed(match expected {
                Kind::Value => "expected a sealed value, found another kind of token",
                Kind::RecordKey => "expected a record key, found another kind of token",
                Kind::PackedPart => "expected a packed part, found another kind of token",
                Kind::RecordField | Kind::PublicRecordKey | Kind::PublicValue => {
                    "expected a record field, found another kind of token"
                }
            }));
        }
        let (tier, slot) = if kind.names_slot(version) {
            ("", Some(reader.u8()?))
        } else {
            let tier_len = usize::from(reader.u8()?);
            if tier_len == 0 || tier_len > MAX_TIER_LEN {
                return Err(Error::malformed("tier name length out of range"));
            }
            let tier = reader.take(tier_len)?;
            if !tier.is_ascii() {
                return Err(Error::malformed("tier name is not ASCII"));
            }
            let tier = std::str::from_utf8(tier)
                .map_err(|_| Error::malformed("tier name is not ASCII"))?;
            (tier, None)
        };

        let wrapped_key = if kind.has_wrapped_key() {
            let offset = reader.pos;
            Some(WrappedKey {
                key_version: u32::from_be_bytes(*reader.array::<4>()?),
                nonce: reader.array()?,
                wrapped: reader.array()?,
                offset,
            })
        } else {
            None
        };
        let public_wrap = if kind.has_public_wrap() {
            let offset = reader.pos;
            let suite = crate::HpkeSuite::from_id(reader.u8()?)
                .ok_or_else(|| Error::malformed("unknown public-key suite"))?;
            Some(PublicWrap {
                suite,
                key_version: u32::from_be_bytes(*reader.array::<4>()?),
                enc: reader.take(suite.encapsulated_len())?,
                wrapped: reader.array()?,
                offset,
            })
        } else {
            None
        };
        let field = if kind.has_field() {
            let nonce = reader.array()?;
            let rest = reader.rest();
            let split = rest
                .len()
                .checked_sub(TAG_LEN)
                .ok_or_else(|| Error::malformed("truncated: no room for the tag"))?;
            let (ciphertext, tag) = rest.split_at(split);
            let tag = tag
                .try_into()
                .map_err(|_| Error::malformed("truncated: no room for the tag"))?;
            Some(FieldPart {
                nonce,
                ciphertext,
                tag,
            })
        } else {
            None
        };
        if !reader.rest().is_empty() {
            return Err(Error::malformed("trailing bytes after the token"));
        }
        Ok(Token {
            version,
            tier,
            slot,
            wrapped_key,
            public_wrap,
            field,
        })
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], Error> {
        let end = self
            .pos
            .checked_add(len)
            .ok_or_else(|| Error::malformed("length overflow"))?;
        let slice = self
            .bytes
            .get(self.pos..end)
            .ok_or_else(|| Error::malformed("truncated"))?;
        self.pos = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<&'a [u8; N], Error> {
        self.take(N)?
            .try_into()
            .map_err(|_| Error::malformed("truncated"))
    }

    fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.array::<1>()?[0])
    }

    /// A minimal unsigned LEB128 varint that fits a `usize`.
    fn varint(&mut self) -> Result<usize, Error> {
        let mut value: usize = 0;
        for shift in (0..usize::BITS).step_by(7) {
            let byte = self.u8()?;
            let bits = usize::from(byte & 0x7f);
            if shift > 0 && byte == 0 {
                return Err(Error::malformed("a length is not minimally encoded"));
            }
            value |= bits
                .checked_shl(shift)
                .filter(|shifted| shifted >> shift == bits)
                .ok_or_else(|| Error::malformed("a length is out of range"))?;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Error::malformed("a length is out of range"))
    }

    /// Consumes and returns everything left.
    fn rest(&mut self) -> &'a [u8] {
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        self.pos = self.bytes.len();
        rest
    }
}

/// Writes the common header.
pub(crate) fn write_header(out: &mut Vec<u8>, version: Version, kind: Kind, tier: &str) {
    debug_assert!(
        tier.len() <= MAX_TIER_LEN,
        "Tier validation bounds its length"
    );
    out.push(version as u8);
    out.push(kind as u8);
    // Tier names are at most 45 bytes (validated by `Tier`), so this fits.
    out.push(u8::try_from(tier.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(tier.as_bytes());
}

/// Writes the header of a token that names its record key by slot (a
/// record field of version 3 or later, a packed part): version, kind, slot.
pub(crate) fn write_slot_header(out: &mut Vec<u8>, version: Version, kind: Kind, slot: u8) {
    debug_assert!(
        kind.names_slot(version),
        "only slot tokens have this header"
    );
    out.extend_from_slice(&[version as u8, kind as u8, slot]);
}

/// Writes the wrapped-key part.
pub(crate) fn write_wrapped_key(
    out: &mut Vec<u8>,
    key_version: u32,
    nonce: &[u8; NONCE_LEN],
    wrapped: &[u8; WRAPPED_KEY_LEN],
) {
    out.extend_from_slice(&key_version.to_be_bytes());
    out.extend_from_slice(nonce);
    out.extend_from_slice(wrapped);
}

/// Length of a header for `tier`.
pub(crate) fn header_len(tier: &str) -> usize {
    HEADER_FIXED_LEN + tier.len()
}

/// Moves a token's header to `version` in place (rewrap of a record key,
/// whose only version-dependent part is the wrapped key it rewrites too).
pub(crate) fn set_version(token: &mut [u8], version: Version) {
    if let Some(first) = token.first_mut() {
        *first = version as u8;
    }
}

/// Domain tags: the first byte of each kind of AAD, so that no data-key
/// AAD can be read as a field or part AAD, nor a field's as a part's.
const DATA_KEY_DOMAIN: u8 = b'K';
const FIELD_DOMAIN: u8 = b'F';
const PART_DOMAIN: u8 = b'P';
/// Longest data-key AAD: domain, version, tier length, tier, key version.
const MAX_DATA_KEY_AAD: usize = 1 + 1 + 1 + MAX_TIER_LEN + 4;

/// AAD of a data-key wrap, built on the stack.
pub(crate) struct DataKeyAad {
    buf: [u8; MAX_DATA_KEY_AAD],
    len: usize,
}

impl DataKeyAad {
    /// The AAD of a data key wrapped under `key_version` of `tier`: the tier
    /// and the version. It leaves out the field binding on purpose, so that
    /// rewrap (and the CLI's blind rewrap of stored JSON) needs no
    /// knowledge of the record's schema; the field ciphertext binds the
    /// rest.
    ///
    /// Versions 1, 2 and 3 lay it out alike; only the version byte differs.
    pub(crate) fn new(version: Version, tier: &str, key_version: u32) -> DataKeyAad {
        let mut aad = DataKeyAad {
            buf: [0; MAX_DATA_KEY_AAD],
            len: 0,
        };
        // Tier names are at most 64 bytes (checked by the parser and by
        // `Tier`), so their length is one varint byte.
        let tier = tier
            .as_bytes()
            .get(..MAX_TIER_LEN)
            .unwrap_or(tier.as_bytes());
        let tier_len = [u8::try_from(tier.len()).unwrap_or(0)];
        for part in [
            &[DATA_KEY_DOMAIN, version as u8],
            &tier_len[..],
            tier,
            &key_version.to_be_bytes(),
        ] {
            let end = aad.len + part.len();
            if let Some(target) = aad.buf.get_mut(aad.len..end) {
                target.copy_from_slice(part);
                aad.len = end;
            }
        }
        aad
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

/// The record part of a field's AAD. A record sealer writes it once and
/// appends each field with [`field_aad_suffix`].
///
/// Version 1: type name and record id (a nested record's id is its
/// parent's with `/field` appended). Version 2: type id, the record's path
/// in its root record, and record id (its own or inherited).
pub(crate) fn field_aad_prefix(buf: &mut Vec<u8>, version: Version, binding: &Binding<'_>) {
    record_aad_prefix(buf, FIELD_DOMAIN, version, binding);
}

/// The record part of a packed part's AAD (format version 4): the record
/// part of a version-4 field's AAD under the part domain `P`.
pub(crate) fn part_aad_prefix(buf: &mut Vec<u8>, binding: &Binding<'_>) {
    record_aad_prefix(buf, PART_DOMAIN, Version::V4, binding);
}

/// Turns a version-4 record AAD prefix into the field prefix (`part`
/// false, [`field_aad_prefix`]) or the packed part prefix (`part` true,
/// [`part_aad_prefix`]) of the same record: the two differ only in their
/// domain byte. Lets a record sealer, which keeps no binding, build both
/// from one.
pub(crate) fn set_prefix_domain(prefix: &mut [u8], part: bool) -> Result<(), Error> {
    match prefix {
        [domain @ (FIELD_DOMAIN | PART_DOMAIN), version, ..] if *version == Version::V4 as u8 => {
            *domain = if part { PART_DOMAIN } else { FIELD_DOMAIN };
            Ok(())
        }
        _ => Err(Error::InvalidParameter {
            what: "record",
            reason: "packed parts are sealed by records of format version 4 only",
        }),
    }
}

fn record_aad_prefix(buf: &mut Vec<u8>, domain: u8, version: Version, binding: &Binding<'_>) {
    buf.clear();
    buf.push(domain);
    buf.push(version as u8);
    push_text(buf, binding.type_name());
    let record_id = match version {
        Version::V1 => binding.v1_record_id(),
        Version::V2 | Version::V3 | Version::V4 => {
            push_bytes(buf, binding.path());
            binding.record_id()
        }
    };
    match record_id {
        None => buf.push(0),
        Some(id) => {
            buf.push(1);
            push_text(buf, id);
        }
    }
}

/// Appends the field part of a field's AAD: tier, role (versions 2 and 3)
/// and stable field id. The key version is left out so that rewrap never
/// touches field data.
///
/// # Errors
/// [`Error::Malformed`] for a mask in version 1, which sealed none.
pub(crate) fn field_aad_suffix(
    buf: &mut Vec<u8>,
    version: Version,
    tier: &str,
    role: Role,
    field: &str,
) -> Result<(), Error> {
    push_text(buf, tier);
    field_aad_tail(buf, version, role, field)
}

/// Appends the tier part of a field's AAD, which the fields of one tier
/// share: `str(tier)`.
pub(crate) fn push_aad_tier(buf: &mut Vec<u8>, tier: &str) {
    push_text(buf, tier);
}

/// Appends what follows the tier in a field's AAD: role (versions 2 and
/// 3) and stable field id.
///
/// # Errors
/// [`Error::Malformed`] for a mask in version 1, which sealed none.
pub(crate) fn field_aad_tail(
    buf: &mut Vec<u8>,
    version: Version,
    role: Role,
    field: &str,
) -> Result<(), Error> {
    match (version, role) {
        (Version::V1, Role::Value) => {}
        (Version::V1, Role::Mask) => {
            return Err(Error::malformed("a version-1 token cannot hold a mask"));
        }
        (Version::V2 | Version::V3 | Version::V4, role) => buf.push(role as u8),
    }
    push_text(buf, field);
    Ok(())
}

/// The whole AAD of a standalone value's field: the record part, then its
/// tier and field id.
pub(crate) fn field_aad(
    buf: &mut Vec<u8>,
    version: Version,
    tier: &str,
    binding: &Binding<'_>,
) -> Result<(), Error> {
    field_aad_prefix(buf, version, binding);
    field_aad_suffix(buf, version, tier, Role::Value, binding.field())
}

/// Appends what follows the record part in a packed part's AAD: its tier,
/// the number of its entries, then each entry's role and stable field id,
/// in the part's order. Binding the whole list means a part opens only
/// with exactly the fields (and masks) it was sealed with, in that order.
pub(crate) fn part_aad_suffix<'e>(
    buf: &mut Vec<u8>,
    tier: &str,
    entries: impl ExactSizeIterator<Item = (Role, &'e str)>,
) {
    push_text(buf, tier);
    push_varint(buf, entries.len());
    for (role, field) in entries {
        buf.push(role as u8);
        push_text(buf, field);
    }
}

/// Appends one entry of a packed part's plaintext: the length of the
/// value's encoding as a varint, then the encoding.
#[cfg(test)]
pub(crate) fn push_part_entry(buf: &mut Vec<u8>, encoded: &[u8]) {
    push_bytes(buf, encoded);
}

/// Bytes the length prefix of a packed part's entry whose encoding is
/// `len` bytes takes (an unsigned LEB128 varint).
#[inline]
pub(crate) fn part_entry_prefix_len(len: usize) -> usize {
    let bits = usize::BITS - (len | 1).leading_zeros();
    bits.div_ceil(7) as usize
}

/// Writes the length prefix of an entry whose encoding is `len` bytes at
/// the start of `out`, which has exactly [`part_entry_prefix_len`] bytes
/// of room for it.
#[inline]
pub(crate) fn put_part_entry_prefix(out: &mut [u8], mut len: usize) {
    let last = out.len().saturating_sub(1);
    for (index, byte) in out.iter_mut().enumerate() {
        *byte = if index == last {
            len as u8
        } else {
            (len & 0x7f) as u8 | 0x80
        };
        len >>= 7;
    }
}

/// Splits a packed part's plaintext into exactly `ranges.len()` entries,
/// writing where each one's encoding lies. Every length prefix must be a
/// minimal varint within the plaintext, and nothing may follow the last
/// entry.
///
/// # Errors
/// [`Error::Malformed`] otherwise. (The plaintext was authenticated, so
/// only a writer holding the data key can produce one that fails here.)
pub(crate) fn split_part_plaintext(
    plaintext: &[u8],
    ranges: &mut [std::ops::Range<usize>],
) -> Result<(), Error> {
    let mut reader = Reader {
        bytes: plaintext,
        pos: 0,
    };
    for range in ranges {
        let len = reader.varint()?;
        let start = reader.pos;
        reader.take(len)?;
        *range = start..reader.pos;
    }
    if !reader.rest().is_empty() {
        return Err(Error::malformed(
            "trailing bytes after the last entry of a packed part",
        ));
    }
    Ok(())
}

/// Appends one segment of a nested record's path: `str(segment)`.
pub(crate) fn push_path_segment(path: &mut Vec<u8>, segment: &str) {
    push_text(path, segment);
}

/// Text prefixed with its length as an unsigned LEB128 varint (one byte
/// below 128), so that no two bindings share an encoding.
fn push_text(buf: &mut Vec<u8>, text: &str) {
    push_bytes(buf, text.as_bytes());
}

/// Bytes prefixed with their length, as [`push_text`].
fn push_bytes(buf: &mut Vec<u8>, bytes: &[u8]) {
    push_varint(buf, bytes.len());
    buf.extend_from_slice(bytes);
}

/// An unsigned LEB128 varint (one byte below 128).
fn push_varint(buf: &mut Vec<u8>, mut value: usize) {
    while value >= 0x80 {
        buf.push((value & 0x7f) as u8 | 0x80);
        value >>= 7;
    }
    buf.push(value as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(kind: Kind) -> Vec<u8> {
        let mut out = Vec::new();
        write_header(&mut out, Version::V2, kind, "restricted/cards");
        if kind.has_wrapped_key() {
            write_wrapped_key(&mut out, 7, &[1; NONCE_LEN], &[2; WRAPPED_KEY_LEN]);
        }
        if kind.has_field() {
            out.extend_from_slice(&[3; NONCE_LEN]);
            out.extend_from_slice(b"ciphertext");
            out.extend_from_slice(&[4; TAG_LEN]);
        }
        out
    }

    #[test]
    fn parses_what_it_writes() {
        let bytes = sample(Kind::Value);
        let token = Token::parse(&bytes, Kind::Value).unwrap();
        assert_eq!(token.version, Version::V2);
        assert_eq!(token.tier, "restricted/cards");
        let key = token.wrapped_key.unwrap();
        assert_eq!(key.key_version, 7);
        assert_eq!(key.offset, header_len("restricted/cards"));
        let field = token.field.unwrap();
        assert_eq!(field.ciphertext, b"ciphertext");
        assert_eq!(field.tag, &[4; TAG_LEN]);
    }

    #[test]
    fn a_version_3_field_names_its_slot_not_its_tier() {
        let mut bytes = Vec::new();
        write_slot_header(&mut bytes, Version::V3, Kind::RecordField, 2);
        bytes.extend_from_slice(&[3; NONCE_LEN]);
        bytes.extend_from_slice(b"ciphertext");
        bytes.extend_from_slice(&[4; TAG_LEN]);
        assert_eq!(bytes.len(), FIELD_HEADER_V3_LEN + NONCE_LEN + 10 + TAG_LEN);
        let token = Token::parse(&bytes, Kind::RecordField).unwrap();
        assert_eq!(
            (token.version, token.slot, token.tier),
            (Version::V3, Some(2), "")
        );
        assert_eq!(token.field.unwrap().ciphertext, b"ciphertext");
        for len in 0..FIELD_HEADER_V3_LEN + NONCE_LEN + TAG_LEN {
            assert!(
                Token::parse(&bytes[..len], Kind::RecordField).is_err(),
                "len {len}"
            );
        }
        // Record keys and values keep the tier name in version 3.
        let mut key = Vec::new();
        write_header(&mut key, Version::V3, Kind::RecordKey, "internal");
        write_wrapped_key(&mut key, 1, &[1; NONCE_LEN], &[2; WRAPPED_KEY_LEN]);
        let token = Token::parse(&key, Kind::RecordKey).unwrap();
        assert_eq!((token.tier, token.slot), ("internal", None));
    }

    #[test]
    fn versions_1_and_2_hold_kinds_1_to_3_and_version_3_all_five() {
        let mut public = Vec::new();
        write_header(&mut public, Version::V3, Kind::PublicRecordKey, "internal");
        public.push(crate::HpkeSuite::X25519.id());
        public.extend_from_slice(&1u32.to_be_bytes());
        public.extend_from_slice(&[5; 32]);
        public.extend_from_slice(&[6; WRAPPED_KEY_LEN]);
        let token = Token::parse(&public, Kind::RecordKey).unwrap();
        assert_eq!(token.key_version(), Some(1));
        assert!(token.wrapped_key.is_none());
        for version in [Version::V1, Version::V2] {
            let mut old = public.clone();
            set_version(&mut old, version);
            assert!(matches!(
                Token::parse(&old, Kind::RecordKey),
                Err(Error::Malformed { .. })
            ));
        }
        for kind in [Kind::Value, Kind::RecordKey, Kind::RecordField] {
            for version in [Version::V1, Version::V2, Version::V3] {
                if version == Version::V3 && kind == Kind::RecordField {
                    continue; // a version-3 field has its own header
                }
                let mut bytes = sample(kind);
                set_version(&mut bytes, version);
                assert!(Token::parse(&bytes, kind).is_ok(), "{version:?} {kind:?}");
            }
        }
    }

    #[test]
    fn a_packed_part_is_version_4_only_and_names_its_slot() {
        let mut bytes = Vec::new();
        write_slot_header(&mut bytes, Version::V4, Kind::PackedPart, 1);
        bytes.extend_from_slice(&[3; NONCE_LEN]);
        bytes.extend_from_slice(b"ciphertext");
        bytes.extend_from_slice(&[4; TAG_LEN]);
        let token = Token::parse(&bytes, Kind::PackedPart).unwrap();
        assert_eq!(
            (token.version, token.slot, token.tier),
            (Version::V4, Some(1), "")
        );
        assert_eq!(token.field.unwrap().ciphertext, b"ciphertext");
        // Under any other version it is malformed, never parsed as a part.
        for version in [Version::V1, Version::V2, Version::V3] {
            let mut old = bytes.clone();
            set_version(&mut old, version);
            assert!(matches!(
                Token::parse(&old, Kind::PackedPart),
                Err(Error::Malformed { .. })
            ));
        }
        // A part is not a field, nor the reverse.
        assert!(matches!(
            Token::parse(&bytes, Kind::RecordField),
            Err(Error::Malformed { .. })
        ));
        let mut field = bytes.clone();
        field[1] = Kind::RecordField as u8;
        assert!(Token::parse(&field, Kind::PackedPart).is_err());
        assert!(Token::parse(&field, Kind::RecordField).is_ok());
        for len in 0..FIELD_HEADER_V3_LEN + NONCE_LEN + TAG_LEN {
            assert!(
                Token::parse(&bytes[..len], Kind::PackedPart).is_err(),
                "{len}"
            );
        }
        // Version 4 keeps version 3's layouts for every other kind.
        for kind in [Kind::Value, Kind::RecordKey] {
            let mut v4 = sample(kind);
            set_version(&mut v4, Version::V4);
            assert_eq!(Token::parse(&v4, kind).unwrap().tier, "restricted/cards");
        }
    }

    #[test]
    fn part_plaintexts_split_into_exactly_their_entries() {
        let mut plaintext = Vec::new();
        push_part_entry(&mut plaintext, b"abc");
        push_part_entry(&mut plaintext, &[7; 200]);
        push_part_entry(&mut plaintext, b"");
        assert_eq!(
            plaintext.len(),
            1 + 3 + part_entry_prefix_len(200) + 200 + part_entry_prefix_len(0)
        );
        assert_eq!(part_entry_prefix_len(200), 2);
        let mut ranges = vec![0..0; 3];
        split_part_plaintext(&plaintext, &mut ranges).unwrap();
        assert_eq!(ranges, [1..4, 6..206, 207..207]);
        for len in [0, 1, 127, 128, 300, 16_383, 16_384, usize::MAX] {
            let mut prefix = vec![0; part_entry_prefix_len(len)];
            put_part_entry_prefix(&mut prefix, len);
            let mut pushed = Vec::new();
            push_varint(&mut pushed, len);
            assert_eq!(prefix, pushed, "{len}");
        }
        let malformed = |bytes: &[u8], count: usize| {
            let mut ranges = vec![0..0; count];
            matches!(
                split_part_plaintext(bytes, &mut ranges),
                Err(Error::Malformed { .. })
            )
        };
        // Too few entries, too many, trailing bytes, a cut entry.
        assert!(malformed(&plaintext, 4));
        assert!(malformed(&plaintext, 2));
        let mut trailing = plaintext.clone();
        trailing.push(0);
        assert!(malformed(&trailing, 3));
        for len in 0..plaintext.len() - 1 {
            assert!(malformed(&plaintext[..len], 3), "{len}");
        }
        // Lengths: not minimal, or beyond any buffer.
        assert!(malformed(&[0x83, 0x00, 1, 2, 3], 1));
        assert!(malformed(&[0xff; 11], 1));
        assert!(malformed(
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
            1
        ));
        assert!(malformed(&[0x80, 0x01], 0));
        let mut long = vec![0x80, 0x01];
        long.extend_from_slice(&[9; 128]);
        let mut one = vec![0..0; 1];
        split_part_plaintext(&long, &mut one).unwrap();
        assert_eq!(one.first(), Some(&(2..130)));
        split_part_plaintext(&[], &mut []).unwrap();
    }

    #[test]
    fn part_aads_bind_the_entry_list_and_differ_from_field_aads() {
        let binding = Binding::new("T", "").with_record_id("r");
        let aad = |entries: &[(Role, &str)]| {
            let mut buf = Vec::new();
            part_aad_prefix(&mut buf, &binding);
            part_aad_suffix(&mut buf, "internal", entries.iter().copied());
            buf
        };
        let both = aad(&[(Role::Value, "a"), (Role::Value, "b")]);
        assert_eq!(&both[..2], b"P\x04");
        assert_ne!(both, aad(&[(Role::Value, "b"), (Role::Value, "a")]));
        assert_ne!(both, aad(&[(Role::Value, "a")]));
        assert_ne!(both, aad(&[(Role::Value, "ab")]));
        assert_ne!(both, aad(&[(Role::Value, "a"), (Role::Mask, "b")]));
        // The field prefix turns into the part prefix of the same record,
        // and only from version 4.
        let mut field = Vec::new();
        field_aad_prefix(&mut field, Version::V4, &binding);
        let mut part = Vec::new();
        part_aad_prefix(&mut part, &binding);
        assert_ne!(field, part);
        let original = field.clone();
        set_prefix_domain(&mut field, true).unwrap();
        assert_eq!(field, part);
        set_prefix_domain(&mut field, false).unwrap();
        assert_eq!(field, original);
        let mut v3 = Vec::new();
        field_aad_prefix(&mut v3, Version::V3, &binding);
        assert!(set_prefix_domain(&mut v3, true).is_err());
    }

    #[test]
    fn every_truncation_is_an_error() {
        for kind in [Kind::Value, Kind::RecordKey, Kind::RecordField] {
            let bytes = sample(kind);
            let min_valid = if kind.has_field() {
                bytes.len() - b"ciphertext".len()
            } else {
                bytes.len()
            };
            for len in 0..min_valid {
                assert!(
                    Token::parse(&bytes[..len], kind).is_err(),
                    "{kind:?} len {len}"
                );
            }
        }
    }

    #[test]
    fn rejects_wrong_version_kind_and_trailing_bytes() {
        let mut bytes = sample(Kind::RecordKey);
        assert!(matches!(
            Token::parse(&bytes, Kind::Value),
            Err(Error::Malformed { .. })
        ));
        bytes.push(0);
        assert!(matches!(
            Token::parse(&bytes, Kind::RecordKey),
            Err(Error::Malformed { .. })
        ));
        bytes.pop();
        for version in [0, 5, 0xff] {
            bytes[0] = version;
            assert!(matches!(
                Token::parse(&bytes, Kind::RecordKey),
                Err(Error::UnsupportedFormat { version: v }) if v == version
            ));
        }
        bytes[0] = 1;
        assert_eq!(
            Token::parse(&bytes, Kind::RecordKey).unwrap().version,
            Version::V1
        );
    }

    #[test]
    fn text_lengths_are_varints() {
        let mut buf = Vec::new();
        push_text(&mut buf, "abc");
        assert_eq!(buf, [3, b'a', b'b', b'c']);
        buf.clear();
        push_text(&mut buf, &"x".repeat(300));
        assert_eq!(&buf[..2], [0xAC, 0x02]);
        assert_eq!(buf.len(), 302);
    }

    #[test]
    fn field_aad_is_unambiguous() {
        for version in [Version::V1, Version::V2] {
            let aad = |binding: Binding<'_>| {
                let mut buf = Vec::new();
                field_aad(&mut buf, version, "internal", &binding).unwrap();
                buf
            };
            assert_ne!(aad(Binding::new("ab", "c")), aad(Binding::new("a", "bc")));
            assert_ne!(
                aad(Binding::new("T", "f")),
                aad(Binding::new("T", "f").with_record_id(""))
            );
        }
    }

    #[test]
    fn versions_and_roles_never_share_an_aad() {
        let binding = Binding::new("T", "");
        let suffix = |version, role| {
            let mut buf = Vec::new();
            field_aad_prefix(&mut buf, version, &binding);
            field_aad_suffix(&mut buf, version, "internal", role, "f").map(|()| buf)
        };
        let v1 = suffix(Version::V1, Role::Value).unwrap();
        let v2 = suffix(Version::V2, Role::Value).unwrap();
        let mask = suffix(Version::V2, Role::Mask).unwrap();
        assert_ne!(v1, v2);
        assert_ne!(v2, mask);
        assert!(matches!(
            suffix(Version::V1, Role::Mask),
            Err(Error::Malformed { .. })
        ));
        assert_ne!(
            DataKeyAad::new(Version::V1, "internal", 1).as_bytes(),
            DataKeyAad::new(Version::V2, "internal", 1).as_bytes()
        );
    }
}
