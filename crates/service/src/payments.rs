//! Payments: invoices a bot sends or links, the checkout a person walks through (shipping query,
//! pre-checkout query, charge), refunds, Stars subscriptions and card providers.
//!
//! The store keeps every step durable and decides each payment's outcome in one transaction (see
//! `Store::answer_pre_checkout`); this layer waits for the bot within Telegram's windows, drives
//! card charges through a [`CardProvider`], and runs the jobs that keep open payments moving after
//! a crash: checkouts past their window are cancelled, approved card payments are charged, due
//! subscriptions renewed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use plaza_core::ledger::{Account, NewTransfer, Transfer};
use plaza_core::markup::{ButtonAction, InlineButton};
use plaza_core::payment::{
    CHECKOUT_WINDOW, Invoice, InvoiceSpec, NewPayment, OrderInfo, Payment, PaymentState, STARS, ShippingAddress,
    ShippingAnswer, ShippingOption, Subscription, check_shipping_options,
};
use plaza_core::{ChatId, Denied, Invalid, Message, MessageId, NewMessage, ReplyMarkup, User, UserId};

use crate::{Service, ServiceError, ServiceResult, secrets};

/// A card charge that did not go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardError {
    /// Final: the card was refused.
    Declined(String),
    /// Passing: the same charge may be tried again (with the same idempotency key).
    Retry(String),
}

/// A card charge to make; `key` makes a repeated charge return the first one's id.
#[derive(Debug, Clone)]
pub struct ChargeRequest {
    pub key: String,
    pub card_number: String,
    pub amount: i64,
    pub currency: String,
}

/// A card payment provider, chosen by an invoice's `provider_token`.
pub trait CardProvider: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    /// Does this provider handle invoices with this token?
    fn accepts(&self, provider_token: &str) -> bool;
    /// Charges the card; the same `key` again returns the charge made for it.
    fn charge(&self, request: &ChargeRequest) -> Result<String, CardError>;
    /// The charge made under `key`, if one was: how a payment interrupted between the charge and
    /// its record learns the outcome.
    fn find_charge(&self, key: &str) -> Option<String>;
}

/// Plaza's built-in test provider, for tokens shaped like BotFather's test ones (`…:TEST:…`).
/// Test cards: `4242 4242 4242 4242` succeeds, `4000 0000 0000 0002` is declined,
/// `4000 0000 0000 9995` is declined for insufficient funds, `4000 0000 0000 0119` fails with a
/// passing error the first time it is charged under a key and succeeds when retried. Any other
/// number that passes the Luhn check succeeds.
#[derive(Default)]
pub struct TestCardProvider {
    charges: Mutex<HashMap<String, String>>,
    attempts: Mutex<HashMap<String, u32>>,
}

pub const TEST_CARD_OK: &str = "4242424242424242";
pub const TEST_CARD_DECLINED: &str = "4000000000000002";
pub const TEST_CARD_NO_FUNDS: &str = "4000000000009995";
pub const TEST_CARD_RETRY: &str = "4000000000000119";

impl CardProvider for TestCardProvider {
    fn name(&self) -> &'static str {
        "test"
    }

    fn accepts(&self, provider_token: &str) -> bool {
        provider_token.contains(":TEST:")
    }

    fn charge(&self, r: &ChargeRequest) -> Result<String, CardError> {
        if let Some(done) = self.charges.lock().expect("charges").get(&r.key) {
            return Ok(done.clone());
        }
        match r.card_number.as_str() {
            TEST_CARD_DECLINED => return Err(CardError::Declined("the card was declined".into())),
            TEST_CARD_NO_FUNDS => return Err(CardError::Declined("the card has insufficient funds".into())),
            TEST_CARD_RETRY => {
                let mut attempts = self.attempts.lock().expect("attempts");
                let n = attempts.entry(r.key.clone()).or_insert(0);
                *n += 1;
                if *n == 1 {
                    return Err(CardError::Retry("the processor is busy; try again".into()));
                }
            }
            _ => {}
        }
        let id = format!("test_ch_{}", secrets::opaque_id());
        self.charges.lock().expect("charges").insert(r.key.clone(), id.clone());
        Ok(id)
    }

    fn find_charge(&self, key: &str) -> Option<String> {
        self.charges.lock().expect("charges").get(key).cloned()
    }
}

/// A card number as typed: digits (spaces and dashes dropped), 12–19 of them, Luhn-valid.
pub fn card_number(raw: &str) -> Result<String, Invalid> {
    let digits: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    let bad = || Invalid::new("card_number", "is not a valid card number");
    if !(12..=19).contains(&digits.len()) || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let sum: u32 = digits
        .chars()
        .rev()
        .enumerate()
        .map(|(i, c)| {
            let d = c.to_digit(10).unwrap_or(0);
            if i % 2 == 1 { if d * 2 > 9 { d * 2 - 9 } else { d * 2 } } else { d }
        })
        .sum();
    if !sum.is_multiple_of(10) {
        return Err(bad());
    }
    Ok(digits)
}

/// What a person fills in on the payment sheet.
#[derive(Debug, Clone, Default)]
pub struct Checkout {
    /// Names this attempt: the same key again is the same payment.
    pub key: String,
    pub order_info: OrderInfo,
    /// The shipping query the options came from, and the option chosen (flexible invoices).
    pub shipping_query_id: Option<i64>,
    pub shipping_option_id: Option<String>,
    pub tip_amount: i64,
    pub card_number: Option<String>,
}

/// An invoice as the person about to pay it sees it.
#[derive(Debug, Clone)]
pub struct InvoiceView {
    pub invoice: Invoice,
    pub bot: User,
    /// This person paid it already (an invoice message is paid once).
    pub paid: Option<Payment>,
    pub subscription: Option<Subscription>,
    pub balance: i64,
}

/// Where a person's Stars stand: balance and recent history, subscriptions, payments.
#[derive(Debug, Clone)]
pub struct Wallet {
    pub balance: i64,
    pub history: Vec<plaza_core::ledger::Entry>,
    pub subscriptions: Vec<Subscription>,
    pub payments: Vec<Payment>,
    /// The titles of the invoices those payments paid, by slug.
    pub titles: std::collections::HashMap<String, String>,
}

/// How an instance sells Stars by card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StarSales {
    /// Selects the card provider, as an invoice's `provider_token` does.
    pub provider_token: String,
    /// The price of one Star in the smallest units of `currency`.
    pub price: i64,
    pub currency: String,
}

impl StarSales {
    /// From a `<price> <CUR>` setting such as `2 USD` (2 cents a Star).
    pub fn new(provider_token: &str, price: &str) -> Result<Self, Invalid> {
        let bad = || {
            Invalid::new("star_price", "must be an amount in the currency's smallest units and its code, e.g. `2 USD`")
        };
        let (amount, currency) = price.trim().split_once(' ').ok_or_else(bad)?;
        let price: i64 = amount.parse().map_err(|_| bad())?;
        let currency = currency.trim().to_ascii_uppercase();
        if price <= 0
            || currency.len() != 3
            || !currency.chars().all(|c| c.is_ascii_uppercase())
            || provider_token.is_empty()
        {
            return Err(bad());
        }
        Ok(StarSales { provider_token: provider_token.to_string(), price, currency })
    }
}

/// The most Stars one sandbox top-up gives.
pub const MAX_TOPUP: i64 = 100_000;
/// Tries of a card charge that fails with a passing error.
const CARD_TRIES: u32 = 3;

/// Card providers and the payments a request of this node is driving.
pub(crate) struct Payments {
    providers: Vec<Arc<dyn CardProvider>>,
}

impl Default for Payments {
    fn default() -> Self {
        Payments { providers: vec![Arc::new(TestCardProvider::default())] }
    }
}

impl Payments {
    fn provider(&self, token: &str) -> Option<Arc<dyn CardProvider>> {
        self.providers.iter().find(|p| p.accepts(token)).cloned()
    }
}

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(e.to_string())
}

impl Service {
    /// Free top-ups and short subscription periods are on.
    pub fn is_sandbox(&self) -> bool {
        self.config.sandbox
    }

    /// Adds a card provider (checked before the built-in test provider's tokens).
    pub fn add_card_provider(&mut self, provider: Arc<dyn CardProvider>) {
        self.payments.providers.insert(0, provider);
    }

    fn check_invoice(&self, spec: InvoiceSpec, link: bool) -> ServiceResult<InvoiceSpec> {
        let spec = spec.check(self.config.sandbox, link)?;
        if let Some(token) = &spec.provider_token
            && self.payments.provider(token).is_none()
        {
            return Err(Invalid::new("provider_token", "PAYMENT_PROVIDER_INVALID").into());
        }
        Ok(spec)
    }

    /// `sendInvoice`: an invoice message whose first button pays it.
    pub async fn send_invoice(
        &self,
        bot: UserId,
        chat: ChatId,
        spec: InvoiceSpec,
        markup: Option<ReplyMarkup>,
        reply_to: Option<MessageId>,
        protected: bool,
    ) -> ServiceResult<Message> {
        let spec = self.check_invoice(spec, false)?;
        let markup = match markup {
            None => ReplyMarkup::Inline(vec![vec![InlineButton { text: pay_label(&spec), action: ButtonAction::Pay }]]),
            Some(ReplyMarkup::Inline(rows))
                if rows.first().and_then(|r| r.first()).is_some_and(|b| b.action == ButtonAction::Pay) =>
            {
                ReplyMarkup::Inline(rows).check()?
            }
            Some(_) => {
                return Err(Invalid::new("reply_markup", "the first button of an invoice must be a Pay button").into());
            }
        };
        let slug = secrets::opaque_id();
        let mut message = NewMessage::invoice(spec.summary(&slug), markup, reply_to);
        message.protected = protected;
        let written = self.store.send_invoice(bot, chat, slug, spec, message, self.now()).await?;
        Ok(self.wake(written))
    }

    /// `createInvoiceLink`: an invoice anyone may open from the link (`https://t.me/$<slug>`, the
    /// form mini-app SDKs accept for `openInvoice`).
    pub async fn create_invoice_link(&self, bot: UserId, spec: InvoiceSpec) -> ServiceResult<String> {
        let spec = self.check_invoice(spec, true)?;
        let invoice = self.store.put_invoice(bot, secrets::opaque_id(), spec, self.now()).await?;
        Ok(format!("https://t.me/${}", invoice.slug))
    }

    /// An invoice by slug, as `user` would pay it.
    pub async fn invoice_for(&self, user: &User, slug: &str) -> ServiceResult<InvoiceView> {
        let invoice = self.load_invoice(slug).await?;
        let bot = self.user(invoice.bot).await?;
        // An invoice message is paid once per person (however long ago); a link may be paid again.
        let paid =
            if invoice.message.is_some() { self.store.paid_payment(user.id, &invoice.slug).await? } else { None };
        let subscription = if invoice.spec.subscription_period.is_some() {
            self.store.subscriptions(user.id).await?.into_iter().find(|s| s.invoice == invoice.slug)
        } else {
            None
        };
        let balance = self.store.balance(Account::User(user.id)).await?;
        Ok(InvoiceView { invoice, bot: User::clone(&bot), paid, subscription, balance })
    }

    async fn load_invoice(&self, slug: &str) -> ServiceResult<Invoice> {
        if slug.is_empty() || slug.len() > 64 {
            return Err(Denied::InvoiceNotFound.into());
        }
        Ok(self.store.invoice(slug).await?.ok_or(Denied::InvoiceNotFound)?)
    }

    /// Sends a shipping address to the bot of a flexible invoice and waits (within the checkout
    /// window) for its options; the bot's error message comes back as `Invalid`.
    pub async fn shipping_options(
        &self,
        user: &User,
        slug: &str,
        address: ShippingAddress,
    ) -> ServiceResult<(i64, Vec<ShippingOption>)> {
        let invoice = self.load_invoice(slug).await?;
        if !invoice.spec.is_flexible {
            return Err(Invalid::new("shipping_address", "this invoice's price does not depend on the address").into());
        }
        let address = address.check()?;
        let mut wake = self.bus.subscribe(user.id);
        self.open_chat_with(user.id, invoice.bot).await?;
        let written = self.store.start_shipping_query(user.id, slug, address, self.now()).await?;
        let id = self.wake(written).id;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(CHECKOUT_WINDOW as u64);
        loop {
            let q = self.store.shipping_query(id).await?.ok_or_else(|| internal("lost shipping query"))?;
            match q.answer {
                Some(ShippingAnswer::Options(options)) => return Ok((id, options)),
                Some(ShippingAnswer::Error(e)) => return Err(Invalid::new("shipping_address", e).into()),
                None => {}
            }
            tokio::select! {
                hint = wake.changed() => if hint.is_none() { break },
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        Err(Invalid::new("shipping_address", "the bot did not answer in time; try again later").into())
    }

    /// Opens the person's private chat with the bot, where the payment's messages go; a read
    /// when it exists already, so a checkout costs no extra write.
    async fn open_chat_with(&self, user: UserId, bot: UserId) -> ServiceResult<()> {
        match self.store.chat(user, ChatId::private(bot)).await {
            Ok(_) => return Ok(()),
            Err(plaza_store::StoreError::Denied(Denied::ChatNotFound)) => {}
            Err(e) => return Err(e.into()),
        }
        let written = self.store.open_private_chat(user, bot, self.now()).await?;
        self.wake(written);
        Ok(())
    }

    /// The person confirms the payment sheet: the bot gets its `pre_checkout_query` and has
    /// [`CHECKOUT_WINDOW`] seconds to answer; then the payment is made (Stars move with the
    /// `successful_payment` message; cards are charged through their provider) or it ends
    /// declined, cancelled or failed. Returns the payment as it ended, or still pending if this
    /// request stopped waiting first (the jobs finish it).
    pub async fn pay_invoice(&self, user: &User, slug: &str, c: Checkout) -> ServiceResult<Payment> {
        if c.key.is_empty() || c.key.len() > 64 {
            return Err(Invalid::new("key", "name the attempt with 1 to 64 characters").into());
        }
        let invoice = self.load_invoice(slug).await?;
        let spec = &invoice.spec;
        let order_info = c.order_info.check(spec)?;
        let mut total = spec.total();
        let mut shipping_option_id = None;
        if spec.is_flexible {
            let (qid, oid) = c
                .shipping_query_id
                .zip(c.shipping_option_id.clone())
                .ok_or_else(|| Invalid::new("shipping_option_id", "choose a shipping option"))?;
            let q = self.store.shipping_query(qid).await?.filter(|q| q.user == user.id && q.invoice == slug);
            let Some(ShippingAnswer::Options(options)) = q.and_then(|q| q.answer) else {
                return Err(Invalid::new("shipping_query_id", "no shipping options were offered for it").into());
            };
            let option = options
                .iter()
                .find(|o| o.id == oid)
                .ok_or_else(|| Invalid::new("shipping_option_id", "is not one of the options offered"))?;
            total += option.total();
            shipping_option_id = Some(oid);
        }
        if c.tip_amount < 0 || c.tip_amount > spec.max_tip_amount {
            return Err(Invalid::new("tip_amount", format!("must be 0 to {}", spec.max_tip_amount)).into());
        }
        total += c.tip_amount;
        let card = match (&spec.provider_token, &c.card_number) {
            (None, _) => None,
            (Some(_), Some(n)) => Some(card_number(n)?),
            (Some(_), None) => return Err(Invalid::new("card_number", "this invoice is paid by card").into()),
        };
        let mut wake = self.bus.subscribe(user.id);
        self.open_chat_with(user.id, invoice.bot).await?;
        let payment = NewPayment {
            invoice: slug.to_string(),
            user: user.id,
            key: c.key.clone(),
            order_info,
            shipping_option_id,
            tip_amount: c.tip_amount,
            total_amount: total,
            card_last4: card.as_ref().map(|n| n[n.len() - 4..].to_string()),
            deadline: self.now() + CHECKOUT_WINDOW,
        };
        let written = self.store.start_payment(payment, self.now()).await?;
        let mut payment = self.wake(written);
        let window = Duration::from_secs((payment.deadline - self.now()).clamp(0, CHECKOUT_WINDOW) as u64);
        let deadline = tokio::time::Instant::now() + window + Duration::from_millis(500);
        loop {
            payment = self.store.payment(payment.id).await?.ok_or_else(|| internal("lost payment"))?;
            match payment.state {
                PaymentState::PreCheckout => {}
                PaymentState::Approved => {
                    return match card {
                        Some(number) => self.charge_card(payment, number).await,
                        // Another request of this checkout holds the card; the jobs finish it.
                        None => Ok(payment),
                    };
                }
                _ => return Ok(payment),
            }
            tokio::select! {
                hint = wake.changed() => if hint.is_none() { return Ok(payment) },
                _ = tokio::time::sleep_until(deadline) => {
                    let written = self.store.cancel_payment(payment.id, self.now()).await?;
                    let ended = self.wake(written);
                    return match (ended.state, card) {
                        (PaymentState::Approved, Some(number)) => self.charge_card(ended, number).await,
                        _ => Ok(ended),
                    };
                }
            }
        }
    }

    async fn charge_card(&self, payment: Payment, number: String) -> ServiceResult<Payment> {
        let invoice = self.load_invoice(&payment.invoice).await?;
        let token = invoice.spec.provider_token.clone().unwrap_or_default();
        let Some(provider) = self.payments.provider(&token) else {
            let written =
                self.store.finish_card_payment(payment.id, Err("PAYMENT_PROVIDER_INVALID".into()), self.now()).await?;
            return Ok(self.wake(written));
        };
        let request = ChargeRequest {
            key: charge_key(payment.id),
            card_number: number,
            amount: payment.total_amount,
            currency: payment.currency.clone(),
        };
        let mut outcome = Err("the card could not be charged".to_string());
        for attempt in 0..CARD_TRIES {
            match provider.charge(&request) {
                Ok(charge) => {
                    outcome = Ok(charge);
                    break;
                }
                Err(CardError::Declined(reason)) => {
                    outcome = Err(reason);
                    break;
                }
                Err(CardError::Retry(reason)) => {
                    tracing::info!(payment = payment.id, attempt, %reason, "card charge will be retried");
                    outcome = Err(reason);
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                }
            }
        }
        let written = self.store.finish_card_payment(payment.id, outcome, self.now()).await?;
        Ok(self.wake(written))
    }

    /// The person closed the payment sheet while the bot had not answered yet.
    pub async fn cancel_checkout(&self, user: &User, payment_id: i64) -> ServiceResult<Payment> {
        let p = self.store.payment(payment_id).await?.filter(|p| p.user == user.id).ok_or(Denied::PaymentNotFound)?;
        let written = self.store.cancel_payment(p.id, self.now()).await?;
        Ok(self.wake(written))
    }

    /// A payment of the person's.
    pub async fn payment_of(&self, user: &User, payment_id: i64) -> ServiceResult<Payment> {
        Ok(self.store.payment(payment_id).await?.filter(|p| p.user == user.id).ok_or(Denied::PaymentNotFound)?)
    }

    /// `answerPreCheckoutQuery`.
    pub async fn answer_pre_checkout_query(
        &self,
        bot: UserId,
        id: &str,
        ok: bool,
        error_message: Option<&str>,
    ) -> ServiceResult<()> {
        let id: i64 = id.parse().map_err(|_| ServiceError::Denied(Denied::QueryNotFound))?;
        let accept = if ok {
            Ok(())
        } else {
            match error_message.map(str::trim).filter(|e| !e.is_empty()) {
                Some(e) if e.chars().count() <= 255 => Err(e.to_string()),
                Some(_) => return Err(Invalid::new("error_message", "is at most 255 characters").into()),
                None => return Err(Invalid::new("error_message", "ERROR_MESSAGE_EMPTY").into()),
            }
        };
        let written = self.store.answer_pre_checkout(bot, id, accept, self.now()).await.map_err(|e| match e {
            plaza_store::StoreError::Denied(Denied::PaymentClosed) => ServiceError::Denied(Denied::QueryNotFound),
            other => other.into(),
        })?;
        self.wake(written);
        Ok(())
    }

    /// `answerShippingQuery`.
    pub async fn answer_shipping_query(
        &self,
        bot: UserId,
        id: &str,
        ok: bool,
        options: Option<Vec<ShippingOption>>,
        error_message: Option<&str>,
    ) -> ServiceResult<()> {
        let id: i64 = id.parse().map_err(|_| ServiceError::Denied(Denied::QueryNotFound))?;
        let answer = if ok {
            let options = options.ok_or_else(|| Invalid::new("shipping_options", "SHIPPING_OPTIONS_INVALID"))?;
            ShippingAnswer::Options(check_shipping_options(options)?)
        } else {
            match error_message.map(str::trim).filter(|e| !e.is_empty()) {
                Some(e) => ShippingAnswer::Error(e.to_string()),
                None => return Err(Invalid::new("error_message", "ERROR_MESSAGE_EMPTY").into()),
            }
        };
        let written = self.store.answer_shipping_query(bot, id, answer, self.now()).await?;
        self.wake(written);
        Ok(())
    }

    /// `refundStarPayment`.
    pub async fn refund_star_payment(&self, bot: UserId, user: UserId, charge_id: &str) -> ServiceResult<Payment> {
        let written = self.store.refund_payment(bot, user, charge_id, self.now()).await?;
        Ok(self.wake(written))
    }

    /// `editUserStarSubscription`: the bot turns a person's renewal off or on again.
    pub async fn edit_user_star_subscription(
        &self,
        bot: UserId,
        user: UserId,
        charge_id: &str,
        is_canceled: bool,
    ) -> ServiceResult<Subscription> {
        let p = self
            .store
            .payment_by_charge(bot, charge_id)
            .await?
            .filter(|p| p.user == user)
            .ok_or(Denied::PaymentNotFound)?;
        let id = p.subscription.ok_or(Denied::SubscriptionNotFound)?;
        Ok(self.store.set_subscription_canceled(id, true, is_canceled).await?)
    }

    /// The person turns renewal of one of their subscriptions off or on again.
    pub async fn set_subscription_canceled(&self, user: &User, id: i64, canceled: bool) -> ServiceResult<Subscription> {
        self.store.subscription(id).await?.filter(|s| s.user == user.id).ok_or(Denied::SubscriptionNotFound)?;
        Ok(self.store.set_subscription_canceled(id, false, canceled).await?)
    }

    /// The title of the invoice `slug`, which names what a payment of it paid for.
    pub async fn invoice_title(&self, slug: &str) -> ServiceResult<Option<String>> {
        Ok(self.store.invoice(slug).await?.map(|invoice| invoice.spec.title))
    }

    /// Balance, history, subscriptions and payments of a person.
    pub async fn wallet(&self, user: &User) -> ServiceResult<Wallet> {
        let payments = self.store.user_payments(user.id, 50).await?;
        let mut titles = std::collections::HashMap::new();
        for p in &payments {
            if !titles.contains_key(&p.invoice)
                && let Some(title) = self.invoice_title(&p.invoice).await?
            {
                titles.insert(p.invoice.clone(), title);
            }
        }
        Ok(Wallet {
            balance: self.store.balance(Account::User(user.id)).await?,
            history: self.store.ledger_entries(Account::User(user.id), None, 50).await?,
            subscriptions: self.store.subscriptions(user.id).await?,
            payments,
            titles,
        })
    }

    /// What one Star costs by card here, if the instance sells Stars: (price, currency).
    pub fn star_price(&self) -> Option<(i64, String)> {
        self.config.star_sales.as_ref().map(|s| (s.price, s.currency.clone()))
    }

    /// A top-up: bought with `card` where the instance sells Stars, free without one in a sandbox.
    /// `key` makes a retried request top up, and charge, once: the card is charged under a key
    /// derived from it, and the Stars are issued under another, so a retry after a crash between
    /// the two finds the charge made and issues the Stars. Returns the transfer and the balance.
    pub async fn topup(
        &self,
        user: &User,
        amount: i64,
        key: &str,
        card: Option<&str>,
    ) -> ServiceResult<(Transfer, i64)> {
        let Some(card) = card else { return self.sandbox_topup(user, amount, key).await };
        let sales = self.config.star_sales.clone().ok_or(ServiceError::Denied(Denied::NotSandbox))?;
        if !(1..=MAX_TOPUP).contains(&amount) {
            return Err(Invalid::new("amount", format!("must be 1 to {MAX_TOPUP} Stars")).into());
        }
        if key.is_empty() || key.len() > 64 {
            return Err(Invalid::new("key", "name the top-up with 1 to 64 characters").into());
        }
        let number = card_number(card)?;
        let provider = self
            .payments
            .provider(&sales.provider_token)
            .ok_or_else(|| internal("no card provider for the Stars sales token"))?;
        let request = ChargeRequest {
            key: format!("plaza-stars-{}-{key}", user.id.0),
            card_number: number,
            amount: amount * sales.price,
            currency: sales.currency.clone(),
        };
        let mut charged = Err(CardError::Declined("the card could not be charged".into()));
        for attempt in 0..CARD_TRIES {
            charged = provider.charge(&request);
            match &charged {
                Err(CardError::Retry(_)) => tokio::time::sleep(Duration::from_millis(100 << attempt)).await,
                _ => break,
            }
        }
        let charge = match charged {
            Ok(c) => c,
            Err(CardError::Declined(reason) | CardError::Retry(reason)) => {
                return Err(Invalid::new("card_number", reason).into());
            }
        };
        tracing::info!(user = user.id.0, amount, %charge, "Stars bought by card");
        let t = NewTransfer::new(
            &format!("buy:{}:{key}", user.id.0),
            Account::Issuance,
            Account::User(user.id),
            amount,
            "purchase",
        )?;
        let done = self.store.transfer(t, self.now()).await?;
        let balance = done.to_balance;
        Ok((done, balance))
    }

    /// A free top-up, only in a sandbox; `key` makes a retried request top up once. Returns the
    /// transfer and the balance after it.
    pub async fn sandbox_topup(&self, user: &User, amount: i64, key: &str) -> ServiceResult<(Transfer, i64)> {
        if !self.config.sandbox {
            return Err(ServiceError::Denied(Denied::NotSandbox));
        }
        if !(1..=MAX_TOPUP).contains(&amount) {
            return Err(Invalid::new("amount", format!("must be 1 to {MAX_TOPUP} Stars")).into());
        }
        if key.is_empty() || key.len() > 64 {
            return Err(Invalid::new("key", "name the top-up with 1 to 64 characters").into());
        }
        let t = NewTransfer::new(
            &format!("topup:{}:{key}", user.id.0),
            Account::Issuance,
            Account::User(user.id),
            amount,
            "topup",
        )?;
        let done = self.store.transfer(t, self.now()).await?;
        let balance = done.to_balance;
        Ok((done, balance))
    }

    /// One round of the payment jobs: cancels checkouts whose window passed, finishes approved
    /// card payments left by a request that ended (a crash, a closed connection), and renews due
    /// subscriptions. Every step is conditional in the store, so nodes may all run it.
    pub async fn run_payment_jobs(&self) -> ServiceResult<()> {
        let now = self.now();
        for p in self.store.open_payments(200).await? {
            match p.state {
                PaymentState::PreCheckout if p.deadline < now - 1 => {
                    let written = self.store.cancel_payment(p.id, now).await?;
                    self.wake(written);
                }
                // The card number is not kept, so an approved card payment whose request is gone
                // is settled by what the provider did: charged (then it is paid, and the bot gets
                // successful_payment) or not (then it fails, and nothing was taken).
                PaymentState::Approved if p.deadline < now - 60 => {
                    let provider = match self.store.invoice(&p.invoice).await? {
                        Some(i) => i.spec.provider_token.and_then(|t| self.payments.provider(&t)),
                        None => None,
                    };
                    let outcome = provider
                        .and_then(|pr| pr.find_charge(&charge_key(p.id)))
                        .ok_or_else(|| "the payment was interrupted; nothing was charged".to_string());
                    let written = self.store.finish_card_payment(p.id, outcome, now).await?;
                    self.wake(written);
                }
                _ => {}
            }
        }
        for s in self.store.due_subscriptions(now, 200).await? {
            let written = self.store.renew_subscription(s.id, now).await?;
            self.wake(written);
        }
        Ok(())
    }
}

/// The idempotency key of a payment's card charge.
fn charge_key(payment: i64) -> String {
    format!("plaza-payment-{payment}")
}

/// The default Pay button's label: `Pay ⭐️100` or `Pay 12.50 USD`.
fn pay_label(spec: &InvoiceSpec) -> String {
    if spec.currency == STARS {
        format!("Pay ⭐️{}", spec.total())
    } else {
        let t = spec.total();
        format!("Pay {}.{:02} {}", t / 100, t % 100, spec.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_prices_name_an_amount_and_a_currency() {
        let s = StarSales::new("1:TEST:x", "2 usd").unwrap();
        assert_eq!((s.price, s.currency.as_str()), (2, "USD"));
        for bad in ["2", "0 USD", "-1 USD", "2 DOLLARS", "two USD"] {
            assert!(StarSales::new("1:TEST:x", bad).is_err(), "{bad}");
        }
        assert!(StarSales::new("", "2 USD").is_err());
    }

    #[test]
    fn card_numbers_pass_luhn() {
        assert_eq!(card_number("4242 4242 4242 4242").unwrap(), TEST_CARD_OK);
        for n in [TEST_CARD_DECLINED, TEST_CARD_NO_FUNDS, TEST_CARD_RETRY] {
            assert!(card_number(n).is_ok(), "{n}");
        }
        assert!(card_number("4242 4242 4242 4241").is_err());
        assert!(card_number("abcd").is_err());
    }

    #[test]
    fn the_test_provider_declines_retries_and_is_idempotent() {
        let p = TestCardProvider::default();
        let req = |card: &str, key: &str| ChargeRequest {
            key: key.into(),
            card_number: card.into(),
            amount: 100,
            currency: "USD".into(),
        };
        let a = p.charge(&req(TEST_CARD_OK, "k1")).unwrap();
        assert_eq!(p.charge(&req(TEST_CARD_OK, "k1")).unwrap(), a, "same key, same charge");
        assert!(matches!(p.charge(&req(TEST_CARD_DECLINED, "k2")), Err(CardError::Declined(_))));
        assert!(matches!(p.charge(&req(TEST_CARD_RETRY, "k3")), Err(CardError::Retry(_))));
        assert!(p.charge(&req(TEST_CARD_RETRY, "k3")).is_ok());
        assert!(p.accepts("284685063:TEST:abc") && !p.accepts("live-token"));
    }
}
