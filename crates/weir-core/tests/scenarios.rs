//! One story per claim of the concurrency model, on a virtual clock.

mod support;

use std::time::Duration;

use support::{Behaviour, Harness};
use weir_core::{
    AccountLimits, Admission, ConfigChange, ConfigErrorKind, ControllerConfig, Effect, HostLimits, InitType,
    InvocationFailure, ProvisionedState, RuntimeSettings, ScalingRate, StopReason, ThrottleReason, Version,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn behaviour(duration: Duration) -> Behaviour {
    Behaviour { init: ms(150), duration, init_fails: false }
}

#[test]
fn concurrency_is_requests_per_second_times_duration() {
    // 100 requests per second that each take 0.5 s settle at 50 in flight.
    let mut h = Harness::new(ControllerConfig::default());
    let f = h.function("orders", behaviour(ms(500)));
    // While environments are still cold, init time adds to concurrency.
    h.steady_traffic(f, 100, 5);
    let started_during_ramp = h.core.function_stats(f).unwrap().environments_started;
    h.peak.clear();
    h.steady_traffic(f, 100, 15);
    let stats = h.core.function_stats(f).unwrap();
    assert!((50..=51).contains(&h.peak[&f]), "steady-state peak {}", h.peak[&f]);
    assert_eq!(stats.throttles_total(), 0);
    // Warm reuse: once warm, no new environment is needed.
    assert_eq!(stats.environments_started, started_during_ramp);
}

#[test]
fn a_slower_function_needs_proportionally_more_concurrency() {
    // The same 100 rps at 2 s each need 200 environments.
    let mut h = Harness::new(ControllerConfig::default());
    let f = h.function("orders", behaviour(Duration::from_secs(2)));
    h.steady_traffic(f, 100, 5);
    h.peak.clear();
    h.steady_traffic(f, 100, 15);
    assert!((200..=201).contains(&h.peak[&f]), "steady-state peak {}", h.peak[&f]);
}

#[test]
fn reserved_concurrency_caps_the_function_and_throttles_the_rest() {
    // Reserved 50 under a demand of 500 concurrent: at most 50 busy, the
    // rest throttled with the reserved reason.
    let mut h = Harness::new(ControllerConfig::default());
    let f = h.function("worker", behaviour(Duration::from_secs(1)));
    h.config(ConfigChange::PutReservedConcurrency { function: f, reserved: 50 }).unwrap();
    h.steady_traffic(f, 500, 5);
    assert_eq!(h.peak[&f], 50);
    let throttled = h.throttled(f, ThrottleReason::ReservedFunctionConcurrentInvocationLimitExceeded);
    assert_eq!(throttled + h.core.function_stats(f).unwrap().invocations + u64::from(h.concurrency(f)), 2_500);
    assert!(throttled > 2_000, "throttled {throttled}");
    assert_eq!(h.throttled(f, ThrottleReason::ConcurrentInvocationLimitExceeded), 0);
}

#[test]
fn reserved_zero_is_the_emergency_brake() {
    let mut h = Harness::new(ControllerConfig::default());
    let f = h.function("runaway", behaviour(ms(100)));
    h.config(ConfigChange::PutReservedConcurrency { function: f, reserved: 0 }).unwrap();
    for _ in 0..20 {
        match h.invoke(f) {
            Admission::Throttled(t) => {
                assert_eq!(t.reason, ThrottleReason::ReservedFunctionConcurrentInvocationLimitExceeded);
                assert!(t.zero_reserved, "async callers must know to skip retries");
            }
            other => panic!("expected a throttle, got {other:?}"),
        }
    }
    assert_eq!(h.spawns(InitType::OnDemand), 0);
    // Lifting the brake lets traffic through again.
    h.config(ConfigChange::DeleteReservedConcurrency { function: f }).unwrap();
    assert!(matches!(h.invoke(f), Admission::Admitted(_)));
}

#[test]
fn provisioned_concurrency_above_the_peak_means_no_cold_start() {
    // 110 provisioned environments on an alias; a peak of 100 concurrent
    // invocations never waits for init.
    let mut h = Harness::new(ControllerConfig::default());
    let f = h.function("api", behaviour(Duration::from_secs(1)));
    h.config(ConfigChange::PublishVersion { function: f, version: 1 }).unwrap();
    h.config(ConfigChange::PutAlias { function: f, name: "live".into(), version: Version::Published(1) }).unwrap();
    h.config(ConfigChange::PutProvisionedConcurrency { function: f, qualifier: "live".into(), count: 110 }).unwrap();
    assert_eq!(h.core.provisioned_status(f, "live").unwrap().state, ProvisionedState::InProgress);
    h.advance(Duration::from_secs(1));
    let status = h.core.provisioned_status(f, "live").unwrap();
    assert_eq!((status.state, status.allocated), (ProvisionedState::Ready, 110));

    let v1 = h.core.resolve(f, Some("live")).unwrap();
    assert_eq!(v1, Version::Published(1));
    let gap = Duration::from_millis(10);
    for _ in 0..1_000 {
        h.invoke_version(f, v1);
        h.advance(gap);
    }
    let stats = h.core.function_stats(f).unwrap();
    assert_eq!(h.cold_starts(), 0);
    assert_eq!(stats.spillover_invocations, 0);
    assert_eq!(stats.provisioned_invocations, 1_000);
    assert!(h.peak[&f] >= 99, "peak {}", h.peak[&f]);
    assert_eq!(h.spawns(InitType::OnDemand), 0);
}

#[test]
fn provisioned_concurrency_spills_over_to_on_demand_when_busy() {
    let mut h = Harness::new(ControllerConfig::default());
    let f = h.function("api", behaviour(Duration::from_secs(1)));
    h.config(ConfigChange::PublishVersion { function: f, version: 1 }).unwrap();
    h.config(ConfigChange::PutProvisionedConcurrency { function: f, qualifier: "1".into(), count: 3 }).unwrap();
    h.advance(Duration::from_secs(1));
    for _ in 0..5 {
        h.invoke_version(f, Version::Published(1));
    }
    let stats = h.core.function_stats(f).unwrap();
    assert_eq!(stats.provisioned_invocations, 3);
    assert_eq!(stats.spillover_invocations, 2);
    assert_eq!(stats.provisioned_concurrent_executions, 3);
    assert_eq!(stats.concurrent_executions, 5);
    assert_eq!(h.spawns(InitType::OnDemand), 2);
}

#[test]
fn a_noisy_function_cannot_starve_a_reserved_one() {
    // Account of 200; "critical" reserves 50. "noisy" floods the account
    // but can only take the 150 unreserved; "critical" always gets its 50.
    let config = ControllerConfig {
        account: AccountLimits { concurrency_limit: 200, minimum_unreserved: 100 },
        ..ControllerConfig::default()
    };
    let mut h = Harness::new(config);
    let critical = h.function("critical", behaviour(Duration::from_secs(2)));
    let noisy = h.function("noisy", behaviour(Duration::from_secs(2)));
    h.config(ConfigChange::PutReservedConcurrency { function: critical, reserved: 50 }).unwrap();
    for _ in 0..1_000 {
        h.invoke(noisy);
    }
    assert_eq!(h.concurrency(noisy), 150);
    assert_eq!(h.throttled(noisy, ThrottleReason::ConcurrentInvocationLimitExceeded), 850);
    for _ in 0..50 {
        assert!(matches!(h.invoke(critical), Admission::Admitted(_)));
    }
    assert_eq!(h.concurrency(critical), 50);
    assert!(matches!(h.invoke(critical), Admission::Throttled(t)
        if t.reason == ThrottleReason::ReservedFunctionConcurrentInvocationLimitExceeded));
    assert_eq!(h.core.account_stats().concurrent_executions, 200);
}

#[test]
fn a_burst_gets_1000_environments_at_once_then_the_refill_rate() {
    // Account limit 10,000; 5,000 simultaneous long requests against a fresh
    // function: 1,000 new environments at once, the rest throttled; the
    // budget then refills continuously, one window after each use.
    let config = ControllerConfig {
        account: AccountLimits { concurrency_limit: 10_000, minimum_unreserved: 100 },
        host: HostLimits { max_environments: 10_000, ..HostLimits::default() },
        ..ControllerConfig::default()
    };
    let mut h = Harness::new(config);
    let f = h.function("burst", behaviour(Duration::from_secs(60)));
    let mut admitted = 0;
    for _ in 0..5_000 {
        if let Admission::Admitted(_) = h.invoke(f) {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 1_000);
    assert_eq!(h.throttled(f, ThrottleReason::FunctionInvocationRateLimitExceeded), 4_000);
    match h.invoke(f) {
        Admission::Throttled(t) => assert_eq!(t.retry_after, Duration::from_secs(10)),
        other => panic!("{other:?}"),
    }
    // Steady demand of 5,000 concurrent: admissions follow the refill rate,
    // never more than 1,000 new environments in any 10 s window.
    let mut started_at = Vec::new();
    for second in 1..=29u64 {
        h.advance(Duration::from_secs(1));
        for _ in 0..200 {
            if let Admission::Admitted(_) = h.invoke(f) {
                started_at.push(second);
            }
        }
    }
    for window_start in 0..=20u64 {
        let in_window = started_at.iter().filter(|&&s| s >= window_start && s < window_start + 10).count();
        assert!(in_window <= 1_000, "{in_window} new environments in window starting at {window_start}");
    }
    // Grants return one window after use: 1,000 at 0 s, 1,000 over 10–14 s,
    // 1,000 over 20–24 s.
    assert_eq!(h.core.function_stats(f).unwrap().environments_started, 3_000);
}

#[test]
fn a_reservation_must_leave_100_unreserved() {
    let mut h = Harness::new(ControllerConfig::default());
    let a = h.function("a", behaviour(ms(10)));
    let b = h.function("b", behaviour(ms(10)));
    h.config(ConfigChange::PutReservedConcurrency { function: a, reserved: 800 }).unwrap();
    let err = h.config(ConfigChange::PutReservedConcurrency { function: b, reserved: 101 }).unwrap_err();
    assert_eq!(err.kind, ConfigErrorKind::InvalidParameterValue);
    assert_eq!(err.kind.aws_code(), "InvalidParameterValueException");
    assert_eq!(
        err.message,
        "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [100]."
    );
    h.config(ConfigChange::PutReservedConcurrency { function: b, reserved: 100 }).unwrap();
    assert_eq!(h.core.account_stats().unreserved_limit, 100);
}

#[test]
fn provisioned_concurrency_rules_follow_lambda() {
    let mut h = Harness::new(ControllerConfig::default());
    let f = h.function("f", behaviour(ms(10)));
    let err = h
        .config(ConfigChange::PutProvisionedConcurrency { function: f, qualifier: "$LATEST".into(), count: 1 })
        .unwrap_err();
    assert_eq!(err.message, "Provisioned Concurrency Configs cannot be applied to unpublished function versions.");
    h.config(ConfigChange::PublishVersion { function: f, version: 1 }).unwrap();
    h.config(ConfigChange::PutReservedConcurrency { function: f, reserved: 5 }).unwrap();
    let err =
        h.config(ConfigChange::PutProvisionedConcurrency { function: f, qualifier: "1".into(), count: 6 }).unwrap_err();
    assert_eq!(
        err.message,
        "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function"
    );
    h.config(ConfigChange::PutAlias { function: f, name: "live".into(), version: Version::Published(1) }).unwrap();
    h.config(ConfigChange::PutProvisionedConcurrency { function: f, qualifier: "1".into(), count: 5 }).unwrap();
    let err = h
        .config(ConfigChange::PutProvisionedConcurrency { function: f, qualifier: "live".into(), count: 1 })
        .unwrap_err();
    assert_eq!(err.kind, ConfigErrorKind::ResourceConflict);
    // With 5 of 5 reserved provisioned on version 1, $LATEST has no on-demand capacity left.
    h.advance(Duration::from_secs(1));
    assert!(matches!(h.invoke(f), Admission::Throttled(t)
        if t.reason == ThrottleReason::ReservedFunctionConcurrentInvocationLimitExceeded));
    assert!(matches!(h.invoke_version(f, Version::Published(1)), Admission::Admitted(_)));
}

#[test]
fn lowering_reserved_lets_running_invocations_finish_and_throttles_new_ones() {
    let mut h = Harness::new(ControllerConfig::default());
    let f = h.function("f", behaviour(Duration::from_secs(5)));
    h.config(ConfigChange::PutReservedConcurrency { function: f, reserved: 10 }).unwrap();
    for _ in 0..10 {
        h.invoke(f);
    }
    h.config(ConfigChange::PutReservedConcurrency { function: f, reserved: 2 }).unwrap();
    assert_eq!(h.concurrency(f), 10, "running invocations are not cut short");
    assert!(matches!(h.invoke(f), Admission::Throttled(_)));
    h.advance(Duration::from_secs(6));
    assert_eq!(h.core.function_stats(f).unwrap().invocations, 10);
    assert_eq!(h.concurrency(f), 0);
    assert!(matches!(h.invoke(f), Admission::Admitted(_)));
    assert!(matches!(h.invoke(f), Admission::Admitted(_)));
    assert!(matches!(h.invoke(f), Admission::Throttled(_)));
}

#[test]
fn invocations_over_a_lowered_reservation_still_count_against_the_account() {
    // Account 200: "batch" reserves 100 and runs 100. Its reservation drops
    // to 10 while they run: the pool for others grows to 190, but the 90
    // running beyond the new reservation occupy it until they finish.
    let config = ControllerConfig {
        account: AccountLimits { concurrency_limit: 200, minimum_unreserved: 50 },
        ..ControllerConfig::default()
    };
    let mut h = Harness::new(config);
    let batch = h.function("batch", behaviour(Duration::from_secs(10)));
    let other = h.function("other", behaviour(Duration::from_secs(10)));
    h.config(ConfigChange::PutReservedConcurrency { function: batch, reserved: 100 }).unwrap();
    for _ in 0..100 {
        h.invoke(batch);
    }
    h.config(ConfigChange::PutReservedConcurrency { function: batch, reserved: 10 }).unwrap();
    let admitted = (0..200).filter(|_| matches!(h.invoke(other), Admission::Admitted(_))).count();
    assert_eq!(admitted, 100);
    assert_eq!(h.core.account_stats().concurrent_executions, 200, "never above the account limit");
    h.advance(Duration::from_secs(11));
    let admitted = (0..200).filter(|_| matches!(h.invoke(other), Admission::Admitted(_))).count();
    assert_eq!(admitted, 190);
}

#[test]
fn warm_environments_are_reused_most_recent_first_and_reaped_when_idle() {
    let config = ControllerConfig { idle_timeout: Duration::from_secs(60), ..ControllerConfig::default() };
    let mut h = Harness::new(config);
    let f = h.function("f", behaviour(ms(100)));
    h.invoke(f);
    h.invoke(f);
    h.advance(Duration::from_secs(1));
    assert_eq!(h.cold_starts(), 2);
    // Sequential traffic keeps reusing one environment (the most recent).
    let mut used = Vec::new();
    for _ in 0..5 {
        h.invoke(f);
        if let Some((_, Effect::Dispatch { env, init_duration: None, .. })) = h.effects.last() {
            used.push(*env);
        }
        h.advance(Duration::from_secs(1));
    }
    assert_eq!(used.len(), 5);
    assert!(used.windows(2).all(|w| w[0] == w[1]), "one warm environment serves sequential traffic");
    assert_eq!(h.cold_starts(), 2);
    // The unused one is reaped 60 s after it went idle, the other after its last use.
    h.advance(Duration::from_secs(56));
    assert_eq!(h.stops(StopReason::Idle), 1);
    h.advance(Duration::from_secs(10));
    assert_eq!(h.stops(StopReason::Idle), 2);
    assert_eq!(h.core.function_stats(f).unwrap().environments, 0);
    // A request after reaping is a cold start again.
    h.invoke(f);
    h.advance(Duration::from_secs(1));
    assert_eq!(h.cold_starts(), 3);
}

#[test]
fn provisioned_environments_are_never_reaped_and_are_replaced_when_they_die() {
    let config = ControllerConfig { idle_timeout: Duration::from_secs(10), ..ControllerConfig::default() };
    let mut h = Harness::new(config);
    let f = h.function("f", behaviour(ms(100)));
    h.config(ConfigChange::PublishVersion { function: f, version: 1 }).unwrap();
    h.config(ConfigChange::PutProvisionedConcurrency { function: f, qualifier: "1".into(), count: 2 }).unwrap();
    h.advance(Duration::from_secs(3600));
    assert_eq!(h.stops(StopReason::Idle), 0);
    assert_eq!(h.core.function_stats(f).unwrap().provisioned_ready, 2);
    let victim = h
        .effects
        .iter()
        .find_map(|(_, e)| match e {
            Effect::SpawnEnv { env, init_type: InitType::ProvisionedConcurrency, .. } => Some(*env),
            _ => None,
        })
        .unwrap();
    h.crash(victim);
    assert_eq!(h.spawns(InitType::ProvisionedConcurrency), 3, "a replacement starts at once");
    h.advance(Duration::from_secs(1));
    assert_eq!(h.core.provisioned_status(f, "1").unwrap().state, ProvisionedState::Ready);
    // Lowering the configuration stops the surplus; removing it stops all.
    h.config(ConfigChange::PutProvisionedConcurrency { function: f, qualifier: "1".into(), count: 1 }).unwrap();
    h.advance(Duration::from_secs(1));
    assert_eq!(h.core.function_stats(f).unwrap().provisioned_ready, 1);
    h.config(ConfigChange::DeleteProvisionedConcurrency { function: f, qualifier: "1".into() }).unwrap();
    h.advance(Duration::from_secs(1));
    assert_eq!(h.core.function_stats(f).unwrap().environments, 0);
}

#[test]
fn an_invocation_over_its_timeout_fails_and_its_environment_is_killed() {
    let mut h = Harness::new(ControllerConfig::default());
    let settings = RuntimeSettings { timeout: Duration::from_secs(3), ..RuntimeSettings::default() };
    let f = h.function_with("slow", settings, behaviour(Duration::from_secs(10)));
    let id = Harness::admitted_ids(h.invoke(f)).unwrap();
    h.advance(Duration::from_secs(4));
    assert_eq!(h.failures, vec![(id, InvocationFailure::TimedOut { timeout: Duration::from_secs(3) })]);
    assert_eq!(h.stops(StopReason::InvocationTimedOut), 1);
    let stats = h.core.function_stats(f).unwrap();
    assert_eq!((stats.invocations, stats.errors, stats.timeouts), (1, 1, 1));
    assert_eq!(stats.concurrent_executions, 0);
}

#[test]
fn a_failed_init_fails_its_invocation_and_counts_as_an_error() {
    let mut h = Harness::new(ControllerConfig::default());
    let f = h.function("broken", Behaviour { init_fails: true, ..Behaviour::default() });
    let id = Harness::admitted_ids(h.invoke(f)).unwrap();
    h.advance(Duration::from_secs(1));
    assert_eq!(h.failures, vec![(id, InvocationFailure::InitFailed)]);
    let stats = h.core.function_stats(f).unwrap();
    assert_eq!((stats.invocations, stats.errors, stats.environments), (1, 1, 0));
}

#[test]
fn init_that_never_finishes_is_cut_after_the_init_limit_and_the_function_timeout() {
    // Lambda: an on-demand init over 10 s is retried within the first
    // invocation, bounded by the function timeout (60 s here).
    let mut h = Harness::new(ControllerConfig::default());
    let settings = RuntimeSettings { timeout: Duration::from_secs(60), ..RuntimeSettings::default() };
    let f = h.function_with("hangs", settings, Behaviour { init: Duration::from_secs(3600), ..Behaviour::default() });
    let id = Harness::admitted_ids(h.invoke(f)).unwrap();
    h.advance(Duration::from_secs(11));
    assert_eq!(h.failures, vec![], "past 10 s the init goes on for the invocation");
    h.advance(Duration::from_secs(60));
    assert_eq!(h.failures, vec![(id, InvocationFailure::TimedOut { timeout: Duration::from_secs(60) })]);
    assert_eq!(h.stops(StopReason::InitTimedOut), 1);
}

#[test]
fn an_init_past_its_limit_shares_the_function_timeout_with_the_handler() {
    // The retried init and the handler get one 3 s timeout from the 10 s
    // mark: a 12 s init leaves the handler 1 s, too little for 2 s of work.
    let mut h = Harness::new(ControllerConfig::default());
    let settings = RuntimeSettings { timeout: Duration::from_secs(3), ..RuntimeSettings::default() };
    let behaviour =
        Behaviour { init: Duration::from_secs(12), duration: Duration::from_secs(2), ..Behaviour::default() };
    let f = h.function_with("tight", settings, behaviour);
    let id = Harness::admitted_ids(h.invoke(f)).unwrap();
    h.advance(Duration::from_millis(12_500));
    assert_eq!(h.failures, vec![], "the init finished within the shared timeout");
    h.advance(Duration::from_secs(1));
    assert_eq!(h.failures, vec![(id, InvocationFailure::TimedOut { timeout: Duration::from_secs(3) })]);
}

#[test]
fn an_init_longer_than_ten_seconds_serves_its_invocation_within_the_function_timeout() {
    let mut h = Harness::new(ControllerConfig::default());
    let settings = RuntimeSettings { timeout: Duration::from_secs(60), ..RuntimeSettings::default() };
    let f = h.function_with("slow", settings, Behaviour { init: Duration::from_secs(12), ..Behaviour::default() });
    Harness::admitted_ids(h.invoke(f)).unwrap();
    h.advance(Duration::from_secs(13));
    assert_eq!(h.failures, vec![]);
    let stats = h.core.function_stats(f).unwrap();
    assert_eq!((stats.invocations, stats.errors, stats.cold_starts), (1, 0, 1));
}

#[test]
fn host_capacity_is_its_own_outcome_not_a_lambda_throttle() {
    // The machine may run 2 environments; Lambda's limits would allow more.
    let config = ControllerConfig {
        host: HostLimits { max_environments: 2, max_waiting: 1, max_wait: Duration::from_secs(5) },
        ..ControllerConfig::default()
    };
    let mut h = Harness::new(config);
    let f = h.function("f", behaviour(Duration::from_secs(2)));
    assert!(matches!(h.invoke(f), Admission::Admitted(_)));
    assert!(matches!(h.invoke(f), Admission::Admitted(_)));
    // The third waits in line for a host slot (it is admitted: it counts as concurrency).
    let waiting = Harness::admitted_ids(h.invoke(f)).unwrap();
    assert_eq!(h.core.account_stats().host_waiting, 1);
    // The fourth finds the line full.
    assert_eq!(h.invoke(f), Admission::HostBusy);
    assert!(h.throttles.is_empty(), "host limits never produce Lambda throttles");
    // When the first two finish, the waiter runs on a freed warm environment.
    h.advance(Duration::from_millis(2_200));
    let dispatched =
        h.effects.iter().any(|(_, e)| matches!(e, Effect::Dispatch { invocation, .. } if *invocation == waiting));
    assert!(dispatched);
    assert_eq!(h.core.account_stats().host_waiting, 0);
    assert_eq!(h.core.account_stats().host_rejections, 1);
}

#[test]
fn idle_environments_of_other_functions_are_evicted_for_host_waiters() {
    let config = ControllerConfig {
        host: HostLimits { max_environments: 1, max_waiting: 10, max_wait: Duration::from_secs(30) },
        ..ControllerConfig::default()
    };
    let mut h = Harness::new(config);
    let a = h.function("a", behaviour(ms(100)));
    let b = h.function("b", behaviour(ms(100)));
    h.invoke(a);
    h.advance(Duration::from_secs(1)); // a's environment is now idle
    let waiting = Harness::admitted_ids(h.invoke(b)).unwrap();
    h.advance(Duration::from_secs(1));
    assert_eq!(h.stops(StopReason::Evicted), 1);
    assert!(h.effects.iter().any(|(_, e)| matches!(e, Effect::Dispatch { invocation, .. } if *invocation == waiting)));
    assert_eq!(h.core.account_stats().host_evictions, 1);
}

#[test]
fn a_host_waiter_that_waits_too_long_fails_without_counting_as_an_invocation() {
    let config = ControllerConfig {
        host: HostLimits { max_environments: 1, max_waiting: 10, max_wait: Duration::from_secs(5) },
        ..ControllerConfig::default()
    };
    let mut h = Harness::new(config);
    let f = h.function("f", behaviour(Duration::from_secs(60)));
    h.invoke(f);
    let waiting = Harness::admitted_ids(h.invoke(f)).unwrap();
    h.advance(Duration::from_secs(6));
    assert!(h.failures.contains(&(waiting, InvocationFailure::HostWaitExpired)));
    assert_eq!(h.core.account_stats().host_wait_expirations, 1);
    assert_eq!(h.core.function_stats(f).unwrap().invocations, 0);
}

#[test]
fn updating_code_retires_old_environments() {
    let mut h = Harness::new(ControllerConfig::default());
    let f = h.function("f", behaviour(Duration::from_secs(1)));
    h.invoke(f);
    h.invoke(f);
    h.advance(Duration::from_millis(500)); // both busy
    h.invoke(f);
    h.advance(Duration::from_secs(2)); // all idle now
    let before = h.core.function_stats(f).unwrap().environments;
    assert_eq!(before, 3);
    h.config(ConfigChange::UpdateFunction { function: f, settings: RuntimeSettings::default() }).unwrap();
    h.advance(Duration::from_millis(10));
    assert_eq!(h.stops(StopReason::Stale), 3);
    h.invoke(f);
    h.advance(Duration::from_secs(1));
    assert_eq!(h.cold_starts(), 4, "the next request starts a fresh environment with the new code");
}

#[test]
fn headroom_says_how_many_more_would_be_admitted() {
    let config = ControllerConfig {
        account: AccountLimits { concurrency_limit: 20, minimum_unreserved: 5 },
        ..ControllerConfig::default()
    };
    let mut h = Harness::new(config);
    let reserved = h.function("reserved", behaviour(Duration::from_secs(5)));
    let open = h.function("open", behaviour(Duration::from_secs(5)));
    h.config(ConfigChange::PutReservedConcurrency { function: reserved, reserved: 3 }).unwrap();
    assert_eq!(h.core.headroom(reserved, Version::Latest), 3);
    assert_eq!(h.core.headroom(open, Version::Latest), 17);
    h.invoke(reserved);
    h.invoke(open);
    assert_eq!(h.core.headroom(reserved, Version::Latest), 2);
    assert_eq!(h.core.headroom(open, Version::Latest), 16);
    for _ in 0..2 {
        h.invoke(reserved);
    }
    assert_eq!(h.core.headroom(reserved, Version::Latest), 0);
    assert!(matches!(h.invoke(reserved), Admission::Throttled(_)), "headroom 0 means a throttle");
    h.config(ConfigChange::PutReservedConcurrency { function: reserved, reserved: 0 }).unwrap();
    assert_eq!(h.core.headroom(reserved, Version::Latest), 0);
}

#[test]
fn waiting_callers_are_told_when_capacity_frees() {
    let mut h = Harness::new(ControllerConfig::default());
    let f = h.function("f", behaviour(Duration::from_secs(1)));
    h.config(ConfigChange::PutReservedConcurrency { function: f, reserved: 1 }).unwrap();
    h.invoke(f);
    assert!(matches!(h.invoke(f), Admission::Throttled(_)));
    h.core.watch_capacity(f);
    h.advance(Duration::from_secs(2));
    let woken = h.effects.iter().filter(|(_, e)| matches!(e, Effect::CapacityAvailable { function } if *function == f));
    assert_eq!(woken.count(), 1);
}

#[test]
fn deleting_a_function_lets_its_invocations_finish_and_frees_its_reservation() {
    let mut h = Harness::new(ControllerConfig::default());
    let f = h.function("f", behaviour(Duration::from_secs(1)));
    h.config(ConfigChange::PutReservedConcurrency { function: f, reserved: 900 }).unwrap();
    h.invoke(f);
    h.config(ConfigChange::DeleteFunction { function: f }).unwrap();
    assert_eq!(h.core.account_stats().unreserved_limit, 1_000);
    assert_eq!(h.core.function_id("f"), None);
    h.advance(Duration::from_secs(2));
    assert_eq!(h.core.account_stats().concurrent_executions, 0);
    assert_eq!(h.core.account_stats().environments, 0);
}

#[test]
fn the_scaling_rate_is_configurable() {
    let config = ControllerConfig {
        scaling_rate: ScalingRate { environments: 3, window: Duration::from_secs(1) },
        ..ControllerConfig::default()
    };
    let mut h = Harness::new(config);
    let f = h.function("f", behaviour(Duration::from_secs(10)));
    let admitted = (0..10).filter(|_| matches!(h.invoke(f), Admission::Admitted(_))).count();
    assert_eq!(admitted, 3);
    h.advance(Duration::from_secs(1));
    let admitted = (0..10).filter(|_| matches!(h.invoke(f), Admission::Admitted(_))).count();
    assert_eq!(admitted, 3);
}

#[test]
fn the_concurrency_peak_since_the_last_read_keeps_bursts_between_samples() {
    // A sampler that reads concurrency once a second misses a 5 ms burst;
    // the peak since its previous read does not.
    let mut h = Harness::new(ControllerConfig::default());
    let f = h.function("bursty", behaviour(ms(5)));
    let g = h.function("other", behaviour(ms(5)));
    assert_eq!(h.core.take_concurrency_peak(f), Some(0));
    assert_eq!(h.core.take_account_concurrency_peak(), 0);
    for _ in 0..10 {
        assert!(matches!(h.invoke(f), Admission::Admitted(_)));
    }
    h.invoke(g);
    h.advance(Duration::from_secs(1));
    assert_eq!((h.concurrency(f), h.concurrency(g)), (0, 0), "the burst is over at the sample");
    assert_eq!(h.core.take_concurrency_peak(f), Some(10));
    assert_eq!(h.core.take_concurrency_peak(g), Some(1));
    assert_eq!(h.core.take_account_concurrency_peak(), 11);
    assert_eq!(h.core.take_concurrency_peak(f), Some(0), "the next window starts empty");
    assert_eq!(h.core.take_account_concurrency_peak(), 0);
    // An invocation in flight across a read counts in both windows.
    h.invoke(f);
    assert_eq!(h.core.take_concurrency_peak(f), Some(1));
    h.advance(Duration::from_secs(1));
    assert_eq!(h.core.take_concurrency_peak(f), Some(1));
    assert_eq!(h.core.take_concurrency_peak(f), Some(0));
    // The all-time peak is not reset by reads.
    assert_eq!(h.core.function_stats(f).unwrap().peak_concurrent_executions, 10);
}
