//! PostgreSQL: invoices, payments, shipping queries and subscriptions (see `Store`'s payments section).
//!
//! Locks follow the backend's order (see the module docs of `postgres.rs`), extended for payments:
//! the payment row (`FOR UPDATE`, taken before its state is read, so of two writes ending the same
//! checkout the second sees what the first did), then the subscription row, then the private chat
//! row, then the Stars balance rows in name order (`apply_transfer`), then the users' update-log
//! rows. Money moves in the same transaction as the state change and the service message.

use super::*;
use plaza_core::PaymentReceipt;
use plaza_core::payment::{CHECKOUT_WINDOW, PaymentState, STARS};

/// How often `start_payment` starts over after losing a race to a concurrent checkout of the same
/// key or the same invoice (the second attempt finds the winner's payment).
const START_ATTEMPTS: usize = 5;

// ---------------------------------------------------------------------------------------------
// Rows.

async fn load_invoice<C: GenericClient>(c: &C, slug: &str) -> StoreResult<Option<Invoice>> {
    let sql = "SELECT bot_id, spec, chat_id, message_id, created_at FROM invoices WHERE slug = $1";
    let Some(r) = query_opt(c, sql, &[&slug]).await? else { return Ok(None) };
    let chat: Option<i64> = get(&r, 2)?;
    let message: Option<i64> = get(&r, 3)?;
    Ok(Some(Invoice {
        slug: slug.to_string(),
        bot: UserId(get(&r, 0)?),
        spec: codec::decode_invoice_spec(get(&r, 1)?)?,
        message: chat.zip(message).map(|(c, m)| (ChatKey(c), MessageId(m))),
        created_at: get(&r, 4)?,
    }))
}

/// The payment columns.
const PAYMENT_COLS: &str = "id, invoice, bot_id, user_id, chat_id, currency, total_amount, payload, shipping_option, \
     order_info, state, error, charge_id, provider_charge, subscription_id, renewal, created_at, deadline, finished_at";

/// A payment from the [`PAYMENT_COLS`] columns.
fn payment_at(r: &Row) -> StoreResult<Payment> {
    let state: &str = get(r, 10)?;
    Ok(Payment {
        id: get(r, 0)?,
        invoice: get(r, 1)?,
        bot: UserId(get(r, 2)?),
        user: UserId(get(r, 3)?),
        chat: ChatKey(get(r, 4)?),
        currency: get(r, 5)?,
        total_amount: get(r, 6)?,
        payload: get(r, 7)?,
        shipping_option_id: get(r, 8)?,
        order_info: codec::decode_order(get(r, 9)?)?,
        state: PaymentState::parse(state)
            .ok_or_else(|| StoreError::Backend(format!("unknown payment state {state:?}")))?,
        error: get(r, 11)?,
        charge_id: get(r, 12)?,
        provider_charge_id: get(r, 13)?,
        subscription: get(r, 14)?,
        renewal: u32::try_from(get::<i32>(r, 15)?).map_err(StoreError::backend)?,
        created_at: get(r, 16)?,
        deadline: get(r, 17)?,
        finished_at: get(r, 18)?,
    })
}

async fn load_payment<C: GenericClient>(c: &C, id: i64) -> StoreResult<Option<Payment>> {
    let sql = format!("SELECT {PAYMENT_COLS} FROM payments WHERE id = $1");
    query_opt(c, &sql, &[&id]).await?.map(|r| payment_at(&r)).transpose()
}

/// The payment, its row locked until the write ends: read after the lock is won, so it reflects
/// every write to it committed before.
async fn lock_payment(tx: &Transaction<'_>, id: i64) -> StoreResult<Option<Payment>> {
    let sql = format!("SELECT {PAYMENT_COLS} FROM payments WHERE id = $1 FOR UPDATE");
    query_opt(tx, &sql, &[&id]).await?.map(|r| payment_at(&r)).transpose()
}

/// Payments by id (for `events_after`); ids with no payment are absent.
pub(super) async fn load_payments<C: GenericClient>(c: &C, ids: &[i64]) -> StoreResult<HashMap<i64, Payment>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!("SELECT {PAYMENT_COLS} FROM payments WHERE id = ANY($1)");
    let mut out = HashMap::with_capacity(ids.len());
    for r in query(c, &sql, &[&ids]).await? {
        let p = payment_at(&r)?;
        out.insert(p.id, p);
    }
    Ok(out)
}

/// Sets a payment's state (keeping the error, provider charge and end date it has unless new
/// ones are given) and returns it as it is now.
async fn set_payment_state(
    tx: &Transaction<'_>,
    id: i64,
    state: PaymentState,
    error: Option<String>,
    provider_charge: Option<String>,
    finished_at: Option<i64>,
) -> StoreResult<Payment> {
    let sql = format!(
        "UPDATE payments SET state = $1, error = COALESCE($2, error), provider_charge = COALESCE($3, provider_charge), \
         finished_at = COALESCE($4, finished_at) WHERE id = $5 RETURNING {PAYMENT_COLS}"
    );
    let row = query_opt(tx, &sql, &[&state.as_str(), &error, &provider_charge, &finished_at, &id]).await?;
    payment_at(&row.ok_or(Denied::PaymentNotFound)?)
}

/// The shipping query columns (`q`: the query, `i`: its invoice).
const SHIPPING_COLS: &str =
    "q.id, q.invoice, q.bot_id, q.user_id, q.chat_id, q.address, q.created_at, q.answer, i.spec";

/// A shipping query and its chat from the [`SHIPPING_COLS`] columns.
fn shipping_at(r: &Row) -> StoreResult<(ShippingQuery, ChatKey)> {
    let query = ShippingQuery {
        id: get(r, 0)?,
        invoice: get(r, 1)?,
        bot: UserId(get(r, 2)?),
        user: UserId(get(r, 3)?),
        payload: codec::decode_invoice_spec(get(r, 8)?)?.payload,
        address: codec::decode_address(get(r, 5)?)?,
        created_at: get(r, 6)?,
        answer: get::<Option<&str>>(r, 7)?.map(codec::decode_shipping_answer).transpose()?,
    };
    Ok((query, ChatKey(get(r, 4)?)))
}

/// Shipping queries by id (for `events_after`); ids with no query are absent.
pub(super) async fn load_shipping_queries<C: GenericClient>(
    c: &C,
    ids: &[i64],
) -> StoreResult<HashMap<i64, ShippingQuery>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!(
        "SELECT {SHIPPING_COLS} FROM shipping_queries q JOIN invoices i ON i.slug = q.invoice WHERE q.id = ANY($1)"
    );
    let mut out = HashMap::with_capacity(ids.len());
    for r in query(c, &sql, &[&ids]).await? {
        let (q, _) = shipping_at(&r)?;
        out.insert(q.id, q);
    }
    Ok(out)
}

/// The subscription columns.
const SUBSCRIPTION_COLS: &str = "id, invoice, bot_id, user_id, title, amount, period, expires_at, canceled_by_user, \
     canceled_by_bot, lapsed, renewals";

/// A subscription from the [`SUBSCRIPTION_COLS`] columns.
fn subscription_at(r: &Row) -> StoreResult<Subscription> {
    Ok(Subscription {
        id: get(r, 0)?,
        invoice: get(r, 1)?,
        bot: UserId(get(r, 2)?),
        user: UserId(get(r, 3)?),
        title: get(r, 4)?,
        amount: get(r, 5)?,
        period: get(r, 6)?,
        expires_at: get(r, 7)?,
        canceled_by_user: get(r, 8)?,
        canceled_by_bot: get(r, 9)?,
        lapsed: get(r, 10)?,
        renewals: u32::try_from(get::<i32>(r, 11)?).map_err(StoreError::backend)?,
    })
}

async fn load_subscription<C: GenericClient>(c: &C, id: i64) -> StoreResult<Option<Subscription>> {
    let sql = format!("SELECT {SUBSCRIPTION_COLS} FROM subscriptions WHERE id = $1");
    query_opt(c, &sql, &[&id]).await?.map(|r| subscription_at(&r)).transpose()
}

async fn subscription_by_invoice<C: GenericClient>(
    c: &C,
    invoice: &str,
    user: UserId,
) -> StoreResult<Option<Subscription>> {
    let sql = format!("SELECT {SUBSCRIPTION_COLS} FROM subscriptions WHERE invoice = $1 AND user_id = $2");
    query_opt(c, &sql, &[&invoice, &user.0]).await?.map(|r| subscription_at(&r)).transpose()
}

/// An account's Stars as last committed (a check before a write; the write itself re-checks
/// under the balance rows' locks).
async fn balance_of<C: GenericClient>(c: &C, a: Account) -> StoreResult<i64> {
    let row = query_opt(c, "SELECT balance FROM ledger_balances WHERE account = $1", &[&a.key()]).await?;
    row.map_or(Ok(0), |r| get(&r, 0))
}

/// Locks a chat row by key, as writers of the chat do before adding a message to it.
async fn lock_chat(tx: &Transaction<'_>, key: ChatKey) -> StoreResult<ChatRow> {
    let sql = "SELECT id, kind, title, user_lo, user_hi, last_message_id, created_at FROM chats WHERE id = $1 \
               FOR NO KEY UPDATE";
    chat_at(&query_opt(tx, sql, &[&key.0]).await?.ok_or(Denied::ChatNotFound)?, 0)
}

/// A fresh payment id and the charge id that goes with it, so the row is inserted complete.
async fn next_payment_id(tx: &Transaction<'_>, bot: UserId) -> StoreResult<(i64, String)> {
    let id: i64 = get(&query_one(tx, "SELECT nextval(pg_get_serial_sequence('payments', 'id'))", &[]).await?, 0)?;
    Ok((id, Payment::charge_id_for(id, bot)))
}

// ---------------------------------------------------------------------------------------------
// Steps shared by the writes.

/// Ends a payment without moving money; the payer is told.
async fn finish_payment(
    tx: &Transaction<'_>,
    log: &mut UpdateLog,
    p: &Payment,
    state: PaymentState,
    error: Option<String>,
    now: i64,
) -> StoreResult<Payment> {
    let value = set_payment_state(tx, p.id, state, error, None, Some(now)).await?;
    log.push(p.user, "payment_updated", Some(p.id));
    Ok(value)
}

/// Takes the locks [`pay`] needs after the payment row's, in order: the subscription the payment
/// may start (a renewal's caller holds it already), then the private chat its message goes to.
async fn lock_for_pay(tx: &Transaction<'_>, p: &Payment) -> StoreResult<ChatRow> {
    if p.subscription.is_none() {
        query(
            tx,
            "SELECT id FROM subscriptions WHERE invoice = $1 AND user_id = $2 FOR UPDATE",
            &[&p.invoice, &p.user.0],
        )
        .await?;
    }
    lock_chat(tx, p.chat).await
}

/// Marks a payment paid: moves the Stars (for Stars), starts or extends the subscription, and
/// writes the `successful_payment` message the bot delivers on — in the caller's transaction,
/// with `row` (the payment's chat) locked by [`lock_for_pay`]. Nothing is written before the
/// Stars moved, so `InsufficientFunds` leaves the transaction as it was.
async fn pay(
    tx: &Transaction<'_>,
    log: &mut UpdateLog,
    row: &ChatRow,
    p: &Payment,
    provider_charge: Option<String>,
    now: i64,
) -> StoreResult<Payment> {
    let inv = load_invoice(tx, &p.invoice).await?.ok_or(Denied::InvoiceNotFound)?;
    if p.currency == STARS {
        let t = NewTransfer::new(
            &format!("pay:{}", p.id),
            Account::User(p.user),
            Account::User(p.bot),
            p.total_amount,
            "payment",
        )
        .map_err(|e| StoreError::Backend(e.reason))?;
        if let TransferOutcome::KeyTaken = apply_transfer(tx, &t, now).await? {
            return Err(StoreError::Backend(format!("transfer key {} taken", t.key)));
        }
    }
    let subscription = match (inv.spec.subscription_period, p.subscription) {
        (Some(period), None) => {
            let inserted = query_one(
                tx,
                "INSERT INTO subscriptions (invoice, bot_id, user_id, title, amount, period, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (invoice, user_id) DO UPDATE SET amount = excluded.amount, period = excluded.period, \
                 expires_at = excluded.expires_at, canceled_by_user = FALSE, canceled_by_bot = FALSE, lapsed = FALSE, \
                 renewals = 0 RETURNING id",
                &[&p.invoice, &p.bot.0, &p.user.0, &inv.spec.title, &p.total_amount, &period, &(now + period)],
            )
            .await?;
            let id: i64 = get(&inserted, 0)?;
            execute(tx, "UPDATE payments SET subscription_id = $1 WHERE id = $2", &[&id, &p.id]).await?;
            Some(id)
        }
        (_, Some(id)) => {
            let renewal = i32::try_from(p.renewal).map_err(StoreError::backend)?;
            execute(
                tx,
                "UPDATE subscriptions SET expires_at = GREATEST(expires_at, $1) + period, renewals = $2 WHERE id = $3",
                &[&now, &renewal, &id],
            )
            .await?;
            Some(id)
        }
        (None, None) => None,
    };
    let p = set_payment_state(tx, p.id, PaymentState::Paid, None, provider_charge, Some(now)).await?;
    debug_assert_eq!(p.subscription, subscription);
    let receipt = receipt_of(tx, &p, true).await?;
    let message = NewMessage::service(ServiceAction::SuccessfulPayment(Box::new(receipt)));
    insert_message(tx, log, row, p.user, message, now).await?;
    log.push(p.user, "payment_updated", Some(p.id));
    Ok(p)
}

/// What a payment's service message says about it.
async fn receipt_of<C: GenericClient>(c: &C, p: &Payment, paid: bool) -> StoreResult<PaymentReceipt> {
    let sub = match p.subscription {
        Some(id) => load_subscription(c, id).await?,
        None => None,
    };
    Ok(PaymentReceipt {
        currency: p.currency.clone(),
        total_amount: p.total_amount,
        invoice_payload: p.payload.clone(),
        charge_id: p.charge_id.clone(),
        provider_charge_id: p.provider_charge_id.clone(),
        shipping_option_id: if paid { p.shipping_option_id.clone() } else { None },
        order_info: if paid && !p.order_info.is_empty() { Some(p.order_info.clone()) } else { None },
        subscription_expiration_date: if paid { sub.as_ref().map(|s| s.expires_at) } else { None },
        is_recurring: paid && sub.is_some(),
        is_first_recurring: paid && sub.is_some() && p.renewal == 0,
        title: load_invoice(c, &p.invoice).await?.map(|i| i.spec.title),
    })
}

// ---------------------------------------------------------------------------------------------
// The `Store` methods.

pub(super) async fn send_invoice(
    store: &PgStore,
    bot: UserId,
    chat: ChatId,
    slug: String,
    spec: InvoiceSpec,
    message: NewMessage,
    now: i64,
) -> StoreResult<Written<Message>> {
    let mut client = store.client().await?;
    let tx = write_tx(&mut client).await?;
    let (row, _, _) = resolve(&tx, bot, chat, Lock::Chat).await?;
    // Read after the chat lock, so a block committed before it was won is seen.
    if let Some(ChatRef::Private { peer }) = chat.resolve()
        && peer != bot
        && blocked_peer(&tx, row.key, peer).await? == Some(true)
    {
        return Err(Denied::Blocked.into());
    }
    if let Some(reply_to) = message.reply_to {
        load_message(&tx, row.key, reply_to).await?.ok_or(Denied::MessageNotFound)?;
    }
    let mut log = UpdateLog::new(row.key);
    let value = insert_message(&tx, &mut log, &row, bot, message, now).await?;
    execute(
        &tx,
        "INSERT INTO invoices (slug, bot_id, spec, chat_id, message_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        &[&slug, &bot.0, &codec::encode_invoice_spec(&spec), &row.key.0, &value.id.0, &now],
    )
    .await?;
    let notify = log.write(&tx).await?;
    tx.commit().await.map_err(db)?;
    Ok(Written { value, notify })
}

pub(super) async fn put_invoice(
    store: &PgStore,
    bot: UserId,
    slug: String,
    spec: InvoiceSpec,
    now: i64,
) -> StoreResult<Invoice> {
    let client = store.client().await?;
    execute(
        &client,
        "INSERT INTO invoices (slug, bot_id, spec, created_at) VALUES ($1, $2, $3, $4)",
        &[&slug, &bot.0, &codec::encode_invoice_spec(&spec), &now],
    )
    .await?;
    Ok(Invoice { slug, bot, spec, message: None, created_at: now })
}

pub(super) async fn invoice(store: &PgStore, slug: &str) -> StoreResult<Option<Invoice>> {
    let client = store.client().await?;
    load_invoice(&client, slug).await
}

pub(super) async fn start_shipping_query(
    store: &PgStore,
    user: UserId,
    invoice: &str,
    address: ShippingAddress,
    now: i64,
) -> StoreResult<Written<ShippingQuery>> {
    let mut client = store.client().await?;
    let tx = write_tx(&mut client).await?;
    let inv = load_invoice(&tx, invoice).await?.ok_or(Denied::InvoiceNotFound)?;
    let (row, _, _) = resolve(&tx, user, ChatId::private(inv.bot), Lock::None).await?;
    let inserted = query_one(
        &tx,
        "INSERT INTO shipping_queries (invoice, bot_id, user_id, chat_id, address, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        &[&invoice, &inv.bot.0, &user.0, &row.key.0, &codec::encode_address(&address), &now],
    )
    .await?;
    let id: i64 = get(&inserted, 0)?;
    let mut log = UpdateLog::new(row.key);
    log.push(inv.bot, "shipping_query", Some(id));
    let notify = log.write(&tx).await?;
    tx.commit().await.map_err(db)?;
    let query = ShippingQuery {
        id,
        invoice: invoice.to_string(),
        bot: inv.bot,
        user,
        payload: inv.spec.payload,
        address,
        created_at: now,
        answer: None,
    };
    Ok(Written { value: query, notify })
}

pub(super) async fn answer_shipping_query(
    store: &PgStore,
    bot: UserId,
    id: i64,
    answer: ShippingAnswer,
    now: i64,
) -> StoreResult<Written<ShippingQuery>> {
    let mut client = store.client().await?;
    let tx = write_tx(&mut client).await?;
    // One statement checks and answers, so of two concurrent answers the second finds the query
    // answered (READ COMMITTED re-checks the row after waiting for the first).
    let sql = format!(
        "UPDATE shipping_queries q SET answer = $1 FROM invoices i \
         WHERE i.slug = q.invoice AND q.id = $2 AND q.bot_id = $3 AND q.answer IS NULL AND $4 - q.created_at <= $5 \
         RETURNING {SHIPPING_COLS}"
    );
    let row = query_opt(&tx, &sql, &[&codec::encode_shipping_answer(&answer), &id, &bot.0, &now, &CHECKOUT_WINDOW])
        .await?
        .ok_or(Denied::QueryNotFound)?;
    let (query, chat) = shipping_at(&row)?;
    let mut log = UpdateLog::new(chat);
    log.push(query.user, "shipping_answered", Some(id));
    let notify = log.write(&tx).await?;
    tx.commit().await.map_err(db)?;
    Ok(Written { value: query, notify })
}

pub(super) async fn shipping_query(store: &PgStore, id: i64) -> StoreResult<Option<ShippingQuery>> {
    let client = store.client().await?;
    Ok(load_shipping_queries(&client, &[id]).await?.remove(&id))
}

pub(super) async fn start_payment(store: &PgStore, p: NewPayment, now: i64) -> StoreResult<Written<Payment>> {
    for _ in 0..START_ATTEMPTS {
        if let Some(written) = try_start_payment(store, &p, now).await? {
            return Ok(written);
        }
    }
    Err(StoreError::Backend(format!("start_payment lost {START_ATTEMPTS} races in a row")))
}

/// One attempt of `start_payment`; `None` when a concurrent checkout of the same key or invoice
/// committed first (the unique indexes refused this one): the next attempt returns it.
async fn try_start_payment(store: &PgStore, p: &NewPayment, now: i64) -> StoreResult<Option<Written<Payment>>> {
    let mut client = store.client().await?;
    let tx = write_tx(&mut client).await?;
    let by_key = format!("SELECT {PAYMENT_COLS} FROM payments WHERE user_id = $1 AND key = $2");
    if let Some(r) = query_opt(&tx, &by_key, &[&p.user.0, &p.key]).await? {
        let found = payment_at(&r)?;
        if found.invoice != p.invoice {
            return Err(Denied::PaymentKeyReused.into());
        }
        return Ok(Some(Written { value: found, notify: vec![] }));
    }
    let inv = load_invoice(&tx, &p.invoice).await?.ok_or(Denied::InvoiceNotFound)?;
    let open = format!(
        "SELECT {PAYMENT_COLS} FROM payments WHERE invoice = $1 AND user_id = $2 AND state IN ('pre_checkout', 'approved')"
    );
    if let Some(r) = query_opt(&tx, &open, &[&p.invoice, &p.user.0]).await? {
        return Ok(Some(Written { value: payment_at(&r)?, notify: vec![] }));
    }
    if inv.message.is_some() {
        let paid: bool = get(
            &query_one(
                &tx,
                "SELECT EXISTS (SELECT 1 FROM payments WHERE invoice = $1 AND user_id = $2 AND state IN ('paid', 'refunded'))",
                &[&p.invoice, &p.user.0],
            )
            .await?,
            0,
        )?;
        if paid {
            return Err(Denied::AlreadyPaid.into());
        }
    }
    if inv.spec.subscription_period.is_some()
        && let Some(sub) = subscription_by_invoice(&tx, &p.invoice, p.user).await?
        && sub.is_active(now)
        && !sub.lapsed
    {
        return Err(Denied::AlreadySubscribed.into());
    }
    if inv.spec.is_stars() && balance_of(&tx, Account::User(p.user)).await? < p.total_amount {
        return Err(Denied::InsufficientFunds.into());
    }
    let (row, _, _) = resolve(&tx, p.user, ChatId::private(inv.bot), Lock::None).await?;
    let (id, charge_id) = next_payment_id(&tx, inv.bot).await?;
    let sql = format!(
        "INSERT INTO payments (id, invoice, bot_id, user_id, chat_id, key, currency, total_amount, payload, \
         shipping_option, order_info, state, charge_id, card_last4, created_at, deadline) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'pre_checkout', $12, $13, $14, $15) RETURNING {PAYMENT_COLS}"
    );
    let stmt = tx.prepare_cached(&sql).await.map_err(db)?;
    let params: [&(dyn ToSql + Sync); 15] = [
        &id,
        &p.invoice,
        &inv.bot.0,
        &p.user.0,
        &row.key.0,
        &p.key,
        &inv.spec.currency,
        &p.total_amount,
        &inv.spec.payload,
        &p.shipping_option_id,
        &codec::encode_order(&p.order_info),
        &charge_id,
        &p.card_last4,
        &now,
        &p.deadline,
    ];
    // A checkout racing this one for the same key, or the same invoice, passes the checks above;
    // the unique indexes then refuse one of the two, and it starts over.
    let inserted = match tx.query_one(&stmt, &params).await {
        Ok(r) => r,
        Err(e) if is_unique_violation(&e) => return Ok(None),
        Err(e) => return Err(db(e)),
    };
    let value = payment_at(&inserted)?;
    let mut log = UpdateLog::new(row.key);
    log.push(inv.bot, "pre_checkout_query", Some(id));
    let notify = log.write(&tx).await?;
    tx.commit().await.map_err(db)?;
    Ok(Some(Written { value, notify }))
}

pub(super) async fn answer_pre_checkout(
    store: &PgStore,
    bot: UserId,
    id: i64,
    accept: Result<(), String>,
    now: i64,
) -> StoreResult<Written<Payment>> {
    let mut client = store.client().await?;
    let tx = write_tx(&mut client).await?;
    let p = lock_payment(&tx, id)
        .await?
        .filter(|p| p.bot == bot && p.state == PaymentState::PreCheckout && now <= p.deadline)
        .ok_or(Denied::PaymentClosed)?;
    let mut log = UpdateLog::new(p.chat);
    let too_low = || Some("BALANCE_TOO_LOW".to_string());
    let value = match accept {
        Err(reason) => finish_payment(&tx, &mut log, &p, PaymentState::Declined, Some(reason), now).await?,
        Ok(()) if p.currency == STARS => {
            if balance_of(&tx, Account::User(p.user)).await? < p.total_amount {
                finish_payment(&tx, &mut log, &p, PaymentState::Failed, too_low(), now).await?
            } else {
                let row = lock_for_pay(&tx, &p).await?;
                match pay(&tx, &mut log, &row, &p, None, now).await {
                    // Spent meanwhile: nothing was written yet (see `pay`).
                    Err(StoreError::Denied(Denied::InsufficientFunds)) => {
                        finish_payment(&tx, &mut log, &p, PaymentState::Failed, too_low(), now).await?
                    }
                    other => other?,
                }
            }
        }
        Ok(()) => {
            let value = set_payment_state(&tx, id, PaymentState::Approved, None, None, None).await?;
            log.push(p.user, "payment_updated", Some(id));
            value
        }
    };
    let notify = log.write(&tx).await?;
    tx.commit().await.map_err(db)?;
    Ok(Written { value, notify })
}

pub(super) async fn finish_card_payment(
    store: &PgStore,
    id: i64,
    outcome: Result<String, String>,
    now: i64,
) -> StoreResult<Written<Payment>> {
    let mut client = store.client().await?;
    let tx = write_tx(&mut client).await?;
    let p = lock_payment(&tx, id).await?.ok_or(Denied::PaymentNotFound)?;
    if p.state != PaymentState::Approved {
        return Ok(Written { value: p, notify: vec![] });
    }
    let mut log = UpdateLog::new(p.chat);
    let value = match outcome {
        Ok(charge) => {
            let row = lock_for_pay(&tx, &p).await?;
            pay(&tx, &mut log, &row, &p, Some(charge), now).await?
        }
        Err(reason) => finish_payment(&tx, &mut log, &p, PaymentState::Failed, Some(reason), now).await?,
    };
    let notify = log.write(&tx).await?;
    tx.commit().await.map_err(db)?;
    Ok(Written { value, notify })
}

pub(super) async fn cancel_payment(store: &PgStore, id: i64, now: i64) -> StoreResult<Written<Payment>> {
    let mut client = store.client().await?;
    let tx = write_tx(&mut client).await?;
    let p = lock_payment(&tx, id).await?.ok_or(Denied::PaymentNotFound)?;
    if p.state != PaymentState::PreCheckout {
        return Ok(Written { value: p, notify: vec![] });
    }
    let mut log = UpdateLog::new(p.chat);
    let value = finish_payment(&tx, &mut log, &p, PaymentState::Cancelled, None, now).await?;
    let notify = log.write(&tx).await?;
    tx.commit().await.map_err(db)?;
    Ok(Written { value, notify })
}

pub(super) async fn payment(store: &PgStore, id: i64) -> StoreResult<Option<Payment>> {
    let client = store.client().await?;
    load_payment(&client, id).await
}

pub(super) async fn payment_by_charge(store: &PgStore, bot: UserId, charge_id: &str) -> StoreResult<Option<Payment>> {
    let client = store.client().await?;
    let sql = format!("SELECT {PAYMENT_COLS} FROM payments WHERE charge_id = $1 AND bot_id = $2");
    query_opt(&client, &sql, &[&charge_id, &bot.0]).await?.map(|r| payment_at(&r)).transpose()
}

pub(super) async fn open_payments(store: &PgStore, limit: u32) -> StoreResult<Vec<Payment>> {
    let client = store.client().await?;
    let sql = format!(
        "SELECT {PAYMENT_COLS} FROM payments WHERE state IN ('pre_checkout', 'approved') ORDER BY deadline, id LIMIT $1"
    );
    query(&client, &sql, &[&i64::from(limit)]).await?.iter().map(payment_at).collect()
}

pub(super) async fn user_payments(store: &PgStore, user: UserId, limit: u32) -> StoreResult<Vec<Payment>> {
    let client = store.client().await?;
    let sql = format!("SELECT {PAYMENT_COLS} FROM payments WHERE user_id = $1 ORDER BY id DESC LIMIT $2");
    query(&client, &sql, &[&user.0, &i64::from(limit)]).await?.iter().map(payment_at).collect()
}

pub(super) async fn paid_payment(store: &PgStore, user: UserId, invoice: &str) -> StoreResult<Option<Payment>> {
    let client = store.client().await?;
    let sql = format!(
        "SELECT {PAYMENT_COLS} FROM payments WHERE invoice = $1 AND user_id = $2 AND state IN ('paid', 'refunded') \
         ORDER BY id DESC LIMIT 1"
    );
    query_opt(&client, &sql, &[&invoice, &user.0]).await?.as_ref().map(payment_at).transpose()
}

pub(super) async fn refund_payment(
    store: &PgStore,
    bot: UserId,
    user: UserId,
    charge_id: &str,
    now: i64,
) -> StoreResult<Written<Payment>> {
    let mut client = store.client().await?;
    let tx = write_tx(&mut client).await?;
    let sql =
        format!("SELECT {PAYMENT_COLS} FROM payments WHERE charge_id = $1 AND bot_id = $2 AND user_id = $3 FOR UPDATE");
    let p = payment_at(&query_opt(&tx, &sql, &[&charge_id, &bot.0, &user.0]).await?.ok_or(Denied::PaymentNotFound)?)?;
    match p.state {
        PaymentState::Refunded => return Err(Denied::AlreadyRefunded.into()),
        PaymentState::Paid if p.currency == STARS => {}
        _ => return Err(Denied::PaymentNotFound.into()),
    }
    let row = lock_chat(&tx, p.chat).await?;
    let t = NewTransfer::new(
        &format!("refund:{}", p.id),
        Account::User(bot),
        Account::User(user),
        p.total_amount,
        "refund",
    )
    .map_err(|e| StoreError::Backend(e.reason))?;
    // The bot needs the Stars: `InsufficientFunds` otherwise, before anything was written.
    if let TransferOutcome::KeyTaken = apply_transfer(&tx, &t, now).await? {
        return Err(StoreError::Backend(format!("transfer key {} taken", t.key)));
    }
    let p = set_payment_state(&tx, p.id, PaymentState::Refunded, None, None, Some(now)).await?;
    let receipt = receipt_of(&tx, &p, false).await?;
    let mut log = UpdateLog::new(p.chat);
    let message = NewMessage::service(ServiceAction::RefundedPayment(Box::new(receipt)));
    insert_message(&tx, &mut log, &row, user, message, now).await?;
    log.push(user, "payment_updated", Some(p.id));
    let notify = log.write(&tx).await?;
    tx.commit().await.map_err(db)?;
    Ok(Written { value: p, notify })
}

pub(super) async fn subscriptions(store: &PgStore, user: UserId) -> StoreResult<Vec<Subscription>> {
    let client = store.client().await?;
    let sql = format!("SELECT {SUBSCRIPTION_COLS} FROM subscriptions WHERE user_id = $1 ORDER BY expires_at, id");
    query(&client, &sql, &[&user.0]).await?.iter().map(subscription_at).collect()
}

pub(super) async fn subscription(store: &PgStore, id: i64) -> StoreResult<Option<Subscription>> {
    let client = store.client().await?;
    load_subscription(&client, id).await
}

pub(super) async fn set_subscription_canceled(
    store: &PgStore,
    id: i64,
    by_bot: bool,
    canceled: bool,
) -> StoreResult<Subscription> {
    let client = store.client().await?;
    let sql = if by_bot {
        format!("UPDATE subscriptions SET canceled_by_bot = $1 WHERE id = $2 RETURNING {SUBSCRIPTION_COLS}")
    } else {
        format!("UPDATE subscriptions SET canceled_by_user = $1 WHERE id = $2 RETURNING {SUBSCRIPTION_COLS}")
    };
    let row = query_opt(&client, &sql, &[&canceled, &id]).await?.ok_or(Denied::SubscriptionNotFound)?;
    subscription_at(&row)
}

pub(super) async fn due_subscriptions(store: &PgStore, now: i64, limit: u32) -> StoreResult<Vec<Subscription>> {
    let client = store.client().await?;
    let sql = format!(
        "SELECT {SUBSCRIPTION_COLS} FROM subscriptions WHERE NOT lapsed AND expires_at <= $1 \
         ORDER BY expires_at, id LIMIT $2"
    );
    query(&client, &sql, &[&now, &i64::from(limit)]).await?.iter().map(subscription_at).collect()
}

pub(super) async fn renew_subscription(store: &PgStore, id: i64, now: i64) -> StoreResult<Written<Option<Payment>>> {
    let nothing = || Ok(Written { value: None, notify: vec![] });
    let mut client = store.client().await?;
    let tx = write_tx(&mut client).await?;
    // Locked before it is read, so of two renewals at once the second finds it renewed.
    let sql = format!("SELECT {SUBSCRIPTION_COLS} FROM subscriptions WHERE id = $1 FOR UPDATE");
    let Some(sub) = query_opt(&tx, &sql, &[&id]).await?.map(|r| subscription_at(&r)).transpose()? else {
        return nothing();
    };
    if sub.lapsed || sub.expires_at > now {
        return nothing();
    }
    let inv = load_invoice(&tx, &sub.invoice).await?.ok_or(Denied::InvoiceNotFound)?;
    let chat = match resolve(&tx, sub.user, ChatId::private(sub.bot), Lock::Chat).await {
        Ok((row, _, _)) => Some(row),
        Err(StoreError::Denied(_)) => None,
        Err(e) => return Err(e),
    };
    let affordable = balance_of(&tx, Account::User(sub.user)).await? >= sub.amount;
    let (Some(row), true, true) = (chat, sub.renews(), affordable) else {
        execute(&tx, "UPDATE subscriptions SET lapsed = TRUE WHERE id = $1", &[&id]).await?;
        tx.commit().await.map_err(db)?;
        return nothing();
    };
    // The person is buying it again right now: that checkout decides (paid, it restarts the
    // subscription; otherwise a later renewal charges).
    let buying: bool = get(
        &query_one(
            &tx,
            "SELECT EXISTS (SELECT 1 FROM payments WHERE invoice = $1 AND user_id = $2 \
             AND state IN ('pre_checkout', 'approved'))",
            &[&sub.invoice, &sub.user.0],
        )
        .await?,
        0,
    )?;
    if buying {
        return nothing();
    }
    let renewal = sub.renewals + 1;
    let (pid, charge_id) = next_payment_id(&tx, sub.bot).await?;
    let sql = format!(
        "INSERT INTO payments (id, invoice, bot_id, user_id, chat_id, key, currency, total_amount, payload, \
         state, charge_id, subscription_id, renewal, created_at, deadline) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pre_checkout', $10, $11, $12, $13, $13) RETURNING {PAYMENT_COLS}"
    );
    let stmt = tx.prepare_cached(&sql).await.map_err(db)?;
    let params: [&(dyn ToSql + Sync); 13] = [
        &pid,
        &sub.invoice,
        &sub.bot.0,
        &sub.user.0,
        &row.key.0,
        // Names the period renewed: renewal numbers start over when it is bought again.
        &format!("renew:{id}:{}", sub.expires_at),
        &STARS,
        &sub.amount,
        &inv.spec.payload,
        &charge_id,
        &id,
        &i32::try_from(renewal).map_err(StoreError::backend)?,
        &now,
    ];
    let inserted = match tx.query_one(&stmt, &params).await {
        Ok(r) => r,
        // A checkout of it committed since the look above: it decides, as there.
        Err(e) if e.as_db_error().and_then(|d| d.constraint()) == Some("payments_one_open") => return nothing(),
        Err(e) => return Err(db(e)),
    };
    let p = payment_at(&inserted)?;
    let mut log = UpdateLog::new(row.key);
    let value = pay(&tx, &mut log, &row, &p, None, now).await?;
    let notify = log.write(&tx).await?;
    tx.commit().await.map_err(db)?;
    Ok(Written { value: Some(value), notify })
}
