use crate::{Env, PASSPHRASE, stderr, stdout};

#[test]
fn the_passphrase_is_never_an_argument() {
    let env = Env::initialised();
    let output = env
        .bare()
        .arg("--keystore")
        .arg(env.keystore())
        .args(["--passphrase", PASSPHRASE, "keys", "list"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(!stderr(&output).contains(PASSPHRASE) && !stdout(&output).contains(PASSPHRASE));
}

#[test]
fn without_a_passphrase_source_or_terminal_the_error_says_what_to_do() {
    let env = Env::initialised();
    let output = env
        .bare()
        .arg("--keystore")
        .arg(env.keystore())
        .args(["keys", "list"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "a usage error");
    assert!(
        stderr(&output).contains("--passphrase-file"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn the_environment_variable_works_and_no_output_shows_the_passphrase() {
    let env = Env::initialised();
    let mut outputs = Vec::new();
    for args in [
        vec!["keys", "list"],
        vec!["keys", "rotate", "--tier", "internal"],
        vec![
            "grant",
            "issue",
            "--principal",
            "s",
            "--clearance",
            "internal",
            "--expires",
            "1d",
            "--out",
            "g",
        ],
        vec!["keys", "check"],
    ] {
        let output = env
            .bare()
            .arg("--keystore")
            .arg(env.keystore())
            .env("TIERSEAL_PASSPHRASE", PASSPHRASE)
            .args(&args)
            .output()
            .unwrap();
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        outputs.push(output);
    }
    // Errors too: a wrong passphrase from the environment.
    outputs.push(
        env.bare()
            .arg("--keystore")
            .arg(env.keystore())
            .env("TIERSEAL_PASSPHRASE", "another secret passphrase")
            .args(["keys", "list"])
            .output()
            .unwrap(),
    );
    for output in &outputs {
        for text in [stdout(output), stderr(output)] {
            assert!(
                !text.contains(PASSPHRASE) && !text.contains("another secret"),
                "{text}"
            );
        }
    }
}

#[test]
fn passphrase_change_takes_the_new_one_from_a_file() {
    let env = Env::initialised();
    env.change_passphrase("a brand new passphrase");
    env.cmd().args(["keys", "list"]).assert().code(1);
    env.bare()
        .arg("--keystore")
        .arg(env.keystore())
        .arg("--passphrase-file")
        .arg(env.path("new"))
        .args(["keys", "list"])
        .assert()
        .success();
}

#[test]
fn a_passphrase_file_is_read_to_its_first_line_only_and_bounded() {
    let env = Env::initialised();
    let try_file = |bytes: &[u8]| {
        std::fs::write(env.path("p"), bytes).unwrap();
        env.bare()
            .arg("--keystore")
            .arg(env.keystore())
            .arg("--passphrase-file")
            .arg(env.path("p"))
            .args(["keys", "list"])
            .output()
            .unwrap()
    };
    let output = try_file(format!("{PASSPHRASE}\r\nsecond line").as_bytes());
    assert!(output.status.success(), "{}", stderr(&output));

    let output = try_file(&vec![b'a'; 1 << 20]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("its first line is longer than 65536 bytes"),
        "{}",
        stderr(&output)
    );
    let output = try_file(b"caf\xe9\n");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("its first line is not UTF-8"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_passphrase_that_is_not_utf8_is_refused_without_echoing_it() {
    use std::os::unix::ffi::OsStrExt as _;
    let env = Env::initialised();
    // A passphrase with one byte that is not UTF-8 in the middle.
    let raw = std::ffi::OsStr::from_bytes(b"secret-prefix-\xff-secret-suffix");
    let output = env
        .bare()
        .arg("--keystore")
        .arg(env.keystore())
        .env("TIERSEAL_PASSPHRASE", raw)
        .args(["keys", "list"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "a usage error");
    let err = stderr(&output);
    assert!(
        err.contains("TIERSEAL_PASSPHRASE is not valid UTF-8"),
        "{err}"
    );
    for text in [stdout(&output), err] {
        assert!(
            !text.contains("secret-prefix") && !text.contains("secret-suffix"),
            "{text}"
        );
    }
}
