//! Who is opening data, and why.

use std::fmt;

/// The principal (a service or a person) on whose behalf data is opened,
/// and the purpose (a ticket id or a reason).
///
/// ```
/// use tierseal::AccessContext;
///
/// let ctx = AccessContext::new("support-portal").with_purpose("TICKET-4711");
/// assert_eq!(ctx.principal(), "support-portal");
/// assert_eq!(ctx.purpose(), Some("TICKET-4711"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct AccessContext {
    principal: String,
    purpose: Option<String>,
    approvals: Vec<crate::Approval>,
}

impl AccessContext {
    /// Access on behalf of `principal`, with no purpose yet.
    pub fn new(principal: impl Into<String>) -> AccessContext {
        AccessContext {
            principal: principal.into(),
            purpose: None,
            approvals: Vec::new(),
        }
    }

    /// The same context with a purpose. Opens at or above the keyring's
    /// purpose threshold refuse a purpose without a letter or digit (blank,
    /// invisible or punctuation only) or one over 1024 bytes with
    /// [`Error::InvalidPurpose`](crate::Error::InvalidPurpose).
    #[must_use]
    pub fn with_purpose(mut self, purpose: impl Into<String>) -> AccessContext {
        self.purpose = Some(purpose.into());
        self
    }

    /// The same context carrying a break-glass `approval` (repeatable: one
    /// per tier that needs one). A keyring that
    /// [requires approvals](crate::Keyring::require_approval) for a tier
    /// opens it only with an approval that verifies under its approver key
    /// and names this context's principal, the tier, and this context's
    /// purpose exactly, before it expires.
    #[must_use]
    pub fn with_approval(mut self, approval: crate::Approval) -> AccessContext {
        self.approvals.push(approval);
        self
    }

    /// The approvals attached.
    pub fn approvals(&self) -> &[crate::Approval] {
        &self.approvals
    }

    /// Who is opening.
    pub fn principal(&self) -> &str {
        &self.principal
    }

    /// Why, if said.
    pub fn purpose(&self) -> Option<&str> {
        self.purpose.as_deref()
    }
}

/// The longest purpose accepted, in bytes: a ticket id or a sentence, not
/// a document (it is written into every audit entry).
pub(crate) const MAX_PURPOSE_LEN: usize = 1024;

/// Authorises opening data of `tier` for `ctx`: the keyring must hold the
/// tier (checked first, so a keyring that cannot see the data is never told
/// it needs a purpose for it), at or above the keyring's purpose
/// threshold the context must give a real purpose, and for a tier that
/// needs an approval the context must carry a valid one, which is returned
/// (for the audit event). Called before any data key is unwrapped.
pub(crate) fn authorize<'c>(
    keyring: &crate::Keyring,
    ctx: &'c AccessContext,
    tier: &crate::Tier,
) -> Result<Option<&'c crate::Approval>, crate::Error> {
    keyring.require(tier.as_str())?;
    if tier.level() >= keyring.purpose_threshold() {
        let principal = || crate::error::shorten(ctx.principal());
        match ctx.purpose() {
            None => {
                return Err(crate::Error::PurposeRequired {
                    principal: principal(),
                    level: tier.level(),
                });
            }
            Some(purpose) => {
                check_purpose(purpose).map_err(|reason| crate::Error::InvalidPurpose {
                    principal: principal(),
                    level: tier.level(),
                    reason,
                })?;
            }
        }
    }
    match keyring.approval_requirement(tier) {
        None => Ok(None),
        Some(key) => {
            let now = crate::keystore::unix_seconds(std::time::SystemTime::now());
            crate::approval::find(ctx, key, tier, now).map(Some)
        }
    }
}

/// Why `purpose` cannot justify an access, if it cannot: it must say
/// something — at least one letter or digit — and stay short. Requiring a
/// visible letter or digit (rather than listing what is invisible) leaves
/// no way through for whitespace, controls, format characters (zero-width,
/// bidi isolates, tags), variation selectors or blank symbols.
pub(crate) fn check_purpose(purpose: &str) -> Result<(), &'static str> {
    if purpose.len() > MAX_PURPOSE_LEN {
        return Err("it is longer than 1024 bytes");
    }
    if !purpose.chars().any(says_something) {
        return Err("it has no letter or digit");
    }
    Ok(())
}

/// A letter or digit, except the Hangul fillers: letters by their Unicode
/// category that render as nothing.
fn says_something(c: char) -> bool {
    c.is_alphanumeric() && !matches!(c, '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}')
}

impl fmt::Debug for AccessContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessContext")
            .field("principal", &self.principal)
            .field("purpose", &self.purpose)
            .field("approvals", &self.approvals)
            .finish()
    }
}
