//! A small synchronous client for the OpenBao / HashiCorp Vault HTTP API.
//!
//! Both servers speak the same API (`/v1/...`, token in the `X-Vault-Token`
//! header, JSON bodies). This client is what the Transit key-encryption
//! provider and the KV v2 keystore storage are built on; it knows nothing
//! about either, only how to send a request, retry a transient failure a
//! bounded number of times, and turn every failure into a typed
//! [`Error`] that names the provider, the server address and
//! what was being accessed — never the token.
//!
//! Transport: [`ureq`] 3 (blocking, no async runtime), with TLS from rustls
//! (ring backend, Mozilla roots from `webpki-roots`). Plain `http://`
//! addresses keep working for the dev server and for a local agent or
//! proxy that terminates TLS. Redirects are not followed, so the token is
//! never sent to a host other than the configured one.
//!
//! The token is held in a [`SecretString`]: it is not in any `Debug`
//! output, and error messages are scrubbed of it even if a server were to
//! echo it back.

use std::fmt;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::error::Error;

/// The provider name errors carry for OpenBao / Vault.
pub(crate) const PROVIDER: &str = "openbao";

/// The most bytes of a response body the client reads.
const MAX_RESPONSE: u64 = 4 * 1024 * 1024;

/// Where to find the server and the token: the OpenBao names first, then
/// the Vault ones.
const ADDR_VARS: [&str; 2] = ["BAO_ADDR", "VAULT_ADDR"];
const TOKEN_VARS: [&str; 2] = ["BAO_TOKEN", "VAULT_TOKEN"];
const CACERT_VARS: [&str; 2] = ["BAO_CACERT", "VAULT_CACERT"];

/// How often and how patiently a transient failure (connection refused or
/// reset, time-out, HTTP 429, HTTP 5xx) is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, including the first (at least 1).
    pub attempts: u32,
    /// The wait before the second attempt; it doubles for each later one.
    pub base_delay: Duration,
    /// The longest single wait.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// Four attempts, waiting 100, 200 and 400 ms between them.
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt `attempt` (1-based).
    fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.base_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }
}

/// An HTTP method the client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET` (read).
    Get,
    /// `POST` (write, or an operation such as Transit `encrypt`).
    Post,
    /// `DELETE`.
    Delete,
    /// `LIST` as Vault spells it: a `GET` with `?list=true`.
    List,
}

/// A response the server gave, whatever its status.
#[derive(Debug, Clone, PartialEq)]
pub struct BaoResponse {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body (`Value::Null` when the body was empty).
    pub body: Value,
}

impl BaoResponse {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The server's error messages (`{"errors": [...]}`), joined.
    pub fn error_text(&self) -> String {
        match self.body.get("errors").and_then(Value::as_array) {
            Some(errors) => errors
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("; "),
            None => String::new(),
        }
    }
}

/// A connection to one OpenBao or Vault server with one token.
///
/// Cheap to clone (the underlying connection pool is shared).
#[derive(Clone)]
pub struct BaoClient {
    address: String,
    token: SecretString,
    agent: ureq::Agent,
    retry: RetryPolicy,
}

impl fmt::Debug for BaoClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BaoClient")
            .field("address", &self.address)
            .field("token", &"[redacted]")
            .field("retry", &self.retry)
            .finish()
    }
}

impl BaoClient {
    /// A client for the server at `address` (`http://host:port` or
    /// `https://host:port`, no path) using `token`.
    ///
    /// # Errors
    /// [`Error::KmsConfig`] if the address is not an `http`/`https` URL or
    /// the token is empty.
    pub fn new(address: &str, token: SecretString) -> Result<BaoClient, Error> {
        BaoClient::with_roots(address, token, None)
    }

    /// As [`new`](Self::new), trusting only the CA certificates in the PEM
    /// text `ca_pem` for `https://` (an internal PKI), instead of the
    /// Mozilla roots.
    ///
    /// # Errors
    /// As [`new`](Self::new), and [`Error::KmsConfig`] when `ca_pem` holds
    /// no certificate.
    pub fn with_ca_pem(
        address: &str,
        token: SecretString,
        ca_pem: &[u8],
    ) -> Result<BaoClient, Error> {
        let certs: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(ca_pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(cert)) => Some(cert),
                _ => None,
            })
            .collect();
        if certs.is_empty() {
            return Err(Error::KmsConfig {
                provider: PROVIDER,
                reason: "the CA certificate file (BAO_CACERT or VAULT_CACERT) holds no PEM certificate",
            });
        }
        BaoClient::with_roots(address, token, Some(certs))
    }

    fn with_roots(
        address: &str,
        token: SecretString,
        roots: Option<Vec<ureq::tls::Certificate<'static>>>,
    ) -> Result<BaoClient, Error> {
        let address = address.trim().trim_end_matches('/').to_owned();
        let rest = address
            .strip_prefix("http://")
            .or_else(|| address.strip_prefix("https://"));
        match rest {
            None => {
                return Err(Error::KmsConfig {
                    provider: PROVIDER,
                    reason: "the server address must start with http:// or https://",
                });
            }
            Some(host) if host.is_empty() || host.contains('/') => {
                return Err(Error::KmsConfig {
                    provider: PROVIDER,
                    reason: "the server address must be scheme://host[:port] without a path",
                });
            }
            Some(host) if host.contains('@') => {
                return Err(Error::KmsConfig {
                    provider: PROVIDER,
                    reason: "the server address must not carry credentials (user@host)",
                });
            }
            Some(_) => {}
        }
        let exposed = token.expose_secret();
        if exposed.trim().is_empty() {
            return Err(Error::KmsConfig {
                provider: PROVIDER,
                reason: "the token is empty: set BAO_TOKEN (or VAULT_TOKEN)",
            });
        }
        if !exposed.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::KmsConfig {
                provider: PROVIDER,
                reason: "the token contains characters a token cannot have (spaces or control characters)",
            });
        }
        let mut tls = ureq::tls::TlsConfig::builder();
        if let Some(roots) = roots {
            tls = tls.root_certs(ureq::tls::RootCerts::from(roots));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .tls_config(tls.build())
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(Duration::from_secs(5)))
            .timeout_global(Some(Duration::from_secs(30)))
            .user_agent("tierseal")
            .build()
            .into();
        Ok(BaoClient {
            address,
            token,
            agent,
            retry: RetryPolicy::default(),
        })
    }

    /// A client configured from the environment: the address from
    /// `BAO_ADDR` (else `VAULT_ADDR`), the token from `BAO_TOKEN` (else
    /// `VAULT_TOKEN`), and, when `BAO_CACERT` (else `VAULT_CACERT`) names a
    /// PEM file, only its CA certificates trusted for `https://`.
    ///
    /// # Errors
    /// [`Error::KmsConfig`] when a variable is missing or invalid.
    pub fn from_env() -> Result<BaoClient, Error> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// As [`from_env`](Self::from_env), reading variables through `lookup`
    /// (tests and callers with their own configuration source).
    ///
    /// # Errors
    /// [`Error::KmsConfig`] when a variable is missing or invalid.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<BaoClient, Error> {
        let first = |names: [&str; 2]| {
            names
                .iter()
                .filter_map(|n| lookup(n))
                .find(|v| !v.trim().is_empty())
        };
        let address = first(ADDR_VARS).ok_or(Error::KmsConfig {
            provider: PROVIDER,
            reason: "no server address: set BAO_ADDR (or VAULT_ADDR)",
        })?;
        let token = first(TOKEN_VARS).ok_or(Error::KmsConfig {
            provider: PROVIDER,
            reason: "no token: set BAO_TOKEN (or VAULT_TOKEN)",
        })?;
        let token = SecretString::from(token);
        match first(CACERT_VARS) {
            Some(file) => {
                let pem =
                    std::fs::read(&file).map_err(|e| Error::io("read CA certificate", &file, e))?;
                BaoClient::with_ca_pem(&address, token, &pem)
            }
            None => BaoClient::new(&address, token),
        }
    }

    /// The same client with another retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> BaoClient {
        self.retry = RetryPolicy {
            attempts: retry.attempts.max(1),
            ..retry
        };
        self
    }

    /// The server address (never secret).
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Sends a request to `/v1/{path}` and returns whatever the server
    /// answered, retrying transient failures (connection failures, 429,
    /// 5xx) with bounded exponential backoff.
    ///
    /// `subject` names what is accessed (`transit key tierseal-internal`,
    /// `KV secret/tierseal/prod`) for error messages.
    ///
    /// # Errors
    /// [`Error::KmsUnavailable`] when the server cannot be reached or keeps
    /// failing transiently after the last attempt. A response with any
    /// other status is returned as `Ok` for the caller to judge (see
    /// [`call`](Self::call) for one that judges it).
    pub fn send(
        &self,
        method: Method,
        path: &str,
        subject: &str,
        body: Option<&Value>,
    ) -> Result<BaoResponse, Error> {
        let url = self.url(method, path);
        let payload = match body {
            Some(v) => Some(serde_json::to_vec(v).map_err(|_| {
                self.request_error(
                    subject,
                    0,
                    "the request body could not be encoded".to_owned(),
                )
            })?),
            None => None,
        };
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let outcome = self.attempt(method, &url, payload.as_deref());
            let last = attempt >= self.retry.attempts;
            match outcome {
                Ok(resp) if is_transient_status(resp.status) && !last => {}
                Ok(resp) if is_transient_status(resp.status) => {
                    return Err(self.unavailable(
                        subject,
                        format!(
                            "HTTP {} after {attempt} attempt(s){}",
                            resp.status,
                            suffix(&self.scrub(&resp.error_text()))
                        ),
                    ));
                }
                Ok(resp) => return Ok(resp),
                Err(Failure::Transient(reason)) if !last => {
                    tracing::debug!(
                        provider = PROVIDER,
                        address = %self.address,
                        subject,
                        attempt,
                        reason,
                        "transient failure, retrying"
                    );
                }
                Err(Failure::Transient(reason)) => {
                    return Err(
                        self.unavailable(subject, format!("{reason} after {attempt} attempt(s)"))
                    );
                }
                Err(Failure::Fatal(reason)) => return Err(self.unavailable(subject, reason)),
            }
            std::thread::sleep(self.retry.delay(attempt));
        }
    }

    /// As [`send`](Self::send), but a non-2xx answer is an error:
    /// 403 is [`Error::KmsDenied`], anything else [`Error::KmsRequest`].
    /// Returns the JSON body (`Value::Null` for 204).
    ///
    /// # Errors
    /// See above and [`send`](Self::send).
    pub fn call(
        &self,
        method: Method,
        path: &str,
        subject: &str,
        body: Option<&Value>,
    ) -> Result<Value, Error> {
        let resp = self.send(method, path, subject, body)?;
        if resp.is_success() {
            return Ok(resp.body);
        }
        Err(self.status_error(subject, &resp))
    }

    /// The typed error for a non-2xx response.
    pub fn status_error(&self, subject: &str, resp: &BaoResponse) -> Error {
        if resp.status == 403 {
            Error::KmsDenied {
                provider: PROVIDER,
                address: self.address.clone(),
                subject: shorten_subject(subject),
            }
        } else {
            self.request_error(subject, resp.status, self.scrub(&resp.error_text()))
        }
    }

    fn url(&self, method: Method, path: &str) -> String {
        let path = path.trim_start_matches('/');
        match method {
            Method::List if path.contains('?') => format!("{}/v1/{path}&list=true", self.address),
            Method::List => format!("{}/v1/{path}?list=true", self.address),
            _ => format!("{}/v1/{path}", self.address),
        }
    }

    fn attempt(
        &self,
        method: Method,
        url: &str,
        payload: Option<&[u8]>,
    ) -> Result<BaoResponse, Failure> {
        let mut token = ureq::http::HeaderValue::from_str(self.token.expose_secret())
            .map_err(|_| Failure::Fatal("the token is not a valid header value".to_owned()))?;
        token.set_sensitive(true);
        let result = match method {
            Method::Get | Method::List => self
                .agent
                .get(url)
                .header("X-Vault-Token", token)
                .header("X-Vault-Request", "true")
                .call(),
            Method::Delete => self
                .agent
                .delete(url)
                .header("X-Vault-Token", token)
                .header("X-Vault-Request", "true")
                .call(),
            Method::Post => self
                .agent
                .post(url)
                .header("X-Vault-Token", token)
                .header("X-Vault-Request", "true")
                .header("Content-Type", "application/json")
                .send(payload.unwrap_or(b"{}")),
        };
        let mut resp = result.map_err(classify)?;
        let status = resp.status().as_u16();
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE)
            .read_to_vec()
            .map_err(classify)?;
        let body = if bytes.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            match serde_json::from_slice(&bytes) {
                Ok(v) => v,
                // A proxy's HTML error page on a 5xx is still a 5xx.
                Err(_) if is_transient_status(status) => Value::Null,
                Err(_) => {
                    return Err(Failure::Fatal(format!(
                        "HTTP {status} with a body that is not JSON (is the address an OpenBao server?)"
                    )));
                }
            }
        };
        Ok(BaoResponse { status, body })
    }

    fn unavailable(&self, subject: &str, reason: String) -> Error {
        Error::KmsUnavailable {
            provider: PROVIDER,
            address: self.address.clone(),
            subject: shorten_subject(subject),
            reason: self.scrub(&reason),
        }
    }

    fn request_error(&self, subject: &str, status: u16, reason: String) -> Error {
        Error::KmsRequest {
            provider: PROVIDER,
            address: self.address.clone(),
            subject: shorten_subject(subject),
            status,
            reason: shorten_reason(&reason),
        }
    }

    /// Removes the token from text that will be shown.
    fn scrub(&self, text: &str) -> String {
        let token = self.token.expose_secret();
        if token.is_empty() {
            text.to_owned()
        } else {
            text.replace(token, "[redacted]")
        }
    }
}

/// Why one attempt failed before a response was read.
enum Failure {
    /// Worth another attempt.
    Transient(String),
    /// Not worth another attempt.
    Fatal(String),
}

fn classify(e: ureq::Error) -> Failure {
    match e {
        ureq::Error::Io(io) => Failure::Transient(format!("connection failed ({})", io.kind())),
        ureq::Error::ConnectionFailed => Failure::Transient("connection failed".to_owned()),
        ureq::Error::Timeout(_) => Failure::Transient("timed out".to_owned()),
        ureq::Error::HostNotFound => Failure::Fatal("host not found".to_owned()),
        ureq::Error::BodyExceedsLimit(_) => Failure::Fatal("response too large".to_owned()),
        ureq::Error::Tls(reason) => Failure::Fatal(format!("TLS failed: {reason}")),
        ureq::Error::Rustls(e) => Failure::Fatal(format!("TLS failed: {e}")),
        ureq::Error::BadUri(_) => Failure::Fatal("the address is not a valid URL".to_owned()),
        other => Failure::Fatal(format!(
            "request failed: {}",
            shorten_reason(&other.to_string())
        )),
    }
}

fn is_transient_status(status: u16) -> bool {
    status == 429 || (500..600).contains(&status) && status != 501
}

fn suffix(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!(": {}", shorten_reason(text))
    }
}

/// Subjects are built from validated names (mounts, prefixes, tiers, KV
/// paths), so they are cut only to keep a message readable.
fn shorten_subject(subject: &str) -> String {
    shorten_reason(subject)
}

fn shorten_reason(reason: &str) -> String {
    const MAX: usize = 200;
    match reason.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}...", reason.get(..end).unwrap_or_default()),
        None => reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    const TOKEN: &str = "s.unit-test-token-4f2a9c";

    fn fast() -> RetryPolicy {
        RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        }
    }

    /// A one-thread HTTP stub that answers each connection with the next
    /// canned (status, body) and records the request heads it saw.
    fn stub(answers: Vec<(u16, &'static str)>) -> (String, Arc<Mutex<Vec<String>>>) {
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
                let mut head = String::new();
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    head.push_str(&line);
                }
                let mut payload = vec![0; length];
                reader.read_exact(&mut payload).unwrap();
                head.push_str(&String::from_utf8_lossy(&payload));
                log.lock().unwrap().push(head);
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

    fn client(addr: &str) -> BaoClient {
        BaoClient::new(addr, SecretString::from(TOKEN.to_owned()))
            .unwrap()
            .with_retry(fast())
    }

    fn closed_port() -> String {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = format!("http://{}", l.local_addr().unwrap());
        drop(l);
        addr
    }

    #[test]
    fn env_prefers_bao_names_and_falls_back_to_vault_names() {
        let vars = |set: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                set.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let c = BaoClient::from_lookup(vars(&[
            ("BAO_ADDR", "http://bao:8200"),
            ("VAULT_ADDR", "http://vault:8200"),
            ("VAULT_TOKEN", "t"),
        ]))
        .unwrap();
        assert_eq!(c.address(), "http://bao:8200");
        let c = BaoClient::from_lookup(vars(&[
            ("VAULT_ADDR", "https://vault:8200/"),
            ("VAULT_TOKEN", "t"),
        ]))
        .unwrap();
        assert_eq!(c.address(), "https://vault:8200");
        let e = BaoClient::from_lookup(vars(&[("BAO_ADDR", "http://bao:8200")])).unwrap_err();
        assert!(matches!(e, Error::KmsConfig { .. }), "{e:?}");
        let e = BaoClient::from_lookup(vars(&[("BAO_TOKEN", "t")])).unwrap_err();
        assert!(e.to_string().contains("BAO_ADDR"), "{e}");
    }

    #[test]
    fn a_ca_file_must_hold_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let pem = dir.path().join("ca.pem");
        std::fs::write(&pem, "not a certificate").unwrap();
        let path = pem.to_string_lossy().into_owned();
        let missing = dir.path().join("none.pem").to_string_lossy().into_owned();
        let lookup = |ca: String| {
            move |name: &str| match name {
                "BAO_ADDR" => Some("https://bao:8200".to_owned()),
                "BAO_TOKEN" => Some(TOKEN.to_owned()),
                "VAULT_CACERT" => Some(ca.clone()),
                _ => None,
            }
        };
        let e = BaoClient::from_lookup(lookup(path)).unwrap_err();
        assert!(matches!(e, Error::KmsConfig { .. }), "{e:?}");
        let e = BaoClient::from_lookup(lookup(missing)).unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e:?}");
        assert!(!format!("{e:?}").contains(TOKEN));
    }

    #[test]
    fn bad_addresses_and_tokens_are_refused() {
        for bad in [
            "bao:8200",
            "ftp://x",
            "http://",
            "http://h/v1",
            "http://u:p@h",
        ] {
            let e = BaoClient::new(bad, SecretString::from("t".to_owned())).unwrap_err();
            assert!(matches!(e, Error::KmsConfig { .. }), "{bad}: {e:?}");
        }
        for bad in ["", "  ", "a b", "a\nb"] {
            let e = BaoClient::new("http://h", SecretString::from(bad.to_owned())).unwrap_err();
            assert!(matches!(e, Error::KmsConfig { .. }), "{bad:?}: {e:?}");
        }
    }

    #[test]
    fn debug_never_shows_the_token() {
        let c = client("http://127.0.0.1:1");
        let shown = format!("{c:?}");
        assert!(!shown.contains(TOKEN), "{shown}");
        assert!(shown.contains("127.0.0.1:1"), "{shown}");
    }

    #[test]
    fn token_header_is_sent_and_json_returned() {
        let (addr, seen) = stub(vec![(200, r#"{"data":{"ok":true}}"#)]);
        let body = client(&addr)
            .call(
                Method::Post,
                "transit/encrypt/k",
                "transit key k",
                Some(&serde_json::json!({"a": 1})),
            )
            .unwrap();
        assert_eq!(body["data"]["ok"], Value::Bool(true));
        let seen = seen.lock().unwrap();
        let head = seen.first().unwrap().to_ascii_lowercase();
        assert!(head.starts_with("post /v1/transit/encrypt/k "), "{head}");
        assert!(
            head.contains(&format!("x-vault-token: {}", TOKEN.to_ascii_lowercase())),
            "{head}"
        );
        assert!(head.contains(r#"{"a":1}"#), "{head}");
    }

    #[test]
    fn transient_statuses_are_retried_then_succeed() {
        let (addr, seen) = stub(vec![
            (503, r#"{"errors":["sealed"]}"#),
            (429, "{}"),
            (200, r#"{"data":{}}"#),
        ]);
        let body = client(&addr)
            .call(Method::Get, "sys/health", "health", None)
            .unwrap();
        assert!(body.get("data").is_some());
        assert_eq!(seen.lock().unwrap().len(), 3);
    }

    #[test]
    fn retries_are_bounded() {
        let (addr, seen) = stub(vec![(500, "{}"), (502, "{}"), (503, "{}"), (200, "{}")]);
        let e = client(&addr)
            .call(Method::Get, "sys/health", "health", None)
            .unwrap_err();
        assert!(matches!(e, Error::KmsUnavailable { .. }), "{e:?}");
        assert!(e.to_string().contains("3 attempt"), "{e}");
        assert_eq!(seen.lock().unwrap().len(), 3);
    }

    #[test]
    fn forbidden_is_denied_and_not_retried() {
        let (addr, seen) = stub(vec![
            (403, r#"{"errors":["permission denied"]}"#),
            (200, "{}"),
        ]);
        let e = client(&addr)
            .call(
                Method::Post,
                "transit/decrypt/tierseal-restricted",
                "transit key tierseal-restricted (tier restricted)",
                None,
            )
            .unwrap_err();
        assert!(matches!(e, Error::KmsDenied { .. }), "{e:?}");
        let text = e.to_string();
        assert!(
            text.contains("openbao") && text.contains(&addr) && text.contains("tier restricted"),
            "{text}"
        );
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    #[test]
    fn client_errors_are_typed_and_scrubbed_of_the_token() {
        // A server that echoes the token must not get it into the message.
        let echo: &'static str =
            Box::leak(format!(r#"{{"errors":["bad token {TOKEN}"]}}"#).into_boxed_str());
        let (addr, _) = stub(vec![(400, echo)]);
        let e = client(&addr)
            .call(Method::Get, "kv/data/x", "KV kv/x", None)
            .unwrap_err();
        assert!(matches!(e, Error::KmsRequest { status: 400, .. }), "{e:?}");
        assert!(!e.to_string().contains(TOKEN), "{e}");
        assert!(!format!("{e:?}").contains(TOKEN), "{e:?}");
        assert!(e.to_string().contains("[redacted]"), "{e}");
    }

    #[test]
    fn send_returns_non_transient_statuses_to_the_caller() {
        let (addr, _) = stub(vec![(404, "")]);
        let resp = client(&addr)
            .send(Method::Get, "secret/data/x", "KV", None)
            .unwrap();
        assert_eq!(resp.status, 404);
        assert_eq!(resp.body, Value::Null);
        assert!(!resp.is_success());
    }

    #[test]
    fn connection_refused_is_unavailable_after_bounded_retries() {
        let addr = closed_port();
        let e = client(&addr)
            .call(Method::Get, "sys/health", "health", None)
            .unwrap_err();
        assert!(matches!(e, Error::KmsUnavailable { .. }), "{e:?}");
        let text = e.to_string();
        assert!(text.contains(&addr) && text.contains("3 attempt"), "{text}");
        assert!(!text.contains(TOKEN) && !format!("{e:?}").contains(TOKEN));
    }

    #[test]
    fn list_uses_the_list_query() {
        let c = client("http://h:1");
        assert_eq!(
            c.url(Method::List, "secret/metadata/a"),
            "http://h:1/v1/secret/metadata/a?list=true"
        );
        assert_eq!(
            c.url(Method::List, "/x?y=1"),
            "http://h:1/v1/x?y=1&list=true"
        );
        assert_eq!(
            c.url(Method::Get, "/sys/health"),
            "http://h:1/v1/sys/health"
        );
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = RetryPolicy {
            attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
        };
        assert_eq!(p.delay(1), Duration::from_millis(100));
        assert_eq!(p.delay(2), Duration::from_millis(200));
        assert_eq!(p.delay(3), Duration::from_millis(350));
        assert_eq!(p.delay(40), Duration::from_millis(350));
    }
}
