//! Throughput measured in rounds: each round measures the probe and then the system under test
//! back to back, so every ratio compares figures taken seconds apart. On the development machine
//! the host's stolen CPU time changes by twenty points from one minute to the next, and a single
//! probe figure taken before everything else compared runs tens of seconds apart.

use crate::http::LoadResult;
use crate::process::CpuUse;

/// One closed-loop measurement and how busy the server and the generator were meanwhile.
pub type Measured = anyhow::Result<(LoadResult, CpuUse)>;

/// The probe's throughput, then the system's, measured back to back.
pub struct Round {
    /// `None` when the probe is not running.
    pub probe: Option<Measured>,
    pub system: Measured,
}

impl Round {
    /// The system's throughput as a share of the probe's in this round.
    pub fn share(&self) -> Option<f64> {
        let probe = self.probe.as_ref()?.as_ref().ok()?.0.per_second();
        let system = self.system.as_ref().ok()?.0.per_second();
        (probe > 0.0).then(|| system / probe)
    }

    pub fn is_ok(&self) -> bool {
        self.system.is_ok() && self.probe.as_ref().is_none_or(Result::is_ok)
    }
}

/// The middle value (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// The measurement of median throughput among those that succeeded (the lower middle one for an
/// even count), to show with its latencies.
pub fn median_measured<'a>(measured: impl IntoIterator<Item = &'a Measured>) -> Option<&'a (LoadResult, CpuUse)> {
    let mut ok: Vec<&(LoadResult, CpuUse)> = measured.into_iter().filter_map(|m| m.as_ref().ok()).collect();
    ok.sort_by(|a, b| a.0.per_second().total_cmp(&b.0.per_second()));
    ok.get(ok.len().saturating_sub(1) / 2).copied()
}

/// The median of the rounds' shares of the probe, and each share in round order.
pub fn shares(rounds: &[Round]) -> (Option<f64>, Vec<f64>) {
    let each: Vec<f64> = rounds.iter().filter_map(Round::share).collect();
    (median(&each), each)
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn median_of_odd_even_and_none() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[0.4]), Some(0.4));
        assert_eq!(median(&[0.5, 0.3, 0.4]), Some(0.4));
        assert_eq!(median(&[0.5, 0.3, 0.4, 0.6]), Some(0.45));
    }
}
