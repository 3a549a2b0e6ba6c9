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

/// Writes a seal-only grant: the clearance's public keys, signed; with
/// `--search`, also a search grant holding those tiers' index keys only.
pub(super) fn issue_seal_only(
    global: &GlobalArgs,
    args: &GrantIssueArgs,
) -> Result<ExitCode, CliError> {
    let Some(clearance) = &args.clearance else {
        return Err(CliError::Usage(
            "--seal-only needs --clearance: the tiers the service may seal to".into(),
        ));
    };
    let search = match (&args.search, args.expires) {
        (Some(search), Some(expires)) => Some((search, expires)),
        (Some(_), None) => {
            return Err(CliError::Usage(
                "--seal-only --search needs --expires: the search grant holds index keys, secrets that must expire".into(),
            ));
        }
        (None, _)
            if args.expires.is_some() || args.secret_out.is_some() || args.search_out.is_some() =>
        {
            return Err(CliError::Usage(
                "--expires, --secret-out and --search-out go with --seal-only only together with --search: a public key set holds no secret and does not expire".into(),
            ));
        }
        (None, _) => None,
    };
    if let Some(tier) =
        search.and_then(|(search, _)| search.tiers().find(|t| !clearance.tiers().any(|c| c == *t)))
    {
        return Err(CliError::Usage(format!(
            "--search {tier}: with --seal-only, --search names tiers of --clearance (the tiers whose index columns the service fills as it seals)"
        )));
    }
    let search_out = args
        .search_out
        .clone()
        .unwrap_or_else(|| super::grant::with_suffix(&args.out, ".search"));
    let secret_out = args
        .secret_out
        .clone()
        .unwrap_or_else(|| super::grant::with_suffix(&search_out, ".secret"));
    refuse_overwrite(&args.out, args.force)?;
    if search.is_some() {
        refuse_overwrite(&search_out, args.force)?;
        refuse_overwrite(&secret_out, args.force)?;
    }
    let expires_at = search
        .map(|(_, expires)| crate::text::after_now(expires, "--expires"))
        .transpose()?;
    let mut keystore = open_keystore(global)?;
    let who = format!("seal-only grant to {} for {clearance}", args.principal);
    write_set(global, &mut keystore, Some(clearance), &who, &args.out)?;
    if let (Some((search, _)), Some(expires_at)) = (search, expires_at) {
        super::grant::write_grant(
            global,
            &mut keystore,
            &super::grant::Grant {
                clearance: &tierseal::Clearance::none(),
                search,
                principal: &args.principal,
                expires_at,
                require_approval: None,
            },
            &search_out,
            &secret_out,
        )?;
        say(&format!(
            "  the service loads both: Keyring::seal_only_with_search(&set, Keyring::from_grant(search grant, secret)); it fills the index columns of {search} and opens nothing"
        ));
    }
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
