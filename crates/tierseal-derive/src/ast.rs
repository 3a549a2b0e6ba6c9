//! The struct being derived, as read from its tokens and attributes.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, Ident, Type, Visibility};
use tierseal_classify::LevelName;
use tierseal_classify::attr::{self, ContainerAttrs, Errors, FieldAttrs, Mask};

/// A struct with named fields and its classification.
pub(crate) struct Container<'a> {
    pub(crate) input: &'a DeriveInput,
    pub(crate) attrs: ContainerAttrs,
    pub(crate) fields: Vec<Field<'a>>,
}

/// One field.
pub(crate) struct Field<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) ty: &'a Type,
    pub(crate) vis: &'a Visibility,
    pub(crate) attrs: FieldAttrs,
    /// Resolved by [`crate::check`].
    pub(crate) kind: FieldKind,
}

/// What the derive does with a field.
#[derive(Clone)]
pub(crate) enum FieldKind {
    /// Stored in clear.
    Public,
    /// Sealed at a tier.
    Sealed {
        level: LevelName,
        compartment: Option<String>,
        mask: Option<Mask>,
    },
    /// A nested classified record.
    Nested,
    /// Used in processing only; never written into the sealed form.
    Transient { level: LevelName },
}

impl Field<'_> {
    /// The stable id bound into the ciphertext.
    pub(crate) fn id(&self) -> String {
        self.attrs
            .id
            .as_ref()
            .map_or_else(|| self.name(), syn::LitStr::value)
    }

    /// The field name without a raw-identifier prefix.
    pub(crate) fn name(&self) -> String {
        let name = self.ident.to_string();
        name.strip_prefix("r#").map(str::to_owned).unwrap_or(name)
    }

    /// The level the field's kind implies (public for public and nested).
    pub(crate) fn level(&self) -> LevelName {
        match &self.kind {
            FieldKind::Sealed { level, .. } | FieldKind::Transient { level } => *level,
            FieldKind::Public | FieldKind::Nested => LevelName::Public,
        }
    }
}

impl<'a> Container<'a> {
    /// Reads the struct; structural problems are fatal, attribute problems
    /// are collected in `errors`.
    pub(crate) fn from_input(
        input: &'a DeriveInput,
        errors: &mut Errors,
    ) -> syn::Result<Container<'a>> {
        let fields = match &input.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(named) => &named.named,
                Fields::Unnamed(_) | Fields::Unit => {
                    return Err(unsupported(input.ident.span(), "tuple and unit structs"));
                }
            },
            Data::Enum(data) => return Err(unsupported(data.enum_token.span(), "enums")),
            Data::Union(data) => return Err(unsupported(data.union_token.span(), "unions")),
        };
        if let Some(lifetime) = input.generics.lifetimes().next() {
            errors.push(
                lifetime.span(),
                "#[derive(Classified)] does not support lifetime parameters: the sealed form owns its data",
            );
        }
        let attrs = attr::parse_container(&input.attrs, errors);
        let fields = fields
            .iter()
            .filter_map(|field| {
                let ident = field.ident.as_ref()?;
                Some(Field {
                    ident,
                    ty: &field.ty,
                    vis: &field.vis,
                    attrs: attr::parse_field(&field.attrs, errors),
                    kind: FieldKind::Public,
                })
            })
            .collect();
        Ok(Container {
            input,
            attrs,
            fields,
        })
    }

    /// The stable type id bound into ciphertexts.
    pub(crate) fn type_id(&self) -> String {
        self.attrs
            .id
            .as_ref()
            .map_or_else(|| self.input.ident.to_string(), syn::LitStr::value)
    }

    /// The field named by `record_id`, if any.
    pub(crate) fn record_id_field(&self) -> Option<&Field<'a>> {
        let wanted = self.attrs.record_id.as_ref()?.value();
        self.fields.iter().find(|field| field.name() == wanted)
    }
}

fn unsupported(span: Span, what: &str) -> syn::Error {
    syn::Error::new(
        span,
        format!(
            "#[derive(Classified)] supports structs with named fields only, not {what}: \
             wrap the data in a struct whose fields carry #[classify(...)]"
        ),
    )
}
