//! A Rust Lambda function built with the official `lambda_runtime` crate.
//! It runs unmodified on weir (runtime `provided.al2023`, binary `bootstrap`).

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let (payload, context) = event.into_parts();
    let name = payload.get("name").and_then(Value::as_str).unwrap_or("world");
    Ok(json!({ "message": format!("hello, {name}"), "request_id": context.request_id }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handler)).await
}
