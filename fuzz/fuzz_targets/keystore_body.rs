//! The keystore body decoder (tiers, versions, wrapped keys), reached
//! through the hidden `fuzzing` entry point: in the real `open` it runs only
//! after the master key has authenticated the body.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tierseal::__fuzz::keystore_body(data);
});
