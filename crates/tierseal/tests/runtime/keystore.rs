use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use sha2::Digest;
use tierseal::{Clearance, Error, KdfProfile, Keystore, Level, Tier};

use crate::common::{Fixture, PASSPHRASE, cards};

fn open(path: &Path) -> Result<Keystore, Error> {
    Keystore::open_with_lock_wait(path, &PASSPHRASE.into(), Duration::from_secs(5))
}

#[test]
fn wrong_passphrase_is_its_own_error_and_changes_nothing() {
    let fixture = Fixture::new();
    let path = fixture.path();
    drop(fixture.keystore);
    let before = std::fs::read(&path).unwrap();
    let err = Keystore::open(&path, &"not the passphrase".into()).unwrap_err();
    assert!(matches!(err, Error::WrongPassphrase { .. }), "{err:?}");
    assert!(err.to_string().contains("wrong passphrase"));
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert!(open(&path).is_ok());
    drop(fixture.dir);
}

#[test]
fn every_truncation_is_reported_as_corruption() {
    let fixture = Fixture::new();
    let path = fixture.path();
    drop(fixture.keystore);
    let good = std::fs::read(&path).unwrap();
    for len in 0..good.len() {
        std::fs::write(&path, &good[..len]).unwrap();
        let err = open(&path).unwrap_err();
        assert!(
            matches!(err, Error::KeystoreCorrupt { .. }),
            "len {len}: {err:?}"
        );
    }
    std::fs::write(&path, &good).unwrap();
    assert!(open(&path).is_ok());
    drop(fixture.dir);
}

#[test]
fn every_bit_flip_is_reported_and_never_opens() {
    let fixture = Fixture::new();
    let path = fixture.path();
    drop(fixture.keystore);
    let good = std::fs::read(&path).unwrap();
    for position in 0..good.len() {
        let mut bad = good.clone();
        bad[position] ^= 0x10;
        std::fs::write(&path, &bad).unwrap();
        let err = open(&path).unwrap_err();
        assert!(
            matches!(
                err,
                Error::KeystoreCorrupt { .. } | Error::UnsupportedKeystoreVersion { .. }
            ),
            "byte {position}: {err:?}"
        );
    }
    drop(fixture.dir);
}

#[test]
fn an_altered_body_with_a_fixed_checksum_is_caught_by_authentication() {
    let fixture = Fixture::new();
    let path = fixture.path();
    drop(fixture.keystore);
    let mut bytes = std::fs::read(&path).unwrap();
    // A byte inside the body (after the 95-byte header and 4-byte length).
    bytes[110] ^= 0x01;
    let end = bytes.len() - 32;
    let checksum = sha2::Sha256::digest(&bytes[..end]);
    bytes[end..].copy_from_slice(&checksum);
    std::fs::write(&path, &bytes).unwrap();
    let err = open(&path).unwrap_err();
    assert!(
        matches!(err, Error::KeystoreCorrupt { reason, .. } if reason.contains("authentication")),
        "{err:?}"
    );
    drop(fixture.dir);
}

#[test]
fn an_unknown_file_version_is_named() {
    let fixture = Fixture::new();
    let path = fixture.path();
    drop(fixture.keystore);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[4..6].copy_from_slice(&7u16.to_be_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let err = open(&path).unwrap_err();
    assert!(
        matches!(err, Error::UnsupportedKeystoreVersion { version: 7, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("newer tierseal"));
    drop(fixture.dir);
}

#[test]
fn not_a_keystore_and_missing_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "hello").unwrap();
    assert!(matches!(open(&path), Err(Error::KeystoreCorrupt { .. })));
    let missing = dir.path().join("missing.keystore");
    assert!(matches!(open(&missing), Err(Error::Io { .. })));
}

#[test]
fn create_never_overwrites() {
    let fixture = Fixture::new();
    let path = fixture.path();
    drop(fixture.keystore);
    let before = std::fs::read(&path).unwrap();
    let err = Keystore::create(&path, &"other".into(), KdfProfile::Test).unwrap_err();
    assert!(matches!(err, Error::KeystoreExists { .. }), "{err:?}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
    drop(fixture.dir);
}

#[test]
fn changing_the_passphrase_keeps_every_key() {
    let mut fixture = Fixture::new();
    let path = fixture.path();
    let before = fixture.everything();
    let binding = tierseal::Binding::new("T", "f");
    let sealed = tierseal::SealedValue::seal(&before, &cards(), binding, "secret").unwrap();
    fixture
        .keystore
        .change_passphrase(&"new passphrase".into(), KdfProfile::Test)
        .unwrap();
    drop(fixture.keystore);
    assert!(matches!(open(&path), Err(Error::WrongPassphrase { .. })));
    let reopened = Keystore::open(&path, &"new passphrase".into()).unwrap();
    let keyring = reopened.keyring(&Clearance::none().with(cards())).unwrap();
    assert_eq!(
        sealed
            .open::<String>(&keyring, binding, &crate::common::CTX)
            .unwrap(),
        "secret"
    );
    drop(fixture.dir);
}

#[test]
fn unknown_tiers_in_a_clearance_are_refused() {
    let fixture = Fixture::new();
    let unknown: Tier = "restricted/treasury".parse().unwrap();
    let err = fixture
        .keystore
        .keyring(&Clearance::up_to(Level::Internal).with(unknown))
        .unwrap_err();
    assert!(matches!(err, Error::UnknownTier { .. }), "{err:?}");
    let mut fixture = fixture;
    assert!(matches!(
        fixture.keystore.add_tier(&cards()),
        Err(Error::TierExists { .. })
    ));
}

// ---- Processes -------------------------------------------------------------

const CHILD_ENV: &str = "TIERSEAL_TEST_CHILD";

/// Spawns this test binary as a child running [`child_process_entry`].
fn spawn_child(mode: &str) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "keystore::child_process_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, mode)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// In a child process (`TIERSEAL_TEST_CHILD` set) this acts out the mode;
/// run directly it checks the same work in-process.
#[test]
fn child_process_entry() {
    match std::env::var(CHILD_ENV) {
        Ok(mode) => run_child(&mode),
        Err(_) => {
            let fixture = Fixture::new();
            let path = fixture.path();
            drop(fixture.keystore);
            run_child(&format!("rotate-n:{}:3", path.display()));
            let keystore = open(&path).unwrap();
            assert_eq!(
                versions_of(&keystore, &Tier::INTERNAL),
                (1..=4).collect::<Vec<_>>()
            );
            drop(fixture.dir);
        }
    }
}

fn run_child(mode: &str) {
    let mut parts = mode.splitn(3, ':');
    let action = parts.next().unwrap();
    let path = Path::new(parts.next().unwrap());
    match action {
        "try-open" => match Keystore::open_with_lock_wait(path, &PASSPHRASE.into(), Duration::ZERO)
        {
            Err(Error::KeystoreLocked { .. }) => std::process::exit(3),
            Ok(_) => std::process::exit(0),
            Err(_) => std::process::exit(4),
        },
        "rotate-n" => {
            let count: u32 = parts.next().unwrap().parse().unwrap();
            for _ in 0..count {
                // Reopen each time, so that two processes interleave.
                let mut keystore = Keystore::open(path, &PASSPHRASE.into()).unwrap();
                keystore.rotate(&Tier::INTERNAL).unwrap();
            }
        }
        "rotate-forever" => {
            let mut keystore = Keystore::open(path, &PASSPHRASE.into()).unwrap();
            loop {
                keystore.rotate(&Tier::INTERNAL).unwrap();
            }
        }
        other => panic!("unknown child mode {other}"),
    }
}

fn versions_of(keystore: &Keystore, tier: &Tier) -> Vec<u32> {
    keystore
        .key_versions()
        .into_iter()
        .filter(|info| info.tier == *tier)
        .map(|info| info.version)
        .collect()
}

#[test]
fn a_second_process_is_told_the_keystore_is_locked() {
    let fixture = Fixture::new();
    let path = fixture.path();
    // `fixture.keystore` holds the lock while the child tries.
    let child = spawn_child(&format!("try-open:{}", path.display()));
    let status = child.wait_with_output().unwrap().status;
    assert_eq!(status.code(), Some(3), "child should see KeystoreLocked");

    drop(fixture.keystore);
    let child = spawn_child(&format!("try-open:{}", path.display()));
    let status = child.wait_with_output().unwrap().status;
    assert_eq!(
        status.code(),
        Some(0),
        "child should open once the lock is free"
    );
    drop(fixture.dir);
}

#[test]
fn the_lock_also_holds_within_one_process() {
    let fixture = Fixture::new();
    let err = Keystore::open_with_lock_wait(fixture.path(), &PASSPHRASE.into(), Duration::ZERO)
        .unwrap_err();
    assert!(matches!(err, Error::KeystoreLocked { .. }), "{err:?}");
    assert!(err.to_string().contains("locked by another process"));
}

#[test]
fn two_processes_saving_at_once_lose_no_update() {
    let fixture = Fixture::new();
    let path = fixture.path();
    drop(fixture.keystore);
    let children: Vec<_> = (0..2)
        .map(|_| spawn_child(&format!("rotate-n:{}:10", path.display())))
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let keystore = open(&path).unwrap();
    assert_eq!(
        versions_of(&keystore, &Tier::INTERNAL),
        (1..=21).collect::<Vec<_>>()
    );
    assert!(
        keystore
            .keyring(&Clearance::up_to(Level::Restricted))
            .is_ok()
    );
    drop(fixture.dir);
}

#[test]
fn a_writer_killed_mid_save_leaves_an_openable_keystore() {
    let fixture = Fixture::new();
    let path = fixture.path();
    drop(fixture.keystore);
    let mut last_count = 1;
    for round in 0..8u64 {
        let mut child = spawn_child(&format!("rotate-forever:{}", path.display()));
        std::thread::sleep(Duration::from_millis(40 + round * 17));
        child.kill().unwrap();
        child.wait().unwrap();
        let keystore = open(&path).unwrap_or_else(|e| panic!("round {round}: {e}"));
        let versions = versions_of(&keystore, &Tier::INTERNAL);
        let count = versions.len();
        assert_eq!(
            versions,
            (1..=u32::try_from(count).unwrap()).collect::<Vec<_>>()
        );
        assert!(count >= last_count, "no saved rotation is lost");
        last_count = count;
        keystore
            .keyring(&Clearance::up_to(Level::Restricted))
            .unwrap();
    }
    assert!(
        last_count > 1,
        "the child made progress before being killed"
    );
    drop(fixture.dir);
}

// ---- Format versions -------------------------------------------------------

/// A keystore written by file format version 1 (test KDF profile,
/// passphrase [`V1_PASSPHRASE`]): restricted/cards at v2 with v1 retired,
/// confidential/payroll at v2 with v1 decrypt-only.
const V1_KEYSTORE: &[u8] = include_bytes!("../../testdata/keystore-v1.tsks");
const V1_PASSPHRASE: &str = "tierseal v1 fixture";

/// The fixture's key versions as `tier version state check`.
const V1_VERSIONS: [&str; 7] = [
    "internal 1 Active c70a21",
    "confidential 1 Active 3658d4",
    "confidential/payroll 1 DecryptOnly c5ff5e",
    "confidential/payroll 2 Active 862224",
    "restricted 1 Active 29f791",
    "restricted/cards 1 Retired 5c45ab",
    "restricted/cards 2 Active 43d8a8",
];

fn version_lines(keystore: &Keystore) -> Vec<String> {
    keystore
        .key_versions()
        .iter()
        .map(|v| format!("{} {} {:?} {}", v.tier, v.version, v.state, v.check_value))
        .collect()
}

#[test]
fn a_version_1_keystore_opens_and_is_saved_as_the_current_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.keystore");
    std::fs::write(&path, V1_KEYSTORE).unwrap();
    assert_eq!(V1_KEYSTORE[4..6], 1u16.to_be_bytes());

    let mut keystore = Keystore::open(&path, &V1_PASSPHRASE.into()).unwrap();
    assert_eq!(version_lines(&keystore), V1_VERSIONS);
    assert!(keystore.issued_grants().is_empty());
    assert_eq!(keystore.audit_checkpoint(), None);
    // Opening writes nothing.
    assert_eq!(std::fs::read(&path).unwrap(), V1_KEYSTORE);

    keystore.record_audit_checkpoint(3, [7; 32]).unwrap();
    drop(keystore);
    let saved = std::fs::read(&path).unwrap();
    assert_eq!(saved[4..6], CURRENT_KEYSTORE_VERSION.to_be_bytes());

    let mut keystore = Keystore::open(&path, &V1_PASSPHRASE.into()).unwrap();
    assert_eq!(version_lines(&keystore), V1_VERSIONS);
    let checkpoint = keystore.audit_checkpoint().unwrap();
    assert_eq!((checkpoint.seq, checkpoint.mac), (3, [7; 32]));
    // Made before blind indexes: no index key until one is rotated in.
    assert!(keystore.index_key_versions().is_empty());
    let cards: tierseal::Tier = "restricted/cards".parse().unwrap();
    assert!(matches!(
        keystore.search_keyring(&tierseal::Clearance::none().with(cards.clone())),
        Err(Error::NoIndexKey { .. })
    ));
    assert_eq!(keystore.rotate_index(&cards).unwrap(), 1);
    drop(keystore);
    let keystore = Keystore::open(&path, &V1_PASSPHRASE.into()).unwrap();
    assert_eq!(version_lines(&keystore), V1_VERSIONS);
    let search = keystore
        .search_keyring(&tierseal::Clearance::none().with(cards.clone()))
        .unwrap();
    assert!(search.can_search(&cards) && !search.has_tier(&cards));
}

#[test]
fn a_version_1_keystore_with_a_wrong_passphrase_or_damage_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.keystore");
    std::fs::write(&path, V1_KEYSTORE).unwrap();
    assert!(matches!(
        Keystore::open(&path, &"not the passphrase".into()),
        Err(Error::WrongPassphrase { .. })
    ));
    // Relabelling a version 1 file as version 2 breaks the master key's
    // binding to its header: it never opens as the other version.
    let mut relabelled = V1_KEYSTORE.to_vec();
    relabelled[4..6].copy_from_slice(&2u16.to_be_bytes());
    let end = relabelled.len() - 32;
    let checksum = sha2::Sha256::digest(&relabelled[..end]);
    relabelled[end..].copy_from_slice(&checksum);
    std::fs::write(&path, &relabelled).unwrap();
    assert!(matches!(
        Keystore::open(&path, &V1_PASSPHRASE.into()),
        Err(Error::WrongPassphrase { .. })
    ));
}

#[test]
fn the_audit_checkpoint_survives_reopening_and_never_moves_back() {
    let mut fixture = Fixture::new();
    let path = fixture.path();
    assert_eq!(fixture.keystore.audit_checkpoint(), None);
    fixture
        .keystore
        .record_audit_checkpoint(5, [1; 32])
        .unwrap();
    // The same head again is fine; an older one or another MAC is not.
    fixture
        .keystore
        .record_audit_checkpoint(5, [1; 32])
        .unwrap();
    for (seq, mac) in [(4, [1; 32]), (5, [2; 32]), (0, [0; 32])] {
        let err = fixture
            .keystore
            .record_audit_checkpoint(seq, mac)
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::AuditCheckpointRegressed {
                    recorded: 5,
                    offered
                } if offered == seq
            ),
            "{err:?}"
        );
    }
    fixture
        .keystore
        .record_audit_checkpoint(9, [3; 32])
        .unwrap();
    drop(fixture.keystore);
    let checkpoint = open(&path).unwrap().audit_checkpoint().unwrap();
    assert_eq!((checkpoint.seq, checkpoint.mac), (9, [3; 32]));
    assert!(checkpoint.recorded_at > 1_700_000_000);
    drop(fixture.dir);
}

#[test]
fn a_lock_wait_longer_than_the_clock_waits_without_end() {
    let fixture = Fixture::new();
    let path = fixture.path();
    drop(fixture.keystore);
    for wait in [Duration::MAX, Duration::from_secs(u64::MAX)] {
        drop(Keystore::open_with_lock_wait(&path, &PASSPHRASE.into(), wait).unwrap());
    }
    // Held by another open: the longest wait still ends when it is released.
    let holder = open(&path).unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        drop(holder);
    });
    drop(Keystore::open_with_lock_wait(&path, &PASSPHRASE.into(), Duration::MAX).unwrap());
    release.join().unwrap();
}

/// The keystore file version this build writes.
const CURRENT_KEYSTORE_VERSION: u16 = 4;

const V3_PASSPHRASE: &str = "tierseal v3 fixture";
const V3_KEYSTORE_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/keystore-v3.tsks");
const V3_GRANT_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/grant-v3.tsgr");
const V3_SECRET_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/grant-v3.secret");
const V4_PASSPHRASE: &str = "tierseal v4 fixture";
const V4_KEYSTORE_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/keystore-v4.tsks");

/// Writes the frozen keystore of the current file version (run with
/// `TIERSEAL_WRITE_VECTORS=1` only when the version changes, never over
/// an older version's file): every body field a passphrase keystore can
/// hold holds something, so a layout change cannot pass. The version 3
/// file and its grant were written the same way by the version 3 build.
fn write_v4_fixture() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v4.keystore");
    let mut keystore = Keystore::create(&path, &V4_PASSPHRASE.into(), KdfProfile::Test).unwrap();
    fill_fixture(&mut keystore);
    drop(keystore);
    std::fs::copy(&path, V4_KEYSTORE_PATH).unwrap();
}

/// What the frozen keystores hold: an X-Wing tier, two index key
/// versions, the publisher and approver keys, a checkpoint and a grant
/// that outlives the fixture (opens internal, searches iban, needs an
/// approval for restricted). Returns that grant and its secret.
fn fill_fixture(keystore: &mut Keystore) -> (Vec<u8>, tierseal::GrantSecret) {
    let iban: Tier = "restricted/iban".parse().unwrap();
    keystore
        .add_tier_with_suite(&iban, tierseal::HpkeSuite::XWing)
        .unwrap();
    keystore.rotate(&Tier::RESTRICTED).unwrap();
    keystore.rotate_index(&iban).unwrap();
    keystore.publish_public_keys().unwrap();
    keystore.record_audit_checkpoint(5, [9; 32]).unwrap();
    let expires = std::time::UNIX_EPOCH + Duration::from_secs(4_102_444_800); // 2100-01-01
    keystore
        .issue_grant_scoped(
            &Clearance::none()
                .with(Tier::INTERNAL)
                .with(Tier::RESTRICTED),
            &Clearance::none().with(iban),
            "fixture-svc",
            expires,
            &[Tier::RESTRICTED],
        )
        .unwrap()
}

/// Checks what [`fill_fixture`] put in a frozen keystore.
fn assert_fixture_fields(keystore: &Keystore) {
    let iban: Tier = "restricted/iban".parse().unwrap();
    assert!(
        keystore
            .key_versions()
            .iter()
            .any(|v| v.tier == Tier::RESTRICTED
                && v.version == 2
                && v.state == tierseal::KeyState::Active)
    );
    assert_eq!(keystore.hpke_suite(&iban), tierseal::HpkeSuite::XWing);
    let iban_index: Vec<u32> = keystore
        .index_key_versions()
        .iter()
        .filter(|info| info.tier == iban)
        .map(|info| info.version)
        .collect();
    assert_eq!(iban_index, [1, 2]);
    assert!(keystore.approver_key().unwrap().is_some());
    assert!(keystore.publisher_key().unwrap().is_some());
    assert_eq!(keystore.audit_checkpoint().unwrap().seq, 5);
    let grants = keystore.issued_grants();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].principal, "fixture-svc");
    assert!(grants[0].index.iter().any(|t| t.tier == iban));
    let search = keystore
        .search_keyring(&Clearance::none().with(iban.clone()))
        .unwrap();
    assert!(search.can_search(&iban) && !search.has_tier(&iban));
}

/// Copies the frozen keystore at `frozen_path` of file `version` to a
/// temporary folder, opens it with `passphrase`, checks every field, and
/// checks that opening wrote nothing.
fn open_frozen(frozen_path: &str, version: u16, passphrase: &str) {
    let frozen = std::fs::read(frozen_path).unwrap();
    assert_eq!(frozen[4..6], version.to_be_bytes());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("frozen.keystore");
    std::fs::write(&path, &frozen).unwrap();
    let keystore = Keystore::open(&path, &passphrase.into()).unwrap();
    assert_fixture_fields(&keystore);
    drop(keystore);
    assert_eq!(std::fs::read(&path).unwrap(), frozen);
}

#[test]
fn a_frozen_version_3_keystore_and_grant_open_with_every_field() {
    open_frozen(V3_KEYSTORE_PATH, 3, V3_PASSPHRASE);
    let iban: Tier = "restricted/iban".parse().unwrap();
    let grant = std::fs::read(V3_GRANT_PATH).unwrap();
    assert_eq!(grant[4], 3);
    let secret: tierseal::GrantSecret = std::fs::read_to_string(V3_SECRET_PATH)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let service = tierseal::Keyring::from_grant(&grant, &secret).unwrap();
    assert!(service.has_tier(&Tier::INTERNAL) && service.has_tier(&Tier::RESTRICTED));
    assert!(service.can_search(&iban) && !service.has_tier(&iban));
    assert!(service.approval_requirement(&Tier::RESTRICTED).is_some());
}

#[test]
fn a_frozen_version_4_keystore_opens_with_every_field() {
    if std::env::var_os("TIERSEAL_WRITE_VECTORS").is_some() {
        write_v4_fixture();
    }
    open_frozen(V4_KEYSTORE_PATH, CURRENT_KEYSTORE_VERSION, V4_PASSPHRASE);
}

#[test]
fn a_frozen_version_3_keystore_is_saved_as_version_4_with_its_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v3.keystore");
    std::fs::copy(V3_KEYSTORE_PATH, &path).unwrap();
    let mut keystore = Keystore::open(&path, &V3_PASSPHRASE.into()).unwrap();
    let checks = keystore.index_key_versions();
    keystore.record_audit_checkpoint(6, [1; 32]).unwrap();
    drop(keystore);
    assert_eq!(
        std::fs::read(&path).unwrap()[4..6],
        CURRENT_KEYSTORE_VERSION.to_be_bytes()
    );
    let keystore = Keystore::open(&path, &V3_PASSPHRASE.into()).unwrap();
    assert_eq!(keystore.index_key_versions(), checks);
    assert_eq!(keystore.audit_checkpoint().unwrap().seq, 6);
}
