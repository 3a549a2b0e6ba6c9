//! Tokens of every kind for the column-trait tests.

use tierseal::{
    Binding, Clearance, KdfProfile, Keystore, Level, PackedEntry, PackedLayout, PackedPart,
    PartLayout, RecordKey, RecordKeys, RecordSealer, SealedField, SealedMask, SealedToken,
    SealedValue, Tier,
};

pub struct Tokens {
    pub _dir: tempfile::TempDir,
    pub value: SealedValue,
    pub key: RecordKey,
    pub keys: RecordKeys,
    pub field: SealedField,
    pub mask: SealedMask,
    pub clear_mask: SealedMask,
    /// A packed part of another record.
    pub part: PackedPart,
}

impl Tokens {
    pub fn any(&self) -> SealedToken {
        SealedToken::Value(self.value.clone())
    }
}

pub fn tokens() -> Tokens {
    let dir = tempfile::tempdir().unwrap();
    let keystore = Keystore::create(dir.path().join("k"), &"pw".into(), KdfProfile::Test).unwrap();
    let keyring = keystore
        .keyring(&Clearance::up_to(Level::Restricted))
        .unwrap();
    let value = SealedValue::seal(
        &keyring,
        &Tier::RESTRICTED,
        Binding::new("Customer", "iban"),
        "DE89370400440532013000",
    )
    .unwrap();
    let mut sealer = RecordSealer::new(&keyring, Binding::new("Customer", "").with_record_id("1"));
    let field = sealer
        .seal_field(&Tier::CONFIDENTIAL, "email", "a@example.com")
        .unwrap();
    let mask = sealer.seal_mask("email", "a***@example.com").unwrap();
    let keys = sealer.finish();
    let key = keys.keys().first().unwrap().clone();
    let (tier, entries) = (Tier::RESTRICTED, [PackedEntry::value("iban")]);
    let layout = PackedLayout::new([PartLayout::new(&tier, &entries)]).unwrap();
    let mut sealer = RecordSealer::new(&keyring, Binding::new("Customer", "").with_record_id("2"));
    let mut packer = sealer.pack(&layout).unwrap();
    packer.value(0, 0, "DE89370400440532013000").unwrap();
    let [part] = packer.finish().unwrap();
    Tokens {
        _dir: dir,
        value,
        key,
        keys,
        field,
        mask,
        clear_mask: SealedMask::Clear("****3000".into()),
        part,
    }
}

/// Text that is not a token of any kind, and which an error must never
/// repeat.
pub const NOT_A_TOKEN: [&str; 3] = [
    "DE89370400440532013000",
    "tierseal:REU4OTM3MDQwMDQ0MDUzMjAxMzAwMA",
    "tierseal:***",
];

/// The error text must name the type and never contain the value.
pub fn assert_names_type(error: &str, type_name: &str, value: &str) {
    assert!(error.contains(type_name), "{error}");
    assert!(!error.contains(value), "{error}");
    assert!(!error.contains("DE89"), "{error}");
}
