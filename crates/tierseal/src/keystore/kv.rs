//! A keystore held in an OpenBao / Vault KV version 2 secret.
//!
//! The secret `MOUNT/PATH` holds the keystore image — the same bytes a
//! keystore file holds, authenticated the same way — base64-encoded in its
//! `keystore` field, beside `format = "tierseal-keystore"`. The secret's
//! KV version is the [`Revision`]: every write carries it as
//! `options.cas`, so the server refuses a write based on a stale read
//! (and `cas = 0` refuses to create over an existing secret). Reading is a
//! plain `GET` and never writes.
//!
//! The KV store only holds and replicates the image: it cannot read or
//! forge a tier key, and an image it (or anyone with write access to the
//! path) alters fails to load exactly as an altered file does. Rolling the
//! secret back to an older version is possible for whoever may write it,
//! as copying an old file back is; see docs/KEY-MANAGEMENT.md.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::storage::{KeystoreBackend, KeystoreLocation, Revision, Stored};
use crate::Error;
use crate::openbao::{BaoClient, Method};

/// The field of the KV secret that holds the image.
const IMAGE_FIELD: &str = "keystore";
/// The field that says what the secret is.
const FORMAT_FIELD: &str = "format";
const FORMAT: &str = "tierseal-keystore";

/// A keystore image in a KV version 2 secret.
#[derive(Debug)]
pub struct KvBackend {
    client: BaoClient,
    location: KeystoreLocation,
    mount: String,
    path: String,
}

impl KvBackend {
    /// The secret `path` under the KV v2 mount `mount`, reached with
    /// `client`.
    pub fn new(client: BaoClient, mount: &str, path: &str) -> KvBackend {
        KvBackend {
            client,
            location: KeystoreLocation::OpenBao {
                mount: mount.to_owned(),
                path: path.to_owned(),
            },
            mount: mount.to_owned(),
            path: path.to_owned(),
        }
    }

    /// The backend for an [`OpenBao`](KeystoreLocation::OpenBao) location,
    /// with a client configured from `BAO_ADDR`/`BAO_TOKEN` (or the
    /// `VAULT_` names).
    ///
    /// # Errors
    /// [`Error::KmsConfig`] when the environment does not configure a
    /// client; [`Error::InvalidKeystoreLocation`] for a file location.
    pub fn from_env(location: &KeystoreLocation) -> Result<KvBackend, Error> {
        match location {
            KeystoreLocation::OpenBao { mount, path } => {
                Ok(KvBackend::new(BaoClient::from_env()?, mount, path))
            }
            KeystoreLocation::File(_) => Err(Error::InvalidKeystoreLocation {
                text: location.to_string(),
                reason: "not an openbao:// location",
            }),
        }
    }

    /// The client's server address.
    pub fn address(&self) -> &str {
        self.client.address()
    }

    fn data_path(&self) -> String {
        format!("{}/data/{}", self.mount, self.path)
    }

    fn subject(&self) -> String {
        format!("KV secret {}/{}", self.mount, self.path)
    }

    fn corrupt(&self, reason: &'static str) -> Error {
        Error::KeystoreCorrupt {
            path: self.location.display_path(),
            reason,
        }
    }

    /// The secret as read, or `None` when it does not exist (or its
    /// latest version is deleted).
    fn read(&self) -> Result<Option<Value>, Error> {
        let subject = self.subject();
        let resp = self
            .client
            .send(Method::Get, &self.data_path(), &subject, None)?;
        match resp.status {
            404 => Ok(None),
            _ if resp.is_success() => Ok(Some(resp.body)),
            _ => Err(self.client.status_error(&subject, &resp)),
        }
    }
}

impl KeystoreBackend for KvBackend {
    fn location(&self) -> &KeystoreLocation {
        &self.location
    }

    fn load(&self) -> Result<(Vec<u8>, Revision), Error> {
        let body = self.read()?.ok_or_else(|| Error::KeystoreNotFound {
            location: self.location.to_string(),
            address: self.client.address().to_owned(),
        })?;
        let data = body
            .get("data")
            .ok_or(self.corrupt("the KV answer has no data (is the mount KV version 2?)"))?;
        let version = data
            .get("metadata")
            .and_then(|m| m.get("version"))
            .and_then(Value::as_u64)
            .filter(|v| *v > 0)
            .ok_or(self.corrupt("the KV answer has no version (is the mount KV version 2?)"))?;
        let fields = data.get("data").and_then(Value::as_object);
        let Some(fields) = fields else {
            return Err(self.corrupt("the KV secret holds no fields"));
        };
        if fields.get(FORMAT_FIELD).and_then(Value::as_str) != Some(FORMAT) {
            return Err(self.corrupt(
                "the KV secret is not a tierseal keystore (its `format` field is not `tierseal-keystore`)",
            ));
        }
        let encoded = fields
            .get(IMAGE_FIELD)
            .and_then(Value::as_str)
            .ok_or(self.corrupt("the KV secret has no `keystore` field"))?;
        let image = STANDARD
            .decode(encoded)
            .map_err(|_| self.corrupt("the KV secret's `keystore` field is not base64"))?;
        Ok((image, Revision::Version(version)))
    }

    fn exists(&self) -> Result<bool, Error> {
        Ok(self.read()?.is_some())
    }

    fn store(&self, image: &[u8], expected: &Revision) -> Result<Stored, Error> {
        let cas = match expected {
            Revision::Absent => 0,
            Revision::Version(version) => *version,
            Revision::Digest(_) => return Ok(Stored::Conflict),
        };
        let subject = self.subject();
        let request = json!({
            "options": { "cas": cas },
            "data": {
                FORMAT_FIELD: FORMAT,
                IMAGE_FIELD: STANDARD.encode(image),
            },
        });
        let resp = self
            .client
            .send(Method::Post, &self.data_path(), &subject, Some(&request))?;
        if resp.is_success() {
            let version = resp
                .body
                .get("data")
                .and_then(|d| d.get("version"))
                .and_then(Value::as_u64)
                .ok_or(self.corrupt("the KV write answer has no version"))?;
            return Ok(Stored::Saved(Revision::Version(version)));
        }
        if resp.status == 400 && resp.error_text().contains("check-and-set") {
            return Ok(Stored::Conflict);
        }
        Err(self.client.status_error(&subject, &resp))
    }
}
