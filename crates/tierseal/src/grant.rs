//! Grant files: a keyring handed to one service.
//!
//! A grant holds only the granted tiers' keys, encrypted under the grant's
//! own random secret, with the principal's name and an expiry bound in as
//! associated data. The custodian delivers the file and the secret through
//! separate channels (e.g. a config volume and a secret manager).
//!
//! ```text
//! magic "TSGR" | version u8 | info_len u32be | info (postcard GrantInfo)
//! | nonce [12] | ciphertext (postcard keys) | tag [16]
//! AAD = magic .. info
//! ```
//!
//! Version 2 appends to the info the tiers that need a break-glass
//! approval, each with the approver public key. Version 3 (written now)
//! keeps version 2's info (the approval list may be empty) and appends the
//! blind-index keys: `GrantInfo::index` in the header and one list of index
//! key versions per entry in the keys. Versions 1 and 2 are still read.

use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::audit::AuditKey;
use crate::crypto::{self, KEY_LEN, KeyMaterial, NONCE_LEN, TAG_LEN};
use crate::index::{IndexKeys, IndexVersionKey};
use crate::keyring::{TierKeys, VersionKey};
use crate::keystore::unix_seconds;
use crate::{Error, Keyring, Tier};

const MAGIC: &[u8; 4] = b"TSGR";
/// The grant format written: approval requirements and blind-index keys.
const GRANT_VERSION: u8 = 3;
/// The format of grants with approval requirements and no index keys.
const GRANT_VERSION_APPROVALS: u8 = 2;
/// The oldest grant format still read.
const GRANT_VERSION_V1: u8 = 1;
const SECRET_PREFIX: &str = "tierseal-grant:";
const MAX_INFO_LEN: usize = 64 * 1024;

/// The public part of a grant: who it is for, until when, and which tier
/// key versions it carries. Readable without the secret (see
/// [`GrantInfo::read`]), authenticated when the grant is loaded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantInfo {
    /// The service or person the grant was issued to.
    pub principal: String,
    /// Issued, in seconds since the Unix epoch.
    pub issued_at: u64,
    /// Expires, in seconds since the Unix epoch.
    pub expires_at: u64,
    /// Each granted tier with its primary and its usable versions.
    pub tiers: Vec<GrantedTier>,
    /// Tiers whose opens need a break-glass approval, and the key the
    /// approvals must verify under (format versions 2 and 3).
    pub approval_required: Vec<ApprovalRequirement>,
    /// The tiers whose blind-index keys the grant carries: it can compute
    /// their indexes, and opens them only if `tiers` lists them too
    /// (format version 3; empty in older grants).
    pub index: Vec<GrantedIndex>,
}

/// The public part of a version 1 grant.
#[derive(Deserialize)]
struct GrantInfoV1 {
    principal: String,
    issued_at: u64,
    expires_at: u64,
    tiers: Vec<GrantedTier>,
}

/// The public part of a version 2 grant (approval requirements, no index
/// keys).
#[derive(Deserialize)]
struct GrantInfoV2 {
    principal: String,
    issued_at: u64,
    expires_at: u64,
    tiers: Vec<GrantedTier>,
    approval_required: Vec<ApprovalRequirement>,
}

/// A tier whose opens need a break-glass [`Approval`](crate::Approval).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRequirement {
    /// The tier.
    pub tier: Tier,
    /// The key approvals must be signed with (the issuing keystore's
    /// approver key).
    pub approver: crate::ApproverKey,
}

/// The blind-index keys of one tier in a grant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantedIndex {
    /// The tier.
    pub tier: Tier,
    /// The index key version new index values are computed with.
    pub primary: u32,
    /// Index key versions the grant carries.
    pub versions: Vec<u32>,
}

/// One tier of a grant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantedTier {
    /// The tier.
    pub tier: Tier,
    /// The sealing version.
    pub primary: u32,
    /// Versions whose keys the grant carries.
    pub versions: Vec<u32>,
    /// Versions known to be retired.
    pub retired: Vec<u32>,
}

/// The secret that decrypts one grant file. `Debug` and `Display` are
/// redacted; [`expose_text`](Self::expose_text) gives the text to provision.
pub struct GrantSecret(KeyMaterial);

impl GrantSecret {
    /// The secret's text form (`tierseal-grant:` + base64url), to hand to
    /// the service through a secret manager. Treat it like a key.
    pub fn expose_text(&self) -> Zeroizing<String> {
        let mut text = Zeroizing::new(String::from(SECRET_PREFIX));
        URL_SAFE_NO_PAD.encode_string(self.0.expose(), &mut text);
        text
    }
}

impl FromStr for GrantSecret {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        const INVALID: Error = Error::GrantInvalid {
            reason: "the grant secret is not `tierseal-grant:` followed by 32 bytes of base64url",
        };
        let body = text.trim().strip_prefix(SECRET_PREFIX).ok_or(INVALID)?;
        let mut bytes = Zeroizing::new(URL_SAFE_NO_PAD.decode(body).map_err(|_| INVALID)?);
        let key: &mut [u8; KEY_LEN] = bytes.as_mut_slice().try_into().map_err(|_| INVALID)?;
        Ok(GrantSecret(KeyMaterial::take(key)))
    }
}

impl fmt::Debug for GrantSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GrantSecret([REDACTED])")
    }
}

impl fmt::Display for GrantSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED grant secret]")
    }
}

/// The encrypted part: key bytes per tier version, and the writer's
/// audit key.
#[derive(Serialize, Deserialize)]
struct GrantKeys {
    tiers: Vec<Vec<GrantKey>>,
    audit_key: [u8; KEY_LEN],
    /// Version 2: index key versions, one list per `GrantInfo::index`.
    index: Vec<Vec<GrantKey>>,
}

/// The encrypted part of a version 1 or 2 grant.
#[derive(Deserialize)]
struct GrantKeysV1 {
    tiers: Vec<Vec<GrantKey>>,
    audit_key: [u8; KEY_LEN],
}

impl Drop for GrantKeysV1 {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.audit_key);
    }
}

impl Drop for GrantKeys {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.audit_key);
    }
}

#[derive(Serialize, Deserialize)]
struct GrantKey {
    version: u32,
    key: [u8; KEY_LEN],
}

impl Drop for GrantKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.key);
    }
}

impl GrantInfo {
    /// Reads the public part of a grant file *without verifying it*: for
    /// display only. Loading the grant ([`Keyring::from_grant`])
    /// authenticates it.
    ///
    /// # Errors
    /// [`Error::GrantInvalid`] when the file is not a grant.
    pub fn read(grant: &[u8]) -> Result<GrantInfo, Error> {
        Ok(split(grant)?.info)
    }
}

struct Parts<'a> {
    version: u8,
    info: GrantInfo,
    aad: &'a [u8],
    nonce: &'a [u8; NONCE_LEN],
    ciphertext: &'a [u8],
    tag: &'a [u8; TAG_LEN],
}

fn split(grant: &[u8]) -> Result<Parts<'_>, Error> {
    let bad = |reason| Error::GrantInvalid { reason };
    if grant.get(..4) != Some(MAGIC.as_slice()) {
        return Err(bad("not a tierseal grant file"));
    }
    let version = match grant.get(4) {
        Some(&v @ (GRANT_VERSION_V1 | GRANT_VERSION_APPROVALS | GRANT_VERSION)) => v,
        Some(_) => return Err(bad("unsupported grant format version: upgrade tierseal")),
        None => return Err(bad("truncated")),
    };
    let info_len = grant
        .get(5..9)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_be_bytes)
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n <= MAX_INFO_LEN)
        .ok_or(bad("truncated or oversized header"))?;
    let info_end = 9 + info_len;
    let info_bytes = grant.get(9..info_end).ok_or(bad("truncated"))?;
    let undecodable = |_| bad("the header does not decode");
    let info: GrantInfo = if version == GRANT_VERSION_V1 {
        let old: GrantInfoV1 = postcard::from_bytes(info_bytes).map_err(undecodable)?;
        GrantInfo {
            principal: old.principal,
            issued_at: old.issued_at,
            expires_at: old.expires_at,
            tiers: old.tiers,
            approval_required: Vec::new(),
            index: Vec::new(),
        }
    } else if version == GRANT_VERSION_APPROVALS {
        let old: GrantInfoV2 = postcard::from_bytes(info_bytes).map_err(undecodable)?;
        if old.approval_required.is_empty() {
            return Err(bad("a version-2 header without approval requirements"));
        }
        GrantInfo {
            principal: old.principal,
            issued_at: old.issued_at,
            expires_at: old.expires_at,
            tiers: old.tiers,
            approval_required: old.approval_required,
            index: Vec::new(),
        }
    } else {
        postcard::from_bytes(info_bytes).map_err(undecodable)?
    };
    let (aad, rest) = grant.split_at_checked(info_end).ok_or(bad("truncated"))?;
    let (nonce, rest) = rest.split_at_checked(NONCE_LEN).ok_or(bad("truncated"))?;
    let (ciphertext, tag) = rest
        .split_at_checked(rest.len().checked_sub(TAG_LEN).ok_or(bad("truncated"))?)
        .ok_or(bad("truncated"))?;
    Ok(Parts {
        version,
        info,
        aad,
        nonce: nonce.try_into().map_err(|_| bad("truncated"))?,
        ciphertext,
        tag: tag.try_into().map_err(|_| bad("truncated"))?,
    })
}

impl Keyring {
    /// Loads a grant file, checking it against `secret` and the clock.
    ///
    /// # Errors
    /// [`Error::GrantExpired`] past its expiry; [`Error::GrantInvalid`]
    /// when the file is damaged or altered, or the secret is wrong.
    pub fn from_grant(grant: &[u8], secret: &GrantSecret) -> Result<Keyring, Error> {
        Keyring::from_grant_at(grant, secret, SystemTime::now())
    }

    /// As [`from_grant`](Self::from_grant), with the expiry checked
    /// against `now`.
    ///
    /// # Errors
    /// As [`from_grant`](Self::from_grant).
    pub fn from_grant_at(
        grant: &[u8],
        secret: &GrantSecret,
        now: SystemTime,
    ) -> Result<Keyring, Error> {
        let parts = split(grant)?;
        let mut plaintext = Zeroizing::new(parts.ciphertext.to_vec());
        crypto::decrypt(
            &secret.0.cipher(),
            parts.nonce,
            parts.aad,
            plaintext.as_mut_slice(),
            parts.tag,
        )
        .map_err(|_| Error::GrantInvalid {
            reason: "authentication failed: the file was altered or the secret is wrong",
        })?;
        // Checked only after authentication, so a forged expiry cannot pass.
        if unix_seconds(now) >= parts.info.expires_at {
            return Err(Error::GrantExpired {
                principal: crate::error::shorten(&parts.info.principal),
                expired_at: parts.info.expires_at,
            });
        }
        let undecodable = |_| Error::GrantInvalid {
            reason: "the keys do not decode",
        };
        let mut keys: GrantKeys = if parts.version != GRANT_VERSION {
            let mut old: GrantKeysV1 = postcard::from_bytes(&plaintext).map_err(undecodable)?;
            GrantKeys {
                tiers: std::mem::take(&mut old.tiers),
                audit_key: old.audit_key,
                index: Vec::new(),
            }
        } else {
            postcard::from_bytes(&plaintext).map_err(undecodable)?
        };
        if keys.tiers.len() != parts.info.tiers.len() || keys.index.len() != parts.info.index.len()
        {
            return Err(Error::GrantInvalid {
                reason: "header and keys disagree",
            });
        }
        let principal = parts.info.principal.clone();
        let approval_required = parts.info.approval_required;
        let mut audit_bytes = keys.audit_key;
        let audit_key = AuditKey::derived(principal.clone(), KeyMaterial::take(&mut audit_bytes));
        let tiers = parts
            .info
            .tiers
            .into_iter()
            .zip(std::mem::take(&mut keys.tiers))
            .map(|(granted, mut versions)| TierKeys {
                tier: granted.tier,
                primary: granted.primary,
                versions: versions
                    .iter_mut()
                    .map(|k| VersionKey::new(k.version, KeyMaterial::take(&mut k.key)))
                    .collect(),
                retired: granted.retired,
            })
            .collect();
        let mut index = Vec::with_capacity(parts.info.index.len());
        for (granted, mut versions) in parts
            .info
            .index
            .into_iter()
            .zip(std::mem::take(&mut keys.index))
        {
            let versions: Vec<IndexVersionKey> = versions
                .iter_mut()
                .map(|k| {
                    let material = KeyMaterial::take(&mut k.key);
                    IndexVersionKey {
                        version: k.version,
                        check_value: material.check_value(),
                        material,
                    }
                })
                .collect();
            if !versions.iter().any(|k| k.version == granted.primary) {
                return Err(Error::GrantInvalid {
                    reason: "a tier's primary index key is missing",
                });
            }
            index.push(IndexKeys {
                tier: granted.tier,
                primary: granted.primary,
                versions,
            });
        }
        let mut keyring = Keyring::from_tiers(tiers, principal, Some(audit_key)).map_err(|_| {
            Error::GrantInvalid {
                reason: "a tier's primary key is missing",
            }
        })?;
        for requirement in approval_required {
            if !keyring.has_tier(&requirement.tier) {
                return Err(Error::GrantInvalid {
                    reason: "an approval requirement names a tier the grant does not carry",
                });
            }
            keyring = keyring.require_approval(requirement.tier, requirement.approver);
        }
        Ok(keyring.with_index_keys(index))
    }
}

/// Checks that a grant may be issued to `principal`: 1 to 256 bytes, not
/// blank, without control characters, and not a name that reads as a reserved principal (the writers
/// the keystore signs audit entries as).
///
/// "Reads as" ignores case, whitespace, control characters and invisible
/// formatting characters (zero-width spaces and joiners, soft hyphens, byte
/// order marks), takes fullwidth letters as ASCII, and takes a non-ASCII
/// letter in place of an ASCII one as a look-alike, so that ` Custodian`,
/// `CUSTODIAN`, `cus\u{200B}todian` or `\u{441}ustodian` (Cyrillic) cannot
/// pass for the custodian in an audit log.
pub(crate) fn check_principal(principal: &str) -> Result<(), Error> {
    if principal.trim().is_empty() || principal.len() > 256 {
        return Err(Error::InvalidParameter {
            what: "principal",
            reason: "must be 1 to 256 characters",
        });
    }
    let skeleton = principal_skeleton(principal);
    if let Some(reserved) = crate::keystore::RESERVED_PRINCIPALS
        .iter()
        .find(|reserved| reads_as(&skeleton, &principal_skeleton(reserved)))
    {
        return Err(Error::ReservedPrincipal {
            principal: crate::error::shorten(&principal.escape_debug().to_string()),
            reserved,
        });
    }
    if principal.chars().any(char::is_control) {
        return Err(Error::InvalidParameter {
            what: "principal",
            reason: "must not contain control characters",
        });
    }
    Ok(())
}

/// How a principal's name reads: lowercase, fullwidth letters as ASCII,
/// without whitespace, control or invisible formatting characters.
pub(crate) fn principal_skeleton(name: &str) -> Vec<char> {
    name.chars()
        .filter(|c| !(c.is_whitespace() || c.is_control() || is_invisible(*c)))
        .map(|c| match u32::from(c) {
            // Fullwidth ASCII forms: U+FF01..=U+FF5E mirror U+0021..=U+007E.
            code @ 0xFF01..=0xFF5E => char::from_u32(code - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether a name with skeleton `name` reads as the ASCII name `reserved`:
/// the same length, and at each position the same letter or a non-ASCII
/// one (a look-alike from another script, such as Cyrillic `с` for `c`),
/// with at least half the letters the same. A name entirely in another
/// script is not taken for an ASCII one.
fn reads_as(name: &[char], reserved: &[char]) -> bool {
    if name.len() != reserved.len() {
        return false;
    }
    let mut same = 0usize;
    for (a, b) in name.iter().zip(reserved) {
        if a == b {
            same += 1;
        } else if a.is_ascii() {
            return false;
        }
    }
    same * 2 >= reserved.len()
}

/// Unicode format characters that render as nothing.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// Writes `keyring` as a grant for `principal`, valid until `expires_at`,
/// carrying `audit_key` (the key `principal` signs audit entries with).
/// Returns the file, its secret and its public part.
pub(crate) fn issue(
    keyring: &Keyring,
    principal: &str,
    expires_at: SystemTime,
    audit_key: &AuditKey,
    approval_required: Vec<ApprovalRequirement>,
) -> Result<(Vec<u8>, GrantSecret, GrantInfo), Error> {
    let now = unix_seconds(SystemTime::now());
    let expires_at = unix_seconds(expires_at);
    check_principal(principal)?;
    if expires_at <= now {
        return Err(Error::InvalidParameter {
            what: "expiry",
            reason: "must be in the future",
        });
    }
    let info = GrantInfo {
        principal: principal.to_owned(),
        issued_at: now,
        expires_at,
        tiers: keyring
            .tier_keys()
            .iter()
            .map(|keys| GrantedTier {
                tier: keys.tier.clone(),
                primary: keys.primary,
                versions: keys.versions.iter().map(|k| k.version).collect(),
                retired: keys.retired.clone(),
            })
            .collect(),
        approval_required,
        index: keyring
            .index_tiers()
            .iter()
            .map(|keys| GrantedIndex {
                tier: keys.tier.clone(),
                primary: keys.primary,
                versions: keys.versions.iter().map(|k| k.version).collect(),
            })
            .collect(),
    };
    let keys = GrantKeys {
        audit_key: *audit_key.material().expose(),
        tiers: keyring
            .tier_keys()
            .iter()
            .map(|keys| {
                keys.versions
                    .iter()
                    .map(|k| GrantKey {
                        version: k.version,
                        key: *k.material.expose(),
                    })
                    .collect()
            })
            .collect(),
        index: keyring
            .index_tiers()
            .iter()
            .map(|keys| {
                keys.versions
                    .iter()
                    .map(|k| GrantKey {
                        version: k.version,
                        key: *k.material.expose(),
                    })
                    .collect()
            })
            .collect(),
    };
    let secret = GrantSecret(KeyMaterial::generate()?);
    let encoding = |_| Error::InvalidParameter {
        what: "grant",
        reason: "does not encode",
    };
    let info_bytes = postcard::to_stdvec(&info).map_err(encoding)?;
    let mut plaintext = Zeroizing::new(postcard::to_stdvec(&keys).map_err(encoding)?);

    let mut out = Vec::with_capacity(9 + info_bytes.len() + NONCE_LEN + plaintext.len() + TAG_LEN);
    out.extend_from_slice(MAGIC);
    out.push(GRANT_VERSION);
    out.extend_from_slice(
        &u32::try_from(info_bytes.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    out.extend_from_slice(&info_bytes);
    let nonce = crypto::fresh_wrap_nonce()?;
    let tag = crypto::encrypt(&secret.0.cipher(), &nonce, &out, plaintext.as_mut_slice())?;
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&plaintext);
    out.extend_from_slice(&tag);
    Ok((out, secret, info))
}
