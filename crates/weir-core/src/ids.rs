//! Identifiers handed out by the core.
//!
//! Environment and invocation ids are generational slab keys: an id that
//! outlived its object is recognised as stale. Function ids are never
//! reused. All ids convert to and from `u64` so drivers can log and map them.

use std::fmt;

use crate::slab::SlabKey;

/// A function registered with the core (never reused, even after deletion).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FunctionId(pub(crate) u32);

impl FunctionId {
    pub fn as_u32(self) -> u32 {
        self.0
    }
    pub(crate) fn index(self) -> usize {
        self.0 as usize
    }
}

/// An execution environment (one runtime process in the node).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EnvId(pub(crate) SlabKey);

impl EnvId {
    pub fn as_u64(self) -> u64 {
        self.0.as_u64()
    }
    pub fn from_u64(raw: u64) -> Self {
        EnvId(SlabKey::from_u64(raw))
    }
}

impl fmt::Display for EnvId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "env-{:x}", self.as_u64())
    }
}

/// One admitted invocation, from admission until it finishes or fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InvocationId(pub(crate) SlabKey);

impl InvocationId {
    pub fn as_u64(self) -> u64 {
        self.0.as_u64()
    }
    pub fn from_u64(raw: u64) -> Self {
        InvocationId(SlabKey::from_u64(raw))
    }
}

/// The code and configuration an invocation runs: `$LATEST` or a published
/// version number (aliases resolve to one of these).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    Latest,
    Published(u32),
}

impl Version {
    pub const LATEST_NAME: &'static str = "$LATEST";

    /// Parses `$LATEST` or a decimal version number.
    pub fn parse(text: &str) -> Option<Version> {
        if text == Self::LATEST_NAME {
            return Some(Version::Latest);
        }
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        text.parse().ok().filter(|n| *n > 0).map(Version::Published)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Version::Latest => f.write_str(Self::LATEST_NAME),
            Version::Published(n) => write!(f, "{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_like_lambda_qualifiers() {
        assert_eq!(Version::parse("$LATEST"), Some(Version::Latest));
        assert_eq!(Version::parse("7"), Some(Version::Published(7)));
        assert_eq!(Version::parse("0"), None);
        assert_eq!(Version::parse("live"), None);
        assert_eq!(Version::parse("-1"), None);
        assert_eq!(Version::Published(12).to_string(), "12");
    }
}
