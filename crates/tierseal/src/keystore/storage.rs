//! Where a keystore's bytes live, and how a change is written without
//! losing another custodian's.
//!
//! A keystore is one opaque image (see `file`); a [`KeystoreBackend`] loads
//! it with a [`Revision`] and stores a new image only if the stored one is
//! still at that revision (check-and-set). Two stores:
//!
//! - a local file ([`KeystoreLocation::File`], the default): the side-file
//!   lock is held for as long as the keystore is open, so no other process
//!   can write in between; the revision is the file's SHA-256, checked
//!   again before each replacement as a second line of defence;
//! - OpenBao / Vault KV version 2 ([`KeystoreLocation::OpenBao`], see
//!   `kv`): no lock, the KV secret's version is the revision and every
//!   write carries it as `cas`, so a write based on a stale read is
//!   refused by the server and the change is re-applied on a fresh read.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::file::{self, KeystoreLock};
use crate::Error;
use crate::error::shorten;

/// The scheme of a keystore held in OpenBao / Vault KV version 2.
pub const OPENBAO_SCHEME: &str = "openbao://";

/// Where a keystore lives, as `TIERSEAL_KEYSTORE` (or `--keystore`) names
/// it: a plain path is a local file; `openbao://MOUNT/PATH` is the KV
/// version 2 secret `PATH` under the mount `MOUNT` (for example
/// `openbao://secret/tierseal/prod`), on the server `BAO_ADDR` (or
/// `VAULT_ADDR`) names.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KeystoreLocation {
    /// A keystore file.
    File(PathBuf),
    /// A KV version 2 secret in OpenBao or Vault.
    OpenBao {
        /// The KV v2 mount (`secret`).
        mount: String,
        /// The secret's path under the mount (`tierseal/prod`).
        path: String,
    },
}

impl KeystoreLocation {
    /// Parses a location: `openbao://MOUNT/PATH`, or anything else as a
    /// file path.
    ///
    /// # Errors
    /// [`Error::InvalidKeystoreLocation`] for an `openbao://` location
    /// without a mount or a path, or with empty, `.` or `..` segments,
    /// a query, a fragment or characters outside letters, digits and
    /// `-_.@+=`.
    pub fn parse(text: &str) -> Result<KeystoreLocation, Error> {
        let Some(rest) = strip_scheme(text) else {
            return Ok(KeystoreLocation::File(PathBuf::from(text)));
        };
        let bad = |reason| Error::InvalidKeystoreLocation {
            text: shorten(text),
            reason,
        };
        if rest.contains(['?', '#']) {
            return Err(bad("a query or fragment is not allowed"));
        }
        let rest = rest.trim_end_matches('/');
        let (mount, path) = rest.split_once('/').ok_or(bad(
            "expected openbao://MOUNT/PATH, e.g. openbao://secret/tierseal/prod",
        ))?;
        for segment in rest.split('/') {
            if segment.is_empty() || segment == "." || segment == ".." {
                return Err(bad("empty, `.` or `..` path segments are not allowed"));
            }
            if !segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.@+=".contains(&b))
            {
                return Err(bad(
                    "only letters, digits and - _ . @ + = may appear in the mount and path",
                ));
            }
        }
        Ok(KeystoreLocation::OpenBao {
            mount: mount.to_owned(),
            path: path.to_owned(),
        })
    }

    /// Whether this is a local file.
    pub fn is_file(&self) -> bool {
        matches!(self, KeystoreLocation::File(_))
    }

    /// The location as a path-like name, for error messages and for the
    /// `path` of errors that predate other stores.
    pub fn display_path(&self) -> PathBuf {
        match self {
            KeystoreLocation::File(path) => path.clone(),
            other => PathBuf::from(other.to_string()),
        }
    }
}

/// `openbao://` in any letter case, since a scheme is case-insensitive.
fn strip_scheme(text: &str) -> Option<&str> {
    let head = text.get(..OPENBAO_SCHEME.len())?;
    head.eq_ignore_ascii_case(OPENBAO_SCHEME)
        .then(|| text.get(OPENBAO_SCHEME.len()..))
        .flatten()
}

impl FromStr for KeystoreLocation {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        KeystoreLocation::parse(text)
    }
}

impl From<PathBuf> for KeystoreLocation {
    fn from(path: PathBuf) -> Self {
        KeystoreLocation::File(path)
    }
}

impl From<&PathBuf> for KeystoreLocation {
    fn from(path: &PathBuf) -> KeystoreLocation {
        KeystoreLocation::File(path.clone())
    }
}

impl From<&KeystoreLocation> for KeystoreLocation {
    fn from(location: &KeystoreLocation) -> KeystoreLocation {
        location.clone()
    }
}

impl From<&Path> for KeystoreLocation {
    fn from(path: &Path) -> Self {
        KeystoreLocation::File(path.to_owned())
    }
}

impl fmt::Display for KeystoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeystoreLocation::File(path) => write!(f, "{}", path.display()),
            KeystoreLocation::OpenBao { mount, path } => {
                write!(f, "{OPENBAO_SCHEME}{mount}/{path}")
            }
        }
    }
}

/// Which stored image a change was based on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Revision {
    /// Nothing is stored yet: storing creates, and fails if something
    /// appeared meanwhile.
    Absent,
    /// A file's SHA-256.
    Digest([u8; 32]),
    /// A KV version 2 secret's version.
    Version(u64),
}

/// What [`KeystoreBackend::store`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stored {
    /// The image was written; it is now at this revision.
    Saved(Revision),
    /// The stored image was no longer at the expected revision (another
    /// custodian wrote first, or, creating, a keystore already exists);
    /// nothing was written.
    Conflict,
}

/// A place a keystore image is loaded from and stored to with
/// check-and-set.
pub trait KeystoreBackend: Send + Sync + fmt::Debug {
    /// Where the image lives.
    fn location(&self) -> &KeystoreLocation;

    /// The stored image and its revision. Never writes.
    ///
    /// # Errors
    /// I/O or server errors; a keystore that does not exist is
    /// [`Error::KeystoreNotFound`] (KV) or an I/O error (file).
    fn load(&self) -> Result<(Vec<u8>, Revision), Error>;

    /// Whether an image is stored. Never writes.
    ///
    /// # Errors
    /// I/O or server errors.
    fn exists(&self) -> Result<bool, Error>;

    /// Stores `image` if the stored one is still at `expected`
    /// ([`Revision::Absent`]: only if none is stored).
    ///
    /// # Errors
    /// I/O or server errors; the stored image is then unchanged (or, for
    /// a server that failed after accepting the write, the new image).
    fn store(&self, image: &[u8], expected: &Revision) -> Result<Stored, Error>;
}

/// A keystore file, locked for as long as this value lives.
#[derive(Debug)]
pub struct FileBackend {
    location: KeystoreLocation,
    path: PathBuf,
    _lock: KeystoreLock,
}

impl FileBackend {
    /// Takes the keystore's side-file lock, waiting up to `wait`.
    ///
    /// # Errors
    /// [`Error::KeystoreLocked`] or I/O errors.
    pub fn lock(path: impl AsRef<Path>, wait: Duration) -> Result<FileBackend, Error> {
        let path = path.as_ref().to_owned();
        let lock = KeystoreLock::acquire(&path, wait)?;
        Ok(FileBackend {
            location: KeystoreLocation::File(path.clone()),
            path,
            _lock: lock,
        })
    }

    fn digest(bytes: &[u8]) -> Revision {
        Revision::Digest(Sha256::digest(bytes).into())
    }
}

impl KeystoreBackend for FileBackend {
    fn location(&self) -> &KeystoreLocation {
        &self.location
    }

    fn load(&self) -> Result<(Vec<u8>, Revision), Error> {
        let bytes = file::read(&self.path)?;
        let revision = FileBackend::digest(&bytes);
        Ok((bytes, revision))
    }

    fn exists(&self) -> Result<bool, Error> {
        self.path
            .try_exists()
            .map_err(|e| Error::io("check", &self.path, e))
    }

    fn store(&self, image: &[u8], expected: &Revision) -> Result<Stored, Error> {
        // The lock keeps other tierseal processes out; this check catches
        // a file replaced by something that ignores the lock.
        let current = if self.exists()? {
            FileBackend::digest(&file::read(&self.path)?)
        } else {
            Revision::Absent
        };
        if &current != expected {
            return Ok(Stored::Conflict);
        }
        file::write_atomically(&self.path, image)?;
        Ok(Stored::Saved(FileBackend::digest(image)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bao(mount: &str, path: &str) -> KeystoreLocation {
        KeystoreLocation::OpenBao {
            mount: mount.to_owned(),
            path: path.to_owned(),
        }
    }

    #[test]
    fn plain_paths_stay_files() {
        for text in [
            "tierseal.keystore",
            "/etc/tierseal/prod.keystore",
            "./openbao/x",
            "openbao:/x/y",
            "C:\\keys\\k",
        ] {
            assert_eq!(
                KeystoreLocation::parse(text).unwrap(),
                KeystoreLocation::File(PathBuf::from(text)),
                "{text}"
            );
        }
    }

    #[test]
    fn openbao_urls_name_a_mount_and_a_path() {
        assert_eq!(
            KeystoreLocation::parse("openbao://secret/tierseal/prod").unwrap(),
            bao("secret", "tierseal/prod")
        );
        assert_eq!(
            KeystoreLocation::parse("OpenBao://kv-v2/k/").unwrap(),
            bao("kv-v2", "k")
        );
        let location: KeystoreLocation = "openbao://secret/a.b@c+d=e_f".parse().unwrap();
        assert_eq!(location, bao("secret", "a.b@c+d=e_f"));
        assert_eq!(location.to_string(), "openbao://secret/a.b@c+d=e_f");
        assert!(!location.is_file());
        assert_eq!(
            location.display_path(),
            PathBuf::from("openbao://secret/a.b@c+d=e_f")
        );
    }

    #[test]
    fn bad_openbao_urls_are_typed_errors_naming_the_text() {
        for text in [
            "openbao://",
            "openbao://secret",
            "openbao://secret/",
            "openbao:///tierseal",
            "openbao://secret//prod",
            "openbao://secret/../sys/policy",
            "openbao://secret/./x",
            "openbao://secret/a b",
            "openbao://secret/a?version=1",
            "openbao://secret/a#frag",
            "openbao://secret/caf\u{e9}",
            "openbao://secret/a%2f..",
        ] {
            let err = KeystoreLocation::parse(text).unwrap_err();
            assert!(
                matches!(err, Error::InvalidKeystoreLocation { .. }),
                "{text}: {err:?}"
            );
            assert!(err.to_string().contains(text), "{text}: {err}");
        }
    }

    #[test]
    fn a_long_bad_url_is_shortened_in_the_error() {
        let text = format!("openbao://secret/{}", "x y".repeat(100));
        let err = KeystoreLocation::parse(&text).unwrap_err();
        assert!(err.to_string().len() < 250, "{err}");
    }

    #[test]
    fn the_file_backend_refuses_a_stale_revision() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let backend = FileBackend::lock(&path, Duration::ZERO).unwrap();
        assert!(!backend.exists().unwrap());
        let Stored::Saved(first) = backend.store(b"one", &Revision::Absent).unwrap() else {
            panic!("create failed");
        };
        assert_eq!(
            backend.store(b"again", &Revision::Absent).unwrap(),
            Stored::Conflict
        );
        let (bytes, revision) = backend.load().unwrap();
        assert_eq!((bytes.as_slice(), &revision), (b"one".as_slice(), &first));
        // Replaced behind the lock's back: the next store is refused.
        std::fs::write(&path, b"other").unwrap();
        assert_eq!(backend.store(b"two", &first).unwrap(), Stored::Conflict);
        assert_eq!(std::fs::read(&path).unwrap(), b"other");
        let (_, current) = backend.load().unwrap();
        assert!(matches!(
            backend.store(b"two", &current).unwrap(),
            Stored::Saved(_)
        ));
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
    }
}
