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
    /// purpose threshold refuse a blank purpose (only whitespace, control
    /// or invisible characters) or one over 1024 bytes with
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
/// something (not only whitespace, control or invisible formatting
/// characters) and stay short.
pub(crate) fn check_purpose(purpose: &str) -> Result<(), &'static str> {
    if purpose.len() > MAX_PURPOSE_LEN {
        return Err("it is longer than 1024 bytes");
    }
    if purpose.chars().all(is_blank) {
        return Err("it is blank");
    }
    Ok(())
}

/// Characters that show nothing: whitespace, controls, and the invisible
/// format characters (zero-width spaces and joiners, word joiner, BOM, soft
/// hyphen) that would make a purpose look present in a log but say nothing.
fn is_blank(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(c, '\u{00AD}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}')
}

impl fmt::Debug for AccessContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessContext")
            .field("principal", &self.principal)
            .field("purpose", &self.purpose)
            .finish()
    }
}
