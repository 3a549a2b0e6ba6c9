//! rusqlite's `ToSql`/`FromSql` for the token types: TEXT columns holding
//! the text form (a BLOB holding the token's bytes also reads;
//! [`RecordKeys`]: a BLOB holding its JSON text).

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

use super::ColumnText;
use crate::{PackedPart, RecordKey, RecordKeys, SealedField, SealedMask, SealedToken, SealedValue};

fn read<T: ColumnText>(value: ValueRef<'_>) -> FromSqlResult<T> {
    match value {
        ValueRef::Text(bytes) => {
            let text = std::str::from_utf8(bytes).map_err(|_| {
                FromSqlError::Other(Box::new(crate::Error::ColumnValue {
                    type_name: T::NAME,
                    reason: "the text is not UTF-8".into(),
                }))
            })?;
            T::from_column_text(text).map_err(|e| FromSqlError::Other(Box::new(e)))
        }
        ValueRef::Blob(bytes) => {
            T::from_column_bytes(bytes).map_err(|e| FromSqlError::Other(Box::new(e)))
        }
        ValueRef::Null | ValueRef::Integer(_) | ValueRef::Real(_) => Err(FromSqlError::InvalidType),
    }
}

macro_rules! sqlite_column {
    ($($name:ty),*) => {$(
        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.column_text().into_owned()))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                read(value)
            }
        }
    )*};
}

sqlite_column!(
    SealedValue,
    SealedField,
    PackedPart,
    RecordKey,
    RecordKeys,
    SealedToken,
    SealedMask
);
