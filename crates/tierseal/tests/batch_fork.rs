//! The batch API after `fork()`: a child forked from a process whose
//! thread pool already sealed a batch gets none of the pool's threads. Its
//! batches must still finish (on the calling thread), and draw data keys
//! and wrap nonces of their own.
//!
//! Its own binary without the test harness: forking a multi-threaded
//! process is unsafe, so this forks from the main thread with no other
//! thread but the pool's idle workers.
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
    use std::collections::HashSet;
    use std::time::{Duration, Instant};

    use tierseal::{AccessContext, Classified, Clearance, KdfProfile, Keystore, Level, batch};

    #[derive(Classified, Clone, PartialEq)]
    #[classified(record_id = "id")]
    struct Account {
        #[classify(public)]
        id: String,
        #[classify(confidential)]
        iban: String,
        #[classify(restricted)]
        pin_offset: String,
    }

    let dir = tempfile::tempdir().unwrap();
    let keystore = Keystore::create(dir.path().join("k"), &"pw".into(), KdfProfile::Test).unwrap();
    let keyring = keystore
        .keyring(&Clearance::up_to(Level::Restricted))
        .unwrap();
    let records: Vec<Account> = (0..500)
        .map(|i| Account {
            id: format!("acc_{i}"),
            iban: format!("GB82WEST1234569876{i:04}"),
            pin_offset: format!("{:04}", i * 7 % 10_000),
        })
        .collect();
    let seal = || -> Vec<SealedAccount> {
        batch::seal_all(&keyring, &records)
            .into_iter()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    // The pool is started and has worked before the fork, as in a server
    // that forks workers after warming up.
    let _ = seal();

    let child_file = dir.path().join("child.json");
    match fork::fork().unwrap() {
        fork::Fork::Child => {
            let sealed = seal();
            std::fs::write(&child_file, serde_json::to_vec(&sealed).unwrap()).unwrap();
            // Leave without running the parent's destructors (temp dir).
            std::process::exit(0);
        }
        fork::Fork::Parent(pid) => {
            let ours = seal();
            // A hang is the failure this test looks for: give up after a
            // generous wait instead of blocking the test run forever.
            let started = Instant::now();
            let status = loop {
                if let Some(status) = fork::waitpid_nohang(pid).unwrap() {
                    break status;
                }
                if started.elapsed() > Duration::from_secs(120) {
                    let _ = std::process::Command::new("kill")
                        .args(["-9", &pid.to_string()])
                        .status();
                    panic!("the forked child's batch never finished: it waited for pool threads");
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            assert_eq!(status, 0, "the child failed");
            let theirs: Vec<SealedAccount> =
                serde_json::from_slice(&std::fs::read(&child_file).unwrap()).unwrap();
            let ctx = AccessContext::new("fork-test").with_purpose("TEST-15");
            for (record, sealed) in records.iter().zip(&theirs) {
                assert!(sealed.open_all(&keyring, &ctx).unwrap() == *record);
            }
            // No data key (wrapped with its nonce) drawn twice.
            let keys = |sealed: &[SealedAccount]| -> Vec<Vec<u8>> {
                sealed
                    .iter()
                    .flat_map(|s| s.tierseal_keys.keys())
                    .map(|key| key.as_bytes().to_vec())
                    .collect()
            };
            let parent: HashSet<Vec<u8>> = keys(&ours).into_iter().collect();
            let child = keys(&theirs);
            assert!(!child.is_empty(), "no record keys found in the sealed form");
            assert!(
                child.iter().all(|key| !parent.contains(key)),
                "parent and child drew the same data key"
            );
            println!(
                "batch_fork: the child's batch of {} records finished without the pool's threads, with keys of its own",
                theirs.len()
            );
        }
    }
}

#[cfg(not(unix))]
fn main() {
    println!("batch_fork: not run (fork() is Unix only)");
}
