use std::time::{Duration, SystemTime};

use tierseal::{Binding, Error, GrantSecret, Keyring, SealedValue, Tier};

use crate::{Env, stderr, stdout};

fn ctx() -> tierseal::AccessContext {
    tierseal::AccessContext::new("grant-test").with_purpose("TEST")
}

#[test]
fn an_issued_grant_loads_in_the_library_and_carries_only_its_tiers() {
    let env = Env::initialised();
    let output = env
        .issue_grant("card-ops", "internal,restricted/cards", "30d", "ops.grant")
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
    env.issue_grant("svc", "internal", "1h", "svc.grant")
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
    env.issue_grant("loans", "internal,confidential", "2w", "loans.grant")
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
    env.issue_grant("loans", "internal", "2w", "loans.grant")
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
    env.issue_grant("svc", "internal", "1d", "svc.grant")
        .arg("--force")
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

// ---- The grant register, retire, reserved principals -----------------------

/// `tierseal grant issue --principal P --clearance C --expires E --out P.grant`.
fn issue(env: &Env, principal: &str, clearance: &str, expires: &str) -> std::process::Output {
    env.issue_grant(
        principal,
        clearance,
        expires,
        &format!("{}.grant", principal.trim()),
    )
    .output()
    .unwrap()
}

/// `tierseal keys retire --tier restricted/cards --version 1 --yes` + `extra`.
fn retire_cards_v1(env: &Env, extra: &[&str]) -> std::process::Output {
    env.cmd()
        .args([
            "keys",
            "retire",
            "--tier",
            "restricted/cards",
            "--version",
            "1",
        ])
        .arg("--yes")
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn grant_list_shows_every_issued_grant_and_marks_expired_ones() {
    let env = Env::initialised();
    let output = issue(&env, "card-ops", "internal,restricted/cards", "30d");
    assert!(output.status.success(), "{}", stderr(&output));
    let issued = stdout(&output);
    assert!(issued.contains("grant id:"), "{issued}");
    assert!(issue(&env, "brief", "internal", "1s").status.success());
    // Wait until the short grant has expired, by the register's own clock.
    let expiry = env.open().issued_grants()[1].expires_at;
    while SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        < expiry
    {
        std::thread::sleep(Duration::from_millis(100));
    }

    let output = env.cmd().args(["grant", "list"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let register = env.open().issued_grants().to_vec();
    let ops_line = text
        .lines()
        .find(|l| l.contains("card-ops"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(ops_line.contains(&register[0].id.to_string()), "{text}");
    assert!(ops_line.contains("restricted/cards v1"), "{text}");
    assert!(!ops_line.contains("EXPIRED"), "{text}");
    let brief_line = text.lines().find(|l| l.contains("brief")).unwrap();
    assert!(brief_line.contains("EXPIRED"), "{text}");
    assert!(issued.contains(&register[0].id.to_string()), "{issued}");

    let output = env
        .cmd()
        .args(["grant", "list", "--json"])
        .output()
        .unwrap();
    let rows: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(rows[0]["principal"], "card-ops");
    assert_eq!(rows[0]["id"], register[0].id.to_string());
    assert_eq!(rows[0]["expired"], false);
    assert_eq!(rows[1]["expired"], true);
    assert_eq!(rows[0]["tiers"][1]["tier"], "restricted/cards");
    assert_eq!(rows[0]["tiers"][1]["versions"][0], 1);
}

#[test]
fn retire_names_the_outstanding_grants_and_refuses_without_force() {
    let env = Env::initialised();
    assert!(
        issue(&env, "card-ops", "restricted/cards", "30d")
            .status
            .success()
    );
    assert!(issue(&env, "loans", "internal", "30d").status.success());
    env.cmd()
        .args(["keys", "rotate", "--tier", "restricted/cards"])
        .assert()
        .success();
    let id = env.open().issued_grants()[0].id.to_string();
    let retired = |env: &Env| {
        env.open().key_versions().iter().any(|v| {
            v.version == 1 && v.tier.to_string() == "restricted/cards" && v.retired_at.is_some()
        })
    };

    for extra in [&[][..], &["--dry-run"][..]] {
        let output = retire_cards_v1(&env, extra);
        assert_eq!(output.status.code(), Some(1), "{extra:?}");
        let text = stderr(&output);
        assert!(text.contains("card-ops") && text.contains(&id), "{text}");
        assert!(!text.contains("loans"), "{text}");
        assert!(text.contains("--force"), "{text}");
        assert!(!retired(&env));
    }

    let output = retire_cards_v1(&env, &["--force"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("card-ops"), "{}", stderr(&output));
    assert!(retired(&env));
    let log = std::fs::read_to_string(env.path("bank.keystore.audit.jsonl")).unwrap();
    let last = log.lines().last().unwrap();
    assert!(
        last.contains("\"retire\"") && last.contains(&id) && last.contains("card-ops"),
        "{last}"
    );
}

#[test]
fn grants_to_the_custodian_or_a_name_that_reads_as_it_are_refused() {
    let env = Env::initialised();
    for principal in ["custodian", "Custodian", " CUSTODIAN ", "custo\u{200B}dian"] {
        let output = issue(&env, principal, "internal", "30d");
        assert_eq!(output.status.code(), Some(1), "{principal:?}");
        let text = stderr(&output);
        assert!(text.contains("reserved"), "{principal:?}: {text}");
        assert!(!env.path(&format!("{}.grant", principal.trim())).exists());
        assert!(
            !env.path(&format!("{}.grant.secret", principal.trim()))
                .exists()
        );
    }
    assert!(env.open().issued_grants().is_empty());
}
