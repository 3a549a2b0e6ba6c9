//! Key-encryption providers on the command line: building one from the
//! environment, and `keys migrate-kek` / `keys rotate --kek`.

use std::sync::Arc;

use tierseal::kek::pkcs11::{Pkcs11Config, Pkcs11Kek};
use tierseal::kek::{KekParams, KekProvider, ProviderKind, TransitProvider};
use tierseal::openbao::BaoClient;

use crate::CliError;
use crate::cli::{KekArg, KekArgs};
use crate::passphrase as secret;

/// The provider a keystore header names, reached with the credential from
/// the environment (BAO_ADDR/BAO_TOKEN or VAULT_ADDR/VAULT_TOKEN; for
/// PKCS#11 the module and token the header records, and the PIN from
/// TIERSEAL_PKCS11_PIN or a prompt).
pub(super) fn provider_for(params: &KekParams) -> Result<Arc<dyn KekProvider>, CliError> {
    match params.kind() {
        ProviderKind::OpenBao => {
            let client = BaoClient::from_env()?;
            Ok(Arc::new(TransitProvider::from_params(client, params)?))
        }
        ProviderKind::Pkcs11 => {
            let config = Pkcs11Config::from_params(params)?;
            let pin = secret::read_pin(config.token_label())?;
            Ok(Arc::new(Pkcs11Kek::open(config, &pin)?))
        }
        ProviderKind::Passphrase => Err(CliError::Refused(
            "a passphrase keystore has no provider to reach".to_owned(),
        )),
    }
}

/// A new provider of `kind` from the command line's settings, with the
/// parameters the keystore header will record.
pub(super) fn new_provider(
    kind: KekArg,
    args: &KekArgs,
) -> Result<(Arc<dyn KekProvider>, KekParams), CliError> {
    match kind {
        KekArg::Openbao => {
            let client = BaoClient::from_env()?;
            let provider = TransitProvider::new(client, &args.transit_mount, &args.key_prefix)?;
            let params = provider.params();
            Ok((Arc::new(provider), params))
        }
        KekArg::Pkcs11 => {
            let (Some(module), Some(token)) = (&args.pkcs11_module, &args.pkcs11_token) else {
                return Err(CliError::Usage(
                    "--kek pkcs11 needs --pkcs11-module PATH (the HSM vendor's library) and \
                     --pkcs11-token LABEL"
                        .to_owned(),
                ));
            };
            let config =
                Pkcs11Config::new(module.clone(), token.clone()).with_key_prefix(&args.key_prefix);
            // Recorded in the header before any module is loaded: a path
            // that cannot be recorded is refused first.
            let params = config.params()?;
            let pin = secret::read_pin(config.token_label())?;
            let provider = Pkcs11Kek::open(config, &pin)?;
            Ok((Arc::new(provider), params))
        }
        KekArg::Passphrase => Err(CliError::Usage(
            "the passphrase is not a key-encryption provider to build".to_owned(),
        )),
    }
}
