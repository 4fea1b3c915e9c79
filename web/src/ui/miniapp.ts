// The mini-app host: a sandboxed frame on the app's own origin, launched with signed init data,
// speaking Telegram's bridge (`{eventType, eventData}` JSON strings over postMessage). Messages are
// accepted only from the frame's window and answered only to the app's origin. The host draws the
// header, the main button and popups itself, as Telegram's web clients do.

import { type Api, ApiError } from "../api.js";
import { h } from "../dom.js";
import { icon } from "../icons.js";
import { onThemeChange } from "./theme.js";
import { toast } from "./dialogs.js";

export interface LaunchSpec {
  bot_username: string;
  source: "inline_button" | "keyboard_button" | "menu_button" | "link";
  chat_id?: number;
  message_id?: number;
  url?: string;
  short_name?: string;
  start_param?: string;
  /** Shown in the header until the app sets its own colours. */
  title: string;
}

interface MainButton {
  is_visible: boolean;
  is_active: boolean;
  is_progress_visible: boolean;
  text: string;
  color?: string;
  text_color?: string;
}

/** The theme the app gets, from the client's own colours. */
export function themeParams(): Record<string, string> {
  const css = getComputedStyle(document.documentElement);
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
    accent_text_color: hex(v("--accent")),
    section_bg_color: hex(v("--bg")),
    section_header_text_color: hex(v("--accent")),
    subtitle_text_color: hex(v("--muted")),
    destructive_text_color: hex(v("--danger")),
  };
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
  const theme = encodeURIComponent(JSON.stringify(themeParams()));
  const src = `${launch.launch_url}&tgWebAppThemeParams=${theme}`;

  const frame = h("iframe", {
    src,
    title: spec.title,
    sandbox: "allow-scripts allow-same-origin allow-popups allow-forms allow-modals allow-storage-access-by-user-activation",
    allow: "clipboard-write; fullscreen",
    referrerpolicy: "no-referrer",
    class: "miniapp-frame",
  });
  const title = h("span", { class: "miniapp-title" }, spec.title);
  const loader = h("div", { class: "loading miniapp-loader", "aria-label": "Loading the app" });
  const mainButton = h("button", { class: "miniapp-main", hidden: true });
  const dlg = h(
    "dialog",
    { class: "miniapp", "aria-label": spec.title },
    h("header", { class: "miniapp-header" }, h("button", { class: "icon", "aria-label": "Close the app", onclick: () => void close() }, icon("close")), title),
    h("div", { class: "miniapp-body" }, loader, frame),
    mainButton,
  );
  let needConfirm = false;
  let dataSent = false;
  let closed = false;
  let popupOpen = false;
  const post = (eventType: string, eventData: unknown = null) => {
    frame.contentWindow?.postMessage(JSON.stringify({ eventType, eventData }), origin);
  };
  const viewport = () => {
    const height = frame.clientHeight;
    post("viewport_changed", { height, width: frame.clientWidth, is_expanded: true, is_state_stable: true });
  };
  const stopTheme = onThemeChange(() => post("theme_changed", { theme_params: themeParams() }));
  const resize = new ResizeObserver(() => viewport());

  const close = async (force = false) => {
    if (closed) return;
    if (needConfirm && !force && !window.confirm("Changes that you made may not be saved. Close anyway?")) return;
    closed = true;
    dlg.close();
  };

  const onMessage = (ev: MessageEvent) => {
    // Only the frame's own window speaks for the app; anything else is ignored.
    if (ev.source !== frame.contentWindow || typeof ev.data !== "string") return;
    let msg: { eventType?: string; eventData?: unknown };
    try {
      msg = JSON.parse(ev.data);
    } catch {
      return;
    }
    const type = msg.eventType;
    const data = (msg.eventData && typeof msg.eventData === "object" ? msg.eventData : {}) as Record<string, unknown>;
    switch (type) {
      case "iframe_ready":
      case "web_app_ready":
        loader.remove();
        return;
      case "web_app_expand":
      case "web_app_request_viewport":
        return viewport();
      case "web_app_request_theme":
        return post("theme_changed", { theme_params: themeParams() });
      case "web_app_close":
        return void close(true);
      case "web_app_data_send": {
        // Only an app opened from a reply-keyboard button may send data, and only once; elsewhere
        // the call is ignored, as Telegram's clients ignore it.
        if (spec.source !== "keyboard_button" || dataSent) return;
        dataSent = true;
        const text = String(data.data ?? "");
        api.sendWebAppData(launch.launch_id, text).then(
          () => void close(true),
          (e) => toast(e instanceof ApiError ? e.message : String(e), "error"),
        );
        return;
      }
      case "web_app_setup_closing_behavior":
        needConfirm = data.need_confirmation === true;
        return;
      case "web_app_setup_main_button":
        return drawMainButton(data as unknown as MainButton);
      case "web_app_open_link": {
        const url = String(data.url ?? "");
        if (/^https?:\/\//i.test(url)) window.open(url, "_blank", "noopener,noreferrer");
        return;
      }
      case "web_app_open_popup":
        return void popup(data);
      case "web_app_set_header_color":
      case "web_app_set_background_color": {
        const color = typeof data.color === "string" && /^#[0-9a-f]{6}$/i.test(data.color) ? data.color : null;
        if (color && type === "web_app_set_header_color") dlg.querySelector<HTMLElement>(".miniapp-header")!.style.background = color;
        if (color && type === "web_app_set_background_color") frame.style.background = color;
        return;
      }
      default:
        return;
    }
  };

  const drawMainButton = (b: MainButton) => {
    const text = (b.text ?? "").trim();
    mainButton.hidden = !b.is_visible || !text;
    mainButton.textContent = b.is_progress_visible ? "…" : text;
    mainButton.disabled = !b.is_active;
    mainButton.style.background = b.color && /^#[0-9a-f]{6}$/i.test(b.color) ? b.color : "";
    mainButton.style.color = b.text_color && /^#[0-9a-f]{6}$/i.test(b.text_color) ? b.text_color : "";
    viewport();
  };
  mainButton.addEventListener("click", () => post("main_button_pressed"));

  const popup = async (data: Record<string, unknown>) => {
    // One popup at a time, as on Telegram; a second is answered as dismissed.
    if (popupOpen) return post("popup_closed", {});
    const message = String(data.message ?? "").slice(0, 256);
    const buttons = Array.isArray(data.buttons) ? (data.buttons as { id?: string; type?: string; text?: string }[]).slice(0, 3) : [];
    if (!message || buttons.length === 0) return post("popup_closed", {});
    popupOpen = true;
    const box = h("dialog", { class: "modal alert", "aria-label": String(data.title ?? "") });
    let chosen: string | undefined;
    box.append(
      data.title ? h("h2", {}, String(data.title).slice(0, 64)) : "",
      h("p", { class: "alert-text" }, message),
      h(
        "div",
        { class: "actions" },
        ...buttons.map((b) => {
          const label = b.type === "ok" ? "OK" : b.type === "close" ? "Close" : b.type === "cancel" ? "Cancel" : String(b.text ?? "");
          return h("button", { class: b.type === "destructive" ? "danger" : "primary", onclick: () => { chosen = b.id ?? ""; box.close(); } }, label);
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

  window.addEventListener("message", onMessage);
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
      stopTheme();
      resize.disconnect();
      dlg.remove();
      resolve();
    }),
  );
}
