//! issue 11: keystores whose tier keys a key-encryption provider protects
//! (OpenBao / Vault Transit, PKCS#11).
//!
//! ```text
//! provider key {prefix}keystore     --wraps--> metadata key
//!     metadata key --AES-GCM--> body tag, audit key
//! provider key {prefix}{tier}       --wraps--> each key version of that tier
//! provider key {prefix}index-{tier} --wraps--> each index key version of that tier
//! ```
//! The metadata key is wrapped with the file header (magic, version,
//! provider, its parameters) as binding data, and authenticates the body as
//! the master key does in a passphrase keystore: a forged, downgraded or
//! re-labelled file fails to load. Tier keys are wrapped under their own
//! tier's provider key, and (from file version 4) index keys under their
//! tier's index key, so the provider's access control decides which tiers
//! a credential can open and, separately, which it can search.

use std::path::Path;
use std::sync::Arc;

use aes_gcm::Aes256Gcm;

use super::{
    AUDIT_KEY_AAD, FILE_VERSION, FileImage, Keystore, KeystoreLocation, PassphraseRoot, Root,
    RootImage, decode_body, read_unlocked, unwrap_under,
};
use crate::crypto::{self, KeyMaterial};
use crate::index::{IndexKeys, IndexVersionKey};
use crate::kek::{KekParams, KekProvider, KekSlot, ProviderKind};
use crate::keyring::{TierKeys, VersionKey};
use crate::keystore::model::{Body, KeyRole};
use crate::keystore::{KdfProfile, Passphrase};
use crate::{Error, Keyring, Tier};

/// The metadata key of a provider keystore and its wrap.
pub(super) struct ProviderRoot {
    pub(super) provider: Arc<dyn KekProvider>,
    pub(super) params: KekParams,
    /// Wrapped with the provider header of file version `bound_version`
    /// as binding data.
    pub(super) wrapped_meta: Vec<u8>,
    /// The file version whose header `wrapped_meta` is bound to: the
    /// version the file was read as until [`bind_to_current_version`](Self::bind_to_current_version).
    pub(super) bound_version: u16,
    pub(super) meta: Aes256Gcm,
}

impl ProviderRoot {
    /// Creates the keystore key if needed and wraps a fresh metadata key.
    pub(super) fn new(
        provider: Arc<dyn KekProvider>,
        params: KekParams,
    ) -> Result<ProviderRoot, Error> {
        check_kind(&provider, &params)?;
        provider.ensure_key(&KekSlot::Keystore)?;
        for tier in [Tier::INTERNAL, Tier::CONFIDENTIAL, Tier::RESTRICTED] {
            for role in KeyRole::ALL {
                provider.ensure_key(&role.slot(&tier))?;
            }
        }
        Self::wrap_fresh(provider, params)
    }

    fn wrap_fresh(
        provider: Arc<dyn KekProvider>,
        params: KekParams,
    ) -> Result<ProviderRoot, Error> {
        let meta = KeyMaterial::generate()?;
        let header = FileImage::provider_header(FILE_VERSION, &params);
        let wrapped_meta = provider.wrap(&KekSlot::Keystore, &header, &meta)?;
        Ok(ProviderRoot {
            provider,
            params,
            wrapped_meta,
            bound_version: FILE_VERSION,
            meta: meta.cipher(),
        })
    }

    /// Wraps the metadata key again under the header of [`FILE_VERSION`]
    /// when it is bound to an older file's header, so that the next save
    /// can write the current version (the file itself is not written).
    /// The key does not change.
    pub(super) fn bind_to_current_version(&mut self) -> Result<(), Error> {
        if self.bound_version == FILE_VERSION {
            return Ok(());
        }
        let old = FileImage::provider_header(self.bound_version, &self.params);
        let meta = self
            .provider
            .unwrap(&KekSlot::Keystore, &old, &self.wrapped_meta)?;
        let header = FileImage::provider_header(FILE_VERSION, &self.params);
        self.wrapped_meta = self.provider.wrap(&KekSlot::Keystore, &header, &meta)?;
        self.bound_version = FILE_VERSION;
        Ok(())
    }

    /// Unwraps the metadata key of a file read from `path`.
    pub(super) fn open(
        path: &Path,
        image: &FileImage,
        provider: Arc<dyn KekProvider>,
    ) -> Result<ProviderRoot, Error> {
        let RootImage::Provider {
            params,
            wrapped_meta,
        } = &image.root
        else {
            return Err(Error::KekProviderMismatch {
                path: path.to_owned(),
                expected: provider.kind().as_str(),
                found: ProviderKind::Passphrase.as_str(),
            });
        };
        if params.kind() != provider.kind() {
            return Err(Error::KekProviderMismatch {
                path: path.to_owned(),
                expected: provider.kind().as_str(),
                found: params.kind().as_str(),
            });
        }
        let header = FileImage::provider_header(image.version, params);
        let meta = provider.unwrap(&KekSlot::Keystore, &header, wrapped_meta)?;
        Ok(ProviderRoot {
            provider,
            params: params.clone(),
            wrapped_meta: wrapped_meta.clone(),
            bound_version: image.version,
            meta: meta.cipher(),
        })
    }
}

fn check_kind(provider: &Arc<dyn KekProvider>, params: &KekParams) -> Result<(), Error> {
    if params.kind() == ProviderKind::Passphrase || params.kind() != provider.kind() {
        return Err(Error::InvalidParameter {
            what: "key-encryption provider",
            reason: "the parameters name another provider than the one given (or the passphrase)",
        });
    }
    Ok(())
}

impl Keystore {
    /// Wraps every key again under `root` — per-tier keys under their
    /// slots when `root` is a provider's — and saves, in one atomic save;
    /// only then is `root` adopted.
    fn migrate(&mut self, root: Root) -> Result<(), Error> {
        self.refuse_split()?;
        let mut body = self.body.clone();
        self.rewrap_keys(&root, &mut body, |_, _| true)?;
        body.check().map_err(|reason| Error::InvalidParameter {
            what: "keystore migration",
            reason,
        })?;
        self.save_as(&root, &body)?;
        self.root = root;
        self.body = body;
        Ok(())
    }

    /// Moves the keystore to `provider`: its keys (created where missing)
    /// wrap every tier key version (under the tier's key), every index key
    /// version (under the tier's index key) and a fresh metadata key, all
    /// in one atomic save. Data sealed under the tier keys and stored
    /// index values are untouched: the keys themselves do not change.
    ///
    /// Moving a keystore to the provider that already protects it wraps
    /// everything afresh; a keystore read from file version 3 then has
    /// its index keys in their own slots at once.
    ///
    /// A copy of the file taken before still opens the old way and still
    /// reveals the keys that existed then.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when `params` do not match `provider`,
    /// provider errors, or an error saving the file; the keystore is then
    /// unchanged, in memory and on disk.
    pub fn migrate_to_kek(
        &mut self,
        provider: Arc<dyn KekProvider>,
        params: KekParams,
    ) -> Result<(), Error> {
        check_kind(&provider, &params)?;
        self.refuse_split()?;
        provider.ensure_key(&KekSlot::Keystore)?;
        let root = ProviderRoot::wrap_fresh(provider, params)?;
        self.migrate(Root::Provider(root))
    }

    /// Moves the keystore to a passphrase-protected master key (fresh),
    /// in one atomic save.
    ///
    /// # Errors
    /// Provider errors while unwrapping, or an error saving the file; the
    /// keystore is then unchanged.
    pub fn migrate_to_passphrase(
        &mut self,
        passphrase: &Passphrase,
        profile: KdfProfile,
    ) -> Result<(), Error> {
        let root = PassphraseRoot::new(&KeyMaterial::generate()?, passphrase, profile.params())?;
        self.migrate(Root::Passphrase(root))
    }

    /// Rotates the provider keys themselves (Transit `rotate`; a new key
    /// object on PKCS#11) — every tier's key, every tier's index key and
    /// the keystore key — and re-wraps each stored tier and index key
    /// version and the metadata key under the new provider key versions
    /// (Transit `rewrap`: the keys do not leave the server), then saves
    /// once. Sealed data and index values are untouched. A keystore read
    /// from file version 3 has its index keys moved to their slots first.
    ///
    /// A failure part-way leaves the file as it was: the provider keys may
    /// have been rotated, but their older versions still unwrap what the
    /// file holds. Run it again.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a passphrase keystore, provider
    /// errors, or an error saving the file.
    pub fn rotate_kek(&mut self) -> Result<Vec<String>, Error> {
        let Root::Provider(root) = &self.root else {
            return Err(Error::InvalidParameter {
                what: "key-encryption key rotation",
                reason: "a passphrase keystore has no provider keys: change the passphrase to replace its master key",
            });
        };
        let provider = Arc::clone(&root.provider);
        let mut body = self.body.clone();
        self.place_index_keys(&mut body)?;
        let mut rotated = Vec::new();
        let tiers: Vec<Tier> = self.tiers().cloned().collect();
        let indexed: Vec<Tier> = body.index_keys.iter().map(|r| r.tier.clone()).collect();
        let slots = tiers
            .iter()
            .map(KekSlot::Tier)
            .chain(indexed.iter().map(KekSlot::Index))
            .chain([KekSlot::Keystore]);
        for slot in slots {
            provider.rotate_key(&slot)?;
            rotated.extend(provider.key_name(&slot));
        }

        for role in KeyRole::ALL {
            for held in body.held_mut(role) {
                let aad = role.aad(&held.tier, held.version);
                held.wrapped = provider.rewrap(&role.slot(&held.tier), &aad, &held.wrapped)?;
            }
        }
        let Root::Provider(root) = &mut self.root else {
            return Err(Error::InvalidParameter {
                what: "key-encryption key rotation",
                reason: "the keystore's root changed during the rotation",
            });
        };
        root.bind_to_current_version()?;
        let header = FileImage::provider_header(FILE_VERSION, &root.params);
        let wrapped_meta = provider.rewrap(&KekSlot::Keystore, &header, &root.wrapped_meta)?;
        let new_root = Root::Provider(ProviderRoot {
            provider,
            params: root.params.clone(),
            wrapped_meta,
            bound_version: FILE_VERSION,
            meta: root.meta.clone(),
        });
        self.save_as(&new_root, &body)?;
        self.root = new_root;
        self.body = body;
        Ok(rotated)
    }
}

/// What a service keyring build found.
pub(crate) struct ServiceLoad {
    pub(crate) keyring: Keyring,
    /// The tiers whose keys the credential may not unwrap.
    pub(crate) denied: Vec<Tier>,
    /// The tiers whose index keys the credential may not unwrap.
    pub(crate) denied_index: Vec<Tier>,
}

/// Builds a service's keyring from the provider keystore at `location`:
/// reads it without the lock (saves replace a file atomically; a KV secret
/// is read at its current version), authenticates
/// the metadata with the keystore key, and unwraps every non-retired
/// version of each tier's key and each tier's index key the credential may
/// unwrap. A tier whose key the provider refuses ([`Error::KmsDenied`]) is
/// left out, and so is the search capability of a tier whose index key it
/// refuses; every other failure is an error.
///
/// A keystore read from file version 3 still holds its index keys under
/// the metadata key, which every service may unwrap: they are not loaded
/// (no service searches) until a custodian's save moves them to their
/// slots.
pub(crate) fn service_keyring(
    location: &KeystoreLocation,
    provider: Arc<dyn KekProvider>,
    principal: &str,
) -> Result<ServiceLoad, Error> {
    let path = &location.display_path();
    let bytes = read_unlocked(location)?;
    let image = FileImage::decode(&bytes, path)?;
    let root = ProviderRoot::open(path, &image, provider)?;
    let corrupt = |reason| Error::KeystoreCorrupt {
        path: path.clone(),
        reason,
    };
    let mut empty = [];
    crypto::decrypt(
        &root.meta,
        &image.body_nonce,
        &image.authenticated_prefix(),
        &mut empty,
        &image.body_tag,
    )
    .map_err(|_| corrupt("authentication failed (the file was altered)"))?;
    let body = decode_body(image.version, &image.body).map_err(corrupt)?;
    if !body.provider_held() {
        return Err(corrupt(
            "its tier keys are not wrapped the way its header says",
        ));
    }
    let service = ServiceUnwrap {
        root: &root,
        body: &body,
        corrupt: &corrupt,
    };
    let mut tiers = Vec::new();
    let mut denied = Vec::new();
    for record in &body.tiers {
        let live = record
            .versions
            .iter()
            .filter(|v| v.wrapped.is_some())
            .map(|v| (v.version, v.check_value));
        let Some(keys) = service.unwrap_live(KeyRole::Encryption, &record.tier, live)? else {
            denied.push(record.tier.clone());
            continue;
        };
        tiers.push(TierKeys {
            tier: record.tier.clone(),
            primary: record.primary,
            versions: keys
                .into_iter()
                .map(|(version, material)| VersionKey::new(version, material))
                .collect(),
            retired: record
                .versions
                .iter()
                .filter(|v| v.wrapped.is_none())
                .map(|v| v.version)
                .collect(),
        });
    }
    let mut index = Vec::new();
    let mut denied_index = Vec::new();
    let in_slots = body.index_keys_in_slots();
    for record in body.index_keys.iter().filter(|_| in_slots) {
        let live = record
            .versions
            .iter()
            .filter(|v| v.wrapped.is_some())
            .map(|v| (v.version, v.check_value));
        let Some(keys) = service.unwrap_live(KeyRole::Index, &record.tier, live)? else {
            denied_index.push(record.tier.clone());
            continue;
        };
        index.push(IndexKeys {
            tier: record.tier.clone(),
            primary: record.primary,
            versions: keys
                .into_iter()
                .map(|(version, material)| IndexVersionKey {
                    version,
                    check_value: material.check_value(),
                    material,
                })
                .collect(),
        });
    }
    let audit_key = match &body.audit_key {
        Some(wrapped) => Some(
            unwrap_under(&root.meta, wrapped, AUDIT_KEY_AAD)
                .map_err(|_| corrupt("the audit key does not authenticate"))?,
        ),
        None => None,
    };
    let audit_key =
        audit_key.and_then(|material| crate::audit::AuditKey::root(material).derive(principal));
    let keyring =
        Keyring::from_tiers(tiers, principal.to_owned(), audit_key)?.with_index_keys(index);
    Ok(ServiceLoad {
        keyring,
        denied,
        denied_index,
    })
}

/// A service's credential unwrapping a provider keystore's per-tier keys.
struct ServiceUnwrap<'a> {
    root: &'a ProviderRoot,
    body: &'a Body,
    corrupt: &'a dyn Fn(&'static str) -> Error,
}

impl ServiceUnwrap<'_> {
    /// Unwraps each `(version, check value)` of `tier`'s keys of `role`;
    /// `None` when the provider refuses the credential that slot.
    fn unwrap_live(
        &self,
        role: KeyRole,
        tier: &Tier,
        live: impl Iterator<Item = (u32, crate::crypto::CheckValue)>,
    ) -> Result<Option<Vec<(u32, KeyMaterial)>>, Error> {
        let mut keys = Vec::new();
        for (version, check_value) in live {
            let held = self
                .body
                .held_key(role, tier, version)
                .ok_or_else(|| (self.corrupt)(role.missing()))?;
            let aad = role.aad(tier, version);
            match self
                .root
                .provider
                .unwrap(&role.slot(tier), &aad, &held.wrapped)
            {
                Ok(material) if material.check_value() == check_value => {
                    keys.push((version, material));
                }
                Ok(_) => return Err((self.corrupt)(role.mismatched())),
                Err(Error::KmsDenied { .. }) => return Ok(None),
                Err(other) => return Err(other),
            }
        }
        Ok(Some(keys))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::kek::PassphraseProvider;
    use crate::keystore::index::index_key_aad;
    use crate::keystore::model::WrappedTierKey;
    use crate::{Clearance, Level};

    /// An in-process provider of kind OpenBao: AES-GCM under one key, with
    /// tier slots and index slots it can be told to deny and a switch that
    /// takes it "down".
    #[derive(Debug)]
    struct Fake {
        inner: PassphraseProvider,
        denied: Mutex<Vec<Tier>>,
        denied_index: Mutex<Vec<Tier>>,
        down: Mutex<bool>,
        calls: Mutex<usize>,
        /// The slots of every wrap, by key name.
        wrapped: Mutex<Vec<String>>,
    }

    impl Fake {
        fn new() -> Arc<Fake> {
            Fake::with_key(&KeyMaterial::generate().unwrap())
        }

        /// A fake whose one key is `key`: what the frozen provider
        /// keystores in `testdata` were written with.
        fn with_key(key: &KeyMaterial) -> Arc<Fake> {
            Arc::new(Fake {
                inner: PassphraseProvider::new(key),
                denied: Mutex::new(Vec::new()),
                denied_index: Mutex::new(Vec::new()),
                down: Mutex::new(false),
                calls: Mutex::new(0),
                wrapped: Mutex::new(Vec::new()),
            })
        }

        fn check(&self, slot: &KekSlot<'_>) -> Result<(), Error> {
            *self.calls.lock().unwrap() += 1;
            if *self.down.lock().unwrap() {
                return Err(Error::KmsUnavailable {
                    provider: "openbao",
                    address: "fake".into(),
                    subject: slot.to_string(),
                    reason: "down".into(),
                });
            }
            let denied = match slot {
                KekSlot::Tier(tier) => self.denied.lock().unwrap().contains(tier),
                KekSlot::Index(tier) => self.denied_index.lock().unwrap().contains(tier),
                KekSlot::Keystore => false,
            };
            if denied {
                return Err(Error::KmsDenied {
                    provider: "openbao",
                    address: "fake".into(),
                    subject: slot.to_string(),
                });
            }
            Ok(())
        }
    }

    impl KekProvider for Fake {
        fn kind(&self) -> ProviderKind {
            ProviderKind::OpenBao
        }
        fn key_name(&self, slot: &KekSlot<'_>) -> Option<String> {
            Some(slot.key_name("fake-"))
        }
        fn ensure_key(&self, slot: &KekSlot<'_>) -> Result<(), Error> {
            self.check(slot)
        }
        fn wrap(
            &self,
            slot: &KekSlot<'_>,
            aad: &[u8],
            key: &KeyMaterial,
        ) -> Result<Vec<u8>, Error> {
            self.check(slot)?;
            self.wrapped
                .lock()
                .unwrap()
                .push(self.key_name(slot).unwrap());
            self.inner.wrap(slot, aad, key)
        }
        fn unwrap(
            &self,
            slot: &KekSlot<'_>,
            aad: &[u8],
            wrapped: &[u8],
        ) -> Result<KeyMaterial, Error> {
            self.check(slot)?;
            self.inner.unwrap(slot, aad, wrapped)
        }
        fn rotate_key(&self, slot: &KekSlot<'_>) -> Result<(), Error> {
            self.check(slot)
        }
    }

    /// The fixed key of the fake provider of the frozen provider keystores.
    fn fixture_provider() -> Arc<Fake> {
        Fake::with_key(&KeyMaterial::take(&mut [0x5a; crate::crypto::KEY_LEN]))
    }

    /// The frozen provider keystore of file `version` in `testdata`.
    fn fixture_path(version: u16) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(format!("keystore-v{version}-provider.tsks"))
    }

    /// Writes a provider keystore in which every per-tier key kind holds
    /// live and retired versions, to `testdata/keystore-v{FILE_VERSION}-provider.tsks`
    /// (run with `TIERSEAL_WRITE_VECTORS=1` only when the file version
    /// changes; never over an older version's file).
    fn write_provider_fixture() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ks");
        let fake = fixture_provider();
        let params = KekParams::new(ProviderKind::OpenBao)
            .with("mount", "transit")
            .unwrap()
            .with("prefix", "fixture-")
            .unwrap();
        let mut keystore = Keystore::create_with_kek(&path, fake, params).unwrap();
        let iban: Tier = "restricted/iban".parse().unwrap();
        keystore.add_tier(&iban).unwrap();
        keystore.rotate(&Tier::INTERNAL).unwrap();
        keystore.retire(&Tier::INTERNAL, 1).unwrap();
        keystore.rotate_index(&Tier::INTERNAL).unwrap();
        keystore.retire_index(&Tier::INTERNAL, 1).unwrap();
        keystore.rotate_index(&iban).unwrap();
        keystore.record_audit_checkpoint(5, [9; 32]).unwrap();
        let expires = std::time::UNIX_EPOCH + std::time::Duration::from_secs(4_102_444_800);
        keystore
            .issue_grant_with_search(
                &Clearance::none().with(Tier::INTERNAL),
                &Clearance::none().with(iban),
                "fixture-svc",
                expires,
            )
            .unwrap();
        drop(keystore);
        std::fs::copy(&path, fixture_path(FILE_VERSION)).unwrap();
    }

    #[test]
    fn write_the_provider_fixture_when_asked() {
        if std::env::var_os("TIERSEAL_WRITE_VECTORS").is_some() {
            write_provider_fixture();
        }
    }

    fn params() -> KekParams {
        KekParams::new(ProviderKind::OpenBao)
            .with("prefix", "fake-")
            .unwrap()
    }

    fn all() -> Clearance {
        Clearance::up_to(Level::Restricted)
    }

    #[test]
    fn a_provider_keystore_round_trips_and_never_uses_the_master_key_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ks");
        let fake = Fake::new();
        let mut keystore = Keystore::create_with_kek(&path, fake.clone(), params()).unwrap();
        let v2 = keystore.rotate(&Tier::INTERNAL).unwrap();
        keystore.retire(&Tier::INTERNAL, 1).unwrap();
        assert_eq!(keystore.body.provider_keys.len(), 3, "retired v1 left");
        assert_eq!(keystore.body.provider_index_keys.len(), 3);
        assert!(keystore.body.index_keys_in_slots());
        assert!(keystore.body.check().is_ok());
        let check = keystore.key_versions();
        drop(keystore);

        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes[4..7], [0, 4, 2], "version 4, provider 2 (OpenBao)");
        let keystore = Keystore::open_with_kek(&path, fake.clone()).unwrap();
        assert_eq!(keystore.key_versions(), check);
        let keyring = keystore.keyring(&all()).unwrap();
        assert!(keyring.has_tier(&Tier::RESTRICTED));
        assert_eq!(keystore.kdf_params(), None);
        assert_eq!(
            keystore.kek_key_name(&Tier::INTERNAL).as_deref(),
            Some("fake-internal")
        );
        assert_eq!(
            keystore.kek_index_key_name(&Tier::INTERNAL).as_deref(),
            Some("fake-index-internal")
        );
        assert_eq!(v2, 2);
        drop(keystore);
        let e = Keystore::open(&path, &"pw".into()).unwrap_err();
        assert!(
            matches!(
                e,
                Error::KekProviderMismatch {
                    found: "openbao",
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn a_changed_header_or_body_fails_to_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ks");
        let fake = Fake::new();
        drop(Keystore::create_with_kek(&path, fake.clone(), params()).unwrap());
        let good = std::fs::read(&path).unwrap();
        let image = FileImage::decode(&good, &path).unwrap();

        // Another prefix in the header: the metadata key's binding breaks.
        let mut other = FileImage {
            version: image.version,
            root: RootImage::Provider {
                params: KekParams::new(ProviderKind::OpenBao)
                    .with("prefix", "evil-")
                    .unwrap(),
                wrapped_meta: match &image.root {
                    RootImage::Provider { wrapped_meta, .. } => wrapped_meta.clone(),
                    RootImage::Passphrase { .. } => unreachable!(),
                },
            },
            body: image.body.clone(),
            body_nonce: image.body_nonce,
            body_tag: image.body_tag,
        };
        std::fs::write(&path, other.encode()).unwrap();
        assert!(Keystore::open_with_kek(&path, fake.clone()).is_err());

        // A changed body under the real header: authentication fails.
        other.root = image.root.clone();
        if let Some(byte) = other.body.get_mut(3) {
            *byte ^= 1;
        }
        std::fs::write(&path, other.encode()).unwrap();
        let e = Keystore::open_with_kek(&path, fake.clone()).unwrap_err();
        assert!(matches!(e, Error::KeystoreCorrupt { .. }), "{e:?}");
        std::fs::write(&path, &good).unwrap();
        Keystore::open_with_kek(&path, fake).unwrap();
    }

    #[test]
    fn a_service_keyring_holds_only_the_tiers_the_provider_allows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ks");
        let fake = Fake::new();
        drop(Keystore::create_with_kek(&path, fake.clone(), params()).unwrap());
        fake.denied
            .lock()
            .unwrap()
            .extend([Tier::CONFIDENTIAL, Tier::RESTRICTED]);
        *fake.calls.lock().unwrap() = 0;
        let loaded = service_keyring(&(&path).into(), fake.clone(), "billing").unwrap();
        let tiers: Vec<&Tier> = loaded.keyring.tiers().collect();
        assert_eq!(tiers, [&Tier::INTERNAL]);
        assert_eq!(loaded.denied, [Tier::CONFIDENTIAL, Tier::RESTRICTED]);
        // Searching is granted apart from opening: every index slot is
        // allowed here.
        assert!(loaded.denied_index.is_empty());
        let searchable: Vec<&Tier> = loaded.keyring.searchable_tiers().collect();
        assert_eq!(searchable.len(), 3);
        // One call for the metadata key, one per tier and per index key
        // tried: never per record.
        assert_eq!(*fake.calls.lock().unwrap(), 7);

        *fake.down.lock().unwrap() = true;
        let e = service_keyring(&(&path).into(), fake, "billing")
            .err()
            .unwrap();
        assert!(matches!(e, Error::KmsUnavailable { .. }), "{e:?}");
    }

    #[test]
    fn a_provider_failure_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ks");
        let fake = Fake::new();
        let mut keystore = Keystore::create_with_kek(&path, fake.clone(), params()).unwrap();
        let before = std::fs::read(&path).unwrap();
        *fake.down.lock().unwrap() = true;
        assert!(keystore.rotate(&Tier::INTERNAL).is_err());
        assert!(keystore.rotate_kek().is_err());
        assert!(keystore.add_tier(&"restricted/x".parse().unwrap()).is_err());
        assert!(
            keystore
                .migrate_to_passphrase(&"pw".into(), KdfProfile::Test)
                .is_err()
        );
        assert_eq!(std::fs::read(&path).unwrap(), before);
        *fake.down.lock().unwrap() = false;
        assert_eq!(keystore.rotate(&Tier::INTERNAL).unwrap(), 2);
    }

    #[test]
    fn migration_round_trips_and_a_passphrase_cannot_open_a_provider_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ks");
        let mut keystore = Keystore::create(&path, &"pw".into(), KdfProfile::Test).unwrap();
        let before = keystore.key_versions();
        let fake = Fake::new();
        keystore.migrate_to_kek(fake.clone(), params()).unwrap();
        assert_eq!(keystore.provider_kind(), ProviderKind::OpenBao);
        assert_eq!(keystore.key_versions(), before);
        keystore
            .migrate_to_passphrase(&"pw2".into(), KdfProfile::Test)
            .unwrap();
        assert!(keystore.body.provider_keys.is_empty());
        drop(keystore);
        let keystore = Keystore::open(&path, &"pw2".into()).unwrap();
        assert_eq!(keystore.key_versions(), before);
        assert!(keystore.keyring(&all()).is_ok());
        drop(keystore);
        let e = Keystore::open_with_kek(&path, fake).unwrap_err();
        assert!(
            matches!(
                e,
                Error::KekProviderMismatch {
                    found: "passphrase",
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn params_of_another_kind_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = Keystore::create_with_kek(
            dir.path().join("ks"),
            Fake::new(),
            KekParams::new(ProviderKind::Pkcs11),
        )
        .unwrap_err();
        assert!(matches!(e, Error::InvalidParameter { .. }), "{e:?}");
        assert!(!dir.path().join("ks").exists());
    }

    #[test]
    fn split_keystores_and_provider_keystores_do_not_mix() {
        use crate::keystore::{NewShare, SplitPlan, SplitSpec};
        let dir = tempfile::tempdir().unwrap();
        let plan = |prefix: &str| {
            let shares = ["alice", "bob"]
                .into_iter()
                .map(|holder| NewShare {
                    holder: holder.into(),
                    passphrase: format!("{holder} pw").as_str().into(),
                    out: dir.path().join(format!("{prefix}{holder}.share")),
                })
                .collect();
            SplitPlan::new(SplitSpec::new(2, 2).unwrap(), shares, KdfProfile::Test).unwrap()
        };

        // A split keystore is not moved to a provider: its master key is
        // its custodians' shares. Nothing is written.
        let split_path = dir.path().join("split");
        let mut split = Keystore::create_split(&split_path, &plan("")).unwrap();
        let before = std::fs::read(&split_path).unwrap();
        let fake = Fake::new();
        let e = split.migrate_to_kek(fake.clone(), params()).unwrap_err();
        assert!(matches!(e, Error::KeystoreSplit { .. }), "{e:?}");
        let e = split
            .migrate_to_passphrase(&"pw".into(), KdfProfile::Test)
            .unwrap_err();
        assert!(matches!(e, Error::KeystoreSplit { .. }), "{e:?}");
        assert_eq!(std::fs::read(&split_path).unwrap(), before);
        assert_eq!(split.provider_kind(), ProviderKind::Passphrase);

        // A provider keystore has no master key to split; no share file is
        // written.
        let kek_path = dir.path().join("kek");
        let mut kek = Keystore::create_with_kek(&kek_path, fake, params()).unwrap();
        let before = std::fs::read(&kek_path).unwrap();
        let e = kek.split(&plan("kek-")).unwrap_err();
        assert!(matches!(e, Error::InvalidParameter { .. }), "{e:?}");
        assert!(!dir.path().join("kek-alice.share").exists());
        let e = kek
            .change_passphrase(&"pw".into(), KdfProfile::Test)
            .unwrap_err();
        assert!(matches!(e, Error::InvalidParameter { .. }), "{e:?}");
        assert_eq!(std::fs::read(&kek_path).unwrap(), before);
        // Nor does it open with shares.
        drop(kek);
        assert!(Keystore::open_with_shares(&kek_path, &[], std::time::Duration::ZERO).is_err());
    }

    /// The blind index of `value` in a test field of `tier`.
    fn index_of(keyring: &Keyring, tier: &Tier, value: &str) -> crate::BlindIndex {
        keyring
            .blind_index(
                crate::IndexField::new(tier, "Customer", "iban"),
                value.as_bytes(),
            )
            .unwrap()
    }

    #[test]
    fn index_keys_are_wrapped_under_their_own_slots_and_granted_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ks");
        let fake = Fake::new();
        let keystore = Keystore::create_with_kek(&path, fake.clone(), params()).unwrap();
        let wrapped = fake.wrapped.lock().unwrap().clone();
        for tier in ["internal", "confidential", "restricted"] {
            let count = |name: &str| wrapped.iter().filter(|n| *n == name).count();
            assert_eq!(count(&format!("fake-{tier}")), 1, "{wrapped:?}");
            assert_eq!(count(&format!("fake-index-{tier}")), 1, "{wrapped:?}");
        }
        // Nothing per-tier is under the metadata key: every index key
        // version is a provider wrap under its index slot.
        let record = keystore.body.index_keys.first().unwrap();
        assert_eq!(
            record.versions[0].wrapped,
            Some(WrappedTierKey::PROVIDER_HELD)
        );
        let custodian = keystore.keyring(&all()).unwrap();
        let expected = index_of(&custodian, &Tier::RESTRICTED, "DE89 3704");
        drop(keystore);

        // Index rights only: a search-only keyring.
        fake.denied
            .lock()
            .unwrap()
            .extend([Tier::INTERNAL, Tier::CONFIDENTIAL, Tier::RESTRICTED]);
        let search = service_keyring(&(&path).into(), fake.clone(), "support").unwrap();
        assert_eq!(search.keyring.tiers().len(), 0);
        assert!(search.keyring.can_search(&Tier::RESTRICTED));
        assert_eq!(
            index_of(&search.keyring, &Tier::RESTRICTED, "DE89 3704"),
            expected
        );
        assert_eq!(search.denied.len(), 3);
        assert!(search.denied_index.is_empty());

        // Tier rights without index rights: opens, cannot search.
        fake.denied.lock().unwrap().clear();
        fake.denied_index.lock().unwrap().push(Tier::RESTRICTED);
        let open = service_keyring(&(&path).into(), fake, "payments").unwrap();
        assert!(open.keyring.has_tier(&Tier::RESTRICTED));
        assert!(!open.keyring.can_search(&Tier::RESTRICTED));
        assert!(open.keyring.can_search(&Tier::INTERNAL));
        assert_eq!(open.denied_index, [Tier::RESTRICTED]);
        let e = open
            .keyring
            .blind_index(
                crate::IndexField::new(&Tier::RESTRICTED, "Customer", "iban"),
                b"DE89 3704",
            )
            .unwrap_err();
        assert!(matches!(e, Error::NoIndexKey { .. }), "{e:?}");
    }

    #[test]
    fn index_key_changes_keep_the_index_slots_consistent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ks");
        let fake = Fake::new();
        let mut keystore = Keystore::create_with_kek(&path, fake.clone(), params()).unwrap();
        let cards: Tier = "restricted/cards".parse().unwrap();
        fake.wrapped.lock().unwrap().clear();
        keystore.add_tier(&cards).unwrap();
        assert_eq!(
            *fake.wrapped.lock().unwrap(),
            ["fake-restricted-cards", "fake-index-restricted-cards"]
        );
        assert_eq!(keystore.rotate_index(&cards).unwrap(), 2);
        assert_eq!(keystore.body.provider_index_keys.len(), 5);
        keystore.retire_index(&cards, 1).unwrap();
        assert!(keystore.body.held_key(KeyRole::Index, &cards, 1).is_none());
        assert!(keystore.body.held_key(KeyRole::Index, &cards, 2).is_some());
        let with_cards = all().with(cards.clone());
        let before = keystore.keyring(&with_cards).unwrap();
        let rotated = keystore.rotate_kek().unwrap();
        assert!(
            rotated.contains(&"fake-index-restricted-cards".to_owned()),
            "{rotated:?}"
        );
        assert!(rotated.contains(&"fake-keystore".to_owned()), "{rotated:?}");
        drop(keystore);
        let keystore = Keystore::open_with_kek(&path, fake).unwrap();
        let after = keystore.keyring(&with_cards).unwrap();
        assert_eq!(
            index_of(&after, &cards, "4111"),
            index_of(&before, &cards, "4111")
        );
        assert_eq!(index_of(&after, &cards, "4111").version(), 2);
    }

    #[test]
    fn migration_moves_index_keys_to_their_slots_and_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ks");
        let mut keystore = Keystore::create(&path, &"pw".into(), KdfProfile::Test).unwrap();
        assert!(keystore.body.provider_index_keys.is_empty());
        let expected = index_of(&keystore.keyring(&all()).unwrap(), &Tier::INTERNAL, "x");
        let fake = Fake::new();
        keystore.migrate_to_kek(fake.clone(), params()).unwrap();
        assert_eq!(keystore.body.provider_index_keys.len(), 3);
        assert!(keystore.body.index_keys_in_slots());
        // Another provider (or the same one afresh) takes them over too.
        let other = Fake::new();
        keystore.migrate_to_kek(other.clone(), params()).unwrap();
        drop(keystore);
        assert!(Keystore::open_with_kek(&path, fake).is_err());
        other.denied.lock().unwrap().push(Tier::INTERNAL);
        let service = service_keyring(&(&path).into(), other.clone(), "svc").unwrap();
        assert_eq!(index_of(&service.keyring, &Tier::INTERNAL, "x"), expected);
        other.denied.lock().unwrap().clear();
        let mut keystore = Keystore::open_with_kek(&path, other).unwrap();
        keystore
            .migrate_to_passphrase(&"pw2".into(), KdfProfile::Test)
            .unwrap();
        assert!(keystore.body.provider_index_keys.is_empty());
        assert!(keystore.body.provider_keys.is_empty());
        drop(keystore);
        let keystore = Keystore::open(&path, &"pw2".into()).unwrap();
        let keyring = keystore.keyring(&all()).unwrap();
        assert_eq!(index_of(&keyring, &Tier::INTERNAL, "x"), expected);
    }

    #[test]
    fn a_version_4_provider_body_with_index_keys_under_the_metadata_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ks");
        let keystore = Keystore::create_with_kek(&path, Fake::new(), params()).unwrap();
        let mut body = keystore.body.clone();
        let meta = &keystore.root.cipher().clone();
        for record in &mut body.index_keys {
            for version in &mut record.versions {
                let material = KeyMaterial::generate().unwrap();
                version.check_value = material.check_value();
                version.wrapped = Some(
                    super::super::wrap_under(
                        meta,
                        &material,
                        &index_key_aad(&record.tier, version.version),
                    )
                    .unwrap(),
                );
            }
        }
        body.provider_index_keys.clear();
        // As version 3 wrote it, it is a valid body; as version 4, not.
        assert!(body.check().is_ok());
        let v4 = postcard::to_stdvec(&body).unwrap();
        assert!(decode_body(3, &v4[..v4.len() - 1]).is_ok());
        let e = decode_body(4, &v4).unwrap_err();
        assert!(e.contains("own provider keys"), "{e}");
        // Nor is such a body ever written.
        let e = keystore.image(&keystore.root, &body).err().unwrap();
        assert!(matches!(e, Error::InvalidParameter { .. }), "{e:?}");
    }

    /// The frozen provider keystore of `version`, copied to a temporary
    /// folder, with the fixed-key fake provider.
    fn open_fixture(version: u16) -> (tempfile::TempDir, std::path::PathBuf, Vec<u8>) {
        let frozen = std::fs::read(fixture_path(version)).unwrap();
        assert_eq!(frozen[4..6], version.to_be_bytes());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ks");
        std::fs::write(&path, &frozen).unwrap();
        (dir, path, frozen)
    }

    /// What both frozen provider keystores hold.
    fn assert_fixture_contents(keystore: &Keystore) {
        let iban: Tier = "restricted/iban".parse().unwrap();
        let index: Vec<(String, u32, bool)> = keystore
            .index_key_versions()
            .iter()
            .map(|i| (i.tier.to_string(), i.version, i.retired_at.is_some()))
            .collect();
        assert_eq!(
            index,
            [
                ("internal".to_owned(), 1, true),
                ("internal".to_owned(), 2, false),
                ("confidential".to_owned(), 1, false),
                ("restricted".to_owned(), 1, false),
                ("restricted/iban".to_owned(), 1, false),
                ("restricted/iban".to_owned(), 2, false),
            ]
        );
        assert_eq!(keystore.audit_checkpoint().unwrap().seq, 5);
        let grant = keystore.issued_grants().first().unwrap();
        assert!(grant.carries_index(&iban, 2) && !grant.carries(&iban, 1));
        let retired = keystore
            .key_versions()
            .iter()
            .any(|v| v.tier == Tier::INTERNAL && v.version == 1 && v.retired_at.is_some());
        assert!(retired);
    }

    #[test]
    fn a_frozen_version_3_provider_keystore_opens_and_moves_its_index_keys_on_the_next_save() {
        let (_dir, path, frozen) = open_fixture(3);
        let fake = fixture_provider();
        let keystore = Keystore::open_with_kek(&path, fake.clone()).unwrap();
        assert_fixture_contents(&keystore);
        // Version 3: the index keys are still under the metadata key.
        assert!(keystore.body.provider_index_keys.is_empty());
        assert_eq!(keystore.kek_index_key_name(&Tier::INTERNAL), None);
        let iban: Tier = "restricted/iban".parse().unwrap();
        let with_iban = all().with(iban.clone());
        let expected = index_of(&keystore.keyring(&with_iban).unwrap(), &iban, "DE89");
        drop(keystore);
        // Opening writes nothing.
        assert_eq!(std::fs::read(&path).unwrap(), frozen);
        // Its services get no index key: the metadata key every service
        // unwraps must not grant search.
        let service = service_keyring(&(&path).into(), fake.clone(), "svc").unwrap();
        assert_eq!(service.keyring.searchable_tiers().count(), 0);
        assert!(service.denied_index.is_empty());

        // The next save writes version 4 with the index keys in their slots.
        let mut keystore = Keystore::open_with_kek(&path, fake.clone()).unwrap();
        keystore.record_audit_checkpoint(6, [1; 32]).unwrap();
        assert!(keystore.body.index_keys_in_slots());
        assert_eq!(keystore.body.provider_index_keys.len(), 5);
        drop(keystore);
        let saved = std::fs::read(&path).unwrap();
        assert_eq!(saved[4..6], 4u16.to_be_bytes());
        fake.denied.lock().unwrap().push(iban.clone());
        let service = service_keyring(&(&path).into(), fake.clone(), "svc").unwrap();
        assert!(!service.keyring.has_tier(&iban));
        assert_eq!(index_of(&service.keyring, &iban, "DE89"), expected);
        fake.denied.lock().unwrap().clear();
        let keystore = Keystore::open_with_kek(&path, fake).unwrap();
        assert_eq!(
            index_of(&keystore.keyring(&with_iban).unwrap(), &iban, "DE89"),
            expected
        );
        assert_eq!(
            keystore.kek_index_key_name(&iban).as_deref(),
            Some("fake-index-restricted-iban")
        );
    }

    #[test]
    fn a_frozen_version_3_provider_keystore_upgrades_by_rotate_kek_and_by_migration() {
        let (_dir, path, _) = open_fixture(3);
        let fake = fixture_provider();
        let mut keystore = Keystore::open_with_kek(&path, fake.clone()).unwrap();
        let rotated = keystore.rotate_kek().unwrap();
        assert!(
            rotated.contains(&"fake-index-restricted-iban".to_owned()),
            "{rotated:?}"
        );
        assert!(keystore.body.index_keys_in_slots());
        drop(keystore);
        assert_fixture_contents(&Keystore::open_with_kek(&path, fake.clone()).unwrap());

        let (_dir, path, _) = open_fixture(3);
        let mut keystore = Keystore::open_with_kek(&path, fake.clone()).unwrap();
        keystore.migrate_to_kek(fake.clone(), params()).unwrap();
        drop(keystore);
        let keystore = Keystore::open_with_kek(&path, fake).unwrap();
        assert!(keystore.body.index_keys_in_slots());
        assert_fixture_contents(&keystore);
    }

    #[test]
    fn a_frozen_version_4_provider_keystore_opens_with_its_index_keys_in_their_slots() {
        if std::env::var_os("TIERSEAL_WRITE_VECTORS").is_some() {
            return;
        }
        let (_dir, path, frozen) = open_fixture(4);
        let fake = fixture_provider();
        let keystore = Keystore::open_with_kek(&path, fake.clone()).unwrap();
        assert_fixture_contents(&keystore);
        assert!(keystore.body.index_keys_in_slots());
        assert_eq!(keystore.body.provider_index_keys.len(), 5);
        drop(keystore);
        assert_eq!(std::fs::read(&path).unwrap(), frozen);
        fake.denied_index.lock().unwrap().push(Tier::INTERNAL);
        let service = service_keyring(&(&path).into(), fake, "svc").unwrap();
        assert_eq!(service.denied_index, [Tier::INTERNAL]);
        assert_eq!(service.keyring.searchable_tiers().count(), 3);
    }
}
