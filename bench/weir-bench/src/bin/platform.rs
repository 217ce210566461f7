//! Issue-3 figures for the whole platform: server start and idle memory,
//! warm invoke latency and throughput (Rust `lambda_runtime` and Python
//! no-op functions), cold-start overhead, and scale-out to 500 environments.
//!
//! `cargo build --release -p weir -p weir-bench && target/release/platform [--seconds N]`

use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use serde_json::json;
use weir_bench::{Http, Load, Server, closed_loop, create, python_function, rust_function};

#[derive(Parser)]
struct Args {
    /// Seconds measured per load point.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Environments for the scale-out measurement.
    #[arg(long, default_value_t = 500)]
    scale_out: usize,
    /// Skip the comparison-free parts quickly (start, warm, cold only).
    #[arg(long)]
    quick: bool,
}

const PYTHON_NOOP: &str = "def handler(event, context):\n    return event\n";

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[values.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let duration = Duration::from_secs(args.seconds);
    let warmup = Duration::from_secs(2);
    let testfn = weir_testfns::testfn_path();
    let http = Http::new();

    // Server start and idle memory.
    let mut starts = Vec::new();
    let mut rss = Vec::new();
    for _ in 0..5 {
        let server = Server::start(&[]).await;
        starts.push(server.started_in.as_secs_f64() * 1_000.0);
        tokio::time::sleep(Duration::from_millis(300)).await;
        rss.push(server.rss_kib() as f64 / 1024.0);
    }
    println!("server: start to 200 on /health  median {:.1} ms (of {starts:.1?})", median(starts.clone()));
    println!("server: resident memory idle     median {:.1} MiB", median(rss));

    let server = Server::start(&["--max-environments", "1100"]).await;
    let e = server.endpoint.clone();
    create(&http, &e, &rust_function("rust-noop", &testfn, 30)).await;
    create(&http, &e, &python_function("python-noop", PYTHON_NOOP, 30)).await;
    let body = Bytes::from_static(br#"{"hello":"world","n":42}"#);

    println!();
    for (function, concurrencies) in [("rust-noop", vec![1, 8, 64]), ("python-noop", vec![1, 8])] {
        let uri = format!("{e}/2015-03-31/functions/{function}/invocations");
        for c in concurrencies {
            let load = Load {
                uri: &uri,
                headers: &[],
                body: body.clone(),
                expected_status: 200,
                concurrency: c,
                warmup,
                duration,
            };
            let report = closed_loop(&http, load).await;
            println!("{}", report.line(&format!("warm invoke {function} c={c}")));
        }
    }

    // Cold starts: the runtime's own start (exec to its first /next against a
    // bare listener) versus weir's Init Duration (spawn to first /next).
    let mut own = Vec::new();
    for _ in 0..20 {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let begun = Instant::now();
        let mut child = Command::new(&testfn)
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "own")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "s")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "g")
            .spawn()?;
        let _conn = listener.accept()?;
        own.push(begun.elapsed().as_secs_f64() * 1_000.0);
        child.kill()?;
        child.wait()?;
    }
    let mut init = Vec::new();
    let mut cold_total = Vec::new();
    for i in 0..20 {
        let name = format!("cold-{i}");
        create(&http, &e, &rust_function(&name, &testfn, 30)).await;
        let begun = Instant::now();
        let (status, _) = http
            .post(&format!("{e}/2015-03-31/functions/{name}/invocations"), &[("x-amz-log-type", "Tail")], body.clone())
            .await?;
        cold_total.push(begun.elapsed().as_secs_f64() * 1_000.0);
        assert_eq!(status, 200);
        let (_, logs) = http.get(&format!("{e}/_weir/logs/{name}")).await?;
        let text = String::from_utf8_lossy(&logs);
        if let Some(ms) =
            text.split("Init Duration: ").nth(1).and_then(|r| r.split(" ms").next()).and_then(|v| v.parse::<f64>().ok())
        {
            init.push(ms);
        }
    }
    let own_ms = median(own);
    let init_ms = median(init);
    println!();
    println!("cold start: runtime's own start (exec to first /next)  median {own_ms:.2} ms");
    println!("cold start: Init Duration in REPORT (spawn to first /next) median {init_ms:.2} ms");
    println!("cold start: platform overhead                          median {:.2} ms", init_ms - own_ms);
    println!("cold start: whole cold invoke as the client sees it    median {:.2} ms", median(cold_total));

    if args.quick {
        return Ok(());
    }

    // Scale-out: from 0 to N busy environments.
    let n = args.scale_out;
    create(&http, &e, &rust_function("rust-sleep", &testfn, 60)).await;
    let uri = format!("{e}/2015-03-31/functions/rust-sleep/invocations");
    let hold = Duration::from_millis(5_000);
    let begun = Instant::now();
    let calls = (0..n).map(|_| {
        let (http, uri) = (http.clone(), uri.clone());
        tokio::spawn(async move {
            let (status, _) =
                http.post(&uri, &[], Bytes::from(format!("{{\"sleep_ms\": {}}}", hold.as_millis()))).await.unwrap();
            (status, begun.elapsed())
        })
    });
    let mut last_start = Duration::ZERO;
    let mut ok = 0;
    for call in calls.collect::<Vec<_>>() {
        let (status, done) = call.await?;
        if status == 200 {
            ok += 1;
            last_start = last_start.max(done.saturating_sub(hold));
        }
    }
    println!();
    println!(
        "scale-out: {ok} of {n} invocations ran; the last started {:.2} s after the burst began",
        last_start.as_secs_f64()
    );
    let _ = json!({});
    Ok(())
}
