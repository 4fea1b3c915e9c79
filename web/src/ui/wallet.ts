// The Stars wallet: balance, a free top-up in a sandbox, subscriptions (turning renewal off and on
// again), payments and their state, and the history of Stars in and out. It follows the person's
// payments live while it is open (`payment_updated` frames).

import { type Api, ApiError, type Payment, type StarEntry, type Subscription, type Wallet } from "../api.js";
import { fill, h, shortDate } from "../dom.js";
import type { Model } from "../model.js";
import { STARS, newKey, price, signedStars, subscriptionPrice } from "../money.js";
import { TOPUP_PACKAGES, paymentState, sentence, subscriptionActive, subscriptionState } from "./payments.js";

/** What a history line's memo means. */
const MEMOS: Record<string, string> = {
  topup: "Top-up (sandbox)",
  purchase: "Stars bought",
  grant: "Stars granted",
  payment: "Payment",
  refund: "Refund",
  subscription: "Subscription",
};

let open: HTMLDialogElement | null = null;

/** Opens the wallet (or brings the open one forward); resolves when it closes. */
export function openWallet(api: Api, model: Model): Promise<void> {
  if (open) {
    open.querySelector<HTMLElement>("button")?.focus();
    return Promise.resolve();
  }
  const body = h("div", { class: "wallet-body" }, h("div", { class: "loading", "aria-label": "Loading your Stars" }));
  const error = h("p", { class: "form-error", role: "alert" });
  const dlg = h(
    "dialog",
    { class: "modal wallet", "aria-label": "Stars" },
    h("h2", {}, "Stars"),
    body,
    error,
    h("div", { class: "actions" }, h("button", { class: "primary", type: "button", onclick: () => dlg.close() }, "Close")),
  );
  open = dlg;
  let wallet: Wallet | null = null;
  let seq = 0;
  let amount = TOPUP_PACKAGES[1];

  /** A name for a user or bot id: the title of the private chat with them, when there is one. */
  const nameOf = (id: number | undefined): string | null => (id === undefined ? null : (model.chats.get(id)?.chat.title ?? null));

  const load = async () => {
    const mine = ++seq;
    try {
      const w = await api.wallet();
      if (mine !== seq) return;
      wallet = w;
      error.textContent = "";
      render();
    } catch (e) {
      if (mine === seq) error.textContent = e instanceof Error ? e.message : String(e);
    }
  };

  // One key per purchase form: a retry after a lost answer buys once.
  let buyKey = newKey();
  const topUp = async (button: HTMLButtonElement, card?: HTMLInputElement) => {
    button.disabled = true;
    seq++;
    try {
      if (card) {
        await api.topUp(amount, buyKey, card.value);
        buyKey = newKey();
      } else {
        await api.topUp(amount, newKey());
      }
      wallet = await api.wallet();
      error.textContent = "";
      render();
    } catch (e) {
      error.textContent = e instanceof ApiError && e.code === "not_sandbox" ? "Top-ups are only free in a sandbox." : e instanceof Error ? e.message : String(e);
      button.disabled = false;
    }
  };

  const toggle = async (s: Subscription, button: HTMLButtonElement) => {
    button.disabled = true;
    try {
      const fresh = await api.setSubscriptionCanceled(s.id, !s.canceled_by_user);
      if (wallet) wallet.subscriptions = wallet.subscriptions.map((x) => (x.id === fresh.id ? fresh : x));
      error.textContent = "";
      render();
    } catch (e) {
      error.textContent = e instanceof Error ? e.message : String(e);
      button.disabled = false;
    }
  };

  const subscriptionRow = (s: Subscription): HTMLElement => {
    const running = subscriptionActive(s);
    const button =
      running && !s.canceled_by_bot
        ? h("button", { type: "button", class: `small ${s.canceled_by_user ? "link" : "danger"}`, "aria-label": `${s.canceled_by_user ? "Renew" : "Cancel"} ${s.title}` }, s.canceled_by_user ? "Renew" : "Cancel")
        : null;
    button?.addEventListener("click", () => void toggle(s, button));
    return h(
      "li",
      { class: "wallet-row" },
      h("span", { class: "wallet-main" }, h("strong", {}, s.title), h("small", {}, `${nameOf(s.bot_id) ?? "Bot"} · ${subscriptionPrice(s.amount, s.period)}`), h("small", { class: "muted" }, subscriptionState(s))),
      button,
    );
  };

  const paymentRow = (p: Payment): HTMLElement =>
    h(
      "li",
      { class: `wallet-row payment-${p.state}` },
      h(
        "span",
        { class: "wallet-main" },
        h("strong", {}, p.title ?? nameOf(p.bot_id) ?? "Bot"),
        h("small", { class: "muted" }, `${p.title ? `${nameOf(p.bot_id) ?? "Bot"} · ` : ""}${paymentState(p)} · ${shortDate(p.date)}`),
        p.error ? h("small", { class: "wallet-error" }, sentence(p.error)) : null,
      ),
      h("span", { class: "wallet-amount" }, price(p.total_amount, p.currency)),
    );

  const historyRow = (e: StarEntry): HTMLElement => {
    const who = nameOf(e.peer_id);
    return h(
      "li",
      { class: "wallet-row" },
      h("span", { class: "wallet-main" }, h("strong", {}, MEMOS[e.memo] ?? e.memo.replace(/_/g, " ")), h("small", { class: "muted" }, `${who ? `${who} · ` : ""}${shortDate(e.date)}`)),
      h("span", { class: `wallet-amount ${e.amount > 0 ? "in" : "out"}` }, signedStars(e.amount)),
    );
  };

  const render = () => {
    const w = wallet;
    if (!w) return;
    const parts: (Node | null)[] = [
      h("div", { class: "wallet-balance", "aria-label": `Balance: ${w.balance} Stars` }, price(w.balance, STARS)),
      h("p", { class: "muted wallet-caption" }, "Your balance"),
    ];
    if (w.sandbox) {
      const select = h("select", { name: "topup_amount", "aria-label": "Stars to add" }, ...TOPUP_PACKAGES.map((n) => h("option", { value: n, selected: n === amount }, price(n, STARS))));
      select.addEventListener("change", () => (amount = Number(select.value)));
      const button = h("button", { type: "button", class: "primary" }, "Top up (sandbox)");
      button.addEventListener("click", () => void topUp(button));
      parts.push(h("div", { class: "inline-form wallet-topup" }, select, button));
    } else if (w.star_price && w.star_currency) {
      const each = w.star_price;
      const cur = w.star_currency;
      const select = h("select", { name: "buy_amount", "aria-label": "Stars to buy" }, ...TOPUP_PACKAGES.map((n) => h("option", { value: n, selected: n === amount }, `${price(n, STARS)} for ${price(n * each, cur)}`)));
      select.addEventListener("change", () => (amount = Number(select.value)));
      const card = h("input", { name: "card_number", inputmode: "numeric", autocomplete: "cc-number", placeholder: "Card number", "aria-label": "Card number", required: true }) as HTMLInputElement;
      const button = h("button", { type: "button", class: "primary" }, "Buy Stars");
      button.addEventListener("click", () => void topUp(button, card));
      parts.push(h("div", { class: "inline-form wallet-topup" }, select, card, button));
    }
    const newest = <T extends { date: number; id: number }>(list: T[]) => [...list].sort((a, b) => b.date - a.date || b.id - a.id);
    const subs = [...w.subscriptions].sort((a, b) => Number(subscriptionActive(b)) - Number(subscriptionActive(a)) || b.expires_at - a.expires_at);
    if (subs.length) parts.push(h("h3", {}, "Subscriptions"), h("ul", { class: "wallet-list" }, ...subs.map(subscriptionRow)));
    if (w.payments.length) parts.push(h("h3", {}, "Payments"), h("ul", { class: "wallet-list" }, ...newest(w.payments).map(paymentRow)));
    parts.push(
      h("h3", {}, "History"),
      w.history.length ? h("ul", { class: "wallet-list wallet-history" }, ...newest(w.history).map(historyRow)) : h("p", { class: "muted" }, "No Stars have moved yet."),
    );
    fill(body, ...parts);
  };

  const stop = model.on((c) => {
    if (c.kind === "payment") void load();
  });
  dlg.addEventListener("click", (ev) => {
    if (ev.target === dlg) dlg.close();
  });
  document.body.append(dlg);
  dlg.showModal();
  void load();
  return new Promise((resolve) =>
    dlg.addEventListener("close", () => {
      stop();
      seq++;
      dlg.remove();
      open = null;
      resolve();
    }),
  );
}
