//! `keys rotate-index`, `keys retire-index`, `keys list-index` and
//! `grant issue --search`.

use tierseal::{Binding, Error, IndexField, Keyring, SealedValue, Tier};

use crate::{Env, stderr, stdout};

fn cards() -> Tier {
    "restricted/cards".parse().unwrap()
}

#[test]
fn rotate_index_adds_a_version_and_leaves_the_encryption_keys_alone() {
    let env = Env::initialised();
    let before = env.open().key_versions();
    let restricted = Tier::RESTRICTED;
    let field = IndexField::new(&restricted, "Customer", "iban");
    let old = env.keyring().blind_index(field, b"DE89").unwrap();
    env.cmd()
        .args(["keys", "rotate-index", "--tier", "restricted/cards"])
        .assert()
        .success();
    let cards = cards();
    let card_field = IndexField::new(&cards, "Customer", "iban");
    let keyring = env.keyring();
    assert_eq!(keyring.index_version(&cards), Some(2));
    assert_eq!(keyring.index_version(&Tier::RESTRICTED), Some(1));
    assert_eq!(keyring.blind_index(field, b"DE89").unwrap(), old);
    assert_eq!(
        keyring
            .blind_index_candidates(card_field, b"DE89")
            .unwrap()
            .len(),
        2
    );
    drop(keyring);
    assert_eq!(env.open().key_versions(), before);

    let listed = env.cmd().args(["keys", "list-index"]).output().unwrap();
    let text = stdout(&listed);
    assert!(
        text.contains("restricted/cards") && text.contains("index v2"),
        "{text}"
    );

    env.cmd()
        .args([
            "keys",
            "retire-index",
            "--tier",
            "restricted/cards",
            "--version",
            "2",
        ])
        .assert()
        .failure();
    env.cmd()
        .args([
            "keys",
            "retire-index",
            "--tier",
            "restricted/cards",
            "--version",
            "1",
        ])
        .assert()
        .success();
    let keyring = env.keyring();
    assert_eq!(
        keyring
            .blind_index_candidates(card_field, b"DE89")
            .unwrap()
            .len(),
        1
    );
    drop(keyring);
    let log = std::fs::read_to_string(env.path("bank.keystore.audit.jsonl")).unwrap();
    assert!(log.contains("rotate-index") && log.contains("retire-index"));
}

#[test]
fn a_search_only_grant_computes_indexes_and_opens_nothing() {
    let env = Env::initialised();
    let writer = env.keyring();
    let binding = Binding::new("Customer", "iban").with_record_id("cus_1");
    let sealed = SealedValue::seal(&writer, &cards(), binding, "DE89").unwrap();
    let cards = cards();
    let field = IndexField::new(&cards, "Customer", "iban");
    let expected = writer.blind_index(field, b"DE89").unwrap();
    drop(writer);

    let mut cmd = env.cmd();
    cmd.args(["grant", "issue", "--principal", "support-desk"])
        .args([
            "--search",
            "restricted/cards",
            "--expires",
            "1d",
            "--out",
            "s.grant",
        ]);
    let output = cmd.output().unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(stdout(&output).contains("search only"), "{output:?}");
    let grant = std::fs::read(env.path("s.grant")).unwrap();
    let secret = std::fs::read_to_string(env.path("s.grant.secret"))
        .unwrap()
        .parse()
        .unwrap();
    let keyring = Keyring::from_grant(&grant, &secret).unwrap();
    assert_eq!(keyring.blind_index(field, b"DE89").unwrap(), expected);
    assert!(matches!(
        sealed.open::<String>(
            &keyring,
            binding,
            &tierseal::AccessContext::new("index-test").with_purpose("TEST")
        ),
        Err(Error::NotGranted { .. })
    ));
    let shown = env
        .cmd()
        .args(["grant", "show"])
        .arg(env.path("s.grant"))
        .output()
        .unwrap();
    assert!(
        stdout(&shown).contains("search only: cannot open"),
        "{shown:?}"
    );

    // Neither --clearance nor --search: a usage error.
    let mut cmd = env.cmd();
    cmd.args([
        "grant",
        "issue",
        "--principal",
        "x",
        "--expires",
        "1d",
        "--out",
        "x.grant",
    ]);
    assert_eq!(cmd.output().unwrap().status.code(), Some(2));
}

#[test]
fn a_search_grant_is_listed_and_holds_its_index_key_until_forced() {
    let env = Env::initialised();
    let output = env
        .cmd()
        .args(["grant", "issue", "--principal", "support-desk"])
        .args(["--search", "restricted/cards", "--expires", "1d"])
        .args(["--out", "s.grant"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");

    // The register shows what the grant can search.
    let listed = stdout(&env.cmd().args(["grant", "list"]).output().unwrap());
    assert!(listed.contains("SEARCH"), "{listed}");
    let row = listed
        .lines()
        .find(|line| line.contains("support-desk"))
        .unwrap_or_default();
    assert!(row.contains("restricted/cards v1"), "{listed}");
    let json: serde_json::Value = serde_json::from_str(&stdout(
        &env.cmd()
            .args(["grant", "list", "--json"])
            .output()
            .unwrap(),
    ))
    .unwrap();
    assert_eq!(json[0]["index"][0]["tier"], "restricted/cards");
    assert_eq!(json[0]["index"][0]["versions"][0], 1);
    assert_eq!(json[0]["tiers"].as_array().map(Vec::len), Some(0));
    let report = stdout(&env.cmd().arg("report").output().unwrap());
    assert!(
        report.contains("| Search |") && report.contains("| - | restricted/cards v1 |"),
        "{report}"
    );

    // The rotated-away index key stays while the grant carries it.
    env.cmd()
        .args(["keys", "rotate-index", "--tier", "restricted/cards"])
        .assert()
        .success();
    let retire = ["keys", "retire-index", "--tier", "restricted/cards"];
    let refused = env
        .cmd()
        .args(retire)
        .args(["--version", "1"])
        .output()
        .unwrap();
    assert!(!refused.status.success(), "{refused:?}");
    assert_ne!(refused.status.code(), Some(2), "{refused:?}");
    let err = stderr(&refused);
    assert!(
        err.contains("support-desk") && err.contains("--force") && err.contains("index key"),
        "{err}"
    );
    let listed = stdout(&env.cmd().args(["keys", "list-index"]).output().unwrap());
    assert!(!listed.contains("retired"), "{listed}");

    env.cmd()
        .args(retire)
        .args(["--version", "1", "--force"])
        .assert()
        .success();
    let log = std::fs::read_to_string(env.path("bank.keystore.audit.jsonl")).unwrap();
    assert!(log.contains("forced past 1 outstanding grant(s)"), "{log}");
    let listed = stdout(&env.cmd().args(["keys", "list-index"]).output().unwrap());
    assert!(listed.contains("retired"), "{listed}");
}
