//! Writes the fixture keystore (if missing) and the seed inputs of every
//! target into `fuzz/seeds/<target>/`. Run from `fuzz/`:
//! `cargo run --example seeds`. The committed corpus (`fuzz/corpus/`) is
//! what fuzzing grew from these seeds, minimised.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, SystemTime};

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tierseal::audit::{Action, AuditEvent, AuditSink, Durability, FileSink, Outcome};
use tierseal::{
    Binding, Clearance, KdfProfile, Keystore, Level, PackedLayout, PartLayout, RecordSealer,
    SealedValue, Tier,
};
use tierseal_fuzz::{BINDING, PASSPHRASE, cards, fixture, frame, full_clearance, keystore_path};

fn main() {
    if !keystore_path().exists() {
        create_fixture(&keystore_path());
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    };
    let fx = fixture();

    // Tokens of every kind, at every tier and under old key versions.
    let mut texts = Vec::new();
    for (i, tier) in [
        Tier::INTERNAL,
        Tier::CONFIDENTIAL,
        Tier::RESTRICTED,
        cards(),
    ]
    .iter()
    .enumerate()
    {
        let value = SealedValue::seal(&fx.keyring, tier, BINDING, "4111111111111111").unwrap();
        write("token", &format!("value-{i}"), &frame(&[value.as_bytes()]));
        texts.push(value.to_text());

        let binding = Binding::new("Customer", "").with_record_id("cus_042");
        let mut sealer = RecordSealer::new(&fx.keyring, binding);
        let name = sealer.seal_field(tier, "name", "Ada Lovelace").unwrap();
        let balance = sealer.seal_field(tier, "balance", &125_000_i64).unwrap();
        let keys = sealer.finish();
        let key = keys.keys().first().unwrap();
        write(
            "token",
            &format!("record-{i}"),
            &frame(&[key.as_bytes(), name.as_bytes(), balance.as_bytes()]),
        );
        texts.push(key.to_text());
        texts.push(name.to_text());
        write(
            "token_text",
            &format!("record-json-{i}"),
            serde_json::to_string(&keys).unwrap().as_bytes(),
        );
    }
    // Tokens under `confidential` v1 (no longer primary), so that rewrap
    // moves them and the target checks they still open: sealed by a copy
    // of the fixture with v1 promoted back.
    {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        std::fs::copy(keystore_path(), &path).unwrap();
        let mut old = Keystore::open(&path, &PASSPHRASE.into()).unwrap();
        old.promote(&Tier::CONFIDENTIAL, 1).unwrap();
        let keyring = old.keyring(&full_clearance()).unwrap();
        let value =
            SealedValue::seal(&keyring, &Tier::CONFIDENTIAL, BINDING, "4111111111111111").unwrap();
        write("token", "value-old-version", &frame(&[value.as_bytes()]));
        let binding = Binding::new("Customer", "").with_record_id("cus_042");
        let mut sealer = RecordSealer::new(&keyring, binding);
        let name = sealer
            .seal_field(&Tier::CONFIDENTIAL, "name", "Ada")
            .unwrap();
        let keys = sealer.finish();
        let key = keys.keys().first().unwrap();
        write(
            "token",
            "record-old-version",
            &frame(&[key.as_bytes(), name.as_bytes()]),
        );
    }
    // Packed records of the seed layouts: record keys and parts.
    {
        let tiers: Vec<Tier> = tierseal_fuzz::PACKED_LAYOUTS
            .iter()
            .map(|(tier, _)| tier.parse().unwrap())
            .collect();
        let layout = PackedLayout::new([
            PartLayout::new(&tiers[0], tierseal_fuzz::PACKED_LAYOUTS[0].1),
            PartLayout::new(&tiers[1], tierseal_fuzz::PACKED_LAYOUTS[1].1),
        ])
        .unwrap();
        let binding = Binding::new("Customer", "").with_record_id("cus_042");
        let mut sealer = RecordSealer::new(&fx.keyring, binding);
        let mut packer = sealer.pack(&layout).unwrap();
        packer.mask(0, 0, "****1111").unwrap();
        packer.value(0, 1, "Ada Lovelace").unwrap();
        packer.value(1, 0, &125_000_i64).unwrap();
        packer.value(1, 1, "4111111111111111").unwrap();
        let [internal, cards] = packer.finish().unwrap();
        let keys = sealer.finish();
        let mut chunks: Vec<&[u8]> = keys.keys().iter().map(|k| k.as_bytes()).collect();
        chunks.extend([internal.as_bytes(), cards.as_bytes()]);
        write("token", "packed-record", &frame(&chunks));
        texts.push(internal.to_text());
    }
    for (i, text) in texts.iter().enumerate() {
        write("token_text", &format!("text-{i}"), text.as_bytes());
    }

    // Plaintexts as sealed values encode them.
    let plaintexts: Vec<Vec<u8>> = vec![
        postcard_of(&"4111111111111111"),
        postcard_of(&125_000_i64),
        postcard_of(&vec!["a".to_owned(), "b".to_owned()]),
        postcard_of(&tierseal_fuzz::Shape {
            name: "Ada".into(),
            amount: -5,
            tags: vec!["vip".into()],
            note: Some("n".into()),
            kind: tierseal_fuzz::Kind::Named {
                iban: "GB33".into(),
            },
            bytes: vec![1, 2, 3],
            ratio: 0.5,
            initial: 'A',
            limits: [("atm".to_owned(), 500)].into_iter().collect(),
            id: u128::MAX,
        }),
    ];
    for (i, plaintext) in plaintexts.iter().enumerate() {
        write("open_plaintext", &format!("plain-{i}"), plaintext);
    }

    // The keystore file, whole (mode 0) and without its checksum (mode 1).
    let file = std::fs::read(keystore_path()).unwrap();
    write("keystore_file", "whole", &[&[0], file.as_slice()].concat());
    let unsummed = file.get(..file.len() - 32).unwrap();
    write("keystore_file", "unsummed", &[&[1], unsummed].concat());
    // Its body: version 1 layout, body length at offset 95.
    let body_len = u32::from_be_bytes(file.get(95..99).unwrap().try_into().unwrap());
    let body = file.get(99..99 + body_len as usize).unwrap();
    write("keystore_body", "fixture", body);

    // A grant: the file (mode 0) and its decrypted parts (mode 1).
    let mut keystore = {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        std::fs::copy(keystore_path(), &path).unwrap();
        (Keystore::open(&path, &PASSPHRASE.into()).unwrap(), dir)
    };
    let expiry = SystemTime::UNIX_EPOCH + Duration::from_secs(4_102_444_800); // 2100
    for (i, clearance) in [full_clearance(), Clearance::up_to(Level::Internal)]
        .iter()
        .enumerate()
    {
        let (grant, secret) = keystore
            .0
            .issue_grant(clearance, "billing", expiry)
            .unwrap();
        write(
            "grant",
            &format!("file-{i}"),
            &[&[0], grant.as_slice()].concat(),
        );
        let (info, keys) = decrypt_grant(&grant, &secret.expose_text());
        write(
            "grant",
            &format!("parts-{i}"),
            &[&[1], frame(&[&info, &keys]).as_slice()].concat(),
        );
        write(
            "grant",
            &format!("secret-{i}"),
            format!("\x02{}", *secret.expose_text()).as_bytes(),
        );
    }

    // Break-glass approvals: the binary form (mode 0) and the text (mode 1).
    for (i, tier) in [cards(), Tier::RESTRICTED].iter().enumerate() {
        let approval = keystore
            .0
            .approve(
                "alice",
                "card-ops",
                tier,
                "INC-2041 chargeback dispute",
                SystemTime::now() + Duration::from_secs(600),
            )
            .unwrap();
        write(
            "approval",
            &format!("bytes-{i}"),
            &[&[0], approval.to_bytes().as_slice()].concat(),
        );
        write(
            "approval",
            &format!("text-{i}"),
            format!("\x01{}", approval.to_text()).as_bytes(),
        );
    }

    // An audit log signed by the fixture's keys.
    let log_dir = tempfile::tempdir().unwrap();
    let log = log_dir.path().join("audit.log");
    let sink = FileSink::open(&log, keystore.0.audit_key().unwrap(), Durability::Flush).unwrap();
    for action in [Action::Open, Action::Rotate] {
        let mut event = AuditEvent::now("custodian", "custodian", action, Outcome::Ok);
        event.purpose = Some("FUZZ-1".into());
        event.tier = Some("restricted".into());
        event.key_version = Some(2);
        sink.record(event).unwrap();
    }
    drop(sink);
    write("audit_line", "log", &std::fs::read(&log).unwrap());
    write("audit_line", "timestamp", b"2026-11-27T05:01:02.123Z");

    // Lint configuration and sources: the documented example and fixtures.
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let docs = std::fs::read_to_string(repo.join("docs/LINT.md")).unwrap();
    for (i, block) in docs.split("```toml").skip(1).enumerate() {
        let toml = block.split("```").next().unwrap();
        write("lint_config", &format!("docs-{i}"), toml.as_bytes());
    }
    for entry in walk(&repo.join("tests/fixtures")) {
        let name = entry
            .strip_prefix(&repo)
            .unwrap()
            .to_string_lossy()
            .replace('/', "_");
        let bytes = std::fs::read(&entry).unwrap();
        if entry.extension().is_some_and(|e| e == "rs") {
            write("lint_source", &name, &bytes);
        } else if entry.file_name().is_some_and(|n| n == "tierseal.toml") {
            write("lint_config", &name, &bytes);
        }
    }
}

fn create_fixture(path: &Path) {
    let mut keystore = Keystore::create(path, &PASSPHRASE.into(), KdfProfile::Test).unwrap();
    keystore.add_tier(&cards()).unwrap();
    keystore.rotate(&Tier::CONFIDENTIAL).unwrap();
    keystore.rotate(&Tier::INTERNAL).unwrap();
    keystore.retire(&Tier::INTERNAL, 1).unwrap();
    drop(keystore);
    let mut lock = path.as_os_str().to_owned();
    lock.push(".lock");
    let _ = std::fs::remove_file(lock);
}

fn postcard_of<T: serde::Serialize>(value: &T) -> Vec<u8> {
    postcard::to_stdvec(value).unwrap()
}

/// The version 1 grant's public header and decrypted keys.
fn decrypt_grant(grant: &[u8], secret: &str) -> (Vec<u8>, Vec<u8>) {
    let key = URL_SAFE_NO_PAD
        .decode(secret.strip_prefix("tierseal-grant:").unwrap())
        .unwrap();
    let info_len = u32::from_be_bytes(grant.get(5..9).unwrap().try_into().unwrap()) as usize;
    let (aad, rest) = grant.split_at(9 + info_len);
    let (nonce, rest) = rest.split_at(12);
    let (ciphertext, tag) = rest.split_at(rest.len() - 16);
    let mut keys = ciphertext.to_vec();
    let key: [u8; 32] = key.try_into().unwrap();
    Aes256Gcm::new(&key.into())
        .decrypt_inout_detached(
            &Nonce::from(<[u8; 12]>::try_from(nonce).unwrap()),
            aad,
            keys.as_mut_slice().into(),
            &Tag::from(<[u8; 16]>::try_from(tag).unwrap()),
        )
        .unwrap();
    (aad.get(9..).unwrap().to_vec(), keys)
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}
