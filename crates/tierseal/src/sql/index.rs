//! [`BlindIndex`] as a column value: stored as its text form
//! `tsidx:v<version>:<base64url>` (TEXT in SQLite; TEXT, VARCHAR, BPCHAR
//! or NAME in PostgreSQL), so that an ordinary B-tree index on the column
//! serves equality lookups. A column value that is not a blind index is a
//! typed error naming what was expected, never a panic.

use crate::BlindIndex;

#[cfg(feature = "rusqlite")]
mod sqlite {
    use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

    use super::BlindIndex;

    impl ToSql for BlindIndex {
        fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
            Ok(ToSqlOutput::from(self.to_text()))
        }
    }

    impl FromSql for BlindIndex {
        fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
            let text = value.as_str()?;
            text.parse::<BlindIndex>()
                .map_err(|error| FromSqlError::Other(Box::new(error)))
        }
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use std::error::Error as StdError;

    use bytes::BytesMut;
    use postgres_types::{FromSql, IsNull, ToSql, Type, accepts, to_sql_checked};

    use super::BlindIndex;

    impl ToSql for BlindIndex {
        fn to_sql(
            &self,
            ty: &Type,
            out: &mut BytesMut,
        ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
            self.to_text().as_str().to_sql(ty, out)
        }

        accepts!(TEXT, VARCHAR, BPCHAR, NAME, UNKNOWN);

        to_sql_checked!();
    }

    impl<'a> FromSql<'a> for BlindIndex {
        fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn StdError + Sync + Send>> {
            let text = <&str as FromSql>::from_sql(ty, raw)?;
            Ok(text.parse::<BlindIndex>()?)
        }

        accepts!(TEXT, VARCHAR, BPCHAR, NAME, UNKNOWN);
    }
}

#[cfg(all(test, feature = "rusqlite"))]
mod tests {
    use super::BlindIndex;

    #[test]
    fn a_blind_index_binds_and_reads_as_text_in_sqlite() {
        let index: BlindIndex = "tsidx:v3:q6urq6urq6urq6urq6urqw".parse().unwrap();
        let db = rusqlite::Connection::open_in_memory().unwrap();
        db.execute_batch("CREATE TABLE t (i TEXT)").unwrap();
        db.execute("INSERT INTO t VALUES (?1)", [&index]).unwrap();
        let text: String = db.query_row("SELECT i FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(text, index.to_text());
        let back: BlindIndex = db.query_row("SELECT i FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(back, index);
        db.execute("UPDATE t SET i = 'not an index'", []).unwrap();
        let bad = db.query_row("SELECT i FROM t", [], |r| r.get::<_, BlindIndex>(0));
        let message = bad.unwrap_err().to_string();
        assert!(message.contains("blind index"), "{message}");
    }
}
