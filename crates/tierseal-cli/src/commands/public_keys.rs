//! `tierseal keys publish` and `tierseal grant issue --seal-only`: signed
//! public key sets for seal-only services.
//!
//! Publishing signs with the keystore's publisher key, a custodian key
//! operation: it is announced and recorded in the audit log as a grant
//! issue (a seal-only grant to whoever reads the file), with the set's
//! serial in the reason.

use std::path::Path;
use std::process::ExitCode;

use tierseal::Keystore;
use tierseal::audit::Action;

use super::{Operation, announce, open_keystore, refuse_overwrite, say, write_atomically};
use crate::CliError;
use crate::cli::{GlobalArgs, GrantIssueArgs};

/// Publishes every tier's public key to `out`.
pub(super) fn publish(
    global: &GlobalArgs,
    keystore: &mut Keystore,
    out: &Path,
    force: bool,
) -> Result<(), CliError> {
    refuse_overwrite(out, force)?;
    write_set(global, keystore, None, "every tier", out)
}

/// Writes a seal-only grant: the clearance's public keys, signed.
pub(super) fn issue_seal_only(
    global: &GlobalArgs,
    args: &GrantIssueArgs,
) -> Result<ExitCode, CliError> {
    let Some(clearance) = &args.clearance else {
        return Err(CliError::Usage(
            "--seal-only needs --clearance: the tiers the service may seal to".into(),
        ));
    };
    refuse_overwrite(&args.out, args.force)?;
    let mut keystore = open_keystore(global)?;
    let who = format!("seal-only grant to {} for {clearance}", args.principal);
    write_set(global, &mut keystore, Some(clearance), &who, &args.out)?;
    Ok(ExitCode::SUCCESS)
}

fn write_set(
    global: &GlobalArgs,
    keystore: &mut Keystore,
    clearance: Option<&tierseal::Clearance>,
    what: &str,
    out: &Path,
) -> Result<(), CliError> {
    let mut intent = announce(
        global,
        keystore,
        Action::GrantIssue,
        Operation {
            reason: Some(format!("public key set: {what}")),
            ..Operation::default()
        },
    )?;
    let written = (|| -> Result<tierseal::PublicKeySet, CliError> {
        let (bytes, set) = keystore.publish_public_keys_for(clearance)?;
        write_atomically(out, &bytes)?;
        Ok(set)
    })();
    if let Ok(set) = &written {
        intent.note(format!("public key set serial {}: {what}", set.serial()));
    }
    let set = intent.finish(written, keystore)?;
    let mut lines = format!(
        "wrote public key set serial {} ({what}) to {}\n  publisher key (pin this in each seal-only service): {}",
        set.serial(),
        out.display(),
        set.signer()
    );
    for key in set.keys() {
        lines.push_str(&format!(
            "\n  {} v{} {}",
            key.tier(),
            key.version(),
            key.suite()
        ));
    }
    say(&lines);
    Ok(())
}
