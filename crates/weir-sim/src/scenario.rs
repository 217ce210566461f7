//! The scenario file: what is simulated. TOML in, a validated
//! [`Scenario`] out, in two stages (raw serde structs, then checked values
//! with units resolved and CSV files loaded).
//!
//! This module owns the file format and its checks (including Lambda's own
//! validation, taken from weir-core). It never runs anything.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use weir_core::{Batching, DownstreamConfig, PollerScaling, validate_sqs_visibility};

use crate::dist::{Sampler, millis_to_nanos};
use crate::profile::{ArrivalKind, RateProfile};

/// A scenario that cannot be loaded, with what is wrong in words.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
    Parse { path: PathBuf, source: Box<toml::de::Error> },
    #[error("{0}")]
    Invalid(String),
}

fn invalid(message: impl Into<String>) -> ScenarioError {
    ScenarioError::Invalid(message.into())
}

// ---- the file format ------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    name: Option<String>,
    duration_s: f64,
    seed: Option<u64>,
    #[serde(default)]
    account: AccountSpec,
    host: Option<HostSpec>,
    #[serde(default)]
    functions: Vec<FunctionSpec>,
    #[serde(default)]
    queues: Vec<QueueSpec>,
    #[serde(default)]
    downstreams: Vec<DownstreamSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct AccountSpec {
    concurrency_limit: u32,
    minimum_unreserved: u32,
    scaling_environments: u32,
    scaling_window_s: f64,
    idle_timeout_s: f64,
}

impl Default for AccountSpec {
    fn default() -> Self {
        AccountSpec {
            concurrency_limit: 1_000,
            minimum_unreserved: 100,
            scaling_environments: 1_000,
            scaling_window_s: 10.0,
            idle_timeout_s: 300.0,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HostSpec {
    max_environments: u32,
    #[serde(default = "default_host_max_waiting")]
    max_waiting: u32,
    #[serde(default = "default_host_max_wait_s")]
    max_wait_s: f64,
}

fn default_host_max_waiting() -> u32 {
    10_000
}
fn default_host_max_wait_s() -> f64 {
    30.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FunctionSpec {
    name: String,
    #[serde(default = "default_memory_mb")]
    memory_mb: u32,
    #[serde(default = "default_timeout_s")]
    timeout_s: f64,
    #[serde(default)]
    architecture: Architecture,
    reserved_concurrency: Option<u32>,
    provisioned_concurrency: Option<u32>,
    duration: DistributionSpec,
    #[serde(default = "default_init")]
    init: DistributionSpec,
    #[serde(default)]
    error_probability: f64,
    downstream: Option<String>,
    #[serde(default = "one")]
    downstream_calls: u32,
    traffic: Option<TrafficSpec>,
}

fn default_memory_mb() -> u32 {
    128
}
fn default_timeout_s() -> f64 {
    3.0
}
fn default_init() -> DistributionSpec {
    DistributionSpec::Fixed { ms: 250.0 }
}
fn one() -> u32 {
    1
}

/// The instruction set a function runs on (it changes the price).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    #[default]
    X86_64,
    Arm64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "snake_case")]
enum DistributionSpec {
    Fixed { ms: f64 },
    Normal { mean_ms: f64, stddev_ms: f64 },
    Lognormal { median_ms: f64, sigma: Option<f64>, p99_ms: Option<f64> },
    Exponential { mean_ms: f64 },
    Empirical { samples_ms: Option<Vec<f64>>, path: Option<String> },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrafficSpec {
    #[serde(default = "default_arrivals")]
    arrivals: ArrivalsSpec,
    rate: RateSpec,
    #[serde(default = "unit_multiplier")]
    multiplier: f64,
}

fn default_arrivals() -> ArrivalsSpec {
    ArrivalsSpec::Poisson
}
fn unit_multiplier() -> f64 {
    1.0
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ArrivalsSpec {
    Poisson,
    Uniform,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, tag = "shape", rename_all = "snake_case")]
enum RateSpec {
    Constant {
        rps: f64,
    },
    Ramp {
        from_rps: f64,
        to_rps: f64,
        #[serde(default)]
        start_s: f64,
        duration_s: f64,
    },
    Step {
        steps: Vec<StepSpec>,
    },
    Spike {
        base_rps: f64,
        peak_rps: f64,
        at_s: f64,
        duration_s: f64,
    },
    Diurnal {
        mean_rps: f64,
        amplitude_rps: f64,
        #[serde(default = "day_s")]
        period_s: f64,
        #[serde(default)]
        peak_at_s: f64,
    },
    Csv {
        path: String,
    },
}

fn day_s() -> f64 {
    86_400.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepSpec {
    at_s: f64,
    rps: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueueSpec {
    name: String,
    function: String,
    producer: TrafficSpec,
    #[serde(default = "default_batch_size")]
    batch_size: u32,
    #[serde(default)]
    batching_window_s: u32,
    maximum_concurrency: Option<u32>,
    #[serde(default = "default_visibility_timeout_s")]
    visibility_timeout_s: u32,
    max_receive_count: Option<u32>,
    #[serde(default)]
    failure_probability: f64,
    #[serde(default)]
    initial_messages: u64,
}

fn default_batch_size() -> u32 {
    10
}
fn default_visibility_timeout_s() -> u32 {
    30
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DownstreamSpec {
    name: String,
    max_connections: u32,
    base_latency_ms: f64,
    latency_at_max_ms: f64,
    #[serde(default = "default_exponent")]
    curve_exponent: u32,
    #[serde(default)]
    slowdowns: Vec<SlowdownSpec>,
}

fn default_exponent() -> u32 {
    2
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SlowdownSpec {
    at_s: f64,
    duration_s: f64,
    factor: f64,
}

// ---- the validated scenario -------------------------------------------------

/// Seed used when neither the file nor the command line gives one.
pub const DEFAULT_SEED: u64 = 1;

#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: String,
    pub duration: Duration,
    pub seed: u64,
    pub account: Account,
    /// A weir node's own limits; `None` simulates Lambda (no host limit).
    pub host: Option<Host>,
    pub functions: Vec<Function>,
    pub queues: Vec<Queue>,
    pub downstreams: Vec<Downstream>,
}

#[derive(Clone, Debug)]
pub struct Account {
    pub concurrency_limit: u32,
    pub minimum_unreserved: u32,
    pub scaling_environments: u32,
    pub scaling_window: Duration,
    pub idle_timeout: Duration,
}

#[derive(Clone, Debug)]
pub struct Host {
    pub max_environments: u32,
    pub max_waiting: u32,
    pub max_wait: Duration,
}

#[derive(Clone, Debug)]
pub struct Function {
    pub name: String,
    pub memory_mb: u32,
    pub timeout: Duration,
    pub architecture: Architecture,
    pub reserved_concurrency: Option<u32>,
    pub provisioned_concurrency: Option<u32>,
    pub duration: Sampler,
    pub init: Sampler,
    pub error_probability: f64,
    /// Index into [`Scenario::downstreams`].
    pub downstream: Option<usize>,
    pub downstream_calls: u32,
    pub traffic: Option<Traffic>,
}

#[derive(Clone, Debug)]
pub struct Traffic {
    pub arrivals: ArrivalKind,
    pub rate: RateProfile,
    pub multiplier: f64,
}

#[derive(Clone, Debug)]
pub struct Queue {
    pub name: String,
    /// Index into [`Scenario::functions`].
    pub function: usize,
    pub producer: Traffic,
    pub batching: Batching,
    pub scaling: PollerScaling,
    pub visibility_timeout: Duration,
    pub max_receive_count: Option<u32>,
    pub failure_probability: f64,
    pub initial_messages: u64,
}

#[derive(Clone, Debug)]
pub struct Downstream {
    pub name: String,
    pub config: DownstreamConfig,
    pub slowdowns: Vec<Slowdown>,
}

/// The downstream is `factor` times slower during `[from, until)`.
#[derive(Clone, Copy, Debug)]
pub struct Slowdown {
    pub from: Duration,
    pub until: Duration,
    pub percent: u32,
}

impl Downstream {
    /// The slowdown in force at `t` (time since traffic began), in percent.
    pub fn slowdown_percent(&self, t: Duration) -> u32 {
        self.slowdowns
            .iter()
            .filter(|s| s.from <= t && t < s.until)
            .fold(100u64, |acc, s| acc * u64::from(s.percent) / 100)
            .min(u64::from(u32::MAX)) as u32
    }
}

impl Scenario {
    /// Reads and validates a scenario file; relative paths inside it (CSV
    /// rates, empirical samples) are resolved against its directory.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ScenarioError::Read { path: path.to_owned(), source })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Scenario::parse(&text, base).map_err(|e| match e {
            ScenarioError::Parse { source, .. } => ScenarioError::Parse { path: path.to_owned(), source },
            other => other,
        })
    }

    /// Parses and validates scenario text; `base` resolves relative paths.
    pub fn parse(text: &str, base: &Path) -> Result<Scenario, ScenarioError> {
        let file: ScenarioFile = toml::from_str(text)
            .map_err(|source| ScenarioError::Parse { path: PathBuf::from("<scenario>"), source: Box::new(source) })?;
        Loader { base }.scenario(file)
    }
}

struct Loader<'a> {
    base: &'a Path,
}

fn seconds(what: &str, value: f64) -> Result<Duration, ScenarioError> {
    if !value.is_finite() || value < 0.0 {
        return Err(invalid(format!("{what} must be a non-negative number of seconds, not {value}")));
    }
    Ok(Duration::from_secs_f64(value))
}

fn probability(what: &str, value: f64) -> Result<f64, ScenarioError> {
    if !(0.0..=1.0).contains(&value) {
        return Err(invalid(format!("{what} must be between 0 and 1, not {value}")));
    }
    Ok(value)
}

fn non_negative(what: &str, value: f64) -> Result<f64, ScenarioError> {
    if !value.is_finite() || value < 0.0 {
        return Err(invalid(format!("{what} must be a non-negative number, not {value}")));
    }
    Ok(value)
}

impl Loader<'_> {
    fn scenario(&self, file: ScenarioFile) -> Result<Scenario, ScenarioError> {
        let duration = seconds("duration_s", file.duration_s)?;
        if duration.is_zero() {
            return Err(invalid("duration_s must be positive"));
        }
        let a = file.account;
        let account = Account {
            concurrency_limit: a.concurrency_limit,
            minimum_unreserved: a.minimum_unreserved,
            scaling_environments: a.scaling_environments,
            scaling_window: seconds("account.scaling_window_s", a.scaling_window_s)?,
            idle_timeout: seconds("account.idle_timeout_s", a.idle_timeout_s)?,
        };
        if account.scaling_window.is_zero() || account.scaling_environments == 0 {
            return Err(invalid("the scaling rate needs a positive window and at least one environment"));
        }
        let host = match file.host {
            Some(h) => Some(Host {
                max_environments: h.max_environments,
                max_waiting: h.max_waiting,
                max_wait: seconds("host.max_wait_s", h.max_wait_s)?,
            }),
            None => None,
        };

        let mut downstreams = Vec::new();
        for d in file.downstreams {
            if downstreams.iter().any(|x: &Downstream| x.name == d.name) {
                return Err(invalid(format!("downstream {:?} is defined twice", d.name)));
            }
            let config = DownstreamConfig {
                max_connections: d.max_connections,
                base_latency: seconds("base_latency_ms", d.base_latency_ms / 1e3)?,
                latency_at_max: seconds("latency_at_max_ms", d.latency_at_max_ms / 1e3)?,
                curve_exponent: d.curve_exponent,
            };
            config.validate().map_err(|e| invalid(format!("downstream {:?}: {}", d.name, e.message)))?;
            let mut slowdowns = Vec::new();
            for s in d.slowdowns {
                let from = seconds("slowdowns.at_s", s.at_s)?;
                let factor = non_negative("slowdowns.factor", s.factor)?;
                slowdowns.push(Slowdown {
                    from,
                    until: from + seconds("slowdowns.duration_s", s.duration_s)?,
                    percent: (factor * 100.0).round() as u32,
                });
            }
            downstreams.push(Downstream { name: d.name, config, slowdowns });
        }

        let mut functions: Vec<Function> = Vec::new();
        for f in file.functions {
            if functions.iter().any(|x| x.name == f.name) {
                return Err(invalid(format!("function {:?} is defined twice", f.name)));
            }
            let what = |field: &str| format!("function {:?}: {field}", f.name);
            let downstream = match &f.downstream {
                Some(name) => Some(
                    downstreams
                        .iter()
                        .position(|d| &d.name == name)
                        .ok_or_else(|| invalid(format!("{} names unknown downstream {name:?}", what("downstream"))))?,
                ),
                None => None,
            };
            let timeout = seconds(&what("timeout_s"), f.timeout_s)?;
            if timeout.is_zero() || timeout > Duration::from_secs(900) {
                return Err(invalid(format!("{} must be between 1 and 900 seconds", what("timeout_s"))));
            }
            if !(128..=10_240).contains(&f.memory_mb) {
                return Err(invalid(format!("{} must be between 128 and 10240", what("memory_mb"))));
            }
            if f.provisioned_concurrency == Some(0) {
                return Err(invalid(format!(
                    "{} must be at least 1 (leave it out for none)",
                    what("provisioned_concurrency")
                )));
            }
            functions.push(Function {
                memory_mb: f.memory_mb,
                timeout,
                architecture: f.architecture,
                reserved_concurrency: f.reserved_concurrency,
                provisioned_concurrency: f.provisioned_concurrency,
                duration: self.distribution(&what("duration"), f.duration)?,
                init: self.distribution(&what("init"), f.init)?,
                error_probability: probability(&what("error_probability"), f.error_probability)?,
                downstream,
                downstream_calls: f.downstream_calls,
                traffic: f.traffic.map(|t| self.traffic(&what("traffic"), t)).transpose()?,
                name: f.name,
            });
        }

        let mut queues: Vec<Queue> = Vec::new();
        for q in file.queues {
            if queues.iter().any(|x| x.name == q.name) {
                return Err(invalid(format!("queue {:?} is defined twice", q.name)));
            }
            let what = |field: &str| format!("queue {:?}: {field}", q.name);
            let function = functions
                .iter()
                .position(|f| f.name == q.function)
                .ok_or_else(|| invalid(format!("{} names unknown function {:?}", what("function"), q.function)))?;
            let lambda = |e: weir_core::ConfigError| invalid(format!("queue {:?}: {}", q.name, e));
            let batching =
                Batching::sqs(q.batch_size, Duration::from_secs(u64::from(q.batching_window_s))).map_err(lambda)?;
            let scaling = PollerScaling::with_maximum_concurrency(q.maximum_concurrency).map_err(lambda)?;
            if !(0..=43_200).contains(&q.visibility_timeout_s) {
                return Err(invalid(format!("{} must be between 0 and 43200", what("visibility_timeout_s"))));
            }
            let visibility_timeout = Duration::from_secs(u64::from(q.visibility_timeout_s));
            validate_sqs_visibility(functions[function].timeout, visibility_timeout).map_err(lambda)?;
            if let Some(max) = q.max_receive_count
                && !(1..=1_000).contains(&max)
            {
                return Err(invalid(format!("{} must be between 1 and 1000", what("max_receive_count"))));
            }
            queues.push(Queue {
                function,
                producer: self.traffic(&what("producer"), q.producer)?,
                batching,
                scaling,
                visibility_timeout,
                max_receive_count: q.max_receive_count,
                failure_probability: probability(&what("failure_probability"), q.failure_probability)?,
                initial_messages: q.initial_messages,
                name: q.name,
            });
        }
        if functions.is_empty() {
            return Err(invalid("a scenario needs at least one function"));
        }
        Ok(Scenario {
            name: file.name.unwrap_or_else(|| "scenario".to_owned()),
            duration,
            seed: file.seed.unwrap_or(DEFAULT_SEED),
            account,
            host,
            functions,
            queues,
            downstreams,
        })
    }

    fn distribution(&self, what: &str, spec: DistributionSpec) -> Result<Sampler, ScenarioError> {
        let ms = |field: &str, v: f64| non_negative(&format!("{what}.{field}"), v);
        Ok(match spec {
            DistributionSpec::Fixed { ms: v } => Sampler::fixed_millis(ms("ms", v)?),
            DistributionSpec::Normal { mean_ms, stddev_ms } => Sampler::Normal {
                mean_nanos: ms("mean_ms", mean_ms)? * 1e6,
                stddev_nanos: ms("stddev_ms", stddev_ms)? * 1e6,
            },
            DistributionSpec::Lognormal { median_ms, sigma, p99_ms } => {
                let median = ms("median_ms", median_ms)?;
                if median == 0.0 {
                    return Err(invalid(format!("{what}.median_ms must be positive")));
                }
                let sigma = match (sigma, p99_ms) {
                    (Some(s), None) => non_negative(&format!("{what}.sigma"), s)?,
                    (None, Some(p99)) if p99 >= median => Sampler::sigma_for_p99(median, p99),
                    (None, Some(_)) => return Err(invalid(format!("{what}.p99_ms must not be below median_ms"))),
                    _ => return Err(invalid(format!("{what}: a lognormal needs exactly one of sigma or p99_ms"))),
                };
                Sampler::lognormal(median, sigma)
            }
            DistributionSpec::Exponential { mean_ms } => {
                Sampler::Exponential { mean_nanos: ms("mean_ms", mean_ms)? * 1e6 }
            }
            DistributionSpec::Empirical { samples_ms, path } => {
                let samples = match (samples_ms, path) {
                    (Some(samples), None) => samples,
                    (None, Some(path)) => self.numbers(&path)?,
                    _ => return Err(invalid(format!("{what}: empirical needs exactly one of samples_ms or path"))),
                };
                if samples.is_empty() {
                    return Err(invalid(format!("{what}: empirical needs at least one sample")));
                }
                let mut nanos = Vec::with_capacity(samples.len());
                for s in samples {
                    nanos.push(millis_to_nanos(ms("samples_ms", s)?));
                }
                Sampler::Empirical { samples_nanos: nanos }
            }
        })
    }

    fn traffic(&self, what: &str, spec: TrafficSpec) -> Result<Traffic, ScenarioError> {
        let rps = |field: &str, v: f64| non_negative(&format!("{what}.rate.{field}"), v);
        let rate = match spec.rate {
            RateSpec::Constant { rps: r } => RateProfile::Constant { rps: rps("rps", r)? },
            RateSpec::Ramp { from_rps, to_rps, start_s, duration_s } => {
                if !duration_s.is_finite() || duration_s <= 0.0 {
                    return Err(invalid(format!("{what}.rate.duration_s must be positive")));
                }
                RateProfile::Ramp {
                    from_rps: rps("from_rps", from_rps)?,
                    to_rps: rps("to_rps", to_rps)?,
                    start_s: rps("start_s", start_s)?,
                    duration_s,
                }
            }
            RateSpec::Step { steps } => {
                let mut pairs = Vec::with_capacity(steps.len());
                for s in steps {
                    pairs.push((rps("steps.at_s", s.at_s)?, rps("steps.rps", s.rps)?));
                }
                if pairs.windows(2).any(|w| w[0].0 > w[1].0) {
                    return Err(invalid(format!("{what}.rate.steps must be sorted by at_s")));
                }
                RateProfile::Step { steps: pairs }
            }
            RateSpec::Spike { base_rps, peak_rps, at_s, duration_s } => RateProfile::Spike {
                base_rps: rps("base_rps", base_rps)?,
                peak_rps: rps("peak_rps", peak_rps)?,
                at_s: rps("at_s", at_s)?,
                duration_s: rps("duration_s", duration_s)?,
            },
            RateSpec::Diurnal { mean_rps, amplitude_rps, period_s, peak_at_s } => {
                if !period_s.is_finite() || period_s <= 0.0 {
                    return Err(invalid(format!("{what}.rate.period_s must be positive")));
                }
                RateProfile::Diurnal {
                    mean_rps: rps("mean_rps", mean_rps)?,
                    amplitude_rps: rps("amplitude_rps", amplitude_rps)?,
                    period_s,
                    peak_at_s,
                }
            }
            RateSpec::Csv { path } => {
                let rates = self.numbers(&path)?;
                for r in &rates {
                    rps("csv", *r)?;
                }
                RateProfile::PerSecond { rates }
            }
        };
        Ok(Traffic {
            arrivals: match spec.arrivals {
                ArrivalsSpec::Poisson => ArrivalKind::Poisson,
                ArrivalsSpec::Uniform => ArrivalKind::Uniform,
            },
            rate,
            multiplier: non_negative(&format!("{what}.multiplier"), spec.multiplier)?,
        })
    }

    /// Numbers from a CSV file, one per line: the last column of each line
    /// (so both `rate` and `second,rate` work); a non-numeric first line is
    /// a header; `#` starts a comment.
    fn numbers(&self, path: &str) -> Result<Vec<f64>, ScenarioError> {
        let full = self.base.join(path);
        let text =
            std::fs::read_to_string(&full).map_err(|source| ScenarioError::Read { path: full.clone(), source })?;
        let mut values = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let field = line.rsplit(',').next().unwrap_or("").trim();
            match field.parse::<f64>() {
                Ok(v) if v.is_finite() => values.push(v),
                _ if values.is_empty() && index == 0 => {} // header
                _ => return Err(invalid(format!("{}:{}: {field:?} is not a number", full.display(), index + 1))),
            }
        }
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(text, Path::new("."))
    }

    #[test]
    fn a_minimal_scenario_gets_lambda_defaults() {
        let s = parse(
            r#"
            duration_s = 10
            [[functions]]
            name = "api"
            duration = { kind = "fixed", ms = 500 }
            traffic = { rate = { shape = "constant", rps = 100 } }
            "#,
        )
        .unwrap();
        assert_eq!(s.account.concurrency_limit, 1_000);
        assert_eq!(s.functions[0].timeout, Duration::from_secs(3));
        assert_eq!(s.functions[0].duration, Sampler::fixed_millis(500.0));
        let traffic = s.functions[0].traffic.as_ref().unwrap();
        assert_eq!(traffic.arrivals, ArrivalKind::Poisson);
        assert_eq!(traffic.rate, RateProfile::Constant { rps: 100.0 });
    }

    #[test]
    fn mistakes_are_reported_in_words() {
        let unknown = parse("duration_s = 1\nbogus = 2\n").unwrap_err().to_string();
        assert!(unknown.contains("bogus"), "{unknown}");
        let no_function = parse("duration_s = 1\n").unwrap_err().to_string();
        assert!(no_function.contains("at least one function"));
        let visibility = parse(
            r#"
            duration_s = 1
            [[functions]]
            name = "worker"
            timeout_s = 60
            duration = { kind = "fixed", ms = 5 }
            [[queues]]
            name = "jobs"
            function = "worker"
            visibility_timeout_s = 30
            producer = { rate = { shape = "constant", rps = 1 } }
            "#,
        )
        .unwrap_err()
        .to_string();
        assert!(visibility.contains("Queue visibility timeout: 30 seconds is less than Function timeout: 60 seconds"));
        let max = parse(
            r#"
            duration_s = 1
            [[functions]]
            name = "worker"
            duration = { kind = "fixed", ms = 5 }
            [[queues]]
            name = "jobs"
            function = "worker"
            maximum_concurrency = 1
            producer = { rate = { shape = "constant", rps = 1 } }
            "#,
        )
        .unwrap_err()
        .to_string();
        assert!(max.contains("maximumConcurrency"), "{max}");
    }

    #[test]
    fn csv_rates_and_empirical_samples_load_relative_to_the_scenario() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("rates.csv"), "second,rps\n0,10\n1,20.5\n").unwrap();
        std::fs::write(dir.path().join("durations.csv"), "12\n15 # slow one\n").unwrap();
        std::fs::write(
            dir.path().join("s.toml"),
            r#"
            duration_s = 2
            [[functions]]
            name = "f"
            duration = { kind = "empirical", path = "durations.csv" }
            traffic = { arrivals = "uniform", rate = { shape = "csv", path = "rates.csv" } }
            "#,
        )
        .unwrap();
        let s = Scenario::load(&dir.path().join("s.toml")).unwrap();
        assert_eq!(s.functions[0].traffic.as_ref().unwrap().rate, RateProfile::PerSecond { rates: vec![10.0, 20.5] });
        assert_eq!(s.functions[0].duration, Sampler::Empirical { samples_nanos: vec![12_000_000, 15_000_000] });
    }

    #[test]
    fn slowdowns_compose_in_percent() {
        let d = Downstream {
            name: "db".into(),
            config: DownstreamConfig {
                max_connections: 1,
                base_latency: Duration::ZERO,
                latency_at_max: Duration::ZERO,
                curve_exponent: 1,
            },
            slowdowns: vec![
                Slowdown { from: Duration::from_secs(10), until: Duration::from_secs(20), percent: 300 },
                Slowdown { from: Duration::from_secs(15), until: Duration::from_secs(30), percent: 200 },
            ],
        };
        assert_eq!(d.slowdown_percent(Duration::from_secs(5)), 100);
        assert_eq!(d.slowdown_percent(Duration::from_secs(12)), 300);
        assert_eq!(d.slowdown_percent(Duration::from_secs(16)), 600);
        assert_eq!(d.slowdown_percent(Duration::from_secs(20)), 200);
    }
}
