//! Every class of invalid pattern is rejected at compile time with a
//! readable reason.

use weir_filter::Pattern;

/// Asserts that `pattern` is rejected and that the reason mentions `needle`.
fn rejected(pattern: &str, needle: &str) {
    match Pattern::parse(pattern) {
        Ok(p) => panic!("accepted {pattern}: {p:?}"),
        Err(e) => {
            let reason = e.to_string();
            assert!(reason.contains(needle), "{pattern}: reason {reason:?} lacks {needle:?}");
            assert_eq!(reason, e.reason());
        }
    }
}

#[test]
fn not_json() {
    rejected("", "not valid JSON");
    rejected("{", "not valid JSON");
    rejected(r#"{"a": ["x"],}"#, "not valid JSON");
    rejected(r#"{"a": ['x']}"#, "not valid JSON");
}

#[test]
fn top_level_not_an_object() {
    for p in ["[]", r#"["a"]"#, "1", r#""a""#, "null", "true"] {
        rejected(p, "must be a JSON object");
    }
}

#[test]
fn empty_objects() {
    rejected("{}", "empty objects");
    rejected(r#"{"a": {}}"#, "a: empty objects");
    rejected(r#"{"$or": [{}, {"a": ["x"]}]}"#, "empty objects");
}

#[test]
fn leaf_that_is_not_an_array() {
    rejected(r#"{"a": "x"}"#, "a: must be an object or an array");
    rejected(r#"{"a": 1}"#, "must be an object or an array");
    rejected(r#"{"a": null}"#, "must be an object or an array");
    rejected(r#"{"a": {"b": true}}"#, "a.b: must be an object or an array");
}

#[test]
fn empty_arrays() {
    rejected(r#"{"a": []}"#, "empty arrays");
    rejected(r#"{"a": {"b": []}}"#, "a.b: empty arrays");
}

#[test]
fn nested_array_as_a_match_value() {
    rejected(r#"{"a": [["x"]]}"#, "match value must be");
}

#[test]
fn operator_objects_with_other_than_one_key() {
    rejected(r#"{"a": [{}]}"#, "empty match expression");
    rejected(r#"{"a": [{"prefix": "x", "suffix": "y"}]}"#, "only one key");
}

#[test]
fn unknown_operators() {
    rejected(r#"{"a": [{"regex": "x"}]}"#, "unrecognized match type \"regex\"");
    rejected(r#"{"a": [{"Prefix": "x"}]}"#, "unrecognized match type");
    rejected(r#"{"a": [{"prefix": {"ignore-case": "x"}}]}"#, "prefix takes a string or");
    rejected(r#"{"a": [{"suffix": {"wildcard": "x"}}]}"#, "suffix takes a string or");
    rejected(r#"{"a": [{"anything-but": {"numeric": [">", 1]}}]}"#, "unsupported anything-but pattern");
    rejected(r#"{"a": [{"anything-but": {"cidr": "10.0.0.0/8"}}]}"#, "unsupported anything-but pattern");
}

#[test]
fn operator_values_of_the_wrong_type() {
    rejected(r#"{"a": [{"prefix": 1}]}"#, "prefix value must be a string");
    rejected(r#"{"a": [{"prefix": ["x"]}]}"#, "prefix value must be a string");
    rejected(r#"{"a": [{"prefix": {"equals-ignore-case": 1}}]}"#, "equals-ignore-case value must be a string");
    rejected(r#"{"a": [{"suffix": null}]}"#, "suffix value must be a string");
    rejected(r#"{"a": [{"equals-ignore-case": ["x"]}]}"#, "equals-ignore-case value must be a string");
    rejected(r#"{"a": [{"wildcard": 5}]}"#, "wildcard value must be a string");
    rejected(r#"{"a": [{"cidr": 10}]}"#, "cidr value must be a string");
    rejected(r#"{"a": [{"exists": "true"}]}"#, "exists value must be true or false");
    rejected(r#"{"a": [{"exists": 1}]}"#, "exists value must be true or false");
    rejected(r#"{"a": [{"numeric": 5}]}"#, "numeric value must be an array");
}

#[test]
fn anything_but_values() {
    rejected(r#"{"a": [{"anything-but": null}]}"#, "anything-but value must be");
    rejected(r#"{"a": [{"anything-but": true}]}"#, "anything-but value must be");
    rejected(r#"{"a": [{"anything-but": []}]}"#, "non-empty and all strings or all numbers");
    rejected(r#"{"a": [{"anything-but": ["x", 1]}]}"#, "all strings or all numbers");
    rejected(r#"{"a": [{"anything-but": [null]}]}"#, "all strings or all numbers");
    rejected(r#"{"a": [{"anything-but": [["x"]]}]}"#, "all strings or all numbers");
    rejected(r#"{"a": [{"anything-but": {"prefix": ""}}]}"#, "must not be empty");
    rejected(r#"{"a": [{"anything-but": {"suffix": 1}}]}"#, "must be a string");
    rejected(r#"{"a": [{"anything-but": {"equals-ignore-case": []}}]}"#, "non-empty list of strings");
    rejected(r#"{"a": [{"anything-but": {"equals-ignore-case": [1]}}]}"#, "must be a string");
    rejected(r#"{"a": [{"anything-but": {"wildcard": ["a**"]}}]}"#, "consecutive");
    rejected(r#"{"a": [{"anything-but": {}}]}"#, "empty match expression");
}

#[test]
fn or_shapes() {
    rejected(r#"{"$or": [{"a": ["x"]}]}"#, "at least 2");
    rejected(r#"{"$or": []}"#, "at least 2");
    rejected(r#"{"$or": {"a": ["x"]}}"#, "$or must be an array");
    rejected(r#"{"$or": [{"a": ["x"]}, "b"]}"#, "$or may only contain objects");
    rejected(r#"{"$or": [{"a": ["x"]}, {"b": "x"}]}"#, "b: must be an object or an array");
    rejected(r#"{"d": {"$or": [{"a": ["x"]}]}}"#, "d: $or needs at least 2");
}

#[test]
fn numeric_operators_and_ordering() {
    rejected(r#"{"a": [{"numeric": []}]}"#, "one comparison or a lower and an upper bound");
    rejected(r#"{"a": [{"numeric": [">"]}]}"#, "one comparison or a lower and an upper bound");
    rejected(r#"{"a": [{"numeric": [">", 1, "<"]}]}"#, "one comparison or a lower and an upper bound");
    rejected(r#"{"a": [{"numeric": [">", 1, "<", 5, "<", 6]}]}"#, "one comparison");
    rejected(r#"{"a": [{"numeric": ["==", 1]}]}"#, "unrecognized numeric operator");
    rejected(r#"{"a": [{"numeric": ["!=", 1]}]}"#, "unrecognized numeric operator");
    rejected(r#"{"a": [{"numeric": [1, ">"]}]}"#, "operator must be a string");
    rejected(r#"{"a": [{"numeric": [">", "1"]}]}"#, "must be a number");
    rejected(r#"{"a": [{"numeric": ["<", 5, ">", 1]}]}"#, "must start with > or >=");
    rejected(r#"{"a": [{"numeric": ["=", 5, "<", 6]}]}"#, "must start with > or >=");
    rejected(r#"{"a": [{"numeric": [">", 1, ">=", 5]}]}"#, "must end with < or <=");
    rejected(r#"{"a": [{"numeric": [">", 5, "<", 1]}]}"#, "must be below upper bound");
    rejected(r#"{"a": [{"numeric": [">=", 5, "<=", 5]}]}"#, "must be below upper bound");
}

#[test]
fn wildcards() {
    rejected(r#"{"a": [{"wildcard": "a**b"}]}"#, "consecutive");
    rejected(r#"{"a": [{"wildcard": "**"}]}"#, "consecutive");
    rejected(r#"{"a": [{"wildcard": "a\\b"}]}"#, "may only escape");
    rejected(r#"{"a": [{"wildcard": "a\\"}]}"#, "may only escape");
}

#[test]
fn cidr_blocks() {
    for block in ["10.0.0.0", "10.0.0.0/33", "2001:db8::/129", "10.0.0/8", "300.0.0.0/8", "10.0.0.0/x", ""] {
        rejected(&format!(r#"{{"a": [{{"cidr": "{block}"}}]}}"#), "invalid CIDR block");
    }
}

#[test]
fn errors_name_the_field_path() {
    let e = Pattern::parse(r#"{"detail": {"state": [{"prefix": 5}]}}"#).unwrap_err();
    assert_eq!(e.to_string(), "detail.state: prefix value must be a string");
    let e = Pattern::parse(r#"{"detail": {"$or": [{"a": ["x"]}, {"b": []}]}}"#).unwrap_err();
    assert_eq!(e.to_string(), "detail.b: empty arrays are not allowed");
}

#[test]
fn error_is_a_std_error() {
    let e: Box<dyn std::error::Error + Send + Sync> = Box::new(Pattern::parse("[]").unwrap_err());
    assert_eq!(e.to_string(), "pattern must be a JSON object");
}
