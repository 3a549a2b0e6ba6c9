//! Randomness after `fork()`: a child forked from a process that has
//! already sealed must not draw the parent's data keys or wrap nonces.
//!
//! Its own binary without the test harness: forking a multi-threaded
//! process is unsafe, so this runs on the main thread alone.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::indexing_slicing,
    reason = "test code: a panic is a test failure"
)]

#[cfg(unix)]
fn main() {
    use tierseal::{
        Binding, Clearance, KdfProfile, Keystore, Level, RecordSealer, SealedValue, Tier,
    };

    let dir = tempfile::tempdir().unwrap();
    let keystore = Keystore::create(dir.path().join("k"), &"pw".into(), KdfProfile::Test).unwrap();
    let keyring = keystore
        .keyring(&Clearance::up_to(Level::Restricted))
        .unwrap();
    let binding = Binding::new("Customer", "").with_record_id("cus_1");

    // What one process draws for a record and for a standalone value,
    // as stored bytes: wrapped keys (with their nonces) and ciphertexts.
    let draw = || -> Vec<Vec<u8>> {
        let mut sealer = RecordSealer::new(&keyring, binding);
        let name = sealer.seal_field(&Tier::INTERNAL, "name", "Ada").unwrap();
        let keys = sealer.finish();
        let value = SealedValue::seal(
            &keyring,
            &Tier::RESTRICTED,
            binding.for_field("card_number"),
            "4111111111111111",
        )
        .unwrap();
        // A record of three tiers whose keys are drawn in one call.
        let mut sealer = RecordSealer::new(&keyring, binding.for_field("prepared"));
        let tiers = [&Tier::INTERNAL, &Tier::CONFIDENTIAL, &Tier::RESTRICTED];
        sealer.prepare(&tiers).unwrap();
        for tier in tiers {
            sealer.seal_field(tier, "f", "x").unwrap();
        }
        let prepared = sealer.finish();
        let mut drawn = vec![
            keys.keys()[0].as_bytes().to_vec(),
            name.as_bytes().to_vec(),
            value.as_bytes().to_vec(),
        ];
        drawn.extend(prepared.keys().iter().map(|key| key.as_bytes().to_vec()));
        drawn
    };
    // Warm the generators up before the fork, as a server would have.
    draw();

    let child_file = dir.path().join("child");
    match fork::fork().unwrap() {
        fork::Fork::Child => {
            let drawn = draw();
            std::fs::write(&child_file, drawn.concat()).unwrap();
            // Leave without running the parent's destructors (temp dir).
            std::process::exit(0);
        }
        fork::Fork::Parent(pid) => {
            let drawn = draw();
            let status = fork::waitpid(pid).unwrap();
            assert_eq!(status, 0, "the child failed");
            let child = std::fs::read(&child_file).unwrap();
            let mut offset = 0;
            let names = [
                "record key",
                "record field",
                "sealed value",
                "prepared record key 1",
                "prepared record key 2",
                "prepared record key 3",
            ];
            assert_eq!(drawn.len(), names.len());
            for (what, parent) in names.iter().zip(&drawn) {
                let theirs = child.get(offset..offset + parent.len()).unwrap();
                offset += parent.len();
                // Header (version, kind, tier) may match; what follows is
                // key version, wrap nonce and wrapped key, or nonce and
                // ciphertext: never the same in two processes.
                assert_ne!(
                    parent.as_slice(),
                    theirs,
                    "{what}: parent and child drew the same bytes"
                );
                let header = 3 + parent[2] as usize;
                let key_part = header + 4..header + 4 + 12;
                if *what != "record field" {
                    assert_ne!(
                        parent[key_part.clone()],
                        theirs[key_part],
                        "{what}: the same wrap nonce under the same tier key"
                    );
                }
            }
            println!(
                "fork: parent and child drew different data keys and wrap nonces, prepared or not"
            );
        }
    }
}

#[cfg(not(unix))]
fn main() {
    println!("fork: not run (fork() is Unix only)");
}
