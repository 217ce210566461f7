//! The `weir` command: thin wiring over the library crates.
//!
//! `serve` runs a node; `invoke`, `logs` and `top` talk to a running one over HTTP;
//! `simulate` runs a scenario through the core on a virtual clock.

mod client;
mod serve;
mod top;
mod up;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "weir", version, about = "A self-hosted, AWS-Lambda-compatible function platform")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the weir server (Lambda API, Runtime API, execution environments).
    Serve(serve::ServeArgs),
    /// Start the server and deploy a SAM / CloudFormation template into it.
    Up(up::UpArgs),
    /// Invoke a function on a running server and print its result.
    Invoke(client::InvokeArgs),
    /// Show a function's logs (START/END/REPORT lines included).
    Logs(client::LogsArgs),
    /// Run a scenario through the concurrency core on a virtual clock.
    Simulate(weir_sim::cli::SimulateArgs),
    /// Live view of a running server: concurrency, rates, throttles, latency, queues.
    Top(top::TopArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::Simulate(args) = &cli.command {
        // CPU-bound and single-threaded: no async runtime needed.
        return weir_sim::cli::run(args);
    }
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    match &cli.command {
        Command::Serve(args) => runtime.worker_threads(args.worker_threads()),
        Command::Up(args) => runtime.worker_threads(args.serve.worker_threads()),
        _ => &mut runtime,
    };
    let runtime = runtime.enable_all().build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Up(args) => up::run(args).await,
            Command::Invoke(args) => client::invoke(args).await,
            Command::Logs(args) => client::logs(args).await,
            Command::Top(args) => top::run(args).await,
            Command::Simulate(_) => unreachable!("handled above"),
        }
    })
}
