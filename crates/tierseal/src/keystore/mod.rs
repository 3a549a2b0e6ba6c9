//! The embedded keystore: one passphrase-protected file that holds the
//! master key and every tier key version.
//!
//! ```text
//! passphrase --Argon2id--> unlock key --AES-GCM--> master key
//! master key --AES-GCM--> tier key, version v
//! ```
//!
//! An open [`Keystore`] holds the file's exclusive lock until it is
//! dropped, and every change is written atomically before the call
//! returns, so neither a crash nor a second custodian can lose an update.

mod file;
mod kdf;
mod model;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aes_gcm::Aes256Gcm;
use zeroize::Zeroizing;

pub use kdf::{KdfParams, KdfProfile, Passphrase};

use crate::audit::AuditKey;
use crate::crypto::{self, KEY_LEN, KeyMaterial};
use crate::keyring::{TierKeys, VersionKey};
use crate::{Clearance, Error, Keyring, Tier};
use file::{FileImage, KeystoreLock, SALT_LEN};
use model::{Body, TierRecord, VersionRecord, WrappedTierKey};

/// The audit writer of keyrings taken straight from the keystore.
pub const CUSTODIAN: &str = "custodian";

/// AAD of the audit key's wrap under the master key.
const AUDIT_KEY_AAD: &[u8] = b"tierseal/audit-key\0\x01";

/// How long [`Keystore::open`] waits for another process's lock.
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(10);

/// The default cryptoperiod of a tier's primary key.
pub const DEFAULT_CRYPTOPERIOD_DAYS: u32 = 365;

const SECONDS_PER_DAY: u64 = 86_400;

/// The state of one tier key version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyState {
    /// The primary version: seals new data and opens old.
    Active,
    /// Opens data but seals nothing: an older version, or a new one staged
    /// before promotion.
    DecryptOnly,
    /// Material destroyed: data wrapped only under it is unreadable.
    Retired,
}

/// What the keystore knows about one tier key version (never key bytes).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct KeyVersionInfo {
    /// The tier.
    pub tier: Tier,
    /// The version number, from 1.
    pub version: u32,
    /// Its state.
    pub state: KeyState,
    /// Created, in seconds since the Unix epoch.
    pub created_at: u64,
    /// Retired, in seconds since the Unix epoch.
    pub retired_at: Option<u64>,
    /// The tier's cryptoperiod in days.
    pub cryptoperiod_days: u32,
    /// The public fingerprint of the key.
    pub check_value: String,
}

impl KeyVersionInfo {
    /// Whether this is the primary version and older than its
    /// cryptoperiod at `now` (seconds since the Unix epoch).
    pub fn is_overdue(&self, now: u64) -> bool {
        self.state == KeyState::Active
            && now.saturating_sub(self.created_at)
                > u64::from(self.cryptoperiod_days) * SECONDS_PER_DAY
    }
}

/// An unlocked keystore file.
///
/// ```
/// use tierseal::{Clearance, KdfProfile, Keystore, Level, Tier};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("bank.keystore");
/// let mut keystore = Keystore::create(&path, &"passphrase".into(), KdfProfile::Test)?;
/// keystore.add_tier(&"restricted/cards".parse()?)?;
/// let v2 = keystore.rotate(&Tier::RESTRICTED)?;
/// assert_eq!(v2, 2);
/// drop(keystore); // releases the lock
///
/// let keystore = Keystore::open(&path, &"passphrase".into())?;
/// let keyring = keystore.keyring(&Clearance::up_to(Level::Confidential))?;
/// assert!(!keyring.has_tier(&Tier::RESTRICTED));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Keystore {
    path: PathBuf,
    _lock: KeystoreLock,
    kdf: KdfParams,
    salt: [u8; SALT_LEN],
    master_nonce: [u8; crypto::NONCE_LEN],
    wrapped_master: [u8; crypto::WRAPPED_KEY_LEN],
    master_key: KeyMaterial,
    master: Aes256Gcm,
    body: Body,
}

impl Keystore {
    /// Creates a keystore at `path` with the tiers `internal`,
    /// `confidential` and `restricted`, each at version 1.
    ///
    /// # Errors
    /// [`Error::KeystoreExists`] if `path` exists (it is never
    /// overwritten), [`Error::KeystoreLocked`], or I/O errors.
    pub fn create(
        path: impl AsRef<Path>,
        passphrase: &Passphrase,
        profile: KdfProfile,
    ) -> Result<Keystore, Error> {
        let path = path.as_ref().to_owned();
        let lock = KeystoreLock::acquire(&path, Duration::ZERO)?;
        if path
            .try_exists()
            .map_err(|e| Error::io("check", &path, e))?
        {
            return Err(Error::KeystoreExists { path });
        }
        let master = KeyMaterial::generate()?;
        let kdf = profile.params();
        let mut salt = [0u8; SALT_LEN];
        crypto::fill_from_os(&mut salt)?;
        let (master_nonce, wrapped_master) = wrap_master(&master, passphrase, kdf, &salt)?;
        let mut keystore = Keystore {
            path,
            _lock: lock,
            kdf,
            salt,
            master_nonce,
            wrapped_master,
            master: master.cipher(),
            master_key: master,
            body: Body::default(),
        };
        keystore.update(|store, body| {
            for tier in [Tier::INTERNAL, Tier::CONFIDENTIAL, Tier::RESTRICTED] {
                body.tiers.push(store.new_tier_record(tier)?);
            }
            body.audit_key =
                Some(store.wrap_under_master(&KeyMaterial::generate()?, AUDIT_KEY_AAD)?);
            Ok(())
        })?;
        Ok(keystore)
    }

    /// Opens and unlocks the keystore at `path`, waiting up to
    /// [`DEFAULT_LOCK_WAIT`] for another process's lock.
    ///
    /// # Errors
    /// [`Error::WrongPassphrase`], [`Error::KeystoreCorrupt`],
    /// [`Error::UnsupportedKeystoreVersion`], [`Error::KeystoreLocked`] or
    /// I/O errors. Nothing is written on error.
    pub fn open(path: impl AsRef<Path>, passphrase: &Passphrase) -> Result<Keystore, Error> {
        Keystore::open_with_lock_wait(path, passphrase, DEFAULT_LOCK_WAIT)
    }

    /// As [`open`](Self::open), waiting at most `wait` for the lock
    /// (`Duration::ZERO`: fail at once if it is held).
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_with_lock_wait(
        path: impl AsRef<Path>,
        passphrase: &Passphrase,
        wait: Duration,
    ) -> Result<Keystore, Error> {
        let path = path.as_ref().to_owned();
        let lock = KeystoreLock::acquire(&path, wait)?;
        let bytes = file::read(&path)?;
        let image = FileImage::decode(&bytes, &path)?;
        let corrupt = |reason| Error::KeystoreCorrupt {
            path: path.clone(),
            reason,
        };

        let unlock = crypto::cipher_for(&*image.kdf.derive(passphrase, &image.salt)?);
        let header = FileImage::header(image.kdf, &image.salt);
        let mut master_bytes =
            crypto::unwrap_key(&unlock, &image.master_nonce, &header, &image.wrapped_master)
                .map_err(|_| Error::WrongPassphrase { path: path.clone() })?;
        let master_key = KeyMaterial::take(&mut master_bytes);
        let master = master_key.cipher();

        let mut empty = [];
        crypto::decrypt(
            &master,
            &image.body_nonce,
            &image.authenticated_prefix(),
            &mut empty,
            &image.body_tag,
        )
        .map_err(|_| corrupt("authentication failed (the file was altered)"))?;
        let body = decode_body(&image.body).map_err(corrupt)?;

        let keystore = Keystore {
            path: path.clone(),
            _lock: lock,
            kdf: image.kdf,
            salt: image.salt,
            master_nonce: image.master_nonce,
            wrapped_master: image.wrapped_master,
            master_key,
            master,
            body,
        };
        // Every stored tier key must unwrap: fail now, not at first use.
        for record in &keystore.body.tiers {
            for version in &record.versions {
                keystore.unwrap_tier_key(record, version)?;
            }
        }
        keystore.audit_key()?;
        Ok(keystore)
    }

    /// The keystore's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The Argon2id parameters protecting it.
    pub fn kdf_params(&self) -> KdfParams {
        self.kdf
    }

    /// The tiers, in order.
    pub fn tiers(&self) -> impl Iterator<Item = &Tier> {
        self.body.tiers.iter().map(|record| &record.tier)
    }

    /// Every tier key version with its state, in tier and version order.
    pub fn key_versions(&self) -> Vec<KeyVersionInfo> {
        let mut infos: Vec<KeyVersionInfo> = self
            .body
            .tiers
            .iter()
            .flat_map(|record| {
                record.versions.iter().map(move |version| KeyVersionInfo {
                    tier: record.tier.clone(),
                    version: version.version,
                    state: if version.wrapped.is_none() {
                        KeyState::Retired
                    } else if version.version == record.primary {
                        KeyState::Active
                    } else {
                        KeyState::DecryptOnly
                    },
                    created_at: version.created_at,
                    retired_at: version.retired_at,
                    cryptoperiod_days: record.cryptoperiod_days,
                    check_value: version.check_value.to_string(),
                })
            })
            .collect();
        infos.sort_by(|a, b| (&a.tier, a.version).cmp(&(&b.tier, b.version)));
        infos
    }

    /// The primary versions older than their tier's cryptoperiod.
    pub fn overdue(&self, now: SystemTime) -> Vec<KeyVersionInfo> {
        let now = unix_seconds(now);
        self.key_versions()
            .into_iter()
            .filter(|info| info.is_overdue(now))
            .collect()
    }

    /// A keyring with every non-retired version of each tier in
    /// `clearance`.
    ///
    /// # Errors
    /// [`Error::UnknownTier`] when the clearance names a tier the keystore
    /// does not have.
    pub fn keyring(&self, clearance: &Clearance) -> Result<Keyring, Error> {
        let tiers = clearance
            .tiers()
            .map(|tier| {
                let record = self.record(tier)?;
                let mut versions = Vec::new();
                let mut retired = Vec::new();
                for version in &record.versions {
                    match self.unwrap_tier_key(record, version)? {
                        Some(material) => versions.push(VersionKey::new(version.version, material)),
                        None => retired.push(version.version),
                    }
                }
                Ok(TierKeys {
                    tier: record.tier.clone(),
                    primary: record.primary,
                    versions,
                    retired,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let audit_key = self.audit_key()?.derive(CUSTODIAN);
        Keyring::from_tiers(tiers, CUSTODIAN.to_owned(), audit_key)
    }

    /// Adds a tier at version 1.
    ///
    /// # Errors
    /// [`Error::TierExists`], or an error saving the file.
    pub fn add_tier(&mut self, tier: &Tier) -> Result<(), Error> {
        if self.body.tier(tier).is_some() {
            return Err(Error::TierExists { tier: tier.clone() });
        }
        self.update(|store, body| {
            body.tiers.push(store.new_tier_record(tier.clone())?);
            body.tiers.sort_by(|a, b| a.tier.cmp(&b.tier));
            Ok(())
        })
    }

    /// Creates version v+1 of `tier` and makes it primary; older versions
    /// stay usable for opening. Returns the new version.
    ///
    /// # Errors
    /// [`Error::UnknownTier`], or an error saving the file.
    pub fn rotate(&mut self, tier: &Tier) -> Result<u32, Error> {
        let version = self.add_version(tier)?;
        self.promote(tier, version)?;
        Ok(version)
    }

    /// Creates version v+1 of `tier` *without* making it primary, so that
    /// readers can receive it before any writer uses it. Returns it.
    ///
    /// # Errors
    /// [`Error::UnknownTier`], or an error saving the file.
    pub fn add_version(&mut self, tier: &Tier) -> Result<u32, Error> {
        let next = self.record(tier)?.next_version();
        self.update(|store, body| {
            let version = store.new_version(tier, next)?;
            let record = body.tier_mut(tier).ok_or_else(|| unknown(tier))?;
            record.versions.push(version);
            Ok(())
        })?;
        Ok(next)
    }

    /// Makes `version` of `tier` the primary (sealing) version.
    ///
    /// # Errors
    /// [`Error::UnknownTier`], [`Error::UnknownKeyVersion`],
    /// [`Error::KeyRetired`], or an error saving the file.
    pub fn promote(&mut self, tier: &Tier, version: u32) -> Result<(), Error> {
        self.usable_version(tier, version)?;
        self.update(|_, body| {
            body.tier_mut(tier).ok_or_else(|| unknown(tier))?.primary = version;
            Ok(())
        })
    }

    /// Retires `version` of `tier`: its key material is destroyed
    /// (crypto-shredding), and anything wrapped only under it becomes
    /// unreadable. The primary version cannot be retired. Rewrap stored
    /// data before retiring.
    ///
    /// # Errors
    /// [`Error::KeyState`] for the primary, [`Error::UnknownTier`],
    /// [`Error::UnknownKeyVersion`], [`Error::KeyRetired`], or an error
    /// saving the file.
    pub fn retire(&mut self, tier: &Tier, version: u32) -> Result<(), Error> {
        self.usable_version(tier, version)?;
        if self.record(tier)?.primary == version {
            return Err(Error::KeyState {
                action: "retire",
                tier: tier.clone(),
                version,
                reason: "it is the primary version; rotate or promote another version first",
            });
        }
        let now = unix_seconds(SystemTime::now());
        self.update(|_, body| {
            let record = body.tier_mut(tier).ok_or_else(|| unknown(tier))?;
            if let Some(entry) = record.versions.iter_mut().find(|v| v.version == version) {
                entry.wrapped = None;
                entry.retired_at = Some(now);
            }
            Ok(())
        })
    }

    /// Sets how long a primary version of `tier` may stay in use.
    ///
    /// # Errors
    /// [`Error::UnknownTier`], [`Error::InvalidParameter`] for zero, or an
    /// error saving the file.
    pub fn set_cryptoperiod(&mut self, tier: &Tier, days: u32) -> Result<(), Error> {
        if days == 0 {
            return Err(Error::InvalidParameter {
                what: "cryptoperiod",
                reason: "must be at least one day",
            });
        }
        self.record(tier)?;
        self.update(|_, body| {
            body.tier_mut(tier)
                .ok_or_else(|| unknown(tier))?
                .cryptoperiod_days = days;
            Ok(())
        })
    }

    /// Changes the passphrase (and optionally the KDF profile). Only the
    /// master key is re-wrapped; tier keys are untouched.
    ///
    /// # Errors
    /// An error saving the file; the old passphrase then still works.
    pub fn change_passphrase(
        &mut self,
        new: &Passphrase,
        profile: KdfProfile,
    ) -> Result<(), Error> {
        let kdf = profile.params();
        let mut salt = [0u8; SALT_LEN];
        crypto::fill_from_os(&mut salt)?;
        let (master_nonce, wrapped_master) = wrap_master(&self.master_key, new, kdf, &salt)?;
        let old = (self.kdf, self.salt, self.master_nonce, self.wrapped_master);
        (self.kdf, self.salt, self.master_nonce, self.wrapped_master) =
            (kdf, salt, master_nonce, wrapped_master);
        if let Err(e) = self.save(&self.body) {
            (self.kdf, self.salt, self.master_nonce, self.wrapped_master) = old;
            return Err(e);
        }
        Ok(())
    }

    fn record(&self, tier: &Tier) -> Result<&TierRecord, Error> {
        self.body.tier(tier).ok_or_else(|| unknown(tier))
    }

    fn usable_version(&self, tier: &Tier, version: u32) -> Result<&VersionRecord, Error> {
        let entry = self
            .record(tier)?
            .version(version)
            .ok_or(Error::UnknownKeyVersion {
                tier: tier.clone(),
                version,
            })?;
        if entry.wrapped.is_none() {
            return Err(Error::KeyRetired {
                tier: tier.clone(),
                version,
            });
        }
        Ok(entry)
    }

    fn new_tier_record(&self, tier: Tier) -> Result<TierRecord, Error> {
        let first = self.new_version(&tier, 1)?;
        Ok(TierRecord {
            tier,
            primary: 1,
            cryptoperiod_days: DEFAULT_CRYPTOPERIOD_DAYS,
            versions: vec![first],
        })
    }

    fn new_version(&self, tier: &Tier, version: u32) -> Result<VersionRecord, Error> {
        let material = KeyMaterial::generate()?;
        Ok(VersionRecord {
            version,
            created_at: unix_seconds(SystemTime::now()),
            check_value: material.check_value(),
            wrapped: Some(self.wrap_under_master(&material, &tier_key_aad(tier, version))?),
            retired_at: None,
        })
    }

    /// Wraps a key stored in the body under the master key.
    fn wrap_under_master(
        &self,
        material: &KeyMaterial,
        aad: &[u8],
    ) -> Result<WrappedTierKey, Error> {
        let nonce = crypto::fresh_nonce();
        let wrapped = crypto::wrap_key(&self.master, &nonce, aad, material.expose())?;
        let (ciphertext, tag) = wrapped.split_at(KEY_LEN);
        Ok(WrappedTierKey {
            nonce,
            ciphertext: ciphertext
                .try_into()
                .map_err(|_| Error::malformed("wrap"))?,
            tag: tag.try_into().map_err(|_| Error::malformed("wrap"))?,
        })
    }

    /// Unwraps a key stored in the body; `what` names it in the error.
    fn unwrap_under_master(
        &self,
        wrapped: &WrappedTierKey,
        aad: &[u8],
        what: &'static str,
    ) -> Result<KeyMaterial, Error> {
        let mut joined = [0u8; crypto::WRAPPED_KEY_LEN];
        let (ciphertext, tag) = joined.split_at_mut(KEY_LEN);
        ciphertext.copy_from_slice(&wrapped.ciphertext);
        tag.copy_from_slice(&wrapped.tag);
        let mut key: Zeroizing<[u8; KEY_LEN]> =
            crypto::unwrap_key(&self.master, &wrapped.nonce, aad, &joined).map_err(|_| {
                Error::KeystoreCorrupt {
                    path: self.path.clone(),
                    reason: what,
                }
            })?;
        Ok(KeyMaterial::take(&mut key))
    }

    /// The tier key of `version`, or `None` when retired.
    fn unwrap_tier_key(
        &self,
        record: &TierRecord,
        version: &VersionRecord,
    ) -> Result<Option<KeyMaterial>, Error> {
        let Some(wrapped) = &version.wrapped else {
            return Ok(None);
        };
        let material = self.unwrap_under_master(
            wrapped,
            &tier_key_aad(&record.tier, version.version),
            "a tier key does not authenticate under the master key",
        )?;
        if material.check_value() != version.check_value {
            return Err(Error::KeystoreCorrupt {
                path: self.path.clone(),
                reason: "a tier key does not match its check value",
            });
        }
        Ok(Some(material))
    }

    /// The root audit key: it verifies the whole audit log and derives
    /// each writer's signing key.
    ///
    /// # Errors
    /// [`Error::KeystoreCorrupt`] when the stored key does not authenticate.
    pub fn audit_key(&self) -> Result<AuditKey, Error> {
        let wrapped = self
            .body
            .audit_key
            .as_ref()
            .ok_or_else(|| Error::KeystoreCorrupt {
                path: self.path.clone(),
                reason: "the audit key is missing",
            })?;
        let material = self.unwrap_under_master(
            wrapped,
            AUDIT_KEY_AAD,
            "the audit key does not authenticate",
        )?;
        Ok(AuditKey::root(material))
    }

    /// Writes a grant for `principal` holding the tiers of `clearance`, valid
    /// until `expires_at`, with the audit key `principal` signs entries
    /// with. Returns the grant file's bytes and the secret that decrypts
    /// it; deliver them separately.
    ///
    /// # Errors
    /// [`Error::UnknownTier`], [`Error::InvalidParameter`] for an empty
    /// principal or an expiry in the past; [`Error::Randomness`].
    pub fn issue_grant(
        &self,
        clearance: &Clearance,
        principal: &str,
        expires_at: SystemTime,
    ) -> Result<(Vec<u8>, crate::GrantSecret), Error> {
        let keyring = self.keyring(clearance)?;
        let audit_key = self
            .audit_key()?
            .derive(principal)
            .ok_or(Error::InvalidParameter {
                what: "principal",
                reason: "cannot derive its audit key",
            })?;
        crate::grant::issue(&keyring, principal, expires_at, &audit_key)
    }

    /// Applies `change` to a copy of the body, saves it atomically, and
    /// only then adopts it: on error the keystore is unchanged, in memory
    /// and on disk.
    fn update(
        &mut self,
        change: impl FnOnce(&Keystore, &mut Body) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut body = self.body.clone();
        change(self, &mut body)?;
        body.check().map_err(|reason| Error::InvalidParameter {
            what: "keystore change",
            reason,
        })?;
        self.save(&body)?;
        self.body = body;
        Ok(())
    }

    fn save(&self, body: &Body) -> Result<(), Error> {
        let encoded = postcard::to_stdvec(body).map_err(|_| Error::InvalidParameter {
            what: "keystore body",
            reason: "does not encode",
        })?;
        let mut image = FileImage {
            kdf: self.kdf,
            salt: self.salt,
            master_nonce: self.master_nonce,
            wrapped_master: self.wrapped_master,
            body: encoded,
            body_nonce: crypto::fresh_nonce(),
            body_tag: [0; crypto::TAG_LEN],
        };
        let mut empty = [];
        image.body_tag = crypto::encrypt(
            &self.master,
            &image.body_nonce,
            &image.authenticated_prefix(),
            &mut empty,
        )?;
        file::write_atomically(&self.path, &image.encode())
    }
}

impl std::fmt::Debug for Keystore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keystore")
            .field("path", &self.path)
            .field("kdf", &self.kdf)
            .field(
                "tiers",
                &self
                    .body
                    .tiers
                    .iter()
                    .map(|t| t.tier.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

fn wrap_master(
    master: &KeyMaterial,
    passphrase: &Passphrase,
    kdf: KdfParams,
    salt: &[u8; SALT_LEN],
) -> Result<([u8; crypto::NONCE_LEN], [u8; crypto::WRAPPED_KEY_LEN]), Error> {
    let unlock = crypto::cipher_for(&*kdf.derive(passphrase, salt)?);
    let nonce = crypto::fresh_nonce();
    let wrapped = crypto::wrap_key(
        &unlock,
        &nonce,
        &FileImage::header(kdf, salt),
        master.expose(),
    )?;
    Ok((nonce, wrapped))
}

/// AAD of a tier key wrap: binds the key to its tier and version.
fn tier_key_aad(tier: &Tier, version: u32) -> Vec<u8> {
    let mut aad = Vec::with_capacity(64);
    aad.extend_from_slice(b"tierseal/tier-key\0");
    aad.push(1);
    aad.push(u8::try_from(tier.as_str().len()).unwrap_or(u8::MAX));
    aad.extend_from_slice(tier.as_str().as_bytes());
    aad.extend_from_slice(&version.to_be_bytes());
    aad
}

/// Decodes and checks the body that the master key authenticated.
fn decode_body(bytes: &[u8]) -> Result<Body, &'static str> {
    let body: Body = postcard::from_bytes(bytes).map_err(|_| "the body does not decode")?;
    body.check()?;
    Ok(body)
}

/// The file's parsers without the key derivation and the decryption that
/// stand between them, for the fuzz targets (`crate::__fuzz`).
#[cfg(feature = "fuzzing")]
pub(crate) mod fuzzing {
    use super::{FileImage, KdfParams, Path};
    use crate::Error;

    /// Parses a whole keystore file up to the key derivation.
    pub(crate) fn parse_file(bytes: &[u8]) -> Result<KdfParams, Error> {
        FileImage::decode(bytes, Path::new("fuzz.keystore")).map(|image| image.kdf)
    }

    /// Decodes and checks a body as if the master key had authenticated it.
    pub(crate) fn decode_body(bytes: &[u8]) -> Result<(), &'static str> {
        super::decode_body(bytes).map(drop)
    }
}

fn unknown(tier: &Tier) -> Error {
    Error::UnknownTier { tier: tier.clone() }
}

pub(crate) fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
