//! `docs/FORMAT.md` states the sizes of every part of a token; this test
//! reads it and checks each stated size against the constants the code
//! uses, so that the document cannot drift from the implementation again.
//!
//! Every `N bytes` in the token part of the document must be covered by a
//! rule below, and every grammar line's fixed parts must add up: a new size
//! statement without a rule fails the test.

use super::FIELD_OVERHEAD;
use super::format::{
    FIELD_HEADER_V3_LEN, HEADER_FIXED_LEN, MAX_TIER_LEN, WRAPPED_PART_LEN, header_len,
    public_wrap_len,
};
use crate::HpkeSuite;
use crate::crypto::{KEY_LEN, NONCE_LEN, TAG_LEN, WRAPPED_KEY_LEN};

const DOC: &str = include_str!("../../../../docs/FORMAT.md");

/// The part of the document that specifies tokens: from `## Tokens` to the
/// keystore file, and the test-vector notes.
fn token_part() -> String {
    let section = |start: &str, end: &str| {
        let from = DOC.find(start).expect(start);
        let to = DOC[from..].find(end).map_or(DOC.len(), |i| from + i);
        DOC[from..to].to_owned()
    };
    section("## Tokens", "## Keystore file")
        + &section("## Test vectors", "| tier | version | key |")
}

/// Sentences that state sizes, with `{}` for each size and the constant
/// it must equal.
fn rules() -> Vec<(&'static str, Vec<usize>)> {
    vec![
        ("1 to {} bytes", vec![MAX_TIER_LEN]),
        (
            "The header before the tier name is {} bytes",
            vec![HEADER_FIXED_LEN],
        ),
        ("`wrapped_key` is {} bytes", vec![WRAPPED_PART_LEN]),
        ("({} + {} + {} + {})", vec![4, NONCE_LEN, KEY_LEN, TAG_LEN]),
        (
            "a field adds {} bytes (nonce and tag)",
            vec![FIELD_OVERHEAD],
        ),
        (
            "`{} + tier length + {}`\n  bytes longer",
            vec![HEADER_FIXED_LEN, FIELD_OVERHEAD],
        ),
        (
            "`{} + tier length + {} + {}` bytes longer",
            vec![HEADER_FIXED_LEN, WRAPPED_PART_LEN, FIELD_OVERHEAD],
        ),
        (
            "overwrites the {} bytes of `wrapped_key`",
            vec![WRAPPED_PART_LEN],
        ),
        (
            "data key {} bytes, wrap nonce {}, field nonce {}",
            vec![KEY_LEN, NONCE_LEN, NONCE_LEN],
        ),
        // Public-key tokens (format version 3, kinds 4 and 5).
        (
            "`public_wrap` is {} bytes for `x25519` ({} + {} + {} + {}) and {} bytes for `xwing` ({} + {} + {} + {})",
            vec![
                public_wrap_len(HpkeSuite::X25519),
                1,
                4,
                HpkeSuite::X25519.encapsulated_len(),
                WRAPPED_KEY_LEN,
                public_wrap_len(HpkeSuite::XWing),
                1,
                4,
                HpkeSuite::XWing.encapsulated_len(),
                WRAPPED_KEY_LEN,
            ],
        ),
        (
            "against the {} bytes of a symmetric `wrapped_key`",
            vec![WRAPPED_PART_LEN],
        ),
        (
            "`{} + tier length + {} + {}` bytes longer than its value's encoding with",
            vec![
                HEADER_FIXED_LEN,
                public_wrap_len(HpkeSuite::X25519),
                FIELD_OVERHEAD,
            ],
        ),
        (
            "`{} + tier length + {} + {}` bytes longer with `xwing`",
            vec![
                HEADER_FIXED_LEN,
                public_wrap_len(HpkeSuite::XWing),
                FIELD_OVERHEAD,
            ],
        ),
        (
            "The version-3 field header is {} bytes and a field adds {} bytes",
            vec![FIELD_HEADER_V3_LEN, FIELD_OVERHEAD],
        ),
        (
            "version-3 record field is `{} + {}` bytes longer",
            vec![FIELD_HEADER_V3_LEN, FIELD_OVERHEAD],
        ),
        (
            "A field at\n`restricted/cards` is {} bytes shorter",
            vec![header_len("restricted/cards") - FIELD_HEADER_V3_LEN],
        ),
    ]
}

fn fill(template: &str, values: &[usize]) -> String {
    let mut out = String::new();
    let mut values = values.iter();
    let mut parts = template.split("{}").peekable();
    while let Some(part) = parts.next() {
        out.push_str(part);
        if parts.peek().is_some() {
            out.push_str(&values.next().unwrap().to_string());
        }
    }
    out
}

/// Byte ranges of every `N bytes` in `text`.
fn size_statements(text: &str) -> Vec<std::ops::Range<usize>> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut search = 0;
    while let Some(at) = text[search..].find(" bytes") {
        let end = search + at;
        let start = (0..end)
            .rev()
            .take_while(|&i| bytes[i].is_ascii_digit())
            .last()
            .unwrap_or(end);
        if start < end {
            found.push(start..end);
        }
        search = end + 1;
    }
    found
}

/// Checks every size statement of `text` against the rules.
fn check_sizes(text: &str) -> Result<(), String> {
    let mut covered = Vec::new();
    for (template, values) in rules() {
        let sentence = fill(template, &values);
        let at = text.find(&sentence).ok_or_else(|| {
            format!("docs/FORMAT.md no longer says `{sentence}` (the code's sizes)")
        })?;
        covered.push(at..at + sentence.len());
    }
    for statement in size_statements(text) {
        if !covered
            .iter()
            .any(|c| c.start <= statement.start && statement.end <= c.end)
        {
            return Err(format!(
                "docs/FORMAT.md states `{} bytes` with no check against the code: add a rule",
                &text[statement]
            ));
        }
    }
    Ok(())
}

#[test]
fn every_size_the_format_doc_states_matches_the_code() {
    check_sizes(&token_part()).unwrap();
}

/// The sizes of a grammar line's parts: `name:[N]`, `name:u32`, `name:u8`;
/// `None` for a variable part.
fn grammar(name: &str) -> Vec<(String, Option<usize>)> {
    let line = DOC
        .lines()
        .find(|line| {
            line.trim_start().starts_with(name)
                && line.trim_start()[name.len()..]
                    .trim_start()
                    .starts_with('=')
        })
        .unwrap_or_else(|| panic!("no grammar line for `{name}`"));
    let (_, rhs) = line.split_once('=').unwrap();
    rhs.split_whitespace()
        .filter_map(|part| {
            let (field, size) = part.split_once(':')?;
            let size = match size {
                "u8" => Some(1),
                "u16" => Some(2),
                "u32" => Some(4),
                _ => size
                    .strip_prefix('[')
                    .and_then(|s| s.strip_suffix(']'))
                    .and_then(|s| s.parse().ok()),
            };
            Some((field.to_owned(), size))
        })
        .collect()
}

fn fixed_len(parts: &[(String, Option<usize>)]) -> usize {
    parts.iter().filter_map(|(_, size)| *size).sum()
}

fn size_of(parts: &[(String, Option<usize>)], field: &str) -> Option<usize> {
    parts
        .iter()
        .find(|(name, _)| name == field)
        .unwrap_or_else(|| panic!("no part `{field}`"))
        .1
}

#[test]
fn the_format_doc_grammar_adds_up_to_the_code() {
    let token = grammar("token");
    assert_eq!(fixed_len(&token), HEADER_FIXED_LEN, "token header");
    assert_eq!(size_of(&token, "tier"), None);

    let wrapped = grammar("wrapped_key");
    assert_eq!(fixed_len(&wrapped), WRAPPED_PART_LEN, "wrapped_key");
    assert_eq!(size_of(&wrapped, "wrap_nonce"), Some(NONCE_LEN));
    assert_eq!(size_of(&wrapped, "wrap_tag"), Some(TAG_LEN));
    assert_eq!(
        size_of(&wrapped, "wrapped_data_key").map(|n| n + TAG_LEN),
        Some(WRAPPED_KEY_LEN)
    );

    let field_v3 = grammar("field_v3");
    assert_eq!(
        fixed_len(&field_v3),
        FIELD_HEADER_V3_LEN,
        "version-3 field header"
    );
    assert_eq!(size_of(&field_v3, "slot"), Some(1));

    let part = grammar("part");
    assert_eq!(
        fixed_len(&part),
        FIELD_HEADER_V3_LEN,
        "a packed part's header is a version-3 field's"
    );
    assert_eq!(size_of(&part, "slot"), Some(1));

    let field = grammar("field");
    assert_eq!(fixed_len(&field), FIELD_OVERHEAD, "field overhead");
    assert_eq!(size_of(&field, "nonce"), Some(NONCE_LEN));
    assert_eq!(size_of(&field, "tag"), Some(TAG_LEN));
    assert_eq!(size_of(&field, "ciphertext"), None);

    let public = grammar("public_wrap");
    assert_eq!(size_of(&public, "enc"), None, "enc depends on the suite");
    for suite in HpkeSuite::ALL {
        assert_eq!(
            fixed_len(&public) + suite.encapsulated_len(),
            public_wrap_len(suite),
            "public_wrap ({suite})"
        );
    }
    assert_eq!(
        size_of(&public, "sealed_data_key").map(|n| n + TAG_LEN),
        Some(WRAPPED_KEY_LEN)
    );
}

#[test]
fn the_checks_catch_a_wrong_or_new_size() {
    let text = token_part();
    // The statement the outside review found wrong.
    let wrong = text.replace(
        "overwrites the 64 bytes of `wrapped_key`",
        "overwrites the 68 bytes of `wrapped_key`",
    );
    assert_ne!(wrong, text);
    assert!(check_sizes(&wrong).is_err());
    // A size stated without a rule.
    let unchecked = text.clone() + "\nA record key is 90 bytes.\n";
    assert!(check_sizes(&unchecked).unwrap_err().contains("90 bytes"));
}
