//! Level names as written in attributes.

use std::fmt;

/// A sensitivity level as written in source (`public`, `internal`,
/// `confidential`, `restricted`). The runtime's `tierseal::Level` has the
/// same names and order; generated code maps one to the other by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LevelName {
    /// `public`: never encrypted.
    Public,
    /// `internal`.
    Internal,
    /// `confidential`.
    Confidential,
    /// `restricted`.
    Restricted,
}

impl LevelName {
    /// Every level, least sensitive first.
    pub const ALL: [LevelName; 4] = [
        LevelName::Public,
        LevelName::Internal,
        LevelName::Confidential,
        LevelName::Restricted,
    ];

    /// The name as written.
    pub const fn as_str(self) -> &'static str {
        match self {
            LevelName::Public => "public",
            LevelName::Internal => "internal",
            LevelName::Confidential => "confidential",
            LevelName::Restricted => "restricted",
        }
    }

    /// Parses a name as written.
    pub fn parse(name: &str) -> Option<LevelName> {
        LevelName::ALL
            .into_iter()
            .find(|level| level.as_str() == name)
    }

    /// The variant's name in `tierseal::Level` (`Public`, ...).
    pub const fn variant(self) -> &'static str {
        match self {
            LevelName::Public => "Public",
            LevelName::Internal => "Internal",
            LevelName::Confidential => "Confidential",
            LevelName::Restricted => "Restricted",
        }
    }
}

impl fmt::Display for LevelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
