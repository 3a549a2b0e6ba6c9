//! Envelope encryption: data keys wrapped under tier keys, fields encrypted
//! under data keys, every ciphertext bound to its context.
//!
//! Two shapes share one format ([`format`]): a [`SealedValue`] carries its
//! own data key; a record ([`RecordSealer`], [`RecordOpener`]) shares one
//! data key per tier across its fields and stores the wrapped keys once, in
//! [`RecordKeys`]. A record of a packed type ([`packed`]) seals all the
//! fields of one tier in one [`PackedPart`] under the same record keys.
//! Rewrapping touches only wrapped data keys.

mod binding;
pub(crate) mod format;
#[cfg(test)]
mod hpke_vectors;
mod owned;
mod packed;
mod plaintext;
pub(crate) mod public_wrap;
mod record;
#[cfg(test)]
mod spec;
mod token;
mod value;
#[cfg(test)]
mod vectors;

use aes_gcm::Aes256Gcm;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use binding::{Binding, Within};
pub use packed::{PackedEntry, PackedLayout, PackedOpener, PackedSealer, PartLayout};
pub use public_wrap::HpkeSuite;
pub use record::{RecordKeys, RecordOpener, RecordSealer};
pub use token::{
    PackedPart, RecordKey, SealedField, SealedMask, SealedToken, SealedValue, TEXT_PREFIX,
};

use crate::crypto::{self, NONCE_LEN, TAG_LEN};
use crate::keyring::{Keyring, TierKeys};
use crate::{Error, Tier};
use format::{DataKeyAad, FieldPart, Version, WrappedKey};
use plaintext::PlaintextBuf;

/// What [`rewrap`](SealedValue::rewrap) did to one wrapped data key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Rewrapped {
    /// The data key was already wrapped under the tier's primary version.
    AlreadyCurrent,
    /// The data key was wrapped again: from version `from` to version
    /// `to`, or (`from == to`) from a version-1 record key to the current
    /// format at the same key version.
    Moved {
        /// The version it was wrapped under.
        from: u32,
        /// The primary version it is wrapped under now.
        to: u32,
    },
}

/// A fresh data key for `keys`' tier, for a token of format `version`: its
/// wrapped form is appended to `out`; returns its ready cipher and the tier
/// key version that wraps it.
fn new_data_key(
    keys: &TierKeys,
    version: Version,
    out: &mut Vec<u8>,
) -> Result<(Box<Aes256Gcm>, u32), Error> {
    let (data_key, nonce) = crypto::fresh_data_key_and_wrap_nonce()?;
    wrap_data_key(keys, version, &data_key, &nonce, out)
}

/// Wraps `data_key`, freshly drawn with its wrap `nonce`, under the
/// primary version of `keys`' tier, for a token of format `version`: its
/// wrapped form is appended to `out`; returns its ready cipher and the
/// tier key version that wraps it.
fn wrap_data_key(
    keys: &TierKeys,
    version: Version,
    data_key: &[u8; crypto::KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    out: &mut Vec<u8>,
) -> Result<(Box<Aes256Gcm>, u32), Error> {
    let primary = keys.primary_key()?;
    let aad = DataKeyAad::new(version, keys.tier.as_str(), primary.version);
    let wrapped = crypto::wrap_key(&primary.cipher, nonce, aad.as_bytes(), data_key)?;
    format::write_wrapped_key(out, primary.version, nonce, &wrapped);
    // Built in its box: a cipher is 624 bytes, not worth moving.
    Ok((Box::new(crypto::cipher_for(data_key)), primary.version))
}

/// Unwraps a data key read from a token of format `version` and tier
/// `tier`; returns its cipher and the keyring's tier.
fn open_data_key<'k>(
    keyring: &'k Keyring,
    version: Version,
    tier: &str,
    wrapped: &WrappedKey<'_>,
) -> Result<(Aes256Gcm, &'k Tier), Error> {
    let keys = keyring.require(tier)?;
    let key = keys.version_key(wrapped.key_version)?;
    let aad = DataKeyAad::new(version, tier, wrapped.key_version);
    let data_key = crypto::unwrap_key(&key.cipher, wrapped.nonce, aad.as_bytes(), wrapped.wrapped)
        .map_err(|_| integrity(&keys.tier, wrapped.key_version))?;
    Ok((crypto::cipher_for(&data_key), &keys.tier))
}

/// Rewraps the wrapped-key part of `token` (a sealed value or record key)
/// under its tier's primary version, in place.
///
/// A record key also moves to the current format version (4): its only
/// version-dependent part is the data-key AAD, rewritten here, so an older
/// record key at the primary version is rewritten too. Its fields keep
/// their own version, which the reader takes from each field's header. A sealed
/// value keeps its version: its field ciphertext is bound to it, and
/// rewrap never decrypts a field.
fn rewrap_token(
    keyring: &Keyring,
    token: &mut [u8],
    kind: format::Kind,
) -> Result<Rewrapped, Error> {
    let parsed = format::Token::parse(token, kind)?;
    if parsed.public_wrap.is_some() {
        return public_wrap::rewrap(keyring, token, kind);
    }
    let wrapped = parsed
        .wrapped_key
        .ok_or_else(|| Error::malformed("token without a wrapped key"))?;
    let target = rewrap_target(kind, parsed.version);
    let keys = keyring.require(parsed.tier)?;
    let primary = keys.primary_key()?;
    let from = wrapped.key_version;
    if from == primary.version && target == parsed.version {
        return Ok(Rewrapped::AlreadyCurrent);
    }
    let old = keys.version_key(from)?;
    let aad = DataKeyAad::new(parsed.version, parsed.tier, from);
    let data_key = crypto::unwrap_key(&old.cipher, wrapped.nonce, aad.as_bytes(), wrapped.wrapped)
        .map_err(|_| integrity(&keys.tier, from))?;
    let nonce = crypto::fresh_wrap_nonce()?;
    let aad = DataKeyAad::new(target, parsed.tier, primary.version);
    let rewrapped = crypto::wrap_key(&primary.cipher, &nonce, aad.as_bytes(), &data_key)?;

    let mut part = Vec::with_capacity(format::WRAPPED_PART_LEN);
    format::write_wrapped_key(&mut part, primary.version, &nonce, &rewrapped);
    let offset = wrapped.offset;
    token
        .get_mut(offset..offset + format::WRAPPED_PART_LEN)
        .ok_or_else(|| Error::malformed("truncated"))?
        .copy_from_slice(&part);
    format::set_version(token, target);
    Ok(Rewrapped::Moved {
        from,
        to: primary.version,
    })
}

/// The format version a token of `kind` and `version` has after rewrap:
/// a record key moves to the current version (its only version-dependent
/// part is the data-key binding rewrap rewrites); a sealed value keeps
/// its own, to which its field ciphertext is bound.
fn rewrap_target(kind: format::Kind, version: Version) -> Version {
    match kind {
        format::Kind::RecordKey => format::WRITE_VERSION,
        _ => version,
    }
}

/// The postcard length of `value`, to size the output exactly.
fn encoded_len<T: Serialize + ?Sized>(value: &T) -> Result<usize, Error> {
    postcard::serialize_with_flavor(value, Count(0)).map_err(encode_error)
}

/// Counts postcard output without writing it: a string or byte slice
/// counts in one step (postcard's own size pass goes byte by byte).
struct Count(usize);

impl postcard::ser_flavors::Flavor for Count {
    type Output = usize;

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0 += data.len();
        Ok(())
    }

    fn try_push(&mut self, _: u8) -> postcard::Result<()> {
        self.0 += 1;
        Ok(())
    }

    fn finalize(self) -> postcard::Result<usize> {
        Ok(self.0)
    }
}

/// Appends postcard output to a vector within its spare capacity, and
/// refuses to grow it: a reallocation would leave a copy of the plaintext
/// in the freed buffer.
struct Append<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for Append<'_> {
    type Output = ();

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        if self.0.capacity() - self.0.len() < data.len() {
            return Err(postcard::Error::SerializeBufferFull);
        }
        self.0.extend_from_slice(data);
        Ok(())
    }

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.try_extend(&[data])
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Bytes a field adds beyond its encoded value: nonce and tag.
pub(crate) const FIELD_OVERHEAD: usize = NONCE_LEN + TAG_LEN;

/// Appends `nonce || encrypt(value) || tag` to `out`, whose capacity the
/// caller sized with [`encoded_len`] so that the plaintext is never left
/// behind in a buffer freed by reallocation.
fn seal_field_into<T: Serialize + ?Sized>(
    cipher: &Aes256Gcm,
    aad: &[u8],
    value: &T,
    encoded_len: usize,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    out.reserve_exact(FIELD_OVERHEAD + encoded_len);
    let nonce = crypto::fresh_field_nonce();
    out.extend_from_slice(&nonce);
    let start = out.len();
    append_encoded(value, encoded_len, out)?;
    let plaintext = out.get_mut(start..).unwrap_or_default();
    let tag = crypto::encrypt(cipher, &nonce, aad, plaintext)?;
    out.extend_from_slice(&tag);
    Ok(())
}

/// Appends the postcard encoding of `value`, `encoded_len` bytes as
/// measured by [`encoded_len`], to `out`, whose spare capacity must hold
/// it: `out` is never reallocated. On failure `out` is wiped and emptied
/// (it may hold part of the plaintext).
fn append_encoded<T: Serialize + ?Sized>(
    value: &T,
    encoded_len: usize,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let start = out.len();
    let encoded = postcard::serialize_with_flavor(value, Append(out)).map_err(encode_error);
    if encoded.is_err() || out.len() - start != encoded_len {
        // Partial plaintext: wipe it before the buffer is freed.
        zeroize::Zeroize::zeroize(out);
        encoded?;
        return Err(Error::Encoding {
            action: "encode",
            reason: "the value encoded to another length than measured".into(),
        });
    }
    Ok(())
}

/// Decrypts and decodes one field sealed under `key` (tier and version,
/// named in the error). `plaintext` is reused across the fields of a
/// record and wiped when the caller drops it; a string takes the buffer
/// itself (see [`owned`]), so that its plaintext is neither copied nor
/// wiped twice.
fn open_field<T: DeserializeOwned>(
    cipher: &Aes256Gcm,
    aad: &[u8],
    field: &FieldPart<'_>,
    plaintext: &mut PlaintextBuf,
    key: (&Tier, u32),
) -> Result<T, Error> {
    plaintext
        .decrypt(cipher, aad, field)
        .map_err(|_| integrity(key.0, key.1))?;
    owned::decode(plaintext)
}

fn encode_error(e: postcard::Error) -> Error {
    Error::Encoding {
        action: "encode",
        reason: e.to_string(),
    }
}

fn integrity(tier: &Tier, version: u32) -> Error {
    Error::Integrity {
        tier: tier.clone(),
        version,
    }
}
