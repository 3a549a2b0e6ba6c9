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
    let fixture = Fixture::new();
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
    let fixture = Fixture::new();
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
    let fixture = Fixture::new();
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
