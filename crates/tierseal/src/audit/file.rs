//! The default audit sink: an append-only, hash-chained, authenticated JSON
//! Lines file.
//!
//! Each line is `{"entry":ENTRY,"mac":HEX}` where ENTRY is
//! `{"seq":N,"prev":HEX,"event":{...}}`, `prev` is the previous entry's MAC
//! (64 zeros for the first) and MAC is HMAC-SHA-256 over the exact bytes of
//! ENTRY under the writer's [`AuditKey`]. Editing, removing, reordering or
//! inserting an entry breaks either a MAC or the chain of `seq`/`prev`.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;

use super::{AuditEvent, AuditKey, AuditSink};
use crate::Error;

/// How durable a recorded event is when `record` returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Events are written in batches (every 256 events, on `flush` and on
    /// drop): fastest; a process crash loses the unwritten batch.
    Buffered,
    /// Each event is written to the file before `record` returns: survives
    /// a crash of the process, not of the machine.
    Flush,
    /// Each event is written and fsynced before `record` returns: survives
    /// power loss; slowest.
    Sync,
}

const BATCH: usize = 256;
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The `prev` of the first entry.
pub(crate) fn genesis() -> &'static str {
    GENESIS
}
/// The longest entry the tail reader looks back over.
const MAX_LINE: u64 = 1 << 20;

#[derive(Serialize)]
struct Entry<'a> {
    seq: u64,
    prev: &'a str,
    event: &'a AuditEvent,
}

struct State {
    file: File,
    pending: Vec<AuditEvent>,
    /// The last entry's sequence number and MAC, as of `known_len`.
    last: (u64, String),
    /// The file length after our last write; another writer changed the
    /// file if it differs.
    known_len: Option<u64>,
}

/// An append-only audit log file (see the module docs for the format).
///
/// Safe to share between threads (one lock orders their events) and
/// between processes (each batch is written under an exclusive `flock` on
/// the log, continuing the chain from whatever the file ends with).
pub struct FileSink {
    path: PathBuf,
    key: AuditKey,
    durability: Durability,
    state: Mutex<State>,
}

impl FileSink {
    /// Opens (creating if needed) the log at `path`, signing with `key`.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be opened.
    pub fn open(
        path: impl AsRef<Path>,
        key: AuditKey,
        durability: Durability,
    ) -> Result<FileSink, Error> {
        let path = path.as_ref().to_owned();
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| Error::io("open audit log", &path, e))?;
        Ok(FileSink {
            path,
            key,
            durability,
            state: Mutex::new(State {
                file,
                pending: Vec::new(),
                last: (0, GENESIS.to_owned()),
                known_len: None,
            }),
        })
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_pending(&self, state: &mut State) -> Result<(), Error> {
        if state.pending.is_empty() {
            return Ok(());
        }
        let io = |action| move |e| Error::io(action, &self.path, e);
        state.file.lock().map_err(io("lock audit log"))?;
        let result = self.append_locked(state);
        let unlocked = state.file.unlock().map_err(io("unlock audit log"));
        result.and(unlocked)
    }

    fn append_locked(&self, state: &mut State) -> Result<(), Error> {
        let io = |action| move |e| Error::io(action, &self.path, e);
        let len = state.file.metadata().map_err(io("read audit log"))?.len();
        if state.known_len != Some(len) {
            state.last = self.read_tail(&mut state.file, len)?;
        }
        let mut out = Vec::with_capacity(state.pending.len() * 512);
        let (mut seq, mut prev) = state.last.clone();
        for event in &state.pending {
            let key = self
                .key
                .derive(&event.writer)
                .ok_or(Error::InvalidParameter {
                    what: "audit event",
                    reason: "its writer differs from the audit key's writer",
                })?;
            seq += 1;
            let entry = serde_json::to_string(&Entry {
                seq,
                prev: &prev,
                event,
            })
            .map_err(|_| Error::InvalidParameter {
                what: "audit event",
                reason: "does not encode",
            })?;
            let mac = crate::crypto::hex(&key.mac(entry.as_bytes()));
            out.extend_from_slice(b"{\"entry\":");
            out.extend_from_slice(entry.as_bytes());
            out.extend_from_slice(b",\"mac\":\"");
            out.extend_from_slice(mac.as_bytes());
            out.extend_from_slice(b"\"}\n");
            prev = mac;
        }
        state.file.write_all(&out).map_err(io("write audit log"))?;
        if self.durability == Durability::Sync {
            state.file.sync_data().map_err(io("sync audit log"))?;
        }
        state.pending.clear();
        state.last = (seq, prev);
        state.known_len = Some(len + out.len() as u64);
        Ok(())
    }

    /// The last complete entry's sequence number and MAC. A partial last
    /// line (a writer killed mid-write, whose event was never acknowledged)
    /// is cut off so the chain continues from the last complete entry.
    fn read_tail(&self, file: &mut File, len: u64) -> Result<(u64, String), Error> {
        let io = |action| move |e| Error::io(action, &self.path, e);
        if len == 0 {
            return Ok((0, GENESIS.to_owned()));
        }
        let start = len.saturating_sub(MAX_LINE);
        file.seek(SeekFrom::Start(start))
            .map_err(io("read audit log"))?;
        let mut tail = Vec::new();
        file.take(len - start)
            .read_to_end(&mut tail)
            .map_err(io("read audit log"))?;
        if tail.last() != Some(&b'\n') {
            let keep = tail
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(start, |i| start + i as u64 + 1);
            file.set_len(keep).map_err(io("repair audit log"))?;
            return self.read_tail(file, keep);
        }
        let body = tail.get(..tail.len() - 1).unwrap_or_default();
        let line_start = body.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let line = body.get(line_start..).unwrap_or_default();
        let parsed = super::verify::parse_line(line).map_err(|_| Error::InvalidParameter {
            what: "audit log",
            reason: "its last entry does not parse: run `tierseal audit verify`",
        })?;
        Ok((parsed.seq, parsed.mac))
    }
}

impl AuditSink for FileSink {
    fn record(&self, event: AuditEvent) -> Result<(), Error> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.pending.push(event);
        if self.durability != Durability::Buffered || state.pending.len() >= BATCH {
            self.write_pending(&mut state)?;
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), Error> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.write_pending(&mut state)?;
        state
            .file
            .sync_data()
            .map_err(|e| Error::io("sync audit log", &self.path, e))
    }
}

impl Drop for FileSink {
    fn drop(&mut self) {
        let _ = AuditSink::flush(self);
    }
}

impl std::fmt::Debug for FileSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSink")
            .field("path", &self.path)
            .field("durability", &self.durability)
            .finish_non_exhaustive()
    }
}
