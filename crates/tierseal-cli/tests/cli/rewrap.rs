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

/// `tierseal rewrap --input data.jsonl --in-place`, run to its end.
fn rewrap_data_in_place(env: &Env) -> std::process::Output {
    env.cmd()
        .args(["rewrap", "--input", "data.jsonl", "--in-place"])
        .output()
        .unwrap()
}

fn ctx() -> AccessContext {
    AccessContext::new("test").with_purpose("rewrap test")
}

/// A token glued to more base64url characters in free text cannot be cut
/// out of it, so rewrap leaves it; retire must then refuse, or it would
/// destroy the key of a value that is still stored.
#[test]
fn retire_refuses_while_free_text_holds_a_token_it_cannot_cut_out() {
    let env = Env::initialised();
    write_records(&env, "data.jsonl", 1);
    let data = std::fs::read_to_string(env.path("data.jsonl")).unwrap();
    let start = data.find("tierseal:").unwrap();
    let len = data[start..].find('"').unwrap();
    let token = &data[start..start + len];
    for glued in [format!("archived {token}-old"), format!("{token}_v1 kept")] {
        let line = serde_json::json!({ "note": glued });
        std::fs::write(env.path("notes.jsonl"), format!("{line}\n")).unwrap();
        let output = retire_v1(&env, "notes.jsonl", &["--yes"]).output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        assert!(
            stderr(&output).contains("may be a token glued to other text"),
            "{}",
            stderr(&output)
        );
    }
    // Prose that mentions the prefix with no token after it is no token.
    std::fs::write(
        env.path("notes.jsonl"),
        "{\"note\": \"see tierseal: docs\"}\n",
    )
    .unwrap();
    retire_v1(&env, "notes.jsonl", &["--dry-run"])
        .assert()
        .success();
    assert_nothing_retired(&env);
}

/// A dry run of retire changes nothing.
fn assert_nothing_retired(env: &Env) {
    assert!(
        env.open()
            .key_versions()
            .iter()
            .all(|v| v.retired_at.is_none()),
        "dry run changes nothing"
    );
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
    assert_nothing_retired(&env);

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

    let output = rewrap_data_in_place(&env);
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
    // What the killed run left behind, made older than a live run's file.
    let leftovers = || {
        std::fs::read_dir(env.dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| {
                path.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(".tierseal-rewrap-")
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(leftovers().len(), 1);
    for path in leftovers() {
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(std::time::SystemTime::now() - Duration::from_secs(3_600))
            .unwrap();
    }

    let output = rewrap_data_in_place(&env);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("removed 1 temporary files"),
        "{}",
        stderr(&output)
    );
    assert!(leftovers().is_empty(), "{:?}", leftovers());
    assert!(
        stdout(&output).contains("20000 records"),
        "{}",
        stdout(&output)
    );
    let output = rewrap_data_in_place(&env);
    assert!(
        stdout(&output).contains("rewrapped 0 data keys, 40000 already current"),
        "a rerun is idempotent: {}",
        stdout(&output)
    );
    let keyring = env.keyring();
    let records = read_records(&env, "data.jsonl");
    assert!(records[19_999].open_all(&keyring, &ctx()).unwrap() == account(19_999));
}

/// Writes `value` as JSON with every character of every string escaped
/// (`\u0074...`), and spaces around colons, so no token appears literally.
fn escape_strings(value: &serde_json::Value) -> String {
    let string = |text: &str| -> String {
        let escaped: String = text
            .chars()
            .map(|c| format!("\\u{:04x}", c as u32))
            .collect();
        format!("\"{escaped}\"")
    };
    match value {
        serde_json::Value::String(text) => string(text),
        serde_json::Value::Array(items) => {
            let items: Vec<String> = items.iter().map(escape_strings).collect();
            format!("[{}]", items.join(", "))
        }
        serde_json::Value::Object(members) => {
            let members: Vec<String> = members
                .iter()
                .map(|(key, value)| format!("{} : {}", string(key), escape_strings(value)))
                .collect();
            format!("{{{}}}", members.join(","))
        }
        other => other.to_string(),
    }
}

#[test]
fn tokens_written_with_escapes_or_inside_strings_are_rewrapped_and_block_retire() {
    let env = Env::initialised();
    let keyring = env.keyring();
    let sealed = |i| serde_json::to_string(&account(i).seal(&keyring).unwrap()).unwrap();
    // Record 0: every token character escaped. Record 1: only the `t`.
    // Record 2: the whole record kept as JSON text inside a string. A
    // number too precise for f64 and odd spacing must survive unchanged.
    let first = sealed(0);
    let escaped = escape_strings(&serde_json::from_str(&first).unwrap());
    let lines = [
        format!("{{\"n\": 3.14159265358979323846264338327950288, \"r\": {escaped}}}"),
        format!(
            "{{\"r\":{}}}",
            sealed(1).replace("\"tierseal:", "\"\\u0074ierseal:")
        ),
        format!(
            "{{\"doc\": {}}}",
            serde_json::to_string(&sealed(2)).unwrap()
        ),
    ];
    assert!(lines[..2].iter().all(|line| !line.contains("\"tierseal:")));
    std::fs::write(env.path("data.jsonl"), lines.join("\n") + "\n").unwrap();
    env.cmd()
        .args(["keys", "rotate", "--tier", "restricted/cards"])
        .assert()
        .success();

    // Each record has one restricted/cards data key.
    let output = retire_v1(&env, "data.jsonl", &["--dry-run"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    assert!(
        stderr(&output).contains("3 values still wrapped under restricted/cards v1"),
        "{}",
        stderr(&output)
    );

    let output = env
        .cmd()
        .args(["rewrap", "--input", "data.jsonl", "--output", "new.jsonl"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("3 records: rewrapped 3 data keys, 3 already current, 0 failed"),
        "{}",
        stdout(&output)
    );
    let new = std::fs::read_to_string(env.path("new.jsonl")).unwrap();
    assert!(new.starts_with("{\"n\": 3.14159265358979323846264338327950288, \"r\": {"));
    retire_v1(&env, "new.jsonl", &["--yes"]).assert().success();

    let keyring = env.keyring();
    let mut records = new
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap());
    let open = |record: serde_json::Value, i| {
        let record: SealedAccount = serde_json::from_value(record).unwrap();
        assert!(record.open_all(&keyring, &ctx()).unwrap() == account(i));
    };
    open(records.next().unwrap()["r"].take(), 0);
    open(records.next().unwrap()["r"].take(), 1);
    let doc = records.next().unwrap()["doc"].as_str().unwrap().to_owned();
    open(serde_json::from_str(&doc).unwrap(), 2);
}

#[test]
fn a_line_that_is_not_utf8_or_not_json_is_named_and_blocks_retire() {
    let env = Env::initialised();
    write_records(&env, "data.jsonl", 3);
    let mut bytes = std::fs::read(env.path("data.jsonl")).unwrap();
    bytes.extend_from_slice(b"{\"note\": \"caf\xe9\"}\n");
    std::fs::write(env.path("data.jsonl"), &bytes).unwrap();

    let output = rewrap_data_in_place(&env);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("line 4: not UTF-8: invalid byte sequence at column 14"),
        "{}",
        stderr(&output)
    );
    assert_eq!(std::fs::read(env.path("data.jsonl")).unwrap(), bytes);

    // A line that cannot be read might hold values under the version.
    let output = retire_v1(&env, "data.jsonl", &["--dry-run"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("1 unreadable lines (line 4: not UTF-8"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_token_this_build_cannot_read_blocks_retire() {
    use base64::Engine as _;
    let env = Env::initialised();
    write_records(&env, "data.jsonl", 2);
    // A record key of a format this build does not know (version 5), for
    // the tier being retired: it may be wrapped under the version.
    let mut future = vec![5, 2, 16];
    future.extend_from_slice(b"restricted/cards");
    future.extend_from_slice(&[0; 64]);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&future);
    let mut data = std::fs::read_to_string(env.path("data.jsonl")).unwrap();
    data.push_str(&format!("{{\"id\":9,\"_keys\":[\"tierseal:{token}\"]}}\n"));
    std::fs::write(env.path("data.jsonl"), &data).unwrap();

    let output = retire_v1(&env, "data.jsonl", &["--yes"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("1 unreadable lines (line 3: a token that cannot be read"),
        "{}",
        stderr(&output)
    );
    let versions = env.cmd().args(["keys", "list"]).output().unwrap();
    assert!(
        !stdout(&versions).to_lowercase().contains("retired"),
        "{}",
        stdout(&versions)
    );
}

#[cfg(unix)]
#[test]
fn in_place_keeps_the_mode_and_writes_through_a_link() {
    use std::os::unix::fs::PermissionsExt as _;
    let env = Env::initialised();
    write_records(&env, "data.jsonl", 2);
    let mode = |name: &str| {
        std::fs::metadata(env.path(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    std::fs::set_permissions(
        env.path("data.jsonl"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    std::os::unix::fs::symlink("data.jsonl", env.path("link.jsonl")).unwrap();
    env.cmd()
        .args(["keys", "rotate", "--tier", "internal"])
        .assert()
        .success();
    env.cmd()
        .args(["rewrap", "--input", "link.jsonl", "--in-place"])
        .assert()
        .success();
    assert_eq!(mode("data.jsonl"), 0o640);
    assert!(
        std::fs::symlink_metadata(env.path("link.jsonl"))
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link is still a link"
    );
    assert_eq!(read_records(&env, "data.jsonl").len(), 2);

    // A new output takes the input's mode.
    env.cmd()
        .args(["rewrap", "--input", "data.jsonl", "--output", "out.jsonl"])
        .assert()
        .success();
    assert_eq!(mode("out.jsonl"), 0o640);
}

#[test]
fn stale_temporary_files_are_removed_and_live_ones_kept() {
    let env = Env::initialised();
    write_records(&env, "data.jsonl", 2);
    let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3_600);
    let make = |name: &str, old: bool| {
        let file = std::fs::File::create(env.path(name)).unwrap();
        file.set_len(1_000).unwrap();
        if old {
            file.set_modified(hour_ago).unwrap();
        }
        file
    };
    drop(make(".tierseal-rewrap-a1B2c3.tmp", true));
    drop(make(".tierseal-rewrap-d4E5f6.tmp", true));
    // Another run's file: it holds the lock.
    let live = make(".tierseal-rewrap-LIVE01.tmp", true);
    live.lock().unwrap();
    // Just created: its run may not have locked it yet.
    drop(make(".tierseal-rewrap-young1.tmp", false));
    // Not ours.
    drop(make(".tierseal-rewrap-notours.tmp", true));
    drop(make("tierseal-rewrap-a1B2c3.tmp", true));

    let output = rewrap_data_in_place(&env);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("removed 2 temporary files (2000 bytes)"),
        "{}",
        stderr(&output)
    );
    let mut left: Vec<String> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("rewrap"))
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            ".tierseal-rewrap-LIVE01.tmp",
            ".tierseal-rewrap-notours.tmp",
            ".tierseal-rewrap-young1.tmp",
            "tierseal-rewrap-a1B2c3.tmp",
        ]
    );
    drop(live);
}

/// The line with every `tierseal:...` token cut out, and the tokens.
fn split_tokens(line: &str) -> (String, Vec<&str>) {
    let mut rest = String::new();
    let mut tokens = Vec::new();
    let mut text = line;
    while let Some(at) = text.find("tierseal:") {
        rest.push_str(&text[..at]);
        rest.push('T');
        let after = &text[at..];
        let len = "tierseal:".len()
            + after["tierseal:".len()..]
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
                .count();
        tokens.push(&after[..len]);
        text = &after[len..];
    }
    rest.push_str(text);
    (rest, tokens)
}

#[test]
fn thousands_of_lines_over_two_threads_keep_their_bytes_order_and_counts() {
    const COUNT: usize = 6_000;
    let env = Env::initialised();
    write_records(&env, "data.jsonl", COUNT);
    env.cmd()
        .args(["keys", "rotate", "--tier", "restricted/cards"])
        .assert()
        .success();

    // Every good line: one record key moves (cards), one is current.
    let output = env
        .cmd()
        .env("RAYON_NUM_THREADS", "2")
        .args(["rewrap", "--input", "data.jsonl", "--output", "new.jsonl"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains(&format!(
            "{COUNT} records: rewrapped {COUNT} data keys, {COUNT} already current, 0 failed lines"
        )),
        "{}",
        stdout(&output)
    );
    let old = std::fs::read_to_string(env.path("data.jsonl")).unwrap();
    let new = std::fs::read_to_string(env.path("new.jsonl")).unwrap();
    assert_eq!(old.len(), new.len());
    assert_eq!(old.lines().count(), COUNT);
    let mut moved = 0;
    for (i, (old_line, new_line)) in old.lines().zip(new.lines()).enumerate() {
        let (old_rest, old_tokens) = split_tokens(old_line);
        let (new_rest, new_tokens) = split_tokens(new_line);
        assert_eq!(old_rest, new_rest, "line {}", i + 1);
        let value: serde_json::Value = serde_json::from_str(new_line).unwrap();
        assert_eq!(value["seq"], i, "line {}", i + 1);
        assert_eq!(old_tokens.len(), new_tokens.len());
        let changed = old_tokens
            .iter()
            .zip(&new_tokens)
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(changed, 1, "line {}: only the cards record key", i + 1);
        moved += changed;
    }
    assert_eq!(moved, COUNT);
    let keyring = env.keyring();
    let records = read_records(&env, "new.jsonl");
    for i in [0, 2_500, COUNT - 1] {
        assert!(records[i].open_all(&keyring, &ctx()).unwrap() == account(i));
    }

    // Bad lines among the good ones: every one reported, in line order,
    // with the counts of the good ones; nothing written.
    let mut lines: Vec<String> = old.lines().map(str::to_owned).collect();
    let mut bad = Vec::new();
    for (index, line) in lines.iter_mut().enumerate() {
        let number = index + 1;
        if number.is_multiple_of(97) {
            *line = "{\"t\": \"tierseal:AAAA\"}".into();
            bad.push((number, "sealed data has format version 0"));
        } else if number.is_multiple_of(251) {
            *line = "{\"seq\": ".into();
            bad.push((number, "not JSON"));
        }
    }
    std::fs::write(env.path("mixed.jsonl"), lines.join("\n") + "\n").unwrap();
    let output = env
        .cmd()
        .env("RAYON_NUM_THREADS", "2")
        .args(["rewrap", "--input", "mixed.jsonl", "--output", "out.jsonl"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(!env.path("out.jsonl").exists());
    let err = stderr(&output);
    let reported: Vec<(usize, &str)> = err
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("tierseal: line ")?;
            let (number, reason) = rest.split_once(": ")?;
            Some((number.parse().unwrap(), reason))
        })
        .collect();
    assert_eq!(reported.len(), bad.len().min(100), "{err}");
    for ((number, reason), (want, prefix)) in reported.iter().zip(&bad) {
        assert_eq!(number, want, "{err}");
        assert!(reason.contains(prefix), "line {number}: {reason}");
    }
    let good = COUNT - bad.len();
    assert!(
        stdout(&output).contains(&format!(
            "{COUNT} records: rewrapped {good} data keys, {good} already current, {} failed lines",
            bad.len()
        )),
        "{}",
        stdout(&output)
    );
}
