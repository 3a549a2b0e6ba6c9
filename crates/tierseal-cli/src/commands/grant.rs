//! `tierseal grant issue|list|show`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use tierseal::{Clearance, GrantInfo, IssuedGrant, IssuedTier};

use super::{Operation, announce, open_keystore, refuse_overwrite, say};
use crate::CliError;
use crate::cli::{GlobalArgs, GrantCommand, GrantIssueArgs};
use crate::text::utc;
use tierseal::audit::Action;

pub(super) fn run(global: &GlobalArgs, command: &GrantCommand) -> Result<ExitCode, CliError> {
    match command {
        GrantCommand::Issue(args) => issue(global, args),
        GrantCommand::List { json } => list(global, *json),
        GrantCommand::Show { file, json } => show(file, *json),
        GrantCommand::Policy {
            clearance,
            search,
            custodian,
            transit_mount,
            key_prefix,
        } => policy(
            global,
            PolicyFor {
                clearance: clearance.as_ref(),
                search: search.as_ref(),
                custodian: *custodian,
            },
            transit_mount.as_deref(),
            key_prefix.as_deref(),
        ),
    }
}

/// Whose OpenBao policy `grant policy` prints.
struct PolicyFor<'a> {
    /// The tiers a service opens (and searches).
    clearance: Option<&'a Clearance>,
    /// The tiers a service searches without opening.
    search: Option<&'a Clearance>,
    /// The custodian's policy instead.
    custodian: bool,
}

/// Prints the OpenBao policy of a clearance and search tiers (or the
/// custodian's). Reads only the keystore header, for its mount and prefix:
/// no credential.
fn policy(
    global: &GlobalArgs,
    whose: PolicyFor<'_>,
    mount: Option<&str>,
    prefix: Option<&str>,
) -> Result<ExitCode, CliError> {
    let recorded = match &global.keystore {
        tierseal::KeystoreLocation::File(path) if !path.exists() => None,
        location => tierseal::Keystore::kek_params_at(location)?,
    };
    let recorded = recorded.filter(|p| p.kind() == tierseal::kek::ProviderKind::OpenBao);
    let mount = mount
        .or_else(|| recorded.as_ref().and_then(|p| p.get("mount")))
        .unwrap_or(tierseal::kek::transit::DEFAULT_MOUNT)
        .to_owned();
    let prefix = prefix
        .or_else(|| recorded.as_ref().and_then(|p| p.get("prefix")))
        .unwrap_or(tierseal::kek::DEFAULT_KEY_PREFIX)
        .to_owned();
    let text = if whose.custodian {
        tierseal::kek::transit::custodian_policy(&mount, &prefix)
    } else {
        let none = Clearance::none();
        tierseal::kek::transit::service_policy_with_search(
            &mount,
            &prefix,
            whose.clearance.unwrap_or(&none).tiers(),
            whose.search.unwrap_or(&none).tiers(),
        )
    };
    say(text.trim_end());
    Ok(ExitCode::SUCCESS)
}

fn issue(global: &GlobalArgs, args: &GrantIssueArgs) -> Result<ExitCode, CliError> {
    if args.seal_only {
        return super::public_keys::issue_seal_only(global, args);
    }
    let Some(expires) = args.expires else {
        return Err(CliError::Usage(
            "--expires is required (except with --seal-only)".into(),
        ));
    };
    if args.search_out.is_some() {
        return Err(CliError::Usage(
            "--search-out goes with --seal-only --search (a grant's search tiers are in the grant itself)".into(),
        ));
    }
    let secret_out = args
        .secret_out
        .clone()
        .unwrap_or_else(|| with_suffix(&args.out, ".secret"));
    refuse_overwrite(&args.out, args.force)?;
    refuse_overwrite(&secret_out, args.force)?;
    let expires_at = crate::text::after_now(expires, "--expires")?;
    let mut keystore = open_keystore(global)?;
    let clearance = args.clearance.clone().unwrap_or_else(Clearance::none);
    let search = args.search.clone().unwrap_or_else(Clearance::none);
    write_grant(
        global,
        &mut keystore,
        &Grant {
            clearance: &clearance,
            search: &search,
            principal: &args.principal,
            expires_at,
            require_approval: args.require_approval.as_ref(),
        },
        &args.out,
        &secret_out,
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `path` with `suffix` appended to its file name.
pub(super) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// What a grant file grants.
pub(super) struct Grant<'a> {
    /// The tiers it opens.
    pub(super) clearance: &'a Clearance,
    /// The tiers it searches without opening.
    pub(super) search: &'a Clearance,
    /// Whom it is for.
    pub(super) principal: &'a str,
    /// Until when.
    pub(super) expires_at: SystemTime,
    /// Tiers whose opens need a break-glass approval.
    pub(super) require_approval: Option<&'a Clearance>,
}

/// Issues `grant` (announced, recorded in the keystore's register and the
/// audit log), writes it to `out` and its secret to `secret_out` (mode
/// 0600), and says what it granted.
pub(super) fn write_grant(
    global: &GlobalArgs,
    keystore: &mut tierseal::Keystore,
    grant: &Grant<'_>,
    out: &Path,
    secret_out: &Path,
) -> Result<(), CliError> {
    let Grant {
        clearance,
        search,
        principal,
        expires_at,
        require_approval,
    } = *grant;
    if clearance
        .tiers()
        .any(|tier| tier.level() == tierseal::Level::Restricted)
    {
        super::dual_control(keystore, tierseal::DualControlOp::GrantRestricted)?;
    }
    let approval_tiers: Vec<tierseal::Tier> = require_approval
        .map(|tiers| tiers.tiers().cloned().collect())
        .unwrap_or_default();
    let searching = if search.tiers().len() == 0 {
        String::new()
    } else {
        format!(" (search only: {search})")
    };
    let mut reason = format!(
        "to {principal} for {clearance}{searching}, expires {}",
        utc(unix(expires_at))
    );
    if let Some(tiers) = require_approval {
        reason.push_str(&format!(", approval required for {tiers}"));
    }
    let mut intent = announce(
        global,
        keystore,
        Action::GrantIssue,
        Operation {
            reason: Some(reason.clone()),
            ..Operation::default()
        },
    )?;
    let issued = (|| -> Result<String, CliError> {
        let (grant, secret) = keystore.issue_grant_scoped(
            clearance,
            search,
            principal,
            expires_at,
            &approval_tiers,
        )?;
        let id = keystore
            .issued_grants()
            .last()
            .map(|grant| grant.id.to_string())
            .unwrap_or_default();
        super::write_private(secret_out, &secret.expose_text())?;
        super::write_atomically(out, &grant)?;
        Ok(id)
    })();
    if let Ok(id) = &issued {
        intent.note(format!("grant {id} {reason}"));
    }
    let id = intent.finish(issued, keystore)?;
    say(&format!(
        "granted {clearance}{searching} to {principal} until {}\n  grant id:   {id} (in `tierseal grant list`)\n  grant file: {}\n  secret:     {} (mode 0600; deliver it separately)",
        utc(unix(expires_at)),
        out.display(),
        secret_out.display()
    ));
    if let Some(tiers) = require_approval {
        say(&format!(
            "  approval:   required to open {tiers} (`tierseal approve --requester {principal} ...`)"
        ));
    }
    Ok(())
}

fn unix(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Prints the keystore's register of issued grants.
fn list(global: &GlobalArgs, json: bool) -> Result<ExitCode, CliError> {
    let keystore = open_keystore(global)?;
    let now = unix(SystemTime::now());
    let grants = keystore.issued_grants();
    if json {
        #[derive(serde::Serialize)]
        struct Row<'a> {
            #[serde(flatten)]
            grant: &'a IssuedGrant,
            expired: bool,
        }
        let rows: Vec<Row<'_>> = grants
            .iter()
            .map(|grant| Row {
                grant,
                expired: grant.is_expired(now),
            })
            .collect();
        say(&serde_json::to_string_pretty(&rows).unwrap_or_default());
        return Ok(ExitCode::SUCCESS);
    }
    if grants.is_empty() {
        say("no grants issued");
        return Ok(ExitCode::SUCCESS);
    }
    let header = [
        "ID",
        "PRINCIPAL",
        "ISSUED",
        "EXPIRES",
        "STATUS",
        "TIERS",
        "SEARCH",
    ];
    let rows: Vec<Vec<String>> = grants
        .iter()
        .map(|grant| {
            vec![
                grant.id.to_string(),
                grant.principal.escape_debug().to_string(),
                utc(grant.issued_at),
                utc(grant.expires_at),
                if grant.is_expired(now) {
                    "EXPIRED".into()
                } else {
                    "outstanding".into()
                },
                or_dash(tiers_text(grant)),
                or_dash(search_text(grant)),
            ]
        })
        .collect();
    say(tierseal_lint::report::table(&header, &rows).trim_end());
    Ok(ExitCode::SUCCESS)
}

/// `tier v1,v2; tier v3`: the key versions a grant carries.
pub(super) fn tiers_text(grant: &IssuedGrant) -> String {
    versions_text(&grant.tiers)
}

/// `tier v1,v2`: the blind-index key versions a grant carries (what it
/// can search).
fn search_text(grant: &IssuedGrant) -> String {
    versions_text(&grant.index)
}

fn versions_text(tiers: &[IssuedTier]) -> String {
    tiers
        .iter()
        .map(|tier| {
            let versions: Vec<String> = tier.versions.iter().map(|v| format!("v{v}")).collect();
            format!("{} {}", tier.tier, versions.join(","))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// `-` for an empty cell.
fn or_dash(text: String) -> String {
    if text.is_empty() { "-".into() } else { text }
}

fn show(file: &Path, json: bool) -> Result<ExitCode, CliError> {
    let bytes = std::fs::read(file).map_err(|e| CliError::io("read grant", file, e))?;
    let info = GrantInfo::read(&bytes)?;
    if json {
        say(&serde_json::to_string_pretty(&info).unwrap_or_default());
        return Ok(ExitCode::SUCCESS);
    }
    let expired = unix(SystemTime::now()) >= info.expires_at;
    say(&format!("principal: {}", info.principal));
    say(&format!("issued:    {}", utc(info.issued_at)));
    say(&format!(
        "expires:   {}{}",
        utc(info.expires_at),
        if expired { " (EXPIRED)" } else { "" }
    ));
    say("tiers:");
    for tier in &info.tiers {
        let versions: Vec<String> = tier.versions.iter().map(|v| format!("v{v}")).collect();
        say(&format!(
            "  {:<24} primary v{}, versions {}",
            tier.tier.to_string(),
            tier.primary,
            versions.join(", ")
        ));
    }
    for requirement in &info.approval_required {
        say(&format!(
            "approval required for {} (approver key {})",
            requirement.tier, requirement.approver
        ));
    }
    if !info.index.is_empty() {
        say("index keys (search):");
        for index in &info.index {
            let versions: Vec<String> = index.versions.iter().map(|v| format!("v{v}")).collect();
            let opens = info.tiers.iter().any(|t| t.tier == index.tier);
            say(&format!(
                "  {:<24} primary v{}, versions {}{}",
                index.tier.to_string(),
                index.primary,
                versions.join(", "),
                if opens {
                    ""
                } else {
                    " (search only: cannot open)"
                }
            ));
        }
    }
    say("(read without the secret: the service verifies it when loading)");
    Ok(ExitCode::SUCCESS)
}
