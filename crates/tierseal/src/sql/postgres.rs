//! postgres-types' `ToSql`/`FromSql` for the token types: written as TEXT,
//! accepted for `text` and `varchar` columns and parameters.

use std::error::Error as StdError;

use postgres_types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

use super::ColumnText;
use crate::{RecordKey, SealedField, SealedMask, SealedToken, SealedValue};

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

postgres_column!(SealedValue, SealedField, RecordKey, SealedToken, SealedMask);
