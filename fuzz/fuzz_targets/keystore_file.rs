//! The keystore file's byte layout, up to the Argon2 derivation.
//!
//! First byte even: the rest is the file as is (the checksum usually fails
//! first). Odd: the target appends the SHA-256 trailer itself, as anyone
//! who can write the file can, so the layout parser behind it is reached.
//! When the parsed KDF parameters are the cheap test profile's, the file is
//! also opened through the public `Keystore::open` (the fixture passphrase),
//! so the unwrap and body paths run without fuzzer-chosen Argon2 costs.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};
use tierseal::{KdfProfile, Keystore};
use tierseal_fuzz::{PASSPHRASE, fixture};

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    let mut file = rest.to_vec();
    if mode % 2 == 1 {
        file.extend_from_slice(&Sha256::digest(rest));
    }
    let Ok(params) = tierseal::__fuzz::keystore_file(&file) else {
        return;
    };
    if params != KdfProfile::Test.params() {
        return;
    }
    let path = fixture().scratch.path().join("input.keystore");
    std::fs::write(&path, &file).unwrap();
    if let Ok(keystore) = Keystore::open_with_lock_wait(&path, &PASSPHRASE.into(), Duration::ZERO) {
        let _ = keystore.key_versions();
        let _ = format!("{keystore:?}");
    }
});
