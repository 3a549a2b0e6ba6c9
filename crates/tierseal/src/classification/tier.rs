//! Tiers: the unit that owns a key.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Level;
use crate::Error;

/// The longest compartment name accepted.
pub const MAX_COMPARTMENT_LEN: usize = 32;

/// A sensitivity level, optionally narrowed to a need-to-know compartment.
///
/// Each tier has its own key, so a keyring cleared for `restricted/cards`
/// cannot read `confidential/payroll`. A tier is written `restricted` or
/// `restricted/cards`; compartment names are 1 to 32 characters of
/// `[a-z0-9-]`. `Public` has no tier: public values are never encrypted.
///
/// ```
/// use tierseal::{Level, Tier};
///
/// let cards: Tier = "restricted/cards".parse()?;
/// assert_eq!(cards.level(), Level::Restricted);
/// assert_eq!(cards.compartment(), Some("cards"));
/// assert_eq!(Tier::RESTRICTED.with_compartment("cards")?, cards);
/// assert!("public".parse::<Tier>().is_err());
/// # Ok::<(), tierseal::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tier {
    // Field order matters: tiers sort by level first, then by name.
    level: Level,
    /// The canonical text form, kept so that hot paths compare bytes.
    name: Cow<'static, str>,
}

impl Tier {
    /// The uncompartmented `internal` tier.
    pub const INTERNAL: Tier = Tier::uncompartmented(Level::Internal);
    /// The uncompartmented `confidential` tier.
    pub const CONFIDENTIAL: Tier = Tier::uncompartmented(Level::Confidential);
    /// The uncompartmented `restricted` tier.
    pub const RESTRICTED: Tier = Tier::uncompartmented(Level::Restricted);

    const fn uncompartmented(level: Level) -> Tier {
        Tier {
            level,
            name: Cow::Borrowed(level.as_str()),
        }
    }

    /// The tier for `level` in an optional compartment.
    ///
    /// # Errors
    /// [`Error::InvalidTier`] when `level` is `Public` or the compartment
    /// name is not 1 to 32 characters of `[a-z0-9-]`.
    pub fn new(level: Level, compartment: Option<&str>) -> Result<Tier, Error> {
        let base = Tier::for_level(level)?;
        match compartment {
            None => Ok(base),
            Some(compartment) => base.with_compartment(compartment),
        }
    }

    /// The uncompartmented tier of `level`.
    ///
    /// # Errors
    /// [`Error::InvalidTier`] for `Public`, which is never encrypted.
    pub fn for_level(level: Level) -> Result<Tier, Error> {
        if level.is_encrypted() {
            Ok(Tier::uncompartmented(level))
        } else {
            Err(Error::InvalidTier {
                name: level.as_str().to_owned(),
                reason: "public data is never encrypted, so it has no tier",
            })
        }
    }

    /// This tier's level narrowed to `compartment`.
    ///
    /// # Errors
    /// [`Error::InvalidTier`] when the name is not 1 to 32 characters of
    /// `[a-z0-9-]`, or this tier already has a compartment.
    pub fn with_compartment(&self, compartment: &str) -> Result<Tier, Error> {
        let name = format!("{}/{compartment}", self.level);
        if self.compartment().is_some() {
            return Err(Error::InvalidTier {
                name: crate::error::shorten(&name),
                reason: "a tier has at most one compartment",
            });
        }
        validate_compartment(compartment).map_err(|reason| Error::InvalidTier {
            name: crate::error::shorten(&name),
            reason,
        })?;
        Ok(Tier {
            level: self.level,
            name: Cow::Owned(name),
        })
    }

    /// The sensitivity level.
    pub fn level(&self) -> Level {
        self.level
    }

    /// The compartment, if the tier is narrowed to one.
    pub fn compartment(&self) -> Option<&str> {
        self.name
            .split_once('/')
            .map(|(_, compartment)| compartment)
    }

    /// The canonical text form: `restricted` or `restricted/cards`.
    pub fn as_str(&self) -> &str {
        &self.name
    }
}

fn validate_compartment(compartment: &str) -> Result<(), &'static str> {
    if compartment.is_empty() {
        return Err("the compartment name is empty");
    }
    if compartment.len() > MAX_COMPARTMENT_LEN {
        return Err("the compartment name is longer than 32 characters");
    }
    if !compartment
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err("a compartment name may use only a-z, 0-9 and '-'");
    }
    Ok(())
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl fmt::Debug for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tier({})", self.name)
    }
}

impl FromStr for Tier {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (level, compartment) = match s.split_once('/') {
            Some((level, compartment)) => (level, Some(compartment)),
            None => (s, None),
        };
        let level = level.parse::<Level>().map_err(|_| Error::InvalidTier {
            name: crate::error::shorten(s),
            reason: "a tier starts with internal, confidential or restricted",
        })?;
        Tier::new(level, compartment)
    }
}

impl Serialize for Tier {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.name)
    }
}

impl<'de> Deserialize<'de> for Tier {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Cow::<'de, str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_compartmented_tiers() {
        let tier: Tier = "confidential".parse().unwrap();
        assert_eq!(tier, Tier::CONFIDENTIAL);
        assert_eq!(tier.compartment(), None);

        let tier: Tier = "restricted/cards-eu-2".parse().unwrap();
        assert_eq!(tier.level(), Level::Restricted);
        assert_eq!(tier.compartment(), Some("cards-eu-2"));
        assert_eq!(tier.to_string(), "restricted/cards-eu-2");
    }

    #[test]
    fn rejects_bad_tiers() {
        for bad in [
            "public",
            "public/cards",
            "secret",
            "restricted/",
            "restricted/Cards",
            "restricted/cards/eu",
            "restricted/car ds",
            "restricted/ünïcode",
            &format!("restricted/{}", "a".repeat(33)),
            "",
        ] {
            assert!(
                matches!(bad.parse::<Tier>(), Err(Error::InvalidTier { .. })),
                "{bad:?} should be rejected"
            );
        }
        assert!(
            format!("restricted/{}", "a".repeat(32))
                .parse::<Tier>()
                .is_ok()
        );
    }

    #[test]
    fn compartments_do_not_nest() {
        let cards = Tier::RESTRICTED.with_compartment("cards").unwrap();
        assert!(cards.with_compartment("eu").is_err());
    }

    #[test]
    fn serde_uses_the_text_form() {
        let tier: Tier = "confidential/payroll".parse().unwrap();
        let json = serde_json::to_string(&tier).unwrap();
        assert_eq!(json, "\"confidential/payroll\"");
        assert_eq!(serde_json::from_str::<Tier>(&json).unwrap(), tier);
        assert!(serde_json::from_str::<Tier>("\"public\"").is_err());
    }

    #[test]
    fn tiers_sort_by_level_first() {
        let mut tiers: Vec<Tier> = [
            "restricted",
            "internal",
            "confidential/payroll",
            "confidential",
        ]
        .iter()
        .map(|t| t.parse().unwrap())
        .collect();
        tiers.sort();
        let names: Vec<_> = tiers.iter().map(Tier::as_str).collect();
        assert_eq!(
            names,
            [
                "internal",
                "confidential",
                "confidential/payroll",
                "restricted"
            ]
        );
    }
}
