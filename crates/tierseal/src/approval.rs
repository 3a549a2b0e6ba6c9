//! Break-glass approvals: short-lived signed statements that let one
//! principal open one tier for one purpose.
//!
//! An approver (a key custodian, with the keystore's approver key) signs an
//! [`Approval`] naming the approver, the requester, the tier, the purpose,
//! when it was issued and when it expires, under a random approval id. A
//! keyring configured to [require approvals](crate::Keyring::require_approval)
//! for a tier checks, before it unwraps any data key of that tier, that the
//! access context carries an approval that verifies under the configured
//! [`ApproverKey`] and matches the context's principal, the tier and the
//! purpose, and that has not expired. The open's audit event names the
//! approval's id and its approver.
//!
//! ```text
//! text   = "tierseal-approval:" base64url(bytes)       (no padding)
//! bytes  = magic "TSAP" | version u8 (1) | len u32be | statement (postcard)
//!          | signature [64]                            (Ed25519)
//! signed = "tierseal/approval\0" | bytes[..9 + len]
//! statement = id [16] | approver str | requester str | tier str | purpose str
//!             | issued_at varint | expires_at varint    (seconds since the epoch)
//! ```

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::keystore::unix_seconds;
use crate::{AccessContext, Error, Tier};

const MAGIC: &[u8; 4] = b"TSAP";
const APPROVAL_VERSION: u8 = 1;
/// The prefix of an approval's text form.
pub const APPROVAL_PREFIX: &str = "tierseal-approval:";
/// The prefix of an approver key's text form.
pub const APPROVER_KEY_PREFIX: &str = "tierseal-approver:";
/// What the signature covers before the approval's bytes: no signature the
/// approver key makes for another purpose can pass for an approval.
const SIGNING_CONTEXT: &[u8] = b"tierseal/approval\0";
const SIGNATURE_LEN: usize = 64;
/// The largest statement read: two principals, a tier and a purpose.
const MAX_STATEMENT_LEN: usize = 4096;
/// The longest an approval may be valid: approvals are for one incident.
pub const MAX_APPROVAL_LIFETIME_SECS: u64 = 24 * 3600;
/// How far in the future an approval's issue time may lie (clock skew
/// between the approver's and the opener's machines).
pub const MAX_CLOCK_SKEW_SECS: u64 = 300;

/// The public key that approvals are verified against: the keystore's
/// approver key ([`Keystore::approver_key`](crate::Keystore::approver_key)).
///
/// Its text form is `tierseal-approver:` followed by the 32-byte Ed25519
/// public key in base64url. It is public: it lets a service check
/// approvals, never make them.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ApproverKey(VerifyingKey);

impl ApproverKey {
    pub(crate) fn of(signing: &SigningKey) -> ApproverKey {
        ApproverKey(signing.verifying_key())
    }

    /// The raw 32-byte Ed25519 public key.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The key from its raw 32 bytes.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for bytes that are not a usable Ed25519
    /// public key (not a curve point, or a weak key of small order).
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<ApproverKey, Error> {
        const INVALID: Error = Error::InvalidParameter {
            what: "approver key",
            reason: "not a usable Ed25519 public key",
        };
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| INVALID)?;
        if key.is_weak() {
            return Err(INVALID);
        }
        Ok(ApproverKey(key))
    }
}

impl fmt::Display for ApproverKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{APPROVER_KEY_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(self.0.as_bytes())
        )
    }
}

impl fmt::Debug for ApproverKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApproverKey({self})")
    }
}

impl FromStr for ApproverKey {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let bytes = text
            .trim()
            .strip_prefix(APPROVER_KEY_PREFIX)
            .and_then(|b64| URL_SAFE_NO_PAD.decode(b64).ok())
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .ok_or(Error::InvalidParameter {
                what: "approver key",
                reason: "not `tierseal-approver:` followed by 32 bytes of base64url",
            })?;
        ApproverKey::from_bytes(&bytes)
    }
}

impl Serialize for ApproverKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&self.to_string())
        } else {
            self.0.as_bytes().serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for ApproverKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            String::deserialize(deserializer)?
                .parse()
                .map_err(serde::de::Error::custom)
        } else {
            let bytes = <[u8; 32]>::deserialize(deserializer)?;
            ApproverKey::from_bytes(&bytes).map_err(serde::de::Error::custom)
        }
    }
}

/// The identifier of one approval: 16 random bytes, shown as 32 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApprovalId(pub(crate) [u8; 16]);

impl fmt::Display for ApprovalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::crypto::hex(&self.0))
    }
}

impl fmt::Debug for ApprovalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApprovalId({self})")
    }
}

/// What an approver signs.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Statement {
    id: [u8; 16],
    approver: String,
    requester: String,
    tier: Tier,
    purpose: String,
    issued_at: u64,
    expires_at: u64,
}

/// A signed, short-lived permission for one requester to open one tier for
/// one purpose (see the [module docs](self) for the format).
///
/// Parse one with [`str::parse`] from its text form (`tierseal-approval:`
/// …); parsing checks the layout only: the signature and the match with an
/// access are checked by the opener, against the keyring's configured
/// [`ApproverKey`]. An approval carries no key material; `Debug` shows its
/// id, parties, tier and validity.
#[derive(Clone)]
pub struct Approval {
    statement: Statement,
    /// The approval's bytes up to the signature (what is signed, after the
    /// signing context).
    signed: Vec<u8>,
    signature: [u8; SIGNATURE_LEN],
    /// The public key the signature was found valid under, once it was: an
    /// approval's bytes never change after it is read, so an opener that
    /// checks the same approval for many fields verifies it once per key.
    verified_under: OnceLock<[u8; 32]>,
}

impl PartialEq for Approval {
    fn eq(&self, other: &Approval) -> bool {
        self.signed == other.signed && self.signature == other.signature
    }
}

impl Eq for Approval {}

/// What an approval is to be checked against.
pub(crate) struct Access<'a> {
    pub(crate) requester: &'a str,
    pub(crate) tier: &'a Tier,
    pub(crate) purpose: Option<&'a str>,
    pub(crate) now: u64,
}

impl Approval {
    /// The approval's random id, recorded in the audit event of every open
    /// it allows.
    pub fn id(&self) -> ApprovalId {
        ApprovalId(self.statement.id)
    }

    /// Who approved (the custodian or approver named when it was issued).
    pub fn approver(&self) -> &str {
        &self.statement.approver
    }

    /// The principal it lets open.
    pub fn requester(&self) -> &str {
        &self.statement.requester
    }

    /// The tier it lets open.
    pub fn tier(&self) -> &Tier {
        &self.statement.tier
    }

    /// The purpose the access must give, exactly.
    pub fn purpose(&self) -> &str {
        &self.statement.purpose
    }

    /// Issued, in seconds since the Unix epoch.
    pub fn issued_at(&self) -> u64 {
        self.statement.issued_at
    }

    /// Expires, in seconds since the Unix epoch: refused from this second on.
    pub fn expires_at(&self) -> u64 {
        self.statement.expires_at
    }

    /// The approval's binary form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.signed.clone();
        out.extend_from_slice(&self.signature);
        out
    }

    /// The approval's text form: `tierseal-approval:` + base64url.
    pub fn to_text(&self) -> String {
        let mut text = String::from(APPROVAL_PREFIX);
        URL_SAFE_NO_PAD.encode_string(self.to_bytes(), &mut text);
        text
    }

    /// Reads an approval's binary form (layout only; see [`Approval`]).
    ///
    /// # Errors
    /// [`Error::ApprovalInvalid`] when the bytes are not an approval.
    pub fn from_bytes(bytes: &[u8]) -> Result<Approval, Error> {
        let bad = |reason| Error::ApprovalInvalid {
            id: "(unreadable)".into(),
            reason,
        };
        if bytes.get(..4) != Some(MAGIC.as_slice()) {
            return Err(bad("not a tierseal approval"));
        }
        match bytes.get(4) {
            Some(&APPROVAL_VERSION) => {}
            Some(_) => return Err(bad("unsupported approval format version: upgrade tierseal")),
            None => return Err(bad("truncated")),
        }
        let len = bytes
            .get(5..9)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_be_bytes)
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n <= MAX_STATEMENT_LEN)
            .ok_or(bad("truncated or oversized statement"))?;
        let end = 9 + len;
        let statement_bytes = bytes.get(9..end).ok_or(bad("truncated"))?;
        let signature: [u8; SIGNATURE_LEN] = bytes
            .get(end..)
            .and_then(|s| s.try_into().ok())
            .ok_or(bad("the signature is missing or has the wrong length"))?;
        let (statement, rest): (Statement, _) = postcard::take_from_bytes(statement_bytes)
            .map_err(|_| bad("the statement does not decode"))?;
        if !rest.is_empty() {
            return Err(bad("the statement has trailing bytes"));
        }
        Ok(Approval {
            statement,
            signed: bytes.get(..end).ok_or(bad("truncated"))?.to_vec(),
            signature,
            verified_under: OnceLock::new(),
        })
    }

    /// Signs a new approval with the approver's key.
    pub(crate) fn sign(
        key: &SigningKey,
        approver: &str,
        requester: &str,
        tier: &Tier,
        purpose: &str,
        expires_at: SystemTime,
    ) -> Result<Approval, Error> {
        let now = unix_seconds(SystemTime::now());
        let expires_at = unix_seconds(expires_at);
        check_approver(approver)?;
        crate::grant::check_principal(requester)?;
        crate::access::check_purpose(purpose).map_err(|reason| Error::InvalidParameter {
            what: "purpose",
            reason,
        })?;
        if crate::grant::principal_skeleton(approver) == crate::grant::principal_skeleton(requester)
        {
            return Err(Error::InvalidParameter {
                what: "approval",
                reason: "the approver and the requester must be different people",
            });
        }
        if expires_at <= now {
            return Err(Error::InvalidParameter {
                what: "expiry",
                reason: "must be in the future",
            });
        }
        if expires_at - now > MAX_APPROVAL_LIFETIME_SECS {
            return Err(Error::InvalidParameter {
                what: "expiry",
                reason: "an approval is valid for at most 24 hours",
            });
        }
        let mut id = [0u8; 16];
        crate::crypto::fill_from_os(&mut id)?;
        let statement = Statement {
            id,
            approver: approver.to_owned(),
            requester: requester.to_owned(),
            tier: tier.clone(),
            purpose: purpose.to_owned(),
            issued_at: now,
            expires_at,
        };
        Approval::sign_statement(key, statement)
    }

    /// Encodes and signs `statement` (checked by the caller).
    fn sign_statement(key: &SigningKey, statement: Statement) -> Result<Approval, Error> {
        let encoded = postcard::to_stdvec(&statement).map_err(|_| Error::InvalidParameter {
            what: "approval",
            reason: "does not encode",
        })?;
        if encoded.len() > MAX_STATEMENT_LEN {
            return Err(Error::InvalidParameter {
                what: "approval",
                reason: "the statement is too long",
            });
        }
        let mut signed = Vec::with_capacity(9 + encoded.len());
        signed.extend_from_slice(MAGIC);
        signed.push(APPROVAL_VERSION);
        signed.extend_from_slice(
            &u32::try_from(encoded.len())
                .unwrap_or(u32::MAX)
                .to_be_bytes(),
        );
        signed.extend_from_slice(&encoded);
        let signature = key.sign(&signing_input(&signed)).to_bytes();
        Ok(Approval {
            statement,
            signed,
            signature,
            verified_under: OnceLock::new(),
        })
    }

    /// Checks this approval as an opener does: signed by `key`, for
    /// `requester` to open `tier` with exactly `purpose`, and valid at `now`
    /// (for a service that checks an approval before it starts work; the
    /// opener checks again at each open).
    ///
    /// # Errors
    /// [`Error::ApprovalInvalid`] for a signature that does not verify,
    /// an issue time beyond the clock skew ahead of `now`, or a validity
    /// period longer than [`MAX_APPROVAL_LIFETIME_SECS`];
    /// [`Error::ApprovalMismatch`] for another requester, tier or purpose;
    /// [`Error::ApprovalExpired`] from its expiry on.
    pub fn verify_at(
        &self,
        key: &ApproverKey,
        requester: &str,
        tier: &Tier,
        purpose: Option<&str>,
        now: SystemTime,
    ) -> Result<(), Error> {
        self.check(
            key,
            &Access {
                requester,
                tier,
                purpose,
                now: unix_seconds(now),
            },
        )
    }

    /// Checks this approval for `access` under `key`: the signature first
    /// (nothing unauthenticated is compared), then the tier, the requester,
    /// the purpose and the validity period.
    pub(crate) fn check(&self, key: &ApproverKey, access: &Access<'_>) -> Result<(), Error> {
        let id = || self.id().to_string();
        let key_bytes = key.0.to_bytes();
        if self.verified_under.get() != Some(&key_bytes) {
            let signature = Signature::from_bytes(&self.signature);
            key.0
                .verify_strict(&signing_input(&self.signed), &signature)
                .map_err(|_| Error::ApprovalInvalid {
                    id: id(),
                    reason: "its signature does not verify under the configured approver key (forged, altered, or from another keystore)",
                })?;
            let _ = self.verified_under.set(key_bytes);
        }
        let mismatch = |what| Error::ApprovalMismatch { id: id(), what };
        if self.statement.tier != *access.tier {
            return Err(mismatch("tier"));
        }
        if self.statement.requester != access.requester {
            return Err(mismatch("requester"));
        }
        if access.purpose != Some(self.statement.purpose.as_str()) {
            return Err(mismatch("purpose"));
        }
        if self.statement.issued_at > access.now.saturating_add(MAX_CLOCK_SKEW_SECS) {
            return Err(Error::ApprovalInvalid {
                id: id(),
                reason: "it is dated in the future beyond the allowed clock skew",
            });
        }
        // Signing refuses longer approvals; a statement signed some other
        // way (a compromised or misused approver key, another tool) must
        // not hold a tier open for longer either.
        if self
            .statement
            .expires_at
            .saturating_sub(self.statement.issued_at)
            > MAX_APPROVAL_LIFETIME_SECS
        {
            return Err(Error::ApprovalInvalid {
                id: id(),
                reason: "it is valid for longer than the 24 hours an approval may last",
            });
        }
        if access.now >= self.statement.expires_at {
            return Err(Error::ApprovalExpired {
                id: id(),
                expired_at: self.statement.expires_at,
            });
        }
        Ok(())
    }
}

fn signing_input(signed: &[u8]) -> Vec<u8> {
    let mut input = Vec::with_capacity(SIGNING_CONTEXT.len() + signed.len());
    input.extend_from_slice(SIGNING_CONTEXT);
    input.extend_from_slice(signed);
    input
}

/// An approver's name: 1 to 256 bytes, not blank, no control characters.
fn check_approver(approver: &str) -> Result<(), Error> {
    if approver.trim().is_empty() || approver.len() > 256 || approver.chars().any(char::is_control)
    {
        return Err(Error::InvalidParameter {
            what: "approver",
            reason: "must be 1 to 256 characters without control characters",
        });
    }
    Ok(())
}

impl FromStr for Approval {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let bytes = text
            .trim()
            .strip_prefix(APPROVAL_PREFIX)
            .and_then(|b64| URL_SAFE_NO_PAD.decode(b64).ok())
            .ok_or(Error::ApprovalInvalid {
                id: "(unreadable)".into(),
                reason: "not `tierseal-approval:` followed by base64url",
            })?;
        Approval::from_bytes(&bytes)
    }
}

impl fmt::Debug for Approval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Approval")
            .field("id", &self.id())
            .field("approver", &self.statement.approver)
            .field("requester", &self.statement.requester)
            .field("tier", &self.statement.tier)
            .field("issued_at", &self.statement.issued_at)
            .field("expires_at", &self.statement.expires_at)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Approval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "approval {} by {} for {} to open {} until {} (unix seconds)",
            self.id(),
            self.statement.approver.escape_debug(),
            self.statement.requester.escape_debug(),
            self.statement.tier,
            self.statement.expires_at
        )
    }
}

/// Finds, among the approvals `ctx` carries, one that allows `ctx` to open
/// `tier` under `key` at `now`. Without one, the error says what is missing
/// or wrong: [`Error::ApprovalRequired`] when the context carries none;
/// otherwise the error of an approval for this tier if there is one, or of
/// the first approval.
pub(crate) fn find<'c>(
    ctx: &'c AccessContext,
    key: &ApproverKey,
    tier: &Tier,
    now: u64,
) -> Result<&'c Approval, Error> {
    let access = Access {
        requester: ctx.principal(),
        tier,
        purpose: ctx.purpose(),
        now,
    };
    let mut first_error = None;
    let mut tier_error = None;
    for approval in ctx.approvals() {
        match approval.check(key, &access) {
            Ok(()) => return Ok(approval),
            Err(error) => {
                if approval.tier() == tier && tier_error.is_none() {
                    tier_error = Some(error);
                } else if first_error.is_none() {
                    first_error = Some(error);
                }
            }
        }
    }
    Err(tier_error
        .or(first_error)
        .unwrap_or_else(|| Error::ApprovalRequired {
            tier: tier.clone(),
            principal: crate::error::shorten(ctx.principal()),
        }))
}

/// An approver's signing key, as the keystore unwraps it.
pub(crate) fn signing_key(seed: &crate::crypto::KeyMaterial) -> SigningKey {
    SigningKey::from_bytes(seed.expose())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code: a panic is a test failure")]

    use super::*;

    fn statement(issued_at: u64, expires_at: u64) -> Statement {
        Statement {
            id: [7; 16],
            approver: "carol".into(),
            requester: "alice".into(),
            tier: Tier::RESTRICTED,
            purpose: "INC-1".into(),
            issued_at,
            expires_at,
        }
    }

    fn check_at(approval: &Approval, key: &ApproverKey, now: u64) -> Result<(), Error> {
        approval.check(
            key,
            &Access {
                requester: "alice",
                tier: &Tier::RESTRICTED,
                purpose: Some("INC-1"),
                now,
            },
        )
    }

    /// An approval signed outside `sign` with a validity longer than the
    /// maximum is refused by the check, even while it has not expired.
    #[test]
    fn a_signed_approval_valid_for_too_long_is_refused_at_check() {
        let signing = SigningKey::from_bytes(&[9; 32]);
        let key = ApproverKey::of(&signing);
        let now = 1_800_000_000;

        let longest =
            Approval::sign_statement(&signing, statement(now, now + MAX_APPROVAL_LIFETIME_SECS))
                .unwrap();
        check_at(&longest, &key, now + 1).unwrap();

        let long = Approval::sign_statement(
            &signing,
            statement(now, now + MAX_APPROVAL_LIFETIME_SECS + 1),
        )
        .unwrap();
        // The bytes round-trip and the signature verifies: only the
        // lifetime is wrong.
        let long = Approval::from_bytes(&long.to_bytes()).unwrap();
        let error = check_at(&long, &key, now + 1).unwrap_err();
        assert!(
            matches!(&error, Error::ApprovalInvalid { reason, .. } if reason.contains("24 hours")),
            "{error:?}"
        );
        let year = Approval::sign_statement(&signing, statement(now, now + 365 * 86_400)).unwrap();
        assert!(matches!(
            check_at(&year, &key, now + 86_400 * 30),
            Err(Error::ApprovalInvalid { .. })
        ));
    }
}
