//! The PostgreSQL server the database examples and tests use, and a
//! schema of their own on it.

use postgres::{Client, NoTls};

/// An error of the examples.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `prefix`, this process's id and the clock's nanoseconds: a name no
/// parallel run takes (letters, digits and `_` if `prefix` is).
pub(crate) fn unique_name(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{prefix}_{}_{nanos}", std::process::id())
}

/// The server the examples and tests use: `TIERSEAL_TEST_PG`, else the
/// project machines' local one.
pub(crate) fn config() -> String {
    std::env::var("TIERSEAL_TEST_PG")
        .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".to_owned())
}

/// Connects to `config`, saying where and how to check on failure.
pub(crate) fn connect(config: &str) -> Result<Client, BoxError> {
    Client::connect(config, NoTls).map_err(|error| {
        format!(
            "cannot connect to PostgreSQL at `{config}` (set TIERSEAL_TEST_PG; check `pg_isready -h 127.0.0.1`): {error}"
        )
        .into()
    })
}

/// A schema of its own, so that parallel runs never meet; dropped, with
/// everything in it, when this is dropped.
pub(crate) struct Schema {
    client: Client,
    name: String,
}

impl Schema {
    /// Creates `name` (letters, digits and `_` only: it is not quoted).
    pub(crate) fn create(config: &str, name: &str) -> Result<Schema, BoxError> {
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("schema name `{name}`: letters, digits and _ only").into());
        }
        let mut client = connect(config)?;
        client.batch_execute(&format!("CREATE SCHEMA {name}"))?;
        Ok(Schema {
            client,
            name: name.to_owned(),
        })
    }

    /// `schema.table`.
    pub(crate) fn table(&self, table: &str) -> String {
        format!("{}.{table}", self.name)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Err(error) = self
            .client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name))
        {
            eprintln!("could not drop schema {}: {error}", self.name);
        }
    }
}
