//! Public-key wrapping of data keys (HPKE, RFC 9180), so that a seal-only
//! service can seal to a tier without holding anything that opens it.
//!
//! Each tier key version has an HPKE key pair *derived* from it:
//! `ikm = HMAC-SHA-256(tier key, "tierseal/hpke/<suite>/v1")`, then the
//! KEM's `DeriveKeyPair(ikm)`. The private key therefore lives only where
//! the tier key lives and is destroyed with it on retire; the public key is
//! published (see [`PublicKeySet`](crate::PublicKeySet)).
//!
//! The data key is sealed with single-shot HPKE in base mode: KDF
//! HKDF-SHA256, AEAD AES-256-GCM, KEM DHKEM(X25519, HKDF-SHA256) or X-Wing
//! (X25519 + ML-KEM-768). The HPKE `info` binds what the symmetric wrap's
//! AAD binds (format version, tier, key version) plus the suite; the
//! field's AAD binds type, record id, path and field as for every token.
//! See `docs/FORMAT.md`.

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use aes_gcm::Aes256Gcm;
use hmac::{Hmac, Mac};
use hpke::aead::{AeadTag, AesGcm256};
use hpke::kdf::HkdfSha256;
use hpke::kem::{Kem, X25519HkdfSha256, XWing};
use hpke::{Deserializable, OpModeR, OpModeS, Serializable};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::format::{self, PublicWrap, Version};
use super::{Rewrapped, integrity};
use crate::crypto::{self, KEY_LEN, KeyMaterial, WRAPPED_KEY_LEN};
use crate::keyring::{PublicTierKey, TierKeys};
use crate::{Error, Keyring, Tier};

/// The HPKE suite a tier's public key belongs to, chosen when the tier is
/// created and written in every public-key token (its suite byte).
///
/// Both use HKDF-SHA256 and AES-256-GCM; they differ in the KEM.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum HpkeSuite {
    /// DHKEM(X25519, HKDF-SHA256) (KEM id 0x0020): suite byte 1; 32-byte
    /// public keys and encapsulations.
    #[default]
    X25519,
    /// X-Wing, X25519 combined with ML-KEM-768 (KEM id 0x647a): suite byte
    /// 2; 1216-byte public keys, 1120-byte encapsulations. Stays
    /// confidential unless both X25519 and ML-KEM-768 are broken, so
    /// ciphertexts harvested today resist a future quantum computer.
    XWing,
}

impl HpkeSuite {
    /// Every suite, in suite-byte order.
    pub const ALL: [HpkeSuite; 2] = [HpkeSuite::X25519, HpkeSuite::XWing];

    /// The suite byte written in tokens.
    pub const fn id(self) -> u8 {
        match self {
            HpkeSuite::X25519 => 1,
            HpkeSuite::XWing => 2,
        }
    }

    /// The suite of a suite byte.
    pub const fn from_id(id: u8) -> Option<HpkeSuite> {
        match id {
            1 => Some(HpkeSuite::X25519),
            2 => Some(HpkeSuite::XWing),
            _ => None,
        }
    }

    /// The suite's name: `x25519` or `xwing`.
    pub const fn name(self) -> &'static str {
        match self {
            HpkeSuite::X25519 => "x25519",
            HpkeSuite::XWing => "xwing",
        }
    }

    /// Bytes of a serialized public key.
    pub const fn public_key_len(self) -> usize {
        match self {
            HpkeSuite::X25519 => 32,
            HpkeSuite::XWing => 1216,
        }
    }

    /// Bytes of an encapsulated key (the KEM ciphertext in each token).
    pub const fn encapsulated_len(self) -> usize {
        match self {
            HpkeSuite::X25519 => 32,
            HpkeSuite::XWing => 1120,
        }
    }
}

impl fmt::Display for HpkeSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for HpkeSuite {
    type Err = Error;

    fn from_str(text: &str) -> Result<HpkeSuite, Error> {
        HpkeSuite::ALL
            .into_iter()
            .find(|suite| suite.name() == text)
            .ok_or(Error::InvalidParameter {
                what: "suite",
                reason: "expected x25519 or xwing",
            })
    }
}

/// A tier's HPKE public key, parsed once.
#[derive(Clone)]
pub(crate) enum ParsedPublicKey {
    X25519(<X25519HkdfSha256 as Kem>::PublicKey),
    XWing(Box<<XWing as Kem>::PublicKey>),
}

impl ParsedPublicKey {
    /// Parses `bytes` as a public key of `suite`.
    pub(crate) fn parse(suite: HpkeSuite, bytes: &[u8]) -> Result<ParsedPublicKey, Error> {
        let invalid = |_| Error::PublicKeySetInvalid {
            reason: "a public key has the wrong length or is not a valid key",
        };
        if bytes.len() != suite.public_key_len() {
            return Err(invalid(()));
        }
        Ok(match suite {
            HpkeSuite::X25519 => ParsedPublicKey::X25519(
                <X25519HkdfSha256 as Kem>::PublicKey::from_bytes(bytes).map_err(|_| invalid(()))?,
            ),
            HpkeSuite::XWing => ParsedPublicKey::XWing(Box::new(
                <XWing as Kem>::PublicKey::from_bytes(bytes).map_err(|_| invalid(()))?,
            )),
        })
    }

    pub(crate) fn suite(&self) -> HpkeSuite {
        match self {
            ParsedPublicKey::X25519(_) => HpkeSuite::X25519,
            ParsedPublicKey::XWing(_) => HpkeSuite::XWing,
        }
    }
}

/// `ikm = HMAC-SHA-256(tier key, "tierseal/hpke/<suite>/v1")`.
fn derivation_ikm(suite: HpkeSuite, tier_key: &KeyMaterial) -> Zeroizing<[u8; 32]> {
    let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(tier_key.expose())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(b"tierseal/hpke/");
    mac.update(suite.name().as_bytes());
    mac.update(b"/v1");
    let mut ikm = Zeroizing::new([0u8; 32]);
    ikm.copy_from_slice(&mac.finalize().into_bytes());
    ikm
}

/// The public key of `suite` derived from a tier key version, serialized.
pub(crate) fn derive_public_key(suite: HpkeSuite, tier_key: &KeyMaterial) -> Vec<u8> {
    let ikm = derivation_ikm(suite, tier_key);
    match suite {
        HpkeSuite::X25519 => X25519HkdfSha256::derive_keypair(ikm.as_slice())
            .1
            .to_bytes()
            .to_vec(),
        HpkeSuite::XWing => XWing::derive_keypair(ikm.as_slice()).1.to_bytes().to_vec(),
    }
}

/// Hands out randomness drawn beforehand (fallibly, from the OS, or from
/// the test queue): HPKE's encapsulation takes an infallible RNG. X25519
/// draws 32 bytes, X-Wing 64.
struct Drawn {
    bytes: Zeroizing<[u8; 64]>,
    pos: usize,
}

impl Drawn {
    fn new() -> Result<Drawn, Error> {
        let mut bytes = Zeroizing::new([0u8; 64]);
        crypto::fill_from_os_or_fixed(bytes.as_mut())?;
        Ok(Drawn { bytes, pos: 0 })
    }
}

impl hpke::rand_core::TryRng for Drawn {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut buf = [0u8; 4];
        self.try_fill_bytes(&mut buf)?;
        Ok(u32::from_le_bytes(buf))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut buf = [0u8; 8];
        self.try_fill_bytes(&mut buf)?;
        Ok(u64::from_le_bytes(buf))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for byte in dst {
            // Never reached by the suites here (they draw at most 64
            // bytes); if a KEM ever drew more, the thread RNG continues.
            *byte = match self.bytes.get(self.pos) {
                Some(&b) => b,
                None => rand::RngExt::random(&mut rand::rng()),
            };
            self.pos += 1;
        }
        Ok(())
    }
}

impl hpke::rand_core::TryCryptoRng for Drawn {}

/// The HPKE `info` of a data-key wrap: a domain tag, then format version,
/// suite byte, tier (length-prefixed) and key version.
pub(crate) fn wrap_info(
    version: Version,
    suite: HpkeSuite,
    tier: &str,
    key_version: u32,
) -> Vec<u8> {
    let mut info = Vec::with_capacity(32 + tier.len());
    info.extend_from_slice(b"tierseal/hpke-wrap");
    info.push(b'H');
    info.push(version as u8);
    info.push(suite.id());
    info.push(u8::try_from(tier.len()).unwrap_or(u8::MAX));
    info.extend_from_slice(tier.as_bytes());
    info.extend_from_slice(&key_version.to_be_bytes());
    info
}

fn seal_with<K: Kem>(
    public: &K::PublicKey,
    info: &[u8],
    data_key: &[u8; KEY_LEN],
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let mut rng = Drawn::new()?;
    // Encrypted in place; wiped on drop in case sealing fails half way.
    let mut buf = Zeroizing::new(*data_key);
    let sealed = hpke::single_shot_seal_inout_detached_with_rng::<AesGcm256, HkdfSha256, K>(
        &OpModeS::Base,
        public,
        info,
        (&mut buf[..]).into(),
        b"",
        &mut rng,
    );
    let (enc, tag) =
        sealed.map_err(|_| Error::malformed("the public key refused encapsulation"))?;
    out.extend_from_slice(&enc.to_bytes());
    out.extend_from_slice(buf.as_slice());
    out.extend_from_slice(&tag.to_bytes());
    Ok(())
}

/// Writes `suite key_version enc wrapped` for a fresh data key sealed to
/// `public`, and returns the data key's ready cipher.
pub(crate) fn new_data_key(
    public: &PublicTierKey,
    version: Version,
    out: &mut Vec<u8>,
) -> Result<Aes256Gcm, Error> {
    let (data_key, _) = crypto::fresh_data_key_and_wrap_nonce()?;
    write_wrap(
        public.key_version,
        &public.key,
        public.tier.as_str(),
        version,
        &data_key,
        out,
    )?;
    Ok(crypto::cipher_for(&data_key))
}

fn write_wrap(
    key_version: u32,
    key: &ParsedPublicKey,
    tier: &str,
    version: Version,
    data_key: &[u8; KEY_LEN],
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let suite = key.suite();
    out.push(suite.id());
    out.extend_from_slice(&key_version.to_be_bytes());
    let info = wrap_info(version, suite, tier, key_version);
    match key {
        ParsedPublicKey::X25519(pk) => seal_with::<X25519HkdfSha256>(pk, &info, data_key, out),
        ParsedPublicKey::XWing(pk) => seal_with::<XWing>(pk, &info, data_key, out),
    }
}

/// A tier key version's HPKE private keys, derived on first use and kept
/// for the keyring's life (each zeroized when dropped, with the keyring),
/// so that opening does not repeat the derivation (an X-Wing derivation is
/// a whole ML-KEM key generation).
#[derive(Default)]
pub(crate) struct DerivedKeys {
    x25519: OnceLock<<X25519HkdfSha256 as Kem>::PrivateKey>,
    xwing: OnceLock<Box<<XWing as Kem>::PrivateKey>>,
}

fn open_with<K: Kem>(
    private: &K::PrivateKey,
    enc: &[u8],
    info: &[u8],
    wrapped: &[u8; WRAPPED_KEY_LEN],
) -> Result<Zeroizing<[u8; KEY_LEN]>, crypto::AuthFailed> {
    let enc = K::EncappedKey::from_bytes(enc).map_err(|_| crypto::AuthFailed)?;
    let (ciphertext, tag) = wrapped.split_at(KEY_LEN);
    let tag = AeadTag::<AesGcm256>::from_bytes(tag).map_err(|_| crypto::AuthFailed)?;
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    key.copy_from_slice(ciphertext);
    hpke::single_shot_open_inout_detached::<AesGcm256, HkdfSha256, K>(
        &OpModeR::Base,
        private,
        &enc,
        info,
        (&mut key[..]).into(),
        b"",
        &tag,
    )
    .map_err(|_| crypto::AuthFailed)?;
    Ok(key)
}

/// Unwraps a public-key-wrapped data key of token format `version` with
/// the private key derived from the tier key version it names.
fn unwrap(
    keys: &TierKeys,
    version: Version,
    wrap: &PublicWrap<'_>,
) -> Result<Zeroizing<[u8; KEY_LEN]>, Error> {
    let key = keys.version_key(wrap.key_version)?;
    let info = wrap_info(version, wrap.suite, keys.tier.as_str(), wrap.key_version);
    match wrap.suite {
        HpkeSuite::X25519 => {
            let private = key.hpke.x25519.get_or_init(|| {
                let ikm = derivation_ikm(HpkeSuite::X25519, &key.material);
                X25519HkdfSha256::derive_keypair(ikm.as_slice()).0
            });
            open_with::<X25519HkdfSha256>(private, wrap.enc, &info, wrap.wrapped)
        }
        HpkeSuite::XWing => {
            let private = key.hpke.xwing.get_or_init(|| {
                let ikm = derivation_ikm(HpkeSuite::XWing, &key.material);
                Box::new(XWing::derive_keypair(ikm.as_slice()).0)
            });
            open_with::<XWing>(private, wrap.enc, &info, wrap.wrapped)
        }
    }
    .map_err(|_| integrity(&keys.tier, wrap.key_version))
}

/// Unwraps a data key read from a public-key token of tier `tier`;
/// returns its cipher and the keyring's tier. A seal-only keyring gets
/// [`Error::SealOnly`]; a keyring that did not opt the tier in
/// ([`Keyring::accept_public_key_tokens`]) gets
/// [`Error::PublicKeyTokenRefused`], since anyone with the tier's public
/// key can write such a token.
pub(crate) fn open_data_key<'k>(
    keyring: &'k Keyring,
    version: Version,
    tier: &str,
    wrap: &PublicWrap<'_>,
) -> Result<(Aes256Gcm, &'k Tier), Error> {
    let keys = keyring.require_for_public_token(tier)?;
    let data_key = unwrap(keys, version, wrap)?;
    Ok((crypto::cipher_for(&data_key), &keys.tier))
}

/// Rewraps a public-key token's data key to its tier's primary version, in
/// place. It stays a public-key token of the same suite (same length, so
/// stored columns keep their size); the private key of the old version is
/// derived to unwrap and the primary version's public key derived to
/// wrap again. Refused, as opening is, unless the keyring accepts the
/// tier's public-key tokens.
pub(crate) fn rewrap(
    keyring: &Keyring,
    token: &mut [u8],
    kind: format::Kind,
) -> Result<Rewrapped, Error> {
    let (part, offset, from, to, target) = {
        let parsed = format::Token::parse(token, kind)?;
        let wrap = parsed
            .public_wrap
            .ok_or_else(|| Error::malformed("token without a public-key wrap"))?;
        let keys = keyring.require_for_public_token(parsed.tier)?;
        let primary = keys.primary_key()?;
        let from = wrap.key_version;
        let target = super::rewrap_target(kind, parsed.version);
        if from == primary.version && target == parsed.version {
            return Ok(Rewrapped::AlreadyCurrent);
        }
        let data_key = unwrap(keys, parsed.version, &wrap)?;
        let suite = wrap.suite;
        let public = ParsedPublicKey::parse(suite, &derive_public_key(suite, &primary.material))?;
        let mut part = Vec::with_capacity(format::public_wrap_len(suite));
        write_wrap(
            primary.version,
            &public,
            parsed.tier,
            target,
            &data_key,
            &mut part,
        )?;
        (part, wrap.offset, from, primary.version, target)
    };
    token
        .get_mut(offset..offset + part.len())
        .ok_or_else(|| Error::malformed("truncated"))?
        .copy_from_slice(&part);
    format::set_version(token, target);
    Ok(Rewrapped::Moved { from, to })
}
