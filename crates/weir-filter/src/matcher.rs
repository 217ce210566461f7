//! The compiled pattern tree and its evaluation against a `serde_json`
//! event: field lookup, array flattening, `$or`, and every leaf operator.
//! Evaluation borrows the event and allocates nothing.

use serde_json::{Map, Value};

use crate::cidr::Cidr;
use crate::wildcard::Wildcard;

/// One object level of a pattern: all `fields` must match, and if `any_of`
/// is non-empty (a `$or`), at least one of its sub-patterns must match the
/// same event object.
#[derive(Clone, Debug)]
pub(crate) struct ObjectPattern {
    pub(crate) fields: Vec<(String, FieldRule)>,
    pub(crate) any_of: Vec<ObjectPattern>,
}

#[derive(Clone, Debug)]
pub(crate) enum FieldRule {
    /// The field's value is described by a nested object pattern.
    Nested(ObjectPattern),
    /// The field's value must satisfy any of these matchers.
    Leaf(Vec<Matcher>),
}

/// A matcher from a leaf array, applied to one scalar (non-object,
/// non-array) event value at a time.
#[derive(Clone, Debug)]
pub(crate) enum Matcher {
    /// A string, number, boolean or null literal.
    Exact(Value),
    Prefix(String),
    Suffix(String),
    /// Prefix and suffix ignoring case; the text is already lower-cased.
    PrefixIgnoreCase(String),
    SuffixIgnoreCase(String),
    EqualsIgnoreCase(String),
    Wildcard(Wildcard),
    /// Matches a present value that none of the inner matchers match. The
    /// inner matchers are literals or string operators, never `AnythingBut`.
    AnythingBut(Vec<Matcher>),
    Numeric(Range),
    Cidr(Cidr),
    Exists(bool),
}

/// A numeric interval; `None` is unbounded. The flag says inclusive.
#[derive(Clone, Debug)]
pub(crate) struct Range {
    pub(crate) lower: Option<(f64, bool)>,
    pub(crate) upper: Option<(f64, bool)>,
}

impl ObjectPattern {
    /// Matches the value of a field (or of the whole event). A non-object
    /// value is treated as an object with no fields, so only `exists: false`
    /// can hold inside it; an array is matched element by element.
    pub(crate) fn matches_value(&self, value: Option<&Value>) -> bool {
        match value {
            Some(Value::Object(map)) => self.matches_object(Some(map)),
            Some(Value::Array(items)) if items.iter().any(holds_object) => {
                items.iter().filter(|item| holds_object(item)).any(|item| self.matches_value(Some(item)))
            }
            _ => self.matches_object(None),
        }
    }

    fn matches_object(&self, map: Option<&Map<String, Value>>) -> bool {
        let fields_match = self.fields.iter().all(|(key, rule)| {
            let value = map.and_then(|m| m.get(key));
            match rule {
                FieldRule::Nested(inner) => inner.matches_value(value),
                FieldRule::Leaf(matchers) => leaf_matches(matchers, value),
            }
        });
        fields_match && (self.any_of.is_empty() || self.any_of.iter().any(|p| p.matches_object(map)))
    }
}

/// Whether a value is, or is an array (at any depth) containing, an object.
fn holds_object(value: &Value) -> bool {
    match value {
        Value::Object(_) => true,
        Value::Array(items) => items.iter().any(holds_object),
        _ => false,
    }
}

/// Whether a value is, or is an array (at any depth) containing, a leaf.
fn holds_leaf(value: &Value) -> bool {
    match value {
        Value::Object(_) => false,
        Value::Array(items) => items.iter().any(holds_leaf),
        _ => true,
    }
}

/// Whether any leaf in `value` (itself, or the flattened elements of an
/// array) satisfies `test`.
fn any_leaf(value: &Value, test: &impl Fn(&Value) -> bool) -> bool {
    match value {
        Value::Object(_) => false,
        Value::Array(items) => items.iter().any(|item| any_leaf(item, test)),
        leaf => test(leaf),
    }
}

fn leaf_matches(matchers: &[Matcher], value: Option<&Value>) -> bool {
    match value {
        Some(value) if holds_leaf(value) => matchers.iter().any(|m| any_leaf(value, &|leaf| m.matches_scalar(leaf))),
        // Absent, or no leaf to compare (an object, an empty array).
        _ => matchers.iter().any(|m| matches!(m, Matcher::Exists(false))),
    }
}

impl Matcher {
    /// Applies the matcher to one present scalar value.
    fn matches_scalar(&self, value: &Value) -> bool {
        let string = || value.as_str();
        match self {
            Matcher::Exact(literal) => literal == value,
            Matcher::Prefix(p) => string().is_some_and(|s| s.starts_with(p.as_str())),
            Matcher::Suffix(p) => string().is_some_and(|s| s.ends_with(p.as_str())),
            Matcher::PrefixIgnoreCase(p) => string().is_some_and(|s| starts_with_ignore_case(s, p)),
            Matcher::SuffixIgnoreCase(p) => string().is_some_and(|s| ends_with_ignore_case(s, p)),
            Matcher::EqualsIgnoreCase(p) => string().is_some_and(|s| lowercase(s).eq(p.chars())),
            Matcher::Wildcard(w) => string().is_some_and(|s| w.matches(s)),
            Matcher::AnythingBut(excluded) => !excluded.iter().any(|m| m.matches_scalar(value)),
            Matcher::Numeric(range) => value.is_number() && value.as_f64().is_some_and(|x| range.contains(x)),
            Matcher::Cidr(block) => string().is_some_and(|s| block.contains(s)),
            Matcher::Exists(present) => *present,
        }
    }
}

impl Range {
    fn contains(&self, x: f64) -> bool {
        let above = match self.lower {
            None => true,
            Some((bound, inclusive)) => x > bound || (inclusive && x == bound),
        };
        let below = match self.upper {
            None => true,
            Some((bound, inclusive)) => x < bound || (inclusive && x == bound),
        };
        above && below
    }
}

/// The case-folded characters of `s`, as used for every ignore-case
/// comparison (the pattern side is folded the same way at compile time).
pub(crate) fn lowercase(s: &str) -> impl DoubleEndedIterator<Item = char> + '_ {
    s.chars().flat_map(char::to_lowercase)
}

fn starts_with_ignore_case(s: &str, folded_prefix: &str) -> bool {
    let mut folded = lowercase(s);
    folded_prefix.chars().all(|c| folded.next() == Some(c))
}

fn ends_with_ignore_case(s: &str, folded_suffix: &str) -> bool {
    let mut folded = lowercase(s).rev();
    folded_suffix.chars().rev().all(|c| folded.next() == Some(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignore_case_helpers() {
        assert!(starts_with_ignore_case("HeLLo world", "hello"));
        assert!(!starts_with_ignore_case("Hell", "hello"));
        assert!(ends_with_ignore_case("report.PDF", ".pdf"));
        assert!(!ends_with_ignore_case("PDF", ".pdf"));
        assert!(starts_with_ignore_case("ÄRGER", "ä"));
        assert!(ends_with_ignore_case("x", ""));
    }

    #[test]
    fn ranges() {
        let r = Range { lower: Some((0.0, false)), upper: Some((5.0, true)) };
        assert!(!r.contains(0.0));
        assert!(r.contains(0.1));
        assert!(r.contains(5.0));
        assert!(!r.contains(5.000001));
        let eq = Range { lower: Some((3.0, true)), upper: Some((3.0, true)) };
        assert!(eq.contains(3.0));
        assert!(!eq.contains(3.0000001));
    }
}
