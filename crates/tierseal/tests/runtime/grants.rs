use std::time::{Duration, SystemTime};

use tierseal::{
    Binding, Clearance, Error, GrantInfo, GrantSecret, Keyring, Level, SealedValue, Tier,
};

use crate::common::{Fixture, cards};

const DAY: Duration = Duration::from_secs(86_400);

fn loans_clearance() -> Clearance {
    Clearance::up_to(Level::Confidential).with("confidential/payroll".parse().unwrap())
}

#[test]
fn a_grant_carries_exactly_the_granted_tiers() {
    let mut fixture = Fixture::new();
    let (file, secret) = fixture
        .keystore
        .issue_grant(&loans_clearance(), "loans-service", SystemTime::now() + DAY)
        .unwrap();

    let info = GrantInfo::read(&file).unwrap();
    assert_eq!(info.principal, "loans-service");
    let names: Vec<_> = info.tiers.iter().map(|t| t.tier.to_string()).collect();
    assert_eq!(names, ["internal", "confidential", "confidential/payroll"]);

    let secret: GrantSecret = secret.expose_text().parse().unwrap();
    let service = Keyring::from_grant(&file, &secret).unwrap();
    assert_eq!(service.clearance(), loans_clearance());

    let all = fixture.everything();
    let binding = Binding::new("Loan", "balance");
    let balance = SealedValue::seal(&all, &Tier::CONFIDENTIAL, binding, &250_000_i64).unwrap();
    assert_eq!(
        balance
            .open::<i64>(&service, binding, &crate::common::CTX)
            .unwrap(),
        250_000
    );
    let card = SealedValue::seal(&all, &cards(), binding, "4111111111111111").unwrap();
    assert!(matches!(
        card.open::<String>(&service, binding, &crate::common::CTX),
        Err(Error::NotGranted { .. })
    ));
}

#[test]
fn an_expired_grant_is_refused() {
    let mut fixture = Fixture::new();
    let (file, secret) = fixture
        .keystore
        .issue_grant(&loans_clearance(), "loans-service", SystemTime::now() + DAY)
        .unwrap();
    let later = SystemTime::now() + 2 * DAY;
    let err = Keyring::from_grant_at(&file, &secret, later).unwrap_err();
    assert!(
        matches!(&err, Error::GrantExpired { principal, .. } if principal == "loans-service"),
        "{err:?}"
    );
    assert!(
        fixture
            .keystore
            .issue_grant(&loans_clearance(), "x", SystemTime::now() - DAY)
            .is_err()
    );
}

#[test]
fn a_tampered_grant_or_wrong_secret_is_refused() {
    let mut fixture = Fixture::new();
    let (file, secret) = fixture
        .keystore
        .issue_grant(&loans_clearance(), "loans-service", SystemTime::now() + DAY)
        .unwrap();
    for position in 0..file.len() {
        let mut bad = file.clone();
        bad[position] ^= 0x01;
        let err = Keyring::from_grant(&bad, &secret).unwrap_err();
        assert!(
            matches!(err, Error::GrantInvalid { .. }),
            "byte {position}: {err:?}"
        );
    }
    for len in 0..file.len() {
        assert!(
            Keyring::from_grant(&file[..len], &secret).is_err(),
            "len {len}"
        );
    }
    let (_, other_secret) = fixture
        .keystore
        .issue_grant(&loans_clearance(), "other", SystemTime::now() + DAY)
        .unwrap();
    assert!(matches!(
        Keyring::from_grant(&file, &other_secret),
        Err(Error::GrantInvalid { .. })
    ));
    assert!("tierseal-grant:short".parse::<GrantSecret>().is_err());
    assert!("nonsense".parse::<GrantSecret>().is_err());
}

// ---- The grant register ----------------------------------------------------

#[test]
fn every_issued_grant_is_recorded_with_its_versions_and_expiry() {
    let mut fixture = Fixture::new();
    let path = fixture.path();
    let expires = SystemTime::now() + DAY;
    fixture
        .keystore
        .issue_grant(&loans_clearance(), "loans-service", expires)
        .unwrap();
    fixture.keystore.rotate(&cards()).unwrap();
    fixture
        .keystore
        .issue_grant(&Clearance::none().with(cards()), "card-ops", expires)
        .unwrap();
    drop(fixture.keystore);

    let keystore = tierseal::Keystore::open(&path, &crate::common::PASSPHRASE.into()).unwrap();
    let register = keystore.issued_grants();
    assert_eq!(register.len(), 2);
    let (loans, ops) = (&register[0], &register[1]);
    assert_eq!(loans.principal, "loans-service");
    assert_eq!(ops.principal, "card-ops");
    assert_ne!(loans.id, ops.id);
    let expires_secs = expires
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(loans.expires_at, expires_secs);
    assert!(loans.issued_at <= expires_secs && loans.issued_at > expires_secs - 2 * 86_400);
    let tiers: Vec<_> = loans.tiers.iter().map(|t| t.tier.to_string()).collect();
    assert_eq!(tiers, ["internal", "confidential", "confidential/payroll"]);
    assert_eq!(ops.tiers.len(), 1);
    assert_eq!(ops.tiers[0].tier, cards());
    assert_eq!(ops.tiers[0].versions, [1, 2]);
    assert!(ops.carries(&cards(), 1) && ops.carries(&cards(), 2));
    assert!(!loans.carries(&cards(), 1));
    drop(fixture.dir);
}

#[test]
fn a_refused_grant_is_not_recorded() {
    let mut fixture = Fixture::new();
    for principal in ["", "custodian"] {
        assert!(
            fixture
                .keystore
                .issue_grant(&loans_clearance(), principal, SystemTime::now() + DAY)
                .is_err()
        );
    }
    assert!(
        fixture
            .keystore
            .issue_grant(&loans_clearance(), "x", SystemTime::now() - DAY)
            .is_err()
    );
    assert!(fixture.keystore.issued_grants().is_empty());
}

#[test]
fn retiring_a_version_an_unexpired_grant_carries_is_refused() {
    let mut fixture = Fixture::new();
    fixture
        .keystore
        .issue_grant(
            &Clearance::none().with(cards()),
            "card-ops",
            SystemTime::now() + DAY,
        )
        .unwrap();
    fixture.keystore.rotate(&cards()).unwrap();

    let outstanding = fixture
        .keystore
        .outstanding_grants(&cards(), 1, SystemTime::now());
    assert_eq!(outstanding.len(), 1);
    assert_eq!(outstanding[0].principal, "card-ops");
    // Nothing carries v2, and nothing is outstanding once the grant expired.
    assert!(
        fixture
            .keystore
            .outstanding_grants(&cards(), 2, SystemTime::now())
            .is_empty()
    );
    assert!(
        fixture
            .keystore
            .outstanding_grants(&cards(), 1, SystemTime::now() + 2 * DAY)
            .is_empty()
    );

    let err = fixture.keystore.retire(&cards(), 1).unwrap_err();
    assert!(
        matches!(
            err,
            Error::GrantsOutstanding {
                version: 1,
                grants: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("retire it anyway"), "{err}");
    let state = |keystore: &tierseal::Keystore| {
        keystore
            .key_versions()
            .into_iter()
            .find(|v| v.tier == cards() && v.version == 1)
            .unwrap()
            .state
    };
    assert_eq!(state(&fixture.keystore), tierseal::KeyState::DecryptOnly);

    fixture.keystore.retire_despite_grants(&cards(), 1).unwrap();
    assert_eq!(state(&fixture.keystore), tierseal::KeyState::Retired);
}

#[test]
fn the_custodian_principal_and_names_that_read_as_it_are_reserved() {
    let mut fixture = Fixture::new();
    for principal in [
        "custodian",
        "Custodian",
        "CUSTODIAN",
        " custodian",
        "custodian\n",
        "\tCustodian ",
        "cus todian",
        "custo\u{200B}dian",
        "\u{FEFF}custodian",
        "custodian\u{00AD}",
        "cusTODian\u{2060}",
        // Letters of other scripts that look alike: Cyrillic, Greek, fullwidth.
        "\u{0441}ustodian",
        "custod\u{0456}an",
        "cust\u{03BF}dian",
        "\u{FF43}\u{FF55}\u{FF53}\u{FF54}\u{FF4F}\u{FF44}\u{FF49}\u{FF41}\u{FF4E}",
        "c\u{00FC}stodian",
    ] {
        let err = fixture
            .keystore
            .issue_grant(&loans_clearance(), principal, SystemTime::now() + DAY)
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::ReservedPrincipal {
                    reserved: "custodian",
                    ..
                }
            ),
            "{principal:?}: {err:?}"
        );
        assert!(err.to_string().contains("reserved"), "{err}");
    }
    assert_eq!(tierseal::RESERVED_PRINCIPALS, [tierseal::CUSTODIAN]);
    // Names that merely contain it are ordinary principals.
    for principal in [
        "custodian-backup",
        "not custodian",
        "\u{4E2D}\u{6587}\u{540D}\u{5B57}\u{670D}\u{52A1}\u{7CFB}\u{7EDF}\u{4E00}",
    ] {
        fixture
            .keystore
            .issue_grant(&loans_clearance(), principal, SystemTime::now() + DAY)
            .unwrap();
    }
    assert_eq!(fixture.keystore.issued_grants().len(), 3);
}

#[test]
fn principals_with_control_characters_are_refused() {
    let mut fixture = Fixture::new();
    for principal in [
        "svc\u{1b}[31m",
        "svc\u{0}",
        "a\rb",
        "svc\u{7f}",
        "svc\u{85}",
    ] {
        let err = fixture
            .keystore
            .issue_grant(&loans_clearance(), principal, SystemTime::now() + DAY)
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidParameter {
                    what: "principal",
                    ..
                }
            ),
            "{principal:?}: {err:?}"
        );
    }
    assert!(fixture.keystore.issued_grants().is_empty());
}
