//! Function management and warm invocations through the Lambda REST API.

use base64::Engine as _;
use serde_json::json;

use crate::support::*;

const COUNTER: &str = r#"
import os
count = 0  # module-level state survives across warm invocations

def handler(event, context):
    global count
    count += 1
    print("invocation", count)
    return {"count": count, "event": event, "pid": os.getpid(), "request_id": context.aws_request_id,
            "memory": context.memory_limit_in_mb, "version": context.function_version}
"#;

#[tokio::test]
async fn a_warm_environment_keeps_module_state_and_only_the_cold_start_reports_init() {
    let weir = Weir::start(&[]);
    weir.create_function(python_function("counter", COUNTER)).await;

    let first = weir.invoke("counter", json!({"n": 1})).await;
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.header("x-amz-executed-version"), Some("$LATEST"));
    let body = first.json();
    assert_eq!(body["count"], 1);
    assert_eq!(body["event"], json!({"n": 1}));
    assert!(has_init_duration(&first.log()), "cold start REPORT has Init Duration:\n{}", first.log());
    assert!(first.log().contains("START RequestId:"));
    assert!(first.log().contains("invocation 1"));

    for n in 2..=4 {
        let warm = weir.invoke("counter", json!({})).await;
        let body = warm.json();
        assert_eq!(body["count"], n, "same environment, same module state");
        assert_eq!(body["pid"], first.json()["pid"]);
        assert!(!has_init_duration(&warm.log()), "warm REPORT has no Init Duration:\n{}", warm.log());
        let report = warm.log().lines().find(|l| l.starts_with("REPORT")).unwrap().to_string();
        for field in ["Duration: ", "Billed Duration: ", "Memory Size: 128 MB", "Max Memory Used: "] {
            assert!(report.contains(field), "{report}");
        }
        assert!(report.contains('\t'), "REPORT fields are tab-separated");
    }
}

#[tokio::test]
async fn a_rust_lambda_runtime_binary_runs_unmodified() {
    let weir = Weir::start(&[]);
    weir.create_function(rust_function("rusty")).await;
    let r = weir.invoke("rusty", json!({"hello": "world"})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"hello": "world"}));
    let err = weir.invoke("rusty", json!({"error": "boom"})).await;
    assert_eq!(err.header("x-amz-function-error"), Some("Unhandled"));
    assert!(err.text().contains("boom"), "{}", err.text());
}

/// Python's `logging` behaves as on Lambda: the root logger has Lambda's
/// handler (so `basicConfig` is a no-op and `setLevel(INFO)` shows info
/// lines), and every line carries the level, a UTC time and the request id.
#[tokio::test]
async fn python_logging_writes_lambdas_format_with_the_request_id() {
    const LOGGER: &str = r#"
import logging
logging.basicConfig(level=logging.DEBUG, format="%(message)s")
logger = logging.getLogger()
logger.setLevel(logging.INFO)

def handler(event, context):
    logger.info("order %s accepted", event["order"])
    logging.getLogger("child").debug("below the level")
    return "ok"
"#;
    let weir = Weir::start(&[]);
    weir.create_function(python_function("logs", LOGGER)).await;
    let r = weir.invoke("logs", json!({"order": 42})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let request_id = r.header("x-amzn-requestid").unwrap().to_string();
    let log = r.log();
    let line = log.lines().find(|l| l.starts_with("[INFO]")).unwrap_or_else(|| panic!("no [INFO] line:\n{log}"));
    let fields: Vec<&str> = line.split('\t').collect();
    assert_eq!(fields.len(), 4, "{line:?}");
    assert!(fields[1].ends_with('Z') && fields[1].contains('T'), "a UTC timestamp: {line:?}");
    assert_eq!(fields[2], request_id);
    assert_eq!(fields[3], "order 42 accepted");
    assert_eq!(log.matches("order 42 accepted").count(), 1, "basicConfig added no second handler:\n{log}");
    assert!(!log.contains("below the level"), "{log}");
}

/// `X-Amz-Client-Context` is base64 JSON on the wire; every runtime client
/// (lambda_runtime, weir's Python client, awslambdaric) reads the JSON.
#[tokio::test]
async fn the_client_context_reaches_rust_and_python_handlers() {
    let weir = Weir::start(&[]);
    weir.create_function(rust_function("rusty")).await;
    weir.create_function(python_function(
        "pythonic",
        "def handler(event, context):\n    return context.client_context.custom\n",
    ))
    .await;
    let encoded = base64::engine::general_purpose::STANDARD.encode(r#"{"custom": {"tenant": "acme"}}"#);
    let invoke = async |function: &str, payload: serde_json::Value| {
        weir.call(
            "POST",
            &format!("/2015-03-31/functions/{function}/invocations"),
            &[("x-amz-client-context", encoded.as_str())],
            payload.to_string(),
        )
        .await
    };
    let rust = invoke("rusty", json!({"context": true})).await;
    assert_eq!(rust.status, 200, "{}", rust.text());
    assert_eq!(rust.header("x-amz-function-error"), None, "{}", rust.text());
    assert_eq!(rust.json()["client_context"], json!({"tenant": "acme"}));
    let python = invoke("pythonic", json!({})).await;
    assert_eq!(python.json(), json!({"tenant": "acme"}), "{}", python.text());

    let not_json = base64::engine::general_purpose::STANDARD.encode("not json");
    let refused = weir
        .call("POST", "/2015-03-31/functions/rusty/invocations", &[("x-amz-client-context", not_json.as_str())], "{}")
        .await;
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert_eq!(refused.header("x-amzn-errortype"), Some("InvalidRequestContentException"));
}

#[tokio::test]
async fn functions_versions_and_aliases_follow_the_lambda_api() {
    let weir = Weir::start(&[]);
    weir.create_function(python_function("api", COUNTER)).await;

    let again = weir.json("POST", "/2015-03-31/functions", python_function("api", COUNTER)).await;
    assert_eq!(again.status, 409);
    assert_eq!(again.header("x-amzn-errortype"), Some("ResourceConflictException"));

    let missing = weir.call("GET", "/2015-03-31/functions/nope", &[], "").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("x-amzn-errortype"), Some("ResourceNotFoundException"));
    assert!(missing.json()["Message"].as_str().unwrap().contains("Function not found"));

    let got = weir.call("GET", "/2015-03-31/functions/api", &[], "").await.json();
    assert_eq!(got["Configuration"]["Handler"], "app.handler");
    assert_eq!(got["Configuration"]["State"], "Active");

    let list = weir.call("GET", "/2015-03-31/functions/", &[], "").await.json();
    assert_eq!(list["Functions"].as_array().unwrap().len(), 1);

    let updated = weir
        .json(
            "PUT",
            "/2015-03-31/functions/api/configuration",
            json!({"MemorySize": 256, "Timeout": 10, "Environment": {"Variables": {"STAGE": "test"}}}),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text());
    assert_eq!(updated.json()["MemorySize"], 256);

    let v1 = weir.json("POST", "/2015-03-31/functions/api/versions", json!({})).await;
    assert_eq!(v1.status, 201);
    assert_eq!(v1.json()["Version"], "1");
    let unchanged = weir.json("POST", "/2015-03-31/functions/api/versions", json!({})).await;
    assert_eq!(unchanged.json()["Version"], "1", "nothing changed, no new version");

    let alias =
        weir.json("POST", "/2015-03-31/functions/api/aliases", json!({"Name": "live", "FunctionVersion": "1"})).await;
    assert_eq!(alias.status, 201, "{}", alias.text());
    assert!(alias.json()["AliasArn"].as_str().unwrap().ends_with(":function:api:live"));

    let via_alias = weir.call("POST", "/2015-03-31/functions/api/invocations?Qualifier=live", &[], "{}").await;
    assert_eq!(via_alias.status, 200, "{}", via_alias.text());
    assert_eq!(via_alias.header("x-amz-executed-version"), Some("1"));
    assert_eq!(via_alias.json()["memory"], "256");
    let via_name = weir.call("POST", "/2015-03-31/functions/api:live/invocations", &[], "{}").await;
    assert_eq!(via_name.header("x-amz-executed-version"), Some("1"));

    let bad_version =
        weir.json("POST", "/2015-03-31/functions/api/aliases", json!({"Name": "x", "FunctionVersion": "7"})).await;
    assert_eq!(bad_version.status, 404);

    let dry =
        weir.call("POST", "/2015-03-31/functions/api/invocations", &[("x-amz-invocation-type", "DryRun")], "{}").await;
    assert_eq!(dry.status, 204);

    let not_json = weir.call("POST", "/2015-03-31/functions/api/invocations", &[], "{oops").await;
    assert_eq!(not_json.status, 400);
    assert_eq!(not_json.header("x-amzn-errortype"), Some("InvalidRequestContentException"));

    let too_large =
        weir.call("POST", "/2015-03-31/functions/api/invocations", &[], vec![b' '; 6 * 1024 * 1024 + 1]).await;
    assert_eq!(too_large.status, 413);
    assert_eq!(too_large.header("x-amzn-errortype"), Some("RequestTooLargeException"));

    // Beyond the server's own body limit, the error keeps Lambda's shape.
    let huge = raw_exchange(&weir.endpoint, "/2015-03-31/functions/api/invocations", 73 * 1024 * 1024).await;
    assert!(huge.starts_with("HTTP/1.1 413"), "{huge}");
    assert!(huge.to_ascii_lowercase().contains("x-amzn-errortype: requesttoolargeexception"), "{huge}");

    // With Publish, UpdateFunctionCode answers with the new version.
    let code = json!({"ZipFile": base64_zip(&[("app.py", COUNTER.replace("count += 1", "count += 2").as_bytes(), false)]),
                      "Publish": true});
    let published = weir.json("PUT", "/2015-03-31/functions/api/code", code).await;
    assert_eq!(published.status, 200, "{}", published.text());
    assert_eq!(published.json()["Version"], "2");
    let config = weir.call("GET", "/2015-03-31/functions/api/configuration?Qualifier=2", &[], "").await;
    assert_eq!(config.json()["Version"], "2", "{}", config.text());
    let versions = weir.call("GET", "/2015-03-31/functions/api/versions", &[], "").await.json();
    let listed: Vec<&str> =
        versions["Versions"].as_array().unwrap().iter().map(|v| v["Version"].as_str().unwrap()).collect();
    assert_eq!(listed, ["$LATEST", "1", "2"]);

    // What weir does not do is refused, never silently dropped.
    let weighted = weir
        .json(
            "POST",
            "/2015-03-31/functions/api/aliases",
            json!({"Name": "canary", "FunctionVersion": "1", "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.1}}}),
        )
        .await;
    assert_eq!(weighted.status, 400, "{}", weighted.text());
    assert_eq!(weighted.header("x-amzn-errortype"), Some("InvalidParameterValueException"));
    let layered = weir
        .json(
            "PUT",
            "/2015-03-31/functions/api/configuration",
            json!({"Layers": ["arn:aws:lambda:us-east-1:000000000000:layer:deps:1"]}),
        )
        .await;
    assert_eq!(layered.status, 400, "{}", layered.text());
    assert!(layered.text().contains("layers"), "{}", layered.text());

    // Aliases move, list and go.
    let moved = weir.json("PUT", "/2015-03-31/functions/api/aliases/live", json!({"FunctionVersion": "2"})).await;
    assert_eq!(moved.status, 200, "{}", moved.text());
    let via_alias = weir.call("POST", "/2015-03-31/functions/api/invocations?Qualifier=live", &[], "{}").await;
    assert_eq!(via_alias.header("x-amz-executed-version"), Some("2"));
    assert_eq!(via_alias.json()["count"], 2, "version 2's code runs");
    let aliases = weir.call("GET", "/2015-03-31/functions/api/aliases", &[], "").await.json();
    assert_eq!(aliases["Aliases"][0]["FunctionVersion"], "2");
    assert_eq!(weir.call("DELETE", "/2015-03-31/functions/api/aliases/live", &[], "").await.status, 204);
    assert_eq!(weir.call("GET", "/2015-03-31/functions/api/aliases/live", &[], "").await.status, 404);

    // Reserved concurrency: put, get, delete.
    weir.put_reserved("api", 3).await;
    let reserved = weir.call("GET", "/2019-09-30/functions/api/concurrency", &[], "").await.json();
    assert_eq!(reserved["ReservedConcurrentExecutions"], 3);
    assert_eq!(weir.call("DELETE", "/2017-10-31/functions/api/concurrency", &[], "").await.status, 204);
    let reserved = weir.call("GET", "/2019-09-30/functions/api/concurrency", &[], "").await.json();
    assert_eq!(reserved.get("ReservedConcurrentExecutions"), None, "{reserved}");

    let deleted = weir.call("DELETE", "/2015-03-31/functions/api", &[], "").await;
    assert_eq!(deleted.status, 204);
    assert_eq!(weir.invoke("api", json!({})).await.status, 404);
}

#[tokio::test]
async fn functions_aliases_and_concurrency_survive_a_restart() {
    /// Records the bodies of the SQS messages it receives.
    const SINK: &str = r#"
import json, os

def handler(event, context):
    with open(os.environ["RECORD_FILE"], "a") as f:
        for record in event["Records"]:
            f.write(json.dumps({"body": record["body"]}) + "\n")
    return {"batchItemFailures": []}
"#;
    let files = tempfile::tempdir().unwrap();
    let sink_file = files.path().join("sink.jsonl");
    let sunk = || -> Vec<String> {
        std::fs::read_to_string(&sink_file)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["body"].as_str().unwrap().to_string())
            .collect()
    };
    let weir = Weir::start(&[]);
    weir.create_function(python_function("durable", COUNTER)).await;
    weir.json("POST", "/2015-03-31/functions/durable/versions", json!({})).await;
    weir.json("POST", "/2015-03-31/functions/durable/aliases", json!({"Name": "live", "FunctionVersion": "1"})).await;
    weir.put_reserved("durable", 7).await;
    let put = weir
        .json(
            "PUT",
            "/2019-09-30/functions/durable/provisioned-concurrency?Qualifier=live",
            json!({"ProvisionedConcurrentExecutions": 2}),
        )
        .await;
    assert_eq!(put.status, 202, "{}", put.text());

    // Asynchronous invocation settings with an SQS failure destination.
    let queue_arn = async |weir: &Weir, url: &serde_json::Value| -> String {
        weir.sqs("GetQueueAttributes", json!({"QueueUrl": url, "AttributeNames": ["QueueArn"]})).await["Attributes"]
            ["QueueArn"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let failures = weir.sqs("CreateQueue", json!({"QueueName": "durable-failures"})).await;
    let failures_arn = queue_arn(&weir, &failures["QueueUrl"]).await;
    let config_path = "/2019-09-25/functions/durable/event-invoke-config";
    let put_config = weir
        .json(
            "PUT",
            config_path,
            json!({"MaximumRetryAttempts": 1, "MaximumEventAgeInSeconds": 300,
                   "DestinationConfig": {"OnFailure": {"Destination": failures_arn}}}),
        )
        .await;
    assert_eq!(put_config.status, 200, "{}", put_config.text());
    let config_before = weir.call("GET", config_path, &[], "").await.json();

    // An SQS event source mapping with every setting away from its default.
    let events = weir
        .sqs("CreateQueue", json!({"QueueName": "durable-events", "Attributes": {"VisibilityTimeout": "60"}}))
        .await;
    let events_url = events["QueueUrl"].clone();
    let events_arn = queue_arn(&weir, &events_url).await;
    let mut sink = python_function("durable-sink", SINK);
    sink["Environment"] = json!({"Variables": {"RECORD_FILE": sink_file.to_str().unwrap()}});
    weir.create_function(sink).await;
    let mapping = weir
        .json(
            "POST",
            "/2015-03-31/event-source-mappings",
            json!({"EventSourceArn": events_arn, "FunctionName": "durable-sink", "BatchSize": 5,
                   "MaximumBatchingWindowInSeconds": 1, "ScalingConfig": {"MaximumConcurrency": 3},
                   "FunctionResponseTypes": ["ReportBatchItemFailures"]}),
        )
        .await;
    assert_eq!(mapping.status, 202, "{}", mapping.text());
    let mapping_path = format!("/2015-03-31/event-source-mappings/{}", mapping.json()["UUID"].as_str().unwrap());
    let mapping_before = weir.call("GET", &mapping_path, &[], "").await.json();

    let weir = weir.restart(&[]);
    // Provisioned environments come back by themselves.
    let ready =
        eventually(std::time::Duration::from_secs(20), async || {
            weir.call("GET", "/2019-09-30/functions/durable/provisioned-concurrency?Qualifier=live", &[], "")
                .await
                .json()["Status"]
                == "READY"
        })
        .await;
    assert!(ready, "provisioned concurrency is READY again after the restart");
    let warm = weir.invoke("durable:live", json!({})).await;
    assert!(!has_init_duration(&warm.log()), "served by a provisioned environment:\n{}", warm.log());
    let got = weir.call("GET", "/2015-03-31/functions/durable", &[], "").await.json();
    assert_eq!(got["Concurrency"]["ReservedConcurrentExecutions"], 7);
    let alias = weir.call("GET", "/2015-03-31/functions/durable/aliases/live", &[], "").await.json();
    assert_eq!(alias["FunctionVersion"], "1");
    let r = weir.invoke("durable:live", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["count"].as_u64().unwrap() >= 1);
    let settings = weir.call("GET", "/2016-08-19/account-settings/", &[], "").await.json();
    assert_eq!(settings["AccountLimit"]["UnreservedConcurrentExecutions"], 993);
    let listed =
        weir.call("GET", "/2019-09-30/functions/durable/provisioned-concurrency?List=ALL", &[], "").await.json();
    assert_eq!(listed["ProvisionedConcurrencyConfigs"][0]["RequestedProvisionedConcurrentExecutions"], 2);

    // The event invoke config is unchanged.
    let config = weir.call("GET", config_path, &[], "").await;
    assert_eq!(config.status, 200, "{}", config.text());
    let config = config.json();
    assert_eq!(config["MaximumRetryAttempts"], 1, "{config}");
    assert_eq!(config["MaximumEventAgeInSeconds"], 300, "{config}");
    assert_eq!(config["DestinationConfig"]["OnFailure"]["Destination"], failures_arn.as_str(), "{config}");
    assert_eq!(config, config_before);

    // So is the mapping, and it still delivers.
    let mapping = weir.call("GET", &mapping_path, &[], "").await;
    assert_eq!(mapping.status, 200, "{}", mapping.text());
    let mapping = mapping.json();
    assert_eq!(mapping["State"], "Enabled", "{mapping}");
    assert_eq!(mapping["EventSourceArn"], events_arn.as_str(), "{mapping}");
    assert!(mapping["FunctionArn"].as_str().unwrap().ends_with(":function:durable-sink"), "{mapping}");
    assert_eq!(mapping["BatchSize"], 5, "{mapping}");
    assert_eq!(mapping["MaximumBatchingWindowInSeconds"], 1, "{mapping}");
    assert_eq!(mapping["ScalingConfig"], json!({"MaximumConcurrency": 3}), "{mapping}");
    assert_eq!(mapping["FunctionResponseTypes"], json!(["ReportBatchItemFailures"]), "{mapping}");
    assert_eq!(mapping, mapping_before);
    weir.sqs("SendMessage", json!({"QueueUrl": events_url, "MessageBody": "sent after the restart"})).await;
    let delivered = eventually(std::time::Duration::from_secs(15), async || {
        let counts = weir
            .sqs(
                "GetQueueAttributes",
                json!({"QueueUrl": events_url,
                       "AttributeNames": ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]}),
            )
            .await["Attributes"]
            .clone();
        sunk() == ["sent after the restart"]
            && counts["ApproximateNumberOfMessages"] == "0"
            && counts["ApproximateNumberOfMessagesNotVisible"] == "0"
    })
    .await;
    assert!(delivered, "the mapping delivers after the restart: {:?}", sunk());
}

#[tokio::test]
async fn a_zip_entry_that_escapes_the_code_directory_is_rejected() {
    let weir = Weir::start(&[]);
    let mut spec = python_function("evil", COUNTER);
    spec["Code"]["ZipFile"] = json!(base64_zip(&[("../../escape.py", b"x = 1", false)]));
    let r = weir.json("POST", "/2015-03-31/functions", spec).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.header("x-amzn-errortype"), Some("InvalidParameterValueException"));
    assert!(!weir.data_dir.parent().unwrap().join("escape.py").exists());
}

/// POSTs `length` bytes of spaces over a raw connection and returns the
/// head of the answer; the server may answer and close before the body is
/// all sent, which an HTTP client reports as a broken pipe.
async fn raw_exchange(endpoint: &str, path: &str, length: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(endpoint.trim_start_matches("http://")).await.unwrap();
    let head = format!("POST {path} HTTP/1.1\r\nHost: weir\r\nContent-Length: {length}\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b' '; 1024 * 1024];
    let mut sent = 0;
    while sent < length {
        let n = chunk.len().min(length - sent);
        if stream.write_all(&chunk[..n]).await.is_err() {
            break;
        }
        sent += n;
    }
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut answer))
        .await
        .expect("the server answered")
        .unwrap_or(0);
    String::from_utf8_lossy(&answer[..n]).into_owned()
}

/// The README's quick tour, with the AWS CLI from the test venv.
#[tokio::test]
async fn the_readme_tour_works_with_the_aws_cli() {
    let weir = Weir::start(&[]);
    let files = tempfile::tempdir().unwrap();
    let zip = files.path().join("api.zip");
    let handler =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/handlers/api_handler.py")).unwrap();
    std::fs::write(&zip, zip_of(&[("api_handler.py", &handler, false)])).unwrap();
    let event = files.path().join("event.json");
    std::fs::write(&event, r#"{"body": "{\"name\": \"weir\"}"}"#).unwrap();
    let out = files.path().join("out.json");
    let endpoint = weir.endpoint.clone();
    let run = move |args: &[&str]| aws_cli(&endpoint, "lambda", args);
    let (zip_arg, event_arg) = (format!("fileb://{}", zip.display()), format!("fileb://{}", event.display()));
    let out_path = out.to_str().unwrap().to_string();
    let (created, invoked, reserved, settings) = tokio::task::spawn_blocking(move || {
        let created = run(&[
            "create-function",
            "--function-name",
            "hello",
            "--runtime",
            "python3.12",
            "--handler",
            "api_handler.handler",
            "--role",
            "arn:aws:iam::000000000000:role/x",
            "--zip-file",
            &zip_arg,
        ]);
        let invoked =
            run(&["invoke", "--function-name", "hello", "--payload", &event_arg, "--log-type", "Tail", &out_path]);
        let reserved =
            run(&["put-function-concurrency", "--function-name", "hello", "--reserved-concurrent-executions", "5"]);
        (created, invoked, reserved, run(&["get-account-settings"]))
    })
    .await
    .unwrap();
    assert_eq!(created["FunctionName"], "hello");
    assert_eq!(invoked["StatusCode"], 200, "{invoked}");
    let log = base64::engine::general_purpose::STANDARD.decode(invoked["LogResult"].as_str().unwrap()).unwrap();
    assert!(String::from_utf8_lossy(&log).contains("REPORT RequestId:"), "{}", String::from_utf8_lossy(&log));
    let answer: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert!(answer["body"].as_str().unwrap().contains("weir"), "{answer}");
    assert_eq!(reserved["ReservedConcurrentExecutions"], 5);
    assert_eq!(settings["AccountLimit"]["ConcurrentExecutions"], 1000);
    assert_eq!(settings["AccountLimit"]["UnreservedConcurrentExecutions"], 995);
}
