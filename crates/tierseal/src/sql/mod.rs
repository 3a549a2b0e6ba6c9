//! Token types as database column values (behind the `rusqlite` and
//! `postgres` features).
//!
//! [`SealedValue`], [`SealedField`], [`PackedPart`], [`RecordKey`], [`SealedToken`],
//! [`SealedMask`] and [`BlindIndex`] bind and read as text columns in their text form
//! (`tierseal:` + base64url, the form JSON uses), so a sealed field needs
//! no hand conversion. [`RecordKeys`] (a sealed struct's `tierseal_keys`)
//! binds as the JSON array of its [`RecordKey`] tokens, the form JSON
//! documents hold; in PostgreSQL it also fits `json` and `jsonb` columns.
//!
//! - `rusqlite` (feature `rusqlite`): written as TEXT; read from TEXT (or a
//!   BLOB holding the token's bytes).
//! - `postgres`/`tokio-postgres` (feature `postgres`, through
//!   `postgres-types`): written as TEXT, accepted for `text` and `varchar`
//!   columns and parameters.
//!
//! A column value that is not a well-formed token of the expected type is
//! a [`Error::ColumnValue`] naming the type, never a panic; the error never
//! contains the value. `NULL` is the driver's own "unexpected null" error:
//! read an `Option<T>` for a nullable column.
//!
//! [`migrate`] holds the database-neutral steps of sealing a plaintext
//! table in place (batches, verification before clearing, resumption); the
//! SQL of the table is the adopter's (see the workspace's
//! `examples/migrate_sqlite.rs` and `examples/migrate_postgres.rs`).
//!
//! [`SealedValue`]: crate::SealedValue
//! [`SealedField`]: crate::SealedField
//! [`PackedPart`]: crate::PackedPart
//! [`RecordKey`]: crate::RecordKey
//! [`RecordKeys`]: crate::RecordKeys
//! [`SealedToken`]: crate::SealedToken
//! [`SealedMask`]: crate::SealedMask
//! [`BlindIndex`]: crate::BlindIndex

mod index;
mod keys;
pub mod migrate;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "rusqlite")]
mod sqlite;

use crate::{
    Error, PackedPart, RecordKey, SealedField, SealedMask, SealedToken, SealedValue, TEXT_PREFIX,
};

/// A token type that is stored as its text form.
pub(crate) trait ColumnText: Sized {
    /// The type's name, for errors.
    const NAME: &'static str;
    /// The text written to the column.
    fn column_text(&self) -> std::borrow::Cow<'_, str>;
    /// Parses a column's text.
    fn from_column_text(text: &str) -> Result<Self, Error>;
    /// Parses a column's bytes (SQLite BLOB): the token's binary form.
    #[cfg_attr(
        not(feature = "rusqlite"),
        allow(dead_code, reason = "only SQLite has BLOB token columns")
    )]
    fn from_column_bytes(bytes: &[u8]) -> Result<Self, Error>;
}

/// The error for a column value that is not a `name`.
fn column_error(name: &'static str, error: &Error) -> Error {
    // The inner errors of token parsing are fixed reasons and numbers:
    // they never contain the value.
    Error::ColumnValue {
        type_name: name,
        reason: error.to_string(),
    }
}

macro_rules! column_token {
    ($name:ident) => {
        impl ColumnText for $name {
            const NAME: &'static str = stringify!($name);

            fn column_text(&self) -> std::borrow::Cow<'_, str> {
                self.to_text().into()
            }

            fn from_column_text(text: &str) -> Result<Self, Error> {
                text.parse()
                    .map_err(|e| column_error(<Self as ColumnText>::NAME, &e))
            }

            fn from_column_bytes(bytes: &[u8]) -> Result<Self, Error> {
                Self::from_bytes(bytes.to_vec())
                    .map_err(|e| column_error(<Self as ColumnText>::NAME, &e))
            }
        }
    };
}

column_token!(SealedValue);
column_token!(SealedField);
column_token!(PackedPart);
column_token!(RecordKey);

impl ColumnText for SealedToken {
    const NAME: &'static str = "SealedToken";

    fn column_text(&self) -> std::borrow::Cow<'_, str> {
        self.to_text().into()
    }

    fn from_column_text(text: &str) -> Result<Self, Error> {
        text.parse().map_err(|e| column_error(Self::NAME, &e))
    }

    fn from_column_bytes(bytes: &[u8]) -> Result<Self, Error> {
        // The binary form names its kind in its second byte, as the text
        // form does once decoded: go through the text parser's dispatch.
        use base64::Engine as _;
        let mut text = String::from(TEXT_PREFIX);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(bytes, &mut text);
        Self::from_column_text(&text)
    }
}

impl ColumnText for SealedMask {
    const NAME: &'static str = "SealedMask";

    fn column_text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            SealedMask::Sealed(field) => field.to_text().into(),
            SealedMask::Clear(text) => text.as_str().into(),
        }
    }

    fn from_column_text(text: &str) -> Result<Self, Error> {
        if text.starts_with(TEXT_PREFIX) {
            SealedField::from_column_text(text)
                .map(SealedMask::Sealed)
                .map_err(|_| {
                    column_error(
                        Self::NAME,
                        &Error::malformed("text starts with `tierseal:` but is not a sealed field"),
                    )
                })
        } else {
            // A version-1 clear mask (see `SealedMask`): shown only if
            // the keyring opts in.
            Ok(SealedMask::Clear(text.to_owned()))
        }
    }

    fn from_column_bytes(bytes: &[u8]) -> Result<Self, Error> {
        match bytes.first() {
            Some(byte) if *byte < 0x20 => SealedField::from_column_bytes(bytes)
                .map(SealedMask::Sealed)
                .map_err(|_| {
                    column_error(
                        Self::NAME,
                        &Error::malformed("bytes are not a sealed field"),
                    )
                }),
            _ => std::str::from_utf8(bytes)
                .map_err(|_| {
                    column_error(Self::NAME, &Error::malformed("a clear mask is not UTF-8"))
                })
                .and_then(Self::from_column_text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_type_and_never_the_value() {
        let secret = "tierseal:c2VjcmV0LTQxMTExMTExMTExMTExMTE";
        for error in [
            SealedValue::from_column_text(secret).err(),
            SealedField::from_column_text("4111111111111111").err(),
            PackedPart::from_column_text(secret).err(),
            PackedPart::from_column_bytes(b"4111111111111111").err(),
            RecordKey::from_column_bytes(b"4111111111111111").err(),
            SealedToken::from_column_text(secret).err(),
            SealedMask::from_column_text(secret).err(),
        ] {
            let error = error.expect("garbage must not parse");
            let shown = format!("{error} {error:?}");
            assert!(matches!(error, Error::ColumnValue { .. }));
            assert!(!shown.contains("4111"), "{shown}");
            assert!(!shown.contains("c2VjcmV0"), "{shown}");
        }
        let error = SealedValue::from_column_text("x")
            .err()
            .map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains("SealedValue")));
    }

    #[test]
    fn a_clear_mask_is_plain_text() {
        assert_eq!(
            SealedMask::from_column_text("****1111").ok(),
            Some(SealedMask::Clear("****1111".into()))
        );
        assert_eq!(
            SealedMask::Clear("**".into()).column_text(),
            std::borrow::Cow::Borrowed("**")
        );
    }
}
