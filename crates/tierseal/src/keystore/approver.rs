//! The keystore's approver key and break-glass approvals (issue 13).
//!
//! The approver key is an Ed25519 signing key whose 32-byte seed is stored
//! in the body wrapped under the master key, like the audit key. Only a
//! custodian who unlocks the keystore can sign approvals; services verify
//! them against its public half, [`ApproverKey`], which grants carry.

use std::time::SystemTime;

use ed25519_dalek::SigningKey;

use super::{APPROVER_KEY_AAD, Keystore, wrap_under};
use crate::crypto::KeyMaterial;
use crate::grant::ApprovalRequirement;
use crate::{Approval, ApproverKey, Clearance, Error, GrantSecret, Tier};

impl Keystore {
    /// The approver signing key, if this keystore has one yet (a keystore
    /// created before format version 3 gets one on its first approval).
    pub(super) fn approver_signing_key(&self) -> Result<Option<SigningKey>, Error> {
        let Some(wrapped) = &self.body.approver_key else {
            return Ok(None);
        };
        let seed = self.unwrap_under_master(
            wrapped,
            APPROVER_KEY_AAD,
            "the approver key does not authenticate",
        )?;
        Ok(Some(crate::approval::signing_key(&seed)))
    }

    /// The public key that this keystore's approvals verify under, or
    /// `None` for a keystore made before approvals existed that has not
    /// issued one yet ([`ensure_approver_key`](Self::ensure_approver_key)
    /// creates it).
    ///
    /// # Errors
    /// [`Error::KeystoreCorrupt`] when the stored key does not authenticate.
    pub fn approver_key(&self) -> Result<Option<ApproverKey>, Error> {
        Ok(self
            .approver_signing_key()?
            .map(|key| ApproverKey::of(&key)))
    }

    /// The approver public key, created (and saved) first if the keystore
    /// has none.
    ///
    /// # Errors
    /// As [`approver_key`](Self::approver_key), [`Error::Randomness`], or
    /// an error saving the file.
    pub fn ensure_approver_key(&mut self) -> Result<ApproverKey, Error> {
        Ok(ApproverKey::of(&self.ensure_signing_key()?))
    }

    fn ensure_signing_key(&mut self) -> Result<SigningKey, Error> {
        if let Some(key) = self.approver_signing_key()? {
            return Ok(key);
        }
        let seed = KeyMaterial::generate()?;
        let wrapped = wrap_under(self.root.cipher(), &seed, APPROVER_KEY_AAD)?;
        // Re-applied on a keystore another custodian changed meanwhile:
        // a key they created first is kept, and ours is dropped.
        self.update(|_, body| {
            if body.approver_key.is_none() {
                body.approver_key = Some(wrapped.clone());
            }
            Ok(())
        })?;
        match self.approver_signing_key()? {
            Some(key) => Ok(key),
            None => Ok(crate::approval::signing_key(&seed)),
        }
    }

    /// Signs a break-glass approval: `approver` (the custodian approving,
    /// named in the statement and in the audit events of the opens it
    /// allows) lets `requester` open `tier` for exactly `purpose` until
    /// `expires_at` (at most [`MAX_APPROVAL_LIFETIME_SECS`](crate::MAX_APPROVAL_LIFETIME_SECS)
    /// ahead). Creates the approver key first if the keystore has none.
    ///
    /// # Errors
    /// [`Error::UnknownTier`] for a tier the keystore does not have;
    /// [`Error::InvalidParameter`] for a blank approver, an approver who is
    /// the requester, a purpose without a letter or digit, or an expiry in
    /// the past or too far ahead; [`Error::ReservedPrincipal`] for a
    /// reserved requester; or an error saving the file.
    pub fn approve(
        &mut self,
        approver: &str,
        requester: &str,
        tier: &Tier,
        purpose: &str,
        expires_at: SystemTime,
    ) -> Result<Approval, Error> {
        self.record(tier)?;
        let key = self.ensure_signing_key()?;
        Approval::sign(&key, approver, requester, tier, purpose, expires_at)
    }

    /// As [`issue_grant`](Self::issue_grant), with opens of each tier in
    /// `approval_tiers` needing a break-glass approval signed by this
    /// keystore's approver key: the grant carries the requirement and the
    /// approver public key in its authenticated header, and the keyring
    /// loaded from it enforces them. Creates the approver key first if the
    /// keystore has none.
    ///
    /// # Errors
    /// As [`issue_grant`](Self::issue_grant); [`Error::InvalidParameter`]
    /// when a tier of `approval_tiers` is not in `clearance`.
    pub fn issue_grant_requiring_approval(
        &mut self,
        clearance: &Clearance,
        principal: &str,
        expires_at: SystemTime,
        approval_tiers: &[Tier],
    ) -> Result<(Vec<u8>, GrantSecret), Error> {
        self.issue_grant_scoped(
            clearance,
            &Clearance::none(),
            principal,
            expires_at,
            approval_tiers,
        )
    }

    /// Writes a grant that opens the tiers of `clearance`, computes the
    /// blind indexes of the tiers of `clearance` and `search` (search-only
    /// for tiers only in `search`), and opens the tiers of
    /// `approval_tiers` only with a break-glass approval.
    ///
    /// # Errors
    /// As [`issue_grant_requiring_approval`](Self::issue_grant_requiring_approval)
    /// and [`issue_grant_with_search`](Self::issue_grant_with_search).
    pub fn issue_grant_scoped(
        &mut self,
        clearance: &Clearance,
        search: &Clearance,
        principal: &str,
        expires_at: SystemTime,
        approval_tiers: &[Tier],
    ) -> Result<(Vec<u8>, GrantSecret), Error> {
        if approval_tiers.iter().any(|tier| !clearance.allows(tier)) {
            return Err(Error::InvalidParameter {
                what: "approval requirement",
                reason: "names a tier the grant does not include",
            });
        }
        let requirements = if approval_tiers.is_empty() {
            Vec::new()
        } else {
            crate::grant::check_principal(principal)?;
            let approver = self.ensure_approver_key()?;
            approval_tiers
                .iter()
                .map(|tier| ApprovalRequirement {
                    tier: tier.clone(),
                    approver,
                })
                .collect()
        };
        let keyring = self.keyring_with_search(clearance, search)?;
        self.issue_grant_from(&keyring, principal, expires_at, requirements)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use base64::Engine as _;

    use super::*;
    use crate::{AccessContext, Binding, KdfProfile, SealedValue};

    /// The forms in which key bytes could leak into text.
    fn forms(secret: &[u8]) -> Vec<String> {
        let hex = crate::crypto::hex(secret);
        vec![
            hex.to_uppercase(),
            hex,
            format!("{secret:?}"),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret),
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(secret),
        ]
    }

    #[test]
    fn no_approval_key_or_error_text_shows_the_approver_signing_key() {
        let dir = tempfile::tempdir().unwrap();
        let mut keystore =
            Keystore::create(dir.path().join("k"), &"pw".into(), KdfProfile::Test).unwrap();
        let seed = keystore
            .approver_signing_key()
            .unwrap()
            .unwrap()
            .to_bytes()
            .to_vec();
        let expires = SystemTime::now() + Duration::from_secs(600);
        let approval = keystore
            .approve("alice", "svc", &Tier::RESTRICTED, "INC-1", expires)
            .unwrap();
        let key = keystore.approver_key().unwrap().unwrap();
        let keyring = keystore
            .keyring(&Clearance::up_to(crate::Level::Restricted))
            .unwrap()
            .require_approval(Tier::RESTRICTED, key);
        let binding = Binding::new("Customer", "pan");
        let sealed = SealedValue::seal(&keyring, &Tier::RESTRICTED, binding, "4111").unwrap();

        let mut texts = vec![
            format!("{approval:?}"),
            format!("{approval}"),
            approval.to_text(),
            format!("{key:?}"),
            format!("{key}"),
            format!("{keyring:?}"),
            format!("{keystore:?}"),
        ];
        let contexts = [
            AccessContext::new("svc").with_purpose("INC-1"),
            AccessContext::new("svc")
                .with_purpose("INC-2")
                .with_approval(approval.clone()),
            AccessContext::new("other")
                .with_purpose("INC-1")
                .with_approval(approval.clone()),
        ];
        for ctx in &contexts {
            texts.push(format!("{ctx:?}"));
            let error = sealed.open::<String>(&keyring, binding, ctx).unwrap_err();
            texts.push(format!("{error:?}"));
            texts.push(error.to_string());
        }
        let mut bytes = approval.to_bytes();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = Approval::from_bytes(&bytes).unwrap();
        let error = tampered
            .verify_at(
                &key,
                "svc",
                &Tier::RESTRICTED,
                Some("INC-1"),
                SystemTime::now(),
            )
            .unwrap_err();
        assert_eq!(error.kind(), "approval-invalid");
        texts.push(format!("{error:?}"));
        texts.push(error.to_string());

        for text in &texts {
            for form in forms(&seed) {
                assert!(!text.contains(&form), "the approver key leaked in {text}");
            }
        }
        // The formatted approval still says what it is.
        assert!(texts[0].contains(&approval.id().to_string()));
        assert!(texts[1].contains("alice") && texts[1].contains("restricted"));
    }
}
