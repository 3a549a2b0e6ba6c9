use std::time::{Duration, SystemTime};

use tierseal::{Binding, Error, GrantSecret, Keyring, SealedValue, Tier};

use crate::{Env, stdout};

fn ctx() -> tierseal::AccessContext {
    tierseal::AccessContext::new("grant-test").with_purpose("TEST")
}

#[test]
fn an_issued_grant_loads_in_the_library_and_carries_only_its_tiers() {
    let env = Env::initialised();
    let output = env
        .cmd()
        .args([
            "grant",
            "issue",
            "--principal",
            "card-ops",
            "--clearance",
            "internal,restricted/cards",
        ])
        .args(["--expires", "30d", "--out", "ops.grant"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = stdout(&output);
    assert!(
        text.contains("card-ops") && text.contains("ops.grant.secret"),
        "{text}"
    );

    let grant = std::fs::read(env.path("ops.grant")).unwrap();
    let secret: GrantSecret = std::fs::read_to_string(env.path("ops.grant.secret"))
        .unwrap()
        .parse()
        .unwrap();
    let service = Keyring::from_grant(&grant, &secret).unwrap();
    let names: Vec<String> = service.tiers().map(ToString::to_string).collect();
    assert_eq!(names, ["internal", "restricted/cards"]);

    let all = env.keyring();
    let binding = Binding::new("Customer", "card_number");
    let card = SealedValue::seal(
        &all,
        &"restricted/cards".parse().unwrap(),
        binding,
        "4111111111111111",
    )
    .unwrap();
    assert_eq!(
        card.open::<String>(&service, binding, &ctx()).unwrap(),
        "4111111111111111"
    );
    let balance = SealedValue::seal(&all, &Tier::CONFIDENTIAL, binding, &5_i64).unwrap();
    assert!(matches!(
        balance.open::<i64>(&service, binding, &ctx()),
        Err(Error::NotGranted { .. })
    ));

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(env.path("ops.grant.secret"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn an_expired_grant_is_refused_by_the_library() {
    let env = Env::initialised();
    env.cmd()
        .args([
            "grant",
            "issue",
            "--principal",
            "svc",
            "--clearance",
            "internal",
            "--expires",
            "1h",
        ])
        .args(["--out", "svc.grant"])
        .assert()
        .success();
    let grant = std::fs::read(env.path("svc.grant")).unwrap();
    let secret: GrantSecret = std::fs::read_to_string(env.path("svc.grant.secret"))
        .unwrap()
        .parse()
        .unwrap();
    let later = SystemTime::now() + Duration::from_secs(2 * 3600);
    let err = Keyring::from_grant_at(&grant, &secret, later).unwrap_err();
    assert!(matches!(err, Error::GrantExpired { .. }), "{err:?}");
}

#[test]
fn show_prints_the_grant_without_keys_and_issue_never_overwrites() {
    let env = Env::initialised();
    env.cmd()
        .args([
            "grant",
            "issue",
            "--principal",
            "loans",
            "--clearance",
            "internal,confidential",
        ])
        .args(["--expires", "2w", "--out", "loans.grant"])
        .assert()
        .success();
    let output = env
        .bare()
        .args(["grant", "show", "loans.grant"])
        .output()
        .unwrap();
    let text = stdout(&output);
    assert!(
        text.contains("principal: loans") && text.contains("confidential"),
        "{text}"
    );
    let secret = std::fs::read_to_string(env.path("loans.grant.secret")).unwrap();
    let secret_body = secret.trim().trim_start_matches("tierseal-grant:");
    assert!(!text.contains(secret_body));

    let before = std::fs::read(env.path("loans.grant")).unwrap();
    env.cmd()
        .args([
            "grant",
            "issue",
            "--principal",
            "loans",
            "--clearance",
            "internal",
        ])
        .args(["--expires", "2w", "--out", "loans.grant"])
        .assert()
        .code(1);
    assert_eq!(std::fs::read(env.path("loans.grant")).unwrap(), before);
    env.bare()
        .args(["grant", "show", "missing.grant"])
        .assert()
        .code(1);
    std::fs::write(env.path("junk.grant"), "junk").unwrap();
    env.bare()
        .args(["grant", "show", "junk.grant"])
        .assert()
        .code(1);
}

#[cfg(unix)]
#[test]
fn force_replaces_a_loose_secret_file_with_an_owner_only_one() {
    use std::os::unix::fs::PermissionsExt as _;
    let env = Env::initialised();
    let secret = env.path("svc.grant.secret");
    std::fs::write(&secret, "an old secret\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    // A reader that had the old file open never sees the new secret.
    let mut reader = std::fs::File::open(&secret).unwrap();
    env.cmd()
        .args([
            "grant",
            "issue",
            "--principal",
            "svc",
            "--clearance",
            "internal",
        ])
        .args(["--expires", "1d", "--out", "svc.grant", "--force"])
        .assert()
        .success();
    let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(
        std::fs::read_to_string(&secret)
            .unwrap()
            .starts_with("tierseal-grant:")
    );
    let mut seen = String::new();
    std::io::Read::read_to_string(&mut reader, &mut seen).unwrap();
    assert_eq!(seen, "an old secret\n");
    let leftovers = std::fs::read_dir(env.dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".tierseal-secret-")
        })
        .count();
    assert_eq!(leftovers, 0);
}
