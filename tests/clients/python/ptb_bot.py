"""A python-telegram-bot bot, written as its documentation shows, pointed at Plaza.

Configured only through the environment: PLAZA_URL (the API root, e.g. http://127.0.0.1:8080),
BOT_TOKEN, MODE (`polling` or `webhook`) and WEBHOOK_PORT (webhook mode). Prints READY once it
receives updates. Driven by crates/server/tests/real_clients.rs.
"""

import asyncio
import html
import logging
import os
import secrets
import signal

from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import (
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from pixel import png

PLAZA_URL = os.environ["PLAZA_URL"].rstrip("/")
BOT_TOKEN = os.environ["BOT_TOKEN"]
MODE = os.environ.get("MODE", "polling")

logging.basicConfig(format="%(asctime)s - %(name)s - %(levelname)s - %(message)s", level=logging.INFO)
logging.getLogger("httpx").setLevel(logging.WARNING)

COMMANDS = [
    BotCommand("start", "Say hello"),
    BotCommand("help", "What this bot does"),
    BotCommand("photo", "Send a photo and download it back"),
    BotCommand("error", "Provoke an API error"),
    BotCommand("delete", "Send a message and delete it"),
]


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    payload = " ".join(context.args or [])
    name = html.escape(update.effective_user.first_name)
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Press", callback_data="press:1")]])
    await update.message.reply_text(
        f"<b>Hello</b>, {name}! payload={html.escape(payload)}",
        parse_mode=ParseMode.HTML,
        reply_markup=keyboard,
    )


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.message.reply_text("Commands: /start /help /photo /error /delete")


async def press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    await query.answer(text="pressed 1", show_alert=True)
    await query.edit_message_text("Pressed!")


async def delete(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    sent = await update.message.reply_text("to be deleted")
    await sent.delete()
    await update.message.reply_text("deleted")


async def error(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    try:
        await context.bot.send_message(chat_id=999999999, text="nobody is there")
    except BadRequest as e:
        await update.message.reply_text(f"caught {type(e).__name__}: {e.message}")


async def photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    data = png()
    sent = await update.message.reply_photo(photo=data, caption="a photo", filename="pixel.png")
    file = await context.bot.get_file(sent.photo[-1].file_id)
    downloaded = await file.download_as_bytearray()
    await update.message.reply_text(f"downloaded {len(downloaded)} bytes")


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.message.reply_text(f"echo: {update.message.text}")


async def main() -> None:
    application = (
        ApplicationBuilder()
        .token(BOT_TOKEN)
        .base_url(f"{PLAZA_URL}/bot")
        .base_file_url(f"{PLAZA_URL}/file/bot")
        .build()
    )
    application.add_handler(CommandHandler("start", start))
    application.add_handler(CommandHandler("help", help_command))
    application.add_handler(CommandHandler("delete", delete))
    application.add_handler(CommandHandler("error", error))
    application.add_handler(CommandHandler("photo", photo))
    application.add_handler(CallbackQueryHandler(press, pattern="^press:1$"))
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    # The documented way to run the application inside one's own event loop (what run_polling and
    # run_webhook do), so READY can be printed once the updater really receives updates.
    async with application:
        await application.bot.set_my_commands(COMMANDS)
        if MODE == "webhook":
            port = int(os.environ["WEBHOOK_PORT"])
            await application.updater.start_webhook(
                listen="127.0.0.1",
                port=port,
                url_path="ptb",
                webhook_url=f"http://127.0.0.1:{port}/ptb",
                secret_token=secrets.token_urlsafe(24),
            )
        else:
            await application.updater.start_polling()
        await application.start()
        print("READY", flush=True)
        await stop.wait()
        await application.updater.stop()
        await application.stop()


if __name__ == "__main__":
    asyncio.run(main())
