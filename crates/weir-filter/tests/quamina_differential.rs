//! Differential test against the `quamina` crate (a Rust port of Tim
//! Bray's quamina) on the grammar both implement: exact strings, prefix,
//! suffix, exists, anything-but string lists and numeric ranges, over random
//! small events with nesting and arrays of scalars.
//!
//! Four quamina 0.7.0 behaviours are kept out of the generated patterns,
//! because there quamina contradicts the AWS semantics (our behaviour for
//! both is pinned in `operators.rs`):
//! * an exclusive lower bound in a two-sided range is not always honoured:
//!   `{"numeric": [">", 0, "<", 5]}` matches `0` (and `[">", 2, ..]` matches
//!   `2`), so ranges here use `>=`; `>` is exercised as a single comparison;
//! * a numeric comparison with only an upper bound also matches strings,
//!   booleans and null (`{"numeric": ["<", 5]}` matches `""`, `true`,
//!   `null`), so upper bounds appear only in two-sided ranges here;
//! * `exists` after another matcher in the same list is ignored:
//!   `["x", {"exists": false}]` does not match a missing field, while
//!   `[{"exists": false}, "x"]` does, and `["", {"exists": true}]` does not
//!   match `0`; so `exists` is always a field's only matcher here;
//! * two `exists` fields in one pattern go wrong: with two `exists: false`
//!   fields it never matches (`{"a": [{"exists": false}], "b": [{"exists":
//!   false}]}` fails on `{}`), nor with `exists: true` on a field that sorts
//!   before an `exists: false` one (`{"a": [{"exists": true}], "b":
//!   [{"exists": false}]}` fails on `{"a": ""}`); so a generated pattern has
//!   at most one `exists`.

use proptest::prelude::*;
use quamina::Quamina;
use serde_json::{Map, Value, json};
use weir_filter::Pattern;

const FIELDS: [&str; 3] = ["a", "b", "c"];

fn word() -> impl Strategy<Value = String> {
    "[ab]{0,3}"
}

/// One leaf matcher from the shared subset (`exists` is a field's only
/// matcher, see the module doc).
fn matcher() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => word().prop_map(Value::String),
        1 => word().prop_map(|p| json!({"prefix": p})),
        1 => word().prop_map(|p| json!({"suffix": p})),
        1 => prop::collection::vec(word(), 1..3).prop_map(|l| json!({"anything-but": l})),
        1 => (-3i64..5).prop_map(|n| json!({"numeric": [">", n]})),
        1 => (-3i64..3, 1i64..4).prop_map(|(lo, d)| json!({"numeric": [">=", lo, "<", lo + d]})),
    ]
}

fn leaf() -> impl Strategy<Value = Vec<Value>> {
    prop_oneof![
        5 => prop::collection::vec(matcher(), 1..3),
        1 => any::<bool>().prop_map(|b| vec![json!({"exists": b})]),
    ]
}

fn pattern() -> impl Strategy<Value = Value> {
    let field = (prop::sample::select(FIELDS.to_vec()), leaf(), any::<bool>());
    prop::collection::vec(field, 1..3)
        .prop_map(|fields| {
            let map = fields
                .into_iter()
                .map(|(k, leaf, nested)| {
                    let rule = if nested { json!({"x": leaf}) } else { Value::Array(leaf) };
                    (k.to_string(), rule)
                })
                .collect::<Map<_, _>>();
            Value::Object(map)
        })
        .prop_filter("at most one exists", |p| p.to_string().matches(r#"{"exists":"#).count() <= 1)
}

/// Strings, small integers and floats, arrays of those, and an object level.
fn event_value() -> impl Strategy<Value = Value> {
    let scalar = prop_oneof![
        3 => word().prop_map(Value::String),
        2 => (-4i64..6).prop_map(|n| json!(n)),
        1 => (-40i64..60).prop_map(|n| json!(n as f64 / 10.0)),
    ];
    prop_oneof![
        4 => scalar.clone(),
        1 => prop::collection::vec(scalar.clone(), 1..3).prop_map(Value::Array),
        2 => prop::collection::vec(
            (Just("x"), prop_oneof![scalar.clone(), prop::collection::vec(scalar, 1..3).prop_map(Value::Array)]),
            0..2,
        )
        .prop_map(|fields| Value::Object(fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
    ]
}

fn event() -> impl Strategy<Value = Value> {
    prop::collection::vec((prop::sample::select(FIELDS.to_vec()), event_value()), 0..4)
        .prop_map(|fields| Value::Object(fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
}

fn quamina_matches(pattern: &Value, event: &Value) -> bool {
    let mut q = Quamina::<u8>::new();
    q.add_pattern(1, &pattern.to_string()).unwrap_or_else(|e| panic!("quamina rejected {pattern}: {e}"));
    !q.matches_for_event(event.to_string().as_bytes()).expect("quamina could not read the event").is_empty()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn agrees_with_quamina(pattern in pattern(), events in prop::collection::vec(event(), 1..6)) {
        let ours = Pattern::from_value(&pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
        for event in &events {
            prop_assert_eq!(ours.matches(event), quamina_matches(&pattern, event), "pattern {} event {}", pattern, event);
        }
    }
}

/// Fixed cases from the shared subset, so a disagreement in the oracle
/// itself shows up without shrinking.
#[test]
fn agrees_with_quamina_on_fixed_cases() {
    let cases = [
        (json!({"a": ["ab"]}), json!({"a": "ab"}), true),
        (json!({"a": ["ab"]}), json!({"a": ["b", "ab"]}), true),
        (json!({"a": [{"prefix": "a"}]}), json!({"a": "ba"}), false),
        (json!({"a": [{"suffix": "a"}]}), json!({"a": "ba"}), true),
        (json!({"a": [{"exists": false}]}), json!({"b": "x"}), true),
        (json!({"a": [{"exists": true}]}), json!({"a": 1}), true),
        (json!({"a": [{"anything-but": ["x", "y"]}]}), json!({"a": "x"}), false),
        (json!({"a": [{"anything-but": ["x", "y"]}]}), json!({"a": "z"}), true),
        (json!({"a": [{"numeric": [">=", 0, "<=", 5]}]}), json!({"a": 5}), true),
        (json!({"a": [{"numeric": [">=", 1, "<=", 5]}]}), json!({"a": 0}), false),
        (json!({"a": [{"numeric": [">", 1, "<=", 5]}]}), json!({"a": 1}), false),
        (json!({"a": {"x": ["b"]}}), json!({"a": {"x": "b"}}), true),
    ];
    for (pattern, event, want) in cases {
        assert_eq!(quamina_matches(&pattern, &event), want, "quamina: {pattern} on {event}");
        assert_eq!(Pattern::from_value(&pattern).unwrap().matches(&event), want, "ours: {pattern} on {event}");
    }
}
