//! `tierseal.toml`: parsed, and on success used to lint a fixed source.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use tierseal_lint::{Config, lint_source};

const SOURCE: &str = "pub struct Invoice { pub amount_currency: String, pub member_number: u64, \
                      pub iban: String }\n\
                      pub enum Event { Charged { card_number: String } }";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = Config::parse(text, Path::new("tierseal.toml")) {
        let _ = format!("{config:?}");
        let _ = lint_source(Path::new("src/billing.rs"), SOURCE, &config);
    }
});
