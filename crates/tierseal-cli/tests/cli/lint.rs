use crate::{Env, stdout};

fn write(env: &Env, name: &str, text: &str) {
    let path = env.path(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn lint_exits_1_on_findings_in_every_format() {
    let env = Env::new();
    write(
        &env,
        "src/lib.rs",
        "pub struct Payment {\n    pub iban: String,\n}\n",
    );
    let output = env.bare().args(["lint", "src"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(
        text.contains("error[unclassified-financial-field]"),
        "{text}"
    );
    assert!(text.contains("src/lib.rs:2:9"), "{text}");
    assert!(
        text.contains("    pub iban: String,") && text.contains("^^^^"),
        "{text}"
    );

    let output = env
        .bare()
        .args(["lint", "src", "--format", "json"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["findings"][0]["item"], "Payment::iban");
    assert_eq!(report["findings"][0]["severity"], "error");
    assert_eq!(report["findings"][0]["category"], "bank");
    assert_eq!(
        (report["files"].as_u64(), report["lines"].as_u64()),
        (Some(1), Some(3))
    );

    let output = env
        .bare()
        .args(["lint", "src", "--format", "sarif"])
        .output()
        .unwrap();
    let sarif: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(
        sarif["runs"][0]["results"][0]["ruleId"],
        "unclassified-financial-field"
    );
    assert_eq!(sarif["runs"][0]["results"][0]["level"], "error");
    assert_eq!(
        sarif["runs"][0]["results"][0]["properties"]["category"],
        "bank"
    );
    let properties = &sarif["runs"][0]["properties"];
    assert_eq!(properties["filesScanned"], 1);
    assert_eq!(properties["linesScanned"], 3);
    let text = stdout(&env.bare().args(["lint", "src"]).output().unwrap());
    assert!(
        text.ends_with("checked 1 file (3 lines): 1 error\n"),
        "{text}"
    );
}

#[test]
fn sarif_uris_are_encoded_and_relative_to_srcroot() {
    let env = Env::new();
    write(
        &env,
        "pay ments/src/bin/settle #1%.rs",
        "pub struct P { pub iban: String }\nfn main() {}\n",
    );
    let output = env
        .bare()
        .args(["lint", "pay ments", "--format", "sarif"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let sarif: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let run = &sarif["runs"][0];
    let location = &run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"];
    assert_eq!(location["uri"], "pay%20ments/src/bin/settle%20%231%25.rs");
    assert_eq!(location["uriBaseId"], "%SRCROOT%");
    let root = run["originalUriBaseIds"]["%SRCROOT%"]["uri"]
        .as_str()
        .unwrap();
    let expected = format!(
        "file://{}/",
        env.dir.path().canonicalize().unwrap().display()
    );
    assert!(
        root.starts_with("file:///") && root.ends_with('/'),
        "{root}"
    );
    assert_eq!(root.replace("%20", " "), expected.replace("%20", " "));
}

#[test]
fn checking_nothing_exits_3() {
    let env = Env::new();
    std::fs::create_dir(env.path("empty")).unwrap();
    write(&env, "empty/README.md", "no Rust here\n");
    let output = env.bare().args(["lint", "empty"]).output().unwrap();
    assert_eq!(output.status.code(), Some(3));
    let message = crate::stderr(&output);
    assert!(
        message.contains("no Rust source checked under empty"),
        "{message}"
    );
}

/// A crate whose `Card` is classified with `attrs` on `field` (a name the
/// lexicon does not flag, so that only the lock judges it).
fn card_crate(env: &Env, attrs: &str, field: &str) {
    write(
        env,
        "bank/src/lib.rs",
        &format!(
            "#[derive(tierseal::Classified)]\npub struct Card {{\n    #[classify(public)]\n    pub id: String,\n    \
             #[classify({attrs})]\n    pub {field}: String,\n}}\n"
        ),
    );
}

fn lint_bank(env: &Env) -> (Option<i32>, String) {
    let output = env.bare().args(["lint", "bank"]).output().unwrap();
    (output.status.code(), stdout(&output))
}

const LOCKED: &str = "restricted, compartment = \"cards\", mask = \"last4\", transient";

#[test]
fn update_lock_writes_a_sorted_reviewable_lock() {
    let env = Env::new();
    card_crate(&env, LOCKED, "nickname");
    let output = env
        .bare()
        .args(["lint", "bank", "--update-lock"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(stdout(&output).contains("note: wrote bank/tierseal.lock"));
    let lock = std::fs::read_to_string(env.path("bank/tierseal.lock")).unwrap();
    let body: Vec<&str> = lock.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        body,
        [
            "version = 1",
            "",
            "[[type]]",
            "id = \"Card\"",
            "fields = [",
            "    { id = \"id\", level = \"public\" },",
            "    { id = \"nickname\", level = \"restricted\", compartment = \"cards\", mask = \"last4\", transient = true },",
            "]",
        ]
    );
    let (code, text) = lint_bank(&env);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("against bank/tierseal.lock"), "{text}");
}

#[test]
fn downgrades_fail_against_the_lock_and_say_how_to_accept_them() {
    let env = Env::new();
    card_crate(&env, LOCKED, "nickname");
    env.bare()
        .args(["lint", "bank", "--update-lock"])
        .assert()
        .success();
    for (attrs, change) in [
        (
            "confidential, compartment = \"cards\", mask = \"last4\", transient",
            "level lowered from restricted to confidential",
        ),
        (
            "restricted, mask = \"last4\", transient",
            "compartment `cards` removed",
        ),
        (
            "restricted, compartment = \"cards\", mask = \"last4\"",
            "no longer transient",
        ),
        (
            "restricted, compartment = \"cards\", mask = \"first6last4\", transient",
            "mask widened from last4 to first6last4",
        ),
        (
            "restricted, compartment = \"cards\", mask_with = \"crate::show\", transient",
            "mask widened from last4 to mask_with crate::show",
        ),
    ] {
        card_crate(&env, attrs, "nickname");
        let (code, text) = lint_bank(&env);
        assert_eq!(code, Some(1), "{attrs}: {text}");
        assert!(text.contains("error[classification-downgraded]"), "{text}");
        assert!(text.contains(change), "{attrs}: {text}");
        assert!(text.contains("bank/src/lib.rs:6:"), "{text}");
        assert!(text.contains("tierseal lint bank --update-lock"), "{text}");
    }
    // Accepting it is a reviewed change to the lock.
    card_crate(
        &env,
        "confidential, compartment = \"cards\", mask = \"last4\", transient",
        "nickname",
    );
    env.bare()
        .args(["lint", "bank", "--update-lock"])
        .assert()
        .success();
    assert!(
        std::fs::read_to_string(env.path("bank/tierseal.lock"))
            .unwrap()
            .contains("level = \"confidential\"")
    );
    assert_eq!(lint_bank(&env).0, Some(0));
}

#[test]
fn upgrades_and_new_fields_pass_as_drift() {
    let env = Env::new();
    card_crate(&env, "confidential, mask = \"first6last4\"", "nickname");
    env.bare()
        .args(["lint", "bank", "--update-lock"])
        .assert()
        .success();
    write(
        &env,
        "bank/src/lib.rs",
        "#[derive(tierseal::Classified)]\npub struct Card {\n    #[classify(public)]\n    pub id: String,\n    \
         #[classify(restricted, compartment = \"cards\", mask = \"last4\", transient)]\n    pub nickname: String,\n    \
         #[classify(confidential)]\n    pub balance: i64,\n}\n",
    );
    let (code, text) = lint_bank(&env);
    assert_eq!(code, Some(0), "{text}");
    for drift in [
        "`Card::nickname`: level raised from confidential to restricted",
        "`Card::nickname`: compartment `cards` added",
        "`Card::nickname`: now transient",
        "`Card::nickname`: mask narrowed from first6last4 to last4",
        "`Card::balance`: new classified field, not in the lock",
    ] {
        assert!(text.contains(drift), "{drift}: {text}");
    }
    let output = env
        .bare()
        .args(["lint", "bank", "--format", "json"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["lock"]["drift"].as_array().unwrap().len(), 5);
}

#[test]
fn renames_fail_unless_the_stable_id_is_kept() {
    let env = Env::new();
    card_crate(&env, "restricted", "nickname");
    env.bare()
        .args(["lint", "bank", "--update-lock"])
        .assert()
        .success();

    card_crate(&env, "restricted", "alias");
    let (code, text) = lint_bank(&env);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("error[classified-field-removed]"), "{text}");
    assert!(
        text.contains("`Card::nickname` is in bank/tierseal.lock but no longer in the sources"),
        "{text}"
    );
    assert!(text.contains("#[classify(id = \"nickname\")]"), "{text}");
    assert!(text.contains("--> bank/tierseal.lock:"), "{text}");

    card_crate(&env, "restricted, id = \"nickname\"", "alias");
    let (code, text) = lint_bank(&env);
    assert_eq!(code, Some(0), "{text}");
}

#[test]
fn a_malformed_lock_exits_2_naming_file_and_line() {
    let env = Env::new();
    card_crate(&env, "restricted", "nickname");
    write(
        &env,
        "bank/tierseal.lock",
        "version = 1\n\n[[type]]\nid = \"Card\"\nfields = [\n    { id = \"nickname\", level = \"restricted\", colour = \"red\" },\n]\n",
    );
    let output = env.bare().args(["lint", "bank"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let message = crate::stderr(&output);
    assert!(
        message.contains("invalid bank/tierseal.lock:6:") && message.contains("colour"),
        "{message}"
    );
}

#[test]
fn money_warnings_pass_unless_the_project_makes_them_errors() {
    let env = Env::new();
    write(
        &env,
        "shop/src/lib.rs",
        "pub struct Charge {\n    pub amount: i64,\n}\n",
    );
    let output = env.bare().args(["lint", "shop/src"]).output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    assert!(
        text.contains("warning[unclassified-financial-field]: `Charge::amount`"),
        "{text}"
    );
    assert!(
        text.ends_with("checked 1 file (3 lines): 1 warning (warnings do not fail the lint)\n"),
        "{text}"
    );
    let output = env
        .bare()
        .args(["lint", "shop/src", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["findings"][0]["severity"], "warning");
    assert_eq!(report["findings"][0]["category"], "money");
    write(
        &env,
        "shop/tierseal.toml",
        "[lexicon.severity]\nmoney = \"error\"\n",
    );
    env.bare().args(["lint", "shop/src"]).assert().code(1);
    write(
        &env,
        "shop/tierseal.toml",
        "[lexicon.severity]\nmoney = \"loud\"\n",
    );
    env.bare().args(["lint", "shop/src"]).assert().code(2);
}

#[test]
fn lint_exits_0_when_clean_and_2_on_unreadable_paths() {
    let env = Env::new();
    write(
        &env,
        "src/lib.rs",
        "pub struct Profile { pub nickname: String }\n",
    );
    env.bare().args(["lint", "src"]).assert().success();
    env.bare().args(["lint", "no/such/path"]).assert().code(2);
    write(&env, "bad/tierseal.toml", "[[allow]]\npath = \"A::b\"\n");
    write(&env, "bad/src/lib.rs", "pub struct A { pub b: u8 }\n");
    env.bare().args(["lint", "bad/src"]).assert().code(2);
}

#[test]
fn inventory_lists_classified_fields() {
    let env = Env::new();
    write(
        &env,
        "src/lib.rs",
        "#[derive(tierseal::Classified)]\npub struct Card {\n    #[classify(public)] pub id: String,\n    \
         #[classify(restricted, compartment = \"cards\", mask = \"last4\")] pub pan: String,\n}\n",
    );
    let output = env.bare().args(["inventory", "src"]).output().unwrap();
    assert!(output.status.success());
    let text = stdout(&output);
    assert!(
        text.lines()
            .any(|l| l.starts_with("Card") && l.contains("restricted") && l.contains("last4")),
        "{text}"
    );
    let output = env
        .bare()
        .args(["inventory", "src", "--format", "markdown"])
        .output()
        .unwrap();
    assert!(stdout(&output).starts_with("| type | field |"));
    let output = env
        .bare()
        .args(["inventory", "src", "--format", "json"])
        .output()
        .unwrap();
    let rows: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 2);
}

#[test]
fn update_lock_needs_a_folder() {
    let env = Env::new();
    card_crate(&env, "restricted", "nickname");
    let output = env
        .bare()
        .args(["lint", "bank/src/lib.rs", "--update-lock"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(crate::stderr(&output).contains("--update-lock needs a folder"));
    assert!(!env.path("bank/src/lib.rs/tierseal.lock").exists());
}
