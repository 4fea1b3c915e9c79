//! Short-lived caches of what nearly every request asks the store for: the user behind a session
//! token, and users by id (message senders).
//!
//! An entry is trusted for [`FRESH_FOR`] at most (and a session never past its own expiry). Changes
//! made on this node drop the affected entries at once; on other nodes of a cluster a revoked
//! session or a renamed user can be seen for at most `FRESH_FOR`.

use foldhash::{HashMap, HashMapExt};
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a looked-up entry is trusted without asking the store again.
pub const FRESH_FOR: Duration = Duration::from_secs(10);
/// Entries per shard before the shard is emptied; bounds memory under a flood of distinct keys.
const SHARD_CAPACITY: usize = 4096;
const SHARDS: usize = 16;

struct Entry<V> {
    value: V,
    /// Unix time at which the entry stops being valid whatever its freshness.
    valid_until: i64,
    /// When the entry stops being trusted: [`FRESH_FOR`] after it was fetched, less up to a
    /// quarter of that picked by its key, so entries fetched together are not fetched again
    /// together. (A bot's 1,000 chats, first seen within a second, expired at once and their
    /// lookups queued behind each other on PostgreSQL.)
    stale_at: Instant,
}

impl<V> Entry<V> {
    fn fresh(&self, now: i64) -> bool {
        Instant::now() < self.stale_at && now < self.valid_until
    }
}

pub(crate) struct TtlCache<K, V> {
    shards: [Mutex<HashMap<K, Entry<V>>>; SHARDS],
    /// Picks a key's shard; one per cache so every thread finds a key in the same shard. foldhash,
    /// not SipHash: hashing was 5 % of a sendMessage's instructions; keys are the store's ids and
    /// hashes of valid tokens, and the seed is random per process.
    spread: foldhash::fast::RandomState,
}

impl<K: Hash + Eq, V: Clone> TtlCache<K, V> {
    pub(crate) fn new() -> Self {
        TtlCache { shards: std::array::from_fn(|_| Mutex::new(HashMap::new())), spread: Default::default() }
    }

    fn shard<Q: Hash + ?Sized>(&self, key: &Q) -> &Mutex<HashMap<K, Entry<V>>> {
        use std::hash::BuildHasher;
        &self.shards[(self.spread.hash_one(key) as usize) % SHARDS]
    }

    /// The cached value if it is fresh and still valid at unix time `now`.
    pub(crate) fn get<Q>(&self, key: &Q, now: i64) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let shard = self.shard(key).lock().expect("cache shard");
        shard.get(key).filter(|e| e.fresh(now)).map(|e| e.value.clone())
    }

    /// Whether a fresh entry valid at unix time `now` is cached for `key`.
    pub(crate) fn contains<Q>(&self, key: &Q, now: i64) -> bool
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let shard = self.shard(key).lock().expect("cache shard");
        shard.get(key).is_some_and(|e| e.fresh(now))
    }

    /// Any entry (fresh or not) whose key and value satisfy `pred`: a last-known value, for when
    /// the store no longer has it to give.
    pub(crate) fn peek_where(&self, pred: impl Fn(&K, &V) -> bool) -> Option<V> {
        self.shards.iter().find_map(|shard| {
            let shard = shard.lock().expect("cache shard");
            shard.iter().find(|(k, e)| pred(k, &e.value)).map(|(_, e)| e.value.clone())
        })
    }

    pub(crate) fn put(&self, key: K, value: V, valid_until: i64) {
        let mut shard = self.shard(&key).lock().expect("cache shard");
        if shard.len() >= SHARD_CAPACITY {
            shard.clear();
        }
        use std::hash::BuildHasher;
        let spread = (self.spread.hash_one(&key) >> 32) % (FRESH_FOR.as_millis() as u64 / 4);
        let stale_at = Instant::now() + FRESH_FOR - Duration::from_millis(spread);
        shard.insert(key, Entry { value, valid_until, stale_at });
    }

    pub(crate) fn forget<Q>(&self, key: &Q)
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.shard(key).lock().expect("cache shard").remove(key);
    }

    /// Drops every entry whose value matches.
    pub(crate) fn forget_where(&self, pred: impl Fn(&V) -> bool) {
        for shard in &self.shards {
            shard.lock().expect("cache shard").retain(|_, e| !pred(&e.value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_end_with_their_validity_and_on_forget() {
        let c: TtlCache<Vec<u8>, u32> = TtlCache::new();
        c.put(vec![1; 32], 1, 100);
        assert_eq!(c.get(&[1u8; 32][..], 99), Some(1));
        assert!(c.contains(&[1u8; 32][..], 99));
        assert!(c.get(&[1u8; 32][..], 100).is_none());
        assert!(!c.contains(&[1u8; 32][..], 100));
        assert!(c.get(&[2u8; 32][..], 0).is_none());
        c.forget(&[1u8; 32][..]);
        assert!(c.get(&[1u8; 32][..], 0).is_none());
        c.put(vec![3; 32], 3, 100);
        c.put(vec![4; 32], 4, 100);
        c.forget_where(|v| *v == 3);
        assert!(c.get(&[3u8; 32][..], 0).is_none());
        assert_eq!(c.get(&[4u8; 32][..], 0), Some(4));
    }

    #[test]
    fn every_thread_finds_what_another_put() {
        let c = std::sync::Arc::new(TtlCache::<u32, u32>::new());
        c.put(7, 7, 100);
        let c2 = c.clone();
        assert_eq!(std::thread::spawn(move || c2.get(&7, 0)).join().unwrap(), Some(7));
    }

    #[test]
    fn entries_put_together_go_stale_apart_within_fresh_for() {
        let c: TtlCache<u32, u32> = TtlCache::new();
        let before = Instant::now();
        for i in 0..200 {
            c.put(i, i, i64::MAX);
        }
        let after = Instant::now();
        let stale: Vec<Instant> =
            c.shards.iter().flat_map(|s| s.lock().unwrap().values().map(|e| e.stale_at).collect::<Vec<_>>()).collect();
        assert_eq!(stale.len(), 200);
        assert!(stale.iter().all(|&t| t >= before + FRESH_FOR * 3 / 4 && t <= after + FRESH_FOR));
        let spread = *stale.iter().max().unwrap() - *stale.iter().min().unwrap();
        assert!(spread > FRESH_FOR / 8, "entries go stale within {spread:?} of each other");
    }

    #[test]
    fn a_full_shard_is_emptied_not_grown() {
        let c: TtlCache<u32, u32> = TtlCache::new();
        for i in 0..(SHARDS * SHARD_CAPACITY * 2) as u32 {
            c.put(i, i, 100);
        }
        assert!(c.shards.iter().all(|s| s.lock().unwrap().len() <= SHARD_CAPACITY));
    }
}
