// Plaza's telegram-web-app.js in real headless Chromium (Debian's, driven by playwright-core), entirely
// offline: page.route() serves a fake host page (http://host.test/) that frames a mini app
// (http://app.test/) loading the script under test, records every message the frame posts and answers
// like a Telegram web client would (theme, viewport, safe areas, popups, custom methods for
// CloudStorage and contacts, device storage, ...). The checks drive `Telegram.WebApp` inside the
// frame the way mini apps do and compare what reaches the host and what the app is told.
//
// Usage: node telegram_web_app_js.mjs <compiled telegram-web-app.js>
// Environment: CHROMIUM (default /usr/bin/chromium). Prints one line per check, then
// "telegram_web_app_js: N passed, M failed"; exits non-zero when any check failed.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isDeepStrictEqual, inspect } from "node:util";
import { chromium } from "playwright-core";

const scriptPath = process.argv[2];
if (!scriptPath) {
  console.error("usage: node telegram_web_app_js.mjs <telegram-web-app.js>");
  process.exit(2);
}
const SCRIPT = readFileSync(scriptPath, "utf8");
const TIMEOUT = 5_000;

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

let passed = 0;
let failed = 0;

function check(name, ok, detail) {
  if (ok) {
    passed++;
    console.log(`ok   ${name}`);
  } else {
    failed++;
    console.log(`FAIL ${name}${detail === undefined ? "" : ": " + inspect(detail, { depth: 6, breakLength: Infinity })}`);
  }
}

function eq(name, actual, expected) {
  check(name, isDeepStrictEqual(actual, expected), { actual, expected });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// Launch parameters
// ---------------------------------------------------------------------------------------------

const USER = {
  id: 279058397,
  first_name: "Vladislav",
  last_name: "Kibenko",
  username: "vdkfrost",
  language_code: "en",
  is_premium: true,
  allows_write_to_pm: true,
};
const CHAT = { id: -1001234567890, type: "supergroup", title: "Plaza & friends" };
// URLSearchParams writes spaces as "+", as Telegram's clients do.
const INIT_DATA = new URLSearchParams({
  query_id: "AAHdF6IQAAAAAN0XohDhrOrc",
  user: JSON.stringify(USER),
  chat: JSON.stringify(CHAT),
  chat_instance: "8134722200314281151",
  chat_type: "supergroup",
  start_param: "promo-42",
  auth_date: "1700000000",
  can_send_after: "5",
  signature: "zL-ucjNyREiHDE8aihFwpfR9aggP2xiAo3NSpfe-p7IbCisNlDKlo7Kb6G4D0Ao2mBrSgEk4maLSdv6MLIlADQ",
  hash: "c501b71e775f74ce10e377dea85a7ea24ecd640b223ea86dfe453e0eaed2e2b2",
}).toString();

const DARK = {
  bg_color: "#17212b",
  secondary_bg_color: "#232e3c",
  text_color: "#f5f5f5",
  hint_color: "#708499",
  link_color: "#6ab3f3",
  button_color: "#5288c1",
  button_text_color: "#ffffff",
  accent_text_color: "#6ab2f2",
  bottom_bar_bg_color: "#0e1621",
};
const LIGHT = {
  bg_color: "#ffffff",
  secondary_bg_color: "#f0f0f0",
  text_color: "#000000",
  button_color: "#3390ec",
  button_text_color: "#ffffff",
  bottom_bar_bg_color: "#fafafa",
};

/** The app's URL as a host builds it: tgWebAppData is the init data query string, URL-encoded once more. */
function appUrl(version, { page = "index.html" } = {}) {
  return (
    `http://app.test/${page}?tgWebAppStartParam=promo-42#tgWebAppData=${encodeURIComponent(INIT_DATA)}` +
    `&tgWebAppVersion=${version}&tgWebAppPlatform=weba` +
    `&tgWebAppThemeParams=${encodeURIComponent(JSON.stringify(DARK))}`
  );
}

// ---------------------------------------------------------------------------------------------
// The fake origins
// ---------------------------------------------------------------------------------------------

const APP_PAGE = `<!doctype html><html><head><meta charset=utf-8><title>mini app</title>
<script src="/js/telegram-web-app.js"></script>
<script>
  // What the script knew when it loaded, before any host answer: launch parameters and sessionStorage.
  window.atLoad = { bg: Telegram.WebApp.themeParams.bg_color, initData: Telegram.WebApp.initData };
</script></head>
<body><p>A mini app</p><a id=tme href="https://t.me/plazabot?start=go">open the bot</a></body></html>`;

// A native app's web view: TelegramWebviewProxy exists before the script loads.
const PROXY_PAGE = `<!doctype html><html><head><meta charset=utf-8><title>native</title>
<script>window.proxied = []; window.TelegramWebviewProxy = { postEvent(t, d) { window.proxied.push([t, d]); } };</script>
<script src="/js/telegram-web-app.js"></script></head><body></body></html>`;

// The host: frames the app like Plaza's web client (same sandbox), records what it posts and answers.
const HOST_PAGE = `<!doctype html><html><head><meta charset=utf-8><title>host</title></head><body>
<iframe id=app width=400 height=640 sandbox="allow-scripts allow-same-origin allow-popups allow-forms allow-modals"></iframe>
<script>
const frame = document.getElementById("app");
window.received = [];
window.theme = ${JSON.stringify(DARK)};
window.popupAnswers = [];
window.cloud = {};
window.device = {};
window.contactPolls = 0;

window.send = (eventType, eventData) =>
  frame.contentWindow.postMessage(JSON.stringify({ eventType, eventData }), "*");
window.load = (url) => { frame.src = url; };

window.addEventListener("message", (event) => {
  if (event.source !== frame.contentWindow) return;
  let message;
  try { message = JSON.parse(event.data); } catch { message = { unparsed: String(event.data) }; }
  received.push(message);
  respond(message.eventType, message.eventData);
});

function respond(type, data) {
  switch (type) {
    case "web_app_request_theme": return send("theme_changed", { theme_params: theme });
    case "web_app_request_viewport":
    case "web_app_expand":
      return send("viewport_changed", { height: 640, width: 400, is_expanded: true, is_state_stable: true });
    case "web_app_request_safe_area": return send("safe_area_changed", { top: 11, bottom: 22, left: 0, right: 0 });
    case "web_app_request_content_safe_area":
      return send("content_safe_area_changed", { top: 33, bottom: 0, left: 4, right: 4 });
    case "web_app_open_popup": {
      const answer = popupAnswers.length ? popupAnswers.shift() : {};
      if (answer !== "hold") send("popup_closed", answer);
      return;
    }
    case "web_app_invoke_custom_method": return customMethod(data);
    case "web_app_request_phone": return send("phone_requested", { status: "sent" });
    case "web_app_read_text_from_clipboard":
      return send("clipboard_text_received", { req_id: data.req_id, data: "copied text" });
    case "web_app_device_storage_save_key":
      if (data.key === "broken") return send("device_storage_failed", { req_id: data.req_id, error: "KEY_INVALID" });
      if (data.value === null) delete device[data.key]; else device[data.key] = data.value;
      return send("device_storage_key_saved", { req_id: data.req_id });
    case "web_app_device_storage_get_key":
      return send("device_storage_key_received", { req_id: data.req_id, value: device[data.key] ?? null });
    case "web_app_secure_storage_get_key":
      return send("secure_storage_key_received", { req_id: data.req_id, value: null, can_restore: true });
    case "web_app_request_fullscreen": return send("fullscreen_changed", { is_fullscreen: true });
    case "web_app_check_home_screen": return send("home_screen_checked", { status: "unsupported" });
    case "web_app_biometry_get_info": return send("biometry_info_received", { available: false });
    case "web_app_start_accelerometer": return send("accelerometer_failed", { error: "UNSUPPORTED" });
    case "web_app_open_invoice": return send("invoice_closed", { slug: data.slug, status: "paid" });
  }
}

function customMethod({ req_id, method, params }) {
  let result;
  switch (method) {
    case "saveStorageValue": cloud[params.key] = params.value; result = true; break;
    case "getStorageValues": result = Object.fromEntries(params.keys.map((k) => [k, cloud[k] ?? ""])); break;
    case "deleteStorageValues": for (const k of params.keys) delete cloud[k]; result = true; break;
    case "getStorageKeys": result = Object.keys(cloud); break;
    case "getRequestedContact":
      // Not ready for the first two polls, as when the contact message is still on its way.
      result = ++contactPolls < 3 ? "" :
        "contact=" + encodeURIComponent(JSON.stringify({ user_id: 279058397, phone_number: "15550001234", first_name: "Vladislav" })) +
        "&auth_date=1700000001&hash=abcdef";
      break;
    default: return send("custom_method_invoked", { req_id, error: "METHOD_INVALID" });
  }
  send("custom_method_invoked", { req_id, result });
}
</script></body></html>`;

// ---------------------------------------------------------------------------------------------
// Browser plumbing
// ---------------------------------------------------------------------------------------------

// The launch parameters survive reloads in the frame's sessionStorage. Chromium blocks storage in
// cross-site frames by default (third-party cookie blocking), so the main scenarios use a profile
// that allows it, as a person's browser may; storageBlockedScenario covers the default.
const profile = mkdtempSync(join(tmpdir(), "plaza-twa-"));
mkdirSync(join(profile, "Default"));
writeFileSync(
  join(profile, "Default", "Preferences"),
  JSON.stringify({ profile: { cookie_controls_mode: 0, block_third_party_cookies: false } }),
);
const launchOptions = {
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
  headless: true,
};
const context = await chromium.launchPersistentContext(profile, launchOptions);
context.setDefaultTimeout(TIMEOUT);
await context.route("**/*", serve);

/** The fake origins: host.test (the host page) and app.test (the mini app and the script under test). */
function serve(route) {
  const url = new URL(route.request().url());
  const reply = (body, contentType = "text/html; charset=utf-8") => route.fulfill({ status: 200, contentType, body });
  if (url.host === "host.test" && url.pathname === "/") return reply(HOST_PAGE);
  if (url.host === "app.test" && url.pathname === "/index.html") return reply(APP_PAGE);
  if (url.host === "app.test" && url.pathname === "/proxy.html") return reply(PROXY_PAGE);
  if (url.host === "app.test" && url.pathname === "/js/telegram-web-app.js") {
    return reply(SCRIPT, "text/javascript; charset=utf-8");
  }
  return route.fulfill({ status: 404, body: "not found" });
}

const consoleLines = [];

/** A new tab (and so a fresh sessionStorage), in the shared profile unless another context is given. */
async function newPage(inContext = context) {
  const page = await inContext.newPage();
  page.on("console", (m) => consoleLines.push({ type: m.type(), text: m.text() }));
  page.on("pageerror", (e) => check(`no uncaught error in the page (${e.message})`, false));
  return page;
}

/** The mini app's frame inside the host page (found anew: reloads replace it). */
function appFrame(page) {
  return page.frames().find((f) => f !== page.mainFrame() && f.url().startsWith("http://app.test/"));
}

/** Waits until the framed app has loaded the script. */
async function appReady(page) {
  const deadline = Date.now() + TIMEOUT;
  while (Date.now() < deadline) {
    const frame = appFrame(page);
    if (frame) {
      try {
        if (await frame.evaluate(() => document.readyState === "complete" && !!window.Telegram?.WebApp)) return frame;
      } catch {}
    }
    await sleep(50);
  }
  throw new Error("the mini app did not load");
}

/** Runs `fn` in the app frame; a promise it returns is awaited, with a timeout. */
async function inApp(page, fn, arg) {
  const frame = await appReady(page);
  return Promise.race([
    frame.evaluate(fn, arg),
    sleep(TIMEOUT).then(() => ({ timedOut: true })),
  ]);
}

/** Posts a sentinel from the app and waits for it: messages posted before it have then arrived (postMessage keeps order). */
async function flush(host) {
  const id = Math.random().toString(36).slice(2);
  await inApp(host, (id) => window.Telegram.WebView.postEvent("plaza_test_sentinel", false, { id }), id);
  await host.waitForFunction(
    (id) => window.received.some((m) => m.eventType === "plaza_test_sentinel" && m.eventData?.id === id),
    id,
  );
  return id;
}

/** A mark for `received` and `since`: how many messages the host has once the app's earlier ones arrived. */
async function count(host) {
  await flush(host);
  return host.evaluate(() => window.received.length);
}

/** Waits until the app has handled every event the host sent so far: a ping it answers (in order). */
async function delivered(host) {
  const id = Math.random().toString(36).slice(2);
  await inApp(host, () => {
    if (window.pingInstalled) return;
    window.pingInstalled = true;
    window.Telegram.WebView.onEvent("plaza_test_ping", (_type, data) =>
      window.Telegram.WebView.postEvent("plaza_test_pong", false, data),
    );
  });
  await host.evaluate((id) => window.send("plaza_test_ping", { id }), id);
  await host.waitForFunction(
    (id) => window.received.some((m) => m.eventType === "plaza_test_pong" && m.eventData?.id === id),
    id,
  );
}

/** Messages of `type` the host received since `mark`, once at least one has arrived. */
async function received(host, type, mark) {
  try {
    await host.waitForFunction(
      ([t, m]) => window.received.slice(m).some((msg) => msg.eventType === t),
      [type, mark],
      { timeout: TIMEOUT },
    );
  } catch {
    return [];
  }
  return host.evaluate(([t, m]) => window.received.slice(m).filter((msg) => msg.eventType === t), [type, mark]);
}

/** Everything the app posted since `mark` (sentinels left out). */
async function since(host, mark) {
  const id = await flush(host);
  return host.evaluate(
    ([m, id]) => {
      const all = window.received.slice(m);
      const end = all.findIndex((msg) => msg.eventType === "plaza_test_sentinel" && msg.eventData?.id === id);
      return all.slice(0, end).filter((msg) => !msg.eventType.startsWith("plaza_test_"));
    },
    [mark, id],
  );
}

/** Starts `fn` (returning a promise) in the app now; the function returned waits for its result. */
async function arm(host, fn) {
  const key = Math.random().toString(36).slice(2);
  await inApp(
    host,
    ([key, source]) => {
      window.armed ??= {};
      window.armed[key] = new Function(`return (${source})()`)();
    },
    [key, fn.toString()],
  );
  return () => inApp(host, (key) => window.armed[key], key);
}

/** Calls `fn` in the app and reports the error name it throws (null when it does not throw). */
const throwsIn = (page, fn, arg) =>
  inApp(
    page,
    ([source, arg]) => {
      try {
        new Function("arg", source)(arg);
        return null;
      } catch (e) {
        return e instanceof Error ? e.message : String(e);
      }
    },
    [fn, arg],
  );

// ---------------------------------------------------------------------------------------------
// A 9.1 launch in a frame
// ---------------------------------------------------------------------------------------------

async function mainScenario() {
  const host = await newPage();
  await host.goto("http://host.test/");
  await host.evaluate((url) => window.load(url), appUrl("9.1"));
  await appReady(host);

  // Startup: the handshake and the requests the official script makes.
  await received(host, "web_app_request_content_safe_area", 0);
  const startup = await host.evaluate(() => window.received.map((m) => m.eventType));
  eq("the first message is iframe_ready", (await host.evaluate(() => window.received[0])), {
    eventType: "iframe_ready",
    eventData: { reload_supported: true },
  });
  for (const type of [
    "web_app_request_theme",
    "web_app_request_viewport",
    "web_app_request_safe_area",
    "web_app_request_content_safe_area",
    "web_app_set_header_color",
    "web_app_set_background_color",
    "web_app_set_bottom_bar_color",
  ]) {
    check(`startup posts ${type}`, startup.includes(type), startup);
  }
  eq(
    "parameterless methods carry eventData ''",
    (await host.evaluate(() => window.received.find((m) => m.eventType === "web_app_request_theme"))).eventData,
    "",
  );
  eq(
    "the header colour starts as the bg_color key",
    (await host.evaluate(() => window.received.find((m) => m.eventType === "web_app_set_header_color"))).eventData,
    { color_key: "bg_color" },
  );
  check("the script does not define TelegramWebviewProxy", await inApp(host, () => !("TelegramWebviewProxy" in window)));

  // Launch parameters and init data.
  const launch = await inApp(host, () => {
    const w = window.Telegram.WebApp;
    return {
      initData: w.initData,
      unsafe: w.initDataUnsafe,
      version: w.version,
      platform: w.platform,
      startParam: window.Telegram.WebView.initParams.tgWebAppStartParam,
      isIframe: window.Telegram.WebView.isIframe,
    };
  });
  eq("initData is the query string as sent", launch.initData, INIT_DATA);
  eq("initDataUnsafe.user is parsed", launch.unsafe.user, USER);
  eq("initDataUnsafe.user.id", launch.unsafe.user?.id, 279058397);
  eq("initDataUnsafe.chat is parsed (+ decodes to a space)", launch.unsafe.chat, CHAT);
  eq("initDataUnsafe.query_id", launch.unsafe.query_id, "AAHdF6IQAAAAAN0XohDhrOrc");
  eq("initDataUnsafe.start_param", launch.unsafe.start_param, "promo-42");
  eq("initDataUnsafe.auth_date is a number", launch.unsafe.auth_date, 1700000000);
  eq("initDataUnsafe.can_send_after is a number", launch.unsafe.can_send_after, 5);
  eq("initDataUnsafe.chat_instance stays a string", launch.unsafe.chat_instance, "8134722200314281151");
  eq("initDataUnsafe.hash", launch.unsafe.hash, "c501b71e775f74ce10e377dea85a7ea24ecd640b223ea86dfe453e0eaed2e2b2");
  eq("version", launch.version, "9.1");
  eq("platform", launch.platform, "weba");
  eq("tgWebAppStartParam from the query", launch.startParam, "promo-42");
  eq("WebView.isIframe", launch.isIframe, true);
  eq(
    "isVersionAtLeast",
    await inApp(host, () => [
      window.Telegram.WebApp.isVersionAtLeast("9.1"),
      window.Telegram.WebApp.isVersionAtLeast("9.0"),
      window.Telegram.WebApp.isVersionAtLeast("9.10"),
      window.Telegram.WebApp.isVersionAtLeast("10"),
    ]),
    [true, true, false, false],
  );

  // Theme from the launch parameters, CSS variables.
  const css = (names) =>
    inApp(
      host,
      (names) => names.map((n) => getComputedStyle(document.documentElement).getPropertyValue(n).trim()),
      names,
    );
  const theme = await inApp(host, () => ({
    params: { ...window.Telegram.WebApp.themeParams },
    scheme: window.Telegram.WebApp.colorScheme,
  }));
  eq("themeParams from tgWebAppThemeParams", theme.params, DARK);
  eq("colorScheme from bg_color luminance", theme.scheme, "dark");
  eq(
    "theme CSS variables",
    await css(["--tg-theme-bg-color", "--tg-theme-secondary-bg-color", "--tg-theme-accent-text-color", "--tg-color-scheme"]),
    [DARK.bg_color, DARK.secondary_bg_color, DARK.accent_text_color, "dark"],
  );

  // Viewport and safe areas, from the host's answers to the startup requests.
  await inApp(host, () => new Promise((resolve) => {
    const poll = () => (window.Telegram.WebApp.contentSafeAreaInset.top === 33 ? resolve() : setTimeout(poll, 20));
    poll();
  }));
  const viewport = await inApp(host, () => {
    const w = window.Telegram.WebApp;
    return [w.viewportHeight, w.viewportStableHeight, w.isExpanded, { ...w.safeAreaInset }, { ...w.contentSafeAreaInset }];
  });
  eq("viewport and safe areas from the host", viewport, [
    640,
    640,
    true,
    { top: 11, bottom: 22, left: 0, right: 0 },
    { top: 33, bottom: 0, left: 4, right: 4 },
  ]);
  eq(
    "viewport and safe area CSS variables",
    await css([
      "--tg-viewport-height",
      "--tg-viewport-stable-height",
      "--tg-safe-area-inset-top",
      "--tg-safe-area-inset-bottom",
      "--tg-content-safe-area-inset-top",
      "--tg-content-safe-area-inset-left",
    ]),
    ["640px", "640px", "11px", "22px", "33px", "4px"],
  );
  let mark = await count(host);
  const viewportEvent = inApp(host, () => new Promise((resolve) => {
    window.Telegram.WebApp.onEvent("viewportChanged", function (event) {
      resolve({ event, height: this.viewportHeight });
    });
    window.Telegram.WebApp.expand();
  }));
  eq("expand posts web_app_expand", (await received(host, "web_app_expand", mark)).map((m) => m.eventData), [""]);
  eq("viewportChanged reaches onEvent with this = WebApp", await viewportEvent, {
    event: { isStateStable: true },
    height: 640,
  });

  // A new theme from the host.
  mark = await count(host);
  const themeChanged = await arm(host, () => new Promise((resolve) => {
    window.Telegram.WebApp.onEvent("themeChanged", function () {
      resolve({ scheme: this.colorScheme, bg: this.themeParams.bg_color });
    });
  }));
  await host.evaluate((theme) => {
    window.theme = theme;
    window.send("theme_changed", { theme_params: theme });
  }, LIGHT);
  eq("themeChanged with the new theme", await themeChanged(), { scheme: "light", bg: LIGHT.bg_color });
  eq("CSS variables follow the theme", await css(["--tg-theme-bg-color", "--tg-color-scheme"]), [LIGHT.bg_color, "light"]);
  eq(
    "the background colour follows the theme",
    (await received(host, "web_app_set_background_color", mark)).map((m) => m.eventData),
    [{ color: LIGHT.bg_color }],
  );

  // MainButton.
  mark = await count(host);
  await inApp(host, () => window.Telegram.WebApp.MainButton.setText("Pay 5 €").show());
  eq("MainButton.setText().show() sends the full parameter set", (await since(host, mark)).at(-1)?.eventData, {
    is_visible: true,
    is_active: true,
    is_progress_visible: false,
    text: "Pay 5 €",
    color: LIGHT.button_color,
    text_color: LIGHT.button_text_color,
    has_shine_effect: false,
  });
  mark = await count(host);
  await inApp(host, () => window.Telegram.WebApp.MainButton.show().setText("Pay 5 €"));
  eq("an unchanged MainButton posts nothing", await since(host, mark), []);
  const mainClick = await arm(host, () => new Promise((resolve) => {
    const button = window.Telegram.WebApp.MainButton;
    button.onClick(function handler() {
      button.offClick(handler);
      resolve(this === window.Telegram.WebApp);
    });
  }));
  await host.evaluate(() => window.send("main_button_pressed", null));
  eq("main_button_pressed reaches MainButton.onClick", await mainClick(), true);
  mark = await count(host);
  await inApp(host, () => window.Telegram.WebApp.MainButton.showProgress());
  eq(
    "showProgress deactivates the button",
    (await since(host, mark)).map((m) => [m.eventData.is_active, m.eventData.is_progress_visible]),
    [[false, true]],
  );
  mark = await count(host);
  await inApp(host, () => {
    const button = window.Telegram.WebApp.MainButton;
    window.mainClicks = 0;
    button.onClick(() => window.mainClicks++);
  });
  await host.evaluate(() => window.send("main_button_pressed", null));
  await delivered(host);
  eq("an inactive MainButton ignores presses", await inApp(host, () => window.mainClicks), 0);
  await inApp(host, () => window.Telegram.WebApp.MainButton.hideProgress());
  await host.evaluate(() => window.send("main_button_pressed", null));
  await delivered(host);
  eq("an active MainButton reports presses", await inApp(host, () => window.mainClicks), 1);
  eq(
    "MainButton text over 64 characters throws",
    await throwsIn(host, "Telegram.WebApp.MainButton.setText('x'.repeat(65))"),
    "WebAppBottomButtonParamInvalid",
  );
  eq(
    "MainButton colour must be a colour",
    await throwsIn(host, "Telegram.WebApp.MainButton.setParams({ color: 'blue-ish' })"),
    "WebAppBottomButtonParamInvalid",
  );
  eq(
    "MainButton #rgb colour is expanded",
    await inApp(host, () => window.Telegram.WebApp.MainButton.setParams({ color: "#AbC" }).color),
    "#aabbcc",
  );
  mark = await count(host);
  await inApp(host, () => window.Telegram.WebApp.MainButton.hide());
  eq("MainButton.hide", (await since(host, mark)).map((m) => m.eventData), [{ is_visible: false }]);

  // SecondaryButton.
  mark = await count(host);
  await inApp(host, () => window.Telegram.WebApp.SecondaryButton.setParams({ text: "Later", position: "top", is_visible: true }));
  eq("SecondaryButton sends its position and the bottom bar colour", (await since(host, mark)).at(-1)?.eventData, {
    is_visible: true,
    is_active: true,
    is_progress_visible: false,
    text: "Later",
    color: LIGHT.bottom_bar_bg_color,
    text_color: LIGHT.button_color,
    has_shine_effect: false,
    position: "top",
  });
  eq(
    "SecondaryButton position is checked",
    await throwsIn(host, "Telegram.WebApp.SecondaryButton.position = 'middle'"),
    "WebAppBottomButtonParamInvalid",
  );

  // BackButton and SettingsButton.
  mark = await count(host);
  const backClick = inApp(host, () => new Promise((resolve) => {
    window.Telegram.WebApp.BackButton.onClick(() => resolve("clicked")).show();
  }));
  eq("BackButton.show", (await received(host, "web_app_setup_back_button", mark)).map((m) => m.eventData), [
    { is_visible: true },
  ]);
  await host.evaluate(() => window.send("back_button_pressed"));
  eq("back_button_pressed reaches BackButton.onClick", await backClick, "clicked");
  mark = await count(host);
  await inApp(host, () => {
    window.Telegram.WebApp.BackButton.isVisible = false;
  });
  eq("BackButton.isVisible = false", (await since(host, mark)).map((m) => m.eventData), [{ is_visible: false }]);
  mark = await count(host);
  const settingsClick = inApp(host, () => new Promise((resolve) => {
    window.Telegram.WebApp.onEvent("settingsButtonClicked", () => resolve("settings"));
    window.Telegram.WebApp.SettingsButton.show();
  }));
  eq(
    "SettingsButton.show",
    (await received(host, "web_app_setup_settings_button", mark)).map((m) => m.eventData),
    [{ is_visible: true }],
  );
  await host.evaluate(() => window.send("settings_button_pressed", null));
  eq("settings_button_pressed reaches settingsButtonClicked", await settingsClick, "settings");

  // Popups.
  mark = await count(host);
  await host.evaluate(() => window.popupAnswers.push({ button_id: "delete" }));
  const popupResult = inApp(host, () => new Promise((resolve) => {
    let closedEvent = null;
    window.Telegram.WebApp.onEvent("popupClosed", (event) => {
      closedEvent = event;
    });
    window.Telegram.WebApp.showPopup(
      {
        title: "Delete?",
        message: "  Really delete it?  ",
        buttons: [{ id: "delete", type: "destructive", text: "Delete" }, { type: "cancel" }],
      },
      (buttonId) => setTimeout(() => resolve({ buttonId, closedEvent }), 0),
    );
  }));
  eq("showPopup posts the checked parameters", (await received(host, "web_app_open_popup", mark)).map((m) => m.eventData), [
    {
      title: "Delete?",
      message: "Really delete it?",
      buttons: [{ id: "delete", type: "destructive", text: "Delete" }, { id: "", type: "cancel" }],
    },
  ]);
  eq("showPopup's callback gets the button id", await popupResult, {
    buttonId: "delete",
    closedEvent: { button_id: "delete" },
  });
  mark = await count(host);
  const invalidPopups = {
    "empty message": "Telegram.WebApp.showPopup({ message: '   ' })",
    "message over 256": "Telegram.WebApp.showPopup({ message: 'x'.repeat(257) })",
    "title over 64": "Telegram.WebApp.showPopup({ title: 't'.repeat(65), message: 'm' })",
    "no buttons": "Telegram.WebApp.showPopup({ message: 'm', buttons: [] })",
    "four buttons": "Telegram.WebApp.showPopup({ message: 'm', buttons: [{type:'ok'},{type:'ok'},{type:'ok'},{type:'ok'}] })",
    "button text over 64": "Telegram.WebApp.showPopup({ message: 'm', buttons: [{ text: 'b'.repeat(65) }] })",
    "default button without text": "Telegram.WebApp.showPopup({ message: 'm', buttons: [{ id: 'a' }] })",
    "unknown button type": "Telegram.WebApp.showPopup({ message: 'm', buttons: [{ type: 'maybe', text: 'x' }] })",
  };
  for (const [what, source] of Object.entries(invalidPopups)) {
    eq(`showPopup refuses: ${what}`, await throwsIn(host, source), "WebAppPopupParamInvalid");
  }
  eq("refused popups post nothing", await since(host, mark), []);

  await host.evaluate(() => window.popupAnswers.push("hold"));
  const heldPopup = inApp(host, () => new Promise((resolve) => window.Telegram.WebApp.showAlert("Hello", (...args) => resolve(args))));
  await received(host, "web_app_open_popup", mark);
  eq("a second popup while one is open throws", await throwsIn(host, "Telegram.WebApp.showAlert('again')"), "WebAppPopupOpened");
  await host.evaluate(() => window.send("popup_closed", {}));
  eq("showAlert's callback gets no arguments", await heldPopup, []);

  for (const [answer, expected] of [
    [{ button_id: "ok" }, true],
    [{ button_id: "" }, false],
    [{}, false],
  ]) {
    await host.evaluate((answer) => window.popupAnswers.push(answer), answer);
    eq(
      `showConfirm answered ${JSON.stringify(answer)} gives ${expected}`,
      await inApp(host, () => new Promise((resolve) => window.Telegram.WebApp.showConfirm("Sure?", resolve))),
      expected,
    );
  }
  eq(
    "showConfirm's buttons",
    (await host.evaluate(() => window.received.filter((m) => m.eventType === "web_app_open_popup").at(-1))).eventData,
    { message: "Sure?", buttons: [{ id: "ok", type: "ok" }, { id: "", type: "cancel" }] },
  );

  // CloudStorage through custom methods.
  mark = await count(host);
  const cloudCall = (source) =>
    inApp(host, (source) => new Promise((resolve) => {
      const storage = window.Telegram.WebApp.CloudStorage;
      const done = (...args) => resolve(args);
      new Function("storage", "done", source)(storage, done);
    }), source);
  eq("CloudStorage.setItem", await cloudCall("storage.setItem('greeting', 'hello', done)"), [null, true]);
  const saved = (await received(host, "web_app_invoke_custom_method", mark))[0]?.eventData;
  check("custom method request shape", /^[A-Za-z0-9]{16}$/.test(saved?.req_id ?? ""), saved);
  eq("saveStorageValue parameters", { method: saved?.method, params: saved?.params }, {
    method: "saveStorageValue",
    params: { key: "greeting", value: "hello" },
  });
  eq("CloudStorage.getItem", await cloudCall("storage.getItem('greeting', done)"), [null, "hello"]);
  await cloudCall("storage.setItem('count', '3', done)");
  eq("CloudStorage.getItems", await cloudCall("storage.getItems(['greeting', 'missing'], done)"), [
    null,
    { greeting: "hello", missing: "" },
  ]);
  eq("CloudStorage.getKeys", await cloudCall("storage.getKeys(done)"), [null, ["greeting", "count"]]);
  eq("CloudStorage.removeItem", await cloudCall("storage.removeItem('greeting', done)"), [null, true]);
  eq("CloudStorage.removeItems", await cloudCall("storage.removeItems(['count'], done)"), [null, true]);
  eq("CloudStorage.getKeys after removal", await cloudCall("storage.getKeys(done)"), [null, []]);
  eq(
    "CloudStorage methods return CloudStorage",
    await inApp(host, () => {
      const storage = window.Telegram.WebApp.CloudStorage;
      return storage.getKeys() === storage;
    }),
    true,
  );
  mark = await count(host);
  eq("a key with a space is refused", await cloudCall("storage.setItem('bad key', 'x', done)"), ["STORAGE_KEY_INVALID"]);
  eq("an empty key is refused", await cloudCall("storage.getItem('', done)"), ["STORAGE_KEY_INVALID"]);
  eq("a 129-character key is refused", await cloudCall("storage.removeItem('k'.repeat(129), done)"), [
    "STORAGE_KEY_INVALID",
  ]);
  eq("a 4097-character value is refused", await cloudCall("storage.setItem('k', 'v'.repeat(4097), done)"), [
    "STORAGE_VALUE_TOO_LONG",
  ]);
  eq("refused CloudStorage calls post nothing", await since(host, mark), []);
  eq(
    "a 128-character key and a 4096-character value pass",
    await cloudCall("storage.setItem('K_-9'.repeat(32), 'v'.repeat(4096), done)"),
    [null, true],
  );
  eq(
    "invokeCustomMethod passes errors to the callback",
    await inApp(host, () => new Promise((resolve) =>
      window.Telegram.WebApp.invokeCustomMethod("noSuchMethod", {}, (...args) => resolve(args)),
    )),
    ["METHOD_INVALID", null],
  );

  // requestContact polls getRequestedContact after phone_requested: sent.
  const contact = await inApp(host, () => new Promise((resolve) =>
    window.Telegram.WebApp.requestContact((sent, event) => resolve({ sent, event })),
  ));
  eq("requestContact's callback gets the signed contact", contact, {
    sent: true,
    event: {
      status: "sent",
      response:
        "contact=" +
        encodeURIComponent(JSON.stringify({ user_id: 279058397, phone_number: "15550001234", first_name: "Vladislav" })) +
        "&auth_date=1700000001&hash=abcdef",
      responseUnsafe: {
        contact: { user_id: 279058397, phone_number: "15550001234", first_name: "Vladislav" },
        auth_date: 1700000001,
        hash: "abcdef",
      },
    },
  });
  eq("getRequestedContact was polled until ready", await host.evaluate(() => window.contactPolls), 3);

  // Clipboard, DeviceStorage, SecureStorage.
  eq(
    "readTextFromClipboard",
    await inApp(host, () => new Promise((resolve) => window.Telegram.WebApp.readTextFromClipboard(resolve))),
    "copied text",
  );
  mark = await count(host);
  const deviceCall = (source) =>
    inApp(host, (source) => new Promise((resolve) => {
      new Function("storage", "done", source)(window.Telegram.WebApp.DeviceStorage, (...args) => resolve(args));
    }), source);
  eq("DeviceStorage.setItem", await deviceCall("storage.setItem('theme', 'dark', done)"), [null, true]);
  const deviceSave = (await received(host, "web_app_device_storage_save_key", mark))[0]?.eventData;
  eq("device storage request shape", { key: deviceSave?.key, value: deviceSave?.value, id: typeof deviceSave?.req_id }, {
    key: "theme",
    value: "dark",
    id: "string",
  });
  eq("DeviceStorage.getItem", await deviceCall("storage.getItem('theme', done)"), [null, "dark", null]);
  eq("DeviceStorage failures reach the callback", await deviceCall("storage.setItem('broken', 'x', done)"), [
    "KEY_INVALID",
    null,
  ]);
  eq("DeviceStorage.removeItem", await deviceCall("storage.removeItem('theme', done)"), [null, true]);
  eq("DeviceStorage.getItem of a removed key", await deviceCall("storage.getItem('theme', done)"), [null, null, null]);
  eq(
    "SecureStorage.getItem reports can_restore",
    await inApp(host, () => new Promise((resolve) =>
      window.Telegram.WebApp.SecureStorage.getItem("pin", (...args) => resolve(args)),
    )),
    [null, null, true],
  );

  // sendData.
  mark = await count(host);
  await inApp(host, () => window.Telegram.WebApp.sendData("order=42"));
  eq("sendData posts web_app_data_send", (await received(host, "web_app_data_send", mark)).map((m) => m.eventData), [
    { data: "order=42" },
  ]);
  eq("sendData('') throws", await throwsIn(host, "Telegram.WebApp.sendData('')"), "WebAppDataInvalid");
  eq("sendData over 4096 bytes throws", await throwsIn(host, "Telegram.WebApp.sendData('é'.repeat(2049))"), "WebAppDataInvalid");

  // Links and invoices.
  mark = await count(host);
  await inApp(host, () => window.Telegram.WebApp.openLink("https://example.com/docs?a=1", { try_instant_view: true }));
  await inApp(host, () => window.Telegram.WebApp.openTelegramLink("https://t.me/plazabot?start=x"));
  await inApp(host, () => document.getElementById("tme").click());
  const links = await since(host, mark);
  eq("openLink, openTelegramLink and a clicked t.me link", links.map((m) => [m.eventType, m.eventData]), [
    ["web_app_open_link", { url: "https://example.com/docs?a=1", try_instant_view: true }],
    ["web_app_open_tg_link", { path_full: "/plazabot?start=x" }],
    ["web_app_open_tg_link", { path_full: "/plazabot?start=go" }],
  ]);
  eq("the clicked t.me link did not navigate the frame", (await appReady(host)).url().startsWith("http://app.test/index.html"), true);
  eq("openLink refuses javascript: URLs", await throwsIn(host, "Telegram.WebApp.openLink('javascript:alert(1)')"), "WebAppTgUrlInvalid");
  eq(
    "openTelegramLink refuses other hosts",
    await throwsIn(host, "Telegram.WebApp.openTelegramLink('https://example.com/x')"),
    "WebAppTgUrlInvalid",
  );
  eq(
    "openInvoice posts the slug and reports the status",
    await inApp(host, () => new Promise((resolve) => window.Telegram.WebApp.openInvoice("https://t.me/$Ab-c_1=", resolve))),
    "paid",
  );

  // Fullscreen, home screen, biometrics, sensors, visibility.
  const fullscreen = await inApp(host, () => new Promise((resolve) => {
    window.Telegram.WebApp.onEvent("fullscreenChanged", function () {
      resolve([this.isFullscreen, sessionStorage.getItem("__telegram__isFullscreen")]);
    });
    window.Telegram.WebApp.requestFullscreen();
  }));
  eq("requestFullscreen, fullscreen_changed", fullscreen, [true, '"yes"']);
  eq(
    "checkHomeScreenStatus",
    await inApp(host, () => new Promise((resolve) => window.Telegram.WebApp.checkHomeScreenStatus(resolve))),
    "unsupported",
  );
  eq(
    "BiometricManager.init with no biometrics",
    await inApp(host, () => new Promise((resolve) => {
      const manager = window.Telegram.WebApp.BiometricManager;
      manager.init(() => resolve([manager.isInited, manager.isBiometricAvailable, manager.biometricType]));
    })),
    [true, false, "unknown"],
  );
  eq(
    "BiometricManager.requestAccess without biometrics throws",
    await throwsIn(host, "Telegram.WebApp.BiometricManager.requestAccess({ reason: 'why' })"),
    "WebAppBiometricManagerBiometricsNotAvailable",
  );
  eq(
    "Accelerometer.start reports accelerometer_failed",
    await inApp(host, () => new Promise((resolve) => {
      let failedEvent;
      window.Telegram.WebApp.onEvent("accelerometerFailed", (e) => {
        failedEvent = e;
      });
      window.Telegram.WebApp.Accelerometer.start({ refresh_rate: 100 }, (ok) =>
        setTimeout(() => resolve([ok, failedEvent, window.Telegram.WebApp.Accelerometer.isStarted]), 0),
      );
    })),
    [false, { error: "UNSUPPORTED" }, false],
  );
  const visibility = await arm(host, () => new Promise((resolve) => {
    const seen = [];
    window.Telegram.WebApp.onEvent("deactivated", () => seen.push(["deactivated", window.Telegram.WebApp.isActive]));
    window.Telegram.WebApp.onEvent("activated", () => {
      seen.push(["activated", window.Telegram.WebApp.isActive]);
      resolve(seen);
    });
  }));
  await host.evaluate(() => {
    window.send("visibility_changed", { is_visible: false });
    window.send("visibility_changed", { is_visible: true });
  });
  eq("visibility_changed: deactivated then activated", await visibility(), [
    ["deactivated", false],
    ["activated", true],
  ]);

  // Settings the app posts.
  mark = await count(host);
  await inApp(host, () => {
    const w = window.Telegram.WebApp;
    w.enableClosingConfirmation();
    w.disableVerticalSwipes();
    w.lockOrientation();
    w.setHeaderColor("#FF0000");
    w.setHeaderColor("secondary_bg_color");
    w.setBackgroundColor("#123");
    w.setBottomBarColor("bg_color");
    w.HapticFeedback.impactOccurred("medium");
    w.hideKeyboard();
  });
  eq("settings post their methods", (await since(host, mark)).map((m) => [m.eventType, m.eventData]), [
    ["web_app_setup_closing_behavior", { need_confirmation: true }],
    ["web_app_setup_swipe_behavior", { allow_vertical_swipe: false }],
    ["web_app_toggle_orientation_lock", { locked: true }],
    ["web_app_set_header_color", { color: "#ff0000" }],
    ["web_app_set_header_color", { color_key: "secondary_bg_color" }],
    ["web_app_set_background_color", { color: "#112233" }],
    ["web_app_set_bottom_bar_color", { color: LIGHT.bg_color }],
    // The visible SecondaryButton's default colour is the bottom bar's, so it is updated too.
    [
      "web_app_setup_secondary_button",
      {
        is_visible: true,
        is_active: true,
        is_progress_visible: false,
        text: "Later",
        color: LIGHT.bg_color,
        text_color: LIGHT.button_color,
        has_shine_effect: false,
        position: "top",
      },
    ],
    ["web_app_trigger_haptic_feedback", { type: "impact", impact_style: "medium" }],
    ["web_app_hide_keyboard", ""],
  ]);
  eq(
    "state after the settings",
    await inApp(host, () => {
      const w = window.Telegram.WebApp;
      return [w.isClosingConfirmationEnabled, w.isVerticalSwipesEnabled, w.isOrientationLocked, w.headerColor, w.backgroundColor];
    }),
    [true, false, true, LIGHT.secondary_bg_color, "#112233"],
  );
  eq("setHeaderColor refuses a non-colour", await throwsIn(host, "Telegram.WebApp.setHeaderColor('nope')"), "WebAppHeaderColorInvalid");
  eq(
    "HapticFeedback refuses an unknown style",
    await throwsIn(host, "Telegram.WebApp.HapticFeedback.impactOccurred('huge')"),
    "WebAppHapticImpactStyleInvalid",
  );

  // Other ways events arrive, and messages that must be ignored.
  eq(
    "WebView.receiveEvent and TelegramGameProxy.receiveEvent deliver events",
    await inApp(host, () => {
      const seen = [];
      window.Telegram.WebApp.onEvent("backButtonClicked", () => seen.push("back"));
      window.Telegram.WebView.receiveEvent("back_button_pressed", null);
      window.TelegramGameProxy.receiveEvent("back_button_pressed");
      window.TelegramGameProxy_receiveEvent("back_button_pressed");
      return seen;
    }),
    ["back", "back", "back"],
  );
  await inApp(host, () => {
    window.foreign = 0;
    window.Telegram.WebApp.onEvent("settingsButtonClicked", () => window.foreign++);
    // Not from the parent: ignored.
    window.postMessage(JSON.stringify({ eventType: "settings_button_pressed", eventData: null }), "*");
  });
  await since(host, await count(host));
  await host.evaluate(() => {
    window.send("not json at all");
    window.send("settings_button_pressed", null);
  });
  await delivered(host);
  eq("only messages from the parent are events", await inApp(host, () => window.foreign), 1);

  // ready, expand, close.
  mark = await count(host);
  await inApp(host, () => {
    const w = window.Telegram.WebApp;
    w.ready();
    w.close();
    w.close({ return_back: true });
  });
  eq("ready and close", (await since(host, mark)).map((m) => [m.eventType, m.eventData]), [
    ["web_app_ready", ""],
    ["web_app_close", {}],
    ["web_app_close", { return_back: true }],
  ]);

  // reload_iframe: the app says it will reload, reloads, and keeps its launch.
  mark = await count(host);
  await host.evaluate(() => window.send("reload_iframe"));
  const afterReload = await received(host, "iframe_ready", mark);
  const reloadTypes = await host.evaluate((m) => window.received.slice(m).map((msg) => msg.eventType), mark);
  check(
    "reload_iframe: iframe_will_reload, then iframe_ready again",
    afterReload.length === 1 && reloadTypes.indexOf("iframe_will_reload") >= 0 &&
      reloadTypes.indexOf("iframe_will_reload") < reloadTypes.indexOf("iframe_ready"),
    reloadTypes,
  );
  eq(
    "after the reload: same init data",
    await inApp(host, () => [window.Telegram.WebApp.initData, window.Telegram.WebApp.version]),
    [INIT_DATA, "9.1"],
  );

  // In-app navigation that drops the fragment and the query: sessionStorage keeps the launch.
  mark = await count(host);
  await inApp(host, () => {
    setTimeout(() => {
      location.href = "/index.html";
    }, 0);
  });
  await received(host, "iframe_ready", mark);
  const persisted = await inApp(host, () => {
    const w = window.Telegram.WebApp;
    return {
      url: location.href,
      stored: sessionStorage.getItem("__telegram__initParams") !== null,
      initData: w.initData,
      userId: w.initDataUnsafe.user?.id,
      startParam: window.Telegram.WebView.initParams.tgWebAppStartParam,
      version: w.version,
      platform: w.platform,
      bg: w.themeParams.bg_color,
      accent: w.themeParams.accent_text_color,
      fullscreen: w.isFullscreen,
      atLoad: window.atLoad,
    };
  });
  eq("without a fragment, the launch comes from sessionStorage", persisted, {
    url: "http://app.test/index.html",
    stored: true,
    initData: INIT_DATA,
    userId: USER.id,
    startParam: "promo-42",
    version: "9.1",
    platform: "weba",
    bg: LIGHT.bg_color,
    accent: DARK.accent_text_color,
    fullscreen: true,
    // The theme the host sent last, stored over the launch URL's (whose accent colour stays).
    atLoad: { bg: LIGHT.bg_color, initData: INIT_DATA },
  });

  await host.close();
}

// ---------------------------------------------------------------------------------------------
// Version gating: a 6.0 host
// ---------------------------------------------------------------------------------------------

async function oldVersionScenario() {
  const host = await newPage();
  await host.goto("http://host.test/");
  await host.evaluate((url) => window.load(url), appUrl("6.0"));
  await appReady(host);
  await received(host, "web_app_request_content_safe_area", 0);

  const mark = await count(host);
  const consoleMark = consoleLines.length;
  await inApp(host, () => {
    const w = window.Telegram.WebApp;
    w.lockOrientation();
    w.enableClosingConfirmation();
    w.BackButton.show();
    w.SettingsButton.show();
    w.HapticFeedback.selectionChanged();
    w.Accelerometer.start({ refresh_rate: 60 });
    w.BiometricManager.init();
    w.LocationManager.init();
    w.setBottomBarColor("#000000");
  });
  for (const feature of [
    "Orientation locking",
    "Closing confirmation",
    "BackButton",
    "SettingsButton",
    "HapticFeedback",
    "Accelerometer",
    "BiometricManager",
    "LocationManager",
    "Bottom bar color",
  ]) {
    const line = `[Telegram.WebApp] ${feature} is not supported in version 6.0`;
    check(
      `6.0: ${feature} warns`,
      consoleLines.slice(consoleMark).some((l) => l.type === "warning" && l.text === line),
      consoleLines.slice(consoleMark),
    );
  }
  for (const [what, source] of [
    ["DeviceStorage.setItem (9.0)", "Telegram.WebApp.DeviceStorage.setItem('a', 'b')"],
    ["SecureStorage.getItem (9.0)", "Telegram.WebApp.SecureStorage.getItem('a')"],
    ["hideKeyboard (9.1)", "Telegram.WebApp.hideKeyboard()"],
    ["requestFullscreen (8.0)", "Telegram.WebApp.requestFullscreen()"],
    ["showPopup (6.2)", "Telegram.WebApp.showPopup({ message: 'hi' })"],
    ["CloudStorage.setItem (6.9)", "Telegram.WebApp.CloudStorage.setItem('a', 'b')"],
    ["CloudStorage with a bad key (6.9)", "Telegram.WebApp.CloudStorage.setItem('bad key', 'b')"],
    ["readTextFromClipboard (6.4)", "Telegram.WebApp.readTextFromClipboard(() => {})"],
  ]) {
    eq(`6.0: ${what} throws`, await throwsIn(host, source), "WebAppMethodUnsupported");
  }
  check(
    "6.0: the refusal is logged with the version",
    consoleLines.slice(consoleMark).some(
      (l) => l.type === "error" && l.text === "[Telegram.WebApp] Method hideKeyboard is not supported in version 6.0",
    ),
    consoleLines.slice(consoleMark).filter((l) => l.type === "error"),
  );
  eq("6.0: newer methods post nothing", await since(host, mark), []);
  const mark2 = await count(host);
  await inApp(host, () => {
    window.Telegram.WebApp.close({ return_back: true });
    window.Telegram.WebApp.MainButton.setText("Go").show();
  });
  eq(
    "6.0: close ignores return_back, MainButton works",
    (await since(host, mark2)).map((m) => [m.eventType, m.eventData.is_visible ?? m.eventData]),
    // (The hidden state was posted at startup, when the theme arrived.)
    [
      ["web_app_close", {}],
      ["web_app_setup_main_button", true],
    ],
  );
  await host.close();
}

// ---------------------------------------------------------------------------------------------
// Outside a frame: no host, and a native web view's proxy
// ---------------------------------------------------------------------------------------------

async function topLevelScenarios() {
  const page = await newPage();
  const consoleMark = consoleLines.length;
  await page.goto(appUrl("9.1"));
  const alone = await page.evaluate(() => {
    window.Telegram.WebApp.ready();
    return {
      isIframe: window.Telegram.WebView.isIframe,
      userId: window.Telegram.WebApp.initDataUnsafe.user?.id,
      proxy: "TelegramWebviewProxy" in window,
    };
  });
  eq("not embedded: still parses the launch", alone, { isIframe: false, userId: USER.id, proxy: false });
  check(
    "not embedded: calls are logged",
    consoleLines.slice(consoleMark).some((l) => l.type === "log" && l.text.startsWith("[Telegram.WebView] > postEvent web_app_ready")),
    consoleLines.slice(consoleMark),
  );
  await page.close();

  const native = await newPage();
  await native.goto(appUrl("9.1", { page: "proxy.html" }));
  const proxied = await native.evaluate(() => {
    window.Telegram.WebApp.MainButton.setText("Go").show();
    window.Telegram.WebView.receiveEvent("theme_changed", { theme_params: { bg_color: "#000000" } });
    return { calls: window.proxied, scheme: window.Telegram.WebApp.colorScheme };
  });
  eq("native proxy: parameterless calls send the JSON of ''", proxied.calls[0], ["web_app_set_header_color", '{"color_key":"bg_color"}']);
  check(
    "native proxy: requests go through TelegramWebviewProxy.postEvent",
    proxied.calls.some(([t, d]) => t === "web_app_request_theme" && d === '""'),
    proxied.calls,
  );
  const setup = proxied.calls.filter(([t]) => t === "web_app_setup_main_button").at(-1);
  eq("native proxy: MainButton as a JSON string", setup && JSON.parse(setup[1]).text, "Go");
  eq("native proxy: events through Telegram.WebView.receiveEvent", proxied.scheme, "dark");
  await native.close();
}

// ---------------------------------------------------------------------------------------------
// Chromium's default: no storage in cross-site frames. The script must still work.
// ---------------------------------------------------------------------------------------------

async function storageBlockedScenario() {
  const browser = await chromium.launch(launchOptions);
  try {
    const blocked = await browser.newContext();
    blocked.setDefaultTimeout(TIMEOUT);
    await blocked.route("**/*", serve);
    const host = await newPage(blocked);
    await host.goto("http://host.test/");
    await host.evaluate((url) => window.load(url), appUrl("9.1"));
    await appReady(host);
    const state = await inApp(host, () => {
      let storage = "available";
      try {
        sessionStorage.getItem("x");
      } catch {
        storage = "blocked";
      }
      return { storage, userId: window.Telegram.WebApp.initDataUnsafe.user?.id, bg: window.Telegram.WebApp.themeParams.bg_color };
    });
    eq("storage blocked: the launch is still parsed", state, { storage: "blocked", userId: USER.id, bg: DARK.bg_color });
    const mark = await count(host);
    await inApp(host, () => {
      window.Telegram.WebApp.requestFullscreen();
      window.Telegram.WebApp.ready();
    });
    await received(host, "web_app_ready", mark);
    eq(
      "storage blocked: events still work",
      await inApp(host, () => new Promise((resolve) => {
        const poll = () => (window.Telegram.WebApp.isFullscreen ? resolve(true) : setTimeout(poll, 20));
        poll();
      })),
      true,
    );
  } finally {
    await browser.close();
  }
}

try {
  await mainScenario();
  await storageBlockedScenario();
  await oldVersionScenario();
  await topLevelScenarios();
} catch (e) {
  check(`the test ran to the end (${e?.stack ?? e})`, false);
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}

console.log(`telegram_web_app_js: ${passed} passed, ${failed} failed`);
process.exit(failed || !passed ? 1 : 0);
