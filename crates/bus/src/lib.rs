//! The bus: wake-up hints between the tasks of a node (and, with the NATS backend, between nodes).
//!
//! A hint says "user U's update log now reaches seq N". The store is the truth: a woken reader
//! re-reads from its own cursor, so a lost or merged hint delays but never loses an update. That is
//! why a `watch` channel per user is enough: it keeps only the newest hint. A hint may also carry
//! the entry itself when the publisher has it at hand; a reader whose cursor is exactly one behind
//! may use it instead of reading the store, and any other reader ignores it.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use plaza_core::UserId;
use tokio::sync::watch;

/// The log entry a hint may carry; its type is agreed between publisher and reader.
pub type Payload = Arc<dyn Any + Send + Sync>;

/// "The log reaches `seq`", with the entry at `seq` if the publisher had it, or a passing signal
/// that is not in any log (someone is typing).
#[derive(Clone, Default)]
pub struct Hint {
    pub seq: u64,
    pub payload: Option<Payload>,
    /// A signal that matters only now; a reader that misses it (it was busy, or a newer hint
    /// replaced it) loses nothing that must last.
    pub ephemeral: Option<Payload>,
}

impl Hint {
    pub fn bare(seq: u64) -> Self {
        Hint { seq, payload: None, ephemeral: None }
    }

    pub fn with_entry(seq: u64, payload: Payload) -> Self {
        Hint { seq, payload: Some(payload), ephemeral: None }
    }

    /// A signal outside the log; it does not move anyone's cursor.
    pub fn ephemeral(signal: Payload) -> Self {
        Hint { seq: 0, payload: None, ephemeral: Some(signal) }
    }
}

/// Wakes readers of a user's update log.
pub trait Bus: Send + Sync + 'static {
    /// Tells everyone watching `user` that their log reaches `hint.seq`.
    fn publish(&self, user: UserId, hint: Hint);
    /// Watches `user`'s log; the receiver changes whenever a newer seq is published.
    fn subscribe(&self, user: UserId) -> Subscription;
}

/// A watch on one user's log. Dropping it unsubscribes.
pub struct Subscription {
    rx: watch::Receiver<Hint>,
    _guard: Option<Arc<dyn Send + Sync>>,
}

impl Subscription {
    /// Waits until a hint newer than the last one seen is published. Returns it, or `None` if the
    /// bus has shut down.
    pub async fn changed(&mut self) -> Option<Hint> {
        self.rx.changed().await.ok()?;
        Some(self.rx.borrow_and_update().clone())
    }
}

const SHARDS: usize = 64;

type Shard = Mutex<HashMap<UserId, watch::Sender<Hint>>>;

/// The single-node bus: a `watch` channel per watched user, in sharded maps.
#[derive(Clone)]
pub struct LocalBus {
    shards: Arc<[Shard; SHARDS]>,
}

impl Default for LocalBus {
    fn default() -> Self {
        LocalBus { shards: Arc::new(std::array::from_fn(|_| Mutex::new(HashMap::new()))) }
    }
}

impl LocalBus {
    pub fn new() -> Self {
        Self::default()
    }

    fn shard(&self, user: UserId) -> &Shard {
        &self.shards[(user.0 as u64 % SHARDS as u64) as usize]
    }

    /// Users with at least one watcher.
    pub fn watched_users(&self) -> usize {
        self.shards.iter().map(|s| s.lock().expect("bus shard").len()).sum()
    }
}

/// Removes the user's channel when the last subscription goes.
struct Unsubscribe {
    bus: LocalBus,
    user: UserId,
}

impl Drop for Unsubscribe {
    fn drop(&mut self) {
        let mut map = self.bus.shard(self.user).lock().expect("bus shard");
        // This subscription's receiver is already gone when the guard drops (field order).
        if map.get(&self.user).is_some_and(|tx| tx.receiver_count() == 0) {
            map.remove(&self.user);
        }
    }
}

impl Bus for LocalBus {
    fn publish(&self, user: UserId, hint: Hint) {
        let map = self.shard(user).lock().expect("bus shard");
        if let Some(tx) = map.get(&user) {
            tx.send_if_modified(|cur| {
                if hint.ephemeral.is_some() {
                    // Keep the newest seq seen, so a reader still learns that the log moved.
                    let seq = cur.seq.max(hint.seq);
                    *cur = Hint { seq, payload: None, ephemeral: hint.ephemeral };
                    true
                } else if hint.seq > cur.seq {
                    *cur = hint;
                    true
                } else {
                    false
                }
            });
        }
    }

    fn subscribe(&self, user: UserId) -> Subscription {
        let mut map = self.shard(user).lock().expect("bus shard");
        let rx = map.entry(user).or_insert_with(|| watch::channel(Hint::default()).0).subscribe();
        Subscription { rx, _guard: Some(Arc::new(Unsubscribe { bus: self.clone(), user })) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wakes_watchers_and_forgets_idle_users() {
        let bus = LocalBus::new();
        let mut a = bus.subscribe(UserId(1));
        let mut b = bus.subscribe(UserId(1));
        let seq = |h: Option<Hint>| h.map(|h| h.seq);
        bus.publish(UserId(2), Hint::bare(9)); // nobody watches: dropped
        bus.publish(UserId(1), Hint::with_entry(3, Arc::new("entry 3")));
        let h = a.changed().await.unwrap();
        assert_eq!(h.seq, 3);
        assert_eq!(h.payload.unwrap().downcast_ref::<&str>(), Some(&"entry 3"));
        assert_eq!(seq(b.changed().await), Some(3));
        bus.publish(UserId(1), Hint::bare(2)); // older than known: no wake-up
        bus.publish(UserId(1), Hint::bare(5));
        assert_eq!(seq(a.changed().await), Some(5));
        // A passing signal wakes watchers without moving the seq back.
        bus.publish(UserId(1), Hint::ephemeral(Arc::new("typing")));
        let h = a.changed().await.unwrap();
        assert_eq!((h.seq, h.ephemeral.unwrap().downcast_ref::<&str>()), (5, Some(&"typing")));
        assert_eq!(bus.watched_users(), 1);
        drop(a);
        assert_eq!(bus.watched_users(), 1);
        drop(b);
        assert_eq!(bus.watched_users(), 0);
    }
}
