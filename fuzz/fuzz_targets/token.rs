//! Token bytes of every kind (sealed value, record key, record field,
//! packed part), then opened, rewrapped and printed against the fixture
//! keyring.
//!
//! Input: length-prefixed chunks (see `tierseal_fuzz::chunks`). Each chunk
//! is tried as every kind; the record keys, fields and packed parts among
//! them are opened together as one record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tierseal::{
    Binding, PackedPart, RecordKey, RecordKeys, RecordOpener, Rewrapped, SealedField, SealedToken,
    SealedValue, Tier,
};
use tierseal_fuzz::{BINDING, FIELD_IDS, PACKED_LAYOUTS, chunks, context, fixture};

fuzz_target!(|data: &[u8]| {
    let fx = fixture();
    let mut keys = Vec::new();
    let mut fields = Vec::new();
    let mut parts = Vec::new();
    for chunk in chunks(data) {
        if let Ok(value) = SealedValue::from_bytes(chunk.to_vec()) {
            check_text_form(&value.to_text(), chunk);
            let _ = format!("{value:?}");
            let _ = value.key_version();
            open_value(&value);
        }
        if let Ok(key) = RecordKey::from_bytes(chunk.to_vec()) {
            check_text_form(&key.to_text(), chunk);
            let _ = format!("{key:?}");
            keys.push(key);
        }
        if let Ok(field) = SealedField::from_bytes(chunk.to_vec()) {
            check_text_form(&field.to_text(), chunk);
            let _ = format!("{field:?}");
            fields.push(field);
        }
        if let Ok(part) = PackedPart::from_bytes(chunk.to_vec()) {
            check_text_form(&part.to_text(), chunk);
            let _ = format!("{part:?}");
            parts.push(part);
        }
    }
    if keys.is_empty() && fields.is_empty() && parts.is_empty() {
        return;
    }
    let keys: RecordKeys = serde_json::from_value(serde_json::to_value(&keys).unwrap()).unwrap();
    let _ = keys.key_versions().count();
    for keyring in [&fx.keyring, &fx.narrow] {
        open_record(keyring, &keys, &fields);
        open_parts(keyring, &keys, &parts);
    }
    let mut rewrapped = keys.clone();
    if rewrapped.rewrap(&fx.keyring).is_ok() {
        // Rewrapping changes no plaintext: whatever opened still opens.
        assert_eq!(
            open_record(&fx.keyring, &rewrapped, &fields),
            open_record(&fx.keyring, &keys, &fields),
        );
        assert_eq!(
            open_parts(&fx.keyring, &rewrapped, &parts),
            open_parts(&fx.keyring, &keys, &parts),
        );
    }
});

/// Opens every part as the one part of each seed layout, every entry as a
/// string; returns what opened.
fn open_parts(
    keyring: &tierseal::Keyring,
    keys: &RecordKeys,
    parts: &[PackedPart],
) -> Vec<Option<String>> {
    let ctx = context();
    let binding = Binding::new("Customer", "").with_record_id("cus_042");
    let mut opened = Vec::new();
    for part in parts {
        for (tier, entries) in PACKED_LAYOUTS {
            let tier: Tier = tier.parse().unwrap();
            let layout = tierseal::PackedLayout::new([tierseal::PartLayout::new(&tier, entries)])
                .expect("the seed layouts are valid");
            let mut opener = RecordOpener::new(keyring, keys, binding, &ctx);
            let mut packed = opener.unpack(&layout, [part]);
            for (index, entry) in entries.iter().enumerate() {
                opened.push(if entry.is_mask() {
                    packed.open_mask(0, index).ok()
                } else {
                    packed.open::<String>(0, index).ok()
                });
                let _ = packed.open::<i64>(0, index);
            }
            drop(packed);
            let _ = opener.finish();
        }
    }
    opened
}

/// The text form of a parsed token parses back to the same bytes, as every
/// kind and as the kind-agnostic `SealedToken`.
fn check_text_form(text: &str, bytes: &[u8]) {
    let token: SealedToken = text.parse().expect("a token's own text parses");
    assert_eq!(token.to_text(), text);
    let back = match &token {
        SealedToken::Value(v) => v.as_bytes(),
        SealedToken::RecordKey(k) => k.as_bytes(),
        SealedToken::Field(f) => f.as_bytes(),
        SealedToken::Part(p) => p.as_bytes(),
    };
    assert_eq!(back, bytes);
}

fn open_value(value: &SealedValue) {
    let fx = fixture();
    let ctx = context();
    let bindings = [
        BINDING,
        BINDING.for_field("name"),
        Binding::new("Customer", "card_number"),
    ];
    let before: Vec<_> = bindings
        .iter()
        .map(|b| value.open::<String>(&fx.keyring, *b, &ctx).ok())
        .collect();
    let _ = value.open::<u64>(&fx.keyring, BINDING, &ctx);
    let _ = value.open::<String>(&fx.narrow, BINDING, &ctx);
    let _ = value.open::<String>(
        &fx.keyring,
        BINDING,
        &tierseal::AccessContext::new("no-purpose"),
    );
    let mut moved = value.clone();
    if let Ok(Rewrapped::Moved { to, .. }) = moved.rewrap(&fx.keyring) {
        assert_eq!(moved.key_version(), to);
        let after: Vec<_> = bindings
            .iter()
            .map(|b| moved.open::<String>(&fx.keyring, *b, &ctx).ok())
            .collect();
        assert_eq!(before, after, "rewrap must not change what opens");
    }
}

/// Opens every field under every seed field id; returns what opened.
fn open_record(
    keyring: &tierseal::Keyring,
    keys: &RecordKeys,
    fields: &[SealedField],
) -> Vec<Option<String>> {
    let ctx = context();
    let binding = Binding::new("Customer", "").with_record_id("cus_042");
    let mut opener = RecordOpener::new(keyring, keys, binding, &ctx);
    let mut opened = Vec::new();
    for field in fields {
        let Ok(tier) = field.tier_name().parse::<Tier>() else {
            continue;
        };
        for id in FIELD_IDS {
            opened.push(opener.open_field::<String>(&tier, id, field).ok());
            let _ = opener.open_field::<i64>(&tier, id, field);
        }
    }
    let _ = opener.finish();
    opened
}
