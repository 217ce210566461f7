//! The compile-time error of a pattern: one human-readable reason, prefixed
//! with the dotted path of the field where it was found.

use std::fmt;

/// Why a pattern was rejected. `Display` gives a short reason such as
/// `detail.state: prefix value must be a string`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatternError {
    reason: String,
}

impl PatternError {
    pub(crate) fn new(reason: impl Into<String>) -> Self {
        PatternError { reason: reason.into() }
    }

    /// The reason, the same text as `Display`.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for PatternError {}
