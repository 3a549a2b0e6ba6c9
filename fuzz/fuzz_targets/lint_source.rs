//! The lint scanner on arbitrary source, with the built-in lexicon and with
//! a project configuration; every report format must stay valid.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tierseal_lint::{Config, Report, lint_source, report};

const CONFIG: &str = r#"
[[lexicon.rule]]
id = "member-number"
description = "a credit-union member number"
names = ["member_number", "memberNo"]
types = ["MemberId"]
min_level = "confidential"

[lexicon.min_level]
amount = "confidential"

[[allow]]
path = "Invoice::amount_currency"
reason = "ISO 4217 currency code, not an amount"
"#;

fuzz_target!(|data: &[u8]| {
    static PROJECT: OnceLock<Config> = OnceLock::new();
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let project =
        PROJECT.get_or_init(|| Config::parse(CONFIG, Path::new("tierseal.toml")).unwrap());
    for config in [&Config::default(), project] {
        let report = Report {
            findings: lint_source(Path::new("src/lib.rs"), source, config),
            files: 1,
            lines: source.lines().count(),
            ..Report::default()
        };
        let _ = report::human(&report);
        for json in [
            report::json(&report),
            report::sarif(&report, Path::new(".")),
        ] {
            serde_json::from_str::<serde_json::Value>(&json).expect("reports are valid JSON");
        }
    }
});
