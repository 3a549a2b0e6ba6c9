//! The context a ciphertext is bound to.

/// Where a sealed value belongs: its type, its stable field id and,
/// where the model names one, its record id.
///
/// All three are authenticated with the ciphertext, so a sealed value moved
/// to another field, another type or another record fails to open. Use a
/// *stable* field id (it survives renames of the Rust field) and bind a
/// record id wherever the data has one: without it, two records' values for
/// the same field could be swapped unnoticed.
///
/// ```
/// use tierseal::Binding;
///
/// let binding = Binding::new("Customer", "card_number").with_record_id("cus_042");
/// assert_eq!(binding.record_id(), Some("cus_042"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Binding<'a> {
    type_name: &'a str,
    field: &'a str,
    record_id: Option<&'a str>,
}

impl<'a> Binding<'a> {
    /// A binding to `field` of `type_name`, with no record id.
    pub const fn new(type_name: &'a str, field: &'a str) -> Binding<'a> {
        Binding {
            type_name,
            field,
            record_id: None,
        }
    }

    /// The same binding, narrowed to one record.
    #[must_use]
    pub const fn with_record_id(self, record_id: &'a str) -> Binding<'a> {
        Binding {
            record_id: Some(record_id),
            ..self
        }
    }

    /// The same binding for another field of the same record.
    #[must_use]
    pub const fn for_field(self, field: &'a str) -> Binding<'a> {
        Binding { field, ..self }
    }

    /// The type name.
    pub const fn type_name(&self) -> &'a str {
        self.type_name
    }

    /// The stable field id.
    pub const fn field(&self) -> &'a str {
        self.field
    }

    /// The record id, if bound.
    pub const fn record_id(&self) -> Option<&'a str> {
        self.record_id
    }
}
