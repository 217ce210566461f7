//! weir-filter: matches JSON events against AWS event patterns, the
//! language of Lambda event source mapping `FilterCriteria` (and of
//! EventBridge rules; SNS filter policies are a later mode).
//!
//! The crate is pure: no IO, no async. A pattern is compiled once with
//! [`Pattern::parse`] (or [`Pattern::from_value`]); an invalid pattern is
//! rejected there with a [`PatternError`] whose text is a short reason the
//! caller can put into an `InvalidParameterValueException`. Matching with
//! [`Pattern::matches`] walks the event in place and does not allocate.
//!
//! ```
//! use weir_filter::Pattern;
//! use serde_json::json;
//!
//! let p = Pattern::parse(r#"{"body": {"RequestCode": ["BBBB"]}}"#).unwrap();
//! assert!(p.matches(&json!({"body": {"RecordNumber": 1234, "RequestCode": "BBBB"}})));
//! assert!(!p.matches(&json!({"body": {"RecordNumber": 1234, "RequestCode": "AAAA"}})));
//! ```
//!
//! # Grammar
//!
//! A pattern is a non-empty JSON object. A key names a field of the event;
//! its value is either a nested (non-empty) object, which descends into the
//! field, or a non-empty array of matchers, of which any may match (OR).
//! Every named field must match (AND); fields the pattern does not name are
//! ignored. When the event's value is an array, the field matches if any
//! element does; nested arrays are flattened, and a nested pattern is tried
//! against each object element of the array.
//!
//! | matcher | matches a present value that |
//! |---|---|
//! | `"s"`, `5`, `true`, `null` | equals it exactly (`""` matches the empty string, `null` a JSON null) |
//! | `{"prefix": "s"}` / `{"suffix": "s"}` | is a string starting / ending with `s` |
//! | `{"prefix": {"equals-ignore-case": "s"}}` (also `suffix`) | is a string starting / ending with `s`, ignoring case |
//! | `{"equals-ignore-case": "s"}` | is a string equal to `s`, ignoring case |
//! | `{"wildcard": "a*b"}` | is a string matching the glob; `*` is any run of characters, `\*` and `\\` are a literal `*` and `\` |
//! | `{"anything-but": X}` | is not matched by `X`: a string, a number, a non-empty list of strings or of numbers, or `{"prefix": "s"}`, `{"suffix": "s"}`, `{"equals-ignore-case": "s" or ["s", ..]}`, `{"wildcard": "p" or ["p", ..]}` |
//! | `{"numeric": [">", 0, "<=", 5]}` | is a number in range: one comparison (`=`, `<`, `<=`, `>`, `>=`) or a lower bound (`>`, `>=`) then an upper bound (`<`, `<=`), compared as `f64` |
//! | `{"cidr": "10.0.0.0/24"}` | is a string holding an IPv4 or IPv6 address inside the block |
//! | `{"exists": true}` | is any leaf (not an object, not an empty array) |
//! | `{"exists": false}` | the field is absent, or holds no leaf (an object or an empty array); the only matcher that matches a missing field |
//!
//! `"$or": [{..}, {..}, ..]` may stand beside the keys of any object: the
//! object matches if its other keys match and at least one of the (two or
//! more) sub-patterns matches the same object.
//!
//! Rejected at compile time: text that is not JSON, a top level that is not
//! an object, an empty object, a field whose value is neither object nor
//! array, an empty array, a nested array as a matcher, an operator object
//! with other than one key, an unknown operator, an operator value of the
//! wrong type, an `anything-but` list mixing strings and numbers, an empty
//! `anything-but` prefix or suffix, `$or` that is not an array of at least
//! two objects, `numeric` with an unknown operator, a bound that is not a
//! number, a range that is not lower-then-upper or whose lower bound is not
//! below its upper bound, a wildcard with `**` or a `\` escaping anything
//! but `*` or `\`, and a malformed CIDR block. Duplicate keys in the text:
//! the last one wins (as in Lambda).
//!
//! # Deviations from AWS
//!
//! * **Exact numbers.** AWS compares the *text* of numbers in exact
//!   matches (`300`, `300.0` and `3.0e2` are all different). The event
//!   reaches us parsed by `serde_json`, which keeps an integer as an integer
//!   but a float only as its `f64` value, so we compare `serde_json::Number`s:
//!   `300` differs from `300.0` and from `3.0e2` as in AWS, but `300.0`,
//!   `3.0e2` and `3e2` are equal to each other, as are `1.5` and `1.50`.
//!   `anything-but` numbers use the same equality (Event Ruler compares them
//!   numerically). Use `numeric` for numeric comparison.
//! * **Numeric limits.** AWS bounds numeric matching (Event Ruler: ±5e9 with
//!   six decimals; SNS: ±1e9 with five). We compare full `f64` values and
//!   enforce no bound.
//! * **Arrays of objects.** A nested pattern is evaluated against each
//!   object in an event array on its own, so matches never combine fields of
//!   different elements (like Event Ruler's `rulesForJSONEvent`). A
//!   consequence: `{"exists": false}` under such an array holds when *some*
//!   element lacks the field, where Event Ruler asks whether the field is
//!   absent from every element.
//! * **Dotted keys.** Event Ruler joins paths with `.`, so its pattern
//!   `{"a.b": [..]}` also matches `{"a": {"b": ..}}`; here keys are keys.
//! * **IP literals.** Event Ruler treats a string literal that parses as an
//!   IP address as a one-address range; here it is an exact string.
//! * **`$or`.** Always the operator, never a field name (Event Ruler keeps
//!   a legacy reading as a field name in some shapes); field names that are
//!   operator names are accepted inside `$or` sub-patterns.
//! * **`anything-but` with `prefix`/`suffix`** takes one string; Event
//!   Ruler also accepts a list of them.
//! * **Case folding** for `equals-ignore-case` is Unicode lower-casing
//!   character by character (`char::to_lowercase`).
//! * **Grammar scope.** The full EventBridge grammar is accepted; Lambda's
//!   documentation lists a subset for event source mappings. Limits such as
//!   Lambda's 4,096-character `Pattern` are the caller's to enforce.

mod cidr;
mod error;
mod matcher;
mod parse;
mod wildcard;

pub use error::PatternError;

use serde_json::Value;

/// A compiled event pattern. Cheap to share across threads; matching takes
/// `&self`.
#[derive(Clone, Debug)]
pub struct Pattern {
    root: matcher::ObjectPattern,
}

impl Pattern {
    /// Compiles a pattern from its JSON text, as Lambda receives it in
    /// `FilterCriteria.Filters[].Pattern`.
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| PatternError::new(format!("pattern is not valid JSON: {e}")))?;
        Pattern::from_value(&value)
    }

    /// Compiles a pattern from an already parsed JSON value.
    pub fn from_value(value: &Value) -> Result<Pattern, PatternError> {
        parse::compile(value).map(|root| Pattern { root })
    }

    /// Whether `event` matches the pattern.
    pub fn matches(&self, event: &Value) -> bool {
        self.root.matches_value(Some(event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_is_send_sync_clone_debug() {
        fn check<T: Send + Sync + Clone + std::fmt::Debug>() {}
        check::<Pattern>();
        check::<PatternError>();
    }
}
