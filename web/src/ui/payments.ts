// The payment sheet, as Telegram's clients show it: what the invoice sells and for how much, the
// person's Stars (with a sandbox top-up when they are too few), what the bot asks for (name, phone,
// email, shipping address; shipping options for a flexible price), a tip and a card number for card
// invoices, and Pay (Subscribe for a subscription). One random key names the sheet's attempt and
// is sent again on a retry, so a double click or a lost answer never pays twice; it is renewed
// only after an attempt ended without charging (declined, failed, not confirmed in time).
// An invoice paid already shows its receipt.

import { type Api, ApiError, type Invoice, type InvoiceStatus, type OrderInfo, type Payment, type ShippingAddress, type ShippingOption, type Subscription } from "../api.js";
import { h, fill } from "../dom.js";
import type { Model } from "../model.js";
import { STARS, longDate, newKey, price, subscriptionPrice } from "../money.js";

/** Stars packages a sandbox top-up offers; the sheet picks the smallest that covers the price. */
export const TOPUP_PACKAGES = [50, 100, 250, 500, 1000, 2500, 10000];
/** How long the sheet follows a payment the server answered as still pending. */
const PENDING_MS = 30_000;
/** A paid sheet shows its success this long before it closes. */
const SUCCESS_MS = 1500;

let host: { api: Api; model: Model } | null = null;

/** The signed-in client's API and state, which every sheet uses. */
export function setPaymentsHost(api: Api, model: Model): void {
  host = { api, model };
}

/** The slug of the open sheet: only one invoice is open at a time. */
let openSlug: string | null = null;
export function openInvoiceSlug(): string | null {
  return openSlug;
}

/** Opens the payment sheet for an invoice; resolves when it closes: `paid`, `cancelled` (closed
 *  without paying, or the bot did not confirm in time), `failed` (declined or failed, or the invoice
 *  could not be opened) or `pending` (the payment was still being processed). A second sheet while
 *  one is open is refused as `failed`. */
export function openInvoice(slug: string): Promise<InvoiceStatus> {
  if (!host || openSlug !== null) return Promise.resolve("failed");
  return new Sheet(host.api, host.model, slug).run();
}

/** A subscription that still runs (it may have its renewal turned off). */
export function subscriptionActive(s: Subscription): boolean {
  return !s.lapsed && s.expires_at * 1000 > Date.now();
}

/** Where a subscription stands, in words. */
export function subscriptionState(s: Subscription): string {
  if (s.lapsed) return `Ended on ${longDate(s.expires_at)}: too few Stars to renew`;
  if (s.expires_at * 1000 <= Date.now()) return `Ended on ${longDate(s.expires_at)}`;
  if (s.canceled_by_bot) return `Cancelled by the bot · active until ${longDate(s.expires_at)}`;
  if (s.canceled_by_user || !s.renews) return `Cancelled · active until ${longDate(s.expires_at)}`;
  return `Renews on ${longDate(s.expires_at)}`;
}

/** A payment's state, in words. */
export function paymentState(p: Payment): string {
  switch (p.state) {
    case "paid":
      return "Paid";
    case "refunded":
      return "Refunded";
    case "declined":
      return "Declined";
    case "cancelled":
      return "Cancelled";
    case "failed":
      return "Failed";
    default:
      return "Processing";
  }
}

const ADDRESS: [keyof ShippingAddress, string, boolean, string?][] = [
  ["country_code", "Country code", true, "[A-Za-z]{2}"],
  ["state", "State", false],
  ["city", "City", true],
  ["street_line1", "Address 1", true],
  ["street_line2", "Address 2", false],
  ["post_code", "Post code", true],
];

class Sheet {
  private readonly dlg: HTMLDialogElement;
  private readonly body = h("div", { class: "pay-body" });
  private readonly error = h("p", { class: "form-error", role: "alert" });
  private readonly actions = h("div", { class: "actions" });
  private inv: Invoice | null = null;
  /** Names this sheet's attempt; renewed only after one ended without charging. */
  private key = newKey();
  private result: InvoiceStatus = "cancelled";
  /** A request that may charge is in flight: the sheet stays open until it answers. */
  private busy = false;
  /** A payment the server answered as pending: closing the sheet cancels it if it still can be. */
  private pending: Payment | null = null;
  private closed = false;
  private resolve: (s: InvoiceStatus) => void = () => undefined;
  private readonly unsubscribe: () => void;
  private waker: (() => void) | null = null;

  // The form, built once the invoice is known; its inputs keep what was typed across updates.
  private readonly fields = new Map<string, HTMLInputElement>();
  private shipping: { id: number; options: ShippingOption[] } | null = null;
  private option: string | null = null;
  private tip = 0;
  private sandbox: boolean | null = null;
  private payButton: HTMLButtonElement | null = null;
  private cancelButton: HTMLButtonElement | null = null;
  private readonly lines = h("ul", { class: "pay-lines" });
  private readonly balance = h("div", { class: "pay-balance" });
  private readonly shippingBox = h("div", { class: "pay-shipping" });
  private readonly tips = h("div", { class: "pay-tips" });

  constructor(
    private readonly api: Api,
    model: Model,
    private readonly slug: string,
  ) {
    // One form holds the whole sheet, so Pay (in the actions row) checks every field it asks for.
    const form = h("form", { class: "pay-sheet" }, this.body, this.error, this.actions);
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      if (this.payButton?.isConnected) void this.pay();
    });
    this.dlg = h("dialog", { class: "modal payment-sheet", "aria-label": "Payment" }, form);
    this.dlg.addEventListener("cancel", (ev) => {
      ev.preventDefault();
      void this.close();
    });
    this.dlg.addEventListener("click", (ev) => {
      if (ev.target === this.dlg) void this.close();
    });
    this.dlg.addEventListener("close", () => this.finish());
    this.unsubscribe = model.on((c) => {
      if (c.kind !== "payment" || c.payment.invoice_slug !== this.slug) return;
      if (this.pending && c.payment.id === this.pending.id) this.pending = c.payment;
      this.waker?.();
    });
  }

  run(): Promise<InvoiceStatus> {
    openSlug = this.slug;
    fill(this.body, h("div", { class: "loading", "aria-label": "Loading the invoice" }));
    this.setActions(h("button", { type: "button", onclick: () => void this.close() }, "Close"));
    document.body.append(this.dlg);
    this.dlg.showModal();
    void this.load();
    return new Promise((resolve) => (this.resolve = resolve));
  }

  private async load(): Promise<void> {
    try {
      this.inv = await this.api.invoice(this.slug);
    } catch (e) {
      this.result = "failed";
      fill(this.body, h("h2", {}, "Payment"));
      this.say(e instanceof ApiError && e.status === 404 ? "This invoice does not exist, or it is no longer available." : message(e));
      return;
    }
    this.render();
  }

  private render(): void {
    const inv = this.inv;
    if (!inv || this.closed) return;
    this.say("");
    if (inv.paid) return this.receipt(inv, inv.paid);
    if (inv.subscription && subscriptionActive(inv.subscription)) return this.subscribed(inv, inv.subscription);
    this.form(inv);
  }

  private header(inv: Invoice): Node[] {
    const photo = inv.photo_url ? h("img", { class: "pay-photo", src: inv.photo_url, alt: "", referrerpolicy: "no-referrer" }) : null;
    // The page's Content-Security-Policy allows only Plaza's own images: another site's is left out.
    photo?.addEventListener("error", () => photo.remove());
    return [
      h(
        "header",
        { class: "pay-head" },
        photo,
        h("div", {}, h("h2", {}, inv.title), h("p", { class: "pay-desc" }, inv.description), h("small", { class: "muted" }, `@${inv.bot.username}`)),
      ),
    ];
  }

  // ---- paying ---------------------------------------------------------------------------------

  private form(inv: Invoice): void {
    const stars = inv.currency === STARS;
    const sections: Node[] = [];
    const wantsAddress = inv.need_shipping_address || inv.is_flexible;
    if (inv.need_name || inv.need_phone_number || inv.need_email) {
      sections.push(h("h3", {}, "Contact"));
      if (inv.need_name) sections.push(...this.input("name", "Name", { required: true, autocomplete: "name" }));
      if (inv.need_phone_number) sections.push(...this.input("phone_number", "Phone", { required: true, type: "tel", autocomplete: "tel" }));
      if (inv.need_email) sections.push(...this.input("email", "Email", { required: true, type: "email", autocomplete: "email" }));
    }
    if (wantsAddress) {
      sections.push(h("h3", {}, "Shipping address"));
      for (const [name, label, required, pattern] of ADDRESS) {
        sections.push(...this.input(name, label, { required, pattern, autocomplete: addressAutocomplete(name), maxlength: name === "country_code" ? 2 : 128 }));
      }
    }
    if (inv.is_flexible) sections.push(h("h3", {}, "Shipping method"), this.shippingBox);
    if (!stars && inv.max_tip_amount > 0) sections.push(h("h3", {}, "Tip"), this.tips);
    if (inv.card) {
      sections.push(h("h3", {}, "Card"));
      sections.push(...this.input("card_number", "Card number", { required: true, inputmode: "numeric", autocomplete: "cc-number", placeholder: "4242 4242 4242 4242", pattern: "[0-9 \\-]{12,23}" }));
      sections.push(h("small", { class: "muted" }, "Test card: 4242 4242 4242 4242"));
    }
    fill(this.body, ...this.header(inv), this.lines, stars ? this.balance : null, sections.length ? h("div", { class: "form pay-form" }, ...sections) : null);
    this.payButton = h("button", { class: "primary pay-button", type: "submit" });
    this.cancelButton = h("button", { type: "button", onclick: () => void this.close() }, "Cancel");
    this.setActions(this.cancelButton, this.payButton);
    this.drawTips(inv);
    this.update();
  }

  private input(name: string, label: string, attrs: Record<string, string | number | boolean | undefined>): Node[] {
    let input = this.fields.get(name);
    if (!input) {
      const id = `pay-${name}-${Math.random().toString(36).slice(2, 8)}`;
      input = h("input", { id, name, type: "text", ...attrs });
      this.fields.set(name, input);
      if (ADDRESS.some(([a]) => a === name)) {
        // A new address, new options: the bot's answer was for the old one.
        input.addEventListener("input", () => {
          if (!this.shipping) return;
          this.shipping = null;
          this.option = null;
          this.update();
        });
      }
    }
    return [h("label", { for: input.id }, label), input];
  }

  private value(name: string): string {
    return this.fields.get(name)?.value.trim() ?? "";
  }

  private address(): ShippingAddress {
    return {
      country_code: this.value("country_code").toUpperCase(),
      state: this.value("state"),
      city: this.value("city"),
      street_line1: this.value("street_line1"),
      street_line2: this.value("street_line2"),
      post_code: this.value("post_code"),
    };
  }

  private drawTips(inv: Invoice): void {
    if (inv.currency === STARS || inv.max_tip_amount <= 0) return;
    const custom = h("input", { type: "number", name: "tip", min: 0, max: inv.max_tip_amount / 100, step: 0.01, placeholder: `Custom, up to ${price(inv.max_tip_amount, inv.currency)}`, "aria-label": "Custom tip" });
    const chips = [0, ...inv.suggested_tip_amounts.filter((t) => t > 0 && t <= inv.max_tip_amount)].map((amount) => {
      const b = h("button", { type: "button", class: "pay-tip", "aria-pressed": String(this.tip === amount) }, amount ? price(amount, inv.currency) : "No tip");
      b.addEventListener("click", () => {
        this.tip = amount;
        custom.value = "";
        for (const c of chips) c.setAttribute("aria-pressed", String(c === b));
        this.update();
      });
      return b;
    });
    custom.addEventListener("input", () => {
      const v = Math.round(Number(custom.value) * 100);
      this.tip = Number.isFinite(v) ? Math.max(0, Math.min(inv.max_tip_amount, v)) : 0;
      for (const c of chips) c.setAttribute("aria-pressed", "false");
      this.update();
    });
    fill(this.tips, h("div", { class: "pay-tip-row" }, ...chips), custom);
  }

  private shippingTotal(): number {
    const o = this.shipping?.options.find((x) => x.id === this.option);
    return o ? o.prices.reduce((s, p) => s + p.amount, 0) : 0;
  }

  private total(inv: Invoice): number {
    return inv.total_amount + this.shippingTotal() + this.tip;
  }

  /** Redraws what depends on choices: price lines, total, balance, shipping options, Pay. */
  private update(): void {
    const inv = this.inv;
    if (!inv || inv.paid) return;
    const stars = inv.currency === STARS;
    const sub = inv.subscription_period;
    const rows: Node[] = inv.prices.map((p) => h("li", {}, h("span", {}, p.label), h("span", {}, price(p.amount, inv.currency))));
    const option = this.shipping?.options.find((x) => x.id === this.option);
    if (option) rows.push(h("li", {}, h("span", {}, option.title), h("span", {}, price(this.shippingTotal(), inv.currency))));
    if (this.tip) rows.push(h("li", {}, h("span", {}, "Tip"), h("span", {}, price(this.tip, inv.currency))));
    const total = this.total(inv);
    rows.push(h("li", { class: "pay-total" }, h("span", {}, "Total"), h("strong", {}, sub ? subscriptionPrice(total, sub) : price(total, inv.currency))));
    fill(this.lines, ...rows);

    const short = stars ? total - inv.balance : 0;
    if (stars) {
      const pack = TOPUP_PACKAGES.find((p) => p >= short) ?? short;
      fill(
        this.balance,
        h("div", { class: "pay-balance-row" }, h("span", {}, "Your balance"), h("strong", { class: "pay-balance-amount" }, price(inv.balance, STARS))),
        short > 0 ? h("p", { class: "pay-short" }, `You need ${price(short, STARS)} more to pay.`) : null,
        short > 0 && this.sandbox ? h("button", { type: "button", class: "pay-topup", onclick: (ev: Event) => void this.topUp(pack, ev.currentTarget as HTMLButtonElement) }, `Top up ${price(pack, STARS)} (sandbox)`) : null,
      );
      if (short > 0 && this.sandbox === null) {
        this.sandbox = false;
        this.api.wallet().then(
          (w) => {
            this.sandbox = w.sandbox;
            if (w.sandbox) this.update();
          },
          () => undefined,
        );
      }
    }

    if (inv.is_flexible) {
      if (!this.shipping) {
        fill(this.shippingBox, h("button", { type: "button", class: "pay-get-shipping", onclick: (ev: Event) => void this.fetchShipping(ev.currentTarget as HTMLButtonElement) }, "Show shipping options"));
      } else {
        const name = `ship-${this.key}`;
        fill(
          this.shippingBox,
          ...this.shipping.options.map((o) => {
            const id = `${name}-${o.id}`;
            const radio = h("input", { type: "radio", name, id, value: o.id, checked: o.id === this.option });
            radio.addEventListener("change", () => {
              this.option = o.id;
              this.update();
            });
            return h("div", { class: "check pay-option" }, radio, h("label", { for: id }, `${o.title} · ${price(o.prices.reduce((s, p) => s + p.amount, 0), inv.currency)}`));
          }),
        );
      }
    }

    if (this.payButton) {
      this.payButton.textContent = this.busy ? "Paying…" : sub ? "Subscribe" : `Pay ${price(total, inv.currency)}`;
      this.payButton.disabled = this.busy || short > 0 || (inv.is_flexible && !option);
      this.payButton.classList.toggle("progress", this.busy);
      this.payButton.setAttribute("aria-busy", String(this.busy));
    }
    if (this.cancelButton) this.cancelButton.disabled = this.busy && !this.pending;
  }

  private async topUp(amount: number, button: HTMLButtonElement): Promise<void> {
    const inv = this.inv;
    if (!inv) return;
    button.disabled = true;
    try {
      const w = await this.api.topUp(amount, newKey());
      inv.balance = w.balance;
      this.say("");
    } catch (e) {
      this.say(message(e));
      if (e instanceof ApiError && e.status === 403) this.sandbox = false;
    }
    this.update();
  }

  private async fetchShipping(button: HTMLButtonElement): Promise<void> {
    const missing = ADDRESS.map(([name]) => this.fields.get(name)).find((i) => i && !i.checkValidity());
    if (missing) {
      missing.reportValidity();
      return;
    }
    button.disabled = true;
    button.textContent = "Asking the bot…";
    this.say("");
    try {
      const out = await this.api.shippingOptions(this.slug, this.address());
      this.shipping = { id: out.shipping_query_id, options: out.options };
      this.option = out.options.length === 1 ? out.options[0].id : null;
      if (!out.options.length) this.say("The bot offers no shipping to this address.");
    } catch (e) {
      this.say(message(e));
    }
    this.update();
  }

  private order(inv: Invoice): OrderInfo | undefined {
    const o: OrderInfo = {};
    if (inv.need_name) o.name = this.value("name");
    if (inv.need_phone_number) o.phone_number = this.value("phone_number");
    if (inv.need_email) o.email = this.value("email");
    if (inv.need_shipping_address || inv.is_flexible) o.shipping_address = this.address();
    return Object.keys(o).length ? o : undefined;
  }

  private async pay(): Promise<void> {
    const inv = this.inv;
    if (!inv || this.busy || this.closed) return;
    if (inv.is_flexible && (!this.shipping || !this.option)) {
      this.say("Choose a shipping method first.");
      return;
    }
    this.busy = true;
    this.say("");
    this.update();
    let p: Payment | null = null;
    try {
      p = await this.api.pay(this.slug, {
        key: this.key,
        order_info: this.order(inv),
        shipping_query_id: this.shipping?.id,
        shipping_option_id: this.option ?? undefined,
        tip_amount: this.tip || undefined,
        card_number: inv.card ? this.value("card_number") : undefined,
      });
      if (p.status === "pending") p = await this.follow(p);
    } catch (e) {
      this.busy = false;
      return this.failed(e);
    }
    this.busy = false;
    this.ended(p);
  }

  /** Follows a payment the server answered as still pending (its frames, or asking) until it ends. */
  private async follow(p: Payment): Promise<Payment> {
    this.pending = p;
    this.say("Waiting for the bot to confirm…", "info");
    const until = Date.now() + PENDING_MS;
    while (this.pending && this.pending.status === "pending" && Date.now() < until && !this.closed) {
      await new Promise<void>((resolve) => {
        const t = window.setTimeout(resolve, 1500);
        this.waker = () => {
          window.clearTimeout(t);
          resolve();
        };
      });
      this.waker = null;
      if (this.pending?.status === "pending") this.pending = await this.api.payment(p.id).catch(() => this.pending);
    }
    const last = this.pending ?? p;
    this.pending = last.status === "pending" ? last : null;
    return last;
  }

  private ended(p: Payment): void {
    if (this.closed) return;
    this.result = p.status;
    switch (p.state) {
      case "paid":
      case "refunded":
        return this.success(p);
      case "declined":
        this.key = newKey();
        this.say(sentence(p.error) || "The bot declined the payment. Nothing was charged.");
        break;
      case "failed":
        this.key = newKey();
        this.say(sentence(p.error) || "The payment failed. Nothing was charged.");
        break;
      case "cancelled":
        this.key = newKey();
        this.say("The bot did not confirm in time. Nothing was charged.");
        break;
      default:
        this.say("The payment is still being processed. The chat will show when it goes through.", "info");
        break;
    }
    this.update();
  }

  private failed(e: unknown): void {
    const inv = this.inv;
    if (!inv) return;
    const code = e instanceof ApiError ? e.code : "";
    if (code === "already_paid" || code === "already_subscribed" || code === "insufficient_funds") {
      // Where the person stands changed under the sheet: show it as it is now.
      void this.api.invoice(this.slug).then(
        (fresh) => {
          this.inv = fresh;
          this.render();
          if (code === "insufficient_funds") this.say("You have too few Stars for this.");
        },
        () => this.say(message(e)),
      );
      return;
    }
    if (e instanceof ApiError && (e.status === 0 || e.status >= 500)) {
      // The attempt may have gone through: its key stays, so pressing Pay again asks, not pays.
      this.say(`${e.message} Press Pay again: you will not be charged twice.`);
    } else if (code === "invoice_not_found") {
      this.result = "failed";
      this.say("This invoice is no longer available.");
    } else {
      this.say(message(e));
    }
    this.update();
  }

  private success(p: Payment): void {
    const inv = this.inv!;
    const sub = inv.subscription_period;
    fill(
      this.body,
      h(
        "div",
        { class: "pay-success", role: "status" },
        h("div", { class: "pay-check", "aria-hidden": "true" }, "✓"),
        h("h2", {}, p.state === "refunded" ? "Refunded" : sub ? "Subscribed" : "Payment complete"),
        h("p", {}, sub ? `You subscribed to “${inv.title}” for ${subscriptionPrice(p.total_amount, sub)}.` : `You paid ${price(p.total_amount, p.currency)} for “${inv.title}”.`),
      ),
    );
    this.say("");
    this.setActions(h("button", { class: "primary", type: "button", onclick: () => void this.close() }, "Done"));
    window.setTimeout(() => void this.close(), SUCCESS_MS);
  }

  // ---- paid already -------------------------------------------------------------------------------

  private receipt(inv: Invoice, p: Payment): void {
    fill(
      this.body,
      ...this.header(inv),
      h("h3", {}, "Receipt"),
      h(
        "dl",
        { class: "pay-receipt" },
        h("dt", {}, "Total"),
        h("dd", {}, price(p.total_amount, p.currency)),
        h("dt", {}, "Status"),
        h("dd", {}, paymentState(p)),
        h("dt", {}, "Date"),
        h("dd", {}, new Date(p.date * 1000).toLocaleString()),
        h("dt", {}, "Paid to"),
        h("dd", {}, `@${inv.bot.username}`),
        p.charge_id ? h("dt", {}, "Transaction") : null,
        p.charge_id ? h("dd", { class: "pay-charge" }, p.charge_id) : null,
      ),
    );
    this.setActions(h("button", { class: "primary", type: "button", onclick: () => void this.close() }, "Close"));
  }

  private subscribed(inv: Invoice, s: Subscription): void {
    const toggle = h("button", { type: "button", class: s.canceled_by_user ? "primary" : "danger" }, s.canceled_by_user ? "Renew subscription" : "Cancel subscription");
    toggle.disabled = s.canceled_by_bot;
    toggle.addEventListener("click", async () => {
      toggle.disabled = true;
      try {
        inv.subscription = await this.api.setSubscriptionCanceled(s.id, !s.canceled_by_user);
        this.render();
      } catch (e) {
        this.say(message(e));
        toggle.disabled = false;
      }
    });
    fill(
      this.body,
      ...this.header(inv),
      h("p", { class: "pay-subscribed" }, h("strong", {}, "You are subscribed"), h("br"), subscriptionPrice(s.amount, s.period), h("br"), h("span", { class: "muted" }, subscriptionState(s))),
    );
    this.setActions(toggle, h("button", { class: "primary", type: "button", onclick: () => void this.close() }, "Close"));
  }

  // ---- the dialog ---------------------------------------------------------------------------------

  private setActions(...buttons: HTMLElement[]): void {
    fill(this.actions, ...buttons);
  }

  private say(text: string, kind: "error" | "info" = "error"): void {
    this.error.textContent = text;
    this.error.classList.toggle("info", kind === "info");
  }

  private async close(): Promise<void> {
    if (this.closed) return;
    // A request that may charge is in flight: its answer decides, and the sheet shows it.
    if (this.busy && !this.pending) return;
    this.closed = true;
    this.waker?.();
    const pending = this.pending;
    if (pending) {
      // Closing the sheet before the bot answered cancels the checkout; one past that step stands.
      const now = await this.api.cancelPayment(pending.id).catch(() => pending);
      this.result = now.status;
    }
    this.dlg.close();
  }

  /** The dialog closed (by `close`, or by the browser itself): the sheet answers. */
  private finish(): void {
    this.closed = true;
    this.waker?.();
    this.unsubscribe();
    this.dlg.remove();
    if (openSlug === this.slug) openSlug = null;
    this.resolve(this.result);
  }
}

function message(e: unknown): string {
  return sentence(e instanceof Error ? e.message : String(e));
}

/** The bot's or the provider's words as a sentence ("the card was declined" → "The card was declined."). */
export function sentence(text: string | undefined): string {
  const t = (text ?? "").trim();
  if (!t) return "";
  return `${t[0].toUpperCase()}${t.slice(1)}${/[.!?…]$/.test(t) ? "" : "."}`;
}

function addressAutocomplete(name: keyof ShippingAddress): string {
  switch (name) {
    case "country_code":
      return "country";
    case "state":
      return "address-level1";
    case "city":
      return "address-level2";
    case "street_line1":
      return "address-line1";
    case "street_line2":
      return "address-line2";
    case "post_code":
      return "postal-code";
  }
}
