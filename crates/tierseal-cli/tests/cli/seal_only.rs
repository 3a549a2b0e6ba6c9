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
    assert_eq!(
        sealed
            .open::<String>(&env.keyring(), binding, &ctx())
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
