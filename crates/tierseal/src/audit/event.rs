//! Audit events.

use std::fmt;
use std::time::SystemTime;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Tier;

/// When an event happened. Written as RFC 3339 UTC with milliseconds;
/// formatted only when the entry is written, off the caller's path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(SystemTime);

impl Timestamp {
    /// Now.
    pub fn now() -> Timestamp {
        Timestamp(SystemTime::now())
    }

    /// The time.
    pub fn system_time(self) -> SystemTime {
        self.0
    }
}

impl From<SystemTime> for Timestamp {
    fn from(time: SystemTime) -> Self {
        Timestamp(time)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&super::utc_timestamp(self.0))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::utc_timestamp(self.0))
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        super::parse_utc_timestamp(&text)
            .map(Timestamp)
            .ok_or_else(|| serde::de::Error::custom("expected an RFC 3339 UTC timestamp"))
    }
}

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Action {
    /// A record was opened (fully or partially).
    Open,
    /// A record was sealed with restricted fields.
    Seal,
    /// Data keys were rewrapped.
    Rewrap,
    /// A keystore was created.
    Init,
    /// A tier was added.
    AddTier,
    /// A tier was rotated.
    Rotate,
    /// A key version was staged.
    AddVersion,
    /// A key version was made primary.
    Promote,
    /// A key version was retired.
    Retire,
    /// The keystore passphrase was changed.
    PassphraseChange,
    /// A grant was issued.
    GrantIssue,
    /// A tier's cryptoperiod was changed.
    SetCryptoperiod,
    /// A keystore's master key was split into custodian shares (issue 13).
    SharesSplit,
    /// A split keystore's share set was replaced (issue 13).
    SharesReissue,
    /// A split keystore went back to one passphrase (issue 13).
    SharesJoin,
    /// A writer cut an incomplete last line (a writer killed mid-write):
    /// `reason` gives its length and SHA-256.
    LogRepair,
    /// The custodian found the log no longer holding what the keystore's
    /// checkpoint covers (entries removed or replaced): `reason` says what.
    LogLoss,
    /// A break-glass approval was issued: `principal` is the approver,
    /// `tier` the tier, `reason` the approval's id, requester and expiry.
    Approve,
    /// A tier's blind-index key was rotated.
    RotateIndex,
    /// A blind-index key version was retired.
    RetireIndex,
    // issue 11: key-encryption provider operations.
    /// The provider keys (Transit keys, HSM key objects) were rotated and
    /// the tier keys re-wrapped under them.
    KekRotate,
    /// The keystore was moved to another key-encryption provider.
    KekMigrate,
}

impl Action {
    /// The name as logged.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Open => "open",
            Action::Seal => "seal",
            Action::Rewrap => "rewrap",
            Action::Init => "init",
            Action::AddTier => "add-tier",
            Action::Rotate => "rotate",
            Action::AddVersion => "add-version",
            Action::Promote => "promote",
            Action::Retire => "retire",
            Action::PassphraseChange => "passphrase-change",
            Action::GrantIssue => "grant-issue",
            Action::SetCryptoperiod => "set-cryptoperiod",
            Action::SharesSplit => "shares-split",
            Action::SharesReissue => "shares-reissue",
            Action::SharesJoin => "shares-join",
            Action::LogRepair => "log-repair",
            Action::LogLoss => "log-loss",
            Action::Approve => "approve",
            Action::RotateIndex => "rotate-index",
            Action::RetireIndex => "retire-index",
            Action::KekRotate => "kek-rotate",
            Action::KekMigrate => "kek-migrate",
        }
    }
}

/// How it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Outcome {
    /// Announced, not yet done: a key operation records its intent before
    /// it changes anything, and its outcome (an entry whose `intent` names
    /// this one) after. An intent without an outcome is an operation that
    /// was interrupted: the change may or may not have happened.
    Intent,
    /// Done (for an open: every requested field revealed).
    Ok,
    /// An open that revealed some fields and withheld others.
    Partial,
    /// Refused before any decryption (missing purpose, for example).
    Denied,
    /// Failed (integrity, retired key, ...): see `reason`.
    Failed,
}

impl Outcome {
    /// The name as logged.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Intent => "intent",
            Outcome::Ok => "ok",
            Outcome::Partial => "partial",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }
}

/// What happened to one field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FieldOutcome {
    /// Decrypted for the caller.
    Revealed,
    /// The keyring lacks its tier.
    Withheld,
    /// Decryption failed.
    Failed,
    /// Sealed (for seal events).
    Sealed,
}

/// One field touched by an event (never its value).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldAccess {
    /// The stable field id.
    pub field: String,
    /// Its tier.
    pub tier: Tier,
    /// The key version that wraps its data key, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_version: Option<u32>,
    /// What happened.
    pub outcome: FieldOutcome,
}

/// A break-glass approval that allowed an open (never its signature).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalUse {
    /// The approval's id (32 hex digits).
    pub id: String,
    /// Who approved.
    pub approver: String,
    /// The tier it opened.
    pub tier: Tier,
}

/// One audit event. Reading one refuses fields it does not know: a verifier
/// never accepts what it cannot show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEvent {
    /// When.
    pub time: Timestamp,
    /// Who holds the key that signs the entry: the service (a grant's
    /// principal) or the custodian.
    pub writer: String,
    /// On whose behalf: the person or service in the access context.
    pub principal: String,
    /// Why (a ticket or a reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// What.
    pub action: Action,
    /// How it ended.
    pub outcome: Outcome,
    /// The record's type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
    /// The record's id (public by construction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_id: Option<String>,
    /// The fields touched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldAccess>,
    /// The tier a key operation concerns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// The key version a key operation concerns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_version: Option<u32>,
    /// Why it failed, or a custodian's stated reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For the outcome of an announced operation: the sequence number of
    /// its [`Outcome::Intent`] entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<u64>,
    // issue 13: dual control.
    /// The custodians whose shares unlocked a split keystore for a key
    /// operation: who approved it (empty otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<String>,
    /// For an open: the break-glass approvals it used (written only when
    /// there are some, so entries without approvals read as before).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<ApprovalUse>,
}

impl AuditEvent {
    /// An event happening now.
    pub fn now(writer: &str, principal: &str, action: Action, outcome: Outcome) -> AuditEvent {
        AuditEvent {
            time: Timestamp::now(),
            writer: writer.to_owned(),
            principal: principal.to_owned(),
            purpose: None,
            action,
            outcome,
            type_name: None,
            record_id: None,
            fields: Vec::new(),
            tier: None,
            key_version: None,
            reason: None,
            intent: None,
            approvers: Vec::new(),
            approvals: Vec::new(),
        }
    }
}
