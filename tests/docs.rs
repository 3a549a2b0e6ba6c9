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

/// Every `path/to/file.rs::test_fn` reference in backticks in a Markdown
/// document (outside fenced code blocks), in order; a backticked span that
/// looks like a reference but does not parse is an error, so a typo cannot
/// hide as prose.
fn test_references(doc: &str) -> Result<Vec<(String, String)>, String> {
    let mut references = Vec::new();
    for span in inline_code_spans(doc) {
        if !span.contains(".rs::") {
            continue;
        }
        let (path, name) = span
            .split_once("::")
            .ok_or_else(|| format!("malformed test reference `{span}`"))?;
        let path_ok = path.ends_with(".rs")
            && !path.starts_with('/')
            && !path.split('/').any(|part| part.is_empty() || part == "..")
            && path
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/_-.".contains(&b));
        let name_ok = name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !path_ok || !name_ok {
            return Err(format!(
                "malformed test reference `{span}`: write `path/from/root.rs::test_fn`"
            ));
        }
        references.push((path.to_owned(), name.to_owned()));
    }
    Ok(references)
}

/// The text of every single-backtick code span outside fenced blocks.
fn inline_code_spans(doc: &str) -> Vec<&str> {
    let mut spans = Vec::new();
    let mut fenced = false;
    for line in doc.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut parts = line.split('`');
        parts.next();
        while let (Some(code), Some(_)) = (parts.next(), parts.next()) {
            spans.push(code);
        }
    }
    spans
}

/// Whether `source` defines `fn name` as a test: a `#[test]` attribute
/// among the attributes and comments right above it.
fn is_test_fn(source: &str, name: &str) -> bool {
    let lines: Vec<&str> = source.lines().collect();
    lines.iter().enumerate().any(|(index, line)| {
        let declared = line
            .trim_start()
            .strip_prefix("fn ")
            .and_then(|rest| rest.strip_prefix(name))
            .is_some_and(|rest| rest.starts_with('(') || rest.starts_with('<'));
        declared
            && lines[..index]
                .iter()
                .rev()
                .map(|line| line.trim())
                .take_while(|line| line.starts_with("#[") || line.starts_with("//"))
                .any(|line| line == "#[test]")
    })
}

/// Checks one reference against the repository: the file exists and
/// defines the test.
fn check_reference(root: &Path, path: &str, name: &str) -> Result<(), String> {
    let source = std::fs::read_to_string(root.join(path))
        .map_err(|e| format!("`{path}::{name}`: cannot read {path}: {e}"))?;
    if is_test_fn(&source, name) {
        Ok(())
    } else {
        Err(format!("`{path}::{name}`: no #[test] fn {name} in {path}"))
    }
}

#[test]
fn compliance_md_names_only_existing_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = read("docs/COMPLIANCE.md");
    let references = test_references(&doc).unwrap();
    assert!(
        references.len() >= 60,
        "expected the matrix's evidence, found {} references",
        references.len()
    );
    let problems: Vec<String> = references
        .iter()
        .filter_map(|(path, name)| check_reference(root, path, name).err())
        .collect();
    assert!(
        problems.is_empty(),
        "COMPLIANCE.md names tests that do not exist:\n{}",
        problems.join("\n")
    );
    // Every requirement the matrix must cover has a row.
    for requirement in [
        "| 3.3.1 |",
        "| 3.4.1 |",
        "| 3.5.1 |",
        "| 3.6.1 |",
        "| 3.6.1.1 |",
        "| 3.6.1.2 |",
        "| 3.6.1.3 |",
        "| 3.6.1.4 |",
        "| 3.7.1 |",
        "| 3.7.2 |",
        "| 3.7.3 |",
        "| 3.7.4 |",
        "| 3.7.5 |",
        "| 3.7.6 |",
        "| 3.7.7 |",
        "| 3.7.8 |",
        "| 3.7.9 |",
        "| 10.2.1 |",
        "| 10.2.2 |",
        "| 10.3.2 |",
        "| 10.5.1 |",
        "| Classification |",
        "| Encryption |",
        "| Least privilege |",
        "| Monitoring |",
        "| Backup |",
        "| Audit |",
        "| Accountability |",
        "| Incident response |",
        "| Assessment |",
    ] {
        assert!(
            doc.contains(requirement),
            "COMPLIANCE.md lacks the row {requirement}"
        );
    }
}

#[test]
fn the_compliance_reference_checker_refuses_wrong_names() {
    let source = "#[test]\nfn real() {}\n\n/// Doc.\n#[test]\n#[ignore]\nfn also_real() {}\n\
                  fn helper() {}\n#[test]\nfn real_but_longer() {}\n";
    assert!(is_test_fn(source, "real"));
    assert!(is_test_fn(source, "also_real"));
    assert!(!is_test_fn(source, "helper"), "a helper is not a test");
    assert!(!is_test_fn(source, "missing"));
    assert!(!is_test_fn(source, "real_but"), "a prefix is not a name");

    let doc = "| x | `tests/docs.rs::no_such_test_anywhere` |\n```\n`not/parsed.rs::x`\n```\n\
               `crates/a/src/b.rs::ok_name` and `tierseal report`\n";
    let references = test_references(doc).unwrap();
    assert_eq!(
        references,
        [
            (
                "tests/docs.rs".to_owned(),
                "no_such_test_anywhere".to_owned()
            ),
            ("crates/a/src/b.rs".to_owned(), "ok_name".to_owned()),
        ]
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(check_reference(root, "tests/docs.rs", "no_such_test_anywhere").is_err());
    assert!(
        check_reference(
            root,
            "tests/missing.rs",
            "compliance_md_names_only_existing_tests"
        )
        .is_err()
    );
    assert!(
        check_reference(root, "tests/docs.rs", "read").is_err(),
        "a helper fn"
    );
    assert!(
        check_reference(
            root,
            "tests/docs.rs",
            "compliance_md_names_only_existing_tests"
        )
        .is_ok()
    );
    for malformed in [
        "`tests/docs.rs::Not_Lowercase`",
        "`tests/docs.rs::name with space`",
        "`/abs/path.rs::name`",
        "`../outside.rs::name`",
        "`tests/docs.rs::a::b`",
    ] {
        assert!(
            test_references(malformed).is_err(),
            "{malformed} must be refused"
        );
    }
}
