//! Sealing, opening and rewrapping many records or values in one call,
//! spread over threads.
//!
//! Every function here takes a slice and returns one result per element,
//! in the order of the slice: a record that fails (altered, misplaced, a
//! tier the keyring lacks) gets its own error and the others are still
//! sealed or opened. Each element goes through exactly the single-record
//! path ([`Classified::seal`], [`SealedRecord::open_all`],
//! [`SealedValue::seal`], ...), so a batch-sealed record opens one by one
//! and the reverse, every binding holds, and every open is audited as if
//! it had been made alone.
//!
//! With the cargo feature `rayon` (on by default) the slice is split over
//! the rayon thread pool: the global pool, or the one a caller runs the
//! batch in with `rayon::ThreadPool::install`. Each thread takes runs of
//! at least [`MIN_CHUNK`] elements, so that small records are not
//! outweighed by scheduling. Without the feature the same functions run
//! one element after the other on the calling thread; their signatures
//! (and `Send`/`Sync` bounds) are the same either way, so code that
//! compiles without the feature compiles with it.
//!
//! How well a batch scales depends on the application's allocator: every
//! sealed or opened record is allocated on a pool thread. On two cores,
//! with glibc's malloc the two-thread batch measured 1.5–1.7x one thread;
//! with jemalloc, 1.75–2.1x (docs/PERFORMANCE.md, "Batch API"). Services
//! that seal or open in bulk should link jemalloc or mimalloc as their
//! global allocator; tierseal does not choose it for them.
//!
//! ```
//! use tierseal::{AccessContext, Classified, Clearance, KdfProfile, Keystore, Level, batch};
//!
//! #[derive(Classified, Clone, PartialEq)]
//! #[classified(record_id = "id")]
//! struct Payment {
//!     #[classify(public)]
//!     id: String,
//!     #[classify(confidential)]
//!     iban: String,
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let keystore = Keystore::create(dir.path().join("k"), &"pw".into(), KdfProfile::Test)?;
//! let keyring = keystore.keyring(&Clearance::up_to(Level::Confidential))?;
//! let payments: Vec<Payment> = (0..100)
//!     .map(|i| Payment { id: format!("pay_{i}"), iban: format!("DE89370400440532013{i:03}") })
//!     .collect();
//!
//! let sealed: Vec<SealedPayment> = batch::seal_all(&keyring, &payments)
//!     .into_iter()
//!     .collect::<Result<_, _>>()?;
//! let ctx = AccessContext::new("settlement").with_purpose("daily run");
//! let opened = batch::open_all(&keyring, &ctx, &sealed);
//! assert!(opened.iter().zip(&payments).all(|(o, p)| o.as_ref().ok() == Some(p)));
//! # Ok(())
//! # }
//! ```
//!
//! # Threads, randomness and audit
//!
//! The keyring is shared, read-only, by every thread ([`Keyring`] is
//! `Sync`; its audit sink is an `Arc<dyn AuditSink>`, and
//! [`AuditSink`](crate::audit::AuditSink) requires `Send + Sync`). Each
//! record draws its data key and wrap nonce from the operating system, as
//! a single seal does; field nonces come from the calling thread's own
//! generator. Audit events of the threads interleave in the log in the
//! order the sink receives them (not the order of the slice), each chained
//! and signed like any other: [`audit::verify`](crate::audit::verify)
//! passes.
//!
//! A process forked from one whose rayon pool was started by this module
//! has no pool threads: there, these functions run on the calling thread
//! instead of waiting for workers that do not exist. A pool started by
//! other code before the fork is not detected: use a pool created after
//! the fork (`ThreadPool::install`) in a forked child.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{
    AccessContext, Binding, Classified, Error, Keyring, Rewrapped, SealedRecord, SealedToken,
    SealedValue, Tier,
};

/// The fewest elements one thread takes at a time. Sealing one record costs
/// a few microseconds; runs of this many keep the pool's scheduling (well
/// under a microsecond per split) a small share of the work, and still
/// split a batch of a few hundred records over every core.
pub const MIN_CHUNK: usize = 32;

/// The view of the plain type of a sealed record `S`.
type ViewOf<S> = <<S as SealedRecord>::Plain as Classified>::View;

/// Seals every record, each with its own data keys, as
/// [`Classified::seal`] does. Results are in the order of `records`.
///
/// Each result fails alone, with the error a single seal gives
/// ([`Error::NotGranted`] naming the first tier the keyring lacks, ...).
pub fn seal_all<T>(keyring: &Keyring, records: &[T]) -> Vec<Result<T::Sealed, Error>>
where
    T: Classified + Sync,
    T::Sealed: Send,
{
    map(records, |record| record.seal(keyring))
}

/// Opens every field of every record, as [`SealedRecord::open_all`] does
/// (a field whose tier the keyring lacks fails its record with
/// [`Error::NotGranted`]). Results are in the order of `sealed`; every
/// open is audited on the keyring's sink.
pub fn open_all<S>(
    keyring: &Keyring,
    ctx: &AccessContext,
    sealed: &[S],
) -> Vec<Result<S::Plain, Error>>
where
    S: SealedRecord + Sync,
    S::Plain: Send,
{
    map(sealed, |record| record.open_all(keyring, ctx))
}

/// Opens what the keyring may see of every record, as
/// [`SealedRecord::open`] does: fields whose tier it lacks are withheld
/// (with their masks), never an error. Results are in the order of
/// `sealed`.
pub fn open_views<S>(
    keyring: &Keyring,
    ctx: &AccessContext,
    sealed: &[S],
) -> Vec<Result<ViewOf<S>, Error>>
where
    S: SealedRecord + Sync,
    ViewOf<S>: Send,
{
    map(sealed, |record| record.open(keyring, ctx))
}

/// Re-wraps every record's data keys under their tiers' primary versions,
/// in place, as [`SealedRecord::rewrap`] does (one audit event per
/// record). Results are in the order of `sealed`; a record that fails keeps
/// what its single rewrap would have kept.
pub fn rewrap_records<S>(keyring: &Keyring, sealed: &mut [S]) -> Vec<Result<Vec<Rewrapped>, Error>>
where
    S: SealedRecord + Send,
{
    map_mut(sealed, |record| record.rewrap(keyring))
}

/// Seals standalone values at `tier`, each bound to its own [`Binding`],
/// as [`SealedValue::seal`] does (a fresh data key for each). Results are
/// in the order of `items`.
///
/// ```
/// # use tierseal::{AccessContext, Binding, Clearance, KdfProfile, Keystore, Level, Tier, batch};
/// # let dir = tempfile::tempdir()?;
/// # let keystore = Keystore::create(dir.path().join("k"), &"pw".into(), KdfProfile::Test)?;
/// # let keyring = keystore.keyring(&Clearance::up_to(Level::Restricted))?;
/// let rows = [("cus_1", "4111111111111111"), ("cus_2", "5500000000000004")];
/// let items: Vec<(Binding<'_>, &str)> = rows
///     .iter()
///     .map(|(id, pan)| (Binding::new("Customer", "pan").with_record_id(id), *pan))
///     .collect();
/// let sealed = batch::seal_values(&keyring, &Tier::RESTRICTED, &items);
///
/// let ctx = AccessContext::new("batch-job").with_purpose("CHG-12");
/// let to_open: Vec<_> = items.iter().zip(&sealed)
///     .map(|((binding, _), value)| (*binding, value.as_ref().unwrap()))
///     .collect();
/// let opened = batch::open_values::<String>(&keyring, &ctx, &to_open);
/// assert_eq!(opened[1].as_deref().ok(), Some("5500000000000004"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn seal_values<T>(
    keyring: &Keyring,
    tier: &Tier,
    items: &[(Binding<'_>, &T)],
) -> Vec<Result<SealedValue, Error>>
where
    T: Serialize + Sync + ?Sized,
{
    map(items, |(binding, value)| {
        SealedValue::seal(keyring, tier, *binding, *value)
    })
}

/// Opens standalone values, each checked against its own [`Binding`], as
/// [`SealedValue::open`] does (purpose check and audit included). Results
/// are in the order of `items`.
pub fn open_values<T>(
    keyring: &Keyring,
    ctx: &AccessContext,
    items: &[(Binding<'_>, &SealedValue)],
) -> Vec<Result<T, Error>>
where
    T: DeserializeOwned + Send,
{
    map(items, |(binding, value)| value.open(keyring, *binding, ctx))
}

/// Re-wraps the data key of every token under its tier's primary version,
/// in place, as [`SealedToken::rewrap`] does: `Ok(None)` for a record
/// field, which has no key of its own. A token that fails is left as it
/// was. Like the single form, it records no audit event: the caller (the
/// `tierseal rewrap` command) records the run. Results are in the order of
/// `tokens`.
pub fn rewrap_all(
    keyring: &Keyring,
    tokens: &mut [SealedToken],
) -> Vec<Result<Option<Rewrapped>, Error>> {
    map_mut(tokens, |token| token.rewrap(keyring))
}

/// `f` over `items`, results in order: spread over the rayon pool when the
/// feature is on and this process may use it.
pub(crate) fn map<I, O, F>(items: &[I], f: F) -> Vec<O>
where
    I: Sync,
    O: Send,
    F: Fn(&I) -> O + Sync + Send,
{
    #[cfg(feature = "rayon")]
    if parallel::usable(items.len()) {
        use rayon::prelude::*;
        let mut out = Vec::with_capacity(items.len());
        items
            .par_iter()
            .with_min_len(MIN_CHUNK)
            .map(f)
            .collect_into_vec(&mut out);
        return out;
    }
    items.iter().map(f).collect()
}

/// `f` over `items`, mutably, results in order (as [`map`]).
fn map_mut<I, O, F>(items: &mut [I], f: F) -> Vec<O>
where
    I: Send,
    O: Send,
    F: Fn(&mut I) -> O + Sync + Send,
{
    #[cfg(feature = "rayon")]
    if parallel::usable(items.len()) {
        use rayon::prelude::*;
        let mut out = Vec::with_capacity(items.len());
        items
            .par_iter_mut()
            .with_min_len(MIN_CHUNK)
            .map(f)
            .collect_into_vec(&mut out);
        return out;
    }
    items.iter_mut().map(f).collect()
}

#[cfg(feature = "rayon")]
mod parallel {
    use std::sync::OnceLock;

    /// The process that first used the pool from here. A child forked
    /// after that inherits the pool's bookkeeping but none of its threads:
    /// a job sent to it would wait forever.
    static POOL_OWNER: OnceLock<u32> = OnceLock::new();

    /// Whether `len` elements go to the pool: more than one run of
    /// [`MIN_CHUNK`](super::MIN_CHUNK), and not in a forked child of the
    /// process that started the pool.
    pub(super) fn usable(len: usize) -> bool {
        if len <= super::MIN_CHUNK {
            return false;
        }
        if rayon::current_thread_index().is_some() {
            // Already on a pool thread (inside `install` or a rayon job):
            // that pool exists in this process.
            return true;
        }
        let pid = std::process::id();
        *POOL_OWNER.get_or_init(|| pid) == pid
    }
}
