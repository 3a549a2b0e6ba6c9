//! Finding sealed tokens in JSON text without knowing its schema.
//!
//! A token is a JSON string starting with `tierseal:` followed by base64url
//! characters, none of which JSON escapes, so a token can be found and
//! replaced in the raw text, leaving every other byte of the line as it was.

use std::ops::Range;

/// The byte ranges of every token text (without its quotes) in `line`.
pub fn find_tokens(line: &str) -> Vec<Range<usize>> {
    const NEEDLE: &str = "\"tierseal:";
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(offset) = line.get(from..).and_then(|rest| rest.find(NEEDLE)) {
        let start = from + offset + 1;
        let Some(length) = line.get(start..).and_then(|rest| rest.find('"')) else {
            break;
        };
        found.push(start..start + length);
        from = start + length + 1;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_tokens_anywhere() {
        let line = r#"{"a":"tierseal:AQ","b":{"c":["x","tierseal:Bw"]},"d":"tierseal"}"#;
        let tokens: Vec<&str> = find_tokens(line).into_iter().map(|r| &line[r]).collect();
        assert_eq!(tokens, ["tierseal:AQ", "tierseal:Bw"]);
        assert!(find_tokens(r#"{"a":"tierseal:unterminated"#).is_empty());
    }
}
