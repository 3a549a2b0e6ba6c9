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
    let all: Vec<Finding> = ["untagged-iban", "sad-cvv", "low-level-pan"]
        .iter()
        .flat_map(|name| findings(name))
        .collect();
    let sarif: serde_json::Value = serde_json::from_str(&report::sarif(&all)).unwrap();
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
        assert!(
            location["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
                .ends_with("src/lib.rs")
        );
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
    assert!(
        fixed.status.success(),
        "the classified version must build:\n{}",
        String::from_utf8_lossy(&fixed.stderr)
    );
}
