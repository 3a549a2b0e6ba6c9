//! One module per command; this one dispatches and holds what they share.

mod audit;
mod grant;
mod init;
mod keys;
mod lint;
mod passphrase;
mod rewrap;

use std::io::IsTerminal as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use tierseal::audit::{Action, AuditEvent, AuditSink as _, Durability, FileSink, Outcome};
use tierseal::{Clearance, KdfProfile, Keyring, Keystore};

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
    if !global.keystore.exists() {
        return Err(CliError::Refused(format!(
            "no keystore at {}: create one with `tierseal init` or pass --keystore PATH",
            global.keystore.display()
        )));
    }
    let passphrase = keystore_passphrase(global)?;
    Ok(Keystore::open_with_lock_wait(
        &global.keystore,
        &passphrase,
        Duration::from_secs(global.lock_wait),
    )?)
}

/// A key operation for the audit log.
#[derive(Default)]
struct Operation<'a> {
    tier: Option<&'a tierseal::Tier>,
    version: Option<u32>,
    reason: Option<String>,
}

/// Records a custodian's key operation in the audit log (fsynced). A key
/// operation that cannot be recorded is reported as an error: it has
/// happened, and the custodian must know its record is missing.
fn record(
    global: &GlobalArgs,
    keystore: &Keystore,
    action: Action,
    operation: Operation<'_>,
) -> Result<(), CliError> {
    let actor = global
        .actor
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".into());
    let mut event = AuditEvent::now(tierseal::CUSTODIAN, &actor, action, Outcome::Ok);
    event.tier = operation.tier.map(ToString::to_string);
    event.key_version = operation.version;
    event.reason = operation.reason;
    let path = audit_log(global);
    let sink = FileSink::open(&path, keystore.audit_key()?, Durability::Sync)?;
    sink.record(event).map_err(|e| {
        CliError::Refused(format!(
            "the operation succeeded but could not be recorded in {}: {e}",
            path.display()
        ))
    })
}

/// The audit log's path.
fn audit_log(global: &GlobalArgs) -> std::path::PathBuf {
    global.audit_log.clone().unwrap_or_else(|| {
        let mut name = global.keystore.as_os_str().to_owned();
        name.push(".audit.jsonl");
        std::path::PathBuf::from(name)
    })
}

/// A keyring with every tier of the keystore: the custodian's.
fn custodian_keyring(keystore: &Keystore) -> Result<Keyring, CliError> {
    let clearance: Clearance = keystore.tiers().cloned().collect();
    Ok(keystore.keyring(&clearance)?)
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

/// Prints a line of command output.
#[allow(clippy::print_stdout, reason = "the command's output")]
fn say(text: &str) {
    println!("{text}");
}
