//! Stars: the in-app currency (`XTR`) on the ledger of `core::ledger`. This part holds what the
//! operator and the people do with their own Stars; payments build on it.

use plaza_core::ledger::{Account, Entry, NewTransfer, Transfer};
use plaza_core::{Invalid, User};
use plaza_store::LedgerCheck;

use crate::{Service, ServiceResult, secrets};

/// Most entries of a history page.
pub const MAX_HISTORY_PAGE: u32 = 100;

impl Service {
    /// The operator's grant (`plaza stars grant`): Stars issued to a person or a bot. `key` makes
    /// a scripted grant safe to repeat; without one, every call is a new grant.
    pub async fn grant_stars(&self, username: &str, amount: i64, key: Option<&str>) -> ServiceResult<(User, Transfer)> {
        let user = self.user_by_username(username).await?;
        let key = match key {
            Some(k) => format!("grant:{k}"),
            None => format!("grant:{}", secrets::opaque_id()),
        };
        let t = NewTransfer::new(&key, Account::Issuance, Account::User(user.id), amount, "grant")?;
        let done = self.store.transfer(t, self.now()).await?;
        Ok((user, done))
    }

    /// A person's or a bot's balance in Stars.
    pub async fn star_balance(&self, user: &User) -> ServiceResult<i64> {
        Ok(self.store.balance(Account::User(user.id)).await?)
    }

    /// A person's or a bot's transfers, newest first.
    pub async fn star_history(&self, user: &User, before: Option<i64>, limit: u32) -> ServiceResult<Vec<Entry>> {
        if limit == 0 || limit > MAX_HISTORY_PAGE {
            return Err(Invalid::new("limit", "must be 1 to 100").into());
        }
        Ok(self.store.ledger_entries(Account::User(user.id), before, limit).await?)
    }

    /// A bot's transactions in the order they were made (`getStarTransactions`).
    pub async fn star_transactions(&self, bot: &User, offset: u32, limit: u32) -> ServiceResult<Vec<Entry>> {
        Ok(self.store.ledger_entries_from(Account::User(bot.id), offset, limit.clamp(1, MAX_HISTORY_PAGE)).await?)
    }

    /// The ledger's invariants as its tables show them now.
    pub async fn ledger_check(&self) -> ServiceResult<LedgerCheck> {
        Ok(self.store.ledger_check().await?)
    }
}
