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
}

impl AccessContext {
    /// Access on behalf of `principal`, with no purpose yet.
    pub fn new(principal: impl Into<String>) -> AccessContext {
        AccessContext {
            principal: principal.into(),
            purpose: None,
        }
    }

    /// The same context with a purpose.
    #[must_use]
    pub fn with_purpose(mut self, purpose: impl Into<String>) -> AccessContext {
        self.purpose = Some(purpose.into());
        self
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

/// Refuses an open of `tier` without a purpose when the tier is at or above
/// the keyring's purpose threshold.
pub(crate) fn require_purpose(
    keyring: &crate::Keyring,
    ctx: &AccessContext,
    tier: &crate::Tier,
) -> Result<(), crate::Error> {
    if tier.level() >= keyring.purpose_threshold() && ctx.purpose().is_none() {
        return Err(crate::Error::PurposeRequired {
            principal: crate::error::shorten(ctx.principal()),
            level: tier.level(),
        });
    }
    Ok(())
}

impl fmt::Debug for AccessContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessContext")
            .field("principal", &self.principal)
            .field("purpose", &self.purpose)
            .finish()
    }
}
