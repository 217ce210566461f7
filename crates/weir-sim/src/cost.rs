//! What a simulated run would cost on AWS Lambda: the price table, in one
//! place, and the arithmetic over billed requests and GB-seconds.
//!
//! Prices are US East (N. Virginia) list prices as recorded in
//! `shared/spec/lambda-semantics.md` §14 on 2026-11-25 (sources there:
//! the AWS Lambda pricing page [S54]; per-GB-second figures from
//! third-party tables derived from the AWS Price List [S98], [S101]).
//! The Arm provisioned-concurrency prices were checked on 2026-11-26
//! against the AWS Price List API's `AWSLambda` offer for us-east-1
//! (usage types `Lambda-Provisioned-Concurrency-ARM`, SKU MV7PTBS82AVCMXJJ,
//! and `Lambda-Provisioned-GB-Second-ARM`, SKU 3Z4YRQ6XJRDK27UP), the
//! figures behind the Arm tab of <https://aws.amazon.com/lambda/pricing/>.
//! Not modelled: the free tier (1M requests and 400,000 GB-s a month),
//! volume tier discounts (beyond 6 billion GB-s a month), ephemeral
//! storage beyond 512 MB, and data transfer.

use serde::Serialize;

use crate::scenario::Architecture;

/// The date the prices below were last checked.
pub const PRICES_AS_OF: &str = "2026-11-26";
pub const PRICES_REGION: &str = "us-east-1";

/// USD per request (x86 and Arm): $0.20 per million [S54].
pub const PRICE_PER_REQUEST: f64 = 0.20 / 1_000_000.0;
/// USD per GB-second of on-demand duration, x86 [S98], [S101].
pub const PRICE_PER_GB_SECOND_X86: f64 = 0.000_016_666_7;
/// USD per GB-second of on-demand duration, Arm [S98], [S101].
pub const PRICE_PER_GB_SECOND_ARM: f64 = 0.000_013_333_4;
/// USD per GB-second of provisioned concurrency configured, x86 [S101].
pub const PRICE_PER_PROVISIONED_GB_SECOND_X86: f64 = 0.000_004_166_7;
/// USD per GB-second of duration on provisioned environments, x86 [S101].
pub const PRICE_PER_PROVISIONED_DURATION_GB_SECOND_X86: f64 = 0.000_009_722_2;
/// USD per GB-second of provisioned concurrency configured, Arm (AWS Price
/// List, `Lambda-Provisioned-Concurrency-ARM`, us-east-1, 2026-11-26).
pub const PRICE_PER_PROVISIONED_GB_SECOND_ARM: f64 = 0.000_003_333_4;
/// USD per GB-second of duration on provisioned environments, Arm (AWS
/// Price List, `Lambda-Provisioned-GB-Second-ARM`, us-east-1, 2026-11-26).
pub const PRICE_PER_PROVISIONED_DURATION_GB_SECOND_ARM: f64 = 0.000_007_777_8;
/// Provisioned concurrency is billed in periods rounded up to 5 minutes [S54].
pub const PROVISIONED_BILLING_PERIOD_S: f64 = 300.0;

/// Billable usage of one function over a run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    pub requests: u64,
    /// Billed milliseconds (each invocation rounded up to 1 ms; on-demand
    /// init included, as AWS bills INIT since 2025-08-01) on on-demand
    /// environments.
    pub on_demand_billed_ms: u64,
    /// Billed milliseconds of invocations on provisioned environments.
    pub provisioned_billed_ms: u64,
    pub memory_mb: u32,
    pub architecture: Architecture,
    pub provisioned_concurrency: u32,
    /// How long provisioned concurrency was configured.
    pub provisioned_seconds: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Cost {
    pub requests_usd: f64,
    pub duration_usd: f64,
    pub provisioned_usd: f64,
    pub total_usd: f64,
}

impl Cost {
    pub fn add(&mut self, other: &Cost) {
        self.requests_usd += other.requests_usd;
        self.duration_usd += other.duration_usd;
        self.provisioned_usd += other.provisioned_usd;
        self.total_usd += other.total_usd;
    }
}

pub fn estimate(usage: &Usage) -> Cost {
    let gb = f64::from(usage.memory_mb) / 1024.0;
    let (duration_price, pc_price, pc_duration_price) = match usage.architecture {
        Architecture::X86_64 => {
            (PRICE_PER_GB_SECOND_X86, PRICE_PER_PROVISIONED_GB_SECOND_X86, PRICE_PER_PROVISIONED_DURATION_GB_SECOND_X86)
        }
        Architecture::Arm64 => {
            (PRICE_PER_GB_SECOND_ARM, PRICE_PER_PROVISIONED_GB_SECOND_ARM, PRICE_PER_PROVISIONED_DURATION_GB_SECOND_ARM)
        }
    };
    let requests_usd = usage.requests as f64 * PRICE_PER_REQUEST;
    let duration_usd = usage.on_demand_billed_ms as f64 / 1e3 * gb * duration_price
        + usage.provisioned_billed_ms as f64 / 1e3 * gb * pc_duration_price;
    let provisioned_usd = if usage.provisioned_concurrency > 0 {
        let periods = (usage.provisioned_seconds / PROVISIONED_BILLING_PERIOD_S).ceil().max(1.0);
        f64::from(usage.provisioned_concurrency) * gb * periods * PROVISIONED_BILLING_PERIOD_S * pc_price
    } else {
        0.0
    };
    Cost { requests_usd, duration_usd, provisioned_usd, total_usd: requests_usd + duration_usd + provisioned_usd }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_million_one_second_invocations_at_one_gigabyte_cost_what_aws_says() {
        // AWS's classic example arithmetic: 1M requests × 1 s × 1 GB x86 =
        // $0.20 + 1,000,000 GB-s × $0.0000166667.
        let usage =
            Usage { requests: 1_000_000, on_demand_billed_ms: 1_000_000 * 1_000, memory_mb: 1024, ..Usage::default() };
        let cost = estimate(&usage);
        assert!((cost.requests_usd - 0.20).abs() < 1e-9);
        assert!((cost.duration_usd - 16.6667).abs() < 1e-6);
        let arm = estimate(&Usage { architecture: Architecture::Arm64, ..usage });
        assert!(arm.duration_usd < cost.duration_usd);
    }

    #[test]
    fn provisioned_concurrency_is_billed_in_five_minute_periods() {
        let usage =
            Usage { memory_mb: 1024, provisioned_concurrency: 10, provisioned_seconds: 301.0, ..Usage::default() };
        let cost = estimate(&usage);
        let expected = 10.0 * 600.0 * PRICE_PER_PROVISIONED_GB_SECOND_X86;
        assert!((cost.provisioned_usd - expected).abs() < 1e-12);
    }

    #[test]
    fn arm_provisioned_concurrency_uses_the_published_arm_prices() {
        // One hour of 10 × 1 GB Arm environments configured, and 3,600 GB-s
        // of duration on them: $0.0000033334 and $0.0000077778 per GB-s.
        let usage = Usage {
            memory_mb: 1024,
            architecture: Architecture::Arm64,
            provisioned_concurrency: 10,
            provisioned_seconds: 3_600.0,
            provisioned_billed_ms: 3_600_000,
            ..Usage::default()
        };
        let cost = estimate(&usage);
        assert!((cost.provisioned_usd - 36_000.0 * 0.000_003_333_4).abs() < 1e-9, "{cost:?}");
        assert!((cost.duration_usd - 3_600.0 * 0.000_007_777_8).abs() < 1e-9, "{cost:?}");
    }
}
