//! Rendering findings and inventories: human (rustc-like), JSON, SARIF
//! 2.1.0, and inventory tables.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::{Finding, InventoryEntry, LINT_RULES};

/// Findings as rustc-like text: location, source line, caret, rule, fix.
pub fn human(findings: &[Finding]) -> String {
    let mut out = String::new();
    for finding in findings {
        let location = &finding.location;
        let gutter = location.line.to_string().len();
        let pad = " ".repeat(gutter);
        let caret_start = " ".repeat(location.column.saturating_sub(1));
        let carets = "^".repeat(location.end_column.saturating_sub(location.column).max(1));
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
        let _ = writeln!(out, "{pad} |");
        let _ = writeln!(out, "{} | {}", location.line, finding.source_line);
        let _ = writeln!(out, "{pad} | {caret_start}{carets}");
        let _ = writeln!(out, "{pad} = help: {}", finding.help);
        out.push('\n');
    }
    let _ = match findings.len() {
        0 => writeln!(out, "no unclassified financial data found"),
        1 => writeln!(out, "1 finding"),
        n => writeln!(out, "{n} findings"),
    };
    out
}

/// Findings as a JSON array.
pub fn json(findings: &[Finding]) -> String {
    serde_json::to_string_pretty(findings).unwrap_or_else(|_| "[]".into())
}

/// Findings as a SARIF 2.1.0 log, loadable by code-scanning tools.
pub fn sarif(findings: &[Finding]) -> String {
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
    let results: Vec<Value> = findings
        .iter()
        .map(|finding| {
            let uri = finding.location.file.to_string_lossy().replace('\\', "/");
            json!({
                "ruleId": finding.rule,
                "ruleIndex": LINT_RULES.iter().position(|r| r.id == finding.rule).unwrap_or(0),
                "level": finding.severity.as_str(),
                "message": { "text": format!("{} ({})", finding.message, finding.help) },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": uri },
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
            "results": results,
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
