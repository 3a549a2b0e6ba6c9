//! Column types for SQL databases: rusqlite (feature `rusqlite`) and
//! rust-postgres / tokio-postgres through postgres-types (feature
//! `postgres`). Every type binds and reads as its text form.

mod index;
