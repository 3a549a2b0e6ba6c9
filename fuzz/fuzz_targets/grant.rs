//! Grant files and grant secrets.
//!
//! First byte % 3 selects: 0, the rest is a grant file, read for display
//! and loaded with the fixed secret; 1, the rest is two chunks (the public
//! header and the plaintext of the keys), which the target encrypts under
//! the fixed secret as a version 1 grant (`grant.rs` documents the layout),
//! so the key decoder behind the tag is reached; 2, the rest is a grant
//! secret's text.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use tierseal::{Binding, GrantInfo, GrantSecret, Keyring, SealedValue};
use tierseal_fuzz::{chunks, context};

/// The fixed grant secret's key bytes.
const SECRET: [u8; 32] = [0x42; 32];

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    // 2027-01-01: seed grants expire in 2100.
    let now = UNIX_EPOCH + Duration::from_secs(1_798_761_600);
    let secret: GrantSecret = format!("tierseal-grant:{}", URL_SAFE_NO_PAD.encode(SECRET))
        .parse()
        .unwrap();
    match mode % 3 {
        0 => {
            let _ = GrantInfo::read(rest);
            let _ = Keyring::from_grant_at(rest, &secret, now);
        }
        1 => {
            let parts = chunks(rest);
            let (Some(info), Some(keys)) = (parts.first(), parts.get(1)) else {
                return;
            };
            let grant = seal_grant(info, keys);
            if let Ok(keyring) = Keyring::from_grant_at(&grant, &secret, now) {
                check_keyring(&keyring);
            }
        }
        _ => {
            let Ok(text) = std::str::from_utf8(rest) else {
                return;
            };
            if let Ok(secret) = text.parse::<GrantSecret>() {
                assert_eq!(format!("{secret:?}"), "GrantSecret([REDACTED])");
                assert_eq!(secret.expose_text().as_str(), text.trim());
            }
        }
    }
});

/// A version 1 grant holding `info` and the encrypted `keys`.
fn seal_grant(info: &[u8], keys: &[u8]) -> Vec<u8> {
    let mut grant = b"TSGR\x01".to_vec();
    grant.extend_from_slice(&u32::try_from(info.len()).unwrap().to_be_bytes());
    grant.extend_from_slice(info);
    let nonce = [7u8; 12];
    let mut body = keys.to_vec();
    let tag = Aes256Gcm::new(&SECRET.into())
        .encrypt_inout_detached(&Nonce::from(nonce), &grant, body.as_mut_slice().into())
        .unwrap();
    grant.extend_from_slice(&nonce);
    grant.extend_from_slice(&body);
    grant.extend_from_slice(&tag);
    grant
}

/// A keyring that loads seals and opens at every tier it holds.
fn check_keyring(keyring: &Keyring) {
    let ctx = context();
    let binding = Binding::new("Customer", "iban");
    let _ = format!("{keyring:?}");
    for tier in keyring.tiers() {
        let sealed = SealedValue::seal(keyring, tier, binding, "GB33BUKB20201555555555")
            .expect("a loaded keyring seals at its tiers");
        let opened: String = sealed
            .open(keyring, binding, &ctx)
            .expect("a loaded keyring opens what it sealed");
        assert_eq!(opened, "GB33BUKB20201555555555");
    }
}
