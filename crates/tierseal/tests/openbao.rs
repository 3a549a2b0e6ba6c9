//! The OpenBao / Vault Transit provider against a real OpenBao server.
//!
//! Run with `source .ci/services/openbao.sh && cargo test -p tierseal --test
//! openbao`: the script starts a dev server and exports
//! `TIERSEAL_TEST_BAO_ADDR` / `TIERSEAL_TEST_BAO_TOKEN` (never the
//! developer's own `BAO_*`). Without them each test prints a `skipped:` line
//! and passes, unless `TIERSEAL_REQUIRE_SERVICES=1`, when it fails.
//!
//! Every test uses its own key prefix, so tests share one server safely.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "test code"
)]

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::{Value, json};
use tierseal::kek::{
    KekProvider, KekSlot, KeyMaterial, ProviderKind, ServiceKeyring, TransitProvider,
};
use tierseal::openbao::{BaoClient, Method, RetryPolicy};
use tierseal::{
    AccessContext, Binding, Clearance, Error, KdfProfile, Keystore, Level, SealedValue, Tier,
};

const RUN: &str = "source .ci/services/openbao.sh && cargo test -p tierseal --test openbao";

use tierseal_testkit::OpenBao as Server;

fn server() -> Option<Server> {
    Server::from_env("OpenBao Transit provider tests", RUN)
}

fn client(addr: &str, token: &str) -> BaoClient {
    BaoClient::new(addr, SecretString::from(token.to_owned()))
        .unwrap()
        .with_retry(RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(100),
        })
}

/// A prefix no other test (or earlier run on the same server) uses.
fn unique_prefix() -> String {
    format!("t{}-", tierseal_testkit::unique_hex())
}

fn transit(server: &Server, prefix: &str) -> TransitProvider {
    TransitProvider::new(client(&server.addr, &server.token), "transit", prefix).unwrap()
}

fn create(path: &Path, provider: &TransitProvider) -> Keystore {
    Keystore::create_with_kek(path, Arc::new(provider.clone()), provider.params()).unwrap()
}

/// Asserts that neither the message nor the Debug form shows `token`.
fn assert_no_token(error: &Error, token: &str) {
    assert!(
        !error.to_string().contains(token),
        "token in message: {error}"
    );
    assert!(
        !format!("{error:?}").contains(token),
        "token in Debug: {error:?}"
    );
}

/// A token whose only policy grants what `service_policy` prints for
/// `tiers`.
fn service_token(server: &Server, prefix: &str, tiers: &[Tier]) -> String {
    let policy = tierseal::kek::transit::service_policy("transit", prefix, tiers);
    policy_token(server, &format!("{prefix}service"), &policy)
}

/// A token whose only policy is `policy` (HCL), stored under `name`.
fn policy_token(server: &Server, name: &str, policy: &str) -> String {
    let root = client(&server.addr, &server.token);
    root.call(
        Method::Post,
        &format!("sys/policies/acl/{name}"),
        "policy",
        Some(&json!({ "policy": policy })),
    )
    .unwrap();
    let created = root
        .call(
            Method::Post,
            "auth/token/create",
            "token",
            Some(&json!({ "policies": [name], "no_default_policy": true, "ttl": "10m" })),
        )
        .unwrap();
    created["auth"]["client_token"].as_str().unwrap().to_owned()
}

fn ctx() -> AccessContext {
    AccessContext::new("openbao-tests").with_purpose("TEST-11")
}

fn binding() -> Binding<'static> {
    Binding::new("Customer", "note").with_record_id("cus_1")
}

#[test]
fn a_service_token_allowed_only_internal_gets_an_internal_only_keyring() {
    let Some(server) = server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kms.keystore");
    let prefix = unique_prefix();
    let provider = transit(&server, &prefix);
    let keystore = create(&path, &provider);
    let all = keystore
        .keyring(&Clearance::up_to(Level::Restricted))
        .unwrap();
    let internal = SealedValue::seal(&all, &Tier::INTERNAL, binding(), "hello").unwrap();
    let restricted = SealedValue::seal(&all, &Tier::RESTRICTED, binding(), "secret").unwrap();
    drop(keystore);

    let token = service_token(&server, &prefix, &[Tier::INTERNAL]);
    let service = TransitProvider::new(client(&server.addr, &token), "transit", &prefix).unwrap();
    let handle = ServiceKeyring::build(
        &path,
        Arc::new(service),
        "billing",
        Duration::from_secs(600),
    )
    .unwrap();
    let keyring = handle.keyring().unwrap();
    let tiers: Vec<String> = keyring.tiers().map(|t| t.to_string()).collect();
    assert_eq!(tiers, ["internal"]);
    assert_eq!(
        handle.denied_tiers(),
        [Tier::CONFIDENTIAL, Tier::RESTRICTED]
    );
    assert_eq!(
        internal
            .open::<String>(&keyring, binding(), &ctx())
            .unwrap(),
        "hello"
    );
    assert!(matches!(
        restricted.open::<String>(&keyring, binding(), &ctx()),
        Err(Error::NotGranted { .. })
    ));

    // The same token cannot do what the policy does not say, even directly.
    let direct = TransitProvider::new(client(&server.addr, &token), "transit", &prefix).unwrap();
    let e = direct
        .wrap(&KekSlot::Tier(&Tier::INTERNAL), b"x", &tierseal_key())
        .unwrap_err();
    assert!(matches!(e, Error::KmsDenied { .. }), "{e:?}");
    assert!(e.to_string().contains(&format!("{prefix}internal")), "{e}");
    assert_no_token(&e, &token);
}

fn tierseal_key() -> KeyMaterial {
    KeyMaterial::generate().unwrap()
}

#[test]
fn revoking_the_service_token_makes_refresh_fail() {
    let Some(server) = server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kms.keystore");
    let prefix = unique_prefix();
    let keystore = create(&path, &transit(&server, &prefix));
    let all = keystore
        .keyring(&Clearance::up_to(Level::Restricted))
        .unwrap();
    let sealed = SealedValue::seal(&all, &Tier::INTERNAL, binding(), "hello").unwrap();
    drop(keystore);

    let token = service_token(&server, &prefix, &[Tier::INTERNAL]);
    let service = TransitProvider::new(client(&server.addr, &token), "transit", &prefix).unwrap();
    let handle =
        ServiceKeyring::build(&path, Arc::new(service), "billing", Duration::ZERO).unwrap();
    let before = handle.keyring().unwrap();

    client(&server.addr, &server.token)
        .call(
            Method::Post,
            "auth/token/revoke",
            "token",
            Some(&json!({ "token": token })),
        )
        .unwrap();

    let e = handle.refresh().unwrap_err();
    assert!(matches!(e, Error::KmsDenied { .. }), "{e:?}");
    assert!(e.to_string().contains(&server.addr), "{e}");
    assert_no_token(&e, &token);
    // The TTL has passed (it is zero): no keyring is handed out any more.
    assert!(handle.keyring().is_err());
    // A keyring already built keeps working for whoever holds it.
    assert_eq!(
        sealed.open::<String>(&before, binding(), &ctx()).unwrap(),
        "hello"
    );
}

#[test]
fn a_keyring_within_its_ttl_survives_a_revoked_token() {
    let Some(server) = server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kms.keystore");
    let prefix = unique_prefix();
    drop(create(&path, &transit(&server, &prefix)));
    let token = service_token(&server, &prefix, &[Tier::INTERNAL, Tier::CONFIDENTIAL]);
    let service = TransitProvider::new(client(&server.addr, &token), "transit", &prefix).unwrap();
    let handle = ServiceKeyring::build(
        &path,
        Arc::new(service),
        "payroll",
        Duration::from_secs(3600),
    )
    .unwrap();
    client(&server.addr, &server.token)
        .call(
            Method::Post,
            "auth/token/revoke",
            "token",
            Some(&json!({ "token": token })),
        )
        .unwrap();
    let keyring = handle.keyring().unwrap();
    assert!(keyring.has_tier(&Tier::CONFIDENTIAL));
    assert!(!keyring.has_tier(&Tier::RESTRICTED));
    assert!(matches!(handle.refresh(), Err(Error::KmsDenied { .. })));
}

#[test]
fn a_keystore_made_with_one_provider_cannot_be_opened_by_another() {
    let Some(server) = server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let kms_path = dir.path().join("kms.keystore");
    let prefix = unique_prefix();
    let provider = transit(&server, &prefix);
    drop(create(&kms_path, &provider));

    let e = Keystore::open(&kms_path, &"any passphrase".into()).unwrap_err();
    assert!(
        matches!(
            e,
            Error::KekProviderMismatch {
                expected: "passphrase",
                found: "openbao",
                ..
            }
        ),
        "{e:?}"
    );

    let pass_path = dir.path().join("pass.keystore");
    drop(Keystore::create(&pass_path, &"pw".into(), KdfProfile::Test).unwrap());
    let e = Keystore::open_with_kek(&pass_path, Arc::new(provider.clone())).unwrap_err();
    assert!(
        matches!(
            e,
            Error::KekProviderMismatch {
                expected: "openbao",
                found: "passphrase",
                ..
            }
        ),
        "{e:?}"
    );
    let e = ServiceKeyring::build(
        &pass_path,
        Arc::new(provider.clone()),
        "svc",
        Duration::ZERO,
    )
    .unwrap_err();
    assert!(matches!(e, Error::KekProviderMismatch { .. }), "{e:?}");

    let e = Keystore::open_with_kek(&kms_path, Arc::new(FakeHsm)).unwrap_err();
    assert!(
        matches!(
            e,
            Error::KekProviderMismatch {
                expected: "pkcs11",
                found: "openbao",
                ..
            }
        ),
        "{e:?}"
    );

    // The header names the provider and its parameters, never the server
    // address or token.
    let bytes = std::fs::read(&kms_path).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains(&prefix) && text.contains("transit"));
    assert!(!text.contains(&server.token) && !text.contains(&server.addr));
    let params = Keystore::kek_params_of(&kms_path).unwrap().unwrap();
    assert_eq!(params.kind(), ProviderKind::OpenBao);
    assert_eq!(params.get("prefix"), Some(prefix.as_str()));
}

/// A provider of another kind, to prove the kind check comes first.
#[derive(Debug)]
struct FakeHsm;

impl KekProvider for FakeHsm {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Pkcs11
    }
    fn key_name(&self, slot: &KekSlot<'_>) -> Option<String> {
        Some(slot.key_name("fake-"))
    }
    fn ensure_key(&self, _: &KekSlot<'_>) -> Result<(), Error> {
        unreachable!("the kind check must refuse first")
    }
    fn wrap(&self, _: &KekSlot<'_>, _: &[u8], _: &KeyMaterial) -> Result<Vec<u8>, Error> {
        unreachable!("the kind check must refuse first")
    }
    fn unwrap(&self, _: &KekSlot<'_>, _: &[u8], _: &[u8]) -> Result<KeyMaterial, Error> {
        unreachable!("the kind check must refuse first")
    }
    fn rotate_key(&self, _: &KekSlot<'_>) -> Result<(), Error> {
        unreachable!("the kind check must refuse first")
    }
}

#[test]
fn a_forged_or_relabelled_keystore_fails_to_load() {
    let Some(server) = server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kms.keystore");
    let prefix = unique_prefix();
    let provider = transit(&server, &prefix);
    drop(create(&path, &provider));
    let good = std::fs::read(&path).unwrap();

    let reseal = |mut bytes: Vec<u8>| {
        // Fix the trailing checksum so only authentication can catch it.
        use sha2::Digest;
        let n = bytes.len() - 32;
        let sum = sha2::Sha256::digest(&bytes[..n]);
        bytes[n..].copy_from_slice(&sum);
        bytes
    };
    // A body byte changed (the tier list, say).
    let mut forged = good.clone();
    let n = forged.len();
    forged[n - 32 - 28 - 5] ^= 1;
    std::fs::write(&path, reseal(forged)).unwrap();
    let e = Keystore::open_with_kek(&path, Arc::new(provider.clone())).unwrap_err();
    assert!(matches!(e, Error::KeystoreCorrupt { .. }), "{e:?}");

    // The version relabelled as 2 is refused too (the header is bound).
    let mut relabelled = good.clone();
    relabelled[4..6].copy_from_slice(&2u16.to_be_bytes());
    std::fs::write(&path, reseal(relabelled)).unwrap();
    assert!(Keystore::open_with_kek(&path, Arc::new(provider.clone())).is_err());

    std::fs::write(&path, &good).unwrap();
    Keystore::open_with_kek(&path, Arc::new(provider)).unwrap();
}

#[test]
fn rotating_the_kms_keys_rewraps_without_touching_data() {
    let Some(server) = server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kms.keystore");
    let prefix = unique_prefix();
    let provider = transit(&server, &prefix);
    let mut keystore = create(&path, &provider);
    let before_versions: Vec<_> = keystore.key_versions();
    let keyring = keystore
        .keyring(&Clearance::up_to(Level::Restricted))
        .unwrap();
    let sealed = SealedValue::seal(&keyring, &Tier::RESTRICTED, binding(), "pan").unwrap();
    let old_file = std::fs::read(&path).unwrap();
    assert!(String::from_utf8_lossy(&old_file).contains("vault:v1:"));

    let rotated = keystore.rotate_kek().unwrap();
    assert!(
        rotated.contains(&format!("{prefix}restricted")),
        "{rotated:?}"
    );
    assert!(
        rotated.contains(&format!("{prefix}keystore")),
        "{rotated:?}"
    );
    drop(keystore);

    let new_file = std::fs::read(&path).unwrap();
    let text = String::from_utf8_lossy(&new_file);
    assert!(
        text.contains("vault:v2:") && !text.contains("vault:v1:"),
        "not rewrapped"
    );
    let info = client(&server.addr, &server.token)
        .call(
            Method::Get,
            &format!("transit/keys/{prefix}restricted"),
            "key",
            None,
        )
        .unwrap();
    assert_eq!(info["data"]["latest_version"], Value::from(2));

    let keystore = Keystore::open_with_kek(&path, Arc::new(provider)).unwrap();
    assert_eq!(
        keystore.key_versions(),
        before_versions,
        "tier keys unchanged"
    );
    let keyring = keystore
        .keyring(&Clearance::up_to(Level::Restricted))
        .unwrap();
    assert_eq!(
        sealed.open::<String>(&keyring, binding(), &ctx()).unwrap(),
        "pan"
    );
}

#[test]
fn custodian_operations_work_on_a_kms_keystore_and_migration_is_reversible() {
    let Some(server) = server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ks");
    let mut keystore = Keystore::create(&path, &"pw".into(), KdfProfile::Test).unwrap();
    let cards: Tier = "restricted/cards".parse().unwrap();
    keystore.add_tier(&cards).unwrap();
    let keyring = keystore
        .keyring(&Clearance::up_to(Level::Restricted).with(cards.clone()))
        .unwrap();
    let sealed = SealedValue::seal(&keyring, &cards, binding(), "4111").unwrap();

    let prefix = unique_prefix();
    let provider = transit(&server, &prefix);
    keystore
        .migrate_to_kek(Arc::new(provider.clone()), provider.params())
        .unwrap();
    assert_eq!(keystore.provider_kind(), ProviderKind::OpenBao);
    assert_eq!(
        keystore.kek_key_name(&cards).as_deref(),
        Some(format!("{prefix}restricted-cards").as_str())
    );
    let v2 = keystore.rotate(&cards).unwrap();
    drop(keystore);

    assert!(matches!(
        Keystore::open(&path, &"pw".into()),
        Err(Error::KekProviderMismatch { .. })
    ));
    let mut keystore = Keystore::open_with_kek(&path, Arc::new(provider)).unwrap();
    let keyring = keystore
        .keyring(&Clearance::up_to(Level::Restricted).with(cards.clone()))
        .unwrap();
    assert_eq!(
        sealed.open::<String>(&keyring, binding(), &ctx()).unwrap(),
        "4111"
    );
    assert_eq!(keyring.tiers().count(), 4);
    keystore
        .migrate_to_passphrase(&"new pw".into(), KdfProfile::Test)
        .unwrap();
    drop(keystore);
    let keystore = Keystore::open(&path, &"new pw".into()).unwrap();
    assert_eq!(keystore.provider_kind(), ProviderKind::Passphrase);
    let keyring = keystore
        .keyring(&Clearance::up_to(Level::Restricted).with(cards.clone()))
        .unwrap();
    assert_eq!(
        sealed.open::<String>(&keyring, binding(), &ctx()).unwrap(),
        "4111"
    );
    assert!(
        keystore
            .key_versions()
            .iter()
            .any(|v| v.tier == cards && v.version == v2)
    );
}

/// A dev server of our own that the test can stop.
struct OwnServer {
    child: Child,
    addr: String,
    token: String,
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn own_server() -> Option<OwnServer> {
    let bin = std::env::var("TIERSEAL_TEST_BAO_BIN").unwrap_or_else(|_| "bao".to_owned());
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let token = format!("own-{}", unique_prefix());
    let child = Command::new(&bin)
        .args([
            "server",
            "-dev",
            &format!("-dev-root-token-id={token}"),
            &format!("-dev-listen-address=127.0.0.1:{port}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let server = OwnServer {
        child,
        addr: format!("http://127.0.0.1:{port}"),
        token,
    };
    let c = client(&server.addr, &server.token);
    for _ in 0..100 {
        if c.call(Method::Get, "sys/health", "health", None).is_ok() {
            c.call(
                Method::Post,
                "sys/mounts/transit",
                "mount",
                Some(&json!({"type": "transit"})),
            )
            .ok()?;
            return Some(server);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

#[test]
fn the_server_stopped_mid_run_gives_a_typed_error_and_leaves_the_keystore_unchanged() {
    let Some(_) = server() else { return };
    let Some(mut own) = own_server().or_else(|| {
        tierseal_testkit::absent(
            "stopping an OpenBao server (no `bao` binary)",
            "cannot start a dev server of its own: set TIERSEAL_TEST_BAO_BIN",
            RUN,
        )
    }) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kms.keystore");
    let provider =
        TransitProvider::new(client(&own.addr, &own.token), "transit", "tierseal-").unwrap();
    let mut keystore = create(&path, &provider);
    let keyring = keystore
        .keyring(&Clearance::up_to(Level::Restricted))
        .unwrap();
    let sealed = SealedValue::seal(&keyring, &Tier::CONFIDENTIAL, binding(), "salary").unwrap();
    let before = std::fs::read(&path).unwrap();

    own.child.kill().unwrap();
    own.child.wait().unwrap();

    let e = keystore.rotate(&Tier::CONFIDENTIAL).unwrap_err();
    assert!(matches!(e, Error::KmsUnavailable { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("openbao") && text.contains(&own.addr) && text.contains("tier confidential"),
        "{text}"
    );
    assert_no_token(&e, &own.token);
    let e = keystore.rotate_kek().unwrap_err();
    assert!(matches!(e, Error::KmsUnavailable { .. }), "{e:?}");
    let e = keystore
        .add_tier(&"restricted/x".parse().unwrap())
        .unwrap_err();
    assert!(matches!(e, Error::KmsUnavailable { .. }), "{e:?}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the keystore file changed"
    );
    drop(keystore);
    let e = Keystore::open_with_kek(&path, Arc::new(provider.clone())).unwrap_err();
    assert!(matches!(e, Error::KmsUnavailable { .. }), "{e:?}");
    let e = ServiceKeyring::build(&path, Arc::new(provider), "svc", Duration::ZERO).unwrap_err();
    assert!(matches!(e, Error::KmsUnavailable { .. }), "{e:?}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
    // The keyring built before the outage still works: no KMS per record.
    assert_eq!(
        sealed.open::<String>(&keyring, binding(), &ctx()).unwrap(),
        "salary"
    );
}

#[test]
fn a_service_keyring_from_the_environment_refuses_a_passphrase_keystore() {
    // Needs no server: the header is read before any variable.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pass.keystore");
    drop(Keystore::create(&path, &"pw".into(), KdfProfile::Test).unwrap());
    let e = ServiceKeyring::from_env(&path, "svc", Duration::ZERO).unwrap_err();
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

// Searching without opening: each tier's index keys under a Transit key
// of their own (`{prefix}index-{tier}`), granted apart from the tier's key.

/// The blind index of `value` in the test index field of `tier`.
fn index_of(keyring: &tierseal::Keyring, tier: &Tier, value: &str) -> tierseal::BlindIndex {
    keyring
        .blind_index(index_field(tier), value.as_bytes())
        .unwrap()
}

fn index_field(tier: &Tier) -> tierseal::IndexField<'_> {
    tierseal::IndexField::new(tier, "Customer", "card_number")
}

/// A service keyring of the keystore at `path` reached with `token`.
fn service_with(
    server: &Server,
    prefix: &str,
    token: &str,
    path: &Path,
    ttl: Duration,
) -> ServiceKeyring {
    let provider = TransitProvider::new(client(&server.addr, token), "transit", prefix).unwrap();
    ServiceKeyring::build(path, Arc::new(provider), "support-desk", ttl).unwrap()
}

/// A provider keystore under a prefix of its own, and its custodian's
/// keyring of every level.
struct KmsStore {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    prefix: String,
    custodian: tierseal::Keyring,
}

fn kms_store(server: &Server) -> KmsStore {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kms.keystore");
    let prefix = unique_prefix();
    let keystore = create(&path, &transit(server, &prefix));
    let custodian = keystore
        .keyring(&Clearance::up_to(Level::Restricted))
        .unwrap();
    KmsStore {
        _dir: dir,
        path,
        prefix,
        custodian,
    }
}

#[test]
fn a_policy_with_only_index_decrypt_gives_a_search_only_keyring() {
    let Some(server) = server() else { return };
    let store = kms_store(&server);
    let (path, prefix, custodian) = (&store.path, &store.prefix, &store.custodian);
    let expected = index_of(custodian, &Tier::RESTRICTED, "4111 1111 1111 1111");
    let sealed = SealedValue::seal(
        custodian,
        &Tier::RESTRICTED,
        binding(),
        "4111 1111 1111 1111",
    )
    .unwrap();

    let policy = tierseal::kek::transit::service_policy_with_search(
        "transit",
        prefix,
        [],
        [&Tier::RESTRICTED],
    );
    assert!(
        policy.contains(&format!("transit/decrypt/{prefix}index-restricted\"")),
        "{policy}"
    );
    assert!(
        !policy.contains(&format!("transit/decrypt/{prefix}restricted\"")),
        "{policy}"
    );
    let token = policy_token(&server, &format!("{prefix}support"), &policy);
    let handle = service_with(&server, prefix, &token, path, Duration::from_secs(600));
    let keyring = handle.keyring().unwrap();

    // It computes the custodian's index values, for that tier only...
    assert_eq!(keyring.tiers().count(), 0);
    assert!(keyring.can_search(&Tier::RESTRICTED));
    assert!(!keyring.can_search(&Tier::INTERNAL));
    assert_eq!(
        index_of(&keyring, &Tier::RESTRICTED, "4111 1111 1111 1111"),
        expected
    );
    assert_ne!(index_of(&keyring, &Tier::RESTRICTED, "4111"), expected);
    // ...and opens nothing: OpenBao refused every tier key.
    assert!(matches!(
        sealed.open::<String>(&keyring, binding(), &ctx()),
        Err(Error::NotGranted { .. })
    ));
    assert_eq!(
        handle.denied_tiers(),
        [Tier::INTERNAL, Tier::CONFIDENTIAL, Tier::RESTRICTED]
    );
    assert_eq!(
        handle.denied_index_tiers(),
        [Tier::INTERNAL, Tier::CONFIDENTIAL]
    );
}

#[test]
fn a_policy_with_tier_decrypt_but_not_index_decrypt_opens_and_cannot_search() {
    let Some(server) = server() else { return };
    let store = kms_store(&server);
    let (path, prefix, custodian) = (&store.path, &store.prefix, &store.custodian);
    let sealed = SealedValue::seal(custodian, &Tier::RESTRICTED, binding(), "pan").unwrap();

    // Written by hand: decrypt on the keystore key and the tier's key only.
    let policy = [format!("{prefix}keystore"), format!("{prefix}restricted")]
        .iter()
        .map(|key| {
            format!("path \"transit/decrypt/{key}\" {{\n  capabilities = [\"update\"]\n}}\n")
        })
        .collect::<String>();
    let token = policy_token(&server, &format!("{prefix}reader"), &policy);
    let handle = service_with(&server, prefix, &token, path, Duration::from_secs(600));
    let keyring = handle.keyring().unwrap();

    assert_eq!(
        sealed.open::<String>(&keyring, binding(), &ctx()).unwrap(),
        "pan"
    );
    assert!(!keyring.can_search(&Tier::RESTRICTED));
    let e = keyring
        .blind_index(index_field(&Tier::RESTRICTED), b"pan")
        .unwrap_err();
    assert!(matches!(e, Error::NoIndexKey { .. }), "{e:?}");
    assert_eq!(handle.denied_tiers(), [Tier::INTERNAL, Tier::CONFIDENTIAL]);
    assert_eq!(
        handle.denied_index_tiers(),
        [Tier::INTERNAL, Tier::CONFIDENTIAL, Tier::RESTRICTED]
    );
}

#[test]
fn a_rotated_index_key_reaches_a_service_at_its_ttl_refresh() {
    let Some(server) = server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kms.keystore");
    let prefix = unique_prefix();
    let provider = transit(&server, &prefix);
    drop(create(&path, &provider));
    let policy = tierseal::kek::transit::service_policy_with_search(
        "transit",
        &prefix,
        [],
        [&Tier::RESTRICTED],
    );
    let token = policy_token(&server, &format!("{prefix}support"), &policy);
    // One service within its TTL, one whose TTL has always passed.
    let long = service_with(&server, &prefix, &token, &path, Duration::from_secs(3600));
    let due = service_with(&server, &prefix, &token, &path, Duration::ZERO);
    assert_eq!(
        long.keyring().unwrap().index_version(&Tier::RESTRICTED),
        Some(1)
    );

    let mut keystore = Keystore::open_with_kek(&path, Arc::new(provider.clone())).unwrap();
    assert_eq!(keystore.rotate_index(&Tier::RESTRICTED).unwrap(), 2);
    let custodian = keystore
        .keyring(&Clearance::none().with(Tier::RESTRICTED))
        .unwrap();
    let v1 = custodian
        .blind_index_at(index_field(&Tier::RESTRICTED), 1, b"DE89")
        .unwrap();
    let v2 = index_of(&custodian, &Tier::RESTRICTED, "DE89");
    assert_eq!(v2.version(), 2);

    // Within its TTL a service keeps the keyring it built...
    let kept = long.keyring().unwrap();
    assert_eq!(kept.index_version(&Tier::RESTRICTED), Some(1));
    // ...and the rebuild at the TTL (or a refresh) brings the new version,
    // with the old one still matching stored values during the re-index.
    let fresh = due.keyring().unwrap();
    assert_eq!(index_of(&fresh, &Tier::RESTRICTED, "DE89"), v2);
    let candidates = fresh
        .blind_index_candidates(index_field(&Tier::RESTRICTED), b"DE89")
        .unwrap();
    assert_eq!(candidates, [v2, v1]);
    let refreshed = long.refresh().unwrap();
    assert_eq!(index_of(&refreshed, &Tier::RESTRICTED, "DE89"), v2);

    // Once v1 is retired, the next rebuild no longer holds it.
    keystore.retire_index(&Tier::RESTRICTED, 1).unwrap();
    let after = due.keyring().unwrap();
    assert!(matches!(
        after.blind_index_at(index_field(&Tier::RESTRICTED), 1, b"DE89"),
        Err(Error::UnknownKeyVersion { version: 1, .. })
    ));
    assert_eq!(index_of(&after, &Tier::RESTRICTED, "DE89"), v2);
}

#[test]
fn index_keys_move_to_their_own_transit_keys_and_rotate_with_them() {
    let Some(server) = server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ks");
    let mut keystore = Keystore::create(&path, &"pw".into(), KdfProfile::Test).unwrap();
    let cards: Tier = "restricted/cards".parse().unwrap();
    keystore.add_tier(&cards).unwrap();
    let clearance = Clearance::none().with(cards.clone());
    let expected = index_of(&keystore.keyring(&clearance).unwrap(), &cards, "4111");

    let prefix = unique_prefix();
    let provider = transit(&server, &prefix);
    keystore
        .migrate_to_kek(Arc::new(provider.clone()), provider.params())
        .unwrap();
    let index_key = format!("{prefix}index-restricted-cards");
    assert_eq!(
        keystore.kek_index_key_name(&cards).as_deref(),
        Some(index_key.as_str())
    );
    let root = client(&server.addr, &server.token);
    let latest = |name: &str| {
        root.call(Method::Get, &format!("transit/keys/{name}"), "key", None)
            .unwrap()["data"]["latest_version"]
            .clone()
    };
    assert_eq!(latest(&index_key), Value::from(1));
    let rotated = keystore.rotate_kek().unwrap();
    assert!(rotated.contains(&index_key), "{rotated:?}");
    assert_eq!(latest(&index_key), Value::from(2));
    drop(keystore);
    let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
    assert!(
        text.contains("vault:v2:") && !text.contains("vault:v1:"),
        "not rewrapped"
    );

    // A service allowed only that index key searches with the same values.
    let policy =
        tierseal::kek::transit::service_policy_with_search("transit", &prefix, [], [&cards]);
    let token = policy_token(&server, &format!("{prefix}search"), &policy);
    let search = service_with(&server, &prefix, &token, &path, Duration::ZERO);
    assert_eq!(
        index_of(&search.keyring().unwrap(), &cards, "4111"),
        expected
    );

    let mut keystore = Keystore::open_with_kek(&path, Arc::new(provider)).unwrap();
    assert_eq!(
        index_of(&keystore.keyring(&clearance).unwrap(), &cards, "4111"),
        expected
    );
    keystore
        .migrate_to_passphrase(&"pw2".into(), KdfProfile::Test)
        .unwrap();
    drop(keystore);
    let keystore = Keystore::open(&path, &"pw2".into()).unwrap();
    assert_eq!(
        index_of(&keystore.keyring(&clearance).unwrap(), &cards, "4111"),
        expected
    );
    assert_eq!(keystore.kek_index_key_name(&cards), None);
}
