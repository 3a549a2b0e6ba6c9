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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openbao::RetryPolicy;
    use secrecy::SecretString;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    const TOKEN: &str = "s.kv-unit-token-0b7e";

    /// Answers each connection with the next canned (status, body) and
    /// records each request's first line and body.
    fn stub(answers: Vec<(u16, String)>) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for (status, body) in answers {
                let Ok((stream, _)) = listener.accept() else {
                    return;
                };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut first = String::new();
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if first.is_empty() {
                        first = line.trim_end().to_owned();
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut payload = vec![0; length];
                reader.read_exact(&mut payload).unwrap();
                log.lock()
                    .unwrap()
                    .push(format!("{first} {}", String::from_utf8_lossy(&payload)));
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        (addr, seen)
    }

    fn backend(addr: &str) -> KvBackend {
        let client = BaoClient::new(addr, SecretString::from(TOKEN.to_owned()))
            .unwrap()
            .with_retry(RetryPolicy {
                attempts: 1,
                base_delay: Duration::from_millis(1),
                max_delay: Duration::from_millis(1),
            });
        KvBackend::new(client, "secret", "tierseal/prod")
    }

    fn secret(version: u64, fields: &Value) -> String {
        json!({"data": {"data": fields, "metadata": {"version": version}}}).to_string()
    }

    #[test]
    fn load_reads_the_image_and_its_version_and_never_writes() {
        let fields = json!({"format": FORMAT, "keystore": STANDARD.encode(b"image")});
        let (addr, seen) = stub(vec![(200, secret(7, &fields))]);
        let (image, revision) = backend(&addr).load().unwrap();
        assert_eq!(
            (image.as_slice(), revision),
            (b"image".as_slice(), Revision::Version(7))
        );
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert!(
            seen[0].starts_with("GET /v1/secret/data/tierseal/prod "),
            "{seen:?}"
        );
    }

    #[test]
    fn store_sends_the_expected_version_as_cas() {
        let (addr, seen) = stub(vec![
            (200, json!({"data": {"version": 1}}).to_string()),
            (200, json!({"data": {"version": 8}}).to_string()),
        ]);
        let kv = backend(&addr);
        assert_eq!(
            kv.store(b"new", &Revision::Absent).unwrap(),
            Stored::Saved(Revision::Version(1))
        );
        assert_eq!(
            kv.store(b"next", &Revision::Version(7)).unwrap(),
            Stored::Saved(Revision::Version(8))
        );
        let seen = seen.lock().unwrap();
        assert!(
            seen[0].starts_with("POST /v1/secret/data/tierseal/prod "),
            "{seen:?}"
        );
        assert!(seen[0].contains(r#""cas":0"#), "{seen:?}");
        assert!(seen[1].contains(r#""cas":7"#), "{seen:?}");
        assert!(seen[1].contains(&STANDARD.encode(b"next")), "{seen:?}");
    }

    #[test]
    fn a_check_and_set_refusal_is_a_conflict_and_other_errors_are_typed() {
        let cas = json!({"errors": ["check-and-set parameter did not match the current version"]});
        let (addr, _) = stub(vec![
            (400, cas.to_string()),
            (400, json!({"errors": ["bad"]}).to_string()),
            (403, json!({"errors": ["permission denied"]}).to_string()),
            (404, String::new()),
        ]);
        let kv = backend(&addr);
        assert_eq!(
            kv.store(b"x", &Revision::Version(3)).unwrap(),
            Stored::Conflict
        );
        let err = kv.store(b"x", &Revision::Version(3)).unwrap_err();
        assert!(
            matches!(err, Error::KmsRequest { status: 400, .. }),
            "{err:?}"
        );
        let err = kv.load().unwrap_err();
        assert!(matches!(err, Error::KmsDenied { .. }), "{err:?}");
        let err = kv.load().unwrap_err();
        assert!(matches!(err, Error::KeystoreNotFound { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("openbao://secret/tierseal/prod") && text.contains(&addr),
            "{text}"
        );
        assert!(!text.contains(TOKEN) && !format!("{kv:?}").contains(TOKEN));
    }

    #[test]
    fn secrets_that_are_not_keystore_images_are_corrupt() {
        let cases = [
            json!({"keystore": STANDARD.encode(b"x")}),
            json!({"format": FORMAT}),
            json!({"format": FORMAT, "keystore": "***"}),
            json!({"format": FORMAT, "keystore": 5}),
        ];
        let mut answers: Vec<(u16, String)> = cases.iter().map(|c| (200, secret(2, c))).collect();
        answers.push((
            200,
            json!({"data": {"data": {"format": FORMAT}}}).to_string(),
        ));
        answers.push((200, json!({"nothing": 1}).to_string()));
        let count = answers.len();
        let (addr, _) = stub(answers);
        let kv = backend(&addr);
        for _ in 0..count {
            let err = kv.load().unwrap_err();
            assert!(matches!(err, Error::KeystoreCorrupt { .. }), "{err:?}");
        }
    }
}
