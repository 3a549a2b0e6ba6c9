//! The OpenBao / HashiCorp Vault Transit provider.
//!
//! One Transit key per tier, named `{prefix}{tier with '/' -> '-'}`, one
//! per tier for its blind-index keys, `{prefix}index-{tier with '/' -> '-'}`,
//! plus `{prefix}keystore` for the keystore's metadata key. A policy that
//! allows `decrypt` on a tier's index key and not on its tier key lets a
//! service search that tier without opening it ([`service_policy_with_search`]). Keys are
//! `aes256-gcm96` created with `derived: true`: every wrap passes the
//! binding data (tier and version) as the Transit *context*, from which
//! Transit derives the key it uses, so a wrapped key moved to another tier
//! or version does not decrypt. (Transit's `associated_data` would bind it
//! too, but OpenBao's `rewrap` does not take it, and rewrap is what lets a
//! key-encryption-key rotation re-wrap tier keys without them leaving the
//! server.)
//!
//! The wrapped form stored in the keystore is Transit's ciphertext string
//! (`vault:v1:...`), which names the Transit key version.
//!
//! Plaintext key bytes cross the HTTP request and response buffers (base64
//! in JSON) on their way to and from the server; those buffers are not
//! zeroized. Use TLS (`https://`) to any server that is not on the same
//! host.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::{DEFAULT_KEY_PREFIX, KekParams, KekProvider, KekSlot, KeyMaterial, ProviderKind};
use crate::Error;
use crate::crypto::KEY_LEN;
use crate::openbao::{BaoClient, Method, PROVIDER};

/// The default mount of the Transit engine.
pub const DEFAULT_MOUNT: &str = "transit";

/// Tier keys wrapped by OpenBao / Vault Transit.
#[derive(Debug, Clone)]
pub struct TransitProvider {
    client: BaoClient,
    mount: String,
    prefix: String,
}

fn name_ok(text: &str, allow_slash: bool) -> bool {
    text.len() <= 128
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || (allow_slash && c == '/'))
        && !text.starts_with('/')
        && !text.ends_with('/')
        && !text.contains("//")
}

impl TransitProvider {
    /// A provider using `client`, the Transit engine mounted at `mount`,
    /// and key names starting with `prefix`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a mount or prefix with characters
    /// other than letters, digits, `-`, `_` (and `/` inside a mount).
    pub fn new(client: BaoClient, mount: &str, prefix: &str) -> Result<TransitProvider, Error> {
        if mount.is_empty() || !name_ok(mount, true) {
            return Err(Error::InvalidParameter {
                what: "transit mount",
                reason: "use letters, digits, '-', '_' and inner '/' only",
            });
        }
        if !name_ok(prefix, false) {
            return Err(Error::InvalidParameter {
                what: "key prefix",
                reason: "use letters, digits, '-' and '_' only",
            });
        }
        Ok(TransitProvider {
            client,
            mount: mount.to_owned(),
            prefix: prefix.to_owned(),
        })
    }

    /// A provider for the parameters a keystore header records, reaching
    /// the server through `client`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when `params` are not OpenBao's.
    pub fn from_params(client: BaoClient, params: &KekParams) -> Result<TransitProvider, Error> {
        if params.kind() != ProviderKind::OpenBao {
            return Err(Error::InvalidParameter {
                what: "key-encryption provider",
                reason: "the parameters are not OpenBao Transit's",
            });
        }
        TransitProvider::new(
            client,
            params.get("mount").unwrap_or(DEFAULT_MOUNT),
            params.get("prefix").unwrap_or(DEFAULT_KEY_PREFIX),
        )
    }

    /// The parameters a keystore header records for this provider (mount
    /// and prefix; never the address or token, which come from the
    /// environment of each command).
    pub fn params(&self) -> KekParams {
        let mut params = KekParams::new(ProviderKind::OpenBao);
        // Both were validated in `new`: these cannot fail.
        params = params.clone().with("mount", &self.mount).unwrap_or(params);
        params = params
            .clone()
            .with("prefix", &self.prefix)
            .unwrap_or(params);
        params
    }

    /// The Transit mount.
    pub fn mount(&self) -> &str {
        &self.mount
    }

    /// The key name prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The client (its address is never secret).
    pub fn client(&self) -> &BaoClient {
        &self.client
    }

    fn subject(&self, slot: &KekSlot<'_>) -> String {
        format!("transit key {} ({slot})", slot.key_name(&self.prefix))
    }

    fn path(&self, op: &str, slot: &KekSlot<'_>) -> String {
        format!("{}/{op}/{}", self.mount, slot.key_name(&self.prefix))
    }

    /// Posts `body` to the Transit endpoint `op` (`encrypt`, `rewrap`) of
    /// `slot`'s key and returns the checked ciphertext it answers.
    fn post_for_ciphertext(
        &self,
        op: &str,
        slot: &KekSlot<'_>,
        subject: &str,
        body: &Value,
    ) -> Result<Vec<u8>, Error> {
        let resp = self
            .client
            .call(Method::Post, &self.path(op, slot), subject, Some(body))?;
        let ciphertext = self.data_field(&resp, "ciphertext", slot)?;
        self.ciphertext(slot, ciphertext.as_bytes())?;
        Ok(ciphertext.into_bytes())
    }

    fn data_field(&self, body: &Value, field: &str, slot: &KekSlot<'_>) -> Result<String, Error> {
        body.get("data")
            .and_then(|d| d.get(field))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| Error::KmsRequest {
                provider: PROVIDER,
                address: self.client.address().to_owned(),
                subject: self.subject(slot),
                status: 200,
                reason: format!("the response has no data.{field}"),
            })
    }

    fn bad_ciphertext(&self, slot: &KekSlot<'_>) -> Error {
        Error::KmsRequest {
            provider: PROVIDER,
            address: self.client.address().to_owned(),
            subject: self.subject(slot),
            status: 0,
            reason: "the stored wrapped key is not a Transit ciphertext".to_owned(),
        }
    }

    fn ciphertext<'w>(&self, slot: &KekSlot<'_>, wrapped: &'w [u8]) -> Result<&'w str, Error> {
        std::str::from_utf8(wrapped)
            .ok()
            .filter(|c| c.starts_with("vault:v") && c.len() < 4096)
            .ok_or_else(|| self.bad_ciphertext(slot))
    }
}

impl KekProvider for TransitProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::OpenBao
    }

    fn key_name(&self, slot: &KekSlot<'_>) -> Option<String> {
        Some(slot.key_name(&self.prefix))
    }

    fn ensure_key(&self, slot: &KekSlot<'_>) -> Result<(), Error> {
        let subject = self.subject(slot);
        let path = format!("{}/keys/{}", self.mount, slot.key_name(&self.prefix));
        let resp = self.client.send(Method::Get, &path, &subject, None)?;
        match resp.status {
            200 => {
                let data = resp.body.get("data");
                let derived = data.and_then(|d| d.get("derived")).and_then(Value::as_bool);
                let encrypts = data
                    .and_then(|d| d.get("supports_encryption"))
                    .and_then(Value::as_bool);
                if derived == Some(true) && encrypts == Some(true) {
                    Ok(())
                } else {
                    Err(Error::KmsRequest {
                        provider: PROVIDER,
                        address: self.client.address().to_owned(),
                        subject,
                        status: 200,
                        reason: "the key exists but is not a derived encryption key (create it with type aes256-gcm96 and derived=true)".to_owned(),
                    })
                }
            }
            404 => self
                .client
                .call(
                    Method::Post,
                    &path,
                    &subject,
                    Some(&json!({"type": "aes256-gcm96", "derived": true})),
                )
                .map(drop),
            _ => Err(self.client.status_error(&subject, &resp)),
        }
    }

    fn wrap(&self, slot: &KekSlot<'_>, aad: &[u8], key: &KeyMaterial) -> Result<Vec<u8>, Error> {
        let subject = self.subject(slot);
        let plaintext = Zeroizing::new(STANDARD.encode(key.expose()));
        let body = json!({
            "plaintext": plaintext.as_str(),
            "context": STANDARD.encode(aad),
        });
        self.post_for_ciphertext("encrypt", slot, &subject, &body)
    }

    fn unwrap(&self, slot: &KekSlot<'_>, aad: &[u8], wrapped: &[u8]) -> Result<KeyMaterial, Error> {
        let subject = self.subject(slot);
        let body = json!({
            "ciphertext": self.ciphertext(slot, wrapped)?,
            "context": STANDARD.encode(aad),
        });
        let resp = self.client.call(
            Method::Post,
            &self.path("decrypt", slot),
            &subject,
            Some(&body),
        )?;
        let encoded = Zeroizing::new(self.data_field(&resp, "plaintext", slot)?);
        let bytes = Zeroizing::new(STANDARD.decode(encoded.as_bytes()).unwrap_or_default());
        let mut key: [u8; KEY_LEN] =
            bytes.as_slice().try_into().map_err(|_| Error::KmsRequest {
                provider: PROVIDER,
                address: self.client.address().to_owned(),
                subject: subject.clone(),
                status: 200,
                reason: "the unwrapped key is not 32 bytes".to_owned(),
            })?;
        Ok(KeyMaterial::take(&mut key))
    }

    fn rotate_key(&self, slot: &KekSlot<'_>) -> Result<(), Error> {
        let path = format!("{}/keys/{}/rotate", self.mount, slot.key_name(&self.prefix));
        self.client
            .call(Method::Post, &path, &self.subject(slot), Some(&json!({})))
            .map(drop)
    }

    fn rewrap(&self, slot: &KekSlot<'_>, aad: &[u8], wrapped: &[u8]) -> Result<Vec<u8>, Error> {
        let subject = self.subject(slot);
        let body = json!({
            "ciphertext": self.ciphertext(slot, wrapped)?,
            "context": STANDARD.encode(aad),
        });
        self.post_for_ciphertext("rewrap", slot, &subject, &body)
    }
}

/// The OpenBao policy (HCL) for a service of `tiers`: `decrypt` on those
/// tiers' Transit keys and their index keys (a keyring that opens a tier
/// also computes its blind indexes, as a grant of the tier does) and on
/// the keystore key (to authenticate the keystore metadata), nothing else.
pub fn service_policy<'a>(
    mount: &str,
    prefix: &str,
    tiers: impl IntoIterator<Item = &'a crate::Tier>,
) -> String {
    service_policy_with_search(mount, prefix, tiers, [])
}

/// The OpenBao policy (HCL) for a service that opens the tiers of `open`
/// (as [`service_policy`]) and searches the tiers of `search` without
/// opening them: `decrypt` on their index keys only, so its keyring
/// computes their blind indexes and opens none of their fields. A tier in
/// both is opened.
pub fn service_policy_with_search<'a, 'b>(
    mount: &str,
    prefix: &str,
    open: impl IntoIterator<Item = &'a crate::Tier>,
    search: impl IntoIterator<Item = &'b crate::Tier>,
) -> String {
    let mut out = String::from(
        "# tierseal service policy: decrypt only, on the listed tiers' keys.\n\
         # Reading the keystore needs its metadata key (decrypt on the keystore key).\n",
    );
    let decrypt = |out: &mut String, slot: KekSlot<'_>| {
        let name = slot.key_name(prefix);
        out.push_str(&format!(
            "path \"{mount}/decrypt/{name}\" {{\n  capabilities = [\"update\"]\n}}\n"
        ));
    };
    decrypt(&mut out, KekSlot::Keystore);
    let open: Vec<&crate::Tier> = open.into_iter().collect();
    for tier in &open {
        out.push_str(&format!("\n# tier {tier}: open and search\n"));
        decrypt(&mut out, KekSlot::Tier(tier));
        decrypt(&mut out, KekSlot::Index(tier));
    }
    for tier in search.into_iter().filter(|tier| !open.contains(tier)) {
        out.push_str(&format!(
            "\n# tier {tier}: search only (blind indexes; its fields stay sealed)\n"
        ));
        decrypt(&mut out, KekSlot::Index(tier));
    }
    out
}

/// The OpenBao policy (HCL) for a key custodian: create, read, rotate,
/// encrypt, decrypt and rewrap on every key under `prefix`.
pub fn custodian_policy(mount: &str, prefix: &str) -> String {
    let mut out = String::from("# tierseal custodian policy: manages every tierseal key.\n");
    for (path, caps) in [
        ("keys", "\"create\", \"read\", \"update\""),
        ("keys/{name}/rotate", "\"update\""),
        ("encrypt", "\"update\""),
        ("decrypt", "\"update\""),
        ("rewrap", "\"update\""),
    ] {
        let full = if path.contains("{name}") {
            format!("{mount}/{}", path.replace("{name}", &format!("{prefix}*")))
        } else {
            format!("{mount}/{path}/{prefix}*")
        };
        out.push_str(&format!(
            "path \"{full}\" {{\n  capabilities = [{caps}]\n}}\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tier;
    use secrecy::SecretString;

    fn provider() -> TransitProvider {
        let client =
            BaoClient::new("http://127.0.0.1:1", SecretString::from("t".to_owned())).unwrap();
        TransitProvider::new(client, "transit", "tierseal-").unwrap()
    }

    #[test]
    fn names_paths_and_params() {
        let p = provider();
        let tier: Tier = "restricted/cards".parse().unwrap();
        assert_eq!(
            p.key_name(&KekSlot::Tier(&tier)).as_deref(),
            Some("tierseal-restricted-cards")
        );
        assert_eq!(
            p.path("decrypt", &KekSlot::Keystore),
            "transit/decrypt/tierseal-keystore"
        );
        let params = p.params();
        assert_eq!(params.get("mount"), Some("transit"));
        assert_eq!(params.get("prefix"), Some("tierseal-"));
        let again = TransitProvider::from_params(p.client().clone(), &params).unwrap();
        assert_eq!(again.mount(), "transit");
        assert!(!format!("{:?}", params).contains("127.0.0.1"));
    }

    #[test]
    fn bad_mounts_and_prefixes_are_refused() {
        let client = provider().client().clone();
        for mount in ["", "/transit", "transit/", "a//b", "tr ansit", "t\"x"] {
            assert!(
                TransitProvider::new(client.clone(), mount, "p-").is_err(),
                "{mount:?}"
            );
        }
        assert!(TransitProvider::new(client.clone(), "kms/transit", "p-").is_ok());
        assert!(TransitProvider::new(client, "transit", "a/b").is_err());
    }

    #[test]
    fn foreign_ciphertexts_are_refused_before_any_request() {
        let p = provider();
        let e = p
            .unwrap(&KekSlot::Keystore, b"x", b"not-a-transit-ciphertext")
            .unwrap_err();
        assert!(matches!(e, Error::KmsRequest { .. }), "{e:?}");
    }

    #[test]
    fn service_policy_grants_decrypt_on_exactly_the_tiers() {
        let tiers = [Tier::INTERNAL];
        let hcl = service_policy("transit", "tierseal-", &tiers);
        assert!(
            hcl.contains("path \"transit/decrypt/tierseal-internal\""),
            "{hcl}"
        );
        assert!(
            hcl.contains("path \"transit/decrypt/tierseal-keystore\""),
            "{hcl}"
        );
        assert!(
            hcl.contains("path \"transit/decrypt/tierseal-index-internal\""),
            "{hcl}"
        );
        assert!(!hcl.contains("restricted"), "{hcl}");
        assert!(!hcl.contains("encrypt/"), "{hcl}");
        let cards: Tier = "restricted/cards".parse().unwrap();
        let search = service_policy_with_search("transit", "tierseal-", &tiers, [&cards]);
        assert!(
            search.contains("path \"transit/decrypt/tierseal-index-restricted-cards\""),
            "{search}"
        );
        assert!(
            !search.contains("path \"transit/decrypt/tierseal-restricted-cards\""),
            "{search}"
        );
        assert!(search.contains("search only"), "{search}");
        // A tier both opened and searched is listed once, as opened.
        let both = service_policy_with_search("transit", "p-", [&cards], [&cards]);
        assert_eq!(
            both.matches("p-index-restricted-cards").count(),
            1,
            "{both}"
        );
        assert!(both.contains("path \"transit/decrypt/p-restricted-cards\""));
        let custodian = custodian_policy("transit", "tierseal-");
        assert!(
            custodian.contains("transit/keys/tierseal-*/rotate"),
            "{custodian}"
        );
    }
}
