//! Tokens in their text form (`tierseal:` + base64url) and inside JSON, as
//! stored data and the custodian's rewrap scan present them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tierseal::{RecordKey, RecordKeys, SealedField, SealedToken, SealedValue, Tier};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(token) = text.parse::<SealedToken>() {
        // One token, one text: the text form is canonical.
        assert_eq!(token.to_text(), text);
        let _ = token.key_version();
        let _ = format!("{token:?}");
    }
    if let Ok(value) = text.parse::<SealedValue>() {
        assert_eq!(value.to_text(), text);
    }
    if let Ok(key) = text.parse::<RecordKey>() {
        assert_eq!(key.to_text(), text);
    }
    if let Ok(field) = text.parse::<SealedField>() {
        assert_eq!(field.to_text(), text);
    }
    let _ = text.parse::<Tier>();
    // The same text as a JSON document and as a JSON string.
    let _ = serde_json::from_str::<RecordKeys>(text);
    let _ = serde_json::from_str::<Vec<SealedField>>(text);
    let quoted = serde_json::to_string(text).unwrap();
    if let Ok(value) = serde_json::from_str::<SealedValue>(&quoted) {
        assert_eq!(serde_json::to_string(&value).unwrap(), quoted);
    }
    let _ = serde_json::from_str::<RecordKey>(&quoted);
});
