// The mini-app host: a sandboxed frame on the app's own origin, launched with signed init data,
// speaking Telegram's bridge (`{eventType, eventData}` JSON strings over postMessage). Messages are
// accepted only from the frame's window and answered only to the app's origin. The host draws the
// header (back, close, settings), the main and secondary buttons and popups itself, as Telegram's
// web clients do, and answers every method of the advertised version: what a browser host cannot
// do (biometry, sensors, QR scanning, home screen, emoji status) is answered as unsupported.

import { type Api, ApiError, type Chat, type Message, type User } from "../api.js";
import { avatar, h } from "../dom.js";
import { icon } from "../icons.js";
import { onThemeChange } from "./theme.js";
import { Devtools } from "./devtools.js";
import { confirmBox, formBox, modal, popupMenu, toast } from "./dialogs.js";
import { openInvoice, openInvoiceSlug } from "./payments.js";
import { invoiceSlug } from "../links.js";

/** How the app's window opens: half height, full height, or the whole screen. */
export type LaunchMode = "compact" | "fullsize" | "fullscreen";

/** A link's `mode` parameter; full height by default, as Telegram opens direct links since 7.6. */
export function launchMode(s: string | null | undefined): LaunchMode {
  return s === "compact" || s === "fullscreen" ? s : "fullsize";
}

export interface LaunchSpec {
  bot_username: string;
  source: "inline_button" | "keyboard_button" | "menu_button" | "link";
  chat_id?: number;
  message_id?: number;
  url?: string;
  short_name?: string;
  start_param?: string;
  mode?: LaunchMode;
  /** Shown in the header until the app sets its own colours. */
  title: string;
}

/** The open app's answer watcher: `answerWebAppQuery` posts a message from the person via the
 *  app's bot into the app's chat, and the app closes when that message arrives. */
let answered: ((m: Message) => void) | null = null;
export function noteNewMessage(m: Message): void {
  answered?.(m);
}

/** Where this server hosts mini apps (from the WebSocket's `hello`). */
let appsBase: URL | null = null;
export function setAppsUrl(url: string): void {
  try {
    appsBase = new URL(url);
  } catch {
    appsBase = null;
  }
}

/** Origins kept warm, most recent last. */
const warm: { origin: string; frame: HTMLIFrameElement }[] = [];
const WARM_ORIGINS = 4;

/** Gets the browser ready to open an app hosted here whose button is on screen: a hidden frame on
 *  the app's origin (Plaza's script as a plain document, nothing runs) starts the origin's process
 *  and fills its cache, so a tap opens the app sooner. Only Plaza's own app origins are warmed:
 *  no third party learns what is on the person's screen. */
export function prewarm(url: string | undefined): void {
  if (!url || !appsBase) return;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return;
  }
  if (u.protocol !== appsBase.protocol || u.port !== appsBase.port || !u.hostname.endsWith(`.${appsBase.hostname}`)) return;
  const i = warm.findIndex((w) => w.origin === u.origin);
  if (i >= 0) {
    warm.push(...warm.splice(i, 1));
    return;
  }
  const frame = h("iframe", { src: `${u.origin}/js/telegram-web-app.js`, sandbox: "allow-same-origin", hidden: true, tabindex: "-1", "aria-hidden": "true", referrerpolicy: "no-referrer", class: "miniapp-warm" });
  document.body.append(frame);
  warm.push({ origin: u.origin, frame });
  while (warm.length > WARM_ORIGINS) warm.shift()?.frame.remove();
}

/** The signed-in person, known to the client already (no round trip on launch). */
let hostUser: User | null = null;
export function setHostUser(user: User): void {
  hostUser = user;
}

/** Where `openTelegramLink` goes: the client's own link router. */
let telegramLinks: ((path: string) => void) | null = null;
export function onTelegramLink(handler: (path: string) => void): void {
  telegramLinks = handler;
}

interface BottomButton {
  is_visible?: boolean;
  is_active?: boolean;
  is_progress_visible?: boolean;
  text?: string;
  color?: string;
  text_color?: string;
  position?: string;
}

type Data = Record<string, unknown>;

const HEX = /^#[0-9a-f]{6}$/i;
const color = (v: unknown): string | null => (typeof v === "string" && HEX.test(v) ? v : null);
/** Popups: at most this many in `POPUP_WINDOW` ms, as Telegram's clients allow. */
const POPUP_BURST = 3;
const POPUP_WINDOW = 3000;
/** DeviceStorage: 5 MB per user and bot; SecureStorage: 10 items. */
const DEVICE_STORAGE_BYTES = 5 * 1024 * 1024;
const SECURE_STORAGE_ITEMS = 10;

/** The theme the app gets, from the client's own colours (or those of `theme`). */
export function themeParams(theme?: "light" | "dark"): Record<string, string> {
  let probe: HTMLElement | null = null;
  if (theme) {
    probe = h("div", { "data-theme": theme, hidden: true });
    document.body.append(probe);
  }
  const css = getComputedStyle(probe ?? document.documentElement);
  queueMicrotask(() => probe?.remove());
  const v = (name: string) => css.getPropertyValue(name).trim();
  const hex = (c: string) => {
    const m = /^rgba?\((\d+),\s*(\d+),\s*(\d+)/.exec(c);
    return m ? `#${[m[1], m[2], m[3]].map((x) => Number(x).toString(16).padStart(2, "0")).join("")}` : c;
  };
  return {
    bg_color: hex(v("--bg")),
    text_color: hex(v("--text")),
    hint_color: hex(v("--muted")),
    link_color: hex(v("--link")),
    button_color: hex(v("--accent")),
    button_text_color: hex(v("--accent-text")),
    secondary_bg_color: hex(v("--bg-2")),
    header_bg_color: hex(v("--bg")),
    bottom_bar_bg_color: hex(v("--bg")),
    accent_text_color: hex(v("--accent")),
    section_bg_color: hex(v("--bg")),
    section_header_text_color: hex(v("--accent")),
    section_separator_color: hex(v("--border")),
    subtitle_text_color: hex(v("--muted")),
    destructive_text_color: hex(v("--danger")),
  };
}

/** A per-user, per-bot key-value store in this browser (DeviceStorage and SecureStorage). */
class LocalStore {
  constructor(private readonly key: string) {}
  read(): Record<string, string> {
    try {
      const v = JSON.parse(localStorage.getItem(this.key) ?? "{}");
      return v && typeof v === "object" ? v : {};
    } catch {
      return {};
    }
  }
  write(items: Record<string, string>): void {
    if (Object.keys(items).length === 0) localStorage.removeItem(this.key);
    else localStorage.setItem(this.key, JSON.stringify(items));
  }
}

/** Opens a mini app in a modal frame; resolves when it closes. */
export async function openMiniApp(api: Api, spec: LaunchSpec): Promise<void> {
  let launch;
  try {
    launch = await api.launchWebApp(spec);
  } catch (e) {
    toast(e instanceof ApiError ? e.message : String(e), "error");
    return;
  }
  const origin = new URL(launch.url).origin;
  if (origin === location.origin) {
    toast("This mini app is served from Plaza's own origin, which is not allowed.", "error");
    return;
  }
  const me = hostUser;
  const storageKey = `plaza.webapp.${me?.id ?? 0}.${launch.bot.id}`;
  const deviceStorage = new LocalStore(`${storageKey}.device`);
  const secureStorage = new LocalStore(`${storageKey}.secure`);
  let mode: LaunchMode = spec.mode ?? "fullsize";
  let themeOverride: "light" | "dark" | undefined;
  const theme = () => themeParams(themeOverride);
  const srcFor = (platform: string) =>
    `${launch.launch_url.replace(/tgWebAppPlatform=[^&]*/, `tgWebAppPlatform=${encodeURIComponent(platform)}`)}&tgWebAppThemeParams=${encodeURIComponent(JSON.stringify(theme()))}${mode === "fullscreen" ? "&tgWebAppFullscreen=1" : ""}`;
  let src = srcFor(launch.platform);
  const appName = launch.bot.display_name;

  const frame = h("iframe", {
    src,
    title: spec.title,
    sandbox: "allow-scripts allow-same-origin allow-popups allow-forms allow-modals allow-storage-access-by-user-activation allow-downloads",
    allow: "clipboard-write; fullscreen; geolocation",
    allowfullscreen: true,
    referrerpolicy: "no-referrer",
    class: "miniapp-frame",
  });
  const title = h("span", { class: "miniapp-title" }, spec.title);
  const loader = h("div", { class: "loading miniapp-loader", "aria-label": "Loading the app" });
  const mainButton = h("button", { class: "miniapp-main", hidden: true });
  const secondaryButton = h("button", { class: "miniapp-secondary", hidden: true });
  const bottomBar = h("div", { class: "miniapp-bottom", hidden: true }, secondaryButton, mainButton);
  const backButton = h("button", { class: "icon", "aria-label": "Back", hidden: true, onclick: () => post("back_button_pressed") }, icon("back"));
  const closeButton = h("button", { class: "icon", "aria-label": "Close the app", onclick: () => void close() }, icon("close"));
  const menuButton = h("button", { class: "icon", "aria-label": "App menu", "aria-haspopup": "menu" }, icon("more"));
  const header = h("header", { class: "miniapp-header" }, backButton, closeButton, title, menuButton);
  const body = h("div", { class: "miniapp-body" }, loader, frame);
  const appColumn = h("div", { class: "miniapp-app" }, header, body, bottomBar);
  const dlg = h("dialog", { class: `miniapp mode-${mode}`, "aria-label": spec.title }, appColumn);
  let devtools: Devtools | null = null;
  const toggleDevtools = () => {
    if (devtools) {
      devtools.el.remove();
      devtools = null;
      dlg.classList.remove("with-devtools");
      return;
    }
    devtools = new Devtools(
      {
        setTheme: (t) => {
          themeOverride = t ?? undefined;
          post("theme_changed", { theme_params: theme() });
        },
        setPlatform: (p) => {
          src = srcFor(p);
          frame.src = src;
        },
        setViewport: (size) => {
          body.style.flex = size ? "none" : "";
          frame.style.width = size ? `${size[0]}px` : "";
          frame.style.height = size ? `${size[1]}px` : "";
          frame.style.flex = size ? "none" : "";
          body.style.overflow = size ? "auto" : "";
        },
      },
      launch,
    );
    dlg.classList.add("with-devtools");
    dlg.append(devtools.el);
  };

  /** The slug of the invoice this app opened, while its sheet is open. */
  let invoiceOpen: string | null = null;
  let needConfirm = false;
  let dataSent = false;
  let closed = false;
  let popupOpen = false;
  const popupTimes: number[] = [];
  let settingsVisible = false;
  let expanded = mode !== "compact";
  let willReload = false;

  const post = (eventType: string, eventData: unknown = null) => {
    devtools?.record("out", eventType, eventData);
    frame.contentWindow?.postMessage(JSON.stringify({ eventType, eventData }), origin);
  };
  const viewport = () => {
    post("viewport_changed", { height: frame.clientHeight, width: frame.clientWidth, is_expanded: expanded, is_state_stable: true });
  };
  const safeArea = () => {
    const zero = { top: 0, bottom: 0, left: 0, right: 0 };
    post("safe_area_changed", zero);
    post("content_safe_area_changed", zero);
  };
  const stopTheme = onThemeChange(() => post("theme_changed", { theme_params: theme() }));
  const resize = new ResizeObserver(() => viewport());
  const visibility = () => post("visibility_changed", { is_visible: document.visibilityState === "visible" });
  /** A user gesture in the app (Chromium passes a frame's activation up to its parents). */
  const gesture = () => (navigator as Navigator & { userActivation?: { isActive: boolean } }).userActivation?.isActive ?? false;

  const close = async (force = false) => {
    if (closed) return;
    if (needConfirm && !force && !(await confirmBox("Changes that you made may not be saved. Close anyway?", "Close"))) return;
    closed = true;
    if (document.fullscreenElement) await document.exitFullscreen().catch(() => undefined);
    dlg.close();
  };

  const reload = () => {
    willReload = false;
    post("reload_iframe");
    // An app without the script's reload support is reloaded from outside.
    setTimeout(() => {
      if (!willReload) frame.src = src;
    }, 500);
  };

  menuButton.addEventListener("click", () => {
    const r = menuButton.getBoundingClientRect();
    popupMenu(r.right - 180, r.bottom + 4, [
      settingsVisible ? ["Settings", () => post("settings_button_pressed")] : null,
      ["Reload", reload],
      [devtools ? "Hide devtools" : "Devtools", toggleDevtools],
      ["Close", () => void close()],
    ]);
  });

  const drawButton = (el: HTMLButtonElement, b: BottomButton) => {
    const text = String(b.text ?? "").trim();
    el.hidden = !b.is_visible || !text;
    el.textContent = text;
    el.classList.toggle("progress", b.is_progress_visible === true);
    el.setAttribute("aria-busy", String(b.is_progress_visible === true));
    el.disabled = b.is_active === false;
    el.style.background = color(b.color) ?? "";
    el.style.color = color(b.text_color) ?? "";
    if (el === secondaryButton) bottomBar.dataset.position = ["left", "right", "top", "bottom"].includes(String(b.position)) ? String(b.position) : "left";
    bottomBar.hidden = mainButton.hidden && secondaryButton.hidden;
    viewport();
  };
  mainButton.addEventListener("click", () => post("main_button_pressed"));
  secondaryButton.addEventListener("click", () => post("secondary_button_pressed"));

  const popup = async (data: Data) => {
    // One popup at a time (the app's own script refuses a second), and at most three in three
    // seconds: a popup beyond that is answered at once as dismissed.
    if (popupOpen) return;
    const now = Date.now();
    while (popupTimes.length && now - popupTimes[0] > POPUP_WINDOW) popupTimes.shift();
    const message = String(data.message ?? "").slice(0, 256);
    const buttons = Array.isArray(data.buttons) ? (data.buttons as { id?: string; type?: string; text?: string }[]).slice(0, 3) : [];
    if (popupTimes.length >= POPUP_BURST || !message || buttons.length === 0) return post("popup_closed", {});
    popupTimes.push(now);
    popupOpen = true;
    const box = h("dialog", { class: "modal alert miniapp-popup", "aria-label": String(data.title ?? appName) });
    let chosen: string | undefined;
    box.append(
      data.title ? h("h2", {}, String(data.title).slice(0, 64)) : "",
      h("p", { class: "alert-text" }, message),
      h(
        "div",
        { class: "actions" },
        ...buttons.map((b) => {
          const label = b.type === "ok" ? "OK" : b.type === "close" ? "Close" : b.type === "cancel" ? "Cancel" : String(b.text ?? "").slice(0, 64);
          return h("button", { class: b.type === "destructive" ? "danger" : "primary", onclick: () => { chosen = String(b.id ?? ""); box.close(); } }, label);
        }),
      ),
    );
    box.addEventListener("close", () => {
      box.remove();
      popupOpen = false;
      post("popup_closed", chosen === undefined ? {} : { button_id: chosen });
    });
    document.body.append(box);
    box.showModal();
  };

  /** `requestContact`: with the person's consent their number goes to the bot; someone without
   *  a number in their profile types one, which is saved there too. */
  const requestPhone = async (): Promise<boolean> => {
    const question = `${appName} asks for your phone number. @${launch.bot.username} receives it as your contact.`;
    if (me?.phone_number) {
      if (!(await confirmBox(`${question} Your number: ${me.phone_number}.`, "Share"))) return false;
      return api.shareContact(launch.launch_id).then(
        () => true,
        (e) => (toast(e instanceof ApiError ? e.message : String(e), "error"), false),
      );
    }
    const got = await formBox("Share your phone number", [{ name: "phone", label: question, placeholder: "+15551234567", type: "tel", required: true }], "Share", async (v) => {
      await api.shareContact(launch.launch_id, v.phone.trim());
      // Saved to the profile too: the next request shows it.
      if (hostUser) hostUser = { ...hostUser, phone_number: v.phone.trim() };
    });
    return got !== null;
  };

  /** `shareMessage`: the person picks one of their chats of a kind the bot allowed, and the
   *  bot's prepared message goes there from them, via the bot. */
  const sharePrepared = async (id: string) => {
    const failed = (error: string) => post("prepared_message_failed", { error });
    let prepared;
    let chats;
    try {
      [prepared, chats] = await Promise.all([api.preparedMessage(launch.launch_id, id), api.chats()]);
    } catch (e) {
      return failed(e instanceof ApiError && e.status === 404 ? "MESSAGE_EXPIRED" : "SERVER_ERROR");
    }
    const allowed = (c: Chat) => prepared.chat_types.includes(c.type === "group" ? "groups" : c.peer?.is_bot ? "bots" : "users");
    const targets = chats.items.map((i) => i.chat).filter(allowed);
    const chosen = await modal<number>("Share to…", (done) => [
      h("div", { class: "prepared-preview" }, h("span", { class: "muted" }, `via @${prepared.bot.username}`), h("p", {}, prepared.media ? `${prepared.media === "photo" ? "🖼" : "📎"} ${prepared.text}` : prepared.text)),
      targets.length
        ? h("div", { class: "share-list" }, ...targets.map((c) => h("button", { class: "chat-item", onclick: () => done(c.id) }, avatar(c.id, c.title, true), h("span", { class: "chat-name" }, c.title))))
        : h("p", { class: "muted" }, "You have no chat this message can go to."),
      h("div", { class: "actions" }, h("button", { onclick: () => done(null) }, "Cancel")),
    ]);
    if (chosen === null) return failed("USER_DECLINED");
    api.sendPreparedMessage(launch.launch_id, id, chosen).then(
      () => post("prepared_message_sent"),
      (e) => {
        toast(e instanceof ApiError ? e.message : String(e), "error");
        failed("MESSAGE_SEND_FAILED");
      },
    );
  };

  /** `requestWriteAccess` for a bot that may not message the person yet: they are asked. */
  const askWriteAccess = () =>
    void ask(`allow @${launch.bot.username} to send you messages?`, "Allow").then(async (ok) => {
      if (ok) await api.allowBotMessages(launch.launch_id).catch((e) => { ok = false; toast(e instanceof ApiError ? e.message : String(e), "error"); });
      post("write_access_requested", { status: ok ? "allowed" : "cancelled" });
    });

  /** Asks the person on the app's behalf; the click that answers is the host's own gesture. */
  const ask = (text: string, ok: string) => confirmBox(`${appName}: ${text}`, ok);

  const customMethod = async (data: Data) => {
    const req_id = String(data.req_id ?? "");
    try {
      const out = await api.invokeWebAppMethod(launch.launch_id, String(data.method ?? ""), data.params ?? {});
      post("custom_method_invoked", out.error !== undefined ? { req_id, error: out.error } : { req_id, result: out.result });
    } catch (e) {
      post("custom_method_invoked", { req_id, error: e instanceof ApiError ? e.message : "SERVER_ERROR" });
    }
  };

  const localStorageMethod = (kind: "device" | "secure", type: string, data: Data) => {
    const store = kind === "device" ? deviceStorage : secureStorage;
    const req_id = String(data.req_id ?? "");
    const fail = (error: string) => post(`${kind}_storage_failed`, { req_id, error });
    const items = store.read();
    const key = typeof data.key === "string" ? data.key : null;
    if (type.endsWith("_clear")) {
      store.write({});
      return post(`${kind}_storage_cleared`, { req_id });
    }
    if (!key) return fail("KEY_INVALID");
    if (type.endsWith("_save_key")) {
      if (data.value === null || data.value === undefined) delete items[key];
      else if (typeof data.value !== "string") return fail("VALUE_INVALID");
      else items[key] = data.value;
      if (kind === "secure" && Object.keys(items).length > SECURE_STORAGE_ITEMS) return fail("QUOTA_EXCEEDED");
      if (kind === "device" && JSON.stringify(items).length > DEVICE_STORAGE_BYTES) return fail("QUOTA_EXCEEDED");
      try {
        store.write(items);
      } catch {
        return fail("QUOTA_EXCEEDED");
      }
      return post(`${kind}_storage_key_saved`, { req_id });
    }
    if (type.endsWith("_get_key")) {
      const value = items[key] ?? null;
      return post(`${kind}_storage_key_received`, kind === "secure" ? { req_id, value, can_restore: false } : { req_id, value });
    }
    // secure_storage_restore_key: nothing is backed up beyond this browser.
    return fail("RESTORE_UNAVAILABLE");
  };

  const fullscreen = async (on: boolean) => {
    const isOn = document.fullscreenElement === dlg;
    if (on === isOn) return on ? post("fullscreen_failed", { error: "ALREADY_FULLSCREEN" }) : post("fullscreen_changed", { is_fullscreen: false });
    try {
      if (on) await dlg.requestFullscreen();
      else await document.exitFullscreen();
    } catch {
      return post("fullscreen_failed", { error: "UNSUPPORTED" });
    }
  };
  const onFullscreen = () => {
    const on = document.fullscreenElement === dlg;
    dlg.classList.toggle("mode-fullscreen", on);
    if (on) mode = "fullscreen";
    post("fullscreen_changed", { is_fullscreen: on });
    viewport();
  };

  const location_ = (data: Data, requested: boolean) => {
    const available = "geolocation" in navigator;
    if (!requested) return post("location_checked", { available, access_requested: false, access_granted: false });
    if (!available) return post("location_requested", { available: false });
    navigator.geolocation.getCurrentPosition(
      (p) =>
        post("location_requested", {
          available: true,
          latitude: p.coords.latitude,
          longitude: p.coords.longitude,
          altitude: p.coords.altitude,
          course: p.coords.heading,
          speed: p.coords.speed,
          horizontal_accuracy: p.coords.accuracy,
          vertical_accuracy: p.coords.altitudeAccuracy,
          course_accuracy: null,
          speed_accuracy: null,
        }),
      () => post("location_requested", { available: false }),
      { timeout: 15000 },
    );
    void data;
  };

  const onMessage = (ev: MessageEvent) => {
    // Only the frame's own window speaks for the app; anything else is ignored.
    if (ev.source !== frame.contentWindow || typeof ev.data !== "string") return;
    let msg: { eventType?: unknown; eventData?: unknown };
    try {
      msg = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (typeof msg.eventType !== "string") return;
    const type = msg.eventType;
    const data = (msg.eventData && typeof msg.eventData === "object" ? msg.eventData : {}) as Data;
    devtools?.record("in", type, msg.eventData);
    handle(type, data);
  };

  const handle = (type: string, data: Data) => {
    switch (type) {
      case "iframe_ready":
        return;
      case "iframe_will_reload":
        willReload = true;
        return;
      case "web_app_ready":
        loader.remove();
        return;
      case "web_app_expand":
        expanded = true;
        dlg.classList.replace("mode-compact", "mode-fullsize");
        return viewport();
      case "web_app_request_viewport":
        return viewport();
      case "web_app_request_theme":
        return post("theme_changed", { theme_params: theme() });
      case "web_app_request_safe_area":
      case "web_app_request_content_safe_area":
        return safeArea();
      case "web_app_close":
        return void close(true);
      case "web_app_data_send": {
        // Only an app opened from a reply-keyboard button may send data, and only once; elsewhere
        // the call is ignored, as Telegram's clients ignore it.
        if (spec.source !== "keyboard_button" || dataSent) return;
        dataSent = true;
        api.sendWebAppData(launch.launch_id, String(data.data ?? "")).then(
          () => void close(true),
          (e) => toast(e instanceof ApiError ? e.message : String(e), "error"),
        );
        return;
      }
      case "web_app_setup_closing_behavior":
        needConfirm = data.need_confirmation === true;
        return;
      case "web_app_setup_main_button":
        return drawButton(mainButton, data as BottomButton);
      case "web_app_setup_secondary_button":
        return drawButton(secondaryButton, data as BottomButton);
      case "web_app_setup_back_button":
        backButton.hidden = data.is_visible !== true;
        closeButton.hidden = !backButton.hidden;
        return;
      case "web_app_setup_settings_button":
        settingsVisible = data.is_visible === true;
        return;
      case "web_app_open_link": {
        // A link needs the person's gesture in the app, and one gesture opens one link.
        const url = String(data.url ?? "");
        if (/^https?:\/\//i.test(url) && gesture()) window.open(url, "_blank", "noopener,noreferrer");
        return;
      }
      case "web_app_open_tg_link": {
        const path = String(data.path_full ?? "");
        // An invoice link opens its sheet over the app, which stays open.
        if (path.startsWith("/") && invoiceSlug(new URL(path, location.origin).pathname)) {
          if (telegramLinks && openInvoiceSlug() === null) telegramLinks(path);
          return;
        }
        if (path.startsWith("/") && telegramLinks) {
          telegramLinks(path);
          // A link to a chat takes the person there; the app closes as Telegram's web client does.
          void close(true);
        }
        return;
      }
      case "web_app_open_popup":
        return void popup(data);
      case "web_app_set_header_color": {
        const c = color(data.color) ?? (data.color_key === "secondary_bg_color" ? theme().secondary_bg_color : data.color_key === "bg_color" ? theme().bg_color : null);
        if (c) header.style.background = c;
        return;
      }
      case "web_app_set_background_color": {
        const c = color(data.color);
        if (c) frame.style.background = c;
        return;
      }
      case "web_app_set_bottom_bar_color": {
        const c = color(data.color);
        if (c) bottomBar.style.background = c;
        return;
      }
      case "web_app_trigger_haptic_feedback":
        // A short vibration where the device has one; nothing to answer.
        if (data.type === "impact" || data.type === "notification") navigator.vibrate?.(data.type === "impact" ? 10 : 30);
        return;
      case "web_app_open_invoice": {
        // One invoice at a time, as Telegram allows: a request while a sheet is open is refused
        // (the same slug again is ignored: its sheet answers when it closes).
        const slug = typeof data.slug === "string" ? data.slug : "";
        if (invoiceOpen !== null || openInvoiceSlug() !== null) {
          if (slug !== invoiceOpen) post("invoice_closed", { slug, status: "failed" });
          return;
        }
        if (!slug) return post("invoice_closed", { slug, status: "failed" });
        invoiceOpen = slug;
        void openInvoice(slug).then((status) => {
          invoiceOpen = null;
          if (!closed) post("invoice_closed", { slug, status });
        });
        return;
      }
      case "web_app_open_scan_qr_popup":
        // A browser host has no QR scanner: the popup closes at once.
        return post("scan_qr_popup_closed", {});
      case "web_app_close_scan_qr_popup":
        return;
      case "web_app_read_text_from_clipboard": {
        const req_id = String(data.req_id ?? "");
        if (!gesture() || !navigator.clipboard?.readText) return post("clipboard_text_received", { req_id });
        void ask("read the text in your clipboard?", "Allow").then(async (ok) => {
          const text = ok ? await navigator.clipboard.readText().catch(() => null) : null;
          post("clipboard_text_received", text === null ? { req_id } : { req_id, data: text });
        });
        return;
      }
      case "web_app_switch_inline_query":
        // Plaza has no inline mode; the app's script refuses the call before it gets here.
        return;
      case "web_app_invoke_custom_method":
        return void customMethod(data);
      case "web_app_request_write_access":
        // A bot that may message the person already (their chat exists and it is not blocked) is
        // allowed without asking, as Telegram checks canSendMessage first.
        void api.blocked(launch.bot.id).then(
          (b) => (b.blocked ? askWriteAccess() : post("write_access_requested", { status: "allowed" })),
          () => askWriteAccess(),
        );
        return;
      case "web_app_request_phone":
        void requestPhone().then((ok) => post("phone_requested", { status: ok ? "sent" : "cancelled" }));
        return;
      case "web_app_biometry_get_info":
      case "web_app_biometry_request_access":
        return post("biometry_info_received", { available: false, access_requested: false, access_granted: false, token_saved: false, device_id: "" });
      case "web_app_biometry_request_auth":
        return post("biometry_auth_requested", { status: "failed" });
      case "web_app_biometry_update_token":
        return post("biometry_token_updated", { status: "failed" });
      case "web_app_request_fullscreen":
        return void fullscreen(true);
      case "web_app_exit_fullscreen":
        return void fullscreen(false);
      case "web_app_add_to_home_screen":
        return post("home_screen_failed", { error: "UNSUPPORTED" });
      case "web_app_check_home_screen":
        return post("home_screen_checked", { status: "unsupported" });
      case "web_app_set_emoji_status":
        return post("emoji_status_failed", { error: "UNSUPPORTED" });
      case "web_app_request_emoji_status_access":
        return post("emoji_status_access_requested", { status: "cancelled" });
      case "web_app_request_file_download": {
        const url = String(data.url ?? "");
        const name = String(data.file_name ?? data.filename ?? "file");
        if (!/^https?:\/\//i.test(url) || !gesture()) return post("file_download_requested", { status: "cancelled" });
        void ask(`download “${name}”?`, "Download").then((ok) => {
          if (ok) h("a", { href: url, download: name, target: "_blank", rel: "noopener" }).click();
          post("file_download_requested", { status: ok ? "downloading" : "cancelled" });
        });
        return;
      }
      case "web_app_send_prepared_message":
        return void sharePrepared(String(data.id ?? ""));
      case "web_app_start_accelerometer":
        return post("accelerometer_failed", { error: "UNSUPPORTED" });
      case "web_app_start_gyroscope":
        return post("gyroscope_failed", { error: "UNSUPPORTED" });
      case "web_app_start_device_orientation":
        return post("device_orientation_failed", { error: "UNSUPPORTED" });
      case "web_app_stop_accelerometer":
        return post("accelerometer_stopped");
      case "web_app_stop_gyroscope":
        return post("gyroscope_stopped");
      case "web_app_stop_device_orientation":
        return post("device_orientation_stopped");
      case "web_app_check_location":
        return location_(data, false);
      case "web_app_request_location":
        return location_(data, true);
      case "web_app_device_storage_save_key":
      case "web_app_device_storage_get_key":
      case "web_app_device_storage_clear":
        return localStorageMethod("device", type, data);
      case "web_app_secure_storage_save_key":
      case "web_app_secure_storage_get_key":
      case "web_app_secure_storage_restore_key":
      case "web_app_secure_storage_clear":
        return localStorageMethod("secure", type, data);
      // Nothing to draw or answer in a browser: swipes, orientation, stories, keyboards, settings.
      case "web_app_setup_swipe_behavior":
      case "web_app_toggle_orientation_lock":
      case "web_app_share_to_story":
      case "web_app_hide_keyboard":
      case "web_app_biometry_open_settings":
      case "web_app_open_location_settings":
        return;
      default:
        return;
    }
  };

  if (launch.query_id && spec.chat_id !== undefined) {
    answered = (m) => {
      if (m.chat_id === spec.chat_id && m.from.id === me?.id && m.via_bot?.id === launch.bot.id) void close(true);
    };
  }
  window.addEventListener("message", onMessage);
  document.addEventListener("visibilitychange", visibility);
  document.addEventListener("fullscreenchange", onFullscreen);
  dlg.addEventListener("cancel", (ev) => {
    ev.preventDefault();
    void close();
  });
  frame.addEventListener("load", () => {
    loader.remove();
    viewport();
  });
  document.body.append(dlg);
  dlg.showModal();
  resize.observe(frame);
  await new Promise<void>((resolve) =>
    dlg.addEventListener("close", () => {
      window.removeEventListener("message", onMessage);
      answered = null;
      document.removeEventListener("visibilitychange", visibility);
      document.removeEventListener("fullscreenchange", onFullscreen);
      stopTheme();
      resize.disconnect();
      dlg.remove();
      resolve();
    }),
  );
}
