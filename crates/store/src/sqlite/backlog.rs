//! Which rows of the append-only `messages_recent` table the writer moves next.
//!
//! The writer appends busy chats' messages to a small heap table and moves them in bulk into
//! `messages`, clustered by chat, so that a page there is written once per move for all its rows
//! instead of once per commit. Moved in one piece, a move stalled every write queued behind it:
//! measured at 5,000 msg/s, the messages' move (about 2,000 rows every 400 ms) held a batch for 6
//! to 10 ms, and the messages caught behind it were delivery's p99. (The update log was moved the
//! same way until it became append-only with an index of blocks: `0015_update_blocks.sql`.)
//!
//! So a move is a *pass* over the keys (users, chats) in order, one *slice* of keys at a time,
//! each slice a share of the rows. Every key's rows move together, so a page is still written once
//! per pass, and no write waits behind more than one slice.

use std::collections::BTreeMap;
use std::ops::Bound;

/// A slice of a pass: the keys in `(after, through]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slice {
    /// Keys above this one; `i64::MIN` at the start of a pass.
    pub after: i64,
    /// Keys up to and including this one; `i64::MAX` for the pass's last slice.
    pub through: i64,
}

impl Slice {
    pub fn is_last(&self) -> bool {
        self.through == i64::MAX
    }
}

/// The rows a recent table holds, by key, and the pass over them under way.
#[derive(Debug, Default)]
pub struct Backlog {
    rows: BTreeMap<i64, usize>,
    total: usize,
    /// The last key the pass under way has moved.
    pass: Option<i64>,
}

impl Backlog {
    /// A backlog of the rows counted per key (`SELECT key, COUNT(*) … GROUP BY key`).
    pub fn of(counts: impl IntoIterator<Item = (i64, usize)>) -> Self {
        let mut b = Backlog::default();
        for (key, n) in counts {
            b.add(key, n);
        }
        b
    }

    /// `n` more rows of `key` were written.
    pub fn add(&mut self, key: i64, n: usize) {
        if n == 0 {
            return;
        }
        *self.rows.entry(key).or_insert(0) += n;
        self.total += n;
    }

    pub fn total(&self) -> usize {
        self.total
    }

    /// Is a pass under way?
    #[cfg(test)]
    pub fn passing(&self) -> bool {
        self.pass.is_some()
    }

    /// The next slice of the pass under way (starting one if needed): the following keys, in
    /// order, until they hold `rows` rows or more. Nothing changes until [`Backlog::moved`].
    pub fn next_slice(&mut self, rows: usize) -> Slice {
        let after = *self.pass.get_or_insert(i64::MIN);
        let mut held = 0;
        let mut keys = self.rows.range((Bound::Excluded(after), Bound::Unbounded)).peekable();
        while let Some((&key, &n)) = keys.next() {
            held += n;
            if held >= rows.max(1) && keys.peek().is_some() {
                return Slice { after, through: key };
            }
        }
        Slice { after, through: i64::MAX }
    }

    /// `slice` was moved and committed: its keys' rows are gone, and the pass goes on after it
    /// or, after its last slice, ends.
    pub fn moved(&mut self, slice: Slice) {
        let gone: Vec<i64> =
            self.rows.range((Bound::Excluded(slice.after), Bound::Included(slice.through))).map(|(&k, _)| k).collect();
        for key in gone {
            self.total -= self.rows.remove(&key).unwrap_or(0);
        }
        self.pass = (!slice.is_last()).then_some(slice.through);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_moves_every_key_once_in_slices_of_about_the_asked_rows() {
        let mut b = Backlog::of([(5, 3), (1, 2), (9, 4), (7, 1)]);
        assert_eq!(b.total(), 10);
        assert!(!b.passing());
        let s = b.next_slice(4);
        assert_eq!(s, Slice { after: i64::MIN, through: 5 }, "keys 1 and 5 hold 5 rows");
        // Planning changes nothing until the slice is moved.
        assert_eq!(b.next_slice(4), s);
        b.moved(s);
        assert_eq!(b.total(), 5);
        assert!(b.passing());
        // A row of an already-passed key waits for the next pass.
        b.add(1, 1);
        let s = b.next_slice(4);
        assert_eq!(s, Slice { after: 5, through: i64::MAX }, "keys 7 and 9 end the pass");
        b.moved(s);
        assert!(!b.passing());
        assert_eq!(b.total(), 1);
        assert_eq!(b.total(), 1, "the row written during the pass is still to move");
        let s = b.next_slice(100);
        assert_eq!(s, Slice { after: i64::MIN, through: i64::MAX });
        b.moved(s);
        assert_eq!(b.total(), 0);
    }

    #[test]
    fn rows_written_to_a_key_of_the_slice_before_it_is_moved_go_with_it() {
        let mut b = Backlog::of([(1, 1), (2, 1)]);
        let s = b.next_slice(1);
        assert_eq!(s.through, 1);
        b.add(1, 3);
        b.moved(s);
        assert_eq!(b.total(), 1);
    }

    #[test]
    fn an_empty_backlog_is_one_last_slice() {
        let mut b = Backlog::default();
        let s = b.next_slice(10);
        assert!(s.is_last());
        b.moved(s);
        assert!(!b.passing());
        assert_eq!(b.total(), 0);
    }
}
