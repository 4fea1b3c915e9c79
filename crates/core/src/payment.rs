//! Invoices and payments: what a bot sells, how a person pays for it, and the states a payment
//! goes through.
//!
//! A payment starts when the person confirms the payment sheet and ends in exactly one of
//! `paid`, `declined` (the bot said no), `cancelled` (the bot did not answer in time, or the
//! person gave up) or `failed` (too few Stars, a card declined). Only `paid` moves money, and it
//! does so in the same transaction that writes the `successful_payment` message the bot delivers
//! on, so a charge without that message cannot exist.

use crate::{ChatKey, Invalid, MessageId, UserId};

/// Telegram Stars' currency code.
pub const STARS: &str = "XTR";
/// How long a bot has to answer a `pre_checkout_query` (and a `shipping_query`), in seconds.
pub const CHECKOUT_WINDOW: i64 = 10;
/// The only subscription period Telegram accepts: 30 days.
pub const SUBSCRIPTION_PERIOD: i64 = 2_592_000;
/// The shortest subscription period a sandbox accepts, so renewals can be tested.
pub const MIN_SANDBOX_PERIOD: i64 = 2;
/// The most a subscription may cost per period, in Stars.
pub const MAX_SUBSCRIPTION_PRICE: i64 = 10_000;
/// The most one Stars invoice may ask for.
pub const MAX_STARS_INVOICE: i64 = 100_000;

/// A part of an invoice's price, in the currency's smallest units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabeledPrice {
    pub label: String,
    pub amount: i64,
}

/// What a bot asks for with `sendInvoice` or `createInvoiceLink`, checked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InvoiceSpec {
    pub title: String,
    pub description: String,
    /// The bot's own reference, 1–128 bytes, never shown to the person.
    pub payload: String,
    /// `XTR` for Stars, else a three-letter ISO 4217 code for a card provider.
    pub currency: String,
    pub prices: Vec<LabeledPrice>,
    /// Selects the card provider; empty for Stars.
    pub provider_token: Option<String>,
    pub provider_data: Option<String>,
    pub max_tip_amount: i64,
    pub suggested_tip_amounts: Vec<i64>,
    pub start_parameter: Option<String>,
    pub photo_url: Option<String>,
    pub need_name: bool,
    pub need_phone_number: bool,
    pub need_email: bool,
    pub need_shipping_address: bool,
    /// The final price depends on the shipping address: the bot gets a `shipping_query`.
    pub is_flexible: bool,
    /// Seconds between renewals, for a subscription.
    pub subscription_period: Option<i64>,
}

fn len_between(field: &'static str, s: &str, min: usize, max: usize) -> Result<(), Invalid> {
    let n = s.chars().count();
    if n < min || n > max {
        return Err(Invalid::new(field, format!("must be {min} to {max} characters")));
    }
    Ok(())
}

impl InvoiceSpec {
    /// Checks the invoice as Telegram does. A sandbox also accepts subscription periods shorter
    /// than 30 days (at least [`MIN_SANDBOX_PERIOD`] seconds), so renewals can be watched.
    pub fn check(mut self, sandbox: bool, link: bool) -> Result<Self, Invalid> {
        len_between("title", &self.title, 1, 32)?;
        len_between("description", &self.description, 1, 255)?;
        if self.payload.is_empty() || self.payload.len() > 128 {
            return Err(Invalid::new("payload", "INVOICE_PAYLOAD_INVALID"));
        }
        if self.currency.len() != 3 || !self.currency.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(Invalid::new("currency", "CURRENCY_INVALID"));
        }
        if self.prices.is_empty() || self.prices.len() > 20 {
            return Err(Invalid::new("prices", "CURRENCY_TOTAL_AMOUNT_INVALID"));
        }
        for p in &self.prices {
            len_between("prices", &p.label, 1, 64)?;
        }
        self.provider_token = self.provider_token.filter(|t| !t.is_empty());
        if self.is_stars() {
            if self.provider_token.is_some() {
                return Err(Invalid::new("provider_token", "PAYMENT_PROVIDER_INVALID"));
            }
            if self.prices.len() != 1 {
                return Err(Invalid::new("prices", "STARS_INVOICE_INVALID"));
            }
            // Tips and order information do not apply to Stars.
            self.max_tip_amount = 0;
            self.suggested_tip_amounts.clear();
            self.need_name = false;
            self.need_phone_number = false;
            self.need_email = false;
            self.need_shipping_address = false;
            self.is_flexible = false;
            if !(1..=MAX_STARS_INVOICE).contains(&self.prices[0].amount) {
                return Err(Invalid::new("prices", "CURRENCY_TOTAL_AMOUNT_INVALID"));
            }
        } else {
            if self.provider_token.is_none() {
                return Err(Invalid::new("provider_token", "PAYMENT_PROVIDER_INVALID"));
            }
            if self.prices.iter().any(|p| p.amount.abs() > 1_000_000_000) {
                return Err(Invalid::new("prices", "CURRENCY_TOTAL_AMOUNT_INVALID"));
            }
            let total: i64 = self.prices.iter().map(|p| p.amount).sum();
            if total <= 0 {
                return Err(Invalid::new("prices", "CURRENCY_TOTAL_AMOUNT_INVALID"));
            }
            if self.max_tip_amount < 0 || self.suggested_tip_amounts.len() > 4 {
                return Err(Invalid::new("suggested_tip_amounts", "SUGGESTED_TIP_AMOUNTS_INVALID"));
            }
            let mut last = 0;
            for &t in &self.suggested_tip_amounts {
                if t <= last || t > self.max_tip_amount {
                    return Err(Invalid::new("suggested_tip_amounts", "SUGGESTED_TIP_AMOUNTS_INVALID"));
                }
                last = t;
            }
            if self.is_flexible && !self.need_shipping_address {
                return Err(Invalid::new(
                    "is_flexible",
                    "an invoice with a flexible price needs need_shipping_address",
                ));
            }
        }
        if let Some(period) = self.subscription_period {
            if !link {
                return Err(Invalid::new("subscription_period", "subscriptions are sold through invoice links"));
            }
            if !self.is_stars() {
                return Err(Invalid::new("subscription_period", "SUBSCRIPTION_PERIOD_INVALID"));
            }
            let allowed = period == SUBSCRIPTION_PERIOD
                || (sandbox && (MIN_SANDBOX_PERIOD..SUBSCRIPTION_PERIOD).contains(&period));
            if !allowed {
                return Err(Invalid::new("subscription_period", "SUBSCRIPTION_PERIOD_INVALID"));
            }
            if self.prices[0].amount > MAX_SUBSCRIPTION_PRICE {
                return Err(Invalid::new("prices", "SUBSCRIPTION_PRICE_INVALID"));
            }
        }
        if let Some(s) = &self.start_parameter
            && (s.len() > 64 || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        {
            return Err(Invalid::new("start_parameter", "START_PARAM_INVALID"));
        }
        Ok(self)
    }

    pub fn is_stars(&self) -> bool {
        self.currency == STARS
    }

    /// The price without shipping or tip.
    pub fn total(&self) -> i64 {
        self.prices.iter().map(|p| p.amount).sum()
    }

    pub fn needs_order_info(&self) -> bool {
        self.need_name || self.need_phone_number || self.need_email || self.need_shipping_address
    }
}

/// An invoice as stored: the bot's spec, the slug that names it in links, and the message that
/// carries it when it was sent with `sendInvoice`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    pub slug: String,
    pub bot: UserId,
    pub spec: InvoiceSpec,
    pub message: Option<(ChatKey, MessageId)>,
    pub created_at: i64,
}

/// What an invoice message shows (the Bot API's `Invoice`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceSummary {
    pub slug: String,
    pub title: String,
    pub description: String,
    pub start_parameter: String,
    pub currency: String,
    pub total_amount: i64,
}

impl InvoiceSpec {
    pub fn summary(&self, slug: &str) -> InvoiceSummary {
        InvoiceSummary {
            slug: slug.to_string(),
            title: self.title.clone(),
            description: self.description.clone(),
            start_parameter: self.start_parameter.clone().unwrap_or_default(),
            currency: self.currency.clone(),
            total_amount: self.total(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShippingAddress {
    pub country_code: String,
    pub state: String,
    pub city: String,
    pub street_line1: String,
    pub street_line2: String,
    pub post_code: String,
}

impl ShippingAddress {
    pub fn check(self) -> Result<Self, Invalid> {
        if self.country_code.len() != 2 || !self.country_code.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(Invalid::new("shipping_address", "country_code must be two letters"));
        }
        for (field, v) in [("city", &self.city), ("street_line1", &self.street_line1), ("post_code", &self.post_code)] {
            if v.trim().is_empty() {
                return Err(Invalid::new("shipping_address", format!("{field} is required")));
            }
        }
        for v in [&self.state, &self.city, &self.street_line1, &self.street_line2, &self.post_code] {
            if v.chars().count() > 128 {
                return Err(Invalid::new("shipping_address", "fields are at most 128 characters"));
            }
        }
        Ok(ShippingAddress { country_code: self.country_code.to_ascii_uppercase(), ..self })
    }
}

/// What the person filled in on the payment sheet, as far as the invoice asked for it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OrderInfo {
    pub name: Option<String>,
    pub phone_number: Option<String>,
    pub email: Option<String>,
    pub shipping_address: Option<ShippingAddress>,
}

impl OrderInfo {
    /// Keeps what the invoice asked for and requires all of it.
    pub fn check(self, spec: &InvoiceSpec) -> Result<Self, Invalid> {
        let need = |field: &'static str, asked: bool, v: Option<String>| -> Result<Option<String>, Invalid> {
            if !asked {
                return Ok(None);
            }
            match v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()) {
                Some(s) if s.chars().count() <= 128 => Ok(Some(s)),
                Some(_) => Err(Invalid::new(field, "is at most 128 characters")),
                None => Err(Invalid::new(field, "the invoice asks for it")),
            }
        };
        let email = need("email", spec.need_email, self.email)?;
        if email.as_ref().is_some_and(|e| !e.contains('@')) {
            return Err(Invalid::new("email", "is not an email address"));
        }
        Ok(OrderInfo {
            name: need("name", spec.need_name, self.name)?,
            phone_number: need("phone_number", spec.need_phone_number, self.phone_number)?,
            email,
            shipping_address: match (spec.need_shipping_address, self.shipping_address) {
                (false, _) => None,
                (true, Some(a)) => Some(a.check()?),
                (true, None) => return Err(Invalid::new("shipping_address", "the invoice asks for it")),
            },
        })
    }

    pub fn is_empty(&self) -> bool {
        *self == OrderInfo::default()
    }
}

/// A shipping option a bot offers in `answerShippingQuery`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShippingOption {
    pub id: String,
    pub title: String,
    pub prices: Vec<LabeledPrice>,
}

impl ShippingOption {
    pub fn total(&self) -> i64 {
        self.prices.iter().map(|p| p.amount).sum()
    }
}

/// Checks a bot's shipping options: at least one, unique ids, labelled non-negative prices.
pub fn check_shipping_options(options: Vec<ShippingOption>) -> Result<Vec<ShippingOption>, Invalid> {
    if options.is_empty() || options.len() > 20 {
        return Err(Invalid::new("shipping_options", "SHIPPING_OPTIONS_INVALID"));
    }
    let mut ids = std::collections::HashSet::new();
    for o in &options {
        if o.id.is_empty() || o.id.len() > 64 || !ids.insert(o.id.clone()) {
            return Err(Invalid::new("shipping_options", "SHIPPING_ID_DUPLICATE"));
        }
        len_between("shipping_options", &o.title, 1, 64)?;
        if o.prices.is_empty() || o.prices.iter().any(|p| p.amount < 0 || p.label.is_empty()) {
            return Err(Invalid::new("shipping_options", "SHIPPING_OPTIONS_INVALID"));
        }
    }
    Ok(options)
}

/// Where a payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentState {
    /// Waiting for the bot's `answerPreCheckoutQuery`.
    PreCheckout,
    /// The bot accepted; a card charge is under way (Stars go straight to `Paid`).
    Approved,
    Paid,
    /// The bot refused the checkout.
    Declined,
    /// The bot did not answer in time, or the person gave up: nothing was charged.
    Cancelled,
    /// Too few Stars, or the card was declined: nothing was charged.
    Failed,
    /// Paid, then refunded in full.
    Refunded,
}

impl PaymentState {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentState::PreCheckout => "pre_checkout",
            PaymentState::Approved => "approved",
            PaymentState::Paid => "paid",
            PaymentState::Declined => "declined",
            PaymentState::Cancelled => "cancelled",
            PaymentState::Failed => "failed",
            PaymentState::Refunded => "refunded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pre_checkout" => PaymentState::PreCheckout,
            "approved" => PaymentState::Approved,
            "paid" => PaymentState::Paid,
            "declined" => PaymentState::Declined,
            "cancelled" => PaymentState::Cancelled,
            "failed" => PaymentState::Failed,
            "refunded" => PaymentState::Refunded,
            _ => return None,
        })
    }

    /// Still waiting for the bot or the provider.
    pub fn is_open(self) -> bool {
        matches!(self, PaymentState::PreCheckout | PaymentState::Approved)
    }

    /// What `invoice_closed` reports to a mini app for a payment in this state.
    pub fn invoice_status(self) -> &'static str {
        match self {
            PaymentState::Paid | PaymentState::Refunded => "paid",
            PaymentState::PreCheckout | PaymentState::Approved => "pending",
            PaymentState::Declined | PaymentState::Failed => "failed",
            PaymentState::Cancelled => "cancelled",
        }
    }
}

/// A checkout the person confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPayment {
    pub invoice: String,
    pub user: UserId,
    /// The client's name for this attempt: the same key again is the same payment (a double
    /// click, a retried request).
    pub key: String,
    pub order_info: OrderInfo,
    pub shipping_option_id: Option<String>,
    /// Included in `total_amount`, for card invoices that allow tips.
    pub tip_amount: i64,
    /// Price plus shipping plus tip.
    pub total_amount: i64,
    /// The card's last four digits, for card invoices.
    pub card_last4: Option<String>,
    pub deadline: i64,
}

/// A payment and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub id: i64,
    pub invoice: String,
    pub bot: UserId,
    pub user: UserId,
    /// The private chat of the person and the bot, where the service messages go.
    pub chat: ChatKey,
    pub currency: String,
    pub total_amount: i64,
    pub payload: String,
    pub shipping_option_id: Option<String>,
    pub order_info: OrderInfo,
    pub state: PaymentState,
    /// Why it was declined or failed, as the person is told.
    pub error: Option<String>,
    /// Names the charge in `successful_payment` and in refunds.
    pub charge_id: String,
    pub provider_charge_id: Option<String>,
    pub subscription: Option<i64>,
    /// For renewals: which one (the first payment is 0).
    pub renewal: u32,
    pub created_at: i64,
    pub deadline: i64,
    pub finished_at: Option<i64>,
}

impl Payment {
    /// The charge id a payment gets: unguessable enough not to be confused, and stable.
    pub fn charge_id_for(id: i64, bot: UserId) -> String {
        format!("stxPLZ{}x{:x}", id, bot.0)
    }
}

/// A Stars subscription bought through an invoice link with `subscription_period`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: i64,
    pub invoice: String,
    pub bot: UserId,
    pub user: UserId,
    pub title: String,
    pub amount: i64,
    pub period: i64,
    /// Paid up to here; renewed then unless cancelled.
    pub expires_at: i64,
    /// The person turned renewal off (it still runs until `expires_at`).
    pub canceled_by_user: bool,
    /// The bot turned renewal off with `editUserStarSubscription`.
    pub canceled_by_bot: bool,
    /// A renewal found too few Stars: the subscription ended at `expires_at`.
    pub lapsed: bool,
    pub renewals: u32,
}

impl Subscription {
    pub fn renews(&self) -> bool {
        !self.canceled_by_user && !self.canceled_by_bot && !self.lapsed
    }

    pub fn is_active(&self, now: i64) -> bool {
        now < self.expires_at
    }
}

/// What the bot is told about a shipping address (`shipping_query`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShippingQuery {
    pub id: i64,
    pub invoice: String,
    pub bot: UserId,
    pub user: UserId,
    pub payload: String,
    pub address: ShippingAddress,
    pub created_at: i64,
    pub answer: Option<ShippingAnswer>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShippingAnswer {
    Options(Vec<ShippingOption>),
    Error(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stars(amount: i64) -> InvoiceSpec {
        InvoiceSpec {
            title: "Coffee".into(),
            description: "A cup".into(),
            payload: "order-1".into(),
            currency: STARS.into(),
            prices: vec![LabeledPrice { label: "Coffee".into(), amount }],
            ..Default::default()
        }
    }

    #[test]
    fn stars_invoices_take_one_price_and_no_provider() {
        assert!(stars(5).check(false, false).is_ok());
        assert!(stars(0).check(false, false).is_err());
        let mut two = stars(5);
        two.prices.push(LabeledPrice { label: "Milk".into(), amount: 1 });
        assert_eq!(two.check(false, false).unwrap_err().reason, "STARS_INVOICE_INVALID");
        let mut tok = stars(5);
        tok.provider_token = Some("x".into());
        assert!(tok.check(false, false).is_err());
        let mut empty_tok = stars(5);
        empty_tok.provider_token = Some(String::new());
        empty_tok.need_name = true;
        let ok = empty_tok.check(false, false).unwrap();
        assert!(ok.provider_token.is_none() && !ok.need_name);
        let mut long = stars(5);
        long.title = "x".repeat(33);
        assert!(long.check(false, false).is_err());
    }

    #[test]
    fn subscriptions_are_thirty_days_except_in_a_sandbox() {
        let mut s = stars(50);
        s.subscription_period = Some(SUBSCRIPTION_PERIOD);
        assert!(s.clone().check(false, true).is_ok());
        assert!(s.clone().check(false, false).is_err(), "only links sell subscriptions");
        s.subscription_period = Some(10);
        assert!(s.clone().check(false, true).is_err());
        assert!(s.clone().check(true, true).is_ok());
        s.prices[0].amount = MAX_SUBSCRIPTION_PRICE + 1;
        assert!(s.check(true, true).is_err());
    }

    #[test]
    fn card_invoices_check_tips_and_shipping() {
        let mut c = stars(1);
        c.currency = "USD".into();
        assert!(c.clone().check(false, false).is_err(), "a card invoice needs a provider");
        c.provider_token = Some("1:TEST:x".into());
        c.prices.push(LabeledPrice { label: "Discount".into(), amount: -1 });
        assert!(c.clone().check(false, false).is_err(), "a total of zero");
        c.prices[0].amount = 500;
        c.max_tip_amount = 100;
        c.suggested_tip_amounts = vec![50, 10];
        assert!(c.clone().check(false, false).is_err(), "tips must increase");
        c.suggested_tip_amounts = vec![10, 50];
        assert_eq!(c.clone().check(false, false).unwrap().total(), 499);
        c.is_flexible = true;
        assert!(c.clone().check(false, false).is_err());
        c.need_shipping_address = true;
        assert!(c.check(false, false).is_ok());
    }

    #[test]
    fn order_info_holds_what_was_asked() {
        let spec = InvoiceSpec { need_email: true, need_shipping_address: true, ..stars(1) };
        let addr = ShippingAddress {
            country_code: "de".into(),
            city: "Berlin".into(),
            street_line1: "Unter den Linden 1".into(),
            post_code: "10117".into(),
            ..Default::default()
        };
        let info = OrderInfo {
            name: Some("ignored".into()),
            email: Some("a@b.c".into()),
            shipping_address: Some(addr),
            ..Default::default()
        };
        let checked = info.clone().check(&spec).unwrap();
        assert_eq!(checked.name, None);
        assert_eq!(checked.shipping_address.unwrap().country_code, "DE");
        assert!(OrderInfo { email: Some("nope".into()), ..info.clone() }.check(&spec).is_err());
        assert!(OrderInfo { shipping_address: None, ..info }.check(&spec).is_err());
    }

    #[test]
    fn states_round_trip_and_map_to_invoice_statuses() {
        for s in [
            PaymentState::PreCheckout,
            PaymentState::Approved,
            PaymentState::Paid,
            PaymentState::Declined,
            PaymentState::Cancelled,
            PaymentState::Failed,
            PaymentState::Refunded,
        ] {
            assert_eq!(PaymentState::parse(s.as_str()), Some(s));
        }
        assert_eq!(PaymentState::Declined.invoice_status(), "failed");
        assert_eq!(PaymentState::PreCheckout.invoice_status(), "pending");
        assert!(check_shipping_options(vec![]).is_err());
    }
}
