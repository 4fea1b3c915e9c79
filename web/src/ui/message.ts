// One message as a bubble: sender, reply quote, forward header, photo or document, text with its
// entities, poll, reactions, time and read ticks, and the bot's inline keyboard under it.

import type { Chat, InlineButton, InvoiceSummary, Message, Poll } from "../api.js";
import { avatar, fileSize, h, time } from "../dom.js";
import { icon } from "../icons.js";
import { price } from "../money.js";
import { renderText, snippet, type TextActions } from "../text.js";
import { prewarm } from "./miniapp.js";

export interface MessageHost extends TextActions {
  readonly chat: Chat;
  readonly meId: number;
  /** The loaded message with this id, for reply quotes. */
  lookup(id: number): Message | undefined;
  press(m: Message, button: InlineButton, el: HTMLButtonElement): void;
  vote(m: Message, options: number[]): void;
  react(m: Message, emoji: string): void;
  menu(m: Message, x: number, y: number): void;
  jumpTo(id: number): void;
  /** An object URL for a file, fetched with the session. */
  fileUrl(fileId: string): Promise<string>;
  openPhoto(m: Message): void;
  download(m: Message): void;
}

/** What must change for a rendered bubble to be redrawn. */
export function stamp(m: Message, chat: Chat, meId: number): string {
  const read = m.from.id === meId ? (m.message_id <= chat.read_outbox_max_id ? "r" : "s") : "";
  return `${m.edit_date ?? 0}|${read}|${JSON.stringify(m.reactions ?? [])}|${JSON.stringify(m.poll ?? null)}|${m.text.length}`;
}

export function renderMessage(m: Message, host: MessageHost, groupStart: boolean): HTMLElement {
  if (m.service?.type === "web_app_data") {
    return h("div", { class: "service", "data-id": m.message_id }, h("span", {}, `Data from “${m.service.button_text}” was sent to the bot`));
  }
  if (m.service?.type === "write_access_allowed") {
    const who = m.from.id === host.meId ? "You" : m.from.display_name;
    return h("div", { class: "service", "data-id": m.message_id }, h("span", {}, `${who} allowed the bot to send messages`));
  }
  if (m.service?.type === "successful_payment" || m.service?.type === "refunded_payment") {
    return h("div", { class: "service payment-service", "data-id": m.message_id }, h("span", {}, paymentText(m, host)));
  }
  if (m.service?.type === "pinned_message") {
    const target = host.lookup(m.service.message_id);
    return h(
      "div",
      { class: "service", "data-id": m.message_id },
      h("span", {}, `${m.from.id === host.meId ? "You" : m.from.display_name} pinned ${target ? `“${snippet(target).slice(0, 40)}”` : "a message"}`),
    );
  }
  const mine = m.from.id === host.meId;
  const group = host.chat.type === "group";
  const bubble = h("div", { class: "bubble" });
  if (group && !mine && groupStart) bubble.append(h("div", { class: `sender c${m.from.id % 8}` }, m.from.display_name));
  if (m.forward_from) bubble.append(h("div", { class: "forwarded" }, "Forwarded from ", h("strong", {}, m.forward_from.display_name)));
  if (m.via_bot) bubble.append(h("div", { class: "via" }, "via ", h("strong", {}, `@${m.via_bot.username}`)));
  if (m.reply_to_message_id) {
    const r = host.lookup(m.reply_to_message_id);
    bubble.append(
      h(
        "button",
        { class: "quote", onclick: () => host.jumpTo(m.reply_to_message_id ?? 0), "aria-label": "Go to the replied message" },
        h("strong", {}, r ? r.from.display_name : "Reply"),
        h("span", {}, r ? snippet(r) : "an earlier message"),
      ),
    );
  }
  if (m.service?.type === "contact") {
    const c = m.service;
    bubble.append(h("div", { class: "contact-card" }, avatar(c.user_id ?? 0, c.first_name, true), h("span", {}, h("strong", {}, [c.first_name, c.last_name].filter(Boolean).join(" ")), h("br"), h("span", { class: "muted" }, c.phone_number))));
  }
  if (m.media?.kind === "photo") bubble.append(photo(m, host));
  else if (m.media) bubble.append(document_(m, host));
  if (m.poll) bubble.append(poll(m, m.poll, host));
  if (m.invoice) bubble.append(invoiceCard(m.invoice));
  if (m.text) bubble.append(h("div", { class: "text", dir: "auto" }, renderText(m.text, m.entities, host)));
  const ticks = mine ? h("span", { class: "ticks", "aria-label": m.message_id <= host.chat.read_outbox_max_id ? "read" : "sent" }, m.message_id <= host.chat.read_outbox_max_id ? "✓✓" : "✓") : null;
  bubble.append(h("span", { class: "meta" }, m.edit_date ? h("span", { class: "edited" }, "edited") : null, h("time", { datetime: new Date(m.date * 1000).toISOString() }, time(m.date)), ticks));
  if (m.reactions?.length) {
    bubble.append(
      h(
        "div",
        { class: "reactions" },
        ...m.reactions.map((r) =>
          h("button", { class: `reaction${r.chosen ? " chosen" : ""}`, "aria-pressed": r.chosen ? "true" : "false", onclick: () => host.react(m, r.emoji) }, `${r.emoji} ${r.count}`),
        ),
      ),
    );
  }
  const more = h("button", { class: "more", "aria-label": "Message actions", title: "Actions" }, icon("more", 18));
  more.addEventListener("click", (ev) => {
    const r = more.getBoundingClientRect();
    host.menu(m, r.left, r.bottom);
    ev.stopPropagation();
  });
  const row = h(
    "div",
    { class: `msg${mine ? " mine" : ""}${groupStart ? " first" : ""}`, "data-id": m.message_id, tabindex: "-1" },
    group && !mine ? (groupStart ? avatar(m.from.id, m.from.display_name, true) : h("span", { class: "avatar-gap" })) : null,
    bubble,
    more,
  );
  row.addEventListener("contextmenu", (ev) => {
    if ((ev.target as HTMLElement).closest("a")) return;
    ev.preventDefault();
    host.menu(m, ev.clientX, ev.clientY);
  });
  const kb = m.reply_markup?.type === "inline_keyboard" ? m.reply_markup.rows : null;
  if (!kb?.length) return row;
  return h("div", { class: `msg-group${mine ? " mine" : ""}`, "data-id": m.message_id }, row, inlineKeyboard(m, kb, host));
}

function inlineKeyboard(m: Message, rows: InlineButton[][], host: MessageHost): HTMLElement {
  return h(
    "div",
    { class: "inline-kb", role: "group", "aria-label": "Bot buttons" },
    ...rows.map((row) =>
      h(
        "div",
        { class: "kb-row" },
        ...row.map((b) => {
          if (b.action === "url" && b.value) {
            return h("a", { class: "kb-btn", href: b.value, target: "_blank", rel: "noopener noreferrer" }, b.text, h("span", { class: "kb-icon" }, icon("link", 12)));
          }
          if (b.action === "web_app") prewarm(b.value);
          const el = h("button", { class: "kb-btn", "data-action": b.action }, b.text);
          el.addEventListener("click", () => host.press(m, b, el));
          return el;
        }),
      ),
    ),
  );
}

/** What an invoice message shows above its Pay button. */
function invoiceCard(inv: InvoiceSummary): HTMLElement {
  return h(
    "div",
    { class: "invoice-card" },
    h("strong", { class: "invoice-title" }, inv.title),
    inv.description ? h("p", { class: "invoice-desc", dir: "auto" }, inv.description) : null,
    h("span", { class: "invoice-price" }, price(inv.total_amount, inv.currency)),
  );
}

/** A payment's service message: "You paid ⭐️ 5 for …", "Subscription renewed", "⭐️ 5 refunded". */
export function paymentText(m: Message, host: { readonly chat: Chat; readonly meId: number }): string {
  if (m.service?.type !== "successful_payment" && m.service?.type !== "refunded_payment") return "";
  const r = m.service.receipt;
  const amount = price(r.total_amount, r.currency);
  if (m.service.type === "refunded_payment") return `${amount} refunded`;
  if (r.is_recurring && r.is_first_recurring === false) return `Subscription renewed: ${amount}`;
  const who = m.from.id === host.meId ? "You" : m.from.display_name;
  // The bot paid is the other side of a private chat.
  const to = host.chat.type === "private" && host.chat.peer ? host.chat.peer.display_name : null;
  if (r.is_recurring) {
    const what = r.title ? ` to “${r.title}”` : to ? ` to ${to}` : "";
    // Without `is_first_recurring` a first payment and a renewal look alike: say what both are.
    return r.is_first_recurring ? `${who} subscribed${what}: ${amount}` : `${who} paid ${amount} for a subscription${what}`;
  }
  return `${who} paid ${amount}${r.title ? ` for “${r.title}”` : to ? ` to ${to}` : ""}`;
}

function photo(m: Message, host: MessageHost): HTMLElement {
  const media = m.media!;
  const w = media.width ?? 320;
  const ht = media.height ?? 240;
  const img = h("img", { alt: m.text || "Photo", width: w, height: ht, decoding: "async" });
  img.style.aspectRatio = `${w} / ${ht}`;
  host.fileUrl(media.file_id).then(
    (url) => (img.src = url),
    () => img.classList.add("broken"),
  );
  return h("button", { class: "photo", onclick: () => host.openPhoto(m), "aria-label": "Open photo" }, img);
}

function document_(m: Message, host: MessageHost): HTMLElement {
  const media = m.media!;
  return h(
    "button",
    { class: "document", onclick: () => host.download(m), "aria-label": `Download ${media.file_name ?? "file"}` },
    h("span", { class: "doc-icon" }, icon("file")),
    h("span", { class: "doc-info" }, h("strong", {}, media.file_name ?? "File"), h("small", {}, `${fileSize(media.size)}${media.mime_type ? ` · ${media.mime_type}` : ""}`)),
  );
}

function poll(m: Message, p: Poll, host: MessageHost): HTMLElement {
  const voted = p.my_vote.length > 0;
  const showResults = voted || p.is_closed;
  const kind = p.type === "quiz" ? "Quiz" : p.is_anonymous ? "Anonymous poll" : "Poll";
  const box = h("div", { class: "poll" }, h("strong", { class: "question" }, p.question), h("small", { class: "muted" }, `${p.is_closed ? "Final results · " : ""}${kind}`));
  const chosen = new Set<number>();
  const submit = h("button", { class: "primary small", disabled: true, onclick: () => host.vote(m, [...chosen]) }, "Vote");
  p.options.forEach((o, i) => {
    if (showResults) {
      const pct = p.total_voter_count ? Math.round((o.voter_count / p.total_voter_count) * 100) : 0;
      const mark = p.correct_option_id === i ? "correct" : p.my_vote.includes(i) && p.type === "quiz" ? "wrong" : "";
      const bar = h("div", { class: `poll-result ${mark}` }, h("span", { class: "pct" }, `${pct}%`), h("span", { class: "opt" }, o.text, p.my_vote.includes(i) ? " ✓" : ""));
      const fill = h("div", { class: "poll-bar" });
      fill.style.width = `${pct}%`;
      bar.append(fill);
      box.append(bar);
    } else if (p.allows_multiple_answers) {
      const id = `p${m.chat_id}-${m.message_id}-${i}`;
      const cb = h("input", { type: "checkbox", id });
      cb.addEventListener("change", () => {
        if (cb.checked) chosen.add(i);
        else chosen.delete(i);
        submit.disabled = chosen.size === 0;
      });
      box.append(h("div", { class: "poll-option" }, cb, h("label", { for: id }, o.text)));
    } else {
      box.append(h("button", { class: "poll-choice", onclick: () => host.vote(m, [i]) }, o.text));
    }
  });
  if (!showResults && p.allows_multiple_answers) box.append(submit);
  box.append(h("small", { class: "muted" }, p.total_voter_count === 1 ? "1 vote" : `${p.total_voter_count} votes`));
  if (voted && !p.is_closed && p.type !== "quiz") box.append(h("button", { class: "link small", onclick: () => host.vote(m, []) }, "Retract vote"));
  if (voted && p.explanation) box.append(h("p", { class: "explanation" }, p.explanation));
  return box;
}
