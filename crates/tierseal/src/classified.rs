//! The traits `#[derive(Classified)]` implements, and the static
//! description of a classified type.

use crate::envelope::Within;
use crate::{AccessContext, Error, Keyring, Level, Rewrapped, Tier};

/// A struct whose fields carry sensitivity levels. Derive it:
///
/// ```
/// use tierseal::{AccessContext, Classified, Clearance, KdfProfile, Keystore, Level};
///
/// #[derive(Classified, Clone, PartialEq)]
/// #[classified(record_id = "customer_id")]
/// pub struct Customer {
///     #[classify(public)]
///     pub customer_id: String,
///     #[classify(internal)]
///     pub name: String,
///     #[classify(restricted, compartment = "cards", mask = "last4")]
///     pub card_number: String,
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let mut keystore = Keystore::create(dir.path().join("k"), &"pw".into(), KdfProfile::Test)?;
/// keystore.add_tier(&"restricted/cards".parse()?)?;
/// let writer = keystore.keyring(&Clearance::up_to(Level::Restricted).with("restricted/cards".parse()?))?;
/// let support = keystore.keyring(&Clearance::up_to(Level::Internal))?;
///
/// let customer = Customer {
///     customer_id: "cus_042".into(),
///     name: "Ada Lovelace".into(),
///     card_number: "4111111111111111".into(),
/// };
/// let sealed = customer.seal(&writer)?;
/// let json = serde_json::to_string(&sealed)?;
///
/// let stored: SealedCustomer = serde_json::from_str(&json)?;
/// let view = stored.open(&support, &AccessContext::new("support").with_purpose("TICKET-1"))?;
/// assert_eq!(view.name.value().map(String::as_str), Some("Ada Lovelace"));
/// assert_eq!(view.card_number.mask(), Some("****1111"));
///
/// // Debug of the plain struct never shows a classified value.
/// assert_eq!(
///     format!("{customer:?}"),
///     r#"Customer { customer_id: "cus_042", name: <internal>, card_number: <restricted> }"#
/// );
/// # Ok(())
/// # }
/// ```
///
/// The derive generates, beside the struct, a sealed form named
/// `Sealed{Name}` (serde-serializable) and a view named `{Name}View`, and a
/// redacting `Debug`: derive `Classified` *instead of* `Debug`.
///
/// # Attributes
///
/// On the struct, `#[classified(...)]`:
///
/// | key | meaning |
/// | --- | --- |
/// | `record_id = "field"` | a public field whose value is bound into every ciphertext of the record |
/// | `id = "Name"` | the stable type id bound into ciphertexts (default: the type name); keep it when renaming the type |
/// | `strict` | every field must carry `#[classify]` |
/// | `packed` | seal all the fields of one tier in one part (one AES-GCM message per tier, see below) |
///
/// On a field, `#[classify(LEVEL, ...)]` with LEVEL one of `public`,
/// `internal`, `confidential`, `restricted`:
///
/// | key | meaning |
/// | --- | --- |
/// | `compartment = "cards"` | the need-to-know compartment (`[a-z0-9-]`, 1–32 characters) |
/// | `mask = "last4"` / `"first6last4"` / `"email"` / `"none"` | what a withheld field shows to readers holding `internal` (computed at seal time, sealed at `internal`; sealing then needs `internal`) |
/// | `mask_with = "path::to::fn"` | a custom mask, `fn(&T) -> String` |
/// | `id = "salary"` | the stable field id bound into the ciphertext (default: the field name); keep it when renaming |
/// | `reason = "..."` | why a financial-looking field is `public` (required then) |
/// | `nested` | the field's type derives `Classified`: sealed as a nested record (no level) |
/// | `reveal_none` | an `Option` field stores `None` in clear instead of sealing it |
/// | `transient` | `restricted` data used in processing only (CVV, PIN): never written into the sealed form; `Default` after `open_all` |
/// | `index` | the sealed form carries a blind index of the field, `FIELD_index: BlindIndex`, for equality lookups |
/// | `index_with = "path::to::fn"` | as `index`, over the normaliser's output: a function called with `&T` and returning `String` (`fn(&str) -> String` for a `String` field), e.g. an IBAN without spaces, upper-cased |
///
/// For each indexed field the sealed type gets
/// `index_FIELD(&Keyring, &T) -> Result<BlindIndex, Error>` (the index of a
/// query value under the tier's primary index key) and
/// `index_FIELD_candidates(&Keyring, &T) -> Result<Vec<BlindIndex>, Error>`
/// (one per live index key version, for lookups during a re-index job), and
/// `reindex(&mut self, &Keyring, &AccessContext) -> Result<bool, Error>`.
/// Without `index_with`, the value is indexed as its serde JSON form (a
/// string as its bytes): see [`index_input`](crate::index_input). The index
/// binds the tier, type id and field id, never the record id. `index` is
/// refused on public, nested, transient and `reveal_none` fields, and on
/// types with too few values to hide anything (`bool`, `u8`, `i8`, `char`,
/// `()`, and options and tuples of them). The derive cannot see enums
/// declared elsewhere: do not index a field with few distinct values (see
/// docs/THREAT-MODEL.md, frequency analysis).
///
/// A mask is computed from the value when the record is sealed and stored
/// beside it as a [`SealedMask`](crate::SealedMask): sealed at `internal`,
/// bound to the record and field like any sealed field, so that a reader
/// holding `internal` sees it and detects an edited or moved mask (the open
/// fails with [`Error::Integrity`]), and a reader without `internal` sees
/// the field withheld with no mask. Everyone holding `internal` can read a
/// mask: choose masks that may be shown to all of them. Records sealed by
/// format version 1 kept masks in clear; they still show, unauthenticated.
///
/// A `nested` record is bound to its place in the root record — the root's
/// type id and the field id at every level — and to its own record id, or
/// else its parent's: nested records cannot be swapped or moved to another
/// parent.
///
/// An untagged field is public unless its name or type looks financial
/// (the lexicon shared with `tierseal lint`), which is a compile error
/// naming the field and the rule. A CVV, PIN or track data field must be
/// `transient`. Enums, tuple structs and unit structs are not supported.
///
/// # Packed mode
///
/// With `#[classified(packed)]` the sealed form has, instead of one token
/// per field, one [`PackedPart`](crate::PackedPart) per tier the type uses
/// (`tierseal_internal`, `tierseal_restricted_cards`, ...; serialized as
/// `_internal`, `_restricted/cards`), holding every field of that tier and,
/// in the `internal` part, the masks. A record then costs one AES-GCM call
/// per tier instead of one per field, and is smaller. Opening, partial
/// opening by clearance, masks, audit events, `open_all`, `rewrap`,
/// nesting (either way), blind indexes and the batch API work as in the
/// default mode. What is lost: a field cannot be stored, updated or
/// checked alone (its tier's part is one value, authenticated as a whole),
/// reading one field decrypts its whole tier, and records sealed with
/// another set of fields (not merely another field order) do not open.
/// `reveal_none` is refused in a packed type. See docs/FORMAT.md (kind 6)
/// and docs/THREAT-MODEL.md.
///
/// An `Option` field is sealed whole, so `None` is hidden — but a sealed
/// `None` is a few bytes shorter than a sealed `Some`: someone who sees the
/// stored record can tell them apart by length.
pub trait Classified: Sized {
    /// The stored form: public fields in clear, the rest sealed.
    type Sealed: SealedRecord<Plain = Self>;
    /// The partially opened form: each classified field revealed or
    /// withheld.
    type View;
    /// What each field is: name, stable id, level, compartment, mask.
    const CLASSIFICATION: &'static Classification;

    /// Seals every classified field (one data key per tier).
    ///
    /// # Errors
    /// [`Error::NotGranted`] naming the first tier the keyring lacks.
    fn seal(&self, keyring: &Keyring) -> Result<Self::Sealed, Error> {
        self.seal_within(keyring, &Within::root())
    }

    /// Seals as a record at `within`: the root, or a nested place.
    #[doc(hidden)]
    fn seal_within(&self, keyring: &Keyring, within: &Within) -> Result<Self::Sealed, Error>;
}

/// The sealed form of a [`Classified`] type.
pub trait SealedRecord: Sized {
    /// The plain type.
    type Plain: Classified<Sealed = Self>;

    /// Opens what `keyring` may see: a field whose tier it lacks is
    /// withheld (with its mask), never an error.
    ///
    /// # Errors
    /// [`Error::Integrity`] and other errors for altered or misplaced data.
    fn open(
        &self,
        keyring: &Keyring,
        ctx: &AccessContext,
    ) -> Result<<Self::Plain as Classified>::View, Error> {
        self.open_within(keyring, ctx, &Within::root())
    }

    /// Opens every field, or fails naming the first tier the keyring lacks.
    ///
    /// # Errors
    /// [`Error::NotGranted`], and as [`open`](Self::open).
    fn open_all(&self, keyring: &Keyring, ctx: &AccessContext) -> Result<Self::Plain, Error> {
        self.open_all_within(keyring, ctx, &Within::root())
    }

    /// Re-wraps every data key under its tier's primary version; field
    /// ciphertexts are untouched.
    ///
    /// # Errors
    /// As [`RecordKeys::rewrap`](crate::RecordKeys::rewrap).
    fn rewrap(&mut self, keyring: &Keyring) -> Result<Vec<Rewrapped>, Error>;

    #[doc(hidden)]
    fn open_within(
        &self,
        keyring: &Keyring,
        ctx: &AccessContext,
        within: &Within,
    ) -> Result<<Self::Plain as Classified>::View, Error>;

    #[doc(hidden)]
    fn open_all_within(
        &self,
        keyring: &Keyring,
        ctx: &AccessContext,
        within: &Within,
    ) -> Result<Self::Plain, Error>;
}

/// The static description of a classified type.
#[derive(Debug)]
pub struct Classification {
    /// The Rust type name.
    pub type_name: &'static str,
    /// The stable type id bound into ciphertexts.
    pub type_id: &'static str,
    /// The field whose value is the record id, if any.
    pub record_id: Option<&'static str>,
    /// Every field, in declaration order.
    pub fields: &'static [FieldClassification],
}

/// The classification of one field.
#[derive(Debug)]
pub struct FieldClassification {
    /// The Rust field name.
    pub name: &'static str,
    /// The stable id bound into its ciphertext.
    pub id: &'static str,
    /// Its level.
    pub level: Level,
    /// Its compartment, if any.
    pub compartment: Option<&'static str>,
    /// Its mask's name (`last4`, ..., or the `mask_with` path).
    pub mask: Option<&'static str>,
    /// Why a financial-looking field is public, if declared.
    pub reason: Option<&'static str>,
    /// Whether the field is a nested classified record.
    pub nested: bool,
    /// Whether the field is never written into the sealed form.
    pub transient: bool,
}

impl FieldClassification {
    /// The field's tier; `None` for public and nested fields.
    pub fn tier(&self) -> Option<Tier> {
        if self.nested {
            return None;
        }
        Tier::new(self.level, self.compartment).ok()
    }
}
