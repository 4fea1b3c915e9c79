"""A python-telegram-bot shop, written as its payments examples show, pointed at Plaza.

Configured through the environment: PLAZA_URL, BOT_TOKEN, PROVIDER_TOKEN (a test card provider's
token) and SUB_PERIOD (the subscription period in seconds; Plaza's sandbox accepts short ones).
Prints READY once it receives updates. Driven by crates/server/tests/payments.rs:

/stars   an invoice for 5 Stars             /refuse  one the bot refuses at pre-checkout
/card    a card invoice (USD, email, tips)   /sub     a subscription link (2 Stars a period)
/refund <charge>   refundStarPayment        /unsub <charge>  editUserStarSubscription
Every successful_payment and refunded_payment is answered with a line the test reads.
"""

import asyncio
import logging
import os
import signal

from telegram import LabeledPrice, Update
from telegram.error import BadRequest
from telegram.ext import (
    ApplicationBuilder,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    PreCheckoutQueryHandler,
    filters,
)

PLAZA_URL = os.environ["PLAZA_URL"].rstrip("/")
BOT_TOKEN = os.environ["BOT_TOKEN"]
PROVIDER_TOKEN = os.environ["PROVIDER_TOKEN"]
SUB_PERIOD = int(os.environ.get("SUB_PERIOD", "2592000"))

logging.basicConfig(format="%(asctime)s - %(name)s - %(levelname)s - %(message)s", level=logging.INFO)
logging.getLogger("httpx").setLevel(logging.WARNING)


async def stars(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.message.reply_invoice(
        title="Coffee",
        description="A cup of coffee",
        payload="coffee",
        currency="XTR",
        prices=[LabeledPrice("Coffee", 5)],
    )


async def refuse(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.message.reply_invoice(
        title="Cake",
        description="The last piece of cake",
        payload="refuse",
        currency="XTR",
        prices=[LabeledPrice("Cake", 3)],
    )


async def card(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.message.reply_invoice(
        title="Book",
        description="A paperback",
        payload="book",
        provider_token=PROVIDER_TOKEN,
        currency="USD",
        prices=[LabeledPrice("Book", 1250), LabeledPrice("Discount", -250)],
        need_email=True,
        max_tip_amount=500,
        suggested_tip_amounts=[100, 200],
    )


async def sub(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    link = await context.bot.create_invoice_link(
        title="Club",
        description="Members' club",
        payload="club",
        currency="XTR",
        prices=[LabeledPrice("Month", 2)],
        subscription_period=SUB_PERIOD,
    )
    await update.message.reply_text(f"link {link}")


async def pre_checkout(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.pre_checkout_query
    if query.invoice_payload == "refuse":
        await query.answer(ok=False, error_message="Sold out")
    else:
        await query.answer(ok=True)


async def paid(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    p = update.message.successful_payment
    email = p.order_info.email if p.order_info else None
    await update.message.reply_text(
        f"paid {p.invoice_payload} {p.total_amount} {p.currency} charge={p.telegram_payment_charge_id} "
        f"provider={p.provider_payment_charge_id or '-'} email={email or '-'} "
        f"recurring={bool(p.is_recurring)} first={bool(p.is_first_recurring)} "
        f"expires={p.subscription_expiration_date.timestamp() if p.subscription_expiration_date else '-'}"
    )


async def refunded(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    r = update.message.refunded_payment
    await update.message.reply_text(f"refund noted {r.total_amount} {r.currency} charge={r.telegram_payment_charge_id}")


async def refund(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    charge = " ".join(context.args or [])
    try:
        await context.bot.refund_star_payment(user_id=update.effective_user.id, telegram_payment_charge_id=charge)
        await update.message.reply_text("refunded")
    except BadRequest as e:
        await update.message.reply_text(f"caught {type(e).__name__}: {e.message}")


async def unsub(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    charge = " ".join(context.args or [])
    await context.bot.edit_user_star_subscription(
        user_id=update.effective_user.id, telegram_payment_charge_id=charge, is_canceled=True
    )
    await update.message.reply_text("subscription cancelled")


async def balance(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    amount = await context.bot.get_my_star_balance()
    transactions = await context.bot.get_star_transactions()
    await update.message.reply_text(f"balance {amount.amount} transactions {len(transactions.transactions)}")


async def main() -> None:
    application = (
        ApplicationBuilder()
        .token(BOT_TOKEN)
        .base_url(f"{PLAZA_URL}/bot")
        .base_file_url(f"{PLAZA_URL}/file/bot")
        .build()
    )
    application.add_handler(CommandHandler("stars", stars))
    application.add_handler(CommandHandler("refuse", refuse))
    application.add_handler(CommandHandler("card", card))
    application.add_handler(CommandHandler("sub", sub))
    application.add_handler(CommandHandler("refund", refund))
    application.add_handler(CommandHandler("unsub", unsub))
    application.add_handler(CommandHandler("balance", balance))
    application.add_handler(PreCheckoutQueryHandler(pre_checkout))
    application.add_handler(MessageHandler(filters.SUCCESSFUL_PAYMENT, paid))
    application.add_handler(MessageHandler(filters.StatusUpdate.REFUNDED_PAYMENT, refunded))

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async with application:
        await application.updater.start_polling(allowed_updates=Update.ALL_TYPES)
        await application.start()
        print("READY", flush=True)
        await stop.wait()
        await application.updater.stop()
        await application.stop()


if __name__ == "__main__":
    asyncio.run(main())
