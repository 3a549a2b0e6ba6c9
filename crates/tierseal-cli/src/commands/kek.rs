//! Key-encryption providers on the command line: building one from the
//! environment, and `keys migrate-kek` / `keys rotate --kek`.

use std::sync::Arc;

use tierseal::kek::{KekParams, KekProvider, ProviderKind, TransitProvider};
use tierseal::openbao::BaoClient;

use crate::CliError;
use crate::cli::{KekArg, KekArgs};

/// The provider a keystore header names, reached with the credential from
/// the environment (BAO_ADDR/BAO_TOKEN or VAULT_ADDR/VAULT_TOKEN).
pub(super) fn provider_for(params: &KekParams) -> Result<Arc<dyn KekProvider>, CliError> {
    match params.kind() {
        ProviderKind::OpenBao => {
            let client = BaoClient::from_env()?;
            Ok(Arc::new(TransitProvider::from_params(client, params)?))
        }
        ProviderKind::Pkcs11 => Err(pkcs11_missing()),
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
        KekArg::Pkcs11 => Err(pkcs11_missing()),
        KekArg::Passphrase => Err(CliError::Usage(
            "the passphrase is not a key-encryption provider to build".to_owned(),
        )),
    }
}

fn pkcs11_missing() -> CliError {
    CliError::Refused(
        "this build has no PKCS#11 provider yet: use --kek openbao or the passphrase".to_owned(),
    )
}
