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
    /// Where a nested record sits in its root record; `None` at the root.
    within: Option<&'a Within>,
}

impl<'a> Binding<'a> {
    /// A binding to `field` of `type_name`, with no record id.
    pub const fn new(type_name: &'a str, field: &'a str) -> Binding<'a> {
        Binding {
            type_name,
            field,
            record_id: None,
            within: None,
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

    /// The record's path in its root record, encoded as format version 2
    /// binds it (empty at the root).
    pub(crate) fn path(&self) -> &'a [u8] {
        match self.within {
            Some(within) => within.path.as_slice(),
            None => &[],
        }
    }

    /// The record id format version 1 bound: a nested record's parent's
    /// record id with `/field` appended, when it has none of its own.
    pub(crate) fn v1_record_id(&self) -> Option<&'a str> {
        match self.within {
            Some(within) => within.v1_record_id(),
            None => self.record_id,
        }
    }
}

/// Where a record sits: at the root, or nested in a parent record. Support
/// for `#[derive(Classified)]`, not a public API.
///
/// A version-2 field binds its record's *path* in the root record — the
/// root's type id, then the field id at every level (`Employee/address/geo`)
/// — and the record id: the record's own, else the one it inherits from
/// its parent. Version 1 bound a nested record by a record id alone (its
/// parent's with `/field` appended, none when the parent had none); that
/// id is kept so that version-1 data still opens.
#[doc(hidden)]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Within {
    /// Version 2: `str(root type id) || str(field id) || ...`, empty at the
    /// root. Length-prefixed segments, so that ids containing `/` cannot
    /// make two paths alike.
    path: Vec<u8>,
    /// Version 2: the record id inherited from the parent.
    record_id: Option<String>,
    /// Version 1: the record id of a nested record, when it is not
    /// `record_id` (see `v1_same`).
    v1_record_id: Option<String>,
    /// Version 1's record id is `record_id` (a record with its own id):
    /// kept as a flag so that entering a record copies its id once.
    v1_same: bool,
}

impl Within {
    /// The place of a root record.
    pub fn root() -> Within {
        Within::default()
    }

    /// The place of the record about to be sealed or opened here, whose own
    /// record id (if its type declares one) is `own_record_id`.
    #[must_use]
    pub fn enter(&self, own_record_id: Option<String>) -> Within {
        match own_record_id {
            Some(own) => Within {
                path: self.path.clone(),
                record_id: Some(own),
                v1_record_id: None,
                v1_same: true,
            },
            None => Within {
                path: self.path.clone(),
                record_id: self.record_id.clone(),
                v1_record_id: self.v1_record_id().map(str::to_owned),
                v1_same: false,
            },
        }
    }

    /// The record id version 1 bound for this record.
    fn v1_record_id(&self) -> Option<&str> {
        if self.v1_same {
            self.record_id.as_deref()
        } else {
            self.v1_record_id.as_deref()
        }
    }

    /// The binding of fields of this record, whose stable type id is
    /// `type_id`.
    pub fn binding<'a>(&'a self, type_id: &'a str) -> Binding<'a> {
        let binding = Binding::new(type_id, "");
        let binding = match self.record_id.as_deref() {
            Some(id) => binding.with_record_id(id),
            None => binding,
        };
        Binding {
            within: Some(self),
            ..binding
        }
    }

    /// The place of the record nested in field `field_id` of this record,
    /// whose stable type id is `type_id`.
    #[must_use]
    pub fn child(&self, type_id: &str, field_id: &str) -> Within {
        let mut path = self.path.clone();
        if path.is_empty() {
            crate::envelope::format::push_path_segment(&mut path, type_id);
        }
        crate::envelope::format::push_path_segment(&mut path, field_id);
        Within {
            path,
            record_id: self.record_id.clone(),
            v1_record_id: self
                .v1_record_id()
                .map(|parent| format!("{parent}/{field_id}")),
            v1_same: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(root_id: Option<&str>, fields: &[&str]) -> Within {
        let mut within = Within::root().enter(root_id.map(str::to_owned));
        for field in fields {
            within = within.child("Employee", field).enter(None);
        }
        within
    }

    #[test]
    fn paths_name_the_root_type_and_every_field() {
        let deep = nested(Some("42"), &["address", "geo"]);
        assert_eq!(deep.path, b"\x08Employee\x07address\x03geo");
        let binding = deep.binding("Geo");
        assert_eq!(binding.record_id(), Some("42"));
        assert_eq!(binding.v1_record_id(), Some("42/address/geo"));
        assert!(Within::root().binding("Employee").path().is_empty());
    }

    #[test]
    fn ids_containing_a_slash_do_not_make_paths_alike() {
        assert_ne!(nested(None, &["a/b"]).path, nested(None, &["a", "b"]).path);
        let other_root = Within::root().child("Employee/a", "b");
        assert_ne!(other_root.path, nested(None, &["a", "b"]).path);
    }

    #[test]
    fn record_ids_are_own_else_inherited_and_v1_ids_are_kept() {
        let own = nested(Some("42"), &["home"]).enter(Some("addr_7".into()));
        assert_eq!(own.record_id.as_deref(), Some("addr_7"));
        assert_eq!(own.v1_record_id(), Some("addr_7"));
        let none = nested(None, &["home"]);
        assert_eq!(none.record_id, None);
        assert_eq!(none.v1_record_id(), None);
        // A plain binding is its own version-1 binding.
        let plain = Binding::new("T", "f").with_record_id("r");
        assert_eq!(plain.v1_record_id(), Some("r"));
    }
}
