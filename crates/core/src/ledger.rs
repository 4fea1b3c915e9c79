//! The Stars ledger: double-entry bookkeeping in whole Stars (`XTR` has no fractions).
//!
//! Every movement is a [`Transfer`] from one account to another: it writes two entries, one
//! taking the amount from the payer and one giving it to the payee, in one transaction, so the
//! sum over all accounts never changes. Stars enter the economy only from the platform's
//! issuance account (a top-up or an operator's grant), which is the one account whose balance may
//! go below zero: its negative balance is the Stars in circulation. Every other balance stays at
//! zero or above. A transfer carries an idempotency key: the same request made again (a retry, a
//! double click, a replay after a crash) finds the transfer already made and changes nothing.

use crate::{Invalid, UserId};

/// An account of the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Account {
    /// A person's or a bot's Stars.
    User(UserId),
    /// Where Stars come from: top-ups and grants. Its balance is minus the Stars in circulation.
    Issuance,
    /// Stars held for a payment whose outcome is not known yet.
    Escrow,
}

impl Account {
    /// The stored name: `u:<id>`, `issuance`, `escrow`.
    pub fn key(&self) -> String {
        match self {
            Account::User(u) => format!("u:{}", u.0),
            Account::Issuance => "issuance".into(),
            Account::Escrow => "escrow".into(),
        }
    }

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let bad = || Invalid::new("account", "must be u:<id>, issuance or escrow");
        Ok(match s {
            "issuance" => Account::Issuance,
            "escrow" => Account::Escrow,
            _ => Account::User(UserId(s.strip_prefix("u:").ok_or_else(bad)?.parse().map_err(|_| bad())?)),
        })
    }

    /// Only the issuance account may owe: every other balance stays at zero or above.
    pub fn may_go_negative(&self) -> bool {
        matches!(self, Account::Issuance)
    }
}

/// The largest single transfer, in Stars (Telegram's invoices stop far below this).
pub const MAX_TRANSFER: i64 = 1_000_000_000;

/// A transfer to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTransfer {
    /// Names the request: making it again returns the first result instead of moving Stars twice.
    pub key: String,
    pub from: Account,
    pub to: Account,
    pub amount: i64,
    /// What it is for: `grant`, `topup`, `payment`, `refund` …, shown in histories.
    pub memo: String,
}

impl NewTransfer {
    pub fn new(key: &str, from: Account, to: Account, amount: i64, memo: &str) -> Result<Self, Invalid> {
        if key.is_empty() || key.len() > 128 || key.chars().any(char::is_control) {
            return Err(Invalid::new("key", "must be 1 to 128 characters"));
        }
        if !(1..=MAX_TRANSFER).contains(&amount) {
            return Err(Invalid::new("amount", "must be 1 to 1000000000 Stars"));
        }
        if from == to {
            return Err(Invalid::new("to", "must be another account than the payer"));
        }
        if memo.len() > 256 {
            return Err(Invalid::new("memo", "must be at most 256 bytes"));
        }
        Ok(NewTransfer { key: key.to_string(), from, to, amount, memo: memo.to_string() })
    }
}

/// A transfer made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// In the order transfers were made.
    pub id: i64,
    pub key: String,
    pub from: Account,
    pub to: Account,
    pub amount: i64,
    pub memo: String,
    pub at: i64,
    /// The payer's and the payee's balances right after it.
    pub from_balance: i64,
    pub to_balance: i64,
}

/// One line of an account's history: a transfer as it changed this account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub transfer: i64,
    pub account: Account,
    /// Positive when Stars came in.
    pub delta: i64,
    /// The balance right after.
    pub balance: i64,
    /// The other side.
    pub counterparty: Account,
    pub memo: String,
    pub at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_round_trip_and_transfers_are_checked() {
        for a in [Account::User(UserId(1000001)), Account::Issuance, Account::Escrow] {
            assert_eq!(Account::parse(&a.key()).unwrap(), a);
        }
        assert!(Account::parse("u:x").is_err() && Account::parse("bank").is_err());
        let u = Account::User(UserId(1));
        assert!(NewTransfer::new("k", Account::Issuance, u, 5, "grant").is_ok());
        assert!(NewTransfer::new("", Account::Issuance, u, 5, "grant").is_err());
        assert!(NewTransfer::new("k", Account::Issuance, u, 0, "grant").is_err());
        assert!(NewTransfer::new("k", Account::Issuance, u, -3, "grant").is_err());
        assert!(NewTransfer::new("k", u, u, 3, "self").is_err());
        assert!(NewTransfer::new("k", Account::Issuance, u, MAX_TRANSFER + 1, "grant").is_err());
        assert!(Account::Issuance.may_go_negative() && !u.may_go_negative() && !Account::Escrow.may_go_negative());
    }
}
