//! Admission benchmarks: one warm admit + complete cycle, and one cold
//! cycle (spawn, init, dispatch, complete, exit), with 1,000 functions
//! registered. Run: `cargo bench -p weir-core --bench admission`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use weir_core::{
    AccountLimits, Admission, Controller, ControllerConfig, Effect, EnvEvent, FunctionId, HostLimits, Instant,
    InvocationOutcome, InvokeRequest, RuntimeSettings, Version,
};

const FUNCTIONS: usize = 1_000;

fn controller() -> (Controller, Vec<FunctionId>) {
    let config = ControllerConfig {
        account: AccountLimits { concurrency_limit: 100_000, minimum_unreserved: 100 },
        host: HostLimits { max_environments: 100_000, ..HostLimits::default() },
        ..ControllerConfig::default()
    };
    let mut core = Controller::new(config);
    let now = Instant::from_secs(1);
    let functions = (0..FUNCTIONS)
        .map(|i| core.create_function(now, &format!("fn-{i}"), RuntimeSettings::default()).unwrap())
        .collect();
    (core, functions)
}

/// Runs one invocation to completion, answering every effect at once.
fn cycle(core: &mut Controller, now: Instant, function: FunctionId) {
    let Admission::Admitted(_) = core.handle_invoke(now, InvokeRequest { function, version: Version::Latest }) else {
        panic!("throttled");
    };
    while let Some(effect) = core.poll_effect() {
        match effect {
            Effect::SpawnEnv { env, .. } => core.handle_env_event(now, env, EnvEvent::Ready),
            Effect::Dispatch { invocation, env, .. } => core.handle_env_event(
                now,
                env,
                EnvEvent::InvocationFinished { invocation, outcome: InvocationOutcome::Success, reusable: true },
            ),
            Effect::StopEnv { env, .. } => core.handle_env_event(now, env, EnvEvent::Exited),
            _ => {}
        }
    }
}

fn warm(c: &mut Criterion) {
    let (mut core, functions) = controller();
    let mut now = Instant::from_secs(2);
    for &f in &functions {
        cycle(&mut core, now, f);
    }
    let mut i = 0usize;
    c.bench_function("warm admit + complete (1,000 functions)", |b| {
        b.iter(|| {
            let f = functions[i % FUNCTIONS];
            i += 1;
            now = now + Duration::from_nanos(100);
            cycle(black_box(&mut core), now, f);
        })
    });
}

fn cold(c: &mut Criterion) {
    let (mut core, functions) = controller();
    let mut now = Instant::from_secs(2);
    let mut i = 0usize;
    c.bench_function("cold start + complete + exit (1,000 functions)", |b| {
        b.iter(|| {
            let f = functions[i % FUNCTIONS];
            i += 1;
            // Past the scaling window, so the rate never throttles.
            now = now + Duration::from_millis(20);
            cycle(black_box(&mut core), now, f);
            // Retire the environment so the next visit is cold again.
            core.handle_config(
                now,
                weir_core::ConfigChange::UpdateFunction { function: f, settings: RuntimeSettings::default() },
            )
            .unwrap();
            while let Some(effect) = core.poll_effect() {
                if let Effect::StopEnv { env, .. } = effect {
                    core.handle_env_event(now, env, EnvEvent::Exited);
                }
            }
        })
    });
}

criterion_group!(benches, warm, cold);
criterion_main!(benches);
