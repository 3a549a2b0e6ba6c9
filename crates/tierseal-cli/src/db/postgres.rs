//! The database jobs over PostgreSQL (the synchronous `postgres` client).
//!
//! Tables are walked by their single-column primary key, cast through
//! text so that any orderable key type works; a table without one (or
//! with a primary key of several columns) is refused, naming it, rather
//! than walked by `ctid`, which moves when a row is updated.

use std::str::FromStr as _;
use std::time::Duration;

use postgres::config::Host;
use postgres::error::SqlState;
use postgres::{Client, Config, NoTls};

use super::{
    Column, Database, Key, PROGRESS_TABLE, Progress, Row, RowKey, Table, Update, Value, Work,
};
use crate::CliError;

/// A PostgreSQL database.
pub(crate) struct Postgres {
    client: Client,
    place: Place,
    /// Where the progress table lives (`--schema`, else `public`).
    progress_schema: String,
}

struct Place {
    name: String,
    lock_wait: Duration,
}

/// `"name"`, quoted for SQL.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `ONLY "schema"."table"`: the table's own rows. Without `ONLY`, a
/// table that others inherit from would also read, count and update its
/// children's rows, whose keys may repeat its own (an update by key would
/// then write one row's value into another), and the children are walked
/// as tables of their own anyway.
fn only(table: &Table) -> String {
    match &table.schema {
        Some(schema) => format!("ONLY {}.{}", quote(schema), quote(&table.name)),
        None => format!("ONLY {}", quote(&table.name)),
    }
}

/// Types a key can be compared as an integer in (shown without quotes).
fn integer(sql_type: &str) -> bool {
    matches!(sql_type, "smallint" | "integer" | "bigint")
}

impl Place {
    fn error(&self, action: &str, error: &postgres::Error) -> CliError {
        if let Some(db) = error.as_db_error() {
            if *db.code() == SqlState::LOCK_NOT_AVAILABLE {
                return CliError::DatabaseBusy {
                    database: self.name.clone(),
                    what: format!("rows locked while trying to {action}"),
                    waited_secs: self.lock_wait.as_secs(),
                };
            }
            return CliError::Database {
                database: self.name.clone(),
                action: action.to_owned(),
                reason: format!("{} ({})", db.message(), db.code().code()),
            };
        }
        CliError::Database {
            database: self.name.clone(),
            action: action.to_owned(),
            reason: error.to_string(),
        }
    }
}

impl Postgres {
    /// Connects (without TLS: for a server on this host or a private
    /// network) and bounds lock waits by `lock_wait`.
    ///
    /// # Errors
    /// The URL does not parse, or the server cannot be reached.
    pub(crate) fn open(url: &str, lock_wait: Duration) -> Result<Postgres, CliError> {
        let mut config = Config::from_str(url).map_err(|_| CliError::DatabaseUrl {
            reason: "not a PostgreSQL URL: expected postgres://[user@]host[:port]/database",
        })?;
        let host = match config.get_hosts().first() {
            Some(Host::Tcp(host)) => host.clone(),
            Some(Host::Unix(path)) => path.display().to_string(),
            None => "localhost".into(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let name = format!(
            "postgres://{host}:{port}/{}",
            config.get_dbname().unwrap_or("(default database)")
        );
        let place = Place { name, lock_wait };
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(lock_wait.max(Duration::from_secs(1)));
        }
        let client = config
            .connect(NoTls)
            .map_err(|e| place.error("connect", &e))?;
        Ok(Postgres {
            client,
            place,
            progress_schema: "public".into(),
        })
    }

    fn select_sql(table: &Table, after: bool, lock: bool) -> String {
        // Qualified by the table's alias: an output column of the same
        // name (cast to text) must not be what ORDER BY sorts.
        let (key, key_type) = match &table.key {
            Ok(RowKey::Column { name, sql_type }) => {
                (format!("t.{}", quote(name)), sql_type.as_str())
            }
            _ => ("t.ctid".to_owned(), "tid"),
        };
        let columns: Vec<String> = table
            .columns
            .iter()
            .map(|c| format!("t.{}::text", quote(&c.name)))
            .collect();
        let (filter, limit) = if after {
            (format!("WHERE {key} > CAST($1::text AS {key_type}) "), "$2")
        } else {
            (String::new(), "$1")
        };
        format!(
            "SELECT {key}::text, {} FROM {} AS t {filter}ORDER BY {key} LIMIT {limit}{}",
            columns.join(", "),
            only(table),
            if lock { " FOR UPDATE" } else { "" }
        )
    }

    fn read_rows(
        client: &mut impl postgres::GenericClient,
        table: &Table,
        after: Option<&Key>,
        limit: usize,
        lock: bool,
    ) -> Result<Vec<Row>, postgres::Error> {
        let sql = Postgres::select_sql(table, after.is_some(), lock);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = match after {
            Some(key) => client.query(&sql, &[&key.as_text(), &limit])?,
            None => client.query(&sql, &[&limit])?,
        };
        let int_key =
            matches!(&table.key, Ok(RowKey::Column { sql_type, .. }) if integer(sql_type));
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let text: String = row.try_get(0)?;
            let key = match text.parse::<i64>() {
                Ok(n) if int_key => Key::Int(n),
                _ => Key::Text(text),
            };
            let mut values = Vec::with_capacity(table.columns.len());
            for index in 1..=table.columns.len() {
                values.push(match row.try_get::<_, Option<String>>(index)? {
                    Some(text) => Value::Text(text),
                    None => Value::Absent,
                });
            }
            out.push(Row { key, values });
        }
        Ok(out)
    }
}

const TABLES: &str = "SELECT c.oid, n.nspname::text, c.relname::text \
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
    WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
    AND n.nspname NOT LIKE 'pg\\_%' AND c.relname <> $1 AND ($2::text IS NULL OR n.nspname = $2) \
    ORDER BY 2, 3";

const COLUMNS: &str = "SELECT a.attrelid, a.attname::text, format_type(a.atttypid, a.atttypmod), \
    t.typname IN ('text', 'varchar', 'json', 'jsonb') \
    FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
    WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' \
    ORDER BY a.attrelid, a.attnum";

const KEYS: &str = "SELECT i.indrelid, a.attname::text, format_type(a.atttypid, a.atttypmod), \
    array_length(i.indkey::int2[], 1) \
    FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
    WHERE i.indisprimary AND i.indrelid = ANY($1)";

impl Database for Postgres {
    fn name(&self) -> &str {
        &self.place.name
    }

    fn tables(&mut self, schema: Option<&str>) -> Result<Vec<Table>, CliError> {
        let place = &self.place;
        let rows = self
            .client
            .query(TABLES, &[&PROGRESS_TABLE, &schema])
            .map_err(|e| place.error("list the tables", &e))?;
        let mut oids: Vec<u32> = Vec::with_capacity(rows.len());
        let mut tables: Vec<Table> = Vec::with_capacity(rows.len());
        for row in &rows {
            oids.push(row.get(0));
            tables.push(Table {
                schema: Some(row.get(1)),
                name: row.get(2),
                key: Err(
                    "it has no primary key: PostgreSQL rows are walked in primary-key \
                          order (ctid moves when a row is updated); add a primary key",
                ),
                columns: Vec::new(),
                unsearched: Vec::new(),
            });
        }
        let columns = self
            .client
            .query(COLUMNS, &[&oids])
            .map_err(|e| place.error("list the columns", &e))?;
        for row in &columns {
            let oid: u32 = row.get(0);
            if let Some(index) = oids.iter().position(|o| *o == oid)
                && let Some(table) = tables.get_mut(index)
            {
                let column = Column {
                    name: row.get(1),
                    sql_type: row.get(2),
                };
                if row.get(3) {
                    table.columns.push(column);
                } else {
                    table.unsearched.push(column);
                }
            }
        }
        let keys = self
            .client
            .query(KEYS, &[&oids])
            .map_err(|e| place.error("list the primary keys", &e))?;
        for row in &keys {
            let oid: u32 = row.get(0);
            let width: Option<i32> = row.get(3);
            if let Some(index) = oids.iter().position(|o| *o == oid)
                && let Some(table) = tables.get_mut(index)
            {
                table.key = if width == Some(1) {
                    Ok(RowKey::Column {
                        name: row.get(1),
                        sql_type: row.get(2),
                    })
                } else {
                    Err(
                        "its primary key has several columns, which is not supported; \
                         rewrap it by hand or add a single-column key",
                    )
                };
            }
        }
        Ok(tables)
    }

    fn count_rows(&mut self, table: &Table) -> Result<u64, CliError> {
        let place = &self.place;
        self.client
            .query_one(&format!("SELECT count(*) FROM {}", only(table)), &[])
            .map(|row| u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
            .map_err(|e| place.error("count the rows", &e))
    }

    fn unsearched_mentions(&mut self, table: &Table) -> Result<Vec<(String, u64)>, CliError> {
        if table.unsearched.is_empty() {
            return Ok(Vec::new());
        }
        // Every type has a text form: a domain's, an array's, a composite's
        // or char(n)'s holds the token as written; bytea's holds it in hex
        // (or as written, with bytea_output = escape).
        let hex: String = tierseal::TEXT_PREFIX
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect();
        let counts: Vec<String> = table
            .unsearched
            .iter()
            .map(|c| {
                let name = quote(&c.name);
                format!(
                    "count(*) FILTER (WHERE strpos(t.{name}::text, '{}') > 0 \
                     OR strpos(t.{name}::text, '{hex}') > 0)",
                    tierseal::TEXT_PREFIX
                )
            })
            .collect();
        let sql = format!("SELECT {} FROM {} AS t", counts.join(", "), only(table));
        let place = &self.place;
        let row = self
            .client
            .query_one(&sql, &[])
            .map_err(|e| place.error(&format!("read {}", table.display()), &e))?;
        let mut out = Vec::new();
        for (index, column) in table.unsearched.iter().enumerate() {
            let n: i64 = row
                .try_get(index)
                .map_err(|e| place.error(&format!("read {}", table.display()), &e))?;
            if n > 0 {
                out.push((column.name.clone(), u64::try_from(n).unwrap_or(0)));
            }
        }
        Ok(out)
    }

    fn prepare_progress(&mut self, schema: Option<&str>) -> Result<(), CliError> {
        if let Some(schema) = schema {
            self.progress_schema = schema.to_owned();
        }
        let place = &self.place;
        self.client
            .batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS {}.{PROGRESS_TABLE} (job text PRIMARY KEY, \
                 cursor text, done boolean NOT NULL, batches bigint NOT NULL, \
                 rows bigint NOT NULL, updated bigint NOT NULL, rewrapped bigint NOT NULL, \
                 already_current bigint NOT NULL, failed bigint NOT NULL)",
                quote(&self.progress_schema)
            ))
            .map_err(|e| place.error("create the progress table", &e))
    }

    fn load_progress(&mut self, job: &str) -> Result<Option<Progress>, CliError> {
        let place = &self.place;
        let row = self
            .client
            .query_opt(
                &format!(
                    "SELECT cursor, done, batches, rows, updated, rewrapped, already_current, \
                     failed FROM {}.{PROGRESS_TABLE} WHERE job = $1",
                    quote(&self.progress_schema)
                ),
                &[&job],
            )
            .map_err(|e| place.error("read the progress table", &e))?;
        Ok(row.map(|row| {
            let n = |i: usize| u64::try_from(row.get::<_, i64>(i)).unwrap_or(0);
            Progress {
                // Kept as text, cast back to the key's type when used; a
                // number is shown as one.
                cursor: row
                    .get::<_, Option<String>>(0)
                    .map(|text| match text.parse::<i64>() {
                        Ok(n) if n.to_string() == text => Key::Int(n),
                        _ => Key::Text(text),
                    }),
                done: row.get(1),
                batches: n(2),
                rows: n(3),
                updated: n(4),
                rewrapped: n(5),
                already_current: n(6),
                failed: n(7),
            }
        }))
    }

    fn clear_progress(&mut self, jobs: &[String]) -> Result<(), CliError> {
        let place = &self.place;
        self.client
            .execute(
                &format!(
                    "DELETE FROM {}.{PROGRESS_TABLE} WHERE job = ANY($1)",
                    quote(&self.progress_schema)
                ),
                &[&jobs],
            )
            .map(|_| ())
            .map_err(|e| place.error("clear the progress table", &e))
    }

    fn read(
        &mut self,
        table: &Table,
        after: Option<&Key>,
        limit: usize,
    ) -> Result<Vec<Row>, CliError> {
        Postgres::read_rows(&mut self.client, table, after, limit, false)
            .map_err(|e| self.place.error(&format!("read {}", table.display()), &e))
    }

    fn write_batch(
        &mut self,
        table: &Table,
        after: Option<&Key>,
        limit: usize,
        job: &str,
        work: &mut Work<'_>,
    ) -> Result<Progress, CliError> {
        let place = &self.place;
        let name = table.display();
        let mut tx = self
            .client
            .transaction()
            .map_err(|e| place.error(&format!("begin a transaction on {name}"), &e))?;
        // Only the batch's rows are locked (FOR UPDATE), and no longer
        // than lock_timeout is waited for a row another writer holds.
        tx.batch_execute(&format!(
            "SET LOCAL lock_timeout = '{}ms'",
            place.lock_wait.as_millis().max(1)
        ))
        .map_err(|e| place.error("set the lock timeout", &e))?;
        let rows = Postgres::read_rows(&mut tx, table, after, limit, true)
            .map_err(|e| place.error(&format!("read {name}"), &e))?;
        let (updates, progress) = work(&rows)?;
        write_updates(&mut tx, table, &rows, &updates)
            .map_err(|e| place.error(&format!("update {name}"), &e))?;
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        tx.execute(
            &format!(
                "INSERT INTO {}.{PROGRESS_TABLE} (job, cursor, done, batches, rows, updated, \
                 rewrapped, already_current, failed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (job) DO UPDATE SET cursor = excluded.cursor, done = excluded.done, \
                 batches = excluded.batches, rows = excluded.rows, updated = excluded.updated, \
                 rewrapped = excluded.rewrapped, already_current = excluded.already_current, \
                 failed = excluded.failed",
                quote(&self.progress_schema)
            ),
            &[
                &job,
                &progress.cursor.as_ref().map(Key::as_text),
                &progress.done,
                &n(progress.batches),
                &n(progress.rows),
                &n(progress.updated),
                &n(progress.rewrapped),
                &n(progress.already_current),
                &n(progress.failed),
            ],
        )
        .map_err(|e| place.error("record the progress", &e))?;
        tx.commit()
            .map_err(|e| place.error(&format!("commit a batch of {name}"), &e))?;
        Ok(progress)
    }
}

/// Writes a batch's updates in one statement: the new values travel as
/// text arrays (NULL where a column did not change) and are cast back to
/// each column's type.
fn write_updates(
    tx: &mut postgres::Transaction<'_>,
    table: &Table,
    rows: &[Row],
    updates: &[Update],
) -> Result<(), postgres::Error> {
    if updates.is_empty() {
        return Ok(());
    }
    let Ok(RowKey::Column {
        name: key,
        sql_type: key_type,
    }) = &table.key
    else {
        return Ok(());
    };
    // One entry per updated row, in batch order.
    let mut keys: Vec<String> = Vec::new();
    let mut values: Vec<Vec<Option<String>>> = vec![Vec::new(); table.columns.len()];
    let mut last_row = None;
    for update in updates {
        if last_row != Some(update.row) {
            let Some(row) = rows.get(update.row) else {
                continue;
            };
            keys.push(row.key.as_text());
            for column in &mut values {
                column.push(None);
            }
            last_row = Some(update.row);
        }
        if let Some(slot) = values.get_mut(update.column).and_then(|c| c.last_mut()) {
            *slot = Some(update.text.clone());
        }
    }
    let sets: Vec<String> = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            format!(
                "{0} = COALESCE(CAST(u.v{i} AS {1}), t.{0})",
                quote(&c.name),
                c.sql_type
            )
        })
        .collect();
    let arrays: Vec<String> = (0..=table.columns.len())
        .map(|i| format!("${}::text[]", i + 1))
        .collect();
    let names: Vec<String> = (0..table.columns.len()).map(|i| format!("v{i}")).collect();
    let sql = format!(
        "UPDATE {} AS t SET {} FROM unnest({}) AS u(k, {}) WHERE t.{} = CAST(u.k AS {key_type})",
        only(table),
        sets.join(", "),
        arrays.join(", "),
        names.join(", "),
        quote(key)
    );
    let mut params: Vec<&(dyn postgres::types::ToSql + Sync)> = vec![&keys];
    for column in &values {
        params.push(column);
    }
    tx.execute(&sql, &params)?;
    Ok(())
}
