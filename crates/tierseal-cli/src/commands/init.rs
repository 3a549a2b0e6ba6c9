//! `tierseal init`.

use std::process::ExitCode;

use tierseal::Keystore;

use super::{Operation, kdf_profile, record, say};
use crate::CliError;
use crate::cli::{GlobalArgs, InitArgs};
use crate::passphrase::{self as secret, Source};
use tierseal::audit::Action;

pub(super) fn run(global: &GlobalArgs, args: &InitArgs) -> Result<ExitCode, CliError> {
    if global.keystore.exists() {
        return Err(CliError::Refused(format!(
            "{} already exists: tierseal never overwrites a keystore",
            global.keystore.display()
        )));
    }
    let profile = kdf_profile(args.kdf_profile);
    let passphrase = secret::read(&Source {
        file: global.passphrase_file.as_deref(),
        env: "TIERSEAL_PASSPHRASE",
        prompt: "new keystore passphrase: ",
        confirm: true,
    })?;
    let mut keystore = Keystore::create(&global.keystore, &passphrase, profile)?;
    for tier in &args.tiers {
        keystore.add_tier(tier)?;
    }
    let tiers: Vec<String> = keystore.tiers().map(ToString::to_string).collect();
    record(
        global,
        &keystore,
        Action::Init,
        Operation {
            reason: Some(format!("tiers {}", tiers.join(", "))),
            ..Operation::default()
        },
    )?;
    say(&format!(
        "created {} with tiers {}",
        global.keystore.display(),
        tiers.join(", ")
    ));
    Ok(ExitCode::SUCCESS)
}
