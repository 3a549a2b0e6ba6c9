//! The baselines the benchmarks and `examples/measure.rs` compare
//! against, in one place: random field text and the raw AES-GCM loop.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "benchmark code; each bench uses its part"
)]

use aes_gcm::aead::AeadInOut;
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use rand::Rng as _;

/// `len` random lowercase letters (the benchmark record's field text).
pub(crate) fn letters(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(b'a' + u8::try_from(rng.next_u32() % 26).unwrap()))
        .collect()
}

/// A random 96-bit nonce from the thread generator.
pub(crate) fn nonce() -> [u8; 12] {
    let mut n = [0u8; 12];
    rand::rng().fill_bytes(&mut n);
    n
}

/// Raw AES-GCM encryption of `plaintext` into a fresh output buffer.
pub(crate) fn raw_encrypt(cipher: &Aes256Gcm, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let nonce = nonce();
    let mut out = Vec::with_capacity(12 + plaintext.len() + 16);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let tag = cipher
        .encrypt_inout_detached(&Nonce::from(nonce), aad, (&mut out[12..]).into())
        .unwrap();
    out.extend_from_slice(&tag);
    out
}

/// Raw AES-GCM decryption of what [`raw_encrypt`] produced.
pub(crate) fn raw_decrypt(cipher: &Aes256Gcm, aad: &[u8], sealed: &[u8]) -> Vec<u8> {
    let nonce: [u8; 12] = sealed[..12].try_into().unwrap();
    let (body, tag) = sealed[12..].split_at(sealed.len() - 28);
    let mut out = body.to_vec();
    let tag: [u8; 16] = tag.try_into().unwrap();
    cipher
        .decrypt_inout_detached(
            &Nonce::from(nonce),
            aad,
            (&mut out[..]).into(),
            &Tag::from(tag),
        )
        .unwrap();
    out
}
