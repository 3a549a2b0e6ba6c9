//! Test-only helpers shared by the tierseal packages' tests: the gate that
//! decides whether a real service (OpenBao, a SoftHSM2 PKCS#11 token,
//! PostgreSQL) is there to test against.
//!
//! A test whose service is absent prints one line to stderr,
//! `skipped: <what> (run: <command>)`, and returns; but when
//! `TIERSEAL_REQUIRE_SERVICES=1` is set (as CI does after starting the
//! services with `.ci/services/*.sh`) it fails instead, so that a missing
//! service can never pass as a green run.
//!
//! ```
//! use tierseal_testkit::OpenBao;
//!
//! # if std::env::var("TIERSEAL_REQUIRE_SERVICES").as_deref() == Ok("1") { return; }
//! let Some(bao) = OpenBao::from_env(
//!     "OpenBao Transit provider tests",
//!     "source .ci/services/openbao.sh && cargo test -p tierseal --test openbao",
//! ) else {
//!     return; // skipped: the line above was printed
//! };
//! assert!(!bao.addr.is_empty() && !bao.token.is_empty());
//! ```
//!
//! The crate depends on nothing (not even tierseal), so every package can
//! use it as a dev-dependency.
#![forbid(unsafe_code)]

use std::path::PathBuf;

/// The variable that turns a skip into a failure when set to `1`.
pub const REQUIRE_SERVICES: &str = "TIERSEAL_REQUIRE_SERVICES";

/// Whether the run demands every service (`TIERSEAL_REQUIRE_SERVICES=1`).
#[must_use]
pub fn required() -> bool {
    std::env::var(REQUIRE_SERVICES).as_deref() == Ok("1")
}

/// The environment variable `name`, unless it is unset or blank.
#[must_use]
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Reports an absent service: panics when [`required`], else prints
/// `skipped: {what} (run: {run})` to stderr and returns `None`, so a gate
/// can end with `return absent(...)`.
///
/// `why` says what is missing (it is part of the failure message only).
///
/// # Panics
///
/// When `TIERSEAL_REQUIRE_SERVICES=1`: the service was required.
pub fn absent<T>(what: &str, why: &str, run: &str) -> Option<T> {
    assert!(
        !required(),
        "{what}: required ({REQUIRE_SERVICES}=1) but {why} (run: {run})"
    );
    eprintln!("skipped: {what} (run: {run})");
    None
}

/// The values of the environment variables `vars`, in order, when every
/// one is set and not blank; otherwise [`absent`] (skip, or fail when
/// required).
///
/// # Panics
///
/// When a variable is missing and `TIERSEAL_REQUIRE_SERVICES=1`.
#[must_use]
pub fn service(what: &str, vars: &[&str], run: &str) -> Option<Vec<String>> {
    let values: Option<Vec<String>> = vars.iter().map(|name| var(name)).collect();
    match values {
        Some(values) => Some(values),
        None => absent(what, &format!("{} are not all set", vars.join("/")), run),
    }
}

/// An OpenBao server, as `.ci/services/openbao.sh` exports it.
#[derive(Clone)]
pub struct OpenBao {
    /// Its address (`TIERSEAL_TEST_BAO_ADDR`).
    pub addr: String,
    /// A token for it (`TIERSEAL_TEST_BAO_TOKEN`); never print it.
    pub token: String,
    /// The KV version 2 mount (`TIERSEAL_TEST_BAO_KV_MOUNT`, else `secret`).
    pub kv_mount: String,
}

impl std::fmt::Debug for OpenBao {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenBao")
            .field("addr", &self.addr)
            .field("token", &"<redacted>")
            .field("kv_mount", &self.kv_mount)
            .finish()
    }
}

impl OpenBao {
    /// The server from `TIERSEAL_TEST_BAO_ADDR` / `TIERSEAL_TEST_BAO_TOKEN`,
    /// or `None` after the skip line for `what` (see [`service`]).
    ///
    /// # Panics
    ///
    /// When the server is absent and `TIERSEAL_REQUIRE_SERVICES=1`.
    #[must_use]
    pub fn from_env(what: &str, run: &str) -> Option<OpenBao> {
        let mut values = service(
            what,
            &["TIERSEAL_TEST_BAO_ADDR", "TIERSEAL_TEST_BAO_TOKEN"],
            run,
        )?
        .into_iter();
        let (addr, token) = (values.next()?, values.next()?);
        let kv_mount = var("TIERSEAL_TEST_BAO_KV_MOUNT").unwrap_or_else(|| "secret".to_owned());
        Some(OpenBao {
            addr,
            token,
            kv_mount,
        })
    }
}

/// A PKCS#11 token, as `.ci/services/softhsm.sh` exports it.
#[derive(Clone)]
pub struct Pkcs11Token {
    /// The PKCS#11 module (`TIERSEAL_TEST_PKCS11_MODULE`).
    pub module: PathBuf,
    /// The token label (`TIERSEAL_TEST_PKCS11_TOKEN`).
    pub token: String,
    /// The user PIN (`TIERSEAL_TEST_PKCS11_PIN`); never print it.
    pub pin: String,
}

impl std::fmt::Debug for Pkcs11Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Token")
            .field("module", &self.module)
            .field("token", &self.token)
            .field("pin", &"<redacted>")
            .finish()
    }
}

impl Pkcs11Token {
    /// The token from the `TIERSEAL_TEST_PKCS11_*` variables, or `None`
    /// after the skip line for `what` (see [`service`]).
    ///
    /// # Panics
    ///
    /// When the token is absent and `TIERSEAL_REQUIRE_SERVICES=1`.
    #[must_use]
    pub fn from_env(what: &str, run: &str) -> Option<Pkcs11Token> {
        let mut values = service(
            what,
            &[
                "TIERSEAL_TEST_PKCS11_MODULE",
                "TIERSEAL_TEST_PKCS11_TOKEN",
                "TIERSEAL_TEST_PKCS11_PIN",
            ],
            run,
        )?
        .into_iter();
        let (module, token, pin) = (values.next()?, values.next()?, values.next()?);
        Some(Pkcs11Token {
            module: module.into(),
            token,
            pin,
        })
    }
}

/// The PostgreSQL connection string: `TIERSEAL_TEST_PG`, else `default`.
/// Whether a server answers there is for the test to find out (and to
/// report with [`absent`] when none does).
#[must_use]
pub fn postgres_config(default: &str) -> String {
    std::env::var("TIERSEAL_TEST_PG").unwrap_or_else(|_| default.to_owned())
}

/// A finished command's standard output, as text (lossy UTF-8).
#[must_use]
pub fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A finished command's standard error, as text (lossy UTF-8).
#[must_use]
pub fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The names of this process's environment variables that start with one
/// of `prefixes`: what a test removes (`env_remove`) so that the binary it
/// runs sees only the configuration the test gives it.
#[must_use]
pub fn inherited(prefixes: &[&str]) -> Vec<String> {
    std::env::vars_os()
        .filter_map(|(key, _)| key.into_string().ok())
        .filter(|key| prefixes.iter().any(|prefix| key.starts_with(prefix)))
        .collect()
}

/// Twelve random hex characters (six bytes from `/dev/urandom`): a name
/// part no other test, or earlier run against the same server, uses.
///
/// # Panics
///
/// When `/dev/urandom` cannot be read.
#[must_use]
#[allow(
    clippy::expect_used,
    reason = "a test helper: no randomness is a test failure"
)]
pub fn unique_hex() -> String {
    use std::io::Read as _;
    let mut bytes = [0u8; 6];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("/dev/urandom");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_stay_out_of_debug() {
        let bao = OpenBao {
            addr: "http://127.0.0.1:1".into(),
            token: "s.secret-token-9x".into(),
            kv_mount: "secret".into(),
        };
        let hsm = Pkcs11Token {
            module: "/m.so".into(),
            token: "t".into(),
            pin: "pin-4242-x".into(),
        };
        assert!(!format!("{bao:?}").contains("secret-token-9x"));
        assert!(!format!("{hsm:?}").contains("pin-4242-x"));
        assert!(format!("{bao:?}").contains("127.0.0.1:1"));
    }

    #[test]
    fn inherited_lists_only_the_prefixed_variables() {
        let names = inherited(&["PATH", "CARGO_PKG_"]);
        assert!(names.iter().any(|name| name == "PATH"), "{names:?}");
        assert!(
            names
                .iter()
                .all(|name| name.starts_with("PATH") || name.starts_with("CARGO_PKG_")),
            "{names:?}"
        );
        assert!(inherited(&[]).is_empty());
    }

    #[test]
    fn unique_hex_is_twelve_hex_characters_and_differs() {
        let (one, two) = (unique_hex(), unique_hex());
        assert_eq!(one.len(), 12);
        assert!(one.chars().all(|c| c.is_ascii_hexdigit()), "{one}");
        assert_ne!(one, two);
    }
}
