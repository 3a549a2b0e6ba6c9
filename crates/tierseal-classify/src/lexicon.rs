//! The financial lexicon: field names and types that look like financial
//! data, by category.
//!
//! A field name is split into lowercase words (`card_number`,
//! `cardNumber` and `CardNumber` all give `card number`). A rule matches
//! when one of its word runs appears in the name **and only neutral words
//! follow it**: the last words of an English compound say what the thing
//! is, so `card_number` is a card number but `card_number_length`,
//! `pan_entry_mode` and `cvv2_verification_code` are not. Words after the
//! run that say the value is masked (`iban_last4`, `card_number_masked`),
//! or a mask word before it (`masked_pan`), make it the masked form, whose
//! minimum level is [`MASKED_LEVEL`].
//!
//! The field's type is a signal both ways:
//! * every type name in it — wrappers' generic arguments included, so
//!   `Secret<String, CardNumberStrategy>` and `cards::CardNumber` — is
//!   matched like a name, and a hit there classifies the field;
//! * otherwise a field whose outer type (through `Option`, `Vec`, `Box`,
//!   `Rc`, `Arc` and references) is a `bool`, a currency, a percentage, a
//!   ratio or rate, a timestamp, or an enum of codes (`...Type`, `...Kind`,
//!   `...Status`, `...Code`, `...Network`, ...) is not the data, whatever
//!   its name says.
//!
//! Some names are data only inside a type of the right kind: a bare
//! `number` or `expiry_date` in a `Card`, a BIC in a bank account or
//! beneficiary. The owner type's name is that context.

mod rules;

pub use rules::RULES;

use crate::{Category, LevelName};

/// One rule of the lexicon.
#[derive(Debug)]
pub struct Rule {
    /// A stable id, used in diagnostics, allow-lists and SARIF.
    pub id: &'static str,
    /// What the rule recognises.
    pub description: &'static str,
    /// The kind of data: severities are set per category.
    pub category: Category,
    /// Word runs that name the data wherever they stand.
    pub names: &'static [&'static [&'static str]],
    /// Word runs that name the data only in a type whose name has one of
    /// the [`context`](Self::context) words.
    pub context_names: &'static [&'static [&'static str]],
    /// Words of the owner type's name that enable
    /// [`context_names`](Self::context_names).
    pub context: &'static [&'static str],
    /// Words that, right before a run, give it another meaning
    /// (`ssl_pin`, `session_expiry`).
    pub not_after: &'static [&'static str],
    /// Words this rule accepts after a run, besides the neutral ones
    /// (`amount_captured`).
    pub suffixes: &'static [&'static str],
    /// Word runs that trigger in type names only (`MinorUnit`).
    pub types: &'static [&'static [&'static str]],
    /// The lowest level the full value may be classified at.
    pub min_level: LevelName,
    /// PCI DSS sensitive authentication data: must never be stored after
    /// authorisation, so it may only be declared `transient`.
    pub sensitive_authentication_data: bool,
    /// The false-positive guards, for the documentation.
    pub guards: &'static str,
}

/// The minimum level of a value stored only in masked form (`last4`,
/// `masked_iban`): a mask shows what an internal reader may see.
pub const MASKED_LEVEL: LevelName = LevelName::Internal;

/// Words that may follow a rule's run without changing what it names.
const NEUTRAL: &[&str] = &[
    "value",
    "data",
    "raw",
    "plain",
    "plaintext",
    "clear",
    "full",
    "str",
    "string",
    "text",
    "encrypted",
    "enc",
    "ciphertext",
    "secret",
    "digits",
    "number",
    "no",
    "num",
    "nr",
    "amount",
    "amt",
    "cents",
    "minor",
    "major",
    "units",
    "1",
    "2",
    "primary",
    "secondary",
    "original",
    "new",
    "old",
    "current",
];

/// Word runs after a rule's run that make it the masked form.
const MASKED_AFTER: &[&[&str]] = &[
    &["masked"],
    &["mask"],
    &["last4"],
    &["last", "4"],
    &["last", "four"],
    &["lastfour"],
    &["truncated"],
    &["redacted"],
    &["obfuscated"],
];

/// Names that are only a mask (`last4`, `last_four_digits`).
const MASK_NAMES: &[&[&str]] = &[&["last4"], &["last", "4"], &["last", "four"], &["lastfour"]];

/// Owner words that make a bare `last4` the masked form of a bank account
/// number rather than of a card number (unless the owner is a card).
const BANK_OWNER_WORDS: &[&str] = &[
    "bank", "account", "iban", "sepa", "ach", "acss", "becs", "bacs", "debit", "transfer",
];

/// Words before a rule's run that make it the masked form.
const MASKED_BEFORE: &[&str] = &["masked", "truncated", "redacted", "obfuscated", "partial"];

/// First words that make a name a flag or an action, not a value
/// (`is_iban_valid`, `has_balance`, `enable_cvv`).
const PREDICATES: &[&str] = &[
    "is", "has", "have", "should", "can", "allow", "enable", "enabled", "disable", "disabled",
    "require", "requires", "supports", "skip", "needs", "cache", "show", "hide", "validate",
    "verify", "check", "collect",
];

/// Last words of an outer type name that make it a code, a kind or a
/// reference rather than the data (`CardNetwork`, `TaxIdType`).
const CODE_TYPE_HEADS: &[&str] = &[
    "type",
    "kind",
    "status",
    "state",
    "mode",
    "method",
    "network",
    "brand",
    "scheme",
    "indicator",
    "result",
    "response",
    "flag",
    "flags",
    "category",
    "format",
    "action",
    "reason",
    "capability",
    "preference",
    "channel",
    "code",
    "level",
    "version",
    "outcome",
    "purpose",
    "decision",
    "enum",
    "check",
    "checks",
    "id",
    "ids",
    "config",
    "configuration",
    "settings",
    "limit",
    "limits",
];

/// Last words of an owner type whose money amounts are configuration
/// (`SpendingLimits`, `TaxRate`, `PriceTier`), not amounts that moved.
const CONFIGURATION_OWNERS: &[&str] = &[
    "limit",
    "limits",
    "threshold",
    "thresholds",
    "tier",
    "tiers",
    "rate",
    "rates",
    "config",
    "configuration",
    "settings",
];

/// Outer types that are never the data: booleans, currencies, fractions
/// and points in time.
const NEVER_DATA_TYPES: &[&str] = &[
    "bool",
    "currency",
    "iso4217",
    "percent",
    "percentage",
    "ratio",
    "rate",
    "bps",
    "duration",
    "instant",
    "datetime",
    "primitivedatetime",
    "offsetdatetime",
    "systemtime",
    "timestamp",
    "time",
];

/// Why a field matched.
#[derive(Clone, Debug)]
pub struct Match {
    /// The rule that matched.
    pub rule: &'static Rule,
    /// The words or type name that triggered it, for the message.
    pub trigger: String,
    /// Whether the field holds only a masked form of the data.
    pub masked: bool,
}

impl Match {
    /// The lowest level the field may be classified at: the rule's, or
    /// [`MASKED_LEVEL`] for a masked form.
    pub fn min_level(&self) -> LevelName {
        if self.masked {
            self.rule.min_level.min(MASKED_LEVEL)
        } else {
            self.rule.min_level
        }
    }

    /// Whether the field is PCI DSS sensitive authentication data (a
    /// masked form never is).
    pub fn sensitive_authentication_data(&self) -> bool {
        self.rule.sensitive_authentication_data && !self.masked
    }

    /// What the field looks like, for messages.
    pub fn description(&self) -> String {
        if self.masked {
            format!("the masked form of {}", self.rule.description)
        } else {
            self.rule.description.to_owned()
        }
    }
}

/// The field being judged: the type that holds it, the names it goes by
/// and its type.
#[derive(Clone, Copy)]
pub struct FieldContext<'a> {
    /// The owner's name: `Card`, or `PaymentMethod::Card` for an enum
    /// variant. Only its words are used, as context.
    pub owner: &'a str,
    /// The field's name, then any serialised names (`serde(rename)`).
    pub names: &'a [String],
    /// The field's type.
    pub ty: &'a syn::Type,
}

/// What the lexicon says of a field: a type hit, else a name hit unless
/// the type says the field is not the data.
pub fn classify(field: &FieldContext<'_>) -> Option<Match> {
    let signals = TypeSignals::of(field.ty);
    if signals.never_data {
        return None;
    }
    let owner = split_words(field.owner);
    let configuration = owner
        .last()
        .is_some_and(|head| CONFIGURATION_OWNERS.contains(&head.as_str()));
    // A limit, tier or rate's amounts are configuration, not money that
    // changed hands; stronger categories still apply.
    classify_in(field, &owner, signals)
        .filter(|hit| !(configuration && hit.rule.category == Category::Money))
}

fn classify_in(field: &FieldContext<'_>, owner: &[String], signals: TypeSignals) -> Option<Match> {
    let by_name = || {
        field
            .names
            .iter()
            .find_map(|name| match_words_in(&split_words(name), owner))
    };
    if let Some(by_type) = signals.hit {
        // A type names the data more reliably than a name
        // (`cardholder_account_number: CardNumber` is a PAN), except a
        // money type, which the name makes precise (`loan_amount:
        // MinorUnit` is a loan).
        if by_type.rule.category != Category::Money {
            return Some(by_type);
        }
        if field.names.iter().any(|name| names_a_fraction(name)) {
            return None;
        }
        return by_name()
            .filter(|name| name.rule.category != Category::Money)
            .or(Some(by_type));
    }
    if signals.code {
        return None;
    }
    by_name()
}

/// Whether a name says its value is a fraction or a count, whatever its
/// type (`interest_percentage: MinorUnit`).
fn names_a_fraction(name: &str) -> bool {
    split_words(name).last().is_some_and(|head| {
        matches!(
            head.as_str(),
            "percentage"
                | "percent"
                | "pct"
                | "rate"
                | "ratio"
                | "bps"
                | "count"
                | "type"
                | "currency"
        )
    })
}

/// The rule a field name triggers with no owner context, if any.
pub fn match_name(name: &str) -> Option<Match> {
    match_words(&split_words(name))
}

/// The rule a name already split into lowercase words triggers with no
/// owner context, if any.
pub fn match_words(words: &[String]) -> Option<Match> {
    match_words_in(words, &[])
}

/// The rule a name split into words triggers inside an owner whose name
/// split into `owner` words.
pub fn match_words_in(words: &[String], owner: &[String]) -> Option<Match> {
    if words.len() > 1
        && words
            .first()
            .is_some_and(|w| PREDICATES.contains(&w.as_str()))
    {
        return None;
    }
    RULES
        .iter()
        .find_map(|rule| match_rule(rule, words, owner, Mode::Name))
        .or_else(|| masked_only(words, owner))
}

/// Whether `pattern` appears in `words` as a run of adjacent words.
pub fn contains_run(words: &[String], pattern: &[impl AsRef<str>]) -> bool {
    !pattern.is_empty()
        && words.windows(pattern.len()).any(|window| {
            window
                .iter()
                .zip(pattern)
                .all(|(word, want)| word == want.as_ref())
        })
}

/// The rule a type triggers, if any: every type name in it, generic
/// arguments included, matched like a field name.
pub fn match_type(ty: &syn::Type) -> Option<Match> {
    TypeSignals::of(ty).hit
}

/// The name a type is matched by in project rules: its last path
/// segment, looking through `Option`, `Vec`, `Box`, `Rc`, `Arc`,
/// references and parentheses.
pub fn type_name(ty: &syn::Type) -> Option<String> {
    let segment = outer_segment(ty)?;
    Some(segment.ident.to_string())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Name,
    Type,
}

fn match_rule(
    rule: &'static Rule,
    words: &[String],
    owner: &[String],
    mode: Mode,
) -> Option<Match> {
    let in_context = rule
        .context
        .iter()
        .any(|c| owner.iter().any(|w| is_word(w, c)));
    let contextual = if in_context && mode == Mode::Name {
        rule.context_names
    } else {
        &[]
    };
    let patterns: &[&[&str]] = match mode {
        Mode::Name => rule.names,
        Mode::Type => rule.types,
    };
    let patterns = patterns.iter().chain(contextual);
    for pattern in patterns {
        let needs_context = contextual.contains(pattern);
        for start in occurrences(words, pattern) {
            let Some((before, from)) = words.split_at_checked(start) else {
                continue;
            };
            let Some((_, after)) = from.split_at_checked(pattern.len()) else {
                continue;
            };
            if before
                .last()
                .is_some_and(|w| rule.not_after.contains(&w.as_str()))
            {
                continue;
            }
            // A context-only run stands alone or after context words
            // (`beneficiary_bic`), never after others (`nick_name`).
            if needs_context
                && !before
                    .iter()
                    .all(|w| rule.context.iter().any(|c| is_word(w, c)))
            {
                continue;
            }
            let Some(masked_after) = tail(rule, after, mode) else {
                continue;
            };
            let masked_before = before.iter().any(|w| MASKED_BEFORE.contains(&w.as_str()));
            return Some(Match {
                rule,
                trigger: pattern.join(" "),
                masked: masked_after || masked_before,
            });
        }
    }
    None
}

/// Judges the words after a run: `Some(false)` when they are neutral,
/// `Some(true)` when they say the value is masked, `None` when they make
/// it something else (`card_number_length`).
fn tail(rule: &Rule, rest: &[String], mode: Mode) -> Option<bool> {
    let neutral = |w: &String| {
        NEUTRAL.contains(&w.as_str())
            || rule.suffixes.contains(&w.as_str())
            || (mode == Mode::Type && w == "strategy")
    };
    let (masked, rest) = match MASKED_AFTER.iter().find_map(|mask| strip_run(rest, mask)) {
        Some(after_mask) => (true, after_mask),
        None => (false, rest),
    };
    rest.iter().all(neutral).then_some(masked)
}

/// `words` without the leading `run`, if it starts with it.
fn strip_run<'w>(words: &'w [String], run: &[&str]) -> Option<&'w [String]> {
    let (head, rest) = words.split_at_checked(run.len())?;
    head.iter().zip(run).all(|(w, r)| w == r).then_some(rest)
}

/// A name that is only a mask (`last4`, `last_four_digits`,
/// `card_last4`): the masked form of a card number, or of an account
/// number inside a bank type.
fn masked_only(words: &[String], owner: &[String]) -> Option<Match> {
    let rest = match words.split_first() {
        Some((first, rest)) if matches!(first.as_str(), "card" | "account" | "acct" | "bank") => {
            rest
        }
        _ => words,
    };
    let (mask, after) = MASK_NAMES
        .iter()
        .find_map(|mask| strip_run(rest, mask).map(|after| (mask, after)))?;
    if !after.iter().all(|w| NEUTRAL.contains(&w.as_str())) {
        return None;
    }
    let bank = words
        .first()
        .is_some_and(|w| matches!(w.as_str(), "account" | "acct" | "bank"))
        || (!owner.iter().any(|w| is_word(w, "card"))
            && owner.iter().any(|w| BANK_OWNER_WORDS.contains(&w.as_str())));
    let id = if bank {
        "account-number"
    } else {
        "card-number"
    };
    let rule = RULES.iter().find(|rule| rule.id == id)?;
    Some(Match {
        rule,
        trigger: mask.join(" "),
        masked: true,
    })
}

/// Where `pattern` starts in `words`; the last word of the pattern may be
/// plural (`ibans`, `balances`).
fn occurrences<'w>(
    words: &'w [String],
    pattern: &'w [&'static str],
) -> impl Iterator<Item = usize> + 'w {
    let last = pattern.len().saturating_sub(1);
    words
        .windows(pattern.len().max(1))
        .enumerate()
        .filter(move |(_, window)| {
            !pattern.is_empty()
                && window
                    .iter()
                    .zip(pattern)
                    .enumerate()
                    .all(|(i, (word, want))| {
                        if i == last {
                            is_word(word, want)
                        } else {
                            word == want
                        }
                    })
        })
        .map(|(start, _)| start)
}

/// `word` is `want` or its plural. Ids are an exception: a list of ids
/// (`account_tax_ids`) holds references to records, not the values.
fn is_word(word: &str, want: &str) -> bool {
    word == want
        || (want != "id"
            && word
                .strip_prefix(want)
                .is_some_and(|rest| rest == "s" || rest == "es"))
}

/// What a field's type says.
#[derive(Default)]
struct TypeSignals {
    /// A type name in it names the data (`CardNumber`, `CardNumberStrategy`).
    hit: Option<Match>,
    /// The outer type is never the data (`bool`, `Currency`, `Percentage`).
    never_data: bool,
    /// The outer type is a code, kind or reference (`CardNetwork`).
    code: bool,
}

impl TypeSignals {
    fn of(ty: &syn::Type) -> TypeSignals {
        let mut signals = TypeSignals::default();
        if let Some(outer) = outer_segment(ty) {
            let words = split_words(&outer.ident.to_string());
            let head = words.last().map_or("", String::as_str);
            signals.never_data = words.iter().any(|w| w == "currency" || w == "iso4217")
                || NEVER_DATA_TYPES.contains(&head);
            signals.code = CODE_TYPE_HEADS.contains(&head);
        }
        let mut names = Vec::new();
        type_names(ty, &mut names);
        signals.hit = names.iter().find_map(|name| {
            let words = split_words(name);
            RULES
                .iter()
                .find_map(|rule| match_rule(rule, &words, &[], Mode::Type))
                .map(|hit| Match {
                    trigger: name.clone(),
                    ..hit
                })
        });
        signals
    }
}

/// The last path segment of a type, through `Option`, `Vec`, `Box`,
/// `Rc`, `Arc`, references, parentheses and groups.
fn outer_segment(ty: &syn::Type) -> Option<&syn::PathSegment> {
    match ty {
        syn::Type::Reference(reference) => outer_segment(&reference.elem),
        syn::Type::Paren(paren) => outer_segment(&paren.elem),
        syn::Type::Group(group) => outer_segment(&group.elem),
        syn::Type::Path(path) => {
            let last = path.path.segments.last()?;
            if matches!(
                last.ident.to_string().as_str(),
                "Option" | "Vec" | "Box" | "Rc" | "Arc"
            ) && let syn::PathArguments::AngleBracketed(args) = &last.arguments
                && let Some(inner) = args.args.iter().find_map(|arg| match arg {
                    syn::GenericArgument::Type(inner) => Some(inner),
                    _ => None,
                })
            {
                return outer_segment(inner);
            }
            Some(last)
        }
        _ => None,
    }
}

/// Every type name in `ty`, outermost first: the last segment of each
/// path and, recursively, of its generic arguments (`Secret<String,
/// CardNumberStrategy>` gives `Secret`, `String`, `CardNumberStrategy`).
fn type_names(ty: &syn::Type, out: &mut Vec<String>) {
    match ty {
        syn::Type::Reference(inner) => type_names(&inner.elem, out),
        syn::Type::Paren(inner) => type_names(&inner.elem, out),
        syn::Type::Group(inner) => type_names(&inner.elem, out),
        syn::Type::Array(inner) => type_names(&inner.elem, out),
        syn::Type::Slice(inner) => type_names(&inner.elem, out),
        syn::Type::Ptr(inner) => type_names(&inner.elem, out),
        syn::Type::Tuple(tuple) => tuple.elems.iter().for_each(|t| type_names(t, out)),
        syn::Type::Path(path) => {
            let Some(last) = path.path.segments.last() else {
                return;
            };
            out.push(last.ident.to_string());
            if let syn::PathArguments::AngleBracketed(args) = &last.arguments {
                for arg in &args.args {
                    if let syn::GenericArgument::Type(inner) = arg {
                        type_names(inner, out);
                    }
                }
            }
        }
        _ => {}
    }
}

/// Splits an identifier into lowercase words: `accountNumber`,
/// `account_number`, `AccountNumber` and `ACCOUNT_NUMBER` all give
/// `["account", "number"]`; a raw-identifier prefix `r#` is dropped.
pub fn split_words(name: &str) -> Vec<String> {
    let name = name.strip_prefix("r#").unwrap_or(name);
    let mut words = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            continue;
        }
        let prev = i.checked_sub(1).and_then(|p| chars.get(p)).copied();
        let next = chars.get(i + 1).copied();
        let boundary = c.is_uppercase()
            && prev.is_some_and(|p| {
                p.is_lowercase()
                    || p.is_numeric()
                    || (p.is_uppercase() && next.is_some_and(char::is_lowercase))
            });
        if boundary && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        current.extend(c.to_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

#[cfg(test)]
mod tests;
