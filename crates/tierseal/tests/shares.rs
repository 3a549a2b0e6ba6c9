//! M-of-N custodian shares of the keystore's master key.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "test code"
)]

use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::Duration;

use tierseal::{
    AccessContext, Binding, Clearance, DualControlOp, Error, KdfProfile, Keystore, NewShare,
    SealedValue, ShareKey, SplitPlan, SplitSpec, Tier,
};

static CTX: LazyLock<AccessContext> =
    LazyLock::new(|| AccessContext::new("share-tests").with_purpose("TEST-13"));

const HOLDERS: [&str; 3] = ["alice", "bob", "carol"];

fn pass(holder: &str) -> String {
    format!("{holder}'s own passphrase 41c")
}

struct Split {
    dir: tempfile::TempDir,
}

impl Split {
    /// A 2-of-3 keystore with shares `alice.share`, `bob.share`,
    /// `carol.share` (generation 1).
    fn new() -> Split {
        let split = Split {
            dir: tempfile::tempdir().unwrap(),
        };
        let keystore =
            Keystore::create_split(split.keystore(), &split.plan("", 2, &HOLDERS)).unwrap();
        drop(keystore);
        split
    }

    fn keystore(&self) -> PathBuf {
        self.dir.path().join("bank.keystore")
    }

    fn share(&self, holder: &str) -> PathBuf {
        self.dir.path().join(format!("{holder}.share"))
    }

    fn plan(&self, prefix: &str, threshold: u8, holders: &[&str]) -> SplitPlan {
        let shares = holders
            .iter()
            .map(|holder| NewShare {
                holder: (*holder).to_owned(),
                passphrase: pass(holder).into(),
                out: self.share(&format!("{prefix}{holder}")),
            })
            .collect();
        let spec = SplitSpec::new(threshold, u8::try_from(holders.len()).unwrap()).unwrap();
        SplitPlan::new(spec, shares, KdfProfile::Test).unwrap()
    }

    fn key(&self, file: &str, holder: &str) -> ShareKey {
        ShareKey {
            path: self.share(file),
            passphrase: pass(holder).into(),
        }
    }

    fn open(&self, holders: &[&str]) -> Result<Keystore, Error> {
        let keys: Vec<ShareKey> = holders.iter().map(|h| self.key(h, h)).collect();
        Keystore::open_with_shares(self.keystore(), &keys, Duration::from_secs(5))
    }

    fn bytes(&self) -> Vec<u8> {
        std::fs::read(self.keystore()).unwrap()
    }
}

fn cards() -> Tier {
    "restricted/cards".parse().unwrap()
}

fn everything(keystore: &Keystore) -> Clearance {
    keystore.tiers().cloned().collect()
}

fn check_values(keystore: &Keystore) -> Vec<(Tier, u32, String)> {
    keystore
        .key_versions()
        .into_iter()
        .map(|v| (v.tier, v.version, v.check_value))
        .collect()
}

#[test]
fn two_of_three_opens_with_any_two_shares_and_names_them() {
    let split = Split::new();
    for pair in [["alice", "bob"], ["alice", "carol"], ["carol", "bob"]] {
        let keystore = split.open(&pair).unwrap();
        assert_eq!(keystore.custodians(), pair);
        let set = keystore.share_set().unwrap();
        assert_eq!(set.threshold, 2);
        assert_eq!(set.holders, HOLDERS);
        assert_eq!(set.generation, 1);
        assert_eq!(set.dual_control, DualControlOp::ALL);
        assert!(keystore.requires_dual_control(DualControlOp::Retire));
        keystore.keyring(&everything(&keystore)).unwrap();
    }
    // All three work too.
    assert!(split.open(&HOLDERS).is_ok());
}

#[test]
fn a_split_keystore_refuses_a_passphrase_and_a_passphrase_change() {
    let split = Split::new();
    let before = split.bytes();
    let err = Keystore::open(split.keystore(), &pass("alice").into()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::KeystoreSplit {
                threshold: 2,
                count: 3,
                ..
            }
        ),
        "{err:?}"
    );
    let mut keystore = split.open(&["alice", "bob"]).unwrap();
    let err = keystore
        .change_passphrase(&"one passphrase".into(), KdfProfile::Test)
        .unwrap_err();
    assert!(matches!(err, Error::KeystoreSplit { .. }), "{err:?}");
    drop(keystore);
    assert_eq!(split.bytes(), before);
}

#[test]
fn one_share_of_two_is_refused_as_too_few() {
    let split = Split::new();
    let before = split.bytes();
    let err = split.open(&["alice"]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotEnoughShares {
                needed: 2,
                got: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("needs 2 shares, got 1"), "{err}");
    let err = split.open(&[]).unwrap_err();
    assert!(
        matches!(err, Error::NotEnoughShares { got: 0, .. }),
        "{err:?}"
    );
    assert_eq!(split.bytes(), before);
}

#[test]
fn a_share_of_another_keystore_is_refused_by_name() {
    let split = Split::new();
    let other = Split::new();
    let before = split.bytes();
    let keys = [
        split.key("alice", "alice"),
        ShareKey {
            path: other.share("bob"),
            passphrase: pass("bob").into(),
        },
    ];
    let err = Keystore::open_with_shares(split.keystore(), &keys, Duration::ZERO).unwrap_err();
    match &err {
        Error::ShareForeign { path, holder, .. } => {
            assert_eq!(path, &other.share("bob"));
            assert_eq!(holder, "bob");
        }
        other => panic!("{other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("bob.share") && text.contains("belongs to keystore"),
        "{text}"
    );
    assert_eq!(split.bytes(), before);
}

#[test]
fn a_duplicated_share_is_refused_naming_it() {
    let split = Split::new();
    let before = split.bytes();
    // The same file twice, and a copy of a share under another name.
    let err = split.open(&["alice", "alice"]).unwrap_err();
    assert!(
        matches!(&err, Error::ShareDuplicate { index: 1, holder, .. } if holder == "alice"),
        "{err:?}"
    );
    std::fs::copy(split.share("bob"), split.share("bob-copy")).unwrap();
    let keys = [split.key("bob", "bob"), split.key("bob-copy", "bob")];
    let err = Keystore::open_with_shares(split.keystore(), &keys, Duration::ZERO).unwrap_err();
    match &err {
        Error::ShareDuplicate { path, first, .. } => {
            assert_eq!(path, &split.share("bob-copy"));
            assert_eq!(first, &split.share("bob"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(split.bytes(), before);
}

#[test]
fn a_tampered_share_file_is_refused_naming_the_file() {
    let split = Split::new();
    let before = split.bytes();
    let original = std::fs::read(split.share("bob")).unwrap();
    for at in [
        0,
        6,
        40,
        original.len() / 2,
        original.len() - 40,
        original.len() - 1,
    ] {
        let mut bytes = original.clone();
        bytes[at] ^= 0x01;
        std::fs::write(split.share("bob"), &bytes).unwrap();
        let err = split.open(&["alice", "bob"]).unwrap_err();
        match &err {
            Error::ShareCorrupt { path, .. } => assert_eq!(path, &split.share("bob")),
            other => panic!("flip at {at}: {other:?}"),
        }
    }
    // Truncated, and empty.
    std::fs::write(split.share("bob"), &original[..original.len() - 1]).unwrap();
    assert!(matches!(
        split.open(&["alice", "bob"]),
        Err(Error::ShareCorrupt { .. })
    ));
    std::fs::write(split.share("bob"), b"").unwrap();
    assert!(matches!(
        split.open(&["alice", "bob"]),
        Err(Error::ShareCorrupt { .. })
    ));
    assert_eq!(split.bytes(), before);
}

#[test]
fn a_wrong_holder_passphrase_names_the_share_and_its_holder() {
    let split = Split::new();
    let before = split.bytes();
    let keys = [
        split.key("alice", "alice"),
        ShareKey {
            path: split.share("carol"),
            passphrase: "not carol's".into(),
        },
    ];
    let err = Keystore::open_with_shares(split.keystore(), &keys, Duration::ZERO).unwrap_err();
    match &err {
        Error::ShareWrongPassphrase {
            path,
            index,
            holder,
        } => {
            assert_eq!(path, &split.share("carol"));
            assert_eq!(*index, 3);
            assert_eq!(holder, "carol");
        }
        other => panic!("{other:?}"),
    }
    assert!(!format!("{err} {err:?}").contains("not carol's"));
    // Bob's passphrase on Alice's share is wrong too.
    let keys = [split.key("alice", "bob"), split.key("bob", "bob")];
    let err = Keystore::open_with_shares(split.keystore(), &keys, Duration::ZERO).unwrap_err();
    assert!(
        matches!(&err, Error::ShareWrongPassphrase { holder, .. } if holder == "alice"),
        "{err:?}"
    );
    assert_eq!(split.bytes(), before);
}

#[test]
fn reissue_makes_the_old_shares_useless() {
    let split = Split::new();
    let mut keystore = split.open(&["alice", "bob"]).unwrap();
    let keys_before = check_values(&keystore);
    // Carol leaves: a 2-of-3 set for alice, bob and dave.
    keystore
        .reissue_shares(&split.plan("g2-", 2, &["alice", "bob", "dave"]))
        .unwrap();
    assert_eq!(keystore.share_set().unwrap().generation, 2);
    drop(keystore);

    // Any old share is refused by its generation, by name.
    let keys = [split.key("alice", "alice"), split.key("g2-bob", "bob")];
    let err = Keystore::open_with_shares(split.keystore(), &keys, Duration::ZERO).unwrap_err();
    match &err {
        Error::ShareStale {
            path,
            generation: 1,
            current: 2,
            ..
        } => assert_eq!(path, &split.share("alice")),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        split.open(&["alice", "carol"]),
        Err(Error::ShareStale { .. })
    ));
    // The new set opens, and every key is still there.
    let keys = [split.key("g2-dave", "dave"), split.key("g2-alice", "alice")];
    let keystore = Keystore::open_with_shares(split.keystore(), &keys, Duration::ZERO).unwrap();
    assert_eq!(keystore.custodians(), ["dave", "alice"]);
    assert_eq!(check_values(&keystore), keys_before);
}

#[test]
fn verify_checks_one_share_without_unlocking_anything() {
    let split = Split::new();
    let before = split.bytes();
    // The keystore is held open (locked) by another custodian meanwhile.
    let held = split.open(&["alice", "bob"]).unwrap();
    let info = Keystore::verify_share(split.keystore(), &split.key("carol", "carol")).unwrap();
    assert_eq!(info.holder, "carol");
    assert_eq!(info.index, 3);
    assert_eq!((info.threshold, info.count, info.generation), (2, 3, 1));
    assert_eq!(
        info.keystore_id,
        Keystore::peek_share_set(split.keystore())
            .unwrap()
            .unwrap()
            .keystore_id
    );
    let err = Keystore::verify_share(split.keystore(), &split.key("carol", "bob")).unwrap_err();
    assert!(matches!(err, Error::ShareWrongPassphrase { .. }), "{err:?}");
    let other = Split::new();
    let err = Keystore::verify_share(other.keystore(), &split.key("carol", "carol")).unwrap_err();
    assert!(matches!(err, Error::ShareForeign { .. }), "{err:?}");
    drop(held);
    assert_eq!(split.bytes(), before);
}

#[test]
fn passphrase_to_shares_to_passphrase_keeps_every_tier_key() {
    let dir = tempfile::tempdir().unwrap();
    let split = Split {
        dir: tempfile::tempdir().unwrap(),
    };
    let path = split.keystore();
    let mut keystore = Keystore::create(&path, &"first".into(), KdfProfile::Test).unwrap();
    keystore.add_tier(&cards()).unwrap();
    keystore.rotate(&cards()).unwrap();
    let keys_before = check_values(&keystore);
    let binding = Binding::new("T", "pan");
    let keyring = keystore.keyring(&everything(&keystore)).unwrap();
    let sealed = SealedValue::seal(&keyring, &cards(), binding, "4111 1111 1111 1111").unwrap();
    let opens = |keystore: &Keystore| {
        let keyring = keystore.keyring(&everything(keystore)).unwrap();
        sealed.open::<String>(&keyring, binding, &CTX).unwrap()
    };
    assert!(keystore.share_set().is_none());

    keystore.split(&split.plan("", 2, &HOLDERS)).unwrap();
    drop(keystore);
    assert!(matches!(
        Keystore::open(&path, &"first".into()),
        Err(Error::KeystoreSplit { .. })
    ));
    let mut keystore = split.open(&["bob", "carol"]).unwrap();
    assert_eq!(check_values(&keystore), keys_before);
    assert_eq!(opens(&keystore), "4111 1111 1111 1111");
    // Splitting twice is refused (reissue instead).
    let err = keystore
        .split(&split.plan("again-", 2, &HOLDERS))
        .unwrap_err();
    assert!(matches!(err, Error::KeystoreSplit { .. }), "{err:?}");
    assert!(!split.share("again-alice").exists());

    keystore
        .join_shares(&"second".into(), KdfProfile::Test)
        .unwrap();
    assert!(keystore.share_set().is_none());
    assert!(!keystore.requires_dual_control(DualControlOp::Retire));
    drop(keystore);
    assert!(matches!(
        split.open(&["alice", "bob"]),
        Err(Error::KeystoreNotSplit { .. })
    ));
    let keystore = Keystore::open(&path, &"second".into()).unwrap();
    assert_eq!(check_values(&keystore), keys_before);
    assert_eq!(opens(&keystore), "4111 1111 1111 1111");
    drop(dir);
}

#[test]
fn a_failed_split_changes_nothing_and_leaves_no_share() {
    let dir = tempfile::tempdir().unwrap();
    let split = Split {
        dir: tempfile::tempdir().unwrap(),
    };
    let path = split.keystore();
    let mut keystore = Keystore::create(&path, &"pw".into(), KdfProfile::Test).unwrap();
    let before = split.bytes();
    // Carol's share file already exists: nothing is written.
    std::fs::write(split.share("carol"), b"someone else's file").unwrap();
    let err = keystore.split(&split.plan("", 2, &HOLDERS)).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert_eq!(split.bytes(), before);
    assert!(!split.share("alice").exists() && !split.share("bob").exists());
    assert_eq!(
        std::fs::read(split.share("carol")).unwrap(),
        b"someone else's file"
    );
    assert!(keystore.share_set().is_none());
    drop(keystore);
    Keystore::open(&path, &"pw".into()).unwrap();
    // Creating a split keystore over an existing file writes no share.
    let err = Keystore::create_split(&path, &split.plan("new-", 2, &HOLDERS)).unwrap_err();
    assert!(matches!(err, Error::KeystoreExists { .. }), "{err:?}");
    assert!(!split.share("new-alice").exists());
    drop(dir);
}

#[test]
fn splits_are_validated() {
    for bad in [
        "1-of-3", "3-of-2", "0-of-0", "2-of-256", "2of3", "-1-of-3", "2-of-", "",
    ] {
        assert!(bad.parse::<SplitSpec>().is_err(), "{bad}");
    }
    assert_eq!(
        "2-of-3".parse::<SplitSpec>().unwrap(),
        SplitSpec {
            threshold: 2,
            count: 3
        }
    );
    assert!("255-of-255".parse::<SplitSpec>().is_ok());
    let dir = tempfile::tempdir().unwrap();
    let share = |holder: &str, out: &str| NewShare {
        holder: holder.into(),
        passphrase: "p".into(),
        out: dir.path().join(out),
    };
    let spec = SplitSpec::new(2, 2).unwrap();
    let plan = |shares| SplitPlan::new(spec, shares, KdfProfile::Test);
    assert!(plan(vec![share("a", "a")]).is_err(), "too few holders");
    assert!(
        plan(vec![share("a", "a"), share("a", "b")]).is_err(),
        "one holder twice"
    );
    assert!(
        plan(vec![share("a", "a"), share("b", "a")]).is_err(),
        "one file twice"
    );
    assert!(
        plan(vec![share("a", "a"), share(" ", "b")]).is_err(),
        "blank holder"
    );
    assert!(
        plan(vec![share("a", "a"), share("b\n", "b")]).is_err(),
        "control character"
    );
    assert!(plan(vec![share("a", "a"), share(&"b".repeat(65), "b")]).is_err());
    assert!(plan(vec![share("a", "a"), share("b", "b")]).is_ok());
}

#[test]
fn no_passphrase_appears_in_debug_or_errors() {
    let dir = tempfile::tempdir().unwrap();
    let new = NewShare {
        holder: "alice".into(),
        passphrase: "hunter2-secret".into(),
        out: dir.path().join("a"),
    };
    let key = ShareKey {
        path: dir.path().join("a"),
        passphrase: "hunter2-secret".into(),
    };
    let plan = SplitPlan::new(
        SplitSpec::new(2, 2).unwrap(),
        vec![
            new,
            NewShare {
                holder: "bob".into(),
                passphrase: "hunter2-secret".into(),
                out: dir.path().join("b"),
            },
        ],
        KdfProfile::Test,
    )
    .unwrap();
    let shown = format!("{key:?} {plan:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("REDACTED"));
    let path = dir.path().join("k");
    let keystore = Keystore::create_split(&path, &plan).unwrap();
    let shown = format!("{keystore:?} {:?}", keystore.share_set());
    assert!(!shown.contains("hunter2"));
    drop(keystore);
    let err = Keystore::open_with_shares(
        &path,
        &[
            key,
            ShareKey {
                path: dir.path().join("b"),
                passphrase: "wrong-hunter2".into(),
            },
        ],
        Duration::ZERO,
    )
    .unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
}

#[path = "support/memory_backend.rs"]
mod memory_backend;

/// A store that keeps the image and then reports a failure, as a server
/// does that accepted a write and lost the connection before answering
/// (or a file renamed into place whose folder could not be flushed).
#[derive(Debug)]
struct StoredThenFailed(memory_backend::Shared);

impl tierseal::KeystoreBackend for StoredThenFailed {
    fn location(&self) -> &tierseal::KeystoreLocation {
        tierseal::KeystoreBackend::location(&self.0)
    }
    fn load(&self) -> Result<(Vec<u8>, tierseal::Revision), Error> {
        tierseal::KeystoreBackend::load(&self.0)
    }
    fn exists(&self) -> Result<bool, Error> {
        tierseal::KeystoreBackend::exists(&self.0)
    }
    fn store(
        &self,
        image: &[u8],
        expected: &tierseal::Revision,
    ) -> Result<tierseal::Stored, Error> {
        let stored = tierseal::KeystoreBackend::store(&self.0, image, expected)?;
        if matches!(stored, tierseal::Stored::Saved(_)) {
            return Err(Error::KmsUnavailable {
                provider: "test",
                address: "memory".into(),
                subject: "the keystore".into(),
                reason: "the answer was lost".into(),
            });
        }
        Ok(stored)
    }
}

/// A split whose save reports an error although the store took it must
/// not delete the share files: they are then the only way to the new
/// master key, and every key of the keystore would be lost with them.
#[test]
fn a_split_whose_save_may_have_landed_keeps_its_share_files() {
    let shared = memory_backend::Shared::new();
    let passphrase: tierseal::Passphrase = "the old passphrase".into();
    drop(Keystore::create_in(shared.handle(), &passphrase, KdfProfile::Test).unwrap());
    let mut keystore =
        Keystore::open_in(Box::new(StoredThenFailed(shared.clone())), &passphrase).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let split = Split { dir };
    let plan = split.plan("", 2, &HOLDERS);
    let err = keystore.split(&plan).unwrap_err();
    assert!(matches!(err, Error::KmsUnavailable { .. }), "{err:?}");
    drop(keystore);

    // The store holds the split keystore: the passphrase no longer opens it.
    let (image, _) = tierseal::KeystoreBackend::load(&shared).unwrap();
    std::fs::write(split.keystore(), &image).unwrap();
    assert!(Keystore::open(split.keystore(), &passphrase).is_err());
    // So the shares must still be there, and open it.
    for holder in HOLDERS {
        assert!(split.share(holder).exists(), "{holder}'s share was deleted");
    }
    let keys = [split.key("alice", "alice"), split.key("bob", "bob")];
    Keystore::open_with_shares(split.keystore(), &keys, Duration::ZERO).unwrap();
}

/// A split refused before anything is stored still leaves no share file.
#[test]
fn a_split_that_stored_nothing_leaves_no_share_file() {
    let shared = memory_backend::Shared::new();
    let passphrase: tierseal::Passphrase = "the old passphrase".into();
    drop(Keystore::create_in(shared.handle(), &passphrase, KdfProfile::Test).unwrap());
    let mut keystore = Keystore::open_in(shared.handle(), &passphrase).unwrap();
    // Another custodian changes the passphrase first: the save conflicts.
    Keystore::open_in(shared.handle(), &passphrase)
        .unwrap()
        .change_passphrase(&"another".into(), KdfProfile::Test)
        .unwrap();
    let split = Split {
        dir: tempfile::tempdir().unwrap(),
    };
    let err = keystore.split(&split.plan("", 2, &HOLDERS)).unwrap_err();
    assert!(matches!(err, Error::KeystoreConflict { .. }), "{err:?}");
    for holder in HOLDERS {
        assert!(!split.share(holder).exists(), "{holder}'s share was left");
    }
}
