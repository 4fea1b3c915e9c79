// The web client end to end in real headless Chromium (Debian's, driven by playwright-core):
// sign-up, two people chatting live in two browser contexts (reply, edit, delete, read state,
// typing), a group, a grammY bot (deep link with START, inline button with an alert, command menu,
// reply keyboard, photos both ways, a mini app in its sandboxed frame), resuming after the
// server restarts, and payments (an invoice paid in Stars after a sandbox top-up, its receipt, an
// invoice link, the wallet).
//
// Driven by crates/server/tests/web.rs, which runs Plaza and the bot. Environment: PLAZA_URL,
// BOT_USERNAME, BOT_TOKEN (the bot's, for checking init data and for the payments, which come
// last and take the bot's updates over from grammY), CHROMIUM (default /usr/bin/chromium), SCREENSHOT_DIR (optional: screenshots of
// the chat list and the bot chat, light and dark, phone and desktop). To restart the server it
// prints RESTART and waits for UP on its standard input. Prints each STEP, and PASS at the end.

import { createServer } from "node:http";
import { createInterface } from "node:readline";
import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";
import { png } from "./pixel.mjs";
import { validate } from "@telegram-apps/init-data-node";

const URL = process.env.PLAZA_URL.replace(/\/+$/, "");
const BOT = process.env.BOT_USERNAME;
const SHOTS = process.env.SCREENSHOT_DIR;
const TIMEOUT = 20_000;
const run = Math.random().toString(36).slice(2, 7);

const stdin = createInterface({ input: process.stdin });
const lines = stdin[Symbol.asyncIterator]();

const step = (name) => console.log(`STEP ${name}`);

// A mini app as Telegram's wire protocol sees it: launch parameters in the fragment, events as
// JSON strings over postMessage to the parent (what telegram-web-app.js does underneath).
const MINI_APP = `<!doctype html><meta charset=utf-8><title>Test app</title>
<p id=hello></p><p id=theme></p><p id=events></p>
<script>
const hash = new URLSearchParams(location.hash.slice(1));
const init = new URLSearchParams(hash.get("tgWebAppData") ?? "");
const user = JSON.parse(init.get("user") ?? "{}");
document.getElementById("hello").textContent =
  "Hello " + user.first_name + " (" + (init.has("query_id") ? "with" : "without") + " query_id, " + hash.get("tgWebAppPlatform") + ")";
const post = (eventType, eventData) => window.parent.postMessage(JSON.stringify({ eventType, eventData }), "*");
window.addEventListener("message", (ev) => {
  if (ev.source !== window.parent) return;
  const { eventType, eventData } = JSON.parse(ev.data);
  document.getElementById("events").textContent += " " + eventType;
  if (eventType === "theme_changed") document.getElementById("theme").textContent = "bg " + eventData.theme_params.bg_color;
  if (eventType === "main_button_pressed" && !init.has("user")) post("web_app_data_send", { data: "size=L" });
  else if (eventType === "main_button_pressed")
    post("web_app_open_popup", { title: "Order", message: "Place the order?", buttons: [{ id: "yes", type: "default", text: "Yes" }, { type: "cancel" }] });
  if (eventType === "popup_closed" && eventData.button_id === "yes") post("web_app_close");
});
post("iframe_ready", { reload_supported: true });
post("web_app_ready");
post("web_app_request_theme");
post("web_app_setup_main_button", { is_visible: true, is_active: true, text: "Order", color: "#2481cc", text_color: "#ffffff" });
</script>`;

// A hostile mini app: it tries to reach the client's storage and session, to call Plaza's API with
// the client's credentials, to speak for the host from a window that is not its frame, to send
// data it may not send, to forge its init data, and to flood the person with popups.
const HOSTILE_APP = `<!doctype html><meta charset=utf-8><title>Hostile app</title>
<pre id=results></pre><p id=popups></p><p id=forged></p>
<iframe id=nested srcdoc="<script>window.top.postMessage(JSON.stringify({eventType:'web_app_setup_main_button',eventData:{is_visible:true,is_active:true,text:'Evil'}}),'*')<\/script>"></iframe>
<script>
const hash = new URLSearchParams(location.hash.slice(1));
const client = new URLSearchParams(location.search).get("client");
const results = {};
const attempt = (name, f) => { try { results[name] = "read: " + f(); } catch (e) { results[name] = "blocked"; } };
attempt("client storage", () => window.parent.localStorage.getItem("plaza.token"));
attempt("client document", () => window.parent.document.cookie);
attempt("client location", () => window.top.location.href);
results["token in own storage"] = String(localStorage.getItem("plaza.token"));
const show = () => (document.getElementById("results").textContent = JSON.stringify(results));
// A request the browser never settles (it has happened under load) is no answer either: give up
// after 8 s rather than leave the result unset.
fetch(client + "/api/v1/me", { credentials: "include", signal: AbortSignal.timeout(8000) }).then(
  async (r) => { results["client api"] = "status " + r.status; show(); },
  (e) => { results["client api"] = e?.name === "TimeoutError" ? "no answer" : "blocked"; show(); },
);
// Init data with another user's id: the signature no longer matches.
const init = new URLSearchParams(hash.get("tgWebAppData") ?? "");
const user = JSON.parse(init.get("user"));
user.id = 1;
init.set("user", JSON.stringify(user));
document.getElementById("forged").textContent = init.toString();
const post = (eventType, eventData) => window.parent.postMessage(JSON.stringify({ eventType, eventData }), "*");
// sendData is only for apps opened from a keyboard button: from here it must go nowhere.
post("web_app_data_send", { data: "evil data" });
// Popups: three at once (one may show), then one after another until the rate limit answers.
let shown = 0, refused = 0;
const popup = (n) => post("web_app_open_popup", { message: "Popup " + n, buttons: [{ id: "ok" + n, type: "default", text: "Next " + n }] });
window.addEventListener("message", (ev) => {
  if (ev.source !== window.parent) return;
  const { eventType, eventData } = JSON.parse(ev.data);
  if (eventType !== "popup_closed") return;
  if (eventData && eventData.button_id) { shown++; popup(shown + 1); } else refused++;
  document.getElementById("popups").textContent = "shown " + shown + ", refused " + refused;
});
popup(1); popup(2); popup(3);
post("web_app_ready");
show();
</script>`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});

async function newPage(options = {}) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 760 }, ...options });
  context.setDefaultTimeout(TIMEOUT);
  const page = await context.newPage();
  page.on("pageerror", (e) => {
    console.error(`page error: ${e.message}`);
    process.exitCode = 1;
  });
  page.on("console", (m) => m.type() === "error" && !/Failed to load resource|WebSocket/.test(m.text()) && console.error(`console: ${m.text()}`));
  return page;
}

async function signup(username, name) {
  const page = await newPage();
  await page.goto(URL);
  await page.getByRole("button", { name: "New here? Create an account" }).click();
  await page.fill("input[name=username]", username);
  await page.fill("input[name=display_name]", name);
  await page.fill("input[name=password]", "secret-pw");
  await page.click("button[type=submit]");
  await page.locator(".chat-list .empty").waitFor();
  return page;
}

/** The message bubble whose text is exactly `text`. */
const bubble = (page, text, mine) =>
  page.locator(`.msg${mine === undefined ? "" : mine ? ".mine" : ":not(.mine)"}`).filter({ has: page.locator(".text", { hasText: new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`) }) });

async function send(page, text) {
  await page.fill("textarea[name=message]", text);
  await page.keyboard.press("Enter");
  await bubble(page, text, true).last().waitFor();
}

/** The chat list entry titled exactly `title`. */
const listed = (page, title) => page.locator(".chat-item").filter({ has: page.locator(".chat-name", { hasText: new RegExp(`^${title}$`) }) });

async function chatWith(page, title) {
  await listed(page, title).click();
  await page.locator(".chat-title", { hasText: new RegExp(`^${title}$`) }).waitFor();
}

async function expectGone(locator, what) {
  await locator.waitFor({ state: "detached" }).catch(() => {
    throw new Error(`${what} is still there`);
  });
}

// ---- accounts -------------------------------------------------------------------------------

step("sign up two people");
const annName = `ann_${run}`;
const benName = `ben_${run}`;
const ann = await signup(annName, "Ann");
const ben = await signup(benName, "Ben");

// ---- two people, live -------------------------------------------------------------------------

step("open a private chat by username and send");
await ann.fill(".search", `@${benName}`);
await ann.locator(".chat-item", { hasText: "Ben" }).click();
await ann.locator(".chat-title", { hasText: "Ben" }).waitFor();
await send(ann, "Hello Ben");

step("the other side sees it live, with an unread count, and reads it");
await listed(ben, "Ann").locator(".badge", { hasText: "1" }).waitFor();
await chatWith(ben, "Ann");
await bubble(ben, "Hello Ben", false).waitFor();
await expectGone(listed(ben, "Ann").locator(".badge"), "the unread badge");
await ann.locator(".msg.mine .ticks[aria-label=read]").waitFor();

step("an answer arrives live; typing shows");
await ben.fill("textarea[name=message]", "typing…");
await ben.locator("textarea[name=message]").dispatchEvent("input");
await ann.locator(".chat-subtitle", { hasText: "typing" }).waitFor();
await send(ben, "Hi Ann");
await bubble(ann, "Hi Ann", false).waitFor();

step("reply, edit and delete reach the other side");
await bubble(ann, "Hi Ann", false).click({ button: "right" });
await ann.getByRole("menuitem", { name: "Reply" }).click();
await ann.locator(".compose-bar", { hasText: "Reply to Ben" }).waitFor();
await send(ann, "Nice");
await ben.locator(".msg", { hasText: "Nice" }).locator(".quote", { hasText: "Hi Ann" }).waitFor();
await ann.locator("textarea[name=message]").focus();
await ann.keyboard.press("ArrowUp");
await ann.locator(".compose-bar", { hasText: "Edit message" }).waitFor();
await ann.fill("textarea[name=message]", "Nice!!");
await ann.keyboard.press("Enter");
await bubble(ben, "Nice!!", false).locator(".edited").waitFor();
await bubble(ann, "Nice!!", true).click({ button: "right" });
await ann.getByRole("menuitem", { name: "Delete" }).click();
await ann.locator("dialog").getByRole("button", { name: "Delete" }).click();
await expectGone(bubble(ben, "Nice!!"), "the deleted message");

step("a group");
await ann.getByRole("button", { name: "New group" }).click();
await ann.fill("dialog input[name=title]", `Group ${run}`);
await ann.fill("dialog input[name=members]", `@${benName}`);
await ann.locator("dialog").getByRole("button", { name: "Create" }).click();
await ann.locator(".chat-title", { hasText: `Group ${run}` }).waitFor();
await send(ann, "Welcome to the group");
await chatWith(ben, `Group ${run}`);
await bubble(ben, "Welcome to the group", false).waitFor();
await ben.locator(".chat-subtitle", { hasText: "2 members" }).waitFor();

// ---- a bot written with grammY ---------------------------------------------------------------

step("a deep link opens the bot with START, which sends the payload");
await ann.goto(`${URL}/${BOT}?start=web`);
await ann.locator(".chat-title").waitFor();
await ann.getByRole("button", { name: "Start" }).click();
const hello = ann.locator(".msg-group").filter({ hasText: "payload=web" });
await hello.waitFor();
await hello.locator("strong", { hasText: "Hello" }).waitFor();

step("an inline button's answer shows as an alert, and the bot edits its message");
await hello.getByRole("button", { name: "Press" }).click();
const alert = ann.locator("dialog.alert");
await alert.getByText("pressed 1").waitFor();
await alert.getByRole("button", { name: "OK" }).click();
await bubble(ann, "Pressed!", false).waitFor();

step("the command menu");
await ann.getByRole("button", { name: "Bot commands" }).click();
await ann.getByRole("menuitem", { name: /\/help/ }).click();
await ann.locator(".msg:not(.mine) .text", { hasText: "Commands: /start" }).waitFor();

step("a reply keyboard, used once");
await send(ann, "/keyboard");
const keyboard = ann.locator(".reply-kb");
await keyboard.getByRole("button", { name: "Green" }).waitFor();
if ((await ann.locator("textarea[name=message]").getAttribute("placeholder")) !== "Colour?") throw new Error("the keyboard's placeholder is not shown");
await keyboard.getByRole("button", { name: "Green" }).click();
await bubble(ann, "You picked Green", false).waitFor();
await keyboard.waitFor({ state: "hidden" });

step("a photo uploaded from the browser, and one from the bot");
await ann.locator("input[type=file]").setInputFiles({ name: "pixel.png", mimeType: "image/png", buffer: png() });
await ann.locator("dialog").getByRole("button", { name: "Send" }).click();
const loaded = (loc) => loc.evaluate((img) => img.complete && img.naturalWidth > 0).catch(() => false);
const waitLoaded = async (loc, what) => {
  const deadline = Date.now() + TIMEOUT;
  while (!(await loaded(loc))) {
    if (Date.now() > deadline) throw new Error(`${what} did not load`);
    await new Promise((r) => setTimeout(r, 100));
  }
};
await ann.locator(".msg.mine .photo img").last().waitFor();
await waitLoaded(ann.locator(".msg.mine .photo img").last(), "the uploaded photo");
await send(ann, "/photo");
await ann.locator(".msg:not(.mine) .text", { hasText: /^downloaded \d+ bytes$/ }).waitFor();
await waitLoaded(ann.locator(".msg:not(.mine) .photo img").last(), "the bot's photo");
const botChatId = Number(new globalThis.URL(ann.url()).hash.slice(1));

step("a poll: vote and see the results");
await send(ann, "/poll");
const poll = ann.locator(".poll", { hasText: "Best colour?" });
await poll.getByRole("button", { name: "Green" }).click();
await poll.locator(".poll-result", { hasText: "100%" }).filter({ hasText: "Green" }).waitFor();

step("blocking the bot, and restarting it");
await ann.getByRole("button", { name: "Chat actions" }).click();
await ann.getByRole("menuitem", { name: "Block bot" }).click();
await ann.locator("dialog").getByRole("button", { name: "Block" }).click();
await ann.getByRole("button", { name: "Restart bot" }).click();
await ann.locator("textarea[name=message]").waitFor();
// The first greeting was edited into "Pressed!", so a greeting now is the answer to the restart.
await ann.locator(".msg:not(.mine)", { hasText: "payload=" }).first().waitFor();

step("a mini app opens from an inline button on its own origin, signed in, and speaks the bridge");
const appServer = createServer((req, res) => {
  res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
  res.end(req.url.startsWith("/hostile") ? HOSTILE_APP : MINI_APP);
});
await new Promise((resolve) => appServer.listen(0, "127.0.0.1", resolve));
const appUrl = `http://127.0.0.1:${appServer.address().port}/app`;
await send(ann, `/webapp ${appUrl}`);
await ann.locator(".msg-group", { hasText: "Open the app" }).getByRole("button", { name: "Open app" }).click();
const app = ann.frameLocator("dialog.miniapp iframe");
await app.getByText("Hello Ann (with query_id").waitFor();
await app.getByText(/^bg #[0-9a-f]{6}$/).waitFor();
const origins = await ann.evaluate(() => [location.origin, document.querySelector("dialog.miniapp iframe").src]);
if (new globalThis.URL(origins[1]).origin === origins[0]) throw new Error("the mini app runs on the client's origin");
await ann.locator("dialog.miniapp .miniapp-main", { hasText: "Order" }).click();
await ann.locator("dialog.alert", { hasText: "Place the order?" }).getByRole("button", { name: "Yes" }).click();
await ann.locator("dialog.miniapp").waitFor({ state: "detached" });

step("a mini app opened from a reply-keyboard button sends data to the bot");
await send(ann, `/webappkb ${appUrl}`);
await ann.locator(".reply-kb").getByRole("button", { name: "Order" }).click();
await app.getByText("Hello undefined (without query_id").waitFor();
await ann.locator("dialog.miniapp .miniapp-main", { hasText: "Order" }).click();
await ann.locator("dialog.miniapp").waitFor({ state: "detached" });
await ann.locator(".service", { hasText: "“Order” was sent to the bot" }).waitFor();
await bubble(ann, "got size=L from Order", false).waitFor();

step("a hostile mini app can't reach the client, speak for the host, send data, forge init data or flood popups");
// The earlier app's "Open the app" message is still on screen: wait for the bot's new one before
// pressing the last button, or the press may open the friendly app instead.
const offers = ann.locator(".msg-group", { hasText: "Open the app" });
const offered = await offers.count();
await send(ann, `/webapp ${appUrl.replace("/app", "/hostile")}?client=${encodeURIComponent(URL)}`);
await ann.waitForFunction(
  (n) => [...document.querySelectorAll(".msg-group")].filter((g) => g.textContent.includes("Open the app")).length > n,
  offered,
);
await offers.last().getByRole("button", { name: "Open app" }).click();
const hostile = ann.frameLocator("dialog.miniapp iframe");
await hostile.locator("#results", { hasText: "client api" }).waitFor();
const results = JSON.parse(await hostile.locator("#results").textContent());
const expected = { "client storage": "blocked", "client document": "blocked", "client location": "blocked", "token in own storage": "null", "client api": "blocked" };
for (const [k, v] of Object.entries(expected)) {
  // The API answers an app's origin 401 (no credentials reach it) or the browser blocks the answer.
  const harmless = k === "client api" && (results[k] === "status 401" || results[k] === "no answer");
  if (results[k] !== v && !harmless) throw new Error(`hostile app: ${k} gave ${results[k]}: ${JSON.stringify(results)}`);
  if (harmless && results[k] === "no answer") console.log("NOTE the hostile app's request to the client API got no answer in 8 s");
}
// Popups: one at a time, at most three in three seconds; the fourth is refused at once.
for (let n = 1; n <= 3; n++) {
  await ann.locator("dialog.miniapp-popup", { hasText: `Popup ${n}` }).getByRole("button", { name: `Next ${n}` }).click();
}
await hostile.getByText("shown 3, refused 1").waitFor();
if ((await ann.locator("dialog.miniapp-popup").count()) !== 0) throw new Error("a fourth popup was shown within three seconds");
// The nested window's main button and the inline launch's sendData went nowhere.
if (await ann.locator("dialog.miniapp .miniapp-main", { hasText: "Evil" }).isVisible()) throw new Error("the host obeyed a window that is not the app's frame");
const forged = await hostile.locator("#forged").textContent();
let forgedValid = true;
try {
  validate(forged, process.env.BOT_TOKEN, { expiresIn: 0 });
} catch {
  forgedValid = false;
}
if (forgedValid) throw new Error("forged init data validated");
await ann.locator('dialog.miniapp button[aria-label="Close the app"]').click();
await ann.locator("dialog.miniapp").waitFor({ state: "detached" });
if ((await ann.locator(".msg", { hasText: "evil data" }).count()) !== 0) throw new Error("sendData from an inline launch reached the bot");
appServer.close();

// ---- screenshots --------------------------------------------------------------------------------

if (SHOTS) {
  step("screenshots");
  mkdirSync(SHOTS, { recursive: true });
  const token = await ann.evaluate(() => localStorage.getItem("plaza.token"));
  for (const theme of ["light", "dark"]) {
    for (const [size, viewport] of [["phone", { width: 375, height: 740 }], ["desktop", { width: 1280, height: 760 }]]) {
      const page = await newPage({ viewport, colorScheme: theme, deviceScaleFactor: 1 });
      await page.addInitScript((t) => localStorage.setItem("plaza.token", t), token);
      await page.goto(URL);
      await page.locator(".chat-item").first().waitFor();
      if (size === "desktop") {
        await page.goto(`${URL}/#${botChatId}`);
        await page.locator(".msg .photo img").last().waitFor();
        await waitLoaded(page.locator(".msg .photo img").last(), "a photo");
        await page.screenshot({ path: `${SHOTS}/${size}-${theme}.png` });
      } else {
        await page.screenshot({ path: `${SHOTS}/${size}-${theme}-chats.png` });
        await page.locator(".chat-item", { hasText: "Plaza" }).first().click().catch(() => page.locator(".chat-item").first().click());
        await page.goto(`${URL}/#${botChatId}`);
        await page.locator(".msg .photo img").last().waitFor();
        await waitLoaded(page.locator(".msg .photo img").last(), "a photo");
        await page.screenshot({ path: `${SHOTS}/${size}-${theme}-bot.png` });
      }
      await page.context().close();
    }
  }
}

// ---- history, reactions, logging out ----------------------------------------------------------

step("a long history loads as you scroll up, without gaps or duplicates");
await chatWith(ben, "Ann");
const total = 130;
await ben.evaluate(async ([id, n]) => {
  for (let i = 1; i <= n; i++) {
    const res = await fetch(`/api/v1/chats/${id}/messages`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${localStorage.getItem("plaza.token")}` },
      body: JSON.stringify({ text: `line ${i}` }),
    });
    if (!res.ok) throw new Error(`sending line ${i}: ${res.status}`);
  }
}, [Number(new globalThis.URL(ben.url()).hash.slice(1)), total]);
await ann.reload();
await chatWith(ann, "Ben");
await bubble(ann, `line ${total}`, false).waitFor();
for (let i = 0; i < 20 && !(await bubble(ann, "line 1", false).count()); i++) {
  await ann.locator(".messages").evaluate((el) => (el.scrollTop = 0));
  await ann.waitForTimeout(300);
}
const lineTexts = await ann.locator(".msg .text").allTextContents();
const lineNumbers = lineTexts.filter((t) => /^line \d+$/.test(t)).map((t) => Number(t.slice(5)));
if (lineNumbers.length !== total || lineNumbers.some((n, i) => n !== i + 1)) {
  throw new Error(`history shows ${lineNumbers.length} lines, not 1..${total} in order`);
}

step("a reaction reaches the other side");
await bubble(ann, `line ${total}`, false).scrollIntoViewIfNeeded();
await bubble(ann, `line ${total}`, false).click({ button: "right" });
await ann.getByRole("button", { name: "React 👍" }).click();
await bubble(ben, `line ${total}`, true).locator(".reaction", { hasText: "👍 1" }).waitFor();

step("log out and back in");
await ann.getByRole("button", { name: "Menu", exact: true }).click();
await ann.getByRole("menuitem", { name: "Log out" }).click();
await ann.locator("input[name=username]").waitFor();
await ann.fill("input[name=username]", annName);
await ann.fill("input[name=password]", "wrong-password");
await ann.click("button[type=submit]");
await ann.getByText("Wrong username or password.").waitFor();
await ann.fill("input[name=password]", "secret-pw");
await ann.click("button[type=submit]");
await listed(ann, "Ben").waitFor();

// ---- the server restarts ------------------------------------------------------------------------

step("the server restarts; both clients resume without a gap or a duplicate");
await chatWith(ben, "Ann");
console.log("RESTART");
const up = await lines.next();
if (up.value !== "UP") throw new Error(`expected UP, got ${up.value}`);
// Sent at once, perhaps before the clients have reconnected: they get it live or in the replay.
const sent = await ben.evaluate(async ([id]) => {
  const res = await fetch(`/api/v1/chats/${id}/messages`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${localStorage.getItem("plaza.token")}` },
    body: JSON.stringify({ text: "after the restart" }),
  });
  return res.status;
}, [Number(new globalThis.URL(ben.url()).hash.slice(1))]);
if (sent !== 200) throw new Error(`sending after the restart answered ${sent}`);
await listed(ann, "Ben").locator(".chat-last", { hasText: "after the restart" }).waitFor();
await bubble(ben, "after the restart", true).waitFor();
await ann.locator(".live-status").waitFor({ state: "hidden" });
await chatWith(ann, "Ben");
await bubble(ann, "after the restart", false).waitFor();
await send(ann, "still here");
await bubble(ben, "still here", false).waitFor();
const copies = await ann.locator(".msg .text", { hasText: /^after the restart$/ }).count();
if (copies !== 1) throw new Error(`"after the restart" shows ${copies} times`);

// ---- payments --------------------------------------------------------------------------------

step("payments: an invoice from the bot, a sandbox top-up, paying Stars, the receipt and the wallet");
// The bot's side of a payment (answering its pre_checkout_query) is played here through the Bot
// API with the bot's token. Its updates are taken over from grammY, which nothing needs any more:
// a newer getUpdates ends the older one with 409, on which grammY stops.
const TOKEN = process.env.BOT_TOKEN;
const botCall = async (method, params = {}) => {
  const res = await fetch(`${URL}/bot${TOKEN}/${method}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(params) });
  return res.json();
};
const botApi = async (method, params) => {
  const out = await botCall(method, params);
  if (!out.ok) throw new Error(`${method}: ${out.description}`);
  return out.result;
};
let updateOffset;
const pollBot = async (timeout) => {
  for (let tries = 0; ; tries++) {
    const out = await botCall("getUpdates", { offset: updateOffset, timeout, allowed_updates: ["message", "pre_checkout_query"] });
    if (out.ok) {
      for (const u of out.result) updateOffset = u.update_id + 1;
      return out.result;
    }
    if (out.error_code !== 409 || tries > 50) throw new Error(`getUpdates: ${out.description}`);
  }
};
const waitUpdate = async (what, match) => {
  const deadline = Date.now() + TIMEOUT;
  while (Date.now() < deadline) {
    const found = (await pollBot(1)).find(match);
    if (found) return found;
  }
  throw new Error(`the bot got no ${what}`);
};
for (let i = 0; i < 3; i++) await pollBot(1);
const annGet = (path) => ann.evaluate(async (p) => (await fetch(`/api/v1${p}`, { headers: { authorization: `Bearer ${localStorage.getItem("plaza.token")}` } })).json(), path);
const annId = (await annGet("/me")).id;
if (!(await annGet("/stars")).sandbox) throw new Error("the server is not a sandbox (plaza serve --sandbox): no free top-ups to pay with");
await ann.goto(`${URL}/#${botChatId}`);
await ann.locator(".chat-title").waitFor();
const payload = `pack-${run}`;
await botApi("sendInvoice", { chat_id: annId, title: "Sticker pack", description: "Five fine stickers", payload, currency: "XTR", prices: [{ label: "Pack", amount: 5 }] });
const invoice = ann.locator(".msg-group").filter({ has: ann.locator(".invoice-card", { hasText: "Sticker pack" }) });
await invoice.locator(".invoice-price", { hasText: "⭐️ 5" }).waitFor();
await invoice.getByRole("button", { name: /^Pay/ }).click();
const sheet = ann.locator("dialog.payment-sheet");
await sheet.getByRole("heading", { name: "Sticker pack" }).waitFor();
await sheet.locator(".pay-short", { hasText: "more to pay" }).waitFor();
if (await sheet.getByRole("button", { name: /^Pay/ }).isEnabled()) throw new Error("Pay is enabled with too few Stars");
await sheet.getByRole("button", { name: /^Top up/ }).click();
await sheet.locator(".pay-short").waitFor({ state: "detached" });
const starsIn = (text) => Number(text.replace(/[^0-9]/g, ""));
const topped = starsIn(await sheet.locator(".pay-balance-amount").textContent());
if (topped < 5) throw new Error(`the top-up left ${topped} Stars`);
// A double click pays once: the sheet's key names the attempt, and the button is off while it is in flight.
await sheet.getByRole("button", { name: "Pay ⭐️ 5" }).dblclick();
const query = (await waitUpdate("pre_checkout_query", (u) => u.pre_checkout_query?.invoice_payload === payload)).pre_checkout_query;
if (query.total_amount !== 5 || query.currency !== "XTR" || query.from.id !== annId) throw new Error(`unexpected pre_checkout_query ${JSON.stringify(query)}`);
await botApi("answerPreCheckoutQuery", { pre_checkout_query_id: query.id, ok: true });
await sheet.getByText("Payment complete").waitFor();
await sheet.waitFor({ state: "detached" });
await ann.locator(".service", { hasText: "You paid ⭐️ 5 for “Sticker pack”" }).waitFor();
const paid = (await waitUpdate("successful_payment", (u) => u.message?.successful_payment?.invoice_payload === payload)).message.successful_payment;
if (paid.total_amount !== 5 || !paid.telegram_payment_charge_id) throw new Error(`unexpected successful_payment ${JSON.stringify(paid)}`);

step("a paid invoice shows its receipt; an invoice link opens the sheet");
await invoice.getByRole("button", { name: /^Pay/ }).click();
await sheet.locator(".pay-receipt", { hasText: "Paid" }).waitFor();
await sheet.getByRole("button", { name: "Close" }).click();
await sheet.waitFor({ state: "detached" });
const link = await botApi("createInvoiceLink", { title: "Gift box", description: "A box of gifts", payload: `box-${run}`, currency: "XTR", prices: [{ label: "Box", amount: 7 }] });
await botApi("sendMessage", { chat_id: annId, text: "Buy a gift box", entities: [{ type: "text_link", offset: 0, length: 14, url: link }] });
await ann.locator(".msg .text a", { hasText: "Buy a gift box" }).click();
await sheet.getByRole("heading", { name: "Gift box" }).waitFor();
await sheet.getByRole("button", { name: "Cancel" }).click();
await sheet.waitFor({ state: "detached" });

step("the invoice link opened in a tab of its own (on Plaza's origin) opens the sheet too");
const slug = link.replace(/^https:\/\/t\.me\/\$/, "");
if (slug === link) throw new Error(`unexpected invoice link ${link}`);
for (const path of [`/$${slug}`, `/invoice/${slug}`]) {
  await ann.goto(`${URL}${path}`);
  await sheet.getByRole("heading", { name: "Gift box" }).waitFor();
  if (new globalThis.URL(ann.url()).pathname !== "/") throw new Error(`the address stays ${ann.url()}`);
  await sheet.getByRole("button", { name: "Cancel" }).click();
  await sheet.waitFor({ state: "detached" });
}

step("the wallet shows the balance less the payment, the top-up and the payment");
await ann.getByRole("button", { name: "Menu", exact: true }).click();
await ann.getByRole("menuitem", { name: "Stars" }).click();
const wallet = ann.locator("dialog.wallet");
await wallet.locator(".wallet-balance", { hasText: new RegExp(`^⭐️ ${topped - 5}$`) }).waitFor();
await wallet.locator(".wallet-history .wallet-row", { hasText: "Payment" }).filter({ hasText: "−5 ⭐️" }).waitFor();
await wallet.locator(".wallet-history .wallet-row", { hasText: "Top-up" }).waitFor();
const payments = await wallet.locator(".wallet-row.payment-paid").count();
if (payments !== 1) throw new Error(`the wallet lists ${payments} paid payments, not 1`);
await wallet.getByRole("button", { name: "Close" }).click();
await wallet.waitFor({ state: "detached" });

await browser.close();
stdin.close();
if (process.exitCode) throw new Error("the page reported errors");
console.log("PASS");
