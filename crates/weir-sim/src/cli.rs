//! The `weir simulate` command: arguments, running with a progress bar,
//! and writing the report (terminal table or JSON on stdout; JSON, CSV and
//! SVG plots in `--out`). The `weir` binary adds the subcommand and calls
//! [`run`]; tests call [`execute`], which returns the report.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::{Report, Scenario, simulate_with_progress, svg};

/// Arguments of `weir simulate`.
#[derive(clap::Args, Clone, Debug)]
pub struct SimulateArgs {
    /// The scenario file (TOML; see examples/simulate/).
    #[arg(value_name = "SCENARIO")]
    pub scenario: PathBuf,
    /// Seed for every random draw (overrides the file's `seed`); the same
    /// seed gives the same report, byte for byte.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Print the report as one JSON object instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Also write report.json, per-second.csv, summary.txt and SVG plots here.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Runs `weir simulate` and prints the report on stdout.
pub fn run(args: &SimulateArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let report = execute(args)?;
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_table());
        if let Some(out) = &args.out {
            println!("wrote report.json, per-second.csv, summary.txt and plots to {}", out.display());
        }
        eprintln!("simulated in {:.2} s", started.elapsed().as_secs_f64());
    }
    Ok(())
}

/// Loads, simulates, and writes `--out` files; returns the report.
pub fn execute(args: &SimulateArgs) -> anyhow::Result<Report> {
    let scenario = Scenario::load(&args.scenario)?;
    let seed = args.seed.unwrap_or(scenario.seed);
    let mut progress = LazyProgress::new();
    let report = simulate_with_progress(&scenario, seed, &mut |done| progress.update(done))?;
    progress.finish();
    if let Some(out) = &args.out {
        write_outputs(&report, out)?;
    }
    Ok(report)
}

/// Writes the report's files into `dir` (created if missing).
pub fn write_outputs(report: &Report, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    };
    write("report.json", &(report.to_json() + "\n"))?;
    write("per-second.csv", &report.series.to_csv())?;
    write("summary.txt", &report.to_table())?;
    for (name, text) in svg::plots(&report.series) {
        write(name, &text)?;
    }
    Ok(())
}

/// A progress bar on stderr that appears only once a run has taken a
/// second, and never when stderr is not a terminal.
struct LazyProgress {
    started: Instant,
    bar: Option<ProgressBar>,
    enabled: bool,
}

impl LazyProgress {
    fn new() -> Self {
        LazyProgress { started: Instant::now(), bar: None, enabled: std::io::stderr().is_terminal() }
    }

    fn update(&mut self, done: f64) {
        if !self.enabled {
            return;
        }
        if self.bar.is_none() && self.started.elapsed() >= Duration::from_secs(1) {
            let bar = ProgressBar::with_draw_target(Some(1_000), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template("simulating {bar:40} {percent:>3}% ({elapsed}, eta {eta})")
            {
                bar.set_style(style);
            }
            self.bar = Some(bar);
        }
        if let Some(bar) = &self.bar {
            bar.set_position((done * 1_000.0) as u64);
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
