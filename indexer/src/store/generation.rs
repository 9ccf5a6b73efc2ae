//! Index generations: `indexes/gen-000001`, `indexes/gen-000002`, ... A reindex builds the
//! next generation beside the live one.

use std::fmt;

const PREFIX: &str = "gen-";

/// The number of an index generation; its directory is `indexes/gen-NNNNNN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Generation(u64);

impl Generation {
    /// The first generation of a new data directory.
    pub const FIRST: Generation = Generation(1);

    /// The generation's number (what `/status` shows).
    pub fn number(self) -> u64 {
        self.0
    }

    /// The generation numbered `n` (as [`Generation::number`] and `/status` show it).
    pub fn from_number(n: u64) -> Generation {
        Generation(n)
    }

    /// The generation after this one.
    pub fn next(self) -> Generation {
        Generation(self.0 + 1)
    }

    /// The generation a directory name (or the content of `CURRENT`) names, if any.
    pub fn parse(name: &str) -> Option<Generation> {
        let digits = name.strip_prefix(PREFIX)?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok().map(Generation)
    }
}

impl fmt::Display for Generation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{:06}", self.0)
    }
}

impl PartialEq<str> for Generation {
    fn eq(&self, name: &str) -> bool {
        Generation::parse(name) == Some(*self)
    }
}

impl PartialEq<&str> for Generation {
    fn eq(&self, name: &&str) -> bool {
        self == *name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_strangers_are_refused() {
        assert_eq!(Generation::FIRST.to_string(), "gen-000001");
        assert_eq!(Generation::parse("gen-000042"), Some(Generation(42)));
        assert_eq!(
            Generation::parse("gen-1234567").map(Generation::number),
            Some(1234567)
        );
        for bad in ["", "gen-", "gen-12a", "../../etc", "gen--1", "GEN-000001"] {
            assert_eq!(Generation::parse(bad), None, "{bad:?}");
        }
    }
}
