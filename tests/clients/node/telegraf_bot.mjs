// A telegraf 4 bot, written as its documentation shows, pointed at Plaza.
//
// Configured only through the environment: PLAZA_URL (the API root, e.g. http://127.0.0.1:8080),
// BOT_TOKEN, MODE (`polling` or `webhook`) and WEBHOOK_PORT (webhook mode). Prints READY once it
// receives updates. Driven by crates/server/tests/real_clients.rs.
//
// Webhook mode serves `bot.webhookCallback` on node:http and calls `setWebhook` itself:
// `launch({ webhook })` and `createWebhook` always build an https:// URL, and the bot here serves
// plain HTTP on loopback.
//
// With telegraf's default `webhookReply: true`, the first answerCallbackQuery or deleteMessage of a
// handler rides on the webhook's HTTP answer ("webhook reply") and Plaza executes it.

import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { Input, Markup, Telegraf, TelegramError } from "telegraf";
import { message } from "telegraf/filters";
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

const bot = new Telegraf(BOT_TOKEN, { telegram: { apiRoot: PLAZA_URL } });

bot.start(async (ctx) => {
  await ctx.replyWithHTML(
    `<b>Hello</b>, ${escapeHtml(ctx.from.first_name)}! payload=${escapeHtml(ctx.payload)}`,
    Markup.inlineKeyboard([Markup.button.callback("Press", "press:1")]),
  );
});

bot.help((ctx) => ctx.reply("Commands: /start /help /photo /error /delete"));

bot.action("press:1", async (ctx) => {
  await ctx.answerCbQuery("pressed 1", { show_alert: true });
  await ctx.editMessageText("Pressed!");
});

bot.command("delete", async (ctx) => {
  const sent = await ctx.reply("to be deleted");
  await ctx.deleteMessage(sent.message_id);
  await ctx.reply("deleted");
});

bot.command("error", async (ctx) => {
  try {
    await ctx.telegram.sendMessage(999999999, "nobody is there");
  } catch (e) {
    if (!(e instanceof TelegramError)) throw e;
    await ctx.reply(`caught ${e.constructor.name}: ${e.description}`);
  }
});

bot.command("photo", async (ctx) => {
  const sent = await ctx.replyWithPhoto(Input.fromBuffer(png(), "pixel.png"), { caption: "a photo" });
  const link = await ctx.telegram.getFileLink(sent.photo.at(-1).file_id);
  const resp = await fetch(link);
  if (!resp.ok) throw new Error(`download failed: ${resp.status}`);
  const bytes = new Uint8Array(await resp.arrayBuffer());
  await ctx.reply(`downloaded ${bytes.length} bytes`);
});

bot.on(message("text"), (ctx) => ctx.reply(`echo: ${ctx.message.text}`));

bot.catch((err) => console.error("telegraf: error while handling an update:", err));

await bot.telegram.setMyCommands(COMMANDS);

if (MODE === "webhook") {
  const port = Number(process.env.WEBHOOK_PORT);
  const path = "/telegraf";
  const secretToken = randomBytes(18).toString("base64url");
  const server = createServer(bot.webhookCallback(path, { secretToken }));
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  await bot.telegram.setWebhook(`http://127.0.0.1:${port}${path}`, { secret_token: secretToken });
  console.log("READY");
} else {
  await bot.launch(() => console.log("READY"));
}
