//! `tierseal init`.

use std::process::ExitCode;

use tierseal::{Keystore, KeystoreLocation};

use super::{Operation, announce, kdf_profile, say};
use crate::CliError;
use crate::cli::{GlobalArgs, InitArgs, KekArg};
use crate::passphrase::{self as secret, Source};
use tierseal::audit::Action;

pub(super) fn run(global: &GlobalArgs, args: &InitArgs) -> Result<ExitCode, CliError> {
    if let KeystoreLocation::File(path) = &global.keystore
        && path.exists()
    {
        return Err(CliError::Refused(format!(
            "{} already exists: tierseal never overwrites a keystore",
            path.display()
        )));
    }
    let profile = kdf_profile(args.kdf_profile);
    if args.split.is_some() && args.kek != KekArg::Passphrase {
        return Err(CliError::Usage(
            "--split splits a master key: it goes with --kek passphrase only".into(),
        ));
    }
    // The audit key is born with the keystore: the creation is announced
    // right after, before any tier is added.
    let (mut keystore, split, files) = if let Some(spec) = args.split {
        let (plan, files, described) =
            super::shares::init_plan(global, spec, &args.new_shares, profile)?;
        (
            Keystore::create_split(&global.keystore, &plan)?,
            Some(described),
            files,
        )
    } else if args.kek != KekArg::Passphrase {
        if !args.new_shares.holders.is_empty() || args.new_shares.share_out.is_some() {
            return Err(CliError::Usage(
                "--holder and --share-out go with --split M-of-N".into(),
            ));
        }
        let (provider, params) = super::kek::new_provider(args.kek, &args.provider)?;
        let keystore = Keystore::create_with_kek_at(&global.keystore, provider, params)?;
        (keystore, None, Vec::new())
    } else {
        if !args.new_shares.holders.is_empty() || args.new_shares.share_out.is_some() {
            return Err(CliError::Usage(
                "--holder and --share-out go with --split M-of-N".into(),
            ));
        }
        let passphrase = secret::read(&Source {
            file: global.passphrase_file.as_deref(),
            env: "TIERSEAL_PASSPHRASE",
            prompt: "new keystore passphrase: ",
            confirm: true,
        })?;
        let keystore = Keystore::create_at(&global.keystore, &passphrase, profile)?;
        (keystore, None, Vec::new())
    };
    let created: Vec<String> = keystore.tiers().map(ToString::to_string).collect();
    let mut reason = format!(
        "tiers {}; keys protected by {}",
        created.join(", "),
        keystore.provider_kind()
    );
    if let Some(split) = &split {
        reason.push_str(&format!("; master key split {split}"));
    }
    if !args.tiers.is_empty() {
        let adding: Vec<String> = args.tiers.iter().map(ToString::to_string).collect();
        reason.push_str(&format!("; adding {}", adding.join(", ")));
    }
    let intent = announce(
        global,
        &keystore,
        Action::Init,
        Operation {
            reason: Some(reason),
            ..Operation::default()
        },
    )?;
    let added = args
        .tiers
        .iter()
        .try_for_each(|tier| keystore.add_tier(tier));
    intent.finish(added, &mut keystore)?;
    let tiers: Vec<String> = keystore.tiers().map(ToString::to_string).collect();
    say(&format!(
        "created {} with tiers {}",
        global.keystore,
        tiers.join(", ")
    ));
    if let Some(split) = split {
        say(&format!("the master key is split {split}:"));
        for file in &files {
            say(&format!("  share: {} (mode 0600)", file.display()));
        }
        say("hand each share file to its holder only; any M of them unlock the keystore");
    }
    if let Some(name) = keystore
        .tiers()
        .next()
        .and_then(|tier| keystore.kek_key_name(tier))
    {
        say(&format!(
            "tier keys are wrapped by {} keys (e.g. {name}); print a service's policy with \
             `tierseal grant policy --clearance ...`",
            keystore.provider_kind()
        ));
    }
    Ok(ExitCode::SUCCESS)
}
