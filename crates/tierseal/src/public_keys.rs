//! Signed public key sets, and the seal-only keyrings made from them.
//!
//! A custodian publishes every tier's primary HPKE public key in one file
//! (`tierseal keys publish`), signed with the keystore's Ed25519 publisher
//! key. A seal-only service pins the publisher's verifying key in its
//! configuration and loads the file with [`PublicKeySet::verify`]: a set
//! signed by another key, or altered after signing, is refused. Each
//! publish takes the next serial; [`Keyring::refresh_public_keys`] refuses a
//! set older than the one it holds, so an attacker who can swap the file
//! cannot silently replay an old set (pointing sealing at a key version
//! since retired). A service that restarts from scratch holds no serial:
//! it should also pin the minimum serial it accepts
//! ([`PublicKeySet::require_serial_at_least`]).

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::crypto;
use crate::envelope::HpkeSuite;
use crate::envelope::public_wrap::ParsedPublicKey;
use crate::keyring::PublicTierKey;
use crate::{Error, Keyring, Tier};

/// The `format` field of a public key set file.
pub(crate) const SET_FORMAT: &str = "tierseal-public-key-set/1";

/// Prefixed to the signed encoding, so that no other Ed25519 signature of
/// the publisher key can pass for a set's.
pub(crate) const SIGNATURE_CONTEXT: &[u8] = b"tierseal public key set\0\x01";

/// The Ed25519 verifying key of a keystore's publisher key: what a
/// seal-only service pins (64 hex digits in its configuration).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublisherKey(pub(crate) [u8; 32]);

impl PublisherKey {
    /// The key's 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for PublisherKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crypto::hex(&self.0))
    }
}

impl fmt::Debug for PublisherKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublisherKey({self})")
    }
}

impl FromStr for PublisherKey {
    type Err = Error;

    /// Parses 64 lowercase hex digits.
    fn from_str(text: &str) -> Result<PublisherKey, Error> {
        let bytes =
            crypto::from_hex::<32>(text.trim().as_bytes()).ok_or(Error::InvalidParameter {
                what: "publisher key",
                reason: "expected 64 lowercase hex digits",
            })?;
        VerifyingKey::from_bytes(&bytes).map_err(|_| Error::InvalidParameter {
            what: "publisher key",
            reason: "not an Ed25519 public key",
        })?;
        Ok(PublisherKey(bytes))
    }
}

/// One tier's entry in a public key set, as published.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WireTier {
    pub(crate) tier: Tier,
    pub(crate) suite: HpkeSuite,
    pub(crate) version: u32,
    /// Hex.
    pub(crate) public_key: String,
}

/// What the publisher key signs (after [`SIGNATURE_CONTEXT`], encoded with
/// postcard).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WireBody {
    pub(crate) format: String,
    pub(crate) serial: u64,
    pub(crate) issued_at: u64,
    pub(crate) tiers: Vec<WireTier>,
}

/// The file: the signed body, the signer and the signature.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WireFile {
    /// What is signed.
    pub(crate) set: WireBody,
    /// Hex of the publisher's verifying key.
    pub(crate) signer: String,
    /// Hex of the Ed25519 signature.
    pub(crate) signature: String,
}

impl WireBody {
    pub(crate) fn signed_message(&self) -> Result<Vec<u8>, Error> {
        postcard::to_extend(self, SIGNATURE_CONTEXT.to_vec())
            .map_err(|_| Error::malformed("public key set does not encode"))
    }
}

/// One tier's published public key.
#[derive(Clone)]
pub struct PublishedKey {
    tier: Tier,
    version: u32,
    key: ParsedPublicKey,
    bytes: Vec<u8>,
}

impl PublishedKey {
    /// The tier.
    pub fn tier(&self) -> &Tier {
        &self.tier
    }

    /// The tier key version the public key is derived from (the tier's
    /// primary when the set was published).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The HPKE suite.
    pub fn suite(&self) -> HpkeSuite {
        self.key.suite()
    }

    /// The serialized public key.
    pub fn public_key(&self) -> &[u8] {
        &self.bytes
    }
}

impl fmt::Debug for PublishedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} v{} ({}, {} bytes)",
            self.tier,
            self.version,
            self.key.suite(),
            self.bytes.len()
        )
    }
}

/// A verified set of every tier's primary public key: what a seal-only
/// keyring is made from. Obtain one with [`PublicKeySet::verify`] (from the
/// published file and the pinned [`PublisherKey`]) or from the keystore's
/// [`publish_public_keys`](crate::Keystore::publish_public_keys). It holds
/// no secret.
#[derive(Clone)]
pub struct PublicKeySet {
    serial: u64,
    issued_at: u64,
    signer: PublisherKey,
    keys: Vec<PublishedKey>,
}

impl PublicKeySet {
    /// Parses a public key set file and checks that `pinned` signed it.
    ///
    /// # Errors
    /// [`Error::PublicKeySetInvalid`] when the file does not parse, is
    /// signed by another key, its signature does not verify (it was
    /// altered), or a key in it is invalid.
    pub fn verify(bytes: &[u8], pinned: &PublisherKey) -> Result<PublicKeySet, Error> {
        let invalid = |reason| Error::PublicKeySetInvalid { reason };
        let file: WireFile = serde_json::from_slice(bytes)
            .map_err(|_| invalid("the file is not a public key set"))?;
        if file.set.format != SET_FORMAT {
            return Err(invalid("unknown public key set format"));
        }
        let signer = crypto::from_hex::<32>(file.signer.as_bytes())
            .ok_or_else(|| invalid("the signer is not a hex key"))?;
        if signer != pinned.0 {
            return Err(invalid(
                "signed by a key other than the pinned publisher key (swapped set?)",
            ));
        }
        let signature = crypto::from_hex::<64>(file.signature.as_bytes())
            .ok_or_else(|| invalid("the signature is not hex"))?;
        let verifying = VerifyingKey::from_bytes(&pinned.0)
            .map_err(|_| invalid("the pinned publisher key is not an Ed25519 key"))?;
        let message = file.set.signed_message()?;
        verifying
            .verify_strict(&message, &Signature::from_bytes(&signature))
            .map_err(|_| invalid("the signature does not verify: the set was altered"))?;
        PublicKeySet::from_body(file.set, *pinned)
    }

    /// Builds a set from a body whose signature was checked (or that the
    /// keystore just signed).
    pub(crate) fn from_body(body: WireBody, signer: PublisherKey) -> Result<PublicKeySet, Error> {
        let invalid = |reason| Error::PublicKeySetInvalid { reason };
        let mut keys: Vec<PublishedKey> = Vec::with_capacity(body.tiers.len());
        for entry in body.tiers {
            if keys.iter().any(|key| key.tier == entry.tier) {
                return Err(invalid("a tier appears twice"));
            }
            let mut bytes = vec![0u8; entry.public_key.len() / 2];
            if entry.public_key.len() % 2 != 0 || !hex_into(entry.public_key.as_bytes(), &mut bytes)
            {
                return Err(invalid("a public key is not hex"));
            }
            keys.push(PublishedKey {
                key: ParsedPublicKey::parse(entry.suite, &bytes)?,
                tier: entry.tier,
                version: entry.version,
                bytes,
            });
        }
        Ok(PublicKeySet {
            serial: body.serial,
            issued_at: body.issued_at,
            signer,
            keys,
        })
    }

    /// Refuses a set whose serial is below `minimum` (a service's pinned
    /// floor, raised when it learns of a newer publish).
    ///
    /// # Errors
    /// [`Error::PublicKeySetRollback`].
    pub fn require_serial_at_least(self, minimum: u64) -> Result<PublicKeySet, Error> {
        if self.serial < minimum {
            return Err(Error::PublicKeySetRollback {
                loaded: minimum,
                offered: self.serial,
            });
        }
        Ok(self)
    }

    /// The set's serial: each publish takes the next.
    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// When it was published, in seconds since the Unix epoch.
    pub fn issued_at(&self) -> u64 {
        self.issued_at
    }

    /// The key that signed it.
    pub fn signer(&self) -> &PublisherKey {
        &self.signer
    }

    /// Every tier's published key.
    pub fn keys(&self) -> &[PublishedKey] {
        &self.keys
    }

    /// The published key of `tier`.
    pub fn key(&self, tier: &Tier) -> Option<&PublishedKey> {
        self.keys.iter().find(|key| key.tier == *tier)
    }
}

impl fmt::Debug for PublicKeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKeySet")
            .field("serial", &self.serial)
            .field("issued_at", &self.issued_at)
            .field("signer", &self.signer)
            .field("keys", &self.keys)
            .finish()
    }
}

fn hex_into(text: &[u8], out: &mut [u8]) -> bool {
    text.chunks_exact(2)
        .zip(out.iter_mut())
        .all(|(pair, byte)| match crypto::from_hex::<1>(pair) {
            Some([b]) => {
                *byte = b;
                true
            }
            None => false,
        })
}

impl Keyring {
    /// A seal-only keyring: it holds the primary public key of every tier
    /// in `set` and nothing secret. It seals records and values like a
    /// full keyring (same calls, tokens any keyring holding the tier
    /// opens), wrapping each data key with HPKE to the tier's public key;
    /// it opens and rewraps nothing, not even what it sealed, and says so
    /// with [`Error::SealOnly`]. It holds no blind-index key either: a
    /// record with an indexed field is refused with
    /// [`Error::SealOnlyNoIndexKey`] (see
    /// [`seal_only_with_search`](Self::seal_only_with_search)).
    ///
    /// ```
    /// use tierseal::{AccessContext, Binding, Clearance, Error, KdfProfile, Keyring, Keystore, Level, PublicKeySet, SealedValue, Tier};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let mut keystore = Keystore::create(dir.path().join("k"), &"pw".into(), KdfProfile::Test)?;
    /// // The custodian publishes; the service pins the publisher key.
    /// let (file, _) = keystore.publish_public_keys()?;
    /// let pinned = keystore.publisher_key()?.expect("drawn by the publish");
    ///
    /// // The intake service: verify, then seal.
    /// let set = PublicKeySet::verify(&file, &pinned)?;
    /// let intake = Keyring::seal_only(&set);
    /// let binding = Binding::new("Order", "pan").with_record_id("ord_1");
    /// let sealed = SealedValue::seal(&intake, &Tier::RESTRICTED, binding, "4111111111111111")?;
    ///
    /// let ctx = AccessContext::new("payments").with_purpose("settlement");
    /// assert!(matches!(sealed.open::<String>(&intake, binding, &ctx), Err(Error::SealOnly { .. })));
    /// // A full keyring refuses public-key tokens unless the tier opted in:
    /// // anyone holding the published set can write one.
    /// let reader = keystore.keyring(&Clearance::up_to(Level::Restricted))?;
    /// assert!(matches!(sealed.open::<String>(&reader, binding, &ctx), Err(Error::PublicKeyTokenRefused { .. })));
    /// let reader = reader.accept_public_key_tokens(Tier::RESTRICTED);
    /// assert_eq!(sealed.open::<String>(&reader, binding, &ctx)?, "4111111111111111");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn seal_only(set: &PublicKeySet) -> Keyring {
        let mut keyring = Keyring::empty();
        "seal-only".clone_into(&mut keyring.writer);
        keyring.install_public_keys(set);
        keyring
    }

    /// A seal-only keyring that can also fill blind indexes: the public
    /// keys of `set`, and the index keys of `search`, a search-only keyring
    /// (a grant issued with `tierseal grant issue --seal-only --search
    /// TIERS`, which writes it beside the public key set, or
    /// `Keystore::issue_grant_scoped` with an empty clearance). An intake
    /// service needs it to seal a record with an indexed field
    /// (`#[classify(..., index)]`): a plain [`seal_only`](Self::seal_only)
    /// keyring refuses with [`Error::SealOnlyNoIndexKey`], naming the
    /// field.
    ///
    /// It still opens nothing. But an index key lets its holder compute
    /// the index of any value it guesses and compare it with the stored
    /// index column: give it only to services that need to fill those
    /// columns (see THREAT-MODEL.md). Its audit entries are signed as the
    /// search grant's principal, with the grant's audit key; its index
    /// keys stay when [`refresh_public_keys`](Self::refresh_public_keys)
    /// installs a newer set (load a fresh search grant after an index key
    /// rotation).
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use tierseal::{Classified, Clearance, Error, KdfProfile, Keyring, Keystore, PublicKeySet};
    ///
    /// #[derive(Classified)]
    /// #[classified(record_id = "id")]
    /// struct Account {
    ///     #[classify(public)]
    ///     id: String,
    ///     #[classify(restricted, index)]
    ///     iban: String,
    /// }
    ///
    /// let dir = tempfile::tempdir()?;
    /// let mut keystore = Keystore::create(dir.path().join("k"), &"pw".into(), KdfProfile::Test)?;
    /// let (file, _) = keystore.publish_public_keys()?;
    /// let set = PublicKeySet::verify(&file, &keystore.publisher_key()?.expect("published"))?;
    /// let account = Account { id: "acc_1".into(), iban: "DE89370400440532013000".into() };
    ///
    /// // Without an index key, the indexed field cannot be sealed.
    /// let refused = account.seal(&Keyring::seal_only(&set)).err();
    /// assert!(matches!(refused, Some(Error::SealOnlyNoIndexKey { .. })));
    ///
    /// // With a search-only grant for the field's tier, it can.
    /// let search = Clearance::none().with(tierseal::Tier::RESTRICTED);
    /// let in_a_day = SystemTime::now() + Duration::from_secs(86_400);
    /// let (grant, secret) = keystore.issue_grant_scoped(&Clearance::none(), &search, "intake", in_a_day, &[])?;
    /// let intake = Keyring::seal_only_with_search(&set, Keyring::from_grant(&grant, &secret)?)?;
    /// let sealed = account.seal(&intake)?;
    /// assert_eq!(sealed.iban_index, SealedAccount::index_iban(&intake, &account.iban)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when `search` holds decryption or public
    /// keys of a tier (a seal-only keyring never holds a decryption key) or
    /// no index key at all.
    pub fn seal_only_with_search(set: &PublicKeySet, search: Keyring) -> Result<Keyring, Error> {
        if !search.tier_keys().is_empty() || search.is_seal_only() {
            return Err(Error::InvalidParameter {
                what: "search keyring",
                reason: "must hold index keys only (a search-only grant): a seal-only keyring never holds a decryption key",
            });
        }
        if search.index_tiers().is_empty() {
            return Err(Error::InvalidParameter {
                what: "search keyring",
                reason: "holds no index key",
            });
        }
        Ok(Keyring::seal_only(set).with_search_of(search))
    }

    /// Replaces a seal-only keyring's public keys with those of `set` (a
    /// newer publish, e.g. after a rotation).
    ///
    /// # Errors
    /// [`Error::PublicKeySetRollback`] when `set` is older than the set
    /// the keyring holds; [`Error::InvalidParameter`] on a keyring that
    /// holds tier keys.
    pub fn refresh_public_keys(&mut self, set: &PublicKeySet) -> Result<(), Error> {
        if !self.tier_keys().is_empty() {
            return Err(Error::InvalidParameter {
                what: "keyring",
                reason: "only a seal-only keyring takes a public key set",
            });
        }
        if set.serial < self.public_serial {
            return Err(Error::PublicKeySetRollback {
                loaded: self.public_serial,
                offered: set.serial,
            });
        }
        self.install_public_keys(set);
        Ok(())
    }

    fn install_public_keys(&mut self, set: &PublicKeySet) {
        self.public = set
            .keys
            .iter()
            .map(|key| PublicTierKey {
                tier: key.tier.clone(),
                key_version: key.version,
                key: key.key.clone(),
            })
            .collect();
        self.public.sort_by(|a, b| a.tier.cmp(&b.tier));
        self.public_serial = set.serial;
    }

    /// Whether this keyring is seal-only (holds public keys, no tier key).
    pub fn is_seal_only(&self) -> bool {
        !self.public.is_empty()
    }

    /// The serial of the public key set a seal-only keyring holds (0 for
    /// a full keyring).
    pub fn public_key_set_serial(&self) -> u64 {
        self.public_serial
    }

    /// The tiers a seal-only keyring can seal to.
    pub fn seal_only_tiers(&self) -> impl Iterator<Item = (&Tier, u32)> {
        self.public.iter().map(|key| (&key.tier, key.key_version))
    }
}
