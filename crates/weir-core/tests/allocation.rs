//! The warm path (admit on a warm environment, dispatch, complete) makes
//! no heap allocation once the controller has reached its working size.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use weir_core::{
    Admission, Controller, ControllerConfig, Effect, EnvEvent, Instant, InvocationOutcome, InvokeRequest,
    RuntimeSettings, Version,
};

struct CountingAllocator;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[test]
fn the_warm_path_does_not_allocate() {
    let mut core = Controller::new(ControllerConfig::default());
    let mut now = Instant::from_secs(1);
    let functions: Vec<_> =
        (0..100).map(|i| core.create_function(now, &format!("f{i}"), RuntimeSettings::default()).unwrap()).collect();
    let run = |core: &mut Controller, now: Instant, rounds: usize| {
        for round in 0..rounds {
            let function = functions[round % functions.len()];
            let Admission::Admitted(_) = core.handle_invoke(now, InvokeRequest { function, version: Version::Latest })
            else {
                panic!("throttled")
            };
            while let Some(effect) = core.poll_effect() {
                match effect {
                    Effect::SpawnEnv { env, .. } => core.handle_env_event(now, env, EnvEvent::Ready),
                    Effect::Dispatch { invocation, env, .. } => core.handle_env_event(
                        now,
                        env,
                        EnvEvent::InvocationFinished {
                            invocation,
                            outcome: InvocationOutcome::Success,
                            reusable: true,
                        },
                    ),
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
    };
    // Warm up: every function gets its environment, queues reach working size.
    for _ in 0..20 {
        now = now + Duration::from_millis(1);
        run(&mut core, now, 1_000);
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..20 {
        now = now + Duration::from_millis(1);
        run(&mut core, now, 1_000);
    }
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert_eq!(allocations, 0, "{allocations} allocations in 20,000 warm cycles");
}
