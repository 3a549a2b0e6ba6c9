//! The scan: parse each file, visit every struct and enum, and judge each
//! field against the lexicon and its classification.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Attribute, Fields, Item};
use tierseal_classify::attr::{self, Errors, FieldAttrs};
use tierseal_classify::lexicon;
use tierseal_classify::{LevelName, Severity};

use crate::config::Hit;
use crate::inventory::InventoryEntry;
use crate::sources::{self, SourceFile};
use crate::{Config, Finding, LintError, Location};

/// The outcome of a lint run.
#[derive(Debug, Default)]
pub struct Report {
    /// Every problem found, in file order.
    pub findings: Vec<Finding>,
    /// Every field of every `#[derive(Classified)]` struct.
    pub inventory: Vec<InventoryEntry>,
    /// How many files were read.
    pub files: usize,
    /// How many lines they had.
    pub lines: usize,
}

/// Lints `paths` (files, crates or folders), each with the nearest
/// `tierseal.toml` unless `config` is given.
///
/// # Errors
/// [`LintError`] when a path cannot be read or a configuration is invalid.
/// Files that do not parse are findings (`parse-error`), not errors.
pub fn lint_paths(paths: &[PathBuf], config: Option<&Config>) -> Result<Report, LintError> {
    let mut report = Report::default();
    for path in paths {
        let discovered;
        let config = match config {
            Some(config) => config,
            None => {
                discovered = Config::discover(path)?;
                &discovered
            }
        };
        scan_path(path, config, &mut report)?;
    }
    Ok(report)
}

/// Lints one source text as a single file (no `mod` following).
pub fn lint_source(path: &Path, source: &str, config: &Config) -> Vec<Finding> {
    let mut report = Report::default();
    let file = SourceFile {
        path: path.to_owned(),
        module: Vec::new(),
        follow_mods: false,
    };
    scan_file(&file, source, syn::parse_file(source), config, &mut report);
    report.findings
}

/// A file's identity, however it was reached.
fn key_of(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

fn read(path: &Path) -> Result<String, LintError> {
    std::fs::read_to_string(path).map_err(|source| LintError::Io {
        path: path.to_owned(),
        source,
    })
}

fn scan_path(path: &Path, config: &Config, report: &mut Report) -> Result<(), LintError> {
    // Read and parse every reachable file first (following `mod`
    // declarations), so that files declared `#[cfg(test)] mod x;` are known
    // to be exempt before any is linted. Each file is parsed once.
    let mut queue = sources::collect(path)?;
    let mut seen = HashSet::new();
    let mut exempt = HashSet::new();
    let mut files = Vec::new();
    while let Some(file) = queue.pop() {
        if !seen.insert(key_of(&file.path)) {
            continue;
        }
        let text = read(&file.path)?;
        let ast = syn::parse_file(&text);
        if let Ok(ast) = &ast {
            collect_test_modules(&file.path, &ast.items, &mut exempt);
            if file.follow_mods {
                declared_modules(&file.path, &ast.items, &file.module, &mut queue);
            }
        }
        files.push((file, text, ast));
    }
    for (file, text, ast) in files {
        if !exempt.contains(&key_of(&file.path)) {
            scan_file(&file, &text, ast, config, report);
        }
    }
    Ok(())
}

/// Queues the files of the `mod x;` declarations in `items` (skipping
/// `#[cfg(test)]` ones), descending into inline modules.
fn declared_modules(file: &Path, items: &[Item], module: &[String], queue: &mut Vec<SourceFile>) {
    for item in items {
        let Item::Mod(declared) = item else { continue };
        if is_cfg_test(&declared.attrs) {
            continue;
        }
        let mut inner = module.to_vec();
        inner.push(declared.ident.to_string());
        match &declared.content {
            Some((_, items)) => {
                // An inline module's children live in a folder named after it.
                let nested = file.with_file_name(format!("{}/mod.rs", declared.ident));
                declared_modules(&nested, items, &inner, queue);
            }
            None => {
                let path_attr = path_attribute(&declared.attrs);
                if let Some(child) =
                    sources::module_file(file, &declared.ident.to_string(), path_attr.as_deref())
                {
                    queue.push(SourceFile {
                        path: child,
                        module: inner,
                        follow_mods: true,
                    });
                }
            }
        }
    }
}

fn scan_file(
    file: &SourceFile,
    text: &str,
    ast: syn::Result<syn::File>,
    config: &Config,
    report: &mut Report,
) {
    report.files += 1;
    report.lines += text.lines().count();
    let ast = match ast {
        Ok(ast) => ast,
        Err(error) => {
            report.findings.push(Finding {
                rule: "parse-error",
                lexicon_rule: None,
                category: None,
                severity: Severity::Error,
                item: file.path.display().to_string(),
                message: format!("could not parse {}: {error}", file.path.display()),
                help: "fix the syntax error; this file was not checked".into(),
                location: location(&file.path, error.span()),
                source_line: line_of(text, error.span().start().line),
            });
            return;
        }
    };
    let mut scanner = Scanner {
        file,
        text,
        config,
        report,
    };
    scanner.items(&ast.items, &file.module);
}

struct Scanner<'a> {
    file: &'a SourceFile,
    text: &'a str,
    config: &'a Config,
    report: &'a mut Report,
}

/// A field to judge: its display name, the names it is matched by, its
/// type and attributes.
struct FieldInput<'f> {
    label: String,
    context: &'f str,
    names: Vec<String>,
    ty: &'f syn::Type,
    attrs: &'f [Attribute],
    span: Span,
}

impl Scanner<'_> {
    fn items(&mut self, items: &[Item], module: &[String]) {
        for item in items {
            match item {
                Item::Struct(item) => {
                    let classified = derives_classified(&item.attrs);
                    let name = item.ident.to_string();
                    let path = join(module, &name);
                    self.fields(&path, &name, &item.fields, classified);
                }
                Item::Enum(item) => {
                    let path = join(module, &item.ident.to_string());
                    for variant in &item.variants {
                        self.fields(
                            &format!("{path}::{}", variant.ident),
                            &format!("{}::{}", item.ident, variant.ident),
                            &variant.fields,
                            false,
                        );
                    }
                }
                Item::Mod(item) if !is_cfg_test(&item.attrs) => {
                    if let Some((_, items)) = &item.content {
                        let mut inner = module.to_vec();
                        inner.push(item.ident.to_string());
                        self.items(items, &inner);
                    }
                }
                _ => {}
            }
        }
    }

    /// `context` is the owner's own name (`Card`, `Method::Card`), without
    /// its module path: the lexicon reads it as context.
    fn fields(&mut self, owner: &str, context: &str, fields: &Fields, classified: bool) {
        for (index, field) in fields.iter().enumerate() {
            let (label, names) = match &field.ident {
                Some(ident) => {
                    let name = ident.to_string();
                    let name = name.strip_prefix("r#").map(str::to_owned).unwrap_or(name);
                    let mut names = vec![name.clone()];
                    names.extend(serde_renames(&field.attrs));
                    (name, names)
                }
                None => (index.to_string(), Vec::new()),
            };
            let span = field
                .ident
                .as_ref()
                .map_or_else(|| field.ty.span(), Spanned::span);
            let input = FieldInput {
                label,
                context,
                names,
                ty: &field.ty,
                attrs: &field.attrs,
                span,
            };
            self.field(owner, &input, classified);
        }
    }

    fn field(&mut self, owner: &str, field: &FieldInput<'_>, classified: bool) {
        let item = format!("{owner}::{}", field.label);
        let mut errors = Errors::default();
        let attrs = attr::parse_field(field.attrs, &mut errors);
        if classified {
            self.inventory(owner, &item, field, &attrs);
        }
        if self.config.allowed(&item).is_some() {
            return;
        }
        if let Err(error) = errors.finish() {
            self.push(
                "invalid-classify-attribute",
                None,
                &item,
                format!("invalid #[classify] on `{item}`: {error}"),
                "see the attribute syntax in the tierseal::Classified docs".into(),
                error.span(),
            );
            return;
        }
        let Some(hit) = self.config.classify(&lexicon::FieldContext {
            owner: field.context,
            names: &field.names,
            ty: field.ty,
        }) else {
            return;
        };

        if !classified || !attrs.tagged {
            let why = if classified {
                "carries no #[classify]".to_owned()
            } else {
                "is in a type that does not derive tierseal::Classified".to_owned()
            };
            self.push(
                "unclassified-financial-field",
                Some(&hit),
                &item,
                format!(
                    "`{item}` looks like {} (lexicon rule `{}`, matched `{}`) but {why}",
                    hit.description, hit.id, hit.trigger
                ),
                format!(
                    "derive tierseal::Classified and tag it #[classify({})] or higher, or allow it in tierseal.toml with a reason",
                    hit.min_level
                ),
                field.span,
            );
            return;
        }
        if attrs.nested {
            return;
        }
        let level = attrs.level.map(|(level, _)| level);
        let level_span = attrs.level.map_or(field.span, |(_, span)| span);
        match level {
            Some(LevelName::Public) if attrs.reason.is_none() => self.push(
                "public-without-reason",
                Some(&hit),
                &item,
                format!(
                    "`{item}` looks like {} but is declared public without a reason",
                    hit.description
                ),
                "add reason = \"...\" saying why it is not sensitive, or classify it".into(),
                level_span,
            ),
            Some(level) if level != LevelName::Public && level < hit.min_level => self.push(
                "classified-too-low",
                Some(&hit),
                &item,
                format!(
                    "`{item}` looks like {} and is classified {level}, below the rule's minimum {}",
                    hit.description, hit.min_level
                ),
                format!("classify it #[classify({})] or higher", hit.min_level),
                level_span,
            ),
            _ => {}
        }
        if hit.sensitive_authentication_data && !attrs.transient {
            self.push(
                "sensitive-authentication-data",
                Some(&hit),
                &item,
                format!("`{item}` holds {}; it must not be stored after authorisation", hit.description),
                "declare it #[classify(restricted, transient)] so it is never written into the sealed form".into(),
                field.span,
            );
        }
    }

    fn inventory(&mut self, owner: &str, item: &str, field: &FieldInput<'_>, attrs: &FieldAttrs) {
        let (mask, level) = (
            attrs.mask.as_ref().map(|(mask, _)| match mask {
                attr::Mask::Builtin(builtin) => builtin.name().to_owned(),
                attr::Mask::With(path) => quote_path(path),
            }),
            attrs.level.map_or(LevelName::Public, |(level, _)| level),
        );
        let start = field.span.start();
        self.report.inventory.push(InventoryEntry {
            item: item.to_owned(),
            owner: owner.to_owned(),
            field: field.label.clone(),
            id: attrs
                .id
                .as_ref()
                .map_or_else(|| field.label.clone(), syn::LitStr::value),
            level: if attrs.nested {
                "nested".into()
            } else {
                level.to_string()
            },
            compartment: attrs.compartment.as_ref().map(syn::LitStr::value),
            mask,
            transient: attrs.transient,
            file: self.file.path.clone(),
            line: start.line,
        });
    }

    fn push(
        &mut self,
        rule: &'static str,
        hit: Option<&Hit>,
        item: &str,
        message: String,
        help: String,
        span: Span,
    ) {
        self.report.findings.push(Finding {
            rule,
            lexicon_rule: hit.map(|hit| hit.id.clone()),
            category: hit.and_then(|hit| hit.category),
            severity: hit.map_or(Severity::Error, |hit| hit.severity),
            item: item.to_owned(),
            message,
            help,
            location: location(&self.file.path, span),
            source_line: line_of(self.text, span.start().line),
        });
    }
}

fn quote_path(path: &syn::Path) -> String {
    path.segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}

fn join(module: &[String], name: &str) -> String {
    module
        .iter()
        .map(String::as_str)
        .chain([name])
        .collect::<Vec<_>>()
        .join("::")
}

fn location(file: &Path, span: Span) -> Location {
    let (start, end) = (span.start(), span.end());
    Location {
        file: file.to_owned(),
        line: start.line.max(1),
        column: start.column + 1,
        end_column: if end.line == start.line {
            end.column.max(start.column + 1) + 1
        } else {
            start.column + 2
        },
    }
}

fn line_of(text: &str, line: usize) -> String {
    text.lines()
        .nth(line.saturating_sub(1))
        .unwrap_or_default()
        .to_owned()
}

/// Whether `#[derive(...)]` lists `Classified` (by any path).
fn derives_classified(attrs: &[Attribute]) -> bool {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("derive"))
        .any(|attr| {
            let mut found = false;
            let _ = attr.parse_nested_meta(|meta| {
                if meta
                    .path
                    .segments
                    .last()
                    .is_some_and(|s| s.ident == "Classified")
                {
                    found = true;
                }
                Ok(())
            });
            found
        })
}

/// Whether the attributes include `#[cfg(test)]`.
fn is_cfg_test(attrs: &[Attribute]) -> bool {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("cfg"))
        .any(|attr| {
            attr.parse_args::<syn::Ident>()
                .is_ok_and(|ident| ident == "test")
        })
}

fn path_attribute(attrs: &[Attribute]) -> Option<String> {
    attrs
        .iter()
        .find(|a| a.path().is_ident("path"))
        .and_then(|attr| match &attr.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
}

/// Names a field is also known by through `#[serde(rename = "...")]`
/// (including `rename(serialize = "...", deserialize = "...")`) and
/// `#[serde(alias = "...")]`.
fn serde_renames(attrs: &[Attribute]) -> Vec<String> {
    let mut names = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") || meta.path.is_ident("alias") {
                if meta.input.peek(syn::Token![=]) {
                    let value: syn::LitStr = meta.value()?.parse()?;
                    names.push(value.value());
                } else {
                    meta.parse_nested_meta(|inner| {
                        let value: syn::LitStr = inner.value()?.parse()?;
                        names.push(value.value());
                        Ok(())
                    })?;
                }
            } else if meta.input.peek(syn::Token![=]) {
                let _: syn::Expr = meta.value()?.parse()?;
            } else if meta.input.peek(syn::token::Paren) {
                let _ = meta.parse_nested_meta(|inner| {
                    if inner.input.peek(syn::Token![=]) {
                        let _: syn::Expr = inner.value()?.parse()?;
                    }
                    Ok(())
                });
            }
            Ok(())
        });
    }
    names
}

/// Files declared as `#[cfg(test)] mod x;` anywhere in `items`.
fn collect_test_modules(file: &Path, items: &[Item], exempt: &mut HashSet<PathBuf>) {
    for item in items {
        if let Item::Mod(module) = item {
            if module.content.is_none() && is_cfg_test(&module.attrs) {
                let path_attr = path_attribute(&module.attrs);
                if let Some(child) =
                    sources::module_file(file, &module.ident.to_string(), path_attr.as_deref())
                {
                    exempt.insert(std::path::absolute(&child).unwrap_or(child));
                }
            }
            if let Some((_, inner)) = &module.content {
                let nested = file.with_file_name(format!("{}/mod.rs", module.ident));
                collect_test_modules(&nested, inner, exempt);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lint(source: &str) -> Vec<Finding> {
        lint_source(Path::new("src/lib.rs"), source, &Config::default())
    }

    fn rules(findings: &[Finding]) -> Vec<(&str, &str)> {
        findings.iter().map(|f| (f.rule, f.item.as_str())).collect()
    }

    #[test]
    fn finds_untagged_financial_fields_in_plain_structs_and_enums() {
        let findings = lint(
            "pub struct Payment { pub id: String, pub iban: String, pub amount: Decimal }\n\
             pub enum Event { Charged { card_number: String }, Refunded(Money) }",
        );
        assert_eq!(
            rules(&findings),
            [
                ("unclassified-financial-field", "Payment::iban"),
                ("unclassified-financial-field", "Payment::amount"),
                (
                    "unclassified-financial-field",
                    "Event::Charged::card_number"
                ),
                ("unclassified-financial-field", "Event::Refunded::0"),
            ]
        );
        assert_eq!(findings[0].location.line, 1);
        assert_eq!(findings[0].location.column, 42);
    }

    #[test]
    fn classified_fields_are_checked_for_level_reason_and_transience() {
        let findings = lint(
            "#[derive(tierseal::Classified)]\n\
             pub struct Card {\n\
                 #[classify(internal)] pub pan: String,\n\
                 #[classify(public)] pub iban: String,\n\
                 #[classify(restricted)] pub cvv: String,\n\
                 #[classify(restricted, transient)] pub pin: String,\n\
                 #[classify(confidential)] pub balance: i64,\n\
                 pub sort_code: String,\n\
             }",
        );
        assert_eq!(
            rules(&findings),
            [
                ("classified-too-low", "Card::pan"),
                ("public-without-reason", "Card::iban"),
                ("sensitive-authentication-data", "Card::cvv"),
                ("unclassified-financial-field", "Card::sort_code"),
            ]
        );
    }

    #[test]
    fn serde_renames_are_checked_and_cfg_test_modules_exempt() {
        let findings = lint(
            "pub struct A { #[serde(rename = \"accountNumber\")] pub x: String }\n\
             #[cfg(test)] mod tests { pub struct T { pub iban: String } }",
        );
        assert_eq!(rules(&findings), [("unclassified-financial-field", "A::x")]);
    }

    #[test]
    fn invalid_source_is_a_finding_not_a_panic() {
        let findings = lint("pub struct {{{ iban");
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].rule, "parse-error");
    }
}
