//! Throughput measured in rounds: each round measures the probe and then the system under test
//! back to back, so every ratio compares figures taken seconds apart. On the development machine
//! the host's stolen CPU time changes by twenty points from one minute to the next, and a single
//! probe figure taken before everything else compared runs tens of seconds apart.

use std::time::Duration;

use crate::http::{Call, LoadResult, closed_loop};
use crate::process::{CpuUse, Server, metered};

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

/// How a system's throughput is measured, round after round.
pub struct Plan<'a> {
    pub rounds: usize,
    /// The running probe, if any.
    pub probe: Option<&'a Server>,
    /// Closed-loop connections given to the probe.
    pub connections: usize,
    pub warmup: Duration,
    pub duration: Duration,
}

impl Plan<'_> {
    /// `rounds` rounds, each measuring the probe (when it runs) and then the system with
    /// `system`; `name` and `what` label the progress lines.
    pub async fn run<F: Future<Output = anyhow::Result<Measured>>>(
        &self,
        name: &str,
        what: &str,
        mut system: impl FnMut() -> F,
    ) -> anyhow::Result<Vec<Round>> {
        let mut rounds = Vec::with_capacity(self.rounds);
        for round in 1..=self.rounds {
            let probe = match self.probe {
                Some(probe) => {
                    eprintln!("{name}: round {round} of {}: the probe, {} connections", self.rounds, self.connections);
                    Some(self.measure_probe(probe).await)
                }
                None => None,
            };
            eprintln!("{name}: round {round} of {}: {what}", self.rounds);
            rounds.push(Round { probe, system: system().await? });
        }
        Ok(rounds)
    }

    /// The probe under the same closed-loop load as the system: as many connections.
    async fn measure_probe(&self, probe: &Server) -> Measured {
        let call = Call::post_json("/write", &serde_json::json!({"text": "benchmark message"}));
        metered(probe.pid, closed_loop(probe.addr, vec![call; self.connections], self.warmup, self.duration)).await
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
