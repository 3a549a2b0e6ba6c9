//! The scan: read each file, parse it (bounded in depth, on a thread with
//! room to recurse), visit every struct and enum, and judge each field
//! against the lexicon and its classification.
//!
//! Memory stays proportional to one file: each file is read, parsed,
//! judged and dropped before the next; only its findings and inventory
//! rows are kept. `#[cfg(test)] mod x;` exemptions are applied at the end,
//! by dropping what the exempt files produced.

use std::cell::OnceCell;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use proc_macro2::{Delimiter, Spacing, Span, TokenStream, TokenTree};
use syn::spanned::Spanned;
use syn::{Attribute, Fields, Item};
use tierseal_classify::attr::{self, Errors, FieldAttrs};
use tierseal_classify::lexicon;
use tierseal_classify::{LevelName, Severity};

use crate::config::Hit;
use crate::inventory::InventoryEntry;
use crate::lock::{self, LockDrift, LockMode};
use crate::sources::{self, Skipped, SourceFile};
use crate::{Config, Finding, LintError, Location};

/// Brackets nested deeper than this are not parsed: the file is reported
/// (`nesting-too-deep`) instead of risking the parser's recursion. Real
/// code stays far below it.
pub const MAX_NESTING: usize = 256;

/// The stack of the thread that parses and judges files: enough for
/// [`MAX_NESTING`] levels of the deepest-recursing syntax in a debug build,
/// with a wide margin. Reserved, not committed, until used.
const SCAN_STACK_BYTES: usize = 64 << 20;

/// Source lines longer than this are cut in findings (minified or
/// generated files can put megabytes on one line).
const MAX_SOURCE_LINE: usize = 400;

/// The outcome of a lint run.
#[derive(Debug, Default)]
pub struct Report {
    /// Every problem found, in file order.
    pub findings: Vec<Finding>,
    /// Every field of every `#[derive(Classified)]` struct.
    pub inventory: Vec<InventoryEntry>,
    /// How many files were checked.
    pub files: usize,
    /// How many lines they had.
    pub lines: usize,
    /// Test code that was read but not linted: `#[cfg(test)]` modules in
    /// their own files and integration tests (`tests/`).
    pub exempt_files: usize,
    /// Files matched by an `exclude` pattern of `tierseal.toml`.
    pub excluded_files: usize,
    /// Paths the walk did not read (symbolic link loops, second visits,
    /// broken links), each with its reason.
    pub skipped: Vec<Skipped>,
    /// Differences from `tierseal.lock` that pass: upgrades and new
    /// classified fields. (Downgrades and removals are findings.)
    pub lock_drift: Vec<LockDrift>,
    /// The lock files compared against.
    pub locks_checked: Vec<PathBuf>,
    /// The lock files written by [`LockMode::Update`].
    pub locks_written: Vec<PathBuf>,
}

impl Report {
    fn absorb(&mut self, other: Report) {
        self.findings.extend(other.findings);
        self.inventory.extend(other.inventory);
        self.files += other.files;
        self.lines += other.lines;
        self.exempt_files += other.exempt_files;
        self.excluded_files += other.excluded_files;
        self.skipped.extend(other.skipped);
        self.lock_drift.extend(other.lock_drift);
        self.locks_checked.extend(other.locks_checked);
        self.locks_written.extend(other.locks_written);
    }
}

/// Lints `paths` (files, crates, workspaces or any folder), each file with
/// the nearest `tierseal.toml` above it unless `config` is given, and
/// compares each folder with its `tierseal.lock`, if it has one.
///
/// # Errors
/// [`LintError`] when a path cannot be read, a configuration or lock is
/// invalid, or a path holds no Rust source to check
/// ([`LintError::NothingScanned`]). Files that do not parse are findings
/// (`parse-error`, `nesting-too-deep`), not errors.
pub fn lint_paths(paths: &[PathBuf], config: Option<&Config>) -> Result<Report, LintError> {
    lint_paths_with(paths, config, LockMode::Check)
}

/// [`lint_paths`], with the lock compared ([`LockMode::Check`]), rewritten
/// ([`LockMode::Update`]) or left alone ([`LockMode::Ignore`]).
///
/// # Errors
/// As [`lint_paths`]; also when a lock cannot be written.
pub fn lint_paths_with(
    paths: &[PathBuf],
    config: Option<&Config>,
    lock_mode: LockMode,
) -> Result<Report, LintError> {
    on_scan_stack(|| {
        let mut report = Report::default();
        for path in paths {
            let mut part = scan_path(path, config)?;
            if part.files == 0 {
                return Err(nothing_scanned(path, &part));
            }
            lock::apply(path, &mut part, lock_mode)?;
            report.absorb(part);
        }
        Ok(report)
    })
}

fn nothing_scanned(path: &Path, report: &Report) -> LintError {
    let mut notes = Vec::new();
    if report.exempt_files > 0 {
        notes.push(format!("{} test files exempt", report.exempt_files));
    }
    if report.excluded_files > 0 {
        notes.push(format!(
            "{} files matched `exclude` in tierseal.toml",
            report.excluded_files
        ));
    }
    for skipped in &report.skipped {
        notes.push(format!(
            "skipped {}: {}",
            skipped.path.display(),
            skipped.reason
        ));
    }
    let detail = if notes.is_empty() {
        ": no .rs file found".to_owned()
    } else {
        format!(" ({})", notes.join("; "))
    };
    LintError::NothingScanned {
        path: path.to_owned(),
        detail,
    }
}

/// Runs `work` on a thread with [`SCAN_STACK_BYTES`] of stack (or here,
/// should the system refuse a thread: the nesting bound still applies).
fn on_scan_stack<T: Send>(work: impl Fn() -> T + Sync) -> T {
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("tierseal-lint".into())
            .stack_size(SCAN_STACK_BYTES)
            .spawn_scoped(scope, &work);
        match worker {
            Ok(worker) => worker
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => work(),
        }
    })
}

/// Lints one source text as a single file (no `mod` following).
pub fn lint_source(path: &Path, source: &str, config: &Config) -> Vec<Finding> {
    let file = SourceFile {
        path: path.to_owned(),
        module: Vec::new(),
        follow_mods: false,
        test_target: false,
    };
    on_scan_stack(|| check_file(&file, source, config).findings)
}

/// A file's identity, however it was reached.
fn key_of(path: &Path) -> PathBuf {
    std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_owned())
}

/// What one file produced, kept until exemptions are known.
#[derive(Default)]
struct FileResult {
    key: PathBuf,
    lines: usize,
    findings: Vec<Finding>,
    inventory: Vec<InventoryEntry>,
    /// Files it declares as `mod x;`: exempt when it is.
    children: Vec<PathBuf>,
    /// Files it declares under `#[cfg(test)]`.
    test_children: Vec<PathBuf>,
    /// Files to follow (only when `mod` declarations are followed).
    declared: Vec<SourceFile>,
    test_target: bool,
}

/// The nearest `tierseal.toml` for each folder, each read once.
#[derive(Default)]
struct Configs {
    nearest: HashMap<PathBuf, Option<PathBuf>>,
    loaded: HashMap<PathBuf, Rc<Config>>,
    builtin: Rc<Config>,
}

impl Configs {
    fn for_file(&mut self, file: &Path) -> Result<Rc<Config>, LintError> {
        let dir = std::path::absolute(file)
            .ok()
            .and_then(|file| file.parent().map(Path::to_owned))
            .unwrap_or_default();
        let Some(found) = self.nearest_to(&dir) else {
            return Ok(Rc::clone(&self.builtin));
        };
        if let Some(config) = self.loaded.get(&found) {
            return Ok(Rc::clone(config));
        }
        let config = Rc::new(Config::load(&found)?);
        self.loaded.insert(found, Rc::clone(&config));
        Ok(config)
    }

    fn nearest_to(&mut self, dir: &Path) -> Option<PathBuf> {
        if let Some(known) = self.nearest.get(dir) {
            return known.clone();
        }
        let candidate = dir.join(crate::config::FILE_NAME);
        let found = if candidate.is_file() {
            Some(candidate)
        } else {
            dir.parent().and_then(|parent| self.nearest_to(parent))
        };
        self.nearest.insert(dir.to_owned(), found.clone());
        found
    }
}

fn scan_path(path: &Path, fixed: Option<&Config>) -> Result<Report, LintError> {
    let sources = sources::collect(path)?;
    let mut report = Report {
        skipped: sources.skipped,
        ..Report::default()
    };
    let mut queue = sources.files;
    queue.reverse();
    let mut seen = HashSet::new();
    let mut configs = Configs::default();
    let mut results = Vec::new();
    while let Some(file) = queue.pop() {
        if !seen.insert(key_of(&file.path)) {
            continue;
        }
        let discovered;
        let config = match fixed {
            Some(config) => config,
            None => {
                discovered = configs.for_file(&file.path)?;
                &*discovered
            }
        };
        if config.excluded(&file.path) {
            report.excluded_files += 1;
            continue;
        }
        let bytes = std::fs::read(&file.path).map_err(|source| LintError::Io {
            path: file.path.clone(),
            source,
        })?;
        let mut result = match std::str::from_utf8(&bytes) {
            Ok(text) => check_file(&file, text, config),
            Err(error) => not_utf8(&file, &bytes, &error),
        };
        // The span table of the file just parsed is no longer needed:
        // without this, proc-macro2 keeps every file's text until the
        // thread ends.
        proc_macro2::extra::invalidate_current_thread_spans();
        queue.extend(std::mem::take(&mut result.declared).into_iter().rev());
        results.push(result);
    }
    let exempt = exempt_files(&results);
    for result in results {
        if exempt.contains(&result.key) {
            report.exempt_files += 1;
            continue;
        }
        report.files += 1;
        report.lines += result.lines;
        report.findings.extend(result.findings);
        report.inventory.extend(result.inventory);
    }
    Ok(report)
}

/// Test code: integration tests, files declared `#[cfg(test)] mod x;`, and
/// every file those declare in turn.
fn exempt_files(results: &[FileResult]) -> HashSet<PathBuf> {
    let children: HashMap<&PathBuf, &Vec<PathBuf>> =
        results.iter().map(|r| (&r.key, &r.children)).collect();
    let mut pending: Vec<PathBuf> = results
        .iter()
        .filter(|r| r.test_target)
        .map(|r| r.key.clone())
        .chain(results.iter().flat_map(|r| r.test_children.iter().cloned()))
        .collect();
    let mut exempt = HashSet::new();
    while let Some(key) = pending.pop() {
        if let Some(declared) = children.get(&key) {
            pending.extend(declared.iter().cloned());
        }
        exempt.insert(key);
    }
    exempt
}

fn not_utf8(file: &SourceFile, bytes: &[u8], error: &std::str::Utf8Error) -> FileResult {
    let valid = bytes.get(..error.valid_up_to()).unwrap_or_default();
    let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = valid
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |newline| newline + 1);
    let column = String::from_utf8_lossy(valid.get(line_start..).unwrap_or_default())
        .chars()
        .count()
        + 1;
    let finding = Finding {
        rule: "parse-error",
        lexicon_rule: None,
        category: None,
        severity: Severity::Error,
        item: file.path.display().to_string(),
        message: format!(
            "could not read {}: not valid UTF-8 at line {line}, column {column}",
            file.path.display()
        ),
        help: "save the file as UTF-8; this file was not checked".into(),
        location: Location {
            file: file.path.clone(),
            line,
            column,
            end_column: column + 1,
        },
        source_line: String::new(),
    };
    FileResult {
        key: key_of(&file.path),
        lines: bytes.split(|&b| b == b'\n').count(),
        findings: vec![finding],
        test_target: file.test_target,
        ..FileResult::default()
    }
}

/// Why a file was not parsed.
enum Unparsed {
    Syntax(syn::Error),
    TooDeep(Span),
}

/// Lexes a file as `syn::parse_file` does (byte order mark and `#!`
/// line), without function bodies (see [`ItemTokens`]).
fn item_tokens(text: &str) -> Result<Vec<TokenStream>, Unparsed> {
    let mut body = text.strip_prefix('\u{feff}').unwrap_or(text);
    if let Some(rest) = body.strip_prefix("#!")
        && !rest.trim_start().starts_with('[')
    {
        // Keep the newline so that line numbers stay right.
        body = body.find('\n').and_then(|at| body.get(at..)).unwrap_or("");
    }
    let tokens: TokenStream = body.parse().map_err(|error: proc_macro2::LexError| {
        Unparsed::Syntax(syn::Error::new(error.span(), error))
    })?;
    ItemTokens::strip(tokens).map_err(Unparsed::TooDeep)
}

/// One bracket group being rebuilt by [`ItemTokens::strip`].
struct Frame {
    delimiter: Delimiter,
    span: Span,
    rest: proc_macro2::token_stream::IntoIter,
    kept: Vec<TokenTree>,
    /// `<` not yet closed by `>` (since the last `;` or `=>`).
    angles: usize,
    /// Consecutive prefix operators (`&`, `*`, `!`, `-`, `|`), lifetimes
    /// and `mut`/`const`/`dyn` between them included.
    prefixes: usize,
    /// `->` since the last `,`, `;` or brace group (`fn() -> fn() -> ..`).
    arrows: usize,
    /// Where we are in `fn name ... { body }`.
    function: FnState,
    /// Since the last `;`: a `const` or `static` (its initializer ends at
    /// `;`, not at `,`), or a `type` alias (its `=` is followed by a type).
    binding: Binding,
    /// The initializer being left out, if in one.
    initializer: Option<Initializer>,
    /// The previous token, when it was a punctuation joined to this one.
    joined: Option<char>,
    /// At the top of the file: where each item ends in `kept`, and whether
    /// the last token was an item's closing brace group (`struct S { .. }`,
    /// not yet known to end the item: `use a::{b, c};` goes on to `;`).
    item_ends: Vec<usize>,
    after_brace: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FnState {
    Outside,
    /// After `fn`: a name follows for an item, `(` for a pointer type.
    Keyword,
    /// After `fn name`: the next brace group is the body.
    Signature,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Binding {
    Other,
    ConstOrStatic,
    TypeAlias,
}

/// An expression after `=` in an item (a constant's or static's value, an
/// enum discriminant, an attribute's value), replaced by one literal.
struct Initializer {
    ends_at_comma: bool,
    /// The first token left out, kept when it is the only one and a
    /// literal (`#[path = "x.rs"]`, `#[doc = "..."]`).
    first: Option<TokenTree>,
    count: usize,
}

impl Initializer {
    fn placeholder(self) -> Option<TokenTree> {
        let first = self.first?;
        if self.count == 1 && matches!(first, TokenTree::Literal(_)) {
            return Some(first);
        }
        let mut zero = proc_macro2::Literal::u8_unsuffixed(0);
        zero.set_span(first.span());
        Some(zero.into())
    }
}

impl Frame {
    fn new(delimiter: Delimiter, span: Span, stream: TokenStream) -> Frame {
        Frame {
            delimiter,
            span,
            rest: stream.into_iter(),
            kept: Vec::new(),
            angles: 0,
            prefixes: 0,
            arrows: 0,
            function: FnState::Outside,
            binding: Binding::Other,
            initializer: None,
            joined: None,
            item_ends: Vec::new(),
            after_brace: false,
        }
    }

    /// Records item boundaries at the top of the file, before `token` is
    /// kept.
    fn item_boundary_before(&mut self, token: &TokenTree) {
        if std::mem::take(&mut self.after_brace)
            && !matches!(token, TokenTree::Punct(p) if p.as_char() == ';')
        {
            self.item_ends.push(self.kept.len());
        }
    }

    /// Records item boundaries at the top of the file, after the last
    /// token kept.
    fn item_boundary_after(&mut self) {
        if self.angles != 0 {
            return;
        }
        match self.kept.last() {
            Some(TokenTree::Punct(p)) if p.as_char() == ';' => self.item_ends.push(self.kept.len()),
            Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace => {
                self.after_brace = true
            }
            _ => {}
        }
    }

    /// The kept tokens, cut into runs of whole items.
    fn into_items(self) -> Vec<TokenStream> {
        let mut kept = self.kept.into_iter();
        let mut start = 0;
        let mut chunks = Vec::with_capacity(self.item_ends.len() + 1);
        for end in self.item_ends {
            chunks.push(kept.by_ref().take(end - start).collect());
            start = end;
        }
        chunks.push(kept.collect());
        chunks
    }

    /// Leaves `token` out if it belongs to an initializer; `false` when
    /// it is to be handled as usual.
    fn skip_initializer(&mut self, token: &TokenTree) -> bool {
        let Some(initializer) = &mut self.initializer else {
            return false;
        };
        let ends = matches!(token, TokenTree::Punct(p)
            if p.as_char() == ';' || (p.as_char() == ',' && initializer.ends_at_comma));
        if !ends {
            initializer.count += 1;
            if initializer.first.is_none() {
                initializer.first = Some(token.clone());
            }
            return true;
        }
        self.finish_initializer();
        false
    }

    fn finish_initializer(&mut self) {
        if let Some(placeholder) = self.initializer.take().and_then(Initializer::placeholder) {
            self.kept.push(placeholder);
        }
    }

    /// Updates the recursion estimates for a punctuation token.
    fn punct(&mut self, punct: &proc_macro2::Punct) {
        let joined = self.joined.take();
        let ch = punct.as_char();
        match ch {
            // Every `<` opens (`<'a`, `<&T>` and `Vec<<T as A>::B>` are
            // joined to what follows), except the `<` of `<=`: undone at
            // its `=`. A shift or a comparison over-counts, which only
            // makes the estimate more cautious: both live in values, which
            // are left out.
            '<' => self.angles += 1,
            '=' if joined == Some('<') => self.angles = self.angles.saturating_sub(1),
            '>' if joined == Some('=') => self.angles = 0,
            '>' if joined == Some('-') => self.arrows += 1,
            '>' => self.angles = self.angles.saturating_sub(1),
            ';' => {
                self.angles = 0;
                self.arrows = 0;
                self.function = FnState::Outside;
                self.binding = Binding::Other;
            }
            ',' => self.arrows = 0,
            '=' if punct.spacing() == Spacing::Alone
                && joined.is_none()
                && self.angles == 0
                && self.delimiter != Delimiter::Parenthesis
                && self.binding != Binding::TypeAlias =>
            {
                self.initializer = Some(Initializer {
                    ends_at_comma: self.binding != Binding::ConstOrStatic,
                    first: None,
                    count: 0,
                });
            }
            _ => {}
        }
        match ch {
            '&' | '*' | '!' | '-' | '|' => self.prefixes += 1,
            // A lifetime (`&'a &'a T`) continues a chain of references.
            '\'' => {}
            _ => self.prefixes = 0,
        }
        if punct.spacing() == Spacing::Joint {
            self.joined = Some(ch);
        }
    }

    fn ident(&mut self, ident: &proc_macro2::Ident) {
        let lifetime = self.joined.take() == Some('\'');
        if !(lifetime || ident == "mut" || ident == "const" || ident == "dyn") {
            self.prefixes = 0;
        }
        if self.angles == 0 && !lifetime {
            if ident == "const" || ident == "static" {
                self.binding = Binding::ConstOrStatic;
            } else if ident == "type" {
                self.binding = Binding::TypeAlias;
            }
        }
        self.function = if ident == "fn" {
            FnState::Keyword
        } else if self.function == FnState::Keyword {
            FnState::Signature
        } else {
            self.function
        };
    }

    /// How deep a parser would recurse here, at most, before the next
    /// group.
    fn depth(&self, groups: usize) -> usize {
        groups + self.angles + self.prefixes + self.arrows
    }
}

/// The token trees the lint parses: the file with every function body
/// replaced by `{}` and every item-level initializer (a constant's or
/// static's value, an enum discriminant, an attribute's `= value`) by one
/// literal, checked against [`MAX_NESTING`].
///
/// The lint reads declarations, not code, so bodies and values are not
/// needed; not parsing them makes the scan faster and takes most
/// recursion-prone syntax (deep expressions, closures, long `else if`
/// chains) out of the parser's reach. What remains (brackets, generics,
/// reference and `->` chains in types and signatures) is measured here
/// without recursion: a file that nests deeper than the bound is reported,
/// not parsed.
struct ItemTokens;

impl ItemTokens {
    /// The stripped file, cut into runs of whole top-level items so that
    /// each can be parsed on its own (the parser copies what it parses).
    fn strip(tokens: TokenStream) -> Result<Vec<TokenStream>, Span> {
        let mut stack = vec![Frame::new(Delimiter::None, Span::call_site(), tokens)];
        loop {
            let depth = stack.len();
            let Some(frame) = stack.last_mut() else {
                return Ok(Vec::new());
            };
            let Some(token) = frame.rest.next() else {
                frame.finish_initializer();
                let Some(done) = stack.pop() else {
                    return Ok(Vec::new());
                };
                let Some(parent) = stack.last_mut() else {
                    return Ok(done.into_items());
                };
                let stream: TokenStream = done.kept.into_iter().collect();
                let mut group = proc_macro2::Group::new(done.delimiter, stream);
                group.set_span(done.span);
                let group = TokenTree::from(group);
                if depth == 2 {
                    parent.item_boundary_before(&group);
                }
                parent.kept.push(group);
                parent.prefixes = 0;
                if depth == 2 {
                    parent.item_boundary_after();
                }
                continue;
            };
            if frame.skip_initializer(&token) {
                continue;
            }
            if depth == 1 {
                frame.item_boundary_before(&token);
            }
            match &token {
                TokenTree::Group(group) => {
                    frame.joined = None;
                    if group.delimiter() == Delimiter::Brace {
                        frame.arrows = 0;
                        if frame.function == FnState::Signature {
                            frame.function = FnState::Outside;
                            let mut empty =
                                proc_macro2::Group::new(Delimiter::Brace, TokenStream::new());
                            empty.set_span(group.span());
                            frame.kept.push(empty.into());
                            if depth == 1 {
                                frame.item_boundary_after();
                            }
                            continue;
                        }
                    }
                    if frame.function == FnState::Keyword {
                        frame.function = FnState::Outside;
                    }
                    if frame.depth(depth) >= MAX_NESTING {
                        return Err(group.span_open());
                    }
                    let inner = Frame::new(group.delimiter(), group.span(), group.stream());
                    stack.push(inner);
                    continue;
                }
                TokenTree::Punct(punct) => {
                    frame.punct(punct);
                    if frame.depth(depth) > MAX_NESTING {
                        return Err(punct.span());
                    }
                }
                TokenTree::Ident(ident) => frame.ident(ident),
                TokenTree::Literal(_) => {
                    frame.joined = None;
                    frame.prefixes = 0;
                }
            }
            frame.kept.push(token);
            if depth == 1 {
                frame.item_boundary_after();
            }
        }
    }
}

/// A file's lines, indexed once when the first finding needs one.
struct LineIndex<'t> {
    text: &'t str,
    starts: OnceCell<Vec<usize>>,
}

impl<'t> LineIndex<'t> {
    fn new(text: &'t str) -> LineIndex<'t> {
        LineIndex {
            text,
            starts: OnceCell::new(),
        }
    }

    /// Line `number` (1-based), without its line ending, cut to
    /// [`MAX_SOURCE_LINE`] characters.
    fn line(&self, number: usize) -> String {
        let starts = self.starts.get_or_init(|| {
            std::iter::once(0)
                .chain(self.text.match_indices('\n').map(|(at, _)| at + 1))
                .collect()
        });
        let Some(&start) = starts.get(number.saturating_sub(1)) else {
            return String::new();
        };
        let end = starts
            .get(number)
            .map_or(self.text.len(), |&next| next.saturating_sub(1));
        let line = self.text.get(start..end).unwrap_or_default();
        let line = line.strip_suffix('\r').unwrap_or(line);
        match line.char_indices().nth(MAX_SOURCE_LINE) {
            Some((cut, _)) => format!("{}…", line.get(..cut).unwrap_or_default()),
            None => line.to_owned(),
        }
    }
}

fn check_file(file: &SourceFile, text: &str, config: &Config) -> FileResult {
    let mut result = FileResult {
        key: key_of(&file.path),
        lines: text.lines().count(),
        test_target: file.test_target,
        ..FileResult::default()
    };
    let lines = LineIndex::new(text);
    let unparsed = match item_tokens(text) {
        // Items are parsed, judged and dropped one by one: only one item's
        // syntax tree is alive at a time.
        Ok(chunks) => {
            let mut scanner = Scanner {
                file,
                lines: &lines,
                config,
                out: &mut result,
                type_id: String::new(),
            };
            let mut each_item = |input: syn::parse::ParseStream<'_>| {
                input.call(Attribute::parse_inner)?;
                while !input.is_empty() {
                    let item: Item = input.parse()?;
                    scanner.top_level(&item);
                }
                Ok(())
            };
            let parsed = chunks
                .into_iter()
                .try_for_each(|chunk| syn::parse::Parser::parse2(&mut each_item, chunk));
            match parsed {
                Ok(()) => return result,
                Err(error) => Unparsed::Syntax(error),
            }
        }
        Err(unparsed) => unparsed,
    };
    let finding = match unparsed {
        Unparsed::Syntax(error) => Finding {
            rule: "parse-error",
            lexicon_rule: None,
            category: None,
            severity: Severity::Error,
            item: file.path.display().to_string(),
            message: format!("could not parse {}: {error}", file.path.display()),
            help: "fix the syntax error; nothing after it in this file was checked".into(),
            location: location(&file.path, error.span()),
            source_line: lines.line(error.span().start().line),
        },
        Unparsed::TooDeep(span) => Finding {
            rule: "nesting-too-deep",
            lexicon_rule: None,
            category: None,
            severity: Severity::Error,
            item: file.path.display().to_string(),
            message: format!(
                "{} nests brackets, generics or type chains more than {MAX_NESTING} deep; it was not parsed",
                file.path.display()
            ),
            help: "this file was not checked: generate it flatter, or exclude it in tierseal.toml if it holds no data model".into(),
            location: location(&file.path, span),
            source_line: lines.line(span.start().line),
        },
    };
    result.findings.push(finding);
    result
}

/// Queues the files of the `mod x;` declarations in `items` (skipping
/// `#[cfg(test)]` ones), descending into inline modules.
fn declared_modules(file: &Path, items: &[Item], module: &[String], queue: &mut Vec<SourceFile>) {
    for item in items {
        if let Some(body) = macro_items(item) {
            declared_modules(file, &body.items, module, queue);
            continue;
        }
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
                        test_target: false,
                    });
                }
            }
        }
    }
}

struct Scanner<'a> {
    file: &'a SourceFile,
    lines: &'a LineIndex<'a>,
    config: &'a Config,
    out: &'a mut FileResult,
    /// The stable id of the `Classified` type being visited.
    type_id: String,
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
    /// One item at the top of the file: the modules it declares, then
    /// its fields.
    fn top_level(&mut self, item: &Item) {
        let one = std::slice::from_ref(item);
        declared_files(&self.file.path, one, false, self.out);
        if self.file.follow_mods {
            declared_modules(
                &self.file.path,
                one,
                &self.file.module,
                &mut self.out.declared,
            );
        }
        self.items(one, &self.file.module);
    }

    fn items(&mut self, items: &[Item], module: &[String]) {
        for item in items {
            match item {
                Item::Struct(item) => {
                    let classified = derives_classified(&item.attrs);
                    let name = item.ident.to_string();
                    if classified {
                        self.type_id = type_id(item);
                    }
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
                // `cfg_rt! { pub struct Payment { .. } }`: a macro whose
                // body is items declares them in this module.
                Item::Macro(_) => {
                    if let Some(body) = macro_items(item) {
                        self.items(&body.items, module);
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
        self.out.inventory.push(InventoryEntry {
            item: item.to_owned(),
            owner: owner.to_owned(),
            type_id: self.type_id.clone(),
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
            custom_mask: matches!(attrs.mask, Some((attr::Mask::With(_), _))),
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
        self.out.findings.push(Finding {
            rule,
            lexicon_rule: hit.map(|hit| hit.id.clone()),
            category: hit.and_then(|hit| hit.category),
            severity: hit.map_or(Severity::Error, |hit| hit.severity),
            item: item.to_owned(),
            message,
            help,
            location: location(&self.file.path, span),
            source_line: self.lines.line(span.start().line),
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

/// The items in the body of a macro invocation such as `cfg_rt! { mod
/// runtime; pub struct S { .. } }`, when its body parses as items (not
/// for `macro_rules!` definitions).
fn macro_items(item: &Item) -> Option<syn::File> {
    let Item::Macro(item) = item else { return None };
    if item.ident.is_some() {
        return None;
    }
    syn::parse2::<syn::File>(item.mac.tokens.clone()).ok()
}

/// The stable type id bound into ciphertexts: `#[classified(id = "...")]`
/// or the type's name, as the derive reads it.
fn type_id(item: &syn::ItemStruct) -> String {
    let mut errors = Errors::default();
    attr::parse_container(&item.attrs, &mut errors)
        .id
        .map_or_else(|| item.ident.to_string(), |id| id.value())
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

/// Whether the attributes include `#[cfg(test)]` (or `#[cfg(all(test,
/// ...))]`: code that only exists in test builds).
fn is_cfg_test(attrs: &[Attribute]) -> bool {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("cfg"))
        .any(|attr| attr.parse_args_with(cfg_requires_test).unwrap_or(false))
}

fn cfg_requires_test(input: syn::parse::ParseStream<'_>) -> syn::Result<bool> {
    let name: syn::Ident = input.parse()?;
    if name == "test" {
        return Ok(input.is_empty());
    }
    if name != "all" {
        let _: TokenStream = input.parse()?;
        return Ok(false);
    }
    let content;
    syn::parenthesized!(content in input);
    let mut requires = false;
    while !content.is_empty() {
        let predicate: TokenStream = content.step(|cursor| {
            let mut rest = *cursor;
            let mut tokens = Vec::new();
            while let Some((tree, next)) = rest.token_tree() {
                if matches!(&tree, TokenTree::Punct(p) if p.as_char() == ',') {
                    return Ok((tokens.into_iter().collect(), next));
                }
                tokens.push(tree);
                rest = next;
            }
            Ok((tokens.into_iter().collect(), rest))
        })?;
        requires |= predicate.to_string() == "test";
    }
    Ok(requires && input.is_empty())
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

/// Records the files `items` declare as `mod x;`: all of them as the
/// file's children, and those under `#[cfg(test)]` (directly or inside an
/// inline `#[cfg(test)] mod`) as test code.
fn declared_files(file: &Path, items: &[Item], in_test: bool, out: &mut FileResult) {
    for item in items {
        if let Some(body) = macro_items(item) {
            declared_files(file, &body.items, in_test, out);
            continue;
        }
        let Item::Mod(module) = item else { continue };
        let in_test = in_test || is_cfg_test(&module.attrs);
        match &module.content {
            None => {
                let path_attr = path_attribute(&module.attrs);
                if let Some(child) =
                    sources::module_file(file, &module.ident.to_string(), path_attr.as_deref())
                {
                    let child = key_of(&child);
                    if in_test {
                        out.test_children.push(child.clone());
                    }
                    out.children.push(child);
                }
            }
            Some((_, inner)) => {
                let nested = file.with_file_name(format!("{}/mod.rs", module.ident));
                declared_files(&nested, inner, in_test, out);
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

    fn single(source: &str) -> (&'static str, usize, String) {
        let findings = lint(source);
        assert_eq!(findings.len(), 1, "{:?}", rules(&findings));
        let finding = &findings[0];
        (finding.rule, finding.location.line, finding.message.clone())
    }

    #[test]
    fn deep_nesting_is_reported_not_a_stack_overflow() {
        let deep = format!(
            "pub struct Payment {{ pub iban: String }}\nconst X: u8 = 1;\npub struct T {{ pub a: [u8; {}1{}] }}\n",
            "(".repeat(5_000),
            ")".repeat(5_000)
        );
        let (rule, line, message) = single(&deep);
        assert_eq!((rule, line), ("nesting-too-deep", 3));
        assert!(
            message.contains("src/lib.rs") && message.contains("256"),
            "{message}"
        );

        // Each recursion-prone construct in a type, past the bound.
        for construct in [
            format!("{}u8{}", "Option<".repeat(5_000), ">".repeat(5_000)),
            format!("{}u8", "&'a ".repeat(5_000)),
            format!("{}u8", "fn() -> ".repeat(5_000)),
        ] {
            let source = format!("pub struct S {{\n    pub a: {construct},\n}}\n");
            assert_eq!(single(&source).0, "nesting-too-deep");
        }
    }

    #[test]
    fn nesting_just_within_the_bound_is_parsed_and_checked() {
        let n = MAX_NESTING - 8;
        for construct in [
            format!("{}String{}", "Option<".repeat(n), ">".repeat(n)),
            format!("{}String", "&'a ".repeat(n)),
            format!("{}String{}", "(".repeat(n), ",)".repeat(n)),
            format!("{}String{}", "[".repeat(n), "; 1]".repeat(n)),
            format!(
                "{}String{}",
                "Box<dyn Fn(".repeat(n / 2),
                ")>".repeat(n / 2)
            ),
            format!("{}String", "fn() -> ".repeat(n)),
        ] {
            let source = format!("pub struct S {{\n    pub iban: {construct},\n}}\n");
            let (rule, line, _) = single(&source);
            assert_eq!((rule, line), ("unclassified-financial-field", 2));
        }
    }

    #[test]
    fn deep_code_in_bodies_and_values_is_not_parsed() {
        let mut else_if = String::from("if a { 1 }");
        for _ in 0..10_000 {
            else_if.push_str(" else if a { 1 }");
        }
        for code in [
            format!("{}1", "!".repeat(30_000)),
            format!("1{}", " + 1".repeat(30_000)),
            format!("a{}", ".b()".repeat(30_000)),
            format!("{}1", "|| ".repeat(10_000)),
            format!("{}1", "move |a| ".repeat(10_000)),
            else_if,
        ] {
            let source = format!(
                "pub fn f() -> u8 {{ {code} }}\nconst C: u8 = {code};\nstatic S: u8 = {code};\n\
                 #[doc = {code}] pub enum E {{ A = {code}, B }}\npub struct P {{ pub iban: String }}\n"
            );
            let (rule, line, _) = single(&source);
            assert_eq!((rule, line), ("unclassified-financial-field", 5));
        }
    }

    #[test]
    fn left_out_values_keep_the_literals_the_scan_reads() {
        let findings = lint(
            "pub trait T { type A = u8; const X: (u8, u8) = (1, 2); fn f(&self) -> u8 { 1 } }\n\
             pub struct Q<const N: usize = 3> { pub a: [u8; N] }\n\
             pub enum E { A = 1 << 2, B = if true { 1 } else { 2 }, C }\n\
             pub struct P { pub iban: String, pub f: fn(u8) -> u8, pub g: Foo<{ 1 + 2 }> }\n",
        );
        assert_eq!(
            rules(&findings),
            [("unclassified-financial-field", "P::iban")]
        );
    }

    #[test]
    fn generics_joined_to_lifetimes_and_references_are_not_values() {
        // Found on real code: `<'a` and `<&T` lex as joined punctuation.
        let findings = lint(
            "pub struct Drain<'a, K, A: Allocator = Global> { pub inner: &'a K, pub a: A }\n\
             pub fn visit<'de, V>(v: V) where V: Visitor<'de, Value = Content<'de>>, { v.go() }\n\
             pub type Split<'p, P> = Producer<'p, P, true>;\n\
             impl<'a, T: Fn(&'a u8) -> u8> Foo for Bar<&'a T, Item = <T as X>::Y> {}\n\
             pub fn f(a: u8) -> bool where [(); { 1 << 2 }]: Sized { a <= 2 }\n\
             pub struct P { pub iban: String }\n",
        );
        assert_eq!(
            rules(&findings),
            [("unclassified-financial-field", "P::iban")]
        );
    }

    #[test]
    fn items_inside_macro_invocations_are_checked_and_cfg_all_test_is_exempt() {
        let findings = lint(
            "cfg_rt! { pub struct Settlement { pub iban: String } }\n\
             macro_rules! m { () => { pub struct NotAnItem { pub iban: String } } }\n\
             #[cfg(all(test, feature = \"x\"))] mod t { pub struct T { pub iban: String } }\n\
             #[cfg(any(test, feature = \"x\"))] mod u { pub struct U { pub iban: String } }\n",
        );
        assert_eq!(
            rules(&findings),
            [
                ("unclassified-financial-field", "Settlement::iban"),
                ("unclassified-financial-field", "u::U::iban"),
            ]
        );
    }

    #[test]
    fn invalid_source_is_a_finding_not_a_panic() {
        let findings = lint("pub struct {{{ iban");
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].rule, "parse-error");
    }
}
