//! Code generation: the sealed form, the view, and the trait impls.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{DeriveInput, Ident, LitStr};
use tierseal_classify::LevelName;
use tierseal_classify::attr::{BuiltinMask, Errors, Mask};

use crate::ast::{Container, Field, FieldKind};
use crate::check;
use crate::packed::{Layout, has_sealed_mask};

/// Expands the derive, or returns every error found.
pub(crate) fn derive(input: &DeriveInput) -> Result<TokenStream, syn::Error> {
    let mut errors = Errors::default();
    let mut container = Container::from_input(input, &mut errors)?;
    check::check(&mut container, &mut errors);
    errors.finish()?;
    Ok(Expander::new(&container).expand())
}

struct Expander<'c, 'a> {
    container: &'c Container<'a>,
    ident: &'a Ident,
    sealed: Ident,
    view: Ident,
    /// The parts of a `#[classified(packed)]` type; `None` in the default
    /// mode (one token per field).
    packed: Option<Layout>,
}

/// Generated locals carry this prefix so that no field name can shadow them.
fn local(name: &str) -> Ident {
    format_ident!("__tierseal_{}", name)
}

fn level_path(level: LevelName) -> TokenStream {
    let variant = format_ident!("{}", level.variant());
    quote!(::tierseal::Level::#variant)
}

fn mask_field(field: &Field<'_>) -> Ident {
    format_ident!("{}_mask", field.name())
}

/// The blind-index field of an indexed sealed field.
fn index_field(field: &Field<'_>) -> Option<Ident> {
    match (&field.kind, field.attrs.index) {
        (FieldKind::Sealed { .. }, Some(_)) => Some(format_ident!("{}_index", field.name())),
        _ => None,
    }
}

/// The function that computes a field's index from a value.
fn index_fn(field: &Field<'_>, suffix: &str) -> Ident {
    format_ident!("index_{}{}", field.name(), suffix)
}

/// The mask expression of a sealed field, if it shows anything.
fn mask_expr(field: &Field<'_>) -> Option<TokenStream> {
    let FieldKind::Sealed {
        mask: Some(mask), ..
    } = &field.kind
    else {
        return None;
    };
    if !has_sealed_mask(Some(mask)) {
        return None;
    }
    let ident = field.ident;
    match mask {
        Mask::Builtin(BuiltinMask::None) => None,
        Mask::Builtin(builtin) => {
            let function = format_ident!("{}", builtin.name());
            Some(quote!(::tierseal::mask::#function(&self.#ident)))
        }
        Mask::With(path) => Some(quote!(#path(&self.#ident))),
    }
}

impl<'c, 'a> Expander<'c, 'a> {
    fn new(container: &'c Container<'a>) -> Self {
        let ident = &container.input.ident;
        Expander {
            container,
            ident,
            sealed: format_ident!("Sealed{}", ident),
            view: format_ident!("{}View", ident),
            packed: container.attrs.packed.then(|| Layout::new(container)),
        }
    }

    fn fields(&self) -> impl Iterator<Item = (usize, &Field<'a>)> {
        self.container.fields.iter().enumerate()
    }

    fn expand(&self) -> TokenStream {
        let definitions = self.definitions();
        let tiers = self.tier_statics();
        let classified = self.impl_classified();
        let sealed_record = self.impl_sealed_record();
        let inherent = self.impl_sealed_inherent();
        let debug = self.impl_debug();
        quote! {
            #definitions
            #[doc(hidden)]
            const _: () = {
                #tiers
                #classified
                #sealed_record
                #inherent
                #debug
            };
        }
    }

    /// A `static` per sealed field holding its tier, shared by the impls;
    /// for a packed type, the statics of its parts and its layout.
    fn tier_statics(&self) -> TokenStream {
        if let Some(layout) = &self.packed {
            return layout.items(level_path);
        }
        self.fields()
            .filter_map(|(index, field)| match &field.kind {
                FieldKind::Sealed { level, compartment, .. } => {
                    let name = format_ident!("__TIERSEAL_TIER_{}", index);
                    let level = level_path(*level);
                    let compartment = match compartment {
                        Some(c) => quote!(::core::option::Option::Some(#c)),
                        None => quote!(::core::option::Option::None),
                    };
                    Some(quote! {
                        static #name: ::std::sync::LazyLock<::tierseal::Tier> =
                            ::std::sync::LazyLock::new(|| ::tierseal::__private::tier(#level, #compartment));
                    })
                }
                _ => None,
            })
            .collect()
    }

    /// The tier of the sealed field at `index`.
    fn tier(&self, index: usize) -> TokenStream {
        if let Some(tier) = self.packed.as_ref().and_then(|l| l.tier_of(index)) {
            return tier;
        }
        let name = format_ident!("__TIERSEAL_TIER_{}", index);
        quote!(&*#name)
    }

    /// Type parameters, for the marker field of the generated structs:
    /// the field (marked `#[serde(skip)]` when `serde`) and its value.
    fn marker(&self, serde: bool) -> (TokenStream, TokenStream) {
        let params: Vec<_> = self
            .container
            .input
            .generics
            .type_params()
            .map(|p| &p.ident)
            .collect();
        if params.is_empty() {
            return (TokenStream::new(), TokenStream::new());
        }
        let skip = if serde {
            quote!(#[serde(skip)])
        } else {
            TokenStream::new()
        };
        let field = quote! {
            #[doc(hidden)]
            #skip
            pub __tierseal_types: ::core::marker::PhantomData<fn() -> (#(#params,)*)>,
        };
        let value = quote!(__tierseal_types: ::core::marker::PhantomData,);
        (field, value)
    }

    fn where_clause(&self, extra: impl Fn(&Field<'a>) -> Option<TokenStream>) -> TokenStream {
        let generics = &self.container.input.generics;
        let mut predicates: Vec<TokenStream> = generics
            .where_clause
            .iter()
            .flat_map(|w| w.predicates.iter().map(|p| quote!(#p)))
            .collect();
        if generics.type_params().next().is_some() {
            predicates.extend(self.container.fields.iter().filter_map(extra));
        }
        if predicates.is_empty() {
            TokenStream::new()
        } else {
            quote!(where #(#predicates,)*)
        }
    }

    /// The where clause of the trait impls: what each field's type needs
    /// (only spelled out for generic structs).
    fn impl_bounds(&self) -> TokenStream {
        self.where_clause(|field| {
            let ty = field.ty;
            match field.kind {
                FieldKind::Public => Some(quote!(#ty: ::core::clone::Clone)),
                FieldKind::Sealed { .. } => Some(quote!(
                    #ty: ::tierseal::__private::serde::Serialize + ::tierseal::__private::serde::de::DeserializeOwned
                )),
                FieldKind::Nested => Some(quote!(#ty: ::tierseal::Classified)),
                FieldKind::Transient { .. } => Some(quote!(#ty: ::core::default::Default)),
            }
        })
    }

    fn definitions(&self) -> TokenStream {
        let (ident, sealed, view) = (self.ident, &self.sealed, &self.view);
        let vis = &self.container.input.vis;
        let generics = &self.container.input.generics;
        let params = generics.params.iter();
        let params2 = generics.params.iter();
        let where_nested = self.where_clause(|field| match field.kind {
            FieldKind::Nested => {
                let ty = field.ty;
                Some(quote!(#ty: ::tierseal::Classified))
            }
            _ => None,
        });
        let (sealed_marker, _) = self.marker(true);
        let (view_marker, _) = self.marker(false);
        let sealed_doc = format!(
            "The sealed form of [`{ident}`]: public fields in clear, every other field sealed by tier. \
             Store this; open it with a keyring."
        );
        let view_doc = format!(
            "[`{ident}`] as one keyring sees it: each classified field revealed or withheld."
        );

        let mut sealed_fields = Vec::new();
        let mut view_fields = Vec::new();
        for (_, field) in self.fields() {
            let (name, ty, fvis) = (field.ident, field.ty, field.vis);
            let doc = format!("`{}`", field.name());
            match &field.kind {
                FieldKind::Public => {
                    sealed_fields.push(quote!(#[doc = #doc] #fvis #name: #ty,));
                    view_fields.push(quote!(#[doc = #doc] #fvis #name: #ty,));
                }
                FieldKind::Sealed { .. } if self.packed.is_some() => {
                    // Sealed in its tier's part (below).
                    view_fields.push(quote!(#[doc = #doc] #fvis #name: ::tierseal::Revealed<#ty>,));
                    sealed_fields.extend(self.index_member(field));
                }
                FieldKind::Sealed { .. } => {
                    let stored = if field.attrs.reveal_none {
                        quote!(::core::option::Option<::tierseal::SealedField>)
                    } else {
                        quote!(::tierseal::SealedField)
                    };
                    sealed_fields.push(quote!(#[doc = #doc] #fvis #name: #stored,));
                    if mask_expr(field).is_some() {
                        let mask = mask_field(field);
                        let mask_doc = format!(
                            "The mask of `{}`, shown when it is withheld: sealed at `internal`.",
                            field.name()
                        );
                        sealed_fields
                            .push(quote!(#[doc = #mask_doc] #fvis #mask: ::tierseal::SealedMask,));
                    }
                    view_fields.push(quote!(#[doc = #doc] #fvis #name: ::tierseal::Revealed<#ty>,));
                    sealed_fields.extend(self.index_member(field));
                }
                FieldKind::Nested => {
                    sealed_fields.push(
                        quote!(#[doc = #doc] #fvis #name: <#ty as ::tierseal::Classified>::Sealed,),
                    );
                    view_fields.push(
                        quote!(#[doc = #doc] #fvis #name: <#ty as ::tierseal::Classified>::View,),
                    );
                }
                FieldKind::Transient { .. } => {}
            }
        }
        if let Some(layout) = &self.packed {
            for part in &layout.parts {
                let (member, serde_name) = (part.member(), part.serde_name());
                let doc = format!(
                    "Every field of tier `{}` (and, for `internal`, the masks), sealed together.",
                    part.tier_name()
                );
                sealed_fields.push(quote!(
                    #[doc = #doc]
                    #[serde(rename = #serde_name)]
                    pub #member: ::tierseal::PackedPart,
                ));
            }
        }
        quote! {
            #[doc = #sealed_doc]
            #[derive(::core::clone::Clone, ::core::fmt::Debug, ::tierseal::__private::serde::Serialize, ::tierseal::__private::serde::Deserialize)]
            #[serde(crate = "::tierseal::__private::serde")]
            #[allow(dead_code, reason = "generated: users read the fields they need")]
            #vis struct #sealed <#(#params,)*> #where_nested {
                #(#sealed_fields)*
                /// The record's wrapped data keys, one per tier.
                #[serde(rename = "_keys")]
                pub tierseal_keys: ::tierseal::RecordKeys,
                #sealed_marker
            }

            #[doc = #view_doc]
            #[derive(::core::clone::Clone, ::core::fmt::Debug)]
            #[allow(dead_code, reason = "generated: users read the fields they need")]
            #vis struct #view <#(#params2,)*> #where_nested {
                #(#view_fields)*
                #view_marker
            }
        }
    }

    /// The blind-index member of an indexed sealed field.
    fn index_member(&self, field: &Field<'_>) -> Option<TokenStream> {
        let index = index_field(field)?;
        let fvis = field.vis;
        let index_doc = format!(
            "The blind index of `{}`: a keyed hash of its value, equal for equal values. \
             Compare it with `{}::{}` of a query value.",
            field.name(),
            self.sealed,
            index_fn(field, "")
        );
        Some(quote!(#[doc = #index_doc] #fvis #index: ::tierseal::BlindIndex,))
    }

    /// Statements that place this record (`__tierseal_place`, from the
    /// `__tierseal_within` its parent gave it) and bind its fields
    /// (`__tierseal_binding`).
    fn place(&self) -> TokenStream {
        let (within, place, binding) = (local("within"), local("place"), local("binding"));
        let type_id = self.type_id();
        let own = match self.container.record_id_field() {
            Some(field) => {
                let ident = field.ident;
                quote!(::core::option::Option::Some(::std::string::ToString::to_string(&self.#ident)))
            }
            None => quote!(::core::option::Option::None),
        };
        quote! {
            let #place = #within.enter(#own);
            let #binding = #place.binding(#type_id);
        }
    }

    fn type_id(&self) -> LitStr {
        LitStr::new(&self.container.type_id(), proc_macro2::Span::call_site())
    }

    /// The place of the record nested in `field`.
    fn nested_within(&self, field: &Field<'_>) -> TokenStream {
        let (id, type_id, place) = (field.id(), self.type_id(), local("place"));
        quote!(&#place.child(#type_id, #id))
    }

    fn impl_classified(&self) -> TokenStream {
        let (ident, sealed, view) = (self.ident, &self.sealed, &self.view);
        let (impl_generics, ty_generics, _) = self.container.input.generics.split_for_impl();
        let where_clause = self.impl_bounds();
        let (keyring, within, sealer) = (local("keyring"), local("within"), local("sealer"));
        let packer = local("packer");
        let place = self.place();
        let binding_ident = local("binding");

        let mut statements = Vec::new();
        let mut values = Vec::new();
        // The distinct tiers sealed field by field (masks at `internal`),
        // to create their data keys in one draw.
        let mut prepared = PreparedTiers::default();
        for (index, field) in self.fields() {
            let name = field.ident;
            let id = field.id();
            match &field.kind {
                FieldKind::Public => {
                    values.push(quote!(#name: ::core::clone::Clone::clone(&self.#name),))
                }
                FieldKind::Sealed {
                    level, compartment, ..
                } => {
                    let place = self.packed.as_ref().and_then(|layout| layout.place(index));
                    if place.is_none() {
                        let tier = self.tier(index);
                        prepared.add((*level, compartment.clone()), &tier);
                        let seal = quote!(#sealer.seal_field(#tier, #id, &self.#name)?);
                        let value = if field.attrs.reveal_none {
                            quote!(match &self.#name {
                                ::core::option::Option::None => ::core::option::Option::None,
                                ::core::option::Option::Some(_) => ::core::option::Option::Some(#seal),
                            })
                        } else {
                            seal
                        };
                        statements.push(quote!(let #name = #value;));
                        values.push(quote!(#name,));
                    }
                    if let Some(index) = index_field(field) {
                        let compute = index_fn(field, "");
                        let turbofish = ty_generics.as_turbofish();
                        statements.push(
                            quote!(let #index = #sealed #turbofish::#compute(#keyring, &self.#name)?;),
                        );
                        values.push(quote!(#index,));
                    }
                    if let Some(mask) = mask_expr(field).filter(|_| place.is_none()) {
                        prepared.add(
                            (LevelName::Internal, None),
                            &quote!(&::tierseal::Tier::INTERNAL),
                        );
                        let mask_name = mask_field(field);
                        statements.push(quote!(let #mask_name = #sealer.seal_mask(#id, &#mask)?;));
                        values.push(quote!(#mask_name,));
                    }
                }
                FieldKind::Nested => {
                    let within = self.nested_within(field);
                    values.push(quote!(
                        #name: ::tierseal::Classified::seal_within(&self.#name, #keyring, #within)?,
                    ));
                }
                FieldKind::Transient { .. } => {}
            }
        }
        if let Some(layout) = &self.packed {
            // Every entry pushed in the layout's order, parts in the order
            // the struct first uses each tier.
            statements.push(quote!(let mut #packer = #sealer.pack(&*__TIERSEAL_LAYOUT)?;));
            for filler in layout.fillers() {
                let Some(field) = self.container.fields.get(filler.position) else {
                    continue;
                };
                let (part, entry, name) = (filler.part, filler.entry, field.ident);
                if filler.mask {
                    let mask = mask_expr(field);
                    statements.push(quote!(#packer.mask(#part, #entry, &#mask)?;));
                } else {
                    statements.push(quote!(#packer.value(#part, #entry, &self.#name)?;));
                }
            }
            let locals = layout.part_locals();
            statements.push(quote!(let [#(#locals),*] = #packer.finish()?;));
            for (part, local) in layout.parts.iter().zip(&locals) {
                let member = part.member();
                values.push(quote!(#member: #local,));
            }
        }
        let (_, marker) = self.marker(false);
        let classification = self.classification();
        let prepare = prepared.statement(&sealer);
        quote! {
            #[automatically_derived]
            impl #impl_generics ::tierseal::Classified for #ident #ty_generics #where_clause {
                type Sealed = #sealed #ty_generics;
                type View = #view #ty_generics;
                const CLASSIFICATION: &'static ::tierseal::Classification = #classification;

                fn seal_within(
                    &self,
                    #keyring: &::tierseal::Keyring,
                    #within: &::tierseal::__private::Within,
                ) -> ::core::result::Result<Self::Sealed, ::tierseal::Error> {
                    #place
                    let mut #sealer = ::tierseal::RecordSealer::new(#keyring, #binding_ident);
                    #prepare
                    #(#statements)*
                    ::core::result::Result::Ok(#sealed {
                        #(#values)*
                        tierseal_keys: #sealer.finish(),
                        #marker
                    })
                }
            }
        }
    }

    fn classification(&self) -> TokenStream {
        let type_name = self.ident.to_string();
        let type_id = self.container.type_id();
        let record_id = match &self.container.attrs.record_id {
            Some(literal) => quote!(::core::option::Option::Some(#literal)),
            None => quote!(::core::option::Option::None),
        };
        let option = |value: Option<String>| match value {
            Some(text) => quote!(::core::option::Option::Some(#text)),
            None => quote!(::core::option::Option::None),
        };
        let fields = self.container.fields.iter().map(|field| {
            let (name, id) = (field.name(), field.id());
            let level = level_path(field.level());
            let compartment = option(match &field.kind {
                FieldKind::Sealed { compartment, .. } => compartment.clone(),
                _ => None,
            });
            let mask = option(field.attrs.mask.as_ref().map(|(mask, _)| match mask {
                Mask::Builtin(builtin) => builtin.name().to_owned(),
                Mask::With(path) => quote!(#path).to_string().replace(' ', ""),
            }));
            let reason = option(field.attrs.reason.as_ref().map(LitStr::value));
            let nested = matches!(field.kind, FieldKind::Nested);
            let transient = matches!(field.kind, FieldKind::Transient { .. });
            quote! {
                ::tierseal::FieldClassification {
                    name: #name,
                    id: #id,
                    level: #level,
                    compartment: #compartment,
                    mask: #mask,
                    reason: #reason,
                    nested: #nested,
                    transient: #transient,
                }
            }
        });
        quote! {
            &::tierseal::Classification {
                type_name: #type_name,
                type_id: #type_id,
                record_id: #record_id,
                fields: &[#(#fields),*],
            }
        }
    }

    fn impl_sealed_record(&self) -> TokenStream {
        let (ident, sealed, view) = (self.ident, &self.sealed, &self.view);
        let (impl_generics, ty_generics, _) = self.container.input.generics.split_for_impl();
        let where_clause = self.impl_bounds();
        let (keyring, ctx, within, opener) = (
            local("keyring"),
            local("ctx"),
            local("within"),
            local("opener"),
        );
        let packed = local("packed");
        let place = self.place();
        let binding_ident = local("binding");
        // A packed type's parts are opened through a `PackedOpener` that
        // borrows the record opener; it is dropped (wiping the decrypted
        // parts) before the opener finishes.
        let (unpack, drop_packed) = match &self.packed {
            Some(layout_of) => {
                let members = layout_of.parts.iter().map(crate::packed::Part::member);
                (
                    quote! {
                        let mut #packed = #opener.unpack(&*__TIERSEAL_LAYOUT, [#(&self.#members),*]);
                    },
                    quote!(::core::mem::drop(#packed);),
                )
            }
            None => (TokenStream::new(), TokenStream::new()),
        };

        let mut view_values = Vec::new();
        let mut plain_values = Vec::new();
        let mut rewraps = Vec::new();
        for (index, field) in self.fields() {
            let (name, ty, id) = (field.ident, field.ty, field.id());
            match &field.kind {
                FieldKind::Public => {
                    view_values.push(quote!(#name: ::core::clone::Clone::clone(&self.#name),));
                    plain_values.push(quote!(#name: ::core::clone::Clone::clone(&self.#name),));
                }
                FieldKind::Sealed { .. } if self.packed.is_some() => {
                    let place = self.packed.as_ref().and_then(|layout| layout.place(index));
                    let (part, entry) = place.map_or((0, 0), |place| (place.part, place.entry));
                    let mask = match place.and_then(|place| place.mask) {
                        Some((part, entry)) => {
                            quote!(::core::option::Option::Some((#part, #entry)))
                        }
                        None => quote!(::core::option::Option::None),
                    };
                    view_values.push(quote!(
                        #name: ::tierseal::__private::reveal_packed::<#ty, _>(&mut #packed, #part, #entry, #mask)?,
                    ));
                    plain_values.push(quote!(#name: #packed.open::<#ty>(#part, #entry)?,));
                }
                FieldKind::Sealed { .. } => {
                    let tier = self.tier(index);
                    let mask = if mask_expr(field).is_some() {
                        let mask_name = mask_field(field);
                        quote!(::core::option::Option::Some(&self.#mask_name))
                    } else {
                        quote!(::core::option::Option::None)
                    };
                    let view_open = |sealed: TokenStream| quote!(::tierseal::__private::reveal::<#ty>(&mut #opener, #tier, #id, #sealed, #mask)?);
                    let plain_open = |sealed: TokenStream| quote!(#opener.open_field::<#ty>(#tier, #id, #sealed)?);
                    if field.attrs.reveal_none {
                        let (view_open, plain_open) =
                            (view_open(quote!(sealed)), plain_open(quote!(sealed)));
                        view_values.push(quote!(#name: match &self.#name {
                            ::core::option::Option::None => ::tierseal::Revealed::Value(::core::default::Default::default()),
                            ::core::option::Option::Some(sealed) => #view_open,
                        },));
                        plain_values.push(quote!(#name: match &self.#name {
                            ::core::option::Option::None => ::core::default::Default::default(),
                            ::core::option::Option::Some(sealed) => #plain_open,
                        },));
                    } else {
                        let (view_open, plain_open) = (
                            view_open(quote!(&self.#name)),
                            plain_open(quote!(&self.#name)),
                        );
                        view_values.push(quote!(#name: #view_open,));
                        plain_values.push(quote!(#name: #plain_open,));
                    }
                }
                FieldKind::Nested => {
                    let within = self.nested_within(field);
                    view_values.push(quote!(
                        #name: ::tierseal::SealedRecord::open_within(&self.#name, #keyring, #ctx, #within)?,
                    ));
                    plain_values.push(quote!(
                        #name: ::tierseal::SealedRecord::open_all_within(&self.#name, #keyring, #ctx, #within)?,
                    ));
                    rewraps.push(quote!(
                        __tierseal_outcomes.extend(::tierseal::SealedRecord::rewrap(&mut self.#name, #keyring)?);
                    ));
                }
                FieldKind::Transient { .. } => {
                    plain_values.push(quote!(#name: ::core::default::Default::default(),));
                }
            }
        }
        let (_, marker) = self.marker(false);
        quote! {
            #[automatically_derived]
            impl #impl_generics ::tierseal::SealedRecord for #sealed #ty_generics #where_clause {
                type Plain = #ident #ty_generics;

                fn rewrap(
                    &mut self,
                    #keyring: &::tierseal::Keyring,
                ) -> ::core::result::Result<::std::vec::Vec<::tierseal::Rewrapped>, ::tierseal::Error> {
                    let mut __tierseal_outcomes = self.tierseal_keys.rewrap(#keyring)?;
                    #(#rewraps)*
                    ::core::result::Result::Ok(__tierseal_outcomes)
                }

                fn open_within(
                    &self,
                    #keyring: &::tierseal::Keyring,
                    #ctx: &::tierseal::AccessContext,
                    #within: &::tierseal::__private::Within,
                ) -> ::core::result::Result<#view #ty_generics, ::tierseal::Error> {
                    #place
                    let mut #opener =
                        ::tierseal::RecordOpener::new(#keyring, &self.tierseal_keys, #binding_ident, #ctx);
                    #unpack
                    let __tierseal_view = #view {
                        #(#view_values)*
                        #marker
                    };
                    #drop_packed
                    #opener.finish()?;
                    ::core::result::Result::Ok(__tierseal_view)
                }

                fn open_all_within(
                    &self,
                    #keyring: &::tierseal::Keyring,
                    #ctx: &::tierseal::AccessContext,
                    #within: &::tierseal::__private::Within,
                ) -> ::core::result::Result<#ident #ty_generics, ::tierseal::Error> {
                    #place
                    let mut #opener =
                        ::tierseal::RecordOpener::new(#keyring, &self.tierseal_keys, #binding_ident, #ctx);
                    #unpack
                    let __tierseal_plain = #ident {
                        #(#plain_values)*
                    };
                    #drop_packed
                    #opener.finish()?;
                    ::core::result::Result::Ok(__tierseal_plain)
                }
            }
        }
    }

    /// The index functions of each indexed field, and `reindex`.
    fn index_methods(&self) -> TokenStream {
        let type_id = self.type_id();
        let mut methods = Vec::new();
        let mut stale = Vec::new();
        let mut recompute = Vec::new();
        for (position, field) in self.fields() {
            let Some(index) = index_field(field) else {
                continue;
            };
            let (name, ty, id) = (field.ident, field.ty, field.id());
            let tier = self.tier(position);
            let (compute, candidates) = (index_fn(field, ""), index_fn(field, "_candidates"));
            let input = match &field.attrs.index_with {
                Some(path) => quote!(::tierseal::__private::normalised(#path(value))),
                None => quote!(::tierseal::index_input(value)?),
            };
            let doc = format!(
                "The blind index of `value` as field `{}` (under the tier's primary index key): \
                 what sealing stores in `{index}`, for `WHERE {index} = ?`.\n\n\
                 # Errors\n`NoIndexKey` when `keyring` holds no index key of the field's tier.",
                field.name()
            );
            let candidates_doc = format!(
                "The blind index of `value` as field `{}` under every index key version `keyring` holds, \
                 primary first: during a re-index job, match any of them (`WHERE {index} IN (...)`).\n\n\
                 # Errors\n`NoIndexKey` when `keyring` holds no index key of the field's tier.",
                field.name()
            );
            methods.push(quote! {
                #[doc = #doc]
                #[allow(clippy::ptr_arg, reason = "generated: takes the field's own type")]
                pub fn #compute(
                    keyring: &::tierseal::Keyring,
                    value: &#ty,
                ) -> ::core::result::Result<::tierseal::BlindIndex, ::tierseal::Error> {
                    let input = #input;
                    keyring.blind_index(::tierseal::IndexField::new(#tier, #type_id, #id), &input)
                }

                #[doc = #candidates_doc]
                #[allow(clippy::ptr_arg, reason = "generated: takes the field's own type")]
                pub fn #candidates(
                    keyring: &::tierseal::Keyring,
                    value: &#ty,
                ) -> ::core::result::Result<::std::vec::Vec<::tierseal::BlindIndex>, ::tierseal::Error> {
                    let input = #input;
                    keyring.blind_index_candidates(::tierseal::IndexField::new(#tier, #type_id, #id), &input)
                }
            });
            stale.push(quote!(keyring.needs_reindex(#tier, &self.#index)?));
            recompute.push(quote!(self.#index = Self::#compute(keyring, &plain.#name)?;));
        }
        if methods.is_empty() {
            return TokenStream::new();
        }
        quote! {
            #(#methods)*

            /// The re-index step for one record: when an index value was
            /// computed with an index key version other than the primary,
            /// opens the record and recomputes every index value under the
            /// primary. Returns whether anything changed (then store the
            /// record again). The sealed fields are not touched.
            ///
            /// # Errors
            /// `NoIndexKey`, and as `open_all` (the keyring must open the
            /// indexed fields).
            pub fn reindex(
                &mut self,
                keyring: &::tierseal::Keyring,
                ctx: &::tierseal::AccessContext,
            ) -> ::core::result::Result<bool, ::tierseal::Error> {
                if !(false #(|| #stale)*) {
                    return ::core::result::Result::Ok(false);
                }
                let plain = ::tierseal::SealedRecord::open_all(self, keyring, ctx)?;
                #(#recompute)*
                ::core::result::Result::Ok(true)
            }
        }
    }

    fn impl_sealed_inherent(&self) -> TokenStream {
        let (ident, sealed, view) = (self.ident, &self.sealed, &self.view);
        let (impl_generics, ty_generics, _) = self.container.input.generics.split_for_impl();
        let where_clause = self.impl_bounds();
        let index_methods = self.index_methods();
        quote! {
            #[automatically_derived]
            impl #impl_generics #sealed #ty_generics #where_clause {
                /// Opens what `keyring` may see; other fields are withheld.
                ///
                /// # Errors
                /// Integrity and format errors; never a missing tier.
                pub fn open(
                    &self,
                    keyring: &::tierseal::Keyring,
                    ctx: &::tierseal::AccessContext,
                ) -> ::core::result::Result<#view #ty_generics, ::tierseal::Error> {
                    ::tierseal::SealedRecord::open(self, keyring, ctx)
                }

                /// Opens every field, or fails naming the first missing tier.
                ///
                /// # Errors
                /// `NotGranted`, integrity and format errors.
                pub fn open_all(
                    &self,
                    keyring: &::tierseal::Keyring,
                    ctx: &::tierseal::AccessContext,
                ) -> ::core::result::Result<#ident #ty_generics, ::tierseal::Error> {
                    ::tierseal::SealedRecord::open_all(self, keyring, ctx)
                }

                /// Re-wraps the data keys under each tier's primary version.
                ///
                /// # Errors
                /// As `tierseal::RecordKeys::rewrap`.
                pub fn rewrap(
                    &mut self,
                    keyring: &::tierseal::Keyring,
                ) -> ::core::result::Result<::std::vec::Vec<::tierseal::Rewrapped>, ::tierseal::Error> {
                    ::tierseal::SealedRecord::rewrap(self, keyring)
                }

                #index_methods
            }
        }
    }

    fn impl_debug(&self) -> TokenStream {
        let ident = self.ident;
        let name = ident.to_string();
        let (impl_generics, ty_generics, _) = self.container.input.generics.split_for_impl();
        let where_clause = self.where_clause(|field| {
            let ty = field.ty;
            matches!(field.kind, FieldKind::Public | FieldKind::Nested)
                .then(|| quote!(#ty: ::core::fmt::Debug))
        });
        let entries = self.container.fields.iter().map(|field| {
            let (member, label) = (field.ident, field.name());
            match &field.kind {
                FieldKind::Public | FieldKind::Nested => quote!(.field(#label, &self.#member)),
                FieldKind::Sealed { level, .. } | FieldKind::Transient { level } => {
                    let shown = format!("<{level}>");
                    quote!(.field(#label, &::core::format_args!(#shown)))
                }
            }
        });
        quote! {
            #[automatically_derived]
            impl #impl_generics ::core::fmt::Debug for #ident #ty_generics #where_clause {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    f.debug_struct(#name) #(#entries)* .finish()
                }
            }
        }
    }
}

/// The distinct tiers a record's fields are sealed at one by one, in order
/// of first use: the generated `seal` creates their data keys together
/// (`tierseal::RecordSealer::prepare`).
#[derive(Default)]
struct PreparedTiers {
    seen: Vec<(LevelName, Option<String>)>,
    tiers: Vec<TokenStream>,
}

impl PreparedTiers {
    /// Notes the tier `key` (level and compartment), whose value is `tier`.
    fn add(&mut self, key: (LevelName, Option<String>), tier: &TokenStream) {
        if !self.seen.contains(&key) {
            self.seen.push(key);
            self.tiers.push(tier.clone());
        }
    }

    /// `sealer.prepare(&[tiers])?;` for two tiers or more (one tier gains
    /// nothing: its first field draws its key as early).
    fn statement(&self, sealer: &Ident) -> TokenStream {
        if self.tiers.len() < 2 {
            return TokenStream::new();
        }
        let tiers = &self.tiers;
        quote!(#sealer.prepare(&[#(#tiers),*])?;)
    }
}
