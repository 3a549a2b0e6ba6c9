//! What the fuzz targets share: a fixed keystore and the keyrings, audit
//! key and grant secret taken from it, the input framing, and the shapes
//! that decrypted bytes are decoded as.
//!
//! The keystore is a committed file (`fixtures/fuzz.keystore`, cheap test
//! KDF profile, passphrase [`PASSPHRASE`]) so that the committed corpus,
//! whose tokens were sealed under it, opens on every run: a mutated token
//! then reaches the key unwrap and the field decryption with the right tier
//! and version, not only the layout parser.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde::ser::SerializeTuple;
use serde::{Deserialize, Serialize, Serializer};
use tierseal::audit::{AuditEvent, AuditKey, AuditSink};
use tierseal::{
    AccessContext, Binding, Clearance, Error, Keyring, Keystore, Level, PackedEntry, Tier,
};

/// The fixture keystore's passphrase.
pub const PASSPHRASE: &str = "fuzz";
/// The binding every seed value was sealed for.
pub const BINDING: Binding<'static> =
    Binding::new("Customer", "card_number").with_record_id("cus_042");
/// The field ids the seed records use.
pub const FIELD_IDS: [&str; 3] = ["name", "balance", "card_number"];
/// The packed parts the seeds seal and the targets open parts as: a tier
/// and its entries.
pub const PACKED_LAYOUTS: [(&str, &[PackedEntry<'static>]); 2] = [
    (
        "internal",
        &[PackedEntry::mask("card_number"), PackedEntry::value("name")],
    ),
    (
        CARDS,
        &[
            PackedEntry::value("balance"),
            PackedEntry::value("card_number"),
        ],
    ),
];
/// The compartment tier the fixture adds.
pub const CARDS: &str = "restricted/cards";

/// The committed fixture keystore.
pub fn keystore_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/fuzz.keystore")
}

/// Everything the targets need from the fixture keystore.
pub struct Fixture {
    /// Every tier, with a discarding audit sink (so audited paths run).
    pub keyring: Keyring,
    /// Only `internal`: opening anything else is withheld or refused.
    pub narrow: Keyring,
    /// The root audit key, which verifies any writer's entries.
    pub audit_key: AuditKey,
    /// Where per-run scratch files go.
    pub scratch: tempfile::TempDir,
}

/// The fixture, opened once per process.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        // A copy: opening takes a lock file beside the keystore.
        let scratch = scratch_dir().expect("scratch folder");
        let path = scratch.path().join("fuzz.keystore");
        std::fs::copy(keystore_path(), &path).expect("copy the fixture keystore");
        let keystore = Keystore::open(&path, &PASSPHRASE.into()).expect("open the fixture");
        let keyring = keystore
            .keyring(&full_clearance())
            .expect("keyring")
            .with_audit(Arc::new(Discard));
        let narrow = keystore
            .keyring(&Clearance::up_to(Level::Internal))
            .expect("keyring");
        let audit_key = keystore.audit_key().expect("audit key");
        Fixture {
            keyring,
            narrow,
            audit_key,
            scratch,
        }
    })
}

/// A scratch folder in memory where there is one: the audit and keystore
/// targets write their input to a file per run (the public entry points
/// take paths), and on a busy disk that write costs more than the parsing.
fn scratch_dir() -> std::io::Result<tempfile::TempDir> {
    let shm = Path::new("/dev/shm");
    if std::env::var_os("TMPDIR").is_none()
        && shm.is_dir()
        && let Ok(dir) = tempfile::tempdir_in(shm)
    {
        return Ok(dir);
    }
    tempfile::tempdir()
}

/// Every tier of the fixture keystore.
pub fn full_clearance() -> Clearance {
    Clearance::up_to(Level::Restricted).with(cards())
}

/// The fixture's compartment tier.
pub fn cards() -> Tier {
    CARDS.parse().expect("valid tier")
}

/// An access context with a purpose, so the purpose rule never hides the
/// decryption path.
pub fn context() -> AccessContext {
    AccessContext::new("fuzz").with_purpose("FUZZ-1")
}

/// An audit sink that serializes each event (as the file sink would) and
/// drops it.
struct Discard;

impl AuditSink for Discard {
    fn record(&self, event: AuditEvent) -> Result<(), Error> {
        let json = serde_json::to_vec(&event).expect("an event serializes");
        // Times are logged to the millisecond, so compare the logged form.
        let back: AuditEvent = serde_json::from_slice(&json).expect("an event parses back");
        let again = serde_json::to_vec(&back).expect("an event serializes");
        assert_eq!(again, json, "an audit event must survive its JSON form");
        Ok(())
    }
}

/// Splits fuzzer input into length-prefixed chunks (`u16be` length, then
/// that many bytes; a short last chunk takes what is left), so that one
/// input can carry several tokens. [`frame`] writes the same framing.
pub fn chunks(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let [a, b, rest @ ..] = data {
        let len = usize::from(u16::from_be_bytes([*a, *b])).min(rest.len());
        let (chunk, tail) = rest.split_at(len);
        out.push(chunk);
        data = tail;
    }
    out
}

/// Frames `parts` as [`chunks`] reads them.
pub fn frame(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts {
        let len = u16::try_from(part.len()).expect("seed parts are small");
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// Bytes that serialize as themselves: postcard writes a tuple of `u8` as
/// the raw bytes, with no length prefix. Sealing one puts fuzzer-chosen
/// plaintext behind a valid tag, so opening it drives the decoder.
pub struct Raw<'a>(pub &'a [u8]);

impl Serialize for Raw<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut tuple = serializer.serialize_tuple(self.0.len())?;
        for byte in self.0 {
            tuple.serialize_element(byte)?;
        }
        tuple.end()
    }
}

/// A record shape with every kind of serde value, to decode plaintext as.
#[derive(Debug, Deserialize, Serialize, PartialEq)]
pub struct Shape {
    /// A string.
    pub name: String,
    /// A signed integer.
    pub amount: i64,
    /// A sequence.
    pub tags: Vec<String>,
    /// An option.
    pub note: Option<String>,
    /// An enum.
    pub kind: Kind,
    /// A byte buffer.
    pub bytes: Vec<u8>,
    /// A float.
    pub ratio: f64,
    /// A char.
    pub initial: char,
    /// A map.
    pub limits: BTreeMap<String, u32>,
    /// A wide integer.
    pub id: u128,
}

/// An enum with every variant shape.
#[derive(Debug, Deserialize, Serialize, PartialEq)]
pub enum Kind {
    /// Unit.
    Card,
    /// Newtype.
    Account(String),
    /// Tuple.
    Pair(u8, i16),
    /// Struct.
    Named {
        /// A field.
        iban: String,
    },
}

/// Evaluates `$body` once for each type a sealed value is commonly read
/// as, with `$t` naming that type: `for_each_shape!(|T| value.open::<T>(..))`.
/// None may panic; which ones succeed depends on the bytes.
#[macro_export]
macro_rules! for_each_shape {
    (|$t:ident| $body:expr) => {{
        {
            type $t = String;
            let _ = $body;
        }
        {
            type $t = u64;
            let _ = $body;
        }
        {
            type $t = i64;
            let _ = $body;
        }
        {
            type $t = bool;
            let _ = $body;
        }
        {
            type $t = f32;
            let _ = $body;
        }
        {
            type $t = Vec<String>;
            let _ = $body;
        }
        {
            type $t = Option<Vec<u8>>;
            let _ = $body;
        }
        {
            type $t = (u16, char);
            let _ = $body;
        }
        {
            type $t = $crate::Shape;
            let _ = $body;
        }
        {
            type $t = Vec<$crate::Kind>;
            let _ = $body;
        }
        {
            type $t = ::std::collections::BTreeMap<String, $crate::Shape>;
            let _ = $body;
        }
    }};
}
