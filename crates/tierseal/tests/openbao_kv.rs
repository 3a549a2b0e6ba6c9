//! The keystore in an OpenBao KV version 2 secret, against a real server.
//!
//! Needs `TIERSEAL_TEST_BAO_ADDR` and `TIERSEAL_TEST_BAO_TOKEN` (a token
//! that may read and write `secret/data/tierseal-test/*` on a KV v2 mount,
//! `secret` unless `TIERSEAL_TEST_BAO_KV_MOUNT` says otherwise). Without
//! them each test prints `skipped: ...` and passes, unless
//! `TIERSEAL_REQUIRE_SERVICES=1`.
//!
//! Run: `source .ci/services/openbao.sh && cargo test -p tierseal --test openbao_kv`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "test code"
)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::SecretString;
use serde_json::{Value, json};
use tierseal::kek::{ProviderKind, TransitProvider};
use tierseal::openbao::{BaoClient, Method, RetryPolicy};
use tierseal::{
    Clearance, Error, KdfProfile, KeyState, Keystore, KeystoreBackend, KvBackend, Level, Tier,
};

const PASSPHRASE: &str = "correct horse kv";

struct Server {
    address: String,
    token: String,
    mount: String,
}

impl Server {
    fn client(&self) -> BaoClient {
        self.client_at(&self.address)
    }

    fn client_at(&self, address: &str) -> BaoClient {
        BaoClient::new(address, SecretString::from(self.token.clone()))
            .unwrap()
            .with_retry(RetryPolicy {
                attempts: 3,
                base_delay: Duration::from_millis(10),
                max_delay: Duration::from_millis(50),
            })
    }

    /// A fresh secret path no other test uses.
    fn fresh_path(&self, name: &str) -> String {
        format!("tierseal-test/{name}-{}", tierseal_testkit::unique_hex())
    }

    fn backend(&self, path: &str) -> Box<dyn KeystoreBackend> {
        Box::new(KvBackend::new(self.client(), &self.mount, path))
    }

    /// The raw secret as the server holds it.
    fn raw(&self, path: &str) -> Value {
        self.client()
            .call(
                Method::Get,
                &format!("{}/data/{path}", self.mount),
                "test",
                None,
            )
            .unwrap()
    }

    fn kv_version(&self, path: &str) -> u64 {
        self.raw(path)["data"]["metadata"]["version"]
            .as_u64()
            .unwrap()
    }

    fn write_raw(&self, path: &str, data: Value) {
        self.client()
            .call(
                Method::Post,
                &format!("{}/data/{path}", self.mount),
                "test",
                Some(&json!({ "data": data })),
            )
            .unwrap();
    }
}

/// The test server, or `None` (after saying so) when none is configured.
fn server() -> Option<Server> {
    let bao = tierseal_testkit::OpenBao::from_env(
        "OpenBao KV keystore tests",
        "source .ci/services/openbao.sh && cargo test -p tierseal --test openbao_kv",
    )?;
    Some(Server {
        address: bao.addr,
        token: bao.token,
        mount: bao.kv_mount,
    })
}

fn create(server: &Server, path: &str) -> Keystore {
    Keystore::create_in(server.backend(path), &PASSPHRASE.into(), KdfProfile::Test).unwrap()
}

fn open(server: &Server, path: &str) -> Keystore {
    Keystore::open_in(server.backend(path), &PASSPHRASE.into()).unwrap()
}

fn versions(keystore: &Keystore, tier: &Tier) -> Vec<(u32, KeyState)> {
    keystore
        .key_versions()
        .into_iter()
        .filter(|v| &v.tier == tier)
        .map(|v| (v.version, v.state))
        .collect()
}

/// Neither the token nor anything but its redaction is in `text`.
fn assert_no_token(server: &Server, text: &str) {
    assert!(!text.contains(&server.token), "token leaked: {text}");
}

#[test]
fn create_open_and_rotate_in_kv() {
    let Some(server) = server() else { return };
    let path = server.fresh_path("basic");
    let mut keystore = create(&server, &path);
    assert_eq!(
        keystore.location().to_string(),
        format!("openbao://{}/{path}", server.mount)
    );
    let cards: Tier = "restricted/cards".parse().unwrap();
    keystore.add_tier(&cards).unwrap();
    assert_eq!(keystore.rotate(&Tier::RESTRICTED).unwrap(), 2);
    let written = server.kv_version(&path);
    let raw = server.raw(&path);
    assert_eq!(raw["data"]["data"]["format"], "tierseal-keystore");
    drop(keystore);

    let reopened = open(&server, &path);
    assert_eq!(
        versions(&reopened, &Tier::RESTRICTED),
        vec![(1, KeyState::DecryptOnly), (2, KeyState::Active)]
    );
    assert!(reopened.tiers().any(|t| t == &cards));
    let keyring = reopened
        .keyring(&Clearance::up_to(Level::Restricted))
        .unwrap();
    assert!(keyring.has_tier(&Tier::RESTRICTED));
    // Opening (and building a keyring) never writes.
    assert_eq!(server.kv_version(&path), written);
    // The wrong passphrase is refused as it is for a file.
    let err = Keystore::open_in(server.backend(&path), &"wrong".into()).unwrap_err();
    assert!(matches!(err, Error::WrongPassphrase { .. }), "{err:?}");
    assert_no_token(&server, &format!("{reopened:?}"));
}

#[test]
fn create_refuses_an_existing_secret() {
    let Some(server) = server() else { return };
    let path = server.fresh_path("exists");
    drop(create(&server, &path));
    let version = server.kv_version(&path);
    let before = server.raw(&path)["data"]["data"].clone();

    let err =
        Keystore::create_in(server.backend(&path), &"other".into(), KdfProfile::Test).unwrap_err();
    assert!(matches!(err, Error::KeystoreExists { .. }), "{err:?}");
    assert!(err.to_string().contains(&path), "{err}");
    assert_eq!(server.kv_version(&path), version);
    assert_eq!(server.raw(&path)["data"]["data"], before);

    // Any other secret at the path is not overwritten either.
    let other = server.fresh_path("not-a-keystore");
    server.write_raw(&other, json!({"password": "x"}));
    let err =
        Keystore::create_in(server.backend(&other), &"pw".into(), KdfProfile::Test).unwrap_err();
    assert!(matches!(err, Error::KeystoreExists { .. }), "{err:?}");
    assert_eq!(server.raw(&other)["data"]["data"]["password"], "x");
}

#[test]
fn two_custodians_rotating_different_tiers_at_once_both_land() {
    let Some(server) = server() else { return };
    let path = server.fresh_path("two-tiers");
    drop(create(&server, &path));
    const ROUNDS: u32 = 3;
    // Both handles read the same revision before either writes, so the
    // second writer's first save is refused and re-applied.
    let handles: Vec<Keystore> = (0..2).map(|_| open(&server, &path)).collect();
    let barrier = Arc::new(Barrier::new(2));
    let threads: Vec<_> = handles
        .into_iter()
        .zip([Tier::CONFIDENTIAL, Tier::RESTRICTED])
        .map(|(mut keystore, tier)| {
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                (0..ROUNDS)
                    .map(|_| keystore.rotate(&tier).unwrap())
                    .collect::<Vec<u32>>()
            })
        })
        .collect();
    for thread in threads {
        assert_eq!(thread.join().unwrap(), vec![2, 3, 4]);
    }
    let keystore = open(&server, &path);
    for tier in [Tier::CONFIDENTIAL, Tier::RESTRICTED] {
        assert_eq!(
            versions(&keystore, &tier),
            vec![
                (1, KeyState::DecryptOnly),
                (2, KeyState::DecryptOnly),
                (3, KeyState::DecryptOnly),
                (4, KeyState::Active),
            ],
            "{tier}"
        );
    }
    assert_eq!(
        versions(&keystore, &Tier::INTERNAL),
        vec![(1, KeyState::Active)]
    );
}

#[test]
fn the_same_tier_rotated_concurrently_loses_no_version() {
    let Some(server) = server() else { return };
    let path = server.fresh_path("same-tier");
    drop(create(&server, &path));
    const WRITERS: usize = 4;
    const ROUNDS: usize = 2;
    let handles: Vec<Keystore> = (0..WRITERS).map(|_| open(&server, &path)).collect();
    let barrier = Arc::new(Barrier::new(WRITERS));
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = handles
        .into_iter()
        .map(|mut keystore| {
            let barrier = Arc::clone(&barrier);
            let outcomes = Arc::clone(&outcomes);
            thread::spawn(move || {
                barrier.wait();
                for _ in 0..ROUNDS {
                    let outcome = keystore.rotate(&Tier::RESTRICTED);
                    outcomes.lock().unwrap().push(outcome);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let outcomes = std::mem::take(&mut *outcomes.lock().unwrap());
    let mut applied = Vec::new();
    for outcome in outcomes {
        match outcome {
            Ok(version) => applied.push(version),
            // Refused cleanly after bounded re-applications: allowed.
            Err(Error::KeystoreConflict { .. }) => {}
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    applied.sort_unstable();
    assert!(!applied.is_empty());
    // Every reported rotation is a distinct version, and every one of
    // them is in the keystore: none was lost.
    let expected: Vec<u32> = (2..).take(applied.len()).map(|v| v as u32).collect();
    assert_eq!(applied, expected);
    let keystore = open(&server, &path);
    let stored: Vec<u32> = versions(&keystore, &Tier::RESTRICTED)
        .into_iter()
        .map(|(v, _)| v)
        .collect();
    let mut all = vec![1];
    all.extend(&applied);
    assert_eq!(stored, all);
    assert_eq!(
        versions(&keystore, &Tier::RESTRICTED).last().unwrap().1,
        KeyState::Active
    );
}

#[test]
fn a_stale_handle_re_applies_its_change_on_the_fresh_keystore() {
    let Some(server) = server() else { return };
    let path = server.fresh_path("stale");
    drop(create(&server, &path));
    let mut first = open(&server, &path);
    let mut second = open(&server, &path);
    let cards: Tier = "restricted/cards".parse().unwrap();
    first.add_tier(&cards).unwrap();
    // `second` read before the tier was added: its add of the same tier is
    // checked again on the fresh keystore and refused.
    let err = second.add_tier(&cards).unwrap_err();
    assert!(matches!(err, Error::TierExists { .. }), "{err:?}");
    // And its rotation keeps the tier the other custodian added.
    assert_eq!(second.rotate(&Tier::INTERNAL).unwrap(), 2);
    let keystore = open(&server, &path);
    assert!(keystore.tiers().any(|t| t == &cards));
    assert_eq!(versions(&keystore, &Tier::INTERNAL).len(), 2);
}

#[test]
fn a_passphrase_changed_elsewhere_is_a_clear_conflict() {
    let Some(server) = server() else { return };
    let path = server.fresh_path("passphrase");
    drop(create(&server, &path));
    let mut stale = open(&server, &path);
    let mut other = open(&server, &path);
    other
        .change_passphrase(&"new passphrase".into(), KdfProfile::Test)
        .unwrap();
    let version = server.kv_version(&path);
    let err = stale.rotate(&Tier::RESTRICTED).unwrap_err();
    assert!(matches!(err, Error::KeystoreConflict { .. }), "{err:?}");
    assert!(err.to_string().contains("passphrase"), "{err}");
    assert_eq!(server.kv_version(&path), version);
    assert!(Keystore::open_in(server.backend(&path), &"new passphrase".into()).is_ok());
}

/// A Transit provider on the test server, with a key prefix of its own.
fn transit(server: &Server, name: &str) -> Arc<TransitProvider> {
    let prefix = server
        .fresh_path(name)
        .replace(['/', '_'], "-")
        .to_lowercase();
    Arc::new(TransitProvider::new(server.client(), "transit", &format!("{prefix}-")).unwrap())
}

#[test]
fn a_transit_keystore_in_kv_follows_another_custodians_kek_rotation_and_migration() {
    let Some(server) = server() else { return };
    let path = server.fresh_path("transit");
    let provider = transit(&server, "transit");
    let params = provider.params();
    let open_kek = || Keystore::open_with_kek_in(server.backend(&path), provider.clone()).unwrap();
    let mut keystore =
        Keystore::create_with_kek_in(server.backend(&path), provider.clone(), params).unwrap();
    assert_eq!(keystore.provider_kind(), ProviderKind::OpenBao);
    assert_eq!(keystore.kdf_params(), None);
    keystore.rotate(&Tier::RESTRICTED).unwrap();
    let checks = |keystore: &Keystore| -> Vec<String> {
        keystore
            .key_versions()
            .into_iter()
            .map(|v| v.check_value)
            .collect()
    };
    let before = checks(&keystore);
    drop(keystore);

    // The same keystore, twice: one custodian rotates the Transit keys,
    // the other (stale) one rotates a tier afterwards. The stale handle
    // re-reads the keystore, keeps the newer wrap of the metadata key and
    // lands its change on top.
    let mut first = open_kek();
    let mut stale = open_kek();
    first.rotate_kek().unwrap();
    assert_eq!(stale.rotate(&Tier::INTERNAL).unwrap(), 2);
    let reopened = open_kek();
    assert_eq!(versions(&reopened, &Tier::INTERNAL).len(), 2);
    assert_eq!(versions(&reopened, &Tier::RESTRICTED).len(), 2);
    // The tier keys themselves did not change, and every one unwraps.
    assert!(before.iter().all(|c| checks(&reopened).contains(c)));
    let keyring = reopened
        .keyring(&Clearance::up_to(Level::Restricted))
        .unwrap();
    assert!(keyring.has_tier(&Tier::RESTRICTED));
    drop(reopened);

    // A passphrase keystore cannot open it, and the header names OpenBao.
    let err = Keystore::open_in(server.backend(&path), &PASSPHRASE.into()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::KekProviderMismatch {
                found: "openbao",
                ..
            }
        ),
        "{err:?}"
    );

    // Another custodian moves it to a passphrase: the stale handle's next
    // change is a clear conflict, and nothing is written.
    let mut mover = open_kek();
    let mut stale = open_kek();
    mover
        .migrate_to_passphrase(&PASSPHRASE.into(), KdfProfile::Test)
        .unwrap();
    let version = server.kv_version(&path);
    let err = stale.rotate(&Tier::RESTRICTED).unwrap_err();
    assert!(matches!(err, Error::KeystoreConflict { .. }), "{err:?}");
    assert!(err.to_string().contains("root key"), "{err}");
    assert_eq!(server.kv_version(&path), version);
    let migrated = open(&server, &path);
    assert_eq!(migrated.provider_kind(), ProviderKind::Passphrase);
    assert_eq!(versions(&migrated, &Tier::INTERNAL).len(), 2);
    assert_no_token(&server, &format!("{migrated:?} {err}"));
}

#[test]
fn an_altered_secret_fails_to_load_as_corrupt() {
    let Some(server) = server() else { return };
    let path = server.fresh_path("forged");
    drop(create(&server, &path));
    let raw = server.raw(&path);
    let image = STANDARD
        .decode(raw["data"]["data"]["keystore"].as_str().unwrap())
        .unwrap();

    // One byte of the body flipped (and the checksum left as it was).
    let mut altered = image.clone();
    let middle = altered.len() / 2;
    altered[middle] ^= 0x01;
    let forgeries = [
        json!({"format": "tierseal-keystore", "keystore": STANDARD.encode(&altered)}),
        json!({"format": "tierseal-keystore", "keystore": "not base64 !!"}),
        json!({"format": "tierseal-keystore"}),
        json!({"keystore": STANDARD.encode(&image)}),
        json!({"format": "tierseal-keystore", "keystore": STANDARD.encode(&image[..image.len() - 1])}),
    ];
    for forged in forgeries {
        server.write_raw(&path, forged.clone());
        let err = Keystore::open_in(server.backend(&path), &PASSPHRASE.into()).unwrap_err();
        assert!(
            matches!(err, Error::KeystoreCorrupt { .. }),
            "{forged}: {err:?}"
        );
        assert!(err.to_string().contains(&path), "{err}");
    }
    // The genuine image still opens.
    server.write_raw(
        &path,
        json!({"format": "tierseal-keystore", "keystore": STANDARD.encode(&image)}),
    );
    assert!(Keystore::open_in(server.backend(&path), &PASSPHRASE.into()).is_ok());
}

#[test]
fn a_missing_secret_is_a_typed_error_naming_it() {
    let Some(server) = server() else { return };
    let path = server.fresh_path("missing");
    let err = Keystore::open_in(server.backend(&path), &PASSPHRASE.into()).unwrap_err();
    assert!(matches!(err, Error::KeystoreNotFound { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&path) && text.contains(&server.address),
        "{text}"
    );
    assert_no_token(&server, &text);
    assert_no_token(&server, &format!("{err:?}"));
    let backend = format!("{:?}", server.backend(&path));
    assert_no_token(&server, &backend);
    assert!(backend.contains(&server.address), "{backend}");
}

#[test]
fn a_token_without_access_is_denied_without_showing_it() {
    let Some(server) = server() else { return };
    let path = server.fresh_path("denied");
    drop(create(&server, &path));
    let bogus = "s.not-a-real-token-9c1f";
    let client = BaoClient::new(&server.address, SecretString::from(bogus.to_owned())).unwrap();
    let err = Keystore::open_in(
        Box::new(KvBackend::new(client, &server.mount, &path)),
        &PASSPHRASE.into(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::KmsDenied { .. }), "{err:?}");
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains(bogus), "{text}");
        assert_no_token(&server, &text);
    }
}

/// A TCP relay to the server that can be cut, as a server stopping would.
struct Relay {
    address: String,
    stop: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn to(target: &str) -> Relay {
        let target = target
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let open = Arc::new(Mutex::new(Vec::<TcpStream>::new()));
        let (flag, streams) = (Arc::clone(&stop), Arc::clone(&open));
        thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let Ok(upstream) = TcpStream::connect(&target) else {
                            continue;
                        };
                        let mut list = streams.lock().unwrap();
                        list.push(client.try_clone().unwrap());
                        list.push(upstream.try_clone().unwrap());
                        pipe(client.try_clone().unwrap(), upstream.try_clone().unwrap());
                        pipe(upstream, client);
                    }
                    Err(_) => thread::sleep(Duration::from_millis(2)),
                }
            }
            // The listener is dropped here: new connections are refused.
        });
        Relay {
            address,
            stop,
            open,
        }
    }

    /// Refuses new connections and cuts the open ones.
    fn cut(&self) {
        self.stop.store(true, Ordering::SeqCst);
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
        // Wait until the listener is gone.
        let target = self.address.trim_start_matches("http://").to_owned();
        while TcpStream::connect(&target).is_ok() {
            thread::sleep(Duration::from_millis(5));
        }
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

#[test]
fn the_server_gone_mid_run_is_a_typed_error_and_the_keystore_is_unchanged() {
    let Some(server) = server() else { return };
    let path = server.fresh_path("gone");
    drop(create(&server, &path));
    let relay = Relay::to(&server.address);
    let mut keystore = Keystore::open_in(
        Box::new(KvBackend::new(
            server.client_at(&relay.address),
            &server.mount,
            &path,
        )),
        &PASSPHRASE.into(),
    )
    .unwrap();
    assert_eq!(keystore.rotate(&Tier::RESTRICTED).unwrap(), 2);
    let stored = server.raw(&path)["data"].clone();

    relay.cut();
    let err = keystore.rotate(&Tier::RESTRICTED).unwrap_err();
    assert!(matches!(err, Error::KmsUnavailable { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&relay.address), "{text}");
    assert_no_token(&server, &text);
    assert_no_token(&server, &format!("{err:?}"));
    // Nothing changed, in memory or on the server.
    assert_eq!(
        versions(&keystore, &Tier::RESTRICTED),
        vec![(1, KeyState::DecryptOnly), (2, KeyState::Active)]
    );
    assert_eq!(server.raw(&path)["data"], stored);
    let reopened = open(&server, &path);
    assert_eq!(versions(&reopened, &Tier::RESTRICTED).len(), 2);
}
