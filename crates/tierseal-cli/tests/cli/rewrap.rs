use std::io::Write as _;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tierseal::{AccessContext, Classified, Error};

use crate::{Env, stderr, stdout};

#[derive(Classified, Clone, PartialEq, Serialize, Deserialize)]
#[classified(record_id = "id")]
struct Account {
    #[classify(public)]
    id: String,
    #[classify(internal)]
    holder: String,
    #[classify(restricted, compartment = "cards", mask = "last4")]
    card_number: String,
}

fn account(i: usize) -> Account {
    Account {
        id: format!("acc_{i:06}"),
        holder: format!("holder {i}"),
        card_number: format!("4111{i:012}"),
    }
}

/// Writes `count` records as JSON Lines, sealed tokens nested in a
/// document with other fields.
fn write_records(env: &Env, name: &str, count: usize) {
    let keyring = env.keyring();
    let mut file = std::io::BufWriter::new(std::fs::File::create(env.path(name)).unwrap());
    for i in 0..count {
        let sealed = account(i).seal(&keyring).unwrap();
        let line = serde_json::json!({ "kind": "account", "seq": i, "record": sealed });
        writeln!(file, "{line}").unwrap();
    }
}

fn read_records(env: &Env, name: &str) -> Vec<SealedAccount> {
    std::fs::read_to_string(env.path(name))
        .unwrap()
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            serde_json::from_value(value["record"].clone()).unwrap()
        })
        .collect()
}

/// `tierseal keys retire --tier restricted/cards --version 1 --data FILE ...`.
fn retire_v1(env: &Env, data: &str, extra: &[&str]) -> assert_cmd::Command {
    let mut cmd = env.cmd();
    cmd.args([
        "keys",
        "retire",
        "--tier",
        "restricted/cards",
        "--version",
        "1",
        "--data",
        data,
    ]);
    cmd.args(extra);
    cmd
}

fn ctx() -> AccessContext {
    AccessContext::new("test").with_purpose("rewrap test")
}

#[test]
fn rewrap_then_retire_then_open_with_the_library() {
    let env = Env::initialised();
    write_records(&env, "data.jsonl", 50);
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
    assert!(
        text.contains("50 records: rewrapped 50 data keys, 50 already current, 0 failed"),
        "{text}"
    );
    assert!(
        text.contains("no data key references an old version"),
        "{text}"
    );

    // Only the wrapped keys changed: every other byte of the line is kept.
    let old = std::fs::read_to_string(env.path("data.jsonl")).unwrap();
    let new = std::fs::read_to_string(env.path("new.jsonl")).unwrap();
    assert_eq!(old.len(), new.len());
    let (old_first, new_first) = (old.lines().next().unwrap(), new.lines().next().unwrap());
    assert_ne!(old_first, new_first);
    assert_eq!(
        old_first.split("tierseal:").count(),
        new_first.split("tierseal:").count()
    );

    // Retire is refused while the old file references v1, allowed on the new one.
    let output = retire_v1(&env, "data.jsonl", &["--yes"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("50 stored values are still wrapped"),
        "{}",
        stderr(&output)
    );

    retire_v1(&env, "new.jsonl", &["--dry-run"])
        .assert()
        .success();
    assert!(
        env.open()
            .key_versions()
            .iter()
            .all(|v| v.retired_at.is_none()),
        "dry run changes nothing"
    );

    // Without a terminal and without --yes, retire asks and is refused.
    retire_v1(&env, "new.jsonl", &[]).assert().code(1);
    retire_v1(&env, "new.jsonl", &["--yes"]).assert().success();

    let keyring = env.keyring();
    for (i, record) in read_records(&env, "new.jsonl").iter().enumerate() {
        assert!(record.open_all(&keyring, &ctx()).unwrap() == account(i));
    }
    let stale = &read_records(&env, "data.jsonl")[0];
    assert!(matches!(
        stale.open_all(&keyring, &ctx()),
        Err(Error::KeyRetired { version: 1, .. })
    ));
}

#[test]
fn a_bad_line_is_reported_by_number_and_nothing_is_written() {
    let env = Env::initialised();
    write_records(&env, "data.jsonl", 3);
    let mut text = std::fs::read_to_string(env.path("data.jsonl")).unwrap();
    text.push_str("{\"broken\": \n");
    text.push_str("{\"token\": \"tierseal:AAAA\"}\n");
    std::fs::write(env.path("data.jsonl"), &text).unwrap();

    let output = env
        .cmd()
        .args(["rewrap", "--input", "data.jsonl", "--in-place"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("line 4: not JSON"), "{err}");
    assert!(
        err.contains("line 5: sealed data has format version 0"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(env.path("data.jsonl")).unwrap(),
        text,
        "input intact"
    );

    env.cmd()
        .args(["rewrap", "--input", "data.jsonl", "--output", "out.jsonl"])
        .assert()
        .code(1);
    assert!(!env.path("out.jsonl").exists());
}

#[test]
fn rewrap_never_overwrites_an_existing_output() {
    let env = Env::initialised();
    write_records(&env, "data.jsonl", 2);
    std::fs::write(env.path("out.jsonl"), "keep me").unwrap();
    env.cmd()
        .args(["rewrap", "--input", "data.jsonl", "--output", "out.jsonl"])
        .assert()
        .code(1);
    assert_eq!(
        std::fs::read_to_string(env.path("out.jsonl")).unwrap(),
        "keep me"
    );
    env.cmd()
        .args(["rewrap", "--input", "data.jsonl"])
        .assert()
        .code(2);
}

#[test]
fn a_rewrap_killed_mid_run_leaves_the_input_intact_and_a_rerun_completes() {
    let env = Env::initialised();
    write_records(&env, "data.jsonl", 20_000);
    env.cmd()
        .args(["keys", "rotate", "--tier", "restricted/cards"])
        .assert()
        .success();
    env.cmd()
        .args(["keys", "rotate", "--tier", "internal"])
        .assert()
        .success();
    let original = std::fs::read(env.path("data.jsonl")).unwrap();

    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("tierseal"))
        .current_dir(env.dir.path())
        .arg("--keystore")
        .arg(env.keystore())
        .arg("--passphrase-file")
        .arg(env.path("pass"))
        .args(["rewrap", "--input", "data.jsonl", "--in-place"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it while its temporary output exists, i.e. mid-run.
    let in_progress = || {
        std::fs::read_dir(env.dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .any(|entry| {
                entry
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".tierseal-rewrap-")
            })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !in_progress() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the rewrap ended before it could be interrupted"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the rewrap never started"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(20));
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed before it finished");
    assert_eq!(
        std::fs::read(env.path("data.jsonl")).unwrap(),
        original,
        "input intact after the kill"
    );

    let output = env
        .cmd()
        .args(["rewrap", "--input", "data.jsonl", "--in-place"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("20000 records"),
        "{}",
        stdout(&output)
    );
    let output = env
        .cmd()
        .args(["rewrap", "--input", "data.jsonl", "--in-place"])
        .output()
        .unwrap();
    assert!(
        stdout(&output).contains("rewrapped 0 data keys, 40000 already current"),
        "a rerun is idempotent: {}",
        stdout(&output)
    );
    let keyring = env.keyring();
    let records = read_records(&env, "data.jsonl");
    assert!(records[19_999].open_all(&keyring, &ctx()).unwrap() == account(19_999));
}
