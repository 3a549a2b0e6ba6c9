//! Clearances: the set of tiers a keyring is granted.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{Level, Tier};
use crate::Error;

/// The set of tiers a keyring may hold keys for.
///
/// `Clearance::up_to(level)` grants every uncompartmented tier up to
/// `level`; compartmented tiers are granted only when named.
///
/// ```
/// use tierseal::{Clearance, Level, Tier};
///
/// let loans = Clearance::up_to(Level::Confidential)
///     .with("confidential/payroll".parse()?);
/// assert!(loans.allows(&Tier::INTERNAL));
/// assert!(loans.allows(&"confidential/payroll".parse()?));
/// assert!(!loans.allows(&Tier::RESTRICTED));
/// assert!(!loans.allows(&"confidential/cards".parse()?));
///
/// // The same clearance, written as the CLI takes it.
/// let parsed: Clearance = "internal,confidential,confidential/payroll".parse()?;
/// assert_eq!(parsed, loans);
/// # Ok::<(), tierseal::Error>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clearance {
    tiers: BTreeSet<Tier>,
}

impl Clearance {
    /// A clearance that grants nothing: only public data is visible.
    pub fn none() -> Clearance {
        Clearance::default()
    }

    /// Every uncompartmented tier from `Internal` up to and including
    /// `level`. `up_to(Level::Public)` grants nothing.
    pub fn up_to(level: Level) -> Clearance {
        let tiers = Level::ALL
            .into_iter()
            .filter(|candidate| *candidate <= level)
            .filter_map(|candidate| Tier::for_level(candidate).ok())
            .collect();
        Clearance { tiers }
    }

    /// This clearance plus `tier`.
    #[must_use]
    pub fn with(mut self, tier: Tier) -> Clearance {
        self.tiers.insert(tier);
        self
    }

    /// Whether `tier` is granted.
    pub fn allows(&self, tier: &Tier) -> bool {
        self.tiers.contains(tier)
    }

    /// The granted tiers, in order.
    pub fn tiers(&self) -> impl ExactSizeIterator<Item = &Tier> {
        self.tiers.iter()
    }
}

impl FromIterator<Tier> for Clearance {
    fn from_iter<I: IntoIterator<Item = Tier>>(iter: I) -> Self {
        Clearance {
            tiers: iter.into_iter().collect(),
        }
    }
}

impl fmt::Display for Clearance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.tiers.is_empty() {
            return f.write_str("(public only)");
        }
        for (i, tier) in self.tiers.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{tier}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Clearance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Clearance({self})")
    }
}

/// Parses a comma-separated list of tiers, e.g.
/// `internal,confidential,restricted/cards`.
impl FromStr for Clearance {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(str::parse)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn up_to_grants_uncompartmented_tiers_only() {
        let clearance = Clearance::up_to(Level::Restricted);
        let names: Vec<_> = clearance.tiers().map(Tier::as_str).collect();
        assert_eq!(names, ["internal", "confidential", "restricted"]);
        assert!(!clearance.allows(&"restricted/cards".parse().unwrap()));
    }

    #[test]
    fn up_to_public_grants_nothing() {
        assert_eq!(Clearance::up_to(Level::Public).tiers().len(), 0);
        assert_eq!(Clearance::up_to(Level::Public), Clearance::none());
    }

    #[test]
    fn up_to_internal_is_just_internal() {
        let clearance = Clearance::up_to(Level::Internal);
        assert!(clearance.allows(&Tier::INTERNAL));
        assert!(!clearance.allows(&Tier::CONFIDENTIAL));
    }

    #[test]
    fn parse_rejects_bad_tiers() {
        assert!("internal,public".parse::<Clearance>().is_err());
        assert!("internal,restricted/X".parse::<Clearance>().is_err());
    }
}
