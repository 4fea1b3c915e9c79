// Toasts, alerts, confirmations and modal forms, on the native <dialog> element (focus trapping,
// Escape to close and the backdrop come from the browser).

import { h } from "../dom.js";

let toasts: HTMLElement | null = null;

export function toast(text: string, kind: "info" | "error" = "info"): void {
  if (!toasts) {
    toasts = h("div", { class: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(toasts);
  }
  const t = h("div", { class: `toast ${kind}` }, text);
  toasts.append(t);
  window.setTimeout(() => t.classList.add("leaving"), 3600);
  window.setTimeout(() => t.remove(), 4000);
}

/** A modal with `body`; resolves when it closes. `build` gets a `close` to call with a result. */
export function modal<T>(title: string, build: (close: (v: T | null) => void) => Node[], cls = ""): Promise<T | null> {
  return new Promise((resolve) => {
    let result: T | null = null;
    const dlg = h("dialog", { class: `modal ${cls}`, "aria-label": title });
    const close = (v: T | null) => {
      result = v;
      dlg.close();
    };
    dlg.append(h("h2", {}, title), ...build(close));
    dlg.addEventListener("close", () => {
      dlg.remove();
      resolve(result);
    });
    dlg.addEventListener("click", (ev) => {
      if (ev.target === dlg) close(null);
    });
    document.body.append(dlg);
    dlg.showModal();
  });
}

/** An alert a bot asked for (`show_alert`), or any message that needs an OK. */
export function alertBox(text: string, title = ""): Promise<void> {
  return modal<boolean>(
    title,
    (close) => [
      h("p", { class: "alert-text" }, text),
      h("div", { class: "actions" }, h("button", { class: "primary", autofocus: true, onclick: () => close(true) }, "OK")),
    ],
    "alert",
  ).then(() => undefined);
}

export function confirmBox(text: string, ok = "OK", danger = false): Promise<boolean> {
  return modal<boolean>("", (close) => [
    h("p", {}, text),
    h(
      "div",
      { class: "actions" },
      h("button", { onclick: () => close(false) }, "Cancel"),
      h("button", { class: danger ? "danger" : "primary", autofocus: true, onclick: () => close(true) }, ok),
    ),
  ]).then((v) => v === true);
}

export interface Field {
  name: string;
  label: string;
  value?: string;
  placeholder?: string;
  required?: boolean;
  type?: string;
  options?: [string, string][];
}

/** A modal form; resolves with the field values, or null when cancelled. `submit` may throw to
 *  keep the form open with the error shown. */
export function formBox(
  title: string,
  fields: Field[],
  submitLabel: string,
  submit: (values: Record<string, string>) => Promise<void> | void,
  extra: Node[] = [],
): Promise<Record<string, string> | null> {
  return modal<Record<string, string>>(title, (close) => {
    const error = h("p", { class: "form-error", role: "alert" });
    const form = h("form", { class: "form" });
    for (const f of fields) {
      const id = `f-${f.name}-${Math.random().toString(36).slice(2, 8)}`;
      const input = f.options
        ? h("select", { id, name: f.name }, ...f.options.map(([v, l]) => h("option", { value: v, selected: v === (f.value ?? "") }, l)))
        : h("input", { id, name: f.name, value: f.value ?? "", placeholder: f.placeholder, required: f.required, type: f.type ?? "text", autocomplete: "off" });
      form.append(h("label", { for: id }, f.label), input);
    }
    const button = h("button", { type: "submit", class: "primary" }, submitLabel);
    form.append(...extra, error, h("div", { class: "actions" }, h("button", { type: "button", onclick: () => close(null) }, "Cancel"), button));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const values: Record<string, string> = {};
      for (const [k, v] of new FormData(form)) values[k] = String(v);
      button.disabled = true;
      error.textContent = "";
      try {
        await submit(values);
        close(values);
      } catch (e) {
        error.textContent = e instanceof Error ? e.message : String(e);
      } finally {
        button.disabled = false;
      }
    });
    return [form];
  });
}

/** A small menu anchored at a point; each item runs its action and closes the menu. */
export function popupMenu(x: number, y: number, items: ([string, () => void] | null)[], head?: Node): void {
  document.querySelector(".popup-menu")?.remove();
  const menu = h("div", { class: "popup-menu", role: "menu" });
  if (head) menu.append(head);
  const close = () => {
    menu.remove();
    document.removeEventListener("pointerdown", outside, true);
    document.removeEventListener("keydown", key, true);
  };
  const outside = (ev: Event) => {
    if (!menu.contains(ev.target as Node)) close();
  };
  const key = (ev: KeyboardEvent) => {
    const buttons = [...menu.querySelectorAll<HTMLButtonElement>("button")];
    const i = buttons.indexOf(document.activeElement as HTMLButtonElement);
    if (ev.key === "Escape") {
      ev.stopPropagation();
      close();
    } else if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      ev.preventDefault();
      buttons[(i + (ev.key === "ArrowDown" ? 1 : buttons.length - 1)) % buttons.length]?.focus();
    }
  };
  for (const item of items) {
    if (!item) continue;
    const [label, action] = item;
    menu.append(
      h("button", { role: "menuitem", onclick: () => { close(); action(); } }, label),
    );
  }
  // Inside the topmost open dialog, if any: a modal dialog makes the rest of the page inert.
  const dialogs = document.querySelectorAll("dialog[open]");
  (dialogs[dialogs.length - 1] ?? document.body).append(menu);
  const r = menu.getBoundingClientRect();
  menu.style.left = `${Math.max(4, Math.min(x, window.innerWidth - r.width - 4))}px`;
  menu.style.top = `${Math.max(4, Math.min(y, window.innerHeight - r.height - 4))}px`;
  document.addEventListener("pointerdown", outside, true);
  document.addEventListener("keydown", key, true);
  menu.querySelector<HTMLButtonElement>("button")?.focus();
}
