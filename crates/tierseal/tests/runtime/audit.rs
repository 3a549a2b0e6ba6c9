use std::io::Write as _;

use sha2::Digest as _;
use std::path::Path;
use std::sync::Arc;

use tierseal::audit::{
    Action, AuditEvent, AuditKey, AuditSink, Checkpoint, CheckpointError, Durability, FileSink,
    LogHead, Outcome, Unfinished, VerifyProblem, verify, verify_with,
};
use tierseal::{AccessContext, Binding, Error, Keyring, Level, RecordOpener, RecordSealer, Tier};

use crate::common::{Fixture, cards};

fn root_key(fixture: &Fixture) -> AuditKey {
    fixture.keystore.audit_key().unwrap()
}

fn custodian_event(n: usize) -> AuditEvent {
    let mut event = AuditEvent::now("custodian", "alice", Action::Rotate, Outcome::Ok);
    event.tier = Some("restricted/cards".into());
    event.key_version = Some(u32::try_from(n).unwrap());
    event
}

/// A log of `count` custodian events, written and closed.
fn write_log(fixture: &Fixture, path: &Path, count: usize) {
    let sink = FileSink::open(path, root_key(fixture), Durability::Buffered).unwrap();
    for n in 0..count {
        sink.record(custodian_event(n)).unwrap();
    }
    sink.flush().unwrap();
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn rewrite(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).unwrap();
}

#[test]
fn an_intact_chain_of_ten_thousand_events_verifies() {
    let fixture = Fixture::new();
    let path = fixture.dir.path().join("audit.jsonl");
    write_log(&fixture, &path, 10_000);
    assert_eq!(verify(&path, &root_key(&fixture)).unwrap().entries, 10_000);
    // Appending later continues the same chain.
    write_log(&fixture, &path, 5);
    assert_eq!(verify(&path, &root_key(&fixture)).unwrap().entries, 10_005);
}

#[test]
fn an_edited_entry_is_pinpointed() {
    let fixture = Fixture::new();
    let path = fixture.dir.path().join("audit.jsonl");
    write_log(&fixture, &path, 20);
    let mut all = lines(&path);
    all[6] = all[6].replace("\"principal\":\"alice\"", "\"principal\":\"mallory\"");
    rewrite(&path, &all);
    let err = verify(&path, &root_key(&fixture)).unwrap_err();
    assert_eq!((err.line, err.problem), (7, VerifyProblem::BadMac), "{err}");
    assert!(err.to_string().starts_with("line 7 (entry 7)"), "{err}");
}

#[test]
fn a_deleted_entry_is_pinpointed() {
    let fixture = Fixture::new();
    let path = fixture.dir.path().join("audit.jsonl");
    write_log(&fixture, &path, 20);
    let mut all = lines(&path);
    all.remove(9);
    rewrite(&path, &all);
    let err = verify(&path, &root_key(&fixture)).unwrap_err();
    assert_eq!(
        (err.line, err.seq, err.problem),
        (10, Some(11), VerifyProblem::SequenceBreak),
        "{err}"
    );
}

#[test]
fn swapped_entries_are_pinpointed() {
    let fixture = Fixture::new();
    let path = fixture.dir.path().join("audit.jsonl");
    write_log(&fixture, &path, 20);
    let mut all = lines(&path);
    all.swap(3, 4);
    rewrite(&path, &all);
    let err = verify(&path, &root_key(&fixture)).unwrap_err();
    assert_eq!(
        (err.line, err.problem),
        (4, VerifyProblem::SequenceBreak),
        "{err}"
    );
}

#[test]
fn an_entry_forged_without_the_key_is_pinpointed() {
    let fixture = Fixture::new();
    let path = fixture.dir.path().join("audit.jsonl");
    write_log(&fixture, &path, 5);
    // A second keystore's key stands in for someone without ours: they can
    // write a well-formed, chained entry, but not a valid MAC.
    let other = Fixture::new();
    let forger = FileSink::open(&path, root_key(&other), Durability::Flush).unwrap();
    forger.record(custodian_event(99)).unwrap();
    drop(forger);
    let err = verify(&path, &root_key(&fixture)).unwrap_err();
    assert_eq!(
        (err.line, err.seq, err.problem),
        (6, Some(6), VerifyProblem::BadMac),
        "{err}"
    );
}

#[test]
fn an_incomplete_last_line_is_reported_and_the_next_writer_cuts_it_on_the_record() {
    let fixture = Fixture::new();
    let path = fixture.dir.path().join("audit.jsonl");
    write_log(&fixture, &path, 5);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 40]).unwrap();
    let err = verify(&path, &root_key(&fixture)).unwrap_err();
    assert_eq!(
        (err.line, err.problem),
        (5, VerifyProblem::Truncated),
        "{err}"
    );

    // The interrupted entry was never acknowledged: a writer cuts it,
    // records the cut (with the fragment's length and hash) and continues
    // the chain from entry 4.
    write_log(&fixture, &path, 1);
    let report = verify(&path, &root_key(&fixture)).unwrap();
    assert_eq!(report.entries, 6);
    assert_eq!(report.incidents.len(), 1, "{report:?}");
    let (seq, repair) = &report.incidents[0];
    assert_eq!((*seq, repair.action), (5, Action::LogRepair));
    let reason = repair.reason.as_deref().unwrap();
    let kept = &bytes[..bytes.len() - 40];
    let fragment = &kept[kept.iter().rposition(|b| *b == b'\n').unwrap() + 1..];
    let digest: String = sha2::Sha256::digest(fragment)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(
        reason.contains(&format!("{} bytes (SHA-256 {digest})", fragment.len())),
        "{reason}"
    );
}

#[test]
fn a_whole_last_entry_without_its_newline_is_completed_not_cut() {
    let fixture = Fixture::new();
    let path = fixture.dir.path().join("audit.jsonl");
    write_log(&fixture, &path, 5);
    let before = lines(&path);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
    write_log(&fixture, &path, 1);
    let report = verify(&path, &root_key(&fixture)).unwrap();
    assert_eq!(report.entries, 6, "the fifth entry was kept");
    assert!(report.incidents.is_empty(), "{report:?}");
    assert_eq!(lines(&path)[..5], before[..]);
}

#[test]
fn bytes_outside_the_signed_entry_are_refused() {
    let fixture = Fixture::new();
    let path = fixture.dir.path().join("audit.jsonl");
    write_log(&fixture, &path, 3);
    let original = lines(&path);
    let edits: [fn(&str) -> String; 5] = [
        // An unsigned extra field after the MAC...
        |line| format!("{},\"approved_by\":\"ciso\"}}", &line[..line.len() - 1]),
        // ...or before the entry.
        |line| line.replacen("{\"entry\":", "{\"note\":1,\"entry\":", 1),
        // A second MAC field (JSON readers differ on which one wins).
        |line| {
            format!(
                "{},\"mac\":\"{}\"}}",
                &line[..line.len() - 1],
                "0".repeat(64)
            )
        },
        // Whitespace is unsigned too.
        |line| line.replacen("{\"entry\":", "{ \"entry\":", 1),
        // An upper-case MAC is another spelling of the same bytes.
        |line| {
            let (head, mac) = line.split_at(line.len() - 66);
            format!("{head}{}", mac.to_uppercase())
        },
    ];
    for (n, edit) in edits.iter().enumerate() {
        let mut all = original.clone();
        all[1] = edit(&all[1]);
        assert_ne!(all[1], original[1], "edit {n}");
        rewrite(&path, &all);
        let err = verify(&path, &root_key(&fixture)).unwrap_err();
        assert_eq!(
            (err.line, err.problem),
            (2, VerifyProblem::Malformed),
            "edit {n}: {err}"
        );
    }
}

#[test]
fn an_empty_or_missing_log_is_not_intact() {
    let fixture = Fixture::new();
    let path = fixture.dir.path().join("audit.jsonl");
    let err = verify(&path, &root_key(&fixture)).unwrap_err();
    assert_eq!(err.problem, VerifyProblem::Missing, "{err}");
    std::fs::write(&path, b"").unwrap();
    let err = verify(&path, &root_key(&fixture)).unwrap_err();
    assert_eq!(err.problem, VerifyProblem::Empty, "{err}");
    // Unless a checkpoint says it was empty.
    let empty = Checkpoint::now(LogHead::empty());
    assert_eq!(
        verify_with(&path, &root_key(&fixture), std::slice::from_ref(&empty))
            .unwrap()
            .entries,
        0
    );
    std::fs::remove_file(&path).unwrap();
    assert_eq!(
        verify_with(&path, &root_key(&fixture), &[empty])
            .unwrap()
            .entries,
        0
    );
}

/// A checkpoint of the log as it stands, through its file form.
fn checkpoint(fixture: &Fixture, path: &Path) -> Checkpoint {
    let head = verify(path, &root_key(fixture)).unwrap().head;
    let file = Checkpoint::now(head).to_file(&root_key(fixture)).unwrap();
    Checkpoint::from_file(file.as_bytes(), &root_key(fixture)).unwrap()
}

#[test]
fn removing_the_last_entries_is_found_by_a_checkpoint() {
    let fixture = Fixture::new();
    let path = fixture.dir.path().join("audit.jsonl");
    write_log(&fixture, &path, 10);
    let taken = checkpoint(&fixture, &path);
    assert_eq!(taken.head.seq, 10);
    write_log(&fixture, &path, 2);
    let report = verify_with(&path, &root_key(&fixture), std::slice::from_ref(&taken)).unwrap();
    assert_eq!((report.entries, report.uncovered()), (12, 2));
    assert_eq!(report.covered_by, Some(taken.clone()));

    // Without a checkpoint, a log cut back to entry 7 still verifies...
    let mut all = lines(&path);
    all.truncate(7);
    rewrite(&path, &all);
    assert_eq!(verify(&path, &root_key(&fixture)).unwrap().entries, 7);
    // ...with one, it does not.
    let err = verify_with(&path, &root_key(&fixture), std::slice::from_ref(&taken)).unwrap_err();
    assert_eq!(
        (err.line, err.problem),
        (8, VerifyProblem::TailRemoved),
        "{err}"
    );
    assert!(
        err.to_string().contains("entries 8..=10 were removed"),
        "{err}"
    );
    // Every entry removed: the file is gone, the checkpoint remains.
    std::fs::remove_file(&path).unwrap();
    let err = verify_with(&path, &root_key(&fixture), &[taken]).unwrap_err();
    assert_eq!(err.problem, VerifyProblem::TailRemoved, "{err}");
}

#[test]
fn a_replaced_log_does_not_match_the_checkpoint() {
    let fixture = Fixture::new();
    let path = fixture.dir.path().join("audit.jsonl");
    write_log(&fixture, &path, 4);
    let taken = checkpoint(&fixture, &path);
    // Someone with a service's key writes a fresh log of their own.
    std::fs::remove_file(&path).unwrap();
    let service = FileSink::open(
        &path,
        root_key(&fixture).derive("custodian").unwrap(),
        Durability::Flush,
    )
    .unwrap();
    for n in 0..6 {
        service.record(custodian_event(n)).unwrap();
    }
    drop(service);
    let err = verify_with(&path, &root_key(&fixture), &[taken]).unwrap_err();
    assert_eq!(
        (err.line, err.problem),
        (4, VerifyProblem::CheckpointMismatch),
        "{err}"
    );
}

#[test]
fn a_checkpoint_file_cannot_be_edited_or_made_by_a_writer() {
    let fixture = Fixture::new();
    let path = fixture.dir.path().join("audit.jsonl");
    write_log(&fixture, &path, 3);
    let head = verify(&path, &root_key(&fixture)).unwrap().head;
    let file = Checkpoint::now(head).to_file(&root_key(&fixture)).unwrap();
    let edited = file.replace("\"seq\":3", "\"seq\":2");
    assert_ne!(edited, file);
    assert_eq!(
        Checkpoint::from_file(edited.as_bytes(), &root_key(&fixture)),
        Err(CheckpointError::Forged)
    );
    let writer = root_key(&fixture).derive("custodian").unwrap();
    let head = verify(&path, &root_key(&fixture)).unwrap().head;
    assert_eq!(
        Checkpoint::now(head).to_file(&writer),
        Err(CheckpointError::NeedsRootKey)
    );
    // Another keystore's root key is not ours.
    assert_eq!(
        Checkpoint::from_file(file.as_bytes(), &root_key(&Fixture::new())),
        Err(CheckpointError::Forged)
    );
    let extra = file.replace("\"version\":1,", "\"version\":1,\"note\":0,");
    assert!(Checkpoint::from_file(extra.as_bytes(), &root_key(&fixture)).is_err());
}

#[test]
fn an_intent_without_its_outcome_is_reported() {
    let fixture = Fixture::new();
    let path = fixture.dir.path().join("audit.jsonl");
    let sink = FileSink::open(&path, root_key(&fixture), Durability::Sync).unwrap();
    let mut intent = custodian_event(2);
    intent.outcome = Outcome::Intent;
    sink.record(intent.clone()).unwrap();
    let first = sink.head().unwrap();
    assert_eq!(first.seq, 1);
    let mut outcome = custodian_event(2);
    outcome.intent = Some(first.seq);
    sink.record(outcome.clone()).unwrap();
    sink.record(intent).unwrap();
    drop(sink);
    let report = verify(&path, &root_key(&fixture)).unwrap();
    assert_eq!(
        report.unfinished,
        [Unfinished {
            seq: 3,
            action: Action::Rotate
        }]
    );
    // An outcome must answer an open intent of its own action.
    let sink = FileSink::open(&path, root_key(&fixture), Durability::Sync).unwrap();
    outcome.intent = Some(1);
    sink.record(outcome).unwrap();
    drop(sink);
    let err = verify(&path, &root_key(&fixture)).unwrap_err();
    assert_eq!(
        (err.line, err.problem),
        (4, VerifyProblem::UnknownIntent),
        "{err}"
    );
}

#[test]
fn a_writer_key_cannot_sign_for_another_writer() {
    let fixture = Fixture::new();
    let path = fixture.dir.path().join("audit.jsonl");
    let service_key = root_key(&fixture).derive("loans").unwrap();
    assert!(service_key.derive("cards").is_none());
    let sink = FileSink::open(&path, service_key, Durability::Flush).unwrap();
    let err = sink.record(custodian_event(1)).unwrap_err();
    assert!(matches!(err, Error::InvalidParameter { .. }), "{err:?}");
}

fn audited(fixture: &Fixture, path: &Path, durability: Durability) -> Keyring {
    let sink = FileSink::open(path, root_key(fixture), durability).unwrap();
    fixture.everything().with_audit(Arc::new(sink))
}

#[test]
fn opens_record_who_what_and_why_but_never_a_value() {
    let fixture = Fixture::new();
    let path = fixture.dir.path().join("audit.jsonl");
    let keyring = audited(&fixture, &path, Durability::Flush);
    let binding = Binding::new("Customer", "").with_record_id("cus_042");
    let mut sealer = RecordSealer::new(&keyring, binding);
    let name = sealer
        .seal_field(&Tier::INTERNAL, "name", "Ada Lovelace")
        .unwrap();
    let card = sealer
        .seal_field(&cards(), "card_number", "4111111111111111")
        .unwrap();
    let keys = sealer.finish();

    let ctx = AccessContext::new("alice@support").with_purpose("TICKET-4711");
    let mut opener = RecordOpener::new(&keyring, &keys, binding, &ctx);
    assert_eq!(
        opener
            .open_field::<String>(&Tier::INTERNAL, "name", &name)
            .unwrap(),
        "Ada Lovelace"
    );
    assert_eq!(
        opener
            .open_field::<String>(&cards(), "card_number", &card)
            .unwrap(),
        "4111111111111111"
    );
    opener.finish().unwrap();

    // A service without the cards tier: the card is withheld.
    let support = fixture.up_to(Level::Internal).with_audit(Arc::new(
        FileSink::open(&path, root_key(&fixture), Durability::Flush).unwrap(),
    ));
    let mut opener = RecordOpener::new(&support, &keys, binding, &ctx);
    opener
        .open_field::<String>(&Tier::INTERNAL, "name", &name)
        .unwrap();
    assert!(
        opener
            .open_field::<String>(&cards(), "card_number", &card)
            .is_err()
    );
    opener.finish().unwrap();
    drop((keyring, support));

    let text = std::fs::read_to_string(&path).unwrap();
    // The card's last four digits as a value or a mask: a bare "1111"
    // also occurs by chance in the log's hex MACs and ids.
    for secret in ["Ada Lovelace", "4111111111111111", "\"1111\"", "*1111"] {
        assert!(!text.contains(secret), "{secret} in the audit log");
    }
    let events = tierseal::audit::read_events(&path).unwrap();
    let actions: Vec<(Action, Outcome)> =
        events.iter().map(|(_, e)| (e.action, e.outcome)).collect();
    assert_eq!(
        actions,
        [
            (Action::Seal, Outcome::Ok),
            (Action::Open, Outcome::Ok),
            (Action::Open, Outcome::Partial)
        ]
    );
    let open = &events[1].1;
    assert_eq!(open.principal, "alice@support");
    assert_eq!(open.purpose.as_deref(), Some("TICKET-4711"));
    assert_eq!(open.record_id.as_deref(), Some("cus_042"));
    assert_eq!(open.fields.len(), 2);
    assert_eq!(open.fields[1].tier, cards());
    assert_eq!(open.fields[1].key_version, Some(1));
    assert_eq!(verify(&path, &root_key(&fixture)).unwrap().entries, 3);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the log is readable by its owner only");
    }
}

#[test]
fn opening_above_the_threshold_without_a_purpose_is_refused_and_recorded() {
    let fixture = Fixture::new();
    let path = fixture.dir.path().join("audit.jsonl");
    let keyring = audited(&fixture, &path, Durability::Flush);
    let binding = Binding::new("Customer", "").with_record_id("cus_1");
    let mut sealer = RecordSealer::new(&keyring, binding);
    let name = sealer.seal_field(&Tier::INTERNAL, "name", "Ada").unwrap();
    let balance = sealer
        .seal_field(&Tier::CONFIDENTIAL, "balance", &10_i64)
        .unwrap();
    let keys = sealer.finish();

    let no_purpose = AccessContext::new("batch-job");
    let mut opener = RecordOpener::new(&keyring, &keys, binding, &no_purpose);
    assert_eq!(
        opener
            .open_field::<String>(&Tier::INTERNAL, "name", &name)
            .unwrap(),
        "Ada"
    );
    let err = opener
        .open_field::<i64>(&Tier::CONFIDENTIAL, "balance", &balance)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::PurposeRequired {
                level: Level::Confidential,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("without a purpose"));
    drop(opener);

    // The threshold is the keyring's to set.
    let strict = fixture.everything().with_purpose_threshold(Level::Internal);
    let mut opener = RecordOpener::new(&strict, &keys, binding, &no_purpose);
    assert!(
        opener
            .open_field::<String>(&Tier::INTERNAL, "name", &name)
            .is_err()
    );

    drop(keyring);
    let events = tierseal::audit::read_events(&path).unwrap();
    assert_eq!(events.last().unwrap().1.outcome, Outcome::Denied);
}

#[test]
fn failed_opens_are_recorded() {
    let fixture = Fixture::new();
    let path = fixture.dir.path().join("audit.jsonl");
    let keyring = audited(&fixture, &path, Durability::Flush);
    let alice = Binding::new("Customer", "").with_record_id("cus_alice");
    let bob = Binding::new("Customer", "").with_record_id("cus_bob");
    let mut sealer = RecordSealer::new(&keyring, alice);
    let card = sealer
        .seal_field(&cards(), "card_number", "4111111111111111")
        .unwrap();
    let keys = sealer.finish();
    let ctx = AccessContext::new("mallory").with_purpose("curiosity");
    let mut opener = RecordOpener::new(&keyring, &keys, bob, &ctx);
    assert!(matches!(
        opener.open_field::<String>(&cards(), "card_number", &card),
        Err(Error::Integrity { .. })
    ));
    drop(opener); // never finished: the failure is still recorded
    drop(keyring);
    let events = tierseal::audit::read_events(&path).unwrap();
    let last = &events.last().unwrap().1;
    assert_eq!((last.action, last.outcome), (Action::Open, Outcome::Failed));
    assert_eq!(last.reason.as_deref(), Some("integrity"));
    assert_eq!(last.principal, "mallory");
}

#[test]
fn eight_threads_opening_at_once_leave_a_gap_free_chain() {
    let fixture = Fixture::new();
    let path = fixture.dir.path().join("audit.jsonl");
    let keyring = audited(&fixture, &path, Durability::Buffered);
    let binding = Binding::new("Customer", "").with_record_id("cus_1");
    let mut sealer = RecordSealer::new(&keyring, binding);
    let name = sealer.seal_field(&Tier::INTERNAL, "name", "Ada").unwrap();
    let keys = sealer.finish();
    std::thread::scope(|scope| {
        for thread in 0..8 {
            let (keyring, keys, name) = (&keyring, &keys, &name);
            scope.spawn(move || {
                let ctx = AccessContext::new(format!("worker-{thread}")).with_purpose("load test");
                for _ in 0..250 {
                    let mut opener = RecordOpener::new(keyring, keys, binding, &ctx);
                    opener
                        .open_field::<String>(&Tier::INTERNAL, "name", name)
                        .unwrap();
                    opener.finish().unwrap();
                }
            });
        }
    });
    drop(keyring);
    assert_eq!(verify(&path, &root_key(&fixture)).unwrap().entries, 2_000);
    let events = tierseal::audit::read_events(&path).unwrap();
    let seqs: Vec<u64> = events.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, (1..=2_000).collect::<Vec<_>>());
}

const CHILD_ENV: &str = "TIERSEAL_TEST_AUDIT_CHILD";

/// In a child process (`TIERSEAL_TEST_AUDIT_CHILD=keystore|log`) appends
/// 200 events; run directly it appends them in-process.
#[test]
fn audit_child_process_entry() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        let (keystore, log) = spec.split_once('|').unwrap();
        let keystore =
            tierseal::Keystore::open(keystore, &crate::common::PASSPHRASE.into()).unwrap();
        let key = keystore.audit_key().unwrap();
        drop(keystore);
        let sink = FileSink::open(log, key, Durability::Flush).unwrap();
        for n in 0..200 {
            sink.record(custodian_event(n)).unwrap();
        }
        return;
    }
    let fixture = Fixture::new();
    let path = fixture.dir.path().join("audit.jsonl");
    write_log(&fixture, &path, 200);
    assert_eq!(verify(&path, &root_key(&fixture)).unwrap().entries, 200);
}

#[test]
fn several_processes_appending_keep_one_chain() {
    let fixture = Fixture::new();
    let path = fixture.dir.path().join("audit.jsonl");
    let key = root_key(&fixture);
    let keystore_path = fixture.path();
    drop(fixture.keystore);
    let spec = format!("{}|{}", keystore_path.display(), path.display());
    let children: Vec<_> = (0..3)
        .map(|_| {
            std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "audit::audit_child_process_entry",
                    "--test-threads=1",
                ])
                .env(CHILD_ENV, &spec)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    assert_eq!(verify(&path, &key).unwrap().entries, 600);
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    file.write_all(b"{\"not\":\"an entry\"}\n").unwrap();
    assert_eq!(
        verify(&path, &key).unwrap_err().problem,
        VerifyProblem::Malformed
    );
    drop(fixture.dir);
}

/// Collects what `tracing` events carry, as text.
#[derive(Default)]
struct Capture(std::sync::Mutex<Vec<String>>);

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        struct Fields(String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!("{}={:?} ", field.name(), value));
            }
        }
        let mut fields = Fields(format!("{} ", event.metadata().target()));
        event.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

/// Counts events, for combining sinks.
#[derive(Default)]
struct Counter(std::sync::atomic::AtomicUsize);

impl AuditSink for Counter {
    fn record(&self, _: AuditEvent) -> Result<(), Error> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

#[test]
fn the_tracing_sink_and_combined_sinks_carry_every_event_and_no_value() {
    use tierseal::audit::{MultiSink, TracingSink};
    let fixture = Fixture::new();
    let path = fixture.dir.path().join("audit.jsonl");
    let counter = Arc::new(Counter::default());
    let sinks = MultiSink::new()
        .with(Arc::new(TracingSink))
        .with(Arc::new(
            FileSink::open(&path, root_key(&fixture), Durability::Flush).unwrap(),
        ))
        .with(counter.clone());
    let keyring = fixture.everything().with_audit(Arc::new(sinks));
    let capture = Arc::new(Capture::default());
    let binding = Binding::new("Customer", "").with_record_id("cus_9");
    tracing::subscriber::with_default(capture.clone(), || {
        let mut sealer = RecordSealer::new(&keyring, binding);
        let card = sealer
            .seal_field(&cards(), "card_number", "4111111111111111")
            .unwrap();
        let keys = sealer.finish();
        let ctx = AccessContext::new("alice").with_purpose("TICKET-9");
        let mut opener = RecordOpener::new(&keyring, &keys, binding, &ctx);
        opener
            .open_field::<String>(&cards(), "card_number", &card)
            .unwrap();
        opener.finish().unwrap();
    });
    assert_eq!(counter.0.load(std::sync::atomic::Ordering::SeqCst), 2);
    let lines = capture.0.lock().unwrap().clone();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[1].starts_with("tierseal::audit "), "{lines:?}");
    assert!(
        lines[1].contains("action=\"open\"") && lines[1].contains("principal=alice"),
        "{lines:?}"
    );
    assert!(lines[1].contains("record_id=\"cus_9\""), "{lines:?}");
    assert!(lines.iter().all(|line| !line.contains("4111111111111111")));
    drop(keyring);
    assert_eq!(verify(&path, &root_key(&fixture)).unwrap().entries, 2);
}
