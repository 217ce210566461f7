//! The seed's lessons as scenario tests: each runs a small scenario
//! through the simulator (and so through weir-core) and checks what the
//! report says. In debug builds every step also checks the core's
//! invariants.

use std::path::Path;

use weir_sim::{Report, Scenario, simulate};

fn run(toml: &str) -> Report {
    let scenario = Scenario::parse(toml, Path::new(".")).expect("scenario parses");
    simulate(&scenario, scenario.seed).expect("scenario runs")
}

fn throttles(report: &Report, function: &str, reason: &str) -> u64 {
    report.function(function).unwrap().throttles[reason]
}

fn steady(rps: u32, duration_ms: u32, arrivals: &str, extra: &str) -> String {
    format!(
        r#"
        duration_s = 30
        [account]
        concurrency_limit = 1000
        [[functions]]
        name = "api"
        timeout_s = 10
        duration = {{ kind = "fixed", ms = {duration_ms} }}
        init = {{ kind = "fixed", ms = 200 }}
        {extra}
        traffic = {{ arrivals = "{arrivals}", rate = {{ shape = "constant", rps = {rps} }} }}
        "#
    )
}

/// The highest per-second peak once the first cold starts are over.
fn steady_peak(report: &Report, function: &str, from_second: usize) -> f64 {
    report.series.column(&format!("{function}.concurrency")).unwrap().values[from_second..]
        .iter()
        .copied()
        .fold(0.0, f64::max)
}

#[test]
fn concurrency_is_rate_times_duration_half_a_second() {
    let report = run(&steady(100, 500, "uniform", ""));
    let api = report.function("api").unwrap();
    assert_eq!(api.requests, 3_000);
    let steady = steady_peak(&report, "api", 5);
    assert!((50.0..=51.0).contains(&steady), "steady peak {steady}");
    assert!((api.mean_concurrency - 50.0).abs() < 1.5, "mean {}", api.mean_concurrency);
    assert_eq!(api.arithmetic_concurrency, 50.0);
    // The second lesson in miniature: while the first environments start
    // (200 ms each), requests hold concurrency for init + duration.
    assert!((69..=71).contains(&api.peak_concurrency), "warm-up peak {}", api.peak_concurrency);
    assert_eq!(api.cold_starts, 70);
    assert_eq!(api.throttles_total, 0);
}

#[test]
fn concurrency_is_rate_times_duration_two_seconds() {
    let report = run(&steady(100, 2_000, "uniform", ""));
    let api = report.function("api").unwrap();
    let steady = steady_peak(&report, "api", 5);
    assert!((200.0..=201.0).contains(&steady), "steady peak {steady}");
    assert!((api.mean_concurrency - 200.0).abs() < 10.0, "mean {}", api.mean_concurrency);
}

#[test]
fn poisson_arrivals_average_the_arithmetic_and_peak_above_it() {
    let report = run(&steady(100, 500, "poisson", ""));
    let api = report.function("api").unwrap();
    assert!((api.mean_concurrency - 50.0).abs() < 4.0, "mean {}", api.mean_concurrency);
    assert!(api.peak_concurrency > 50 && api.peak_concurrency < 90, "peak {}", api.peak_concurrency);
}

#[test]
fn reserved_concurrency_caps_at_fifty_and_throttles_the_rest() {
    let report = run(&steady(500, 1_000, "uniform", "reserved_concurrency = 50"));
    let api = report.function("api").unwrap();
    assert_eq!(api.peak_concurrency, 50);
    let reserved = throttles(&report, "api", "ReservedFunctionConcurrentInvocationLimitExceeded");
    assert_eq!(api.throttles_total, reserved, "only the reservation throttles");
    // 50 of every 500 per second are admitted once warm: ~90% throttled.
    let share = reserved as f64 / api.requests as f64;
    assert!((share - 0.9).abs() < 0.01, "throttled share {share}");
    assert_eq!(api.invocations + api.throttles_total, api.requests);
}

#[test]
fn reserved_zero_throttles_everything() {
    let report = run(&steady(100, 100, "poisson", "reserved_concurrency = 0"));
    let api = report.function("api").unwrap();
    assert!(api.requests > 2_500);
    assert_eq!(api.invocations, 0);
    assert_eq!(api.peak_concurrency, 0);
    assert_eq!(throttles(&report, "api", "ReservedFunctionConcurrentInvocationLimitExceeded"), api.requests);
}

#[test]
fn provisioned_above_the_peak_means_no_cold_starts() {
    let report = run(&steady(100, 1_000, "uniform", "provisioned_concurrency = 110"));
    let api = report.function("api").unwrap();
    assert!(api.peak_concurrency >= 100, "peak {}", api.peak_concurrency);
    assert_eq!(api.cold_starts, 0);
    assert_eq!(api.spillover_invocations, 0);
    assert_eq!(api.provisioned_invocations, api.invocations);
    assert!(report.provisioning_seconds > 0.0, "traffic waited for READY");
    assert!(report.cost.total.provisioned_usd > 0.0);
}

#[test]
fn provisioned_below_the_peak_spills_over_to_on_demand() {
    let report = run(&steady(100, 1_000, "uniform", "provisioned_concurrency = 60"));
    let api = report.function("api").unwrap();
    assert!(api.spillover_invocations > 0);
    assert!(api.cold_starts >= 40, "the extra 40 start cold: {}", api.cold_starts);
}

#[test]
fn a_burst_against_the_scaling_rate_is_throttled_by_rate() {
    // 300 requests per second of 1 s each need 300 environments at once; the
    // function may add 100 per 10 s here (AWS: 1,000 per 10 s; scaled down
    // so the test runs quickly with invariant checks on every step).
    let report = run(r#"
        duration_s = 25
        [account]
        concurrency_limit = 10000
        scaling_environments = 100
        scaling_window_s = 10
        [[functions]]
        name = "api"
        duration = { kind = "fixed", ms = 1000 }
        init = { kind = "fixed", ms = 100 }
        traffic = { arrivals = "uniform", rate = { shape = "constant", rps = 300 } }
        "#);
    let api = report.function("api").unwrap();
    let rate = throttles(&report, "api", "FunctionInvocationRateLimitExceeded");
    assert!(rate > 2_000, "rate throttles {rate}");
    assert_eq!(api.throttles_total, rate, "no concurrency limit was reached");
    let concurrency = &report.series.column("api.concurrency").unwrap().values;
    let window = |range: std::ops::Range<usize>| concurrency[range].iter().copied().fold(0.0, f64::max);
    assert!(window(0..10) <= 100.0, "at most 100 environments in the first window: {}", window(0..10));
    assert!(window(10..20) <= 200.0, "100 more in the second: {}", window(10..20));
    assert!(window(20..25) > 200.0, "and more in the third: {}", window(20..25));
}

#[test]
fn the_account_limit_throttles_functions_without_a_reservation() {
    let report = run(r#"
        duration_s = 20
        [account]
        concurrency_limit = 200
        minimum_unreserved = 50
        [[functions]]
        name = "reserved"
        reserved_concurrency = 100
        duration = { kind = "fixed", ms = 1000 }
        traffic = { arrivals = "uniform", rate = { shape = "constant", rps = 10 } }
        [[functions]]
        name = "open"
        duration = { kind = "fixed", ms = 1000 }
        traffic = { arrivals = "uniform", rate = { shape = "constant", rps = 300 } }
        "#);
    let open = report.function("open").unwrap();
    assert_eq!(open.peak_concurrency, 100, "the unreserved pool is 200 − 100");
    assert!(throttles(&report, "open", "ConcurrentInvocationLimitExceeded") > 0);
    assert_eq!(report.function("reserved").unwrap().throttles_total, 0, "the reservation is a guarantee");
    assert_eq!(report.account.unreserved_limit, 100);
}

fn backed_up_queue() -> String {
    r#"
    duration_s = 120
    [[functions]]
    name = "worker"
    timeout_s = 5
    duration = { kind = "fixed", ms = 1000 }
    init = { kind = "fixed", ms = 100 }
    [[queues]]
    name = "jobs"
    function = "worker"
    batch_size = 10
    maximum_concurrency = 10
    visibility_timeout_s = 30
    # 200 messages a second; 10 batches of 10 a second can only take 100.
    producer = { arrivals = "uniform", rate = { shape = "constant", rps = 200 } }
    "#
    .to_owned()
}

#[test]
fn a_queue_with_maximum_concurrency_ten_backs_up_and_its_oldest_age_grows_linearly() {
    let report = run(&backed_up_queue());
    let jobs = report.queue("jobs").unwrap();
    let worker = report.function("worker").unwrap();
    assert_eq!(jobs.peak_poller_concurrency, 10);
    assert_eq!(worker.peak_concurrency, 10);
    // Half the messages are processed; the rest wait.
    let processed_share = jobs.messages_processed as f64 / jobs.messages_sent as f64;
    assert!((processed_share - 0.5).abs() < 0.03, "processed share {processed_share}");
    // Consumption is half the production, so the oldest waiting message
    // was sent at t/2: its age is t/2, a straight line of slope 0.5.
    let ages = &report.series.column("jobs.oldest_age_s").unwrap().values;
    let (slope, worst_residual) = linear_fit(&ages[10..120]);
    assert!((slope - 0.5).abs() < 0.02, "slope {slope}");
    assert!(worst_residual < 1.5, "not linear: residual {worst_residual}");
    assert!(jobs.peak_oldest_age_s > 55.0);
    // Visible depth grows by ~100 a second.
    let visible = &report.series.column("jobs.visible").unwrap().values;
    let (depth_slope, _) = linear_fit(&visible[10..120]);
    assert!((depth_slope - 100.0).abs() < 5.0, "depth slope {depth_slope}");
}

#[test]
fn a_queue_fed_function_shows_no_sync_latency_and_its_queue_shows_send_to_delete() {
    let report = run(&backed_up_queue());
    let worker = report.function("worker").unwrap();
    assert!(worker.invocations > 0);
    assert_eq!(worker.latency_ms.count, 0, "no synchronous request reached it");
    let jobs = report.queue("jobs").unwrap();
    assert!(jobs.message_latency_ms.p50 >= 1_000.0, "send to delete includes the 1 s batch");
    let table = report.to_table();
    let cells = |first: &str| -> Vec<String> {
        let line = table.lines().find(|l| l.starts_with(first)).unwrap_or_else(|| panic!("no {first} row:\n{table}"));
        line.split("  ").map(str::trim).filter(|c| !c.is_empty()).map(str::to_owned).collect()
    };
    let header = cells("function");
    let worker_row = cells("worker");
    let column = |name: &str| header.iter().position(|h| h == name).unwrap_or_else(|| panic!("{name}: {header:?}"));
    assert_eq!(worker_row[column("sync p50 ms")], "-", "not 0.0:\n{table}");
    assert_eq!(worker_row[column("sync p99 ms")], "-", "not 0.0:\n{table}");
    let queue_header = cells("queue");
    let jobs_row = cells("jobs ");
    let p50 = jobs_row[queue_header.iter().position(|h| h == "msg latency p50 ms").unwrap()].parse::<f64>().unwrap();
    assert!((p50 - jobs.message_latency_ms.p50).abs() < 0.1, "{table}");
}

/// Least-squares slope over (index, value) and the largest residual.
fn linear_fit(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean_x = (n - 1.0) / 2.0;
    let mean_y = values.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (i, y) in values.iter().enumerate() {
        let dx = i as f64 - mean_x;
        sxy += dx * (y - mean_y);
        sxx += dx * dx;
    }
    let slope = sxy / sxx;
    let worst =
        values.iter().enumerate().map(|(i, y)| (y - (mean_y + slope * (i as f64 - mean_x))).abs()).fold(0.0, f64::max);
    (slope, worst)
}

#[test]
fn the_poller_starts_at_five_and_scales_up_while_messages_wait() {
    let report = run(r#"
        duration_s = 60
        [account]
        concurrency_limit = 1000
        [[functions]]
        name = "worker"
        duration = { kind = "fixed", ms = 1000 }
        init = { kind = "fixed", ms = 100 }
        [[queues]]
        name = "jobs"
        function = "worker"
        batch_size = 1
        producer = { arrivals = "uniform", rate = { shape = "constant", rps = 1000 } }
        "#);
    let pollers = &report.series.column("jobs.pollers").unwrap().values;
    assert!(pollers[0] <= 10.0, "starts near 5: {}", pollers[0]);
    // +300 a minute is +5 a second.
    assert!((pollers[20] - pollers[10] - 50.0).abs() <= 2.0, "{} → {}", pollers[10], pollers[20]);
    let worker = report.function("worker").unwrap();
    assert!(worker.peak_concurrency > 250 && worker.peak_concurrency < 320, "{}", worker.peak_concurrency);
}

#[test]
fn failing_batches_return_after_the_visibility_timeout_and_end_in_the_dead_letter_queue() {
    let report = run(r#"
        duration_s = 60
        [[functions]]
        name = "worker"
        timeout_s = 1
        duration = { kind = "fixed", ms = 50 }
        init = { kind = "fixed", ms = 10 }
        [[queues]]
        name = "jobs"
        function = "worker"
        visibility_timeout_s = 2
        max_receive_count = 3
        failure_probability = 1.0
        initial_messages = 100
        producer = { rate = { shape = "constant", rps = 0 } }
        "#);
    let jobs = report.queue("jobs").unwrap();
    assert_eq!(jobs.messages_processed, 0);
    assert_eq!(jobs.messages_dead_lettered, 100);
    assert_eq!(jobs.receives, 300, "each message is received max_receive_count times");
    assert_eq!(jobs.messages_returned, 300);
    assert_eq!(report.function("worker").unwrap().errors, jobs.batches);
}

#[test]
fn a_slower_database_doubles_concurrency() {
    let report = run(r#"
        duration_s = 60
        [[downstreams]]
        name = "db"
        max_connections = 1000
        base_latency_ms = 50
        latency_at_max_ms = 50
        slowdowns = [{ at_s = 30, duration_s = 30, factor = 3.0 }]
        [[functions]]
        name = "api"
        duration = { kind = "fixed", ms = 50 }
        downstream = "db"
        traffic = { arrivals = "uniform", rate = { shape = "constant", rps = 400 } }
        "#);
    let concurrency = &report.series.column("api.concurrency").unwrap().values;
    let before = concurrency[5..29].iter().sum::<f64>() / 24.0;
    let during = concurrency[35..59].iter().sum::<f64>() / 24.0;
    // 50 + 50 ms → 50 + 150 ms: 40 → 80.
    assert!((before - 40.0).abs() <= 2.0, "before {before}");
    assert!((during / before - 2.0).abs() < 0.1, "before {before}, during {during}");
    let db = report.downstream("db").unwrap();
    assert!((80..=82).contains(&db.peak_connections), "peak connections {}", db.peak_connections);
}

#[test]
fn a_saturated_database_refuses_connections_and_latency_grows_with_load() {
    let report = run(r#"
        duration_s = 30
        [[downstreams]]
        name = "db"
        max_connections = 50
        base_latency_ms = 10
        latency_at_max_ms = 400
        [[functions]]
        name = "api"
        duration = { kind = "fixed", ms = 20 }
        downstream = "db"
        traffic = { arrivals = "poisson", rate = { shape = "constant", rps = 400 } }
        "#);
    let api = report.function("api").unwrap();
    let db = report.downstream("db").unwrap();
    assert_eq!(db.peak_connections, 50);
    assert!(db.refused > 0 && api.downstream_refused == db.refused);
    assert!(api.errors >= db.refused);
    assert!(api.latency_ms.p99 > 100.0, "latency grows with connections in use: {}", api.latency_ms.p99);
}

#[test]
fn the_same_seed_gives_byte_identical_json_and_another_seed_does_not() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/simulate/queue-and-database.toml"
    ))
    .unwrap();
    let mut scenario = Scenario::parse(&text, Path::new(".")).unwrap();
    scenario.duration = std::time::Duration::from_secs(30);
    let a = simulate(&scenario, 11).unwrap().to_json();
    let b = simulate(&scenario, 11).unwrap().to_json();
    let c = simulate(&scenario, 12).unwrap().to_json();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn timeouts_fail_invocations_and_bill_the_whole_timeout() {
    let report = run(r#"
        duration_s = 10
        [[functions]]
        name = "slow"
        timeout_s = 1
        duration = { kind = "fixed", ms = 1500 }
        traffic = { arrivals = "uniform", rate = { shape = "constant", rps = 10 } }
        "#);
    let slow = report.function("slow").unwrap();
    assert_eq!(slow.timeouts, 100);
    assert_eq!(slow.errors, 100);
    // Each invocation is billed its 1 s timeout (plus each cold start's init).
    assert!(slow.billed_gb_seconds >= 100.0 * 128.0 / 1024.0);
}

#[test]
fn example_scenarios_load_and_run() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/simulate");
    for name in ["ten-x-traffic.toml", "queue-and-database.toml", "fidelity.toml", "one-hour-10k.toml"] {
        let mut scenario = Scenario::load(&dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        // A short slice of each keeps the test quick in debug builds.
        scenario.duration = std::time::Duration::from_secs(2);
        for f in &mut scenario.functions {
            if let Some(t) = &mut f.traffic {
                t.multiplier *= 0.01;
            }
        }
        let report = simulate(&scenario, 1).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(report.functions.len(), scenario.functions.len());
    }
}

#[test]
fn a_full_weir_host_makes_requests_wait_or_refuses_them_without_lambda_throttles() {
    let report = run(r#"
        duration_s = 20
        [host]
        max_environments = 5
        max_waiting = 10
        max_wait_s = 0.15
        [[functions]]
        name = "api"
        duration = { kind = "fixed", ms = 100 }
        init = { kind = "fixed", ms = 50 }
        traffic = { arrivals = "uniform", rate = { shape = "constant", rps = 100 } }
        "#);
    let api = report.function("api").unwrap();
    assert_eq!(api.throttles_total, 0, "a full host is not a Lambda throttle");
    assert_eq!(report.account.environments_started, 5);
    assert!(api.host_busy > 0, "the wait line overflows");
    assert!(api.latency_ms.max > 100.0, "admitted requests waited for a slot");
    assert!(report.account.host_wait_expirations > 0, "some waited longer than max_wait_s");
    assert_eq!(api.invocations + api.host_busy + report.account.host_wait_expirations, api.requests);
}
