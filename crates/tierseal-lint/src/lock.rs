//! `tierseal.lock`: the reviewed classification of every field of every
//! `#[derive(Classified)]` type under a folder, so that a downgrade cannot
//! slip through CI unreviewed.
//!
//! ```toml
//! version = 1
//!
//! [[type]]
//! id = "Card"
//! fields = [
//!     { id = "cvv", level = "restricted", transient = true },
//!     { id = "pan", level = "restricted", compartment = "cards", mask = "last4" },
//! ]
//! ```
//!
//! Types and fields are keyed by their stable ids (the ones bound into
//! ciphertexts), sorted, one field per line, so that a change is a one-line
//! diff a reviewer sees.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tierseal_classify::attr::BuiltinMask;
use tierseal_classify::{LevelName, Severity};

use crate::error::line_at;
use crate::{Finding, InventoryEntry, LintError, Location, Report};

/// The lock file's name, in the linted folder.
pub const LOCK_FILE: &str = "tierseal.lock";

const FORMAT_VERSION: u32 = 1;

/// What a lint run does with `tierseal.lock`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum LockMode {
    /// Compare with the folder's lock, if it has one: downgrades and
    /// removals are findings, upgrades and new fields are drift.
    #[default]
    Check,
    /// Write the folder's lock from the sources (`--update-lock`).
    Update,
    /// Neither read nor write it.
    Ignore,
}

/// A difference from the lock that passes: an upgrade or a new field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LockDrift {
    /// The lock file.
    pub lock: PathBuf,
    /// The stable type id.
    pub type_id: String,
    /// The stable field id.
    pub field_id: String,
    /// What changed.
    pub change: String,
}

/// How a field is shown when withheld, ordered by how much it reveals.
#[derive(Clone, Debug, PartialEq, Eq)]
enum MaskSpec {
    /// Nothing in clear (no mask, or `mask = "none"`).
    Nothing,
    /// A built-in mask by name.
    Builtin(String),
    /// A `mask_with` function: it may reveal anything.
    Custom(String),
}

impl MaskSpec {
    /// The documented order: none < last4 < first6last4 = email < custom.
    fn reveals(&self) -> u8 {
        match self {
            MaskSpec::Nothing => 0,
            MaskSpec::Builtin(name) if name == BuiltinMask::Last4.name() => 1,
            MaskSpec::Builtin(_) => 2,
            MaskSpec::Custom(_) => 3,
        }
    }
}

impl std::fmt::Display for MaskSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MaskSpec::Nothing => f.write_str("none"),
            MaskSpec::Builtin(name) => f.write_str(name),
            MaskSpec::Custom(path) => write!(f, "mask_with {path}"),
        }
    }
}

/// A field's classification as the lock records it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Classification {
    /// `None` for a nested record (its own fields carry levels).
    level: Option<LevelName>,
    compartment: Option<String>,
    mask: MaskSpec,
    transient: bool,
}

impl Classification {
    fn of(entry: &InventoryEntry) -> Classification {
        let mask = match &entry.mask {
            None => MaskSpec::Nothing,
            Some(path) if entry.custom_mask => MaskSpec::Custom(path.clone()),
            Some(name) if name == BuiltinMask::None.name() => MaskSpec::Nothing,
            Some(name) => MaskSpec::Builtin(name.clone()),
        };
        Classification {
            level: LevelName::parse(&entry.level),
            compartment: entry.compartment.clone(),
            mask,
            transient: entry.transient,
        }
    }

    /// How much weaker than `self` `new` is, as `(downgrades, upgrades)`.
    fn compare(&self, new: &Classification) -> (Vec<String>, Vec<String>) {
        let (mut down, mut up) = (Vec::new(), Vec::new());
        let level = |level: Option<LevelName>| level.map_or("nested".to_owned(), |l| l.to_string());
        match (self.level, new.level) {
            (Some(old), Some(now)) => match now.cmp(&old) {
                Ordering::Less => down.push(format!("level lowered from {old} to {now}")),
                Ordering::Greater => up.push(format!("level raised from {old} to {now}")),
                Ordering::Equal => {}
            },
            (old, now) if old != now => {
                down.push(format!("changed from {} to {}", level(old), level(now)))
            }
            _ => {}
        }
        match (&self.compartment, &new.compartment) {
            (Some(old), None) => down.push(format!("compartment `{old}` removed")),
            (Some(old), Some(now)) if old != now => {
                down.push(format!("compartment changed from `{old}` to `{now}`"));
            }
            (None, Some(now)) => up.push(format!("compartment `{now}` added")),
            _ => {}
        }
        match (self.transient, new.transient) {
            (true, false) => down.push("no longer transient (it would be stored)".into()),
            (false, true) => up.push("now transient".into()),
            _ => {}
        }
        if self.mask != new.mask {
            let change = format!("mask changed from {} to {}", self.mask, new.mask);
            if new.mask.reveals() < self.mask.reveals() {
                up.push(change.replace("changed", "narrowed"));
            } else {
                down.push(change.replace("changed", "widened"));
            }
        }
        (down, up)
    }

    fn render(&self, id: &str) -> String {
        let mut out = format!("{{ id = {}", quote(id));
        match self.level {
            Some(level) => {
                let _ = write!(out, ", level = \"{level}\"");
            }
            None => out.push_str(", nested = true"),
        }
        if let Some(compartment) = &self.compartment {
            let _ = write!(out, ", compartment = {}", quote(compartment));
        }
        match &self.mask {
            MaskSpec::Nothing => {}
            MaskSpec::Builtin(name) => {
                let _ = write!(out, ", mask = {}", quote(name));
            }
            MaskSpec::Custom(path) => {
                let _ = write!(out, ", mask_with = {}", quote(path));
            }
        }
        if self.transient {
            out.push_str(", transient = true");
        }
        out.push_str(" }");
        out
    }
}

/// A TOML basic string.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Types by stable id, then fields by stable id.
type Fields = BTreeMap<String, BTreeMap<String, Classification>>;

/// A locked field and the line it was read from.
struct Locked {
    classification: Classification,
    line: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LockFile {
    version: u32,
    #[serde(default, rename = "type")]
    types: Vec<toml::Spanned<LockedType>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LockedType {
    id: String,
    #[serde(default)]
    fields: Vec<toml::Spanned<LockedField>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LockedField {
    id: String,
    level: Option<String>,
    #[serde(default)]
    nested: bool,
    compartment: Option<String>,
    mask: Option<String>,
    mask_with: Option<String>,
    #[serde(default)]
    transient: bool,
}

fn current_fields(inventory: &[InventoryEntry]) -> Fields {
    let mut fields = Fields::new();
    for entry in inventory {
        let classification = Classification::of(entry);
        let slot = fields
            .entry(entry.type_id.clone())
            .or_default()
            .entry(entry.id.clone());
        // Two fields with one stable id (two types sharing a type id): keep
        // the weaker, so that a downgrade of either is seen.
        slot.and_modify(|kept| {
            if !classification.compare(kept).0.is_empty() {
                *kept = classification.clone();
            }
        })
        .or_insert(classification);
    }
    fields
}

/// The lock text for `inventory`.
fn render(inventory: &[InventoryEntry]) -> String {
    let mut out = String::from(
        "# tierseal.lock: the reviewed classification of every field of every\n\
         # #[derive(Classified)] type under this folder, by stable type and field id.\n\
         # Written by `tierseal lint --update-lock`; `tierseal lint` fails when a field\n\
         # is downgraded or removed relative to it. Review changes to it like code.\n",
    );
    let _ = writeln!(out, "version = {FORMAT_VERSION}");
    for (type_id, fields) in current_fields(inventory) {
        let _ = write!(out, "\n[[type]]\nid = {}\nfields = [\n", quote(&type_id));
        for (field_id, classification) in fields {
            let _ = writeln!(out, "    {},", classification.render(&field_id));
        }
        out.push_str("]\n");
    }
    out
}

/// Reads and validates a lock file.
fn parse(text: &str, path: &Path) -> Result<BTreeMap<(String, String), Locked>, LintError> {
    let invalid = |offset: usize, reason: String| LintError::Lock {
        path: path.to_owned(),
        line: line_at(text, offset),
        reason,
    };
    let file: LockFile = toml::from_str(text)
        .map_err(|e| invalid(e.span().map_or(0, |s| s.start), e.message().to_owned()))?;
    if file.version != FORMAT_VERSION {
        return Err(invalid(
            text.find("version").unwrap_or(0),
            format!(
                "version {} is not supported (this tierseal-lint reads version {FORMAT_VERSION})",
                file.version
            ),
        ));
    }
    let mut locked = BTreeMap::new();
    for locked_type in &file.types {
        let type_id = &locked_type.get_ref().id;
        for field in &locked_type.get_ref().fields {
            let at = field.span().start;
            let field = field.get_ref();
            let level = match (&field.level, field.nested) {
                (Some(name), false) => Some(LevelName::parse(name).ok_or_else(|| {
                    invalid(
                        at,
                        format!(
                            "`{type_id}::{}`: unknown level `{name}` (public, internal, confidential, restricted)",
                            field.id
                        ),
                    )
                })?),
                (None, true) => None,
                _ => {
                    return Err(invalid(
                        at,
                        format!(
                            "`{type_id}::{}` needs either `level` or `nested = true`",
                            field.id
                        ),
                    ));
                }
            };
            let mask = match (&field.mask, &field.mask_with) {
                (None, None) => MaskSpec::Nothing,
                (Some(name), None) => {
                    match BuiltinMask::ALL.iter().find(|(known, _)| known == name) {
                        Some((_, BuiltinMask::None)) => MaskSpec::Nothing,
                        Some(_) => MaskSpec::Builtin(name.clone()),
                        None => {
                            return Err(invalid(
                                at,
                                format!("`{type_id}::{}`: unknown mask `{name}`", field.id),
                            ));
                        }
                    }
                }
                (None, Some(path)) => MaskSpec::Custom(path.clone()),
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        at,
                        format!("`{type_id}::{}` has both `mask` and `mask_with`", field.id),
                    ));
                }
            };
            let entry = Locked {
                classification: Classification {
                    level,
                    compartment: field.compartment.clone(),
                    mask,
                    transient: field.transient,
                },
                line: line_at(text, at),
            };
            if locked
                .insert((type_id.clone(), field.id.clone()), entry)
                .is_some()
            {
                return Err(invalid(
                    at,
                    format!("`{type_id}::{}` is listed twice", field.id),
                ));
            }
        }
    }
    Ok(locked)
}

/// Applies `mode` to the lock of `path` (a folder) over `report`, which
/// holds what was found under `path`.
pub(crate) fn apply(path: &Path, report: &mut Report, mode: LockMode) -> Result<(), LintError> {
    let lock = path.join(LOCK_FILE);
    match mode {
        LockMode::Ignore => Ok(()),
        LockMode::Update => {
            if !path.is_dir() {
                return Err(LintError::LockTarget {
                    path: path.to_owned(),
                    reason: "--update-lock needs a folder (the lock is written into it)".into(),
                });
            }
            write_atomically(&lock, &render(&report.inventory))?;
            report.locks_written.push(lock);
            Ok(())
        }
        LockMode::Check => {
            if !path.is_dir() || !lock.exists() {
                return Ok(());
            }
            let text = std::fs::read_to_string(&lock).map_err(|source| LintError::Io {
                path: lock.clone(),
                source,
            })?;
            let locked = parse(&text, &lock)?;
            compare(&lock, &text, &locked, report);
            report.locks_checked.push(lock);
            Ok(())
        }
    }
}

fn compare(
    lock: &Path,
    text: &str,
    locked: &BTreeMap<(String, String), Locked>,
    report: &mut Report,
) {
    let current = current_fields(&report.inventory);
    let accept = format!(
        "if this is intended, run `tierseal lint {} --update-lock` and have the change to {} reviewed",
        lock.parent()
            .map_or(".".into(), |p| p.display().to_string()),
        lock.display()
    );
    for ((type_id, field_id), old) in locked {
        let now = current.get(type_id).and_then(|fields| fields.get(field_id));
        let Some(now) = now else {
            report.findings.push(Finding {
                rule: "classified-field-removed",
                lexicon_rule: None,
                category: None,
                severity: Severity::Error,
                item: format!("{type_id}::{field_id}"),
                message: format!(
                    "`{type_id}::{field_id}` is in {} but no longer in the sources: it was removed, or renamed without keeping its stable id (#[classify(id = \"{field_id}\")])",
                    lock.display()
                ),
                help: format!(
                    "keep the stable id with #[classify(id = \"{field_id}\")] (and #[classified(id = \"{type_id}\")]) so existing ciphertexts stay readable; {accept}"
                ),
                location: Location {
                    file: lock.to_owned(),
                    line: old.line,
                    column: 1,
                    end_column: 2,
                },
                source_line: text.lines().nth(old.line - 1).unwrap_or_default().to_owned(),
            });
            continue;
        };
        let (down, up) = old.classification.compare(now);
        if !down.is_empty() {
            let entry = report
                .inventory
                .iter()
                .find(|e| &e.type_id == type_id && &e.id == field_id);
            report.findings.push(Finding {
                rule: "classification-downgraded",
                lexicon_rule: None,
                category: None,
                severity: Severity::Error,
                item: entry.map_or_else(|| format!("{type_id}::{field_id}"), |e| e.item.clone()),
                message: format!(
                    "`{type_id}::{field_id}` is classified weaker than {} records: {}",
                    lock.display(),
                    down.join(", ")
                ),
                help: format!("restore the locked classification; {accept}"),
                location: entry.map_or_else(
                    || Location {
                        file: lock.to_owned(),
                        line: old.line,
                        column: 1,
                        end_column: 2,
                    },
                    declaration,
                ),
                source_line: entry.map_or_else(String::new, |e| source_line(&e.file, e.line)),
            });
        }
        for change in up {
            report.lock_drift.push(LockDrift {
                lock: lock.to_owned(),
                type_id: type_id.clone(),
                field_id: field_id.clone(),
                change,
            });
        }
    }
    for (type_id, fields) in &current {
        for field_id in fields.keys() {
            if !locked.contains_key(&(type_id.clone(), field_id.clone())) {
                report.lock_drift.push(LockDrift {
                    lock: lock.to_owned(),
                    type_id: type_id.clone(),
                    field_id: field_id.clone(),
                    change: "new classified field, not in the lock".into(),
                });
            }
        }
    }
}

/// Where a field is declared: its line, from its first non-blank column.
fn declaration(entry: &InventoryEntry) -> Location {
    let line = source_line(&entry.file, entry.line);
    let indent = line.chars().take_while(|c| c.is_whitespace()).count();
    Location {
        file: entry.file.clone(),
        line: entry.line,
        column: indent + 1,
        end_column: line.chars().count().max(indent + 1) + 1,
    }
}

/// Line `number` of `file` (read again: only for the few fields that
/// violate the lock).
fn source_line(file: &Path, number: usize) -> String {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|text| {
            text.lines()
                .nth(number.saturating_sub(1))
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

/// Writes `text` to `path` through a temporary file and a rename, so that
/// a crash leaves the old lock or the new one, never half of one.
fn write_atomically(path: &Path, text: &str) -> Result<(), LintError> {
    let io = |source| LintError::Io {
        path: path.to_owned(),
        source,
    };
    let temporary = path.with_extension("lock.tmp");
    let result = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        std::io::Write::write_all(&mut file, text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result.map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classification(level: &str, mask: MaskSpec) -> Classification {
        Classification {
            level: LevelName::parse(level),
            compartment: Some("cards".into()),
            mask,
            transient: false,
        }
    }

    #[test]
    fn masks_are_ordered_by_what_they_reveal() {
        let none = classification("restricted", MaskSpec::Nothing);
        let last4 = classification("restricted", MaskSpec::Builtin("last4".into()));
        let bin = classification("restricted", MaskSpec::Builtin("first6last4".into()));
        let email = classification("restricted", MaskSpec::Builtin("email".into()));
        let custom = classification("restricted", MaskSpec::Custom("m::f".into()));
        assert!(none.compare(&last4).0[0].contains("widened"));
        assert!(last4.compare(&bin).0[0].contains("widened"));
        assert!(bin.compare(&custom).0[0].contains("widened"));
        assert!(
            bin.compare(&email).0[0].contains("widened"),
            "a sideways change needs review"
        );
        assert!(custom.compare(&none).0.is_empty());
        assert!(custom.compare(&none).1[0].contains("narrowed"));
    }

    #[test]
    fn malformed_locks_name_the_line() {
        let path = Path::new("tierseal.lock");
        let text = "version = 1\n\n[[type]]\nid = \"Card\"\nfields = [\n    { id = \"pan\", level = \"secret\" },\n]\n";
        let err = parse(text, path).err().unwrap().to_string();
        assert!(
            err.contains("tierseal.lock:6:") && err.contains("unknown level `secret`"),
            "{err}"
        );
        let text = "version = 1\n[[type]]\nid = \"Card\"\nfields = [\n  { id = \"pan\", level = \"restricted\" },\n  { id = \"pan\", level = \"restricted\" },\n]\n";
        let err = parse(text, path).err().unwrap().to_string();
        assert!(err.contains(":6:") && err.contains("listed twice"), "{err}");
        let err = parse("version = 1\ncolour = 2\n", path)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains(":2:"), "{err}");
        let err = parse("version = 7\n", path).err().unwrap().to_string();
        assert!(err.contains(":1:") && err.contains("version 7"), "{err}");
    }

    #[test]
    fn quoting_escapes_what_toml_requires() {
        assert_eq!(quote("a\"b\\c\u{7f}"), "\"a\\\"b\\\\c\\u007F\"");
    }
}
