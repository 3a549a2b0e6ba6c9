//! The layout of a `#[classified(packed)]` type: one part per tier, the
//! entries of each part in the order the format requires, and where each
//! field's value and mask go.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::{Ident, LitStr};
use tierseal_classify::LevelName;
use tierseal_classify::attr::{BuiltinMask, Mask};

use crate::ast::{Container, FieldKind};

/// One tier part of the type.
pub(crate) struct Part {
    level: LevelName,
    compartment: Option<String>,
    /// `(field id, is a mask)`, in the part's order once [`Layout::new`]
    /// returns.
    entries: Vec<(String, bool)>,
}

impl Part {
    /// The tier's text form: `internal`, `restricted/cards`.
    pub(crate) fn tier_name(&self) -> String {
        match &self.compartment {
            Some(compartment) => format!("{}/{compartment}", self.level),
            None => self.level.to_string(),
        }
    }

    /// The sealed struct's field holding this part: `tierseal_internal`,
    /// `tierseal_restricted_cards` (compartments are `[a-z0-9-]`, level
    /// names have no `_`, so no two tiers share one).
    pub(crate) fn member(&self) -> Ident {
        format_ident!("tierseal_{}", self.tier_name().replace(['/', '-'], "_"))
    }

    /// The part's key in serialized sealed records: `_` and the tier name.
    pub(crate) fn serde_name(&self) -> LitStr {
        LitStr::new(&format!("_{}", self.tier_name()), Span::call_site())
    }
}

/// Where one sealed field goes: its value's part and entry, and its mask's
/// (in the `internal` part) if it has one.
#[derive(Clone, Copy)]
pub(crate) struct Place {
    pub(crate) part: usize,
    pub(crate) entry: usize,
    pub(crate) mask: Option<(usize, usize)>,
}

/// The parts of a packed type, and the place of each sealed field (by the
/// field's position in the struct).
pub(crate) struct Layout {
    pub(crate) parts: Vec<Part>,
    places: Vec<Option<Place>>,
}

/// What fills one entry of a part: the value or the mask of the field at
/// a position in the struct.
pub(crate) struct Filler {
    pub(crate) part: usize,
    pub(crate) entry: usize,
    pub(crate) position: usize,
    pub(crate) mask: bool,
}

/// Whether a field's mask is sealed (a mask `none` shows nothing and is
/// not stored).
pub(crate) fn has_sealed_mask(mask: Option<&Mask>) -> bool {
    matches!(mask, Some(mask) if !matches!(mask, Mask::Builtin(BuiltinMask::None)))
}

impl Layout {
    /// Parts in the order their tiers first appear in the struct (a field's
    /// value before its mask, so before the `internal` part a mask needs),
    /// entries in ascending byte order of field id, a value before its mask.
    pub(crate) fn new(container: &Container<'_>) -> Layout {
        let mut parts: Vec<Part> = Vec::new();
        let mut part_of = |level: LevelName, compartment: Option<&String>| {
            let found = parts
                .iter()
                .position(|p| p.level == level && p.compartment.as_ref() == compartment);
            found.unwrap_or_else(|| {
                parts.push(Part {
                    level,
                    compartment: compartment.cloned(),
                    entries: Vec::new(),
                });
                parts.len() - 1
            })
        };
        // (field position, part, is a mask)
        let mut pushed = Vec::new();
        for (position, field) in container.fields.iter().enumerate() {
            let FieldKind::Sealed {
                level,
                compartment,
                mask,
            } = &field.kind
            else {
                continue;
            };
            pushed.push((position, part_of(*level, compartment.as_ref()), false));
            if has_sealed_mask(mask.as_ref()) {
                pushed.push((position, part_of(LevelName::Internal, None), true));
            }
        }
        for &(position, part, mask) in &pushed {
            if let (Some(part), Some(field)) = (parts.get_mut(part), container.fields.get(position))
            {
                part.entries.push((field.id(), mask));
            }
        }
        for part in &mut parts {
            part.entries
                .sort_by(|a, b| (a.0.as_bytes(), a.1).cmp(&(b.0.as_bytes(), b.1)));
        }
        let entry_of = |part: usize, id: &str, mask: bool| {
            parts
                .get(part)
                .and_then(|p| p.entries.iter().position(|e| e.0 == id && e.1 == mask))
                .unwrap_or_default()
        };
        let mut places: Vec<Option<Place>> = vec![None; container.fields.len()];
        for &(position, part, mask) in &pushed {
            let (Some(field), Some(place)) =
                (container.fields.get(position), places.get_mut(position))
            else {
                continue;
            };
            let entry = entry_of(part, &field.id(), mask);
            if mask {
                if let Some(place) = place.as_mut() {
                    place.mask = Some((part, entry));
                }
            } else {
                *place = Some(Place {
                    part,
                    entry,
                    mask: None,
                });
            }
        }
        Layout { parts, places }
    }

    /// Every entry with the field that fills it, in the layout's order
    /// (part by part, entry by entry): the order entries are pushed.
    pub(crate) fn fillers(&self) -> Vec<Filler> {
        let mut fillers = Vec::new();
        for (position, place) in self.places.iter().enumerate() {
            let Some(place) = place else { continue };
            fillers.push(Filler {
                part: place.part,
                entry: place.entry,
                position,
                mask: false,
            });
            if let Some((part, entry)) = place.mask {
                fillers.push(Filler {
                    part,
                    entry,
                    position,
                    mask: true,
                });
            }
        }
        fillers.sort_by_key(|f| (f.part, f.entry));
        fillers
    }

    /// Where the field at `position` goes, if it is sealed.
    pub(crate) fn place(&self, position: usize) -> Option<Place> {
        self.places.get(position).copied().flatten()
    }

    /// The part of the field at `position`, for its tier.
    pub(crate) fn tier_of(&self, position: usize) -> Option<TokenStream> {
        self.place(position).map(|place| Self::tier(place.part))
    }

    fn tier_static(part: usize) -> Ident {
        format_ident!("__TIERSEAL_PART_TIER_{}", part)
    }

    fn entries_const(part: usize) -> Ident {
        format_ident!("__TIERSEAL_PART_ENTRIES_{}", part)
    }

    /// The tier of part `part`.
    pub(crate) fn tier(part: usize) -> TokenStream {
        let name = Self::tier_static(part);
        quote!(&*#name)
    }

    /// The statics each part needs (its tier and entries) and the layout,
    /// `__TIERSEAL_LAYOUT`, checked once, with the struct's field order (in
    /// which seals note restricted fields for the audit event, as the
    /// default mode does).
    pub(crate) fn items(&self, level_path: impl Fn(LevelName) -> TokenStream) -> TokenStream {
        let count = self.parts.len();
        let mut items = Vec::new();
        let mut layout = Vec::new();
        for (index, part) in self.parts.iter().enumerate() {
            let (tier, entries) = (Self::tier_static(index), Self::entries_const(index));
            let level = level_path(part.level);
            let compartment = match &part.compartment {
                Some(c) => quote!(::core::option::Option::Some(#c)),
                None => quote!(::core::option::Option::None),
            };
            let list = part.entries.iter().map(|(id, mask)| {
                if *mask {
                    quote!(::tierseal::PackedEntry::mask(#id))
                } else {
                    quote!(::tierseal::PackedEntry::value(#id))
                }
            });
            items.push(quote! {
                static #tier: ::std::sync::LazyLock<::tierseal::Tier> =
                    ::std::sync::LazyLock::new(|| ::tierseal::__private::tier(#level, #compartment));
                const #entries: &[::tierseal::PackedEntry<'static>] = &[#(#list),*];
            });
            layout.push(quote!(::tierseal::PartLayout::new(&*#tier, #entries)));
        }
        let order = self.places.iter().flatten().map(|place| {
            let (part, entry) = (place.part, place.entry);
            quote!((#part, #entry))
        });
        quote! {
            #(#items)*
            static __TIERSEAL_LAYOUT: ::std::sync::LazyLock<::tierseal::PackedLayout<'static, #count>> =
                ::std::sync::LazyLock::new(|| {
                    ::tierseal::__private::packed_layout([#(#layout),*], &[#(#order),*])
                });
        }
    }

    /// `[part_0, part_1, ...]`: the locals that receive the sealed parts.
    pub(crate) fn part_locals(&self) -> Vec<Ident> {
        (0..self.parts.len())
            .map(|index| format_ident!("__tierseal_part_{}", index))
            .collect()
    }
}
