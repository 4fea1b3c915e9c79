"""An aiogram 3 bot, written as its documentation shows, pointed at Plaza.

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

from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

from pixel import png

PLAZA_URL = os.environ["PLAZA_URL"].rstrip("/")
BOT_TOKEN = os.environ["BOT_TOKEN"]
MODE = os.environ.get("MODE", "polling")
WEBHOOK_PATH = "/aiogram"
WEBHOOK_SECRET = secrets.token_urlsafe(24)

COMMANDS = [
    BotCommand(command="start", description="Say hello"),
    BotCommand(command="help", description="What this bot does"),
    BotCommand(command="photo", description="Send a photo and download it back"),
    BotCommand(command="error", description="Provoke an API error"),
    BotCommand(command="delete", description="Send a message and delete it"),
]

router = Router()


@router.message(CommandStart())
async def start(message: Message, command: CommandObject) -> None:
    keyboard = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Press", callback_data="press:1")]])
    name = html.escape(message.from_user.first_name)
    await message.answer(
        f"<b>Hello</b>, {name}! payload={html.escape(command.args or '')}",
        parse_mode=ParseMode.HTML,
        reply_markup=keyboard,
    )


@router.message(Command("help"))
async def help_command(message: Message) -> None:
    await message.answer("Commands: /start /help /photo /error /delete")


@router.callback_query(F.data == "press:1")
async def press(callback: CallbackQuery) -> None:
    await callback.answer(text="pressed 1", show_alert=True)
    await callback.message.edit_text("Pressed!")


@router.message(Command("delete"))
async def delete(message: Message) -> None:
    sent = await message.answer("to be deleted")
    await sent.delete()
    await message.answer("deleted")


@router.message(Command("error"))
async def error(message: Message, bot: Bot) -> None:
    try:
        await bot.send_message(chat_id=999999999, text="nobody is there")
    except TelegramBadRequest as e:
        await message.answer(f"caught {type(e).__name__}: {e.message}")


@router.message(Command("photo"))
async def photo(message: Message, bot: Bot) -> None:
    sent = await message.answer_photo(BufferedInputFile(png(), filename="pixel.png"), caption="a photo")
    downloaded = await bot.download(sent.photo[-1])
    await message.answer(f"downloaded {len(downloaded.getvalue())} bytes")


@router.message(F.text)
async def echo(message: Message) -> None:
    await message.answer(f"echo: {message.text}")


async def on_startup(bot: Bot) -> None:
    await bot.set_my_commands(COMMANDS)
    if MODE == "webhook":
        port = int(os.environ["WEBHOOK_PORT"])
        await bot.set_webhook(f"http://127.0.0.1:{port}{WEBHOOK_PATH}", secret_token=WEBHOOK_SECRET)
    else:
        print("READY", flush=True)


async def main() -> None:
    session = AiohttpSession(api=TelegramAPIServer.from_base(PLAZA_URL))
    bot = Bot(BOT_TOKEN, session=session, default=DefaultBotProperties())
    dp = Dispatcher()
    dp.include_router(router)
    dp.startup.register(on_startup)

    if MODE != "webhook":
        await dp.start_polling(bot)
        return

    app = web.Application()
    SimpleRequestHandler(dispatcher=dp, bot=bot, secret_token=WEBHOOK_SECRET).register(app, path=WEBHOOK_PATH)
    setup_application(app, dp, bot=bot)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", int(os.environ["WEBHOOK_PORT"]))
    await site.start()
    print("READY", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(main())
