//! The PKCS#11 key-encryption provider against a real SoftHSM2 token.
//!
//! Run with:
//! ```text
//! source .ci/services/softhsm.sh
//! cargo test -p tierseal --features pkcs11 --test pkcs11
//! ```
//! Without the `pkcs11` feature this target only prints that it was not
//! run. With the feature but without a token (the `TIERSEAL_TEST_PKCS11_*`
//! variables) each test prints a `skipped:` line, or fails when
//! `TIERSEAL_REQUIRE_SERVICES=1`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a panic is a test failure"
)]

#[cfg(not(feature = "pkcs11"))]
#[test]
fn pkcs11_provider() {
    eprintln!(
        "skipped: PKCS#11 provider tests, built without the pkcs11 feature (run: source .ci/services/softhsm.sh && cargo test -p tierseal --features pkcs11 --test pkcs11)"
    );
}

#[cfg(feature = "pkcs11")]
mod hsm {
    use std::path::PathBuf;
    use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    use cryptoki::error::{Error as CkError, RvError};
    use cryptoki::mechanism::Mechanism;
    use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
    use cryptoki::session::{Session, UserType};
    use secrecy::SecretString;
    use tierseal::kek::pkcs11::{Pkcs11Config, Pkcs11Kek, WRAPPED_LEN};
    use tierseal::kek::{KekProvider, KekSlot, ProviderKind, ServiceKeyring};
    use tierseal::{Clearance, Error, IndexField, KeyMaterial, Keystore, Tier};

    /// A PIN that must never appear in any output.
    const WRONG_PIN: &str = "wrong-pin-7Qz9";

    /// PKCS#11 login state belongs to the process, not the session, and the
    /// tests' own inspecting sessions log in too: tests run one at a time
    /// and drop their providers (closing every session, which logs out)
    /// before the next, so each starts from a logged-out token.
    static SERIAL: Mutex<()> = Mutex::new(());

    struct Hsm {
        module: PathBuf,
        token: String,
        pin: String,
        _serial: MutexGuard<'static, ()>,
    }

    impl Hsm {
        fn pin(&self) -> SecretString {
            SecretString::from(self.pin.clone())
        }

        /// A configuration whose key objects no other test (or earlier run
        /// on the same token) uses.
        fn config(&self, test: &str) -> Pkcs11Config {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            Pkcs11Config::new(&self.module, &self.token)
                .with_key_prefix(format!("t{}-{nanos}-{test}-", std::process::id()))
        }

        fn open(&self, config: Pkcs11Config) -> Pkcs11Kek {
            Pkcs11Kek::open(config, &self.pin()).unwrap()
        }

        /// The test's own session on the token, to look at key objects
        /// from outside the provider.
        fn inspector(&self) -> Session {
            let ctx = Pkcs11::new(&self.module).unwrap();
            match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
                Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
                Err(e) => panic!("C_Initialize: {e}"),
            }
            let slot = ctx
                .get_slots_with_token()
                .unwrap()
                .into_iter()
                .find(|slot| ctx.get_token_info(*slot).unwrap().label().trim_end() == self.token)
                .unwrap();
            let session = ctx.open_rw_session(slot).unwrap();
            match session.login(UserType::User, Some(&self.pin())) {
                Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
                Err(e) => panic!("C_Login: {e}"),
            }
            session
        }
    }

    /// The token the service script set up, or `None` after printing why
    /// the test did not run (a failure when services are required).
    fn hsm(test: &str) -> Option<Hsm> {
        let serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
        let found = tierseal_testkit::Pkcs11Token::from_env(
            &format!("PKCS#11 test {test}, no SoftHSM2 token"),
            "source .ci/services/softhsm.sh && cargo test -p tierseal --features pkcs11 --test pkcs11",
        )?;
        Some(Hsm {
            module: found.module,
            token: found.token,
            pin: found.pin,
            _serial: serial,
        })
    }

    fn cards() -> Tier {
        "restricted/cards".parse().unwrap()
    }

    /// Every way the given text could show the PIN.
    fn assert_no_pin(hsm: &Hsm, text: &str) {
        assert!(!text.contains(&hsm.pin), "the PIN leaked: {text}");
        assert!(!text.contains(WRONG_PIN), "the PIN leaked: {text}");
    }

    #[test]
    fn wrap_and_unwrap_round_trip_under_token_keys() {
        let Some(hsm) = hsm("round trip") else { return };
        let config = hsm.config("rt");
        let prefix = config.key_prefix().to_owned();
        let kek = hsm.open(config);
        let tier = cards();
        let slot = KekSlot::Tier(&tier);

        assert_eq!(kek.kind(), ProviderKind::Pkcs11);
        assert_eq!(
            kek.key_name(&slot).unwrap(),
            format!("{prefix}restricted-cards")
        );
        assert_eq!(
            kek.key_name(&KekSlot::Keystore).unwrap(),
            format!("{prefix}keystore")
        );

        kek.ensure_key(&slot).unwrap();
        kek.ensure_key(&slot).unwrap();
        assert_eq!(
            kek.key_versions(&slot).unwrap(),
            vec![1],
            "ensure_key is idempotent"
        );
        kek.ensure_key(&KekSlot::Keystore).unwrap();

        let key = KeyMaterial::generate().unwrap();
        let aad = b"tierseal tier key restricted/cards v1";
        let wrapped = kek.wrap(&slot, aad, &key).unwrap();
        assert_eq!(wrapped.len(), WRAPPED_LEN);
        assert_eq!(
            &wrapped[..5],
            &[1, 0, 0, 0, 1],
            "format 1, key object version 1"
        );
        let again = kek.wrap(&slot, aad, &key).unwrap();
        assert_ne!(wrapped, again, "every wrap draws a fresh IV");

        let unwrapped = kek.unwrap(&slot, aad, &wrapped).unwrap();
        assert_eq!(unwrapped.check_value(), key.check_value());
        assert_eq!(
            kek.unwrap(&slot, aad, &again).unwrap().check_value(),
            key.check_value()
        );

        // The keystore slot has its own key: a tier's wrap does not open there.
        let meta = kek.wrap(&KekSlot::Keystore, b"meta", &key).unwrap();
        assert_eq!(
            kek.unwrap(&KekSlot::Keystore, b"meta", &meta)
                .unwrap()
                .check_value(),
            key.check_value()
        );
        let moved = kek.unwrap(&KekSlot::Keystore, aad, &wrapped).unwrap_err();
        assert!(
            matches!(moved, Error::Pkcs11UnwrapFailed { .. }),
            "{moved:?}"
        );

        // The provider is shareable across threads behind the seam.
        let shared: std::sync::Arc<dyn KekProvider> = std::sync::Arc::new(kek);
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let shared = shared.clone();
                let tier = tier.clone();
                let wrapped = wrapped.clone();
                std::thread::spawn(move || {
                    shared
                        .unwrap(&KekSlot::Tier(&tier), aad, &wrapped)
                        .unwrap()
                        .check_value()
                })
            })
            .collect();
        for handle in handles {
            assert_eq!(handle.join().unwrap(), key.check_value());
        }
    }

    #[test]
    fn a_different_aad_or_altered_bytes_fail_authentication() {
        let Some(hsm) = hsm("aad mismatch") else {
            return;
        };
        let kek = hsm.open(hsm.config("aad"));
        let tier = cards();
        let slot = KekSlot::Tier(&tier);
        kek.ensure_key(&slot).unwrap();
        let key = KeyMaterial::generate().unwrap();
        let wrapped = kek.wrap(&slot, b"restricted/cards v1", &key).unwrap();

        let error = kek
            .unwrap(&slot, b"restricted/cards v2", &wrapped)
            .unwrap_err();
        match &error {
            Error::Pkcs11UnwrapFailed {
                token, key, slot, ..
            } => {
                assert_eq!(token, &hsm.token);
                assert!(key.ends_with("restricted-cards"), "{key}");
                assert!(slot.contains("restricted/cards"), "{slot}");
            }
            other => panic!("expected Pkcs11UnwrapFailed, got {other:?}"),
        }
        assert_eq!(error.kind(), "pkcs11-unwrap-failed");
        assert!(
            error.to_string().contains("failed authentication"),
            "{error}"
        );

        for index in [5, 5 + 12, WRAPPED_LEN - 1] {
            let mut altered = wrapped.clone();
            altered[index] ^= 1;
            let error = kek
                .unwrap(&slot, b"restricted/cards v1", &altered)
                .unwrap_err();
            assert!(
                matches!(error, Error::Pkcs11UnwrapFailed { .. }),
                "{index}: {error:?}"
            );
        }
        let error = kek
            .unwrap(&slot, b"restricted/cards v1", &wrapped[..WRAPPED_LEN - 1])
            .unwrap_err();
        assert!(
            matches!(error, Error::Pkcs11UnwrapFailed { .. }),
            "{error:?}"
        );

        // A version byte pointing at a key object that does not exist.
        let mut other_version = wrapped.clone();
        other_version[4] = 9;
        let error = kek
            .unwrap(&slot, b"restricted/cards v1", &other_version)
            .unwrap_err();
        assert!(matches!(error, Error::Pkcs11KeyMissing { .. }), "{error:?}");

        // The right AAD still opens it.
        assert_eq!(
            kek.unwrap(&slot, b"restricted/cards v1", &wrapped)
                .unwrap()
                .check_value(),
            key.check_value()
        );
    }

    #[test]
    fn a_wrong_pin_is_a_typed_error_that_does_not_show_it() {
        let Some(hsm) = hsm("wrong PIN") else { return };
        let config = hsm.config("pin");
        let error = Pkcs11Kek::open(config, &SecretString::from(WRONG_PIN)).unwrap_err();
        match &error {
            Error::Pkcs11WrongPin { module, token, .. } => {
                assert_eq!(module, &hsm.module);
                assert_eq!(token, &hsm.token);
            }
            other => panic!("expected Pkcs11WrongPin, got {other:?}"),
        }
        assert_eq!(error.kind(), "pkcs11-wrong-pin");
        let display = error.to_string();
        assert!(display.contains(&hsm.token), "{display}");
        assert!(display.contains("PKCS#11"), "{display}");
        assert_no_pin(&hsm, &display);
        assert_no_pin(&hsm, &format!("{error:?}"));

        // The right PIN still works afterwards.
        let first = hsm.open(hsm.config("pin"));

        // While it is logged in (login state belongs to the process, so the
        // token answers "already logged in"), a wrong PIN is still refused
        // and a right one accepted.
        let error = Pkcs11Kek::open(hsm.config("pin"), &SecretString::from(WRONG_PIN)).unwrap_err();
        assert!(matches!(error, Error::Pkcs11WrongPin { .. }), "{error:?}");
        assert_no_pin(&hsm, &format!("{error} {error:?}"));
        let second = hsm.open(hsm.config("pin"));
        drop(first);
        // The second provider's session keeps the login alive.
        let tier = cards();
        second.ensure_key(&KekSlot::Tier(&tier)).unwrap();
        drop(second);
        let error = Pkcs11Kek::open(hsm.config("pin"), &SecretString::from(WRONG_PIN)).unwrap_err();
        assert!(matches!(error, Error::Pkcs11WrongPin { .. }), "{error:?}");
    }

    #[test]
    fn an_unknown_token_or_module_is_a_typed_error() {
        let Some(hsm) = hsm("token not found") else {
            return;
        };
        let error = Pkcs11Kek::open(Pkcs11Config::new(&hsm.module, "no-such-token"), &hsm.pin())
            .unwrap_err();
        match &error {
            Error::Pkcs11TokenNotFound { module, token } => {
                assert_eq!(module, &hsm.module);
                assert_eq!(token, "no-such-token");
            }
            other => panic!("expected Pkcs11TokenNotFound, got {other:?}"),
        }
        assert_no_pin(&hsm, &format!("{error} {error:?}"));

        let missing = PathBuf::from("/nonexistent/tierseal/libpkcs11.so");
        let error =
            Pkcs11Kek::open(Pkcs11Config::new(&missing, &hsm.token), &hsm.pin()).unwrap_err();
        match &error {
            Error::Pkcs11ModuleUnloadable { module, .. } => assert_eq!(module, &missing),
            other => panic!("expected Pkcs11ModuleUnloadable, got {other:?}"),
        }
        assert!(
            error
                .to_string()
                .contains("/nonexistent/tierseal/libpkcs11.so")
        );
        assert_no_pin(&hsm, &format!("{error} {error:?}"));

        // A file that is not a PKCS#11 module at all.
        let not_a_module = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(not_a_module.path(), b"not a shared library").unwrap();
        let error = Pkcs11Kek::open(
            Pkcs11Config::new(not_a_module.path(), &hsm.token),
            &hsm.pin(),
        )
        .unwrap_err();
        assert!(
            matches!(error, Error::Pkcs11ModuleUnloadable { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn a_missing_key_object_is_a_typed_error_naming_it() {
        let Some(hsm) = hsm("missing key") else {
            return;
        };
        let config = hsm.config("missing");
        let prefix = config.key_prefix().to_owned();
        let kek = hsm.open(config);
        let tier = cards();
        let slot = KekSlot::Tier(&tier);
        let key = KeyMaterial::generate().unwrap();

        // Never created.
        let error = kek.wrap(&slot, b"aad", &key).unwrap_err();
        match &error {
            Error::Pkcs11KeyMissing { token, key, slot } => {
                assert_eq!(token, &hsm.token);
                assert_eq!(key, &format!("{prefix}restricted-cards"));
                assert_eq!(slot, "tier restricted/cards");
            }
            other => panic!("expected Pkcs11KeyMissing, got {other:?}"),
        }
        assert!(matches!(
            kek.rotate_key(&slot).unwrap_err(),
            Error::Pkcs11KeyMissing { .. }
        ));

        // Deleted from the token after wrapping.
        kek.ensure_key(&slot).unwrap();
        let wrapped = kek.wrap(&slot, b"aad", &key).unwrap();
        let inspector = hsm.inspector();
        for handle in inspector
            .find_objects(&[Attribute::Label(
                format!("{prefix}restricted-cards").into_bytes(),
            )])
            .unwrap()
        {
            inspector.destroy_object(handle).unwrap();
        }
        let error = kek.unwrap(&slot, b"aad", &wrapped).unwrap_err();
        assert!(matches!(error, Error::Pkcs11KeyMissing { .. }), "{error:?}");
        assert_eq!(error.kind(), "pkcs11-key-missing");
        assert!(error.to_string().contains("restricted/cards"), "{error}");
        assert_no_pin(&hsm, &format!("{error} {error:?}"));
    }

    #[test]
    fn a_read_only_session_cannot_create_keys_but_still_unwraps() {
        let Some(hsm) = hsm("read-only token") else {
            return;
        };
        let config = hsm.config("ro");
        let tier = cards();
        let slot = KekSlot::Tier(&tier);
        let key = KeyMaterial::generate().unwrap();
        let wrapped = {
            let custodian = hsm.open(config.clone());
            custodian.ensure_key(&slot).unwrap();
            custodian.wrap(&slot, b"aad", &key).unwrap()
        };

        let service = hsm.open(config.read_only());
        assert!(service.is_read_only());
        // Using existing key objects needs no write access.
        service.ensure_key(&slot).unwrap();
        assert_eq!(
            service
                .unwrap(&slot, b"aad", &wrapped)
                .unwrap()
                .check_value(),
            key.check_value()
        );
        let rewrapped = service.wrap(&slot, b"aad", &key).unwrap();
        assert_eq!(
            service
                .unwrap(&slot, b"aad", &rewrapped)
                .unwrap()
                .check_value(),
            key.check_value()
        );

        // Creating one is refused by the token.
        let error = service.ensure_key(&KekSlot::Keystore).unwrap_err();
        match &error {
            Error::Pkcs11ReadOnly { token, key, slot } => {
                assert_eq!(token, &hsm.token);
                assert!(key.ends_with("keystore"), "{key}");
                assert_eq!(slot, "the keystore key");
            }
            other => panic!("expected Pkcs11ReadOnly, got {other:?}"),
        }
        assert_eq!(error.kind(), "pkcs11-read-only");
        let error = service.rotate_key(&slot).unwrap_err();
        assert!(matches!(error, Error::Pkcs11ReadOnly { .. }), "{error:?}");
        assert_no_pin(&hsm, &format!("{error} {error:?} {service:?}"));
        assert_eq!(service.key_versions(&slot).unwrap(), vec![1]);
    }

    #[test]
    fn key_objects_are_sensitive_and_never_extractable() {
        let Some(hsm) = hsm("non-extractable") else {
            return;
        };
        let config = hsm.config("attrs");
        let prefix = config.key_prefix().to_owned();
        let kek = hsm.open(config);
        let tier = cards();
        let slot = KekSlot::Tier(&tier);
        kek.ensure_key(&slot).unwrap();
        kek.rotate_key(&slot).unwrap();

        let inspector = hsm.inspector();
        for label in [
            format!("{prefix}restricted-cards"),
            format!("{prefix}restricted-cards#2"),
        ] {
            let handles = inspector
                .find_objects(&[Attribute::Label(label.clone().into_bytes())])
                .unwrap();
            assert_eq!(handles.len(), 1, "{label}");
            let attributes = inspector
                .get_attributes(
                    handles[0],
                    &[
                        AttributeType::Class,
                        AttributeType::KeyType,
                        AttributeType::ValueLen,
                        AttributeType::Token,
                        AttributeType::Private,
                        AttributeType::Sensitive,
                        AttributeType::AlwaysSensitive,
                        AttributeType::Extractable,
                        AttributeType::NeverExtractable,
                        AttributeType::Encrypt,
                        AttributeType::Decrypt,
                        AttributeType::Wrap,
                        AttributeType::Unwrap,
                        AttributeType::Sign,
                        AttributeType::Derive,
                        AttributeType::Value,
                    ],
                )
                .unwrap();
            let mut seen = 0;
            for attribute in &attributes {
                match attribute {
                    Attribute::Class(class) => assert_eq!(*class, ObjectClass::SECRET_KEY),
                    Attribute::KeyType(kind) => assert_eq!(*kind, KeyType::AES),
                    Attribute::ValueLen(len) => assert_eq!(usize::from(*len), 32),
                    Attribute::Token(v)
                    | Attribute::Private(v)
                    | Attribute::Sensitive(v)
                    | Attribute::AlwaysSensitive(v)
                    | Attribute::NeverExtractable(v)
                    | Attribute::Encrypt(v)
                    | Attribute::Decrypt(v) => assert!(*v, "{label}: {attribute:?}"),
                    Attribute::Extractable(v)
                    | Attribute::Wrap(v)
                    | Attribute::Unwrap(v)
                    | Attribute::Sign(v)
                    | Attribute::Derive(v) => assert!(!*v, "{label}: {attribute:?}"),
                    Attribute::Value(value) => {
                        assert!(value.is_empty(), "{label}: the key value was readable");
                    }
                    other => panic!("unexpected attribute {other:?}"),
                }
                seen += 1;
            }
            assert!(
                seen >= 15,
                "{label}: only {seen} attributes read: {attributes:?}"
            );
            assert!(
                !attributes
                    .iter()
                    .any(|a| matches!(a, Attribute::Value(v) if !v.is_empty())),
                "{label}: CKA_VALUE readable"
            );

            // Nor can the attributes be relaxed afterwards.
            let relaxed = inspector.update_attributes(handles[0], &[Attribute::Extractable(true)]);
            assert!(relaxed.is_err(), "{label}: CKA_EXTRACTABLE could be set");
        }
    }

    #[test]
    fn a_planted_extractable_key_under_our_label_is_refused() {
        let Some(hsm) = hsm("planted key") else {
            return;
        };
        let config = hsm.config("planted");
        let prefix = config.key_prefix().to_owned();
        let kek = hsm.open(config);
        let tier = cards();
        let slot = KekSlot::Tier(&tier);

        let inspector = hsm.inspector();
        let base = format!("{prefix}restricted-cards");
        inspector
            .generate_key(
                &Mechanism::AesKeyGen,
                &[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::AES),
                    Attribute::ValueLen(32u64.into()),
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Sensitive(false),
                    Attribute::Extractable(true),
                    Attribute::Encrypt(true),
                    Attribute::Decrypt(true),
                    Attribute::Label(base.clone().into_bytes()),
                    Attribute::Id(base.into_bytes()),
                ],
            )
            .unwrap();
        let error = kek
            .wrap(&slot, b"aad", &KeyMaterial::generate().unwrap())
            .unwrap_err();
        assert!(matches!(error, Error::Pkcs11KeyInvalid { .. }), "{error:?}");
        assert!(matches!(
            kek.ensure_key(&slot).unwrap_err(),
            Error::Pkcs11KeyInvalid { .. }
        ));
    }

    #[test]
    fn rotation_adds_a_key_object_and_old_wraps_still_open_until_rewrapped() {
        let Some(hsm) = hsm("rotation") else { return };
        let kek = hsm.open(hsm.config("rotate"));
        let tier = cards();
        let slot = KekSlot::Tier(&tier);
        kek.ensure_key(&slot).unwrap();
        let key = KeyMaterial::generate().unwrap();
        let old = kek.wrap(&slot, b"aad", &key).unwrap();

        kek.rotate_key(&slot).unwrap();
        assert_eq!(kek.key_versions(&slot).unwrap(), vec![1, 2]);
        let new = kek.wrap(&slot, b"aad", &key).unwrap();
        assert_eq!(&new[..5], &[1, 0, 0, 0, 2], "wraps use the new key object");
        assert_eq!(&old[..5], &[1, 0, 0, 0, 1]);

        // Keys wrapped before the rotation still open.
        assert_eq!(
            kek.unwrap(&slot, b"aad", &old).unwrap().check_value(),
            key.check_value()
        );
        // Rewrap moves them to the new key object.
        let moved = kek
            .wrap(&slot, b"aad", &kek.unwrap(&slot, b"aad", &old).unwrap())
            .unwrap();
        assert_eq!(&moved[..5], &[1, 0, 0, 0, 2]);

        // The current key object cannot be destroyed; an old one can, once
        // nothing needs it, and then its wraps no longer open.
        let error = kek.destroy_key_version(&slot, 2).unwrap_err();
        assert!(matches!(error, Error::Pkcs11KeyInvalid { .. }), "{error:?}");
        kek.destroy_key_version(&slot, 1).unwrap();
        assert_eq!(kek.key_versions(&slot).unwrap(), vec![2]);
        let error = kek.unwrap(&slot, b"aad", &old).unwrap_err();
        assert!(matches!(error, Error::Pkcs11KeyMissing { .. }), "{error:?}");
        assert_eq!(
            kek.unwrap(&slot, b"aad", &moved).unwrap().check_value(),
            key.check_value()
        );

        kek.rotate_key(&slot).unwrap();
        assert_eq!(kek.key_versions(&slot).unwrap(), vec![2, 3]);
        assert_eq!(
            kek.unwrap(&slot, b"aad", &new).unwrap().check_value(),
            key.check_value()
        );
    }

    #[test]
    fn a_keystore_wraps_index_keys_under_their_own_key_objects() {
        let Some(hsm) = hsm("index key objects") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hsm.keystore");
        let config = hsm.config("index");
        let prefix = config.key_prefix().to_owned();
        let params = config.params().unwrap();
        let kek = Arc::new(hsm.open(config));
        let mut keystore = Keystore::create_with_kek(&path, kek.clone(), params).unwrap();
        let slot = KekSlot::Index(&Tier::RESTRICTED);
        assert_eq!(kek.key_label(&slot), format!("{prefix}index-restricted"));
        assert_eq!(kek.key_versions(&slot).unwrap(), vec![1]);
        assert_eq!(
            keystore.kek_index_key_name(&Tier::RESTRICTED),
            Some(format!("{prefix}index-restricted"))
        );
        let clearance = Clearance::none().with(Tier::RESTRICTED);
        let restricted = Tier::RESTRICTED;
        let field = IndexField::new(&restricted, "Customer", "iban");
        let expected = keystore
            .keyring(&clearance)
            .unwrap()
            .blind_index(field, b"DE89")
            .unwrap();

        // A new key object for the index slot; the index key re-wrapped
        // under it, so the old object can go and the key still opens.
        let rotated = keystore.rotate_kek().unwrap();
        assert!(
            rotated.contains(&format!("{prefix}index-restricted")),
            "{rotated:?}"
        );
        assert_eq!(kek.key_versions(&slot).unwrap(), vec![1, 2]);
        kek.destroy_key_version(&slot, 1).unwrap();
        drop(keystore);
        let keystore = Keystore::open_with_kek(&path, kek.clone()).unwrap();
        let after = keystore.keyring(&clearance).unwrap();
        assert_eq!(after.blind_index(field, b"DE89").unwrap(), expected);
        drop(keystore);

        let service = ServiceKeyring::build(&path, kek, "svc", Duration::ZERO).unwrap();
        let keyring = service.keyring().unwrap();
        assert!(keyring.can_search(&Tier::RESTRICTED));
        assert_eq!(keyring.blind_index(field, b"DE89").unwrap(), expected);
        assert!(service.denied_index_tiers().is_empty());
    }

    #[test]
    fn processes_racing_to_create_a_key_end_with_one_object() {
        let Some(hsm) = hsm("racing creation") else {
            return;
        };
        let tier = cards();
        for round in 0..5 {
            let config = hsm.config(&format!("race{round}"));
            let prefix = config.key_prefix().to_owned();
            let keks: Vec<Pkcs11Kek> = (0..3).map(|_| hsm.open(config.clone())).collect();
            let barrier = std::sync::Barrier::new(keks.len());
            // Every thread reaches every barrier whatever its calls return
            // (a thread that panicked between two barriers would leave the
            // others waiting for ever); the results are checked after.
            let results: Vec<_> = std::thread::scope(|scope| {
                let threads: Vec<_> = keks
                    .iter()
                    .map(|kek| {
                        let (barrier, tier) = (&barrier, &tier);
                        scope.spawn(move || {
                            barrier.wait();
                            let created = kek.ensure_key(&KekSlot::Tier(tier));
                            barrier.wait();
                            (created, kek.rotate_key(&KekSlot::Tier(tier)))
                        })
                    })
                    .collect();
                threads.into_iter().map(|t| t.join().unwrap()).collect()
            });
            for (created, rotated) in results {
                created.unwrap_or_else(|e| panic!("round {round}: create: {e}"));
                rotated.unwrap_or_else(|e| panic!("round {round}: rotate: {e}"));
            }
            let inspector = hsm.inspector();
            for label in [
                format!("{prefix}restricted-cards"),
                format!("{prefix}restricted-cards#2"),
            ] {
                let objects = inspector
                    .find_objects(&[Attribute::Label(label.clone().into_bytes())])
                    .unwrap();
                assert_eq!(objects.len(), 1, "round {round}: {label}");
            }
            // Every provider wraps under the same current key.
            let key = KeyMaterial::generate().unwrap();
            let slot = KekSlot::Tier(&tier);
            let wrapped = keks[0].wrap(&slot, b"aad", &key).unwrap();
            for kek in &keks {
                assert_eq!(
                    kek.unwrap(&slot, b"aad", &wrapped).unwrap().check_value(),
                    key.check_value()
                );
            }
        }
    }

    #[test]
    fn nothing_the_provider_prints_contains_the_pin() {
        let Some(hsm) = hsm("redaction") else { return };
        let config = hsm.config("redact");
        // Before any session logs in: login state is per process.
        let wrong_pin =
            Pkcs11Kek::open(config.clone(), &SecretString::from(WRONG_PIN)).unwrap_err();
        let kek = hsm.open(config.clone());
        let tier = cards();
        let slot = KekSlot::Tier(&tier);

        let mut printed = vec![format!("{kek:?}"), format!("{config:?}")];
        printed.push(format!("{:?}", hsm.pin()));
        for error in [
            wrong_pin,
            kek.wrap(&slot, b"", &KeyMaterial::generate().unwrap())
                .unwrap_err(),
            kek.unwrap(&slot, b"", &[0u8; 10]).unwrap_err(),
            hsm.open(config.clone().read_only())
                .ensure_key(&slot)
                .unwrap_err(),
        ] {
            printed.push(error.to_string());
            printed.push(format!("{error:?}"));
        }
        for text in &printed {
            assert_no_pin(&hsm, text);
        }
        assert!(printed[0].contains(&hsm.token), "{}", printed[0]);
        assert!(printed.iter().skip(3).all(|text| text.contains(&hsm.token)));
    }
}
