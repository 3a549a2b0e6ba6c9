use proptest::prelude::*;
use tierseal::GrantInfo;

use crate::{Env, stderr, stdout};

/// Rust's exit code for a panic.
const PANIC: i32 = 101;

fn assert_no_panic(output: &std::process::Output, what: &str) {
    assert_ne!(
        output.status.code(),
        Some(PANIC),
        "{what}: {}",
        stderr(output)
    );
    assert!(output.status.code().is_some(), "{what}: killed by a signal");
    assert!(
        !stderr(output).contains("panicked"),
        "{what}: {}",
        stderr(output)
    );
}

#[test]
fn a_grant_expiring_after_the_year_9999_is_shown() {
    let env = Env::initialised();
    env.issue_grant("svc", "internal", "30d", "svc.grant")
        .assert()
        .success();
    // Rewrite the (unauthenticated, display-only) header as a forger could.
    let bytes = std::fs::read(env.path("svc.grant")).unwrap();
    let mut info = GrantInfo::read(&bytes).unwrap();
    let old_len = usize::try_from(u32::from_be_bytes(bytes[5..9].try_into().unwrap())).unwrap();
    info.issued_at = u64::MAX;
    info.expires_at = u64::MAX;
    let header = postcard::to_allocvec(&info).unwrap();
    let mut forged = bytes[..5].to_vec();
    forged.extend_from_slice(&u32::try_from(header.len()).unwrap().to_be_bytes());
    forged.extend_from_slice(&header);
    forged.extend_from_slice(&bytes[9 + old_len..]);
    std::fs::write(env.path("forged.grant"), forged).unwrap();

    let output = env
        .cmd()
        .args(["grant", "show", "forged.grant"])
        .output()
        .unwrap();
    assert_no_panic(&output, "grant show");
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("expires:   after the year 9999 (Unix time 18446744073709551615)"),
        "{}",
        stdout(&output)
    );
    let output = env
        .cmd()
        .args(["grant", "show", "--json", "forged.grant"])
        .output()
        .unwrap();
    assert!(
        stdout(&output).contains("18446744073709551615"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn huge_numbers_are_refused_or_clamped() {
    let env = Env::initialised();
    for (args, code, says) in [
        (
            &["keys", "check", "--within", "18446744073709551615"][..],
            2,
            "at most 100 years",
        ),
        (
            &["keys", "check", "--within", "36500d"],
            1,
            "overdue: internal v1",
        ),
        (
            &[
                "grant",
                "issue",
                "--principal",
                "svc",
                "--clearance",
                "internal",
                "--expires",
                "18446744073709551615d",
                "--out",
                "g",
            ],
            2,
            "at most 100 years",
        ),
        (
            &["--lock-wait", "18446744073709551615", "keys", "list"],
            0,
            "internal",
        ),
        (
            &["--lock-wait", "18446744073709551616", "keys", "list"],
            2,
            "number too large",
        ),
        (
            &[
                "keys",
                "promote",
                "--tier",
                "internal",
                "--version",
                "4294967295",
            ],
            1,
            "v4294967295",
        ),
    ] {
        let output = env.cmd().args(args).output().unwrap();
        assert_no_panic(&output, &args.join(" "));
        assert_eq!(
            output.status.code(),
            Some(code),
            "{args:?}: {}",
            stderr(&output)
        );
        let text = stdout(&output) + &stderr(&output);
        assert!(text.contains(says), "{args:?}: {text}");
    }
}

/// Numbers at and around every integer boundary, with and without units.
fn number() -> impl Strategy<Value = String> {
    let edges = prop::sample::select(vec![
        "0".to_owned(),
        "1".into(),
        "-1".into(),
        u32::MAX.to_string(),
        (u64::from(u32::MAX) + 1).to_string(),
        i64::MAX.to_string(),
        u64::MAX.to_string(),
        "18446744073709551616".into(),
        "340282366920938463463374607431768211456".into(),
        "1e999".into(),
        "0x10".into(),
        " 7".into(),
    ]);
    let unit = prop::sample::select(vec!["", "s", "m", "h", "d", "w", "y", "ms", "ns", "M", "x"]);
    prop_oneof![
        (edges.clone(), unit.clone()).prop_map(|(n, u)| format!("{n}{u}")),
        (any::<u64>(), unit).prop_map(|(n, u)| format!("{n}{u}")),
        edges,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Every numeric argument of the CLI, given any number, is an error
    /// or works: never a panic.
    #[test]
    fn numeric_arguments_never_panic(n in number()) {
        let env = Env::initialised();
        let commands: [&[&str]; 8] = [
            &["keys", "check", "--within", &n],
            &["grant", "issue", "--principal", "svc", "--clearance", "internal", "--expires", &n, "--out", "g", "--force"],
            &["--lock-wait", &n, "keys", "list"],
            &["keys", "promote", "--tier", "internal", "--version", &n, "--dry-run"],
            &["keys", "retire", "--tier", "internal", "--version", &n, "--dry-run"],
            &["keys", "cryptoperiod", "--tier", "internal", "--days", &n],
            &["keys", "check"],
            &["audit", "show", "bank.keystore.audit.jsonl", "--since", &n],
        ];
        for args in commands {
            let output = env.cmd().args(args).output().unwrap();
            assert_no_panic(&output, &args.join(" "));
            prop_assert!(matches!(output.status.code(), Some(0..=2)), "{:?}: {}", args, stderr(&output));
        }
    }
}
