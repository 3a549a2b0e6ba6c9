//! Sealing, opening and rewrapping one standalone value.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::format::{self, Kind, Token, Version};
use super::{Binding, Rewrapped, SealedValue};
use crate::audit::Action;
use crate::audit::trail::Trail;
use crate::{AccessContext, Error, Keyring, Tier};

impl SealedValue {
    /// Seals `value` at `tier`, bound to `binding`, under a fresh data key
    /// wrapped by the tier's primary key version.
    ///
    /// # Errors
    /// [`Error::NotGranted`] when the keyring lacks `tier`;
    /// [`Error::Encoding`] when `value` cannot be serialized.
    ///
    /// ```
    /// use tierseal::{AccessContext, Binding, Clearance, KdfProfile, Keystore, Level, SealedValue, Tier};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let keystore = Keystore::create(
    ///     dir.path().join("demo.keystore"),
    ///     &"correct horse".into(),
    ///     KdfProfile::Test,
    /// )?;
    /// let keyring = keystore.keyring(&Clearance::up_to(Level::Restricted))?;
    ///
    /// let ctx = AccessContext::new("kyc-service").with_purpose("KYC-7");
    /// let binding = Binding::new("Customer", "tax_id").with_record_id("cus_042");
    /// let sealed = SealedValue::seal(&keyring, &Tier::RESTRICTED, binding, "123-45-6789")?;
    /// let opened: String = sealed.open(&keyring, binding, &ctx)?;
    /// assert_eq!(opened, "123-45-6789");
    ///
    /// // Bound to its field: the same bytes do not open as another field.
    /// let elsewhere = binding.for_field("notes");
    /// assert!(sealed.open::<String>(&keyring, elsewhere, &ctx).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn seal<T: Serialize + ?Sized>(
        keyring: &Keyring,
        tier: &Tier,
        binding: Binding<'_>,
        value: &T,
    ) -> Result<SealedValue, Error> {
        SealedValue::seal_as(format::WRITE_VERSION, keyring, tier, binding, value)
    }

    /// Seals as format `version` (the test vectors of older versions are
    /// reproduced through this).
    pub(crate) fn seal_as<T: Serialize + ?Sized>(
        version: Version,
        keyring: &Keyring,
        tier: &Tier,
        binding: Binding<'_>,
        value: &T,
    ) -> Result<SealedValue, Error> {
        let encoded_len = super::encoded_len(value)?;
        let mut aad = Vec::with_capacity(64 + binding.type_name().len() + binding.field().len());
        if let Some(public) = keyring.public_key(tier.as_str()) {
            // A seal-only keyring: the data key is sealed to the tier's
            // public key (kind 5, format version 3 or later).
            if !version.names_slots() {
                return Err(Error::InvalidParameter {
                    what: "value",
                    reason: "a seal-only keyring seals values of format version 3 or later only",
                });
            }
            let mut out = Vec::with_capacity(
                format::header_len(tier.as_str())
                    + format::public_wrap_len(public.key.suite())
                    + super::FIELD_OVERHEAD
                    + encoded_len,
            );
            format::write_header(&mut out, version, Kind::PublicValue, tier.as_str());
            let cipher = super::public_wrap::new_data_key(public, version, &mut out)?;
            format::field_aad(&mut aad, version, tier.as_str(), &binding)?;
            super::seal_field_into(&cipher, &aad, value, encoded_len, &mut out)?;
            return Ok(SealedValue::from_valid_bytes(out));
        }
        let keys = keyring.require(tier.as_str())?;
        let mut out = Vec::with_capacity(
            format::header_len(tier.as_str())
                + format::WRAPPED_PART_LEN
                + super::FIELD_OVERHEAD
                + encoded_len,
        );
        format::write_header(&mut out, version, Kind::Value, tier.as_str());
        let (cipher, _) = super::new_data_key(keys, version, &mut out)?;
        format::field_aad(&mut aad, version, tier.as_str(), &binding)?;
        super::seal_field_into(&cipher, &aad, value, encoded_len, &mut out)?;
        Ok(SealedValue::from_valid_bytes(out))
    }

    /// Opens the value for `ctx`, checking that it was sealed for
    /// `binding`. The open is refused without a purpose at or above the
    /// keyring's purpose threshold, and recorded when the keyring has an
    /// audit sink (nothing is returned if the record cannot be written).
    ///
    /// # Errors
    /// [`Error::NotGranted`] when the keyring lacks the tier;
    /// [`Error::PurposeRequired`] or [`Error::InvalidPurpose`];
    /// [`Error::KeyRetired`] or
    /// [`Error::UnknownKeyVersion`] when the key version is gone or
    /// unknown; [`Error::Integrity`] when the value was altered or moved,
    /// naming the key tried.
    pub fn open<T: DeserializeOwned>(
        &self,
        keyring: &Keyring,
        binding: Binding<'_>,
        ctx: &AccessContext,
    ) -> Result<T, Error> {
        // One parse of the header serves the purpose check, the audit
        // record and the decryption; the keyring's own `Tier` avoids an
        // allocation for compartmented tiers.
        let token = self.token();
        let parsed;
        let tier: &Tier = match keyring.find(token.tier) {
            Some(keys) => &keys.tier,
            None => {
                parsed = token
                    .tier
                    .parse::<Tier>()
                    .map_err(|_| Error::malformed("the tier name in the header is invalid"))?;
                &parsed
            }
        };
        let mut approval = None;
        let result = crate::access::authorize(keyring, ctx, tier).and_then(|used| {
            approval = used;
            decrypt(keyring, &token, binding)
        });
        if let Some(mut trail) = Trail::start(keyring, Action::Open, &binding) {
            if let Some(approval) = approval {
                trail.approved(approval);
            }
            let version = token.key_version();
            trail.opened(binding.field(), tier, version, &result);
            trail.send(keyring, Some(ctx))?;
        }
        result
    }

    /// The tier key version that wraps this value's data key.
    pub fn key_version(&self) -> u32 {
        self.token().key_version().unwrap_or(0)
    }

    /// Re-wraps the data key under the tier's primary version. The field
    /// ciphertext is neither decrypted nor changed, so the value keeps its
    /// format version: a version-1 value's field is bound to version 1, and
    /// only opening and sealing it again moves it to the current version.
    ///
    /// # Errors
    /// As [`open`](Self::open), for the version the key is wrapped under.
    pub fn rewrap(&mut self, keyring: &Keyring) -> Result<Rewrapped, Error> {
        super::rewrap_token(keyring, self.bytes_mut(), Kind::Value)
    }
}

/// Decrypts a parsed sealed value bound to `binding`.
fn decrypt<T: DeserializeOwned>(
    keyring: &Keyring,
    token: &Token<'_>,
    binding: Binding<'_>,
) -> Result<T, Error> {
    let Some(field) = token.field else {
        return Err(Error::malformed("sealed value without key or field"));
    };
    let (cipher, tier, key_version) = match (token.wrapped_key, token.public_wrap) {
        (Some(wrapped), _) => {
            let (cipher, tier) =
                super::open_data_key(keyring, token.version, token.tier, &wrapped)?;
            (cipher, tier, wrapped.key_version)
        }
        (None, Some(wrap)) => {
            let (cipher, tier) =
                super::public_wrap::open_data_key(keyring, token.version, token.tier, &wrap)?;
            (cipher, tier, wrap.key_version)
        }
        (None, None) => return Err(Error::malformed("sealed value without key or field")),
    };
    let mut aad = Vec::with_capacity(64 + binding.type_name().len() + binding.field().len());
    format::field_aad(&mut aad, token.version, token.tier, &binding)?;
    let mut plaintext = super::PlaintextBuf::default();
    super::open_field(&cipher, &aad, &field, &mut plaintext, (tier, key_version))
}
