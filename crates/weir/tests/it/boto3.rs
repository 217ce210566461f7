//! The AWS SDK for Python drives weir unmodified and sees botocore's own
//! exception classes with the right fields.

use std::process::Command;

use crate::support::*;

const SCRIPT: &str = r#"
import base64, io, json, sys, zipfile
import boto3, botocore

endpoint = sys.argv[1]
client = boto3.client("lambda", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id="any", aws_secret_access_key="any",
                      config=botocore.config.Config(retries={"max_attempts": 0}))
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as z:
    z.writestr("app.py", "def handler(event, context):\n    return {'echo': event}\n")
created = client.create_function(FunctionName="sdk", Runtime="python3.12", Role="arn:aws:iam::000000000000:role/x",
                                 Handler="app.handler", Code={"ZipFile": buf.getvalue()})
out = {"created": created["FunctionArn"], "state": created["State"]}
r = client.invoke(FunctionName="sdk", Payload=json.dumps({"a": 1}))
out["invoke"] = json.loads(r["Payload"].read())
out["executed"] = r["ExecutedVersion"]
try:
    client.invoke(FunctionName="missing")
except client.exceptions.ResourceNotFoundException as e:
    out["not_found"] = e.response["Error"]["Message"]
client.put_function_concurrency(FunctionName="sdk", ReservedConcurrentExecutions=0)
try:
    client.invoke(FunctionName="sdk", Payload=b"{}")
except client.exceptions.TooManyRequestsException as e:
    out["throttle"] = {"reason": e.response.get("Reason"), "retry": e.response.get("retryAfterSeconds"),
                       "status": e.response["ResponseMetadata"]["HTTPStatusCode"]}
try:
    client.put_function_concurrency(FunctionName="sdk", ReservedConcurrentExecutions=950)
except client.exceptions.InvalidParameterValueException as e:
    out["invalid"] = e.response["Error"]["Message"]
settings = client.get_account_settings()
out["limit"] = settings["AccountLimit"]["ConcurrentExecutions"]
out["unreserved"] = settings["AccountLimit"]["UnreservedConcurrentExecutions"]
out["count"] = settings["AccountUsage"]["FunctionCount"]
print(json.dumps(out))
"#;

#[tokio::test]
async fn boto3_creates_invokes_reserves_and_reads_account_settings() {
    let python = weir_testfns::test_venv().join("bin/python");
    let weir = Weir::start(&[]);
    let endpoint = weir.endpoint.clone();
    let output = tokio::task::spawn_blocking(move || Command::new(python).arg("-c").arg(SCRIPT).arg(endpoint).output())
        .await
        .unwrap()
        .expect("run python");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let out: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(out["created"], "arn:aws:lambda:us-east-1:000000000000:function:sdk");
    assert_eq!(out["state"], "Active");
    assert_eq!(out["invoke"], serde_json::json!({"echo": {"a": 1}}));
    assert_eq!(out["executed"], "$LATEST");
    assert!(out["not_found"].as_str().unwrap().contains("Function not found"));
    assert_eq!(out["throttle"]["reason"], "ReservedFunctionConcurrentInvocationLimitExceeded");
    assert_eq!(out["throttle"]["status"], 429);
    assert_eq!(out["throttle"]["retry"], "1");
    assert_eq!(
        out["invalid"],
        "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [100]."
    );
    assert_eq!(out["limit"], 1000);
    assert_eq!(out["unreserved"], 1000);
    assert_eq!(out["count"], 1);
}
