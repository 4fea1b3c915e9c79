//! Flood limits modelled on Telegram's: about one message a second per chat with short bursts,
//! twenty a minute per group, thirty a second per bot across all chats. A bot over a limit gets
//! 429 with `retry_after`, as on Telegram, and libraries wait and retry. The limits are on by
//! default and can be switched off (`--no-flood-limits`) for a sandbox or a benchmark.
//!
//! Limits are counted per node: behind a load balancer a bot may send up to the limit on each node.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// The limits, per Telegram's Bot FAQ, with the burst sizes Plaza allows.
#[derive(Debug, Clone, Copy)]
pub struct FloodConfig {
    pub per_chat_per_second: u32,
    pub per_chat_burst: u32,
    pub per_group_per_minute: u32,
    pub per_bot_per_second: u32,
}

impl Default for FloodConfig {
    fn default() -> Self {
        FloodConfig { per_chat_per_second: 1, per_chat_burst: 5, per_group_per_minute: 20, per_bot_per_second: 30 }
    }
}

pub struct FloodLimits {
    per_chat: DefaultKeyedRateLimiter<(i64, i64)>,
    per_group: DefaultKeyedRateLimiter<(i64, i64)>,
    per_bot: DefaultKeyedRateLimiter<i64>,
    checks: AtomicU64,
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).expect("positive")
}

impl FloodLimits {
    pub fn new(c: FloodConfig) -> Self {
        FloodLimits {
            per_chat: RateLimiter::keyed(
                Quota::per_second(nz(c.per_chat_per_second)).allow_burst(nz(c.per_chat_burst)),
            ),
            per_group: RateLimiter::keyed(Quota::per_minute(nz(c.per_group_per_minute))),
            per_bot: RateLimiter::keyed(Quota::per_second(nz(c.per_bot_per_second))),
            checks: AtomicU64::new(0),
        }
    }

    /// Counts one message from `bot` to `chat` (negative ids are groups); `Err(seconds)` when it
    /// is over a limit and must wait.
    pub fn check(&self, bot: i64, chat: i64) -> Result<(), u64> {
        // Forget idle keys now and then, so memory follows the active chats.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 10_000 == 9_999 {
            self.per_chat.retain_recent();
            self.per_group.retain_recent();
            self.per_bot.retain_recent();
        }
        let now = DefaultClock::default().now();
        let wait = |n: governor::NotUntil<_>| {
            let w = n.wait_time_from(now);
            w.as_secs() + u64::from(w.subsec_nanos() > 0)
        };
        self.per_bot.check_key(&bot).map_err(wait)?;
        self.per_chat.check_key(&(bot, chat)).map_err(wait)?;
        if chat < 0 {
            self.per_group.check_key(&(bot, chat)).map_err(wait)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_pass_then_wait() {
        let f = FloodLimits::new(FloodConfig::default());
        for _ in 0..5 {
            assert!(f.check(1, 100).is_ok());
        }
        assert_eq!(f.check(1, 100), Err(1));
        // Other chats and other bots have their own allowance.
        assert!(f.check(1, 101).is_ok());
        assert!(f.check(2, 100).is_ok());
    }

    #[test]
    fn groups_allow_twenty_a_minute() {
        let f = FloodLimits::new(FloodConfig { per_chat_burst: 100, ..FloodConfig::default() });
        for _ in 0..20 {
            assert!(f.check(1, -5).is_ok());
        }
        let wait = f.check(1, -5).unwrap_err();
        assert!((1..=3).contains(&wait), "{wait}");
    }
}
