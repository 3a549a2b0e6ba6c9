//! Sensitivity levels, ordered from least to most sensitive.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// How sensitive a value is.
///
/// Levels are ordered: `Public < Internal < Confidential < Restricted`.
/// `Public` values are never encrypted; every other level is.
///
/// ```
/// use tierseal::Level;
///
/// assert!(Level::Confidential > Level::Internal);
/// assert_eq!("restricted".parse::<Level>().unwrap(), Level::Restricted);
/// assert_eq!(Level::Internal.to_string(), "internal");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Safe to show anyone; stored in clear.
    Public,
    /// For the organisation's staff and services.
    Internal,
    /// Customer data with a business need to know (balances, names).
    Confidential,
    /// The most sensitive data (card numbers, tax ids).
    Restricted,
}

impl Level {
    /// Every level, from least to most sensitive.
    pub const ALL: [Level; 4] = [
        Level::Public,
        Level::Internal,
        Level::Confidential,
        Level::Restricted,
    ];

    /// The lowercase name, as written in attributes, files and on the CLI.
    pub const fn as_str(self) -> &'static str {
        match self {
            Level::Public => "public",
            Level::Internal => "internal",
            Level::Confidential => "confidential",
            Level::Restricted => "restricted",
        }
    }

    /// Whether values at this level are encrypted (every level but `Public`).
    pub const fn is_encrypted(self) -> bool {
        !matches!(self, Level::Public)
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Level::ALL
            .into_iter()
            .find(|level| level.as_str() == s)
            .ok_or_else(|| Error::InvalidLevel {
                name: crate::error::shorten(s),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_ordered() {
        assert!(Level::Public < Level::Internal);
        assert!(Level::Internal < Level::Confidential);
        assert!(Level::Confidential < Level::Restricted);
    }

    #[test]
    fn display_and_parse_roundtrip() {
        for level in Level::ALL {
            assert_eq!(level.to_string().parse::<Level>().unwrap(), level);
        }
        assert!(matches!(
            "secret".parse::<Level>(),
            Err(Error::InvalidLevel { .. })
        ));
        assert!("Restricted".parse::<Level>().is_err());
    }

    #[test]
    fn serde_uses_lowercase_names() {
        let json = serde_json::to_string(&Level::Confidential).unwrap();
        assert_eq!(json, "\"confidential\"");
        let back: Level = serde_json::from_str(&json).unwrap();
        assert_eq!(back, Level::Confidential);
    }
}
