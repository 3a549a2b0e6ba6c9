//! `tierseal lint` and `tierseal inventory`.

use std::path::PathBuf;
use std::process::ExitCode;

use tierseal_lint::report;

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

pub(super) fn lint(args: &LintArgs) -> Result<ExitCode, CliError> {
    let report = tierseal_lint::lint_paths(&paths(&args.paths), None)?;
    let text = match args.format {
        LintFormat::Human => report::human(&report.findings),
        LintFormat::Json => report::json(&report.findings),
        LintFormat::Sarif => report::sarif(&report.findings),
    };
    say(text.trim_end());
    Ok(
        if !report.findings.iter().any(tierseal_lint::Finding::is_error) {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
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
