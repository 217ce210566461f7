//! `weir up`: a SAM template deployed into a running weir.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::support::*;

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().parent().unwrap()
}

const CHECKS: &str = r#"
import json, sys, time
import boto3, botocore
endpoint = sys.argv[1]
kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="any", aws_secret_access_key="any")
lam, sqs = boto3.client("lambda", **kw), boto3.client("sqs", **kw)
out = {}
out["reserved"] = lam.get_function_concurrency(FunctionName="OrdersWorker").get("ReservedConcurrentExecutions")
mapping = lam.list_event_source_mappings(FunctionName="OrdersWorker")["EventSourceMappings"][0]
out["batch_size"] = mapping["BatchSize"]
out["max_concurrency"] = mapping.get("ScalingConfig", {}).get("MaximumConcurrency")
out["response_types"] = mapping["FunctionResponseTypes"]
url = sqs.get_queue_url(QueueName="OrdersQueue")["QueueUrl"]
attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
out["redrive"] = json.loads(attrs["RedrivePolicy"])
out["visibility"] = attrs["VisibilityTimeout"]
# An order through the API function lands in the database via the queue and the worker.
r = lam.invoke(FunctionName="OrdersApi", Payload=json.dumps({"item": "tea", "quantity": 2}))
out["api"] = json.loads(r["Payload"].read())
out["api_error"] = r.get("FunctionError")
# A malformed order goes straight to the queue; the worker reports it as a failed item.
sqs.send_message(QueueUrl=url, MessageBody="not an order")
print(json.dumps(out))
"#;

#[tokio::test]
async fn weir_up_deploys_the_orders_example_with_its_concurrency_settings() {
    let files = tempfile::tempdir().unwrap();
    let db = files.path().join("orders.db");
    let template = repo_root().join("examples/orders/template.yaml");
    let weir = Weir::up(&template, &["--parameter-overrides", &format!("DatabasePath={}", db.display())]);
    let python = weir_testfns::test_venv().join("bin/python");
    let endpoint = weir.endpoint.clone();
    let output = tokio::task::spawn_blocking(move || Command::new(python).arg("-c").arg(CHECKS).arg(endpoint).output())
        .await
        .unwrap()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let out: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(out["reserved"], 5);
    assert_eq!(out["batch_size"], 10);
    assert_eq!(out["max_concurrency"], 5);
    assert_eq!(out["response_types"], json!(["ReportBatchItemFailures"]));
    assert_eq!(out["redrive"]["maxReceiveCount"], 5);
    assert!(out["redrive"]["deadLetterTargetArn"].as_str().unwrap().ends_with(":OrdersDLQ"));
    assert!(out["api_error"].is_null(), "{}", out["api"]);
    // The worker wrote the order to its database.
    let stored = eventually(Duration::from_secs(30), async || {
        std::process::Command::new("python3")
            .args([
                "-c",
                &format!(
                    "import sqlite3; print(sqlite3.connect('{}').execute('select count(*) from orders').fetchone()[0])",
                    db.display()
                ),
            ])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "1")
    })
    .await;
    assert!(stored, "the order reached the database");
}

#[tokio::test]
async fn weir_up_watch_replaces_code_without_a_restart() {
    let app = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(app.path().join("src")).unwrap();
    std::fs::write(app.path().join("src/app.py"), "def handler(event, context):\n    return 'v1'\n").unwrap();
    std::fs::write(
        app.path().join("template.yaml"),
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  Hello:\n    Type: AWS::Serverless::Function\n    Properties:\n      FunctionName: hello\n      Runtime: python3.12\n      Handler: app.handler\n      CodeUri: src/\n  Bucket:\n    Type: AWS::S3::Bucket\n",
    )
    .unwrap();
    let weir = Weir::up(&app.path().join("template.yaml"), &["--watch"]);
    assert_eq!(weir.invoke("hello", json!({})).await.json(), "v1");
    // Filesystems with coarse timestamps: make sure the change is visible.
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(app.path().join("src/app.py"), "def handler(event, context):\n    return 'v2'\n").unwrap();
    let replaced =
        eventually(Duration::from_secs(15), async || weir.invoke("hello", json!({})).await.json() == "v2").await;
    assert!(replaced, "new environments run the new code");
    // A template change is applied too: a new function appears.
    let template = std::fs::read_to_string(app.path().join("template.yaml")).unwrap();
    std::fs::write(
        app.path().join("template.yaml"),
        template + "  Second:\n    Type: AWS::Serverless::Function\n    Properties:\n      FunctionName: second\n      Runtime: python3.12\n      Handler: app.handler\n      CodeUri: src/\n",
    )
    .unwrap();
    let added =
        eventually(Duration::from_secs(15), async || weir.invoke("second", json!({})).await.status == 200).await;
    assert!(added, "the template change was applied");
}

#[tokio::test]
async fn weir_up_refuses_a_template_that_breaks_a_lambda_rule() {
    let app = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(app.path().join("src")).unwrap();
    std::fs::write(app.path().join("src/app.py"), "def handler(e, c):\n    return 1\n").unwrap();
    std::fs::write(
        app.path().join("template.yaml"),
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  Greedy:\n    Type: AWS::Serverless::Function\n    Properties:\n      Runtime: python3.12\n      Handler: app.handler\n      CodeUri: src/\n      ReservedConcurrentExecutions: 950\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["up", app.path().join("template.yaml").to_str().unwrap(), "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(app.path().join("data"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Greedy"), "{stderr}");
    assert!(stderr.contains("below its minimum value of [100]"), "{stderr}");
}

/// `weir up` as a child process whose stdout lines are kept (the support harness drops them).
struct UpProcess {
    child: std::process::Child,
    endpoint: String,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl UpProcess {
    fn start(template: &Path, data_dir: &Path, args: &[&str]) -> UpProcess {
        use std::io::BufRead;
        let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
            .args(["up", template.to_str().unwrap(), "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(args)
            .env("WEIR_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("start weir up");
        let mut reader = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let first = reader.next().expect("a line").expect("readable");
        let endpoint = first.strip_prefix("weir listening on ").unwrap_or_else(|| panic!("{first:?}")).to_owned();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = lines.clone();
        std::thread::spawn(move || {
            for line in reader.map_while(Result::ok) {
                kept.lock().unwrap().push(line);
            }
        });
        UpProcess { child, endpoint, lines }
    }

    fn output(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// The value printed for output `name` (the last time Outputs were printed).
    fn printed_output(&self, name: &str) -> Option<String> {
        let lines = self.lines.lock().unwrap();
        lines.iter().rev().find_map(|line| {
            let rest = line.trim_start().strip_prefix(name)?;
            rest.starts_with(' ').then(|| rest.split_whitespace().next().unwrap_or_default().to_owned())
        })
    }

    async fn call(&self, method: &str, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        http_call(&self.endpoint, method, path, None, body).await
    }

    async fn sqs(&self, operation: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        http_call(&self.endpoint, "POST", "/", Some(operation), body).await
    }

    fn stop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.child.wait();
    }
}

impl Drop for UpProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One HTTP call to weir: (status, JSON body or null). `target` makes it an SQS JSON call.
async fn http_call(
    endpoint: &str,
    method: &str,
    path: &str,
    target: Option<&str>,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let mut request = hyper::Request::builder().method(method).uri(format!("{endpoint}{path}"));
    if let Some(operation) = target {
        request = request
            .header("x-amz-target", format!("AmazonSQS.{operation}"))
            .header("content-type", "application/x-amz-json-1.0");
    }
    let text = if body.is_null() { String::new() } else { body.to_string() };
    let response =
        client.request(request.body(http_body_util::Full::new(bytes::Bytes::from(text))).unwrap()).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
}

/// A function `Hello` (`AutoPublishAlias: live`) answering `version`, fed by queue `Jobs`
/// through the alias; each SQS batch appends `version` to the file `out`.
fn hello_handler(version: &str) -> String {
    format!(
        "import os\n\ndef handler(event, context):\n    if 'Records' in event:\n        with open(os.environ['OUT'], 'a') as f:\n            f.write('{version}\\n')\n    return '{version}'\n"
    )
}

#[tokio::test]
async fn weir_up_watch_publishes_a_version_and_moves_the_auto_publish_alias() {
    let app = tempfile::tempdir().unwrap();
    let out = app.path().join("out.txt");
    std::fs::create_dir_all(app.path().join("src")).unwrap();
    std::fs::write(app.path().join("src/app.py"), hello_handler("v1")).unwrap();
    std::fs::write(
        app.path().join("template.yaml"),
        format!(
            "Transform: AWS::Serverless-2016-10-31
Resources:
  Jobs:
    Type: AWS::SQS::Queue
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: hello
      Runtime: python3.12
      Handler: app.handler
      CodeUri: src/
      AutoPublishAlias: live
      Environment:
        Variables:
          OUT: {}
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Jobs.Arn
Outputs:
  HelloVersion:
    Value: !Ref Hello.Version
",
            out.display()
        ),
    )
    .unwrap();
    let weir = UpProcess::start(&app.path().join("template.yaml"), &app.path().join("data"), &["--watch"]);
    let (status, answer) = weir.call("POST", "/2015-03-31/functions/hello:live/invocations", json!({})).await;
    assert_eq!((status, answer), (200, json!("v1")));
    assert!(weir.printed_output("HelloVersion").is_some_and(|arn| arn.ends_with(":function:hello:1")));

    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(app.path().join("src/app.py"), hello_handler("v2")).unwrap();
    let moved = eventually(Duration::from_secs(15), async || {
        weir.call("GET", "/2015-03-31/functions/hello/aliases/live", json!(null)).await.1["FunctionVersion"] == "2"
    })
    .await;
    assert!(moved, "the alias moved to the new version\n{}", weir.output());
    assert!(weir.output().contains("code of hello changed: published version 2; alias live now runs it"));
    let printed = eventually(Duration::from_secs(5), async || {
        weir.printed_output("HelloVersion").is_some_and(|arn| arn.ends_with(":function:hello:2"))
    })
    .await;
    assert!(printed, "the output names the published version\n{}", weir.output());
    let (_, answer) = weir.call("POST", "/2015-03-31/functions/hello:live/invocations", json!({})).await;
    assert_eq!(answer, "v2", "the alias runs the new code");
    let (_, versions) = weir.call("GET", "/2015-03-31/functions/hello/versions", json!(null)).await;
    let numbers: Vec<&str> =
        versions["Versions"].as_array().unwrap().iter().filter_map(|v| v["Version"].as_str()).collect();
    assert_eq!(numbers, ["$LATEST", "1", "2"]);
    // A published version keeps its code: version 1 is a copy of the folder
    // as it was, not the folder itself.
    let (_, v1) = weir.call("GET", "/2015-03-31/functions/hello?Qualifier=1", json!(null)).await;
    let v1_dir = v1["Code"]["Location"].as_str().unwrap().trim_start_matches("file://").to_string();
    let v1_code = std::fs::read_to_string(std::path::Path::new(&v1_dir).join("app.py")).unwrap();
    assert!(v1_code.contains("'v1'") && !v1_code.contains("'v2'"), "version 1 changed:\n{v1_code}");

    // The SQS mapping invokes hello:live, so a message is handled by the new code.
    let (_, url) = weir.sqs("GetQueueUrl", json!({"QueueName": "Jobs"})).await;
    let (status, _) = weir.sqs("SendMessage", json!({"QueueUrl": url["QueueUrl"], "MessageBody": "job"})).await;
    assert_eq!(status, 200);
    let handled = eventually(Duration::from_secs(20), async || {
        std::fs::read_to_string(&out).is_ok_and(|text| text.trim() == "v2")
    })
    .await;
    assert!(handled, "the mapping ran version 2: {:?}", std::fs::read_to_string(&out));
}

const REMOVALS_BEFORE: &str = "Transform: AWS::Serverless-2016-10-31
Resources:
  Dead:
    Type: AWS::SQS::Queue
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 60
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt Dead.Arn
        maxReceiveCount: 3
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: hello
      Runtime: python3.12
      Handler: app.handler
      CodeUri: src/
      AutoPublishAlias: live
      ReservedConcurrentExecutions: 3
      ProvisionedConcurrencyConfig:
        ProvisionedConcurrentExecutions: 1
      EventInvokeConfig:
        MaximumRetryAttempts: 0
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Jobs.Arn
            FilterCriteria:
              Filters:
                - Pattern: '{\"body\": [\"job\"]}'
  Stable:
    Type: AWS::Lambda::Alias
    Properties:
      FunctionName: !Ref Hello
      Name: stable
      FunctionVersion: !GetAtt HelloVersion.Version
";

/// The same application without the redrive policy, reserved and provisioned concurrency,
/// event invoke config, filter and the `stable` alias.
const REMOVALS_AFTER: &str = "Transform: AWS::Serverless-2016-10-31
Resources:
  Dead:
    Type: AWS::SQS::Queue
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 60
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: hello
      Runtime: python3.12
      Handler: app.handler
      CodeUri: src/
      AutoPublishAlias: live
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Jobs.Arn
";

/// What the Lambda and SQS APIs say about the settings the removal test changes.
async fn removable_settings(weir: &UpProcess) -> serde_json::Value {
    let (_, reserved) = weir.call("GET", "/2019-09-30/functions/hello/concurrency", json!(null)).await;
    let (provisioned, _) =
        weir.call("GET", "/2019-09-30/functions/hello/provisioned-concurrency?Qualifier=live", json!(null)).await;
    let (invoke_config, _) =
        weir.call("GET", "/2019-09-25/functions/hello/event-invoke-config?Qualifier=live", json!(null)).await;
    let (stable, _) = weir.call("GET", "/2015-03-31/functions/hello/aliases/stable", json!(null)).await;
    let (_, mappings) = weir.call("GET", "/2015-03-31/event-source-mappings?FunctionName=hello", json!(null)).await;
    let (_, url) = weir.sqs("GetQueueUrl", json!({"QueueName": "Jobs"})).await;
    let (_, attributes) =
        weir.sqs("GetQueueAttributes", json!({"QueueUrl": url["QueueUrl"], "AttributeNames": ["All"]})).await;
    json!({
        "reserved": reserved["ReservedConcurrentExecutions"],
        "provisioned_status": provisioned,
        "event_invoke_status": invoke_config,
        "stable_status": stable,
        "filter": mappings["EventSourceMappings"][0]["FilterCriteria"],
        "redrive": attributes["Attributes"]["RedrivePolicy"],
        "visibility": attributes["Attributes"]["VisibilityTimeout"],
    })
}

#[tokio::test]
async fn weir_up_watch_removes_what_leaves_the_template() {
    let app = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(app.path().join("src")).unwrap();
    std::fs::write(app.path().join("src/app.py"), "def handler(event, context):\n    return 'ok'\n").unwrap();
    let template = app.path().join("template.yaml");
    std::fs::write(&template, REMOVALS_BEFORE).unwrap();
    let weir = UpProcess::start(&template, &app.path().join("data"), &["--watch"]);
    let before = removable_settings(&weir).await;
    assert_eq!(before["reserved"], 3, "{before}");
    assert_eq!(before["provisioned_status"], 200, "{before}");
    assert_eq!(before["event_invoke_status"], 200, "{before}");
    assert_eq!(before["stable_status"], 200, "{before}");
    assert!(before["filter"]["Filters"].is_array(), "{before}");
    assert!(before["redrive"].as_str().is_some_and(|policy| policy.contains(":Dead")), "{before}");

    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(&template, REMOVALS_AFTER).unwrap();
    let applied =
        eventually(Duration::from_secs(15), async || weir.output().contains("template changed: applied")).await;
    assert!(applied, "{}", weir.output());
    let after = removable_settings(&weir).await;
    assert!(after["reserved"].is_null(), "reserved concurrency removed: {after}");
    assert_eq!(after["provisioned_status"], 404, "provisioned concurrency removed: {after}");
    assert_eq!(after["event_invoke_status"], 404, "event invoke config removed: {after}");
    assert_eq!(after["stable_status"], 404, "alias removed: {after}");
    assert!(after["filter"].is_null(), "filter removed: {after}");
    assert!(after["redrive"].is_null(), "redrive policy removed: {after}");
    assert_eq!(after["visibility"], "60", "{after}");
    let output = weir.output();
    for line in [
        "removed event invoke config of hello:live",
        "removed provisioned concurrency of hello:live",
        "removed alias hello:stable",
    ] {
        assert!(output.contains(line), "{line}\n{output}");
    }
}

#[tokio::test]
async fn weir_up_prints_outputs_for_the_versions_it_published() {
    let app = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(app.path().join("src")).unwrap();
    std::fs::write(app.path().join("src/app.py"), hello_handler("v1")).unwrap();
    let template = app.path().join("template.yaml");
    std::fs::write(
        &template,
        "Transform: AWS::Serverless-2016-10-31
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: hello
      Runtime: python3.12
      Handler: app.handler
      CodeUri: src/
      AutoPublishAlias: live
Outputs:
  HelloVersion:
    Value: !Ref Hello.Version
  HelloVersionNumber:
    Value: !GetAtt HelloVersion.Version
",
    )
    .unwrap();
    let data = app.path().join("data");
    let mut first = UpProcess::start(&template, &data, &[]);
    let printed =
        eventually(Duration::from_secs(5), async || first.printed_output("HelloVersionNumber").is_some()).await;
    assert!(printed, "{}", first.output());
    assert_eq!(first.printed_output("HelloVersionNumber").as_deref(), Some("1"));
    first.stop();
    // Changed code on the same data directory: version 2 is published, and the outputs say so
    // (a fresh plan numbers the function's first version 1).
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(app.path().join("src/app.py"), hello_handler("v2")).unwrap();
    let second = UpProcess::start(&template, &data, &[]);
    let printed =
        eventually(Duration::from_secs(5), async || second.printed_output("HelloVersionNumber").is_some()).await;
    assert!(printed, "{}", second.output());
    assert_eq!(second.printed_output("HelloVersionNumber").as_deref(), Some("2"), "{}", second.output());
    assert!(second.printed_output("HelloVersion").is_some_and(|arn| arn.ends_with(":function:hello:2")));
    let (_, alias) = second.call("GET", "/2015-03-31/functions/hello/aliases/live", json!(null)).await;
    assert_eq!(alias["FunctionVersion"], "2");
}

#[tokio::test]
async fn the_orders_load_script_shows_the_queue_buffering_and_the_reservation_throttling() {
    let files = tempfile::tempdir().unwrap();
    let db = files.path().join("orders.db");
    let template = repo_root().join("examples/orders/template.yaml");
    let weir = Weir::up(&template, &["--parameter-overrides", &format!("DatabasePath={}", db.display())]);
    let python = weir_testfns::test_venv().join("bin/python");
    let script = repo_root().join("examples/orders/load.py");
    let endpoint = weir.endpoint.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .args(["--endpoint", &endpoint, "--count", "40", "--rate", "40", "--poll-interval", "0.2"])
            .args(["--drain-timeout", "60", "--burst", "15", "--json"])
            .env_remove("AWS_ACCESS_KEY_ID")
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    // The queue was watched while the worker drained it.
    let queue = &summary["queue"];
    assert!(queue["samples"].as_array().is_some_and(|s| !s.is_empty()), "{summary}");
    assert!(queue["max_visible"].as_u64().unwrap() + queue["max_in_flight"].as_u64().unwrap() > 0, "{summary}");
    assert_eq!(queue["drained"], true, "{summary}");
    assert!(stderr.contains("OrdersQueue:") && stderr.contains("in flight"), "{stderr}");
    // Invoking the worker directly past its reserved concurrency of 5 is throttled.
    let burst = &summary["burst"];
    assert_eq!(burst["sent"], 15);
    let throttled = burst["reasons"]["throttled"]["ReservedFunctionConcurrentInvocationLimitExceeded"].as_u64();
    assert!(throttled.is_some_and(|n| n >= 5), "{summary}");
}

#[test]
fn weir_up_reports_every_template_problem_with_the_warnings_and_what_is_not_deployed() {
    let app = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(app.path().join("src")).unwrap();
    std::fs::write(app.path().join("src/app.py"), "def handler(e, c):\n    return 1\n").unwrap();
    std::fs::write(
        app.path().join("template.yaml"),
        "Transform: AWS::Serverless-2016-10-31
Resources:
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 60
  Bucket:
    Type: AWS::S3::Bucket
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      CodeUri: src/
      MemorySize: 99999
      Timeout: 120
      Colour: blue
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Jobs.Arn
            BatchSize: 50
",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["up", app.path().join("template.yaml").to_str().unwrap(), "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(app.path().join("data"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for expected in [
        "the template has 3 problems:",
        "Resources.Worker.Properties.MemorySize (line 15): MemorySize must be between 128 and 10240 MB, got 99999",
        "Resources.Worker.Properties.Events.Jobs.Properties.BatchSize (line 23): Maximum batch window in seconds",
        "Queue visibility timeout: 60 seconds is less than Function timeout: 120 seconds",
        "warning: Resources.Worker.Properties.Colour (line 17): unknown property 'Colour'",
        "not deployed (weir does not run these resource types yet):\n  Bucket (AWS::S3::Bucket)",
    ] {
        assert!(stderr.contains(expected), "{expected}\n{stderr}");
    }
}
