//! A short-lived cache of authenticated sessions, so most requests skip the session lookup.
//!
//! An entry is trusted for [`FRESH_FOR`] at most and never past the session's own expiry. Logging
//! out and profile changes on this node drop entries at once; on other nodes of a cluster a revoked
//! session stays usable for at most `FRESH_FOR`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use plaza_core::{User, UserId};

/// How long a looked-up session is trusted without asking the store again.
pub const FRESH_FOR: Duration = Duration::from_secs(10);
/// Entries per shard before the shard is emptied; bounds memory under a flood of distinct tokens.
const SHARD_CAPACITY: usize = 4096;
const SHARDS: usize = 16;

struct Entry {
    user: User,
    expires_at: i64,
    fetched: Instant,
}

pub(crate) struct SessionCache {
    shards: [Mutex<HashMap<Vec<u8>, Entry>>; SHARDS],
}

impl SessionCache {
    pub(crate) fn new() -> Self {
        SessionCache { shards: std::array::from_fn(|_| Mutex::new(HashMap::new())) }
    }

    fn shard(&self, token_hash: &[u8]) -> &Mutex<HashMap<Vec<u8>, Entry>> {
        &self.shards[usize::from(token_hash.first().copied().unwrap_or(0)) % SHARDS]
    }

    /// The cached user, if the entry is fresh and the session not expired at `now`.
    pub(crate) fn get(&self, token_hash: &[u8], now: i64) -> Option<User> {
        let shard = self.shard(token_hash).lock().expect("session cache");
        let e = shard.get(token_hash)?;
        (e.fetched.elapsed() < FRESH_FOR && now < e.expires_at).then(|| e.user.clone())
    }

    pub(crate) fn put(&self, token_hash: Vec<u8>, user: User, expires_at: i64) {
        let mut shard = self.shard(&token_hash).lock().expect("session cache");
        if shard.len() >= SHARD_CAPACITY {
            shard.clear();
        }
        shard.insert(token_hash, Entry { user, expires_at, fetched: Instant::now() });
    }

    pub(crate) fn forget(&self, token_hash: &[u8]) {
        self.shard(token_hash).lock().expect("session cache").remove(token_hash);
    }

    /// Drops every entry of `user`, e.g. after their profile changed.
    pub(crate) fn forget_user(&self, user: UserId) {
        for shard in &self.shards {
            shard.lock().expect("session cache").retain(|_, e| e.user.id != user);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plaza_core::{DisplayName, Username};

    fn user(id: i64) -> User {
        User {
            id: UserId(id),
            username: Username::parse("alice").unwrap(),
            display_name: DisplayName::parse("Alice").unwrap(),
            is_bot: false,
            language_code: None,
            phone_number: None,
            created_at: 0,
        }
    }

    #[test]
    fn entries_end_with_their_session_and_on_forget() {
        let c = SessionCache::new();
        c.put(vec![1; 32], user(1), 100);
        assert_eq!(c.get(&[1; 32], 99).map(|u| u.id), Some(UserId(1)));
        assert!(c.get(&[1; 32], 100).is_none());
        assert!(c.get(&[2; 32], 0).is_none());
        c.forget(&[1; 32]);
        assert!(c.get(&[1; 32], 0).is_none());
        c.put(vec![3; 32], user(3), 100);
        c.forget_user(UserId(3));
        assert!(c.get(&[3; 32], 0).is_none());
    }

    #[test]
    fn a_full_shard_is_emptied_not_grown() {
        let c = SessionCache::new();
        for i in 0..(SHARD_CAPACITY as u32 + 10) {
            let mut key = vec![0u8; 32];
            key[1..5].copy_from_slice(&i.to_le_bytes());
            c.put(key, user(1), 100);
        }
        assert!(c.shards[0].lock().unwrap().len() <= SHARD_CAPACITY);
    }
}
