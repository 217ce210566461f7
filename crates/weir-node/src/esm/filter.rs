//! `FilterCriteria` on an SQS event source mapping (spec §9.6): reading and
//! validating the criteria as Lambda receives them, and deciding which
//! records reach the function.
//!
//! A record passes when any filter's pattern matches it. The pattern sees
//! the record as Lambda builds it, except that a body holding a JSON object
//! or array is matched as that JSON (so `{"body": {"kind": ["order"]}}`
//! works) and any other body as its text. As on Lambda, a filter whose
//! `body` rule has the other form never matches: a JSON-form rule
//! (`{"body": {…}}`) drops plain-text bodies and a text-form rule
//! (`{"body": [...]}`) drops JSON bodies. Lambda deletes the messages no
//! filter matches.

use serde_json::Value;
use weir_filter::Pattern;
use weir_wire::AwsError;

/// Lambda's default quota of filters per mapping.
pub const MAX_FILTERS: usize = 5;
/// Longest `Pattern` Lambda accepts, in characters.
pub const MAX_PATTERN_CHARS: usize = 4_096;

/// The form of a filter's top-level `body` rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BodyForm {
    /// No `body` rule: any body.
    Any,
    /// `{"body": [...]}`: matches plain-text bodies only.
    Text,
    /// `{"body": {...}}`: matches JSON bodies only.
    Json,
}

#[derive(Clone, Debug)]
struct Filter {
    pattern: Pattern,
    body: BodyForm,
}

/// The compiled filters of one mapping; empty means "no filtering".
#[derive(Clone, Debug, Default)]
pub struct Filters(Vec<Filter>);

impl Filters {
    /// Compiles `{"Filters": [{"Pattern": "…"}, …]}`. An absent or empty
    /// `Filters` list compiles to no filtering, as Lambda clears the
    /// criteria then.
    pub fn compile(criteria: &Value) -> Result<Filters, AwsError> {
        let filters = match criteria.get("Filters") {
            None | Some(Value::Null) => return Ok(Filters::default()),
            Some(Value::Array(filters)) => filters,
            Some(_) => return Err(invalid_pattern("Filters must be a list")),
        };
        if filters.len() > MAX_FILTERS {
            return Err(AwsError::invalid_parameter(format!(
                "The number of filters in FilterCriteria ({}) exceeds the limit of {MAX_FILTERS} filters per event source mapping.",
                filters.len()
            )));
        }
        let mut compiled = Vec::with_capacity(filters.len());
        for (index, filter) in filters.iter().enumerate() {
            let text = filter
                .get("Pattern")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid_pattern("a filter has no Pattern"))?;
            if text.chars().count() > MAX_PATTERN_CHARS {
                return Err(AwsError::invalid_parameter(format!(
                    "1 validation error detected: Value at 'filterCriteria.filters.{}.member.pattern' failed to satisfy constraint: Member must have length less than or equal to {MAX_PATTERN_CHARS}",
                    index + 1
                )));
            }
            let value: Value = serde_json::from_str(text).map_err(invalid_pattern)?;
            let pattern = Pattern::from_value(&value).map_err(invalid_pattern)?;
            let body = match value.get("body") {
                Some(Value::Object(_)) => BodyForm::Json,
                Some(_) => BodyForm::Text,
                None => BodyForm::Any,
            };
            compiled.push(Filter { pattern, body });
        }
        Ok(Filters(compiled))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the SQS `record` (as sent to the function) passes. A JSON
    /// body is swapped for its parsed value while matching and put back
    /// after.
    pub fn admits(&self, record: &mut Value) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let json_body = record
            .get("body")
            .and_then(Value::as_str)
            .filter(|body| body.trim_start().starts_with(['{', '[']))
            .and_then(|body| serde_json::from_str::<Value>(body).ok());
        match json_body {
            Some(json) => {
                let text = std::mem::replace(&mut record["body"], json);
                let admitted = self.any_matches(record, BodyForm::Json);
                record["body"] = text;
                admitted
            }
            None => self.any_matches(record, BodyForm::Text),
        }
    }

    fn any_matches(&self, record: &Value, body: BodyForm) -> bool {
        self.0.iter().any(|f| (f.body == BodyForm::Any || f.body == body) && f.pattern.matches(record))
    }
}

/// The criteria as persisted and reported: `None` when they hold no filter.
pub fn normalise(criteria: &Value) -> Result<Option<Value>, AwsError> {
    Ok((!Filters::compile(criteria)?.is_empty()).then(|| criteria.clone()))
}

/// Lambda's answer to a pattern it cannot read (the reason is logged).
fn invalid_pattern(reason: impl std::fmt::Display) -> AwsError {
    tracing::debug!(%reason, "FilterCriteria refused");
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
    fn a_filter_whose_body_form_differs_from_the_body_drops_the_message() {
        // Lambda's table: plain-string body + JSON pattern, or JSON body +
        // plain-string pattern, is dropped, even where `exists: false` holds.
        let json_form = Filters::compile(&criteria(&[r#"{"body": {"a": [{"exists": false}]}}"#])).unwrap();
        assert!(!json_form.admits(&mut record("plain text")));
        assert!(json_form.admits(&mut record(r#"{"b": 1}"#)));
        let text_form = Filters::compile(&criteria(&[r#"{"body": [{"exists": false}]}"#])).unwrap();
        assert!(!text_form.admits(&mut record(r#"{"a": 1}"#)));
        let no_body_rule = Filters::compile(&criteria(&[r#"{"eventSource": ["aws:sqs"]}"#])).unwrap();
        assert!(no_body_rule.admits(&mut record("plain text")));
        assert!(no_body_rule.admits(&mut record(r#"{"a": 1}"#)));
    }

    #[test]
    fn a_scalar_json_body_is_text() {
        // A body of `42` is an id, not a number: string patterns match it.
        let filters = Filters::compile(&criteria(&[r#"{"body": ["42", {"prefix": "tr"}]}"#])).unwrap();
        assert!(filters.admits(&mut record("42")));
        assert!(filters.admits(&mut record("true")));
        assert!(!filters.admits(&mut record("43")));
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
