//! Rendering findings and inventories: human (rustc-like), JSON, SARIF
//! 2.1.0, and inventory tables.

use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_encode};
use serde_json::{Value, json};

use crate::{InventoryEntry, LINT_RULES, Report};

/// A report as rustc-like text: each finding with its severity, location,
/// source line, caret, rule and fix; then notes (skipped paths, lock
/// drift) and a summary line saying how much was checked and how many
/// errors and warnings were found.
pub fn human(report: &Report) -> String {
    let mut out = String::new();
    for finding in &report.findings {
        let location = &finding.location;
        let gutter = location.line.to_string().len();
        let pad = " ".repeat(gutter);
        let _ = writeln!(
            out,
            "{}[{}]: {}",
            finding.severity, finding.rule, finding.message
        );
        let _ = writeln!(
            out,
            "{pad}--> {}:{}:{}",
            location.file.display(),
            location.line,
            location.column
        );
        if !finding.source_line.is_empty() {
            let caret_start = " ".repeat(location.column.saturating_sub(1));
            let carets = "^".repeat(location.end_column.saturating_sub(location.column).max(1));
            let _ = writeln!(out, "{pad} |");
            let _ = writeln!(out, "{} | {}", location.line, finding.source_line);
            let _ = writeln!(out, "{pad} | {caret_start}{carets}");
        }
        let _ = writeln!(out, "{pad} = help: {}", finding.help);
        out.push('\n');
    }
    for skipped in &report.skipped {
        let _ = writeln!(
            out,
            "note: skipped {}: {}",
            skipped.path.display(),
            skipped.reason
        );
    }
    for drift in &report.lock_drift {
        let _ = writeln!(
            out,
            "note: lock drift ({}): `{}::{}`: {}",
            drift.lock.display(),
            drift.type_id,
            drift.field_id,
            drift.change
        );
    }
    if !report.lock_drift.is_empty() {
        let _ = writeln!(
            out,
            "note: upgrades and new fields pass; record them with `tierseal lint --update-lock`"
        );
    }
    for lock in &report.locks_written {
        let _ = writeln!(out, "note: wrote {}", lock.display());
    }
    let errors = report.findings.iter().filter(|f| f.is_error()).count();
    let warnings = report.findings.len() - errors;
    let verdict = match (errors, warnings) {
        (0, 0) => "no unclassified financial data found".to_owned(),
        (errors, 0) => count(errors, "error", "errors"),
        (0, warnings) => format!(
            "{} (warnings do not fail the lint)",
            count(warnings, "warning", "warnings")
        ),
        (errors, warnings) => format!(
            "{}, {}",
            count(errors, "error", "errors"),
            count(warnings, "warning", "warnings")
        ),
    };
    let _ = write!(
        out,
        "checked {} ({})",
        count(report.files, "file", "files"),
        count(report.lines, "line", "lines")
    );
    if report.exempt_files > 0 {
        let _ = write!(out, ", {} test files exempt", report.exempt_files);
    }
    if report.excluded_files > 0 {
        let _ = write!(out, ", {} excluded", report.excluded_files);
    }
    if !report.skipped.is_empty() {
        let _ = write!(out, ", {} skipped", report.skipped.len());
    }
    for lock in &report.locks_checked {
        let _ = write!(out, ", against {}", lock.display());
    }
    let _ = writeln!(out, ": {verdict}");
    out
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// `n` and the noun that agrees with it: `1 error`, `2 errors`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", plural(n, one, many))
}

/// A report as one JSON object: `files`, `lines`, `exempt_files`,
/// `excluded_files`, `skipped`, `findings` (each with its `severity` and
/// lexicon `category`), and `lock` (`checked`, `written`, `drift`).
pub fn json(report: &Report) -> String {
    let value = json!({
        "files": report.files,
        "lines": report.lines,
        "exempt_files": report.exempt_files,
        "excluded_files": report.excluded_files,
        "skipped": report.skipped,
        "findings": report.findings,
        "lock": {
            "checked": report.locks_checked,
            "written": report.locks_written,
            "drift": report.lock_drift,
        },
    });
    serde_json::to_string_pretty(&value).unwrap_or_else(|_| "{}".into())
}

/// Bytes kept as they are in a URI path segment: RFC 3986 unreserved
/// characters. Everything else is percent-encoded (UTF-8 bytes).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `path` without `.` and with `..` applied, made absolute.
fn normalised(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let mut out = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The percent-encoded segments of `path`, joined by `/`.
fn encoded(path: &Path) -> String {
    let mut segments = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => {
                segments.push(percent_encode(part.as_encoded_bytes(), SEGMENT).to_string());
            }
            // A Windows drive (`C:`) stays as written.
            Component::Prefix(prefix) => segments.push(
                prefix
                    .as_os_str()
                    .to_string_lossy()
                    .trim_start_matches(r"\\?\")
                    .to_owned(),
            ),
            Component::RootDir | Component::CurDir | Component::ParentDir => {}
        }
    }
    segments.join("/")
}

/// The `file://` URI of an absolute path; a folder's ends with `/`.
fn file_uri(path: &Path, folder: bool) -> String {
    let mut uri = format!("file:///{}", encoded(path));
    if folder && !uri.ends_with('/') {
        uri.push('/');
    }
    uri
}

/// A SARIF `artifactLocation` for `file`: relative to `%SRCROOT%` (the
/// folder `base`) when it lies under it, an absolute `file://` URI
/// otherwise.
fn artifact_location(file: &Path, base: &Path) -> Value {
    let file = normalised(file);
    match file.strip_prefix(base) {
        Ok(relative) => json!({ "uri": encoded(relative), "uriBaseId": "%SRCROOT%" }),
        Err(_) => json!({ "uri": file_uri(&file, false) }),
    }
}

/// A report as a SARIF 2.1.0 log, loadable by code-scanning tools. File
/// URIs are relative to `%SRCROOT%`, which is `base` (usually the current
/// folder, the repository root in CI); the run's `properties` say how much
/// was checked and skipped.
pub fn sarif(report: &Report, base: &Path) -> String {
    let base = normalised(base);
    let rules: Vec<Value> = LINT_RULES
        .iter()
        .map(|rule| {
            json!({
                "id": rule.id,
                "shortDescription": { "text": rule.description },
                "defaultConfiguration": { "level": "error" },
            })
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|finding| {
            json!({
                "ruleId": finding.rule,
                "ruleIndex": LINT_RULES.iter().position(|r| r.id == finding.rule).unwrap_or(0),
                "level": finding.severity.as_str(),
                "message": { "text": format!("{} ({})", finding.message, finding.help) },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": artifact_location(&finding.location.file, &base),
                        "region": {
                            "startLine": finding.location.line,
                            "startColumn": finding.location.column,
                            "endColumn": finding.location.end_column,
                        }
                    },
                    "logicalLocations": [{ "fullyQualifiedName": finding.item, "kind": "member" }]
                }],
                "properties": {
                    "lexiconRule": finding.lexicon_rule,
                    "category": finding.category.map(|c| c.as_str()),
                },
            })
        })
        .collect();
    let skipped: Vec<Value> = report
        .skipped
        .iter()
        .map(|s| json!({ "path": s.path, "reason": s.reason }))
        .collect();
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "tierseal-lint",
                    "version": env!("CARGO_PKG_VERSION"),
                    "informationUri": "https://example.invalid/tierseal/docs/LINT.md",
                    "rules": rules,
                }
            },
            "originalUriBaseIds": {
                "%SRCROOT%": { "uri": file_uri(&base, true) }
            },
            "results": results,
            "properties": {
                "filesScanned": report.files,
                "linesScanned": report.lines,
                "exemptFiles": report.exempt_files,
                "excludedFiles": report.excluded_files,
                "skipped": skipped,
                "lockDrift": report.lock_drift,
            },
        }]
    });
    serde_json::to_string_pretty(&log).unwrap_or_else(|_| "{}".into())
}

const INVENTORY_COLUMNS: [&str; 7] = [
    "type",
    "field",
    "id",
    "level",
    "compartment",
    "mask",
    "transient",
];

fn inventory_row(entry: &InventoryEntry) -> [String; 7] {
    [
        entry.owner.clone(),
        entry.field.clone(),
        entry.id.clone(),
        entry.level.clone(),
        entry.compartment.clone().unwrap_or_else(|| "-".into()),
        entry.mask.clone().unwrap_or_else(|| "-".into()),
        if entry.transient {
            "yes".into()
        } else {
            "no".into()
        },
    ]
}

/// Rows under a header, each column padded to its widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let padded: Vec<String> = cells
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    let mut out = line(&mut header.iter().copied());
    out.push('\n');
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
        out.push('\n');
    }
    out
}

/// The inventory as an aligned table.
pub fn inventory_table(entries: &[InventoryEntry]) -> String {
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|entry| inventory_row(entry).to_vec())
        .collect();
    table(&INVENTORY_COLUMNS, &rows)
}

/// The inventory as a Markdown table.
pub fn inventory_markdown(entries: &[InventoryEntry]) -> String {
    let mut out = format!(
        "| {} |\n|{}\n",
        INVENTORY_COLUMNS.join(" | "),
        " --- |".repeat(7)
    );
    for entry in entries {
        let row = inventory_row(entry).map(|cell| cell.replace('|', "\\|"));
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    out
}

/// The inventory as JSON.
pub fn inventory_json(entries: &[InventoryEntry]) -> String {
    serde_json::to_string_pretty(entries).unwrap_or_else(|_| "[]".into())
}
