//! Request rates over time and the arrival processes that follow them.
//!
//! A [`RateProfile`] says how many requests (or messages) per second
//! arrive at each moment; an [`Arrivals`] turns it into arrival times,
//! either evenly spaced or as a Poisson process. Both integrate the rate
//! over short segments (100 ms, rate taken at the segment's middle), so a
//! time-varying rate costs one division per arrival. Times here are
//! seconds since traffic began. Nothing here knows about functions.

use crate::dist::SimRng;

/// Length of the piecewise-constant segments the rate is integrated over.
const SEGMENT_S: f64 = 0.1;

/// Requests per second as a function of time.
#[derive(Clone, Debug, PartialEq)]
pub enum RateProfile {
    Constant {
        rps: f64,
    },
    /// `from_rps` until `start_s`, then linear to `to_rps` over `duration_s`.
    Ramp {
        from_rps: f64,
        to_rps: f64,
        start_s: f64,
        duration_s: f64,
    },
    /// `(at_s, rps)` pairs sorted by time: each rate holds from its time on;
    /// zero before the first.
    Step {
        steps: Vec<(f64, f64)>,
    },
    /// `base_rps`, with `peak_rps` during `[at_s, at_s + duration_s)`.
    Spike {
        base_rps: f64,
        peak_rps: f64,
        at_s: f64,
        duration_s: f64,
    },
    /// `mean + amplitude·cos(2π(t − peak_at)/period)`, never below zero.
    Diurnal {
        mean_rps: f64,
        amplitude_rps: f64,
        period_s: f64,
        peak_at_s: f64,
    },
    /// One rate per second (from a CSV file); zero after the last.
    PerSecond {
        rates: Vec<f64>,
    },
}

impl RateProfile {
    pub fn rate_at(&self, t: f64) -> f64 {
        let rate = match self {
            RateProfile::Constant { rps } => *rps,
            RateProfile::Ramp { from_rps, to_rps, start_s, duration_s } => {
                if t < *start_s {
                    *from_rps
                } else if t >= start_s + duration_s {
                    *to_rps
                } else {
                    from_rps + (to_rps - from_rps) * (t - start_s) / duration_s
                }
            }
            RateProfile::Step { steps } => {
                steps.iter().take_while(|(at, _)| *at <= t).last().map_or(0.0, |(_, rps)| *rps)
            }
            RateProfile::Spike { base_rps, peak_rps, at_s, duration_s } => {
                if t >= *at_s && t < at_s + duration_s {
                    *peak_rps
                } else {
                    *base_rps
                }
            }
            RateProfile::Diurnal { mean_rps, amplitude_rps, period_s, peak_at_s } => {
                mean_rps + amplitude_rps * (std::f64::consts::TAU * (t - peak_at_s) / period_s).cos()
            }
            RateProfile::PerSecond { rates } => {
                if t < 0.0 {
                    0.0
                } else {
                    rates.get(t as usize).copied().unwrap_or(0.0)
                }
            }
        };
        rate.max(0.0)
    }

    /// The highest rate over `[0, until)`, sampled like the arrivals are.
    pub fn peak(&self, until: f64) -> f64 {
        let segments = (until / SEGMENT_S).ceil() as u64;
        (0..segments).map(|i| self.rate_at((i as f64 + 0.5) * SEGMENT_S)).fold(0.0, f64::max)
    }

    /// Expected arrivals over `[0, until)`.
    pub fn expected_count(&self, until: f64) -> f64 {
        let segments = (until / SEGMENT_S).ceil() as u64;
        (0..segments)
            .map(|i| {
                let start = i as f64 * SEGMENT_S;
                self.rate_at(start + 0.5 * SEGMENT_S) * (until - start).min(SEGMENT_S)
            })
            .sum()
    }
}

/// How arrivals are spaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArrivalKind {
    /// A Poisson process (exponential gaps): real independent clients.
    Poisson,
    /// Evenly spaced at the current rate: a load generator.
    Uniform,
}

/// An arrival process over a rate profile, scaled by a multiplier.
#[derive(Clone, Debug)]
pub struct Arrivals {
    profile: RateProfile,
    multiplier: f64,
    kind: ArrivalKind,
    /// Time of the last arrival (seconds since traffic began).
    at: f64,
    /// The first arrival has been produced.
    started: bool,
}

impl Arrivals {
    pub fn new(profile: RateProfile, multiplier: f64, kind: ArrivalKind) -> Self {
        Arrivals { profile, multiplier, kind, at: 0.0, started: false }
    }

    pub fn profile(&self) -> &RateProfile {
        &self.profile
    }

    fn rate_in_segment(&self, segment: u64) -> f64 {
        self.profile.rate_at((segment as f64 + 0.5) * SEGMENT_S) * self.multiplier
    }

    /// The next arrival time before `end`, or `None` when there is none.
    /// Evenly spaced arrivals start at time zero; Poisson ones after the
    /// first exponential gap.
    pub fn next(&mut self, end: f64, rng: &mut SimRng) -> Option<f64> {
        let mut need = match self.kind {
            ArrivalKind::Poisson => rng.exponential(),
            ArrivalKind::Uniform if !self.started => {
                // The first evenly spaced arrival comes as soon as the rate is positive.
                self.started = true;
                0.0
            }
            ArrivalKind::Uniform => 1.0,
        };
        self.started = true;
        let mut t = self.at;
        loop {
            if t >= end {
                self.at = end;
                return None;
            }
            let segment = (t / SEGMENT_S).floor() as u64;
            // Guard against float drift leaving t just below a boundary.
            let segment_end = ((segment + 1) as f64 * SEGMENT_S).max(t);
            let rate = self.rate_in_segment(segment);
            if rate > 0.0 {
                let reachable = rate * (segment_end - t);
                if need == 0.0 || reachable >= need {
                    t += need / rate;
                    break;
                }
                need -= reachable;
            }
            t = if segment_end > t { segment_end } else { (segment + 1) as f64 * SEGMENT_S + 1e-12 };
        }
        // Within a nanosecond of the end counts as the end (float drift of
        // evenly spaced arrivals must not add one).
        if t >= end - 1e-9 {
            self.at = end;
            return None;
        }
        self.at = t;
        Some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(profile: RateProfile, kind: ArrivalKind, end: f64) -> usize {
        let mut arrivals = Arrivals::new(profile, 1.0, kind);
        let mut rng = SimRng::new(11, 0);
        std::iter::from_fn(|| arrivals.next(end, &mut rng)).count()
    }

    #[test]
    fn uniform_arrivals_are_evenly_spaced_at_the_rate() {
        let mut arrivals = Arrivals::new(RateProfile::Constant { rps: 50.0 }, 1.0, ArrivalKind::Uniform);
        let mut rng = SimRng::new(1, 0);
        let times: Vec<f64> = std::iter::from_fn(|| arrivals.next(1.0, &mut rng)).collect();
        assert_eq!(times.len(), 50);
        assert!(times.windows(2).all(|w| ((w[1] - w[0]) - 0.02).abs() < 1e-9));
        assert_eq!(times[0], 0.0);
    }

    #[test]
    fn poisson_arrivals_average_the_rate() {
        let n = count(RateProfile::Constant { rps: 1_000.0 }, ArrivalKind::Poisson, 100.0);
        assert!((n as f64 - 100_000.0).abs() < 1_500.0, "{n}");
    }

    #[test]
    fn shapes_follow_their_definitions() {
        let ramp = RateProfile::Ramp { from_rps: 0.0, to_rps: 100.0, start_s: 10.0, duration_s: 10.0 };
        assert_eq!(ramp.rate_at(5.0), 0.0);
        assert_eq!(ramp.rate_at(15.0), 50.0);
        assert_eq!(ramp.rate_at(25.0), 100.0);
        let step = RateProfile::Step { steps: vec![(0.0, 10.0), (60.0, 100.0)] };
        assert_eq!((step.rate_at(59.9), step.rate_at(60.0)), (10.0, 100.0));
        let spike = RateProfile::Spike { base_rps: 10.0, peak_rps: 1_000.0, at_s: 5.0, duration_s: 1.0 };
        assert_eq!((spike.rate_at(4.9), spike.rate_at(5.5), spike.rate_at(6.0)), (10.0, 1_000.0, 10.0));
        let day = RateProfile::Diurnal { mean_rps: 100.0, amplitude_rps: 150.0, period_s: 100.0, peak_at_s: 0.0 };
        assert_eq!(day.rate_at(0.0), 250.0);
        assert_eq!(day.rate_at(50.0), 0.0, "clamped at zero");
        let csv = RateProfile::PerSecond { rates: vec![1.0, 2.0] };
        assert_eq!((csv.rate_at(1.5), csv.rate_at(2.0)), (2.0, 0.0));
    }

    #[test]
    fn arrival_counts_follow_a_varying_profile() {
        let ramp = RateProfile::Ramp { from_rps: 0.0, to_rps: 200.0, start_s: 0.0, duration_s: 10.0 };
        assert!((ramp.expected_count(10.0) - 1_000.0).abs() < 1e-6);
        let n = count(ramp, ArrivalKind::Uniform, 10.0);
        assert!((n as i64 - 1_000).abs() <= 2, "{n}");
        let step = RateProfile::Step { steps: vec![(2.0, 100.0)] };
        assert_eq!(count(step, ArrivalKind::Uniform, 4.0), 200);
    }
}
