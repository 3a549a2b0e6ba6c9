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
///
/// `Debug` names the tier and whether there is a mask, never the mask: a
/// mask is part of the value (the last digits of a card number), sealed at
/// `internal`, and shown only on purpose, with [`Revealed::render`].
#[derive(Clone, PartialEq, Eq)]
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

impl fmt::Debug for Withheld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mask = if self.mask.is_some() {
            "<mask>"
        } else {
            "none"
        };
        write!(f, "Withheld({}, mask: {mask})", self.tier)
    }
}

impl<T> fmt::Debug for Revealed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Revealed::Value(_) => f.write_str("Revealed(<value>)"),
            Revealed::Withheld(withheld) => fmt::Debug::fmt(withheld, f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_neither_value_nor_mask() {
        let masked = Withheld {
            tier: Tier::RESTRICTED,
            mask: Some("****1111".into()),
        };
        let bare = Withheld {
            tier: Tier::RESTRICTED,
            mask: None,
        };
        let value: Revealed<&str> = Revealed::Value("4111111111111111");
        for shown in [
            format!("{masked:?}"),
            format!("{:?}", Revealed::<String>::Withheld(masked.clone())),
            format!("{value:?}"),
        ] {
            assert!(!shown.contains("1111"), "{shown}");
        }
        assert_eq!(format!("{masked:?}"), "Withheld(restricted, mask: <mask>)");
        assert_eq!(format!("{bare:?}"), "Withheld(restricted, mask: none)");
        // Shown on purpose only.
        assert_eq!(Revealed::<String>::Withheld(masked).render(), "****1111");
    }
}
