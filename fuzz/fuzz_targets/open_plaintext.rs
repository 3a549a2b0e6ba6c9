//! The decode path behind the tag: fuzzer-chosen plaintext is sealed as a
//! standalone value and as a record field under the fixture keyring, then
//! opened as every common shape. A fuzzer cannot forge a tag, so this is how
//! arbitrary bytes reach the decoder through the public API.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tierseal::{Binding, RecordOpener, RecordSealer, SealedValue, Tier};
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

    // Whatever string is sealed opens as itself.
    let text = String::from_utf8_lossy(data);
    let sealed = SealedValue::seal(&fx.keyring, &tier, BINDING, text.as_ref()).unwrap();
    assert_eq!(
        sealed.open::<String>(&fx.keyring, BINDING, &ctx).unwrap(),
        text
    );
});
