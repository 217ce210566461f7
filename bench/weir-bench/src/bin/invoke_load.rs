//! A closed-loop Lambda Invoke load generator for any endpoint (weir or a
//! peer such as `cargo lambda watch`): the same client for both, so figures
//! compare. `invoke_load --endpoint URL --function NAME --concurrency 1,8,64`

use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use weir_bench::{Http, Load, closed_loop};

#[derive(Parser)]
struct Args {
    #[arg(long)]
    endpoint: String,
    #[arg(long)]
    function: String,
    /// Comma-separated concurrency levels.
    #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
    concurrency: Vec<usize>,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Unmeasured seconds before each level (environments start, connections open).
    #[arg(long, default_value_t = 2)]
    warmup_seconds: u64,
    #[arg(long, default_value = r#"{"hello":"world","n":42}"#)]
    payload: String,
    /// Label printed with each line.
    #[arg(long, default_value = "")]
    label: String,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let args = Args::parse();
    let http = Http::new();
    let uri = format!("{}/2015-03-31/functions/{}/invocations", args.endpoint.trim_end_matches('/'), args.function);
    for c in &args.concurrency {
        let load = Load {
            uri: &uri,
            headers: &[("content-type", "application/json")],
            body: Bytes::from(args.payload.clone()),
            expected_status: 200,
            concurrency: *c,
            warmup: Duration::from_secs(args.warmup_seconds),
            duration: Duration::from_secs(args.seconds),
        };
        let report = closed_loop(&http, load).await;
        println!("{}", report.line(&format!("{} c={c}", args.label)));
    }
}
