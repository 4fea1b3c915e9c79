// Mini apps written with the real SDKs, hosted by Plaza and opened in its web client in headless
// Chromium (Debian's, driven by playwright-core): one built with @telegram-apps/sdk ("tma"), one
// with @twa-dev/sdk ("twa"), both from tests/clients/webapps/ and bundled by build_webapps.mjs.
// Each is opened from an inline web_app button and goes through launch (user, platform, version,
// query_id), theme (at launch and when the client turns dark), the back button, a popup,
// CloudStorage (its own value, and the other app's), and its main button: the app posts its init
// data to the app backend here, which validates it with @telegram-apps/init-data-node and answers
// with answerWebAppQuery; the answer shows in the chat "via @bot" and the app closes. Each is then
// opened from a reply-keyboard button, where its main button calls sendData and the bot gets
// web_app_data. The @telegram-apps/sdk app then pays an invoice link with invoice.open: the client's
// payment sheet opens over the app, the person pays in Stars (topped up, the server is a sandbox),
// the bot accepts the pre-checkout query, and the app receives invoice_closed "paid".
//
// Driven by crates/server/tests/miniapp_sdk.rs, which runs Plaza, builds and deploys the apps.
// Environment: PLAZA_URL, BOT_USERNAME, BOT_TOKEN, PLAZA_USERNAME, PLAZA_PASSWORD, CHROMIUM
// (default /usr/bin/chromium). The apps find the backend in their URL's query (`?backend=`, in the
// inline buttons' URLs). Prints each STEP,
// `INIT_DATA {"app", "launch", "init_data"}` for the init data each app sent, and PASS at the end.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse, validate } from "@telegram-apps/init-data-node";
import { chromium } from "playwright-core";

const URL = process.env.PLAZA_URL.replace(/\/+$/, "");
const BOT = process.env.BOT_USERNAME;
const TOKEN = process.env.BOT_TOKEN;
const TIMEOUT = 15_000;
const APPS = ["tma", "twa"];

const step = (name) => console.log(`STEP ${name}`);
const fail = (message) => {
  throw new Error(message);
};
const expectEq = (actual, expected, what) => {
  if (actual !== expected) fail(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
};

async function api(method, path, token, body) {
  const res = await fetch(`${URL}/api/v1${path}`, {
    method,
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) fail(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function bot(method, params = {}) {
  const res = await fetch(`${URL}/bot${TOKEN}/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(params),
  });
  const json = await res.json();
  if (!json.ok) fail(`${method}: ${JSON.stringify(json)}`);
  return json.result;
}

let offset = 0;
/** The bot's updates until one satisfies `pred` (long polling, at most TIMEOUT). */
async function botUpdate(pred, what) {
  const deadline = Date.now() + TIMEOUT;
  while (Date.now() < deadline) {
    for (const u of await bot("getUpdates", { offset, timeout: 2 })) {
      offset = u.update_id + 1;
      if (pred(u)) return u;
    }
  }
  fail(`the bot got no ${what}`);
}

// ---- the account, the bot and the apps ------------------------------------------------------

step("log in through the API, start the bot, find the deployed apps");
const login = await api("POST", "/auth/login", null, { username: process.env.PLAZA_USERNAME, password: process.env.PLAZA_PASSWORD });
const me = login.user;
const started = await api("POST", `/bots/${BOT}/start`, login.token, {});
const botId = started.chat.id;
const apps = await api("GET", `/bots/${BOT}/apps`, login.token);
const appUrl = Object.fromEntries(APPS.map((name) => [name, apps.find((a) => a.short_name === name)?.opens_at ?? fail(`app ${name} is not deployed`)]));
for (const name of APPS) {
  const host = new globalThis.URL(appUrl[name]).hostname;
  expectEq(host, `${name}.${BOT.toLowerCase().replaceAll("_", "-")}.localhost`, `the ${name} app's host`);
}
await botUpdate((u) => u.message?.text === "/start", "/start");

// ---- the app backend ------------------------------------------------------------------------

/** What the apps posted to the backend, by app. */
const posted = {};
const backend = createServer(async (req, res) => {
  const origin = req.headers.origin ?? "";
  const allowed = APPS.some((name) => origin === new globalThis.URL(appUrl[name]).origin);
  const cors = allowed ? { "access-control-allow-origin": origin, "access-control-allow-headers": "content-type", vary: "origin" } : {};
  if (req.method === "OPTIONS") return res.writeHead(204, cors).end();
  if (req.method === "POST" && req.url === "/invoice" && allowed) {
    // What a shop's backend does for its mini app: an invoice link, opened by the app.
    const link = await bot("createInvoiceLink", {
      title: "Sticker pack",
      description: "Twelve stickers",
      payload: "stickers",
      currency: "XTR",
      prices: [{ label: "Stickers", amount: 3 }],
    });
    return res.writeHead(200, { ...cors, "content-type": "text/plain" }).end(link);
  }
  if (req.method !== "POST" || req.url !== "/answer" || !allowed) return res.writeHead(403, cors).end("not allowed");
  let body = "";
  for await (const chunk of req) body += chunk;
  try {
    const { app, init_data: initData } = JSON.parse(body);
    // What a bot's backend does with init data: check it with the token, then trust what it says.
    validate(initData, TOKEN);
    const data = parse(initData);
    posted[app] = initData;
    console.log(`INIT_DATA ${JSON.stringify({ app, launch: "inline_button", init_data: initData })}`);
    await bot("answerWebAppQuery", {
      web_app_query_id: data.query_id,
      result: {
        type: "article",
        id: `${app}-answer`,
        title: "Answer",
        input_message_content: { message_text: `${app} answered for user ${data.user.id}` },
      },
    });
    res.writeHead(200, { ...cors, "content-type": "text/plain" }).end("ok");
  } catch (e) {
    console.error(`backend: ${e?.stack ?? e}`);
    res.writeHead(400, { ...cors, "content-type": "text/plain" }).end(String(e?.message ?? e));
  }
});
await new Promise((resolve, reject) => {
  backend.once("error", reject);
  backend.listen(0, "127.0.0.1", resolve);
});
const backendUrl = `http://127.0.0.1:${backend.address().port}`;
/** An inline button's URL: the app's, with its backend in the query. */
const inlineUrl = (name) => `${appUrl[name]}?backend=${encodeURIComponent(backendUrl)}`;

// ---- the browser ----------------------------------------------------------------------------

// The apps run on their own sites, in frames of the client's. Chromium blocks third-party cookies
// and, since playwright-core turns storage partitioning off, then denies such frames
// sessionStorage, which both SDKs need (partitioned storage would be a browser's default). So the
// profile allows third-party cookies, as a browser's settings may.
const profile = mkdtempSync(join(tmpdir(), "plaza-miniapp-sdk-"));
process.on("exit", () => rmSync(profile, { recursive: true, force: true }));
mkdirSync(join(profile, "Default"));
writeFileSync(join(profile, "Default", "Preferences"), JSON.stringify({ profile: { cookie_controls_mode: 0 } }));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
  viewport: { width: 1100, height: 800 },
  colorScheme: "light",
});
context.setDefaultTimeout(TIMEOUT);
const pageErrors = [];
/** A new tab with the bot's chat open (the session is the profile's, after the first login). */
async function botChatTab() {
  const tab = await context.newPage();
  tab.on("pageerror", (e) => {
    console.error(`page error: ${e.message}`);
    pageErrors.push(e.message);
  });
  // The apps' frames report here too: an SDK that cannot make sense of what the host sends says so
  // on the console.
  tab.on("console", (m) => {
    if (m.type() !== "error" || /Failed to load resource|WebSocket/.test(m.text())) return;
    console.error(`console: ${m.text()}`);
    pageErrors.push(m.text());
  });
  await tab.goto(`${URL}/#${botId}`);
  return tab;
}

/** Waits until the chat's history shows. (A message that arrives while the first page of a
 *  chat's history is loading is left out of the view until a reload, so the bot sends only then.) */
const chatLoaded = () => page.locator(".msg").first().waitFor();

step("log in in the client and open the bot's chat");
let page = await botChatTab();
await page.fill("input[name=username]", process.env.PLAZA_USERNAME);
await page.fill("input[name=password]", process.env.PLAZA_PASSWORD);
await page.click("button[type=submit]");
await chatLoaded();

/** The host's colour `--bg` as #rrggbb, as the host passes it in theme_params.bg_color. */
const hostBg = () =>
  page.evaluate(() => {
    const c = getComputedStyle(document.documentElement).getPropertyValue("--bg").trim();
    const m = /^rgba?\((\d+),\s*(\d+),\s*(\d+)/.exec(c);
    return m ? `#${[m[1], m[2], m[3]].map((x) => Number(x).toString(16).padStart(2, "0")).join("")}` : c.toLowerCase();
  });

/** Waits until the host's background satisfies `ok` (the client applies a theme change). */
async function hostBgChange(ok, what) {
  const deadline = Date.now() + TIMEOUT;
  for (let bg = await hostBg(); ; bg = await hostBg()) {
    if (ok(bg)) return bg;
    if (Date.now() > deadline) fail(`${what}: still ${bg}`);
    await page.waitForTimeout(50);
  }
}

const dialog = () => page.locator("dialog.miniapp");
const text = (id) => page.frameLocator("dialog.miniapp iframe.miniapp-frame").locator(`#${id}`);
/** Waits until the app's element `id` shows exactly `expected` (a string or a RegExp). */
async function appShows(id, expected, what) {
  const re = expected instanceof RegExp ? expected : new RegExp(`^${expected.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`);
  try {
    await text(id).filter({ hasText: re }).waitFor();
  } catch {
    const status = await text("status").textContent({ timeout: 1000 }).catch(() => "?");
    fail(`${what}: the app shows ${JSON.stringify(await text(id).textContent({ timeout: 1000 }).catch(() => null))}, not ${re} (status: ${status})`);
  }
}
const hostButton = (name) => dialog().getByRole("button", { name, exact: true });

step("the bot sends inline web_app buttons for both apps");
await bot("sendMessage", {
  chat_id: me.id,
  text: "Pick an SDK",
  reply_markup: { inline_keyboard: [APPS.map((name) => ({ text: `Open ${name}`, web_app: { url: inlineUrl(name) } }))] },
});
const picker = page.locator(".msg-group", { hasText: "Pick an SDK" }).last();
await picker.waitFor();

const cloudValues = {};
for (const name of APPS) {
  step(`${name}: opened from the inline button, it reads the launch parameters and init data`);
  await picker.getByRole("button", { name: `Open ${name}` }).click();
  await dialog().waitFor();
  const src = await page.locator("dialog.miniapp iframe.miniapp-frame").getAttribute("src");
  if (!src.startsWith(`${inlineUrl(name)}#tgWebAppData=`)) fail(`the frame opened ${src}, not ${inlineUrl(name)} with launch parameters`);
  const launched = new URLSearchParams(new globalThis.URL(src).hash.slice(1)).get("tgWebAppData");
  await appShows("status", "ready", `${name} start-up`);
  await appShows("user", `user ${me.id}`, `${name} init data user`);
  await appShows("launch", "weba 9.1 with query_id", `${name} launch parameters`);

  step(`${name}: the theme, at launch and when the client turns dark`);
  const light = await hostBg();
  await appShows("theme", `bg ${light}`, `${name} theme at launch`);
  await page.emulateMedia({ colorScheme: "dark" });
  const dark = await hostBgChange((bg) => bg !== light, "the client's background in the dark theme");
  await appShows("theme", `bg ${dark}`, `${name} theme after theme_changed`);
  await page.emulateMedia({ colorScheme: "light" });
  await hostBgChange((bg) => bg === light, "the client's background back in the light theme");
  await appShows("theme", `bg ${light}`, `${name} theme back to light`);

  step(`${name}: the main button and the back button`);
  await dialog().locator(".miniapp-main", { hasText: /^Send to backend$/ }).waitFor();
  await hostButton("Back").waitFor();
  if (await hostButton("Close the app").isVisible()) fail("the close button shows beside the back button");
  await appShows("back", "back 0", `${name} back presses`);
  await hostButton("Back").click();
  await appShows("back", "back 1", `${name} back presses`);
  await hostButton("Back").waitFor({ state: "hidden" });
  await hostButton("Close the app").waitFor();

  step(`${name}: a popup`);
  await appShows("popup", "popup -", `${name} popup before`);
  await text("ask").click();
  const popup = page.locator("dialog.miniapp-popup");
  await popup.getByText(`Proceed with ${name === "tma" ? "@telegram-apps/sdk" : "@twa-dev/sdk"}?`).waitFor();
  await popup.getByRole("button", { name: "Cancel" }).waitFor();
  await popup.getByRole("button", { name: "Yes" }).click();
  await popup.waitFor({ state: "detached" });
  await appShows("popup", "popup yes", `${name} popup answer`);

  step(`${name}: CloudStorage`);
  await appShows("cloud", new RegExp(`^cloud ok ${name}-[0-9a-z]+$`), `${name} CloudStorage round trip`);
  cloudValues[name] = (await text("cloud").textContent()).split(" ")[2];
  if (name === "twa") await appShows("other", `other ${cloudValues.tma}`, "the value the tma app stored, read by the twa app");
  else await appShows("other", "other -", "no value of the twa app yet");

  if (name === "tma") {
    step("tma: pays an invoice link with invoice.open; the client's payment sheet, the bot's pre-checkout, invoice_closed");
    await api("POST", "/stars/topup", login.token, { amount: 10, key: "sdk-test" });
    await appShows("invoice", "invoice -", "tma invoice before");
    await text("pay").click();
    const sheet = page.locator("dialog.payment-sheet");
    await sheet.getByText("Sticker pack").first().waitFor();
    await appShows("invoice", "invoice open", "tma invoice while the sheet is open");
    await sheet.getByRole("button", { name: /^Pay/ }).click();
    const q = await botUpdate((u) => u.pre_checkout_query, "pre_checkout_query");
    expectEq(q.pre_checkout_query.total_amount, 3, "the pre-checkout total");
    expectEq(q.pre_checkout_query.currency, "XTR", "the pre-checkout currency");
    await bot("answerPreCheckoutQuery", { pre_checkout_query_id: q.pre_checkout_query.id, ok: true });
    const paid = await botUpdate((u) => u.message?.successful_payment, "successful_payment");
    expectEq(paid.message.successful_payment.invoice_payload, "stickers", "the successful_payment payload");
    // The sheet shows the outcome, then closes and hands the status to the app.
    await sheet.waitFor({ state: "detached" });
    await appShows("invoice", "invoice paid", "tma invoice_closed status");
    const wallet = await api("GET", "/stars", login.token);
    expectEq(wallet.balance, 7, "the balance after paying 3 of 10 Stars");
  }

  step(`${name}: the main button posts the init data to the backend, which answers the query; the app closes`);
  await dialog().locator(".miniapp-main").click();
  const answer = page.locator(".msg.mine").filter({ has: page.locator(".text", { hasText: new RegExp(`^${name} answered for user ${me.id}$`) }) });
  await answer.waitFor();
  await answer.locator(".via", { hasText: `via @${BOT}` }).waitFor();
  await dialog().waitFor({ state: "detached" });
  expectEq(posted[name], launched, `the init data the ${name} app posted, beside the host's`);
}

// A new tab: both SDKs keep a launch's parameters in the tab's sessionStorage (for reloads), and
// telegram-web-app.js (in @twa-dev/sdk) fills parameters a launch lacks from there, so an app opened
// from the keyboard in the same tab would see the init data of its inline launch above.
step("in a new tab, the bot sends a reply keyboard with web_app buttons for both apps");
await page.close();
page = await botChatTab();
await chatLoaded();
await bot("sendMessage", {
  chat_id: me.id,
  text: "Or send data",
  reply_markup: { keyboard: [APPS.map((name) => ({ text: `Data ${name}`, web_app: { url: appUrl[name] } }))], resize_keyboard: true },
});
const keyboard = page.locator(".reply-kb");
for (const name of APPS) {
  step(`${name}: opened from the reply keyboard, without init data, it sends data to the bot`);
  await keyboard.getByRole("button", { name: `Data ${name}` }).click();
  await dialog().waitFor();
  await appShows("status", "ready", `${name} start-up from the keyboard`);
  await appShows("user", "no user", `${name} init data from the keyboard`);
  await appShows("launch", "weba 9.1 without query_id", `${name} launch parameters from the keyboard`);
  await appShows("cloud", new RegExp(`^cloud ok ${name}-[0-9a-z]+$`), `${name} CloudStorage from the keyboard`);
  const value = (await text("cloud").textContent()).split(" ")[2];
  await dialog().locator(".miniapp-main", { hasText: /^Send data$/ }).click();
  await dialog().waitFor({ state: "detached" });
  await page.locator(".service", { hasText: `“Data ${name}” was sent to the bot` }).waitFor();
  const u = await botUpdate((u) => u.message?.web_app_data, `web_app_data from ${name}`);
  expectEq(u.message.from.id, me.id, "web_app_data sender");
  expectEq(u.message.web_app_data.button_text, `Data ${name}`, "web_app_data button_text");
  const sent = JSON.parse(u.message.web_app_data.data);
  expectEq(JSON.stringify(sent), JSON.stringify({ app: name, value, init_data: "" }), "web_app_data data");
  console.log(`INIT_DATA ${JSON.stringify({ app: name, launch: "keyboard_button", init_data: sent.init_data })}`);
}

await context.close();
backend.close();
if (pageErrors.length) fail(`the page reported errors: ${pageErrors.join("; ")}`);
console.log("PASS");
