//! The documentation shows what the code does: the format spec carries the
//! frozen test vectors the runtime reproduces.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]

use std::path::Path;

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

fn without_whitespace(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

#[test]
fn format_md_shows_every_frozen_vector() {
    let spec = without_whitespace(&read("docs/FORMAT.md"));
    let vectors: serde_json::Value =
        serde_json::from_str(&read("crates/tierseal/testdata/format-v1.json")).unwrap();
    let mut tokens = Vec::new();
    for vector in vectors["vectors"].as_array().unwrap() {
        if let Some(token) = vector["token"].as_str() {
            tokens.push(token.to_owned());
        }
        for key in vector["keys"].as_array().into_iter().flatten() {
            tokens.push(key.as_str().unwrap().to_owned());
        }
        for field in vector["fields"].as_array().into_iter().flatten() {
            tokens.push(field["token"].as_str().unwrap().to_owned());
        }
    }
    assert!(tokens.len() >= 5, "expected at least three vectors");
    for token in tokens {
        assert!(spec.contains(&token), "FORMAT.md lacks vector {token}");
    }
    for fail in vectors["fail"].as_array().unwrap() {
        let name = fail["name"].as_str().unwrap();
        assert!(
            spec.contains(name),
            "FORMAT.md lacks negative vector {name}"
        );
    }
}

#[test]
fn readme_states_the_two_quick_start_commands() {
    let readme = read("README.md");
    assert!(readme.contains("cargo run --release --example quickstart"));
    assert!(readme.contains("cargo test --workspace"));
    let ci = read(".ci/run");
    assert!(
        ci.contains("cargo test --workspace"),
        ".ci/run must call the README's test command"
    );
}

#[test]
fn lint_md_documents_every_rule() {
    let doc = read("docs/LINT.md");
    for rule in tierseal_classify::lexicon::RULES {
        assert!(
            doc.contains(&format!("| `{}` |", rule.id)),
            "LINT.md lacks lexicon rule {}",
            rule.id
        );
    }
    for rule in tierseal_lint::LINT_RULES {
        assert!(
            doc.contains(&format!("| `{}` |", rule.id)),
            "LINT.md lacks lint rule {}",
            rule.id
        );
    }
}

#[test]
fn fuzzing_md_covers_every_fuzz_target_and_ci_runs_them() {
    let manifest = read("fuzz/Cargo.toml");
    let targets: Vec<&str> = manifest
        .split("[[bin]]")
        .skip(1)
        .filter_map(|bin| bin.lines().find_map(|l| l.strip_prefix("name = \"")))
        .filter_map(|name| name.strip_suffix('"'))
        .collect();
    assert!(
        targets.len() >= 9,
        "expected the nine fuzz targets, found {targets:?}"
    );
    let doc = read("docs/FUZZING.md");
    for target in targets {
        assert!(
            doc.matches(&format!("| `{target}` |")).count() >= 2,
            "FUZZING.md must describe `{target}` and record its run"
        );
        let corpus = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus")
            .join(target);
        assert!(
            std::fs::read_dir(&corpus).is_ok_and(|mut d| d.next().is_some()),
            "no committed corpus for `{target}`"
        );
    }
    assert!(
        read(".ci/run").contains("fuzz/ci.sh"),
        ".ci/run must run the fuzz targets"
    );
}
