//! The default audit sink: an append-only, hash-chained, authenticated JSON
//! Lines file.
//!
//! The line format lives in [`super::line`]: each entry is chained to the
//! one before and signed with its writer's [`AuditKey`]. Editing, removing,
//! reordering or inserting an entry breaks either a MAC or the chain of
//! `seq`/`prev`; removing the last entries needs a
//! [`Checkpoint`](super::Checkpoint) to be found.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use super::line::{self, LogHead};
use super::{Action, AuditEvent, AuditKey, AuditSink, Outcome};
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
/// How far back the tail reader looks for a line's start per read.
const CHUNK: u64 = 1 << 16;
/// The longest unterminated last line the writer tries to read as an entry.
const MAX_LINE: u64 = 1 << 20;

/// Chains, signs and appends events to the file.
struct Writer {
    path: PathBuf,
    key: AuditKey,
    /// The last writer's derived key: nearly every entry has the same writer.
    derived: Option<AuditKey>,
    sync: bool,
    file: File,
    /// The last entry's sequence number and MAC, as of `known_len`.
    last: LogHead,
    /// The file length after our last write; another writer changed the
    /// file if it differs.
    known_len: Option<u64>,
    buffer: Vec<u8>,
    /// The head after our last write, for [`FileSink::head`].
    written: Arc<Mutex<Option<LogHead>>>,
}

/// An incomplete last line the writer cut.
struct Cut {
    bytes: u64,
    sha256: String,
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
        let mut len = self
            .file
            .metadata()
            .map_err(|e| Error::io("read audit log", &self.path, e))?
            .len();
        let mut repair = None;
        if self.known_len != Some(len) {
            let (last, cut, new_len) = self.read_tail(len)?;
            self.last = last;
            len = new_len;
            repair = cut.zip(events.first()).map(|(cut, first)| {
                let mut event = AuditEvent::now(
                    &first.writer,
                    &first.writer,
                    Action::LogRepair,
                    Outcome::Ok,
                );
                event.reason = Some(format!(
                    "cut an incomplete last line of {} bytes (SHA-256 {}) left by an interrupted writer",
                    cut.bytes, cut.sha256
                ));
                event
            });
        }
        self.buffer.clear();
        let mut last = self.last.clone();
        for event in repair.iter().chain(events) {
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
            let seq = last.seq + 1;
            let mac = line::encode(seq, &last.mac, event, key, &mut self.buffer)?;
            last = LogHead { seq, mac };
        }
        self.file
            .write_all(&self.buffer)
            .map_err(|e| Error::io("write audit log", &self.path, e))?;
        if self.sync {
            self.file
                .sync_data()
                .map_err(|e| Error::io("sync audit log", &self.path, e))?;
        }
        *self.written.lock().unwrap_or_else(PoisonError::into_inner) = Some(last.clone());
        self.last = last;
        self.known_len = Some(len + self.buffer.len() as u64);
        Ok(())
    }

    /// The head to continue from, what was cut, and the file's length
    /// after. An unterminated last line that is a whole entry (its writer
    /// stopped before the newline) is completed, never dropped; a truly
    /// incomplete one (a writer killed mid-write, so never acknowledged) is
    /// cut, and the caller records the cut.
    fn read_tail(&mut self, len: u64) -> Result<(LogHead, Option<Cut>, u64), Error> {
        if len == 0 {
            return Ok((LogHead::empty(), None, 0));
        }
        let terminated = self.read_range(len - 1, len)? == b"\n";
        let end = if terminated { len - 1 } else { len };
        let start = self.line_start(end)?;
        let text = if end - start <= MAX_LINE {
            Some(self.read_range(start, end)?)
        } else {
            None
        };
        let parsed = text.as_deref().map(line::parse);
        match parsed {
            Some(Ok(parsed)) => {
                if !terminated {
                    self.file
                        .write_all(b"\n")
                        .map_err(|e| Error::io("complete audit log", &self.path, e))?;
                }
                Ok((parsed.head(), None, end + 1))
            }
            _ if terminated => Err(Error::InvalidParameter {
                what: "audit log",
                reason: "its last entry does not parse: run `tierseal audit verify`",
            }),
            _ => {
                let cut = self.fingerprint(start, end)?;
                self.file
                    .set_len(start)
                    .map_err(|e| Error::io("repair audit log", &self.path, e))?;
                let (head, _, len) = self.read_tail(start)?;
                Ok((head, Some(cut), len))
            }
        }
    }

    /// Where the line that ends at `end` starts: just after the last
    /// newline before `end`, or 0.
    fn line_start(&mut self, end: u64) -> Result<u64, Error> {
        let mut until = end;
        while until > 0 {
            let from = until.saturating_sub(CHUNK);
            let chunk = self.read_range(from, until)?;
            if let Some(i) = chunk.iter().rposition(|b| *b == b'\n') {
                return Ok(from + i as u64 + 1);
            }
            until = from;
        }
        Ok(0)
    }

    fn read_range(&mut self, from: u64, to: u64) -> Result<Vec<u8>, Error> {
        let mut bytes = Vec::new();
        self.file
            .seek(SeekFrom::Start(from))
            .and_then(|_| (&self.file).take(to - from).read_to_end(&mut bytes))
            .map_err(|e| Error::io("read audit log", &self.path, e))?;
        Ok(bytes)
    }

    /// The length and SHA-256 of bytes `from..to`, read in chunks.
    fn fingerprint(&mut self, from: u64, to: u64) -> Result<Cut, Error> {
        use sha2::Digest as _;
        let mut hash = sha2::Sha256::new();
        let mut at = from;
        while at < to {
            let next = to.min(at + CHUNK);
            hash.update(self.read_range(at, next)?);
            at = next;
        }
        Ok(Cut {
            bytes: to - from,
            sha256: crate::crypto::hex(&hash.finalize()),
        })
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
    written: Arc<Mutex<Option<LogHead>>>,
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
        let written = Arc::new(Mutex::new(None));
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
            last: LogHead::empty(),
            known_len: None,
            buffer: Vec::new(),
            written: Arc::clone(&written),
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
            written,
        })
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The sequence number and MAC of the last entry this sink wrote
    /// (in [`Durability::Buffered`] mode, as of the last batch written:
    /// call [`AuditSink::flush`] first); `None` before its first write.
    pub fn head(&self) -> Option<LogHead> {
        self.written
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
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
