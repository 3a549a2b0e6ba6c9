//! `tierseal.toml`: a project's extensions and exceptions to the lexicon.
//!
//! ```toml
//! # Files not to lint (generated code), relative to this file's folder.
//! # A top-level key: it goes before any [table].
//! exclude = ["crates/api-client/src/generated/**", "**/*_builder.rs"]
//!
//! # Extra terms: identifiers are split into words like field names.
//! [[lexicon.rule]]
//! id = "member-number"
//! description = "a credit-union member number"
//! names = ["member_number", "memberNo"]
//! types = ["MemberId"]
//! min_level = "confidential"
//!
//! # Raise or lower a built-in rule's minimum level.
//! [lexicon.min_level]
//! amount = "confidential"
//!
//! # Switch a category of the built-in lexicon up, down or off.
//! [lexicon.severity]
//! money = "error"   # default "warning"; every other category "error"
//!
//! # Exceptions, each with a reason an auditor can read.
//! [[allow]]
//! path = "billing::Invoice::amount_currency"
//! reason = "ISO 4217 currency code, not an amount"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tierseal_classify::lexicon::{self, FieldContext, RULES};
use tierseal_classify::{Category, LevelName, Severity};

use crate::LintError;

/// The configuration file's name.
pub(crate) const FILE_NAME: &str = "tierseal.toml";

/// A project rule from `[[lexicon.rule]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigRule {
    /// A stable id.
    pub id: String,
    /// What it recognises.
    #[serde(default)]
    pub description: String,
    /// Identifiers whose words trigger it (`member_number`).
    #[serde(default)]
    pub names: Vec<String>,
    /// Type names that trigger it.
    #[serde(default)]
    pub types: Vec<String>,
    /// The lowest acceptable level.
    pub min_level: String,
    /// PCI DSS sensitive authentication data: may only be transient.
    #[serde(default)]
    pub sensitive_authentication_data: bool,
}

/// An `[[allow]]` exception.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowEntry {
    /// `module::Type::field`, as findings name items.
    pub path: String,
    /// Why this field may stay as it is. Mandatory.
    pub reason: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LexiconSection {
    #[serde(default)]
    rule: Vec<ConfigRule>,
    #[serde(default)]
    min_level: BTreeMap<String, String>,
    #[serde(default)]
    severity: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    lexicon: LexiconSection,
    #[serde(default)]
    allow: Vec<AllowEntry>,
}

/// A lexicon hit, from a built-in or a project rule.
#[derive(Clone, Debug)]
pub(crate) struct Hit {
    pub(crate) id: String,
    pub(crate) description: String,
    pub(crate) trigger: String,
    pub(crate) min_level: LevelName,
    pub(crate) sensitive_authentication_data: bool,
    /// The built-in category, or `None` for a project rule.
    pub(crate) category: Option<Category>,
    /// How a finding from this hit is reported.
    pub(crate) severity: Severity,
}

struct CompiledRule {
    rule: ConfigRule,
    min_level: LevelName,
    names: Vec<Vec<String>>,
}

/// The lexicon as a project configured it.
#[derive(Default)]
pub struct Config {
    rules: Vec<CompiledRule>,
    min_levels: BTreeMap<String, LevelName>,
    severities: BTreeMap<Category, Severity>,
    allow: Vec<AllowEntry>,
    exclude: Vec<glob::Pattern>,
    /// Where it was read from, if anywhere.
    pub source: Option<PathBuf>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field(
                "rules",
                &self.rules.iter().map(|r| &r.rule.id).collect::<Vec<_>>(),
            )
            .field("allow", &self.allow)
            .field(
                "exclude",
                &self
                    .exclude
                    .iter()
                    .map(glob::Pattern::as_str)
                    .collect::<Vec<_>>(),
            )
            .field("source", &self.source)
            .finish()
    }
}

impl Config {
    /// The nearest `tierseal.toml` at `start` or above it, or the built-in
    /// lexicon alone when there is none.
    ///
    /// # Errors
    /// [`LintError::Config`] for an invalid file, [`LintError::Io`] when it
    /// cannot be read.
    pub fn discover(start: &Path) -> Result<Config, LintError> {
        let start = if start.is_file() {
            start.parent().unwrap_or(start)
        } else {
            start
        };
        let absolute = std::path::absolute(start).unwrap_or_else(|_| start.to_owned());
        for dir in absolute.ancestors() {
            let candidate = dir.join(FILE_NAME);
            if candidate.is_file() {
                return Config::load(&candidate);
            }
        }
        Ok(Config::default())
    }

    /// Reads a configuration file.
    ///
    /// # Errors
    /// As [`discover`](Self::discover).
    pub fn load(path: &Path) -> Result<Config, LintError> {
        let text = std::fs::read_to_string(path).map_err(|source| LintError::Io {
            path: path.to_owned(),
            source,
        })?;
        let mut config = Config::parse(&text, path)?;
        config.source = Some(path.to_owned());
        Ok(config)
    }

    /// Parses configuration text (`path` names it in errors).
    ///
    /// # Errors
    /// [`LintError::Config`] naming what is wrong.
    pub fn parse(text: &str, path: &Path) -> Result<Config, LintError> {
        let invalid = |reason: String| LintError::Config {
            path: path.to_owned(),
            reason,
        };
        let file: ConfigFile = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map_or(1, |span| crate::error::line_at(text, span.start));
            invalid(format!("line {line}: {}", e.message()))
        })?;
        let exclude = file
            .exclude
            .iter()
            .map(|pattern| {
                glob::Pattern::new(pattern)
                    .map_err(|e| invalid(format!("exclude pattern `{pattern}`: {e}")))
            })
            .collect::<Result<_, _>>()?;
        let level = |name: &str, context: &str| {
            LevelName::parse(name)
                .ok_or_else(|| invalid(format!("{context}: unknown level `{name}`")))
        };
        let mut rules = Vec::new();
        for rule in file.lexicon.rule {
            if rule.names.is_empty() && rule.types.is_empty() {
                return Err(invalid(format!(
                    "rule `{}` has neither names nor types",
                    rule.id
                )));
            }
            let min_level = level(&rule.min_level, &format!("rule `{}`", rule.id))?;
            let names = rule
                .names
                .iter()
                .map(|name| lexicon::split_words(name))
                .collect();
            rules.push(CompiledRule {
                rule,
                min_level,
                names,
            });
        }
        let mut min_levels = BTreeMap::new();
        for (id, name) in file.lexicon.min_level {
            if !RULES.iter().any(|rule| rule.id == id) {
                return Err(invalid(format!(
                    "[lexicon.min_level]: no built-in rule `{id}`"
                )));
            }
            let parsed = level(&name, &format!("[lexicon.min_level] {id}"))?;
            min_levels.insert(id, parsed);
        }
        let mut severities = BTreeMap::new();
        for (name, value) in file.lexicon.severity {
            let category = Category::parse(&name).ok_or_else(|| {
                invalid(format!(
                    "[lexicon.severity]: no category `{name}` (expected one of {})",
                    Category::ALL.map(Category::as_str).join(", ")
                ))
            })?;
            let severity = Severity::parse(&value).ok_or_else(|| {
                invalid(format!(
                    "[lexicon.severity] {name}: unknown severity `{value}` (expected off, warning or error)"
                ))
            })?;
            severities.insert(category, severity);
        }
        for entry in &file.allow {
            if entry.reason.trim().is_empty() {
                return Err(invalid(format!(
                    "[[allow]] `{}` needs a reason",
                    entry.path
                )));
            }
            if entry.path.split("::").count() < 2 {
                return Err(invalid(format!(
                    "[[allow]] `{}` is not a `Type::field` path",
                    entry.path
                )));
            }
        }
        Ok(Config {
            rules,
            min_levels,
            severities,
            allow: file.allow,
            exclude,
            source: None,
        })
    }

    /// Whether `file` matches an `exclude` pattern. Patterns are relative
    /// to the configuration file's folder (or the current folder for a
    /// configuration that was not read from a file); `*` does not cross
    /// `/`, `**` does.
    pub(crate) fn excluded(&self, file: &Path) -> bool {
        if self.exclude.is_empty() {
            return false;
        }
        let absolute = |path: &Path| std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        let base = self
            .source
            .as_deref()
            .and_then(Path::parent)
            .map_or_else(|| absolute(Path::new(".")), absolute);
        let file = absolute(file);
        let Ok(relative) = file.strip_prefix(&base) else {
            return false;
        };
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        self.exclude
            .iter()
            .any(|pattern| pattern.matches_path_with(relative, options))
    }

    /// How findings of `category` are reported in this project.
    pub fn severity(&self, category: Category) -> Severity {
        self.severities
            .get(&category)
            .copied()
            .unwrap_or(category.default_severity())
    }

    /// What the lexicon says of a field: the built-in lexicon (with the
    /// owner's name as context and the type as a signal), then the
    /// project's rules by name and by type. A built-in hit whose category
    /// is switched off is no hit.
    pub(crate) fn classify(&self, field: &FieldContext<'_>) -> Option<Hit> {
        if let Some(hit) = lexicon::classify(field) {
            let hit = self.builtin(&hit);
            return (hit.severity != Severity::Off).then_some(hit);
        }
        let split: Vec<Vec<String>> = field
            .names
            .iter()
            .map(|name| lexicon::split_words(name))
            .collect();
        for compiled in &self.rules {
            if let Some(pattern) = compiled
                .names
                .iter()
                .find(|p| split.iter().any(|words| lexicon::contains_run(words, p)))
            {
                return Some(self.custom(compiled, &pattern.join(" ")));
            }
        }
        let type_name = lexicon::type_name(field.ty)?;
        self.rules
            .iter()
            .find(|compiled| compiled.rule.types.contains(&type_name))
            .map(|compiled| self.custom(compiled, &type_name))
    }

    fn builtin(&self, hit: &lexicon::Match) -> Hit {
        let rule = hit.rule;
        let min_level = match self.min_levels.get(rule.id) {
            Some(level) if hit.masked => (*level).min(hit.min_level()),
            Some(level) => *level,
            None => hit.min_level(),
        };
        Hit {
            id: rule.id.to_owned(),
            description: hit.description(),
            trigger: hit.trigger.clone(),
            min_level,
            sensitive_authentication_data: hit.sensitive_authentication_data(),
            category: Some(rule.category),
            severity: self.severity(rule.category),
        }
    }

    fn custom(&self, compiled: &CompiledRule, trigger: &str) -> Hit {
        Hit {
            id: compiled.rule.id.clone(),
            description: if compiled.rule.description.is_empty() {
                format!("project rule `{}`", compiled.rule.id)
            } else {
                compiled.rule.description.clone()
            },
            trigger: trigger.to_owned(),
            min_level: compiled.min_level,
            sensitive_authentication_data: compiled.rule.sensitive_authentication_data,
            category: None,
            severity: Severity::Error,
        }
    }

    /// The allow entry that covers `item` (`module::Type::field`), if any.
    /// An entry matches the item's full path or any suffix of it that
    /// starts at a `::` boundary.
    pub(crate) fn allowed(&self, item: &str) -> Option<&AllowEntry> {
        self.allow
            .iter()
            .find(|entry| item == entry.path || item.ends_with(&format!("::{}", entry.path)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first ```toml block after `heading` in `text`, with `prefix`
    /// (and one space after it) taken off every line.
    fn toml_example(text: &str, heading: &str, prefix: &str) -> String {
        let lines = text.lines().map(|line| {
            let line = line.strip_prefix(prefix).unwrap_or(line);
            line.strip_prefix(' ').unwrap_or(line)
        });
        lines
            .skip_while(|line| !line.starts_with(heading))
            .skip_while(|line| *line != "```toml")
            .skip(1)
            .take_while(|line| *line != "```")
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The documented examples are valid configurations: a key placed
    /// under the wrong table would be rejected.
    #[test]
    fn documented_examples_parse() {
        let path = Path::new("tierseal.toml");
        let guide = toml_example(
            include_str!("../../../docs/LINT.md"),
            "## `tierseal.toml`",
            "",
        );
        let module = toml_example(include_str!("config.rs"), "`tierseal.toml`", "//!");
        for example in [guide, module] {
            assert!(example.contains("exclude"), "{example}");
            assert!(example.contains("[lexicon.severity]"), "{example}");
            let config = Config::parse(&example, path).unwrap_or_else(|e| panic!("{e}\n{example}"));
            assert!(!config.exclude.is_empty());
            assert_eq!(config.severity(Category::Money), Severity::Error);
            assert!(!config.allow.is_empty());
        }
    }

    #[test]
    fn parses_rules_levels_and_allows() {
        let config = Config::parse(
            r#"
            [[lexicon.rule]]
            id = "member-number"
            names = ["memberNo"]
            min_level = "confidential"

            [lexicon.min_level]
            amount = "confidential"

            [[allow]]
            path = "Invoice::amount_currency"
            reason = "ISO code"
            "#,
            Path::new("tierseal.toml"),
        )
        .unwrap();
        let hit = field_hit(&config, "Member", "member_no", "String").unwrap();
        assert_eq!(hit.id, "member-number");
        let hit = field_hit(&config, "Invoice", "amount", "i64").unwrap();
        assert_eq!(hit.min_level, LevelName::Confidential);
        assert!(
            config
                .allowed("billing::Invoice::amount_currency")
                .is_some()
        );
        assert!(
            config
                .allowed("billing::MyInvoice::amount_currency")
                .is_none()
        );
    }

    /// What `config` says of a field `name: ty` in a type named `owner`.
    fn field_hit(config: &Config, owner: &str, name: &str, ty: &str) -> Option<Hit> {
        let ty: syn::Type = syn::parse_str(ty).expect("type parses");
        config.classify(&FieldContext {
            owner,
            names: &[name.to_owned()],
            ty: &ty,
        })
    }

    #[test]
    fn money_is_a_warning_by_default_and_can_be_switched() {
        let default = Config::default();
        let hit = field_hit(&default, "Payment", "amount", "i64").unwrap();
        assert_eq!(hit.severity, Severity::Warning);
        assert_eq!(hit.category, Some(Category::Money));
        let iban = field_hit(&default, "Payment", "iban", "String").unwrap();
        assert_eq!(iban.severity, Severity::Error);

        let path = Path::new("tierseal.toml");
        let strict = Config::parse("[lexicon.severity]\nmoney = \"error\"\n", path).unwrap();
        let hit = field_hit(&strict, "Payment", "amount", "i64").unwrap();
        assert_eq!(hit.severity, Severity::Error);

        let off = Config::parse("[lexicon.severity]\nmoney = \"off\"\n", path).unwrap();
        assert!(field_hit(&off, "Payment", "amount", "i64").is_none());
        assert!(field_hit(&off, "Payment", "iban", "String").is_some());

        let err = Config::parse("[lexicon.severity]\nmony = \"off\"\n", path).unwrap_err();
        assert!(err.to_string().contains("no category `mony`"), "{err}");
        let err = Config::parse("[lexicon.severity]\nmoney = \"loud\"\n", path).unwrap_err();
        assert!(err.to_string().contains("unknown severity `loud`"), "{err}");
    }

    #[test]
    fn rejects_allows_without_reason_and_unknown_keys() {
        let err = Config::parse(
            "[[allow]]\npath = \"A::b\"\nreason = \"  \"\n",
            Path::new("t.toml"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("needs a reason"), "{err}");
        let err = Config::parse("[[allow]]\npath = \"A::b\"\n", Path::new("t.toml")).unwrap_err();
        assert!(err.to_string().contains("reason"), "{err}");
        assert!(Config::parse("colour = 1\n", Path::new("t.toml")).is_err());
        assert!(
            Config::parse(
                "[lexicon.min_level]\nnope = \"internal\"\n",
                Path::new("t.toml")
            )
            .is_err()
        );
    }
}
