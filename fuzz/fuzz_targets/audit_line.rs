//! Audit log lines: the log is verified with the fixture's root audit key
//! and read for display, and the timestamp parser is run on the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tierseal::audit;
use tierseal_fuzz::fixture;

fuzz_target!(|data: &[u8]| {
    let fx = fixture();
    let path = fx.scratch.path().join("input.log");
    std::fs::write(&path, data).unwrap();
    let _ = audit::verify(&path, &fx.audit_key);
    if let Ok(events) = audit::read_events(&path) {
        for (_, event) in events {
            let _ = serde_json::to_string(&event).unwrap();
        }
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Some(time) = audit::parse_utc_timestamp(text)
    {
        // What the parser accepts, the writer writes back the same.
        let written = audit::utc_timestamp(time);
        assert_eq!(audit::parse_utc_timestamp(&written), Some(time));
    }
});
