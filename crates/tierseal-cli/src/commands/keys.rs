//! `tierseal keys ...`.

use std::io::BufReader;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use tierseal::{KeyState, KeyVersionInfo, Keystore, Tier};

use super::{Operation, announce, confirm, open_keystore, say};
use crate::CliError;
use crate::cli::{GlobalArgs, KekArg, KeysCommand, RetireArgs};
use crate::passphrase::{self as secret, Source};
use crate::text::{age, utc};
use tierseal::audit::Action;

pub(super) fn run(global: &GlobalArgs, command: &KeysCommand) -> Result<ExitCode, CliError> {
    let mut keystore = open_keystore(global)?;
    match command {
        KeysCommand::List { json } => {
            print_versions(&keystore, *json);
        }
        KeysCommand::Rotate {
            tier: None,
            kek: true,
            reason,
            dry_run,
        } => {
            if keystore.provider_kind() == tierseal::kek::ProviderKind::Passphrase {
                return Err(CliError::Refused(
                    "this is a passphrase keystore: it has no key-encryption keys to rotate; \
                     `tierseal passphrase change` replaces its master key"
                        .to_owned(),
                ));
            }
            if *dry_run {
                say(&format!(
                    "dry run: would rotate every {} key of this keystore and re-wrap the tier and index keys under them",
                    keystore.provider_kind()
                ));
                return Ok(ExitCode::SUCCESS);
            }
            let intent = announce(
                global,
                &keystore,
                Action::KekRotate,
                Operation {
                    reason: reason.clone(),
                    ..Operation::default()
                },
            )?;
            let rotated = intent.finish(keystore.rotate_kek(), &mut keystore)?;
            say(&format!(
                "rotated {} and re-wrapped every tier and index key under the new versions; sealed data and index values are unchanged",
                rotated.join(", ")
            ));
        }
        KeysCommand::Rotate { tier: None, .. } => {
            return Err(CliError::Usage(
                "give --tier TIER, or --kek to rotate the key-encryption keys".to_owned(),
            ));
        }
        KeysCommand::MigrateKek {
            to,
            provider,
            kdf_profile,
            new_passphrase_file,
        } => {
            super::dual_control(&keystore, tierseal::DualControlOp::KekMigration)?;
            // A split keystore's master key is its custodians' shares:
            // refused before any passphrase is asked or intent recorded.
            keystore.refuse_split()?;
            let from = keystore.provider_kind();
            let reason = format!("from {from} to {}", kek_name(*to));
            if *to == KekArg::Passphrase {
                let new = secret::read(&Source {
                    file: new_passphrase_file.as_deref(),
                    env: "TIERSEAL_NEW_PASSPHRASE",
                    prompt: "new passphrase: ",
                    confirm: true,
                })?;
                let intent = announce(
                    global,
                    &keystore,
                    Action::KekMigrate,
                    Operation {
                        reason: Some(reason.clone()),
                        ..Operation::default()
                    },
                )?;
                let moved = keystore.migrate_to_passphrase(&new, super::kdf_profile(*kdf_profile));
                intent.finish(moved, &mut keystore)?;
            } else {
                let (provider, params) = super::kek::new_provider(*to, provider)?;
                let intent = announce(
                    global,
                    &keystore,
                    Action::KekMigrate,
                    Operation {
                        reason: Some(reason.clone()),
                        ..Operation::default()
                    },
                )?;
                intent.finish(keystore.migrate_to_kek(provider, params), &mut keystore)?;
            }
            say(&format!(
                "moved the keystore {reason} in one save; tier keys and sealed data are unchanged. \
                 A copy taken before still opens the old way: destroy old copies"
            ));
        }
        KeysCommand::AddTier { tier, suite } => {
            let intent = announce(
                global,
                &keystore,
                Action::AddTier,
                Operation {
                    tier: Some(tier),
                    version: Some(1),
                    ..Operation::default()
                },
            )?;
            intent.finish(keystore.add_tier_with_suite(tier, *suite), &mut keystore)?;
            say(&format!("added tier {tier} at v1 (public keys: {suite})"));
        }
        KeysCommand::Publish { out, force } => {
            super::public_keys::publish(global, &mut keystore, out, *force)?;
        }
        KeysCommand::Rotate {
            tier: Some(tier),
            reason,
            dry_run,
            ..
        } => {
            let stated = reason.clone();
            let reason = reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            if *dry_run {
                let next = next_version(&keystore, tier);
                say(&format!(
                    "dry run: would create {tier} v{next} and make it primary{reason}"
                ));
            } else {
                let mut intent = announce(
                    global,
                    &keystore,
                    Action::Rotate,
                    Operation {
                        tier: Some(tier),
                        version: Some(next_version(&keystore, tier)),
                        reason: stated,
                    },
                )?;
                let created = keystore.rotate(tier);
                intent.created_version(&created);
                let version = intent.finish(created, &mut keystore)?;
                say(&format!(
                    "rotated {tier}: v{version} is primary{reason}; older versions still open data. \
                     Next: `tierseal rewrap`, then `tierseal keys retire`"
                ));
            }
        }
        KeysCommand::AddVersion { tier } => {
            let mut intent = announce(
                global,
                &keystore,
                Action::AddVersion,
                Operation {
                    tier: Some(tier),
                    version: Some(next_version(&keystore, tier)),
                    ..Operation::default()
                },
            )?;
            let created = keystore.add_version(tier);
            intent.created_version(&created);
            let version = intent.finish(created, &mut keystore)?;
            say(&format!(
                "added {tier} v{version} (not primary): issue fresh grants to readers, then \
                 `tierseal keys promote --tier {tier} --version {version}`"
            ));
        }
        KeysCommand::Promote {
            tier,
            version,
            dry_run,
        } => {
            if *dry_run {
                say(&format!("dry run: would make {tier} v{version} primary"));
            } else {
                let intent = announce(
                    global,
                    &keystore,
                    Action::Promote,
                    Operation {
                        tier: Some(tier),
                        version: Some(*version),
                        ..Operation::default()
                    },
                )?;
                intent.finish(keystore.promote(tier, *version), &mut keystore)?;
                say(&format!("{tier} v{version} is primary"));
            }
        }
        KeysCommand::Retire(args) => return retire(global, &mut keystore, args),
        KeysCommand::RotateIndex { tier } => {
            let next = keystore
                .index_key_versions()
                .iter()
                .filter(|info| info.tier == *tier)
                .map(|info| info.version)
                .max()
                .map_or(1, |v| v.saturating_add(1));
            let intent = announce(
                global,
                &keystore,
                Action::RotateIndex,
                Operation {
                    tier: Some(tier),
                    version: Some(next),
                    ..Operation::default()
                },
            )?;
            let version = intent.finish(keystore.rotate_index(tier), &mut keystore)?;
            say(&format!(
                "rotated the index key of {tier}: v{version} computes new index values; \
                 older versions still match stored ones. Next: run the re-index job, then \
                 `tierseal keys retire-index --tier {tier} --version <old>`"
            ));
        }
        KeysCommand::RetireIndex {
            tier,
            version,
            force,
        } => {
            let forced = index_grants_check(&keystore, tier, *version, *force)?;
            let despite_grants = forced.is_some();
            let intent = announce(
                global,
                &keystore,
                Action::RetireIndex,
                Operation {
                    tier: Some(tier),
                    version: Some(*version),
                    reason: forced,
                },
            )?;
            let retired = if despite_grants {
                keystore.retire_index_despite_grants(tier, *version)
            } else {
                keystore.retire_index(tier, *version)
            };
            intent.finish(retired, &mut keystore)?;
            say(&format!(
                "retired index key {tier} v{version}: index values computed with it match nothing now"
            ));
        }
        KeysCommand::ListIndex { json } => {
            let infos = keystore.index_key_versions();
            if *json {
                let rows: Vec<serde_json::Value> = infos
                    .iter()
                    .map(|info| {
                        serde_json::json!({
                            "tier": info.tier.to_string(),
                            "version": info.version,
                            "primary": info.primary,
                            "created_at": info.created_at,
                            "retired_at": info.retired_at,
                            "check_value": info.check_value.to_string(),
                            "kms_key": keystore.kek_index_key_name(&info.tier),
                        })
                    })
                    .collect();
                say(&serde_json::to_string_pretty(&rows).unwrap_or_default());
            } else {
                for info in &infos {
                    let state = match (info.primary, info.retired_at) {
                        (true, _) => "primary",
                        (false, Some(_)) => "retired",
                        (false, None) => "active",
                    };
                    say(&format!(
                        "{:<24} index v{:<3} {state:<8} {}  {}",
                        info.tier.to_string(),
                        info.version,
                        utc(info.created_at),
                        info.check_value
                    ));
                }
                say_wrapped_by(&keystore, "index keys", |tier| {
                    keystore.kek_index_key_name(tier)
                });
            }
        }
        KeysCommand::Cryptoperiod { tier, days } => {
            let intent = announce(
                global,
                &keystore,
                Action::SetCryptoperiod,
                Operation {
                    tier: Some(tier),
                    reason: Some(format!("{days} days")),
                    ..Operation::default()
                },
            )?;
            intent.finish(keystore.set_cryptoperiod(tier, *days), &mut keystore)?;
            say(&format!(
                "{tier}: primary keys must be rotated within {days} days"
            ));
        }
        KeysCommand::Check { within, json } => {
            let horizon = crate::text::after_now(within.unwrap_or_default(), "--within")?;
            let overdue = keystore.overdue(horizon);
            if *json {
                say(&serde_json::to_string_pretty(&overdue).unwrap_or_default());
            } else if overdue.is_empty() {
                say("every primary key is within its cryptoperiod");
            } else {
                for info in &overdue {
                    say(&format!(
                        "overdue: {} v{} is {} old, cryptoperiod {}d: rotate it",
                        info.tier,
                        info.version,
                        age(now().saturating_sub(info.created_at)),
                        info.cryptoperiod_days
                    ));
                }
            }
            return Ok(if overdue.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn next_version(keystore: &Keystore, tier: &tierseal::Tier) -> u32 {
    keystore
        .key_versions()
        .iter()
        .filter(|info| info.tier == *tier)
        .map(|info| info.version)
        .max()
        .unwrap_or(0)
        .saturating_add(1)
}

fn kek_name(kind: KekArg) -> &'static str {
    match kind {
        KekArg::Passphrase => "passphrase",
        KekArg::Openbao => "openbao",
        KekArg::Pkcs11 => "pkcs11",
    }
}

fn print_versions(keystore: &Keystore, json: bool) {
    let versions = &keystore.key_versions();
    let now = now();
    if json {
        #[derive(serde::Serialize)]
        struct Row<'a> {
            #[serde(flatten)]
            info: &'a KeyVersionInfo,
            primary: bool,
            overdue: bool,
            /// What protects the tier's keys: passphrase, openbao, pkcs11.
            provider: &'static str,
            /// The provider key that wraps the tier's keys (null for the
            /// passphrase).
            kms_key: Option<String>,
        }
        let provider = keystore.provider_kind().as_str();
        let rows: Vec<Row<'_>> = versions
            .iter()
            .map(|info| Row {
                info,
                primary: info.state == KeyState::Active,
                overdue: info.is_overdue(now),
                provider,
                kms_key: keystore.kek_key_name(&info.tier),
            })
            .collect();
        say(&serde_json::to_string_pretty(&rows).unwrap_or_default());
        return;
    }
    let header = [
        "TIER",
        "VERSION",
        "STATE",
        "PRIMARY",
        "CREATED",
        "AGE",
        "CRYPTOPERIOD",
        "CHECK",
    ];
    let rows: Vec<Vec<String>> = versions
        .iter()
        .map(|info| {
            let state = match info.state {
                KeyState::Active => "active",
                KeyState::DecryptOnly => "decrypt-only",
                KeyState::Retired => "retired",
            };
            let period = if info.is_overdue(now) {
                format!("{}d OVERDUE", info.cryptoperiod_days)
            } else {
                format!("{}d ok", info.cryptoperiod_days)
            };
            vec![
                info.tier.to_string(),
                format!("v{}", info.version),
                state.into(),
                if info.state == KeyState::Active {
                    "*".into()
                } else {
                    String::new()
                },
                utc(info.created_at),
                age(now.saturating_sub(info.created_at)),
                period,
                info.check_value.clone(),
            ]
        })
        .collect();
    say(tierseal_lint::report::table(&header, &rows).trim_end());
    // A provider keystore says which provider key wraps each tier.
    say_wrapped_by(keystore, "tier keys", |tier| keystore.kek_key_name(tier));
}

/// Prints, for a provider keystore, which provider key wraps each tier's
/// keys of one kind (`what`); nothing for a passphrase keystore.
fn say_wrapped_by(
    keystore: &tierseal::Keystore,
    what: &str,
    key_name: impl Fn(&Tier) -> Option<String>,
) {
    let wrapped_by: Vec<String> = keystore
        .tiers()
        .filter_map(|tier| key_name(tier).map(|name| format!("{tier} by {name}")))
        .collect();
    if !wrapped_by.is_empty() {
        say(&format!(
            "{what} wrapped by {} keys: {}",
            keystore.provider_kind(),
            wrapped_by.join(", ")
        ));
    }
}

fn retire(
    global: &GlobalArgs,
    keystore: &mut Keystore,
    args: &RetireArgs,
) -> Result<ExitCode, CliError> {
    let (tier, version) = (&args.tier, args.version);
    super::dual_control(keystore, tierseal::DualControlOp::Retire)?;
    let wanted = format!("{tier} v{version}");
    let mut still_used = 0u64;
    for file in &args.data {
        if let Some(url) = file.to_str().filter(|text| crate::db::is_url(text)) {
            still_used += retire_check_db(global, url, &wanted)?;
            continue;
        }
        let reader =
            std::fs::File::open(file).map_err(|e| CliError::io("open data file", file, e))?;
        let found = crate::rewrap::count_key_versions(BufReader::new(reader))?;
        if let Some(first) = found.failures.first() {
            // An unreadable line may hold values under the version.
            return Err(CliError::Refused(format!(
                "refusing to retire {wanted}: {} has {} unreadable lines (line {}: {}); \
                 fix them so every stored value can be checked",
                file.display(),
                found.unreadable_lines,
                first.line,
                first.reason
            )));
        }
        let here = found.counts.get(&wanted).copied().unwrap_or(0);
        if here > 0 {
            eprintln!(
                "tierseal: {}: {here} values still wrapped under {wanted}",
                file.display()
            );
        }
        still_used += here;
    }
    if still_used > 0 {
        return Err(CliError::Refused(format!(
            "refusing to retire {wanted}: {still_used} stored values are still wrapped under it; \
             run `tierseal rewrap` on that data first"
        )));
    }
    if args.data.is_empty() {
        eprintln!("tierseal: warning: no --data given, so no stored data was checked for {wanted}");
    }
    let outstanding = keystore.outstanding_grants(tier, version, SystemTime::now());
    let forced = if outstanding.is_empty() {
        None
    } else {
        eprintln!(
            "tierseal: {} unexpired grant(s) carry {wanted}; their holders keep their copy of \
             its key, which retiring cannot destroy:",
            outstanding.len()
        );
        for grant in &outstanding {
            eprintln!(
                "  {}  {}  expires {}",
                grant.id,
                grant.principal.escape_debug(),
                utc(grant.expires_at)
            );
        }
        let last_expiry = outstanding.iter().map(|g| g.expires_at).max().unwrap_or(0);
        if !args.force {
            return Err(CliError::Refused(format!(
                "refusing to retire {wanted} while grants carry it: their holders could go on \
                 opening data wrapped under it. Wait until they expire (the last at {}), or, once \
                 their holders have deleted those grant files and secrets, retire with --force; \
                 grants issued after the retirement no longer carry {wanted}",
                utc(last_expiry)
            )));
        }
        let listed: Vec<String> = outstanding
            .iter()
            .map(|g| format!("{} ({})", g.id, g.principal))
            .collect();
        Some(format!(
            "forced past {} outstanding grant(s): {}",
            listed.len(),
            listed.join(", ")
        ))
    };
    if args.dry_run {
        say(&format!(
            "dry run: would retire {wanted} and destroy its key material"
        ));
        return Ok(ExitCode::SUCCESS);
    }
    confirm(
        &format!(
            "Retire {wanted}? Its key material is destroyed: anything still wrapped only under it \
             becomes unreadable for good (crypto-shredding)."
        ),
        args.yes,
    )?;
    let despite_grants = forced.is_some();
    let intent = announce(
        global,
        keystore,
        Action::Retire,
        Operation {
            tier: Some(tier),
            version: Some(version),
            reason: forced,
        },
    )?;
    let retired = if despite_grants {
        keystore.retire_despite_grants(tier, version)
    } else {
        keystore.retire(tier, version)
    };
    intent.finish(retired, keystore)?;
    say(&format!("retired {wanted}: its key material is destroyed"));
    Ok(ExitCode::SUCCESS)
}

/// The retire check over a database: how many data keys its rows still
/// wrap under `wanted`, listing where; refuses while a row cannot be read.
fn retire_check_db(global: &GlobalArgs, url: &str, wanted: &str) -> Result<u64, CliError> {
    let mut db = crate::db::open(url, Duration::from_secs(global.lock_wait), true)?;
    let scope = crate::db::Scope {
        batch_size: 1000,
        ..crate::db::Scope::default()
    };
    let found = crate::db::references(db.as_mut(), &scope, wanted)?;
    if let Some(first) = found.failures.first() {
        return Err(CliError::Refused(format!(
            "refusing to retire {wanted}: {} has {} values that cannot be read ({}: {}); \
             fix them so every stored value can be checked",
            db.name(),
            found.unreadable,
            first.place,
            first.reason
        )));
    }
    if found.count > 0 {
        eprintln!(
            "tierseal: {}: {} values still wrapped under {wanted}:",
            db.name(),
            found.count
        );
        for (column, count) in &found.per_column {
            eprintln!("  {column}: {count}");
        }
        eprintln!("  for example:");
        for place in &found.places {
            eprintln!("  {place}");
        }
    }
    Ok(found.count)
}

/// Lists the unexpired grants that carry index key `version` of `tier`
/// and refuses unless `force`; with `force`, the reason the audit log
/// records (`None` when no grant carries it).
fn index_grants_check(
    keystore: &Keystore,
    tier: &tierseal::Tier,
    version: u32,
    force: bool,
) -> Result<Option<String>, CliError> {
    let outstanding = keystore.outstanding_index_grants(tier, version, SystemTime::now());
    if outstanding.is_empty() {
        return Ok(None);
    }
    let wanted = format!("index key {tier} v{version}");
    eprintln!(
        "tierseal: {} unexpired grant(s) carry {wanted}; their holders keep their copy of it, \
         which retiring cannot destroy:",
        outstanding.len()
    );
    for grant in &outstanding {
        eprintln!(
            "  {}  {}  expires {}",
            grant.id,
            grant.principal.escape_debug(),
            utc(grant.expires_at)
        );
    }
    if !force {
        let last_expiry = outstanding.iter().map(|g| g.expires_at).max().unwrap_or(0);
        return Err(CliError::Refused(format!(
            "refusing to retire {wanted} while grants carry it: their holders could go on \
             computing index values under it. Wait until they expire (the last at {}), or, \
             once their holders have deleted those grant files and secrets, retire with \
             --force; grants issued after the retirement no longer carry it",
            utc(last_expiry)
        )));
    }
    let listed: Vec<String> = outstanding
        .iter()
        .map(|g| format!("{} ({})", g.id, g.principal))
        .collect();
    Ok(Some(format!(
        "forced past {} outstanding grant(s): {}",
        listed.len(),
        listed.join(", ")
    )))
}
