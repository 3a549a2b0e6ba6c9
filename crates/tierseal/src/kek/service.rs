//! Service keyrings built from a provider keystore, refreshed on a TTL.

use std::fmt;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use super::KekProvider;
use crate::keystore::KeystoreLocation;
use crate::{Error, Keyring, Tier};

/// A service's keyring from a keystore whose tier keys a provider
/// protects (OpenBao Transit, PKCS#11), rebuilt when it is older than a
/// time-to-live.
///
/// Building it unwraps each tier key version once (a handful of provider
/// calls, never one per record) and keeps the keys in zeroizing memory; the
/// [`Keyring`] it hands out is the same type a keystore or grant gives, so
/// sealing and opening cost exactly the same. It holds exactly the tiers
/// the credential may unwrap: a tier whose provider key refuses the
/// credential is left out ([`denied_tiers`](Self::denied_tiers)).
///
/// Searching is granted apart from opening: the keyring holds the
/// blind-index keys of exactly the tiers whose index key
/// (`{prefix}index-{tier}`) the credential may unwrap, whether or not it
/// may unwrap the tier's own key; a refused index key leaves that tier's
/// search capability out ([`denied_index_tiers`](Self::denied_index_tiers)).
/// A credential allowed only index keys yields a search-only keyring: it
/// computes blind indexes ([`Keyring::blind_index`]) and opens nothing.
/// (A keystore still in file version 3 gives no index keys at all until a
/// custodian's next save moves them to their own provider keys.)
///
/// [`keyring`](Self::keyring) returns the current keyring while it is
/// younger than the TTL, even if the provider is unreachable meanwhile;
/// once it is older, it is rebuilt, and a failed rebuild (token revoked,
/// server down) is returned as the error — the expired keyring is not
/// handed out again. A keyring already handed out keeps working for
/// whoever holds it: drop it at the TTL.
pub struct ServiceKeyring {
    location: KeystoreLocation,
    principal: String,
    ttl: Duration,
    provider: Arc<dyn KekProvider>,
    current: RwLock<Current>,
    /// Held while a due rebuild runs, so that threads finding the keyring
    /// expired at once rebuild it once, not once each.
    rebuilding: Mutex<()>,
}

struct Current {
    keyring: Arc<Keyring>,
    built: Instant,
    denied: Vec<Tier>,
    denied_index: Vec<Tier>,
}

impl fmt::Debug for ServiceKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceKeyring")
            .field("location", &self.location)
            .field("principal", &self.principal)
            .field("ttl", &self.ttl)
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

impl ServiceKeyring {
    /// Builds the keyring of `principal` (its audit writer name) from the
    /// provider keystore at `location` (a file, read without its lock, or
    /// an `openbao://` KV secret on the server `BAO_ADDR`/`BAO_TOKEN`
    /// configure).
    ///
    /// # Errors
    /// [`Error::KekProviderMismatch`] for a passphrase keystore or another
    /// provider's, [`Error::KeystoreCorrupt`] when the metadata does not
    /// authenticate, [`Error::KmsDenied`] when the credential may not even
    /// unwrap the keystore's metadata key, other provider errors, or I/O
    /// errors.
    pub fn build(
        location: impl Into<KeystoreLocation>,
        provider: Arc<dyn KekProvider>,
        principal: &str,
        ttl: Duration,
    ) -> Result<ServiceKeyring, Error> {
        crate::grant::check_principal(principal)?;
        let location = location.into();
        let current = load(&location, &provider, principal)?;
        Ok(ServiceKeyring {
            location,
            principal: principal.to_owned(),
            ttl,
            provider,
            current: RwLock::new(current),
            rebuilding: Mutex::new(()),
        })
    }

    /// As [`build`](Self::build), with the provider the keystore header
    /// names, reached with the credential from the environment: for
    /// OpenBao, `BAO_ADDR`/`BAO_TOKEN` (or `VAULT_ADDR`/`VAULT_TOKEN`, and
    /// `BAO_CACERT`/`VAULT_CACERT`), with the mount and prefix the header
    /// records.
    ///
    /// # Errors
    /// As [`build`](Self::build); [`Error::KmsConfig`] when the environment
    /// lacks the server or token, or the header names a provider this build
    /// cannot reach from the environment.
    pub fn from_env(
        location: impl Into<KeystoreLocation>,
        principal: &str,
        ttl: Duration,
    ) -> Result<ServiceKeyring, Error> {
        let location = location.into();
        let params = crate::Keystore::kek_params_at(&location)?.ok_or_else(|| {
            Error::KekProviderMismatch {
                path: location.display_path(),
                expected: "a key-encryption provider",
                found: super::ProviderKind::Passphrase.as_str(),
            }
        })?;
        let provider: Arc<dyn KekProvider> = match params.kind() {
            super::ProviderKind::OpenBao => Arc::new(super::TransitProvider::from_params(
                crate::openbao::BaoClient::from_env()?,
                &params,
            )?),
            _ => {
                return Err(Error::KmsConfig {
                    provider: params.kind().as_str(),
                    reason: "this provider cannot be built from the environment here: build it and call ServiceKeyring::build",
                });
            }
        };
        ServiceKeyring::build(location, provider, principal, ttl)
    }

    /// The current keyring, rebuilt first if it is older than the TTL.
    ///
    /// # Errors
    /// As [`refresh`](Self::refresh), when a rebuild is due and fails.
    pub fn keyring(&self) -> Result<Arc<Keyring>, Error> {
        if let Some(keyring) = self.fresh() {
            return Ok(keyring);
        }
        let _rebuilding = self.rebuilding.lock().unwrap_or_else(|e| e.into_inner());
        // Another thread may have rebuilt it while this one waited.
        if let Some(keyring) = self.fresh() {
            return Ok(keyring);
        }
        self.refresh()
    }

    /// The current keyring if it is younger than the TTL.
    fn fresh(&self) -> Option<Arc<Keyring>> {
        let current = self.current.read().unwrap_or_else(|e| e.into_inner());
        (current.built.elapsed() < self.ttl).then(|| Arc::clone(&current.keyring))
    }

    /// Rebuilds the keyring now.
    ///
    /// # Errors
    /// As [`build`](Self::build). On error the previous keyring is kept
    /// but no longer handed out once its TTL has passed.
    pub fn refresh(&self) -> Result<Arc<Keyring>, Error> {
        let fresh = load(&self.location, &self.provider, &self.principal)?;
        let keyring = Arc::clone(&fresh.keyring);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(keyring)
    }

    /// The tiers the keystore has but the credential may not unwrap, as of
    /// the last build.
    pub fn denied_tiers(&self) -> Vec<Tier> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .denied
            .clone()
    }

    /// The tiers whose blind-index keys the keystore has but the credential
    /// may not unwrap, as of the last build: the keyring cannot search
    /// them (see [`Keyring::can_search`]).
    pub fn denied_index_tiers(&self) -> Vec<Tier> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .denied_index
            .clone()
    }

    /// The time-to-live.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }
}

fn load(
    location: &KeystoreLocation,
    provider: &Arc<dyn KekProvider>,
    principal: &str,
) -> Result<Current, Error> {
    let loaded = crate::keystore::service_keyring(location, Arc::clone(provider), principal)?;
    Ok(Current {
        keyring: Arc::new(loaded.keyring),
        built: Instant::now(),
        denied: loaded.denied,
        denied_index: loaded.denied_index,
    })
}
