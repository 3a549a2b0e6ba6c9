//! issue 11: keystores whose tier keys a key-encryption provider protects
//! (OpenBao / Vault Transit, PKCS#11).
//!
//! ```text
//! provider key {prefix}keystore --wraps--> metadata key
//!     metadata key --AES-GCM--> body tag, audit key
//! provider key {prefix}{tier}   --wraps--> each key version of that tier
//! ```
//! The metadata key is wrapped with the file header (magic, version,
//! provider, its parameters) as binding data, and authenticates the body as
//! the master key does in a passphrase keystore: a forged, downgraded or
//! re-labelled file fails to load. Tier keys are wrapped under their own
//! tier's provider key, so the provider's access control decides which
//! tiers a credential can unwrap.

use std::path::Path;
use std::sync::Arc;

use aes_gcm::Aes256Gcm;

use super::{
    AUDIT_KEY_AAD, FILE_VERSION, FileImage, Keystore, KeystoreLocation, PassphraseRoot, Root,
    RootImage, decode_body, for_each_root_wrapped_key, read_unlocked, tier_key_aad, unwrap_under,
    wrap_under,
};
use crate::crypto::{self, KeyMaterial};
use crate::kek::{KekParams, KekProvider, KekSlot, ProviderKind};
use crate::keyring::{TierKeys, VersionKey};
use crate::keystore::model::{Body, ProviderWrappedKey, WrappedTierKey};
use crate::keystore::{KdfProfile, Passphrase};
use crate::{Error, Keyring, Tier};

/// The metadata key of a provider keystore and its wrap.
pub(super) struct ProviderRoot {
    pub(super) provider: Arc<dyn KekProvider>,
    pub(super) params: KekParams,
    /// Wrapped with the provider header of [`FILE_VERSION`] as binding data.
    pub(super) wrapped_meta: Vec<u8>,
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
            provider.ensure_key(&KekSlot::Tier(&tier))?;
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
            meta: meta.cipher(),
        })
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

/// Every key of a keystore, unwrapped: what a provider migration moves.
struct Unwrapped {
    /// (tier, version, key) of every non-retired version.
    tier_keys: Vec<(Tier, u32, KeyMaterial)>,
    /// Every other key wrapped under the root's own key, in the order
    /// `for_each_root_wrapped_key` visits them.
    others: Vec<KeyMaterial>,
}

impl Keystore {
    fn unwrap_all(&self) -> Result<Unwrapped, Error> {
        let mut tier_keys = Vec::new();
        for record in &self.body.tiers {
            for version in &record.versions {
                if let Some(material) = self.unwrap_tier_key(record, version)? {
                    tier_keys.push((record.tier.clone(), version.version, material));
                }
            }
        }
        let mut others = Vec::new();
        let mut body = self.body.clone();
        for_each_root_wrapped_key(&mut body, |aad, wrapped| {
            others.push(self.unwrap_under_master(
                wrapped,
                aad,
                "a key does not authenticate under the root key",
            )?);
            Ok(())
        })?;
        Ok(Unwrapped { tier_keys, others })
    }

    /// Re-wraps every key under `root` into a copy of the body.
    fn body_under(&self, root: &Root, keys: &Unwrapped) -> Result<Body, Error> {
        let mut body = self.body.clone();
        body.provider_keys.clear();
        for (tier, version, material) in &keys.tier_keys {
            let aad = tier_key_aad(tier, *version);
            let wrapped = match root {
                Root::Passphrase(root) => wrap_under(&root.master, material, &aad)?,
                Root::Provider(root) => {
                    let wrapped = root.provider.wrap(&KekSlot::Tier(tier), &aad, material)?;
                    body.provider_keys.push(ProviderWrappedKey {
                        tier: tier.clone(),
                        version: *version,
                        wrapped,
                    });
                    WrappedTierKey::PROVIDER_HELD
                }
            };
            let entry = body
                .tier_mut(tier)
                .and_then(|record| record.versions.iter_mut().find(|v| v.version == *version))
                .ok_or(Error::InvalidParameter {
                    what: "keystore",
                    reason: "a key version vanished during migration",
                })?;
            entry.wrapped = Some(wrapped);
        }
        let mut others = keys.others.iter();
        for_each_root_wrapped_key(&mut body, |aad, wrapped| {
            let material = others.next().ok_or(Error::InvalidParameter {
                what: "keystore",
                reason: "a key appeared during migration",
            })?;
            *wrapped = wrap_under(root.cipher(), material, aad)?;
            Ok(())
        })?;
        Ok(body)
    }

    fn migrate(&mut self, root: Root) -> Result<(), Error> {
        self.refuse_split()?;
        let keys = self.unwrap_all()?;
        let body = self.body_under(&root, &keys)?;
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
    /// wrap every tier key version and a fresh metadata key, all in one
    /// atomic save. Data sealed under the tier keys is untouched: the tier
    /// keys themselves do not change.
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
        for tier in self.tiers() {
            provider.ensure_key(&KekSlot::Tier(tier))?;
        }
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
    /// object on PKCS#11) — every tier's key and the keystore key — and
    /// re-wraps each stored tier key version and the metadata key under
    /// the new provider key versions (Transit `rewrap`: the keys do not
    /// leave the server), then saves once. Sealed data is untouched.
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
        let mut rotated = Vec::new();
        let tiers: Vec<Tier> = self.tiers().cloned().collect();
        for tier in &tiers {
            let slot = KekSlot::Tier(tier);
            provider.rotate_key(&slot)?;
            rotated.extend(provider.key_name(&slot));
        }
        provider.rotate_key(&KekSlot::Keystore)?;
        rotated.extend(provider.key_name(&KekSlot::Keystore));

        let mut body = self.body.clone();
        for held in &mut body.provider_keys {
            let aad = tier_key_aad(&held.tier, held.version);
            held.wrapped = provider.rewrap(&KekSlot::Tier(&held.tier), &aad, &held.wrapped)?;
        }
        let header = FileImage::provider_header(FILE_VERSION, &root.params);
        let wrapped_meta = provider.rewrap(&KekSlot::Keystore, &header, &root.wrapped_meta)?;
        let new_root = Root::Provider(ProviderRoot {
            provider,
            params: root.params.clone(),
            wrapped_meta,
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
    /// The tiers the credential may not unwrap.
    pub(crate) denied: Vec<Tier>,
}

/// Builds a service's keyring from the provider keystore at `location`:
/// reads it without the lock (saves replace a file atomically; a KV secret
/// is read at its current version), authenticates
/// the metadata with the keystore key, and unwraps every non-retired
/// version of each tier the credential may unwrap. A tier whose key the
/// provider refuses ([`Error::KmsDenied`]) is left out; every other failure
/// is an error.
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
    let mut tiers = Vec::new();
    let mut denied = Vec::new();
    'tiers: for record in &body.tiers {
        let mut versions = Vec::new();
        let mut retired = Vec::new();
        for version in &record.versions {
            if version.wrapped.is_none() {
                retired.push(version.version);
                continue;
            }
            let held = body
                .provider_key(&record.tier, version.version)
                .ok_or(corrupt("a provider-wrapped tier key is missing"))?;
            let aad = tier_key_aad(&record.tier, version.version);
            match root
                .provider
                .unwrap(&KekSlot::Tier(&record.tier), &aad, &held.wrapped)
            {
                Ok(material) => {
                    if material.check_value() != version.check_value {
                        return Err(corrupt("a tier key does not match its check value"));
                    }
                    versions.push(VersionKey::new(version.version, material));
                }
                Err(Error::KmsDenied { .. }) => {
                    denied.push(record.tier.clone());
                    continue 'tiers;
                }
                Err(other) => return Err(other),
            }
        }
        tiers.push(TierKeys {
            tier: record.tier.clone(),
            primary: record.primary,
            versions,
            retired,
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
    let keyring = Keyring::from_tiers(tiers, principal.to_owned(), audit_key)?;
    Ok(ServiceLoad { keyring, denied })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::kek::PassphraseProvider;
    use crate::{Clearance, Level};

    /// An in-process provider of kind OpenBao: AES-GCM under one key, with
    /// tiers it can be told to deny and a switch that takes it "down".
    #[derive(Debug)]
    struct Fake {
        inner: PassphraseProvider,
        denied: Mutex<Vec<Tier>>,
        down: Mutex<bool>,
        calls: Mutex<usize>,
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
                down: Mutex::new(false),
                calls: Mutex::new(0),
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
            if let KekSlot::Tier(tier) = slot
                && self.denied.lock().unwrap().contains(tier)
            {
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
        assert!(keystore.body.check().is_ok());
        let check = keystore.key_versions();
        drop(keystore);

        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes[4..7], [0, 3, 2], "version 3, provider 2 (OpenBao)");
        let keystore = Keystore::open_with_kek(&path, fake.clone()).unwrap();
        assert_eq!(keystore.key_versions(), check);
        let keyring = keystore.keyring(&all()).unwrap();
        assert!(keyring.has_tier(&Tier::RESTRICTED));
        assert_eq!(keystore.kdf_params(), None);
        assert_eq!(
            keystore.kek_key_name(&Tier::INTERNAL).as_deref(),
            Some("fake-internal")
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
        // One call for the metadata key, one per tier tried: never per record.
        assert_eq!(*fake.calls.lock().unwrap(), 4);

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
}
