// The web client's figures in Debian's Chromium (playwright-core), against a running Plaza:
//   first load: bytes transferred (cold cache, as the network saw them) and the time from
//     navigation start until the chat list is usable (its first chat is in the page), signed in
//     (token in localStorage) and at the sign-in screen;
//   message latency: the time from pressing Enter in one browser to the message appearing in
//     another browser's open chat (median, p95), each message sent after the previous arrived.
// Both pages run in one browser on one machine, so their clocks (performance.timeOrigin +
// performance.now()) are comparable. Run through bench/web.

import { chromium } from "playwright-core";

const URL = process.env.PLAZA_URL.replace(/\/+$/, "");
const LOADS = Number(process.env.LOADS ?? 20);
const MESSAGES = Number(process.env.MESSAGES ?? 200);

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
  for (;;) {
    const res = await call(path, token, body);
    // Sign-ups are rate-limited per address, as they should be: wait as told.
    if (res.status !== 429) return res.json();
    await new Promise((r) => setTimeout(r, 1000 * Number(res.headers.get("retry-after") ?? 1)));
  }
}

async function call(path, token, body) {
  const res = await fetch(`${URL}/api/v1${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok && res.status !== 429) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return res;
}

// Two people with a chat between them and some history, like a returning user's.
const run = Math.random().toString(36).slice(2, 7);
const a = await api("/auth/signup", null, { username: `bench_a_${run}`, password: "bench-pw", display_name: "Bench A" });
const b = await api("/auth/signup", null, { username: `bench_b_${run}`, password: "bench-pw", display_name: "Bench B" });
await api("/chats/private", a.token, { username: b.user.username });
// A private chat is named by the other side's user id.
for (let i = 0; i < 60; i++) {
  const [token, peer] = i % 2 ? [a.token, b.user.id] : [b.token, a.user.id];
  await api(`/chats/${peer}/messages`, token, { text: `history ${i}` });
}
for (let i = 0; i < 10; i++) {
  const other = await api("/auth/signup", null, { username: `bench_${i}_${run}`, password: "bench-pw", display_name: `Friend ${i}` });
  const c = await api("/chats/private", other.token, { username: a.user.username });
  await api(`/chats/${c.id}/messages`, other.token, { text: `hello from friend ${i}` });
}

/** One cold load in a fresh context: bytes on the wire and ms until `selector` is in the page. */
async function coldLoad(token, selector) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  if (token) await context.addInitScript((t) => localStorage.setItem("plaza.token", t), token);
  await context.addInitScript((sel) => {
    new MutationObserver((_, obs) => {
      if (document.querySelector(sel)) {
        window.__usable = performance.now();
        obs.disconnect();
      }
    }).observe(document, { childList: true, subtree: true });
  }, selector);
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  let bytes = 0;
  let requests = 0;
  cdp.on("Network.loadingFinished", (e) => {
    bytes += e.encodedDataLength;
    requests += 1;
  });
  await page.goto(URL);
  await page.waitForFunction(() => window.__usable !== undefined);
  const usable = await page.evaluate(() => window.__usable);
  // Whatever the page fetches right after (the WebSocket upgrade is not a loading request).
  await page.waitForLoadState("networkidle");
  await context.close();
  return { bytes, requests, usable };
}

function report(name, loads) {
  const bytes = loads.map((l) => l.bytes);
  const times = loads.map((l) => l.usable);
  console.log(
    `| ${name.padEnd(34)} | ${String(Math.round(quantile(bytes, 0.5))).padStart(7)} B (${(quantile(bytes, 0.5) / 1024).toFixed(1)} KiB) | ${String(loads[0].requests).padStart(8)} | ${ms(quantile(times, 0.5)).padStart(9)} | ${ms(quantile(times, 0.95)).padStart(9)} |`,
  );
}

console.log(`first load, cold cache, ${LOADS} loads each (1280×800):\n`);
console.log(`| ${"page".padEnd(34)} | transferred (median)  | requests | usable p50 |  usable p95 |`);
console.log(`|${"-".repeat(36)}|-----------------------|----------|-----------|-----------|`);
const signedIn = [];
const signIn = [];
for (let i = 0; i < LOADS; i++) {
  signedIn.push(await coldLoad(a.token, ".chat-item"));
  signIn.push(await coldLoad(null, "input[name=password]"));
}
report("chat list (signed in, 11 chats)", signedIn);
report("sign-in screen", signIn);

// ---- latency between two browsers ----
async function openChat(token, chatId) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
  await context.addInitScript((t) => localStorage.setItem("plaza.token", t), token);
  const page = await context.newPage();
  await page.goto(`${URL}/#${chatId}`);
  await page.locator(".msg").first().waitFor();
  return page;
}
const sender = await openChat(a.token, b.user.id);
const receiver = await openChat(b.token, a.user.id);
await receiver.evaluate(() => {
  window.__seen = new Map();
  new MutationObserver(() => {
    for (const el of document.querySelectorAll(".msg .text")) {
      const t = el.textContent ?? "";
      if (t.startsWith("bench ") && !window.__seen.has(t)) window.__seen.set(t, performance.timeOrigin + performance.now());
    }
  }).observe(document.querySelector(".messages"), { childList: true, subtree: true });
});
const latencies = [];
for (let i = 0; i < MESSAGES; i++) {
  const text = `bench ${i}`;
  const sentAt = await sender.evaluate((t) => {
    const box = document.querySelector("textarea[name=message]");
    box.value = t;
    box.dispatchEvent(new Event("input"));
    const at = performance.timeOrigin + performance.now();
    box.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true, cancelable: true }));
    return at;
  }, text);
  await receiver.waitForFunction((t) => window.__seen.has(t), text, { timeout: 10_000 });
  const seenAt = await receiver.evaluate((t) => window.__seen.get(t), text);
  latencies.push(seenAt - sentAt);
  await sender.locator(".msg.mine .text", { hasText: text }).first().waitFor();
}
console.log(`\nmessage latency, Enter in one browser → shown in the other's open chat, ${MESSAGES} messages one after another:`);
console.log(`  median ${ms(quantile(latencies, 0.5))}, p95 ${ms(quantile(latencies, 0.95))}, max ${ms(Math.max(...latencies))}`);
await browser.close();
