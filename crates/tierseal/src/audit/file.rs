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
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;

use super::{AuditEvent, AuditKey, AuditSink};
use crate::Error;

/// How durable a recorded event is when `record` returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Events are handed to a background writer that chains, signs and
    /// writes them in batches; `flush` waits for it, and dropping the sink
    /// writes what is left. Fastest: the caller pays only for building the
    /// event. A crash of the process loses events not yet written (at most
    /// the ones recorded in the last moments).
    Buffered,
    /// Each event is written to the file before `record` returns: survives
    /// a crash of the process, not of the machine.
    Flush,
    /// Each event is written and fsynced before `record` returns: survives
    /// power loss; slowest.
    Sync,
}

/// Queued events that wake the background writer early.
const BATCH: usize = 512;
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// The longest entry the tail reader looks back over.
const MAX_LINE: u64 = 1 << 20;

/// The `prev` of the first entry.
pub(crate) fn genesis() -> &'static str {
    GENESIS
}

#[derive(Serialize)]
struct Entry<'a> {
    seq: u64,
    prev: &'a str,
    event: &'a AuditEvent,
}

/// Chains, signs and appends events to the file.
struct Writer {
    path: PathBuf,
    key: AuditKey,
    /// The last writer's derived key: nearly every entry has the same writer.
    derived: Option<AuditKey>,
    sync: bool,
    file: File,
    /// The last entry's sequence number and MAC, as of `known_len`.
    last: (u64, String),
    /// The file length after our last write; another writer changed the
    /// file if it differs.
    known_len: Option<u64>,
    buffer: Vec<u8>,
}

impl Writer {
    /// Appends `events` under an exclusive lock on the file, continuing the
    /// chain from whatever the file ends with.
    fn append(&mut self, events: &[AuditEvent]) -> Result<(), Error> {
        if events.is_empty() {
            return Ok(());
        }
        self.file
            .lock()
            .map_err(|e| Error::io("lock audit log", &self.path, e))?;
        let result = self.append_locked(events);
        let unlocked = self
            .file
            .unlock()
            .map_err(|e| Error::io("unlock audit log", &self.path, e));
        result.and(unlocked)
    }

    fn append_locked(&mut self, events: &[AuditEvent]) -> Result<(), Error> {
        let len = self
            .file
            .metadata()
            .map_err(|e| Error::io("read audit log", &self.path, e))?
            .len();
        if self.known_len != Some(len) {
            self.last = self.read_tail(len)?;
        }
        self.buffer.clear();
        let (mut seq, mut prev) = self.last.clone();
        for event in events {
            if self.derived.as_ref().and_then(AuditKey::writer) != Some(event.writer.as_str()) {
                self.derived = Some(self.key.derive(&event.writer).ok_or(
                    Error::InvalidParameter {
                        what: "audit event",
                        reason: "its writer differs from the audit key's writer",
                    },
                )?);
            }
            let key = self.derived.as_ref().ok_or(Error::InvalidParameter {
                what: "audit event",
                reason: "no key for its writer",
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
            self.buffer.extend_from_slice(b"{\"entry\":");
            self.buffer.extend_from_slice(entry.as_bytes());
            self.buffer.extend_from_slice(b",\"mac\":\"");
            self.buffer.extend_from_slice(mac.as_bytes());
            self.buffer.extend_from_slice(b"\"}\n");
            prev = mac;
        }
        self.file
            .write_all(&self.buffer)
            .map_err(|e| Error::io("write audit log", &self.path, e))?;
        if self.sync {
            self.file
                .sync_data()
                .map_err(|e| Error::io("sync audit log", &self.path, e))?;
        }
        self.last = (seq, prev);
        self.known_len = Some(len + self.buffer.len() as u64);
        Ok(())
    }

    /// The last complete entry's sequence number and MAC. A partial last
    /// line (a writer killed mid-write, whose event was never acknowledged)
    /// is cut off so the chain continues from the last complete entry.
    fn read_tail(&mut self, len: u64) -> Result<(u64, String), Error> {
        let io = |action| {
            let path = self.path.clone();
            move |e| Error::io(action, path, e)
        };
        if len == 0 {
            return Ok((0, GENESIS.to_owned()));
        }
        let start = len.saturating_sub(MAX_LINE);
        self.file
            .seek(SeekFrom::Start(start))
            .map_err(io("read audit log"))?;
        let mut tail = Vec::new();
        (&self.file)
            .take(len - start)
            .read_to_end(&mut tail)
            .map_err(io("read audit log"))?;
        if tail.last() != Some(&b'\n') {
            let keep = tail
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(start, |i| start + i as u64 + 1);
            self.file.set_len(keep).map_err(io("repair audit log"))?;
            return self.read_tail(keep);
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

/// Events waiting for the background writer.
#[derive(Default)]
struct Queue {
    events: Vec<AuditEvent>,
    /// Written events handed back for callers to free: memory is freed by
    /// the thread that allocated it, so the allocator's per-thread arenas
    /// are not contended.
    spent: Vec<AuditEvent>,
    /// Callers of `flush` waiting for everything queued before them.
    waiting: Vec<std::sync::mpsc::Sender<Result<(), String>>>,
    /// The first error the writer met; every later call reports it.
    failure: Option<String>,
    closed: bool,
}

/// The background writer of [`Durability::Buffered`]: callers append to a
/// queue under a short lock and never wake the writer for a single event;
/// it wakes on its own every few milliseconds, when a batch is full, or
/// when someone flushes.
struct Background {
    shared: Arc<(Mutex<Queue>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

/// How long the writer sleeps between batches when nobody asks it to hurry.
const WRITE_INTERVAL: Duration = Duration::from_millis(5);

enum Mode {
    Direct(Mutex<Writer>),
    Background(Background),
}

/// An append-only audit log file (see the module docs for the format).
///
/// Safe to share between threads (their events are written in the order
/// they were recorded) and between processes (each batch is written under
/// an exclusive `flock` on the log, continuing the chain from whatever the
/// file ends with).
pub struct FileSink {
    path: PathBuf,
    durability: Durability,
    mode: Mode,
}

impl FileSink {
    /// Opens (creating if needed) the log at `path`, signing with `key`.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be opened or the writer thread
    /// cannot start.
    pub fn open(
        path: impl AsRef<Path>,
        key: AuditKey,
        durability: Durability,
    ) -> Result<FileSink, Error> {
        let path = path.as_ref().to_owned();
        let mut options = OpenOptions::new();
        options.read(true).append(true).create(true);
        // Entries name principals, purposes and record ids: owner only.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options
            .open(&path)
            .map_err(|e| Error::io("open audit log", &path, e))?;
        let writer = Writer {
            path: path.clone(),
            key,
            derived: None,
            sync: durability == Durability::Sync,
            file,
            last: (0, GENESIS.to_owned()),
            known_len: None,
            buffer: Vec::new(),
        };
        let mode = match durability {
            Durability::Flush | Durability::Sync => Mode::Direct(Mutex::new(writer)),
            Durability::Buffered => {
                let shared = Arc::new((Mutex::new(Queue::default()), Condvar::new()));
                let for_thread = Arc::clone(&shared);
                let thread = std::thread::Builder::new()
                    .name("tierseal-audit".into())
                    .spawn(move || run_writer(writer, &for_thread))
                    .map_err(|e| Error::io("start the audit writer for", &path, e))?;
                Mode::Background(Background {
                    shared,
                    thread: Some(thread),
                })
            }
        };
        Ok(FileSink {
            path,
            durability,
            mode,
        })
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn writer_failed(&self, reason: String) -> Error {
        Error::AuditUnavailable {
            path: self.path.clone(),
            reason,
        }
    }
}

fn run_writer(mut writer: Writer, shared: &(Mutex<Queue>, Condvar)) {
    let (lock, wake) = shared;
    let mut batch = Vec::new();
    loop {
        let (waiting, closed) = {
            let mut queue = lock.lock().unwrap_or_else(PoisonError::into_inner);
            if queue.events.len() < BATCH && queue.waiting.is_empty() && !queue.closed {
                queue = wake
                    .wait_timeout(queue, WRITE_INTERVAL)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            std::mem::swap(&mut batch, &mut queue.events);
            (std::mem::take(&mut queue.waiting), queue.closed)
        };
        let mut result = writer.append(&batch).map_err(|e| e.to_string());
        {
            let mut queue = lock.lock().unwrap_or_else(PoisonError::into_inner);
            if queue.spent.is_empty() && !closed {
                std::mem::swap(&mut queue.spent, &mut batch);
            }
        }
        batch.clear();
        if !waiting.is_empty() && result.is_ok() {
            result = writer.file.sync_data().map_err(|e| e.to_string());
        }
        if let Err(reason) = &result {
            tracing::error!(target: "tierseal::audit", %reason, "audit writer failed");
            lock.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .failure
                .get_or_insert(reason.clone());
        }
        for reply in waiting {
            let _ = reply.send(result.clone());
        }
        if closed {
            return;
        }
    }
}

impl AuditSink for FileSink {
    fn record(&self, event: AuditEvent) -> Result<(), Error> {
        match &self.mode {
            Mode::Direct(writer) => writer
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .append(std::slice::from_ref(&event)),
            Mode::Background(background) => {
                let (lock, wake) = &*background.shared;
                let mut queue = lock.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(reason) = queue.failure.clone() {
                    return Err(self.writer_failed(reason));
                }
                queue.events.push(event);
                if queue.events.len() == BATCH {
                    wake.notify_one();
                }
                let spent = std::mem::take(&mut queue.spent);
                drop(queue);
                drop(spent);
                Ok(())
            }
        }
    }

    fn flush(&self) -> Result<(), Error> {
        match &self.mode {
            Mode::Direct(writer) => {
                let writer = writer.lock().unwrap_or_else(PoisonError::into_inner);
                writer
                    .file
                    .sync_data()
                    .map_err(|e| Error::io("sync audit log", &self.path, e))
            }
            Mode::Background(background) => {
                let (reply, answer) = std::sync::mpsc::channel();
                {
                    let (lock, wake) = &*background.shared;
                    let mut queue = lock.lock().unwrap_or_else(PoisonError::into_inner);
                    if queue.closed {
                        return Err(self.writer_failed("the writer thread stopped".into()));
                    }
                    queue.waiting.push(reply);
                    wake.notify_one();
                }
                answer
                    .recv()
                    .map_err(|_| self.writer_failed("the writer thread stopped".into()))?
                    .map_err(|reason| self.writer_failed(reason))
            }
        }
    }
}

impl Drop for FileSink {
    fn drop(&mut self) {
        if let Mode::Background(background) = &mut self.mode {
            // The writer drains the queue, then stops.
            {
                let (lock, wake) = &*background.shared;
                lock.lock().unwrap_or_else(PoisonError::into_inner).closed = true;
                wake.notify_one();
            }
            if let Some(thread) = background.thread.take() {
                let _ = thread.join();
            }
        }
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
