//! Matching behaviour per operator, with the examples from the AWS Lambda
//! and EventBridge documentation, arrays, nesting, missing fields and `$or`.

use serde_json::{Value, json};
use weir_filter::Pattern;

fn matches(pattern: &str, event: Value) -> bool {
    Pattern::parse(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}")).matches(&event)
}

// --- AWS documentation examples -------------------------------------------

#[test]
fn sqs_body_example() {
    let p = r#"{"body": {"RequestCode": ["BBBB"]}}"#;
    assert!(matches(p, json!({"body": {"RecordNumber": 1234, "RequestCode": "BBBB"}})));
    assert!(!matches(p, json!({"body": {"RecordNumber": 1234, "RequestCode": "AAAA"}})));
    assert!(!matches(p, json!({"body": {"RecordNumber": 1234}})));
    assert!(!matches(p, json!({"body": "RequestCode BBBB"})));
}

#[test]
fn kinesis_data_example() {
    let p = r#"{"data": {"City": ["Seattle"], "State": ["WA"]}, "partitionKey": ["1"]}"#;
    let event = json!({
        "partitionKey": "1",
        "sequenceNumber": "49590338271490256608559692538361571095921575989136588898",
        "data": {"City": "Seattle", "State": "WA", "Temperature": "46", "Month": "December"},
        "approximateArrivalTimestamp": 1545084650.987
    });
    assert!(matches(p, event.clone()));
    let mut other = event;
    other["data"]["City"] = json!("Portland");
    assert!(!matches(p, other));
}

#[test]
fn dynamodb_example() {
    let p = r#"{"dynamodb": {"Keys": {"CustomerName": {"S": ["AnyCompany Industries"]}}}, "eventName": ["INSERT"]}"#;
    let event = json!({
        "eventName": "INSERT",
        "dynamodb": {"Keys": {"CustomerName": {"S": "AnyCompany Industries"}}, "SizeBytes": 26}
    });
    assert!(matches(p, event.clone()));
    let mut modify = event;
    modify["eventName"] = json!("MODIFY");
    assert!(!matches(p, modify));
}

#[test]
fn eventbridge_ec2_example() {
    let event = json!({
        "version": "0",
        "id": "ddddd4-aaaa-7777-4444-345dd43cc333",
        "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2",
        "account": "012345679012",
        "time": "2017-10-02T16:24:49Z",
        "region": "us-east-1",
        "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000"],
        "detail": {
            "c-count": 5, "d-count": 3, "x-limit": 301.8, "source-ip": "10.0.0.33",
            "instance-id": "i-000000aaaaaa00000", "state": "running"
        }
    });
    let complex = r#"{
        "time": [{"prefix": "2017-10-02"}],
        "detail": {
            "state": [{"anything-but": "initializing"}],
            "c-count": [{"numeric": [">", 0, "<=", 5]}],
            "d-count": [{"numeric": ["<", 10]}],
            "x-limit": [{"anything-but": [100, 200, 300]}],
            "source-ip": [{"cidr": "10.0.0.0/8"}]
        }
    }"#;
    assert!(matches(complex, event.clone()));
    let simple = r#"{
        "detail-type": ["EC2 Instance State-change Notification"],
        "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000"],
        "detail": {"state": ["initializing", "running"]}
    }"#;
    assert!(matches(simple, event.clone()));
    assert!(matches(r#"{"detail": {"x-limit": [{"numeric": ["=", 3.018e2]}]}}"#, event.clone()));
    assert!(matches(r#"{"source": [{"suffix": "ec2"}]}"#, event.clone()));
    assert!(matches(r#"{"source": [{"equals-ignore-case": "AWS.EC2"}]}"#, event.clone()));
    let mut stopping = event;
    stopping["detail"]["state"] = json!("initializing");
    assert!(!matches(complex, stopping));
}

// --- exact literals ----------------------------------------------------------

#[test]
fn strings_match_exactly_without_folding() {
    let p = r#"{"s": ["Hello"]}"#;
    assert!(matches(p, json!({"s": "Hello"})));
    assert!(!matches(p, json!({"s": "hello"})));
    assert!(!matches(p, json!({"s": "Hello "})));
    assert!(!matches(p, json!({"s": ["hello", "HELLO"]})));
}

#[test]
fn empty_string_and_null() {
    assert!(matches(r#"{"s": [""]}"#, json!({"s": ""})));
    assert!(!matches(r#"{"s": [""]}"#, json!({"s": null})));
    assert!(!matches(r#"{"s": [""]}"#, json!({})));
    assert!(matches(r#"{"s": [null]}"#, json!({"s": null})));
    assert!(!matches(r#"{"s": [null]}"#, json!({"s": ""})));
    assert!(!matches(r#"{"s": [null]}"#, json!({})), "null does not match a missing field");
}

#[test]
fn types_do_not_mix() {
    assert!(!matches(r#"{"n": [5]}"#, json!({"n": "5"})));
    assert!(!matches(r#"{"n": ["5"]}"#, json!({"n": 5})));
    assert!(!matches(r#"{"b": [true]}"#, json!({"b": "true"})));
    assert!(matches(r#"{"b": [true]}"#, json!({"b": true})));
    assert!(!matches(r#"{"b": [true]}"#, json!({"b": false})));
    assert!(!matches(r#"{"z": [null]}"#, json!({"z": false})));
}

#[test]
fn numbers_match_by_parsed_representation() {
    let event = |text: &str| -> Value { serde_json::from_str(&format!(r#"{{"n": {text}}}"#)).unwrap() };
    assert!(matches(r#"{"n": [300]}"#, event("300")));
    // As in AWS: an integer and a float are different texts.
    assert!(!matches(r#"{"n": [300]}"#, event("300.0")));
    assert!(!matches(r#"{"n": [300]}"#, event("3.0e2")));
    assert!(!matches(r#"{"n": [300.0]}"#, event("300")));
    // Documented deviation: floats compare by value once parsed.
    assert!(matches(r#"{"n": [300.0]}"#, event("3.0e2")));
    assert!(matches(r#"{"n": [-1.5]}"#, event("-1.50")));
    assert!(!matches(r#"{"n": [-1.5]}"#, event("1.5")));
}

#[test]
fn any_value_in_the_list_matches() {
    let p = r#"{"state": ["running", "pending", 3, null]}"#;
    assert!(matches(p, json!({"state": "pending"})));
    assert!(matches(p, json!({"state": 3})));
    assert!(matches(p, json!({"state": null})));
    assert!(!matches(p, json!({"state": "stopped"})));
}

// --- arrays, nesting, AND ----------------------------------------------------

#[test]
fn event_arrays_match_on_non_empty_intersection() {
    let p = r#"{"resources": ["a", "b"]}"#;
    assert!(matches(p, json!({"resources": ["x", "b", "y"]})));
    assert!(!matches(p, json!({"resources": ["x", "y"]})));
    assert!(!matches(p, json!({"resources": []})));
    assert!(matches(p, json!({"resources": [["x"], ["a"]]})), "nested arrays are flattened");
}

#[test]
fn nested_patterns_descend_into_arrays_of_objects() {
    let event = json!({"employees": [
        {"firstName": "John", "lastName": "Doe"},
        {"firstName": "Anna", "lastName": "Smith"},
        {"firstName": "Peter", "lastName": "Jones"}
    ]});
    assert!(matches(r#"{"employees": {"firstName": ["Anna"]}}"#, event.clone()));
    assert!(matches(r#"{"employees": {"firstName": ["Anna"], "lastName": ["Smith"]}}"#, event.clone()));
    // fields from different array elements never combine
    assert!(!matches(r#"{"employees": {"firstName": ["Anna"], "lastName": ["Jones"]}}"#, event.clone()));
    let grouped = json!({"employees": [[{"firstName": "John"}, {"firstName": "Anna"}], [{"firstName": "Peter"}]]});
    assert!(matches(r#"{"employees": {"firstName": ["Peter"]}}"#, grouped));
}

#[test]
fn every_named_field_must_match_and_others_are_ignored() {
    let p = r#"{"a": ["1"], "b": {"c": ["2"]}}"#;
    assert!(matches(p, json!({"a": "1", "b": {"c": "2", "d": "x"}, "e": 7})));
    assert!(!matches(p, json!({"a": "1", "b": {"c": "3"}})));
    assert!(!matches(p, json!({"a": "0", "b": {"c": "2"}})));
    assert!(!matches(p, json!({"a": "1"})));
    assert!(!matches(p, json!({"a": "1", "b": "c"})));
}

#[test]
fn leaf_matchers_do_not_match_objects() {
    assert!(!matches(r#"{"a": ["x"]}"#, json!({"a": {"b": "x"}})));
    assert!(!matches(r#"{"a": [{"prefix": ""}]}"#, json!({"a": {"b": "x"}})));
    assert!(!matches(r#"{"a": [{"anything-but": "y"}]}"#, json!({"a": {"b": "x"}})));
}

#[test]
fn non_object_events() {
    assert!(!matches(r#"{"a": ["x"]}"#, json!("x")));
    assert!(!matches(r#"{"a": ["x"]}"#, json!(null)));
    assert!(matches(r#"{"a": [{"exists": false}]}"#, json!(42)));
    assert!(matches(r#"{"a": ["x"]}"#, json!([{"a": "y"}, {"a": "x"}])));
}

// --- string operators ----------------------------------------------------------

#[test]
fn prefix() {
    let p = r#"{"time": [{"prefix": "2017-10-02"}]}"#;
    assert!(matches(p, json!({"time": "2017-10-02T16:24:49Z"})));
    assert!(matches(p, json!({"time": "2017-10-02"})));
    assert!(!matches(p, json!({"time": "2017-10-03T00:00:00Z"})));
    assert!(!matches(p, json!({"time": "2017-10"})));
    assert!(!matches(p, json!({"time": 20171002})));
    assert!(!matches(p, json!({})));
    assert!(matches(r#"{"s": [{"prefix": ""}]}"#, json!({"s": ""})));
    assert!(!matches(r#"{"s": [{"prefix": ""}]}"#, json!({"s": 1})));
}

#[test]
fn suffix() {
    let p = r#"{"key": [{"suffix": ".png"}]}"#;
    assert!(matches(p, json!({"key": "a/b.png"})));
    assert!(!matches(p, json!({"key": "a/b.PNG"})));
    assert!(!matches(p, json!({"key": "png"})));
    assert!(!matches(p, json!({"key": null})));
    assert!(!matches(p, json!({})));
}

#[test]
fn prefix_and_suffix_ignoring_case() {
    let p = r#"{"s": [{"prefix": {"equals-ignore-case": "ABC"}}]}"#;
    assert!(matches(p, json!({"s": "abcdef"})));
    assert!(matches(p, json!({"s": "AbC"})));
    assert!(!matches(p, json!({"s": "ab"})));
    let p = r#"{"s": [{"suffix": {"equals-ignore-case": ".Png"}}]}"#;
    assert!(matches(p, json!({"s": "PHOTO.PNG"})));
    assert!(!matches(p, json!({"s": "photo.jpg"})));
    assert!(!matches(p, json!({})));
}

#[test]
fn equals_ignore_case() {
    let p = r#"{"s": [{"equals-ignore-case": "Straße"}]}"#;
    assert!(matches(p, json!({"s": "STRAßE"})));
    assert!(matches(p, json!({"s": "straße"})));
    assert!(!matches(p, json!({"s": "strasse"})));
    assert!(!matches(p, json!({"s": "straßen"})));
    assert!(!matches(p, json!({})));
}

#[test]
fn wildcard() {
    let p = r#"{"s": [{"wildcard": "Simple*Service"}]}"#;
    assert!(matches(p, json!({"s": "SimpleQueueService"})));
    assert!(matches(p, json!({"s": "SimpleService"})));
    assert!(!matches(p, json!({"s": "SimpleQueue"})));
    assert!(!matches(p, json!({"s": 7})));
    assert!(!matches(p, json!({})));
    assert!(matches(r#"{"s": [{"wildcard": "a\\*b"}]}"#, json!({"s": "a*b"})));
    assert!(!matches(r#"{"s": [{"wildcard": "a\\*b"}]}"#, json!({"s": "axb"})));
    assert!(matches(r#"{"s": [{"wildcard": "a\\\\*"}]}"#, json!({"s": "a\\bc"})));
    assert!(matches(r#"{"s": [{"wildcard": "*"}]}"#, json!({"s": ""})));
}

// --- anything-but --------------------------------------------------------------

#[test]
fn anything_but_single_and_lists() {
    let p = r#"{"state": [{"anything-but": "initializing"}]}"#;
    assert!(matches(p, json!({"state": "running"})));
    assert!(!matches(p, json!({"state": "initializing"})));
    let p = r#"{"state": [{"anything-but": ["stopped", "overloaded"]}]}"#;
    assert!(matches(p, json!({"state": "running"})));
    assert!(!matches(p, json!({"state": "stopped"})));
    assert!(!matches(p, json!({"state": "overloaded"})));
    let p = r#"{"x": [{"anything-but": [100, 200, 300]}]}"#;
    assert!(matches(p, json!({"x": 301.8})));
    assert!(!matches(p, json!({"x": 200})));
    let p = r#"{"x": [{"anything-but": 123}]}"#;
    assert!(matches(p, json!({"x": 124})));
    assert!(!matches(p, json!({"x": 123})));
}

#[test]
fn anything_but_needs_a_present_value() {
    for p in [
        r#"{"s": [{"anything-but": "a"}]}"#,
        r#"{"s": [{"anything-but": [1, 2]}]}"#,
        r#"{"s": [{"anything-but": {"prefix": "a"}}]}"#,
        r#"{"s": [{"anything-but": {"suffix": "a"}}]}"#,
        r#"{"s": [{"anything-but": {"equals-ignore-case": "a"}}]}"#,
        r#"{"s": [{"anything-but": {"wildcard": "a*"}}]}"#,
    ] {
        assert!(!matches(p, json!({})), "{p} on a missing field");
        assert!(!matches(p, json!({"s": {"t": "b"}})), "{p} on an object");
        assert!(!matches(p, json!({"s": []})), "{p} on an empty array");
    }
}

#[test]
fn anything_but_excludes_only_its_own_values() {
    // Another type is not excluded (as in Event Ruler).
    assert!(matches(r#"{"s": [{"anything-but": "5"}]}"#, json!({"s": 5})));
    assert!(matches(r#"{"s": [{"anything-but": [5]}]}"#, json!({"s": "5"})));
    assert!(matches(r#"{"s": [{"anything-but": "x"}]}"#, json!({"s": null})));
    assert!(matches(r#"{"s": [{"anything-but": {"prefix": "x"}}]}"#, json!({"s": true})));
}

#[test]
fn anything_but_on_event_arrays_matches_if_any_element_is_not_excluded() {
    let p = r#"{"s": [{"anything-but": ["a", "b"]}]}"#;
    assert!(matches(p, json!({"s": ["a", "c"]})));
    assert!(!matches(p, json!({"s": ["a", "b", "a"]})));
}

#[test]
fn anything_but_string_operators() {
    let p = r#"{"s": [{"anything-but": {"prefix": "init"}}]}"#;
    assert!(matches(p, json!({"s": "running"})));
    assert!(!matches(p, json!({"s": "initializing"})));
    let p = r#"{"s": [{"anything-but": {"suffix": ".tmp"}}]}"#;
    assert!(matches(p, json!({"s": "a.txt"})));
    assert!(!matches(p, json!({"s": "a.tmp"})));
    let p = r#"{"s": [{"anything-but": {"equals-ignore-case": ["Stopped", "OVERLOADED"]}}]}"#;
    assert!(matches(p, json!({"s": "running"})));
    assert!(!matches(p, json!({"s": "STOPPED"})));
    assert!(!matches(p, json!({"s": "overloaded"})));
    let p = r#"{"s": [{"anything-but": {"equals-ignore-case": "Stopped"}}]}"#;
    assert!(!matches(p, json!({"s": "stopped"})));
    let p = r#"{"s": [{"anything-but": {"wildcard": ["*.tmp", "draft-*"]}}]}"#;
    assert!(matches(p, json!({"s": "final.txt"})));
    assert!(!matches(p, json!({"s": "x.tmp"})));
    assert!(!matches(p, json!({"s": "draft-1"})));
    let p = r#"{"s": [{"anything-but": {"wildcard": "*.tmp"}}]}"#;
    assert!(!matches(p, json!({"s": ".tmp"})));
}

// --- numeric -------------------------------------------------------------------

#[test]
fn numeric_ranges() {
    let p = r#"{"n": [{"numeric": [">", 0, "<=", 5]}]}"#;
    assert!(!matches(p, json!({"n": 0})));
    assert!(matches(p, json!({"n": 0.0001})));
    assert!(matches(p, json!({"n": 5})));
    assert!(!matches(p, json!({"n": 5.0001})));
    assert!(!matches(p, json!({"n": -1})));
    assert!(!matches(p, json!({"n": "3"})), "numeric only matches numbers");
    assert!(!matches(p, json!({})));
    // an exclusive lower bound excludes itself (quamina 0.7 sometimes does not)
    assert!(!matches(r#"{"n": [{"numeric": [">", 2, "<", 5]}]}"#, json!({"n": 2})));
    assert!(!matches(r#"{"n": [{"numeric": [">", 0, "<", 5]}]}"#, json!({"n": 0.0})));
    let p = r#"{"n": [{"numeric": [">=", 10, "<", 20]}]}"#;
    assert!(matches(p, json!({"n": 10})));
    assert!(!matches(p, json!({"n": 20})));
    assert!(matches(p, json!({"n": [1, 15]})));
}

#[test]
fn numeric_single_comparisons() {
    let cases = [("=", 5.0, [false, true, false]), ("<", 5.0, [true, false, false]), ("<=", 5.0, [true, true, false])];
    let more = [(">", 5.0, [false, false, true]), (">=", 5.0, [false, true, true])];
    for (op, bound, expect) in cases.into_iter().chain(more) {
        let p = format!(r#"{{"n": [{{"numeric": ["{op}", {bound}]}}]}}"#);
        for (value, want) in [4.0, 5.0, 6.0].into_iter().zip(expect) {
            assert_eq!(matches(&p, json!({"n": value})), want, "{value} {op} {bound}");
        }
    }
    // numeric equality is numeric, unlike exact matching
    assert!(matches(r#"{"n": [{"numeric": ["=", 300]}]}"#, serde_json::from_str(r#"{"n": 3.0e2}"#).unwrap()));
    assert!(matches(r#"{"n": [{"numeric": ["=", 300]}]}"#, json!({"n": 300})));
}

#[test]
fn numeric_only_matches_numbers() {
    // (quamina 0.7 lets an upper-bound-only comparison match non-numbers)
    for op in ["<", "<=", ">", ">=", "="] {
        let p = format!(r#"{{"n": [{{"numeric": ["{op}", 0]}}]}}"#);
        for value in [json!(""), json!("a"), json!("0"), json!(true), json!(false), json!(null), json!({"n": 0})] {
            assert!(!matches(&p, json!({"n": value})), "{p} on {value}");
        }
    }
}

#[test]
fn numeric_price_example() {
    let p = r#"{"price": [{"numeric": [">", 0, "<=", 150.50]}]}"#;
    assert!(matches(p, json!({"price": 100})));
    assert!(matches(p, json!({"price": 150.50})));
    assert!(!matches(p, json!({"price": 0})));
    assert!(!matches(p, json!({"price": 200})));
}

// --- cidr ------------------------------------------------------------------------

#[test]
fn cidr() {
    let p = r#"{"ip": [{"cidr": "10.0.0.0/24"}]}"#;
    assert!(matches(p, json!({"ip": "10.0.0.33"})));
    assert!(!matches(p, json!({"ip": "10.0.1.33"})));
    assert!(!matches(p, json!({"ip": "not an ip"})));
    assert!(!matches(p, json!({"ip": 10})));
    assert!(!matches(p, json!({})));
    let p = r#"{"ip": [{"cidr": "2001:db8::/32"}]}"#;
    assert!(matches(p, json!({"ip": "2001:db8::ff00:42:8329"})));
    assert!(!matches(p, json!({"ip": "2001:db9::1"})));
}

// --- exists ----------------------------------------------------------------------

#[test]
fn exists_true() {
    let p = r#"{"customer": {"email": [{"exists": true}]}}"#;
    assert!(matches(p, json!({"customer": {"email": "test@example.com"}})));
    assert!(matches(p, json!({"customer": {"email": null}})), "a null is a present leaf");
    assert!(matches(p, json!({"customer": {"email": ["a"]}})));
    assert!(!matches(p, json!({"customer": {"phone": "555-1234"}})));
    assert!(!matches(p, json!({"customer": {"email": {"primary": "x"}}})), "exists works on leaves only");
    assert!(!matches(p, json!({"customer": {"email": []}})));
    assert!(!matches(p, json!({})));
}

#[test]
fn exists_beside_other_matchers() {
    // (quamina 0.7 ignores exists after another matcher in the list)
    assert!(matches(r#"{"a": ["", {"exists": true}]}"#, json!({"a": 0})));
    assert!(matches(r#"{"a": [{"prefix": "q"}, {"exists": true}]}"#, json!({"a": "x"})));
    assert!(!matches(r#"{"a": [{"prefix": "q"}, {"exists": true}]}"#, json!({})));
}

#[test]
fn exists_false() {
    let p = r#"{"detail": {"c-count": [{"exists": false}]}}"#;
    assert!(matches(p, json!({"detail": {"state": "running"}})));
    assert!(matches(p, json!({"detail": {"c-count": {"c1": 100}}})), "an object is not a leaf");
    assert!(matches(p, json!({"detail": "x"})));
    assert!(matches(p, json!({})), "a missing parent means a missing field");
    assert!(!matches(p, json!({"detail": {"c-count": 5}})));
    assert!(!matches(p, json!({"detail": {"c-count": null}})));
}

#[test]
fn exists_false_beside_other_matchers() {
    // "missing, or equal to x", in either order (quamina 0.7 honours only
    // the first order)
    for p in [r#"{"s": [{"exists": false}, "x"]}"#, r#"{"s": ["x", {"exists": false}]}"#] {
        assert!(matches(p, json!({})));
        assert!(matches(p, json!({"s": "x"})));
        assert!(!matches(p, json!({"s": "y"})));
    }
}

#[test]
fn several_exists_false_fields() {
    // (quamina 0.7 never matches a pattern with two exists:false fields)
    let p = r#"{"a": [{"exists": false}], "b": {"x": [{"exists": false}]}}"#;
    assert!(matches(p, json!({})));
    assert!(matches(p, json!({"b": {"y": 1}})));
    assert!(!matches(p, json!({"a": 1})));
    assert!(!matches(p, json!({"b": {"x": 1}})));
    let p = r#"{"a": [{"exists": true}], "b": [{"exists": false}]}"#;
    assert!(matches(p, json!({"a": ""})));
    assert!(!matches(p, json!({"a": "", "b": 0})));
    assert!(!matches(p, json!({})));
}

#[test]
fn missing_fields_match_nothing_but_exists_false() {
    let leaves = [
        r#""x""#,
        "5",
        "null",
        "true",
        r#""""#,
        r#"{"prefix": ""}"#,
        r#"{"suffix": ""}"#,
        r#"{"equals-ignore-case": ""}"#,
        r#"{"wildcard": "*"}"#,
        r#"{"numeric": [">", -1e300]}"#,
        r#"{"cidr": "0.0.0.0/0"}"#,
        r#"{"exists": true}"#,
        r#"{"anything-but": "x"}"#,
    ];
    for leaf in leaves {
        let p = format!(r#"{{"a": {{"b": [{leaf}]}}}}"#);
        assert!(!matches(&p, json!({"a": {}})), "{p}");
        assert!(!matches(&p, json!({})), "{p}");
        assert!(!matches(&p, json!({"a": {"c": 1}})), "{p}");
    }
    assert!(matches(r#"{"a": {"b": [{"exists": false}]}}"#, json!({"a": {"c": 1}})));
}

// --- $or -------------------------------------------------------------------------

#[test]
fn or_at_top_level() {
    let p = r#"{
        "source": ["aws.cloudwatch"],
        "$or": [
            {"metricName": ["CPUUtilization", "ReadLatency"]},
            {"namespace": ["AWS/EC2", "AWS/ES"]}
        ]
    }"#;
    assert!(matches(p, json!({"source": "aws.cloudwatch", "metricName": "ReadLatency"})));
    assert!(matches(p, json!({"source": "aws.cloudwatch", "namespace": "AWS/ES"})));
    assert!(!matches(p, json!({"source": "aws.cloudwatch", "namespace": "AWS/S3"})));
    assert!(!matches(p, json!({"source": "aws.ec2", "metricName": "ReadLatency"})));
}

#[test]
fn or_nested_and_parallel() {
    let p = r#"{
        "$or": [{"metricName": ["CPU"]}, {"namespace": ["EC2"]}],
        "detail": {"$or": [{"source": ["cw"]}, {"detail-type": ["alarm"]}]}
    }"#;
    assert!(matches(p, json!({"metricName": "CPU", "detail": {"detail-type": "alarm"}})));
    assert!(matches(p, json!({"namespace": "EC2", "detail": {"source": "cw"}})));
    assert!(!matches(p, json!({"namespace": "EC2", "detail": {"source": "other"}})));
    assert!(!matches(p, json!({"detail": {"source": "cw"}})));
}

#[test]
fn or_with_and_inside_and_nested_or() {
    let p = r#"{
        "source": ["aws.cloudwatch"],
        "$or": [
            {"metricName": ["CPUUtilization"]},
            {"metricType": ["MetricType"], "namespace": ["AWS/EC2"], "$or": [{"metricId": [1234]}, {"spaceId": [1000]}]},
            {"scope": ["Service"]}
        ]
    }"#;
    let base = json!({"source": "aws.cloudwatch", "metricType": "MetricType", "namespace": "AWS/EC2"});
    assert!(!matches(p, base.clone()));
    let mut with_space = base.clone();
    with_space["spaceId"] = json!(1000);
    assert!(matches(p, with_space));
    let mut wrong_namespace = base;
    wrong_namespace["namespace"] = json!("AWS/ES");
    wrong_namespace["metricId"] = json!(1234);
    assert!(!matches(p, wrong_namespace));
    assert!(matches(p, json!({"source": "aws.cloudwatch", "scope": "Service"})));
}

#[test]
fn or_sub_patterns_can_use_exists_false() {
    let p = r#"{"$or": [{"a": [{"exists": false}]}, {"a": ["yes"]}]}"#;
    assert!(matches(p, json!({})));
    assert!(matches(p, json!({"a": "yes"})));
    assert!(!matches(p, json!({"a": "no"})));
}

// --- duplicate keys --------------------------------------------------------------

#[test]
fn duplicate_keys_last_wins() {
    let p = r#"{"a": ["first"], "a": ["second"]}"#;
    assert!(matches(p, json!({"a": "second"})));
    assert!(!matches(p, json!({"a": "first"})));
}

#[test]
fn from_value_and_parse_agree() {
    let v = json!({"a": [{"prefix": "x"}], "b": {"c": [1, 2]}});
    let from_value = Pattern::from_value(&v).unwrap();
    let parsed = Pattern::parse(&v.to_string()).unwrap();
    for event in [json!({"a": "xy", "b": {"c": 2}}), json!({"a": "y", "b": {"c": 2}}), json!({"a": "xy"})] {
        assert_eq!(from_value.matches(&event), parsed.matches(&event));
    }
    assert!(from_value.matches(&json!({"a": "xy", "b": {"c": 2}})));
}
