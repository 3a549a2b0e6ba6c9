//! Tier keys wrapped by AES key objects on an HSM, over PKCS#11 (feature
//! `pkcs11`; SoftHSM2 in tests). See docs/PKCS11.md.
//!
//! # Key objects
//!
//! Each slot has one AES-256 secret key object, generated on the token and
//! never leaving it: label `{prefix}{tier}` with '/' replaced by '-' (e.g.
//! `tierseal-restricted-cards`), `{prefix}index-{tier}` for the tier's
//! blind-index keys (e.g. `tierseal-index-restricted-cards`), or
//! `{prefix}keystore`; `CKA_TOKEN`,
//! `CKA_PRIVATE`, `CKA_SENSITIVE` true; `CKA_EXTRACTABLE`, `CKA_MODIFIABLE`,
//! `CKA_COPYABLE` false; `CKA_ENCRYPT` and `CKA_DECRYPT` its only uses (no
//! wrap, unwrap, sign, verify or derive). `CKA_ID` is the unversioned label
//! on every version, so all versions of a slot are found in one search.
//!
//! Tier keys live in host memory (a keyring holds them to seal records
//! locally), so they are wrapped with `C_Encrypt`/`C_Decrypt`, not
//! `C_WrapKey`/`C_UnwrapKey`, which only move keys that are token objects.
//!
//! # Rotation
//!
//! [`KekProvider::rotate_key`] generates a new key object labelled
//! `{label}#N` (N = 2, 3, ...; version 1 is the bare label) that becomes
//! current: [`KekProvider::wrap`] always uses the highest version. Older
//! objects are kept, because every wrapped key names the version that wrapped
//! it and [`KekProvider::unwrap`] uses that one, so keys wrapped before the
//! rotation still open until the keystore rewraps them (unwrap, then wrap
//! under the new version). Only then may a custodian delete an old object
//! ([`Pkcs11Kek::destroy_key_version`], which refuses the current version).
//!
//! # Wrapped layout (65 bytes)
//!
//! ```text
//! 0x01 | key object version (u32 big-endian) | IV (12) | ciphertext (32) | tag (16)
//! ```
//!
//! AES-256-GCM (`CKM_AES_GCM`, 128-bit tag) with a fresh 96-bit IV from the
//! operating system's generator (or the IV the HSM writes back, if it
//! generates its own), and the caller's `aad` as the GCM additional data,
//! unchanged. The version is not authenticated and need not be: a changed
//! version selects another key, whose tag check then fails.
//!
//! # Sessions and login
//!
//! A provider opens one session on the token (found by label: tokens move
//! between slots when initialised) and logs in once; it keeps no copy of
//! the PIN (the caller's `SecretString` wipes it when dropped). The session is `Send` but not `Sync`, so it is
//! held in a [`Mutex`]. PKCS#11 login state belongs to the process, not the
//! session: a second provider in the same process on the same token finds
//! the user already logged in, so its PIN is checked against the login in
//! force (an HMAC of that PIN under a random key, kept in memory) instead.
//! If the token logs the session out (HSM restart), open a new provider.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Function, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use hmac::{Hmac, Mac as _};
use secrecy::{ExposeSecret as _, SecretString};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{KekParams, KekProvider, KekSlot, ProviderKind};
use crate::Error;
use crate::crypto::{self, KEY_LEN, KeyMaterial, NONCE_LEN, TAG_LEN};

/// The key prefix used when none is configured.
pub const DEFAULT_KEY_PREFIX: &str = "tierseal-";

/// The first byte of every wrapped key this provider writes.
const FORMAT: u8 = 0x01;
/// Length of a wrapped key: format, version, IV, ciphertext, tag.
pub const WRAPPED_LEN: usize = 1 + 4 + NONCE_LEN + KEY_LEN + TAG_LEN;
/// The longest key prefix accepted.
const MAX_PREFIX_LEN: usize = 64;
/// Attempts at creating a key object when other processes race us.
const CREATE_ATTEMPTS: u32 = 10;

/// Where the HSM is and how its key objects are named. Holds no secret.
///
/// It (de)serialises for a keystore to record which HSM protects it, without
/// the session mode, which each process chooses. A recorded module path is
/// loaded as code: [`Pkcs11Kek::open`] refuses relative paths and files or
/// folders that group or others may write.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pkcs11Config {
    module: PathBuf,
    token: String,
    key_prefix: String,
    #[serde(skip)]
    read_only: bool,
}

impl Pkcs11Config {
    /// The vendor's PKCS#11 library and the label of the token to use, with
    /// the default key prefix [`DEFAULT_KEY_PREFIX`] and a read-write session.
    pub fn new(module: impl Into<PathBuf>, token_label: impl Into<String>) -> Pkcs11Config {
        Pkcs11Config {
            module: module.into(),
            token: token_label.into(),
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            read_only: false,
        }
    }

    /// Names key objects `{prefix}{tier}` instead of `tierseal-{tier}`.
    #[must_use]
    pub fn with_key_prefix(mut self, prefix: impl Into<String>) -> Pkcs11Config {
        self.key_prefix = prefix.into();
        self
    }

    /// Opens a read-only session: enough to wrap and unwrap under existing
    /// key objects (a service), never to create them.
    #[must_use]
    pub fn read_only(mut self) -> Pkcs11Config {
        self.read_only = true;
        self
    }

    /// The PKCS#11 module path.
    pub fn module(&self) -> &Path {
        &self.module
    }

    /// The token label.
    pub fn token_label(&self) -> &str {
        &self.token
    }

    /// The key prefix.
    pub fn key_prefix(&self) -> &str {
        &self.key_prefix
    }

    /// The parameters a keystore header records for this configuration:
    /// `module`, `token` and `prefix` (no PIN, no session mode).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a module path that is not UTF-8 or
    /// a value the header cannot hold.
    pub fn params(&self) -> Result<KekParams, Error> {
        let module = self.module.to_str().ok_or(Error::InvalidParameter {
            what: "PKCS#11 module path",
            reason: "it must be UTF-8 to be recorded in the keystore",
        })?;
        KekParams::new(ProviderKind::Pkcs11)
            .with("module", module)?
            .with("token", &self.token)?
            .with("prefix", &self.key_prefix)
    }

    /// The configuration a keystore header recorded (see
    /// [`params`](Self::params)); the prefix defaults to
    /// [`DEFAULT_KEY_PREFIX`].
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when `params` are another provider's or
    /// lack the module or token.
    pub fn from_params(params: &KekParams) -> Result<Pkcs11Config, Error> {
        if params.kind() != ProviderKind::Pkcs11 {
            return Err(Error::InvalidParameter {
                what: "PKCS#11 parameters",
                reason: "they name another key-encryption provider",
            });
        }
        let (Some(module), Some(token)) = (params.get("module"), params.get("token")) else {
            return Err(Error::InvalidParameter {
                what: "PKCS#11 parameters",
                reason: "the keystore header lacks the module path or the token label",
            });
        };
        let config = Pkcs11Config::new(module, token)
            .with_key_prefix(params.get("prefix").unwrap_or(DEFAULT_KEY_PREFIX));
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), Error> {
        let prefix = &self.key_prefix;
        if prefix.is_empty() || prefix.len() > MAX_PREFIX_LEN {
            return Err(Error::InvalidParameter {
                what: "PKCS#11 key prefix",
                reason: "it must be 1 to 64 characters",
            });
        }
        if !prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'/'))
        {
            return Err(Error::InvalidParameter {
                what: "PKCS#11 key prefix",
                reason: "it may use only ASCII letters, digits and - _ . : /",
            });
        }
        if self.token.is_empty() || self.token.len() > 32 {
            return Err(Error::InvalidParameter {
                what: "PKCS#11 token label",
                reason: "it must be 1 to 32 bytes",
            });
        }
        Ok(())
    }
}

/// Tier keys wrapped by AES-256 key objects on a PKCS#11 token (see the
/// module documentation for labels, attributes, layout and rotation).
pub struct Pkcs11Kek {
    config: Pkcs11Config,
    read_only: bool,
    session: Mutex<Session>,
}

impl fmt::Debug for Pkcs11Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The PIN is not kept, so it cannot be printed; neither is anything
        // about the session.
        f.debug_struct("Pkcs11Kek")
            .field("module", &self.config.module)
            .field("token", &self.config.token)
            .field("key_prefix", &self.config.key_prefix)
            .field("read_only", &self.read_only)
            .finish_non_exhaustive()
    }
}

/// Who logged in to which token in this process, to check a later PIN.
static LOGINS: OnceLock<Mutex<HashMap<(PathBuf, String), PinVerifier>>> = OnceLock::new();

/// Checks a PIN against the one a login succeeded with, without keeping it:
/// HMAC-SHA-256 of the PIN under a random key drawn for this login. Lives
/// only in this process's memory, which already holds the logged-in
/// session.
struct PinVerifier {
    key: Zeroizing<[u8; KEY_LEN]>,
    tag: Zeroizing<Vec<u8>>,
}

impl PinVerifier {
    fn new(pin: &SecretString) -> Result<PinVerifier, Error> {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        crypto::fill_from_os(key.as_mut())?;
        let tag = Zeroizing::new(Self::mac(&key, pin).finalize().into_bytes().to_vec());
        Ok(PinVerifier { key, tag })
    }

    fn mac(key: &[u8; KEY_LEN], pin: &SecretString) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(pin.expose_secret().as_bytes());
        mac
    }

    /// Constant-time comparison (the MAC's own verification).
    fn matches(&self, pin: &SecretString) -> bool {
        Self::mac(&self.key, pin).verify_slice(&self.tag).is_ok()
    }
}

/// Refuses a module path that someone other than its owner could swap:
/// loading a module runs its code in this process, with the PIN and every
/// tier key, so a relative path (resolved against whatever directory we
/// run in) or a file or folder writable by group or others is refused.
fn check_module(module: &Path) -> Result<(), Error> {
    let refuse = |reason: &str| Error::Pkcs11ModuleUnloadable {
        module: module.to_owned(),
        reason: reason.to_owned(),
    };
    if !module.is_absolute() {
        return Err(refuse("the module path must be absolute"));
    }
    let metadata = std::fs::metadata(module).map_err(|e| refuse(&e.to_string()))?;
    if !metadata.is_file() {
        return Err(refuse("it is not a file"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let writable_by_others = |mode: u32| mode & 0o022 != 0;
        if writable_by_others(metadata.permissions().mode()) {
            return Err(refuse(
                "group or others may write it, so anyone could replace the code it runs",
            ));
        }
        if let Some(parent) = module.parent()
            && let Ok(folder) = std::fs::metadata(parent)
            // A sticky folder (like /tmp) lets only owners replace files.
            && writable_by_others(folder.permissions().mode())
            && folder.permissions().mode() & 0o1000 == 0
        {
            return Err(refuse(
                "its folder is writable by group or others, so anyone could replace it",
            ));
        }
    }
    Ok(())
}

/// One PKCS#11 context per module path for the whole process: a module is
/// initialised once (`C_Initialize` twice is an error) and never finalised,
/// since other providers may share it.
fn context(module: &Path) -> Result<Pkcs11, Error> {
    static CONTEXTS: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let mut contexts = CONTEXTS
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(ctx) = contexts.get(module) {
        return Ok(ctx.clone());
    }
    let unloadable = |reason: String| Error::Pkcs11ModuleUnloadable {
        module: module.to_owned(),
        reason,
    };
    check_module(module)?;
    let ctx = Pkcs11::new(module).map_err(|e| unloadable(loader_reason(&e)))?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(unloadable(format!("C_Initialize failed: {}", short(&e)))),
    }
    contexts.insert(module.to_owned(), ctx.clone());
    Ok(ctx)
}

/// The loader's error, which names the file and the dynamic linker's reason.
fn loader_reason(error: &CkError) -> String {
    match error {
        CkError::LibraryLoading(e) => e.to_string(),
        other => short(other),
    }
}

/// A PKCS#11 error in a few words: `Function::Login: PinIncorrect`.
fn short(error: &CkError) -> String {
    match error {
        CkError::Pkcs11(rv, function) => format!("{function}: {rv:?}"),
        other => other.to_string(),
    }
}

impl Pkcs11Kek {
    /// Loads the module, finds the token by label, opens a session and logs
    /// in as the user with `pin`, which is not kept.
    ///
    /// # Errors
    /// [`Error::Pkcs11ModuleUnloadable`], [`Error::Pkcs11TokenNotFound`],
    /// [`Error::Pkcs11WrongPin`], [`Error::InvalidParameter`] for a bad
    /// prefix or label, [`Error::Pkcs11Failure`] for anything else the token
    /// reports.
    pub fn open(config: Pkcs11Config, pin: &SecretString) -> Result<Pkcs11Kek, Error> {
        config.validate()?;
        let ctx = context(&config.module)?;
        let failure = |operation: &'static str, reason: String| Error::Pkcs11Failure {
            token: config.token.clone(),
            operation,
            slot: "the session".to_owned(),
            reason,
        };

        let mut found = Vec::new();
        let slots = ctx
            .get_slots_with_token()
            .map_err(|e| failure("list the slots", short(&e)))?;
        for slot in slots {
            // A slot whose token cannot be read is not the one we want.
            if let Ok(info) = ctx.get_token_info(slot)
                && info.label().trim_end() == config.token
            {
                found.push(slot);
            }
        }
        let slot = match found.as_slice() {
            [] => {
                return Err(Error::Pkcs11TokenNotFound {
                    module: config.module.clone(),
                    token: config.token.clone(),
                });
            }
            [slot] => *slot,
            _ => {
                return Err(failure(
                    "find the token",
                    "several tokens carry this label".to_owned(),
                ));
            }
        };

        // Refuse a token that cannot do the job now, not at the first wrap.
        let mechanisms = ctx
            .get_mechanism_list(slot)
            .map_err(|e| failure("list the token's mechanisms", short(&e)))?;
        for (needed, name) in [
            (MechanismType::AES_GCM, "CKM_AES_GCM"),
            (MechanismType::AES_KEY_GEN, "CKM_AES_KEY_GEN"),
        ] {
            if !mechanisms.contains(&needed) {
                return Err(failure(
                    "check the token's mechanisms",
                    format!("the token does not offer {name}, which tierseal needs"),
                ));
            }
        }

        let (session, read_only) = if config.read_only {
            let session = ctx
                .open_ro_session(slot)
                .map_err(|e| failure("open a session", short(&e)))?;
            (session, true)
        } else {
            match ctx.open_rw_session(slot) {
                Ok(session) => (session, false),
                // A write-protected token still serves wrap and unwrap;
                // creating keys then fails with Pkcs11ReadOnly.
                Err(CkError::Pkcs11(RvError::TokenWriteProtected, _)) => {
                    let session = ctx
                        .open_ro_session(slot)
                        .map_err(|e| failure("open a session", short(&e)))?;
                    (session, true)
                }
                Err(e) => return Err(failure("open a session", short(&e))),
            }
        };

        let wrong_pin = |reason: &'static str| Error::Pkcs11WrongPin {
            module: config.module.clone(),
            token: config.token.clone(),
            reason,
        };
        // Login state belongs to the process: hold the registry while
        // logging in, so that "already logged in" is checked against the PIN
        // of the login that is in force.
        let mut logins = LOGINS
            .get_or_init(|| Mutex::new(HashMap::new()))
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let login_key = (config.module.clone(), config.token.clone());
        match session.login(UserType::User, Some(pin)) {
            Ok(()) => {
                logins.insert(login_key, PinVerifier::new(pin)?);
            }
            Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {
                // Logged in by another provider of this process: its PIN
                // must be this one. (A login made by other code in the
                // process, without a verifier, cannot be checked.)
                if let Some(verifier) = logins.get(&login_key)
                    && !verifier.matches(pin)
                {
                    return Err(wrong_pin(
                        "the PIN is incorrect (it differs from the PIN this process logged in with)",
                    ));
                }
            }
            Err(CkError::Pkcs11(
                RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange,
                _,
            )) => return Err(wrong_pin("the PIN is incorrect")),
            Err(CkError::Pkcs11(RvError::PinLocked, _)) => {
                return Err(wrong_pin(
                    "the PIN is locked after too many failed attempts: the security officer must reset it",
                ));
            }
            Err(CkError::Pkcs11(RvError::PinExpired, _)) => {
                return Err(wrong_pin("the PIN has expired: set a new one"));
            }
            Err(CkError::Pkcs11(RvError::UserPinNotInitialized, _)) => {
                return Err(wrong_pin(
                    "the token has no user PIN yet: the security officer must set one",
                ));
            }
            Err(e) => return Err(failure("log in", short(&e))),
        }

        Ok(Pkcs11Kek {
            config,
            read_only,
            session: Mutex::new(session),
        })
    }

    /// The configuration this provider was opened with.
    pub fn config(&self) -> &Pkcs11Config {
        &self.config
    }

    /// The parameters a keystore header records for this provider (see
    /// [`Pkcs11Config::params`]).
    ///
    /// # Errors
    /// As [`Pkcs11Config::params`].
    pub fn params(&self) -> Result<KekParams, Error> {
        self.config.params()
    }

    /// Whether the session is read-only (configured so, or the token is
    /// write-protected).
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The label of a slot's key object, version 1: the slot's key name
    /// under the prefix ([`KekSlot::key_name`]).
    pub fn key_label(&self, slot: &KekSlot<'_>) -> String {
        slot.key_name(&self.config.key_prefix)
    }

    /// The versions of a slot's key objects on the token, oldest first (the
    /// last is current); empty when the slot has no key yet.
    ///
    /// # Errors
    /// [`Error::Pkcs11Failure`] when the token cannot be searched.
    pub fn key_versions(&self, slot: &KekSlot<'_>) -> Result<Vec<u32>, Error> {
        let op = self.op(slot);
        let session = self.session();
        let mut versions: Vec<u32> = op
            .versions(&session)?
            .into_iter()
            .map(|(version, _)| version)
            .collect();
        versions.sort_unstable();
        Ok(versions)
    }

    /// Destroys one old version of a slot's key object, once every key
    /// wrapped under it has been rewrapped. Refuses the current version.
    ///
    /// # Errors
    /// [`Error::Pkcs11KeyInvalid`] for the current version,
    /// [`Error::Pkcs11KeyMissing`], [`Error::Pkcs11ReadOnly`],
    /// [`Error::Pkcs11Failure`].
    pub fn destroy_key_version(&self, slot: &KekSlot<'_>, version: u32) -> Result<(), Error> {
        let op = self.op(slot);
        let session = self.session();
        let (current, _) = op.current(&session)?;
        if version >= current {
            return Err(op.invalid(
                version,
                "it is the current version: rotate first, rewrap, then destroy the old one",
            ));
        }
        let handle = op.find_version(&session, version)?;
        session
            .destroy_object(handle)
            .map_err(|e| op.error("destroy the key object", version, &e))
    }

    fn session(&self) -> MutexGuard<'_, Session> {
        // A panic while holding the lock leaves no half-done PKCS#11
        // operation that matters: each call here is one complete operation.
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn op<'s>(&'s self, slot: &KekSlot<'_>) -> SlotOp<'s> {
        SlotOp {
            token: &self.config.token,
            base: self.key_label(slot),
            slot: match slot {
                KekSlot::Keystore => "the keystore key".to_owned(),
                KekSlot::Tier(_) | KekSlot::Index(_) => slot.to_string(),
            },
        }
    }
}

/// One slot's key objects, and errors that name them.
struct SlotOp<'s> {
    token: &'s str,
    base: String,
    slot: String,
}

impl SlotOp<'_> {
    fn label(&self, version: u32) -> String {
        if version <= 1 {
            self.base.clone()
        } else {
            format!("{}#{version}", self.base)
        }
    }

    /// The version a label names, if it is one of this slot's labels.
    fn version_of(&self, label: &[u8]) -> Option<u32> {
        let rest = label.strip_prefix(self.base.as_bytes())?;
        if rest.is_empty() {
            return Some(1);
        }
        let digits = std::str::from_utf8(rest.strip_prefix(b"#")?).ok()?;
        if digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok().filter(|version| *version >= 2)
    }

    fn missing(&self, version: u32) -> Error {
        Error::Pkcs11KeyMissing {
            token: self.token.to_owned(),
            key: self.label(version),
            slot: self.slot.clone(),
        }
    }

    fn invalid(&self, version: u32, reason: &'static str) -> Error {
        Error::Pkcs11KeyInvalid {
            token: self.token.to_owned(),
            key: self.label(version),
            slot: self.slot.clone(),
            reason,
        }
    }

    fn unwrap_failed(&self, version: u32, reason: &'static str) -> Error {
        Error::Pkcs11UnwrapFailed {
            token: self.token.to_owned(),
            key: self.label(version),
            slot: self.slot.clone(),
            reason,
        }
    }

    /// Maps a token error: read-only refusals and vanished objects get their
    /// own variants, the rest is reported with its CKR_ name.
    fn error(&self, operation: &'static str, version: u32, error: &CkError) -> Error {
        match error {
            CkError::Pkcs11(RvError::TokenWriteProtected | RvError::SessionReadOnly, _) => {
                Error::Pkcs11ReadOnly {
                    token: self.token.to_owned(),
                    key: self.label(version),
                    slot: self.slot.clone(),
                }
            }
            CkError::Pkcs11(RvError::ObjectHandleInvalid | RvError::KeyHandleInvalid, _) => {
                self.missing(version)
            }
            CkError::Pkcs11(
                RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::DeviceRemoved
                | RvError::TokenNotPresent
                | RvError::UserNotLoggedIn,
                _,
            ) => Error::Pkcs11Failure {
                token: self.token.to_owned(),
                operation,
                slot: self.slot.clone(),
                reason: format!(
                    "{}: the session was lost (HSM restarted or token removed); open the provider again",
                    short(error)
                ),
            },
            other => Error::Pkcs11Failure {
                token: self.token.to_owned(),
                operation,
                slot: self.slot.clone(),
                reason: short(other),
            },
        }
    }

    fn search(
        &self,
        session: &Session,
        template: &[Attribute],
    ) -> Result<Vec<ObjectHandle>, Error> {
        session
            .find_objects(template)
            .map_err(|e| self.error("search the token", 1, &e))
    }

    /// Every version of this slot's key on the token.
    fn versions(&self, session: &Session) -> Result<Vec<(u32, ObjectHandle)>, Error> {
        let handles = self.search(
            session,
            &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::Id(self.base.as_bytes().to_vec()),
            ],
        )?;
        let mut versions = Vec::with_capacity(handles.len());
        for handle in handles {
            let attributes = session
                .get_attributes(handle, &[AttributeType::Label])
                .map_err(|e| self.error("read a key label", 1, &e))?;
            for attribute in attributes {
                if let Attribute::Label(label) = attribute
                    && let Some(version) = self.version_of(&label)
                {
                    versions.push((version, handle));
                }
            }
        }
        Ok(versions)
    }

    /// The current (highest) version and its checked key object.
    fn current(&self, session: &Session) -> Result<(u32, ObjectHandle), Error> {
        let versions = self.versions(session)?;
        let Some(&(current, handle)) = versions.iter().max_by_key(|(version, _)| *version) else {
            return Err(self.missing(1));
        };
        if versions.iter().filter(|(v, _)| *v == current).count() > 1 {
            return Err(self.invalid(
                current,
                "several key objects carry this label: remove the one no keystore uses",
            ));
        }
        self.check(session, current, handle)?;
        Ok((current, handle))
    }

    /// The checked key object of one version.
    fn find_version(&self, session: &Session, version: u32) -> Result<ObjectHandle, Error> {
        let handles = self.search(
            session,
            &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::Label(self.label(version).into_bytes()),
            ],
        )?;
        match handles.as_slice() {
            [] => Err(self.missing(version)),
            [handle] => {
                self.check(session, version, *handle)?;
                Ok(*handle)
            }
            _ => Err(self.invalid(
                version,
                "several key objects carry this label: remove the one no keystore uses",
            )),
        }
    }

    /// Refuses a key object that is not a sensitive, non-extractable
    /// AES-256 encrypt/decrypt key: someone may have planted one under our
    /// label.
    fn check(&self, session: &Session, version: u32, handle: ObjectHandle) -> Result<(), Error> {
        let attributes = session
            .get_attributes(
                handle,
                &[
                    AttributeType::KeyType,
                    AttributeType::ValueLen,
                    AttributeType::Sensitive,
                    AttributeType::Extractable,
                    AttributeType::Encrypt,
                    AttributeType::Decrypt,
                ],
            )
            .map_err(|e| self.error("read the key's attributes", version, &e))?;
        let (mut aes256, mut sensitive, mut extractable, mut usable) = (0, false, true, 0);
        for attribute in attributes {
            match attribute {
                Attribute::KeyType(kind) if kind == KeyType::AES => aes256 += 1,
                Attribute::ValueLen(len) if usize::from(len) == KEY_LEN => aes256 += 1,
                Attribute::Sensitive(value) => sensitive = value,
                Attribute::Extractable(value) => extractable = value,
                Attribute::Encrypt(true) | Attribute::Decrypt(true) => usable += 1,
                _ => {}
            }
        }
        if aes256 != 2 {
            return Err(self.invalid(version, "it is not an AES-256 key"));
        }
        if !sensitive || extractable {
            return Err(self.invalid(
                version,
                "it is extractable or not sensitive, so its value could leave the token",
            ));
        }
        if usable != 2 {
            return Err(self.invalid(version, "it may not encrypt and decrypt"));
        }
        Ok(())
    }

    /// Generates this slot's key object `version` on the token. When another
    /// process created the same label at the same time, the duplicate is
    /// destroyed and the survivor kept.
    fn create(&self, session: &Session, version: u32) -> Result<(), Error> {
        let label = self.label(version);
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen((KEY_LEN as u64).into()),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Modifiable(false),
            Attribute::Copyable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Wrap(false),
            Attribute::Unwrap(false),
            Attribute::Sign(false),
            Attribute::Verify(false),
            Attribute::Derive(false),
            Attribute::Label(label.clone().into_bytes()),
            Attribute::Id(self.base.as_bytes().to_vec()),
        ];
        let by_label = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::Label(label.into_bytes()),
        ];
        let mut failed = None;
        for attempt in 0..CREATE_ATTEMPTS {
            if attempt > 0 {
                // Racers that collided wait different, growing times
                // before looking again, so that one of them creates the
                // key alone instead of all of them again at once.
                std::thread::sleep(backoff(attempt));
            }
            match self.search(session, &by_label)?.len() {
                1 => return Ok(()),
                0 => {}
                // Others are still settling their collision: look again.
                _ => continue,
            }
            let ours = match session.generate_key(&Mechanism::AesKeyGen, &template) {
                Ok(ours) => ours,
                Err(e) => {
                    // A token may fail a creation while another session
                    // creates the same key (SoftHSM2 then reports a general
                    // error): look again for the key that exists now.
                    failed = Some(self.error("generate the key object", version, &e));
                    continue;
                }
            };
            if self.search(session, &by_label)?.len() == 1 {
                return Ok(());
            }
            // A racing process created the same label: everybody who saw
            // more than one removes their own and looks again after a
            // back-off; the next round finds one survivor, or none and
            // creates it again.
            session
                .destroy_object(ours)
                .map_err(|e| self.error("remove a duplicate key object", version, &e))?;
        }
        if self.search(session, &by_label)?.len() == 1 {
            return Ok(());
        }
        Err(failed.unwrap_or_else(|| {
            self.invalid(
                version,
                "other processes kept creating it at the same time: retry",
            )
        }))
    }
}

/// How long a process that collided with others creating the same key
/// object waits before looking again: random, growing with the attempt
/// (up to about 10 to 100 ms), so that racers fall out of step.
fn backoff(attempt: u32) -> std::time::Duration {
    use rand::RngExt as _;
    let ceiling = 10 * u64::from(attempt.min(CREATE_ATTEMPTS));
    std::time::Duration::from_millis(rand::rng().random_range(1..=ceiling.max(2)))
}

impl KekProvider for Pkcs11Kek {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Pkcs11
    }

    fn key_name(&self, slot: &KekSlot<'_>) -> Option<String> {
        Some(self.key_label(slot))
    }

    fn ensure_key(&self, slot: &KekSlot<'_>) -> Result<(), Error> {
        let op = self.op(slot);
        let session = self.session();
        match op.current(&session) {
            Ok(_) => Ok(()),
            Err(Error::Pkcs11KeyMissing { .. }) => op.create(&session, 1),
            Err(error) => Err(error),
        }
    }

    fn wrap(&self, slot: &KekSlot<'_>, aad: &[u8], key: &KeyMaterial) -> Result<Vec<u8>, Error> {
        let op = self.op(slot);
        let session = self.session();
        let (version, handle) = op.current(&session)?;
        let mut iv = crypto::fresh_wrap_nonce()?;
        let sealed = {
            let params = GcmParams::new(&mut iv, aad, (8 * TAG_LEN as u64).into())
                .map_err(|e| op.error("prepare AES-GCM", version, &e))?;
            session
                .encrypt(&Mechanism::AesGcm(params), handle, key.expose())
                .map_err(|e| op.error("wrap the key", version, &e))?
        };
        if sealed.len() != KEY_LEN + TAG_LEN {
            return Err(Error::Pkcs11Failure {
                token: op.token.to_owned(),
                operation: "wrap the key",
                slot: op.slot.clone(),
                reason: "the token returned a ciphertext of the wrong length".to_owned(),
            });
        }
        let mut wrapped = Vec::with_capacity(WRAPPED_LEN);
        wrapped.push(FORMAT);
        wrapped.extend_from_slice(&version.to_be_bytes());
        // The IV as the token used it (an HSM may write its own back).
        wrapped.extend_from_slice(&iv);
        wrapped.extend_from_slice(&sealed);
        Ok(wrapped)
    }

    fn unwrap(&self, slot: &KekSlot<'_>, aad: &[u8], wrapped: &[u8]) -> Result<KeyMaterial, Error> {
        let op = self.op(slot);
        let (version, mut iv, sealed) = match parse(wrapped) {
            Some(parts) => parts,
            None => {
                return Err(op.unwrap_failed(
                    1,
                    "is not a PKCS#11-wrapped key (wrong length, format or version)",
                ));
            }
        };
        let session = self.session();
        let handle = op.find_version(&session, version)?;
        let opened = {
            let params = GcmParams::new(&mut iv, aad, (8 * TAG_LEN as u64).into())
                .map_err(|e| op.error("prepare AES-GCM", version, &e))?;
            session.decrypt(&Mechanism::AesGcm(params), handle, sealed)
        };
        let opened = match opened {
            Ok(bytes) => Zeroizing::new(bytes),
            Err(CkError::Pkcs11(
                RvError::EncryptedDataInvalid
                | RvError::EncryptedDataLenRange
                | RvError::DataInvalid
                | RvError::DataLenRange,
                _,
            ))
            // SoftHSM2 (and other OpenSSL-based modules) report a GCM tag
            // mismatch from C_Decrypt as CKR_GENERAL_ERROR.
            | Err(CkError::Pkcs11(RvError::GeneralError, Function::Decrypt)) => {
                return Err(op.unwrap_failed(
                    version,
                    "failed authentication: it was altered, moved from another tier or keystore, or wrapped under another key",
                ));
            }
            Err(e) => return Err(op.error("unwrap the key", version, &e)),
        };
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        if opened.len() != KEY_LEN {
            return Err(op.unwrap_failed(version, "did not unwrap to a 32-byte key"));
        }
        bytes.copy_from_slice(&opened);
        Ok(KeyMaterial::take(&mut bytes))
    }

    fn rotate_key(&self, slot: &KekSlot<'_>) -> Result<(), Error> {
        let op = self.op(slot);
        let session = self.session();
        let (current, _) = op.current(&session)?;
        let next = current
            .checked_add(1)
            .ok_or_else(|| op.invalid(current, "it has reached the last version number"))?;
        op.create(&session, next)
    }
}

/// Splits a wrapped key into version, IV and ciphertext-with-tag.
fn parse(wrapped: &[u8]) -> Option<(u32, [u8; NONCE_LEN], &[u8])> {
    if wrapped.len() != WRAPPED_LEN {
        return None;
    }
    let (&format, rest) = wrapped.split_first()?;
    if format != FORMAT {
        return None;
    }
    let (version, rest) = rest.split_first_chunk::<4>()?;
    let (iv, sealed) = rest.split_first_chunk::<NONCE_LEN>()?;
    let version = u32::from_be_bytes(*version);
    (version >= 1).then_some((version, *iv, sealed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(base: &str) -> SlotOp<'static> {
        SlotOp {
            token: "t",
            base: base.to_owned(),
            slot: "tier restricted".to_owned(),
        }
    }

    #[test]
    fn labels_name_versions_and_parse_back() {
        let op = op("tierseal-restricted-cards");
        assert_eq!(op.label(1), "tierseal-restricted-cards");
        assert_eq!(op.label(2), "tierseal-restricted-cards#2");
        for version in [1, 2, 10, u32::MAX] {
            assert_eq!(op.version_of(op.label(version).as_bytes()), Some(version));
        }
        for other in [
            "tierseal-restricted-cards#1",
            "tierseal-restricted-cards#02",
            "tierseal-restricted-cards#",
            "tierseal-restricted-cards#x",
            "tierseal-restricted-cards-x",
            "tierseal-restricted",
        ] {
            assert_eq!(op.version_of(other.as_bytes()), None, "{other}");
        }
    }

    #[test]
    fn wrapped_layout_is_checked() {
        let mut wrapped = vec![FORMAT, 0, 0, 0, 3];
        wrapped.extend_from_slice(&[7u8; NONCE_LEN]);
        wrapped.extend_from_slice(&[9u8; KEY_LEN + TAG_LEN]);
        let (version, iv, sealed) = parse(&wrapped).expect("well formed");
        assert_eq!((version, iv, sealed.len()), (3, [7u8; NONCE_LEN], 48));

        assert!(parse(&wrapped[..WRAPPED_LEN - 1]).is_none());
        let mut bad_format = wrapped.clone();
        bad_format[0] = 2;
        assert!(parse(&bad_format).is_none());
        let mut version_zero = wrapped.clone();
        version_zero[4] = 0;
        assert!(parse(&version_zero).is_none());
    }

    #[test]
    fn modules_anyone_could_replace_are_not_loaded() {
        let refused = |path: &Path| match check_module(path) {
            Err(Error::Pkcs11ModuleUnloadable { module, reason }) => {
                assert_eq!(module, path);
                reason
            }
            other => panic!("{path:?} was not refused: {other:?}"),
        };
        assert!(refused(Path::new("libsofthsm2.so")).contains("absolute"));
        assert!(!refused(Path::new("/nonexistent/lib.so")).is_empty());

        let dir = tempfile::tempdir().unwrap();
        let module = dir.path().join("module.so");
        std::fs::write(&module, b"x").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let chmod = |path: &Path, mode| {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
            };
            chmod(dir.path(), 0o700);
            chmod(&module, 0o644);
            assert!(check_module(&module).is_ok());
            chmod(&module, 0o664);
            assert!(refused(&module).contains("may write it"));
            chmod(&module, 0o644);
            chmod(dir.path(), 0o777);
            assert!(refused(&module).contains("folder"));
            chmod(dir.path(), 0o700);
        }
        assert!(refused(dir.path()).contains("not a file"));
    }

    #[test]
    fn config_serialises_without_the_session_mode() {
        let config = Pkcs11Config::new("/usr/lib/softhsm/libsofthsm2.so", "prod")
            .with_key_prefix("bank-")
            .read_only();
        let json = serde_json::to_string(&config).unwrap();
        assert!(!json.contains("read_only"), "{json}");
        let back: Pkcs11Config = serde_json::from_str(&json).unwrap();
        assert_eq!(
            back,
            Pkcs11Config::new("/usr/lib/softhsm/libsofthsm2.so", "prod").with_key_prefix("bank-")
        );
        assert_ne!(back, config);
    }

    #[test]
    fn config_refuses_prefixes_that_would_confuse_labels() {
        let config = |prefix: &str| Pkcs11Config::new("/m.so", "t").with_key_prefix(prefix);
        assert!(config("tierseal-").validate().is_ok());
        assert!(config("").validate().is_err());
        assert!(config("a#b").validate().is_err());
        assert!(config("a b").validate().is_err());
        assert!(config(&"x".repeat(65)).validate().is_err());
        assert!(Pkcs11Config::new("/m.so", "").validate().is_err());
    }

    #[test]
    fn header_params_round_trip_and_refuse_other_providers() {
        let config = Pkcs11Config::new("/usr/lib/softhsm/libsofthsm2.so", "tierseal-prod")
            .with_key_prefix("bank-");
        let params = config.params().unwrap();
        assert_eq!(params.kind(), ProviderKind::Pkcs11);
        assert_eq!(params.get("token"), Some("tierseal-prod"));
        assert_eq!(Pkcs11Config::from_params(&params).unwrap(), config);
        // The prefix defaults when a header has none; module and token do not.
        let bare = KekParams::new(ProviderKind::Pkcs11)
            .with("module", "/m.so")
            .unwrap()
            .with("token", "t")
            .unwrap();
        assert_eq!(
            Pkcs11Config::from_params(&bare).unwrap().key_prefix(),
            DEFAULT_KEY_PREFIX
        );
        let no_token = KekParams::new(ProviderKind::Pkcs11)
            .with("module", "/m.so")
            .unwrap();
        assert!(Pkcs11Config::from_params(&no_token).is_err());
        let openbao = KekParams::new(ProviderKind::OpenBao)
            .with("module", "/m.so")
            .unwrap()
            .with("token", "t")
            .unwrap();
        assert!(Pkcs11Config::from_params(&openbao).is_err());
        // A prefix the provider would refuse is refused from a header too.
        let bad = bare.with("prefix", "a b").unwrap();
        assert!(Pkcs11Config::from_params(&bad).is_err());
    }
}
