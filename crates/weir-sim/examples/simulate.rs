//! `weir simulate` without the `weir` binary:
//! `cargo run --release -p weir-sim --example simulate -- SCENARIO [--seed N] [--json] [--out DIR]`.

use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: weir_sim::cli::SimulateArgs,
}

fn main() -> anyhow::Result<()> {
    weir_sim::cli::run(&Cli::parse().args)
}
