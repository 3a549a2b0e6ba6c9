//! `tierseal init`.

use std::process::ExitCode;

use tierseal::Keystore;

use super::{Operation, announce, kdf_profile, say};
use crate::CliError;
use crate::cli::{GlobalArgs, InitArgs, KekArg};
use crate::passphrase::{self as secret, Source};
use tierseal::audit::Action;

pub(super) fn run(global: &GlobalArgs, args: &InitArgs) -> Result<ExitCode, CliError> {
    if global.keystore.exists() {
        return Err(CliError::Refused(format!(
            "{} already exists: tierseal never overwrites a keystore",
            global.keystore.display()
        )));
    }
    // The audit key is born with the keystore: the creation is announced
    // right after, before any tier is added.
    let mut keystore = if args.kek == KekArg::Passphrase {
        let profile = kdf_profile(args.kdf_profile);
        let passphrase = secret::read(&Source {
            file: global.passphrase_file.as_deref(),
            env: "TIERSEAL_PASSPHRASE",
            prompt: "new keystore passphrase: ",
            confirm: true,
        })?;
        Keystore::create(&global.keystore, &passphrase, profile)?
    } else {
        let (provider, params) = super::kek::new_provider(args.kek, &args.provider)?;
        Keystore::create_with_kek(&global.keystore, provider, params)?
    };
    let created: Vec<String> = keystore.tiers().map(ToString::to_string).collect();
    let mut reason = format!(
        "tiers {}; keys protected by {}",
        created.join(", "),
        keystore.provider_kind()
    );
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
        global.keystore.display(),
        tiers.join(", ")
    ));
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
