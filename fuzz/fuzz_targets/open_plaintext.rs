//! The decode path behind the tag: fuzzer-chosen plaintext is sealed as a
//! standalone value, as a record field and as the two entries of a packed
//! part under the fixture keyring, then opened as every common shape. A
//! fuzzer cannot forge a tag, so this is how arbitrary bytes reach the
//! decoder through the public API; the packed part's framing, which only a
//! writer holding the data key can get wrong, is reached through
//! `tierseal::__fuzz::packed_plaintext`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tierseal::{
    Binding, PackedEntry, PackedLayout, PartLayout, RecordOpener, RecordSealer, SealedValue, Tier,
};
use tierseal_fuzz::{BINDING, Raw, cards, context, fixture, for_each_shape};

fuzz_target!(|data: &[u8]| {
    let fx = fixture();
    let ctx = context();
    let tier = match data.first().map(|b| b % 4) {
        Some(0) => Tier::INTERNAL,
        Some(1) => Tier::CONFIDENTIAL,
        Some(2) => Tier::RESTRICTED,
        _ => cards(),
    };

    let sealed = SealedValue::seal(&fx.keyring, &tier, BINDING, &Raw(data)).unwrap();
    for_each_shape!(|T| sealed.open::<T>(&fx.keyring, BINDING, &ctx));

    let binding = Binding::new("Customer", "").with_record_id("cus_042");
    let mut sealer = RecordSealer::new(&fx.keyring, binding);
    let field = sealer.seal_field(&tier, "notes", &Raw(data)).unwrap();
    let keys = sealer.finish();
    let mut opener = RecordOpener::new(&fx.keyring, &keys, binding, &ctx);
    for_each_shape!(|T| opener.open_field::<T>(&tier, "notes", &field));
    let _ = opener.finish();

    // Two entries of one packed part.
    let (first, second) = data.split_at(data.len() / 2);
    let entries = [PackedEntry::value("a"), PackedEntry::value("b")];
    let layout = PackedLayout::new([PartLayout::new(&tier, &entries)]).unwrap();
    let mut sealer = RecordSealer::new(&fx.keyring, binding);
    let mut packer = sealer.pack(&layout).unwrap();
    packer.value(0, 0, &Raw(first)).unwrap();
    packer.value(0, 1, &Raw(second)).unwrap();
    let [part] = packer.finish().unwrap();
    let keys = sealer.finish();
    let mut opener = RecordOpener::new(&fx.keyring, &keys, binding, &ctx);
    let mut packed = opener.unpack(&layout, [&part]);
    for entry in 0..2 {
        for_each_shape!(|T| packed.open::<T>(0, entry));
    }
    drop(packed);
    let _ = opener.finish();

    // The framing of a part's plaintext: each entry follows its length
    // prefix (at least one byte), and nothing follows the last one.
    for count in 0..4 {
        if let Ok(ranges) = tierseal::__fuzz::packed_plaintext(data, count) {
            assert_eq!(ranges.len(), count);
            let mut end = 0;
            for range in &ranges {
                assert!(range.start > end && range.start <= range.end);
                end = range.end;
            }
            assert_eq!(end, data.len());
        }
    }

    // Whatever string is sealed opens as itself.
    let text = String::from_utf8_lossy(data);
    let sealed = SealedValue::seal(&fx.keyring, &tier, BINDING, text.as_ref()).unwrap();
    assert_eq!(
        sealed.open::<String>(&fx.keyring, BINDING, &ctx).unwrap(),
        text
    );
});
