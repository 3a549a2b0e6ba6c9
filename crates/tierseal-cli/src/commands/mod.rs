//! One module per command; this one dispatches and holds what they share.

mod approve;
mod audit;
mod grant;
mod init;
mod kek;
mod keys;
mod lint;
mod passphrase;
mod public_keys;
mod report;
mod rewrap;
mod shares;

use std::io::IsTerminal as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use tierseal::audit::{
    Action, AuditEvent, AuditSink as _, Durability, FileSink, Outcome, VerifyProblem,
};
use tierseal::{Clearance, KdfProfile, Keyring, Keystore, KeystoreLocation};

use crate::CliError;
use crate::cli::{Cli, Command, GlobalArgs, KdfProfileArg};
use crate::passphrase::{self as secret, Source};

/// Runs the parsed command.
pub(crate) fn run(cli: &Cli) -> Result<ExitCode, CliError> {
    let global = &cli.global;
    match &cli.command {
        Command::Init(args) => init::run(global, args),
        Command::Keys(command) => keys::run(global, command),
        Command::Passphrase(command) => passphrase::run(global, command),
        Command::Grant(command) => grant::run(global, command),
        Command::Rewrap(args) => rewrap::run(global, args),
        Command::Lint(args) => lint::lint(args),
        Command::Inventory(args) => lint::inventory(args),
        Command::Audit(command) => audit::run(global, command),
        Command::Report(args) => report::run(global, args),
        Command::Shares(command) => shares::run(global, command),
        Command::Approve(args) => approve::approve(global, args),
        Command::ApproverKey => approve::approver_key(global),
    }
}

/// The passphrase for the keystore named in `global`.
fn keystore_passphrase(global: &GlobalArgs) -> Result<tierseal::Passphrase, CliError> {
    secret::read(&Source {
        file: global.passphrase_file.as_deref(),
        env: "TIERSEAL_PASSPHRASE",
        prompt: "keystore passphrase: ",
        confirm: false,
    })
}

/// Opens (and locks) the keystore.
fn open_keystore(global: &GlobalArgs) -> Result<Keystore, CliError> {
    if keystore_file_missing(global) {
        return Err(CliError::Refused(format!(
            "no keystore at {}: create one with `tierseal init` or pass --keystore PATH",
            global.keystore
        )));
    }
    let wait = Duration::from_secs(global.lock_wait);
    // A keystore protected by a key-encryption provider needs no
    // passphrase: the header names the provider, the environment holds
    // the credential.
    if let Some(params) = Keystore::kek_params_at(&global.keystore)? {
        if !global.shares.is_empty() {
            return Err(CliError::Usage(format!(
                "{} is protected by {}, not by custodian shares: drop --share",
                global.keystore,
                params.kind()
            )));
        }
        let provider = kek::provider_for(&params)?;
        return Ok(Keystore::open_with_kek_at(
            &global.keystore,
            provider,
            wait,
        )?);
    }
    // A file that cannot be read this far is left for `open` to name.
    let split = Keystore::peek_share_set(&global.keystore).ok().flatten();
    if split.is_some() || !global.shares.is_empty() {
        let keys = shares::share_keys(global, split.as_ref())?;
        return Ok(Keystore::open_with_shares(&global.keystore, &keys, wait)?);
    }
    let passphrase = keystore_passphrase(global)?;
    Ok(Keystore::open_at(&global.keystore, &passphrase, wait)?)
}

/// Refuses `op` when the keystore's dual-control policy reserves it to M
/// custodians and fewer unlocked the keystore. On a split keystore every
/// unlock already takes M shares, so this holds whenever the keystore is
/// open; it stays as a check that the record names M approvers.
fn dual_control(keystore: &Keystore, op: tierseal::DualControlOp) -> Result<(), CliError> {
    let Some(set) = keystore.share_set() else {
        return Ok(());
    };
    let got = keystore.custodians().len();
    if keystore.requires_dual_control(op) && got < usize::from(set.threshold) {
        return Err(tierseal::Error::DualControlRequired {
            operation: op.as_str(),
            needed: set.threshold,
            got,
        }
        .into());
    }
    Ok(())
}

/// Whether the keystore is a file that does not exist (a keystore in
/// OpenBao is looked for when it is opened).
fn keystore_file_missing(global: &GlobalArgs) -> bool {
    match &global.keystore {
        KeystoreLocation::File(path) => !path.exists(),
        KeystoreLocation::OpenBao { .. } => false,
    }
}

/// A key operation for the audit log.
#[derive(Default)]
struct Operation<'a> {
    tier: Option<&'a tierseal::Tier>,
    version: Option<u32>,
    reason: Option<String>,
}

/// A key operation announced in the audit log before it changes anything;
/// [`Intent::finish`] records how it ended. A process killed in between
/// leaves an intent without outcome, which `audit verify` and `audit show`
/// report: no change to the keystore goes unrecorded.
struct Intent {
    sink: FileSink,
    event: AuditEvent,
    seq: u64,
    /// Whether the log was found behind the keystore's checkpoint (and the
    /// loss recorded).
    lost: bool,
}

/// Records the intent of a custodian's key operation (fsynced). If it
/// cannot be recorded, nothing is done.
fn announce(
    global: &GlobalArgs,
    keystore: &Keystore,
    action: Action,
    operation: Operation<'_>,
) -> Result<Intent, CliError> {
    let actor = global
        .actor
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".into());
    let mut event = AuditEvent::now(tierseal::CUSTODIAN, &actor, action, Outcome::Intent);
    event.tier = operation.tier.map(ToString::to_string);
    event.key_version = operation.version;
    event.reason = operation.reason;
    // On a split keystore, the custodians whose shares unlocked it approved
    // the operation: each is named (from the holder name their share binds).
    event.approvers = keystore.custodians().to_vec();
    let path = audit_log(global);
    let unrecorded = |e: &dyn std::fmt::Display| {
        CliError::Refused(format!(
            "could not record the {} in {}: {e}; nothing was changed",
            action.as_str(),
            path.display()
        ))
    };
    let key = keystore.audit_key()?;
    let loss = lost_entries(global, keystore, &key, &path);
    let lost = loss.is_some();
    let sink = FileSink::open(&path, key, Durability::Sync).map_err(|e| unrecorded(&e))?;
    if let Some(detail) = loss {
        // Continuing the log (and moving the keystore's checkpoint past it)
        // must not hide the loss: it goes on the record first.
        eprintln!("tierseal: warning: the audit log lost entries: {detail}");
        let mut loss = AuditEvent::now(tierseal::CUSTODIAN, &actor, Action::LogLoss, Outcome::Ok);
        loss.reason = Some(detail);
        sink.record(loss).map_err(|e| unrecorded(&e))?;
    }
    sink.record(event.clone()).map_err(|e| unrecorded(&e))?;
    let seq = sink.head().map_or(0, |head| head.seq);
    Ok(Intent {
        sink,
        event,
        seq,
        lost,
    })
}

impl Intent {
    /// Records in the outcome the version a change created: with a
    /// keystore in OpenBao it can be later than the one announced, when the
    /// change was re-applied after another custodian's.
    fn created_version<E>(&mut self, created: &Result<u32, E>) {
        if let Ok(version) = created {
            self.event.key_version = Some(*version);
        }
    }

    /// Replaces the reason the outcome records (for results known only
    /// at the end, such as counts).
    fn note(&mut self, reason: String) {
        self.event.reason = Some(reason);
    }

    /// Records the outcome of the announced operation (fsynced), then the
    /// log's new head as the keystore's checkpoint, and passes the
    /// operation's result on. An outcome that cannot be recorded is an
    /// error: the change happened and its record is only the intent.
    fn finish<T, E: Into<CliError>>(
        self,
        result: Result<T, E>,
        keystore: &mut Keystore,
    ) -> Result<T, CliError> {
        let result = result.map_err(Into::into);
        let mut event = self.event;
        event.time = tierseal::audit::Timestamp::now();
        event.intent = Some(self.seq);
        match &result {
            Ok(_) => event.outcome = Outcome::Ok,
            Err(error) => {
                event.outcome = Outcome::Failed;
                event.reason = Some(failure_kind(error).to_owned());
            }
        }
        let action = event.action;
        self.sink.record(event).map_err(|e| {
            CliError::Refused(format!(
                "the {} {} but its outcome could not be recorded in {} (its intent is entry {}): {e}",
                action.as_str(),
                if result.is_ok() { "succeeded" } else { "failed" },
                self.sink.path().display(),
                self.seq
            ))
        })?;
        let checkpointed = self
            .sink
            .head()
            .and_then(|head| Some((head.seq, head.mac_bytes()?)))
            .map(|(seq, mac)| keystore.record_audit_checkpoint(seq, mac));
        match checkpointed {
            Some(Ok(())) => {}
            // After a loss the log can be shorter than the checkpoint,
            // which never moves back; the loss is on the record.
            Some(Err(tierseal::Error::AuditCheckpointRegressed { recorded, .. })) if self.lost => {
                eprintln!(
                    "tierseal: warning: the keystore keeps its checkpoint of entry {recorded} \
                     until the log grows past it"
                );
            }
            // A keystore in OpenBao has no lock spanning the command: a
            // custodian appending to the same log after this one may have
            // checkpointed its later entry first. The checkpoint is ahead
            // of this entry, which is fine; the next announce checks the
            // log against it.
            Some(Err(tierseal::Error::AuditCheckpointRegressed { recorded, offered }))
                if !keystore.location().is_file() && recorded > offered => {}
            Some(Err(error)) if result.is_ok() => {
                return Err(CliError::Refused(format!(
                    "the {} succeeded and is recorded, but the keystore's checkpoint of {} \
                     could not be updated: {error}",
                    action.as_str(),
                    self.sink.path().display()
                )));
            }
            Some(Err(error)) => {
                eprintln!(
                    "tierseal: warning: the keystore's checkpoint of the audit log could not be \
                     updated: {error}"
                );
            }
            None => {}
        }
        result
    }
}

/// A short, secret-free name for why an operation failed, for the log.
fn failure_kind(error: &CliError) -> &'static str {
    match error {
        CliError::Tierseal(error) => error.kind(),
        CliError::Lint(_) => "lint",
        CliError::Io { .. } => "io",
        CliError::Usage(_) => "usage",
        CliError::Refused(_) => "refused",
        CliError::Report(_) => "report",
        CliError::DatabaseUrl { .. } => "database-url",
        CliError::Database { .. } => "database",
        CliError::DatabaseBusy { .. } => "database-busy",
        CliError::NoSuchTable { .. } => "no-such-table",
        CliError::NoSuchColumn { .. } => "no-such-column",
        CliError::NoRowKey { .. } => "no-row-key",
        CliError::Interrupted { source, .. } => failure_kind(source),
    }
}

/// The keystore's checkpoint of its own audit log, when `log` is that log
/// (other logs, such as services', have checkpoint files of their own).
fn keystore_checkpoint(
    global: &GlobalArgs,
    keystore: &Keystore,
    log: &Path,
) -> Option<tierseal::audit::Checkpoint> {
    let recorded = keystore.audit_checkpoint()?;
    if !same_file(log, &audit_log(global)) {
        return None;
    }
    Some(tierseal::audit::Checkpoint {
        head: tierseal::audit::LogHead::from_mac(recorded.seq, recorded.mac),
        time: (std::time::UNIX_EPOCH + Duration::from_secs(recorded.recorded_at)).into(),
    })
}

/// Whether two paths name the same file, whether or not it exists.
fn same_file(a: &Path, b: &Path) -> bool {
    let resolve = |path: &Path| {
        path.canonicalize().ok().or_else(|| {
            let dir = match path.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir,
                _ => Path::new("."),
            };
            Some(dir.canonicalize().ok()?.join(path.file_name()?))
        })
    };
    match (resolve(a), resolve(b)) {
        (Some(a), Some(b)) => a == b,
        _ => a == b,
    }
}

/// What the keystore's log lost since the keystore's checkpoint of it, if
/// anything: entries it covers that were removed, or a log replaced.
fn lost_entries(
    global: &GlobalArgs,
    keystore: &Keystore,
    key: &tierseal::audit::AuditKey,
    log: &Path,
) -> Option<String> {
    let checkpoint = keystore_checkpoint(global, keystore, log)?;
    match tierseal::audit::verify_with(log, key, &[checkpoint]) {
        Err(error)
            if matches!(
                error.problem,
                VerifyProblem::TailRemoved | VerifyProblem::CheckpointMismatch
            ) =>
        {
            Some(format!(
                "the keystore's checkpoint does not match {}: {error}",
                log.display()
            ))
        }
        // Other damage stays where it is, for `audit verify` to name.
        _ => None,
    }
}

/// The audit log's path.
fn audit_log(global: &GlobalArgs) -> std::path::PathBuf {
    global.audit_log.clone().unwrap_or_else(|| {
        let mut name = match &global.keystore {
            KeystoreLocation::File(path) => path.as_os_str().to_owned(),
            KeystoreLocation::OpenBao { mount, path } => {
                format!("tierseal-{mount}-{}", path.replace('/', "-")).into()
            }
        };
        name.push(".audit.jsonl");
        std::path::PathBuf::from(name)
    })
}

/// A keyring with every tier of the keystore: the custodian's, used to
/// rewrap before a retire. It accepts public-key tokens of every tier
/// (refused by default, since anyone with a published public key can
/// write one): a rewrap must move them to the primary version, or the
/// retire that follows would leave them unopenable.
fn custodian_keyring(keystore: &Keystore) -> Result<Keyring, CliError> {
    let clearance: Clearance = keystore.tiers().cloned().collect();
    let keyring = keystore.keyring(&clearance)?;
    Ok(clearance
        .tiers()
        .cloned()
        .fold(keyring, Keyring::accept_public_key_tokens))
}

/// The runtime profile for a CLI choice, announcing the test profile.
fn kdf_profile(arg: KdfProfileArg) -> KdfProfile {
    match arg {
        KdfProfileArg::Production => KdfProfile::Production,
        KdfProfileArg::Test => {
            eprintln!(
                "tierseal: warning: --kdf-profile test is cheap to brute-force: never use it for real keys"
            );
            KdfProfile::Test
        }
    }
}

/// Refuses to overwrite `path` unless `force`.
fn refuse_overwrite(path: &Path, force: bool) -> Result<(), CliError> {
    if path.exists() && !force {
        return Err(CliError::Refused(format!(
            "{} already exists: pass --force to overwrite it",
            path.display()
        )));
    }
    Ok(())
}

/// Asks a yes/no question on the terminal; without a terminal, refuses
/// (scripts pass `--yes`).
fn confirm(question: &str, yes: bool) -> Result<(), CliError> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Refused(
            "confirmation needed and there is no terminal: pass --yes to confirm".into(),
        ));
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| CliError::io("read", "the terminal", e))?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES") {
        Ok(())
    } else {
        Err(CliError::Refused(
            "not confirmed; nothing was changed".into(),
        ))
    }
}

/// Who may read a file [`write_file`] writes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Readers {
    /// As the umask allows: a public key set, a grant file, an audit
    /// checkpoint.
    Usual,
    /// Its owner only (mode 0600): a grant secret, an approval.
    Owner,
}

/// Writes `bytes` to a new temporary file beside `path`, flushes it to
/// disk, renames it over `path` and flushes the folder, so that a reader
/// never sees half a file, not even after a crash (a rename can reach the
/// disk before the data it names, and a new name is durable only once its
/// folder is). A run killed half way leaves the file it replaces whole.
/// For [`Readers::Owner`] the new file is made 0600 before anything is
/// written to it, so an existing file's looser mode, and any reader holding
/// it open, never see the new content.
fn write_file(path: &Path, bytes: &[u8], readers: Readers) -> Result<(), CliError> {
    use std::io::Write as _;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut file = tempfile::Builder::new()
        .prefix(".tierseal-")
        .tempfile_in(dir)
        .map_err(|e| CliError::io("write", path, e))?;
    #[cfg(unix)]
    if readers == Readers::Owner {
        use std::os::unix::fs::PermissionsExt as _;
        file.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| CliError::io("write", path, e))?;
    }
    file.write_all(bytes)
        .and_then(|()| file.as_file().sync_all())
        .map_err(|e| CliError::io("write", path, e))?;
    file.persist(path)
        .map_err(|e| CliError::io("write", path, e.error))?;
    std::fs::File::open(dir)
        .and_then(|folder| folder.sync_all())
        .map_err(|e| CliError::io("flush the folder of", path, e))
}

/// [`write_file`] for files that are not secret themselves.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    write_file(path, bytes, Readers::Usual)
}

/// [`write_file`] for a secret (a grant secret, an approval): readable by
/// its owner only, one line.
fn write_private(path: &Path, text: &str) -> Result<(), CliError> {
    let mut line = zeroize::Zeroizing::new(String::with_capacity(text.len() + 1));
    line.push_str(text);
    line.push('\n');
    write_file(path, line.as_bytes(), Readers::Owner)
}

/// Prints the command's product, which exists nowhere else (an approval
/// without `--out`, a key a script captures): unlike [`say`], a failure to
/// write it fails the command, naming `what` was lost.
fn emit(text: &str, what: &str) -> Result<(), CliError> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(|e| {
            CliError::Refused(format!(
                "{what} could not be written to the standard output ({e}): it is lost; use --out FILE or run again"
            ))
        })
}

/// Prints a line of command output.
///
/// The command's work is done (and audited) whatever becomes of its output,
/// so a reader that went away (`tierseal report | head`) ends the output, not
/// the process with a panic; any other write failure is said once on stderr.
fn say(text: &str) {
    use std::io::Write as _;
    use std::sync::atomic::{AtomicBool, Ordering};
    static FAILED: AtomicBool = AtomicBool::new(false);
    if FAILED.load(Ordering::Relaxed) {
        return;
    }
    if let Err(error) = writeln!(std::io::stdout().lock(), "{text}") {
        FAILED.store(true, Ordering::Relaxed);
        if error.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("tierseal: warning: the output could not be written: {error}");
        }
    }
}
