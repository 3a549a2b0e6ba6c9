//! A keystore held in memory with check-and-set, for the tests that make
//! one handle save while another's view is stale. Included with
//! `#[path = "support/memory_backend.rs"] mod memory_backend;`.

use tierseal::Error;

/// The stored image and its version number.
type Image = Option<(Vec<u8>, u64)>;

/// A keystore held in memory with check-and-set, shared by several
/// handles, so that one handle can save while another's view is stale.
#[derive(Clone, Debug)]
pub(crate) struct Shared {
    location: tierseal::KeystoreLocation,
    stored: std::sync::Arc<std::sync::Mutex<Image>>,
}

impl Shared {
    pub(crate) fn new() -> Shared {
        Shared {
            location: tierseal::KeystoreLocation::File("memory.keystore".into()),
            stored: std::sync::Arc::default(),
        }
    }

    pub(crate) fn handle(&self) -> Box<dyn tierseal::KeystoreBackend> {
        Box::new(self.clone())
    }
}

impl tierseal::KeystoreBackend for Shared {
    fn location(&self) -> &tierseal::KeystoreLocation {
        &self.location
    }

    fn load(&self) -> Result<(Vec<u8>, tierseal::Revision), Error> {
        let stored = self.stored.lock().unwrap();
        let (bytes, version) = stored.clone().expect("created first");
        Ok((bytes, tierseal::Revision::Version(version)))
    }

    fn exists(&self) -> Result<bool, Error> {
        Ok(self.stored.lock().unwrap().is_some())
    }

    fn store(
        &self,
        image: &[u8],
        expected: &tierseal::Revision,
    ) -> Result<tierseal::Stored, Error> {
        let mut stored = self.stored.lock().unwrap();
        let current = match &*stored {
            None => tierseal::Revision::Absent,
            Some((_, version)) => tierseal::Revision::Version(*version),
        };
        if current != *expected {
            return Ok(tierseal::Stored::Conflict);
        }
        let next = stored.as_ref().map_or(1, |(_, version)| version + 1);
        *stored = Some((image.to_vec(), next));
        Ok(tierseal::Stored::Saved(tierseal::Revision::Version(next)))
    }
}
