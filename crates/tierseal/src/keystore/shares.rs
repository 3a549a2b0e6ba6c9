//! Split knowledge: the master key split into M-of-N custodian shares
//! (Shamir's scheme over GF(256), from the `blahaj` crate), each sealed
//! under its own holder's passphrase; and the dual-control policy that
//! names the operations that need M custodians.
//!
//! ```text
//! master key --Shamir M-of-N--> share i --Argon2id(holder i)+AES-GCM--> share file i
//! ```
//!
//! A split keystore stores no passphrase wrap of its master key: only
//! its identity (a random [`KeystoreId`]), the share set's generation, M,
//! N and the holders' names. Any M shares rebuild the master key, which
//! must then authenticate the keystore body; fewer than M reveal nothing
//! about it. Each share file binds (as AES-GCM AAD) the keystore id, the
//! generation, M, N, its index and its holder, so a share of another
//! keystore or of an earlier set is refused by name before any key is
//! rebuilt, and a share set that does not rebuild the right key is refused
//! as [`Error::SharesDoNotMatch`].
//!
//! Reissuing the set (a custodian leaves) draws a new master key and
//! wraps every key under it again, as a passphrase change does: the old
//! shares rebuild only the old master key, which opens nothing in the new
//! file.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use aes_gcm::Aes256Gcm;
use rand::SeedableRng as _;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::file::{FileImage, RootImage, SALT_LEN};
use super::kdf::{KdfProfile, Passphrase};
use super::model::Body;
use super::share_file::{self, MAX_HOLDER_LEN, ShareFile, ShareHeader};
use super::storage::KeystoreLocation;
use super::{Keystore, PassphraseRoot, Root};
use crate::Error;
use crate::crypto::{self, KEY_LEN, KeyMaterial};
use crate::kek::ProviderKind;
use std::time::Duration;

/// A keystore's identity: 16 random bytes drawn when it is first split,
/// written in every share file. Shown as 32 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KeystoreId(pub(crate) [u8; 16]);

impl KeystoreId {
    fn generate() -> Result<KeystoreId, Error> {
        let mut id = [0u8; 16];
        crypto::fill_from_os(&mut id)?;
        Ok(KeystoreId(id))
    }
}

impl fmt::Display for KeystoreId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crypto::hex(&self.0))
    }
}

impl fmt::Debug for KeystoreId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeystoreId({self})")
    }
}

/// The share set a split keystore records (never a share).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ShareSet {
    pub(crate) threshold: u8,
    /// Share `i` (from 1) is held by `holders[i - 1]`.
    pub(crate) holders: Vec<String>,
    pub(crate) generation: u32,
}

impl ShareSet {
    /// The error for an operation a keystore at `path` split into this set
    /// cannot do (unlock with a passphrase, take another root).
    pub(crate) fn split_error(&self, path: PathBuf) -> Error {
        Error::KeystoreSplit {
            path,
            threshold: self.threshold,
            count: u8::try_from(self.holders.len()).unwrap_or(u8::MAX),
        }
    }

    /// The invariants of a recorded set.
    pub(crate) fn check(
        &self,
        keystore_id: Option<KeystoreId>,
        last_generation: u32,
    ) -> Result<(), &'static str> {
        if keystore_id.is_none() {
            return Err("a split keystore has no keystore id");
        }
        if self.generation == 0 || self.generation != last_generation {
            return Err("the share set's generation is not the last one issued");
        }
        let count = self.holders.len();
        if self.threshold < 2 || usize::from(self.threshold) > count || count > 255 {
            return Err("the share set's threshold or count is out of range");
        }
        Ok(())
    }
}

/// An operation that a dual-control policy can reserve to M custodians.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DualControlOp {
    /// `keys retire`: destroying a key version.
    Retire,
    /// `grant issue` of a grant that carries a restricted tier.
    GrantRestricted,
    /// Changing the keystore's root: passphrase change, splitting,
    /// reissuing or joining shares.
    RootChange,
    /// Moving tier keys to another key-encryption provider.
    KekMigration,
}

impl DualControlOp {
    /// Every operation, in order: the default policy of a split keystore.
    pub const ALL: [DualControlOp; 4] = [
        DualControlOp::Retire,
        DualControlOp::GrantRestricted,
        DualControlOp::RootChange,
        DualControlOp::KekMigration,
    ];

    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            DualControlOp::Retire => "retire",
            DualControlOp::GrantRestricted => "grant-restricted",
            DualControlOp::RootChange => "root-change",
            DualControlOp::KekMigration => "kek-migration",
        }
    }
}

impl fmt::Display for DualControlOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DualControlOp {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        DualControlOp::ALL
            .into_iter()
            .find(|op| op.as_str() == text)
            .ok_or(Error::InvalidParameter {
                what: "dual-control operation",
                reason: "expected retire, grant-restricted, root-change or kek-migration",
            })
    }
}

/// `M-of-N`: how many shares there are and how many unlock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SplitSpec {
    /// M: the shares needed to unlock (2 or more).
    pub threshold: u8,
    /// N: the shares made (M to 255).
    pub count: u8,
}

impl SplitSpec {
    /// Checks 1 < M <= N <= 255.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] out of range.
    pub fn new(threshold: u8, count: u8) -> Result<SplitSpec, Error> {
        if threshold < 2 {
            return Err(Error::InvalidParameter {
                what: "share threshold",
                reason: "at least 2 shares must be needed to unlock (M-of-N with M >= 2)",
            });
        }
        if threshold > count {
            return Err(Error::InvalidParameter {
                what: "share threshold",
                reason: "M cannot be more than N: some shares would never suffice",
            });
        }
        Ok(SplitSpec { threshold, count })
    }
}

impl FromStr for SplitSpec {
    type Err = Error;

    /// Parses `M-of-N`, e.g. `2-of-3`.
    fn from_str(text: &str) -> Result<Self, Error> {
        let bad = Error::InvalidParameter {
            what: "share split",
            reason: "expected M-of-N with 2 <= M <= N <= 255, e.g. 2-of-3",
        };
        let (m, n) = text.split_once("-of-").ok_or(bad)?;
        let parse = |t: &str| {
            t.parse::<u8>().map_err(|_| Error::InvalidParameter {
                what: "share split",
                reason: "expected M-of-N with 2 <= M <= N <= 255, e.g. 2-of-3",
            })
        };
        SplitSpec::new(parse(m)?, parse(n)?)
    }
}

impl fmt::Display for SplitSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-of-{}", self.threshold, self.count)
    }
}

/// One share to make: its holder, the holder's passphrase, and the new
/// file it is written to (never an existing one).
#[derive(Debug)]
pub struct NewShare {
    /// The holder's name, recorded in the share and the keystore.
    pub holder: String,
    /// The passphrase that seals the share.
    pub passphrase: Passphrase,
    /// Where to write the share file.
    pub out: PathBuf,
}

/// How to split a keystore's master key: M, one [`NewShare`] per holder
/// (N of them), the Argon2id profile of the share files, and the
/// dual-control policy.
#[derive(Debug)]
pub struct SplitPlan {
    threshold: u8,
    shares: Vec<NewShare>,
    profile: KdfProfile,
    dual_control: Vec<DualControlOp>,
}

impl SplitPlan {
    /// A plan for `spec`, with one share per element of `shares` and the
    /// default policy ([`DualControlOp::ALL`]).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when the number of shares is not N, a
    /// holder name is empty, longer than 64 bytes, holds a control
    /// character or is given twice, or two shares go to one file.
    pub fn new(
        spec: SplitSpec,
        shares: Vec<NewShare>,
        profile: KdfProfile,
    ) -> Result<SplitPlan, Error> {
        let bad = |reason| Error::InvalidParameter {
            what: "share holders",
            reason,
        };
        if shares.len() != usize::from(spec.count) {
            return Err(bad("give exactly N holders (and N share files) for M-of-N"));
        }
        for (i, share) in shares.iter().enumerate() {
            check_holder(&share.holder)?;
            if shares
                .iter()
                .take(i)
                .any(|other| other.holder == share.holder)
            {
                return Err(bad("each holder is named once: one share per custodian"));
            }
            if shares.iter().take(i).any(|other| other.out == share.out) {
                return Err(bad("each share goes to its own file"));
            }
        }
        Ok(SplitPlan {
            threshold: spec.threshold,
            shares,
            profile,
            dual_control: DualControlOp::ALL.to_vec(),
        })
    }

    /// Replaces the dual-control policy.
    pub fn with_dual_control(mut self, ops: Vec<DualControlOp>) -> SplitPlan {
        let mut unique = Vec::new();
        for op in ops {
            if !unique.contains(&op) {
                unique.push(op);
            }
        }
        self.dual_control = unique;
        self
    }
}

pub(crate) fn check_holder(holder: &str) -> Result<(), Error> {
    let bad = |reason| Error::InvalidParameter {
        what: "share holder name",
        reason,
    };
    if holder.trim().is_empty() {
        return Err(bad("empty"));
    }
    if holder.len() > MAX_HOLDER_LEN {
        return Err(bad("longer than 64 bytes"));
    }
    if holder.chars().any(char::is_control) {
        return Err(bad("holds a control character"));
    }
    Ok(())
}

/// A share to unlock with: the file and its holder's passphrase.
#[derive(Debug)]
pub struct ShareKey {
    /// The share file.
    pub path: PathBuf,
    /// Its holder's passphrase.
    pub passphrase: Passphrase,
}

/// What a share file says about itself (never the share).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ShareInfo {
    /// The share file.
    pub path: PathBuf,
    /// The keystore it belongs to.
    pub keystore_id: String,
    /// The share set's generation.
    pub generation: u32,
    /// M.
    pub threshold: u8,
    /// N.
    pub count: u8,
    /// Its place in the set, from 1.
    pub index: u8,
    /// Its holder.
    pub holder: String,
}

impl ShareInfo {
    /// Reads a share file's header, without its passphrase: what it
    /// *claims* (the claim is checked when the share is opened).
    ///
    /// # Errors
    /// [`Error::ShareCorrupt`] or I/O errors, naming the file.
    pub fn read(path: impl AsRef<Path>) -> Result<ShareInfo, Error> {
        let path = path.as_ref();
        Ok(ShareInfo::of(&share_file::read(path)?.header, path))
    }

    fn of(header: &ShareHeader, path: &Path) -> ShareInfo {
        ShareInfo {
            path: path.to_owned(),
            keystore_id: header.keystore_id.to_string(),
            generation: header.generation,
            threshold: header.threshold,
            count: header.count,
            index: header.index,
            holder: header.holder.clone(),
        }
    }
}

/// A split keystore's share set, as reports show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ShareSetInfo {
    /// The keystore's identity.
    pub keystore_id: String,
    /// The set's generation (1 for the first set, +1 per reissue).
    pub generation: u32,
    /// M.
    pub threshold: u8,
    /// The holders, share 1 first (N of them).
    pub holders: Vec<String>,
    /// The operations the policy reserves to M custodians.
    pub dual_control: Vec<DualControlOp>,
}

impl ShareSetInfo {
    fn of(body: &Body) -> Option<ShareSetInfo> {
        let set = body.share_set.as_ref()?;
        Some(ShareSetInfo {
            keystore_id: body
                .keystore_id
                .map(|id| id.to_string())
                .unwrap_or_default(),
            generation: set.generation,
            threshold: set.threshold,
            holders: set.holders.clone(),
            dual_control: body.dual_control.clone(),
        })
    }
}

/// Share files written for a set not yet committed: removed on drop
/// unless kept, so that a failed split leaves no stray shares behind.
pub(crate) struct WrittenShares {
    paths: Vec<PathBuf>,
    kept: bool,
}

impl WrittenShares {
    pub(crate) fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for WrittenShares {
    fn drop(&mut self) {
        if !self.kept {
            for path in &self.paths {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

/// Splits `master` per `plan` and writes every share file (each new),
/// binding `keystore_id` and `generation`.
fn write_shares(
    master: &KeyMaterial,
    plan: &SplitPlan,
    keystore_id: KeystoreId,
    generation: u32,
) -> Result<WrittenShares, Error> {
    // Refuse before writing anything when a target exists.
    for share in &plan.shares {
        if share
            .out
            .try_exists()
            .map_err(|e| Error::io("check", &share.out, e))?
        {
            return Err(Error::io(
                "refusing to overwrite share file",
                &share.out,
                std::io::Error::from(std::io::ErrorKind::AlreadyExists),
            ));
        }
    }
    let count = u8::try_from(plan.shares.len()).map_err(|_| Error::InvalidParameter {
        what: "share count",
        reason: "at most 255 shares",
    })?;
    // The polynomial coefficients come from a generator seeded from the
    // kernel for this split alone.
    let mut seed = Zeroizing::new([0u8; 32]);
    crypto::fill_from_os(seed.as_mut())?;
    let mut rng = rand::rngs::StdRng::from_seed(*seed);
    let dealt: Vec<blahaj::Share> = blahaj::Sharks(plan.threshold)
        .dealer_rng(master.expose(), &mut rng)
        .take(usize::from(count))
        .collect();
    drop(rng);
    let mut written = WrittenShares {
        paths: Vec::with_capacity(plan.shares.len()),
        kept: false,
    };
    for ((share, dealt), index) in plan.shares.iter().zip(&dealt).zip(1u8..) {
        let bytes = Zeroizing::new(Vec::from(dealt));
        let (&x, y) = bytes.split_first().ok_or(Error::malformed("share"))?;
        let y: &[u8; KEY_LEN] = y.try_into().map_err(|_| Error::malformed("share"))?;
        if x != index {
            return Err(Error::malformed("share index"));
        }
        let mut salt = [0u8; SALT_LEN];
        crypto::fill_from_os(&mut salt)?;
        let header = ShareHeader {
            kdf: plan.profile.params(),
            salt,
            keystore_id,
            generation,
            threshold: plan.threshold,
            count,
            index,
            holder: share.holder.clone(),
        };
        let file = ShareFile::seal(header, &share.passphrase, y)?;
        share_file::write_new(&share.out, &file.encode())?;
        written.paths.push(share.out.clone());
    }
    Ok(written)
}

/// Checks the shares against the recorded set, opens them and rebuilds
/// the master key. Returns it with the holders of the shares used.
fn recover(
    keystore: &Path,
    body: &Body,
    keys: &[ShareKey],
) -> Result<(KeyMaterial, Vec<String>), Error> {
    let (Some(set), Some(id)) = (&body.share_set, body.keystore_id) else {
        return Err(Error::KeystoreNotSplit {
            path: keystore.to_owned(),
        });
    };
    // Every header first: a wrong or duplicated share is named before any
    // passphrase is tried.
    let mut files = Vec::with_capacity(keys.len());
    let mut seen: HashMap<u8, &Path> = HashMap::new();
    for key in keys {
        let file = share_file::read(&key.path)?;
        let h = &file.header;
        if h.keystore_id != id {
            return Err(Error::ShareForeign {
                path: key.path.clone(),
                holder: h.holder.clone(),
                share_keystore: h.keystore_id.to_string(),
                keystore: keystore.to_owned(),
                keystore_id: id.to_string(),
            });
        }
        if h.generation != set.generation {
            return Err(Error::ShareStale {
                path: key.path.clone(),
                holder: h.holder.clone(),
                generation: h.generation,
                current: set.generation,
            });
        }
        let recorded = set.holders.get(usize::from(h.index).saturating_sub(1));
        if h.threshold != set.threshold
            || usize::from(h.count) != set.holders.len()
            || recorded != Some(&h.holder)
        {
            return Err(Error::ShareCorrupt {
                path: key.path.clone(),
                reason: "its M, N, index or holder does not match the keystore's record of the set (the share or the keystore was altered)",
            });
        }
        if let Some(first) = seen.insert(h.index, &key.path) {
            return Err(Error::ShareDuplicate {
                path: key.path.clone(),
                first: first.to_owned(),
                index: h.index,
                holder: h.holder.clone(),
            });
        }
        files.push(file);
    }
    if files.len() < usize::from(set.threshold) {
        return Err(Error::NotEnoughShares {
            path: keystore.to_owned(),
            needed: set.threshold,
            got: files.len(),
        });
    }
    let mut shares = Vec::with_capacity(files.len());
    for (file, key) in files.iter().zip(keys) {
        let y = file.open(&key.passphrase, &key.path)?;
        let mut bytes = Zeroizing::new(Vec::with_capacity(1 + KEY_LEN));
        bytes.push(file.header.index);
        bytes.extend_from_slice(y.as_ref());
        shares.push(
            blahaj::Share::try_from(bytes.as_slice()).map_err(|_| Error::malformed("share"))?,
        );
    }
    let secret = Zeroizing::new(
        blahaj::Sharks(set.threshold)
            .recover(&shares)
            .map_err(|_| Error::malformed("share set"))?,
    );
    let mut master: [u8; KEY_LEN] = secret
        .as_slice()
        .try_into()
        .map_err(|_| Error::malformed("share set"))?;
    let master = KeyMaterial::take(&mut master);
    let holders = files.iter().map(|f| f.header.holder.clone()).collect();
    Ok((master, holders))
}

/// Whether `master` authenticates the file's body.
fn authenticates(image: &FileImage, master: &Aes256Gcm) -> bool {
    let mut empty = [];
    crypto::decrypt(
        master,
        &image.body_nonce,
        &image.authenticated_prefix(),
        &mut empty,
        &image.body_tag,
    )
    .is_ok()
}

/// Whether the store may hold a keystore that only the new share set
/// opens, after a save under `master` (the new master key) reported an
/// error. A store can fail after it took the write: a server that lost its
/// answer, a folder that could not be flushed after the rename. The new
/// share files are then the only way to that master key, so they go only
/// when the store, read back (`stored`), is absent or holds a keystore the
/// new master key does not authenticate.
fn may_have_saved(stored: Result<Vec<u8>, Error>, path: &Path, master: &Aes256Gcm) -> bool {
    match stored {
        Ok(bytes) => {
            FileImage::decode(&bytes, path).map_or(true, |image| authenticates(&image, master))
        }
        Err(Error::KeystoreNotFound { .. }) => false,
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => false,
        Err(_) => true,
    }
}

/// A split keystore's root: no passphrase wrap; the header keeps the
/// share files' Argon2 parameters and a random salt.
fn split_root(master: &KeyMaterial, profile: KdfProfile) -> Result<Root, Error> {
    let mut salt = [0u8; SALT_LEN];
    crypto::fill_from_os(&mut salt)?;
    Ok(Root::Passphrase(PassphraseRoot {
        kdf: profile.params(),
        salt,
        master_nonce: [0; crypto::NONCE_LEN],
        wrapped_master: [0; crypto::WRAPPED_KEY_LEN],
        master: master.cipher(),
    }))
}

/// The unauthenticated body of the keystore file at `path`, read without
/// the lock (the file is only ever replaced by rename).
fn peek_body(location: &KeystoreLocation) -> Result<(FileImage, Body), Error> {
    let path = location.display_path();
    let bytes = super::read_unlocked(location)?;
    let image = FileImage::decode(&bytes, &path)?;
    let body = Body::decode(image.version, &image.body).ok_or(Error::KeystoreCorrupt {
        path,
        reason: "the body does not decode",
    })?;
    Ok((image, body))
}

impl Keystore {
    /// Creates a keystore at `path`, as [`create`](Self::create) does, whose
    /// master key is split per `plan`: one share file per holder, each
    /// sealed under that holder's passphrase; any M of them unlock it
    /// ([`open_with_shares`](Self::open_with_shares)).
    ///
    /// The share files are written first; if the keystore cannot be
    /// created they are removed again.
    ///
    /// # Errors
    /// As [`create`](Self::create), and I/O errors naming a share file
    /// (never overwritten).
    pub fn create_split(
        location: impl Into<KeystoreLocation>,
        plan: &SplitPlan,
    ) -> Result<Keystore, Error> {
        let location = location.into();
        let mut written = None;
        let backend = super::backend_for(&location, Duration::ZERO)?;
        let created = Keystore::create_with(backend, |master| {
            let id = KeystoreId::generate()?;
            written = Some((write_shares(master, plan, id, 1)?, master.cipher()));
            let body = Body {
                keystore_id: Some(id),
                share_set: Some(share_set(plan, 1)),
                share_generation: 1,
                dual_control: plan.dual_control.clone(),
                ..Body::default()
            };
            Ok((split_root(master, plan.profile)?, body))
        });
        if let Some((written, master)) = written {
            let stored = || super::read_unlocked(&location);
            if created.is_ok() || may_have_saved(stored(), &location.display_path(), &master) {
                written.keep();
            }
        }
        created
    }

    /// Opens and unlocks a split keystore with M (or more) of its shares,
    /// waiting up to `wait` for the lock.
    ///
    /// Every share's header is checked before any passphrase is tried: a
    /// share of another keystore ([`Error::ShareForeign`]), of an earlier
    /// set ([`Error::ShareStale`]), given twice ([`Error::ShareDuplicate`])
    /// or altered ([`Error::ShareCorrupt`]) is named; then too few shares
    /// are refused ([`Error::NotEnoughShares`]); then each share is opened
    /// with its holder's passphrase ([`Error::ShareWrongPassphrase`]), and
    /// the rebuilt master key must authenticate the keystore
    /// ([`Error::SharesDoNotMatch`]). Nothing is written.
    ///
    /// # Errors
    /// Those above, [`Error::KeystoreNotSplit`] for a passphrase keystore,
    /// and the errors of [`open`](Self::open).
    pub fn open_with_shares(
        location: impl Into<KeystoreLocation>,
        shares: &[ShareKey],
        wait: std::time::Duration,
    ) -> Result<Keystore, Error> {
        let backend = super::backend_for(&location.into(), wait)?;
        Keystore::open_with(backend, |path, image, body| {
            let body = body.ok_or(Error::KeystoreCorrupt {
                path: path.to_owned(),
                reason: "the body does not decode",
            })?;
            let (master, holders) = recover(path, body, shares)?;
            if !authenticates(image, &master.cipher()) {
                return Err(Error::SharesDoNotMatch {
                    path: path.to_owned(),
                });
            }
            let RootImage::Passphrase { kdf, salt, .. } = image.root else {
                return Err(Error::KekProviderMismatch {
                    path: path.to_owned(),
                    expected: ProviderKind::Passphrase.as_str(),
                    found: image.root.kind().as_str(),
                });
            };
            let mut root = split_root(&master, KdfProfile::Test)?;
            if let Root::Passphrase(split) = &mut root {
                split.kdf = kdf;
                split.salt = salt;
            }
            Ok((root, holders))
        })
    }

    /// The share set of the keystore file at `path`, or `None` for a
    /// passphrase keystore, read without unlocking (so not authenticated:
    /// use it to decide how to unlock, never to trust).
    ///
    /// # Errors
    /// [`Error::KeystoreCorrupt`], [`Error::UnsupportedKeystoreVersion`] or
    /// I/O errors.
    pub fn peek_share_set(
        location: impl Into<KeystoreLocation>,
    ) -> Result<Option<ShareSetInfo>, Error> {
        Ok(ShareSetInfo::of(&peek_body(&location.into())?.1))
    }

    /// Checks one custodian's share without unlocking anything: the
    /// passphrase opens it, and it names the keystore at `keystore` and
    /// its current share-set generation. The keystore is read, not
    /// locked; its record is not authenticated (that needs M shares), so
    /// this proves the share is intact and the holder knows its
    /// passphrase, not that the file at hand is the genuine keystore.
    ///
    /// # Errors
    /// [`Error::KeystoreNotSplit`], [`Error::ShareForeign`],
    /// [`Error::ShareStale`], [`Error::ShareCorrupt`],
    /// [`Error::ShareWrongPassphrase`], or I/O errors.
    pub fn verify_share(
        keystore: impl Into<KeystoreLocation>,
        share: &ShareKey,
    ) -> Result<ShareInfo, Error> {
        let location = keystore.into();
        let keystore = location.display_path();
        let (_, body) = peek_body(&location)?;
        let (Some(set), Some(id)) = (&body.share_set, body.keystore_id) else {
            return Err(Error::KeystoreNotSplit {
                path: keystore.clone(),
            });
        };
        let file = share_file::read(&share.path)?;
        let h = &file.header;
        if h.keystore_id != id {
            return Err(Error::ShareForeign {
                path: share.path.clone(),
                holder: h.holder.clone(),
                share_keystore: h.keystore_id.to_string(),
                keystore: keystore.clone(),
                keystore_id: id.to_string(),
            });
        }
        if h.generation != set.generation {
            return Err(Error::ShareStale {
                path: share.path.clone(),
                holder: h.holder.clone(),
                generation: h.generation,
                current: set.generation,
            });
        }
        file.open(&share.passphrase, &share.path)?;
        Ok(ShareInfo::of(h, &share.path))
    }

    /// Refuses an operation that replaces or bypasses the root key of a
    /// split keystore (a passphrase change, a new split, a KEK migration):
    /// its master key is held by its custodians' shares, so such a change
    /// goes through `shares reissue` or `shares join` first.
    ///
    /// # Errors
    /// [`Error::KeystoreSplit`] when the keystore is split.
    pub fn refuse_split(&self) -> Result<(), Error> {
        match &self.body.share_set {
            Some(set) => Err(set.split_error(self.path.clone())),
            None => Ok(()),
        }
    }

    /// This keystore's share set and dual-control policy, or `None` for a
    /// passphrase keystore.
    pub fn share_set(&self) -> Option<ShareSetInfo> {
        ShareSetInfo::of(&self.body)
    }

    /// The holders whose shares unlocked this keystore (empty when a
    /// passphrase did).
    pub fn custodians(&self) -> &[String] {
        &self.custodians
    }

    /// The generation the next share set will have (from
    /// [`split`](Self::split) or [`reissue_shares`](Self::reissue_shares)).
    pub fn next_share_generation(&self) -> u32 {
        self.body.share_generation.saturating_add(1)
    }

    /// Whether the keystore's policy reserves `op` to M custodians.
    pub fn requires_dual_control(&self, op: DualControlOp) -> bool {
        self.body.share_set.is_some() && self.body.dual_control.contains(&op)
    }

    /// Converts a passphrase keystore into a split one: a new master key,
    /// every key wrapped again under it, and one share file per holder of
    /// `plan`, all before one atomic save. The passphrase no longer opens
    /// the file.
    ///
    /// # Errors
    /// [`Error::KeystoreSplit`] when it is split
    /// already (use [`reissue_shares`](Self::reissue_shares)), I/O errors
    /// naming a share file, or an error saving; on error the keystore is
    /// unchanged and no share file is left behind.
    pub fn split(&mut self, plan: &SplitPlan) -> Result<(), Error> {
        self.refuse_split()?;
        if matches!(self.root, Root::Provider(_)) {
            return Err(Error::InvalidParameter {
                what: "keystore split",
                reason: "a keystore protected by a key-encryption provider has no master key to split: migrate it to a passphrase first",
            });
        }
        self.resplit(plan)
    }

    /// Replaces a split keystore's whole share set (for example when a
    /// custodian leaves): a new master key, every key wrapped again under
    /// it, and a new set of the next generation. Old shares are then
    /// refused by their generation, and even rewritten they would rebuild
    /// only the old master key, which opens nothing in the new file.
    ///
    /// # Errors
    /// [`Error::KeystoreNotSplit`], I/O errors naming a share file, or an
    /// error saving; on error nothing changes and no new share is left.
    pub fn reissue_shares(&mut self, plan: &SplitPlan) -> Result<(), Error> {
        if self.body.share_set.is_none() {
            return Err(Error::KeystoreNotSplit {
                path: self.path.clone(),
            });
        }
        self.resplit(plan)
    }

    fn resplit(&mut self, plan: &SplitPlan) -> Result<(), Error> {
        let master = KeyMaterial::generate()?;
        let root = split_root(&master, plan.profile)?;
        let id = match self.body.keystore_id {
            Some(id) => id,
            None => KeystoreId::generate()?,
        };
        let generation =
            self.body
                .share_generation
                .checked_add(1)
                .ok_or(Error::InvalidParameter {
                    what: "share generation",
                    reason: "exhausted",
                })?;
        let written = write_shares(&master, plan, id, generation)?;
        let rekeyed = self.rekey(root, |body| {
            body.keystore_id = Some(id);
            body.share_set = Some(share_set(plan, generation));
            body.share_generation = generation;
            body.dual_control = plan.dual_control.clone();
        });
        let stored = || self.backend.load().map(|(bytes, _)| bytes);
        if rekeyed.is_ok() || may_have_saved(stored(), &self.path, &master.cipher()) {
            written.keep();
        }
        rekeyed
    }

    /// Converts a split keystore back to one passphrase: a new master key
    /// wrapped under `passphrase`, every key wrapped again under it. The
    /// shares no longer open it, and the dual-control policy is dropped
    /// (one passphrase cannot enforce it).
    ///
    /// # Errors
    /// [`Error::KeystoreNotSplit`], or an error saving; on error nothing
    /// changes.
    pub fn join_shares(
        &mut self,
        passphrase: &Passphrase,
        profile: KdfProfile,
    ) -> Result<(), Error> {
        if self.body.share_set.is_none() {
            return Err(Error::KeystoreNotSplit {
                path: self.path.clone(),
            });
        }
        let root = PassphraseRoot::new(&KeyMaterial::generate()?, passphrase, profile.params())?;
        self.rekey(Root::Passphrase(root), |body| {
            body.share_set = None;
            body.dual_control = Vec::new();
        })?;
        self.custodians.clear();
        Ok(())
    }
}

fn share_set(plan: &SplitPlan, generation: u32) -> ShareSet {
    ShareSet {
        threshold: plan.threshold,
        holders: plan.shares.iter().map(|s| s.holder.clone()).collect(),
        generation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A holder knows their own passphrase, so they can rewrite their share
    /// file to claim any generation or keystore. Such a share still carries
    /// a point of the old polynomial: the set rebuilds the old master key,
    /// which does not authenticate the reissued keystore.
    #[test]
    fn old_shares_rewritten_as_the_new_generation_do_not_match() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.keystore");
        let share = |name: &str| dir.path().join(name);
        let plan = |prefix: &str| {
            let shares = ["alice", "bob"]
                .into_iter()
                .map(|holder| NewShare {
                    holder: holder.into(),
                    passphrase: holder.into(),
                    out: share(&format!("{prefix}{holder}")),
                })
                .collect();
            SplitPlan::new(SplitSpec::new(2, 2).unwrap(), shares, KdfProfile::Test).unwrap()
        };
        let mut keystore = Keystore::create_split(&path, &plan("g1-")).unwrap();
        keystore.reissue_shares(&plan("g2-")).unwrap();
        drop(keystore);
        for holder in ["alice", "bob"] {
            let old = share_file::read(&share(&format!("g1-{holder}"))).unwrap();
            let y = old.open(&holder.into(), Path::new("old")).unwrap();
            let mut header = old.header.clone();
            header.generation = 2;
            let forged = ShareFile::seal(header, &holder.into(), &y).unwrap();
            std::fs::write(share(&format!("forged-{holder}")), forged.encode()).unwrap();
        }
        let keys: Vec<ShareKey> = ["alice", "bob"]
            .into_iter()
            .map(|holder| ShareKey {
                path: share(&format!("forged-{holder}")),
                passphrase: holder.into(),
            })
            .collect();
        let err = Keystore::open_with_shares(&path, &keys, std::time::Duration::ZERO).unwrap_err();
        assert!(matches!(err, Error::SharesDoNotMatch { .. }), "{err:?}");
        // The genuine new set opens.
        let keys: Vec<ShareKey> = ["alice", "bob"]
            .into_iter()
            .map(|holder| ShareKey {
                path: share(&format!("g2-{holder}")),
                passphrase: holder.into(),
            })
            .collect();
        assert!(Keystore::open_with_shares(&path, &keys, std::time::Duration::ZERO).is_ok());
    }

    /// The keystore's record of the set is authenticated only by the
    /// master key: an attacker who edits it (and fixes the checksum) gets
    /// a refusal, never an unlock with fewer or other shares.
    #[test]
    fn an_altered_record_of_the_set_never_unlocks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.keystore");
        let shares: Vec<NewShare> = ["alice", "bob", "carol"]
            .into_iter()
            .map(|holder| NewShare {
                holder: holder.into(),
                passphrase: holder.into(),
                out: dir.path().join(holder),
            })
            .collect();
        let plan = SplitPlan::new(SplitSpec::new(2, 3).unwrap(), shares, KdfProfile::Test).unwrap();
        drop(Keystore::create_split(&path, &plan).unwrap());
        let original = std::fs::read(&path).unwrap();
        let key = |holder: &str| ShareKey {
            path: dir.path().join(holder),
            passphrase: holder.into(),
        };
        let alter = |edit: &dyn Fn(&mut Body)| {
            let mut image = FileImage::decode(&original, &path).unwrap();
            let mut body = Body::decode(image.version, &image.body).unwrap();
            edit(&mut body);
            image.body = postcard::to_stdvec(&body).unwrap();
            std::fs::write(&path, image.encode()).unwrap();
            Keystore::open_with_shares(&path, &[key("alice"), key("bob")], Duration::ZERO)
                .unwrap_err()
        };
        // Bob's place renamed: his share disagrees with the record.
        let err = alter(&|body| {
            if let Some(set) = &mut body.share_set {
                set.holders[1] = "mallory".into();
            }
        });
        assert!(matches!(err, Error::ShareCorrupt { .. }), "{err:?}");
        // Carol's place renamed: the shares rebuild the key, which refuses
        // the altered body.
        let err = alter(&|body| {
            if let Some(set) = &mut body.share_set {
                set.holders[2] = "mallory".into();
            }
        });
        assert!(matches!(err, Error::SharesDoNotMatch { .. }), "{err:?}");
        // The record removed: no passphrase wrap exists to fall back on.
        let _ = alter(&|body| body.share_set = None);
        let err = Keystore::open(&path, &"alice".into()).unwrap_err();
        assert!(matches!(err, Error::WrongPassphrase { .. }), "{err:?}");
        std::fs::write(&path, &original).unwrap();
        assert!(
            Keystore::open_with_shares(&path, &[key("carol"), key("bob")], Duration::ZERO).is_ok()
        );
    }
}
