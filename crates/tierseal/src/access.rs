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

    /// The same context with a purpose. Opens at or above the keyring's
    /// purpose threshold refuse a purpose without a letter or digit (blank,
    /// invisible or punctuation only) or one over 1024 bytes with
    /// [`Error::InvalidPurpose`](crate::Error::InvalidPurpose).
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

/// The longest purpose accepted, in bytes: a ticket id or a sentence, not
/// a document (it is written into every audit entry).
pub(crate) const MAX_PURPOSE_LEN: usize = 1024;

/// Authorises opening data of `tier` for `ctx`: the keyring must hold the
/// tier (checked first, so a keyring that cannot see the data is never told
/// it needs a purpose for it), and at or above the keyring's purpose
/// threshold the context must give a real purpose.
pub(crate) fn authorize(
    keyring: &crate::Keyring,
    ctx: &AccessContext,
    tier: &crate::Tier,
) -> Result<(), crate::Error> {
    keyring.require(tier.as_str())?;
    if tier.level() < keyring.purpose_threshold() {
        return Ok(());
    }
    let principal = || crate::error::shorten(ctx.principal());
    match ctx.purpose() {
        None => Err(crate::Error::PurposeRequired {
            principal: principal(),
            level: tier.level(),
        }),
        Some(purpose) => check_purpose(purpose).map_err(|reason| crate::Error::InvalidPurpose {
            principal: principal(),
            level: tier.level(),
            reason,
        }),
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
            .finish()
    }
}
