//! Whatever a function prints or returns, weir's own memory stays bounded. These checks
//! measure this process's resident memory, so they run one after the other in a binary of
//! their own (no other test allocates meanwhile).

mod common;

use common::*;
use weir_sandbox::{LOG_TAIL_BYTES, MAX_RESPONSE_BYTES, Outcome};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_of_output_and_huge_responses_do_not_grow_weir() {
    megabytes_of_output_keep_weirs_memory_bounded_and_the_tail_at_4_kib().await;
    responses_over_6_mb_are_refused_without_buffering_them().await;
}

async fn megabytes_of_output_keep_weirs_memory_bounded_and_the_tail_at_4_kib() {
    within(120, async {
        let h = Harness::new();
        let env = ready(&h.sandbox, h.rust_spec()).await;
        // Warm up allocator pools first, then measure.
        env.invoke(invocation(r#"{"print_bytes":1000000}"#)).await;
        let before = own_rss_bytes();
        let printed_lines_before = h.sink.count.load(std::sync::atomic::Ordering::Relaxed);
        let inv = invocation(r#"{"print_bytes":40000000}"#);
        let id = inv.request_id.clone();
        let result = env.invoke(inv).await;
        let after = own_rss_bytes();
        assert_eq!(result.outcome, Outcome::Response(r#"{"print_bytes":40000000}"#.into()));
        let printed = h.sink.count.load(std::sync::atomic::Ordering::Relaxed) - printed_lines_before;
        // 400,000 lines of output plus START, END and REPORT: every one was delivered.
        assert_eq!(printed, 400_000 + 3);
        assert!(result.log_tail.len() <= LOG_TAIL_BYTES);
        assert!(result.log_tail.len() > LOG_TAIL_BYTES - 200);
        assert!(result.log_tail.ends_with('\t') || result.log_tail.ends_with("\t\n"));
        assert!(result.log_tail.contains(&format!("END RequestId: {id}")));
        let growth = after.saturating_sub(before);
        assert!(growth < 16 * 1024 * 1024, "weir grew by {growth} bytes for 40 MB of output");
        env.shutdown().await;
    })
    .await;
}

async fn responses_over_6_mb_are_refused_without_buffering_them() {
    within(120, async {
        let h = Harness::new();
        let mut spec = h.rust_spec();
        spec.memory_mb = 1024;
        let env = ready(&h.sandbox, spec).await;
        let just_fits = env.invoke(invocation(&format!(r#"{{"respond_bytes":{}}}"#, MAX_RESPONSE_BYTES - 2))).await;
        match &just_fits.outcome {
            Outcome::Response(body) => assert_eq!(body.len(), MAX_RESPONSE_BYTES),
            other => panic!("a 6 MB response must pass, got {other:?}"),
        }
        let result = env.invoke(invocation(r#"{"respond_bytes":7000000}"#)).await;
        assert_eq!(result.outcome, Outcome::ResponseTooLarge { size: 7_000_002 });
        assert!(
            result.log_tail.contains(
                "Response payload size (7000002 bytes) exceeded maximum allowed payload size (6291456 bytes)."
            )
        );

        let before = own_rss_bytes();
        let huge = env.invoke(invocation(r#"{"respond_bytes":100000000}"#)).await;
        let growth = own_rss_bytes().saturating_sub(before);
        assert_eq!(huge.outcome, Outcome::ResponseTooLarge { size: 100_000_002 });
        assert!(growth < 32 * 1024 * 1024, "weir grew by {growth} bytes for a 100 MB response");
        // The function got its 413 and carries on.
        let ok = env.invoke(invocation(r#""still here""#)).await;
        assert_eq!(ok.outcome, Outcome::Response(r#""still here""#.into()));
        env.shutdown().await;
    })
    .await;
}
