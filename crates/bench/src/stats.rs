//! Percentiles, medians and spreads over repeated measurements.

use serde::Serialize;

/// The value at percentile `p` (0–100) of sorted samples (nearest rank).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A figure measured several times: the median and the range.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub runs: usize,
}

impl Spread {
    pub fn of(values: &[f64]) -> Spread {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            return Spread { median: f64::NAN, min: f64::NAN, max: f64::NAN, runs: 0 };
        }
        let median = if v.len() % 2 == 1 { v[v.len() / 2] } else { (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0 };
        Spread { median, min: v[0], max: v[v.len() - 1], runs: v.len() }
    }

    /// "12.3 (11.9–13.0)", or only the median when measured once.
    pub fn show(&self, decimals: usize) -> String {
        if !self.median.is_finite() {
            return "–".into();
        }
        if self.runs <= 1 || (self.max - self.min).abs() < f64::EPSILON {
            format!("{:.*}", decimals, self.median)
        } else {
            format!("{:.*} ({:.*}–{:.*})", decimals, self.median, decimals, self.min, decimals, self.max)
        }
    }
}

/// Latency of one query class over several passes: each percentile is the median over passes,
/// with its spread.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub queries: usize,
    pub p50_ms: Spread,
    pub p90_ms: Spread,
    pub p99_ms: Spread,
    pub max_ms: Spread,
    /// Queries per second of one thread (1 / mean latency), median over passes.
    pub qps: Spread,
    /// Every sample of the median pass, in milliseconds, sorted (for the plot).
    pub samples_ms: Vec<f64>,
}

impl Latency {
    /// From passes of per-query latencies in milliseconds.
    pub fn of(passes: Vec<Vec<f64>>) -> Latency {
        let mut sorted: Vec<Vec<f64>> = passes
            .into_iter()
            .map(|mut p| {
                p.sort_by(f64::total_cmp);
                p
            })
            .collect();
        let each = |p: f64| Spread::of(&sorted.iter().map(|s| percentile(s, p)).collect::<Vec<_>>());
        let qps = Spread::of(
            &sorted.iter().map(|s| s.len() as f64 / (s.iter().sum::<f64>() / 1000.0).max(1e-9)).collect::<Vec<_>>(),
        );
        let (p50, p90, p99, max) = (each(50.0), each(90.0), each(99.0), each(100.0));
        // The pass whose p50 is the median one.
        sorted.sort_by(|a, b| percentile(a, 50.0).total_cmp(&percentile(b, 50.0)));
        let median_pass = sorted.get(sorted.len() / 2).cloned().unwrap_or_default();
        Latency {
            queries: median_pass.len(),
            p50_ms: p50,
            p90_ms: p90,
            p99_ms: p99,
            max_ms: max,
            qps,
            samples_ms: median_pass,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&[7.0], 99.9), 7.0);
    }

    #[test]
    fn spreads_and_latency_passes() {
        let s = Spread::of(&[3.0, 1.0, 2.0]);
        assert_eq!((s.median, s.min, s.max, s.runs), (2.0, 1.0, 3.0, 3));
        assert_eq!(s.show(1), "2.0 (1.0–3.0)");
        assert_eq!(Spread::of(&[4.0, 2.0]).median, 3.0);
        let l = Latency::of(vec![vec![2.0, 1.0, 3.0], vec![10.0, 20.0, 30.0], vec![4.0, 5.0, 6.0]]);
        assert_eq!(l.p50_ms.median, 5.0);
        assert_eq!(l.p50_ms.max, 20.0);
        assert_eq!(l.samples_ms, vec![4.0, 5.0, 6.0]);
        assert_eq!(l.qps.median, 200.0);
    }
}
