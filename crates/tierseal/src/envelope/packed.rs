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
//! A type's layout is checked, and each part's AAD suffix built, once
//! ([`PackedLayout`]). Sealing appends each entry, in the layout's order,
//! to its part's token, which is encrypted in place: the plaintext is never
//! copied, and a buffer that must grow is wiped before it is freed (the
//! layout remembers each part's last size, so records of one type rarely
//! grow one). Data keys are created in part order, which the derive makes
//! the order the struct's fields first use each tier, and restricted
//! fields are noted for the audit event in the struct's field order: both
//! as in the default mode. Opening one field decrypts its whole
//! part, once per opener, into a buffer that is wiped when the
//! [`PackedOpener`] drops; fields are decoded from it one at a time, each
//! recorded in the audit event as in the default mode (revealed, withheld
//! or failed), in the order they are opened.

use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroize;

use super::format::{self, Kind, Role, Version};
use super::record::slot_byte;
use super::{PackedPart, RecordOpener, RecordSealer};
use crate::crypto::{self, NONCE_LEN, TAG_LEN};
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

/// The checked layout of a packed record type: its `N` parts, each
/// part's AAD suffix (tier and entry list, built once), and a numbering of
/// every entry of every part. Build it once per type (the derive keeps it
/// in a `static`).
#[derive(Debug)]
pub struct PackedLayout<'l, const N: usize> {
    parts: [PartLayout<'l>; N],
    /// Each part's AAD after the record part: tier, entry count, entries.
    suffixes: [Vec<u8>; N],
    /// Where each part's entries start in a flat list of every entry.
    firsts: [usize; N],
    entries: usize,
    /// The value entries (part, entry) in the order seals note them for
    /// the audit event: the struct's field order; empty for layout order.
    field_order: &'l [(usize, usize)],
    /// Each part's token size in the last record sealed with this layout,
    /// to allocate the next one's at once.
    sizes: [AtomicUsize; N],
}

impl<'l, const N: usize> PackedLayout<'l, N> {
    /// Checks `parts`: one part per tier, each with at least one entry,
    /// entries in ascending byte order of field id (a field's value before
    /// its mask) and none twice, masks only in the `internal` part.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the rule broken.
    pub fn new(parts: [PartLayout<'l>; N]) -> Result<PackedLayout<'l, N>, Error> {
        check_layout(&parts)?;
        let suffixes = parts.each_ref().map(|part| {
            let mut suffix = Vec::new();
            format::part_aad_suffix(
                &mut suffix,
                part.tier.as_str(),
                part.entries.iter().map(|entry| (entry.role, entry.field)),
            );
            suffix
        });
        let mut firsts = [0; N];
        let mut entries = 0;
        for (first, part) in firsts.iter_mut().zip(&parts) {
            *first = entries;
            entries += part.entries.len();
        }
        let sizes = parts
            .each_ref()
            .map(|part| AtomicUsize::new(PART_OVERHEAD + ENTRY_GUESS * part.entries.len()));
        Ok(PackedLayout {
            parts,
            suffixes,
            firsts,
            entries,
            field_order: &[],
            sizes,
        })
    }

    /// The same layout, noting sealed restricted fields for the audit event
    /// in `order` (every value entry once, as `(part, entry)`: the struct's
    /// field order) instead of the layout's order.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when `order` is not every value entry
    /// exactly once.
    pub fn with_field_order(
        mut self,
        order: &'l [(usize, usize)],
    ) -> Result<PackedLayout<'l, N>, Error> {
        let values = self
            .parts
            .iter()
            .map(|part| part.entries.iter().filter(|e| !e.is_mask()).count())
            .sum::<usize>();
        let every = order.len() == values
            && order.iter().enumerate().all(|(at, &(part, entry))| {
                self.entry(part, entry, Some(Role::Value)).is_ok()
                    && !order.iter().take(at).any(|seen| *seen == (part, entry))
            });
        if !every {
            return Err(layout_error(
                "the field order must name every value entry once",
            ));
        }
        self.field_order = order;
        Ok(self)
    }

    /// The parts.
    pub fn parts(&self) -> &[PartLayout<'l>; N] {
        &self.parts
    }

    /// Part `part`, its entry `entry` (of `role`) and that entry's number
    /// among every entry.
    #[inline]
    fn entry(
        &self,
        part: usize,
        entry: usize,
        role: Option<Role>,
    ) -> Result<(&PartLayout<'l>, &PackedEntry<'l>, usize), Error> {
        let layout = self.parts.get(part).ok_or_else(no_such_entry)?;
        let found = layout
            .entries
            .get(entry)
            .filter(|e| role.is_none_or(|role| e.role == role))
            .ok_or_else(no_such_entry)?;
        let first = self.firsts.get(part).copied().unwrap_or_default();
        Ok((layout, found, first + entry))
    }

    /// The entry numbers of part `part`.
    fn numbers(&self, part: usize) -> Range<usize> {
        let first = self.firsts.get(part).copied().unwrap_or_default();
        let count = self.parts.get(part).map_or(0, |p| p.entries.len());
        first..first + count
    }

    fn suffix(&self, part: usize) -> &[u8] {
        self.suffixes.get(part).map_or(&[], Vec::as_slice)
    }
}

fn no_such_entry() -> Error {
    Error::InvalidParameter {
        what: "packed entry",
        reason: "no entry of that kind at that place in the layout",
    }
}

/// A part's bytes beyond its entries: header, nonce, tag.
const PART_OVERHEAD: usize = format::FIELD_HEADER_V3_LEN + NONCE_LEN + TAG_LEN;

/// The room a first record's part allocates per entry.
const ENTRY_GUESS: usize = 32;

/// Where a part's plaintext starts in its token: after the header and
/// the nonce.
const PLAINTEXT_START: usize = format::FIELD_HEADER_V3_LEN + NONCE_LEN;

impl<'a> RecordSealer<'a> {
    /// Starts sealing the packed parts of this record, laid out as
    /// `layout`. Push every entry's value ([`value`](PackedSealer::value))
    /// or mask ([`mask`](PackedSealer::mask)) in the layout's order (part
    /// by part, entry by entry), then [`finish`](PackedSealer::finish) to
    /// get the parts; the record's keys come from [`finish`](Self::finish)
    /// as usual.
    ///
    /// ```
    /// use tierseal::{AccessContext, Binding, Clearance, KdfProfile, Keystore, Level, PackedEntry, PackedLayout, PartLayout, RecordOpener, RecordSealer, Tier};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let keystore = Keystore::create(dir.path().join("k"), &"pw".into(), KdfProfile::Test)?;
    /// let keyring = keystore.keyring(&Clearance::up_to(Level::Restricted))?;
    /// // Entries in ascending order of field id.
    /// const ENTRIES: &[PackedEntry<'static>] = &[PackedEntry::value("balance"), PackedEntry::value("name")];
    /// let tier = Tier::CONFIDENTIAL;
    /// let layout = PackedLayout::new([PartLayout::new(&tier, ENTRIES)])?;
    ///
    /// let binding = Binding::new("Customer", "").with_record_id("cus_042");
    /// let mut sealer = RecordSealer::new(&keyring, binding);
    /// let mut packer = sealer.pack(&layout)?;
    /// packer.value(0, 0, &1_250_00_i64)?;
    /// packer.value(0, 1, "Ada Lovelace")?;
    /// let [part] = packer.finish()?;
    /// let keys = sealer.finish();
    ///
    /// let ctx = AccessContext::new("statements").with_purpose("monthly statement");
    /// let mut opener = RecordOpener::new(&keyring, &keys, binding, &ctx);
    /// let mut packed = opener.unpack(&layout, [&part]);
    /// assert_eq!(packed.open::<String>(0, 1)?, "Ada Lovelace");
    /// assert_eq!(packed.open::<i64>(0, 0)?, 1_250_00);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a sealer of a format version before
    /// 4.
    pub fn pack<'s, 'l, const N: usize>(
        &'s mut self,
        layout: &'l PackedLayout<'l, N>,
    ) -> Result<PackedSealer<'s, 'a, 'l, N>, Error> {
        if self.version() != Version::V4 {
            return Err(Error::InvalidParameter {
                what: "record",
                reason: "packed parts are sealed by records of format version 4 only",
            });
        }
        let tiers: [&Tier; N] = layout.parts.each_ref().map(|part| part.tier);
        self.prepare(&tiers)?;
        Ok(PackedSealer {
            sealer: self,
            layout,
            next: (0, 0),
            failed: false,
            slots: [None; N],
            outs: std::array::from_fn(|_| Vec::new()),
        })
    }
}

/// Seals the packed parts of one record; made by [`RecordSealer::pack`].
///
/// Entries are pushed in the layout's order and appended to their part's
/// token. The parts' data keys are created together when the sealer is
/// made ([`RecordSealer::prepare`]; a layout of one tier creates its key
/// with the first entry). The parts
/// hold plaintext until [`finish`](Self::finish) encrypts them, and are
/// wiped if the sealer drops before.
///
/// A push that fails after its checks (its value cannot be encoded, or
/// encodes to another length the second time; the part's data key cannot
/// be made) spends the sealer: the parts are wiped at once, and every
/// later push and [`finish`](Self::finish) fail with
/// [`Error::InvalidParameter`]. Seal the record again from the start. A
/// push refused by its checks (out of order, a mask where a value is due)
/// changes nothing.
pub struct PackedSealer<'s, 'a, 'l, const N: usize> {
    sealer: &'s mut RecordSealer<'a>,
    layout: &'l PackedLayout<'l, N>,
    /// The entry to push next: part and entry.
    next: (usize, usize),
    /// Set when a push failed part-way: the parts were wiped and the
    /// sealer refuses everything after.
    failed: bool,
    /// Each part's slot in the record sealer, once its data key exists.
    slots: [Option<usize>; N],
    /// Each part's token: header, room for the nonce, the entries so far;
    /// the tag is appended when it is encrypted.
    outs: [Vec<u8>; N],
}

impl<const N: usize> PackedSealer<'_, '_, '_, N> {
    /// Pushes the value of entry `entry` of part `part` (indexes into the
    /// layout), the next one in the layout's order.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when it is not the next entry, or is a
    /// mask, or an earlier push failed; [`Error::NotGranted`] when the
    /// keyring lacks the part's tier; [`Error::Encoding`] when `value`
    /// cannot be serialized. After an error other than
    /// `InvalidParameter`, the sealer is spent (see [`PackedSealer`]).
    #[inline]
    pub fn value<T: Serialize + ?Sized>(
        &mut self,
        part: usize,
        entry: usize,
        value: &T,
    ) -> Result<(), Error> {
        self.push(part, entry, Role::Value, value)
    }

    /// Pushes the mask of entry `entry` of part `part`, as
    /// [`value`](Self::value).
    ///
    /// # Errors
    /// As [`value`](Self::value), when the entry is not a mask.
    pub fn mask(&mut self, part: usize, entry: usize, mask: &str) -> Result<(), Error> {
        self.push(part, entry, Role::Mask, mask)
    }

    #[inline]
    fn push<T: Serialize + ?Sized>(
        &mut self,
        part: usize,
        entry: usize,
        role: Role,
        value: &T,
    ) -> Result<(), Error> {
        self.refuse_if_failed()?;
        if self.next != (part, entry) {
            return Err(Error::InvalidParameter {
                what: "packed entry",
                reason: "entries are pushed once each, in the layout's order",
            });
        }
        let (layout, _, _) = self.layout.entry(part, entry, Some(role))?;
        let entries = layout.entries.len();
        let appended = self.append(part, entry, value);
        if appended.is_err() {
            self.fail();
        }
        appended?;
        self.next = if entry + 1 < entries {
            (part, entry + 1)
        } else {
            (part + 1, 0)
        };
        Ok(())
    }

    /// Appends entry `entry` of part `part`, starting the part at its
    /// first entry. On failure the part may be left part-written: the
    /// caller spends the sealer.
    #[inline]
    fn append<T: Serialize + ?Sized>(
        &mut self,
        part: usize,
        entry: usize,
        value: &T,
    ) -> Result<(), Error> {
        if entry == 0 {
            self.start(part)?;
        }
        let len = super::encoded_len(value)?;
        let out = self
            .outs
            .get_mut(part)
            .ok_or_else(|| Error::malformed("a packed entry outside its part"))?;
        let prefix = format::part_entry_prefix_len(len);
        reserve_wiping(out, prefix + len + TAG_LEN);
        let at = out.len();
        out.resize(at + prefix, 0);
        if let Some(head) = out.get_mut(at..) {
            format::put_part_entry_prefix(head, len);
        }
        super::append_encoded(value, len, out)
    }

    /// Spends the sealer after a failed push: wipes every part at once.
    fn fail(&mut self) {
        self.failed = true;
        for out in &mut self.outs {
            // Wipes the spare capacity too, and frees the allocation.
            std::mem::take(out).zeroize();
        }
    }

    fn refuse_if_failed(&self) -> Result<(), Error> {
        if self.failed {
            return Err(Error::InvalidParameter {
                what: "packed part",
                reason: "an earlier entry failed to seal: seal the record again from the start",
            });
        }
        Ok(())
    }

    /// Creates part `part`'s data key and starts its token, as large as
    /// this part was in the last record of the layout.
    fn start(&mut self, part: usize) -> Result<(), Error> {
        let tier = self.layout.parts.get(part).ok_or_else(no_such_entry)?.tier;
        let slot = self.sealer.slot(tier)?;
        if let Some(known) = self.slots.get_mut(part) {
            *known = Some(slot);
        }
        let size = self
            .layout
            .sizes
            .get(part)
            .map_or(PART_OVERHEAD, |size| size.load(Ordering::Relaxed));
        let mut out = Vec::with_capacity(size.max(PART_OVERHEAD));
        format::write_slot_header(&mut out, Version::V4, Kind::PackedPart, slot_byte(slot)?);
        out.resize(PLAINTEXT_START, 0);
        if let Some(known) = self.outs.get_mut(part) {
            *known = out;
        }
        Ok(())
    }

    /// Encrypts every part, in the layout's order, and notes the record's
    /// restricted fields for the seal's audit event.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when an entry was not pushed.
    pub fn finish(mut self) -> Result<[PackedPart; N], Error> {
        self.refuse_if_failed()?;
        if self.next != (N, 0) {
            return Err(Error::InvalidParameter {
                what: "packed part",
                reason: "finished before every entry was pushed",
            });
        }
        self.note_sealed()?;
        for (part, (out, slot)) in self.outs.iter_mut().zip(self.slots).enumerate() {
            let slot = slot.ok_or_else(|| Error::malformed("a packed part without a data key"))?;
            let nonce = crypto::fresh_field_nonce();
            if out.len() < PLAINTEXT_START {
                return Err(Error::malformed("a packed part without its header"));
            }
            let (header, plaintext) = out.split_at_mut(PLAINTEXT_START);
            header
                .get_mut(format::FIELD_HEADER_V3_LEN..)
                .ok_or_else(|| Error::malformed("a packed part without a nonce"))?
                .copy_from_slice(&nonce);
            let tag =
                self.sealer
                    .encrypt_part(slot, self.layout.suffix(part), &nonce, plaintext)?;
            out.extend_from_slice(&tag);
            if let Some(size) = self.layout.sizes.get(part) {
                size.store(out.len(), Ordering::Relaxed);
            }
        }
        // One parse per part (not per field): a part this sealer wrote
        // wrongly is an error here, never a token stored and unreadable.
        for out in &self.outs {
            format::Token::parse(out, Kind::PackedPart)?;
        }
        let outs = std::mem::replace(&mut self.outs, std::array::from_fn(|_| Vec::new()));
        Ok(outs.map(PackedPart::from_valid_bytes))
    }

    /// Notes each value entry as a sealed field (the record sealer keeps
    /// restricted ones), in the layout's field order.
    fn note_sealed(&mut self) -> Result<(), Error> {
        let layout: &PackedLayout<'_, N> = self.layout;
        let mut note = |part: usize, entry: usize| -> Result<(), Error> {
            let (part_layout, found, _) = layout.entry(part, entry, None)?;
            if found.is_mask() {
                return Ok(());
            }
            let slot = self
                .slots
                .get(part)
                .copied()
                .flatten()
                .ok_or_else(no_such_entry)?;
            let (_, key_version) = self.sealer.slot_key(slot)?;
            self.sealer
                .note_sealed(found.field, part_layout.tier, key_version);
            Ok(())
        };
        if layout.field_order.is_empty() {
            for (part, part_layout) in layout.parts.iter().enumerate() {
                for entry in 0..part_layout.entries.len() {
                    note(part, entry)?;
                }
            }
        } else {
            for &(part, entry) in layout.field_order {
                note(part, entry)?;
            }
        }
        Ok(())
    }
}

/// Makes room for `additional` more bytes in `out`, which holds
/// plaintext: a full buffer is replaced by a larger one, and wiped before
/// it is freed.
fn reserve_wiping(out: &mut Vec<u8>, additional: usize) {
    if out.capacity() - out.len() >= additional {
        return;
    }
    let mut larger = Vec::with_capacity((out.len() + additional).max(out.capacity() * 2));
    larger.extend_from_slice(out);
    out.as_mut_slice().zeroize();
    *out = larger;
}

impl<const N: usize> Drop for PackedSealer<'_, '_, '_, N> {
    /// Wipes parts that were written and not encrypted (a sealer dropped
    /// on an error); a finished sealer holds none.
    fn drop(&mut self) {
        // A part handed out is an empty vector without an allocation:
        // wiping it would zero-fill nothing at a dangling address, which
        // costs a microcode assist (see `plaintext.rs`).
        for out in self.outs.iter_mut().filter(|out| out.capacity() != 0) {
            out.as_mut_slice().zeroize();
        }
    }
}

impl<const N: usize> fmt::Debug for PackedSealer<'_, '_, '_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PackedSealer")
            .field("parts", &N)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl<'a> RecordOpener<'a> {
    /// Prepares to open the packed parts `parts` of this record, sealed
    /// with `layout`. Nothing is decrypted yet: a part is opened, once,
    /// when the first of its entries is.
    pub fn unpack<'o, 'l, const N: usize>(
        &'o mut self,
        layout: &'l PackedLayout<'l, N>,
        parts: [&'o PackedPart; N],
    ) -> PackedOpener<'o, 'a, 'l, N> {
        PackedOpener {
            opener: self,
            layout,
            parts,
            opened: std::array::from_fn(|_| None),
            ranges: Vec::new(),
        }
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
    layout: &'l PackedLayout<'l, N>,
    parts: [&'o PackedPart; N],
    opened: [Option<super::PlaintextBuf>; N],
    /// Where each entry's encoding lies in its part's plaintext, numbered
    /// as the layout numbers entries (allocated when a part is opened).
    ranges: Vec<Range<usize>>,
}

impl<'l, const N: usize> PackedOpener<'_, '_, 'l, N> {
    /// The tier of part `part`.
    pub fn tier(&self, part: usize) -> Option<&'l Tier> {
        self.layout.parts.get(part).map(|layout| layout.tier)
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
        let layout: &'l PackedLayout<'l, N> = self.layout;
        let (part_layout, found, number) = layout.entry(part, entry, Some(Role::Value))?;
        let result = self
            .entry_bytes(part, number)
            .and_then(super::owned::decode_slice);
        self.opener
            .note_opened(found.field, part_layout.tier, &result);
        result
    }

    /// Opens the mask at entry `entry` of part `part` (the `internal`
    /// part). Not recorded as a field: a mask is shown in place of a
    /// withheld field, which is.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_mask(&mut self, part: usize, entry: usize) -> Result<String, Error> {
        let (_, _, number) = self.layout.entry(part, entry, Some(Role::Mask))?;
        self.entry_bytes(part, number)
            .and_then(super::owned::decode_slice)
    }

    /// The encoding of entry number `number`, of part `part`, opening the
    /// part on first use.
    fn entry_bytes(&mut self, part: usize, number: usize) -> Result<&[u8], Error> {
        self.open_part(part)?;
        let plaintext = self
            .opened
            .get(part)
            .and_then(Option::as_ref)
            .ok_or_else(no_such_entry)?;
        self.ranges
            .get(number)
            .and_then(|range| plaintext.as_slice().get(range.clone()))
            .ok_or_else(no_such_entry)
    }

    fn open_part(&mut self, part: usize) -> Result<(), Error> {
        if matches!(self.opened.get(part), Some(Some(_))) {
            return Ok(());
        }
        let layout: &'l PackedLayout<'l, N> = self.layout;
        let tier = layout.parts.get(part).ok_or_else(no_such_entry)?.tier;
        let token = self.parts.get(part).ok_or_else(no_such_entry)?.token();
        self.opener.authorize(tier)?;
        let (Some(slot), Some(field)) = (token.slot, token.field) else {
            return Err(Error::malformed("a packed part without a key slot"));
        };
        let key_index = self.opener.key_index_of_slot(tier, slot)?;
        let mut plaintext = super::PlaintextBuf::default();
        self.opener
            .decrypt_part(key_index, layout.suffix(part), &field, &mut plaintext)?;
        if self.ranges.is_empty() {
            self.ranges = vec![0..0; layout.entries];
        }
        let ranges = self
            .ranges
            .get_mut(layout.numbers(part))
            .ok_or_else(no_such_entry)?;
        format::split_part_plaintext(plaintext.as_slice(), ranges)?;
        if let Some(opened) = self.opened.get_mut(part) {
            *opened = Some(plaintext);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AccessContext, Binding, Clearance, KdfProfile, Keyring, Keystore, Level};

    fn keyring() -> (tempfile::TempDir, Keyring) {
        let dir = tempfile::tempdir().unwrap();
        let keystore =
            Keystore::create(dir.path().join("k"), &"pw".into(), KdfProfile::Test).unwrap();
        let keyring = keystore
            .keyring(&Clearance::up_to(Level::Restricted))
            .unwrap();
        (dir, keyring)
    }

    fn invalid(result: Result<impl Sized, Error>) -> &'static str {
        match result {
            Err(Error::InvalidParameter { reason, .. }) => reason,
            Err(other) => panic!("expected InvalidParameter, got {other:?}"),
            Ok(_) => panic!("expected InvalidParameter"),
        }
    }

    const NAME_EMAIL: &[PackedEntry<'static>] =
        &[PackedEntry::value("email"), PackedEntry::value("name")];

    #[test]
    fn layouts_that_break_a_rule_are_refused() {
        let internal = Tier::INTERNAL;
        let confidential = Tier::CONFIDENTIAL;
        let part = |tier, entries| PartLayout::new(tier, entries);
        assert!(PackedLayout::new([part(&internal, NAME_EMAIL)]).is_ok());
        let cases: [(&[PackedEntry<'static>], &Tier); 5] = [
            (&[], &internal),
            (
                &[PackedEntry::value("name"), PackedEntry::value("email")],
                &internal,
            ),
            (
                &[PackedEntry::value("name"), PackedEntry::value("name")],
                &internal,
            ),
            (
                &[PackedEntry::mask("name"), PackedEntry::value("name")],
                &internal,
            ),
            (&[PackedEntry::mask("card")], &confidential),
        ];
        for (entries, tier) in cases {
            invalid(PackedLayout::new([part(tier, entries)]));
        }
        // A value and its mask, in that order, are one field's two entries.
        let both = [PackedEntry::value("card"), PackedEntry::mask("card")];
        assert!(PackedLayout::new([part(&internal, &both)]).is_ok());
        invalid(PackedLayout::new([
            part(&internal, NAME_EMAIL),
            part(&internal, &both),
        ]));
    }

    #[test]
    fn a_sealer_used_out_of_order_refuses_with_a_reason() {
        let (_dir, keyring) = keyring();
        let tier = Tier::CONFIDENTIAL;
        let layout = PackedLayout::new([PartLayout::new(&tier, NAME_EMAIL)]).unwrap();
        let binding = Binding::new("T", "").with_record_id("r");

        let mut sealer = RecordSealer::new(&keyring, binding);
        let mut packer = sealer.pack(&layout).unwrap();
        invalid(packer.value(0, 1, "Ada"));
        invalid(packer.value(1, 0, "x"));
        invalid(packer.mask(0, 0, "a@example.com"));
        packer.value(0, 0, "a@example.com").unwrap();
        invalid(packer.value(0, 0, "a@example.com"));
        invalid(packer.value(0, 2, "x"));
        let shown = format!("{packer:?}");
        assert!(!shown.contains("example"), "{shown}");
        invalid(packer.finish());

        let mut sealer = RecordSealer::new(&keyring, binding);
        let mut packer = sealer.pack(&layout).unwrap();
        packer.value(0, 0, "a@example.com").unwrap();
        packer.value(0, 1, "Ada").unwrap();
        invalid(packer.value(0, 1, "Ada"));
        assert!(packer.finish().is_ok());

        let mut old = RecordSealer::new_as(Version::V3, &keyring, binding);
        invalid(old.pack(&layout));
    }

    /// A value whose encoding changes between the size pass and the
    /// write (an iterator that serializes once, a value another thread
    /// changes), or that cannot be encoded at all.
    enum Unsteady {
        Grows(std::cell::Cell<bool>),
        Fails,
    }

    impl Serialize for Unsteady {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            match self {
                Unsteady::Grows(measured) if !measured.replace(true) => s.serialize_str("41"),
                Unsteady::Grows(_) => s.serialize_str("4111111111111111 PAN"),
                Unsteady::Fails => Err(serde::ser::Error::custom("no encoding")),
            }
        }
    }

    #[test]
    fn a_push_that_fails_part_way_spends_the_sealer() {
        let (_dir, keyring) = keyring();
        let tier = Tier::CONFIDENTIAL;
        let entries = [
            PackedEntry::value("a"),
            PackedEntry::value("b"),
            PackedEntry::value("c"),
        ];
        let layout = PackedLayout::new([PartLayout::new(&tier, &entries)]).unwrap();
        let binding = Binding::new("T", "").with_record_id("r");
        let spent = "an earlier entry failed to seal: seal the record again from the start";
        let unsteady = || {
            [
                Unsteady::Grows(std::cell::Cell::new(false)),
                Unsteady::Fails,
            ]
        };
        for failing_entry in 0..3 {
            for bad in unsteady() {
                let mut sealer = RecordSealer::new(&keyring, binding);
                let mut packer = sealer.pack(&layout).unwrap();
                for entry in 0..failing_entry {
                    packer.value(0, entry, "4111111111111111").unwrap();
                }
                assert!(matches!(
                    packer.value(0, failing_entry, &bad),
                    Err(Error::Encoding { .. })
                ));
                // Retrying the entry, or going on, is refused: nothing
                // part-written can be finished into a token.
                assert_eq!(invalid(packer.value(0, failing_entry, "Ada")), spent);
                let shown = format!("{packer:?}");
                assert!(!shown.contains("4111"), "{shown}");
                assert_eq!(invalid(packer.finish()), spent);
            }
        }
    }

    #[test]
    fn field_orders_name_every_value_entry_once() {
        let (internal, cards) = (Tier::INTERNAL, "restricted/cards".parse::<Tier>().unwrap());
        let entries = [PackedEntry::value("card"), PackedEntry::mask("card")];
        let parts = || {
            [
                PartLayout::new(&internal, &entries),
                PartLayout::new(&cards, NAME_EMAIL),
            ]
        };
        let layout = |order: &'static [(usize, usize)]| {
            PackedLayout::new(parts()).and_then(|layout| layout.with_field_order(order))
        };
        assert!(layout(&[(1, 1), (0, 0), (1, 0)]).is_ok());
        invalid(layout(&[(1, 1), (0, 0)]));
        invalid(layout(&[(1, 1), (0, 0), (1, 0), (1, 0)]));
        invalid(layout(&[(1, 1), (0, 1), (1, 0)]));
        invalid(layout(&[(1, 1), (0, 0), (2, 0)]));
    }

    #[test]
    fn a_part_outgrowing_its_layouts_last_size_still_seals() {
        let (_dir, keyring) = keyring();
        let tier = Tier::CONFIDENTIAL;
        let layout = PackedLayout::new([PartLayout::new(&tier, NAME_EMAIL)]).unwrap();
        let binding = Binding::new("T", "").with_record_id("r");
        let ctx = AccessContext::new("test").with_purpose("T-1");
        for len in [1, 4_000, 10, 100_000] {
            let text = "x".repeat(len);
            let mut sealer = RecordSealer::new(&keyring, binding);
            let mut packer = sealer.pack(&layout).unwrap();
            packer.value(0, 0, &text).unwrap();
            packer.value(0, 1, "Ada").unwrap();
            let [part] = packer.finish().unwrap();
            let keys = sealer.finish();
            let mut opener = RecordOpener::new(&keyring, &keys, binding, &ctx);
            let mut packed = opener.unpack(&layout, [&part]);
            assert_eq!(packed.open::<String>(0, 0).unwrap(), text);
            assert_eq!(packed.open::<String>(0, 1).unwrap(), "Ada");
        }
    }

    #[test]
    fn entries_open_by_place_and_role_only() {
        let (_dir, keyring) = keyring();
        let tier = Tier::INTERNAL;
        let entries = [
            PackedEntry::value("card"),
            PackedEntry::mask("card"),
            PackedEntry::value("name"),
        ];
        let layout = PackedLayout::new([PartLayout::new(&tier, &entries)]).unwrap();
        let binding = Binding::new("T", "").with_record_id("r");
        let mut sealer = RecordSealer::new(&keyring, binding);
        let mut packer = sealer.pack(&layout).unwrap();
        packer.value(0, 0, &4_111_u64).unwrap();
        packer.mask(0, 1, "****1111").unwrap();
        packer.value(0, 2, "Ada").unwrap();
        let [part] = packer.finish().unwrap();
        let keys = sealer.finish();
        assert!(!format!("{part:?}").contains("Ada"));

        let ctx = AccessContext::new("test").with_purpose("T-1");
        let mut opener = RecordOpener::new(&keyring, &keys, binding, &ctx);
        let mut packed = opener.unpack(&layout, [&part]);
        assert_eq!(packed.open::<String>(0, 2).unwrap(), "Ada");
        assert_eq!(packed.open::<u64>(0, 0).unwrap(), 4_111);
        assert_eq!(packed.open_mask(0, 1).unwrap(), "****1111");
        invalid(packed.open::<String>(0, 1));
        invalid(packed.open_mask(0, 2));
        invalid(packed.open::<String>(1, 0));
        // A value opened as another type is a decoding error.
        assert!(matches!(
            packed.open::<String>(0, 0),
            Err(Error::Encoding { .. })
        ));
        let shown = format!("{packed:?}");
        assert!(!shown.contains("Ada") && !shown.contains("1111"), "{shown}");
        drop(packed);
        opener.finish().unwrap();

        // A keyring without the tier is told so, before any decryption.
        let dir = tempfile::tempdir().unwrap();
        let other = Keystore::create(dir.path().join("k"), &"pw".into(), KdfProfile::Test)
            .unwrap()
            .keyring(&Clearance::none())
            .unwrap();
        let mut opener = RecordOpener::new(&other, &keys, binding, &ctx);
        let mut packed = opener.unpack(&layout, [&part]);
        assert!(matches!(
            packed.open::<String>(0, 2),
            Err(Error::NotGranted { .. })
        ));
    }
}
