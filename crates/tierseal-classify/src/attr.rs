//! The attribute grammar.
//!
//! ```text
//! #[classified(record_id = "field", id = "StableTypeId", strict, packed)]
//! #[classify(LEVEL [, compartment = "name"] [, mask = "last4" | mask_with = "path::to::fn"]
//!            [, id = "stable_field_id"] [, reason = "why public"] [, nested]
//!            [, reveal_none] [, transient] [, index] [, index_with = "path::to::fn"])]
//! ```
//!
//! `packed` seals all the fields of one tier of a record in one part
//! (one AES-GCM message per tier) instead of one token per field.
//! `index` gives the sealed form a blind index of the field (a keyed hash
//! of its value, for equality lookups); `index_with` names a normaliser
//! called with `&T` (so `fn(&T) -> String`, or `fn(&str) -> String` for a
//! `String` field by deref coercion) whose output is indexed instead of
//! the value, and implies `index`.
//! Every problem is collected in [`Errors`] with the span of the offending
//! token, so that one compile reports all of them.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Attribute, LitStr, Token};

use crate::LevelName;

/// The name of the container attribute.
pub const CONTAINER: &str = "classified";
/// The name of the field attribute.
pub const FIELD: &str = "classify";

/// The longest compartment name, as in the runtime.
const MAX_COMPARTMENT_LEN: usize = 32;

/// Errors collected while reading attributes.
#[derive(Default)]
pub struct Errors {
    combined: Option<syn::Error>,
}

impl Errors {
    /// Records an error at `span`.
    pub fn push(&mut self, span: Span, message: impl std::fmt::Display) {
        self.add(syn::Error::new(span, message));
    }

    /// Records an error.
    pub fn add(&mut self, error: syn::Error) {
        match &mut self.combined {
            Some(combined) => combined.combine(error),
            None => self.combined = Some(error),
        }
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.combined.is_none()
    }

    /// `Ok(())` when nothing was recorded, else every error combined.
    ///
    /// # Errors
    /// The combined errors.
    pub fn finish(self) -> syn::Result<()> {
        self.combined.map_or(Ok(()), Err)
    }
}

/// `#[classified(...)]` on a struct.
#[derive(Default)]
pub struct ContainerAttrs {
    /// The field whose value is bound into every ciphertext as record id.
    pub record_id: Option<LitStr>,
    /// A stable type id bound into ciphertexts (defaults to the type name).
    pub id: Option<LitStr>,
    /// Every field must carry `#[classify]`.
    pub strict: bool,
    /// Seal the fields of each tier together, in one packed part per tier.
    pub packed: bool,
}

/// A built-in mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuiltinMask {
    /// Only the last four characters: `************1111`.
    Last4,
    /// PCI DSS: the first six (BIN) and last four: `411111******1111`.
    First6Last4,
    /// `j***@example.com`.
    Email,
    /// Nothing in clear (the default).
    None,
}

impl BuiltinMask {
    /// Every built-in mask with its name.
    pub const ALL: [(&'static str, BuiltinMask); 4] = [
        ("last4", BuiltinMask::Last4),
        ("first6last4", BuiltinMask::First6Last4),
        ("email", BuiltinMask::Email),
        ("none", BuiltinMask::None),
    ];

    /// The name as written.
    pub fn name(self) -> &'static str {
        BuiltinMask::ALL
            .iter()
            .find(|(_, mask)| *mask == self)
            .map_or("none", |(name, _)| name)
    }
}

/// How a withheld field is shown.
#[derive(Clone)]
pub enum Mask {
    /// A built-in mask.
    Builtin(BuiltinMask),
    /// `mask_with = "path"`: a function `fn(&T) -> String`.
    With(syn::Path),
}

/// `#[classify(...)]` on a field.
#[derive(Default)]
pub struct FieldAttrs {
    /// Whether the field carries `#[classify]` at all.
    pub tagged: bool,
    /// The declared level, with its span.
    pub level: Option<(LevelName, Span)>,
    /// The need-to-know compartment.
    pub compartment: Option<LitStr>,
    /// The mask shown when withheld.
    pub mask: Option<(Mask, Span)>,
    /// The stable field id (defaults to the field name).
    pub id: Option<LitStr>,
    /// Why a field the lexicon flags is public.
    pub reason: Option<LitStr>,
    /// The field's type derives `Classified`: seal it as a nested record.
    pub nested: bool,
    /// `None` is stored in clear (presence visible) instead of sealed.
    pub reveal_none: bool,
    /// Sensitive authentication data used during processing only: never
    /// written into the sealed form.
    pub transient: bool,
    /// `index` or `index_with`: the sealed form carries a blind index of
    /// the field. The span of the first of them.
    pub index: Option<Span>,
    /// `index_with = "path"`: a normaliser `fn(&T) -> String`.
    pub index_with: Option<syn::Path>,
}

/// Reads `#[classified(...)]`.
pub fn parse_container(attrs: &[Attribute], errors: &mut Errors) -> ContainerAttrs {
    let mut out = ContainerAttrs::default();
    for attr in attrs.iter().filter(|attr| attr.path().is_ident(CONTAINER)) {
        let result = attr.parse_nested_meta(|meta| {
            let key = meta
                .path
                .get_ident()
                .map(ToString::to_string)
                .unwrap_or_default();
            match key.as_str() {
                "record_id" => set_once(
                    &mut out.record_id,
                    meta.value()?.parse()?,
                    &meta,
                    errors,
                    CONTAINER,
                ),
                "id" => set_once(
                    &mut out.id,
                    meta.value()?.parse()?,
                    &meta,
                    errors,
                    CONTAINER,
                ),
                "strict" => set_flag(&mut out.strict, &meta, errors, CONTAINER),
                "packed" => set_flag(&mut out.packed, &meta, errors, CONTAINER),
                _ => unknown(&meta, errors, CONTAINER)?,
            }
            Ok(())
        });
        if let Err(error) = result {
            errors.add(error);
        }
    }
    out
}

/// Reads `#[classify(...)]` of one field.
pub fn parse_field(attrs: &[Attribute], errors: &mut Errors) -> FieldAttrs {
    let mut out = FieldAttrs::default();
    for attr in attrs.iter().filter(|attr| attr.path().is_ident(FIELD)) {
        if out.tagged {
            errors.push(
                attr.span(),
                "duplicate #[classify] attribute: merge them into one",
            );
        }
        out.tagged = true;
        let result = attr.parse_nested_meta(|meta| {
            let key = meta.path.get_ident().map(ToString::to_string).unwrap_or_default();
            if let Some(level) = LevelName::parse(&key) {
                if let Some((_, first)) = out.level {
                    let mut error = syn::Error::new(meta.path.span(), "a field has exactly one level");
                    error.combine(syn::Error::new(first, "first level here"));
                    errors.add(error);
                } else {
                    out.level = Some((level, meta.path.span()));
                }
                return Ok(());
            }
            match key.as_str() {
                "compartment" => {
                    let value: LitStr = meta.value()?.parse()?;
                    if let Err(reason) = check_compartment(&value.value()) {
                        errors.push(value.span(), format!("invalid compartment `{}`: {reason}", value.value()));
                    }
                    set_once(&mut out.compartment, value, &meta, errors, FIELD);
                }
                "mask" => {
                    let value: LitStr = meta.value()?.parse()?;
                    let builtin = BuiltinMask::ALL.iter().find(|(name, _)| *name == value.value());
                    match builtin {
                        Some((_, mask)) => set_mask(&mut out.mask, Mask::Builtin(*mask), value.span(), errors),
                        None => errors.push(
                            value.span(),
                            format!(
                                "unknown mask `{}`: expected last4, first6last4, email or none (or mask_with = \"path::to::fn\")",
                                value.value()
                            ),
                        ),
                    }
                }
                "mask_with" => {
                    let value: LitStr = meta.value()?.parse()?;
                    match value.parse::<syn::Path>() {
                        Ok(path) => set_mask(&mut out.mask, Mask::With(path), value.span(), errors),
                        Err(_) => errors.push(value.span(), "mask_with expects a path to a function, e.g. \"crate::masks::iban\""),
                    }
                }
                "id" => {
                    let value: LitStr = meta.value()?.parse()?;
                    if value.value().is_empty() {
                        errors.push(value.span(), "a field id cannot be empty");
                    }
                    set_once(&mut out.id, value, &meta, errors, FIELD);
                }
                "reason" => {
                    let value: LitStr = meta.value()?.parse()?;
                    if value.value().trim().is_empty() {
                        errors.push(value.span(), "a reason cannot be empty: say why this field is safe to keep in clear");
                    }
                    set_once(&mut out.reason, value, &meta, errors, FIELD);
                }
                "nested" => set_flag(&mut out.nested, &meta, errors, FIELD),
                "reveal_none" => set_flag(&mut out.reveal_none, &meta, errors, FIELD),
                "transient" => set_flag(&mut out.transient, &meta, errors, FIELD),
                "index" => {
                    if out.index.is_some() && out.index_with.is_none() {
                        errors.push(meta.path.span(), "duplicate classify attribute `index`");
                    }
                    out.index.get_or_insert(meta.path.span());
                }
                "index_with" => {
                    let value: LitStr = meta.value()?.parse()?;
                    if out.index_with.is_some() {
                        errors.push(value.span(), "duplicate classify attribute `index_with`");
                    }
                    match value.parse::<syn::Path>() {
                        Ok(path) => {
                            out.index_with = Some(path);
                            out.index.get_or_insert(value.span());
                        }
                        Err(_) => errors.push(value.span(), "index_with expects a path to a function, e.g. \"crate::normalise::iban\""),
                    }
                }
                _ => unknown(&meta, errors, FIELD)?,
            }
            Ok(())
        });
        if let Err(error) = result {
            errors.add(error);
        }
    }
    out
}

fn set_once(
    slot: &mut Option<LitStr>,
    value: LitStr,
    meta: &syn::meta::ParseNestedMeta<'_>,
    errors: &mut Errors,
    attr: &str,
) {
    if slot.is_some() {
        errors.push(
            meta.path.span(),
            format!("duplicate {attr} attribute `{}`", path_name(&meta.path)),
        );
    } else {
        *slot = Some(value);
    }
}

fn set_flag(
    flag: &mut bool,
    meta: &syn::meta::ParseNestedMeta<'_>,
    errors: &mut Errors,
    attr: &str,
) {
    if *flag {
        errors.push(
            meta.path.span(),
            format!("duplicate {attr} attribute `{}`", path_name(&meta.path)),
        );
    }
    *flag = true;
}

fn set_mask(slot: &mut Option<(Mask, Span)>, mask: Mask, span: Span, errors: &mut Errors) {
    if slot.is_some() {
        errors.push(
            span,
            "duplicate classify attribute `mask`: a field has one mask (mask or mask_with)",
        );
    } else {
        *slot = Some((mask, span));
    }
}

/// Reports an unknown key and skips its value, so parsing goes on.
fn unknown(
    meta: &syn::meta::ParseNestedMeta<'_>,
    errors: &mut Errors,
    attr: &str,
) -> syn::Result<()> {
    errors.push(
        meta.path.span(),
        format!("unknown {attr} attribute `{}`", path_name(&meta.path)),
    );
    if meta.input.peek(Token![=]) {
        let _: syn::Expr = meta.value()?.parse()?;
    } else if meta.input.peek(syn::token::Paren) {
        let _ = meta.parse_nested_meta(|inner| {
            if inner.input.peek(Token![=]) {
                let _: syn::Expr = inner.value()?.parse()?;
            }
            Ok(())
        });
    }
    Ok(())
}

fn path_name(path: &syn::Path) -> String {
    path.segments
        .iter()
        .map(|segment| segment.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}

/// Checks a compartment name as the runtime's `Tier` does.
///
/// # Errors
/// What is wrong with the name.
pub fn check_compartment(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("the name is empty");
    }
    if name.len() > MAX_COMPARTMENT_LEN {
        return Err("longer than 32 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err("use only a-z, 0-9 and '-'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(tokens: &str) -> (FieldAttrs, Errors) {
        let item: syn::ItemStruct =
            syn::parse_str(&format!("struct S {{ {tokens} x: u8 }}")).unwrap();
        let syn::Fields::Named(fields) = item.fields else {
            unreachable!()
        };
        let mut errors = Errors::default();
        let attrs = parse_field(&fields.named[0].attrs, &mut errors);
        (attrs, errors)
    }

    #[test]
    fn reads_a_full_field_attribute() {
        let (attrs, errors) =
            field(r#"#[classify(restricted, compartment = "cards", mask = "last4", id = "pan")]"#);
        assert!(errors.is_empty());
        assert_eq!(attrs.level.map(|l| l.0), Some(LevelName::Restricted));
        assert_eq!(attrs.compartment.unwrap().value(), "cards");
        assert!(matches!(
            attrs.mask,
            Some((Mask::Builtin(BuiltinMask::Last4), _))
        ));
        assert_eq!(attrs.id.unwrap().value(), "pan");
    }

    #[test]
    fn collects_every_error() {
        let (_, errors) = field(
            r#"#[classify(secret, foo = "x", mask = "blur", compartment = "Bad", internal, internal)]"#,
        );
        let message = errors
            .finish()
            .unwrap_err()
            .into_iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>();
        assert!(
            message
                .iter()
                .any(|m| m == "unknown classify attribute `secret`"),
            "{message:?}"
        );
        assert!(
            message
                .iter()
                .any(|m| m == "unknown classify attribute `foo`"),
            "{message:?}"
        );
        assert!(
            message.iter().any(|m| m.starts_with("unknown mask `blur`")),
            "{message:?}"
        );
        assert!(
            message
                .iter()
                .any(|m| m.starts_with("invalid compartment `Bad`")),
            "{message:?}"
        );
        assert!(
            message.iter().any(|m| m == "a field has exactly one level"),
            "{message:?}"
        );
    }

    #[test]
    fn reads_index_and_index_with() {
        let (attrs, errors) = field(r#"#[classify(restricted, index)]"#);
        assert!(errors.is_empty());
        assert!(attrs.index.is_some());
        assert!(attrs.index_with.is_none());
        let (attrs, errors) = field(r#"#[classify(restricted, index_with = "norm::iban")]"#);
        assert!(errors.is_empty());
        assert!(attrs.index.is_some());
        assert_eq!(path_name(&attrs.index_with.unwrap()), "norm::iban");
        let (_, errors) = field(r#"#[classify(restricted, index_with = "not a path")]"#);
        let message = errors.finish().unwrap_err().to_string();
        assert!(message.contains("index_with expects a path"), "{message}");
        let (_, errors) = field(r#"#[classify(restricted, index, index)]"#);
        assert!(!errors.is_empty());
        let (attrs, errors) = field(r#"#[classify(restricted)]"#);
        assert!(errors.is_empty());
        assert!(attrs.index.is_none());
    }

    #[test]
    fn untagged_fields_are_not_tagged() {
        let (attrs, errors) = field("#[serde(rename = \"y\")]");
        assert!(errors.is_empty());
        assert!(!attrs.tagged);
    }
}
