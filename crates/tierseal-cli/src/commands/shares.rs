//! `tierseal shares ...`, and what `init --split` and unlocking a split
//! keystore share with them.

use std::path::PathBuf;
use std::process::ExitCode;

use tierseal::audit::Action;
use tierseal::{
    DualControlOp, KdfProfile, Keystore, NewShare, ShareInfo, ShareKey, ShareSetInfo, SplitPlan,
    SplitSpec,
};

use super::{Operation, announce, kdf_profile, open_keystore, say};
use crate::CliError;
use crate::cli::{GlobalArgs, NewSharesArgs, SharesCommand};
use crate::passphrase::{self as secret, Source};

pub(super) fn run(global: &GlobalArgs, command: &SharesCommand) -> Result<ExitCode, CliError> {
    match command {
        SharesCommand::Verify => verify(global),
        SharesCommand::Show { json } => show(global, *json),
        SharesCommand::Split {
            split,
            new,
            kdf_profile: profile,
        } => {
            let mut keystore = open_keystore(global)?;
            if keystore.share_set().is_some() {
                return Err(CliError::Refused(format!(
                    "{} is split already: use `tierseal shares reissue` to replace its shares",
                    global.keystore
                )));
            }
            let profile = kdf_profile(*profile);
            let generation = keystore.next_share_generation();
            let (plan, files) = plan(
                global,
                *split,
                new,
                profile,
                generation,
                &DualControlOp::ALL,
            )?;
            let intent = announce(
                global,
                &keystore,
                Action::SharesSplit,
                Operation {
                    reason: Some(describe(*split, new, generation)),
                    ..Operation::default()
                },
            )?;
            intent.finish(keystore.split(&plan), &mut keystore)?;
            say(&format!(
                "split the master key of {} into {split} custodian shares (generation {generation}); \
                 the passphrase no longer opens it",
                global.keystore
            ));
            print_files(&files);
            Ok(ExitCode::SUCCESS)
        }
        SharesCommand::Reissue {
            split,
            new,
            kdf_profile: profile,
        } => {
            let mut keystore = open_keystore(global)?;
            let Some(current) = keystore.share_set() else {
                return Err(tierseal::Error::KeystoreNotSplit {
                    path: global.keystore.display_path(),
                }
                .into());
            };
            super::dual_control(&keystore, DualControlOp::RootChange)?;
            let spec = match split {
                Some(spec) => *spec,
                None => SplitSpec::new(
                    current.threshold,
                    u8::try_from(new.holders.len()).unwrap_or(u8::MAX),
                )?,
            };
            let profile = kdf_profile(*profile);
            let generation = keystore.next_share_generation();
            // The policy stays as it is unless --dual-control changes it.
            let (plan, files) = plan(
                global,
                spec,
                new,
                profile,
                generation,
                &current.dual_control,
            )?;
            let intent = announce(
                global,
                &keystore,
                Action::SharesReissue,
                Operation {
                    reason: Some(describe(spec, new, generation)),
                    ..Operation::default()
                },
            )?;
            intent.finish(keystore.reissue_shares(&plan), &mut keystore)?;
            say(&format!(
                "reissued the shares of {} as {spec} (generation {generation}): a new master key \
                 wraps every key, and the shares of generation {} open nothing",
                global.keystore, current.generation
            ));
            print_files(&files);
            Ok(ExitCode::SUCCESS)
        }
        SharesCommand::Join {
            new_passphrase_file,
            kdf_profile: profile,
        } => {
            let mut keystore = open_keystore(global)?;
            if keystore.share_set().is_none() {
                return Err(tierseal::Error::KeystoreNotSplit {
                    path: global.keystore.display_path(),
                }
                .into());
            }
            super::dual_control(&keystore, DualControlOp::RootChange)?;
            let new = secret::read(&Source {
                file: new_passphrase_file.as_deref(),
                env: "TIERSEAL_NEW_PASSPHRASE",
                prompt: "new keystore passphrase: ",
                confirm: true,
            })?;
            let intent = announce(global, &keystore, Action::SharesJoin, Operation::default())?;
            let joined = keystore.join_shares(&new, kdf_profile(*profile));
            intent.finish(joined, &mut keystore)?;
            say(&format!(
                "{} is protected by one passphrase again, under a new master key; the shares open \
                 nothing and dual control no longer applies",
                global.keystore
            ));
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `init --split`: the plan of generation 1.
pub(super) fn init_plan(
    global: &GlobalArgs,
    spec: SplitSpec,
    new: &NewSharesArgs,
    profile: KdfProfile,
) -> Result<(SplitPlan, Vec<PathBuf>, String), CliError> {
    let (plan, files) = plan(global, spec, new, profile, 1, &DualControlOp::ALL)?;
    Ok((plan, files, describe(spec, new, 1)))
}

/// The plan for a new share set, with each holder's passphrase read, and
/// the files it writes.
fn plan(
    global: &GlobalArgs,
    spec: SplitSpec,
    new: &NewSharesArgs,
    profile: KdfProfile,
    generation: u32,
    default_policy: &[DualControlOp],
) -> Result<(SplitPlan, Vec<PathBuf>), CliError> {
    let Some(dir) = &new.share_out else {
        return Err(CliError::Usage(
            "give --share-out DIR: the folder the share files are written to".into(),
        ));
    };
    if new.holders.len() != usize::from(spec.count) {
        return Err(CliError::Usage(format!(
            "{spec} needs {} holders: give --holder NAME {} times (got {})",
            spec.count,
            spec.count,
            new.holders.len()
        )));
    }
    if !new.holder_passphrase_files.is_empty()
        && new.holder_passphrase_files.len() != new.holders.len()
    {
        return Err(CliError::Usage(format!(
            "give one --holder-passphrase-file per --holder, in the same order ({} holders, {} files)",
            new.holders.len(),
            new.holder_passphrase_files.len()
        )));
    }
    if !dir.is_dir() {
        return Err(CliError::Usage(format!(
            "--share-out {}: not a folder",
            dir.display()
        )));
    }
    let stem = global
        .keystore
        .display_path()
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "keystore".into());
    let mut shares = Vec::with_capacity(new.holders.len());
    for (i, holder) in new.holders.iter().enumerate() {
        let out = dir.join(format!(
            "{stem}.g{generation}.{}-{}.share",
            i + 1,
            file_safe(holder)
        ));
        if out.exists() {
            return Err(CliError::Refused(format!(
                "{} already exists: share files are never overwritten",
                out.display()
            )));
        }
        let passphrase = secret::read_for(
            new.holder_passphrase_files.get(i).map(PathBuf::as_path),
            &format!("passphrase of {holder}'s share (only {holder} should type it): "),
            true,
            &format!("holder {holder}"),
        )?;
        shares.push(NewShare {
            holder: holder.clone(),
            passphrase,
            out,
        });
    }
    let files = shares.iter().map(|share| share.out.clone()).collect();
    let plan = SplitPlan::new(spec, shares, profile)?.with_dual_control(dual_control_ops(
        new.dual_control.as_deref(),
        default_policy,
    )?);
    Ok((plan, files))
}

/// A holder name as a piece of a file name.
fn file_safe(holder: &str) -> String {
    holder
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn dual_control_ops(
    text: Option<&str>,
    default_policy: &[DualControlOp],
) -> Result<Vec<DualControlOp>, CliError> {
    match text.map(str::trim) {
        None => Ok(default_policy.to_vec()),
        Some("none") => Ok(Vec::new()),
        Some(list) => list
            .split(',')
            .map(|op| op.trim().parse().map_err(CliError::from))
            .collect(),
    }
}

fn describe(spec: SplitSpec, new: &NewSharesArgs, generation: u32) -> String {
    format!(
        "{spec} among {}, generation {generation}",
        new.holders.join(", ")
    )
}

fn print_files(files: &[PathBuf]) {
    for file in files {
        say(&format!("  share: {} (mode 0600)", file.display()));
    }
    say("hand each share file to its holder only, and keep no copy of another holder's share");
}

/// The shares given with --share, each with its holder's passphrase.
pub(super) fn share_keys(
    global: &GlobalArgs,
    set: Option<&ShareSetInfo>,
) -> Result<Vec<ShareKey>, CliError> {
    if global.shares.is_empty() {
        let (threshold, holders) = set.map_or((0, String::new()), |set| {
            (set.threshold, set.holders.join(", "))
        });
        return Err(CliError::Usage(format!(
            "{} is split into custodian shares: give --share FILE for {threshold} of its holders \
             ({holders}), each with --share-passphrase-file FILE or typed at the prompt",
            global.keystore
        )));
    }
    let files = &global.share_passphrase_files;
    if !files.is_empty() && files.len() != global.shares.len() {
        return Err(CliError::Usage(format!(
            "give one --share-passphrase-file per --share, in the same order ({} shares, {} files)",
            global.shares.len(),
            files.len()
        )));
    }
    global
        .shares
        .iter()
        .enumerate()
        .map(|(i, path)| {
            // The header names the holder, to prompt the right person.
            let info = ShareInfo::read(path)?;
            let passphrase = secret::read_for(
                files.get(i).map(PathBuf::as_path),
                &format!(
                    "passphrase of share #{} of {} ({}): ",
                    info.index,
                    info.holder,
                    path.display()
                ),
                false,
                &format!("share {}", path.display()),
            )?;
            Ok(ShareKey {
                path: path.clone(),
                passphrase,
            })
        })
        .collect()
}

fn verify(global: &GlobalArgs) -> Result<ExitCode, CliError> {
    if global.shares.len() != 1 {
        return Err(CliError::Usage(
            "give the one share to verify with --share FILE (and --share-passphrase-file FILE, \
             or type its passphrase at the prompt)"
                .into(),
        ));
    }
    let set = Keystore::peek_share_set(&global.keystore)?;
    let keys = share_keys(global, set.as_ref())?;
    let Some(key) = keys.first() else {
        return Err(CliError::Usage("no share given".into()));
    };
    let info = Keystore::verify_share(&global.keystore, key)?;
    say(&format!(
        "share {} is good: share #{} of {}-of-{} held by {}, keystore {} ({}), generation {} \
         (current); nothing was unlocked",
        info.path.display(),
        info.index,
        info.threshold,
        info.count,
        info.holder,
        global.keystore,
        info.keystore_id,
        info.generation
    ));
    Ok(ExitCode::SUCCESS)
}

fn show(global: &GlobalArgs, json: bool) -> Result<ExitCode, CliError> {
    if super::keystore_file_missing(global) {
        return Err(CliError::Refused(format!(
            "no keystore at {}",
            global.keystore
        )));
    }
    let set = Keystore::peek_share_set(&global.keystore)?;
    if json {
        say(&serde_json::to_string_pretty(&set).unwrap_or_default());
        return Ok(ExitCode::SUCCESS);
    }
    match set {
        None => say(&format!(
            "{} is protected by one passphrase: no shares, no dual control",
            global.keystore
        )),
        Some(set) => {
            let ops: Vec<&str> = set.dual_control.iter().map(|op| op.as_str()).collect();
            say(&format!(
                "{} (keystore {}) is split {}-of-{}, share-set generation {}\n  holders: {}\n  \
                 dual control: {}\n(as the file records it; unlocking with the shares \
                 authenticates it)",
                global.keystore,
                set.keystore_id,
                set.threshold,
                set.holders.len(),
                set.generation,
                set.holders
                    .iter()
                    .enumerate()
                    .map(|(i, h)| format!("#{} {h}", i + 1))
                    .collect::<Vec<_>>()
                    .join(", "),
                if ops.is_empty() {
                    "none".to_owned()
                } else {
                    ops.join(", ")
                }
            ));
        }
    }
    Ok(ExitCode::SUCCESS)
}
