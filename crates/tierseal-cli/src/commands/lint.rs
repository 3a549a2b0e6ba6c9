//! `tierseal lint` and `tierseal inventory`.

use std::path::PathBuf;
use std::process::ExitCode;

use tierseal_lint::{LockMode, report};

use super::say;
use crate::CliError;
use crate::cli::{InventoryArgs, InventoryFormat, LintArgs, LintFormat};

fn paths(paths: &[PathBuf]) -> Vec<PathBuf> {
    if paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        paths.to_vec()
    }
}

/// Exit codes: 0 checked with no error-severity finding (warnings, such
/// as money amounts by default, do not fail), 1 error findings (including
/// lock downgrades), 2 usage error or unreadable/invalid input
/// ([`CliError::exit_code`]), 3 nothing to check.
pub(super) fn lint(args: &LintArgs) -> Result<ExitCode, CliError> {
    let mode = if args.update_lock {
        LockMode::Update
    } else {
        LockMode::Check
    };
    let report = tierseal_lint::lint_paths_with(&paths(&args.paths), None, mode)?;
    let text = match args.format {
        LintFormat::Human => report::human(&report),
        LintFormat::Json => report::json(&report),
        LintFormat::Sarif => {
            let base = std::env::current_dir()
                .map_err(|source| CliError::io("cannot read", ".", source))?;
            report::sarif(&report, &base)
        }
    };
    say(text.trim_end());
    Ok(
        if report.findings.iter().any(tierseal_lint::Finding::is_error) {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        },
    )
}

pub(super) fn inventory(args: &InventoryArgs) -> Result<ExitCode, CliError> {
    let entries = tierseal_lint::inventory_paths(&paths(&args.paths))?;
    let text = match args.format {
        InventoryFormat::Table => report::inventory_table(&entries),
        InventoryFormat::Json => report::inventory_json(&entries),
        InventoryFormat::Markdown => report::inventory_markdown(&entries),
    };
    say(text.trim_end());
    Ok(ExitCode::SUCCESS)
}
