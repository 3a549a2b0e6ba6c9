//! The embedded keystore: one image (a file, or an OpenBao KV secret) that
//! holds every tier key version, protected by a passphrase (the default),
//! by M-of-N custodian shares of its master key (see `shares`), or by a
//! key-encryption provider (see [`crate::kek`]).
//!
//! ```text
//! passphrase --Argon2id--> unlock key --AES-GCM--> master key
//! M shares --Shamir--> master key               (split keystore)
//! master key --AES-GCM--> tier key, version v
//!
//! provider key {prefix}keystore     --> metadata key (authenticates the body)
//! provider key {prefix}{tier}       --> tier key, version v
//! provider key {prefix}index-{tier} --> index key, version v   (file version 4)
//! ```
//!
//! An open [`Keystore`] holds the file's exclusive lock until it is
//! dropped, and every change is written atomically before the call
//! returns, so neither a crash nor a second custodian can lose an update.
//! A keystore in OpenBao KV ([`KeystoreLocation::OpenBao`]) has no lock:
//! every change is written with check-and-set, and re-applied on a fresh
//! read when another writer saved first (see `storage`).
//!
//! Besides the keys, the keystore keeps a register of every grant it issued
//! ([`Keystore::issued_grants`]) and the last audit-log checkpoint
//! ([`Keystore::audit_checkpoint`]).

mod approver;
mod file;
mod index;
mod kdf;
mod kv;
mod model;
mod provider;
mod public_keys;
mod share_file;
mod shares;
mod storage;
mod wrapping;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aes_gcm::Aes256Gcm;

pub use kdf::{KdfParams, KdfProfile, Passphrase};

pub use index::IndexKeyInfo;
pub use kv::KvBackend;
pub use model::{AuditCheckpoint, GrantId, IssuedGrant, IssuedTier};
pub use shares::{
    DualControlOp, KeystoreId, NewShare, ShareInfo, ShareKey, ShareSetInfo, SplitPlan, SplitSpec,
};
pub use storage::{
    FileBackend, KeystoreBackend, KeystoreLocation, OPENBAO_SCHEME, Revision, Stored,
};

use crate::audit::AuditKey;
use crate::crypto::{self, AuthFailed, KEY_LEN, KeyMaterial};
use crate::kek::{KekParams, KekProvider, KekSlot, ProviderKind};
use crate::keyring::{TierKeys, VersionKey};
use crate::{Clearance, Error, Keyring, Tier};
pub(crate) use file::check_params as check_kek_params;
use file::{FILE_VERSION, FileImage, RootImage, SALT_LEN};
use model::{Body, KeyRole, TierRecord, VersionRecord, WrappedTierKey};
use provider::ProviderRoot;
pub(crate) use provider::service_keyring;

/// The audit writer of keyrings taken straight from the keystore.
pub const CUSTODIAN: &str = "custodian";

/// Principals no grant may be issued to: the writers the keystore itself
/// signs audit entries as. A name that reads as one of these (any case,
/// with spaces or invisible characters added, in fullwidth or look-alike
/// letters of other scripts) is refused too.
pub const RESERVED_PRINCIPALS: &[&str] = &[CUSTODIAN];

/// AAD of the audit key's wrap under the master key.
const AUDIT_KEY_AAD: &[u8] = b"tierseal/audit-key\0\x01";

/// AAD of the approver signing key's wrap under the master key (issue 13).
const APPROVER_KEY_AAD: &[u8] = b"tierseal/approver-key\0\x01";

/// How long [`Keystore::open`] waits for another process's lock.
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(10);

/// How many times a change is applied to a freshly read keystore when
/// another writer saved first, before [`Error::KeystoreConflict`].
pub const MAX_SAVE_ATTEMPTS: u32 = 5;

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
    /// Where the image is stored; a file backend holds the lock.
    backend: Box<dyn KeystoreBackend>,
    /// The stored image this keystore's body was read from or saved as.
    revision: Revision,
    root: Root,
    body: Body,
    /// The holders whose shares unlocked a split keystore (issue 13).
    custodians: Vec<String>,
}

/// What protects the keystore's keys: a master key (wrapped under a
/// passphrase, or — in a split keystore — held only as custodian shares,
/// with an all-zero wrap in the image), or a key-encryption provider.
/// [`Root::cipher`] authenticates the body and wraps the audit and approver
/// keys either way.
enum Root {
    Passphrase(PassphraseRoot),
    Provider(ProviderRoot),
}

impl Root {
    /// The key that authenticates the body and wraps the audit key: the
    /// master key, or the provider keystore's metadata key.
    fn cipher(&self) -> &Aes256Gcm {
        match self {
            Root::Passphrase(root) => &root.master,
            Root::Provider(root) => &root.meta,
        }
    }

    fn image(&self) -> RootImage {
        match self {
            Root::Passphrase(root) => RootImage::Passphrase {
                kdf: root.kdf,
                salt: root.salt,
                master_nonce: root.master_nonce,
                wrapped_master: root.wrapped_master,
            },
            Root::Provider(root) => RootImage::Provider {
                params: root.params.clone(),
                wrapped_meta: root.wrapped_meta.clone(),
            },
        }
    }

    fn provider(&self) -> Option<&Arc<dyn KekProvider>> {
        match self {
            Root::Passphrase(_) => None,
            Root::Provider(root) => Some(&root.provider),
        }
    }
}

/// The master key, and its wrap under the passphrase as the file stores it.
struct PassphraseRoot {
    kdf: KdfParams,
    salt: [u8; SALT_LEN],
    master_nonce: [u8; crypto::NONCE_LEN],
    /// Wrapped with the header of [`FILE_VERSION`] as AAD, whatever version
    /// the file was read as, so the next save writes the current version.
    wrapped_master: [u8; crypto::WRAPPED_KEY_LEN],
    master: Aes256Gcm,
}

impl PassphraseRoot {
    /// Wraps `master` under a fresh salt and `passphrase`.
    fn new(
        master: &KeyMaterial,
        passphrase: &Passphrase,
        kdf: KdfParams,
    ) -> Result<PassphraseRoot, Error> {
        let mut salt = [0u8; SALT_LEN];
        crypto::fill_from_os(&mut salt)?;
        let unlock = crypto::cipher_for(&*kdf.derive(passphrase, &salt)?);
        PassphraseRoot::wrap(master, &unlock, kdf, salt)
    }

    /// Wraps `master` under the unlock key for a file of [`FILE_VERSION`].
    fn wrap(
        master: &KeyMaterial,
        unlock: &Aes256Gcm,
        kdf: KdfParams,
        salt: [u8; SALT_LEN],
    ) -> Result<PassphraseRoot, Error> {
        let master_nonce = crypto::fresh_wrap_nonce()?;
        let wrapped_master = crypto::wrap_key(
            unlock,
            &master_nonce,
            &FileImage::header(FILE_VERSION, kdf, &salt),
            master.expose(),
        )?;
        Ok(PassphraseRoot {
            kdf,
            salt,
            master_nonce,
            wrapped_master,
            master: master.cipher(),
        })
    }
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
        let backend = FileBackend::lock(path, Duration::ZERO)?;
        Keystore::create_in(Box::new(backend), passphrase, profile)
    }

    /// As [`create`](Self::create), at `location`: a file, or an
    /// `openbao://` KV secret (created with check-and-set 0, so never over
    /// an existing one) on the server `BAO_ADDR`/`BAO_TOKEN` (or the
    /// `VAULT_` names) configure.
    ///
    /// # Errors
    /// As [`create`](Self::create), and the server's errors.
    pub fn create_at(
        location: &KeystoreLocation,
        passphrase: &Passphrase,
        profile: KdfProfile,
    ) -> Result<Keystore, Error> {
        Keystore::create_in(backend_for(location, Duration::ZERO)?, passphrase, profile)
    }

    /// As [`create`](Self::create), in `backend`.
    ///
    /// # Errors
    /// As [`create`](Self::create), and the backend's errors.
    pub fn create_in(
        backend: Box<dyn KeystoreBackend>,
        passphrase: &Passphrase,
        profile: KdfProfile,
    ) -> Result<Keystore, Error> {
        Keystore::create_with(backend, |master| {
            let root = PassphraseRoot::new(master, passphrase, profile.params())?;
            Ok((Root::Passphrase(root), Body::default()))
        })
    }

    /// Creates a keystore at `path` whose tier keys are wrapped by
    /// `provider` (one provider key per tier, plus `{prefix}keystore` for
    /// the metadata key), with the tiers `internal`, `confidential` and
    /// `restricted` at version 1. The provider keys are created where they
    /// do not exist. `params` are the provider's non-secret parameters the
    /// file records (see [`TransitProvider::params`](crate::kek::TransitProvider::params)).
    ///
    /// # Errors
    /// [`Error::KeystoreExists`], [`Error::InvalidParameter`] when `params`
    /// are not `provider`'s kind or name the passphrase provider, provider
    /// errors ([`Error::KmsDenied`], [`Error::KmsUnavailable`], ...), or
    /// I/O errors. Nothing is written on error.
    pub fn create_with_kek(
        path: impl AsRef<Path>,
        provider: Arc<dyn KekProvider>,
        params: KekParams,
    ) -> Result<Keystore, Error> {
        let backend = FileBackend::lock(path, Duration::ZERO)?;
        Keystore::create_with_kek_in(Box::new(backend), provider, params)
    }

    /// As [`create_with_kek`](Self::create_with_kek), at `location`: a
    /// file, or an `openbao://` KV secret (see [`create_at`](Self::create_at)).
    ///
    /// # Errors
    /// As [`create_with_kek`](Self::create_with_kek), and the server's
    /// errors.
    pub fn create_with_kek_at(
        location: &KeystoreLocation,
        provider: Arc<dyn KekProvider>,
        params: KekParams,
    ) -> Result<Keystore, Error> {
        Keystore::create_with_kek_in(backend_for(location, Duration::ZERO)?, provider, params)
    }

    /// As [`create_with_kek`](Self::create_with_kek), in `backend`.
    ///
    /// # Errors
    /// As [`create_with_kek`](Self::create_with_kek), and the backend's
    /// errors.
    pub fn create_with_kek_in(
        backend: Box<dyn KeystoreBackend>,
        provider: Arc<dyn KekProvider>,
        params: KekParams,
    ) -> Result<Keystore, Error> {
        // The fresh master key goes unused: a provider keystore's root is
        // a metadata key the provider wraps.
        Keystore::create_with(backend, |_| {
            let root = ProviderRoot::new(provider, params)?;
            Ok((Root::Provider(root), Body::default()))
        })
    }

    /// Creates a keystore in `backend` whose root `root` makes from a fresh
    /// master key.
    fn create_with(
        backend: Box<dyn KeystoreBackend>,
        root: impl FnOnce(&KeyMaterial) -> Result<(Root, Body), Error>,
    ) -> Result<Keystore, Error> {
        let path = backend.location().display_path();
        if backend.exists()? {
            return Err(Error::KeystoreExists { path });
        }
        let (root, body) = root(&KeyMaterial::generate()?)?;
        let mut keystore = Keystore {
            path,
            backend,
            revision: Revision::Absent,
            root,
            body,
            custodians: Vec::new(),
        };
        keystore.update(|store, body| {
            for tier in [Tier::INTERNAL, Tier::CONFIDENTIAL, Tier::RESTRICTED] {
                let index = store.new_index_record(body, &tier)?;
                body.index_keys.push(index);
                let record = store.new_tier_record(body, tier)?;
                body.tiers.push(record);
            }
            body.audit_key = Some(wrap_under(
                store.root.cipher(),
                &KeyMaterial::generate()?,
                AUDIT_KEY_AAD,
            )?);
            body.approver_key = Some(wrap_under(
                store.root.cipher(),
                &KeyMaterial::generate()?,
                APPROVER_KEY_AAD,
            )?);
            Ok(())
        })?;
        Ok(keystore)
    }

    /// Opens and unlocks the keystore at `path`, waiting up to
    /// [`DEFAULT_LOCK_WAIT`] for another process's lock.
    ///
    /// A file of an older format version is read as it is, and written in
    /// the current version on the next change; opening never writes.
    ///
    /// # Errors
    /// [`Error::WrongPassphrase`], [`Error::KeystoreCorrupt`],
    /// [`Error::UnsupportedKeystoreVersion`], [`Error::KeystoreLocked`] or
    /// I/O errors. Nothing is written on error.
    pub fn open(path: impl AsRef<Path>, passphrase: &Passphrase) -> Result<Keystore, Error> {
        Keystore::open_with_lock_wait(path, passphrase, DEFAULT_LOCK_WAIT)
    }

    /// As [`open`](Self::open), waiting at most `wait` for the lock
    /// (`Duration::ZERO`: fail at once if it is held; a wait longer than
    /// the clock can count, such as `Duration::MAX`: wait until it is
    /// released).
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_with_lock_wait(
        path: impl AsRef<Path>,
        passphrase: &Passphrase,
        wait: Duration,
    ) -> Result<Keystore, Error> {
        let backend = FileBackend::lock(path, wait)?;
        Keystore::open_in(Box::new(backend), passphrase)
    }

    /// As [`open_with_lock_wait`](Self::open_with_lock_wait), at
    /// `location`: a file (whose lock is waited for up to `wait`), or an
    /// `openbao://` KV secret on the server `BAO_ADDR`/`BAO_TOKEN` (or the
    /// `VAULT_` names) configure (no lock: changes are saved with
    /// check-and-set).
    ///
    /// # Errors
    /// As [`open`](Self::open), [`Error::KeystoreNotFound`], and the
    /// server's errors.
    pub fn open_at(
        location: &KeystoreLocation,
        passphrase: &Passphrase,
        wait: Duration,
    ) -> Result<Keystore, Error> {
        Keystore::open_in(backend_for(location, wait)?, passphrase)
    }

    /// As [`open`](Self::open), from `backend`. Never writes.
    ///
    /// # Errors
    /// As [`open`](Self::open), [`Error::KekProviderMismatch`] for a
    /// keystore a key-encryption provider protects, and the backend's
    /// errors.
    pub fn open_in(
        backend: Box<dyn KeystoreBackend>,
        passphrase: &Passphrase,
    ) -> Result<Keystore, Error> {
        Keystore::open_with(backend, |path, image, body| {
            if let RootImage::Provider { params, .. } = &image.root {
                return Err(Error::KekProviderMismatch {
                    path: path.to_owned(),
                    expected: ProviderKind::Passphrase.as_str(),
                    found: params.kind().as_str(),
                });
            }
            if let Some(set) = body.and_then(|body| body.share_set.as_ref()) {
                return Err(set.split_error(path.to_owned()));
            }
            Ok((
                Keystore::passphrase_root(path, image, passphrase)?,
                Vec::new(),
            ))
        })
    }

    /// The root of a passphrase keystore: its master key unwrapped.
    fn passphrase_root(
        path: &Path,
        image: &FileImage,
        passphrase: &Passphrase,
    ) -> Result<Root, Error> {
        let RootImage::Passphrase {
            kdf,
            salt,
            master_nonce,
            wrapped_master,
        } = image.root.clone()
        else {
            return Err(Error::KekProviderMismatch {
                path: path.to_owned(),
                expected: ProviderKind::Passphrase.as_str(),
                found: image.root.kind().as_str(),
            });
        };
        let unlock = crypto::cipher_for(&*kdf.derive(passphrase, &salt)?);
        let header = FileImage::header(image.version, kdf, &salt);
        let mut master_bytes = crypto::unwrap_key(&unlock, &master_nonce, &header, &wrapped_master)
            .map_err(|_| Error::WrongPassphrase {
                path: path.to_owned(),
            })?;
        let master_key = KeyMaterial::take(&mut master_bytes);
        let master = master_key.cipher();
        // The wrap binds the file version: an older file's master key is
        // wrapped again now, while the unlock key is at hand, so that the
        // next save can write the current version.
        let root = if image.version == FILE_VERSION {
            PassphraseRoot {
                kdf,
                salt,
                master_nonce,
                wrapped_master,
                master,
            }
        } else {
            PassphraseRoot::wrap(&master_key, &unlock, kdf, salt)?
        };
        drop((unlock, master_key));
        Ok(Root::Passphrase(root))
    }

    /// Which provider protects the keystore at `path`, and its recorded
    /// non-secret parameters (`None` for a passphrase keystore). Reads the
    /// header only: nothing is authenticated yet, so use it to choose how
    /// to open the keystore, not to trust it.
    ///
    /// # Errors
    /// [`Error::KeystoreCorrupt`], [`Error::UnsupportedKeystoreVersion`] or
    /// I/O errors.
    pub fn kek_params_of(path: impl AsRef<Path>) -> Result<Option<KekParams>, Error> {
        Keystore::kek_params_at(&KeystoreLocation::File(path.as_ref().to_owned()))
    }

    /// As [`kek_params_of`](Self::kek_params_of), at `location` (a file,
    /// read without its lock, or an `openbao://` KV secret).
    ///
    /// # Errors
    /// As [`kek_params_of`](Self::kek_params_of), and the server's errors.
    pub fn kek_params_at(location: &KeystoreLocation) -> Result<Option<KekParams>, Error> {
        let image = FileImage::decode(&read_unlocked(location)?, &location.display_path())?;
        Ok(match image.root {
            RootImage::Passphrase { .. } => None,
            RootImage::Provider { params, .. } => Some(params),
        })
    }

    /// Opens the keystore at `path`, whose keys `provider` protects,
    /// waiting up to [`DEFAULT_LOCK_WAIT`] for another process's lock. No
    /// passphrase: the provider's credential (an OpenBao token, an HSM
    /// login) is the custodian's.
    ///
    /// # Errors
    /// [`Error::KekProviderMismatch`] when the keystore is protected by a
    /// passphrase or another provider, [`Error::KeystoreCorrupt`] when the
    /// metadata does not authenticate, provider errors, or I/O errors.
    /// Nothing is written on error.
    pub fn open_with_kek(
        path: impl AsRef<Path>,
        provider: Arc<dyn KekProvider>,
    ) -> Result<Keystore, Error> {
        Keystore::open_with_kek_and_lock_wait(path, provider, DEFAULT_LOCK_WAIT)
    }

    /// As [`open_with_kek`](Self::open_with_kek), waiting at most `wait`
    /// for the lock (see [`open_with_lock_wait`](Self::open_with_lock_wait)).
    ///
    /// # Errors
    /// As [`open_with_kek`](Self::open_with_kek).
    pub fn open_with_kek_and_lock_wait(
        path: impl AsRef<Path>,
        provider: Arc<dyn KekProvider>,
        wait: Duration,
    ) -> Result<Keystore, Error> {
        let backend = FileBackend::lock(path, wait)?;
        Keystore::open_with_kek_in(Box::new(backend), provider)
    }

    /// As [`open_with_kek_and_lock_wait`](Self::open_with_kek_and_lock_wait),
    /// at `location`: a file or an `openbao://` KV secret (see
    /// [`open_at`](Self::open_at)).
    ///
    /// # Errors
    /// As [`open_with_kek`](Self::open_with_kek), and the server's errors.
    pub fn open_with_kek_at(
        location: &KeystoreLocation,
        provider: Arc<dyn KekProvider>,
        wait: Duration,
    ) -> Result<Keystore, Error> {
        Keystore::open_with_kek_in(backend_for(location, wait)?, provider)
    }

    /// As [`open_with_kek`](Self::open_with_kek), from `backend`. Never
    /// writes.
    ///
    /// # Errors
    /// As [`open_with_kek`](Self::open_with_kek), and the backend's errors.
    pub fn open_with_kek_in(
        backend: Box<dyn KeystoreBackend>,
        provider: Arc<dyn KekProvider>,
    ) -> Result<Keystore, Error> {
        Keystore::open_with(backend, |path, image, _| {
            let root = ProviderRoot::open(path, image, provider)?;
            Ok((Root::Provider(root), Vec::new()))
        })
    }

    /// Opens the keystore at `path` with the root `unlock` finds from the
    /// file and its body (not yet authenticated; `None` when it does not
    /// decode), and the holders whose shares it used.
    fn open_with(
        backend: Box<dyn KeystoreBackend>,
        unlock: impl FnOnce(&Path, &FileImage, Option<&Body>) -> Result<(Root, Vec<String>), Error>,
    ) -> Result<Keystore, Error> {
        let path = backend.location().display_path();
        let (bytes, revision) = backend.load()?;
        let image = FileImage::decode(&bytes, &path)?;
        let corrupt = |reason| Error::KeystoreCorrupt {
            path: path.clone(),
            reason,
        };
        let unauthenticated = Body::decode(image.version, &image.body);
        let (root, custodians) = unlock(&path, &image, unauthenticated.as_ref())?;

        let mut empty = [];
        crypto::decrypt(
            root.cipher(),
            &image.body_nonce,
            &image.authenticated_prefix(),
            &mut empty,
            &image.body_tag,
        )
        .map_err(|_| corrupt("authentication failed (the file was altered)"))?;
        let body = decode_body(image.version, &image.body).map_err(corrupt)?;
        let provider = matches!(root, Root::Provider(_));
        if body.provider_held() != provider {
            return Err(corrupt(
                "its tier keys are not wrapped the way its header says",
            ));
        }
        if provider && body.share_set.is_some() {
            return Err(corrupt("a provider keystore cannot be split into shares"));
        }

        let keystore = Keystore {
            path: path.clone(),
            backend,
            revision,
            root,
            body,
            custodians,
        };
        keystore.check_keys()?;
        Ok(keystore)
    }

    /// Every stored key must unwrap: fail now, not at first use.
    fn check_keys(&self) -> Result<(), Error> {
        for record in &self.body.tiers {
            for version in &record.versions {
                self.unwrap_tier_key(record, version)?;
            }
        }
        self.audit_key()?;
        self.approver_signing_key()?;
        self.check_index_keys()?;
        Ok(())
    }

    /// The keystore's path (for a keystore in OpenBao, its
    /// `openbao://MOUNT/PATH` location as a path).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the keystore is stored.
    pub fn location(&self) -> &KeystoreLocation {
        self.backend.location()
    }

    /// The Argon2id parameters protecting it (`None` when a key-encryption
    /// provider protects it).
    pub fn kdf_params(&self) -> Option<KdfParams> {
        match &self.root {
            Root::Passphrase(root) => Some(root.kdf),
            Root::Provider(_) => None,
        }
    }

    /// Which provider protects the tier keys.
    pub fn provider_kind(&self) -> ProviderKind {
        match &self.root {
            Root::Passphrase(_) => ProviderKind::Passphrase,
            Root::Provider(root) => root.params.kind(),
        }
    }

    /// The provider's recorded non-secret parameters (`None` for a
    /// passphrase keystore).
    pub fn kek_params(&self) -> Option<&KekParams> {
        match &self.root {
            Root::Passphrase(_) => None,
            Root::Provider(root) => Some(&root.params),
        }
    }

    /// The provider key that wraps `tier`'s keys (`None` for a passphrase
    /// keystore).
    pub fn kek_key_name(&self, tier: &Tier) -> Option<String> {
        self.root
            .provider()
            .and_then(|provider| provider.key_name(&KekSlot::Tier(tier)))
    }

    /// The provider key that wraps `tier`'s blind-index keys (`None` for a
    /// passphrase keystore, and for a provider keystore read from file
    /// version 3 whose index keys are still under the metadata key until
    /// its next save).
    pub fn kek_index_key_name(&self, tier: &Tier) -> Option<String> {
        if !self.body.index_keys_in_slots() {
            return None;
        }
        self.root
            .provider()
            .and_then(|provider| provider.key_name(&KekSlot::Index(tier)))
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
        let index = self.index_keys_for(clearance.tiers())?;
        Ok(Keyring::from_tiers(tiers, CUSTODIAN.to_owned(), audit_key)?.with_index_keys(index))
    }

    /// Adds a tier at version 1.
    ///
    /// # Errors
    /// [`Error::TierExists`], or an error saving the file.
    pub fn add_tier(&mut self, tier: &Tier) -> Result<(), Error> {
        self.add_tier_with_suite(tier, crate::HpkeSuite::default())
    }

    /// Creates version v+1 of `tier` and makes it primary; older versions
    /// stay usable for opening. Returns the new version.
    ///
    /// # Errors
    /// [`Error::UnknownTier`], or an error saving the file.
    pub fn rotate(&mut self, tier: &Tier) -> Result<u32, Error> {
        // One save, so that a concurrent rotation re-applied on top of
        // this one promotes its own new version, never an older one.
        self.update(|store, body| {
            let next = body.tier(tier).ok_or_else(|| unknown(tier))?.next_version();
            let version = store.new_version(body, tier, next)?;
            let record = body.tier_mut(tier).ok_or_else(|| unknown(tier))?;
            record.versions.push(version);
            record.primary = next;
            Ok(next)
        })
    }

    /// Creates version v+1 of `tier` *without* making it primary, so that
    /// readers can receive it before any writer uses it. Returns it.
    ///
    /// # Errors
    /// [`Error::UnknownTier`], or an error saving the file.
    pub fn add_version(&mut self, tier: &Tier) -> Result<u32, Error> {
        self.update(|store, body| {
            let next = body.tier(tier).ok_or_else(|| unknown(tier))?.next_version();
            let version = store.new_version(body, tier, next)?;
            let record = body.tier_mut(tier).ok_or_else(|| unknown(tier))?;
            record.versions.push(version);
            Ok(next)
        })
    }

    /// Makes `version` of `tier` the primary (sealing) version.
    ///
    /// # Errors
    /// [`Error::UnknownTier`], [`Error::UnknownKeyVersion`],
    /// [`Error::KeyRetired`], or an error saving the file.
    pub fn promote(&mut self, tier: &Tier, version: u32) -> Result<(), Error> {
        self.update(|store, body| {
            store.usable_version(tier, version)?;
            body.tier_mut(tier).ok_or_else(|| unknown(tier))?.primary = version;
            Ok(())
        })
    }

    /// Retires `version` of `tier`: its key material is destroyed
    /// (crypto-shredding), and anything wrapped only under it becomes
    /// unreadable. The primary version cannot be retired. Rewrap stored
    /// data before retiring.
    ///
    /// Refused while an unexpired issued grant carries the version (see
    /// [`outstanding_grants`](Self::outstanding_grants)): its holder keeps
    /// a copy of the key that retiring cannot destroy. Wait for those
    /// grants to expire, or confirm their holders discarded them and call
    /// [`retire_despite_grants`](Self::retire_despite_grants).
    ///
    /// # Errors
    /// [`Error::GrantsOutstanding`], [`Error::KeyState`] for the primary,
    /// [`Error::UnknownTier`], [`Error::UnknownKeyVersion`],
    /// [`Error::KeyRetired`], or an error saving the file.
    pub fn retire(&mut self, tier: &Tier, version: u32) -> Result<(), Error> {
        self.retire_checked(tier, version, false)
    }

    /// As [`retire`](Self::retire), even while issued grants still carry
    /// the version. Their holders can go on opening data wrapped under it
    /// with their own copy of the key until their grants expire: use this
    /// only once they have discarded those grants, or accept that they
    /// keep that access.
    ///
    /// # Errors
    /// As [`retire`](Self::retire), except [`Error::GrantsOutstanding`].
    pub fn retire_despite_grants(&mut self, tier: &Tier, version: u32) -> Result<(), Error> {
        self.retire_checked(tier, version, true)
    }

    /// Retires after the checks, made on the body the change applies to
    /// (a fresh one when another writer saved first).
    fn retire_checked(&mut self, tier: &Tier, version: u32, despite: bool) -> Result<(), Error> {
        let now = unix_seconds(SystemTime::now());
        self.update(|store, body| {
            store.usable_version(tier, version)?;
            let outstanding = store
                .outstanding_grants(tier, version, SystemTime::now())
                .len();
            if !despite && outstanding > 0 {
                return Err(Error::GrantsOutstanding {
                    tier: tier.clone(),
                    version,
                    grants: outstanding,
                });
            }
            if store.record(tier)?.primary == version {
                return Err(Error::KeyState {
                    action: "retire",
                    tier: tier.clone(),
                    version,
                    reason: "it is the primary version; rotate or promote another version first",
                });
            }
            let record = body.tier_mut(tier).ok_or_else(|| unknown(tier))?;
            if let Some(entry) = record.versions.iter_mut().find(|v| v.version == version) {
                entry.wrapped = None;
                entry.retired_at = Some(now);
            }
            body.provider_keys
                .retain(|k| !(k.tier == *tier && k.version == version));
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
        self.update(|_, body| {
            body.tier_mut(tier)
                .ok_or_else(|| unknown(tier))?
                .cryptoperiod_days = days;
            Ok(())
        })
    }

    /// Changes the passphrase (and optionally the KDF profile) and replaces
    /// the master key: a fresh master key is generated and every key
    /// wrapped under the old one (each tier key version and the audit key)
    /// is wrapped again under it, all in one atomic save.
    ///
    /// A copy of the file taken before the change still opens with the old
    /// passphrase and still reveals the keys that existed then; it reveals
    /// nothing about keys created afterwards, which are wrapped only under
    /// the new master key.
    ///
    /// # Errors
    /// An error saving the file; the old passphrase and master key then
    /// stay in force, in memory and on disk.
    pub fn change_passphrase(
        &mut self,
        new: &Passphrase,
        profile: KdfProfile,
    ) -> Result<(), Error> {
        self.refuse_split()?;
        if matches!(self.root, Root::Provider(_)) {
            return Err(Error::InvalidParameter {
                what: "passphrase change",
                reason: "this keystore is protected by a key-encryption provider, not a passphrase (see migrate_kek)",
            });
        }
        let root = PassphraseRoot::new(&KeyMaterial::generate()?, new, profile.params())?;
        self.rekey(Root::Passphrase(root), |_| {})
    }

    /// Wraps every key again under `root`'s master key, applies `change`
    /// to the body, and saves both at once; only then are they adopted.
    /// Both the current root and `root` hold a master key (passphrase or
    /// split); a provider keystore moves with `migrate_to_*` instead.
    fn rekey(&mut self, root: Root, change: impl FnOnce(&mut Body)) -> Result<(), Error> {
        let (Root::Passphrase(_), Root::Passphrase(_)) = (&self.root, &root) else {
            return Err(Error::InvalidParameter {
                what: "keystore re-key",
                reason: "a keystore protected by a key-encryption provider has no master key to replace (see migrate_kek)",
            });
        };
        let mut body = self.body.clone();
        change(&mut body);
        body.check().map_err(|reason| Error::InvalidParameter {
            what: "keystore change",
            reason,
        })?;
        self.rewrap_keys(&root, &mut body, |_, _| true)?;
        self.save_as(&root, &body)?;
        self.root = root;
        self.body = body;
        Ok(())
    }

    /// Saves `body` under a new `root` with check-and-set. A change of
    /// root is not re-applied on another writer's change: the caller runs
    /// it again on the fresh keystore. On success the caller adopts both.
    fn save_as(&mut self, root: &Root, body: &Body) -> Result<(), Error> {
        let image = self.image(root, body)?;
        match self.backend.store(&image, &self.revision)? {
            Stored::Saved(revision) => self.revision = revision,
            Stored::Conflict => match self.reload(&image)? {
                // The save landed; only its answer was lost.
                Some(revision) => self.revision = revision,
                None => {
                    return Err(Error::KeystoreConflict {
                        path: self.path.clone(),
                        reason: "a change of its root key (passphrase, shares or provider) is not re-applied automatically",
                    });
                }
            },
        }
        Ok(())
    }

    /// Every grant this keystore issued, in issue order, expired ones
    /// included.
    pub fn issued_grants(&self) -> &[IssuedGrant] {
        &self.body.grants
    }

    /// The issued grants that carry `version` of `tier` and have not
    /// expired at `now`: whoever holds one can open data wrapped under that
    /// version whatever the keystore does.
    pub fn outstanding_grants(
        &self,
        tier: &Tier,
        version: u32,
        now: SystemTime,
    ) -> Vec<&IssuedGrant> {
        let now = unix_seconds(now);
        self.body
            .grants
            .iter()
            .filter(|grant| !grant.is_expired(now) && grant.carries(tier, version))
            .collect()
    }

    /// The audit-log head last recorded with
    /// [`record_audit_checkpoint`](Self::record_audit_checkpoint), if any.
    pub fn audit_checkpoint(&self) -> Option<AuditCheckpoint> {
        self.body.audit_checkpoint
    }

    /// Records the audit log's head (the last entry's `seq` and `mac`) in
    /// the keystore, in one atomic save, stamped with the current time. The
    /// log's writers cannot rewrite the keystore, so a log later found to
    /// end before `seq`, or with another MAC at `seq`, was cut or rewritten.
    ///
    /// A checkpoint never moves back: recording an older `seq`, or the same
    /// `seq` with another MAC, is refused, since it would hide a cut log.
    ///
    /// # Errors
    /// [`Error::AuditCheckpointRegressed`], or an error saving the file.
    pub fn record_audit_checkpoint(&mut self, seq: u64, mac: [u8; 32]) -> Result<(), Error> {
        let recorded_at = unix_seconds(SystemTime::now());
        self.update(|_, body| {
            if let Some(recorded) = body.audit_checkpoint
                && (seq < recorded.seq || (seq == recorded.seq && mac != recorded.mac))
            {
                return Err(Error::AuditCheckpointRegressed {
                    recorded: recorded.seq,
                    offered: seq,
                });
            }
            body.audit_checkpoint = Some(AuditCheckpoint {
                seq,
                mac,
                recorded_at,
            });
            Ok(())
        })
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

    fn new_tier_record(&self, body: &mut Body, tier: Tier) -> Result<TierRecord, Error> {
        let first = self.new_version(body, &tier, 1)?;
        Ok(TierRecord {
            tier,
            primary: 1,
            cryptoperiod_days: DEFAULT_CRYPTOPERIOD_DAYS,
            versions: vec![first],
        })
    }

    /// A fresh key version of `tier`. In a provider keystore it is wrapped
    /// by the provider under the tier's key and added to `body`'s provider
    /// keys; otherwise wrapped under the master key.
    fn new_version(
        &self,
        body: &mut Body,
        tier: &Tier,
        version: u32,
    ) -> Result<VersionRecord, Error> {
        let material = KeyMaterial::generate()?;
        let wrapped = self.wrap_new(body, KeyRole::Encryption, tier, version, &material)?;
        Ok(VersionRecord {
            version,
            created_at: unix_seconds(SystemTime::now()),
            check_value: material.check_value(),
            wrapped: Some(wrapped),
            retired_at: None,
        })
    }

    /// Unwraps a key stored in the body; `what` names it in the error.
    fn unwrap_under_master(
        &self,
        wrapped: &WrappedTierKey,
        aad: &[u8],
        what: &'static str,
    ) -> Result<KeyMaterial, Error> {
        unwrap_under(self.root.cipher(), wrapped, aad).map_err(|_| Error::KeystoreCorrupt {
            path: self.path.clone(),
            reason: what,
        })
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
        let key = wrapping::StoredKey::PerTier {
            role: KeyRole::Encryption,
            tier: &record.tier,
            version: version.version,
            check_value: version.check_value,
        };
        self.unwrap_stored(&self.body, &key, wrapped).map(Some)
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
    /// The grant is recorded in the keystore's register (see
    /// [`issued_grants`](Self::issued_grants)) before it is returned: a
    /// grant that could not be recorded is never handed out.
    ///
    /// # Errors
    /// [`Error::ReservedPrincipal`] for a principal that reads as one in
    /// [`RESERVED_PRINCIPALS`], [`Error::InvalidParameter`] for an empty
    /// principal or an expiry in the past, [`Error::UnknownTier`],
    /// [`Error::Randomness`], or an error saving the file.
    pub fn issue_grant(
        &mut self,
        clearance: &Clearance,
        principal: &str,
        expires_at: SystemTime,
    ) -> Result<(Vec<u8>, crate::GrantSecret), Error> {
        let keyring = self.keyring(clearance)?;
        self.issue_grant_from(&keyring, principal, expires_at, Vec::new())
    }

    /// Writes a grant carrying what `keyring` holds, with the grant's
    /// break-glass approval requirements (see
    /// [`issue_grant`](Self::issue_grant)).
    fn issue_grant_from(
        &mut self,
        keyring: &Keyring,
        principal: &str,
        expires_at: SystemTime,
        approval_required: Vec<crate::grant::ApprovalRequirement>,
    ) -> Result<(Vec<u8>, crate::GrantSecret), Error> {
        crate::grant::check_principal(principal)?;
        let audit_key = self
            .audit_key()?
            .derive(principal)
            .ok_or(Error::InvalidParameter {
                what: "principal",
                reason: "cannot derive its audit key",
            })?;
        let (grant, secret, info) = crate::grant::issue(
            keyring,
            principal,
            expires_at,
            &audit_key,
            approval_required,
        )?;
        let mut id = [0u8; 8];
        crypto::fill_from_os(&mut id)?;
        let issued = IssuedGrant {
            id: GrantId(id),
            principal: info.principal,
            issued_at: info.issued_at,
            expires_at: info.expires_at,
            tiers: info
                .tiers
                .into_iter()
                .map(|granted| IssuedTier {
                    tier: granted.tier,
                    versions: granted.versions,
                })
                .collect(),
            index: info
                .index
                .into_iter()
                .map(|granted| IssuedTier {
                    tier: granted.tier,
                    versions: granted.versions,
                })
                .collect(),
        };
        self.update(|store, body| {
            // Re-applied on another writer's change: a version it retired
            // meanwhile must not leave in a grant.
            for granted in &issued.tiers {
                for version in &granted.versions {
                    store.usable_version(&granted.tier, *version).map_err(|_| {
                        Error::KeystoreConflict {
                            path: store.path.clone(),
                            reason: "a key version the grant carries was retired meanwhile",
                        }
                    })?;
                }
            }
            store.check_index_versions_usable(&issued.index)?;
            body.grants.push(issued.clone());
            Ok(())
        })?;
        Ok((grant, secret))
    }

    /// Applies `change` to a copy of the body, saves it atomically with
    /// check-and-set, and only then adopts it: on error the keystore is
    /// unchanged, in memory and in its store.
    ///
    /// When another writer saved first, the stored keystore is read again
    /// and `change` is re-applied to it (its checks run again on the fresh
    /// body, through the `&Keystore` it is given), up to
    /// [`MAX_SAVE_ATTEMPTS`] times in all; then [`Error::KeystoreConflict`].
    fn update<T>(
        &mut self,
        mut change: impl FnMut(&Keystore, &mut Body) -> Result<T, Error>,
    ) -> Result<T, Error> {
        for _ in 0..MAX_SAVE_ATTEMPTS {
            if let Root::Provider(root) = &mut self.root {
                root.bind_to_current_version()?;
            }
            let mut body = self.body.clone();
            let outcome = change(self, &mut body)?;
            self.place_index_keys(&mut body)?;
            body.check().map_err(|reason| Error::InvalidParameter {
                what: "keystore change",
                reason,
            })?;
            let image = self.image(&self.root, &body)?;
            let saved = match self.backend.store(&image, &self.revision)? {
                Stored::Saved(revision) => Some(revision),
                Stored::Conflict if self.revision == Revision::Absent => {
                    return Err(Error::KeystoreExists {
                        path: self.path.clone(),
                    });
                }
                Stored::Conflict => self.reload(&image)?,
            };
            if let Some(revision) = saved {
                self.revision = revision;
                self.body = body;
                return Ok(outcome);
            }
        }
        Err(Error::KeystoreConflict {
            path: self.path.clone(),
            reason: "other writers kept saving first",
        })
    }

    /// Reads the stored keystore again after a refused save of `ours`,
    /// and adopts its body and revision. Returns the revision when the
    /// stored image is `ours` (a save whose answer was lost, then retried).
    ///
    /// # Errors
    /// [`Error::KeystoreConflict`] when the stored keystore's master key is
    /// no longer this one's (another custodian changed the passphrase),
    /// [`Error::KeystoreCorrupt`] when it does not authenticate.
    fn reload(&mut self, ours: &[u8]) -> Result<Option<Revision>, Error> {
        let (bytes, revision) = self.backend.load()?;
        if bytes == ours {
            return Ok(Some(revision));
        }
        let image = FileImage::decode(&bytes, &self.path)?;
        let corrupt = |reason| Error::KeystoreCorrupt {
            path: self.path.clone(),
            reason,
        };
        let mut empty = [];
        if crypto::decrypt(
            self.root.cipher(),
            &image.body_nonce,
            &image.authenticated_prefix(),
            &mut empty,
            &image.body_tag,
        )
        .is_err()
        {
            // Whether the stored root is still ours: then the image was
            // altered; otherwise another custodian replaced the root.
            let unchanged = match (&self.root, &image.root) {
                (Root::Passphrase(ours), RootImage::Passphrase { salt, .. }) => *salt == ours.salt,
                (
                    Root::Provider(ours),
                    RootImage::Provider {
                        params,
                        wrapped_meta,
                    },
                ) => *params == ours.params && *wrapped_meta == ours.wrapped_meta,
                _ => false,
            };
            return Err(if unchanged {
                corrupt("authentication failed (the keystore was altered)")
            } else if let (Root::Passphrase(_), RootImage::Passphrase { .. }) =
                (&self.root, &image.root)
            {
                Error::KeystoreConflict {
                    path: self.path.clone(),
                    reason: "its passphrase was changed: open it with the new one",
                }
            } else {
                Error::KeystoreConflict {
                    path: self.path.clone(),
                    reason: "its root key was changed (migrated to or from a key-encryption provider): open it again",
                }
            });
        }
        let body = decode_body(image.version, &image.body).map_err(corrupt)?;
        if body.provider_held() != matches!(self.root, Root::Provider(_)) {
            return Err(corrupt(
                "its tier keys are not wrapped the way its header says",
            ));
        }
        // Another custodian may have rotated the provider keys: the
        // metadata key is the same, its wrap is newer.
        let adopted = match (&self.root, &image.root) {
            (
                Root::Provider(ours),
                RootImage::Provider {
                    params,
                    wrapped_meta,
                },
            ) if *params == ours.params && *wrapped_meta != ours.wrapped_meta => {
                Some((wrapped_meta.clone(), image.version))
            }
            _ => None,
        };
        let previous = std::mem::replace(&mut self.body, body);
        if let Err(e) = self.check_keys() {
            self.body = previous;
            return Err(e);
        }
        if let (Some((wrapped_meta, version)), Root::Provider(ours)) = (adopted, &mut self.root) {
            ours.wrapped_meta = wrapped_meta;
            ours.bound_version = version;
        }
        self.revision = revision;
        Ok(None)
    }

    /// Encodes `body` under `root`, always in the current file version.
    fn image(&self, root: &Root, body: &Body) -> Result<Vec<u8>, Error> {
        let encoded = postcard::to_stdvec(body).map_err(|_| Error::InvalidParameter {
            what: "keystore body",
            reason: "does not encode",
        })?;
        // A body the reader would refuse must never replace a good file.
        check_for_version(body, FILE_VERSION).map_err(|reason| Error::InvalidParameter {
            what: "keystore body",
            reason,
        })?;
        if encoded.len() > file::MAX_BODY_LEN {
            return Err(Error::InvalidParameter {
                what: "keystore body",
                reason: "larger than the 16 MiB a keystore may hold; nothing was saved",
            });
        }
        let mut image = FileImage {
            version: FILE_VERSION,
            root: root.image(),
            body: encoded,
            body_nonce: crypto::fresh_wrap_nonce()?,
            body_tag: [0; crypto::TAG_LEN],
        };
        let mut empty = [];
        image.body_tag = crypto::encrypt(
            root.cipher(),
            &image.body_nonce,
            &image.authenticated_prefix(),
            &mut empty,
        )?;
        Ok(image.encode())
    }
}

impl std::fmt::Debug for Keystore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keystore")
            .field("path", &self.path)
            .field("provider", &self.provider_kind())
            .field("kdf", &self.kdf_params())
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

/// The backend for `location`: a locked file (waiting up to `wait`), or a
/// KV secret on the server the environment configures.
/// The stored image at `location`, read without taking its lock (to decide
/// how to unlock it; never trusted before it authenticates).
fn read_unlocked(location: &KeystoreLocation) -> Result<Vec<u8>, Error> {
    match location {
        KeystoreLocation::File(path) => file::read(path),
        KeystoreLocation::OpenBao { .. } => Ok(kv::KvBackend::from_env(location)?.load()?.0),
    }
}

fn backend_for(
    location: &KeystoreLocation,
    wait: Duration,
) -> Result<Box<dyn KeystoreBackend>, Error> {
    Ok(match location {
        KeystoreLocation::File(path) => Box::new(FileBackend::lock(path, wait)?),
        KeystoreLocation::OpenBao { .. } => Box::new(kv::KvBackend::from_env(location)?),
    })
}

/// Wraps a key stored in the body under the master key.
fn wrap_under(
    master: &Aes256Gcm,
    material: &KeyMaterial,
    aad: &[u8],
) -> Result<WrappedTierKey, Error> {
    let nonce = crypto::fresh_wrap_nonce()?;
    let wrapped = crypto::wrap_key(master, &nonce, aad, material.expose())?;
    let (ciphertext, tag) = wrapped.split_at(KEY_LEN);
    Ok(WrappedTierKey {
        nonce,
        ciphertext: ciphertext
            .try_into()
            .map_err(|_| Error::malformed("wrap"))?,
        tag: tag.try_into().map_err(|_| Error::malformed("wrap"))?,
    })
}

/// Unwraps a key stored in the body.
fn unwrap_under(
    master: &Aes256Gcm,
    wrapped: &WrappedTierKey,
    aad: &[u8],
) -> Result<KeyMaterial, AuthFailed> {
    let mut joined = [0u8; crypto::WRAPPED_KEY_LEN];
    let (ciphertext, tag) = joined.split_at_mut(KEY_LEN);
    ciphertext.copy_from_slice(&wrapped.ciphertext);
    tag.copy_from_slice(&wrapped.tag);
    let mut key = crypto::unwrap_key(master, &wrapped.nonce, aad, &joined)?;
    Ok(KeyMaterial::take(&mut key))
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

/// Decodes a body of file format `version` and checks its invariants.
fn decode_body(version: u16, bytes: &[u8]) -> Result<Body, &'static str> {
    let body = Body::decode(version, bytes).ok_or("the body does not decode")?;
    body.check()?;
    check_for_version(&body, version)?;
    Ok(body)
}

/// What a body of file format `version` must hold beyond
/// [`Body::check`]: from version 4 on, a provider keystore's index keys
/// are in their tiers' index slots, never under the metadata key (so that
/// the provider, not the keystore key, decides who may search).
fn check_for_version(body: &Body, version: u16) -> Result<(), &'static str> {
    if version >= file::INDEX_SLOTS_VERSION && body.provider_held() && !body.index_keys_in_slots() {
        return Err("its index keys are not wrapped under their own provider keys");
    }
    Ok(())
}

/// The file's parsers without the key derivation and the decryption that
/// stand between them, for the fuzz targets (`crate::__fuzz`).
#[cfg(feature = "fuzzing")]
pub(crate) mod fuzzing {
    use super::{FileImage, KdfParams, Path};
    use crate::Error;

    /// Parses a whole keystore file up to the key derivation.
    /// A provider keystore parses too, then stops where `open` would
    /// (with the provider mismatch), having no key derivation.
    pub(crate) fn parse_file(bytes: &[u8]) -> Result<KdfParams, Error> {
        let path = Path::new("fuzz.keystore");
        match FileImage::decode(bytes, path)?.root {
            super::RootImage::Passphrase { kdf, .. } => Ok(kdf),
            super::RootImage::Provider { params, .. } => Err(Error::KekProviderMismatch {
                path: path.to_owned(),
                expected: "passphrase",
                found: params.kind().as_str(),
            }),
        }
    }

    /// Decodes and checks a body as if the master key had authenticated
    /// it, as every file version this build reads; the result is the
    /// current version's.
    pub(crate) fn decode_body(bytes: &[u8]) -> Result<(), &'static str> {
        // Version 1's decoder runs too; only its absence of panics matters.
        let _ = super::decode_body(1, bytes);
        let _ = super::decode_body(2, bytes);
        let _ = super::decode_body(3, bytes);
        super::decode_body(super::FILE_VERSION, bytes).map(drop)
    }
}

fn unknown(tier: &Tier) -> Error {
    Error::UnknownTier { tier: tier.clone() }
}

pub(crate) fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The body of the keystore file at `path`, read as an attacker would:
    /// it is authenticated, not encrypted, so no passphrase is needed.
    fn stolen_body(path: &Path) -> Body {
        let bytes = std::fs::read(path).unwrap();
        let image = FileImage::decode(&bytes, path).unwrap();
        Body::decode(image.version, &image.body).unwrap()
    }

    /// Whether `master` unwraps the key of `version` of `tier` in `body`.
    fn unwraps(master: &Aes256Gcm, body: &Body, tier: &Tier, version: u32) -> bool {
        let record = body.tier(tier).unwrap();
        let wrapped = record.version(version).unwrap().wrapped.as_ref().unwrap();
        unwrap_under(master, wrapped, &tier_key_aad(tier, version)).is_ok()
    }

    #[test]
    fn an_old_copy_and_the_old_passphrase_reveal_no_key_created_after_a_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.keystore");
        let old_copy = dir.path().join("stolen-before.keystore");
        let mut keystore = Keystore::create(&path, &"old".into(), KdfProfile::Test).unwrap();
        std::fs::copy(&path, &old_copy).unwrap();

        keystore
            .change_passphrase(&"new".into(), KdfProfile::Test)
            .unwrap();
        let v2 = keystore.rotate(&Tier::RESTRICTED).unwrap();
        let new_body = stolen_body(&path);
        drop(keystore);

        // The attacker's master key: the old copy opened with the old
        // passphrase.
        let old = Keystore::open(&old_copy, &"old".into()).unwrap();
        assert!(!unwraps(
            old.root.cipher(),
            &new_body,
            &Tier::RESTRICTED,
            v2
        ));
        // Nor are the keys that existed then reachable through the new file
        // (they are wrapped again under the new master key), though the old
        // copy itself still holds them.
        assert!(!unwraps(old.root.cipher(), &new_body, &Tier::RESTRICTED, 1));
        assert!(unwraps(old.root.cipher(), &old.body, &Tier::RESTRICTED, 1));
        let audit = new_body.audit_key.as_ref().unwrap();
        assert!(unwrap_under(old.root.cipher(), audit, AUDIT_KEY_AAD).is_err());

        // The new passphrase opens everything, old keys and new.
        let new = Keystore::open(&path, &"new".into()).unwrap();
        assert!(unwraps(new.root.cipher(), &new_body, &Tier::RESTRICTED, v2));
        assert!(unwraps(new.root.cipher(), &new_body, &Tier::RESTRICTED, 1));
        assert_eq!(
            new.key_versions()
                .iter()
                .find(|v| v.tier == Tier::RESTRICTED && v.version == 1)
                .map(|v| v.check_value.clone()),
            old.key_versions()
                .iter()
                .find(|v| v.tier == Tier::RESTRICTED && v.version == 1)
                .map(|v| v.check_value.clone()),
        );
        assert!(matches!(
            Keystore::open_with_lock_wait(&path, &"old".into(), Duration::ZERO),
            Err(Error::KeystoreLocked { .. })
        ));
    }
    #[test]
    fn a_body_too_large_to_read_back_is_never_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.keystore");
        let mut keystore = Keystore::create(&path, &"pw".into(), KdfProfile::Test).unwrap();
        let before = std::fs::read(&path).unwrap();
        let grant = IssuedGrant {
            id: GrantId([0; 8]),
            principal: "p".repeat(256),
            issued_at: 1,
            expires_at: 2,
            tiers: Vec::new(),
            index: Vec::new(),
        };
        let err = keystore
            .update(|_, body| {
                body.grants = (0u64..70_000)
                    .map(|n| IssuedGrant {
                        id: GrantId(n.to_be_bytes()),
                        ..grant.clone()
                    })
                    .collect();
                Ok(())
            })
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidParameter {
                    what: "keystore body",
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert!(keystore.issued_grants().is_empty());
        drop(keystore);
        assert!(Keystore::open(&path, &"pw".into()).is_ok());
    }
}
