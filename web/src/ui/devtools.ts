// The mini-app devtools: a panel beside an open app, opened from its menu, for the app's developer.
// It shows the bridge traffic in both directions as it happens, the decoded init data and launch
// parameters, and switches the theme, the platform and the viewport size the app sees.

import { h } from "../dom.js";

export type Direction = "in" | "out";

/** What the panel changes in the app's host. */
export interface DevtoolsHost {
  /** `light`, `dark`, or null to follow the client's theme. */
  setTheme(theme: "light" | "dark" | null): void;
  /** Reloads the app with another `tgWebAppPlatform`. */
  setPlatform(platform: string): void;
  /** The frame's size in CSS pixels, or null to fill the window. */
  setViewport(size: [number, number] | null): void;
}

const PLATFORMS = ["weba", "web", "android", "ios", "tdesktop", "macos"];
const VIEWPORTS: [string, [number, number] | null][] = [
  ["Fill the window", null],
  ["Phone 375 × 667", [375, 667]],
  ["Small phone 320 × 568", [320, 568]],
  ["Tablet 768 × 1024", [768, 1024]],
];
/** Events kept in the log; older ones are dropped. */
const MAX_EVENTS = 500;

export class Devtools {
  readonly el: HTMLElement;
  private readonly log: HTMLOListElement;
  private readonly count: HTMLElement;
  private started = performance.now();

  constructor(
    host: DevtoolsHost,
    launch: { init_data: string; version: string; platform: string; url: string; launch_url: string },
  ) {
    this.log = h("ol", { class: "devtools-log", "aria-live": "off" });
    this.count = h("span", { class: "muted" });
    const select = (label: string, options: [string, string][], value: string, change: (v: string) => void) => {
      const s = h("select", { "aria-label": label }, ...options.map(([v, l]) => h("option", { value: v, selected: v === value }, l)));
      s.addEventListener("change", () => change(s.value));
      return h("label", { class: "devtools-field" }, h("span", {}, label), s);
    };
    const fields = [...new URLSearchParams(launch.init_data)];
    const initData = fields.length
      ? h(
          "dl",
          { class: "devtools-init" },
          ...fields.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, pretty(v))]),
        )
      : h("p", { class: "muted" }, "Empty: an app opened from a keyboard button gets no init data, as on Telegram.");
    this.el = h(
      "aside",
      { class: "devtools", "aria-label": "Mini app devtools" },
      h("h3", {}, "Devtools"),
      h(
        "div",
        { class: "devtools-switches" },
        select("Theme", [["", "Client's"], ["light", "Light"], ["dark", "Dark"]], "", (v) => host.setTheme(v === "light" || v === "dark" ? v : null)),
        select("Platform", PLATFORMS.map((p) => [p, p]), launch.platform, (v) => host.setPlatform(v)),
        select("Viewport", VIEWPORTS.map(([l], i) => [String(i), l]), "0", (v) => host.setViewport(VIEWPORTS[Number(v)]?.[1] ?? null)),
      ),
      h("details", { open: true }, h("summary", {}, "Launch"), h("dl", { class: "devtools-init" }, h("dt", {}, "origin"), h("dd", {}, new URL(launch.url).origin), h("dt", {}, "version"), h("dd", {}, launch.version), h("dt", {}, "url"), h("dd", {}, launch.url))),
      h("details", { open: true }, h("summary", {}, "Init data"), initData),
      h(
        "div",
        { class: "devtools-events" },
        h("strong", {}, "Bridge events "),
        this.count,
        h("button", { type: "button", class: "link", onclick: () => this.clear() }, "Clear"),
      ),
      this.log,
    );
  }

  /** Records one bridge message: `in` from the app, `out` to it. */
  record(direction: Direction, eventType: string, eventData: unknown): void {
    const ms = Math.round(performance.now() - this.started);
    const data = eventData === null || eventData === undefined || eventData === "" ? "" : JSON.stringify(eventData);
    const item = h(
      "li",
      { class: `devtools-${direction}` },
      h("span", { class: "devtools-dir", title: direction === "in" ? "from the app" : "to the app" }, direction === "in" ? "↑" : "↓"),
      h("span", { class: "devtools-time" }, `${(ms / 1000).toFixed(3)}s`),
      h("code", { class: "devtools-type" }, eventType),
      data ? h("code", { class: "devtools-data" }, data.length > 400 ? `${data.slice(0, 400)}…` : data) : "",
    );
    this.log.append(item);
    while (this.log.childElementCount > MAX_EVENTS) this.log.firstElementChild?.remove();
    this.count.textContent = `(${this.log.childElementCount})`;
    if (this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 80) this.log.scrollTop = this.log.scrollHeight;
  }

  private clear(): void {
    this.log.replaceChildren();
    this.count.textContent = "";
  }
}

/** A JSON value (init data's `user`, `chat` …) indented; anything else as it is. */
function pretty(v: string): string {
  if (!/^[{[]/.test(v)) return v;
  try {
    return JSON.stringify(JSON.parse(v), null, 2);
  } catch {
    return v;
  }
}
