// A grammY bot, written as its documentation shows, pointed at Plaza.
//
// Configured only through the environment: PLAZA_URL (the API root, e.g. http://127.0.0.1:8080),
// BOT_TOKEN, MODE (`polling` or `webhook`) and WEBHOOK_PORT (webhook mode). Prints READY once it
// receives updates. Driven by crates/server/tests/real_clients.rs.

import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { Bot, GrammyError, InlineKeyboard, InputFile, Keyboard, webhookCallback } from "grammy";
import { png } from "./pixel.mjs";

const PLAZA_URL = process.env.PLAZA_URL.replace(/\/+$/, "");
const BOT_TOKEN = process.env.BOT_TOKEN;
const MODE = process.env.MODE ?? "polling";

const COMMANDS = [
  { command: "start", description: "Say hello" },
  { command: "help", description: "What this bot does" },
  { command: "photo", description: "Send a photo and download it back" },
  { command: "error", description: "Provoke an API error" },
  { command: "delete", description: "Send a message and delete it" },
];

const escapeHtml = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

const bot = new Bot(BOT_TOKEN, { client: { apiRoot: PLAZA_URL } });

bot.command("start", async (ctx) => {
  const keyboard = new InlineKeyboard().text("Press", "press:1");
  await ctx.reply(`<b>Hello</b>, ${escapeHtml(ctx.from.first_name)}! payload=${escapeHtml(ctx.match)}`, {
    parse_mode: "HTML",
    reply_markup: keyboard,
  });
});

bot.command("help", (ctx) => ctx.reply("Commands: /start /help /photo /error /delete"));

bot.callbackQuery("press:1", async (ctx) => {
  await ctx.answerCallbackQuery({ text: "pressed 1", show_alert: true });
  await ctx.editMessageText("Pressed!");
});

bot.command("delete", async (ctx) => {
  const sent = await ctx.reply("to be deleted");
  await ctx.api.deleteMessage(sent.chat.id, sent.message_id);
  await ctx.reply("deleted");
});

bot.command("error", async (ctx) => {
  try {
    await ctx.api.sendMessage(999999999, "nobody is there");
  } catch (e) {
    if (!(e instanceof GrammyError)) throw e;
    await ctx.reply(`caught ${e.constructor.name}: ${e.description}`);
  }
});

bot.command("photo", async (ctx) => {
  const sent = await ctx.replyWithPhoto(new InputFile(png(), "pixel.png"), { caption: "a photo" });
  const file = await ctx.api.getFile(sent.photo.at(-1).file_id);
  const resp = await fetch(`${PLAZA_URL}/file/bot${BOT_TOKEN}/${file.file_path}`);
  if (!resp.ok) throw new Error(`download failed: ${resp.status}`);
  const bytes = new Uint8Array(await resp.arrayBuffer());
  await ctx.reply(`downloaded ${bytes.length} bytes`);
});

// A reply keyboard, a poll and a mini app (not in the command list, which the library tests check exactly); pressing a
// button sends its text, answered with the keyboard removed.
bot.command("keyboard", (ctx) =>
  ctx.reply("Pick a colour", {
    reply_markup: new Keyboard().text("Red").text("Green").row().text("Blue").resized().oneTime().placeholder("Colour?"),
  }),
);
// A mini app behind an inline button: `/webapp <url>`.
bot.command("webapp", (ctx) =>
  ctx.reply("Open the app", { reply_markup: new InlineKeyboard().webApp("Open app", ctx.match.trim()) }),
);
// …and behind a reply-keyboard button, whose sendData comes back as web_app_data.
bot.command("webappkb", (ctx) =>
  ctx.reply("Order from the app", { reply_markup: new Keyboard().webApp("Order", ctx.match.trim()).resized() }),
);
bot.on("message:web_app_data", (ctx) =>
  ctx.reply(`got ${ctx.message.web_app_data.data} from ${ctx.message.web_app_data.button_text}`, {
    reply_markup: { remove_keyboard: true },
  }),
);
bot.command("poll", (ctx) => ctx.replyWithPoll("Best colour?", ["Red", "Green", "Blue"], { is_anonymous: false }));
bot.hears(["Red", "Green", "Blue"], (ctx) => ctx.reply(`You picked ${ctx.message.text}`, { reply_markup: { remove_keyboard: true } }));

bot.on("message:text", (ctx) => ctx.reply(`echo: ${ctx.message.text}`));

bot.catch((err) => console.error("grammY: error while handling an update:", err.error));

await bot.api.setMyCommands(COMMANDS);

if (MODE === "webhook") {
  const port = Number(process.env.WEBHOOK_PORT);
  const secretToken = randomBytes(18).toString("base64url");
  const server = createServer(webhookCallback(bot, "http", { secretToken }));
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  await bot.api.setWebhook(`http://127.0.0.1:${port}/grammy`, { secret_token: secretToken });
  console.log("READY");
} else {
  await bot.start({ onStart: () => console.log("READY") });
}
