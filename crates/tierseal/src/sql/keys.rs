//! [`RecordKeys`] as a column value: the sealed struct's `tierseal_keys`
//! (one wrapped data key per tier) in the form JSON documents already use,
//! a JSON array of [`RecordKey`] tokens (`["tierseal:...","tierseal:..."]`).
//! The custodian's `rewrap --db` finds and rewraps the tokens inside it
//! like any other, in TEXT, JSON or JSONB columns.

use super::ColumnText;
use crate::{Error, RecordKey, RecordKeys};

const NAME: &str = "RecordKeys";

impl ColumnText for RecordKeys {
    const NAME: &'static str = NAME;

    fn column_text(&self) -> std::borrow::Cow<'_, str> {
        // Token text is `tierseal:` and base64url: nothing to escape.
        let mut text = String::from("[");
        for (i, key) in self.keys().iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            text.push('"');
            text.push_str(&key.to_text());
            text.push('"');
        }
        text.push(']');
        text.into()
    }

    fn from_column_text(text: &str) -> Result<Self, Error> {
        // serde_json's messages can quote the input: only its position is
        // kept.
        let tokens: Vec<String> = serde_json::from_str(text).map_err(|e| Error::ColumnValue {
            type_name: NAME,
            reason: format!(
                "not a JSON array of strings (line {}, column {})",
                e.line(),
                e.column()
            ),
        })?;
        tokens
            .iter()
            .enumerate()
            .map(|(i, token)| {
                token.parse::<RecordKey>().map_err(|e| Error::ColumnValue {
                    type_name: NAME,
                    reason: format!("key {} of the list is not a RecordKey: {e}", i + 1),
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(RecordKeys::from_keys)
    }

    fn from_column_bytes(bytes: &[u8]) -> Result<Self, Error> {
        // No binary form: a BLOB holds the same JSON text.
        let text = std::str::from_utf8(bytes).map_err(|_| Error::ColumnValue {
            type_name: NAME,
            reason: "the bytes are not UTF-8 JSON".into(),
        })?;
        Self::from_column_text(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "tierseal:c2VjcmV0LTQxMTExMTExMTExMTExMTE";

    #[test]
    fn malformed_lists_name_the_type_and_never_the_value() {
        for text in [
            "4111111111111111",
            "[4111111111111111]",
            r#"{"pan":"4111111111111111"}"#,
            r#"["4111111111111111"]"#,
            &format!(r#"["{KEY}"]"#),
            &format!(r#"["{KEY}""#),
        ] {
            let error = RecordKeys::from_column_text(text).expect_err(text);
            let shown = format!("{error} {error:?}");
            assert!(
                matches!(error, Error::ColumnValue { type_name, .. } if type_name == "RecordKeys"),
                "{shown}"
            );
            assert!(shown.contains("RecordKeys"), "{shown}");
            assert!(!shown.contains("4111"), "{shown}");
            assert!(!shown.contains("c2VjcmV0"), "{shown}");
        }
        let error = RecordKeys::from_column_bytes(&[0xff, 0xfe]).expect_err("not UTF-8");
        assert!(error.to_string().contains("RecordKeys"), "{error}");
    }

    #[test]
    fn an_empty_list_round_trips_and_matches_serde() {
        let keys = RecordKeys::default();
        assert_eq!(keys.column_text(), "[]");
        assert_eq!(
            serde_json::to_string(&keys).ok().as_deref(),
            Some(&*keys.column_text())
        );
        assert_eq!(RecordKeys::from_column_text(" [ ] ").ok(), Some(keys));
    }
}
