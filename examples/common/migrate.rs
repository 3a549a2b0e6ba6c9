//! The recipe for sealing an existing plaintext `customers` table in
//! place, shared by its SQLite and PostgreSQL backends
//! (`migrate_sqlite.rs` and `migrate_postgres.rs` beside this file).
//!
//! The steps — batches in primary-key order, each one transaction;
//! plaintext cleared only after the sealed values are committed, read
//! back and opened to the same values; resumption after a kill at any
//! point — are `tierseal::sql::migrate::Migration`. What is left for a
//! table is its SQL: this module holds the columns the migration adds and
//! the statements both backends run (in each one's placeholder and locking
//! style); each backend runs them with its own client, binding and reading
//! every sealed column as its token type (`tierseal`'s `rusqlite` and
//! `postgres` features), never converting by hand.
//!
//! 1. Add the sealed and index columns beside the plaintext ones, and the
//!    lookup indexes (idempotent).
//! 2. Seal: rows whose `tierseal_keys` is NULL, a batch at a time after a
//!    keyset cursor (`id > $last ORDER BY id LIMIT n`): every batch is a
//!    range scan of the primary key, however far the job has come.
//! 3. Clear: the plaintext of the rows just sealed, in a later transaction,
//!    after verification.

use std::collections::BTreeMap;

use tierseal::sql::migrate::{Migration, PlaintextTable, Progress, Stop};
use tierseal::{AccessContext, BlindIndex, RecordKeys};

use crate::common::{BoxError, Customer, SealedCustomer, Services, customers, describe, ensure};

/// The plaintext columns an adopter starts with.
pub(crate) const PLAIN: [&str; 3] = ["name", "email", "iban"];

/// The sealed and index columns the migration adds, in the order the
/// statements bind and read them.
pub(crate) const SEALED: [&str; 7] = [
    "name_sealed",
    "email_sealed",
    "email_index",
    "iban_sealed",
    "iban_mask",
    "iban_index",
    "tierseal_keys",
];

/// The lookup indexes the migration adds: (name suffix, column).
pub(crate) const INDEXES: [(&str, &str); 2] =
    [("by_iban", "iban_index"), ("by_email", "email_index")];

/// How a database spells what the statements need.
pub(crate) struct Dialect {
    /// The n-th parameter (from 1).
    pub(crate) parameter: fn(usize) -> String,
    /// Appended to the batch reads: row locks that skip rows other
    /// transactions hold (PostgreSQL), or nothing (SQLite locks the file
    /// for the transaction).
    pub(crate) lock: &'static str,
}

/// The keyset cursor's bounds: no key is below or above them.
pub(crate) const FIRST: i64 = i64::MIN;
pub(crate) const LAST: i64 = i64::MAX;

/// The statements the backends run on `table`.
pub(crate) struct Statements {
    /// After `$1`, up to `$2` rows not sealed yet: id and plaintext.
    pub(crate) seal_select: String,
    /// The sealed columns `$1..$7` of row `$8`, if still unsealed.
    pub(crate) seal_update: String,
    /// Rows in `($1, $2]`, up to `$3`, sealed with plaintext left: id,
    /// plaintext, then the sealed columns.
    pub(crate) clear_select: String,
    /// Clears the plaintext of row `$1`.
    pub(crate) clear_update: String,
    /// Rows not finished.
    pub(crate) pending: String,
    /// The sealed columns of sealed row `$1`.
    pub(crate) read_sealed: String,
    /// Ids of the rows whose index column matches `$1`.
    pub(crate) find_by_index: String,
    /// Ids of the rows with plaintext left.
    pub(crate) with_plaintext: String,
    /// Id and `tierseal_keys` of every sealed row.
    pub(crate) record_keys: String,
}

impl Statements {
    pub(crate) fn new(table: &str, dialect: &Dialect) -> Statements {
        let p = dialect.parameter;
        let lock = dialect.lock;
        let plain = PLAIN.join(", ");
        let sealed = SEALED.join(", ");
        let plaintext_left = PLAIN.map(|c| format!("{c} IS NOT NULL")).join(" OR ");
        let assignments: Vec<String> = SEALED
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c} = {}", p(i + 1)))
            .collect();
        let cleared = PLAIN.map(|c| format!("{c} = NULL")).join(", ");
        Statements {
            seal_select: format!(
                "SELECT id, {plain} FROM {table} WHERE id > {} AND tierseal_keys IS NULL \
                 ORDER BY id LIMIT {}{lock}",
                p(1),
                p(2)
            ),
            seal_update: format!(
                "UPDATE {table} SET {} WHERE id = {} AND tierseal_keys IS NULL",
                assignments.join(", "),
                p(SEALED.len() + 1)
            ),
            clear_select: format!(
                "SELECT id, {plain}, {sealed} FROM {table} WHERE id > {} AND id <= {} \
                 AND tierseal_keys IS NOT NULL AND ({plaintext_left}) ORDER BY id LIMIT {}{lock}",
                p(1),
                p(2),
                p(3)
            ),
            clear_update: format!("UPDATE {table} SET {cleared} WHERE id = {}", p(1)),
            pending: format!(
                "SELECT count(*) FROM {table} WHERE tierseal_keys IS NULL OR {plaintext_left}"
            ),
            read_sealed: format!(
                "SELECT {sealed} FROM {table} WHERE id = {} AND tierseal_keys IS NOT NULL",
                p(1)
            ),
            find_by_index: format!(
                "SELECT id FROM {table} WHERE iban_index = {} ORDER BY id",
                p(1)
            ),
            with_plaintext: format!("SELECT id FROM {table} WHERE {plaintext_left} ORDER BY id"),
            record_keys: format!(
                "SELECT id, tierseal_keys FROM {table} WHERE tierseal_keys IS NOT NULL ORDER BY id"
            ),
        }
    }
}

/// The plaintext record of a row: `$row.$get(i)` reads column `i` (from
/// `$first`: name, email, iban) with the backend's client.
macro_rules! plain_customer {
    ($id:expr, $row:ident . $get:ident, $first:expr) => {
        crate::common::Customer {
            customer_id: $id.to_string(),
            name: $row.$get($first)?,
            email: $row.$get($first + 1)?,
            iban: $row.$get($first + 2)?,
        }
    };
}
pub(crate) use plain_customer;

/// The sealed record of a row: the columns of [`SEALED`] from `$first`,
/// each read as its token type.
macro_rules! sealed_customer {
    ($id:expr, $row:ident . $get:ident, $first:expr) => {
        crate::common::SealedCustomer {
            customer_id: $id.to_string(),
            name: $row.$get($first)?,
            email: $row.$get($first + 1)?,
            email_index: $row.$get($first + 2)?,
            iban: $row.$get($first + 3)?,
            iban_mask: $row.$get($first + 4)?,
            iban_index: $row.$get($first + 5)?,
            tierseal_keys: $row.$get($first + 6)?,
        }
    };
}
pub(crate) use sealed_customer;

/// The parameters of `seal_update`: the sealed columns of [`SEALED`], each
/// bound as its token type, then the row's id; `$dyn` is the client's
/// parameter type.
macro_rules! sealed_parameters {
    ($sealed:expr, $id:expr, $dyn:ty) => {
        [
            &$sealed.name as &$dyn,
            &$sealed.email as &$dyn,
            &$sealed.email_index as &$dyn,
            &$sealed.iban as &$dyn,
            &$sealed.iban_mask as &$dyn,
            &$sealed.iban_index as &$dyn,
            &$sealed.tierseal_keys as &$dyn,
            $id as &$dyn,
        ]
    };
}
pub(crate) use sealed_parameters;

/// What the demo and the tests do with a customers table beside the
/// migration itself.
pub(crate) trait CustomerTable:
    PlaintextTable<Key = i64, Record = Customer, Error = BoxError>
{
    /// Creates the plaintext table an adopter starts with, holding `rows`.
    fn create(&mut self, rows: &[(i64, Customer)]) -> Result<(), BoxError>;
    /// Runs a statement that changes rows; returns how many.
    fn execute(&mut self, sql: &str) -> Result<u64, BoxError>;
    /// The ids a statement selects (`$1`/`?1`, if any, bound to `index`).
    fn ids(&mut self, sql: &str, index: Option<&BlindIndex>) -> Result<Vec<i64>, BoxError>;
    /// The sealed record of row `id`, if it is sealed.
    fn read_sealed(&mut self, id: i64) -> Result<Option<SealedCustomer>, BoxError>;
    /// `tierseal_keys` of every sealed row, read as its column type: a row
    /// sealed twice would get new data keys.
    fn record_keys(&mut self) -> Result<BTreeMap<i64, RecordKeys>, BoxError>;
    /// The table's statements.
    fn statements(&self) -> &Statements;

    /// Ids of the rows with plaintext left.
    fn with_plaintext(&mut self) -> Result<Vec<i64>, BoxError> {
        let sql = self.statements().with_plaintext.clone();
        self.ids(&sql, None)
    }

    /// Ids of the rows whose IBAN index is `index`.
    fn find_by_iban(&mut self, index: &BlindIndex) -> Result<Vec<i64>, BoxError> {
        let sql = self.statements().find_by_index.clone();
        self.ids(&sql, Some(index))
    }
}

/// Who the migration opens rows as, while verifying them before clearing.
pub(crate) fn migration_ctx() -> AccessContext {
    AccessContext::new("migration").with_purpose("seal the plaintext customers table")
}

/// One run over `table` with `services`' onboarding keyring (it holds
/// every tier of a customer and their index keys).
pub(crate) fn run(
    table: &mut impl CustomerTable,
    services: &Services,
    batch_size: usize,
    stop: Stop,
) -> Result<Progress, BoxError> {
    Migration::new(&services.onboarding, migration_ctx())
        .batch_size(batch_size)
        .stop(stop)
        .run(table)
}

/// The examples' flow: a plaintext table of the example customers, a
/// first run stopped after one batch (as if killed), a second run to the
/// end, then a lookup by IBAN through the filled index column.
#[allow(clippy::print_stdout, reason = "the examples print their progress")]
pub(crate) fn demo(table: &mut impl CustomerTable, services: &Services) -> Result<(), BoxError> {
    let rows: Vec<(i64, Customer)> = (1..).zip(customers()).collect();
    table.create(&rows)?;
    let first = run(table, services, 2, Stop::AfterBatches(1))?;
    println!("first run (stopped after one batch, as if killed): {first:?}");
    let started = std::time::Instant::now();
    let mut report = |p: &Progress| {
        let rate = p.sealed as f64 / started.elapsed().as_secs_f64().max(1e-9);
        println!(
            "  resumed: {} batches, {} rows sealed, {} cleared ({rate:.0} rows/s)",
            p.batches, p.sealed, p.cleared
        );
    };
    let second = Migration::new(&services.onboarding, migration_ctx())
        .batch_size(2)
        .on_progress(&mut report)
        .run(table)?;
    println!("second run: {second:?}");
    ensure(
        usize::try_from(first.sealed + second.sealed)? == rows.len(),
        "every row sealed once",
    )?;
    ensure(table.with_plaintext()?.is_empty(), "no plaintext left")?;
    let index =
        SealedCustomer::index_iban(&services.support, &"gb29nwbk60161331926819".to_owned())?;
    let found = table.find_by_iban(&index)?;
    ensure(found.len() == 1, "one customer has the IBAN")?;
    let id = found.first().copied().ok_or("no row")?;
    let sealed = table.read_sealed(id)?.ok_or("row vanished")?;
    let view = sealed.open(&services.support, &crate::common::ctx("support"))?;
    println!("found by IBAN after the migration: {}", describe(&view));
    let opened = sealed.open_all(&services.payments, &crate::common::ctx("payments"))?;
    ensure(
        rows.iter()
            .any(|(row, c)| *row == id && c.iban == opened.iban && c.name == opened.name),
        "the found row opens to the customer it held",
    )?;
    Ok(())
}
