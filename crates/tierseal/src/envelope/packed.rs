//! Packed records: every field of one tier sealed in one AES-GCM message.
//!
//! A type that derives `Classified` with `#[classified(packed)]` stores one
//! [`PackedPart`] per tier it uses instead of one token per field, under the
//! same record keys as the default mode, so a record costs one AEAD call
//! per tier. The type's *layout* ([`PartLayout`]) lists each part's tier
//! and its entries: the value of every field of that tier, and in the
//! `internal` part also the mask of every masked field (masks are sealed at
//! `internal`, as in the default mode). Entries are in ascending byte order
//! of field id, a field's value before its mask, so that reordering the
//! struct's fields changes nothing stored.
//!
//! A part's AAD binds what a field's binds (type id, path, record id or its
//! absence, tier, format version) and the exact list of its entries, in
//! order: a part opens only as the part of that tier, of that record, with
//! exactly those fields. Its plaintext is each entry's postcard encoding
//! prefixed with its length, in the list's order (docs/FORMAT.md, "Packed
//! parts").
//!
//! Opening one field decrypts its whole part, once per opener, into a
//! buffer that is wiped when the [`PackedOpener`] drops; fields are decoded
//! from it one at a time, each recorded in the audit event as in the
//! default mode (revealed, withheld or failed), in the order they are
//! opened.

use std::fmt;
use std::ops::Range;

use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::{Zeroize, Zeroizing};

use super::format::{self, Kind, Role, Version};
use super::record::slot_byte;
use super::{FIELD_OVERHEAD, PackedPart, RecordOpener, RecordSealer};
use crate::crypto;
use crate::{Error, Tier};

/// One entry of a packed part: the value of a field, or the mask of a
/// masked field (in the `internal` part only), named by stable field id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackedEntry<'l> {
    field: &'l str,
    role: Role,
}

impl<'l> PackedEntry<'l> {
    /// The value of field `field`.
    pub const fn value(field: &'l str) -> PackedEntry<'l> {
        PackedEntry {
            field,
            role: Role::Value,
        }
    }

    /// The mask of field `field` (what a reader without the field's tier
    /// is shown).
    pub const fn mask(field: &'l str) -> PackedEntry<'l> {
        PackedEntry {
            field,
            role: Role::Mask,
        }
    }

    /// The stable field id.
    pub const fn field(&self) -> &'l str {
        self.field
    }

    /// Whether this is a mask.
    pub const fn is_mask(&self) -> bool {
        matches!(self.role, Role::Mask)
    }

    /// The order of entries in a part: field id bytes, then value before
    /// mask.
    fn key(&self) -> (&'l [u8], u8) {
        (self.field.as_bytes(), self.role as u8)
    }
}

/// One tier part of a packed record type: the tier, and the part's entries
/// in ascending byte order of field id (a field's value before its mask).
#[derive(Clone, Copy, Debug)]
pub struct PartLayout<'l> {
    tier: &'l Tier,
    entries: &'l [PackedEntry<'l>],
}

impl<'l> PartLayout<'l> {
    /// The part of `tier` holding `entries`.
    pub const fn new(tier: &'l Tier, entries: &'l [PackedEntry<'l>]) -> PartLayout<'l> {
        PartLayout { tier, entries }
    }

    /// The part's tier.
    pub const fn tier(&self) -> &'l Tier {
        self.tier
    }

    /// The part's entries.
    pub const fn entries(&self) -> &'l [PackedEntry<'l>] {
        self.entries
    }
}

fn layout_error(reason: &'static str) -> Error {
    Error::InvalidParameter {
        what: "packed layout",
        reason,
    }
}

/// Checks a record layout: one part per tier, each with at least one
/// entry, entries strictly ascending, masks only in the `internal` part.
fn check_layout(parts: &[PartLayout<'_>]) -> Result<(), Error> {
    for (index, part) in parts.iter().enumerate() {
        if parts
            .iter()
            .take(index)
            .any(|other| other.tier == part.tier)
        {
            return Err(layout_error("two parts of one tier"));
        }
        if part.entries.is_empty() {
            return Err(layout_error("a packed part holds at least one entry"));
        }
        if part
            .entries
            .windows(2)
            .any(|pair| matches!(pair, [a, b] if a.key() >= b.key()))
        {
            return Err(layout_error(
                "entries must be in ascending field-id order, a value before its mask, none twice",
            ));
        }
        if *part.tier != Tier::INTERNAL && part.entries.iter().any(PackedEntry::is_mask) {
            return Err(layout_error("masks are sealed in the internal part"));
        }
    }
    Ok(())
}

/// Where each part's entries start in a flat list of every entry.
fn first_entries<const N: usize>(parts: &[PartLayout<'_>; N]) -> ([usize; N], usize) {
    let mut firsts = [0; N];
    let mut total = 0;
    for (first, part) in firsts.iter_mut().zip(parts) {
        *first = total;
        total += part.entries.len();
    }
    (firsts, total)
}

/// The room the encodings of a record usually take; a larger record
/// replaces the buffer (wiping the old one).
const SCRATCH_START: usize = 512;

impl<'a> RecordSealer<'a> {
    /// Starts sealing the packed parts of this record, one per entry of
    /// `parts`. Push every entry's value ([`PackedSealer::value`]) or mask
    /// ([`PackedSealer::mask`]), in any order, then
    /// [`finish`](PackedSealer::finish) to get the parts; the record's keys
    /// come from [`finish`](Self::finish) as usual.
    ///
    /// ```
    /// use tierseal::{AccessContext, Binding, Clearance, KdfProfile, Keystore, Level, PackedEntry, PartLayout, RecordOpener, RecordSealer, Tier};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let keystore = Keystore::create(dir.path().join("k"), &"pw".into(), KdfProfile::Test)?;
    /// let keyring = keystore.keyring(&Clearance::up_to(Level::Restricted))?;
    /// // Entries in ascending order of field id.
    /// const ENTRIES: &[PackedEntry<'static>] = &[PackedEntry::value("balance"), PackedEntry::value("name")];
    /// let tier = Tier::CONFIDENTIAL;
    /// let layout = [PartLayout::new(&tier, ENTRIES)];
    ///
    /// let binding = Binding::new("Customer", "").with_record_id("cus_042");
    /// let mut sealer = RecordSealer::new(&keyring, binding);
    /// let mut packer = sealer.pack(&layout)?;
    /// packer.value(0, 1, "Ada Lovelace")?;
    /// packer.value(0, 0, &1_250_00_i64)?;
    /// let [part] = packer.finish()?;
    /// let keys = sealer.finish();
    ///
    /// let ctx = AccessContext::new("statements").with_purpose("monthly statement");
    /// let mut opener = RecordOpener::new(&keyring, &keys, binding, &ctx);
    /// let mut packed = opener.unpack(&layout, [&part])?;
    /// assert_eq!(packed.open::<String>(0, 1)?, "Ada Lovelace");
    /// assert_eq!(packed.open::<i64>(0, 0)?, 1_250_00);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a layout that breaks the rules of
    /// [`PartLayout`] (two parts of one tier, an empty part, entries out of
    /// order or repeated, a mask outside the `internal` part), or for a
    /// sealer of a format version before 4.
    pub fn pack<'s, 'l, const N: usize>(
        &'s mut self,
        parts: &'l [PartLayout<'l>; N],
    ) -> Result<PackedSealer<'s, 'a, 'l, N>, Error> {
        if self.version() != Version::V4 {
            return Err(Error::InvalidParameter {
                what: "record",
                reason: "packed parts are sealed by records of format version 4 only",
            });
        }
        check_layout(parts)?;
        let (firsts, total) = first_entries(parts);
        Ok(PackedSealer {
            sealer: self,
            parts,
            slots: [None; N],
            scratch: Zeroizing::new(Vec::with_capacity(SCRATCH_START)),
            ranges: vec![None; total],
            firsts,
        })
    }
}

/// Seals the packed parts of one record; made by [`RecordSealer::pack`].
///
/// Each tier's data key is created when the first entry of its part is
/// pushed, and each restricted field is noted for the seal's audit event
/// as it is pushed, as sealing it in the default mode would. The entries'
/// encodings wait in a buffer that is wiped when the sealer drops.
pub struct PackedSealer<'s, 'a, 'l, const N: usize> {
    sealer: &'s mut RecordSealer<'a>,
    parts: &'l [PartLayout<'l>; N],
    /// Each part's slot in the record sealer, once its data key exists.
    slots: [Option<usize>; N],
    /// The entries' encodings, in the order they were pushed. Plaintext:
    /// never reallocated in place (see `reserve`), wiped on drop.
    scratch: Zeroizing<Vec<u8>>,
    /// Where each entry's encoding lies in `scratch`: part `p`'s entry `e`
    /// at `firsts[p] + e`.
    ranges: Vec<Option<Range<usize>>>,
    firsts: [usize; N],
}

impl<const N: usize> PackedSealer<'_, '_, '_, N> {
    /// Pushes the value of entry `entry` of part `part` (indexes into the
    /// layout given to [`RecordSealer::pack`]).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when there is no such entry, it is a
    /// mask, or it was pushed already; [`Error::NotGranted`] when the
    /// keyring lacks the part's tier; [`Error::Encoding`] when `value`
    /// cannot be serialized (the sealer is then unusable).
    pub fn value<T: Serialize + ?Sized>(
        &mut self,
        part: usize,
        entry: usize,
        value: &T,
    ) -> Result<(), Error> {
        self.push(part, entry, Role::Value, value)
    }

    /// Pushes the mask of entry `entry` of part `part`, as [`value`](Self::value).
    ///
    /// # Errors
    /// As [`value`](Self::value), when the entry is not a mask.
    pub fn mask(&mut self, part: usize, entry: usize, mask: &str) -> Result<(), Error> {
        self.push(part, entry, Role::Mask, mask)
    }

    fn push<T: Serialize + ?Sized>(
        &mut self,
        part: usize,
        entry: usize,
        role: Role,
        value: &T,
    ) -> Result<(), Error> {
        let layout = self.parts.get(part).ok_or_else(no_such_entry)?;
        let field = layout
            .entries
            .get(entry)
            .filter(|e| e.role == role)
            .ok_or_else(no_such_entry)?
            .field;
        let index = self
            .firsts
            .get(part)
            .map_or(usize::MAX, |first| first + entry);
        if !matches!(self.ranges.get(index), Some(None)) {
            return Err(Error::InvalidParameter {
                what: "packed entry",
                reason: "pushed twice",
            });
        }
        let slot = match self.slots.get(part).copied().flatten() {
            Some(slot) => slot,
            None => {
                let slot = self.sealer.slot(layout.tier)?;
                if let Some(known) = self.slots.get_mut(part) {
                    *known = Some(slot);
                }
                slot
            }
        };
        let len = super::encoded_len(value)?;
        self.reserve(len)?;
        let start = self.scratch.len();
        if let Err(error) = super::append_encoded(value, len, &mut self.scratch) {
            // The buffer was wiped: what was pushed before is gone too.
            self.ranges.iter_mut().for_each(|range| *range = None);
            return Err(error);
        }
        if let Some(range) = self.ranges.get_mut(index) {
            *range = Some(start..start + len);
        }
        if role == Role::Value {
            let (_, key_version) = self.sealer.slot_key(slot)?;
            self.sealer.note_sealed(field, layout.tier, key_version);
        }
        Ok(())
    }

    /// Makes room for `additional` more bytes without leaving plaintext
    /// behind: a full buffer is replaced by a larger one, and wiped as it
    /// drops.
    fn reserve(&mut self, additional: usize) -> Result<(), Error> {
        if self.scratch.capacity() - self.scratch.len() >= additional {
            return Ok(());
        }
        let needed = self
            .scratch
            .len()
            .checked_add(additional)
            .ok_or_else(|| Error::malformed("a packed record is too large"))?;
        let mut larger = Zeroizing::new(Vec::with_capacity(
            needed.max(self.scratch.capacity().saturating_mul(2)),
        ));
        larger.extend_from_slice(&self.scratch);
        self.scratch = larger;
        Ok(())
    }

    /// Seals every part, in the layout's order.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when an entry was not pushed.
    pub fn finish(self) -> Result<[PackedPart; N], Error> {
        let mut aad = Vec::with_capacity(160);
        aad.extend_from_slice(self.sealer.aad_prefix());
        format::field_prefix_to_part_prefix(&mut aad)?;
        let prefix_len = aad.len();
        let mut sealed = Vec::with_capacity(N);
        for ((part, first), slot) in self.parts.iter().zip(self.firsts).zip(self.slots) {
            let ranges = self
                .ranges
                .get(first..first + part.entries.len())
                .unwrap_or_default();
            let mut plaintext_len = 0;
            for range in ranges {
                let range = range.as_ref().ok_or(Error::InvalidParameter {
                    what: "packed part",
                    reason: "finished before every entry was pushed",
                })?;
                plaintext_len += format::part_entry_len(range.len());
            }
            let slot = slot.ok_or_else(|| Error::malformed("a packed part without a data key"))?;
            let (cipher, _) = self.sealer.slot_key(slot)?;
            // Sized exactly: the plaintext is never left in a buffer freed
            // by reallocation.
            let mut out =
                Vec::with_capacity(format::FIELD_HEADER_V3_LEN + FIELD_OVERHEAD + plaintext_len);
            format::write_slot_header(&mut out, Version::V4, Kind::PackedPart, slot_byte(slot)?);
            let nonce = crypto::fresh_field_nonce();
            out.extend_from_slice(&nonce);
            let start = out.len();
            for range in ranges.iter().flatten() {
                let encoded = self
                    .scratch
                    .get(range.clone())
                    .ok_or_else(|| Error::malformed("a packed entry outside its buffer"))?;
                format::push_part_entry(&mut out, encoded);
            }
            aad.truncate(prefix_len);
            format::part_aad_suffix(
                &mut aad,
                part.tier.as_str(),
                part.entries.iter().map(|entry| (entry.role, entry.field)),
            );
            let plaintext = out.get_mut(start..).unwrap_or_default();
            let tag = match crypto::encrypt(cipher, &nonce, &aad, plaintext) {
                Ok(tag) => tag,
                Err(error) => {
                    out.zeroize();
                    return Err(error);
                }
            };
            out.extend_from_slice(&tag);
            sealed.push(PackedPart::from_valid_bytes(out));
        }
        sealed
            .try_into()
            .map_err(|_| Error::malformed("a packed layout changed its length"))
    }
}

fn no_such_entry() -> Error {
    Error::InvalidParameter {
        what: "packed entry",
        reason: "no entry of that kind at that place in the layout",
    }
}

impl<const N: usize> fmt::Debug for PackedSealer<'_, '_, '_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PackedSealer")
            .field("parts", &N)
            .field(
                "pushed",
                &self.ranges.iter().filter(|range| range.is_some()).count(),
            )
            .finish_non_exhaustive()
    }
}

impl<'a> RecordOpener<'a> {
    /// Prepares to open the packed parts `parts` of this record, laid out
    /// as `layout` (the layout they were sealed with). Nothing is
    /// decrypted yet: a part is opened, once, when the first of its
    /// entries is.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a layout that breaks the rules of
    /// [`PartLayout`].
    pub fn unpack<'o, 'l, const N: usize>(
        &'o mut self,
        layout: &'l [PartLayout<'l>; N],
        parts: [&'o PackedPart; N],
    ) -> Result<PackedOpener<'o, 'a, 'l, N>, Error> {
        check_layout(layout)?;
        Ok(PackedOpener {
            opener: self,
            layout,
            parts,
            opened: std::array::from_fn(|_| None),
            aad: Vec::new(),
            prefix_len: 0,
        })
    }
}

/// Opens the fields of a packed record's parts; made by
/// [`RecordOpener::unpack`].
///
/// Each part is authorized, decrypted and split into its entries the first
/// time one of its entries is opened; its plaintext stays in a buffer that
/// is wiped when this opener drops. Finish the [`RecordOpener`] afterwards,
/// as for fields.
pub struct PackedOpener<'o, 'a, 'l, const N: usize> {
    opener: &'o mut RecordOpener<'a>,
    layout: &'l [PartLayout<'l>; N],
    parts: [&'o PackedPart; N],
    opened: [Option<OpenedPart>; N],
    /// The parts' AAD prefix (built on first use), then the current
    /// part's suffix.
    aad: Vec<u8>,
    prefix_len: usize,
}

/// A decrypted part: its plaintext (wiped on drop) and where each entry's
/// encoding lies in it.
struct OpenedPart {
    plaintext: Zeroizing<Vec<u8>>,
    entries: Vec<Range<usize>>,
}

impl<'l, const N: usize> PackedOpener<'_, '_, 'l, N> {
    /// The tier of part `part`.
    pub fn tier(&self, part: usize) -> Option<&'l Tier> {
        self.layout.get(part).map(|layout| layout.tier)
    }

    /// Opens the value of entry `entry` of part `part`, recording the
    /// outcome in the record's audit event as opening a field does.
    ///
    /// # Errors
    /// As [`RecordOpener::open_field`]: [`Error::NotGranted`] when the
    /// keyring lacks the part's tier; [`Error::TierMismatch`] when the
    /// part's key slot names another tier; [`Error::Integrity`] when the
    /// part was altered, moved from another record, type, place or tier, or
    /// opened with another list of entries; [`Error::Malformed`] when its
    /// plaintext does not split into exactly its entries;
    /// [`Error::Encoding`] when the entry does not decode as `T`;
    /// [`Error::InvalidParameter`] when there is no such value entry.
    pub fn open<T: DeserializeOwned>(&mut self, part: usize, entry: usize) -> Result<T, Error> {
        let (tier, field) = self.entry(part, entry, Role::Value)?;
        let result = self
            .entry_bytes(part, entry)
            .and_then(super::owned::decode_slice);
        self.opener.note_opened(field, tier, &result);
        result
    }

    /// Opens the mask at entry `entry` of part `part` (the `internal`
    /// part). Not recorded as a field: a mask is shown in place of a
    /// withheld field, which is.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_mask(&mut self, part: usize, entry: usize) -> Result<String, Error> {
        self.entry(part, entry, Role::Mask)?;
        self.entry_bytes(part, entry)
            .and_then(super::owned::decode_slice)
    }

    fn entry(&self, part: usize, entry: usize, role: Role) -> Result<(&'l Tier, &'l str), Error> {
        let layout = self.layout.get(part).ok_or_else(no_such_entry)?;
        let entry = layout
            .entries
            .get(entry)
            .filter(|e| e.role == role)
            .ok_or_else(no_such_entry)?;
        Ok((layout.tier, entry.field))
    }

    /// The encoding of entry `entry` of part `part`, opening the part on
    /// first use.
    fn entry_bytes(&mut self, part: usize, entry: usize) -> Result<&[u8], Error> {
        self.open_part(part)?;
        let opened = self
            .opened
            .get(part)
            .and_then(Option::as_ref)
            .ok_or_else(no_such_entry)?;
        opened
            .entries
            .get(entry)
            .and_then(|range| opened.plaintext.get(range.clone()))
            .ok_or_else(no_such_entry)
    }

    fn open_part(&mut self, part: usize) -> Result<(), Error> {
        if matches!(self.opened.get(part), Some(Some(_))) {
            return Ok(());
        }
        let layout = self.layout.get(part).ok_or_else(no_such_entry)?;
        let token = self.parts.get(part).ok_or_else(no_such_entry)?.token();
        self.opener.authorize(layout.tier)?;
        let (Some(slot), Some(field)) = (token.slot, token.field) else {
            return Err(Error::malformed("a packed part without a key slot"));
        };
        let key_index = self.opener.key_index_of_slot(layout.tier, slot)?;
        if self.aad.is_empty() {
            format::part_aad_prefix(&mut self.aad, self.opener.binding());
            self.prefix_len = self.aad.len();
        }
        self.aad.truncate(self.prefix_len);
        format::part_aad_suffix(
            &mut self.aad,
            layout.tier.as_str(),
            layout.entries.iter().map(|entry| (entry.role, entry.field)),
        );
        let (cipher, tier, version) = self.opener.record_key(key_index)?;
        let mut plaintext = Zeroizing::new(Vec::new());
        super::decrypt_into(cipher, &self.aad, &field, &mut plaintext, (tier, version))?;
        let mut entries = Vec::with_capacity(layout.entries.len());
        format::split_part_plaintext(&plaintext, layout.entries.len(), &mut entries)?;
        if let Some(opened) = self.opened.get_mut(part) {
            *opened = Some(OpenedPart { plaintext, entries });
        }
        Ok(())
    }
}

impl<const N: usize> fmt::Debug for PackedOpener<'_, '_, '_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PackedOpener")
            .field("parts", &N)
            .field("opened", &self.opened.iter().flatten().count())
            .finish_non_exhaustive()
    }
}
