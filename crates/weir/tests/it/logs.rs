//! Function logs as Lambda writes them: init output, START, the handler's
//! lines, END and REPORT, in that order, in the log and in the tail.

use serde_json::json;

use crate::support::*;

const LOADING: &str = r#"
print("Loading function")

def handler(event, context):
    print("handling", event["n"])
    return event["n"]
"#;

#[tokio::test]
async fn init_output_comes_before_start_in_the_log_and_the_cold_tail() {
    let weir = Weir::start(&[]);
    weir.create_function(python_function("loader", LOADING)).await;
    let cold = weir.invoke("loader", json!({"n": 1})).await;
    assert_eq!(cold.status, 200, "{}", cold.text());
    let request_id = cold.header("x-amzn-requestid").unwrap().to_string();
    let tail = cold.log();
    let order: Vec<usize> =
        ["Loading function", "START RequestId:", "handling 1", "END RequestId:", "REPORT RequestId:"]
            .iter()
            .map(|needle| tail.find(needle).unwrap_or_else(|| panic!("{needle:?} missing from the tail:\n{tail}")))
            .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "out of order:\n{tail}");

    // In the function's log, the init line belongs to no request.
    let log = weir.call("GET", "/_weir/logs/loader", &[], "").await.text();
    let lines: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let loading = lines.iter().find(|l| l["line"] == "Loading function").expect("the init line is logged");
    assert!(loading.get("request_id").is_none(), "{loading}");
    let handling = lines.iter().find(|l| l["line"] == "handling 1").expect("the handler line is logged");
    assert_eq!(handling["request_id"], request_id.as_str());

    // A warm invocation's tail holds only its own lines.
    let warm = weir.invoke("loader", json!({"n": 2})).await.log();
    assert!(warm.starts_with("START RequestId:"), "{warm}");
    assert!(!warm.contains("Loading function") && !warm.contains("handling 1"), "{warm}");
}
