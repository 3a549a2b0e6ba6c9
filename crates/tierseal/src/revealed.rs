//! What an opened field shows: its value, or that it is withheld.

use std::fmt;

use crate::{Level, Tier};

/// One field of a partially opened record.
///
/// `Debug` never prints the value: a view logged by accident leaks nothing.
#[derive(Clone, PartialEq, Eq)]
pub enum Revealed<T> {
    /// The keyring could open the field.
    Value(T),
    /// The keyring lacks the field's tier.
    Withheld(Withheld),
}

/// Why a field is withheld, and what may be shown instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Withheld {
    /// The tier whose key (or, for a tier that needs one, break-glass
    /// approval) was missing.
    pub tier: Tier,
    /// The field's mask, computed at seal time, if one was declared and
    /// the keyring holds `internal` (the tier masks are sealed at).
    pub mask: Option<String>,
}

impl<T> Revealed<T> {
    /// The value, if revealed.
    pub fn value(&self) -> Option<&T> {
        match self {
            Revealed::Value(value) => Some(value),
            Revealed::Withheld(_) => None,
        }
    }

    /// The value, if revealed.
    pub fn into_value(self) -> Option<T> {
        match self {
            Revealed::Value(value) => Some(value),
            Revealed::Withheld(_) => None,
        }
    }

    /// Whether the field is withheld.
    pub fn is_withheld(&self) -> bool {
        matches!(self, Revealed::Withheld(_))
    }

    /// The mask of a withheld field, if it has one.
    pub fn mask(&self) -> Option<&str> {
        match self {
            Revealed::Withheld(withheld) => withheld.mask.as_deref(),
            Revealed::Value(_) => None,
        }
    }

    /// The level of a withheld field.
    pub fn withheld_level(&self) -> Option<Level> {
        match self {
            Revealed::Withheld(withheld) => Some(withheld.tier.level()),
            Revealed::Value(_) => None,
        }
    }
}

impl<T: fmt::Display> Revealed<T> {
    /// Text for a screen the caller is entitled to: the value when revealed,
    /// else the mask, else `<withheld: LEVEL>`. (Deliberately not
    /// `Display`: showing a value is an explicit act.)
    pub fn render(&self) -> String {
        match self {
            Revealed::Value(value) => value.to_string(),
            Revealed::Withheld(Withheld {
                mask: Some(mask), ..
            }) => mask.clone(),
            Revealed::Withheld(Withheld { tier, mask: None }) => {
                format!("<withheld: {}>", tier.level())
            }
        }
    }
}

impl<T> fmt::Debug for Revealed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Revealed::Value(_) => f.write_str("Revealed(<value>)"),
            Revealed::Withheld(withheld) => {
                write!(f, "Withheld({}, mask: {:?})", withheld.tier, withheld.mask)
            }
        }
    }
}
