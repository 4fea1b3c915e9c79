// Mini-app figures in Debian's Chromium (playwright-core), against a Plaza started with --demo:
//   launch: the time from a tap on the demo bot's menu button ("Café", a hosted web_app) to the
//     app's `web_app_ready` reaching the host, cold (a fresh browser context: nothing cached) and
//     warm (the same context again), median and p95;
//   bridge round trip: CloudStorage setItem then getItem from inside the to-do app (app → host →
//     server → host → app, twice), median and p95.
// Both times are taken in the client page's own clock: the tap is the `pointerdown` the page sees,
// ready is the `message` event the page sees. SCREENSHOTS=<dir> also writes the docs' screenshots
// of the demo apps (light and dark, phone and desktop, with the devtools panel open). Run through
// bench/webapps.

import { chromium } from "playwright-core";

const URL = process.env.PLAZA_URL.replace(/\/+$/, "");
const COLD = Number(process.env.COLD ?? 10);
const WARM = Number(process.env.WARM ?? 30);
const ROUND_TRIPS = Number(process.env.ROUND_TRIPS ?? 100);
const SHOTS = process.env.SCREENSHOTS;
const BOT = "plaza_demo_bot";

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
const ms = (x) => `${x.toFixed(1)} ms`;

async function api(path, token, body) {
  const res = await fetch(`${URL}/api/v1${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

const { token } = await api("/auth/login", null, { username: "demo", password: "demo" });
const bot = await api(`/users/${BOT}`, token);

/** A signed-in page with the bot's chat open, watching taps and the app's `web_app_ready`. */
async function botChat(context, theme = "light") {
  await context.addInitScript(
    ([t, th]) => {
      localStorage.setItem("plaza.token", t);
      localStorage.setItem("plaza.theme", th);
      document.addEventListener("pointerdown", () => (window.__tap = performance.now()), true);
      window.addEventListener("message", (e) => {
        try {
          if (JSON.parse(e.data).eventType === "web_app_ready") window.__ready = performance.now();
        } catch {}
      });
    },
    [token, theme],
  );
  const page = await context.newPage();
  await page.goto(`${URL}/#${bot.id}`);
  await page.locator(".menu-btn").waitFor();
  return page;
}

/** Taps the menu button; returns ms from the tap to `web_app_ready`, and leaves the app open. */
async function launch(page) {
  await page.evaluate(() => {
    window.__tap = 0;
    window.__ready = 0;
  });
  await page.locator(".menu-btn").click();
  await page.waitForFunction(() => window.__ready > 0 && window.__tap > 0, null, { timeout: 15000 });
  return page.evaluate(() => window.__ready - window.__tap);
}

async function closeApp(page) {
  await page.locator('dialog.miniapp button[aria-label="Close the app"]').click();
  await page.locator("dialog.miniapp").waitFor({ state: "detached" });
}

// Cold: a fresh context each time, tapped as soon as the button is there, and tapped after the
// second a person takes to see the chat (the client warms a hosted app's origin when its button
// shows, so that second counts).
const cold = [];
const coldLooked = [];
for (let i = 0; i < COLD; i++) {
  for (const [list, pause] of [[cold, 0], [coldLooked, 1000]]) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await botChat(context);
    if (pause) await page.waitForTimeout(pause);
    list.push(await launch(page));
    await context.close();
  }
}
const warm = [];
{
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await botChat(context);
  await launch(page);
  await closeApp(page);
  for (let i = 0; i < WARM; i++) {
    warm.push(await launch(page));
    await closeApp(page);
  }
  await context.close();
}
console.log("tap on a web_app button (the demo bot's menu button) → the hosted café's web_app_ready:");
console.log(`  cold, tapped at once:          median ${ms(quantile(cold, 0.5))} p95 ${ms(quantile(cold, 0.95))} (${COLD} fresh contexts)`);
console.log(`  cold, tapped after 1 s:        median ${ms(quantile(coldLooked, 0.5))} p95 ${ms(quantile(coldLooked, 0.95))} (${COLD} fresh contexts)`);
console.log(`  warm (opened before, closed):  median ${ms(quantile(warm, 0.5))} p95 ${ms(quantile(warm, 0.95))} (${WARM} launches)`);

// CloudStorage round trips from inside the to-do app, opened by its direct link.
{
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.addInitScript((t) => localStorage.setItem("plaza.token", t), token);
  const page = await context.newPage();
  await page.goto(`${URL}/${BOT}/todo`);
  await page.locator("dialog.miniapp iframe").waitFor();
  let frame;
  for (let i = 0; i < 100 && !frame; i++) {
    frame = page.frames().find((f) => f.url().startsWith("http://todo."));
    if (!frame) await page.waitForTimeout(50);
  }
  await frame.waitForFunction(() => window.Telegram?.WebApp?.initData);
  const times = await frame.evaluate(async (n) => {
    const cs = window.Telegram.WebApp.CloudStorage;
    const out = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      const got = await new Promise((resolve, reject) =>
        cs.setItem("bench_key", `value ${i}`, (e) => (e ? reject(new Error(e)) : cs.getItem("bench_key", (e2, v) => (e2 ? reject(new Error(e2)) : resolve(v))))),
      );
      if (got !== `value ${i}`) throw new Error(`read back ${got}`);
      out.push(performance.now() - t0);
    }
    await new Promise((r) => cs.removeItem("bench_key", r));
    return out;
  }, ROUND_TRIPS);
  console.log(`bridge round trip, CloudStorage setItem then getItem (to-do app): median ${ms(quantile(times, 0.5))} p95 ${ms(quantile(times, 0.95))} (${ROUND_TRIPS} pairs)`);
  await context.close();
}

if (SHOTS) {
  for (const theme of ["light", "dark"]) {
    for (const [name, viewport] of [["phone", { width: 375, height: 740 }], ["desktop", { width: 1280, height: 800 }]]) {
      const context = await browser.newContext({ viewport, deviceScaleFactor: 2 });
      const page = await botChat(context, theme);
      await launch(page);
      const app = page.frameLocator("dialog.miniapp iframe");
      if (name === "desktop") {
        await page.locator('dialog.miniapp button[aria-label="App menu"]').click();
        await page.locator(".popup-menu").getByText("Devtools", { exact: true }).click();
        await page.locator(".devtools").waitFor();
      }
      // Two items in the cart: the host draws the app's main button ("View order · …").
      await app.getByRole("button", { name: /^Add/ }).first().click();
      await app.getByRole("button", { name: /^Add/ }).nth(1).click();
      await page.locator("dialog.miniapp .miniapp-main:not([hidden])").waitFor();
      await page.waitForTimeout(300);
      await page.screenshot({ path: `${SHOTS}/miniapp-${name}-${theme}.png` });
      await context.close();
    }
  }
  console.log(`screenshots written to ${SHOTS}`);
}
await browser.close();
