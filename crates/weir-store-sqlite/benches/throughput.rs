//! Throughput of the SQLite engine under concurrency (a plain binary, not criterion: what
//! matters here is sustained rate with many concurrent callers, commits per second and the
//! mean group size, not one call's latency distribution).
//!
//! `cargo bench -p weir-store-sqlite --bench throughput` measures each scenario for 5 s;
//! `-- --seconds N` changes that. Without `--bench` (as `cargo test --benches` runs it) each
//! scenario runs for 0.2 s as a smoke test.
//!
//! Scenarios, each on a fresh database with `Durability::Full` (fsync per group commit) and
//! `Durability::Relaxed`:
//! - `async-invoke`: 64 tasks, each sending ONE message per call (an async invoke's 202).
//! - `sqs-cycle`: N workers, each looping SendMessageBatch(10), ReceiveMessage(10),
//!   DeleteMessageBatch(10) on one standard queue; the rate counts deleted messages.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use weir_store::{NewMessage, QueueId, QueueKind, QueueStore, ReceiveOptions};
use weir_store_sqlite::{Durability, SqliteOptions, SqliteStore, WriterStats};

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

fn message(id: u64, body: &Bytes) -> NewMessage {
    NewMessage {
        message_id: format!("{id:032x}"),
        body: body.clone(),
        attributes: Bytes::from_static(b"{\"SenderId\":\"bench\"}"),
        delay_ms: 0,
        group_id: None,
        dedup_id: None,
    }
}

/// CPU time (user + system) the writer thread has used, from /proc (Linux), in clock ticks.
fn writer_cpu_ticks() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0 };
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("stat")).ok())
        .filter(|stat| stat.contains("(weir-store-writ"))
        .map(|stat| {
            // Fields after the ")" of the command name: state is field 3; utime, stime are 14, 15.
            let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
            fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
        })
        .sum()
}

/// Clock ticks per second of /proc's CPU times (USER_HZ; 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

struct Outcome {
    writer_cpu_seconds: f64,
    operations: u64,
    messages: u64,
    elapsed: Duration,
    writer: WriterStats,
    latencies_us: Vec<u64>,
}

fn report(scenario: &str, durability: Durability, workers: usize, outcome: &Outcome) {
    let seconds = outcome.elapsed.as_secs_f64();
    let mut latencies = outcome.latencies_us.clone();
    latencies.sort_unstable();
    let percentile = |p: f64| latencies.get(((latencies.len() as f64 - 1.0) * p) as usize).copied().unwrap_or(0);
    println!(
        "{scenario:<13} {durability:<8} workers={workers:<3} {:>7.0} msg/s {:>7.0} calls/s | commits/s {:>6.0} fsync-commits/s {:>6.0} mean group {:>5.1} | writer busy {:>3.0}% {:>5.1} us/msg | checkpoints bg {} writer {} | p50 {:>6} us p99 {:>6} us",
        outcome.messages as f64 / seconds,
        outcome.operations as f64 / seconds,
        outcome.writer.groups as f64 / seconds,
        outcome.writer.durable_commits as f64 / seconds,
        outcome.writer.commands as f64 / outcome.writer.groups.max(1) as f64,
        100.0 * outcome.writer_cpu_seconds / seconds,
        1e6 * outcome.writer_cpu_seconds / outcome.messages.max(1) as f64,
        outcome.writer.background_checkpoints,
        outcome.writer.writer_checkpoints,
        percentile(0.5),
        percentile(0.99),
        durability = format!("{durability:?}"),
    );
}

async fn open(durability: Durability) -> (SqliteStore, QueueId, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut options = SqliteOptions { durability, ..SqliteOptions::default() };
    if let Ok(pages) = std::env::var("WEIR_BENCH_CHECKPOINT_PAGES") {
        options.wal_checkpoint_pages = pages.parse().expect("a page count");
    }
    let store = SqliteStore::open(dir.path().join("bench.db"), options).unwrap();
    let queue = store.create_queue("bench", QueueKind::Standard, now_ms()).await.unwrap().id;
    (store, queue, dir)
}

/// Runs `workers` copies of `work` until `duration` passes; `work` returns (calls, messages).
async fn drive<F, Fut>(store: &SqliteStore, workers: usize, duration: Duration, work: F) -> Outcome
where
    F: Fn(usize, Arc<AtomicBool>) -> Fut,
    Fut: Future<Output = (u64, u64, Vec<u64>)> + Send + 'static,
{
    let stop = Arc::new(AtomicBool::new(false));
    let before = store.writer_stats();
    let cpu_before = writer_cpu_ticks();
    let started = Instant::now();
    let tasks: Vec<_> = (0..workers).map(|worker| tokio::spawn(work(worker, stop.clone()))).collect();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let (mut operations, mut messages, mut latencies_us) = (0, 0, Vec::new());
    for task in tasks {
        let (ops, msgs, lat) = task.await.unwrap();
        operations += ops;
        messages += msgs;
        latencies_us.extend(lat);
    }
    let elapsed = started.elapsed();
    let writer_cpu_seconds = (writer_cpu_ticks() - cpu_before) as f64 / TICKS_PER_SECOND;
    let after = store.writer_stats();
    let writer = WriterStats {
        groups: after.groups - before.groups,
        durable_commits: after.durable_commits - before.durable_commits,
        commands: after.commands - before.commands,
        background_checkpoints: after.background_checkpoints - before.background_checkpoints,
        writer_checkpoints: after.writer_checkpoints - before.writer_checkpoints,
        commit_time: after.commit_time - before.commit_time,
    };
    Outcome { writer_cpu_seconds, operations, messages, elapsed, writer, latencies_us }
}

async fn async_invoke(durability: Durability, duration: Duration) {
    const TASKS: usize = 64;
    let (store, queue, _dir) = open(durability).await;
    let body = Bytes::from(vec![b'p'; 512]);
    let next_id = Arc::new(AtomicU64::new(0));
    let outcome = drive(&store, TASKS, duration, |_, stop| {
        let (store, body, next_id) = (store.clone(), body.clone(), next_id.clone());
        async move {
            let (mut calls, mut latencies) = (0u64, Vec::new());
            while !stop.load(Ordering::Relaxed) {
                let id = next_id.fetch_add(1, Ordering::Relaxed);
                let started = Instant::now();
                store.send(queue, vec![message(id, &body)], now_ms()).await.unwrap();
                latencies.push(started.elapsed().as_micros() as u64);
                calls += 1;
            }
            (calls, calls, latencies)
        }
    })
    .await;
    report("async-invoke", durability, TASKS, &outcome);
    store.close().await;
}

async fn sqs_cycle(durability: Durability, workers: usize, duration: Duration) {
    let (store, queue, _dir) = open(durability).await;
    let body = Bytes::from(vec![b'q'; 256]);
    let next_id = Arc::new(AtomicU64::new(0));
    let outcome = drive(&store, workers, duration, |_, stop| {
        let (store, body, next_id) = (store.clone(), body.clone(), next_id.clone());
        async move {
            let (mut calls, mut deleted, mut latencies) = (0u64, 0u64, Vec::new());
            let options = ReceiveOptions { max_messages: 10, visibility_timeout_ms: 30_000, redrive: None };
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let batch = (0..10).map(|_| message(next_id.fetch_add(1, Ordering::Relaxed), &body)).collect();
                store.send(queue, batch, now_ms()).await.unwrap();
                let received = store.receive(queue, now_ms(), options).await.unwrap();
                let handles: Vec<String> = received.into_iter().map(|r| r.receipt_handle).collect();
                let outcomes = store.delete(queue, handles).await.unwrap();
                deleted += outcomes.iter().filter(|o| o.is_ok()).count() as u64;
                calls += 3;
                latencies.push(started.elapsed().as_micros() as u64);
            }
            (calls, deleted, latencies)
        }
    })
    .await;
    report("sqs-cycle", durability, workers, &outcome);
    store.close().await;
}

/// Median latency of `write 4 KiB + fsync` in a temporary directory: the disk's floor for one
/// durable group commit (printed so every figure can be read against it).
fn fsync_probe_us() -> u64 {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut file = std::fs::File::create(dir.path().join("probe")).unwrap();
    let mut samples: Vec<u64> = (0..200)
        .map(|_| {
            let started = Instant::now();
            file.write_all(&[0u8; 4096]).unwrap();
            file.sync_data().unwrap();
            started.elapsed().as_micros() as u64
        })
        .collect();
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let measuring = args.iter().any(|a| a == "--bench");
    let seconds = args
        .iter()
        .position(|a| a == "--seconds")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.parse::<f64>().expect("--seconds takes a number"))
        .unwrap_or(if measuring { 5.0 } else { 0.2 });
    let duration = Duration::from_secs_f64(seconds);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    println!(
        "# {seconds} s per scenario, {} CPUs, fsync of 4 KiB: median {} us",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        fsync_probe_us()
    );
    runtime.block_on(async {
        for durability in [Durability::Full, Durability::Relaxed] {
            async_invoke(durability, duration).await;
            for workers in [8, 32, 64] {
                sqs_cycle(durability, workers, duration).await;
            }
        }
    });
}
