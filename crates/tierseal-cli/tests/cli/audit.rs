use crate::{Env, stderr, stdout};

fn log(env: &Env) -> std::path::PathBuf {
    env.path("bank.keystore.audit.jsonl")
}

#[test]
fn key_operations_are_recorded_and_the_chain_verifies() {
    let env = Env::initialised();
    env.cmd()
        .args([
            "--actor",
            "alice",
            "keys",
            "rotate",
            "--tier",
            "restricted/cards",
            "--reason",
            "CHG-1",
        ])
        .assert()
        .success();
    env.cmd()
        .args([
            "--actor",
            "bob",
            "keys",
            "retire",
            "--tier",
            "restricted/cards",
            "--version",
            "1",
            "--yes",
        ])
        .assert()
        .success();

    let output = env
        .cmd()
        .args(["audit", "verify"])
        .arg(log(&env))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("3 entries, chain intact"),
        "{}",
        stdout(&output)
    );

    let output = env
        .bare()
        .args(["audit", "show"])
        .arg(log(&env))
        .output()
        .unwrap();
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].contains(" init ok "), "{text}");
    assert!(
        lines[1].contains(" rotate ok by alice")
            && lines[1].contains("restricted/cards v2 (CHG-1)"),
        "{text}"
    );
    assert!(
        lines[2].contains(" retire ok by bob") && lines[2].contains("restricted/cards v1"),
        "{text}"
    );

    let output = env
        .bare()
        .args(["audit", "show", "--principal", "bob", "--json"])
        .arg(log(&env))
        .output()
        .unwrap();
    let entries: Vec<serde_json::Value> = stdout(&output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["event"]["action"], "retire");
    let output = env
        .bare()
        .args(["audit", "show", "--action", "rotate", "--since", "1h"])
        .arg(log(&env))
        .output()
        .unwrap();
    assert_eq!(stdout(&output).lines().count(), 1);
    env.bare()
        .args(["audit", "show", "--since", "yesterday"])
        .arg(log(&env))
        .assert()
        .code(2);
}

#[test]
fn verify_names_the_first_tampered_entry() {
    let env = Env::initialised();
    for _ in 0..3 {
        env.cmd()
            .args(["keys", "rotate", "--tier", "internal"])
            .assert()
            .success();
    }
    let text = std::fs::read_to_string(log(&env)).unwrap();
    let tampered = text.replacen("\"key_version\":2", "\"key_version\":9", 1);
    assert_ne!(text, tampered);
    std::fs::write(log(&env), tampered).unwrap();
    let output = env
        .cmd()
        .args(["audit", "verify"])
        .arg(log(&env))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("line 2 (entry 2)"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn grants_and_passphrase_changes_are_recorded() {
    let env = Env::initialised();
    env.cmd()
        .args([
            "grant",
            "issue",
            "--principal",
            "loans",
            "--clearance",
            "internal",
            "--expires",
            "1d",
            "--out",
            "g",
        ])
        .assert()
        .success();
    env.change_passphrase("another passphrase");
    let output = env
        .bare()
        .args(["audit", "show"])
        .arg(log(&env))
        .output()
        .unwrap();
    let text = stdout(&output);
    assert!(
        text.contains("grant-issue ok") && text.contains("to loans for internal"),
        "{text}"
    );
    assert!(text.contains("passphrase-change ok"), "{text}");
    assert!(!text.contains("another passphrase"));
}
