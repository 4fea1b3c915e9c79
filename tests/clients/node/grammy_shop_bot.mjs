// A grammY shop, written as its payments docs show, pointed at Plaza.
//
// Configured through the environment: PLAZA_URL, BOT_TOKEN, PROVIDER_TOKEN (a test card provider's
// token) and SUB_PERIOD (the subscription period in seconds; Plaza's sandbox accepts short ones).
// Prints READY once it receives updates. Driven by crates/server/tests/payments.rs; the commands
// and answers are the same as tests/clients/python/ptb_shop_bot.py's.

import { Bot, GrammyError } from "grammy";

const PLAZA_URL = process.env.PLAZA_URL.replace(/\/+$/, "");
const BOT_TOKEN = process.env.BOT_TOKEN;
const PROVIDER_TOKEN = process.env.PROVIDER_TOKEN;
const SUB_PERIOD = Number(process.env.SUB_PERIOD ?? 2592000);

const bot = new Bot(BOT_TOKEN, { client: { apiRoot: PLAZA_URL } });

bot.command("stars", (ctx) => ctx.replyWithInvoice("Coffee", "A cup of coffee", "coffee", "XTR", [{ label: "Coffee", amount: 5 }]));

bot.command("refuse", (ctx) =>
  ctx.replyWithInvoice("Cake", "The last piece of cake", "refuse", "XTR", [{ label: "Cake", amount: 3 }]),
);

bot.command("card", (ctx) =>
  ctx.replyWithInvoice(
    "Book",
    "A paperback",
    "book",
    "USD",
    [
      { label: "Book", amount: 1250 },
      { label: "Discount", amount: -250 },
    ],
    { provider_token: PROVIDER_TOKEN, need_email: true, max_tip_amount: 500, suggested_tip_amounts: [100, 200] },
  ),
);

bot.command("sub", async (ctx) => {
  const link = await ctx.api.createInvoiceLink("Club", "Members' club", "club", "", "XTR", [{ label: "Month", amount: 2 }], {
    subscription_period: SUB_PERIOD,
  });
  await ctx.reply(`link ${link}`);
});

bot.on("pre_checkout_query", (ctx) =>
  ctx.preCheckoutQuery.invoice_payload === "refuse"
    ? ctx.answerPreCheckoutQuery(false, { error_message: "Sold out" })
    : ctx.answerPreCheckoutQuery(true),
);

bot.on("message:successful_payment", (ctx) => {
  const p = ctx.message.successful_payment;
  return ctx.reply(
    `paid ${p.invoice_payload} ${p.total_amount} ${p.currency} charge=${p.telegram_payment_charge_id} ` +
      `provider=${p.provider_payment_charge_id || "-"} email=${p.order_info?.email ?? "-"} ` +
      `recurring=${p.is_recurring ? "True" : "False"} first=${p.is_first_recurring ? "True" : "False"} ` +
      `expires=${p.subscription_expiration_date ?? "-"}`,
  );
});

bot.on("message:refunded_payment", (ctx) => {
  const r = ctx.message.refunded_payment;
  return ctx.reply(`refund noted ${r.total_amount} ${r.currency} charge=${r.telegram_payment_charge_id}`);
});

bot.command("refund", async (ctx) => {
  try {
    await ctx.api.refundStarPayment(ctx.from.id, ctx.match.trim());
    await ctx.reply("refunded");
  } catch (e) {
    if (!(e instanceof GrammyError)) throw e;
    await ctx.reply(`caught ${e.constructor.name}: ${e.description}`);
  }
});

bot.command("unsub", async (ctx) => {
  await ctx.api.editUserStarSubscription(ctx.from.id, ctx.match.trim(), true);
  await ctx.reply("subscription cancelled");
});

bot.command("balance", async (ctx) => {
  const amount = await ctx.api.getMyStarBalance();
  const transactions = await ctx.api.getStarTransactions();
  await ctx.reply(`balance ${amount.amount} transactions ${transactions.transactions.length}`);
});

bot.catch((err) => console.error("grammY: error while handling an update:", err.error));

await bot.start({
  allowed_updates: ["message", "pre_checkout_query", "shipping_query", "callback_query"],
  onStart: () => console.log("READY"),
});
