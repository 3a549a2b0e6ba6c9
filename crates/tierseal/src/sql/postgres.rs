//! postgres-types' `ToSql`/`FromSql` for the token types: written as TEXT,
//! accepted for `text` and `varchar` columns and parameters;
//! [`RecordKeys`] (a JSON array of tokens) also for `json` and `jsonb`.

use std::error::Error as StdError;

use postgres_types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

use super::ColumnText;
use crate::{PackedPart, RecordKey, RecordKeys, SealedField, SealedMask, SealedToken, SealedValue};

type BoxError = Box<dyn StdError + Sync + Send>;

fn accepts(ty: &Type) -> bool {
    matches!(*ty, Type::TEXT | Type::VARCHAR)
}

fn read<T: ColumnText>(raw: &[u8]) -> Result<T, BoxError> {
    // TEXT and VARCHAR travel as UTF-8 in the binary protocol.
    let text = std::str::from_utf8(raw).map_err(|_| crate::Error::ColumnValue {
        type_name: T::NAME,
        reason: "the text is not UTF-8".into(),
    })?;
    Ok(T::from_column_text(text)?)
}

macro_rules! postgres_column {
    ($($name:ty),*) => {$(
        impl ToSql for $name {
            fn to_sql(
                &self,
                ty: &Type,
                out: &mut bytes::BytesMut,
            ) -> Result<IsNull, BoxError> {
                <&str as ToSql>::to_sql(&&*self.column_text(), ty, out)
            }

            fn accepts(ty: &Type) -> bool {
                accepts(ty)
            }

            to_sql_checked!();
        }

        impl<'a> FromSql<'a> for $name {
            fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
                read(raw)
            }

            fn accepts(ty: &Type) -> bool {
                accepts(ty)
            }
        }
    )*};
}

postgres_column!(
    SealedValue,
    SealedField,
    PackedPart,
    RecordKey,
    SealedToken,
    SealedMask
);

/// The version byte that starts a `jsonb` value in the binary protocol.
const JSONB_VERSION: u8 = 1;

fn accepts_keys(ty: &Type) -> bool {
    matches!(*ty, Type::TEXT | Type::VARCHAR | Type::JSON | Type::JSONB)
}

impl ToSql for RecordKeys {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, BoxError> {
        if *ty == Type::JSONB {
            out.extend_from_slice(&[JSONB_VERSION]);
        }
        out.extend_from_slice(self.column_text().as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        accepts_keys(ty)
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for RecordKeys {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let raw = if *ty == Type::JSONB {
            match raw.split_first() {
                Some((&JSONB_VERSION, rest)) => rest,
                _ => {
                    return Err(Box::new(crate::Error::ColumnValue {
                        type_name: <Self as ColumnText>::NAME,
                        reason: "unsupported jsonb version".into(),
                    }));
                }
            }
        } else {
            raw
        };
        read(raw)
    }

    fn accepts(ty: &Type) -> bool {
        accepts_keys(ty)
    }
}
