//! Small HTTP clients for `weir invoke` and `weir logs`.

use base64::Engine as _;
use bytes::Bytes;
use clap::Args;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::serve::DEFAULT_LISTEN;

fn default_endpoint() -> String {
    format!("http://{DEFAULT_LISTEN}")
}

#[derive(Args, Debug)]
pub struct InvokeArgs {
    /// Function name, `name:qualifier`, or ARN.
    pub function: String,
    /// JSON event.
    #[arg(long, default_value = "{}")]
    pub payload: String,
    #[arg(long)]
    pub qualifier: Option<String>,
    /// Print the invocation's log tail to stderr.
    #[arg(long)]
    pub log: bool,
    #[arg(long, env = "WEIR_ENDPOINT", default_value_t = default_endpoint())]
    pub endpoint: String,
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    pub function: String,
    /// Keep printing new lines.
    #[arg(long, short)]
    pub follow: bool,
    /// Only lines newer than this (e.g. `10m`, `1h`).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub since: Option<std::time::Duration>,
    /// Only lines of one invocation.
    #[arg(long)]
    pub request_id: Option<String>,
    #[arg(long, env = "WEIR_ENDPOINT", default_value_t = default_endpoint())]
    pub endpoint: String,
}

fn client() -> Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

pub async fn invoke(args: InvokeArgs) -> anyhow::Result<()> {
    let mut uri = format!("{}/2015-03-31/functions/{}/invocations", args.endpoint.trim_end_matches('/'), args.function);
    if let Some(q) = &args.qualifier {
        uri.push_str(&format!("?Qualifier={q}"));
    }
    let request = Request::post(uri)
        .header("content-type", "application/json")
        .header("x-amz-log-type", if args.log { "Tail" } else { "None" })
        .body(Full::new(Bytes::from(args.payload)))?;
    let response = client().request(request).await?;
    let status = response.status();
    let function_error = response.headers().get("x-amz-function-error").map(|v| v.to_str().unwrap_or("").to_string());
    let log = response.headers().get("x-amz-log-result").and_then(|v| v.to_str().ok()).map(str::to_string);
    let body = response.into_body().collect().await?.to_bytes();
    if let Some(log) = log
        && let Ok(text) = base64::engine::general_purpose::STANDARD.decode(log)
    {
        eprint!("{}", String::from_utf8_lossy(&text));
    }
    println!("{}", String::from_utf8_lossy(&body));
    if !status.is_success() {
        anyhow::bail!("invoke failed with HTTP {status}");
    }
    if let Some(kind) = function_error {
        anyhow::bail!("function error ({kind})");
    }
    Ok(())
}

pub async fn logs(args: LogsArgs) -> anyhow::Result<()> {
    let since_ms = args.since.map_or(0, |since| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        now.saturating_sub(since).as_millis() as u64
    });
    let mut uri = format!("{}/_weir/logs/{}?since_ms={since_ms}", args.endpoint.trim_end_matches('/'), args.function);
    if args.follow {
        uri.push_str("&follow=true");
    }
    if let Some(id) = &args.request_id {
        uri.push_str(&format!("&request_id={id}"));
    }
    let response = client().request(Request::get(uri).body(Full::new(Bytes::new()))?).await?;
    if !response.status().is_success() {
        anyhow::bail!("logs failed with HTTP {}", response.status());
    }
    let mut body = response.into_body();
    let mut pending = String::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else { continue };
        pending.push_str(&String::from_utf8_lossy(&data));
        while let Some(end) = pending.find('\n') {
            let line: String = pending.drain(..=end).collect();
            if let Ok(value) = serde_json::from_str::<serde_json::Value>(&line) {
                println!("{}", value["line"].as_str().unwrap_or_default());
            }
        }
    }
    Ok(())
}
