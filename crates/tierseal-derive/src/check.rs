//! The classification rules, applied to every field at once.

use std::collections::HashMap;

use syn::spanned::Spanned;
use tierseal_classify::LevelName;
use tierseal_classify::attr::{BuiltinMask, Errors, Mask};
use tierseal_classify::lexicon::{self, Match};

use crate::ast::{Container, Field, FieldKind};
use crate::packed::Layout;

/// Resolves each field's kind and reports every rule it breaks.
pub(crate) fn check(container: &mut Container<'_>, errors: &mut Errors) {
    let strict = container.attrs.strict;
    let owner = container.input.ident.to_string();
    for field in &mut container.fields {
        field.kind = resolve(&owner, field, strict, errors);
    }
    check_record_id(container, errors);
    check_unique_ids(container, errors);
    check_masks(container, errors);
    check_indexes(container, errors);
    check_packed(container, errors);
}

/// What a packed type refuses: `reveal_none` (its part seals every field
/// of the tier together, so a `None` cannot stay in clear beside it), and
/// field names the generated parts take.
fn check_packed(container: &Container<'_>, errors: &mut Errors) {
    if !container.attrs.packed {
        return;
    }
    for field in &container.fields {
        if field.attrs.reveal_none && matches!(field.kind, FieldKind::Sealed { .. }) {
            errors.push(
                field.ident.span(),
                format!(
                    "field `{}`: reveal_none is not supported in a #[classified(packed)] type: \
                     its tier's part seals every field of the tier together, `None` included\n\
                     help: remove reveal_none (a `None` is then sealed), or remove `packed`",
                    field.name()
                ),
            );
        }
    }
    for part in Layout::new(container).parts {
        let member = part.member().to_string();
        if let Some(field) = container.fields.iter().find(|f| f.name() == member) {
            errors.push(
                field.ident.span(),
                format!(
                    "field `{member}` has the name of the sealed part of tier `{}` that #[classified(packed)] generates\n\
                     help: rename the field",
                    part.tier_name()
                ),
            );
        }
    }
}

/// Types whose values are too few for a blind index to hide anything: an
/// index over them is a lookup table of the plaintext by frequency.
const LOW_CARDINALITY: &[&str] = &["bool", "u8", "i8", "char", "NonZeroU8", "NonZeroI8"];

/// The name of a type the derive can see to have few values, looking
/// through `Option`, references and tuples (the unit type and tuples of
/// such types count too).
fn low_cardinality(ty: &syn::Type) -> Option<String> {
    match ty {
        syn::Type::Tuple(tuple) => {
            if tuple.elems.is_empty() {
                return Some("()".into());
            }
            tuple
                .elems
                .iter()
                .map(low_cardinality)
                .collect::<Option<Vec<_>>>()
                .map(|names| format!("({})", names.join(", ")))
        }
        syn::Type::Reference(reference) => low_cardinality(&reference.elem),
        syn::Type::Paren(paren) => low_cardinality(&paren.elem),
        syn::Type::Group(group) => low_cardinality(&group.elem),
        syn::Type::Path(path) if path.qself.is_none() => {
            let last = path.path.segments.last()?;
            let name = last.ident.to_string();
            if LOW_CARDINALITY.contains(&name.as_str()) {
                return Some(name);
            }
            if name == "Option"
                && let syn::PathArguments::AngleBracketed(args) = &last.arguments
                && let Some(syn::GenericArgument::Type(inner)) = args.args.first()
            {
                return low_cardinality(inner).map(|inner| format!("Option<{inner}>"));
            }
            None
        }
        _ => None,
    }
}

/// `index` only on sealed fields, never on a type with few values.
fn check_indexes(container: &Container<'_>, errors: &mut Errors) {
    for field in &container.fields {
        let Some(span) = field.attrs.index else {
            continue;
        };
        let name = field.name();
        if !matches!(field.kind, FieldKind::Sealed { .. }) {
            errors.push(
                span,
                format!(
                    "field `{name}`: a blind index applies to sealed fields only (not public, nested or transient ones)"
                ),
            );
            continue;
        }
        if field.attrs.reveal_none {
            errors.push(
                span,
                format!("field `{name}`: index is not supported on reveal_none fields"),
            );
        }
        if let Some(ty) = low_cardinality(field.ty) {
            errors.push(
                field.ty.span(),
                format!(
                    "field `{name}` has type `{ty}`, which has too few values for a blind index: \
                     equal values have equal indexes, so counting them reveals the plaintext\n\
                     help: remove `index`; search on a field with many distinct values"
                ),
            );
        }
    }
}

/// What the lexicon says of a field, with the struct's name as context
/// and the field's type as a signal (the same call the lint makes). The
/// derive cannot read `tierseal.toml`, so every category is an error here,
/// money included: inside a `Classified` struct each field is one
/// attribute away from an explicit decision.
fn financial(owner: &str, field: &Field<'_>) -> Option<Match> {
    lexicon::classify(&lexicon::FieldContext {
        owner,
        names: &[field.name()],
        ty: field.ty,
    })
}

fn resolve(owner: &str, field: &Field<'_>, strict: bool, errors: &mut Errors) -> FieldKind {
    let attrs = &field.attrs;
    let name = field.name();
    let span = field.ident.span();

    if !attrs.tagged {
        if let Some(hit) = financial(owner, field) {
            errors.push(
                span,
                format!(
                    "field `{name}` looks like {} (lexicon rule `{}`, matched `{}`) but is not classified\n\
                     help: add #[classify({})] (or higher), or #[classify(public, reason = \"...\")] if it is not sensitive",
                    hit.description(), hit.rule.id, hit.trigger, hit.min_level()
                ),
            );
        } else if strict {
            errors.push(
                span,
                format!(
                    "#[classified(strict)]: field `{name}` needs #[classify(...)] with a level"
                ),
            );
        }
        return FieldKind::Public;
    }

    if attrs.nested {
        if let Some((_, level_span)) = attrs.level {
            errors.push(
                level_span,
                "a nested field takes its classification from its own type: remove the level",
            );
        }
        if attrs.compartment.is_some()
            || attrs.mask.is_some()
            || attrs.transient
            || attrs.reveal_none
        {
            errors.push(
                span,
                "a nested field accepts no compartment, mask, transient or reveal_none",
            );
        }
        return FieldKind::Nested;
    }

    let Some((level, level_span)) = attrs.level else {
        errors.push(
            span,
            format!("#[classify] on `{name}` needs a level: public, internal, confidential or restricted"),
        );
        return FieldKind::Public;
    };

    let hit = financial(owner, field);
    if let Some(hit) = hit
        .as_ref()
        .filter(|hit| hit.sensitive_authentication_data())
        && !attrs.transient
    {
        errors.push(
            span,
            format!(
                "field `{name}` holds {}; it must not be stored after authorisation\n\
                 help: declare it #[classify(restricted, transient)] so it is never written into the sealed form",
                hit.description()
            ),
        );
    }

    if level == LevelName::Public {
        if attrs.mask.is_some() {
            errors.push(
                span,
                format!("field `{name}` is public: a mask only applies to sealed fields"),
            );
        }
        if attrs.compartment.is_some() || attrs.transient || attrs.reveal_none {
            errors.push(span, format!("field `{name}` is public: compartment, transient and reveal_none need a sealed level"));
        }
        if let Some(hit) = hit
            && attrs.reason.is_none()
        {
            errors.push(
                level_span,
                format!(
                    "field `{name}` looks like {} (lexicon rule `{}`): declaring it public needs a written reason\n\
                     help: #[classify(public, reason = \"why this is not sensitive\")]",
                    hit.description(), hit.rule.id
                ),
            );
        }
        return FieldKind::Public;
    }

    if attrs.reveal_none && !is_option(field.ty) {
        errors.push(
            field.ty.span(),
            "reveal_none applies to `Option<T>` fields only",
        );
    }
    if attrs.transient {
        if level != LevelName::Restricted {
            errors.push(level_span, "a transient field must be restricted");
        }
        return FieldKind::Transient { level };
    }
    FieldKind::Sealed {
        level,
        compartment: attrs.compartment.as_ref().map(syn::LitStr::value),
        mask: attrs.mask.as_ref().map(|(mask, _)| mask.clone()),
    }
}

fn is_option(ty: &syn::Type) -> bool {
    matches!(ty, syn::Type::Path(path) if path.path.segments.last().is_some_and(|s| s.ident == "Option"))
}

fn check_record_id(container: &Container<'_>, errors: &mut Errors) {
    let Some(literal) = &container.attrs.record_id else {
        return;
    };
    match container.record_id_field() {
        None => errors.push(
            literal.span(),
            format!("record_id names `{}`, which is not a field of this struct", literal.value()),
        ),
        Some(field) if !matches!(field.kind, FieldKind::Public) => errors.push(
            literal.span(),
            format!(
                "record_id field `{}` must be public: it is stored in clear to bind every ciphertext to its record",
                literal.value()
            ),
        ),
        Some(_) => {}
    }
}

fn check_unique_ids(container: &Container<'_>, errors: &mut Errors) {
    let mut seen: HashMap<String, &Field<'_>> = HashMap::new();
    for field in &container.fields {
        if let Some(first) = seen.insert(field.id(), field) {
            errors.push(
                field.ident.span(),
                format!(
                    "field id `{}` is used by `{}` too: stable ids must be unique",
                    field.id(),
                    first.name()
                ),
            );
        }
    }
}

/// `reveal_none` fields are `Option`s, which built-in masks cannot show.
fn check_masks(container: &Container<'_>, errors: &mut Errors) {
    for field in &container.fields {
        if let (true, Some((Mask::Builtin(mask), span))) =
            (field.attrs.reveal_none, &field.attrs.mask)
            && *mask != BuiltinMask::None
        {
            errors.push(
                *span,
                "a reveal_none field is an Option: use mask_with to show it",
            );
        }
    }
}
