use std::process::Stdio;

use crate::{Env, stderr};

#[test]
fn wrong_passphrase_is_one_clear_line() {
    let env = Env::initialised();
    std::fs::write(env.path("wrong"), "not it\n").unwrap();
    let output = env
        .bare()
        .arg("--keystore")
        .arg(env.keystore())
        .arg("--passphrase-file")
        .arg(env.path("wrong"))
        .args(["keys", "list"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("wrong passphrase"), "{text}");
}

#[test]
fn missing_and_corrupt_keystores_are_named() {
    let env = Env::new();
    let output = env.cmd().args(["keys", "list"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("tierseal init"),
        "{}",
        stderr(&output)
    );

    let env = Env::initialised();
    let mut bytes = std::fs::read(env.keystore()).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(env.keystore(), &bytes).unwrap();
    let output = env
        .cmd()
        .args(["keys", "rotate", "--tier", "internal"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("corrupt"), "{}", stderr(&output));
    assert_eq!(
        std::fs::read(env.keystore()).unwrap(),
        bytes,
        "nothing written"
    );
}

#[test]
fn a_locked_keystore_is_reported() {
    let env = Env::initialised();
    let holder = env.open();
    let output = env
        .cmd()
        .args(["--lock-wait", "0", "keys", "rotate", "--tier", "internal"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("locked by another process"),
        "{}",
        stderr(&output)
    );
    drop(holder);
    env.cmd()
        .args(["keys", "rotate", "--tier", "internal"])
        .assert()
        .success();
}

#[test]
fn two_rotations_at_once_both_land() {
    let env = Env::initialised();
    let spawn = || {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("tierseal"))
            .arg("--keystore")
            .arg(env.keystore())
            .arg("--passphrase-file")
            .arg(env.path("pass"))
            .args(["keys", "rotate", "--tier", "restricted"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let versions: Vec<u32> = env
        .open()
        .key_versions()
        .into_iter()
        .filter(|info| info.tier == tierseal::Tier::RESTRICTED)
        .map(|info| info.version)
        .collect();
    assert_eq!(versions, [1, 2, 3]);
}

#[test]
fn a_reader_that_goes_away_does_not_make_the_binary_panic() {
    let env = Env::initialised();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("tierseal"))
        .current_dir(env.dir.path())
        .arg("--keystore")
        .arg(env.keystore())
        .arg("--passphrase-file")
        .arg(env.path("pass"))
        .args(["keys", "list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the reading end before the binary has unlocked the keystore, so
    // every line it prints meets a closed pipe.
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let text = stderr(&output);
    assert!(!text.contains("panicked"), "{text}");
    assert_eq!(output.status.code(), Some(0), "{text}");
}
