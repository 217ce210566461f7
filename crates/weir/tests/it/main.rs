//! Integration tests: each starts the real `weir` binary on a free port and
//! drives it over HTTP with real function processes (Python handlers, a Rust
//! `lambda_runtime` binary, the AWS SDK for Python).

mod support;

mod asynchronous;
mod boto3;
mod concurrency;
mod crash;
mod event_sources;
mod faults;
mod fidelity;
mod functions;
mod logs;
mod metrics;
mod sqs;
mod up;
