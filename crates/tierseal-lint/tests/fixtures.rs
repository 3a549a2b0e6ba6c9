//! The linter on the fixture crates under `tests/fixtures/`, and the
//! build.rs guard failing (then passing) a real `cargo build`.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "test code"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use tierseal_lint::{Finding, lint_paths, report};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn fixture(name: &str) -> PathBuf {
    workspace().join("tests/fixtures").join(name)
}

fn findings(name: &str) -> Vec<Finding> {
    lint_paths(&[fixture(name)], None).unwrap().findings
}

fn summary(findings: &[Finding]) -> Vec<(&'static str, String, usize, usize)> {
    findings
        .iter()
        .map(|f| (f.rule, f.item.clone(), f.location.line, f.location.column))
        .collect()
}

#[test]
fn untagged_iban() {
    let findings = findings("untagged-iban");
    assert_eq!(
        summary(&findings),
        [("unclassified-financial-field", "Payment::iban".into(), 8, 9)]
    );
    assert_eq!(findings[0].lexicon_rule.as_deref(), Some("iban"));
    assert!(
        findings[0]
            .location
            .file
            .ends_with("untagged-iban/src/lib.rs")
    );
}

#[test]
fn camel_case_and_serde_renames() {
    let findings = findings("camel-case");
    assert_eq!(
        summary(&findings),
        [
            (
                "unclassified-financial-field",
                "Payee::external_ref".into(),
                11,
                9
            ),
            (
                "unclassified-financial-field",
                "Payee::routingNumber".into(),
                13,
                9
            ),
        ]
    );
    assert_eq!(findings[0].lexicon_rule.as_deref(), Some("account-number"));
    assert_eq!(findings[1].lexicon_rule.as_deref(), Some("routing-number"));
}

#[test]
fn tagged_ok_is_clean() {
    assert!(
        findings("tagged-ok").is_empty(),
        "{:?}",
        findings("tagged-ok")
    );
}

#[test]
fn allowlisted_is_clean_only_because_of_its_tierseal_toml() {
    assert!(findings("allowlisted").is_empty());
    let without_config = lint_paths(
        &[fixture("allowlisted")],
        Some(&tierseal_lint::Config::default()),
    )
    .unwrap();
    assert_eq!(without_config.findings.len(), 1);
    assert_eq!(
        without_config.findings[0].item,
        "LedgerEntry::account_number"
    );
}

#[test]
fn sad_cvv() {
    assert_eq!(
        summary(&findings("sad-cvv")),
        [(
            "sensitive-authentication-data",
            "Authorisation::cvv".into(),
            11,
            9
        )]
    );
}

#[test]
fn low_level_pan() {
    let findings = findings("low-level-pan");
    assert_eq!(
        summary(&findings),
        [(
            "classified-too-low",
            "CustomerCard::card_number".into(),
            10,
            16
        )]
    );
    assert!(
        findings[0]
            .message
            .contains("classified internal, below the rule's minimum restricted")
    );
}

#[test]
fn sarif_has_the_properties_the_schema_requires() {
    let paths: Vec<PathBuf> = ["untagged-iban", "sad-cvv", "low-level-pan"]
        .iter()
        .map(|name| fixture(name))
        .collect();
    let report = lint_paths(&paths, None).unwrap();
    let sarif: serde_json::Value =
        serde_json::from_str(&report::sarif(&report, &workspace())).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "tierseal-lint");
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    for result in results {
        let rule_id = result["ruleId"].as_str().unwrap();
        assert!(
            rules.iter().any(|r| r["id"] == rule_id),
            "{rule_id} declared"
        );
        assert!(
            result["message"]["text"]
                .as_str()
                .is_some_and(|t| !t.is_empty())
        );
        let location = &result["locations"][0]["physicalLocation"];
        let uri = location["artifactLocation"]["uri"].as_str().unwrap();
        assert!(
            uri.starts_with("tests/fixtures/") && uri.ends_with("/src/lib.rs"),
            "{uri}"
        );
        assert_eq!(location["artifactLocation"]["uriBaseId"], "%SRCROOT%");
        assert!(location["region"]["startLine"].as_u64().unwrap() >= 1);
        assert!(location["region"]["startColumn"].as_u64().unwrap() >= 1);
    }
}

#[test]
fn inventory_of_the_tagged_fixture() {
    let entries = tierseal_lint::inventory_paths(&[fixture("tagged-ok")]).unwrap();
    let rows: Vec<(String, String, Option<String>, bool)> = entries
        .iter()
        .map(|e| {
            (
                e.field.clone(),
                e.level.clone(),
                e.mask.clone(),
                e.transient,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("id".into(), "public".into(), None, false),
            (
                "card_number".into(),
                "restricted".into(),
                Some("last4".into()),
                false
            ),
            ("expiry".into(), "confidential".into(), None, false),
            ("cvv".into(), "restricted".into(), None, true),
            ("amount_currency".into(), "public".into(), None, false),
        ]
    );
    assert_eq!(entries[1].compartment.as_deref(), Some("cards"));
}

/// Copies the crate at `source` to a temporary folder (with absolute paths
/// to the workspace, `src/lib.rs` taken from `lib`, and the workspace's lock
/// file) and runs `cargo build` on it.
fn build_copy(source: &Path, lib: &str, workspace_path: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let root = workspace();
    let manifest = std::fs::read_to_string(source.join("Cargo.toml"))
        .unwrap()
        .replace(workspace_path, root.to_str().unwrap());
    std::fs::write(dir.path().join("Cargo.toml"), manifest).unwrap();
    std::fs::copy(source.join("build.rs"), dir.path().join("build.rs")).unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    std::fs::copy(source.join("src").join(lib), dir.path().join("src/lib.rs")).unwrap();
    std::fs::copy(root.join("Cargo.lock"), dir.path().join("Cargo.lock")).unwrap();
    let output = Command::new(env!("CARGO"))
        .arg("build")
        .arg("--offline")
        .arg("--manifest-path")
        .arg(dir.path().join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", root.join("target/fixture-builds"))
        .env_remove("RUSTC_WRAPPER")
        .output()
        .unwrap();
    drop(dir);
    output
}

fn build_guard(fixed: bool) -> std::process::Output {
    let lib = if fixed { "lib.fixed.rs" } else { "lib.rs" };
    build_copy(&fixture("build-guard"), lib, "{{WORKSPACE}}")
}

#[test]
fn the_example_build_guard_crate_builds() {
    let output = build_copy(&workspace().join("examples/build-guard"), "lib.rs", "../..");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_build_rs_guard_fails_the_build_then_passes_once_fixed() {
    let failed = build_guard(false);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        !failed.status.success(),
        "the unclassified IBAN must fail the build:\n{stderr}"
    );
    assert!(stderr.contains("Payment::iban"), "{stderr}");
    assert!(
        stderr.contains("error[unclassified-financial-field]"),
        "{stderr}"
    );

    let fixed = build_guard(true);
    let stderr = String::from_utf8_lossy(&fixed.stderr);
    assert!(
        fixed.status.success(),
        "the classified version must build, its money warning too:\n{stderr}"
    );
    assert!(
        stderr.contains("tierseal-lint: `Charge::amount`"),
        "the money warning reaches cargo:\n{stderr}"
    );
}

fn items(findings: &[Finding]) -> Vec<(&'static str, String)> {
    findings.iter().map(|f| (f.rule, f.item.clone())).collect()
}

/// Copies a fixture folder tree to a temporary folder.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn a_workspace_root_lints_every_target_cargo_builds() {
    let report = lint_paths(&[fixture("workspace")], None).unwrap();
    assert_eq!(
        items(&report.findings),
        [
            (
                "unclassified-financial-field",
                "models::Card::card_number".into()
            ),
            (
                "unclassified-financial-field",
                "runtime::Settlement::iban".into()
            ),
            ("unclassified-financial-field", "Position::balance".into()),
        ],
        "custom [lib] path, a module declared inside cfg_rt!, a custom [[bin]] path"
    );
    // client.rs, models.rs, lib.rs, runtime.rs, settle.rs.
    assert_eq!(report.files, 5);
    assert_eq!(report.lines, 3 + 5 + 11 + 5 + 6);
    // src/tests.rs (#[cfg(test)] mod tests;), src/tests/helpers.rs (declared
    // by it) and tests/settlement.rs (an integration test).
    assert_eq!(report.exempt_files, 3);
    // The generated builders, by the workspace's `exclude` glob.
    assert_eq!(report.excluded_files, 2);
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
}

#[test]
fn build_folders_hidden_folders_and_symlinks_are_skipped_and_said() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ws");
    copy_tree(&fixture("workspace"), &root);
    let leak = "pub struct Leak { pub iban: String }\n";
    let runtime = root.join("crates/runtime");
    write(&runtime.join("target/debug/build/out.rs"), leak);
    write(
        &root.join("target/CACHEDIR.TAG"),
        "Signature: 8a477f597d28d172789f06886806bc55\n",
    );
    write(&root.join("target/gen.rs"), leak);
    write(&root.join(".git/hooks/x.rs"), leak);
    // A module folder named `target` that is not a build folder is code.
    write(&runtime.join("src/target/mod.rs"), leak);
    std::os::unix::fs::symlink("..", runtime.join("src/again")).unwrap();
    std::os::unix::fs::symlink("runtime.rs", runtime.join("src/alias.rs")).unwrap();
    std::os::unix::fs::symlink("missing.rs", runtime.join("src/broken.rs")).unwrap();

    let report = lint_paths(std::slice::from_ref(&root), None).unwrap();
    let found = items(&report.findings);
    assert!(found.contains(&("unclassified-financial-field", "target::Leak::iban".into())));
    assert_eq!(
        found
            .iter()
            .filter(|(_, item)| item.ends_with("Leak::iban"))
            .count(),
        1,
        "{found:?}"
    );
    assert_eq!(
        found
            .iter()
            .filter(|(_, item)| item.ends_with("Settlement::iban"))
            .count(),
        1,
        "a symlinked file is read once: {found:?}"
    );
    let skipped: Vec<(String, &str)> = report
        .skipped
        .iter()
        .map(|s| {
            let name = s.path.strip_prefix(&runtime).unwrap().display().to_string();
            (name, s.reason.as_str())
        })
        .collect();
    assert_eq!(skipped.len(), 3, "{skipped:?}");
    assert_eq!(skipped[0].0, "src/again");
    assert!(
        skipped[0]
            .1
            .starts_with("symbolic link loop: leads back to"),
        "{skipped:?}"
    );
    assert_eq!(skipped[1].0, "src/broken.rs");
    assert!(
        skipped[1]
            .1
            .starts_with("symbolic link whose target cannot be read"),
        "{skipped:?}"
    );
    // A file reached directly and through a link is named by its real path.
    assert_eq!(skipped[2].0, "src/alias.rs");
    assert!(
        skipped[2].1.starts_with("same file as ")
            && skipped[2].1.ends_with("src/runtime.rs, already scanned"),
        "{skipped:?}"
    );
    assert!(found.contains(&(
        "unclassified-financial-field",
        "runtime::Settlement::iban".into()
    )));
    let human = report::human(&report);
    assert!(
        human.contains("note: skipped ") && human.contains("symbolic link loop"),
        "{human}"
    );
    assert!(human.contains(", 3 skipped"), "{human}");
}

#[test]
fn checking_nothing_is_an_error_that_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let error = lint_paths(&[dir.path().to_owned()], None).unwrap_err();
    assert!(matches!(
        error,
        tierseal_lint::LintError::NothingScanned { .. }
    ));
    assert!(error.to_string().contains("no .rs file found"), "{error}");

    write(&dir.path().join("Cargo.toml"), "[package]\nname = \"t\"\n");
    write(
        &dir.path().join("tests/it.rs"),
        "pub struct T { pub iban: String }\n",
    );
    let error = lint_paths(&[dir.path().to_owned()], None).unwrap_err();
    assert!(error.to_string().contains("1 test files exempt"), "{error}");
}

#[test]
fn a_large_file_with_many_findings_gets_every_line_right() {
    let dir = tempfile::tempdir().unwrap();
    let count = 20_000;
    let mut text = String::from("//! Generated.\n");
    for i in 0..count {
        text.push_str(&format!(
            "pub struct Account{i} {{\n    pub iban: String,\n}}\n"
        ));
    }
    write(&dir.path().join("src/lib.rs"), &text);
    let report = lint_paths(&[dir.path().to_owned()], None).unwrap();
    assert_eq!(report.findings.len(), count);
    assert_eq!(report.lines, 1 + 3 * count);
    for (i, finding) in report.findings.iter().enumerate() {
        assert_eq!(finding.item, format!("Account{i}::iban"));
        assert_eq!(finding.location.line, 3 + 3 * i);
        assert_eq!(finding.source_line, "    pub iban: String,");
    }
}

#[test]
fn bad_input_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = b"pub struct A {\n    pub iban: String,\n}\n// caf".to_vec();
    bytes.extend([0xC3, 0x28]);
    write(&dir.path().join("src/lib.rs"), "");
    std::fs::write(dir.path().join("src/lib.rs"), &bytes).unwrap();
    let report = lint_paths(&[dir.path().to_owned()], None).unwrap();
    assert_eq!(items(&report.findings)[0].0, "parse-error");
    assert!(
        report.findings[0]
            .message
            .contains("not valid UTF-8 at line 4, column 7"),
        "{}",
        report.findings[0].message
    );

    write(
        &dir.path().join("src/lib.rs"),
        "pub struct A {\n    pub iban: String,\n",
    );
    let report = lint_paths(&[dir.path().to_owned()], None).unwrap();
    assert_eq!(items(&report.findings)[0].0, "parse-error");

    write(
        &dir.path().join("tierseal.toml"),
        "exclude = [\"a\"]\n\n[[allow]]\npath = 3\n",
    );
    let error = lint_paths(&[dir.path().to_owned()], None).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("tierseal.toml") && message.contains("line 4"),
        "{message}"
    );
}

#[test]
fn the_lint_the_build_guard_runs_honours_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let source = |level: &str| {
        format!(
            "#[derive(tierseal::Classified)]\npub struct Card {{\n    #[classify({level}, compartment = \"cards\")]\n    pub card_number: String,\n}}\n"
        )
    };
    write(&dir.path().join("src/lib.rs"), &source("restricted"));
    let paths = [dir.path().to_owned()];
    let written =
        tierseal_lint::lint_paths_with(&paths, None, tierseal_lint::LockMode::Update).unwrap();
    assert_eq!(written.locks_written, [dir.path().join("tierseal.lock")]);
    assert!(lint_paths(&paths, None).unwrap().findings.is_empty());

    write(&dir.path().join("src/lib.rs"), &source("internal"));
    let report = lint_paths(&paths, None).unwrap();
    let rules: Vec<&str> = report.findings.iter().map(|f| f.rule).collect();
    assert!(rules.contains(&"classification-downgraded"), "{rules:?}");
}
