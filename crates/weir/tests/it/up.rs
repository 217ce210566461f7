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
