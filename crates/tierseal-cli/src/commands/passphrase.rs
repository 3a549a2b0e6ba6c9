//! `tierseal passphrase change`.

use std::process::ExitCode;

use super::{Operation, announce, kdf_profile, open_keystore, say};
use crate::CliError;
use crate::cli::{GlobalArgs, PassphraseCommand};
use crate::passphrase::{self as secret, Source};
use tierseal::audit::Action;

pub(super) fn run(global: &GlobalArgs, command: &PassphraseCommand) -> Result<ExitCode, CliError> {
    let PassphraseCommand::Change {
        new_passphrase_file,
        kdf_profile: profile,
    } = command;
    let mut keystore = open_keystore(global)?;
    if keystore.share_set().is_some() {
        return Err(CliError::Refused(format!(
            "{} is split into custodian shares and has no passphrase: use `tierseal shares \
             reissue` to replace the shares, or `tierseal shares join` to go back to one passphrase",
            global.keystore
        )));
    }
    let new = secret::read(&Source {
        file: new_passphrase_file.as_deref(),
        env: "TIERSEAL_NEW_PASSPHRASE",
        prompt: "new passphrase: ",
        confirm: true,
    })?;
    let intent = announce(
        global,
        &keystore,
        Action::PassphraseChange,
        Operation::default(),
    )?;
    let changed = keystore.change_passphrase(&new, kdf_profile(*profile));
    intent.finish(changed, &mut keystore)?;
    say(
        "passphrase changed: a new master key now wraps every key. A copy of the keystore \
         taken before still opens with the old passphrase and reveals the keys that existed \
         then, but none created from now on",
    );
    Ok(ExitCode::SUCCESS)
}
