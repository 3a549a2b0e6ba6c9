use tierseal::{Binding, Error, HpkeSuite, Keyring, PublicKeySet, PublisherKey, SealedValue, Tier};

use crate::{Env, stderr, stdout};

fn ctx() -> tierseal::AccessContext {
    tierseal::AccessContext::new("seal-only-test").with_purpose("TEST")
}

/// The publisher key printed by a publish.
fn pinned(text: &str) -> PublisherKey {
    let line = text
        .lines()
        .find(|line| line.contains("publisher key"))
        .unwrap_or_else(|| panic!("no publisher key in {text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn add_tier_with_a_suite_publish_and_seal_only_grant() {
    let env = Env::initialised();
    env.cmd()
        .args(["keys", "add-tier", "restricted/iban", "--suite", "xwing"])
        .assert()
        .success();
    let bad = env
        .cmd()
        .args(["keys", "add-tier", "restricted/x", "--suite", "rsa"])
        .output()
        .unwrap();
    assert!(!bad.status.success());

    let output = env
        .cmd()
        .args(["keys", "publish", "--out", "keys.json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let key = pinned(&text);
    assert!(text.contains("restricted/iban v1 xwing"), "{text}");
    assert_eq!(env.open().publisher_key().unwrap(), Some(key));
    assert_eq!(
        env.open().hpke_suite(&"restricted/iban".parse().unwrap()),
        HpkeSuite::XWing
    );

    // A second publish refuses to overwrite, then takes the next serial.
    assert!(
        !env.cmd()
            .args(["keys", "publish", "--out", "keys.json"])
            .output()
            .unwrap()
            .status
            .success()
    );
    let first = PublicKeySet::verify(&std::fs::read(env.path("keys.json")).unwrap(), &key).unwrap();

    // A seal-only grant: only the clearance's tiers, no secret file.
    let output = env
        .cmd()
        .args(["grant", "issue", "--seal-only", "--principal", "checkout"])
        .args(["--clearance", "restricted/cards", "--out", "checkout.keys"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!env.path("checkout.keys.secret").exists());
    let set =
        PublicKeySet::verify(&std::fs::read(env.path("checkout.keys")).unwrap(), &key).unwrap();
    assert!(set.serial() > first.serial());
    let cards: Tier = "restricted/cards".parse().unwrap();
    assert_eq!(set.keys().len(), 1);
    assert!(set.key(&cards).is_some());
    let grant = std::fs::read_to_string(env.path("checkout.keys")).unwrap();
    assert!(!grant.contains("secret"), "{grant}");

    let service = Keyring::seal_only(&set);
    let binding = Binding::new("Order", "pan");
    let sealed = SealedValue::seal(&service, &cards, binding, "4111111111111111").unwrap();
    assert!(matches!(
        sealed.open::<String>(&service, binding, &ctx()),
        Err(Error::SealOnly { .. })
    ));
    // A full keyring opens it only once it accepts the tier's public-key
    // tokens (anyone holding the published set could have sealed it).
    assert!(matches!(
        sealed.open::<String>(&env.keyring(), binding, &ctx()),
        Err(Error::PublicKeyTokenRefused { .. })
    ));
    assert_eq!(
        sealed
            .open::<String>(
                &env.keyring().accept_public_key_tokens(cards.clone()),
                binding,
                &ctx()
            )
            .unwrap(),
        "4111111111111111"
    );
    // Not granted to the seal-only service: internal.
    assert!(matches!(
        SealedValue::seal(&service, &Tier::INTERNAL, binding, "x"),
        Err(Error::NotGranted { .. })
    ));

    // Both publishes are in the audit log.
    let log = std::fs::read_dir(env.dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains("audit"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect::<String>();
    assert!(log.contains("public key set serial"), "{log}");
    assert!(log.contains("seal-only grant to checkout"), "{log}");

    // Without --seal-only, --expires is still required.
    assert!(
        !env.cmd()
            .args([
                "grant",
                "issue",
                "--principal",
                "p",
                "--clearance",
                "internal"
            ])
            .args(["--out", "x.grant"])
            .output()
            .unwrap()
            .status
            .success()
    );
}

/// `keys add-tier` creates the tier's blind-index key too, so an indexed
/// field of the new tier can be sealed at once.
#[test]
fn add_tier_creates_the_index_key() {
    let env = Env::initialised();
    for args in [
        &["keys", "add-tier", "restricted/iban"][..],
        &["keys", "add-tier", "restricted/ibanpq", "--suite", "xwing"],
    ] {
        let output = env.cmd().args(args).output().unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let listed = env
        .cmd()
        .args(["keys", "list-index", "--json"])
        .output()
        .unwrap();
    assert!(listed.status.success(), "{}", stderr(&listed));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout(&listed)).unwrap();
    for tier in ["restricted/iban", "restricted/ibanpq"] {
        let versions: Vec<_> = rows
            .iter()
            .filter(|row| row["tier"] == tier)
            .map(|row| (row["version"].as_u64(), row["primary"].as_bool()))
            .collect();
        assert_eq!(versions, [(Some(1), Some(true))], "{tier}: {rows:?}");
    }
    let iban: Tier = "restricted/iban".parse().unwrap();
    let field = tierseal::IndexField::new(&iban, "Customer", "iban");
    assert!(env.keyring().blind_index(field, b"DE89").is_ok());
}

/// The custodian's rewrap moves public-key tokens (which library keyrings
/// refuse by default), so that retiring the old version loses nothing.
#[test]
fn rewrap_moves_public_key_tokens_before_a_retire() {
    let env = Env::initialised();
    let output = env
        .cmd()
        .args(["keys", "publish", "--out", "keys.json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let set = PublicKeySet::verify(
        &std::fs::read(env.path("keys.json")).unwrap(),
        &pinned(&stdout(&output)),
    )
    .unwrap();
    let service = Keyring::seal_only(&set);
    let cards: Tier = "restricted/cards".parse().unwrap();
    let binding = Binding::new("Order", "pan");
    let sealed = SealedValue::seal(&service, &cards, binding, "4111111111111111").unwrap();
    let line = serde_json::json!({ "pan": sealed.to_text() });
    std::fs::write(env.path("data.jsonl"), format!("{line}\n")).unwrap();

    env.cmd()
        .args(["keys", "rotate", "--tier", "restricted/cards"])
        .assert()
        .success();
    let output = env
        .cmd()
        .args(["rewrap", "--input", "data.jsonl", "--output", "new.jsonl"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("rewrapped 1 data key"), "{text}");

    let new = std::fs::read_to_string(env.path("new.jsonl")).unwrap();
    let value: serde_json::Value = serde_json::from_str(new.trim()).unwrap();
    let moved: SealedValue = value["pan"].as_str().unwrap().parse().unwrap();
    assert_eq!(moved.key_version(), 2);
    let reader = env.keyring().accept_public_key_tokens(cards);
    assert_eq!(
        moved.open::<String>(&reader, binding, &ctx()).unwrap(),
        "4111111111111111"
    );
}

/// `grant issue --seal-only --search`: the public key set, plus a search
/// grant holding only the index keys, so that an intake service fills
/// index columns as it seals and still opens nothing.
#[test]
fn a_seal_only_grant_with_search_fills_index_columns_and_opens_nothing() {
    let env = Env::initialised();
    let output = env
        .cmd()
        .args(["grant", "issue", "--seal-only", "--principal", "intake"])
        .args([
            "--clearance",
            "restricted/cards",
            "--search",
            "restricted/cards",
        ])
        .args(["--expires", "1d", "--out", "intake.keys"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("search only: restricted/cards"), "{text}");
    assert!(text.contains("seal_only_with_search"), "{text}");
    let set = PublicKeySet::verify(
        &std::fs::read(env.path("intake.keys")).unwrap(),
        &pinned(&text),
    )
    .unwrap();
    let set_text = std::fs::read_to_string(env.path("intake.keys")).unwrap();
    assert!(!set_text.contains("secret"), "{set_text}");
    let secret = std::fs::read_to_string(env.path("intake.keys.search.secret"))
        .unwrap()
        .parse()
        .unwrap();
    let search = Keyring::from_grant(
        &std::fs::read(env.path("intake.keys.search")).unwrap(),
        &secret,
    )
    .unwrap();
    let intake = Keyring::seal_only_with_search(&set, search).unwrap();

    let cards: Tier = "restricted/cards".parse().unwrap();
    let field = tierseal::IndexField::new(&cards, "Customer", "iban");
    assert_eq!(
        intake.blind_index(field, b"DE89").unwrap(),
        env.keyring().blind_index(field, b"DE89").unwrap()
    );
    // The same set without the search grant cannot fill the index.
    assert!(matches!(
        Keyring::seal_only(&set).blind_index(field, b"DE89"),
        Err(Error::SealOnlyNoIndexKey { .. })
    ));
    let binding = Binding::new("Customer", "iban");
    let sealed = SealedValue::seal(&intake, &cards, binding, "DE89").unwrap();
    assert!(matches!(
        sealed.open::<String>(&intake, binding, &ctx()),
        Err(Error::SealOnly { .. })
    ));

    // The search grant is in the register (so `keys retire-index` waits
    // for it, as for any grant carrying an index key: tests/cli/index.rs).
    let listed = stdout(&env.cmd().args(["grant", "list"]).output().unwrap());
    let row = listed
        .lines()
        .find(|line| line.contains("intake"))
        .unwrap_or_default();
    assert!(row.contains("restricted/cards v1"), "{listed}");
}

#[test]
fn seal_only_search_options_that_do_not_fit_are_usage_errors() {
    let env = Env::initialised();
    for (args, says) in [
        // The search grant's keys must expire.
        (
            &[
                "--clearance",
                "restricted/cards",
                "--search",
                "restricted/cards",
            ][..],
            "needs --expires",
        ),
        // Only tiers the service seals to.
        (
            &[
                "--clearance",
                "restricted/cards",
                "--search",
                "confidential",
                "--expires",
                "1d",
            ][..],
            "--search confidential",
        ),
        // A public key set does not expire.
        (
            &["--clearance", "restricted/cards", "--expires", "1d"][..],
            "does not expire",
        ),
    ] {
        let output = env
            .cmd()
            .args(["grant", "issue", "--seal-only", "--principal", "intake"])
            .args(args)
            .args(["--out", "x.keys"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
        assert!(
            stderr(&output).contains(says),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(!env.path("x.keys").exists());
        assert!(!env.path("x.keys.search").exists());
    }
    // --search-out needs --seal-only.
    let output = env
        .cmd()
        .args(["grant", "issue", "--principal", "p", "--expires", "1d"])
        .args([
            "--clearance",
            "internal",
            "--out",
            "p.grant",
            "--search-out",
            "p.s",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
}
