//! Records: many fields, one data key per tier, each wrapped once.

use aes_gcm::Aes256Gcm;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::format::{self, Kind, Role, Version};
use super::{Binding, RecordKey, Rewrapped, SealedField, SealedMask};
use crate::audit::Action;
use crate::audit::trail::{self, Trail};
use crate::keyring::TierKeys;
use crate::{AccessContext, Error, Keyring, Tier};

/// The wrapped data keys of one sealed record, one per tier it uses.
///
/// Serialized as a list of [`RecordKey`] tokens; each names its tier and
/// key version.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RecordKeys {
    keys: Vec<RecordKey>,
}

impl RecordKeys {
    /// A record's keys from their tokens (a database column read back).
    #[cfg_attr(
        not(any(feature = "rusqlite", feature = "postgres")),
        allow(dead_code, reason = "only the column traits build a list from parts")
    )]
    pub(crate) fn from_keys(keys: Vec<RecordKey>) -> Self {
        Self { keys }
    }

    /// The wrapped keys, one per tier.
    pub fn keys(&self) -> &[RecordKey] {
        &self.keys
    }

    /// `(tier name, key version)` of each wrapped key.
    pub fn key_versions(&self) -> impl Iterator<Item = (&str, u32)> {
        self.keys.iter().map(|key| {
            let token = key.token();
            (token.tier, token.key_version().unwrap_or(0))
        })
    }

    /// Re-wraps every data key under its tier's primary version; field
    /// ciphertexts are untouched. A version-1 or 2 key moves to format
    /// version 3 (reported as [`Rewrapped::Moved`], even at the same key
    /// version);
    /// the record's fields keep the version they were sealed with, which
    /// the reader takes from each field's own header. Returns what happened
    /// to each key, in order. On error, keys already rewrapped stay rewrapped (each is
    /// valid on its own) and the rest are unchanged.
    ///
    /// # Errors
    /// As [`RecordOpener::open_field`], for the key that failed.
    pub fn rewrap(&mut self, keyring: &Keyring) -> Result<Vec<Rewrapped>, Error> {
        let outcomes = self
            .keys
            .iter_mut()
            .map(|key| super::rewrap_token(keyring, key.bytes_mut(), Kind::RecordKey))
            .collect::<Result<Vec<_>, Error>>()?;
        let moved = outcomes
            .iter()
            .filter(|o| matches!(o, Rewrapped::Moved { .. }))
            .count();
        trail::rewrapped(keyring, moved, outcomes.len() - moved)?;
        Ok(outcomes)
    }
}

/// Seals the fields of one record.
///
/// The first field of each tier creates that tier's data key and wraps it
/// once under the tier's primary version; later fields of the tier reuse
/// the ready cipher. [`finish`](Self::finish) returns the wrapped keys.
///
/// ```
/// use tierseal::{AccessContext, Binding, Clearance, KdfProfile, Keystore, Level, RecordOpener, RecordSealer, Tier};
///
/// let dir = tempfile::tempdir()?;
/// let keystore = Keystore::create(dir.path().join("k"), &"pw".into(), KdfProfile::Test)?;
/// let keyring = keystore.keyring(&Clearance::up_to(Level::Restricted))?;
///
/// let binding = Binding::new("Customer", "").with_record_id("cus_042");
/// let mut sealer = RecordSealer::new(&keyring, binding);
/// let name = sealer.seal_field(&Tier::INTERNAL, "name", "Ada Lovelace")?;
/// let balance = sealer.seal_field(&Tier::CONFIDENTIAL, "balance", &1_250_00_i64)?;
/// let keys = sealer.finish();
///
/// let ctx = AccessContext::new("statements").with_purpose("monthly statement");
/// let mut opener = RecordOpener::new(&keyring, &keys, binding, &ctx);
/// assert_eq!(opener.open_field::<String>(&Tier::INTERNAL, "name", &name)?, "Ada Lovelace");
/// assert_eq!(opener.open_field::<i64>(&Tier::CONFIDENTIAL, "balance", &balance)?, 1_250_00);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RecordSealer<'a> {
    keyring: &'a Keyring,
    /// The format version written.
    version: Version,
    slots: Vec<SealSlot<'a>>,
    /// Data keys created by [`prepare`](Self::prepare) and not used yet:
    /// a key joins `slots` (and the record) with its tier's first field.
    prepared: Vec<SealSlot<'a>>,
    /// Records restricted fields, when the keyring has an audit sink.
    trail: Option<Trail>,
    /// The record's AAD prefix, followed by the current field's suffix.
    aad: Vec<u8>,
    prefix_len: usize,
    /// The slot whose tier follows the prefix in `aad`, and where that
    /// tier ends: fields of one tier share it.
    aad_tier: Option<(usize, usize)>,
}

/// One tier of a record being sealed. The cipher is boxed so that the
/// slot list moves pointers, not key schedules.
struct SealSlot<'a> {
    tier: &'a Tier,
    key: RecordKey,
    key_version: u32,
    cipher: Box<Aes256Gcm>,
}

impl<'a> RecordSealer<'a> {
    /// Starts a record of `binding`'s type and record id (its field part
    /// is ignored: each field names its own id).
    pub fn new(keyring: &'a Keyring, binding: Binding<'_>) -> RecordSealer<'a> {
        RecordSealer::new_as(format::WRITE_VERSION, keyring, binding)
    }

    /// A sealer that writes format `version` (the test vectors and
    /// compatibility tests of older versions are written through this).
    pub(crate) fn new_as(
        version: Version,
        keyring: &'a Keyring,
        binding: Binding<'_>,
    ) -> RecordSealer<'a> {
        let (aad, prefix_len) = aad_prefix(version, &binding);
        RecordSealer {
            keyring,
            version,
            slots: Vec::with_capacity(2),
            prepared: Vec::new(),
            trail: Trail::start(keyring, Action::Seal, &binding),
            aad,
            prefix_len,
            aad_tier: None,
        }
    }

    /// Seals one field at `tier` under its stable `field_id`.
    ///
    /// # Errors
    /// [`Error::NotGranted`] when the keyring lacks `tier`;
    /// [`Error::Encoding`] when `value` cannot be serialized.
    pub fn seal_field<T: Serialize + ?Sized>(
        &mut self,
        tier: &Tier,
        field_id: &str,
        value: &T,
    ) -> Result<SealedField, Error> {
        self.seal(tier, Role::Value, field_id, value)
    }

    /// Seals the mask of field `field_id`: what a reader who lacks the
    /// field's tier is shown. The mask is sealed at `internal`, the lowest
    /// sealed tier, bound like a field (type, path, record id) under a role
    /// no field id can take, so that a reader holding `internal` detects an
    /// edited, swapped or moved mask. Open it with
    /// [`RecordOpener::open_mask`].
    ///
    /// # Errors
    /// [`Error::NotGranted`] when the keyring lacks `internal`: sealing a
    /// masked field needs it.
    pub fn seal_mask(&mut self, field_id: &str, mask: &str) -> Result<SealedMask, Error> {
        self.seal(&Tier::INTERNAL, Role::Mask, field_id, mask)
            .map(SealedMask::Sealed)
    }

    fn seal<T: Serialize + ?Sized>(
        &mut self,
        tier: &Tier,
        role: Role,
        field_id: &str,
        value: &T,
    ) -> Result<SealedField, Error> {
        let index = self.slot(tier)?;
        let slot = self
            .slots
            .get(index)
            .ok_or_else(|| Error::malformed("slot"))?;
        match self.aad_tier {
            Some((slot, end)) if slot == index => self.aad.truncate(end),
            _ => {
                self.aad.truncate(self.prefix_len);
                format::push_aad_tier(&mut self.aad, tier.as_str());
                self.aad_tier = Some((index, self.aad.len()));
            }
        }
        format::field_aad_tail(&mut self.aad, self.version, role, field_id)?;
        let encoded_len = super::encoded_len(value)?;
        let mut out = if self.version.names_slots() {
            let mut out = Vec::with_capacity(
                format::FIELD_HEADER_V3_LEN + super::FIELD_OVERHEAD + encoded_len,
            );
            format::write_slot_header(&mut out, self.version, Kind::RecordField, slot_byte(index)?);
            out
        } else {
            let mut out = Vec::with_capacity(
                format::header_len(tier.as_str()) + super::FIELD_OVERHEAD + encoded_len,
            );
            format::write_header(&mut out, self.version, Kind::RecordField, tier.as_str());
            out
        };
        super::seal_field_into(&slot.cipher, &self.aad, value, encoded_len, &mut out)?;
        let key_version = slot.key_version;
        self.note_sealed(field_id, tier, key_version);
        Ok(SealedField::from_valid_bytes(out))
    }

    /// Records a restricted field as sealed, when the keyring has an
    /// audit sink.
    #[inline]
    pub(super) fn note_sealed(&mut self, field_id: &str, tier: &Tier, key_version: u32) {
        if let Some(trail) = self
            .trail
            .as_mut()
            .filter(|_| tier.level() == crate::Level::Restricted)
        {
            trail.sealed(field_id, tier, Some(key_version));
        }
    }

    /// The format version this sealer writes.
    pub(super) fn version(&self) -> Version {
        self.version
    }

    /// Encrypts a packed part's `plaintext` in place under the data key of
    /// the slot at `index`, with the part AAD: this record's AAD prefix
    /// under the part domain, then `suffix` (tier and entry list). The
    /// record's field AAD is kept for fields sealed after.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a record of a format version before
    /// 4.
    pub(super) fn encrypt_part(
        &mut self,
        index: usize,
        suffix: &[u8],
        nonce: &[u8; crate::crypto::NONCE_LEN],
        plaintext: &mut [u8],
    ) -> Result<[u8; crate::crypto::TAG_LEN], Error> {
        let slot = self
            .slots
            .get(index)
            .ok_or_else(|| Error::malformed("slot"))?;
        self.aad.truncate(self.prefix_len);
        self.aad_tier = None;
        format::set_prefix_domain(&mut self.aad, true)?;
        self.aad.extend_from_slice(suffix);
        let tag = crate::crypto::encrypt(&slot.cipher, nonce, &self.aad, plaintext);
        self.aad.truncate(self.prefix_len);
        format::set_prefix_domain(&mut self.aad, false)?;
        tag
    }

    /// The cipher and key version of the slot at `index`.
    pub(super) fn slot_key(&self, index: usize) -> Result<(&Aes256Gcm, u32), Error> {
        self.slots
            .get(index)
            .map(|slot| (&*slot.cipher, slot.key_version))
            .ok_or_else(|| Error::malformed("slot"))
    }

    /// The index of `tier`'s slot, creating its data key on first use.
    pub(super) fn slot(&mut self, tier: &Tier) -> Result<usize, Error> {
        if let Some(index) = self.slots.iter().position(|slot| slot.tier == tier) {
            return Ok(index);
        }
        if self.version.names_slots() && self.slots.len() >= format::MAX_SLOTS {
            return Err(Error::InvalidParameter {
                what: "record",
                reason: "a record uses at most 256 tiers",
            });
        }
        if let Some(found) = self.prepared.iter().position(|slot| slot.tier == tier) {
            let slot = self.prepared.swap_remove(found);
            self.slots.push(slot);
            return Ok(self.slots.len() - 1);
        }
        if let Some(public) = self.keyring.public_key(tier.as_str()) {
            // A seal-only keyring: the record key is sealed to the tier's
            // public key (kind 4). Public-key kinds exist from format
            // version 3, whose fields name their key by slot, whatever
            // the key's kind.
            if !self.version.names_slots() {
                return Err(Error::InvalidParameter {
                    what: "record",
                    reason: "a seal-only keyring seals records of format version 3 or later only",
                });
            }
            let mut bytes = Vec::with_capacity(
                format::header_len(tier.as_str()) + format::public_wrap_len(public.key.suite()),
            );
            format::write_header(
                &mut bytes,
                self.version,
                Kind::PublicRecordKey,
                tier.as_str(),
            );
            let cipher = super::public_wrap::new_data_key(public, self.version, &mut bytes)?;
            self.slots.push(SealSlot {
                tier: &public.tier,
                key: RecordKey::from_valid_bytes(bytes),
                key_version: public.key_version,
                cipher: Box::new(cipher),
            });
            return Ok(self.slots.len() - 1);
        }
        let keyring = self.keyring;
        let slot = self.symmetric_slot(keyring.require(tier.as_str())?, None)?;
        self.slots.push(slot);
        Ok(self.slots.len() - 1)
    }

    /// Creates the data keys of `tiers` now, in one draw from the
    /// operating system's generator instead of one per tier, and wraps each
    /// at once under its tier's primary version. A record of several tiers
    /// seals faster this way (one system call instead of one per tier). The
    /// derive prepares the tiers a type seals field by field when there are
    /// two or more (a nested record prepares its own).
    ///
    /// A prepared key joins the record with the first field sealed at its
    /// tier; a key no field uses is dropped by [`finish`](Self::finish) and
    /// is never stored. Tiers already in use, tiers this keyring cannot
    /// seal with a symmetric key (missing, without a primary version, or
    /// seal-only) and a single tier are left to the field that first uses
    /// them, which reports any error.
    ///
    /// Every key is wrapped before this returns, so that no code of the
    /// caller's runs between drawing a wrap nonce and using it: a process
    /// forked (or a VM snapshot restored) afterwards shares wrapped keys,
    /// never an unused nonce for a long-lived tier key. It does share the
    /// prepared data keys: as for any record being sealed, do not fork
    /// between `prepare` and [`finish`](Self::finish) and go on sealing in
    /// both processes (docs/THREAT-MODEL.md, "Randomness and limits").
    ///
    /// ```
    /// use tierseal::{Binding, Clearance, KdfProfile, Keystore, Level, RecordSealer, Tier};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let keystore = Keystore::create(dir.path().join("k"), &"pw".into(), KdfProfile::Test)?;
    /// let keyring = keystore.keyring(&Clearance::up_to(Level::Restricted))?;
    ///
    /// let mut sealer = RecordSealer::new(&keyring, Binding::new("Payment", "").with_record_id("pay_7"));
    /// sealer.prepare(&[&Tier::INTERNAL, &Tier::CONFIDENTIAL, &Tier::RESTRICTED])?;
    /// let memo = sealer.seal_field(&Tier::INTERNAL, "memo", "rent")?;
    /// let amount = sealer.seal_field(&Tier::CONFIDENTIAL, "amount", &1_200_00_i64)?;
    /// let keys = sealer.finish();
    /// // `restricted` was prepared but no field used it: it is not stored.
    /// assert_eq!(keys.keys().len(), 2);
    /// # let _ = (memo, amount);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Randomness`] when the generator fails; any error wrapping
    /// a key under its tier's primary version.
    pub fn prepare(&mut self, tiers: &[&Tier]) -> Result<(), Error> {
        let keyring = self.keyring;
        let mut wanted: Vec<&'a TierKeys> = Vec::with_capacity(tiers.len());
        // A record holds at most MAX_SLOTS keys: preparing more is waste.
        let room = format::MAX_SLOTS.saturating_sub(self.slots.len() + self.prepared.len());
        for &tier in tiers {
            if wanted.len() >= room {
                break;
            }
            let known = self
                .slots
                .iter()
                .chain(&self.prepared)
                .any(|s| s.tier == tier)
                || wanted.iter().any(|keys| keys.tier == *tier);
            if known || keyring.public_key(tier.as_str()).is_some() {
                continue;
            }
            if let Ok(keys) = keyring.require(tier.as_str())
                && keys.primary_key().is_ok()
            {
                wanted.push(keys);
            }
        }
        if wanted.len() < 2 {
            return Ok(());
        }
        let drawn = crate::crypto::fresh_data_key_draws(wanted.len())?;
        for (keys, draw) in wanted.into_iter().zip(drawn.iter()) {
            let slot = self.symmetric_slot(keys, Some(draw))?;
            self.prepared.push(slot);
        }
        Ok(())
    }

    /// A new record key of `keys`' tier: a data key, from `draw` or drawn
    /// now, wrapped under the tier's primary version.
    fn symmetric_slot(
        &self,
        keys: &'a TierKeys,
        draw: Option<&[u8; crate::crypto::DATA_KEY_DRAW_LEN]>,
    ) -> Result<SealSlot<'a>, Error> {
        let name = keys.tier.as_str();
        let mut bytes = Vec::with_capacity(format::header_len(name) + format::WRAPPED_PART_LEN);
        format::write_header(&mut bytes, self.version, Kind::RecordKey, name);
        let (cipher, key_version) = match draw {
            Some(draw) => {
                let (data_key, nonce) = crate::crypto::split_data_key_draw(draw);
                super::wrap_data_key(keys, self.version, &data_key, &nonce, &mut bytes)?
            }
            None => super::new_data_key(keys, self.version, &mut bytes)?,
        };
        Ok(SealSlot {
            tier: &keys.tier,
            key: RecordKey::from_valid_bytes(bytes),
            key_version,
            cipher,
        })
    }

    /// The wrapped data keys of every tier sealed so far. When restricted
    /// fields were sealed and the keyring has an audit sink, records a seal
    /// event; a sink failure is reported through `tracing` (the sealed
    /// record is still returned, so no data is lost).
    pub fn finish(mut self) -> RecordKeys {
        if let Some(trail) = self.trail.as_mut().filter(|trail| trail.is_pending())
            && let Err(error) = trail.send(self.keyring, None)
        {
            tracing::error!(target: "tierseal::audit", kind = error.kind(), "could not record a seal event");
        }
        RecordKeys {
            keys: std::mem::take(&mut self.slots)
                .into_iter()
                .map(|slot| slot.key)
                .collect(),
        }
    }
}

/// The one-byte key slot of the record key at `index`.
pub(super) fn slot_byte(index: usize) -> Result<u8, Error> {
    u8::try_from(index).map_err(|_| Error::InvalidParameter {
        what: "record",
        reason: "a record uses at most 256 tiers",
    })
}

/// The record's AAD prefix for format `version` in a buffer with room for
/// field suffixes.
fn aad_prefix(version: Version, binding: &Binding<'_>) -> (Vec<u8>, usize) {
    let record_len = binding.record_id().map_or(0, str::len);
    let mut aad =
        Vec::with_capacity(96 + binding.type_name().len() + binding.path().len() + record_len);
    format::field_aad_prefix(&mut aad, version, binding);
    let prefix_len = aad.len();
    (aad, prefix_len)
}

/// Opens the fields of one sealed record, unwrapping each tier's data key
/// at most once.
///
/// Each opener is made on behalf of an [`AccessContext`]: opening a field at
/// or above the keyring's purpose threshold without a purpose is refused.
/// When the keyring has an audit sink, [`finish`](Self::finish) records one
/// event for the record (which fields were revealed, withheld or failed);
/// an opener dropped without `finish` after a failure records the failure.
pub struct RecordOpener<'a> {
    keyring: &'a Keyring,
    keys: &'a RecordKeys,
    ctx: &'a AccessContext,
    binding: Binding<'a>,
    opened: Vec<OpenSlot<'a>>,
    /// The record's AAD prefix for `aad_version`, followed by the current
    /// field's suffix. Each field's own header decides the version.
    aad: Vec<u8>,
    aad_version: Option<Version>,
    prefix_len: usize,
    /// The opened slot whose tier follows the prefix in `aad`, and where
    /// that tier ends.
    aad_tier: Option<(usize, usize)>,
    plaintext: super::PlaintextBuf,
    trail: Option<Trail>,
}

/// One record key opened: its index in the record's key list, its tier
/// (the keyring's), its key version and its cipher (boxed, so that the
/// slot list moves pointers).
struct OpenSlot<'a> {
    index: usize,
    tier: &'a Tier,
    version: u32,
    cipher: Box<Aes256Gcm>,
}

impl<'a> RecordOpener<'a> {
    /// Prepares to open fields of the record whose wrapped keys are `keys`.
    pub fn new(
        keyring: &'a Keyring,
        keys: &'a RecordKeys,
        binding: Binding<'a>,
        ctx: &'a AccessContext,
    ) -> RecordOpener<'a> {
        RecordOpener {
            keyring,
            keys,
            ctx,
            binding,
            opened: Vec::with_capacity(2),
            // Room for a field AAD, or a packed part's with its entry list.
            aad: Vec::with_capacity(192),
            aad_version: None,
            prefix_len: 0,
            aad_tier: None,
            plaintext: super::PlaintextBuf::default(),
            trail: Trail::start(keyring, Action::Open, &binding),
        }
    }

    /// Records the audit event for this record (when the keyring has a
    /// sink). Reveal nothing if this fails: the access would go unrecorded.
    ///
    /// # Errors
    /// The audit sink's error.
    pub fn finish(mut self) -> Result<(), Error> {
        match self.trail.as_mut() {
            Some(trail) => trail.send(self.keyring, Some(self.ctx)),
            None => Ok(()),
        }
    }

    /// Opens one field, which must have been sealed at `tier` under
    /// `field_id` in this record.
    ///
    /// # Errors
    /// [`Error::NotGranted`] when the keyring lacks `tier`;
    /// [`Error::TierMismatch`] when the field was sealed at another tier;
    /// [`Error::KeyRetired`] / [`Error::UnknownKeyVersion`] when the key
    /// version is gone; [`Error::Integrity`] when the field or key was
    /// altered, moved from another field or record, or relabelled.
    pub fn open_field<T: DeserializeOwned>(
        &mut self,
        tier: &Tier,
        field_id: &str,
        field: &SealedField,
    ) -> Result<T, Error> {
        let result = self.open_checked(tier, Role::Value, field_id, field);
        self.note_opened(field_id, tier, &result);
        result
    }

    /// Records the outcome of opening field `field_id` at `tier`, when the
    /// keyring has an audit sink.
    #[inline]
    pub(super) fn note_opened<T>(
        &mut self,
        field_id: &str,
        tier: &Tier,
        result: &Result<T, Error>,
    ) {
        if let Some(trail) = self.trail.as_mut() {
            let version = self
                .opened
                .iter()
                .find(|slot| slot.tier == tier)
                .map(|slot| slot.version);
            trail.opened(field_id, tier, version, result);
        }
    }

    /// Opens the mask of field `field_id`, stored beside the sealed
    /// `field`: a sealed mask (format version 2 or later) is opened at `internal`; a
    /// version-1 record's clear mask is returned as stored (it was never
    /// authenticated) only by a keyring that
    /// [accepts them](Keyring::with_legacy_clear_masks).
    ///
    /// # Errors
    /// [`Error::NotGranted`] when the keyring lacks `internal`;
    /// [`Error::MaskDowngrade`] for a clear mask beside a field of version 2 or later;
    /// [`Error::UnauthenticatedMask`] for a version-1 clear mask the keyring
    /// does not accept;
    /// [`Error::Integrity`] when the mask was altered or moved from another
    /// field, record or place; as [`open_field`](Self::open_field).
    pub fn open_mask(
        &mut self,
        field_id: &str,
        field: &SealedField,
        mask: &SealedMask,
    ) -> Result<String, Error> {
        match mask {
            SealedMask::Clear(_) if field.token().version != Version::V1 => {
                Err(Error::MaskDowngrade {
                    field: field_id.to_owned(),
                })
            }
            SealedMask::Clear(text) if self.keyring.shows_legacy_clear_masks() => Ok(text.clone()),
            SealedMask::Clear(_) => Err(Error::UnauthenticatedMask {
                field: field_id.to_owned(),
            }),
            SealedMask::Sealed(sealed) => {
                self.open_checked(&Tier::INTERNAL, Role::Mask, field_id, sealed)
            }
        }
    }

    fn open_checked<T: DeserializeOwned>(
        &mut self,
        tier: &Tier,
        role: Role,
        field_id: &str,
        field: &SealedField,
    ) -> Result<T, Error> {
        self.authorize(tier)?;
        let token = field.token();
        let Some(part) = token.field else {
            return Err(Error::malformed("record field without ciphertext"));
        };
        let key_index = match token.slot {
            Some(slot) => self.key_index_of_slot(tier, slot)?,
            None => {
                if token.tier != tier.as_str() {
                    return Err(match token.tier.parse::<Tier>() {
                        Ok(found) => Error::TierMismatch {
                            expected: tier.clone(),
                            found,
                        },
                        Err(_) => Error::malformed("the tier name in the header is invalid"),
                    });
                }
                match self.opened.iter().find(|s| s.tier == tier) {
                    Some(opened) => opened.index,
                    None => {
                        // NotGranted before Malformed: a missing key in the
                        // record is only worth reporting to a keyring that
                        // could use it.
                        self.keyring.require(tier.as_str())?;
                        self.keys
                            .keys
                            .iter()
                            .position(|key| key.tier_name() == tier.as_str())
                            .ok_or_else(|| {
                                Error::malformed("the record has no data key for the field's tier")
                            })?
                    }
                }
            }
        };
        let index = self.slot(key_index)?;
        let slot = self
            .opened
            .get(index)
            .ok_or_else(|| Error::malformed("slot"))?;
        if self.aad_version != Some(token.version) {
            format::field_aad_prefix(&mut self.aad, token.version, &self.binding);
            self.prefix_len = self.aad.len();
            self.aad_version = Some(token.version);
            self.aad_tier = None;
        }
        match self.aad_tier {
            Some((opened, end)) if opened == index => self.aad.truncate(end),
            _ => {
                self.aad.truncate(self.prefix_len);
                format::push_aad_tier(&mut self.aad, tier.as_str());
                self.aad_tier = Some((index, self.aad.len()));
            }
        }
        format::field_aad_tail(&mut self.aad, token.version, role, field_id)?;
        super::open_field(
            &slot.cipher,
            &self.aad,
            &part,
            &mut self.plaintext,
            (slot.tier, slot.version),
        )
    }

    /// Authorizes opening `tier` for this opener's access context on its
    /// first use. A tier with an opened key was authorized when it was
    /// opened; the keyring and the access context cannot change since. The
    /// approval that authorization used is recorded once, with it.
    #[inline]
    pub(super) fn authorize(&mut self, tier: &Tier) -> Result<(), Error> {
        if !self.opened.iter().any(|slot| slot.tier == tier) {
            let approval = crate::access::authorize(self.keyring, self.ctx, tier)?;
            if let (Some(approval), Some(trail)) = (approval, self.trail.as_mut()) {
                trail.approved(approval);
            }
        }
        Ok(())
    }

    /// The record key a token naming key `slot` (a record field of
    /// version 3 or later, a packed part) opens with, checked to be of
    /// `tier`: the slot's record key names the tier. A key already opened
    /// for this tier needs no parse.
    ///
    /// # Errors
    /// [`Error::NotGranted`] when the keyring lacks `tier`, else
    /// [`Error::TierMismatch`] when the slot's key is of another tier;
    /// [`Error::Malformed`] for a slot outside the record's keys.
    #[inline]
    pub(super) fn key_index_of_slot(&self, tier: &Tier, slot: u8) -> Result<usize, Error> {
        let slot = usize::from(slot);
        let opened = self.opened.iter().find(|s| s.index == slot);
        if opened.is_none_or(|s| s.tier != tier) {
            let found = self.keys.keys.get(slot).map(RecordKey::tier_name);
            if found != Some(tier.as_str()) {
                // NotGranted before Malformed, as for older versions.
                self.keyring.require(tier.as_str())?;
                return Err(match found.map(str::parse::<Tier>) {
                    Some(Ok(found)) => Error::TierMismatch {
                        expected: tier.clone(),
                        found,
                    },
                    Some(Err(_)) => Error::malformed("the tier name in the record key is invalid"),
                    None => Error::malformed("the field's key slot is not in the record"),
                });
            }
        }
        Ok(slot)
    }

    /// Decrypts a packed part (its `field` part) into `out` under the
    /// record key at `key_index` (unwrapped on first use), with the part
    /// AAD: this record's part prefix, then `suffix` (tier and entry list).
    ///
    /// # Errors
    /// As [`open_field`](Self::open_field), after authorization.
    pub(super) fn decrypt_part(
        &mut self,
        key_index: usize,
        suffix: &[u8],
        field: &format::FieldPart<'_>,
        out: &mut super::PlaintextBuf,
    ) -> Result<(), Error> {
        let index = self.slot(key_index)?;
        // The field AAD cached in the buffer is rebuilt on the next field.
        self.aad_version = None;
        format::part_aad_prefix(&mut self.aad, &self.binding);
        self.aad.extend_from_slice(suffix);
        let slot = self
            .opened
            .get(index)
            .ok_or_else(|| Error::malformed("slot"))?;
        out.decrypt(&slot.cipher, &self.aad, field)
            .map_err(|_| super::integrity(slot.tier, slot.version))
    }

    /// Whether this opener's keyring can open fields of `tier`.
    pub fn can_open(&self, tier: &Tier) -> bool {
        self.keyring.has_tier(tier)
    }

    /// The opened slot of the record key at `key_index`, unwrapping it on
    /// first use.
    fn slot(&mut self, key_index: usize) -> Result<usize, Error> {
        if let Some(index) = self.opened.iter().position(|slot| slot.index == key_index) {
            return Ok(index);
        }
        let key =
            self.keys.keys.get(key_index).ok_or_else(|| {
                Error::malformed("the record has no data key for the field's tier")
            })?;
        let token = key.token();
        let (cipher, tier, version) = match (token.wrapped_key, token.public_wrap) {
            (Some(wrapped), _) => {
                let (cipher, tier) =
                    super::open_data_key(self.keyring, token.version, token.tier, &wrapped)?;
                (cipher, tier, wrapped.key_version)
            }
            (None, Some(wrap)) => {
                let (cipher, tier) = super::public_wrap::open_data_key(
                    self.keyring,
                    token.version,
                    token.tier,
                    &wrap,
                )?;
                (cipher, tier, wrap.key_version)
            }
            (None, None) => return Err(Error::malformed("record key without a wrapped key")),
        };
        self.opened.push(OpenSlot {
            index: key_index,
            tier,
            version,
            cipher: Box::new(cipher),
        });
        Ok(self.opened.len() - 1)
    }
}

impl Drop for RecordOpener<'_> {
    fn drop(&mut self) {
        if let Some(trail) = self.trail.as_mut().filter(|trail| trail.is_pending()) {
            trail.fail("unfinished");
            let _ = trail.send(self.keyring, Some(self.ctx));
        }
    }
}
