//! The environment of a function is exactly Lambda's variables plus its own: nothing of the
//! weir process leaks in. This binary holds a single test so it can set a marker variable in
//! its own environment before any other thread exists.

mod common;

use std::collections::BTreeMap;

use common::*;
use weir_sandbox::Outcome;

const MARKER: &str = "WEIR_TEST_LEAK_MARKER";

fn vars_of(outcome: &Outcome) -> BTreeMap<String, String> {
    let Outcome::Response(body) = outcome else {
        panic!("expected a response, got {outcome:?}");
    };
    serde_json::from_slice(body).expect("env as a JSON object")
}

#[test]
fn function_environment_is_exactly_lambdas_and_nothing_leaks() {
    // SAFETY: this binary has a single test, and no other thread that reads the environment
    // exists yet; the runtime is created afterwards.
    unsafe { std::env::set_var(MARKER, "must-not-leak") };
    // A descriptor opened without O_CLOEXEC (std always sets it; a C library or the parent of
    // weir might not) must not reach functions either.
    let leaky_path = std::env::temp_dir().join(format!("weir-fd-leak-{}", std::process::id()));
    std::fs::write(&leaky_path, "x").unwrap();
    let c_path = std::ffi::CString::new(leaky_path.display().to_string()).unwrap();
    // SAFETY: open(2) with a valid C string; the descriptor is closed below.
    let leaky_fd = unsafe { nix::libc::open(c_path.as_ptr(), nix::libc::O_RDONLY) };
    assert!(leaky_fd > 2);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(within(90, check_environments(leaky_path.display().to_string())));
    // SAFETY: closing the descriptor opened above.
    unsafe { nix::libc::close(leaky_fd) };
    let _ = std::fs::remove_file(&leaky_path);
}

async fn check_environments(leaky_path: String) {
    let h = Harness::new();
    let env = h.sandbox.spawn(h.rust_spec()).await.unwrap();
    env.wait_ready().await.unwrap();
    let fds = vars_of(&env.invoke(invocation(r#"{"fds":true}"#)).await.outcome);
    env.shutdown().await;
    assert!(fds.contains_key("0") && fds.contains_key("1") && fds.contains_key("2"));
    assert_eq!(fds["0"], "/dev/null");
    assert!(fds["1"].starts_with("pipe:") && fds["1"] == fds["2"], "{fds:?}");
    assert!(!fds.values().any(|target| target == &leaky_path), "inherited fd leaked: {fds:?}");

    let mut spec = h.rust_spec();
    spec.memory_mb = 256;
    spec.function_version = "3".into();
    spec.init_type = weir_sandbox::InitType::ProvisionedConcurrency;
    spec.region = "eu-west-1".into();
    spec.user_environment = vec![
        ("GREETING".into(), "hello".into()),
        ("AWS_REGION".into(), "us-west-2".into()), // reserved: ignored
        ("LANG".into(), "C.UTF-8".into()),         // unreserved: the function may set it
        ("AWS_ENDPOINT_URL".into(), "http://user.invalid".into()),
    ];
    spec.platform_environment = vec![("AWS_ENDPOINT_URL".into(), "http://127.0.0.1:9".into())];
    let code_dir = spec.code_dir.clone();
    let env = h.sandbox.spawn(spec).await.unwrap();
    env.wait_ready().await.unwrap();
    let result = env.invoke(invocation(r#"{"env":true}"#)).await;
    let vars = vars_of(&result.outcome);
    env.shutdown().await;

    assert_eq!(std::env::var(MARKER).unwrap(), "must-not-leak");
    assert!(!vars.contains_key(MARKER));
    let names: Vec<&str> = vars.keys().map(String::as_str).collect();
    // Only these names, whatever the test process's own environment holds (which may even
    // contain some of the same names, e.g. when run from inside a Lambda-like shell).
    assert_eq!(
        names,
        [
            "AWS_ACCESS_KEY_ID",
            "AWS_DEFAULT_REGION",
            "AWS_ENDPOINT_URL",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            "AWS_LAMBDA_FUNCTION_NAME",
            "AWS_LAMBDA_FUNCTION_VERSION",
            "AWS_LAMBDA_INITIALIZATION_TYPE",
            "AWS_LAMBDA_LOG_GROUP_NAME",
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "AWS_LAMBDA_RUNTIME_API",
            "AWS_REGION",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "GREETING",
            "LAMBDA_RUNTIME_DIR",
            "LAMBDA_TASK_ROOT",
            "LANG",
            "LD_LIBRARY_PATH",
            "PATH",
            "TMPDIR",
            "TZ",
            "_HANDLER",
        ]
    );
    let task_root = code_dir.display().to_string();
    assert_eq!(vars["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "256");
    assert_eq!(vars["AWS_LAMBDA_FUNCTION_VERSION"], "3");
    assert_eq!(vars["AWS_LAMBDA_FUNCTION_NAME"], "testfn");
    assert_eq!(vars["AWS_LAMBDA_INITIALIZATION_TYPE"], "provisioned-concurrency");
    assert_eq!(vars["AWS_LAMBDA_LOG_GROUP_NAME"], "/aws/lambda/testfn");
    assert!(vars["AWS_LAMBDA_LOG_STREAM_NAME"].starts_with("2026/11/25/[$LATEST]env"));
    assert_eq!(vars["AWS_REGION"], "eu-west-1");
    assert_eq!(vars["AWS_DEFAULT_REGION"], "eu-west-1");
    assert_eq!(vars["AWS_ENDPOINT_URL"], "http://127.0.0.1:9");
    assert_eq!(vars["GREETING"], "hello");
    assert_eq!(vars["LANG"], "C.UTF-8");
    assert_eq!(vars["TZ"], ":UTC");
    assert_eq!(vars["LAMBDA_TASK_ROOT"], task_root);
    assert_eq!(vars["_HANDLER"], "bootstrap.is.ignored");
    assert_eq!(vars["AWS_ACCESS_KEY_ID"], weir_sandbox::DUMMY_ACCESS_KEY_ID);
    assert_eq!(vars["PATH"], "/usr/local/bin:/usr/bin/:/bin:/opt/bin");
    let runtime_api = &vars["AWS_LAMBDA_RUNTIME_API"];
    assert!(runtime_api.starts_with("127.0.0.1:"), "{runtime_api}");
    assert!(vars["TMPDIR"].contains("/tmp/env-"));
    assert!(vars["LD_LIBRARY_PATH"].contains(&format!("{task_root}:{task_root}/lib")));

    // Python: AWS_EXECUTION_ENV and PYTHONPATH as well, seen through os.environ.
    let py = h.python_spec("import os\n\ndef handler(event, context):\n    return dict(os.environ)\n");
    let env = h.sandbox.spawn(py).await.unwrap();
    env.wait_ready().await.unwrap();
    let vars = vars_of(&env.invoke(invocation("{}")).await.outcome);
    env.shutdown().await;
    assert!(!vars.contains_key(MARKER));
    assert_eq!(vars["AWS_EXECUTION_ENV"], "AWS_Lambda_python3.12");
    assert!(vars.contains_key("PYTHONPATH"));
    assert!(vars["PATH"].ends_with(":/usr/local/bin:/usr/bin/:/bin:/opt/bin"));
    let names: Vec<&str> = vars.keys().map(String::as_str).collect();
    for name in names {
        assert!(
            name.starts_with("AWS_")
                || name.starts_with("LAMBDA_")
                || matches!(
                    name,
                    "_HANDLER" | "LANG" | "LD_LIBRARY_PATH" | "PATH" | "PYTHONPATH" | "TMPDIR" | "TZ" | "LC_CTYPE"
                ),
            "unexpected variable {name} in a Python environment"
        );
    }
}
