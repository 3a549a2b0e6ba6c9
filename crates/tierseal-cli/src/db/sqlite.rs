//! The database jobs over SQLite (rusqlite, bundled SQLite).

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension as _, TransactionBehavior};

use super::{
    Column, Database, Key, PROGRESS_TABLE, Progress, Row, RowKey, Table, Update, Value, Work,
};
use crate::CliError;

/// An SQLite database file.
pub(crate) struct Sqlite {
    conn: Connection,
    place: Place,
}

/// The database's name for errors (kept apart from the connection, which
/// a transaction borrows).
struct Place {
    name: String,
    path: PathBuf,
    lock_wait: Duration,
}

/// `"name"`, quoted for SQL.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl Sqlite {
    /// Opens an existing database file (never creates one); waits up to
    /// `lock_wait` for another writer at each step.
    ///
    /// # Errors
    /// The file is missing or not a database.
    pub(crate) fn open(
        path: &Path,
        lock_wait: Duration,
        read_only: bool,
    ) -> Result<Sqlite, CliError> {
        let name = path.display().to_string();
        if !path.is_file() {
            return Err(CliError::Database {
                database: name,
                action: "open the SQLite database".into(),
                reason: "no such file (tierseal never creates one)".into(),
            });
        }
        let flags = if read_only {
            OpenFlags::SQLITE_OPEN_READ_ONLY
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE
        } | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| CliError::Database {
            database: name.clone(),
            action: "open the SQLite database".into(),
            reason: e.to_string(),
        })?;
        let db = Sqlite {
            conn,
            place: Place {
                name,
                path: path.to_owned(),
                lock_wait,
            },
        };
        db.conn
            .busy_timeout(lock_wait)
            .map_err(|e| db.place.error("set the busy timeout", e))?;
        // Fails here, naming the file, if it is not an SQLite database.
        db.conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))
            .map_err(|e| db.place.error("read the schema", e))?;
        Ok(db)
    }
}

impl Place {
    fn error(&self, action: &str, error: rusqlite::Error) -> CliError {
        if let rusqlite::Error::SqliteFailure(failure, _) = &error
            && matches!(
                failure.code,
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked
            )
        {
            return CliError::DatabaseBusy {
                database: self.path.display().to_string(),
                what: format!("while trying to {action}"),
                waited_secs: self.lock_wait.as_secs(),
            };
        }
        CliError::Database {
            database: self.name.clone(),
            action: action.to_owned(),
            reason: error.to_string(),
        }
    }
}

impl Sqlite {
    fn select_sql(table: &Table, after: bool) -> String {
        let key = match &table.key {
            Ok(RowKey::Rowid(alias)) => (*alias).to_owned(),
            Ok(RowKey::Column { name, .. }) => quote(name),
            Err(_) => "rowid".to_owned(),
        };
        let columns: Vec<String> = table.columns.iter().map(|c| quote(&c.name)).collect();
        let filter = if after {
            format!("WHERE {key} > ?1 ")
        } else {
            String::new()
        };
        format!(
            "SELECT {key}, {} FROM {} {filter}ORDER BY {key} LIMIT {}",
            columns.join(", "),
            quote(&table.name),
            if after { "?2" } else { "?1" }
        )
    }

    fn read_rows(
        conn: &Connection,
        table: &Table,
        after: Option<&Key>,
        limit: usize,
    ) -> rusqlite::Result<Vec<Row>> {
        let sql = Sqlite::select_sql(table, after.is_some());
        let mut statement = conn.prepare_cached(&sql)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut rows = match after {
            Some(key) => statement.query(rusqlite::params![key_param(key), limit])?,
            None => statement.query(rusqlite::params![limit])?,
        };
        let mut out = Vec::with_capacity(usize::try_from(limit).unwrap_or(0).min(1 << 16));
        while let Some(row) = rows.next()? {
            let key = match row.get_ref(0)? {
                ValueRef::Integer(n) => Key::Int(n),
                // A key that is not UTF-8 is refused, not repaired: a
                // repaired key would match no row when written back, and
                // the old token would stay while the row counted as done.
                ValueRef::Text(bytes) => match std::str::from_utf8(bytes) {
                    Ok(text) => Key::Text(text.to_owned()),
                    Err(_) => {
                        return Err(rusqlite::Error::InvalidColumnType(
                            0,
                            "a text row key that is not UTF-8".into(),
                            rusqlite::types::Type::Text,
                        ));
                    }
                },
                _ => {
                    return Err(rusqlite::Error::InvalidColumnType(
                        0,
                        "a row key that is neither an integer nor text".into(),
                        row.get_ref(0)?.data_type(),
                    ));
                }
            };
            let mut values = Vec::with_capacity(table.columns.len());
            for index in 1..=table.columns.len() {
                values.push(match row.get_ref(index)? {
                    ValueRef::Text(bytes) => match std::str::from_utf8(bytes) {
                        Ok(text) => Value::Text(text.to_owned()),
                        Err(_) if contains(bytes, tierseal::TEXT_PREFIX.as_bytes()) => {
                            Value::Unreadable("text that is not UTF-8 mentions `tierseal:`")
                        }
                        Err(_) => Value::Absent,
                    },
                    _ => Value::Absent,
                });
            }
            out.push(Row { key, values });
        }
        Ok(out)
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn key_param(key: &Key) -> rusqlite::types::Value {
    match key {
        Key::Int(n) => rusqlite::types::Value::Integer(*n),
        Key::Text(text) => rusqlite::types::Value::Text(text.clone()),
    }
}

/// SQLite's affinity rules (section 3.1 of its datatype document): a
/// column is searched if it has text affinity, no declared type, or a
/// declared type that names JSON.
fn searched(declared: &str) -> bool {
    let upper = declared.to_ascii_uppercase();
    if upper.contains("JSON") {
        return true;
    }
    if upper.contains("INT") {
        return false;
    }
    upper.contains("CHAR") || upper.contains("CLOB") || upper.contains("TEXT") || upper.is_empty()
}

impl Database for Sqlite {
    fn name(&self) -> &str {
        &self.place.name
    }

    fn tables(&mut self, schema: Option<&str>) -> Result<Vec<Table>, CliError> {
        if schema.is_some() {
            return Err(CliError::Usage(
                "--schema is for PostgreSQL; an SQLite file has one schema".into(),
            ));
        }
        let names: Vec<(String, bool)> = (|| {
            let mut statement = self.conn.prepare(
                "SELECT name, wr FROM pragma_table_list WHERE schema = 'main' AND type = 'table' \
                 AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> ?1 ORDER BY name",
            )?;
            let rows = statement.query_map([PROGRESS_TABLE], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, bool>(1)?))
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })()
        .map_err(|e| self.place.error("list the tables", e))?;
        let mut tables = Vec::with_capacity(names.len());
        for (name, without_rowid) in names {
            let columns: Vec<(String, String, i64, i64)> = (|| {
                let mut statement = self
                    .conn
                    .prepare("SELECT name, type, pk, hidden FROM pragma_table_xinfo(?1)")?;
                let rows = statement.query_map([&name], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()
            })()
            .map_err(|e| self.place.error("list the columns", e))?;
            let key = if without_rowid {
                let keys: Vec<&(String, String, i64, i64)> =
                    columns.iter().filter(|c| c.2 > 0).collect();
                match keys.as_slice() {
                    [only] => Ok(RowKey::Column {
                        name: only.0.clone(),
                        sql_type: only.1.clone(),
                    }),
                    _ => Err(
                        "a WITHOUT ROWID table with a primary key of several columns is not \
                         supported; give it a single-column primary key, or rewrap it by hand",
                    ),
                }
            } else {
                ["rowid", "_rowid_", "oid"]
                    .into_iter()
                    .find(|alias| !columns.iter().any(|c| c.0.eq_ignore_ascii_case(alias)))
                    .map(RowKey::Rowid)
                    .ok_or("its columns shadow every name of the rowid (rowid, _rowid_, oid)")
            };
            // Generated columns (hidden 2 and 3) are left out: they are
            // computed from the others.
            let (searched, unsearched): (Vec<Column>, Vec<Column>) = columns
                .iter()
                .filter(|c| c.3 == 0)
                .map(|c| Column {
                    name: c.0.clone(),
                    sql_type: c.1.clone(),
                })
                .partition(|c| searched(&c.sql_type));
            tables.push(Table {
                schema: None,
                name,
                key,
                columns: searched,
                unsearched,
            });
        }
        Ok(tables)
    }

    fn count_rows(&mut self, table: &Table) -> Result<u64, CliError> {
        self.conn
            .query_row(
                &format!("SELECT count(*) FROM {}", quote(&table.name)),
                [],
                |row| row.get::<_, i64>(0),
            )
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(|e| self.place.error("count the rows", e))
    }

    fn unsearched_mentions(&mut self, table: &Table) -> Result<Vec<(String, u64)>, CliError> {
        // Searched columns: their blob values (text is searched); other
        // columns: any value, whatever its storage class.
        let mention = |c: &Column, any: bool| {
            let name = quote(&c.name);
            let filter = if any {
                String::new()
            } else {
                format!("typeof({name}) = 'blob' AND ")
            };
            format!(
                "coalesce(sum({filter}instr(CAST({name} AS BLOB), CAST('{}' AS BLOB)) > 0), 0)",
                tierseal::TEXT_PREFIX
            )
        };
        let checked: Vec<(&Column, String)> = table
            .columns
            .iter()
            .map(|c| (c, mention(c, false)))
            .chain(table.unsearched.iter().map(|c| (c, mention(c, true))))
            .collect();
        if checked.is_empty() {
            return Ok(Vec::new());
        }
        let sums: Vec<&str> = checked.iter().map(|(_, sql)| sql.as_str()).collect();
        let sql = format!("SELECT {} FROM {}", sums.join(", "), quote(&table.name));
        let counts: Vec<i64> = self
            .conn
            .query_row(&sql, [], |row| {
                (0..checked.len()).map(|i| row.get(i)).collect()
            })
            .map_err(|e| self.place.error(&format!("read {}", table.display()), e))?;
        Ok(checked
            .iter()
            .zip(counts)
            .filter(|(_, n)| *n > 0)
            .map(|((c, _), n)| (c.name.clone(), u64::try_from(n).unwrap_or(0)))
            .collect())
    }

    fn prepare_progress(&mut self, _schema: Option<&str>) -> Result<(), CliError> {
        self.conn
            .execute_batch(&format!(
                "CREATE TABLE IF NOT EXISTS {PROGRESS_TABLE} (job TEXT PRIMARY KEY, cursor, \
                 done INTEGER NOT NULL, batches INTEGER NOT NULL, rows INTEGER NOT NULL, \
                 updated INTEGER NOT NULL, rewrapped INTEGER NOT NULL, \
                 already_current INTEGER NOT NULL, failed INTEGER NOT NULL)"
            ))
            .map_err(|e| self.place.error("create the progress table", e))
    }

    fn load_progress(&mut self, job: &str) -> Result<Option<Progress>, CliError> {
        self.conn
            .query_row(
                &format!(
                    "SELECT cursor, done, batches, rows, updated, rewrapped, already_current, \
                     failed FROM {PROGRESS_TABLE} WHERE job = ?1"
                ),
                [job],
                |row| {
                    let cursor = match row.get_ref(0)? {
                        ValueRef::Integer(n) => Some(Key::Int(n)),
                        ValueRef::Text(t) => {
                            std::str::from_utf8(t).ok().map(|t| Key::Text(t.into()))
                        }
                        _ => None,
                    };
                    let n = |i: usize| row.get::<_, i64>(i).map(|v| u64::try_from(v).unwrap_or(0));
                    Ok(Progress {
                        cursor,
                        done: row.get(1)?,
                        batches: n(2)?,
                        rows: n(3)?,
                        updated: n(4)?,
                        rewrapped: n(5)?,
                        already_current: n(6)?,
                        failed: n(7)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.place.error("read the progress table", e))
    }

    fn clear_progress(&mut self, jobs: &[String]) -> Result<(), CliError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.place.error("begin a transaction", e))?;
        for job in jobs {
            tx.execute(
                &format!("DELETE FROM {PROGRESS_TABLE} WHERE job = ?1"),
                [job],
            )
            .map_err(|e| CliError::Database {
                database: self.place.name.clone(),
                action: "clear the progress table".into(),
                reason: e.to_string(),
            })?;
        }
        tx.commit().map_err(|e| self.place.error("commit", e))
    }

    fn read(
        &mut self,
        table: &Table,
        after: Option<&Key>,
        limit: usize,
    ) -> Result<Vec<Row>, CliError> {
        Sqlite::read_rows(&self.conn, table, after, limit)
            .map_err(|e| self.place.error(&format!("read {}", table.display()), e))
    }

    fn write_batch(
        &mut self,
        table: &Table,
        after: Option<&Key>,
        limit: usize,
        job: &str,
        work: &mut Work<'_>,
    ) -> Result<Progress, CliError> {
        let name = table.display();
        // IMMEDIATE: the write lock is taken (or waited for, up to the
        // busy timeout) before reading, so the rows read are the rows
        // written.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| {
                self.place
                    .error(&format!("begin a transaction on {name}"), e)
            })?;
        let rows = Sqlite::read_rows(&tx, table, after, limit)
            .map_err(|e| self.place.error(&format!("read {name}"), e))?;
        let (updates, progress) = work(&rows)?;
        write_updates(&tx, table, &rows, &updates)
            .map_err(|e| self.place.error(&format!("update {name}"), e))?;
        record(&tx, job, &progress).map_err(|e| self.place.error("record the progress", e))?;
        tx.commit()
            .map_err(|e| self.place.error(&format!("commit a batch of {name}"), e))?;
        Ok(progress)
    }
}

/// Writes a batch's updates: one statement per changed row, setting the
/// columns that changed (statements are prepared once per column set).
fn write_updates(
    tx: &rusqlite::Transaction<'_>,
    table: &Table,
    rows: &[Row],
    updates: &[Update],
) -> rusqlite::Result<()> {
    let key = match &table.key {
        Ok(RowKey::Rowid(alias)) => (*alias).to_owned(),
        Ok(RowKey::Column { name, .. }) => quote(name),
        Err(_) => "rowid".to_owned(),
    };
    let mut statements: std::collections::HashMap<Vec<usize>, String> =
        std::collections::HashMap::new();
    // Updates come grouped by row, in batch order.
    for group in updates.chunk_by(|a, b| a.row == b.row) {
        let Some(row) = group.first().and_then(|u| rows.get(u.row)) else {
            continue;
        };
        let columns: Vec<usize> = group.iter().map(|u| u.column).collect();
        let sql = statements.entry(columns).or_insert_with_key(|columns| {
            let sets: Vec<String> = columns
                .iter()
                .enumerate()
                .filter_map(|(i, c)| table.columns.get(*c).map(|c| (i, c)))
                .map(|(i, c)| format!("{} = ?{}", quote(&c.name), i + 2))
                .collect();
            format!(
                "UPDATE {} SET {} WHERE {key} = ?1",
                quote(&table.name),
                sets.join(", ")
            )
        });
        let mut statement = tx.prepare_cached(sql)?;
        statement.raw_bind_parameter(1, key_param(&row.key))?;
        for (i, update) in group.iter().enumerate() {
            statement.raw_bind_parameter(i + 2, &update.text)?;
        }
        statement.raw_execute()?;
    }
    Ok(())
}

fn record(tx: &rusqlite::Transaction<'_>, job: &str, p: &Progress) -> rusqlite::Result<()> {
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let cursor = p.cursor.as_ref().map(key_param);
    tx.prepare_cached(&format!(
        "INSERT INTO {PROGRESS_TABLE} (job, cursor, done, batches, rows, updated, rewrapped, \
         already_current, failed) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
         ON CONFLICT (job) DO UPDATE SET cursor = excluded.cursor, done = excluded.done, \
         batches = excluded.batches, rows = excluded.rows, updated = excluded.updated, \
         rewrapped = excluded.rewrapped, already_current = excluded.already_current, \
         failed = excluded.failed"
    ))?
    .execute(rusqlite::params![
        job,
        cursor,
        p.done,
        n(p.batches),
        n(p.rows),
        n(p.updated),
        n(p.rewrapped),
        n(p.already_current),
        n(p.failed)
    ])?;
    Ok(())
}
