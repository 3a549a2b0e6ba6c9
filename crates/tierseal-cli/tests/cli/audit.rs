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
    // Each operation is an intent and its outcome.
    assert!(
        stdout(&output).contains("6 entries, chain intact"),
        "{}",
        stdout(&output)
    );

    let output = env
        .cmd()
        .args(["audit", "show"])
        .arg(log(&env))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(!text.contains("UNVERIFIED"), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "{text}");
    assert!(lines[0].contains(" init intent "), "{text}");
    assert!(
        lines[1].contains(" init ok ") && lines[1].ends_with("[outcome of #1]"),
        "{text}"
    );
    assert!(
        lines[2].contains(" rotate intent by alice")
            && lines[2].contains("restricted/cards v2 (CHG-1)"),
        "{text}"
    );
    assert!(
        lines[3].contains(" rotate ok by alice")
            && lines[3].contains("restricted/cards v2 (CHG-1) [outcome of #3]"),
        "{text}"
    );
    assert!(
        lines[5].contains(" retire ok by bob") && lines[5].contains("restricted/cards v1"),
        "{text}"
    );

    let output = env
        .cmd()
        .args(["audit", "show", "--principal", "bob", "--json"])
        .arg(log(&env))
        .output()
        .unwrap();
    let entries: Vec<serde_json::Value> = stdout(&output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1]["event"]["action"], "retire");
    assert_eq!(entries[1]["event"]["intent"], 5);
    assert_eq!(entries[1]["verified"], true);
    let output = env
        .cmd()
        .args(["audit", "show", "--action", "rotate", "--since", "1h"])
        .arg(log(&env))
        .output()
        .unwrap();
    assert_eq!(stdout(&output).lines().count(), 2);
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
    // Entry 3 is the first rotation's intent, naming v2.
    assert!(
        stderr(&output).contains("line 3 (entry 3)"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn grants_and_passphrase_changes_are_recorded() {
    let env = Env::initialised();
    env.issue_grant("loans", "internal", "1d", "g")
        .assert()
        .success();
    env.change_passphrase("another passphrase");
    std::fs::write(env.path("pass"), "another passphrase\n").unwrap();
    let output = env
        .cmd()
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

fn run(env: &Env, args: &[&str]) -> std::process::Output {
    env.cmd().args(args).output().unwrap()
}

fn rotate(env: &Env) {
    env.cmd()
        .args(["keys", "rotate", "--tier", "internal"])
        .assert()
        .success();
}

fn keep_lines(path: &std::path::Path, count: usize) {
    let text = std::fs::read_to_string(path).unwrap();
    let kept: String = text.lines().take(count).map(|l| format!("{l}\n")).collect();
    std::fs::write(path, kept).unwrap();
}

/// A service's log of `count` entries, signed with its own derived key.
fn service_log(env: &Env, count: usize) -> std::path::PathBuf {
    use tierseal::audit::{Action, AuditEvent, AuditSink as _, Durability, FileSink, Outcome};
    let path = env.path("service.jsonl");
    let key = env.open().audit_key().unwrap().derive("loans").unwrap();
    let sink = FileSink::open(&path, key, Durability::Sync).unwrap();
    for _ in 0..count {
        sink.record(AuditEvent::now("loans", "alice", Action::Open, Outcome::Ok))
            .unwrap();
    }
    path
}

#[test]
fn a_checkpoint_file_finds_removed_last_entries() {
    let env = Env::initialised();
    let log = service_log(&env, 4);
    let log_arg = log.to_str().unwrap();
    let output = run(&env, &["audit", "checkpoint", log_arg, "--out", "cp"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("entries 1..=4 checkpointed"),
        "{}",
        stdout(&output)
    );
    // Refuses to overwrite without --force.
    let again = run(&env, &["audit", "checkpoint", log_arg, "--out", "cp"]);
    assert_eq!(again.status.code(), Some(1));
    service_log(&env, 2);

    let output = run(&env, &["audit", "verify", log_arg, "--checkpoint", "cp"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("6 entries, chain intact"), "{text}");
    assert!(
        text.contains("entries 1..=4 covered by the checkpoint of 20")
            && text.contains("; 2 entries after it not covered"),
        "{text}"
    );
    // Without a checkpoint, verify says what it cannot see.
    let output = run(&env, &["audit", "verify", log_arg]);
    assert!(
        stdout(&output).contains("not covered by a checkpoint"),
        "{}",
        stdout(&output)
    );

    // Entries 4..=6 removed: the chain alone cannot tell...
    keep_lines(&log, 3);
    assert!(run(&env, &["audit", "verify", log_arg]).status.success());
    // ...the checkpoint can.
    let output = run(&env, &["audit", "verify", log_arg, "--checkpoint", "cp"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("entries 4..=4 were removed"),
        "{}",
        stderr(&output)
    );

    // An edited checkpoint file is refused.
    let text = std::fs::read_to_string(env.path("cp")).unwrap();
    std::fs::write(env.path("cp"), text.replace("\"seq\":4", "\"seq\":3")).unwrap();
    let output = run(&env, &["audit", "verify", log_arg, "--checkpoint", "cp"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("MAC does not match"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn the_keystore_checkpoints_its_own_log_on_every_key_operation() {
    let env = Env::initialised();
    rotate(&env);
    let log = log(&env);
    let log_arg = log.to_str().unwrap();
    let output = run(&env, &["audit", "verify", log_arg]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("entries 1..=4 covered by the checkpoint of 20"),
        "{}",
        stdout(&output)
    );
    assert_eq!(env.open().audit_checkpoint().unwrap().seq, 4);

    // The last operation's two entries removed: no checkpoint file needed.
    keep_lines(&log, 2);
    let output = run(&env, &["audit", "verify", log_arg]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("entries 3..=4 were removed"),
        "{}",
        stderr(&output)
    );

    // The next key operation does not paper over it: it records the loss
    // first, and the log never verifies as complete again.
    let output = env
        .cmd()
        .args(["keys", "rotate", "--tier", "internal"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("the audit log lost entries"),
        "{}",
        stderr(&output)
    );
    let output = run(&env, &["audit", "verify", log_arg]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("entry 3 records that entries were lost"),
        "{}",
        stderr(&output)
    );
    let output = run(&env, &["audit", "show", "--action", "log-loss", log_arg]);
    assert!(
        stdout(&output).contains("entries 3..=4 were removed"),
        "{}",
        stdout(&output)
    );

    // Every entry removed.
    std::fs::remove_file(&log).unwrap();
    let output = run(&env, &["audit", "verify", log_arg]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("were removed"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn an_empty_or_missing_log_does_not_verify() {
    let env = Env::initialised();
    let other = env.path("other.jsonl");
    std::fs::write(&other, b"").unwrap();
    let output = run(&env, &["audit", "verify", other.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("has no entries"),
        "{}",
        stderr(&output)
    );
    std::fs::remove_file(&other).unwrap();
    let output = run(&env, &["audit", "verify", other.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("there is no log"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn show_verifies_first_and_marks_what_did_not_verify() {
    let env = Env::initialised();
    rotate(&env);
    rotate(&env);
    let log = log(&env);
    let log_arg = log.to_str().unwrap();
    // Without a keystore there is nothing to verify with: every entry says so.
    let output = env
        .bare()
        .args(["audit", "show", log_arg])
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(
        stderr(&output).contains("was NOT verified"),
        "{}",
        stderr(&output)
    );
    let text = stdout(&output);
    assert_eq!(text.lines().count(), 6, "{text}");
    assert!(
        text.lines().all(|l| l.starts_with("UNVERIFIED #")),
        "{text}"
    );
    let output = run(&env, &["audit", "show", "--no-verify", log_arg]);
    assert!(
        stdout(&output)
            .lines()
            .all(|l| l.starts_with("UNVERIFIED #"))
    );

    // An edited fourth entry: the first three verify, the rest do not.
    let text = std::fs::read_to_string(&log).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[3] = lines[3].replace("\"principal\":\"", "\"principal\":\"x");
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    let output = run(&env, &["audit", "show", log_arg]);
    assert_eq!(output.status.code(), Some(1));
    let shown: Vec<String> = stdout(&output).lines().map(str::to_owned).collect();
    assert_eq!(shown.len(), 6, "{shown:?}");
    assert!(shown[..3].iter().all(|l| l.starts_with('#')), "{shown:?}");
    assert!(
        shown[3..].iter().all(|l| l.starts_with("UNVERIFIED #")),
        "{shown:?}"
    );
    assert!(
        stderr(&output).contains("line 4 (entry 4)"),
        "{}",
        stderr(&output)
    );
    let output = run(&env, &["audit", "show", "--json", log_arg]);
    let verified: Vec<bool> = stdout(&output)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["verified"]
                .as_bool()
                .unwrap()
        })
        .collect();
    assert_eq!(verified, [true, true, true, false, false, false]);
}

#[test]
fn a_key_operation_that_cannot_be_announced_does_not_happen() {
    let env = Env::initialised();
    let before = env.open().key_versions().len();
    drop(env.open());
    let output = env
        .cmd()
        .args(["--audit-log", "no/such/folder/audit.jsonl"])
        .args(["keys", "rotate", "--tier", "internal"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("nothing was changed"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        env.open().key_versions().len(),
        before,
        "the rotation happened unrecorded"
    );
}

#[test]
fn an_interrupted_key_operation_is_reported() {
    use tierseal::audit::{Action, AuditEvent, AuditSink as _, Durability, FileSink, Outcome};
    let env = Env::initialised();
    // What a custodian killed after the keystore save leaves: an intent
    // and no outcome.
    let key = env.open().audit_key().unwrap();
    let sink = FileSink::open(log(&env), key, Durability::Sync).unwrap();
    let mut event = AuditEvent::now("custodian", "alice", Action::Rotate, Outcome::Intent);
    event.tier = Some("internal".into());
    sink.record(event).unwrap();
    drop(sink);
    let output = run(&env, &["audit", "verify", log(&env).to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("entry 3: a rotate was announced and no outcome recorded"),
        "{}",
        stderr(&output)
    );
    let output = run(&env, &["audit", "show", log(&env).to_str().unwrap()]);
    let text = stdout(&output);
    assert!(
        text.lines()
            .nth(2)
            .unwrap()
            .ends_with("[NO OUTCOME: interrupted]"),
        "{text}"
    );
    // A later operation does not close it: only its own outcome would.
    rotate(&env);
    let output = run(&env, &["audit", "verify", log(&env).to_str().unwrap()]);
    assert!(
        stderr(&output).contains("entry 3: a rotate was announced"),
        "{}",
        stderr(&output)
    );
}

/// `audit checkpoint --force` replacing a checkpoint file and killed
/// while writing (here by a file size limit of zero, whose signal ends
/// the process at its first write) leaves the old checkpoint whole: it is
/// what proves the log's older tail, and the new one was not yet made.
#[cfg(unix)]
#[test]
fn a_checkpoint_replacement_killed_mid_write_keeps_the_old_checkpoint() {
    let env = Env::initialised();
    let log = service_log(&env, 4);
    let log_arg = log.to_str().unwrap();
    let output = run(&env, &["audit", "checkpoint", log_arg, "--out", "cp"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let before = std::fs::read(env.path("cp")).unwrap();
    service_log(&env, 2);

    let output = env
        .in_shell("ulimit -f 0 && exec \"$0\" \"$@\"")
        .args(["audit", "checkpoint", log_arg, "--out", "cp", "--force"])
        .output()
        .unwrap();
    assert!(!output.status.success(), "{}", stderr(&output));
    assert_eq!(std::fs::read(env.path("cp")).unwrap(), before);
    let output = run(&env, &["audit", "verify", log_arg, "--checkpoint", "cp"]);
    assert!(output.status.success(), "{}", stderr(&output));
}
