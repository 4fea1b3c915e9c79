// Plaza's telegram-web-app.js: `window.Telegram.WebApp` (with `Telegram.WebView` and `Telegram.Utils`)
// for mini apps written against Telegram's official script (Bot API 9.1), so they run unchanged when
// they load `/js/telegram-web-app.js` from a Plaza server instead.
//
// A classic script: one function run at load, no imports or exports. crates/web/build.rs strips the
// types and minifies it; `tsc -p web/sdk` type-checks it. The wire protocol (launch parameters in the
// URL fragment, `{eventType, eventData}` JSON strings over postMessage) is described in the Mini Apps
// protocol digest; the public API and its checks follow Telegram's documentation of WebApp.

/** An event payload from the host: untrusted JSON, so every field is checked where it is read. */
type Payload = Record<string, any>;
/** A callback an app registered; called with `this` bound to `Telegram.WebApp`, as the official script does. */
type Handler = (...args: any[]) => unknown;
/** The optional second argument of `WebView.postEvent`: `false` or a function told whether it was sent. */
type PostCallback = ((error?: unknown) => void) | false | null | undefined;
type InitParams = Record<string, string | null>;
/** Reports a bad argument and throws (typed so that TypeScript narrows after a call). */
type Invalid = (message: string, detail?: unknown) => never;

interface NativeProxy {
  postEvent(eventType: string, eventData: string): void;
}

interface TelegramWindow {
  Telegram?: Record<string, unknown>;
  /** Defined by Telegram's native apps inside their web views; never by this script. */
  TelegramWebviewProxy?: NativeProxy;
  TelegramGameProxy?: { receiveEvent(eventType: string, eventData?: unknown): void };
  TelegramGameProxy_receiveEvent?: (eventType: string, eventData?: unknown) => void;
  external?: { notify?: (message: string) => void };
}

interface BottomButtonParams {
  text?: unknown;
  color?: unknown;
  text_color?: unknown;
  is_visible?: unknown;
  is_active?: unknown;
  has_shine_effect?: unknown;
  position?: unknown;
}

interface PopupButton {
  id?: unknown;
  type?: unknown;
  text?: unknown;
}

interface StoryParams {
  text?: unknown;
  widget_link?: { url?: unknown; name?: unknown } | null;
}

interface PopupParams {
  title?: unknown;
  message?: unknown;
  buttons?: unknown;
}

(() => {
  const win = window as unknown as TelegramWindow;

  // ---------------------------------------------------------------------------------------------
  // Telegram.Utils
  // ---------------------------------------------------------------------------------------------

  function urlSafeDecode(encoded: string): string {
    try {
      return decodeURIComponent(encoded.replace(/\+/g, "%20"));
    } catch {
      return encoded;
    }
  }

  /** `a=1&b=%7B%7D` to `{a: "1", b: "{}"}`; a name without `=` maps to null. */
  function urlParseQueryString(query: string): InitParams {
    const params: InitParams = {};
    for (const part of query.split("&")) {
      if (!part.length) continue;
      const eq = part.indexOf("=");
      const name = urlSafeDecode(eq < 0 ? part : part.slice(0, eq));
      if (name === "__proto__") continue;
      params[name] = eq < 0 ? null : urlSafeDecode(part.slice(eq + 1));
    }
    return params;
  }

  /** The fragment's parameters; a fragment path (`#/page?x=1`, `#/page`) is kept as `_path`. */
  function urlParseHashParams(hash: string): InitParams {
    hash = hash.replace(/^#/, "");
    const params: InitParams = {};
    if (!hash.length) return params;
    if (hash.indexOf("=") < 0 && hash.indexOf("?") < 0) {
      params._path = urlSafeDecode(hash);
      return params;
    }
    const q = hash.indexOf("?");
    if (q >= 0) {
      params._path = urlSafeDecode(hash.slice(0, q));
      hash = hash.slice(q + 1);
    }
    return Object.assign(params, urlParseQueryString(hash));
  }

  /** Adds `addHash` (`name=value`) to the fragment of `url`, keeping what the fragment already holds. */
  function urlAppendHashParams(url: string, addHash: string): string {
    const at = url.indexOf("#");
    if (at < 0) return url + "#" + addHash;
    const current = url.slice(at + 1);
    if (current.indexOf("=") >= 0 || current.indexOf("?") >= 0) return url + "&" + addHash;
    if (current.length > 0) return url + "?" + addHash;
    return url + addHash;
  }

  function sessionStorageSet(key: string, value: unknown): boolean {
    try {
      window.sessionStorage.setItem("__telegram__" + key, JSON.stringify(value));
      return true;
    } catch {
      return false;
    }
  }

  function sessionStorageGet(key: string): any {
    try {
      return JSON.parse(window.sessionStorage.getItem("__telegram__" + key) ?? "null");
    } catch {
      return null;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Telegram.WebView: launch parameters and the transport
  // ---------------------------------------------------------------------------------------------

  let locationHash = "";
  try {
    locationHash = location.hash.toString();
  } catch {}
  const initParams = urlParseHashParams(locationHash);
  if (initParams.tgWebAppStartParam === undefined) {
    // Direct links put the start parameter in the query as well (`?tgWebAppStartParam=`).
    try {
      const start = new URLSearchParams(location.search).get("tgWebAppStartParam");
      if (start !== null) initParams.tgWebAppStartParam = start;
    } catch {}
  }
  // A reload inside the frame (or in-app navigation that drops the fragment) keeps the launch.
  const storedParams: unknown = sessionStorageGet("initParams");
  if (storedParams && typeof storedParams === "object") {
    for (const [key, value] of Object.entries(storedParams)) {
      if (initParams[key] === undefined && (typeof value === "string" || value === null)) initParams[key] = value;
    }
  }
  sessionStorageSet("initParams", initParams);
  const debug = !!initParams.tgWebAppDebug;

  let isIframe = false;
  try {
    isIframe = window.parent != null && window !== window.parent;
  } catch {}

  const eventHandlers = new Map<string, Handler[]>();

  function onEvent(eventType: string, callback: Handler): void {
    const handlers = eventHandlers.get(eventType) ?? [];
    if (!handlers.includes(callback)) handlers.push(callback);
    eventHandlers.set(eventType, handlers);
  }

  function offEvent(eventType: string, callback: Handler): void {
    const handlers = eventHandlers.get(eventType);
    const index = handlers ? handlers.indexOf(callback) : -1;
    if (handlers && index >= 0) handlers.splice(index, 1);
  }

  /** Runs `call` on each handler of `eventType`; one failing handler does not stop the others. */
  function callEventCallbacks(eventType: string, call: (handler: Handler) => void): void {
    for (const handler of [...(eventHandlers.get(eventType) ?? [])]) {
      try {
        call(handler);
      } catch (e) {
        console.error("[Telegram.WebView] An event handler of " + eventType + " failed", e);
      }
    }
  }

  function receiveEvent(eventType: string, eventData?: unknown): void {
    if (debug) console.log("[Telegram.WebView] < receiveEvent", eventType, eventData);
    callEventCallbacks(eventType, (handler) => handler(eventType, eventData));
  }

  /**
   * Sends a bridge method to the host: the native apps' `TelegramWebviewProxy`, Windows Phone's
   * `external.notify`, or (in a frame, the web clients and Plaza) the parent window as a JSON string.
   * Outside any host the call is only logged.
   */
  function postEvent(eventType: string, callback?: PostCallback, eventData?: unknown): void {
    const done = typeof callback === "function" ? callback : () => {};
    if (eventData === undefined) eventData = "";
    const proxy = win.TelegramWebviewProxy;
    const external = win.external;
    const embedded = proxy !== undefined || (external != null && "notify" in external) || isIframe;
    if (debug || !embedded) console.log("[Telegram.WebView] > postEvent", eventType, eventData);
    if (proxy !== undefined) {
      proxy.postEvent(eventType, JSON.stringify(eventData));
      done();
    } else if (external != null && "notify" in external && typeof external.notify === "function") {
      external.notify(JSON.stringify({ eventType, eventData }));
      done();
    } else if (isIframe) {
      try {
        window.parent.postMessage(JSON.stringify({ eventType, eventData }), "*");
        done();
      } catch (e) {
        done(e);
      }
    } else {
      done({ notAvailable: true });
    }
  }

  if (isIframe) {
    let customStyle: HTMLStyleElement | null = null;
    window.addEventListener("message", (event) => {
      if (event.source !== window.parent) return;
      let message: any;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (!message || typeof message !== "object" || typeof message.eventType !== "string" || !message.eventType) {
        return;
      }
      if (message.eventType === "set_custom_style") {
        // Only Telegram's own web client may restyle the app, as with the official script.
        if (event.origin === "https://web.telegram.org" && typeof message.eventData === "string") {
          if (!customStyle) {
            customStyle = document.createElement("style");
            (document.head ?? document.documentElement).appendChild(customStyle);
          }
          customStyle.textContent = message.eventData;
        }
      } else if (message.eventType === "reload_iframe") {
        try {
          window.parent.postMessage(JSON.stringify({ eventType: "iframe_will_reload" }), "*");
        } catch {}
        location.reload();
      } else {
        receiveEvent(message.eventType, message.eventData);
      }
    });
    try {
      const ready = { eventType: "iframe_ready", eventData: { reload_supported: true } };
      window.parent.postMessage(JSON.stringify(ready), "*");
    } catch {}
  }

  const telegram = (win.Telegram ??= {});
  telegram.WebView = {
    initParams,
    isIframe,
    onEvent,
    offEvent,
    postEvent,
    receiveEvent,
    callEventCallbacks,
  };
  telegram.Utils = {
    urlSafeDecode,
    urlParseQueryString,
    urlParseHashParams,
    urlAppendHashParams,
    sessionStorageSet,
    sessionStorageGet,
  };
  // How Telegram Desktop (and Windows Phone) deliver events into the page.
  win.TelegramGameProxy_receiveEvent = receiveEvent;
  win.TelegramGameProxy = { receiveEvent };

  // ---------------------------------------------------------------------------------------------
  // Telegram.WebApp: shared helpers
  // ---------------------------------------------------------------------------------------------

  /** Listens for a host event with its payload normalised to an object (hosts send `null` or `""` too). */
  function onHostEvent(eventType: string, handler: (data: Payload, eventType: string) => void): void {
    onEvent(eventType, (type: string, data: unknown) =>
      handler(data !== null && typeof data === "object" ? (data as Payload) : {}, type),
    );
  }

  /** Tells the app's `WebApp.onEvent` listeners, with `this` bound to `Telegram.WebApp`. */
  function emit(eventType: string, ...args: unknown[]): void {
    callEventCallbacks("webview:" + eventType, (handler) => handler.apply(WebApp, args));
  }

  function fail(message: string, detail: unknown, code: string): never {
    if (detail === undefined) console.error("[Telegram.WebApp] " + message);
    else console.error("[Telegram.WebApp] " + message, detail);
    throw new Error(code);
  }

  function strTrim(value: unknown): string {
    return String(value).trim();
  }

  function versionCompare(a: unknown, b: unknown): number {
    const left = (typeof a === "string" ? a : "").trim().split(".");
    const right = (typeof b === "string" ? b : "").trim().split(".");
    for (let i = 0; i < Math.max(left.length, right.length); i++) {
      const l = parseInt(left[i] ?? "", 10) || 0;
      const r = parseInt(right[i] ?? "", 10) || 0;
      if (l !== r) return l > r ? 1 : -1;
    }
    return 0;
  }

  function versionAtLeast(version: string): boolean {
    return versionCompare(webAppVersion, version) >= 0;
  }

  /** For features the official script skips with a warning on older hosts. */
  function supports(version: string, feature: string): boolean {
    if (versionAtLeast(version)) return true;
    console.warn("[Telegram.WebApp] " + feature + " is not supported in version " + webAppVersion);
    return false;
  }

  /** For methods the official script refuses with `WebAppMethodUnsupported` on older hosts. */
  function requireVersion(version: string, what: string): void {
    if (!versionAtLeast(version)) {
      fail(what + " is not supported in version " + webAppVersion, undefined, "WebAppMethodUnsupported");
    }
  }

  /** `#RGB`, `#RRGGBB` or `rgb(a)(r, g, b)` to lowercase `#rrggbb`; false when it is none of these. */
  function parseColorToHex(color: unknown): string | false {
    const text = String(color);
    let m = /^\s*#([0-9a-f]{6})\s*$/i.exec(text);
    if (m) return "#" + m[1]!.toLowerCase();
    m = /^\s*#([0-9a-f])([0-9a-f])([0-9a-f])\s*$/i.exec(text);
    if (m) return ("#" + m[1] + m[1] + m[2] + m[2] + m[3] + m[3]).toLowerCase();
    m = /^\s*rgba?\((\d+),\s*(\d+),\s*(\d+)(?:,\s*(\d+\.{0,1}\d*))?\)\s*$/.exec(text);
    if (m) {
      const hex = (n: string) => Math.min(255, parseInt(n, 10)).toString(16).padStart(2, "0");
      return "#" + hex(m[1]!) + hex(m[2]!) + hex(m[3]!);
    }
    return false;
  }

  /** Perceived brightness (HSP) below the official script's threshold. */
  function isColorDark(hex: string): boolean {
    let rgb = hex.replace(/[\s#]/g, "");
    if (rgb.length === 3) rgb = rgb[0]! + rgb[0] + rgb[1] + rgb[1] + rgb[2] + rgb[2];
    const r = parseInt(rgb.slice(0, 2), 16);
    const g = parseInt(rgb.slice(2, 4), 16);
    const b = parseInt(rgb.slice(4, 6), 16);
    return Math.sqrt(0.299 * r * r + 0.587 * g * g + 0.114 * b * b) < 120;
  }

  function byteLength(text: string): number {
    return new TextEncoder().encode(text).length;
  }

  /** Parses http(s) URLs the way an `<a href>` would, relative to the page. */
  function parseHttpUrl(url: unknown): URL | null {
    try {
      const parsed = new URL(String(url), location.href);
      return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed : null;
    } catch {
      return null;
    }
  }

  function setCssProperty(name: string, value: string): void {
    document.documentElement?.style.setProperty("--tg-" + name, value);
  }

  /** Values wrapped in `{}` or `[]` become JSON (as the official script does); unix times become numbers. */
  function parseSignedQuery(query: string): Payload {
    const parsed: Payload = urlParseQueryString(query);
    for (const key of Object.keys(parsed)) {
      const value = parsed[key];
      if (typeof value !== "string") continue;
      if ((value.startsWith("{") && value.endsWith("}")) || (value.startsWith("[") && value.endsWith("]"))) {
        try {
          parsed[key] = JSON.parse(value);
        } catch {}
      } else if ((key === "auth_date" || key === "can_send_after") && /^\d+$/.test(value)) {
        parsed[key] = Number(value);
      }
    }
    return parsed;
  }

  // Pending requests correlated by `req_id` (custom methods, clipboard, device and secure storage).
  const requests = new Map<string, Handler | undefined>();

  function newRequestId(): string {
    const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    for (let tries = 0; tries < 100; tries++) {
      let id = "";
      for (let i = 0; i < 16; i++) id += chars[Math.floor(Math.random() * chars.length)];
      if (!requests.has(id)) return id;
    }
    throw new Error("WebAppCallbackIdGenerateFailed");
  }

  /** Registers `callback` under a fresh `req_id` and returns the id. */
  function track(callback: Handler | undefined | null): string {
    const id = newRequestId();
    requests.set(id, callback ?? undefined);
    return id;
  }

  /** The callback of a pending request, removed from the table; undefined for unknown ids. */
  function settle(data: Payload): { callback: Handler | undefined } | undefined {
    const id = data.req_id;
    if (typeof id !== "string" || !requests.has(id)) return undefined;
    const callback = requests.get(id);
    requests.delete(id);
    return { callback };
  }

  // ---------------------------------------------------------------------------------------------
  // Launch state: init data, version, platform, theme
  // ---------------------------------------------------------------------------------------------

  let initData = "";
  let initDataUnsafe: Payload = {};
  if (initParams.tgWebAppData) {
    initData = initParams.tgWebAppData;
    initDataUnsafe = parseSignedQuery(initData);
  }
  const webAppVersion = initParams.tgWebAppVersion || "6.0";
  const webAppPlatform = initParams.tgWebAppPlatform || "unknown";

  const themeParams: Record<string, string> = {};
  let colorScheme: "light" | "dark" = "light";

  function setThemeParams(params: Payload): void {
    for (const key of Object.keys(params)) {
      const color = parseColorToHex(params[key]);
      if (!color) continue;
      themeParams[key] = color;
      if (key === "bg_color") {
        colorScheme = isColorDark(color) ? "dark" : "light";
        setCssProperty("color-scheme", colorScheme);
      }
      setCssProperty("theme-" + key.split("_").join("-"), color);
    }
    sessionStorageSet("themeParams", themeParams);
  }

  function parseJsonObject(raw: string | null | undefined): Payload | null {
    if (!raw) return null;
    try {
      const value: unknown = JSON.parse(raw);
      return value !== null && typeof value === "object" ? (value as Payload) : null;
    } catch {
      return null;
    }
  }

  // Colours the app asked for: a theme key (`bg_color`, ...) or an explicit `#rrggbb`.
  let backgroundColorChoice = "bg_color";
  let headerColorKey: string | null = "bg_color";
  let headerColorValue: string | null = null;
  let bottomBarColorChoice = "bottom_bar_bg_color";

  /** `tgWebAppDefaultColors`: the loading colours the host used, per colour scheme. */
  function setDefaultColors(colors: Payload): void {
    const dark = colorScheme === "dark";
    const bg = dark ? colors.bg_dark_color : colors.bg_color;
    const header = dark ? colors.header_dark_color : colors.header_color;
    if (typeof bg === "string" && bg) backgroundColorChoice = bg;
    if (typeof header === "string" && header) {
      headerColorKey = null;
      headerColorValue = header;
    }
    sessionStorageSet("defaultColors", colors);
  }

  const storedTheme: unknown = sessionStorageGet("themeParams");
  const launchTheme = parseJsonObject(initParams.tgWebAppThemeParams);
  if (launchTheme) setThemeParams(launchTheme);
  // A theme the host sent later in this session is newer than the one in the launch URL.
  if (storedTheme && typeof storedTheme === "object") setThemeParams(storedTheme as Payload);

  const storedDefaultColors: unknown = sessionStorageGet("defaultColors");
  const launchDefaultColors = parseJsonObject(initParams.tgWebAppDefaultColors);
  if (launchDefaultColors) setDefaultColors(launchDefaultColors);
  if (storedDefaultColors && typeof storedDefaultColors === "object") setDefaultColors(storedDefaultColors as Payload);

  // ---------------------------------------------------------------------------------------------
  // Viewport, safe areas, activity, fullscreen, orientation
  // ---------------------------------------------------------------------------------------------

  let viewportHeight: number | false = false;
  let viewportStableHeight: number | false = false;
  let isExpanded = true;

  function setViewportHeight(data?: Payload): void {
    if (data) {
      isExpanded = !!data.is_expanded;
      viewportHeight = Number(data.height);
      if (data.is_state_stable) viewportStableHeight = viewportHeight;
      emit("viewportChanged", { isStateStable: !!data.is_state_stable });
    }
    setCssProperty("viewport-height", viewportHeight === false ? "100vh" : viewportHeight + "px");
    setCssProperty("viewport-stable-height", viewportStableHeight === false ? "100vh" : viewportStableHeight + "px");
  }

  // Until the host reports a viewport, window resizes stand in for it.
  let lastWindowHeight = window.innerHeight;
  function onWindowResize(): void {
    if (lastWindowHeight !== window.innerHeight) {
      lastWindowHeight = window.innerHeight;
      emit("viewportChanged", { isStateStable: true });
    }
  }

  type Insets = { top: number; bottom: number; left: number; right: number };
  const safeAreaInset: Insets = { top: 0, bottom: 0, left: 0, right: 0 };
  const contentSafeAreaInset: Insets = { top: 0, bottom: 0, left: 0, right: 0 };

  /** Applies the sides the host sent; the CSS variables appear only once the host has sent some. */
  function setInsets(insets: Insets, data: Payload, cssPrefix: string, eventType: string): void {
    for (const side of ["top", "bottom", "left", "right"] as const) {
      if (typeof data[side] === "number") insets[side] = data[side];
      setCssProperty(cssPrefix + side, insets[side] + "px");
    }
    emit(eventType);
  }

  let isActive = true;
  let isFullscreen = false;
  let isOrientationLocked = false;

  function setFullscreen(value: boolean): void {
    isFullscreen = value;
    sessionStorageSet("isFullscreen", value ? "yes" : "no");
  }

  function setOrientationLock(value: boolean): void {
    isOrientationLocked = value;
    sessionStorageSet("isOrientationLocked", value ? "yes" : "no");
  }

  if (initParams.tgWebAppFullscreen) setFullscreen(true);
  const storedFullscreen: unknown = sessionStorageGet("isFullscreen");
  if (storedFullscreen) setFullscreen(storedFullscreen === "yes");
  const storedOrientationLock: unknown = sessionStorageGet("isOrientationLocked");
  if (storedOrientationLock) setOrientationLock(storedOrientationLock === "yes");

  let isClosingConfirmationEnabled = false;
  function setClosingConfirmation(enabled: unknown): void {
    if (!supports("6.2", "Closing confirmation")) return;
    isClosingConfirmationEnabled = !!enabled;
    postEvent("web_app_setup_closing_behavior", false, { need_confirmation: isClosingConfirmationEnabled });
  }

  let isVerticalSwipesEnabled = true;
  function setVerticalSwipes(enabled: unknown): void {
    if (!supports("7.7", "Changing swipes behavior")) return;
    isVerticalSwipesEnabled = !!enabled;
    postEvent("web_app_setup_swipe_behavior", false, { allow_vertical_swipe: isVerticalSwipesEnabled });
  }

  function toggleOrientationLock(locked: unknown): void {
    if (!supports("8.0", "Orientation locking")) return;
    setOrientationLock(!!locked);
    postEvent("web_app_toggle_orientation_lock", false, { locked: isOrientationLocked });
  }

  // ---------------------------------------------------------------------------------------------
  // Header, background and bottom bar colours
  // ---------------------------------------------------------------------------------------------

  function getHeaderColor(): string | null | undefined {
    if (headerColorKey === "secondary_bg_color") return themeParams.secondary_bg_color;
    if (headerColorKey === "bg_color") return themeParams.bg_color;
    return headerColorValue;
  }

  function setHeaderColor(color: unknown): void {
    if (!supports("6.1", "Header color")) return;
    if (!versionAtLeast("6.9")) {
      // Before 6.9 only the two theme keys exist; a colour equal to one of them means that key.
      if (themeParams.bg_color && themeParams.bg_color === color) color = "bg_color";
      else if (themeParams.secondary_bg_color && themeParams.secondary_bg_color === color) color = "secondary_bg_color";
    }
    let key: string | null = null;
    let value: string | null = null;
    if (color === "bg_color" || color === "secondary_bg_color") {
      key = color;
    } else if (versionAtLeast("6.9")) {
      value = parseColorToHex(color) || fail("Header color format is invalid", color, "WebAppHeaderColorInvalid");
    } else {
      fail(
        "Header color key should be one of Telegram.WebApp.themeParams.bg_color, " +
          "Telegram.WebApp.themeParams.secondary_bg_color, 'bg_color', 'secondary_bg_color'",
        color,
        "WebAppHeaderColorKeyInvalid",
      );
    }
    headerColorKey = key;
    headerColorValue = value;
    updateHeaderColor();
  }

  let sentHeaderColorKey: string | null | undefined;
  let sentHeaderColor: string | null | undefined;
  function updateHeaderColor(): void {
    if (sentHeaderColorKey === headerColorKey && sentHeaderColor === headerColorValue) return;
    sentHeaderColorKey = headerColorKey;
    sentHeaderColor = headerColorValue;
    if (headerColorValue) postEvent("web_app_set_header_color", false, { color: headerColorValue });
    else postEvent("web_app_set_header_color", false, { color_key: headerColorKey });
  }

  function getBackgroundColor(): string | undefined {
    if (backgroundColorChoice === "secondary_bg_color") return themeParams.secondary_bg_color;
    if (backgroundColorChoice === "bg_color") return themeParams.bg_color;
    return backgroundColorChoice;
  }

  function setBackgroundColor(color: unknown): void {
    if (!supports("6.1", "Background color")) return;
    if (color === "bg_color" || color === "secondary_bg_color") backgroundColorChoice = color;
    else {
      backgroundColorChoice =
        parseColorToHex(color) || fail("Background color format is invalid", color, "WebAppBackgroundColorInvalid");
    }
    updateBackgroundColor();
  }

  let sentBackgroundColor: string | undefined | null = null;
  function updateBackgroundColor(): void {
    const color = getBackgroundColor();
    if (sentBackgroundColor === color) return;
    sentBackgroundColor = color;
    postEvent("web_app_set_background_color", false, { color });
  }

  function getBottomBarColor(): string | undefined {
    if (bottomBarColorChoice === "bottom_bar_bg_color") {
      return themeParams.bottom_bar_bg_color || themeParams.secondary_bg_color || "#ffffff";
    }
    if (bottomBarColorChoice === "secondary_bg_color") return themeParams.secondary_bg_color;
    if (bottomBarColorChoice === "bg_color") return themeParams.bg_color;
    return bottomBarColorChoice;
  }

  function setBottomBarColor(color: unknown): void {
    if (!supports("7.10", "Bottom bar color")) return;
    if (color === "bg_color" || color === "secondary_bg_color" || color === "bottom_bar_bg_color") {
      bottomBarColorChoice = color;
    } else {
      bottomBarColorChoice =
        parseColorToHex(color) || fail("Bottom bar color format is invalid", color, "WebAppBottomBarColorInvalid");
    }
    updateBottomBarColor();
    // The secondary button's default colour is the bottom bar's.
    SecondaryButton.setParams({});
  }

  let sentBottomBarColor: string | undefined | null = null;
  function updateBottomBarColor(): void {
    const color = getBottomBarColor();
    if (sentBottomBarColor === color) return;
    sentBottomBarColor = color;
    postEvent("web_app_set_bottom_bar_color", false, { color });
  }

  // ---------------------------------------------------------------------------------------------
  // BackButton and SettingsButton: visibility only
  // ---------------------------------------------------------------------------------------------

  function createToggleButton(options: {
    name: string;
    since: string;
    setupMethod: string;
    pressedEvent: string;
    clickedEvent: string;
  }) {
    let isVisible = false;
    let sentState: string | null = null;

    const check = () => supports(options.since, options.name);

    function setParams(params: { is_visible?: unknown }) {
      if (!check()) return button;
      if (params.is_visible !== undefined) isVisible = !!params.is_visible;
      const state = { is_visible: isVisible };
      const serialized = JSON.stringify(state);
      if (serialized !== sentState) {
        sentState = serialized;
        postEvent(options.setupMethod, false, state);
      }
      return button;
    }

    const button = {
      get isVisible(): boolean {
        return isVisible;
      },
      set isVisible(value: unknown) {
        setParams({ is_visible: value });
      },
      onClick(callback: Handler) {
        if (check()) onEvent("webview:" + options.clickedEvent, callback);
        return button;
      },
      offClick(callback: Handler) {
        if (check()) offEvent("webview:" + options.clickedEvent, callback);
        return button;
      },
      show() {
        return setParams({ is_visible: true });
      },
      hide() {
        return setParams({ is_visible: false });
      },
    };
    onEvent(options.pressedEvent, () => emit(options.clickedEvent));
    return button;
  }

  const BackButton = createToggleButton({
    name: "BackButton",
    since: "6.1",
    setupMethod: "web_app_setup_back_button",
    pressedEvent: "back_button_pressed",
    clickedEvent: "backButtonClicked",
  });

  const SettingsButton = createToggleButton({
    name: "SettingsButton",
    since: "6.10",
    setupMethod: "web_app_setup_settings_button",
    pressedEvent: "settings_button_pressed",
    clickedEvent: "settingsButtonClicked",
  });

  // ---------------------------------------------------------------------------------------------
  // MainButton and SecondaryButton
  // ---------------------------------------------------------------------------------------------

  function createBottomButton(type: "main" | "secondary") {
    const isMain = type === "main";
    const setupMethod = isMain ? "web_app_setup_main_button" : "web_app_setup_secondary_button";
    const clickedEvent = isMain ? "mainButtonClicked" : "secondaryButtonClicked";
    const defaultColor = () => (isMain ? themeParams.button_color || "#2481cc" : getBottomBarColor());
    const defaultTextColor = () =>
      isMain ? themeParams.button_text_color || "#ffffff" : themeParams.button_color || "#2481cc";

    let text = isMain ? "Continue" : "Cancel";
    let color: string | false = false;
    let textColor: string | false = false;
    let isVisible = false;
    let isActive = true;
    let isProgressVisible = false;
    let hasShineEffect = false;
    let position = "left";
    let sentState: string | null = null;

    const invalid: Invalid = (message, detail) => fail(message, detail, "WebAppBottomButtonParamInvalid");

    function parseColorParam(value: unknown, what: string): string | false {
      if (value === false || value === null) return false;
      return parseColorToHex(value) || invalid("Bottom button " + what + " format is invalid", value);
    }

    /** What the host is told: everything while visible, only `is_visible: false` otherwise. */
    function hostParams(): Record<string, unknown> {
      if (!isVisible) return { is_visible: false };
      const params: Record<string, unknown> = {
        is_visible: true,
        is_active: isActive,
        is_progress_visible: isProgressVisible,
        text,
        color: button.color,
        text_color: button.textColor,
        has_shine_effect: hasShineEffect && isActive && !isProgressVisible,
      };
      if (!isMain) params.position = position;
      return params;
    }

    /** Posts the setup method when (and only when) what the host shows changed. */
    function update() {
      const params = hostParams();
      const serialized = JSON.stringify(params);
      if (serialized !== sentState) {
        sentState = serialized;
        postEvent(setupMethod, false, params);
      }
      return button;
    }

    function setParams(params: BottomButtonParams) {
      if (params.text !== undefined) {
        const value = strTrim(params.text);
        if (!value.length) invalid("Bottom button text is required", params.text);
        if (value.length > 64) invalid("Bottom button text is too long", value);
        text = value;
      }
      if (params.color !== undefined) color = parseColorParam(params.color, "color");
      if (params.text_color !== undefined) textColor = parseColorParam(params.text_color, "text color");
      if (params.is_visible !== undefined) {
        if (params.is_visible && !text.length) invalid("Bottom button text is required");
        isVisible = !!params.is_visible;
      }
      if (params.has_shine_effect !== undefined) hasShineEffect = !!params.has_shine_effect;
      if (!isMain && params.position !== undefined) {
        const p = params.position;
        if (p !== "left" && p !== "right" && p !== "top" && p !== "bottom") {
          invalid("Bottom button position is invalid", p);
        }
        position = p as string;
      }
      if (params.is_active !== undefined) isActive = !!params.is_active;
      return update();
    }

    const button = {
      get type(): string {
        return type;
      },
      get text(): string {
        return text;
      },
      set text(value: unknown) {
        setParams({ text: value });
      },
      get color(): string {
        return color || defaultColor() || "";
      },
      set color(value: unknown) {
        setParams({ color: value });
      },
      get textColor(): string {
        return textColor || defaultTextColor();
      },
      set textColor(value: unknown) {
        setParams({ text_color: value });
      },
      get isVisible(): boolean {
        return isVisible;
      },
      set isVisible(value: unknown) {
        setParams({ is_visible: value });
      },
      get isProgressVisible(): boolean {
        return isProgressVisible;
      },
      get isActive(): boolean {
        return isActive;
      },
      set isActive(value: unknown) {
        setParams({ is_active: value });
      },
      get hasShineEffect(): boolean {
        return hasShineEffect;
      },
      set hasShineEffect(value: unknown) {
        setParams({ has_shine_effect: value });
      },
      setText(value: unknown) {
        return setParams({ text: value });
      },
      onClick(callback: Handler) {
        onEvent("webview:" + clickedEvent, callback);
        return button;
      },
      offClick(callback: Handler) {
        offEvent("webview:" + clickedEvent, callback);
        return button;
      },
      show() {
        return setParams({ is_visible: true });
      },
      hide() {
        return setParams({ is_visible: false });
      },
      enable() {
        return setParams({ is_active: true });
      },
      disable() {
        return setParams({ is_active: false });
      },
      showProgress(leaveActive?: unknown) {
        isActive = !!leaveActive;
        isProgressVisible = true;
        return update();
      },
      hideProgress() {
        isActive = true;
        isProgressVisible = false;
        return update();
      },
      setParams,
    };
    if (!isMain) {
      Object.defineProperty(button, "position", {
        get: () => position,
        set: (value: unknown) => setParams({ position: value }),
        enumerable: true,
      });
    }
    onEvent(isMain ? "main_button_pressed" : "secondary_button_pressed", () => {
      if (isActive) emit(clickedEvent);
    });
    return button;
  }

  const MainButton = createBottomButton("main");
  const SecondaryButton = createBottomButton("secondary");

  // ---------------------------------------------------------------------------------------------
  // HapticFeedback
  // ---------------------------------------------------------------------------------------------

  const HapticFeedback = (() => {
    const feedback = {
      impactOccurred(style: unknown) {
        return trigger({ type: "impact", impact_style: style });
      },
      notificationOccurred(type: unknown) {
        return trigger({ type: "notification", notification_type: type });
      },
      selectionChanged() {
        return trigger({ type: "selection_change" });
      },
    };

    function trigger(params: { type: string; impact_style?: unknown; notification_type?: unknown }) {
      if (!supports("6.1", "HapticFeedback")) return feedback;
      if (params.type === "impact") {
        if (!["light", "medium", "heavy", "rigid", "soft"].includes(params.impact_style as string)) {
          fail("Haptic impact style is invalid", params.impact_style, "WebAppHapticImpactStyleInvalid");
        }
      } else if (params.type === "notification") {
        if (!["error", "success", "warning"].includes(params.notification_type as string)) {
          fail("Haptic notification type is invalid", params.notification_type, "WebAppHapticNotificationTypeInvalid");
        }
      }
      postEvent("web_app_trigger_haptic_feedback", false, params);
      return feedback;
    }

    return feedback;
  })();

  // ---------------------------------------------------------------------------------------------
  // Custom methods and CloudStorage
  // ---------------------------------------------------------------------------------------------

  function invokeCustomMethod(method: string, params: unknown, callback?: Handler | null): void {
    requireVersion("6.9", "Method invokeCustomMethod");
    const req_id = track(callback);
    postEvent("web_app_invoke_custom_method", false, { req_id, method, params: params || {} });
  }

  onHostEvent("custom_method_invoked", (data) => {
    const request = settle(data);
    if (!request?.callback) return;
    request.callback(data.error !== undefined ? data.error : null, data.result !== undefined ? data.result : null);
  });

  const CloudStorage = (() => {
    const KEY = /^[A-Za-z0-9_-]{1,128}$/;
    const MAX_VALUE_LENGTH = 4096;

    const storage = {
      setItem(key: unknown, value: unknown, callback?: Handler | null) {
        const text = typeof value === "string" ? value : String(value);
        const error = keyError(key) ?? (text.length > MAX_VALUE_LENGTH ? "STORAGE_VALUE_TOO_LONG" : null);
        if (error) return reject(error, value, callback);
        return invoke("saveStorageValue", { key, value: text }, callback);
      },
      getItem(key: unknown, callback?: Handler | null) {
        return storage.getItems(
          [key],
          callback
            ? (error: unknown, values: unknown) => {
                if (error) return callback(error);
                callback(null, values && typeof values === "object" ? (values as Payload)[String(key)] : undefined);
              }
            : null,
        );
      },
      getItems(keys: unknown, callback?: Handler | null) {
        const error = keysError(keys);
        if (error) return reject(error, keys, callback);
        return invoke("getStorageValues", { keys }, callback);
      },
      removeItem(key: unknown, callback?: Handler | null) {
        return storage.removeItems([key], callback);
      },
      removeItems(keys: unknown, callback?: Handler | null) {
        const error = keysError(keys);
        if (error) return reject(error, keys, callback);
        return invoke("deleteStorageValues", { keys }, callback);
      },
      getKeys(callback?: Handler | null) {
        return invoke("getStorageKeys", {}, callback);
      },
    };

    function invoke(method: string, params: Payload, callback?: Handler | null) {
      requireVersion("6.9", "CloudStorage");
      invokeCustomMethod(method, params, callback);
      return storage;
    }

    function keyError(key: unknown): string | null {
      return typeof key === "string" && KEY.test(key) ? null : "STORAGE_KEY_INVALID";
    }

    function keysError(keys: unknown): string | null {
      if (!Array.isArray(keys)) return "STORAGE_KEY_INVALID";
      for (const key of keys) {
        const error = keyError(key);
        if (error) return error;
      }
      return null;
    }

    /** Refuses a call the server would refuse, with the same callback shape, without asking the host. */
    function reject(error: string, detail: unknown, callback?: Handler | null) {
      requireVersion("6.9", "CloudStorage");
      console.error("[Telegram.WebApp] CloudStorage: " + error, detail);
      if (callback) setTimeout(() => callback(error), 0);
      return storage;
    }

    return storage;
  })();

  // ---------------------------------------------------------------------------------------------
  // DeviceStorage and SecureStorage (9.0)
  // ---------------------------------------------------------------------------------------------

  /** DeviceStorage or SecureStorage: `web_app_<prefix>_*` requests answered by `<prefix>_*` events by `req_id`. */
  function createKeyValueStorage(name: string, prefix: string, events: string[]) {
    const storage: Record<string, unknown> = {};

    for (const event of events) {
      onHostEvent(prefix + "_" + event, (data, eventType) => {
        const request = settle(data);
        if (!request?.callback) return;
        if (eventType === prefix + "_failed") request.callback(data.error || "UNKNOWN_ERROR", null);
        else if (eventType === prefix + "_key_received") {
          request.callback(null, data.value ?? null, data.can_restore ? true : null);
        } else if (eventType === prefix + "_key_restored") request.callback(null, data.value ?? null);
        else request.callback(null, true);
      });
    }

    function invoke(method: string, params: Payload, callback?: Handler | null) {
      requireVersion("9.0", name);
      const req_id = track(callback);
      postEvent("web_app_" + prefix + "_" + method, false, { req_id, ...params });
      return storage;
    }

    Object.assign(storage, {
      setItem(key: unknown, value: unknown, callback?: Handler | null) {
        return invoke("save_key", { key, value }, callback);
      },
      getItem(key: unknown, callback?: Handler | null) {
        return invoke("get_key", { key }, callback);
      },
      removeItem(key: unknown, callback?: Handler | null) {
        return invoke("save_key", { key, value: null }, callback);
      },
      clear(callback?: Handler | null) {
        return invoke("clear", {}, callback);
      },
    });
    if (events.includes("key_restored")) {
      storage.restoreItem = (key: unknown, callback?: Handler | null) => invoke("restore_key", { key }, callback);
    }
    return storage;
  }

  const DeviceStorage = createKeyValueStorage("DeviceStorage", "device_storage", [
    "key_saved",
    "key_received",
    "cleared",
    "failed",
  ]);
  const SecureStorage = createKeyValueStorage("SecureStorage", "secure_storage", [
    "key_saved",
    "key_received",
    "key_restored",
    "cleared",
    "failed",
  ]);

  // ---------------------------------------------------------------------------------------------
  // BiometricManager (7.2)
  // ---------------------------------------------------------------------------------------------

  const BiometricManager = (() => {
    let isInited = false;
    let isAvailable = false;
    let biometricType = "unknown";
    let isAccessRequested = false;
    let isAccessGranted = false;
    let isTokenSaved = false;
    let deviceId = "";
    let initCallbacks: Handler[] = [];
    let accessRequest: { callback?: Handler | null } | null = null;
    let authRequest: { callback?: Handler | null } | null = null;
    let tokenRequest: { callback?: Handler | null } | null = null;

    const check = () => supports("7.2", "BiometricManager");

    function requireReady(): void {
      if (!isInited) {
        fail("BiometricManager should be inited before using.", undefined, "WebAppBiometricManagerNotInited");
      }
      if (!isAvailable) {
        fail("Biometrics is not available on this device.", undefined, "WebAppBiometricManagerBiometricsNotAvailable");
      }
    }

    function requireGranted(): void {
      if (!isAccessGranted) {
        fail(
          "Biometric access was not granted by the user.",
          undefined,
          "WebAppBiometricManagerBiometricAccessNotGranted",
        );
      }
    }

    function reasonParams(params: unknown): Payload {
      const result: Payload = {};
      const reason = params && typeof params === "object" ? (params as Payload).reason : undefined;
      if (reason !== undefined) {
        const text = strTrim(reason);
        if (text.length > 128) fail("Biometric reason is too long", text, "WebAppBiometricRequestAccessParamInvalid");
        if (text.length > 0) result.reason = text;
      }
      return result;
    }

    onHostEvent("biometry_info_received", (data) => {
      isInited = true;
      isAvailable = !!data.available;
      biometricType = isAvailable && typeof data.type === "string" && data.type ? data.type : "unknown";
      isAccessRequested = isAvailable && !!data.access_requested;
      isAccessGranted = isAccessRequested && !!data.access_granted;
      isTokenSaved = isAccessRequested && !!data.token_saved;
      deviceId = typeof data.device_id === "string" ? data.device_id : "";
      const callbacks = initCallbacks;
      initCallbacks = [];
      for (const callback of callbacks) callback();
      if (accessRequest) {
        const { callback } = accessRequest;
        accessRequest = null;
        callback?.(isAccessGranted);
      }
      emit("biometricManagerUpdated");
    });

    onHostEvent("biometry_auth_requested", (data) => {
      const authenticated = data.status === "authorized";
      const token = typeof data.token === "string" ? data.token : "";
      if (authRequest) {
        const { callback } = authRequest;
        authRequest = null;
        callback?.(authenticated, authenticated ? token : null);
      }
      emit(
        "biometricAuthRequested",
        authenticated ? { isAuthenticated: true, biometricToken: token } : { isAuthenticated: false },
      );
    });

    onHostEvent("biometry_token_updated", (data) => {
      let applied = false;
      if (isAvailable && isAccessRequested) {
        if (data.status === "updated") {
          isTokenSaved = true;
          applied = true;
        } else if (data.status === "removed") {
          isTokenSaved = false;
          applied = true;
        }
      }
      if (tokenRequest) {
        const { callback } = tokenRequest;
        tokenRequest = null;
        callback?.(applied);
      }
      emit("biometricTokenUpdated", { isUpdated: applied });
    });

    const manager = {
      get isInited() {
        return isInited;
      },
      get isBiometricAvailable() {
        return isInited && isAvailable;
      },
      get biometricType() {
        return biometricType;
      },
      get isAccessRequested() {
        return isAccessRequested;
      },
      get isAccessGranted() {
        return isAccessRequested && isAccessGranted;
      },
      get isBiometricTokenSaved() {
        return isTokenSaved;
      },
      get deviceId() {
        return deviceId;
      },
      init(callback?: Handler | null) {
        if (!check() || isInited) return manager;
        if (callback) initCallbacks.push(callback);
        postEvent("web_app_biometry_get_info", false);
        return manager;
      },
      requestAccess(params: unknown, callback?: Handler | null) {
        if (!check()) return manager;
        requireReady();
        if (accessRequest) fail("Access is already requested", undefined, "WebAppBiometricManagerAccessRequested");
        const popup = reasonParams(params);
        accessRequest = { callback };
        postEvent("web_app_biometry_request_access", false, popup);
        return manager;
      },
      authenticate(params: unknown, callback?: Handler | null) {
        if (!check()) return manager;
        requireReady();
        requireGranted();
        if (authRequest) {
          const code = "WebAppBiometricManagerAuthenticationRequested";
          fail("Authentication request is already in progress.", undefined, code);
        }
        const popup = reasonParams(params);
        authRequest = { callback };
        postEvent("web_app_biometry_request_auth", false, popup);
        return manager;
      },
      updateBiometricToken(token: unknown, callback?: Handler | null) {
        if (!check()) return manager;
        const value = token ? String(token) : "";
        if (value.length > 1024) fail("Token is too long", value, "WebAppBiometricManagerTokenInvalid");
        requireReady();
        requireGranted();
        if (tokenRequest) {
          fail("Token request is already in progress.", undefined, "WebAppBiometricManagerTokenUpdateRequested");
        }
        tokenRequest = { callback };
        postEvent("web_app_biometry_update_token", false, { token: value });
        return manager;
      },
      openSettings() {
        if (!check()) return manager;
        requireReady();
        if (!isAccessRequested) {
          fail(
            "Biometric access was not requested yet.",
            undefined,
            "WebAppBiometricManagerBiometricsAccessNotRequested",
          );
        }
        if (isAccessGranted) {
          console.warn("[Telegram.WebApp] Biometric access was granted by the user, no need to go to settings.");
          return manager;
        }
        postEvent("web_app_biometry_open_settings", false);
        return manager;
      },
    };
    return manager;
  })();

  // ---------------------------------------------------------------------------------------------
  // LocationManager (8.0)
  // ---------------------------------------------------------------------------------------------

  const LocationManager = (() => {
    let isInited = false;
    let isAvailable = false;
    let isAccessRequested = false;
    let isAccessGranted = false;
    let initCallbacks: Handler[] = [];
    let locationCallbacks: Handler[] = [];

    const check = () => supports("8.0", "LocationManager");

    function requireAvailable(): void {
      if (!isInited) {
        fail("LocationManager should be inited before using.", undefined, "WebAppLocationManagerNotInited");
      }
      if (!isAvailable) {
        fail("Location is not available on this device.", undefined, "WebAppLocationManagerLocationNotAvailable");
      }
    }

    onHostEvent("location_checked", (data) => {
      isInited = true;
      isAvailable = !!data.available;
      isAccessRequested = isAvailable && !!data.access_requested;
      isAccessGranted = isAccessRequested && !!data.access_granted;
      const callbacks = initCallbacks;
      initCallbacks = [];
      for (const callback of callbacks) callback();
      emit("locationManagerUpdated");
    });

    const optionalNumber = (value: unknown) => (typeof value === "number" ? value : null);

    onHostEvent("location_requested", (data) => {
      const reading = data.available
        ? {
            latitude: data.latitude,
            longitude: data.longitude,
            altitude: optionalNumber(data.altitude),
            course: typeof data.course === "number" ? data.course % 360 : null,
            speed: optionalNumber(data.speed),
            horizontal_accuracy: optionalNumber(data.horizontal_accuracy),
            vertical_accuracy: optionalNumber(data.vertical_accuracy),
            course_accuracy: optionalNumber(data.course_accuracy),
            speed_accuracy: optionalNumber(data.speed_accuracy),
          }
        : null;
      if (!data.available || !isAvailable || !isAccessRequested || !isAccessGranted) {
        // The answer may have changed what is allowed: refresh the state before answering.
        initCallbacks.push(() => respond(reading));
        postEvent("web_app_check_location", false);
      } else {
        respond(reading);
      }
    });

    function respond(reading: Payload | null): void {
      const callbacks = locationCallbacks;
      locationCallbacks = [];
      for (const callback of callbacks) callback(reading);
      if (reading !== null) emit("locationRequested", { locationData: reading });
    }

    const manager = {
      get isInited() {
        return isInited;
      },
      get isLocationAvailable() {
        return isInited && isAvailable;
      },
      get isAccessRequested() {
        return isAccessRequested;
      },
      get isAccessGranted() {
        return isAccessRequested && isAccessGranted;
      },
      init(callback?: Handler | null) {
        if (!check() || isInited) return manager;
        if (callback) initCallbacks.push(callback);
        postEvent("web_app_check_location", false);
        return manager;
      },
      getLocation(callback?: Handler | null) {
        if (!check()) return manager;
        requireAvailable();
        if (callback) locationCallbacks.push(callback);
        postEvent("web_app_request_location");
        return manager;
      },
      openSettings() {
        if (!check()) return manager;
        requireAvailable();
        if (!isAccessRequested) {
          fail("Location access was not requested yet.", undefined, "WebAppLocationManagerLocationAccessNotRequested");
        }
        if (isAccessGranted) {
          console.warn("[Telegram.WebApp] Location access was granted by the user, no need to go to settings.");
          return manager;
        }
        postEvent("web_app_open_location_settings", false);
        return manager;
      },
    };
    return manager;
  })();

  // ---------------------------------------------------------------------------------------------
  // Accelerometer, DeviceOrientation, Gyroscope (8.0)
  // ---------------------------------------------------------------------------------------------

  /**
   * A motion sensor: `start({refresh_rate})` / `stop()`, `isStarted`, and the latest reading exposed
   * as read-only properties (`fields`), all driven by the host's `<prefix>_started|changed|stopped|failed`.
   */
  function createSensor(name: string, prefix: string, camel: string, fields: Record<string, unknown>) {
    let isStarted = false;
    let startCallbacks: Handler[] = [];
    let stopCallbacks: Handler[] = [];
    const values = { ...fields };

    const check = () => supports("8.0", name);
    const flush = (callbacks: Handler[], result: boolean) => {
      for (const callback of callbacks) callback(result);
    };

    const sensor: Record<string, unknown> = {
      start(params: unknown, callback?: Handler | null) {
        if (!check()) return sensor;
        const options: Payload = params && typeof params === "object" ? (params as Payload) : {};
        const request: Payload = {};
        const rate = parseInt(String(options.refresh_rate || 1000), 10);
        if (isNaN(rate) || rate < 20 || rate > 1000) {
          console.warn("[Telegram.WebApp] " + name + " refresh_rate is invalid", rate);
        } else {
          request.refresh_rate = rate;
        }
        if (prefix === "device_orientation") request.need_absolute = !!options.need_absolute;
        if (callback) startCallbacks.push(callback);
        postEvent("web_app_start_" + prefix, false, request);
        return sensor;
      },
      stop(callback?: Handler | null) {
        if (!check()) return sensor;
        if (callback) stopCallbacks.push(callback);
        postEvent("web_app_stop_" + prefix);
        return sensor;
      },
    };
    Object.defineProperty(sensor, "isStarted", { get: () => isStarted, enumerable: true });
    for (const field of Object.keys(fields)) {
      Object.defineProperty(sensor, field, { get: () => values[field], enumerable: true });
    }

    onHostEvent(prefix + "_started", () => {
      isStarted = true;
      const callbacks = startCallbacks;
      startCallbacks = [];
      flush(callbacks, true);
      emit(camel + "Started");
    });
    onHostEvent(prefix + "_stopped", () => {
      isStarted = false;
      const callbacks = stopCallbacks;
      stopCallbacks = [];
      flush(callbacks, true);
      emit(camel + "Stopped");
    });
    onHostEvent(prefix + "_changed", (data) => {
      for (const field of Object.keys(fields)) {
        values[field] = field === "absolute" ? !!data[field] : data[field];
      }
      emit(camel + "Changed");
    });
    onHostEvent(prefix + "_failed", (data) => {
      const callbacks = startCallbacks;
      startCallbacks = [];
      flush(callbacks, false);
      emit(camel + "Failed", { error: data.error });
    });
    return sensor;
  }

  const Accelerometer = createSensor("Accelerometer", "accelerometer", "accelerometer", { x: null, y: null, z: null });
  const Gyroscope = createSensor("Gyroscope", "gyroscope", "gyroscope", { x: null, y: null, z: null });
  const DeviceOrientation = createSensor("DeviceOrientation", "device_orientation", "deviceOrientation", {
    absolute: false,
    alpha: null,
    beta: null,
    gamma: null,
  });

  // ---------------------------------------------------------------------------------------------
  // One-at-a-time requests answered by a host event
  // ---------------------------------------------------------------------------------------------

  /** A request of which only one may be open at a time; `open` throws `code` while one is. */
  function createSlot(alreadyOpen: string, code: string) {
    let pending: { callback?: Handler | null } | null = null;
    return {
      get isOpen() {
        return pending !== null;
      },
      /** The open request, left open. */
      current() {
        return pending;
      },
      open(callback?: Handler | null) {
        if (pending) fail(alreadyOpen, undefined, code);
        pending = { callback };
      },
      /** Closes the request and returns it (null when none was open). */
      take() {
        const request = pending;
        pending = null;
        return request;
      },
    };
  }

  const popup = createSlot("Popup is already opened", "WebAppPopupOpened");
  const scanQrPopup = createSlot("Popup is already opened", "WebAppScanQrPopupOpened");
  const writeAccess = createSlot("Write access is already requested", "WebAppWriteAccessRequested");
  const contact = createSlot("Contact is already requested", "WebAppContactRequested");
  const shareMessage = createSlot("Share message is already opened", "WebAppShareMessageOpened");
  const emojiStatus = createSlot("Emoji status is already requested", "WebAppEmojiStatusRequested");
  const emojiStatusAccess = createSlot(
    "Emoji status permission is already requested",
    "WebAppEmojiStatusAccessRequested",
  );
  const fileDownload = createSlot("Popup is already opened", "WebAppDownloadFilePopupOpened");
  const invoices = new Map<string, { url: string; callback?: Handler | null }>();
  let homeScreenCallbacks: Handler[] = [];

  onHostEvent("popup_closed", (data) => {
    const request = popup.take();
    if (!request) return;
    const buttonId = data.button_id !== undefined ? data.button_id : null;
    request.callback?.(buttonId);
    emit("popupClosed", { button_id: buttonId });
  });

  onHostEvent("qr_text_received", (data) => {
    const request = scanQrPopup.current();
    if (!request) return;
    const text = data.data !== undefined ? data.data : null;
    // The popup keeps scanning until the callback returns true.
    if (request.callback && request.callback(text)) {
      scanQrPopup.take();
      postEvent("web_app_close_scan_qr_popup", false);
    }
    emit("qrTextReceived", { data: text });
  });

  onHostEvent("scan_qr_popup_closed", () => {
    scanQrPopup.take();
    emit("scanQrPopupClosed");
  });

  onHostEvent("clipboard_text_received", (data) => {
    const request = settle(data);
    if (!request) return;
    const text = data.data !== undefined ? data.data : null;
    request.callback?.(text);
    emit("clipboardTextReceived", { data: text });
  });

  onHostEvent("invoice_closed", (data) => {
    const slug = data.slug;
    const invoice = typeof slug === "string" ? invoices.get(slug) : undefined;
    if (!invoice) return;
    invoices.delete(slug);
    invoice.callback?.(data.status);
    emit("invoiceClosed", { url: invoice.url, status: data.status });
  });

  onHostEvent("write_access_requested", (data) => {
    const request = writeAccess.take();
    if (!request) return;
    request.callback?.(data.status === "allowed");
    emit("writeAccessRequested", { status: data.status });
  });

  /**
   * After `phone_requested: sent` the contact (signed like init data) is fetched with the custom
   * method `getRequestedContact`, polled with a growing delay until it is ready or `timeout` passes.
   */
  function getRequestedContact(callback: (response: string) => void, timeout: number): void {
    let retry: ReturnType<typeof setTimeout> | undefined;
    let delay = 0;
    let finished = false;
    const finish = (response: string) => {
      if (finished) return;
      finished = true;
      clearTimeout(retry);
      clearTimeout(deadline);
      callback(response);
    };
    const deadline = setTimeout(() => finish(""), timeout);
    const ask = () => {
      invokeCustomMethod("getRequestedContact", {}, (_error: unknown, result: unknown) => {
        if (finished) return;
        if (typeof result === "string" && result.length) finish(result);
        else {
          delay += 50;
          retry = setTimeout(ask, delay);
        }
      });
    };
    ask();
  }

  onHostEvent("phone_requested", (data) => {
    const request = contact.take();
    if (!request) return;
    const sent = data.status === "sent";
    const event: Payload = { status: data.status };
    const answer = () => {
      request.callback?.(sent, event);
      emit("contactRequested", event);
    };
    if (!sent) return answer();
    getRequestedContact((response) => {
      if (response.length) {
        event.response = response;
        event.responseUnsafe = parseSignedQuery(response);
      }
      answer();
    }, 3000);
  });

  onHostEvent("file_download_requested", (data) => {
    const request = fileDownload.take();
    if (!request) return;
    const downloading = data.status === "downloading";
    request.callback?.(downloading);
    emit("fileDownloadRequested", { status: downloading ? "downloading" : "cancelled" });
  });

  onHostEvent("prepared_message_sent", () => {
    const request = shareMessage.take();
    if (!request) return;
    request.callback?.(true);
    emit("shareMessageSent");
  });

  onHostEvent("prepared_message_failed", (data) => {
    const request = shareMessage.take();
    if (!request) return;
    request.callback?.(false);
    emit("shareMessageFailed", { error: data.error });
  });

  onHostEvent("emoji_status_set", () => {
    const request = emojiStatus.take();
    if (!request) return;
    request.callback?.(true);
    emit("emojiStatusSet");
  });

  onHostEvent("emoji_status_failed", (data) => {
    const request = emojiStatus.take();
    if (!request) return;
    request.callback?.(false);
    emit("emojiStatusFailed", { error: data.error });
  });

  onHostEvent("emoji_status_access_requested", (data) => {
    const request = emojiStatusAccess.take();
    if (!request) return;
    request.callback?.(data.status === "allowed");
    emit("emojiStatusAccessRequested", { status: data.status });
  });

  onHostEvent("home_screen_added", () => emit("homeScreenAdded"));

  onHostEvent("home_screen_checked", (data) => {
    const status = typeof data.status === "string" && data.status ? data.status : "unknown";
    const callbacks = homeScreenCallbacks;
    homeScreenCallbacks = [];
    for (const callback of callbacks) callback(status);
    emit("homeScreenChecked", { status });
  });

  // ---------------------------------------------------------------------------------------------
  // Telegram.WebApp
  // ---------------------------------------------------------------------------------------------

  function showPopup(params: PopupParams, callback?: Handler | null): void {
    requireVersion("6.2", "Method showPopup");
    if (popup.isOpen) fail("Popup is already opened", undefined, "WebAppPopupOpened");
    const invalid: Invalid = (message, detail) => fail(message, detail, "WebAppPopupParamInvalid");
    const request: Payload = {};
    if (params.title !== undefined) {
      const title = strTrim(params.title);
      if (title.length > 64) invalid("Popup title is too long", title);
      if (title.length > 0) request.title = title;
    }
    const message = params.message !== undefined ? strTrim(params.message) : "";
    if (!message.length) invalid("Popup message is required", params.message);
    if (message.length > 256) invalid("Popup message is too long", message);
    request.message = message;

    const buttons: Payload[] = [];
    if (params.buttons === undefined) {
      buttons.push({ id: "", type: "close" });
    } else {
      if (!Array.isArray(params.buttons)) invalid("Popup buttons should be an array", params.buttons);
      for (const raw of params.buttons as PopupButton[]) {
        const button: PopupButton = raw && typeof raw === "object" ? raw : {};
        const id = button.id !== undefined && button.id !== null ? String(button.id) : "";
        if (id.length > 64) invalid("Popup button id is too long", id);
        const type = button.type !== undefined ? button.type : "default";
        const entry: Payload = { id, type };
        if (type === "default" || type === "destructive") {
          const text = button.text !== undefined ? strTrim(button.text) : "";
          if (!text.length) invalid("Popup button text is required for type " + type, button.text);
          if (text.length > 64) invalid("Popup button text is too long", text);
          entry.text = text;
        } else if (type !== "ok" && type !== "close" && type !== "cancel") {
          invalid("Popup button type is invalid", type);
        }
        buttons.push(entry);
      }
    }
    if (buttons.length < 1) invalid("Popup should have at least one button");
    if (buttons.length > 3) invalid("Popup should not have more than 3 buttons");
    request.buttons = buttons;

    popup.open(callback);
    postEvent("web_app_open_popup", false, request);
  }

  function openTelegramLink(url: unknown, options?: { force_request?: unknown } | null): void {
    const parsed = parseHttpUrl(url);
    if (!parsed) fail("Url protocol is not supported", url, "WebAppTgUrlInvalid");
    if (parsed.hostname !== "t.me") fail("Url host is not supported", url, "WebAppTgUrlInvalid");
    const pathFull = parsed.pathname + parsed.search;
    if (isIframe || versionAtLeast("6.1")) {
      const request: Payload = { path_full: pathFull };
      if (options?.force_request) request.force_request = true;
      postEvent("web_app_open_tg_link", false, request);
    } else {
      location.href = "https://t.me" + pathFull;
    }
  }

  const WebApp = {
    get initData() {
      return initData;
    },
    get initDataUnsafe() {
      return initDataUnsafe;
    },
    get version() {
      return webAppVersion;
    },
    get platform() {
      return webAppPlatform;
    },
    get colorScheme() {
      return colorScheme;
    },
    get themeParams() {
      return themeParams;
    },
    get isActive() {
      return isActive;
    },
    get isExpanded() {
      return isExpanded;
    },
    get viewportHeight() {
      return viewportHeight === false ? window.innerHeight : viewportHeight;
    },
    get viewportStableHeight() {
      return viewportStableHeight === false ? window.innerHeight : viewportStableHeight;
    },
    get safeAreaInset() {
      return safeAreaInset;
    },
    get contentSafeAreaInset() {
      return contentSafeAreaInset;
    },
    get isClosingConfirmationEnabled() {
      return isClosingConfirmationEnabled;
    },
    set isClosingConfirmationEnabled(value: unknown) {
      setClosingConfirmation(value);
    },
    get isVerticalSwipesEnabled() {
      return isVerticalSwipesEnabled;
    },
    set isVerticalSwipesEnabled(value: unknown) {
      setVerticalSwipes(value);
    },
    get isFullscreen() {
      return isFullscreen;
    },
    get isOrientationLocked() {
      return isOrientationLocked;
    },
    set isOrientationLocked(value: unknown) {
      toggleOrientationLock(value);
    },
    get headerColor(): string | null | undefined {
      return getHeaderColor();
    },
    set headerColor(value: unknown) {
      setHeaderColor(value);
    },
    get backgroundColor(): string | undefined {
      return getBackgroundColor();
    },
    set backgroundColor(value: unknown) {
      setBackgroundColor(value);
    },
    get bottomBarColor(): string | undefined {
      return getBottomBarColor();
    },
    set bottomBarColor(value: unknown) {
      setBottomBarColor(value);
    },

    BackButton,
    MainButton,
    SecondaryButton,
    SettingsButton,
    HapticFeedback,
    CloudStorage,
    DeviceStorage,
    SecureStorage,
    BiometricManager,
    Accelerometer,
    DeviceOrientation,
    Gyroscope,
    LocationManager,

    isVersionAtLeast(version: string) {
      return versionAtLeast(version);
    },
    setHeaderColor(color: unknown) {
      setHeaderColor(color);
    },
    setBackgroundColor(color: unknown) {
      setBackgroundColor(color);
    },
    setBottomBarColor(color: unknown) {
      setBottomBarColor(color);
    },
    enableClosingConfirmation() {
      setClosingConfirmation(true);
    },
    disableClosingConfirmation() {
      setClosingConfirmation(false);
    },
    enableVerticalSwipes() {
      setVerticalSwipes(true);
    },
    disableVerticalSwipes() {
      setVerticalSwipes(false);
    },
    lockOrientation() {
      toggleOrientationLock(true);
    },
    unlockOrientation() {
      toggleOrientationLock(false);
    },
    requestFullscreen() {
      requireVersion("8.0", "Method requestFullscreen");
      postEvent("web_app_request_fullscreen");
    },
    exitFullscreen() {
      requireVersion("8.0", "Method exitFullscreen");
      postEvent("web_app_exit_fullscreen");
    },
    addToHomeScreen() {
      requireVersion("8.0", "Method addToHomeScreen");
      postEvent("web_app_add_to_home_screen");
    },
    checkHomeScreenStatus(callback?: Handler | null) {
      requireVersion("8.0", "Method checkHomeScreenStatus");
      if (callback) homeScreenCallbacks.push(callback);
      postEvent("web_app_check_home_screen");
    },
    onEvent(eventType: string, callback: Handler) {
      onEvent("webview:" + eventType, callback);
    },
    offEvent(eventType: string, callback: Handler) {
      offEvent("webview:" + eventType, callback);
    },
    sendData(data: unknown) {
      if (typeof data !== "string" || !data.length) fail("Data is required", data, "WebAppDataInvalid");
      if (byteLength(data) > 4096) fail("Data is too long", data, "WebAppDataInvalid");
      postEvent("web_app_data_send", false, { data });
    },
    switchInlineQuery(query?: unknown, chooseChatTypes?: unknown) {
      requireVersion("6.6", "Method switchInlineQuery");
      if (!initParams.tgWebAppBotInline) {
        fail(
          "Inline mode is disabled for this bot. Read more about inline mode: https://core.telegram.org/bots/inline",
          undefined,
          "WebAppInlineModeDisabled",
        );
      }
      const text = query ? String(query) : "";
      if (text.length > 256) fail("Inline query is too long", text, "WebAppInlineQueryInvalid");
      const chatTypes: string[] = [];
      if (chooseChatTypes) {
        if (!Array.isArray(chooseChatTypes)) {
          fail("Choose chat types should be an array", chooseChatTypes, "WebAppInlineChooseChatTypesInvalid");
        }
        for (const type of chooseChatTypes) {
          if (!["users", "bots", "groups", "channels"].includes(type)) {
            fail("Choose chat type is invalid", type, "WebAppInlineChooseChatTypeInvalid");
          }
          if (!chatTypes.includes(type)) chatTypes.push(type);
        }
      }
      postEvent("web_app_switch_inline_query", false, { query: text, chat_types: chatTypes });
    },
    openLink(url: unknown, options?: { try_instant_view?: unknown; try_browser?: unknown } | null) {
      const parsed = parseHttpUrl(url);
      if (!parsed) fail("Url protocol is not supported", url, "WebAppTgUrlInvalid");
      if (!versionAtLeast("6.1")) {
        window.open(parsed.href, "_blank");
        return;
      }
      const request: Payload = { url: parsed.href };
      if (versionAtLeast("6.4") && options?.try_instant_view) request.try_instant_view = true;
      if (versionAtLeast("7.6") && options?.try_browser) request.try_browser = options.try_browser;
      postEvent("web_app_open_link", false, request);
    },
    openTelegramLink,
    openInvoice(url: unknown, callback?: Handler | null) {
      // Any host: a Plaza server may issue invoice links on its own domain as well as t.me ones.
      const parsed = parseHttpUrl(url);
      const match = parsed ? /^\/(\$|invoice\/)([A-Za-z0-9\-_=]+)$/.exec(parsed.pathname) : null;
      const slug = match?.[2];
      if (!slug) fail("Invoice url is invalid", url, "WebAppInvoiceUrlInvalid");
      requireVersion("6.1", "Method openInvoice");
      if (invoices.has(slug)) fail("Invoice is already opened", undefined, "WebAppInvoiceOpened");
      invoices.set(slug, { url: String(url), callback });
      postEvent("web_app_open_invoice", false, { slug });
    },
    shareToStory(mediaUrl: unknown, params?: StoryParams | null) {
      requireVersion("7.8", "Method shareToStory");
      const options = params ?? {};
      const media = parseHttpUrl(mediaUrl);
      if (!media) fail("Media url protocol is not supported", mediaUrl, "WebAppMediaUrlInvalid");
      const request: Payload = { media_url: media.href };
      if (options.text !== undefined) {
        const text = strTrim(options.text);
        if (text.length > 2048) fail("Text is too long", text, "WebAppShareToStoryParamInvalid");
        if (text.length > 0) request.text = text;
      }
      if (options.widget_link !== undefined) {
        const widget = options.widget_link ?? {};
        const link = parseHttpUrl(widget.url);
        if (!link) fail("Link protocol is not supported", widget.url, "WebAppShareToStoryParamInvalid");
        const widgetLink: Payload = { url: link.href };
        if (widget.name !== undefined) {
          const name = strTrim(widget.name);
          if (name.length > 48) fail("Link name is too long", name, "WebAppShareToStoryParamInvalid");
          if (name.length > 0) widgetLink.name = name;
        }
        request.widget_link = widgetLink;
      }
      postEvent("web_app_share_to_story", false, request);
    },
    shareMessage(messageId: unknown, callback?: Handler | null) {
      requireVersion("8.0", "Method shareMessage");
      shareMessage.open(callback);
      postEvent("web_app_send_prepared_message", false, { id: messageId });
    },
    setEmojiStatus(customEmojiId: unknown, params?: { duration?: unknown } | null, callback?: Handler | null) {
      requireVersion("8.0", "Method setEmojiStatus");
      const request: Payload = { custom_emoji_id: customEmojiId };
      if (params && params.duration !== undefined) request.duration = params.duration;
      emojiStatus.open(callback);
      postEvent("web_app_set_emoji_status", false, request);
    },
    requestEmojiStatusAccess(callback?: Handler | null) {
      requireVersion("8.0", "Method requestEmojiStatusAccess");
      emojiStatusAccess.open(callback);
      postEvent("web_app_request_emoji_status_access");
    },
    downloadFile(params: { url?: unknown; file_name?: unknown } | null, callback?: Handler | null) {
      requireVersion("8.0", "Method downloadFile");
      if (fileDownload.isOpen) fail("Popup is already opened", undefined, "WebAppDownloadFilePopupOpened");
      const invalid: Invalid = (message, detail) => fail(message, detail, "WebAppDownloadFileParamInvalid");
      if (!params || !params.url) invalid("Url is required");
      const url = parseHttpUrl(params.url);
      if (!url || url.protocol !== "https:") invalid("Url protocol is not supported", params.url);
      if (!params.file_name) invalid("File name is required");
      fileDownload.open(callback);
      postEvent("web_app_request_file_download", false, { url: url.href, file_name: String(params.file_name) });
    },
    hideKeyboard() {
      requireVersion("9.1", "Method hideKeyboard");
      postEvent("web_app_hide_keyboard");
    },
    showPopup,
    showAlert(message: unknown, callback?: Handler | null) {
      showPopup({ message }, callback ? () => callback() : null);
    },
    showConfirm(message: unknown, callback?: Handler | null) {
      showPopup(
        { message, buttons: [{ type: "ok", id: "ok" }, { type: "cancel" }] },
        callback ? (buttonId: unknown) => callback(buttonId === "ok") : null,
      );
    },
    showScanQrPopup(params: { text?: unknown } | null, callback?: Handler | null) {
      requireVersion("6.4", "Method showScanQrPopup");
      if (scanQrPopup.isOpen) fail("Popup is already opened", undefined, "WebAppScanQrPopupOpened");
      const request: Payload = {};
      if (params && params.text !== undefined) {
        const text = strTrim(params.text);
        if (text.length > 64) fail("Scan QR popup text is too long", text, "WebAppScanQrPopupParamInvalid");
        if (text.length > 0) request.text = text;
      }
      scanQrPopup.open(callback);
      postEvent("web_app_open_scan_qr_popup", false, request);
    },
    closeScanQrPopup() {
      requireVersion("6.4", "Method closeScanQrPopup");
      scanQrPopup.take();
      postEvent("web_app_close_scan_qr_popup", false);
    },
    readTextFromClipboard(callback?: Handler | null) {
      requireVersion("6.4", "Method readTextFromClipboard");
      postEvent("web_app_read_text_from_clipboard", false, { req_id: track(callback) });
    },
    requestWriteAccess(callback?: Handler | null) {
      requireVersion("6.9", "Method requestWriteAccess");
      writeAccess.open(callback);
      postEvent("web_app_request_write_access");
    },
    requestContact(callback?: Handler | null) {
      requireVersion("6.9", "Method requestContact");
      contact.open(callback);
      postEvent("web_app_request_phone");
    },
    invokeCustomMethod(method: string, params: unknown, callback?: Handler | null) {
      invokeCustomMethod(method, params, callback);
    },
    ready() {
      postEvent("web_app_ready");
    },
    expand() {
      postEvent("web_app_expand");
    },
    close(options?: { return_back?: unknown } | null) {
      const request: Payload = {};
      if (versionAtLeast("7.6") && options?.return_back) request.return_back = true;
      postEvent("web_app_close", false, request);
    },
  };

  telegram.WebApp = WebApp;

  // ---------------------------------------------------------------------------------------------
  // Startup
  // ---------------------------------------------------------------------------------------------

  onHostEvent("theme_changed", (data) => {
    if (!data.theme_params || typeof data.theme_params !== "object") return;
    setThemeParams(data.theme_params);
    // Default button colours follow the theme.
    MainButton.setParams({});
    SecondaryButton.setParams({});
    updateHeaderColor();
    updateBackgroundColor();
    updateBottomBarColor();
    emit("themeChanged");
  });

  onHostEvent("viewport_changed", (data) => {
    if (!data.height) return;
    window.removeEventListener("resize", onWindowResize);
    setViewportHeight(data);
  });

  onHostEvent("safe_area_changed", (data) => setInsets(safeAreaInset, data, "safe-area-inset-", "safeAreaChanged"));
  onHostEvent("content_safe_area_changed", (data) =>
    setInsets(contentSafeAreaInset, data, "content-safe-area-inset-", "contentSafeAreaChanged"),
  );

  onHostEvent("visibility_changed", (data) => {
    isActive = !!data.is_visible;
    emit(isActive ? "activated" : "deactivated");
  });

  onHostEvent("fullscreen_changed", (data) => {
    setFullscreen(!!data.is_fullscreen);
    emit("fullscreenChanged");
  });

  onHostEvent("fullscreen_failed", (data) => {
    if (data.error === "ALREADY_FULLSCREEN" && !isFullscreen) setFullscreen(true);
    emit("fullscreenFailed", { error: data.error });
  });

  updateHeaderColor();
  updateBackgroundColor();
  updateBottomBarColor();
  setViewportHeight();
  if (initParams.tgWebAppShowSettings) SettingsButton.show();

  window.addEventListener("resize", onWindowResize);
  if (isIframe) {
    // Links to t.me open in the host (as a chat, a bot, ...) instead of inside the frame.
    document.addEventListener("click", (event) => {
      if (event.metaKey || event.ctrlKey || !(event.target instanceof Element)) return;
      const link = event.target.closest("a");
      if (!link || link.target === "_blank") return;
      if ((link.protocol === "http:" || link.protocol === "https:") && link.hostname === "t.me") {
        openTelegramLink(link.href);
        event.preventDefault();
      }
    });
  }

  postEvent("web_app_request_theme");
  postEvent("web_app_request_viewport");
  postEvent("web_app_request_safe_area");
  postEvent("web_app_request_content_safe_area");
})();
