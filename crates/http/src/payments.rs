//! The person's side of payments in the client API: an invoice's payment sheet, shipping options,
//! paying, cancelling, and the Stars wallet (balance, history, subscriptions, sandbox top-ups).

use crate::extract::Json;
use axum::extract::State;
use plaza_core::PaymentReceipt;
use plaza_core::ledger::{Account, Entry};
use plaza_core::payment::{LabeledPrice, OrderInfo, Payment, ShippingAddress, ShippingOption, Subscription};
use plaza_protocol::{
    ErrorBody, InvoiceOut, LabeledPriceOut, OrderInfoIn, PayRequest, PaymentOut, ReceiptOut, ShippingAddressIn,
    ShippingOptionOut, ShippingOut, ShippingRequest, StarEntryOut, SubscriptionCancelRequest, SubscriptionOut,
    TopUpOut, TopUpRequest, WalletOut,
};
use plaza_service::payments::Checkout;

use crate::AppState;
use crate::convert::user_out;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, Session};

pub fn payment_out(p: &Payment) -> PaymentOut {
    PaymentOut {
        id: p.id,
        invoice_slug: p.invoice.clone(),
        bot_id: p.bot.0,
        currency: p.currency.clone(),
        total_amount: p.total_amount,
        state: p.state.as_str().to_string(),
        status: p.state.invoice_status().to_string(),
        error: p.error.clone(),
        charge_id: p.charge_id.clone(),
        date: p.finished_at.unwrap_or(p.created_at),
        title: None,
    }
}

/// A payment as its payer sees it: with the title of what it paid for.
pub async fn payment_view(state: &AppState, p: &Payment) -> ApiResult<PaymentOut> {
    Ok(PaymentOut { title: state.service.invoice_title(&p.invoice).await?, ..payment_out(p) })
}

pub fn subscription_out(s: &Subscription) -> SubscriptionOut {
    SubscriptionOut {
        id: s.id,
        bot_id: s.bot.0,
        title: s.title.clone(),
        amount: s.amount,
        period: s.period,
        expires_at: s.expires_at,
        renews: s.renews(),
        canceled_by_user: s.canceled_by_user,
        canceled_by_bot: s.canceled_by_bot,
        lapsed: s.lapsed,
    }
}

pub fn receipt_out(r: &PaymentReceipt) -> ReceiptOut {
    ReceiptOut {
        currency: r.currency.clone(),
        total_amount: r.total_amount,
        charge_id: r.charge_id.clone(),
        subscription_expiration_date: r.subscription_expiration_date,
        is_recurring: r.is_recurring,
        is_first_recurring: r.is_first_recurring,
        title: r.title.clone(),
    }
}

fn prices_out(prices: &[LabeledPrice]) -> Vec<LabeledPriceOut> {
    prices.iter().map(|p| LabeledPriceOut { label: p.label.clone(), amount: p.amount }).collect()
}

fn address_in(a: ShippingAddressIn) -> ShippingAddress {
    ShippingAddress {
        country_code: a.country_code,
        state: a.state,
        city: a.city,
        street_line1: a.street_line1,
        street_line2: a.street_line2,
        post_code: a.post_code,
    }
}

fn order_in(o: OrderInfoIn) -> OrderInfo {
    OrderInfo {
        name: o.name,
        phone_number: o.phone_number,
        email: o.email,
        shipping_address: o.shipping_address.map(address_in),
    }
}

fn option_out(o: &ShippingOption) -> ShippingOptionOut {
    ShippingOptionOut { id: o.id.clone(), title: o.title.clone(), prices: prices_out(&o.prices) }
}

fn entry_out(e: &Entry) -> StarEntryOut {
    StarEntryOut {
        id: e.transfer,
        amount: e.delta,
        balance: e.balance,
        memo: e.memo.clone(),
        peer_id: match e.counterparty {
            Account::User(u) => Some(u.0),
            _ => None,
        },
        date: e.at,
    }
}

/// An invoice's payment sheet: what it sells, for how much, what it asks for, and whether you
/// paid (or subscribed) already.
#[utoipa::path(get, path = "/api/v1/invoices/{slug}", tag = "payments", security(("bearer" = [])),
    params(("slug" = String, Path)),
    responses((status = 200, body = InvoiceOut), (status = 404, body = ErrorBody)))]
pub async fn get_invoice(
    State(state): State<AppState>,
    session: Session,
    ApiPath(slug): ApiPath<String>,
) -> ApiResult<Json<InvoiceOut>> {
    let v = state.service.invoice_for(&session.user, &slug).await?;
    let spec = &v.invoice.spec;
    Ok(Json(InvoiceOut {
        slug: v.invoice.slug.clone(),
        bot: user_out(&v.bot),
        title: spec.title.clone(),
        description: spec.description.clone(),
        photo_url: spec.photo_url.clone(),
        currency: spec.currency.clone(),
        prices: prices_out(&spec.prices),
        total_amount: spec.total(),
        card: spec.provider_token.is_some(),
        max_tip_amount: spec.max_tip_amount,
        suggested_tip_amounts: spec.suggested_tip_amounts.clone(),
        need_name: spec.need_name,
        need_phone_number: spec.need_phone_number,
        need_email: spec.need_email,
        need_shipping_address: spec.need_shipping_address,
        is_flexible: spec.is_flexible,
        subscription_period: spec.subscription_period,
        paid: v.paid.as_ref().map(payment_out),
        subscription: v.subscription.as_ref().map(subscription_out),
        balance: v.balance,
    }))
}

/// For a flexible invoice: sends your address to the bot and waits (up to 10 s) for its shipping
/// options. The bot's refusal comes back as a 400 with its message.
#[utoipa::path(post, path = "/api/v1/invoices/{slug}/shipping", tag = "payments", security(("bearer" = [])),
    params(("slug" = String, Path)), request_body = ShippingRequest,
    responses((status = 200, body = ShippingOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn shipping(
    State(state): State<AppState>,
    session: Session,
    ApiPath(slug): ApiPath<String>,
    ApiJson(req): ApiJson<ShippingRequest>,
) -> ApiResult<Json<ShippingOut>> {
    let (id, options) = state.service.shipping_options(&session.user, &slug, address_in(req.shipping_address)).await?;
    Ok(Json(ShippingOut { shipping_query_id: id, options: options.iter().map(option_out).collect() }))
}

/// Pays an invoice: the bot is asked to confirm (`pre_checkout_query`, 10 s), then Stars move to
/// it, or the card is charged, together with the `successful_payment` message it delivers on. The
/// answer is the payment as it ended: `paid`, `declined` (with the bot's message), `cancelled`
/// (the bot did not answer in time; nothing was charged) or `failed`. The same `key` again
/// returns the same payment.
#[utoipa::path(post, path = "/api/v1/invoices/{slug}/pay", tag = "payments", security(("bearer" = [])),
    params(("slug" = String, Path)), request_body = PayRequest,
    responses((status = 200, body = PaymentOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "too few Stars, paid or subscribed already", body = ErrorBody)))]
pub async fn pay(
    State(state): State<AppState>,
    session: Session,
    ApiPath(slug): ApiPath<String>,
    ApiJson(req): ApiJson<PayRequest>,
) -> ApiResult<Json<PaymentOut>> {
    let checkout = Checkout {
        key: req.key,
        order_info: req.order_info.map(order_in).unwrap_or_default(),
        shipping_query_id: req.shipping_query_id,
        shipping_option_id: req.shipping_option_id,
        tip_amount: req.tip_amount.unwrap_or(0),
        card_number: req.card_number,
    };
    let p = state.service.pay_invoice(&session.user, &slug, checkout).await?;
    Ok(Json(payment_view(&state, &p).await?))
}

/// One of your payments.
#[utoipa::path(get, path = "/api/v1/payments/{id}", tag = "payments", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = PaymentOut), (status = 404, body = ErrorBody)))]
pub async fn get_payment(
    State(state): State<AppState>,
    session: Session,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<PaymentOut>> {
    Ok(Json(payment_view(&state, &state.service.payment_of(&session.user, id).await?).await?))
}

/// Closes the payment sheet of a checkout the bot has not answered yet: it is cancelled and nothing
/// is charged. A payment past that step is returned as it is.
#[utoipa::path(post, path = "/api/v1/payments/{id}/cancel", tag = "payments", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = PaymentOut), (status = 404, body = ErrorBody)))]
pub async fn cancel_payment(
    State(state): State<AppState>,
    session: Session,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<PaymentOut>> {
    Ok(Json(payment_view(&state, &state.service.cancel_checkout(&session.user, id).await?).await?))
}

/// Your Stars: balance, the latest 50 movements, your subscriptions and payments.
#[utoipa::path(get, path = "/api/v1/stars", tag = "payments", security(("bearer" = [])),
    responses((status = 200, body = WalletOut)))]
pub async fn wallet(State(state): State<AppState>, session: Session) -> ApiResult<Json<WalletOut>> {
    let w = state.service.wallet(&session.user).await?;
    Ok(Json(wallet_out(&state, w)))
}

fn wallet_out(state: &AppState, w: plaza_service::payments::Wallet) -> WalletOut {
    WalletOut {
        balance: w.balance,
        history: w.history.iter().map(entry_out).collect(),
        subscriptions: w.subscriptions.iter().map(subscription_out).collect(),
        payments: w
            .payments
            .iter()
            .map(|p| PaymentOut { title: w.titles.get(&p.invoice).cloned(), ..payment_out(p) })
            .collect(),
        sandbox: state.service.is_sandbox(),
        star_price: state.service.star_price().map(|(p, _)| p),
        star_currency: state.service.star_price().map(|(_, c)| c),
    }
}

/// A top-up: bought with `card_number` where the instance sells Stars (`star_price` in the
/// wallet), free without a card in a sandbox only (403 otherwise). The same `key` again tops up,
/// and charges, once; a declined card is a 400 with the provider's reason.
#[utoipa::path(post, path = "/api/v1/stars/topup", tag = "payments", security(("bearer" = [])),
    request_body = TopUpRequest,
    responses((status = 200, body = TopUpOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn topup(
    State(state): State<AppState>,
    session: Session,
    ApiJson(req): ApiJson<TopUpRequest>,
) -> ApiResult<Json<TopUpOut>> {
    let (t, balance) = state.service.topup(&session.user, req.amount, &req.key, req.card_number.as_deref()).await?;
    Ok(Json(TopUpOut { transfer_id: t.id, amount: t.amount, balance }))
}

/// Turns a subscription's renewal off (`canceled: true`; it runs until it expires) or on again.
#[utoipa::path(post, path = "/api/v1/subscriptions/{id}/cancel", tag = "payments", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = SubscriptionCancelRequest,
    responses((status = 200, body = SubscriptionOut), (status = 404, body = ErrorBody)))]
pub async fn cancel_subscription(
    State(state): State<AppState>,
    session: Session,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<SubscriptionCancelRequest>,
) -> ApiResult<Json<SubscriptionOut>> {
    let s = state.service.set_subscription_canceled(&session.user, id, req.canceled).await?;
    Ok(Json(subscription_out(&s)))
}
