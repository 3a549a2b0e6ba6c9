//! The audit log's line format: how an entry is framed, signed and read
//! back, and where the chain starts. Writers ([`super::file`]) and readers
//! ([`super::verify`]) share it; neither knows the other.
//!
//! A line is exactly `{"entry":ENTRY,"mac":"<64 lowercase hex>"}`: every
//! byte outside the MAC'd ENTRY is fixed, so nothing unsigned can ride
//! along (an extra field, whitespace, a second `mac`). ENTRY is
//! `{"seq":N,"prev":HEX,"event":{...}}` and accepts no unknown field.

use serde::{Deserialize, Serialize};

use super::{AuditEvent, AuditKey};
use crate::Error;

/// The `prev` of the first entry.
pub(crate) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const OPEN: &[u8] = b"{\"entry\":";
const MAC_OPEN: &[u8] = b",\"mac\":\"";
const CLOSE: &[u8] = b"\"}";
/// Hex digits of an HMAC-SHA-256.
const MAC_HEX: usize = 64;

/// Where a log stands after an entry: its sequence number and MAC (the
/// MAC covers, through `prev`, every entry before it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogHead {
    /// The entry's sequence number (0 for an empty log).
    pub seq: u64,
    /// The entry's MAC in lowercase hex ([`LogHead::empty`]'s is 64 zeros).
    pub mac: String,
}

impl LogHead {
    /// The head of an empty log.
    pub fn empty() -> LogHead {
        LogHead {
            seq: 0,
            mac: GENESIS.to_owned(),
        }
    }

    /// The head at entry `seq` whose MAC is `mac`.
    pub fn from_mac(seq: u64, mac: [u8; 32]) -> LogHead {
        LogHead {
            seq,
            mac: crate::crypto::hex(&mac),
        }
    }

    /// The MAC's bytes, or `None` if `mac` is not 64 lowercase hex digits.
    pub fn mac_bytes(&self) -> Option<[u8; 32]> {
        mac_from_hex(self.mac.as_bytes())
    }
}

#[derive(Serialize)]
struct EntryOut<'a> {
    seq: u64,
    prev: &'a str,
    event: &'a AuditEvent,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryIn {
    seq: u64,
    prev: String,
    event: AuditEvent,
}

/// Appends the line of entry `seq` after `prev`, signed with `key`, to
/// `out` (with its newline); returns the entry's MAC.
pub(crate) fn encode(
    seq: u64,
    prev: &str,
    event: &AuditEvent,
    key: &AuditKey,
    out: &mut Vec<u8>,
) -> Result<String, Error> {
    let entry = serde_json::to_string(&EntryOut { seq, prev, event }).map_err(|_| {
        Error::InvalidParameter {
            what: "audit event",
            reason: "does not encode",
        }
    })?;
    let mac = crate::crypto::hex(&key.mac(entry.as_bytes()));
    frame(OPEN, entry.as_bytes(), &mac, out);
    out.push(b'\n');
    Ok(mac)
}

/// `open` BODY `,"mac":"` MAC `"}`: the frame of log lines and checkpoints.
pub(crate) fn frame(open: &[u8], body: &[u8], mac: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(open);
    out.extend_from_slice(body);
    out.extend_from_slice(MAC_OPEN);
    out.extend_from_slice(mac.as_bytes());
    out.extend_from_slice(CLOSE);
}

/// Splits a framed line (without its newline) into its body and MAC, or
/// `None` when a byte outside the body is not the frame's.
pub(crate) fn unframe<'a>(open: &[u8], line: &'a [u8]) -> Option<(&'a [u8], [u8; 32])> {
    let rest = line.strip_prefix(open)?.strip_suffix(CLOSE)?;
    let split = rest.len().checked_sub(MAC_OPEN.len() + MAC_HEX)?;
    let (body, tail) = rest.split_at(split);
    let hex = tail.strip_prefix(MAC_OPEN)?;
    Some((body, mac_from_hex(hex)?))
}

/// A MAC from exactly 64 lowercase hex digits.
pub(crate) fn mac_from_hex(hex: &[u8]) -> Option<[u8; 32]> {
    crate::crypto::from_hex(hex)
}

/// One line as read: parsed, its MAC not yet checked.
pub(crate) struct ParsedLine {
    pub(crate) seq: u64,
    pub(crate) prev: String,
    pub(crate) mac: [u8; 32],
    pub(crate) event: AuditEvent,
    entry: Vec<u8>,
}

impl ParsedLine {
    /// The entry's place in the log, as the next entry's `prev` names it.
    pub(crate) fn head(&self) -> LogHead {
        LogHead {
            seq: self.seq,
            mac: crate::crypto::hex(&self.mac),
        }
    }

    /// Whether `key` (the root key, or the writer's own) signed the entry.
    pub(crate) fn is_signed_by(&self, key: &AuditKey) -> bool {
        key.derive(&self.event.writer)
            .is_some_and(|writer| writer.verify(&self.entry, &self.mac))
    }
}

/// Why a line is not an audit entry.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LineError {
    /// Bytes outside the signed entry are not the fixed frame.
    #[error(
        "bytes outside the signed entry: a line is exactly {{\"entry\":...,\"mac\":\"<64 hex>\"}}"
    )]
    Frame,
    /// The entry does not parse (or has a field no version defines).
    #[error("{0}")]
    Entry(#[from] serde_json::Error),
}

/// Parses a line (without its newline).
pub(crate) fn parse(line: &[u8]) -> Result<ParsedLine, LineError> {
    let (entry, mac) = unframe(OPEN, line).ok_or(LineError::Frame)?;
    let parsed: EntryIn = serde_json::from_slice(entry)?;
    Ok(ParsedLine {
        seq: parsed.seq,
        prev: parsed.prev,
        mac,
        event: parsed.event,
        entry: entry.to_vec(),
    })
}
