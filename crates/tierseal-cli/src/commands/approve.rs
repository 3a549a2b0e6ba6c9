//! `tierseal approve` and `tierseal approver-key`: break-glass approvals.

use std::process::ExitCode;

use tierseal::audit::Action;

use super::{Operation, announce, emit, open_keystore, refuse_overwrite, say};
use crate::CliError;
use crate::cli::{ApproveArgs, GlobalArgs};
use crate::text::utc;

/// Signs an approval with the keystore's approver key, announced and
/// recorded in the audit log like every custodian key operation.
pub(super) fn approve(global: &GlobalArgs, args: &ApproveArgs) -> Result<ExitCode, CliError> {
    let approver = global
        .actor
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .filter(|name| !name.trim().is_empty())
        .ok_or_else(|| {
            CliError::Usage(
                "name the approving custodian with --actor NAME (or TIERSEAL_ACTOR): an approval names its approver".into(),
            )
        })?;
    if let Some(out) = &args.out {
        refuse_overwrite(out, args.force)?;
    }
    let expires_at = crate::text::after_now(args.expires, "--expires")?;
    let mut keystore = open_keystore(global)?;
    let mut intent = announce(
        global,
        &keystore,
        Action::Approve,
        Operation {
            tier: Some(&args.tier),
            reason: Some(format!(
                "for {} until {}",
                args.requester.escape_debug(),
                utc(unix(expires_at))
            )),
            ..Operation::default()
        },
    )?;
    let issued = (|| -> Result<tierseal::Approval, CliError> {
        let approval = keystore.approve(
            &approver,
            &args.requester,
            &args.tier,
            &args.purpose,
            expires_at,
        )?;
        if let Some(out) = &args.out {
            super::write_private(out, &approval.to_text())?;
        }
        Ok(approval)
    })();
    if let Ok(approval) = &issued {
        intent.note(format!(
            "approval {} for {} to open {} until {}",
            approval.id(),
            approval.requester().escape_debug(),
            approval.tier(),
            utc(approval.expires_at())
        ));
    }
    let approval = intent.finish(issued, &mut keystore)?;
    let summary = format!(
        "approved: {} may open {} for the purpose given, until {}\n  approval id: {}\n  approver:    {}",
        approval.requester().escape_debug(),
        approval.tier(),
        utc(approval.expires_at()),
        approval.id(),
        approval.approver().escape_debug()
    );
    match &args.out {
        Some(out) => say(&format!("{summary}\n  approval:    {}", out.display())),
        None => {
            emit(
                &approval.to_text(),
                &format!(
                    "the approval {} (it is recorded in the audit log)",
                    approval.id()
                ),
            )?;
            #[allow(
                clippy::print_stderr,
                reason = "the summary beside the approval on stdout"
            )]
            {
                eprintln!("{summary}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints the public key services verify approvals against.
pub(super) fn approver_key(global: &GlobalArgs) -> Result<ExitCode, CliError> {
    let keystore = open_keystore(global)?;
    match keystore.approver_key()? {
        Some(key) => {
            emit(&key.to_string(), "the approver key")?;
            Ok(ExitCode::SUCCESS)
        }
        None => Err(CliError::Refused(
            "this keystore has no approver key yet: it is created by the first `tierseal approve` or `grant issue --require-approval`".into(),
        )),
    }
}

fn unix(time: std::time::SystemTime) -> u64 {
    time.duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
