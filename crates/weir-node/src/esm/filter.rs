//! `FilterCriteria` on an SQS event source mapping (spec §9.6): reading and
//! validating the criteria as Lambda receives them, and deciding which
//! records of a batch reach the function.
//!
//! A record passes when any filter's pattern matches it. The pattern sees
//! the record as Lambda builds it, except that a body holding valid JSON is
//! matched as that JSON (so `{"body": {"kind": ["order"]}}` works) and any
//! other body as its text. Lambda deletes the messages no filter matches.

use serde_json::Value;
use weir_filter::Pattern;
use weir_wire::AwsError;

/// Lambda's default quota of filters per mapping.
pub const MAX_FILTERS: usize = 5;
/// Longest `Pattern` Lambda accepts, in characters.
pub const MAX_PATTERN_CHARS: usize = 4_096;

/// The compiled filters of one mapping; empty means "no filtering".
#[derive(Clone, Debug, Default)]
pub struct Filters(Vec<Pattern>);

impl Filters {
    /// Compiles `{"Filters": [{"Pattern": "…"}, …]}`. An absent or empty
    /// `Filters` list compiles to no filtering, as Lambda clears the
    /// criteria then.
    pub fn compile(criteria: &Value) -> Result<Filters, AwsError> {
        let filters = match criteria.get("Filters") {
            None | Some(Value::Null) => return Ok(Filters::default()),
            Some(Value::Array(filters)) => filters,
            Some(_) => return Err(invalid_pattern()),
        };
        if filters.len() > MAX_FILTERS {
            return Err(AwsError::invalid_parameter(format!(
                "The number of filters in FilterCriteria ({}) exceeds the limit of {MAX_FILTERS} filters per event source mapping.",
                filters.len()
            )));
        }
        let mut patterns = Vec::with_capacity(filters.len());
        for (index, filter) in filters.iter().enumerate() {
            let text = filter.get("Pattern").and_then(Value::as_str).ok_or_else(invalid_pattern)?;
            if text.chars().count() > MAX_PATTERN_CHARS {
                return Err(AwsError::invalid_parameter(format!(
                    "1 validation error detected: Value at 'filterCriteria.filters.{}.member.pattern' failed to satisfy constraint: Member must have length less than or equal to {MAX_PATTERN_CHARS}",
                    index + 1
                )));
            }
            patterns.push(Pattern::parse(text).map_err(|_| invalid_pattern())?);
        }
        Ok(Filters(patterns))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the SQS `record` (as sent to the function) passes. The body
    /// is swapped for its parsed JSON while matching and put back after.
    pub fn admits(&self, record: &mut Value) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let parsed =
            record.get("body").and_then(Value::as_str).and_then(|body| serde_json::from_str::<Value>(body).ok());
        match parsed {
            Some(json) => {
                let text = std::mem::replace(&mut record["body"], json);
                let admitted = self.any_matches(record);
                record["body"] = text;
                admitted
            }
            None => self.any_matches(record),
        }
    }

    fn any_matches(&self, record: &Value) -> bool {
        self.0.iter().any(|pattern| pattern.matches(record))
    }
}

/// The criteria as persisted and reported: `None` when they hold no filter.
pub fn normalise(criteria: &Value) -> Result<Option<Value>, AwsError> {
    Ok((!Filters::compile(criteria)?.is_empty()).then(|| criteria.clone()))
}

/// Lambda's answer to a pattern it cannot read.
fn invalid_pattern() -> AwsError {
    AwsError::invalid_parameter("Invalid filter pattern definition.")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn criteria(patterns: &[&str]) -> Value {
        json!({ "Filters": patterns.iter().map(|p| json!({ "Pattern": p })).collect::<Vec<_>>() })
    }

    fn record(body: &str) -> Value {
        json!({ "messageId": "m-1", "body": body, "attributes": { "ApproximateReceiveCount": "1" }, "eventSource": "aws:sqs" })
    }

    #[test]
    fn a_json_body_is_matched_as_json_and_restored_afterwards() {
        let filters = Filters::compile(&criteria(&[r#"{"body": {"RequestCode": ["BBBB"]}}"#])).unwrap();
        let mut wanted = record(r#"{"RecordNumber": 1234, "RequestCode": "BBBB"}"#);
        let before = wanted.clone();
        assert!(filters.admits(&mut wanted));
        assert_eq!(wanted, before, "the record sent to the function keeps its body text");
        assert!(!filters.admits(&mut record(r#"{"RecordNumber": 1235, "RequestCode": "AAAA"}"#)));
    }

    #[test]
    fn a_plain_text_body_is_matched_as_text() {
        let filters = Filters::compile(&criteria(&[r#"{"body": [{"prefix": "ORDER"}]}"#])).unwrap();
        assert!(filters.admits(&mut record("ORDER 17")));
        assert!(!filters.admits(&mut record("REFUND 17")));
    }

    #[test]
    fn filters_are_ored() {
        let filters =
            Filters::compile(&criteria(&[r#"{"body": {"kind": ["a"]}}"#, r#"{"body": {"kind": ["b"]}}"#])).unwrap();
        assert!(filters.admits(&mut record(r#"{"kind": "a"}"#)));
        assert!(filters.admits(&mut record(r#"{"kind": "b"}"#)));
        assert!(!filters.admits(&mut record(r#"{"kind": "c"}"#)));
    }

    #[test]
    fn no_filters_admit_everything_and_normalise_to_none() {
        for empty in [json!({}), json!({ "Filters": [] }), json!({ "Filters": null })] {
            let filters = Filters::compile(&empty).unwrap();
            assert!(filters.admits(&mut record("anything")));
            assert_eq!(normalise(&empty).unwrap(), None);
        }
        let some = criteria(&[r#"{"body": ["x"]}"#]);
        assert_eq!(normalise(&some).unwrap(), Some(some));
    }

    #[test]
    fn bad_criteria_are_refused_with_lambdas_messages() {
        let refused = |c: Value| Filters::compile(&c).unwrap_err().to_string();
        assert!(refused(criteria(&["not json"])).contains("Invalid filter pattern definition."));
        assert!(refused(criteria(&[r#"{"body": "x"}"#])).contains("Invalid filter pattern definition."));
        assert!(refused(json!({ "Filters": [{}] })).contains("Invalid filter pattern definition."));
        assert!(refused(json!({ "Filters": "x" })).contains("Invalid filter pattern definition."));
        let six = criteria(&[r#"{"body": ["x"]}"#; 6]);
        assert!(refused(six).contains("limit of 5 filters"));
        let long = format!(r#"{{"body": ["{}"]}}"#, "x".repeat(MAX_PATTERN_CHARS));
        assert!(refused(criteria(&[&long])).contains("less than or equal to 4096"));
    }
}
