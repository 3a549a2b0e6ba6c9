//! The AES-256-GCM operations tierseal is built from, and the types that
//! hold key material.
//!
//! Nothing here is a primitive of our own: encryption is `aes-gcm`,
//! randomness `rand`, fingerprints HMAC-SHA-256. This module only fixes the
//! sizes, keeps key bytes inside zeroizing types and turns the AEAD's opaque
//! failure into [`AuthFailed`].

use std::fmt;

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use hmac::{Hmac, Mac};
use rand::Rng as _;
use secrecy::{ExposeSecret, ExposeSecretMut, SecretBox};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::Error;

/// AES-256 key length.
pub(crate) const KEY_LEN: usize = 32;
/// AES-GCM nonce length (96 bits, random).
pub(crate) const NONCE_LEN: usize = 12;
/// AES-GCM tag length.
pub(crate) const TAG_LEN: usize = 16;
/// A key wrapped with AES-GCM: ciphertext plus tag.
pub(crate) const WRAPPED_KEY_LEN: usize = KEY_LEN + TAG_LEN;

/// AES-GCM rejected the tag. Carries nothing on purpose: callers say which
/// key was tried, never why the tag did not match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AuthFailed;

/// 256 bits of key material: zeroized on drop, never printed, and never
/// readable outside this crate (only its [`CheckValue`] is). Key-encryption
/// providers ([`crate::kek::KekProvider`]) wrap and unwrap it.
pub struct KeyMaterial(SecretBox<[u8; KEY_LEN]>);

impl KeyMaterial {
    /// A fresh key straight from the operating system's generator, for
    /// long-lived keys (master and tier keys, grant secrets).
    ///
    /// # Errors
    /// [`Error::Randomness`] when the generator fails.
    pub fn generate() -> Result<KeyMaterial, Error> {
        let mut key = KeyMaterial(SecretBox::new(Box::new([0u8; KEY_LEN])));
        fill_from_os(key.0.expose_secret_mut())?;
        Ok(key)
    }

    /// Takes ownership of `bytes`, wiping the caller's copy.
    pub(crate) fn take(bytes: &mut [u8; KEY_LEN]) -> KeyMaterial {
        let key = KeyMaterial(SecretBox::new(Box::new(*bytes)));
        zeroize::Zeroize::zeroize(bytes);
        key
    }

    pub(crate) fn expose(&self) -> &[u8; KEY_LEN] {
        self.0.expose_secret()
    }

    /// A ready AES-256-GCM cipher (key schedule expanded once).
    pub(crate) fn cipher(&self) -> Aes256Gcm {
        cipher_for(self.expose())
    }

    /// The key's public fingerprint.
    pub fn check_value(&self) -> CheckValue {
        CheckValue::of(self.expose())
    }
}

impl Clone for KeyMaterial {
    fn clone(&self) -> Self {
        KeyMaterial(SecretBox::new(Box::new(*self.expose())))
    }
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyMaterial([REDACTED])")
    }
}

/// Lowercase hexadecimal.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let digit = |nibble: u8| {
        char::from(if nibble < 10 {
            b'0' + nibble
        } else {
            b'a' + nibble - 10
        })
    };
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(digit(byte >> 4));
        text.push(digit(byte & 0x0f));
    }
    text
}

/// The `N` bytes written as exactly `2 * N` lowercase hexadecimal digits
/// (what [`hex`] writes), or `None`.
pub(crate) fn from_hex<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    if text.len() != 2 * N {
        return None;
    }
    let digit = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    };
    let mut bytes = [0u8; N];
    for (byte, pair) in bytes.iter_mut().zip(text.chunks_exact(2)) {
        let [high, low] = *pair else {
            return None;
        };
        *byte = (digit(high)? << 4) | digit(low)?;
    }
    Some(bytes)
}

/// A ready cipher for raw key bytes.
pub(crate) fn cipher_for(key: &[u8; KEY_LEN]) -> Aes256Gcm {
    Aes256Gcm::new(&(*key).into())
}

/// Fills `buf` from the operating system's generator.
pub(crate) fn fill_from_os(buf: &mut [u8]) -> Result<(), Error> {
    use rand::TryRng as _;
    rand::rngs::SysRng
        .try_fill_bytes(buf)
        .map_err(|_| Error::Randomness)
}

/// Bytes drawn for one data key: the key, then the nonce that wraps it.
pub(crate) const DATA_KEY_DRAW_LEN: usize = KEY_LEN + NONCE_LEN;

/// A fresh data key and the nonce that wraps it under a tier key, in one
/// draw from the operating system's generator.
///
/// Both come from the kernel, not from a user-space generator, because
/// both must be unique for as long as the tier key lives: a process state
/// duplicated by `fork()` without `exec`, or by restoring a VM snapshot,
/// would otherwise draw the same data key and the same wrap nonce twice,
/// and a repeated nonce under a long-lived AES-GCM key breaks that key.
/// The kernel's generator is reseeded on snapshot restore and is never
/// shared by two processes. One system call per record is the price (see
/// docs/PERFORMANCE.md).
pub(crate) fn fresh_data_key_and_wrap_nonce()
-> Result<(Zeroizing<[u8; KEY_LEN]>, [u8; NONCE_LEN]), Error> {
    let mut drawn = Zeroizing::new([0u8; DATA_KEY_DRAW_LEN]);
    fill_from_os_or_fixed(drawn.as_mut())?;
    Ok(split_data_key_draw(&drawn))
}

/// Data keys and wrap nonces for `count` tiers of one record, in one draw
/// from the operating system's generator (for the reasons given at
/// [`fresh_data_key_and_wrap_nonce`]), each read with
/// [`split_data_key_draw`]. The caller must wrap every key before any
/// code of the user's runs (see [`crate::RecordSealer::prepare`]).
pub(crate) fn fresh_data_key_draws(
    count: usize,
) -> Result<Zeroizing<Vec<[u8; DATA_KEY_DRAW_LEN]>>, Error> {
    let mut drawn = Zeroizing::new(vec![[0u8; DATA_KEY_DRAW_LEN]; count]);
    fill_from_os_or_fixed(drawn.as_flattened_mut())?;
    Ok(drawn)
}

/// Splits one data key draw into the key and its wrap nonce.
pub(crate) fn split_data_key_draw(
    drawn: &[u8; DATA_KEY_DRAW_LEN],
) -> (Zeroizing<[u8; KEY_LEN]>, [u8; NONCE_LEN]) {
    let (key_part, nonce_part) = drawn.split_at(KEY_LEN);
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    key.copy_from_slice(key_part);
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(nonce_part);
    (key, nonce)
}

/// A fresh nonce for a key that outlives one record (a tier key when
/// rewrapping, the master key, a grant secret), from the operating
/// system's generator for the reasons given at
/// [`fresh_data_key_and_wrap_nonce`].
pub(crate) fn fresh_wrap_nonce() -> Result<[u8; NONCE_LEN], Error> {
    let mut nonce = [0u8; NONCE_LEN];
    fill_from_os_or_fixed(&mut nonce)?;
    Ok(nonce)
}

/// A fresh random 96-bit nonce for a field under a per-record data key,
/// from the thread-local CSPRNG (seeded from the OS).
///
/// Not fork-safe on its own, and it need not be: the data key it is used
/// with comes from the kernel ([`fresh_data_key_and_wrap_nonce`]), so two
/// processes that share this generator's state still encrypt under
/// different keys. Never use it under a long-lived key.
pub(crate) fn fresh_field_nonce() -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    #[cfg(test)]
    if fixed_randomness::fill(&mut nonce) {
        return nonce;
    }
    rand::rng().fill_bytes(&mut nonce);
    nonce
}

pub(crate) fn fill_from_os_or_fixed(buf: &mut [u8]) -> Result<(), Error> {
    #[cfg(test)]
    if fixed_randomness::fill(buf) {
        return Ok(());
    }
    fill_from_os(buf)
}

/// Test vectors need fixed data keys and nonces: inside
/// [`fixed_randomness::with`], the `fresh_*` functions draw from
/// the given bytes instead of the generator. Compiled only for tests.
#[cfg(test)]
pub(crate) mod fixed_randomness {
    use std::cell::RefCell;
    use std::collections::VecDeque;

    /// The bytes left to hand out, and the size of every draw so far.
    struct Fixed {
        bytes: VecDeque<u8>,
        draws: Vec<usize>,
    }

    thread_local! {
        static FIXED: RefCell<Option<Fixed>> = const { RefCell::new(None) };
    }

    /// Runs `f` with `bytes` as the only randomness; panics if `f` draws
    /// more than given or leaves some unused.
    pub(crate) fn with<R>(bytes: &[u8], f: impl FnOnce() -> R) -> R {
        with_draws(bytes, f).0
    }

    /// As [`with`], and returns the size of each draw `f` made, in order.
    pub(crate) fn with_draws<R>(bytes: &[u8], f: impl FnOnce() -> R) -> (R, Vec<usize>) {
        FIXED.with(|fixed| {
            *fixed.borrow_mut() = Some(Fixed {
                bytes: bytes.iter().copied().collect(),
                draws: Vec::new(),
            });
        });
        let result = f();
        let fixed = FIXED.with(|fixed| fixed.borrow_mut().take());
        let (left, draws) = fixed.map_or((0, Vec::new()), |f| (f.bytes.len(), f.draws));
        assert_eq!(left, 0, "fixed randomness left unused");
        (result, draws)
    }

    pub(super) fn fill(buf: &mut [u8]) -> bool {
        FIXED.with(|fixed| {
            let mut fixed = fixed.borrow_mut();
            let Some(fixed) = fixed.as_mut() else {
                return false;
            };
            fixed.draws.push(buf.len());
            for byte in buf.iter_mut() {
                *byte = fixed.bytes.pop_front().expect("fixed randomness exhausted");
            }
            true
        })
    }
}

/// Encrypts `buf` in place and returns the tag.
pub(crate) fn encrypt(
    cipher: &Aes256Gcm,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buf: &mut [u8],
) -> Result<[u8; TAG_LEN], Error> {
    cipher
        .encrypt_inout_detached(&Nonce::from(*nonce), aad, buf.into())
        .map(Into::into)
        .map_err(|_| Error::InvalidParameter {
            what: "plaintext",
            reason: "too long for one AES-GCM message",
        })
}

/// Decrypts `buf` in place after checking `tag`. On failure `buf` holds
/// no plaintext.
pub(crate) fn decrypt(
    cipher: &Aes256Gcm,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buf: &mut [u8],
    tag: &[u8; TAG_LEN],
) -> Result<(), AuthFailed> {
    cipher
        .decrypt_inout_detached(&Nonce::from(*nonce), aad, buf.into(), &Tag::from(*tag))
        .map_err(|_| AuthFailed)
}

/// Wraps a 256-bit key under `kek`: `ciphertext || tag`.
pub(crate) fn wrap_key(
    kek: &Aes256Gcm,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    key: &[u8; KEY_LEN],
) -> Result<[u8; WRAPPED_KEY_LEN], Error> {
    let mut out = [0u8; WRAPPED_KEY_LEN];
    let (body, tag_out) = out.split_at_mut(KEY_LEN);
    body.copy_from_slice(key);
    let tag = encrypt(kek, nonce, aad, body)?;
    tag_out.copy_from_slice(&tag);
    Ok(out)
}

/// Unwraps a key wrapped by [`wrap_key`].
pub(crate) fn unwrap_key(
    kek: &Aes256Gcm,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    wrapped: &[u8; WRAPPED_KEY_LEN],
) -> Result<Zeroizing<[u8; KEY_LEN]>, AuthFailed> {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    let (body, tag) = wrapped.split_at(KEY_LEN);
    key.copy_from_slice(body);
    let tag: &[u8; TAG_LEN] = tag.try_into().map_err(|_| AuthFailed)?;
    decrypt(kek, nonce, aad, key.as_mut(), tag)?;
    Ok(key)
}

/// A key check value: the first three bytes of
/// HMAC-SHA-256(key, "tierseal key check value"). It identifies a key
/// version (to compare two copies, or spot a mix-up) without revealing it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct CheckValue([u8; 3]);

impl CheckValue {
    fn of(key: &[u8; KEY_LEN]) -> CheckValue {
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(b"tierseal key check value");
        let digest = mac.finalize().into_bytes();
        let mut value = [0u8; 3];
        value.copy_from_slice(digest.get(..3).unwrap_or_default());
        CheckValue(value)
    }
}

impl fmt::Display for CheckValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

impl fmt::Debug for CheckValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CheckValue({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_hex_reads_what_hex_writes_and_nothing_else() {
        let bytes = [0x00, 0x7f, 0xa5, 0xff];
        assert_eq!(from_hex::<4>(hex(&bytes).as_bytes()), Some(bytes));
        for bad in ["007FA5FF", "+07fa5ff", "007fa5f", "007fa5ff0", "007fa5fg"] {
            assert_eq!(from_hex::<4>(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn wrap_then_unwrap_returns_the_key() {
        let kek = KeyMaterial::generate().unwrap().cipher();
        let key = [7u8; KEY_LEN];
        let nonce = fresh_wrap_nonce().unwrap();
        let wrapped = wrap_key(&kek, &nonce, b"ctx", &key).unwrap();
        assert_ne!(&wrapped[..KEY_LEN], &key[..]);
        let back = unwrap_key(&kek, &nonce, b"ctx", &wrapped).unwrap();
        assert_eq!(*back, key);
    }

    #[test]
    fn unwrap_fails_on_other_context_or_key() {
        let kek = KeyMaterial::generate().unwrap().cipher();
        let other = KeyMaterial::generate().unwrap().cipher();
        let nonce = fresh_wrap_nonce().unwrap();
        let wrapped = wrap_key(&kek, &nonce, b"ctx", &[1u8; KEY_LEN]).unwrap();
        assert_eq!(
            unwrap_key(&kek, &nonce, b"other", &wrapped),
            Err(AuthFailed)
        );
        assert_eq!(
            unwrap_key(&other, &nonce, b"ctx", &wrapped),
            Err(AuthFailed)
        );
    }

    #[test]
    fn check_values_differ_per_key_and_are_stable() {
        let a = KeyMaterial::take(&mut [1u8; KEY_LEN]);
        let b = KeyMaterial::take(&mut [2u8; KEY_LEN]);
        assert_eq!(a.check_value(), a.clone().check_value());
        assert_ne!(a.check_value(), b.check_value());
        assert_eq!(a.check_value().to_string().len(), 6);
    }

    #[test]
    fn take_wipes_the_source() {
        let mut bytes = [9u8; KEY_LEN];
        let key = KeyMaterial::take(&mut bytes);
        assert_eq!(bytes, [0u8; KEY_LEN]);
        assert_eq!(key.expose(), &[9u8; KEY_LEN]);
    }

    #[test]
    fn key_material_debug_is_redacted() {
        let key = KeyMaterial::take(&mut [0xABu8; KEY_LEN]);
        let shown = format!("{key:?}");
        assert!(
            !shown.contains("171") && !shown.to_lowercase().contains("ab"),
            "{shown}"
        );
    }
}
