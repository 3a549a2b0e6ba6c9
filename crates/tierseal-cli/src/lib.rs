//! The `tierseal` binary for key custodians and CI.
//!
//! Commands: `init`, `keys list|add-tier|rotate|add-version|promote|retire|check`,
//! `passphrase change`, `grant issue|list|show`, `rewrap`, `lint`, `inventory`,
//! `audit verify|checkpoint|show`, `report`.
//! Exit codes: 0 success, 1 failure or findings, 2 usage or I/O error
//! (for `lint`), 3 nothing to check (for `lint`). Errors are one line on stderr saying what to do next;
//! passphrases are read from a file, `TIERSEAL_PASSPHRASE` or a terminal
//! prompt, never from an argument.
//!
//! The rewrap engines (JSON Lines in [`rewrap`], databases in [`db`]) are
//! library functions so they can be benchmarked and reused:
//!
//! ```
//! use tierseal_cli::rewrap::{Progress, rewrap_lines};
//! # use tierseal::{Clearance, KdfProfile, Keystore, Level};
//! # let dir = tempfile::tempdir()?;
//! # let keystore = Keystore::create(dir.path().join("k"), &"pw".into(), KdfProfile::Test)?;
//! # let keyring = keystore.keyring(&Clearance::up_to(Level::Restricted))?;
//! let input = "{\"id\":1,\"note\":\"no tokens here\"}\n";
//! let mut output = Vec::new();
//! let summary = rewrap_lines(&keyring, input.as_bytes(), &mut output, &Progress::hidden())?;
//! assert_eq!(summary.records, 1);
//! assert_eq!(output, input.as_bytes());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod cli;
mod commands;
pub mod db;
mod error;
mod passphrase;
pub mod rewrap;
mod text;
pub mod tokens;

use std::process::ExitCode;

use clap::Parser;

pub use error::{CliError, ReportError};

/// Runs the binary: parses the arguments, runs the command, prints any
/// error as one line, and returns the exit code.
pub fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(&cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("tierseal: error: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}
