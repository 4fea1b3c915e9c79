//! Latency histograms and the number formatting the report uses.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Longest latency recorded, in microseconds; anything slower is recorded as this.
const MAX_MICROS: u64 = 60_000_000;

/// Latencies with microsecond resolution and three significant digits.
pub struct Latencies {
    hist: Histogram<u64>,
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies { hist: Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid histogram bounds") }
    }
}

impl Latencies {
    pub fn record(&mut self, d: Duration) {
        let micros = u64::try_from(d.as_micros()).unwrap_or(MAX_MICROS).clamp(1, MAX_MICROS);
        self.hist.saturating_record(micros);
    }

    pub fn merge(&mut self, other: &Latencies) {
        // Both histograms have the same bounds, so adding cannot fail.
        self.hist.add(&other.hist).expect("histograms with equal bounds");
    }

    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    pub fn quantile(&self, q: f64) -> Duration {
        Duration::from_micros(self.hist.value_at_quantile(q))
    }

    pub fn max(&self) -> Duration {
        Duration::from_micros(self.hist.max())
    }

    /// `p50 1.23 ms  p99 4.56 ms`, or a dash when nothing was recorded.
    pub fn summary(&self) -> String {
        if self.count() == 0 {
            return "no samples".into();
        }
        format!("p50 {}  p99 {}", ms(self.quantile(0.50)), ms(self.quantile(0.99)))
    }
}

/// Milliseconds with two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// A whole number with thousands separators: `15,200`.
pub fn thousands(n: f64) -> String {
    let digits = format!("{:.0}", n.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The shared clock and the measured part of a delivery test: sends stamp times from `origin`, and
/// only those between `from` and `until` count.
#[derive(Clone, Copy)]
pub struct Window {
    pub origin: tokio::time::Instant,
    pub from: tokio::time::Instant,
    pub until: tokio::time::Instant,
}

impl Window {
    pub fn measures(&self, t: tokio::time::Instant) -> bool {
        t >= self.from && t < self.until
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(15_200.0), "15,200");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
    }

    #[test]
    fn quantiles_come_from_recorded_values() {
        let mut l = Latencies::default();
        for micros in 1..=100 {
            l.record(Duration::from_micros(micros * 10));
        }
        assert_eq!(l.count(), 100);
        assert_eq!(l.quantile(0.5), Duration::from_micros(500));
        assert_eq!(l.max(), Duration::from_micros(1000));
    }
}
