//! Checkpoints: the custodian's signed statement of how far a log reached,
//! kept where the log's writers cannot rewrite it, so that removing the
//! last entries of a log (which no chain can reveal by itself) is found.

use serde::{Deserialize, Serialize};

use super::line::{self, LogHead};
use super::{AuditKey, Timestamp};

/// The file form's fixed opening.
const OPEN: &[u8] = b"{\"checkpoint\":";
/// The only version of the file form.
const VERSION: u32 = 1;

/// A log's head (sequence number and MAC of its last entry) at a time.
/// Every entry up to `head.seq` is covered: a log that no longer holds
/// that entry with that MAC lost entries or was replaced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The last entry covered (`seq` 0: the log was empty).
    pub head: LogHead,
    /// When the checkpoint was taken.
    pub time: Timestamp,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    version: u32,
    time: Timestamp,
    seq: u64,
    head: String,
}

/// Why a checkpoint file was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// Not a checkpoint file (or a version this build does not know).
    #[error("not an audit checkpoint: {0}")]
    Malformed(String),
    /// The MAC does not match: the file was edited or made without the
    /// root audit key.
    #[error(
        "the checkpoint's MAC does not match: it was edited, or made without the root audit key"
    )]
    Forged,
    /// Only the root audit key (the custodian's) signs and checks
    /// checkpoints; a writer's key cannot.
    #[error("checkpoints are signed and checked with the keystore's root audit key only")]
    NeedsRootKey,
}

impl Checkpoint {
    /// A checkpoint of `head` taken now.
    pub fn now(head: LogHead) -> Checkpoint {
        Checkpoint {
            head,
            time: Timestamp::now(),
        }
    }

    /// The file form, one line:
    /// `{"checkpoint":{"version":1,"time":..,"seq":N,"head":HEX},"mac":HEX}`,
    /// the MAC under a key derived from the root audit key that no log
    /// writer holds.
    ///
    /// # Errors
    /// [`CheckpointError::NeedsRootKey`] for a writer's key.
    pub fn to_file(&self, root: &AuditKey) -> Result<String, CheckpointError> {
        let key = root.checkpoint_key().ok_or(CheckpointError::NeedsRootKey)?;
        let body = serde_json::to_string(&Body {
            version: VERSION,
            time: self.time,
            seq: self.head.seq,
            head: self.head.mac.clone(),
        })
        .map_err(|e| CheckpointError::Malformed(e.to_string()))?;
        let mut out = Vec::new();
        let mac = crate::crypto::hex(&key.mac(body.as_bytes()));
        line::frame(OPEN, body.as_bytes(), &mac, &mut out);
        out.push(b'\n');
        String::from_utf8(out).map_err(|e| CheckpointError::Malformed(e.to_string()))
    }

    /// Reads and authenticates a checkpoint file.
    ///
    /// # Errors
    /// [`CheckpointError`]: not a checkpoint, forged, or not the root key.
    pub fn from_file(bytes: &[u8], root: &AuditKey) -> Result<Checkpoint, CheckpointError> {
        let key = root.checkpoint_key().ok_or(CheckpointError::NeedsRootKey)?;
        let text = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        let (body, mac) = line::unframe(OPEN, text).ok_or_else(|| {
            CheckpointError::Malformed(
                "expected {\"checkpoint\":{...},\"mac\":\"<64 hex>\"}".into(),
            )
        })?;
        if !key.verify(body, &mac) {
            return Err(CheckpointError::Forged);
        }
        let body: Body =
            serde_json::from_slice(body).map_err(|e| CheckpointError::Malformed(e.to_string()))?;
        if body.version != VERSION {
            return Err(CheckpointError::Malformed(format!(
                "version {} (this build reads version {VERSION})",
                body.version
            )));
        }
        if line::mac_from_hex(body.head.as_bytes()).is_none() {
            return Err(CheckpointError::Malformed(
                "the head is not 64 lowercase hex digits".into(),
            ));
        }
        Ok(Checkpoint {
            head: LogHead {
                seq: body.seq,
                mac: body.head,
            },
            time: body.time,
        })
    }
}
