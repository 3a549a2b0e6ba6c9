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
    let findings: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(findings[0]["item"], "Payment::iban");

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
