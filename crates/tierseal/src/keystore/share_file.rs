//! A custodian share file: one share of a keystore's master key, sealed
//! under its holder's own passphrase.
//!
//! ```text
//! magic "TSSH" | version u16be | memory_kib u32be | passes u32be | lanes u32be
//! | salt [16] | keystore_id [16] | generation u32be | threshold u8 | count u8
//! | index u8 | holder_len u8 | holder [holder_len]
//! | nonce [12] | sealed_share [32] | tag [16] | sha256 [32]
//! ```
//! The share (the 32 `y` bytes of a Shamir share whose `x` is `index`) is
//! sealed with AES-256-GCM under Argon2id(holder passphrase, salt), with
//! everything from the magic through the holder name as AAD: the share is
//! bound to its keystore, its generation, its place in the set and its
//! holder, and none of these can be changed without the passphrase. The
//! trailing SHA-256 tells damage (or a careless edit) apart from a wrong
//! passphrase.

use std::path::Path;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::kdf::{KdfParams, Passphrase};
use super::shares::KeystoreId;
use crate::Error;
use crate::crypto::{self, KEY_LEN, NONCE_LEN, WRAPPED_KEY_LEN};

const MAGIC: &[u8; 4] = b"TSSH";
const VERSION: u16 = 1;
const SALT_LEN: usize = 16;
const CHECKSUM_LEN: usize = 32;
/// The longest holder name a share carries, in bytes.
pub(crate) const MAX_HOLDER_LEN: usize = 64;
/// Share files are small; a bigger file is refused before it is parsed.
pub(crate) const MAX_SHARE_FILE_LEN: u64 = 4096;

/// A share file's public header: everything but the sealed share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ShareHeader {
    pub(crate) kdf: KdfParams,
    pub(crate) salt: [u8; SALT_LEN],
    pub(crate) keystore_id: KeystoreId,
    pub(crate) generation: u32,
    pub(crate) threshold: u8,
    pub(crate) count: u8,
    /// The share's `x`, from 1.
    pub(crate) index: u8,
    pub(crate) holder: String,
}

/// A share file as read: its header and the sealed share.
pub(crate) struct ShareFile {
    pub(crate) header: ShareHeader,
    nonce: [u8; NONCE_LEN],
    sealed: [u8; WRAPPED_KEY_LEN],
}

impl ShareHeader {
    /// The bytes the seal authenticates.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(80 + self.holder.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_be_bytes());
        out.extend_from_slice(&self.kdf.memory_kib.to_be_bytes());
        out.extend_from_slice(&self.kdf.passes.to_be_bytes());
        out.extend_from_slice(&self.kdf.lanes.to_be_bytes());
        out.extend_from_slice(&self.salt);
        out.extend_from_slice(&self.keystore_id.0);
        out.extend_from_slice(&self.generation.to_be_bytes());
        out.push(self.threshold);
        out.push(self.count);
        out.push(self.index);
        // Holder names are checked to fit when the set is made.
        out.push(u8::try_from(self.holder.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(self.holder.as_bytes());
        out
    }
}

impl ShareFile {
    /// Seals the share `y` under `passphrase`; the salt in `header` must be
    /// fresh.
    pub(crate) fn seal(
        header: ShareHeader,
        passphrase: &Passphrase,
        y: &[u8; KEY_LEN],
    ) -> Result<ShareFile, Error> {
        let key = crypto::cipher_for(&*header.kdf.derive(passphrase, &header.salt)?);
        let nonce = crypto::fresh_wrap_nonce()?;
        let sealed = crypto::wrap_key(&key, &nonce, &header.encode(), y)?;
        Ok(ShareFile {
            header,
            nonce,
            sealed,
        })
    }

    /// Opens the share with its holder's passphrase: its `y` bytes.
    ///
    /// # Errors
    /// [`Error::ShareWrongPassphrase`] naming the file and holder.
    pub(crate) fn open(
        &self,
        passphrase: &Passphrase,
        path: &Path,
    ) -> Result<Zeroizing<[u8; KEY_LEN]>, Error> {
        let key = crypto::cipher_for(&*self.header.kdf.derive(passphrase, &self.header.salt)?);
        crypto::unwrap_key(&key, &self.nonce, &self.header.encode(), &self.sealed).map_err(|_| {
            Error::ShareWrongPassphrase {
                path: path.to_owned(),
                index: self.header.index,
                holder: self.header.holder.clone(),
            }
        })
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = self.header.encode();
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.sealed);
        let checksum = Sha256::digest(&out);
        out.extend_from_slice(&checksum);
        out
    }

    /// Parses a share file; `path` names it in errors.
    ///
    /// # Errors
    /// [`Error::ShareCorrupt`] naming the file.
    pub(crate) fn decode(bytes: &[u8], path: &Path) -> Result<ShareFile, Error> {
        let corrupt = |reason| Error::ShareCorrupt {
            path: path.to_owned(),
            reason,
        };
        if bytes.get(..4) != Some(MAGIC.as_slice()) {
            return Err(corrupt("not a tierseal share file (bad magic)"));
        }
        let (content, checksum) = bytes
            .split_at_checked(bytes.len().saturating_sub(CHECKSUM_LEN))
            .ok_or(corrupt("truncated"))?;
        if checksum.len() != CHECKSUM_LEN || Sha256::digest(content).as_slice() != checksum {
            return Err(corrupt(
                "checksum mismatch (the file was altered, damaged or truncated)",
            ));
        }
        let mut r = Reader {
            bytes: content,
            pos: 4,
        };
        let mut read = || -> Option<(u16, ShareFile)> {
            let version = u16::from_be_bytes(r.array()?);
            let kdf = KdfParams {
                memory_kib: u32::from_be_bytes(r.array()?),
                passes: u32::from_be_bytes(r.array()?),
                lanes: u32::from_be_bytes(r.array()?),
            };
            let salt = r.array()?;
            let keystore_id = KeystoreId(r.array()?);
            let generation = u32::from_be_bytes(r.array()?);
            let [threshold, count, index, holder_len] = r.array()?;
            let holder = std::str::from_utf8(r.take(usize::from(holder_len))?)
                .ok()?
                .to_owned();
            let nonce = r.array()?;
            let sealed = r.array()?;
            (r.pos == r.bytes.len()).then_some(())?;
            let header = ShareHeader {
                kdf,
                salt,
                keystore_id,
                generation,
                threshold,
                count,
                index,
                holder,
            };
            Some((
                version,
                ShareFile {
                    header,
                    nonce,
                    sealed,
                },
            ))
        };
        let (version, file) = read().ok_or(corrupt("the layout does not match a share file"))?;
        if version != VERSION {
            return Err(corrupt(
                "unknown share file version (a newer tierseal wrote it)",
            ));
        }
        file.header.kdf.check().map_err(corrupt)?;
        let h = &file.header;
        if h.threshold < 2 || h.threshold > h.count || h.index == 0 || h.index > h.count {
            return Err(corrupt("its threshold, count or index is out of range"));
        }
        if super::shares::check_holder(&h.holder).is_err() {
            return Err(corrupt("its holder name is not a valid name"));
        }
        Ok(file)
    }
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

/// Reads a share file, refusing one too large to be a share.
pub(crate) fn read(path: &Path) -> Result<ShareFile, Error> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(|e| Error::io("read share file", path, e))?;
    let mut bytes = Vec::new();
    file.take(MAX_SHARE_FILE_LEN + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("read share file", path, e))?;
    if bytes.len() as u64 > MAX_SHARE_FILE_LEN {
        return Err(Error::ShareCorrupt {
            path: path.to_owned(),
            reason: "too large to be a share file",
        });
    }
    ShareFile::decode(&bytes, path)
}

/// Writes a new share file readable by its owner only; never replaces an
/// existing file.
pub(crate) fn write_new(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write as _;
    write_new_with(path, |file| {
        file.write_all(bytes).and_then(|()| file.sync_all())
    })
}

/// Creates `path` (never replacing a file) and fills it with `write`; when
/// `write` fails, the partial file is removed, since it would refuse every
/// retry (the file is created new) while holding no whole share.
fn write_new_with(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<(), Error> {
    let mut options = std::fs::File::options();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .map_err(|e| Error::io("create share file", path, e))?;
    if let Err(error) = write(&mut file) {
        drop(file);
        // Best effort: the write error is the one worth reporting.
        let _ = std::fs::remove_file(path);
        return Err(Error::io("write share file", path, error));
    }
    // The keystore saved next is flushed with its folder; a share file
    // whose name a crash lost would leave it with no way to its master key.
    super::file::sync_parent(path).inspect_err(|_| {
        let _ = std::fs::remove_file(path);
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code: a panic is a test failure")]

    use std::io::Write as _;

    use super::*;

    /// A write that fails half way leaves no file behind, so a retry can
    /// create it.
    #[test]
    fn a_failed_write_leaves_no_partial_share_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("holder.share");
        let error = write_new_with(&path, |file| {
            file.write_all(b"half a share")?;
            Err(std::io::Error::other("disk full"))
        })
        .unwrap_err();
        assert!(matches!(error, Error::Io { .. }), "{error:?}");
        assert!(!path.exists());
        write_new(&path, b"a whole share").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"a whole share");
        // An existing file is still never replaced.
        assert!(write_new(&path, b"another").is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"a whole share");
    }
}
