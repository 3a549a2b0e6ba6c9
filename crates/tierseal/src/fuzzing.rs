//! Entry points for the fuzz targets in `fuzz/`. **Not public API**: only
//! built with the `fuzzing` feature, hidden from the docs, and free to change
//! in any release. See `docs/FUZZING.md`.
//!
//! They reach parsers that the public API only runs behind a cryptographic
//! gate a fuzzer cannot pass: the keystore file's layout is parsed before an
//! Argon2 derivation whose parameters a fuzzer would choose, its body is
//! decoded only after the master key authenticated it, and a packed part's
//! plaintext is split into its entries only after its tag checked.

/// Parses the bytes of a keystore file as [`Keystore::open`](crate::Keystore::open)
/// does, stopping before the key derivation; returns the Argon2 parameters
/// `open` would derive with (a target runs `open` itself only when they are
/// the cheap test profile's).
///
/// # Errors
/// What `open` would report for these bytes before deriving a key.
pub fn keystore_file(bytes: &[u8]) -> Result<crate::KdfParams, crate::Error> {
    crate::keystore::fuzzing::parse_file(bytes)
}

/// Decodes and checks a keystore body as `open` does once the master key
/// has authenticated it.
///
/// # Errors
/// The reason `open` would give in [`Error::KeystoreCorrupt`](crate::Error::KeystoreCorrupt).
pub fn keystore_body(bytes: &[u8]) -> Result<(), &'static str> {
    crate::keystore::fuzzing::decode_body(bytes)
}

/// Splits a packed part's decrypted plaintext into `count` entries as
/// opening the part does; returns where each entry's encoding lies.
///
/// # Errors
/// [`Error::Malformed`](crate::Error::Malformed) for a plaintext that is
/// not exactly `count` length-prefixed entries.
pub fn packed_plaintext(
    bytes: &[u8],
    count: usize,
) -> Result<Vec<std::ops::Range<usize>>, crate::Error> {
    let mut ranges = vec![0..0; count];
    crate::envelope::format::split_part_plaintext(bytes, &mut ranges)?;
    Ok(ranges)
}
