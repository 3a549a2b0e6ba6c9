//! The crate's error type.
//!
//! Every message says what failed and what to do next. No message ever
//! contains plaintext, key bytes or a passphrase: the variants carry only
//! names (tiers, paths, principals), numbers and fixed reasons. Where user
//! input is echoed (a bad tier name, say) it is cut short first.

use std::io;
use std::path::PathBuf;

use crate::Tier;

/// Everything that can go wrong in tierseal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A level name that is not `public`, `internal`, `confidential` or
    /// `restricted`.
    #[error("invalid level `{name}`: expected public, internal, confidential or restricted")]
    InvalidLevel {
        /// The rejected name (shortened).
        name: String,
    },

    /// A tier name that does not parse.
    #[error("invalid tier `{name}`: {reason}")]
    InvalidTier {
        /// The rejected name (shortened).
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The keyring holds no key for a tier the operation needs.
    #[error(
        "the keyring is not granted tier {tier}: ask a key custodian for a grant that includes it"
    )]
    NotGranted {
        /// The missing tier.
        tier: Tier,
    },

    /// The data is wrapped under a key version whose material was destroyed.
    #[error(
        "key {tier} v{version} is retired and its material destroyed: data wrapped only under it cannot be opened"
    )]
    KeyRetired {
        /// The tier of the retired key.
        tier: Tier,
        /// The retired version.
        version: u32,
    },

    /// The data names a key version this keyring or keystore does not know.
    #[error(
        "key {tier} v{version} is unknown here: the keyring may predate it, ask for a fresh grant"
    )]
    UnknownKeyVersion {
        /// The tier.
        tier: Tier,
        /// The version the data names.
        version: u32,
    },

    /// Authentication failed: the data was altered, moved to another field,
    /// record or tier, or sealed under another key. Deliberately says no
    /// more than which key was tried.
    #[error(
        "sealed data failed authentication with key {tier} v{version}: it was altered, moved from another field, record or tier, or sealed under a different key"
    )]
    Integrity {
        /// The tier whose key was tried.
        tier: Tier,
        /// The key version tried.
        version: u32,
    },

    /// An open of data at or above the keyring's purpose threshold was
    /// attempted without a purpose.
    #[error(
        "{principal} may not open {level} data without a purpose: give the access context a ticket id or reason"
    )]
    PurposeRequired {
        /// Who tried.
        principal: String,
        /// The level of the field that needs a purpose.
        level: crate::Level,
    },

    /// An open of data at or above the keyring's purpose threshold gave a
    /// purpose that justifies nothing (blank, invisible or too long).
    #[error(
        "{principal} may not open {level} data with this purpose ({reason}): give a ticket id or reason"
    )]
    InvalidPurpose {
        /// Who tried.
        principal: String,
        /// The level of the field that needs a purpose.
        level: crate::Level,
        /// What is wrong with the purpose (never the purpose itself).
        reason: &'static str,
    },

    /// A field was opened as a different tier from the one it was sealed at.
    #[error("sealed field carries tier {found} where tier {expected} was expected")]
    TierMismatch {
        /// The tier the caller declared.
        expected: Tier,
        /// The tier the sealed bytes name.
        found: Tier,
    },

    /// Sealed bytes that do not follow the format.
    #[error("malformed sealed data: {reason}")]
    Malformed {
        /// What is wrong.
        reason: &'static str,
    },

    /// Sealed bytes written by a newer (or unknown) format version.
    #[error(
        "sealed data has format version {version}, but this build reads versions 1 and 2 only: a newer tierseal wrote it, or it is not tierseal data"
    )]
    UnsupportedFormat {
        /// The version byte found.
        version: u8,
    },

    /// A clear-text mask beside a sealed field of format version 2 or
    /// later. Those writers seal every mask, so a clear one there was put
    /// in its place: it is refused rather than shown.
    #[error(
        "field {field} has a clear-text mask beside a version-2 or later sealed field: their masks are sealed, so it was substituted and is not shown"
    )]
    MaskDowngrade {
        /// The stable id of the masked field.
        field: String,
    },

    /// A version-1 clear mask, which nothing authenticates, met a keyring
    /// that does not accept them.
    #[error(
        "the mask of `{field}` is a version-1 clear mask that nothing authenticates: it is not shown (re-seal the record, or use Keyring::with_legacy_clear_masks while the store is trusted)"
    )]
    UnauthenticatedMask {
        /// The field whose mask it is.
        field: String,
    },

    /// A value could not be encoded before sealing or decoded after opening.
    #[error("could not {action} the value: {reason}")]
    Encoding {
        /// `encode` or `decode`.
        action: &'static str,
        /// The codec's reason (never contains the value).
        reason: String,
    },

    /// The passphrase does not unlock the keystore.
    #[error("wrong passphrase for keystore {path}")]
    WrongPassphrase {
        /// The keystore file.
        path: PathBuf,
    },

    /// The keystore file is damaged or was tampered with.
    #[error("keystore {path} is corrupt: {reason}; restore it from a backup")]
    KeystoreCorrupt {
        /// The keystore file.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },

    /// The keystore file was written by a newer (or unknown) version.
    #[error(
        "keystore {path} has format version {version}, but this build reads versions 1 to 3 only: a newer tierseal wrote it, or it is not a keystore"
    )]
    UnsupportedKeystoreVersion {
        /// The keystore file.
        path: PathBuf,
        /// The version found.
        version: u16,
    },

    /// Another process holds the keystore's lock.
    #[error("keystore {path} is locked by another process: retry when it finishes")]
    KeystoreLocked {
        /// The keystore file.
        path: PathBuf,
    },

    /// `create` was asked to write over an existing keystore.
    #[error("keystore {path} already exists: refusing to overwrite it")]
    KeystoreExists {
        /// The keystore file.
        path: PathBuf,
    },

    // issue 13: custodian shares.
    /// A split keystore was asked to unlock with a passphrase, or to take
    /// a passphrase or a first share set.
    #[error(
        "keystore {path} is split into {count} custodian shares: unlock it with {threshold} of them (--share FILE per holder), and use `tierseal shares reissue` or `shares join` to change its root"
    )]
    KeystoreSplit {
        /// The keystore file.
        path: PathBuf,
        /// M.
        threshold: u8,
        /// N.
        count: u8,
    },

    /// A share operation on a keystore that is not split.
    #[error(
        "keystore {path} is not split into custodian shares: unlock it with its passphrase, or split it with `tierseal shares split`"
    )]
    KeystoreNotSplit {
        /// The keystore file.
        path: PathBuf,
    },

    /// A share file is damaged, altered or not a share file.
    #[error("share file {path} is corrupt: {reason}; ask its holder for an intact copy")]
    ShareCorrupt {
        /// The share file.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },

    /// A holder's passphrase does not open their share.
    #[error(
        "wrong passphrase for share #{index} of holder {holder} ({path}), or the share was altered"
    )]
    ShareWrongPassphrase {
        /// The share file.
        path: PathBuf,
        /// The share's index.
        index: u8,
        /// Its holder (shortened).
        holder: String,
    },

    /// A share made for another keystore.
    #[error(
        "share {path} (holder {holder}) belongs to keystore {share_keystore}, not to {keystore} (keystore {keystore_id})"
    )]
    ShareForeign {
        /// The share file.
        path: PathBuf,
        /// Its holder.
        holder: String,
        /// The keystore id the share names.
        share_keystore: String,
        /// The keystore file.
        keystore: PathBuf,
        /// Its id.
        keystore_id: String,
    },

    /// A share of an earlier, replaced share set.
    #[error(
        "share {path} (holder {holder}) is of share-set generation {generation}, but the keystore's current set is generation {current}: it was replaced and is useless"
    )]
    ShareStale {
        /// The share file.
        path: PathBuf,
        /// Its holder.
        holder: String,
        /// Its generation.
        generation: u32,
        /// The keystore's generation.
        current: u32,
    },

    /// The same share given twice (the same file, or a copy of it).
    #[error(
        "share #{index} of holder {holder} is given twice ({first} and {path}): each of the M shares must be a different holder's"
    )]
    ShareDuplicate {
        /// The second file.
        path: PathBuf,
        /// The first file with that share.
        first: PathBuf,
        /// The share's index.
        index: u8,
        /// Its holder.
        holder: String,
    },

    /// Fewer shares than the threshold.
    #[error("keystore {path} needs {needed} shares, got {got}: bring more custodians")]
    NotEnoughShares {
        /// The keystore file.
        path: PathBuf,
        /// M.
        needed: u8,
        /// How many distinct shares were given.
        got: usize,
    },

    /// Shares that each opened do not rebuild the key that authenticates
    /// the keystore.
    #[error(
        "the shares do not match keystore {path}: together they do not rebuild its master key (shares of a different set, a keystore replaced by another, or a keystore file altered)"
    )]
    SharesDoNotMatch {
        /// The keystore file.
        path: PathBuf,
    },

    /// An operation the keystore's policy reserves to M custodians, run
    /// without them.
    #[error(
        "{operation} needs {needed} custodians under the keystore's dual-control policy, and {got} approved it"
    )]
    DualControlRequired {
        /// The operation.
        operation: &'static str,
        /// M.
        needed: u8,
        /// The custodians who approved.
        got: usize,
    },

    /// A tier that is already in the keystore was added again.
    #[error("tier {tier} already exists in the keystore")]
    TierExists {
        /// The tier.
        tier: Tier,
    },

    /// The keyring (or keystore) holds no blind-index key of a tier.
    #[error(
        "no index key of tier {tier}: a keystore made before blind indexes needs `tierseal keys rotate-index --tier {tier}`, a grant needs the tier in its clearance or search tiers"
    )]
    NoIndexKey {
        /// The tier.
        tier: Tier,
    },

    /// A tier the keystore does not have.
    #[error("tier {tier} is not in the keystore: add it first")]
    UnknownTier {
        /// The tier.
        tier: Tier,
    },

    /// A key-state change that the key's state does not allow.
    #[error("cannot {action} key {tier} v{version}: {reason}")]
    KeyState {
        /// What was attempted (`retire`, `promote`).
        action: &'static str,
        /// The tier.
        tier: Tier,
        /// The version.
        version: u32,
        /// Why not, and what to do instead.
        reason: &'static str,
    },

    /// A parameter outside what tierseal accepts.
    #[error("invalid {what}: {reason}")]
    InvalidParameter {
        /// Which parameter.
        what: &'static str,
        /// Why.
        reason: &'static str,
    },

    /// The grant's expiry has passed.
    #[error(
        "grant for {principal} expired at {expired_at} (unix seconds): ask a key custodian for a new one"
    )]
    GrantExpired {
        /// Who the grant was issued to.
        principal: String,
        /// When it expired, in seconds since the Unix epoch.
        expired_at: u64,
    },

    /// A grant was asked for a principal reserved for the keystore's own
    /// audit entries, or a name that reads as one.
    #[error(
        "principal `{principal}` is reserved: it reads as `{reserved}`, the name the keystore signs its own audit entries as; choose another name"
    )]
    ReservedPrincipal {
        /// The rejected name (escaped and shortened).
        principal: String,
        /// The reserved name it reads as.
        reserved: &'static str,
    },

    /// A key version cannot be retired while unexpired grants carry it.
    #[error(
        "cannot retire key {tier} v{version}: {grants} unexpired grant(s) carry it, and their holders keep their copy of the key; wait until they expire, or once their holders have discarded them retire it anyway"
    )]
    GrantsOutstanding {
        /// The tier.
        tier: Tier,
        /// The version.
        version: u32,
        /// How many unexpired grants carry it.
        grants: usize,
    },

    /// A blind-index key version cannot be retired while unexpired grants
    /// carry it (issue 12: search capability).
    #[error(
        "cannot retire index key {tier} v{version}: {grants} unexpired grant(s) carry it, and their holders keep their copy of the key; wait until they expire, or once their holders have discarded them retire it anyway"
    )]
    IndexGrantsOutstanding {
        /// The tier.
        tier: Tier,
        /// The index key version.
        version: u32,
        /// How many unexpired grants carry it.
        grants: usize,
    },

    /// An audit checkpoint older than (or conflicting with) the recorded one.
    #[error(
        "audit checkpoint at entry {offered} refused: the keystore already records entry {recorded}, so the log was cut or rewritten; verify the log against the recorded checkpoint"
    )]
    AuditCheckpointRegressed {
        /// The sequence number already recorded.
        recorded: u64,
        /// The sequence number offered.
        offered: u64,
    },

    /// The grant file is damaged, was tampered with, or the secret is wrong.
    #[error("grant file is invalid: {reason}")]
    GrantInvalid {
        /// What is wrong.
        reason: &'static str,
    },

    /// The audit log cannot record events: opens that would go unrecorded
    /// are refused.
    #[error("audit log {path} cannot record events: {reason}")]
    AuditUnavailable {
        /// The log.
        path: PathBuf,
        /// Why.
        reason: String,
    },

    /// An open of a tier that needs a break-glass approval, with no
    /// approval in the access context.
    #[error(
        "{principal} may not open tier {tier} without an approval: ask an approver for `tierseal approve --requester {principal} --tier {tier} --purpose ...` and attach it to the access context"
    )]
    ApprovalRequired {
        /// The tier that needs an approval.
        tier: Tier,
        /// Who tried (shortened).
        principal: String,
    },

    /// The approval has expired.
    #[error("approval {id} expired at {expired_at} (unix seconds): ask an approver for a new one")]
    ApprovalExpired {
        /// The approval's id.
        id: String,
        /// When it expired, in seconds since the Unix epoch.
        expired_at: u64,
    },

    /// The approval was issued for another requester, tier or purpose.
    #[error(
        "approval {id} was issued for another {what}: it does not cover this access; the access context must give the approval's requester, tier and purpose"
    )]
    ApprovalMismatch {
        /// The approval's id.
        id: String,
        /// What differs: `requester`, `tier` or `purpose`.
        what: &'static str,
    },

    /// The approval is not an approval, or does not verify (forged,
    /// altered, signed by another key, dated in the future).
    #[error("approval {id} is refused: {reason}")]
    ApprovalInvalid {
        /// The id the approval claims (`(unreadable)` when it does not parse).
        id: String,
        /// What is wrong.
        reason: &'static str,
    },

    /// A database column value is not the token type it was read as
    /// (issue 12: the `rusqlite` and `postgres` column traits).
    #[error("a database column value is not a tierseal {type_name}: {reason}")]
    ColumnValue {
        /// The type that was read (`SealedValue`, `RecordKey`, ...).
        type_name: &'static str,
        /// Why (a fixed reason; never the value).
        reason: String,
    },

    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed")]
    Randomness,

    /// A file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done (`read`, `write`, `lock`, ...).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// A keystore location (`TIERSEAL_KEYSTORE`, `--keystore`) that cannot
    /// be parsed.
    #[error("invalid keystore location `{text}`: {reason}")]
    InvalidKeystoreLocation {
        /// The location as given (shortened).
        text: String,
        /// What is wrong.
        reason: &'static str,
    },

    /// No keystore is stored at a location on a server (a KV secret that
    /// does not exist, or whose latest version is deleted).
    #[error(
        "no keystore at {location} on {address}: create one with `tierseal init`, or check the mount and path"
    )]
    KeystoreNotFound {
        /// The location (`openbao://MOUNT/PATH`).
        location: String,
        /// The server address.
        address: String,
    },

    /// Another writer kept changing the keystore while a change was being
    /// saved, or changed it in a way this change cannot be re-applied on
    /// (such as a new passphrase); nothing of this change was saved.
    #[error(
        "keystore {path} was changed by another custodian while this change was saved ({reason}); nothing of this change was saved: run it again"
    )]
    KeystoreConflict {
        /// The keystore.
        path: PathBuf,
        /// Why the change was not re-applied.
        reason: &'static str,
    },

    /// A key-encryption provider is not configured usably (missing server
    /// address or token, bad URL, ...).
    #[error("{provider}: {reason}")]
    KmsConfig {
        /// The provider (`openbao`, `pkcs11`).
        provider: &'static str,
        /// What is wrong and what to set.
        reason: &'static str,
    },

    /// The key manager could not be reached, or kept failing transiently
    /// after bounded retries.
    #[error("{provider} at {address} is unavailable for {subject}: {reason}")]
    KmsUnavailable {
        /// The provider (`openbao`, `pkcs11`).
        provider: &'static str,
        /// The server address (or token label).
        address: String,
        /// What was being accessed (a KMS key and its tier, a KV path).
        subject: String,
        /// What failed (never the token).
        reason: String,
    },

    /// The key manager refused the credential for this key: the token (or
    /// login) is expired, revoked, or its policy does not allow the
    /// operation.
    #[error(
        "{provider} at {address} denied access to {subject}: the token is expired or revoked, or its policy does not allow this"
    )]
    KmsDenied {
        /// The provider (`openbao`, `pkcs11`).
        provider: &'static str,
        /// The server address (or token label).
        address: String,
        /// What was being accessed (a KMS key and its tier, a KV path).
        subject: String,
    },

    /// The key manager rejected a request for a reason other than access.
    #[error("{provider} at {address} rejected a request for {subject} (status {status}): {reason}")]
    KmsRequest {
        /// The provider (`openbao`, `pkcs11`).
        provider: &'static str,
        /// The server address (or token label).
        address: String,
        /// What was being accessed (a KMS key and its tier, a KV path).
        subject: String,
        /// The HTTP status (0 when there was none).
        status: u16,
        /// The server's reason (scrubbed of the token).
        reason: String,
    },

    /// A keystore protected by one key-encryption provider was opened with
    /// another.
    #[error(
        "keystore {path} is protected by the {found} provider, not {expected}: open it with {found} (or migrate it with `tierseal keys migrate-kek`)"
    )]
    KekProviderMismatch {
        /// The keystore.
        path: PathBuf,
        /// The provider the caller offered.
        expected: &'static str,
        /// The provider the keystore names.
        found: &'static str,
    },

    // issue 14: seal-only keyrings and signed public key sets.
    /// A seal-only keyring holds only the tier's public key: it seals, and
    /// never opens or rewraps, not even what it sealed itself.
    #[error(
        "the keyring holds only the public key of tier {tier}: it can seal but never open or rewrap"
    )]
    SealOnly {
        /// The tier it can only seal to.
        tier: Tier,
    },

    /// A seal-only keyring was asked for the blind index of a field whose
    /// tier's index key it does not hold (sealing a record with an indexed
    /// field needs it). Seal-only grants carry no index key unless issued
    /// with one, since its holder can test guesses against the stored
    /// index column.
    #[error(
        "field {field} is indexed, but this seal-only keyring holds no index key of its tier {tier}, so it cannot fill the field's blind index: seal-only grants carry no index key unless issued with `tierseal grant issue --seal-only --search {tier} ...` (then build the keyring with Keyring::seal_only_with_search; whoever holds it can test guessed values against the index column), or seal such records where the index key is"
    )]
    SealOnlyNoIndexKey {
        /// The field's tier.
        tier: Tier,
        /// `Type.field`, by their stable ids.
        field: String,
    },

    /// A public-key token (a value or record key sealed to the tier's
    /// public key, token kind 5 or 4) was refused: anyone holding the
    /// tier's published public key can write one, so a full keyring opens
    /// them only for tiers it opted in.
    #[error(
        "public-key token of tier {tier} refused: anyone holding the tier's published public key can seal one; opt in with Keyring::accept_public_key_tokens({tier}) if the tier's seal-only intake path is trusted"
    )]
    PublicKeyTokenRefused {
        /// The tier the token names.
        tier: Tier,
    },

    /// A public key set was refused: its signature does not verify under
    /// the pinned key, it was altered, or it is not a public key set.
    #[error("public key set refused: {reason}")]
    PublicKeySetInvalid {
        /// What is wrong.
        reason: &'static str,
    },

    /// A public key set older than the one already loaded was offered: a
    /// replay of an old set (which could point sealing at a retired key
    /// version) is refused.
    #[error("public key set refused: its serial {offered} is older than the loaded set's {loaded}")]
    PublicKeySetRollback {
        /// The serial of the set already loaded.
        loaded: u64,
        /// The serial of the set offered.
        offered: u64,
    },

    // issue 11: the PKCS#11 key-encryption provider. Each names the
    // provider, the token (and module where it matters) and the tier; none
    // ever carries the PIN.
    /// The PKCS#11 module (the vendor's shared library) cannot be loaded or
    /// initialised.
    #[error(
        "PKCS#11 module {module} cannot be loaded: {reason}; give the path of the HSM vendor's PKCS#11 library (SoftHSM2: /usr/lib/softhsm/libsofthsm2.so)"
    )]
    Pkcs11ModuleUnloadable {
        /// The module path.
        module: PathBuf,
        /// The loader's or module's reason.
        reason: String,
    },

    /// No token with this label is present in any slot of the module.
    #[error(
        "PKCS#11 token `{token}` not found in module {module}: check the token label (tokens move between slots, so they are found by label) and that the HSM is reachable"
    )]
    Pkcs11TokenNotFound {
        /// The module path.
        module: PathBuf,
        /// The token label that was looked for.
        token: String,
    },

    /// The token refused the user PIN.
    #[error("PKCS#11 token `{token}` (module {module}) refused the user PIN: {reason}")]
    Pkcs11WrongPin {
        /// The module path.
        module: PathBuf,
        /// The token label.
        token: String,
        /// Why (incorrect, locked, expired), never the PIN.
        reason: &'static str,
    },

    /// The key object a tier is wrapped under is not on the token.
    #[error(
        "PKCS#11 token `{token}` has no key object `{key}` for {slot}: it was never created or was deleted, or the token or key prefix is wrong; a deleted key object must be restored from the HSM's backup"
    )]
    Pkcs11KeyMissing {
        /// The token label.
        token: String,
        /// The key object's label.
        key: String,
        /// The tier (or `the keystore key`).
        slot: String,
    },

    /// A key object with the expected label exists but may not be used.
    #[error("PKCS#11 token `{token}`: key object `{key}` for {slot} is refused: {reason}")]
    Pkcs11KeyInvalid {
        /// The token label.
        token: String,
        /// The key object's label.
        key: String,
        /// The tier (or `the keystore key`).
        slot: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The token or session is read-only, so a key object cannot be created.
    #[error(
        "PKCS#11 token `{token}` is read-only here: cannot create key object `{key}` for {slot}; create keys from a custodian's read-write session"
    )]
    Pkcs11ReadOnly {
        /// The token label.
        token: String,
        /// The key object's label.
        key: String,
        /// The tier (or `the keystore key`).
        slot: String,
    },

    /// A wrapped key failed to unwrap under its HSM key: altered, moved from
    /// another tier or keystore, or wrapped under another key.
    #[error("PKCS#11 token `{token}`: the key wrapped for {slot} under `{key}` {reason}")]
    Pkcs11UnwrapFailed {
        /// The token label.
        token: String,
        /// The key object's label.
        key: String,
        /// The tier (or `the keystore key`).
        slot: String,
        /// What failed (never key bytes).
        reason: &'static str,
    },

    /// Any other failure of the PKCS#11 module or token.
    #[error("PKCS#11 token `{token}`: could not {operation} for {slot}: {reason}")]
    Pkcs11Failure {
        /// The token label.
        token: String,
        /// What was being done.
        operation: &'static str,
        /// The tier (or `the keystore key`, or `the session`).
        slot: String,
        /// The module's return value (a CKR_ name, never a PIN or key).
        reason: String,
    },
}

/// Cuts user-supplied text that is echoed in an error to a bounded length.
pub(crate) fn shorten(text: &str) -> String {
    const MAX: usize = 48;
    match text.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

impl Error {
    /// A short, stable name for the kind of error (as audit entries record
    /// it): `integrity`, `not-granted`, `key-retired`, ...
    pub fn kind(&self) -> &'static str {
        match self {
            Error::InvalidLevel { .. } => "invalid-level",
            Error::InvalidTier { .. } => "invalid-tier",
            Error::NotGranted { .. } => "not-granted",
            Error::KeyRetired { .. } => "key-retired",
            Error::UnknownKeyVersion { .. } => "unknown-key-version",
            Error::Integrity { .. } => "integrity",
            Error::PurposeRequired { .. } => "purpose-required",
            Error::InvalidPurpose { .. } => "invalid-purpose",
            Error::TierMismatch { .. } => "tier-mismatch",
            Error::Malformed { .. } => "malformed",
            Error::UnsupportedFormat { .. } => "unsupported-format",
            Error::MaskDowngrade { .. } => "mask-downgrade",
            Error::UnauthenticatedMask { .. } => "unauthenticated-mask",
            Error::Encoding { .. } => "encoding",
            Error::WrongPassphrase { .. } => "wrong-passphrase",
            Error::KeystoreCorrupt { .. } => "keystore-corrupt",
            Error::UnsupportedKeystoreVersion { .. } => "unsupported-keystore-version",
            Error::KeystoreLocked { .. } => "keystore-locked",
            Error::KeystoreExists { .. } => "keystore-exists",
            Error::KeystoreSplit { .. } => "keystore-split",
            Error::KeystoreNotSplit { .. } => "keystore-not-split",
            Error::ShareCorrupt { .. } => "share-corrupt",
            Error::ShareWrongPassphrase { .. } => "share-wrong-passphrase",
            Error::ShareForeign { .. } => "share-foreign",
            Error::ShareStale { .. } => "share-stale",
            Error::ShareDuplicate { .. } => "share-duplicate",
            Error::NotEnoughShares { .. } => "not-enough-shares",
            Error::SharesDoNotMatch { .. } => "shares-do-not-match",
            Error::DualControlRequired { .. } => "dual-control-required",
            Error::TierExists { .. } => "tier-exists",
            Error::NoIndexKey { .. } => "no-index-key",
            Error::UnknownTier { .. } => "unknown-tier",
            Error::KeyState { .. } => "key-state",
            Error::InvalidParameter { .. } => "invalid-parameter",
            Error::GrantExpired { .. } => "grant-expired",
            Error::GrantInvalid { .. } => "grant-invalid",
            Error::ReservedPrincipal { .. } => "reserved-principal",
            Error::GrantsOutstanding { .. } => "grants-outstanding",
            Error::IndexGrantsOutstanding { .. } => "index-grants-outstanding",
            Error::AuditCheckpointRegressed { .. } => "audit-checkpoint-regressed",
            Error::AuditUnavailable { .. } => "audit-unavailable",
            Error::ApprovalRequired { .. } => "approval-required",
            Error::ApprovalExpired { .. } => "approval-expired",
            Error::ApprovalMismatch { .. } => "approval-mismatch",
            Error::ApprovalInvalid { .. } => "approval-invalid",
            Error::InvalidKeystoreLocation { .. } => "invalid-keystore-location",
            Error::KeystoreNotFound { .. } => "keystore-not-found",
            Error::KeystoreConflict { .. } => "keystore-conflict",
            Error::KmsConfig { .. } => "kms-config",
            Error::KmsUnavailable { .. } => "kms-unavailable",
            Error::KmsDenied { .. } => "kms-denied",
            Error::KmsRequest { .. } => "kms-request",
            Error::KekProviderMismatch { .. } => "kek-provider-mismatch",
            Error::ColumnValue { .. } => "column-value",
            Error::SealOnly { .. } => "seal-only",
            Error::SealOnlyNoIndexKey { .. } => "seal-only-no-index-key",
            Error::PublicKeyTokenRefused { .. } => "public-key-token-refused",
            Error::PublicKeySetInvalid { .. } => "public-key-set-invalid",
            Error::PublicKeySetRollback { .. } => "public-key-set-rollback",
            Error::Pkcs11ModuleUnloadable { .. } => "pkcs11-module-unloadable",
            Error::Pkcs11TokenNotFound { .. } => "pkcs11-token-not-found",
            Error::Pkcs11WrongPin { .. } => "pkcs11-wrong-pin",
            Error::Pkcs11KeyMissing { .. } => "pkcs11-key-missing",
            Error::Pkcs11KeyInvalid { .. } => "pkcs11-key-invalid",
            Error::Pkcs11ReadOnly { .. } => "pkcs11-read-only",
            Error::Pkcs11UnwrapFailed { .. } => "pkcs11-unwrap-failed",
            Error::Pkcs11Failure { .. } => "pkcs11-failure",
            Error::Randomness => "randomness",
            Error::Io { .. } => "io",
        }
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) const fn malformed(reason: &'static str) -> Error {
        Error::Malformed { reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorten_keeps_short_text_and_cuts_long_text() {
        assert_eq!(shorten("cards"), "cards");
        let long = "x".repeat(200);
        let cut = shorten(&long);
        assert!(cut.len() < 60);
        assert!(cut.ends_with("..."));
        // Multi-byte characters are never split.
        assert!(shorten(&"é".repeat(100)).ends_with("..."));
    }
}
