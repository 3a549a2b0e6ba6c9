//! The keystore file: its byte layout, its atomic replacement and its lock.
//!
//! Version 4 (written by this build; version 3 has the same layout):
//! ```text
//! magic "TSKS" | version u16be | root u8
//! root 1, passphrase (Argon2id), as in versions 1 and 2:
//!     memory_kib u32be | passes u32be | lanes u32be | salt [16]
//!     | master_nonce [12] | wrapped_master [48]
//! root 2 (OpenBao Transit) or 3 (PKCS#11):
//!     params_len u16be | params [params_len]        (JSON, non-secret)
//!     | wrapped_meta_len u16be | wrapped_meta [..]  (by the provider)
//! | body_len u32be | body [body_len] | body_nonce [12] | body_tag [16]
//! | sha256 [32]
//! ```
//! The *header* is everything from the magic through the salt (passphrase)
//! or through the params (provider). The root key — the master key of a
//! passphrase keystore, the metadata key of a provider keystore — is
//! wrapped with the header as AAD (under the Argon2id unlock key, or by the
//! provider under its `{prefix}keystore` key); the body (postcard) is
//! authenticated under the root key with everything before it as AAD. So
//! the provider, its parameters and the file version cannot be changed
//! without the body failing to authenticate. The trailing SHA-256 tells
//! accidental damage apart from a wrong passphrase.
//!
//! Versions 1 and 2 have only root 1 (the byte was the KDF algorithm,
//! always 1 = Argon2id) and a shorter body (see `model`). Version 3's body
//! lacks version 4's last field, and a version 3 provider keystore keeps
//! its index keys under the metadata key instead of the provider's
//! per-tier index keys. All are still read, and written as version 4 on
//! their next save.
//!
//! A keystore split into custodian shares (see `shares`) has root 1 too,
//! with no passphrase wrap: its `master_nonce` and `wrapped_master` are
//! zero, its salt is random and unused, and the Argon2 parameters are
//! those its share files were sealed with.

use std::collections::BTreeMap;
use std::fs::{self, File, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::kdf::KdfParams;
use crate::Error;
use crate::crypto::{NONCE_LEN, TAG_LEN, WRAPPED_KEY_LEN};
use crate::kek::{KekParams, ProviderKind};

pub(crate) const MAGIC: &[u8; 4] = b"TSKS";
/// The version every save writes.
pub(crate) const FILE_VERSION: u16 = 4;
/// The oldest version still read.
const OLDEST_READ_VERSION: u16 = 1;
/// The first version whose root may be a key-encryption provider.
const FIRST_PROVIDER_VERSION: u16 = 3;
/// The first version in which a provider keystore wraps each tier's
/// index keys under that tier's own index key at the provider.
pub(crate) const INDEX_SLOTS_VERSION: u16 = 4;
const ROOT_PASSPHRASE: u8 = 1;
const ROOT_OPENBAO: u8 = 2;
const ROOT_PKCS11: u8 = 3;
pub(crate) const SALT_LEN: usize = 16;
const CHECKSUM_LEN: usize = 32;
/// Bytes from the magic through the salt of a passphrase keystore.
pub(crate) const HEADER_LEN: usize = 4 + 2 + 1 + 12 + SALT_LEN;
/// The body is bounded so a damaged length cannot ask for gigabytes.
pub(crate) const MAX_BODY_LEN: usize = 16 * 1024 * 1024;
/// Bounds of a provider's parameters and wrapped metadata key.
const MAX_PARAMS_LEN: usize = 4096;
const MAX_WRAPPED_META_LEN: usize = 4096;

/// What protects the root key, as the file stores it.
#[derive(Clone)]
pub(crate) enum RootImage {
    /// The master key wrapped under an Argon2id-derived unlock key.
    Passphrase {
        kdf: KdfParams,
        salt: [u8; SALT_LEN],
        master_nonce: [u8; NONCE_LEN],
        wrapped_master: [u8; WRAPPED_KEY_LEN],
    },
    /// The metadata key wrapped by a key-encryption provider.
    Provider {
        params: KekParams,
        wrapped_meta: Vec<u8>,
    },
}

/// Everything in the file, as read.
pub(crate) struct FileImage {
    /// The file format version: it selects the body's encoding.
    pub(crate) version: u16,
    pub(crate) root: RootImage,
    pub(crate) body: Vec<u8>,
    pub(crate) body_nonce: [u8; NONCE_LEN],
    pub(crate) body_tag: [u8; TAG_LEN],
}

impl RootImage {
    /// Which provider the header names.
    pub(crate) fn kind(&self) -> ProviderKind {
        match self {
            RootImage::Passphrase { .. } => ProviderKind::Passphrase,
            RootImage::Provider { params, .. } => params.kind(),
        }
    }
}

fn root_code(kind: ProviderKind) -> u8 {
    match kind {
        ProviderKind::Passphrase => ROOT_PASSPHRASE,
        ProviderKind::OpenBao => ROOT_OPENBAO,
        ProviderKind::Pkcs11 => ROOT_PKCS11,
    }
}

impl FileImage {
    /// The header of a passphrase file of format `version`: the master
    /// key's AAD.
    pub(crate) fn header(version: u16, kdf: KdfParams, salt: &[u8; SALT_LEN]) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&version.to_be_bytes());
        out.push(ROOT_PASSPHRASE);
        out.extend_from_slice(&kdf.memory_kib.to_be_bytes());
        out.extend_from_slice(&kdf.passes.to_be_bytes());
        out.extend_from_slice(&kdf.lanes.to_be_bytes());
        out.extend_from_slice(salt);
        out
    }

    /// The header of a provider file of format `version`: the metadata
    /// key's AAD.
    pub(crate) fn provider_header(version: u16, params: &KekParams) -> Vec<u8> {
        let encoded = params.encode();
        let mut out = Vec::with_capacity(9 + encoded.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&version.to_be_bytes());
        out.push(root_code(params.kind()));
        let len = u16::try_from(encoded.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&encoded);
        out
    }

    /// Everything the body tag authenticates: header through body.
    pub(crate) fn authenticated_prefix(&self) -> Vec<u8> {
        let mut out = match &self.root {
            RootImage::Passphrase {
                kdf,
                salt,
                master_nonce,
                wrapped_master,
            } => {
                let mut out = Self::header(self.version, *kdf, salt);
                out.extend_from_slice(master_nonce);
                out.extend_from_slice(wrapped_master);
                out
            }
            RootImage::Provider {
                params,
                wrapped_meta,
            } => {
                let mut out = Self::provider_header(self.version, params);
                let len = u16::try_from(wrapped_meta.len()).unwrap_or(u16::MAX);
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(wrapped_meta);
                out
            }
        };
        let body_len = u32::try_from(self.body.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&body_len.to_be_bytes());
        out.extend_from_slice(&self.body);
        out
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = self.authenticated_prefix();
        out.extend_from_slice(&self.body_nonce);
        out.extend_from_slice(&self.body_tag);
        let checksum = Sha256::digest(&out);
        out.extend_from_slice(&checksum);
        out
    }

    pub(crate) fn decode(bytes: &[u8], path: &Path) -> Result<FileImage, Error> {
        let corrupt = |reason| Error::KeystoreCorrupt {
            path: path.to_owned(),
            reason,
        };
        if bytes.len() < 6 || bytes.get(..4) != Some(MAGIC.as_slice()) {
            return Err(corrupt("not a tierseal keystore (bad magic or empty file)"));
        }
        let mut reader = Reader { bytes, pos: 4 };
        let version = u16::from_be_bytes(reader.array().ok_or(corrupt("truncated"))?);
        if !(OLDEST_READ_VERSION..=FILE_VERSION).contains(&version) {
            return Err(Error::UnsupportedKeystoreVersion {
                path: path.to_owned(),
                version,
            });
        }
        let (content, checksum) = bytes
            .split_at_checked(bytes.len().saturating_sub(CHECKSUM_LEN))
            .ok_or(corrupt("truncated"))?;
        if bytes.len() < HEADER_LEN + CHECKSUM_LEN || Sha256::digest(content).as_slice() != checksum
        {
            return Err(corrupt(
                "checksum mismatch (the file is damaged or truncated)",
            ));
        }
        let mut kdf_error = None;
        let mut read = || -> Option<FileImage> {
            let [root] = reader.array()?;
            let root = match root {
                ROOT_PASSPHRASE => {
                    let kdf = KdfParams {
                        memory_kib: u32::from_be_bytes(reader.array()?),
                        passes: u32::from_be_bytes(reader.array()?),
                        lanes: u32::from_be_bytes(reader.array()?),
                    };
                    if let Err(reason) = kdf.check() {
                        kdf_error = Some(reason);
                        return None;
                    }
                    RootImage::Passphrase {
                        kdf,
                        salt: reader.array()?,
                        master_nonce: reader.array()?,
                        wrapped_master: reader.array()?,
                    }
                }
                ROOT_OPENBAO | ROOT_PKCS11 if version >= FIRST_PROVIDER_VERSION => {
                    let kind = if root == ROOT_OPENBAO {
                        ProviderKind::OpenBao
                    } else {
                        ProviderKind::Pkcs11
                    };
                    let len = usize::from(u16::from_be_bytes(reader.array()?));
                    if len > MAX_PARAMS_LEN {
                        return None;
                    }
                    let params = KekParams::decode(kind, reader.take(len)?)?;
                    let len = usize::from(u16::from_be_bytes(reader.array()?));
                    if len == 0 || len > MAX_WRAPPED_META_LEN {
                        return None;
                    }
                    RootImage::Provider {
                        params,
                        wrapped_meta: reader.take(len)?.to_vec(),
                    }
                }
                _ => return None,
            };
            let body_len = usize::try_from(u32::from_be_bytes(reader.array()?)).ok()?;
            if body_len > MAX_BODY_LEN {
                return None;
            }
            let body = reader.take(body_len)?.to_vec();
            let body_nonce = reader.array()?;
            let body_tag = reader.array()?;
            (reader.pos == content.len()).then_some(FileImage {
                version,
                root,
                body,
                body_nonce,
                body_tag,
            })
        };
        let image = read();
        if let Some(reason) = kdf_error {
            return Err(corrupt(reason));
        }
        image.ok_or(corrupt("the layout does not match its format version"))
    }
}

/// Bounds a provider's non-secret parameters as stored.
pub(crate) fn check_params(settings: &BTreeMap<String, String>) -> bool {
    settings.len() <= 16
        && settings.iter().all(|(k, v)| {
            !k.is_empty() && k.len() <= 64 && v.len() <= 512 && !v.chars().any(char::is_control)
        })
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let slice = self.bytes.get(self.pos..self.pos.checked_add(len)?)?;
        self.pos += len;
        Some(slice)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
}

/// Reads the whole keystore file.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, Error> {
    fs::read(path).map_err(|e| Error::io("read keystore", path, e))
}

/// Replaces `path` with `bytes` atomically: a temporary file in the same
/// folder, fsync, rename over the target, fsync of the folder. A crash at
/// any point leaves either the old file or the new one.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = parent_dir(path);
    let io = |action| move |e| Error::io(action, path, e);
    let mut temp = tempfile::Builder::new()
        .prefix(".tierseal-keystore-")
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(io("create a temporary file beside"))?;
    temp.write_all(bytes).map_err(io("write keystore"))?;
    temp.as_file().sync_all().map_err(io("flush keystore"))?;
    temp.persist(path)
        .map_err(|e| Error::io("replace keystore", path, e.error))?;
    sync_parent(path)
}

/// Flushes the folder holding `path`, so that a file just created or
/// renamed there is still named after a crash.
pub(crate) fn sync_parent(path: &Path) -> Result<(), Error> {
    File::open(parent_dir(path))
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("flush the folder of", path, e))
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// An exclusive lock on `<keystore>.lock`, held until dropped.
///
/// The lock lives in a side file because the keystore itself is replaced by
/// rename on every save, which would orphan a lock taken on it.
#[derive(Debug)]
pub(crate) struct KeystoreLock {
    _file: File,
}

impl KeystoreLock {
    /// Takes the lock, retrying for up to `wait`.
    pub(crate) fn acquire(keystore: &Path, wait: Duration) -> Result<KeystoreLock, Error> {
        let mut lock_path = keystore.as_os_str().to_owned();
        lock_path.push(".lock");
        let lock_path = PathBuf::from(lock_path);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io("open lock file", &lock_path, e))?;
        // A wait longer than the clock can count (`Duration::MAX`) waits
        // without end.
        let deadline = Instant::now().checked_add(wait);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(KeystoreLock { _file: file }),
                Err(TryLockError::WouldBlock)
                    if deadline.is_none_or(|deadline| Instant::now() < deadline) =>
                {
                    thread::sleep(Duration::from_millis(20));
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(Error::KeystoreLocked {
                        path: keystore.to_owned(),
                    });
                }
                Err(TryLockError::Error(e)) => return Err(Error::io("lock", &lock_path, e)),
            }
        }
    }
}
