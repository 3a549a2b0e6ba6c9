//! The buffer a field or packed part is decrypted into.
//!
//! Plaintext lives only here between decryption and decoding: the buffer
//! is never reallocated while it holds any (a buffer too small is replaced,
//! and the old one wiped as it drops), and its whole allocation is wiped
//! when it drops. A decoded `String` may take the buffer over
//! ([`PlaintextBuf::take`]); the plaintext is then the string's.

use aes_gcm::Aes256Gcm;
use zeroize::Zeroize;

use super::format::FieldPart;
use crate::crypto::{self, AuthFailed};

/// Decrypted plaintext, wiped when dropped.
#[derive(Default)]
pub(super) struct PlaintextBuf(Vec<u8>);

impl PlaintextBuf {
    /// Decrypts `field` under `cipher` and `aad` into this buffer, which
    /// then holds exactly its plaintext. The ciphertext is copied in and
    /// decrypted in place. On failure the buffer is wiped and left empty:
    /// aes-gcm checks the tag before it decrypts, and the wipe keeps that
    /// true whatever order a later version uses.
    pub(super) fn decrypt(
        &mut self,
        cipher: &Aes256Gcm,
        aad: &[u8],
        field: &FieldPart<'_>,
    ) -> Result<(), AuthFailed> {
        let len = field.ciphertext.len();
        if self.0.capacity() < len {
            // Growing in place could leave plaintext in the freed block:
            // the old buffer is replaced and wiped as it drops.
            *self = PlaintextBuf(Vec::with_capacity(len));
        }
        self.0.clear();
        self.0.extend_from_slice(field.ciphertext);
        crypto::decrypt(cipher, field.nonce, aad, &mut self.0, field.tag)
            .inspect_err(|_| self.wipe())
    }

    /// The plaintext.
    pub(super) fn as_slice(&self) -> &[u8] {
        &self.0
    }

    /// A buffer already holding `plaintext`, for tests of decoding.
    #[cfg(test)]
    pub(super) fn holding(plaintext: Vec<u8>) -> PlaintextBuf {
        PlaintextBuf(plaintext)
    }

    /// The buffer's capacity.
    #[cfg(test)]
    pub(super) fn capacity(&self) -> usize {
        self.0.capacity()
    }

    /// Hands the buffer over to the caller, who then owns (and must wipe
    /// or keep) the plaintext; this buffer is left empty. The space past
    /// the plaintext, which may hold an earlier and longer field's, is
    /// wiped first.
    pub(super) fn take(&mut self) -> Vec<u8> {
        if self.0.capacity() > self.0.len() {
            self.0.spare_capacity_mut().zeroize();
        }
        std::mem::take(&mut self.0)
    }

    /// Wipes the whole allocation in one pass and empties the buffer.
    ///
    /// A buffer without an allocation is skipped: zeroizing an empty `Vec`
    /// zero-fills zero bytes at its dangling address, which glibc's
    /// AVX-512 `memset` does with a masked store the CPU completes in
    /// microcode (about 90 ns, once per opened string field before this
    /// check).
    fn wipe(&mut self) {
        if self.0.capacity() != 0 {
            self.0.clear();
            self.0.spare_capacity_mut().zeroize();
        }
    }
}

impl Drop for PlaintextBuf {
    fn drop(&mut self) {
        self.wipe();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{NONCE_LEN, cipher_for};

    fn sealed(plaintext: &[u8]) -> (Aes256Gcm, [u8; NONCE_LEN], Vec<u8>, [u8; 16]) {
        let cipher = cipher_for(&[7; 32]);
        let nonce = [3; NONCE_LEN];
        let mut ciphertext = plaintext.to_vec();
        let tag = crypto::encrypt(&cipher, &nonce, b"aad", &mut ciphertext).unwrap();
        (cipher, nonce, ciphertext, tag)
    }

    #[test]
    fn decrypts_replaces_a_small_buffer_and_empties_itself_on_failure() {
        let (cipher, nonce, ciphertext, tag) = sealed(b"a longer plaintext than before");
        let field = FieldPart {
            nonce: &nonce,
            ciphertext: &ciphertext,
            tag: &tag,
        };
        let mut buf = PlaintextBuf(Vec::with_capacity(4));
        buf.decrypt(&cipher, b"aad", &field).unwrap();
        assert_eq!(buf.as_slice(), b"a longer plaintext than before");

        assert!(buf.decrypt(&cipher, b"other aad", &field).is_err());
        assert!(buf.as_slice().is_empty(), "no ciphertext or plaintext left");

        buf.decrypt(&cipher, b"aad", &field).unwrap();
        let taken = buf.take();
        assert_eq!(taken, b"a longer plaintext than before");
        assert!(buf.as_slice().is_empty());
        assert_eq!(buf.0.capacity(), 0, "the allocation went with the bytes");
    }
}
